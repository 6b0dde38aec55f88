"""``max_pool`` and ``avg_pool``: pooling in 1-D or 2-D over windows, channels last, no padding.

A window of ``window`` entries is taken every ``stride`` entries along each spatial axis (the output
has floor((n − k)/s) + 1 entries there); each channel is pooled on its own.

Backward rules, each an operation of its own:

- ``max_pool_grad(A, G)`` routes each window's adjoint to the window's maximum in A. Where a window
  holds its maximum more than once, the whole adjoint goes to the first of them in row-major order
  (the tie convention; JAX and PyTorch may choose another entry). Windows that overlap add up.
  Printed as mask(A) ⊙ up(G) where the windows tile the input (stride = window), route(A, G) else.
- ``avg_pool_grad(G)`` spreads each window's adjoint evenly over its entries: (1/k) up(G) where the
  windows tile the input.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from derive.graph.node import Node, ShapeError, fmt_shape, placeholder
from derive.graph.rules import rule
import derive.ops.windows as windows
from derive.ops._registry import Op, register
from derive.ops.conv import positive_ints, spatial
from derive.ops.elementwise import constant_factor, ew


def _pool(op: str, x: Node, window, stride) -> Node:
    nd = x.rank - 2
    if nd not in (1, 2):
        raise ShapeError(f"pooling takes a (batch, length, channels) or (batch, height, width, channels) input, "
                         f"not {x!r} {fmt_shape(x.shape)}")
    window = positive_ints(window, nd, "the pool size")
    stride = window if stride is None else positive_ints(stride, nd, "the pool stride")
    sizes = spatial(x, "pooling")
    if any(k > n for k, n in zip(window, sizes)):
        raise ShapeError(f"a pool window of {'x'.join(map(str, window))} does not fit in {x!r} {fmt_shape(x.shape)}")
    out = tuple((n - k) // s + 1 for n, k, s in zip(sizes, window, stride))
    return Node(op, (x,), (x.shape[0], *out, x.shape[-1]), (("window", window), ("stride", stride)))


def max_pool(x: Node, window, stride=None) -> Node:
    """The maximum of each window (stride defaults to the window: windows that tile the input)."""
    return _pool("max_pool", x, window, stride)


def avg_pool(x: Node, window, stride=None) -> Node:
    """The mean of each window (stride defaults to the window)."""
    return _pool("avg_pool", x, window, stride)


def max_pool_grad(x: Node, g: Node, window: tuple, stride: tuple) -> Node:
    c, inner = constant_factor(g, factor=False)
    if c != 1:
        return ew(c * placeholder(0), [max_pool_grad(x, inner, window, stride)])
    return Node("max_pool_grad", (x, g), x.shape, (("window", tuple(window)), ("stride", tuple(stride))))


def avg_pool_grad(g: Node, window: tuple, stride: tuple, in_spatial: tuple) -> Node:
    c, inner = constant_factor(g, factor=False)
    if c != 1:
        return ew(c * placeholder(0), [avg_pool_grad(inner, window, stride, in_spatial)])
    return Node("avg_pool_grad", (g,), (g.shape[0], *in_spatial, g.shape[-1]),
                (("window", tuple(window)), ("stride", tuple(stride)), ("in_spatial", tuple(in_spatial))))


def _geometry(node):
    return node.attrs["window"], node.attrs["stride"]


# ---- backward rules ----

def _vjp_max(node, g, ctx):
    (x,) = node.args
    return [(x, max_pool_grad(x, g, *_geometry(node)), ctx.rule("max_pool", node))]


def _vjp_max_grad(node, h, ctx):
    # The routing is piecewise constant in A (no adjoint there, except on ties, where it is undefined)
    # and linear in G: G's adjoint picks, in each window, H at the window's first maximum.
    x, g = node.args
    return [(g, max_pool_pick(x, h, *_geometry(node)), rule("max_pool_grad"))]


def max_pool_pick(x: Node, h: Node, window: tuple, stride: tuple) -> Node:
    """Of each window of ``x``, the entry of ``h`` where ``x`` has its first maximum."""
    out = tuple((int(n) - k) // s + 1 for n, k, s in zip(x.shape[1:-1], window, stride))
    return Node("max_pool_pick", (x, h), (x.shape[0], *out, x.shape[-1]),
                (("window", tuple(window)), ("stride", tuple(stride))))


def _vjp_pick(node, h, ctx):
    x, _ = node.args
    return [(node.args[1], max_pool_grad(x, h, *_geometry(node)), rule("max_pool_pick"))]


def _vjp_avg(node, g, ctx):
    (x,) = node.args
    return [(x, avg_pool_grad(g, *_geometry(node), spatial(x, "avg_pool")), ctx.rule("avg_pool", node))]


def _vjp_avg_grad(node, h, ctx):
    (g,) = node.args
    window, stride = _geometry(node)
    return [(g, avg_pool(h, window, stride), rule("avg_pool_grad"))]


# ---- printing ----

def _tiles(node) -> bool:
    window, stride = _geometry(node)
    return window == stride


def _show_pool(node, p):
    s, _ = p.arg(node.args[0])
    kind = "maxpool" if node.op == "max_pool" else "avgpool"
    return p.window_call(kind, node.attrs["window"], node.attrs["stride"], [s]), p.ATOM


def _show_max_grad(node, p):
    (a, _), (g, _) = p.arg(node.args[0]), p.arg(node.args[1])
    window, stride = _geometry(node)
    if _tiles(node):
        return p.routed(a, g, window), p.MUL
    return p.window_call("route", window, stride, [a, g]), p.ATOM


def _show_pick(node, p):
    (a, _), (h, _) = p.arg(node.args[0]), p.arg(node.args[1])
    return p.window_call("pick", *_geometry(node), [a, h]), p.ATOM


def _show_avg_grad(node, p):
    g, _ = p.arg(node.args[0])
    window, stride = _geometry(node)
    if _tiles(node):
        return p.spread(g, window, sp.Integer(1) / sp.Mul(*window)), p.MUL
    return p.window_call("spread", window, stride, [g]), p.ATOM


# ---- entry by entry (SymPy) ----
# The entry-by-entry forms say which entry is a window's first maximum with Heaviside steps:
# entry j is when it exceeds every entry before it and is at least every entry after it.

def _windows(shape, window, stride):
    """(output index, the input indices of its window in row-major order), over every window."""
    m, *sizes, c = shape
    out = [(n - k) // s + 1 for n, k, s in zip(sizes, window, stride)]
    for idx in np.ndindex(m, *out, c):
        i, pos, ch = idx[0], idx[1:-1], idx[-1]
        starts = [p * s for p, s in zip(pos, stride)]
        cells = [(i, *(st + o for st, o in zip(starts, offs)), ch) for offs in np.ndindex(*window)]
        yield idx, cells


def _first_max(values) -> list:
    return [sp.Mul(*[sp.Heaviside(v - u, 0) for u in values[:j]], *[sp.Heaviside(v - u, 1) for u in values[j + 1:]])
            for j, v in enumerate(values)]


def _expand_max(node, args, ex):
    (a,) = args
    window, stride = _geometry(node)
    out = np.empty(ex.concrete(node.shape), dtype=object)
    for idx, cells in _windows(a.shape, window, stride):
        out[idx] = sp.Max(*[a[c] for c in cells])
    return out


def _expand_max_grad(node, args, ex):
    a, g = args
    window, stride = _geometry(node)
    out = np.full(a.shape, sp.Integer(0), dtype=object)
    for idx, cells in _windows(a.shape, window, stride):
        for c, w in zip(cells, _first_max([a[c] for c in cells])):
            out[c] = out[c] + w * g[idx]
    return out


def _expand_pick(node, args, ex):
    a, h = args
    window, stride = _geometry(node)
    out = np.empty(ex.concrete(node.shape), dtype=object)
    for idx, cells in _windows(a.shape, window, stride):
        out[idx] = sp.Add(*[w * h[c] for c, w in zip(cells, _first_max([a[c] for c in cells]))])
    return out


# ---- in float NumPy ----

def _max(node, args, _):
    return windows.max_pool(args[0], *_geometry(node))


def _max_grad(node, args, _):
    return windows.max_pool_grad(args[0], args[1], *_geometry(node))


def _pick(node, args, _):
    return windows.max_pool_pick(args[0], args[1], *_geometry(node))


def _avg(node, args, _):
    return windows.avg_pool(args[0], *_geometry(node))


def _avg_grad(node, args, _):
    return windows.avg_pool_grad(args[0], *_geometry(node), node.attrs["in_spatial"])


register(Op("max_pool", zero="all", vjp=_vjp_max, show=_show_pool, expand=_expand_max, evaluate=_max, doc="max-pooling",
            windowed=True))
register(Op("max_pool_grad", vjp=_vjp_max_grad, show=_show_max_grad, expand=_expand_max_grad, evaluate=_max_grad,
            doc="max-pooling's adjoint routed to each window's first maximum", windowed=True))
register(Op("max_pool_pick", vjp=_vjp_pick, show=_show_pick, expand=_expand_pick, evaluate=_pick,
            doc="each window's entry at the first maximum of another tensor (the transpose of routing)", windowed=True))
register(Op("avg_pool", zero="all", vjp=_vjp_avg, show=_show_pool, expand=_avg, evaluate=_avg, doc="average-pooling",
            windowed=True))
register(Op("avg_pool_grad", zero="all", vjp=_vjp_avg_grad, show=_show_avg_grad, expand=_avg_grad, evaluate=_avg_grad,
            doc="average-pooling's adjoint spread over each window", windowed=True))

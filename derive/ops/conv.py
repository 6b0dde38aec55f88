"""``conv``: convolution in 1-D or 2-D with channels, stride and padding, as frameworks compute it.

That is cross-correlation (the kernel is not flipped), channels last as in Keras: an input is
(batch, length, channels) or (batch, height, width, channels), a kernel (k, c_in, c_out) or
(kh, kw, c_in, c_out), and

    out[i, y, x, c] = Σ_{u,v,c'} in_pad[i, s·y+u, s·x+v, c'] · W[u, v, c', c]

where ``in_pad`` is the input with ``padding`` zeros, one (before, after) pair per spatial axis.

Its two backward rules are operations of their own, each the transpose of the forward one in one
operand:

- ``conv_input_grad(G, W)``: the adjoint of the input, a transposed convolution: G dilated by the
  stride (s − 1 zeros between entries), padded "full" (k − 1 − p), correlated with the kernel turned
  by 180° in space, its channel axes swapped. Textbooks write δ ∗ rot180(W).
- ``conv_weight_grad(A, G)``: the adjoint of the kernel, the correlation of the padded input with G
  (dilated by the stride), summed over the batch. Textbooks write A ⋆ δ.

The three are bilinear and adjoint to one another, so each one's backward rule is one of the three:
the derivation can differentiate its own backward pass.
"""
from __future__ import annotations

from derive.graph.node import Node, ShapeError, fmt_shape, placeholder
from derive.ops._registry import Op, register
from derive.ops.elementwise import constant_factor, ew
import derive.ops.windows as windows


def positive_ints(value, nd: int, what: str) -> tuple:
    """An int or a tuple of ``nd`` ints, each at least 1, as a tuple."""
    vals = (value,) * nd if isinstance(value, int) and not isinstance(value, bool) else value
    if not (isinstance(vals, (tuple, list)) and len(vals) == nd
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in vals)):
        raise ShapeError(f"{what} must be a positive integer or {nd} of them, not {value!r}")
    return tuple(int(v) for v in vals)


def spatial(node: Node, what: str) -> tuple:
    """The spatial sizes of a channels-last input, as ints (they must be numbers, not symbols)."""
    sizes = node.shape[1:-1]
    if not all(getattr(d, "is_Integer", False) for d in sizes):
        raise ShapeError(f"{what}: the spatial sizes of {node!r} {fmt_shape(node.shape)} must be numbers")
    return tuple(int(d) for d in sizes)


def out_size(n: int, k: int, s: int, lo: int, hi: int) -> int:
    return (n + lo + hi - k) // s + 1


def resolve_padding(padding, sizes: tuple, kernel: tuple, stride: tuple) -> tuple:
    """``padding`` as (before, after) pairs, one per spatial axis.

    ``"valid"``: none. ``"same"``: as TensorFlow and Keras pad, ceil(n/s) outputs, the odd zero after.
    An int p: p on both sides of every axis; a tuple of ints: per axis; a tuple of pairs: as given."""
    nd = len(sizes)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding == "same":
            pads = []
            for n, k, s in zip(sizes, kernel, stride):
                total = max((-(-n // s) - 1) * s + k - n, 0)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ShapeError(f"padding must be 'valid', 'same', an int or (before, after) pairs, not {padding!r}")

    def count(v):
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0
    if count(padding):
        return ((int(padding), int(padding)),) * nd
    if isinstance(padding, (tuple, list)) and len(padding) == nd:
        if all(count(p) for p in padding):
            return tuple((int(p), int(p)) for p in padding)
        if all(isinstance(p, (tuple, list)) and len(p) == 2 and count(p[0]) and count(p[1]) for p in padding):
            return tuple((int(p[0]), int(p[1])) for p in padding)
    raise ShapeError(f"padding must be 'valid', 'same', an int >= 0, {nd} of them or {nd} (before, after) "
                     f"pairs, not {padding!r}")


def _linear(build, a: Node, b: Node, *rest):
    """Scalar factors move out of a bilinear operation: (1/m) stays in front, as for a product."""
    ca, ia = constant_factor(a, factor=False)
    cb, ib = constant_factor(b, factor=False)
    if ca * cb != 1:
        return ew(ca * cb * placeholder(0), [build(ia, ib, *rest)])
    return None


def conv(x: Node, w: Node, stride=1, padding="valid") -> Node:
    """Cross-correlation of ``x`` (batch, *spatial, c_in) with ``w`` (*kernel, c_in, c_out)."""
    nd = x.rank - 2
    if nd not in (1, 2):
        raise ShapeError(f"a convolution takes a (batch, length, channels) or (batch, height, width, channels) "
                         f"input, not {x!r} {fmt_shape(x.shape)}")
    if w.rank != nd + 2:
        raise ShapeError(f"a {nd}-D convolution of {x!r} {fmt_shape(x.shape)} needs a rank-{nd + 2} kernel "
                         f"({'k' if nd == 1 else 'kh, kw'}, c_in, c_out), not {w!r} {fmt_shape(w.shape)}")
    if w.shape[nd] != x.shape[-1]:
        raise ShapeError(f"the kernel {w!r} {fmt_shape(w.shape)} takes {w.shape[nd]} input channels, and "
                         f"{x!r} {fmt_shape(x.shape)} has {x.shape[-1]}")
    sizes = spatial(x, "a convolution")
    kernel = tuple(int(d) for d in w.shape[:nd])
    stride = positive_ints(stride, nd, "the stride")
    pads = resolve_padding(padding, sizes, kernel, stride)
    out = []
    for n, k, s, (lo, hi) in zip(sizes, kernel, stride, pads):
        if n + lo + hi < k:
            raise ShapeError(f"a kernel of {'x'.join(map(str, kernel))} does not fit in {x!r} "
                             f"{fmt_shape(x.shape)} with padding {pads}")
        out.append(out_size(n, k, s, lo, hi))
    moved = _linear(conv, x, w, stride, pads)
    if moved is not None:
        return moved
    return Node("conv", (x, w), (x.shape[0], *out, w.shape[-1]), (("stride", stride), ("padding", pads)))


def conv_input_grad(g: Node, w: Node, stride: tuple, padding: tuple, in_spatial: tuple) -> Node:
    """The adjoint of a convolution's input, from the adjoint ``g`` of its output."""
    moved = _linear(conv_input_grad, g, w, stride, padding, in_spatial)
    if moved is not None:
        return moved
    nd = len(in_spatial)
    return Node("conv_input_grad", (g, w), (g.shape[0], *in_spatial, w.shape[nd]),
                (("stride", tuple(stride)), ("padding", tuple(padding)), ("in_spatial", tuple(in_spatial))))


def conv_weight_grad(x: Node, g: Node, stride: tuple, padding: tuple, kernel: tuple) -> Node:
    """The adjoint of a convolution's kernel: the input correlated with ``g``, summed over the batch."""
    moved = _linear(conv_weight_grad, x, g, stride, padding, kernel)
    if moved is not None:
        return moved
    return Node("conv_weight_grad", (x, g), (*kernel, x.shape[-1], g.shape[-1]),
                (("stride", tuple(stride)), ("padding", tuple(padding)), ("kernel", tuple(kernel))))


def _geometry(node):
    a = node.attrs
    return a["stride"], a["padding"]


# ---- backward rules: each of the three is the transpose of another in one operand ----

def _vjp_conv(node, g, ctx):
    x, w = node.args
    stride, pads = _geometry(node)
    why = ctx.rule("conv", node)
    nd = len(stride)
    return [(x, conv_input_grad(g, w, stride, pads, spatial(x, "conv")), why),
            (w, conv_weight_grad(x, g, stride, pads, tuple(int(d) for d in w.shape[:nd])), why)]


def _vjp_input_grad(node, h, ctx):
    g, w = node.args
    stride, pads = _geometry(node)
    why = ctx.rule("conv_input_grad", node)
    nd = len(stride)
    return [(g, conv(h, w, stride, pads), why),
            (w, conv_weight_grad(h, g, stride, pads, tuple(int(d) for d in w.shape[:nd])), why)]


def _vjp_weight_grad(node, h, ctx):
    x, g = node.args
    stride, pads = _geometry(node)
    why = ctx.rule("conv_weight_grad", node)
    return [(x, conv_input_grad(g, h, stride, pads, spatial(x, "conv")), why),
            (g, conv(x, h, stride, pads), why)]


# ---- printing: the notation's printer writes the signs (∗ for the correlation frameworks compute) ----

def _operands(node, p):
    out = []
    for a in node.args:
        s, prec = p.arg(a)
        out.append(s if prec >= p.MATMUL else p.wrap(s))
    return out


def _show_conv(node, p):
    x, w = _operands(node, p)
    return p.convolution(x, w, node.attrs["stride"]), p.MATMUL


def _show_input_grad(node, p):
    g, w = _operands(node, p)
    return p.conv_input_grad(g, w, node.attrs["stride"]), p.MATMUL


def _show_weight_grad(node, p):
    x, g = _operands(node, p)
    return p.conv_weight_grad(x, g, node.attrs["stride"]), p.MATMUL


# ---- entry by entry (SymPy object arrays) and in float NumPy: one implementation, derive.ops.windows ----

def _conv(node, args, _):
    return windows.conv(args[0], args[1], *_geometry(node))


def _input_grad(node, args, _):
    return windows.conv_input_grad(args[0], args[1], *_geometry(node), node.attrs["in_spatial"])


def _weight_grad(node, args, _):
    return windows.conv_weight_grad(args[0], args[1], *_geometry(node), node.attrs["kernel"])


register(Op("conv", zero="any", vjp=_vjp_conv, show=_show_conv, expand=_conv, evaluate=_conv,
            doc="convolution (cross-correlation), channels last", windowed=True))
register(Op("conv_input_grad", zero="any", vjp=_vjp_input_grad, show=_show_input_grad, expand=_input_grad,
            evaluate=_input_grad, doc="transposed convolution: the adjoint of a convolution's input", windowed=True))
register(Op("conv_weight_grad", zero="any", vjp=_vjp_weight_grad, show=_show_weight_grad, expand=_weight_grad,
            evaluate=_weight_grad, doc="the adjoint of a convolution's kernel", windowed=True))

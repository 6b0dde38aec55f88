"""``permute``: the axes of a node in another order (NumPy's ``transpose(a, axes)``).

A permutation of a matrix's two axes is its transpose, and is built as one. Backward: the adjoint
permuted by the inverse permutation."""
from __future__ import annotations

import numpy as np

from derive.graph.node import BUILD, Node, ShapeError, fmt_shape, placeholder
from derive.ops._registry import Op, register
from derive.ops.elementwise import constant_factor, ew


def permute(a: Node, axes) -> Node:
    axes = tuple(axes)
    if sorted(axes) != list(range(a.rank)):
        raise ShapeError(f"permute needs an order of all {a.rank} axes of {a!r} {fmt_shape(a.shape)}, not {axes}")
    if axes == tuple(range(a.rank)):
        return a
    if a.rank == 2:
        return BUILD["T"](a)
    c, inner = constant_factor(a, factor=False)
    if c != 1:  # a scalar factor stays in front, where a textbook writes it
        return ew(c * placeholder(0), [permute(inner, axes)])
    if a.op == "permute" and a.name is None:  # two permutations are one (a named one stays itself)
        inner = a.attrs["axes"]
        return permute(a.args[0], tuple(inner[k] for k in axes))
    return Node("permute", (a,), tuple(a.shape[k] for k in axes), (("axes", axes),))


def inverse(axes) -> tuple:
    out = [0] * len(axes)
    for i, k in enumerate(axes):
        out[k] = i
    return tuple(out)


def _vjp(node, g, ctx):
    return [(node.args[0], permute(g, inverse(node.attrs["axes"])), ctx.rule("permute", node))]


def _show(node, p):
    s, prec = p.arg(node.args[0])
    if node.attrs["axes"] == (*range(node.rank - 2), node.rank - 1, node.rank - 2):   # each matrix transposed
        return p.transpose(s, prec), p.ATOM
    a = node.args[0]
    if node.attrs["axes"] in ((0, 2, 1, 3), (0, 2, 3, 1)) and a.op == "reshape" and a.args[0].rank == 3:
        # (batch, time, h·dₖ) split into attention's heads (batch, head, time, dₖ), or their transposes
        heads = p.call("heads", p.arg(a.args[0])[0])
        return (heads if node.attrs["axes"] == (0, 2, 1, 3) else p.transpose(heads, p.ATOM)), p.ATOM
    axes = ", ".join(map(str, node.attrs["axes"]))
    return p.call("permute", f"{s}, ({axes})"), p.ATOM


register(Op("permute", zero="all", vjp=_vjp, show=_show,
            expand=lambda node, args, ex: np.transpose(args[0], node.attrs["axes"]),
            evaluate=lambda node, args, ev: np.transpose(args[0], node.attrs["axes"]),
            doc="axes in another order"))
BUILD["permute"] = permute

"""``T``: the transpose of a rank-2 node (``permute`` moves the axes of any rank).

A transpose of a transpose is the node itself, and scalar factors move out. Backward: Gᵀ."""
from __future__ import annotations

from derive.graph.node import BUILD, Node, ShapeError, fmt_shape, placeholder
from derive.ops._registry import Op, register
from derive.ops.elementwise import constant_factor, ew


def transpose(a: Node) -> Node:
    if a.rank != 2:
        raise ShapeError(f"a transpose takes a matrix, not {a!r} {fmt_shape(a.shape)}: use permute")
    if a.op == "T":
        return a.args[0]
    c, inner = constant_factor(a, factor=False)
    if c != 1:
        return ew(c * placeholder(0), [transpose(inner)])
    return Node("T", (a,), (a.shape[1], a.shape[0]))


def _vjp(node, g, ctx):
    return [(node.args[0], transpose(g), ctx.rule("T", node))]


def _show(node, p):
    return p.transpose(*p.arg(node.args[0])), p.ATOM


register(Op("T", zero="all", vjp=_vjp, show=_show, expand=lambda node, args, ex: args[0].T,
            evaluate=lambda node, args, ev: args[0].T, doc="matrix transpose"))
BUILD["T"] = transpose

"""``matmul``: the matrix product ``a @ b`` of two rank-2 nodes.

Scalar factors move out of the product (linearity), so (1/m) stays in front where a textbook writes
it. Backward: dJ/da = G bᵀ, dJ/db = aᵀ G."""
from __future__ import annotations

import numpy as np

from derive.graph.node import BUILD, Node, ShapeError, fmt_shape, placeholder
from derive.ops._registry import Op, register
from derive.ops.elementwise import constant_factor, ew


def matmul(a: Node, b: Node) -> Node:
    if a.rank != 2 or b.rank != 2:
        raise ShapeError(f"a matrix product takes two matrices: {a!r} {fmt_shape(a.shape)} @ {b!r} "
                         f"{fmt_shape(b.shape)}")
    if a.shape[1] != b.shape[0]:
        raise ShapeError(f"cannot multiply {a!r} {fmt_shape(a.shape)} by {b!r} {fmt_shape(b.shape)}")
    ca, ia = constant_factor(a, factor=False)
    cb, ib = constant_factor(b, factor=False)
    if ca * cb != 1:  # linearity: scalar factors move out of the product
        return ew(ca * cb * placeholder(0), [matmul(ia, ib)])
    return Node("matmul", (a, b), (a.shape[0], b.shape[1]))


def _vjp(node, g, ctx):
    a, b = node.args
    rule = ctx.rule("matmul", node)
    return [(a, matmul(g, BUILD["T"](b)), rule), (b, matmul(BUILD["T"](a), g), rule)]


def _show(node, p):
    parts = []
    for a in node.args:
        s, prec = p.arg(a)
        parts.append(s if prec >= p.MATMUL else p.wrap(s))
    return p.matrix_product(parts), p.MATMUL


def _expand(node, args, ex):
    return np.dot(args[0], args[1])


def _evaluate(node, args, ev):
    return args[0] @ args[1]


register(Op("matmul", vjp=_vjp, show=_show, expand=_expand, evaluate=_evaluate, doc="matrix product"))
BUILD["matmul"] = matmul

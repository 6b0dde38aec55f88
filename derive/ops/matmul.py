"""``matmul``: the matrix product ``a @ b`` of two rank-2 nodes, or of a sequence (batch, time, k) by a
matrix (k, n), step by step (a dense layer applied at every step of a recurrence's output).

Scalar factors move out of the product (linearity), so (1/m) stays in front where a textbook writes
it. Backward: dJ/da = G bᵀ, dJ/db = aᵀ G; for a sequence, dJ/db = Σₜ a⟨t⟩ᵀ G⟨t⟩, the op ``step_sum``
(a product summed over the examples and the steps)."""
from __future__ import annotations

import numpy as np

from derive.graph.node import BUILD, Node, ShapeError, fmt_shape, placeholder
from derive.ops._registry import Op, register
from derive.ops.elementwise import constant_factor, ew


def matmul(a: Node, b: Node) -> Node:
    if a.rank >= 3 and b.rank == a.rank:
        return batched(a, b)
    if a.rank not in (2, 3) or b.rank != 2:
        raise ShapeError(f"a matrix product takes two matrices (or a sequence and a matrix): {a!r} "
                         f"{fmt_shape(a.shape)} @ {b!r} {fmt_shape(b.shape)}")
    if a.shape[-1] != b.shape[0]:
        hint = ""
        if a.rank == 2 and a.shape[0] == b.shape[0]:
            hint = f" ({a!r}ᵀ {fmt_shape(a.shape[::-1])} would fit: transposed?)"
        elif a.rank == 2 and a.shape[1] == b.shape[1]:
            hint = f" ({b!r}ᵀ {fmt_shape(b.shape[::-1])} would fit: transposed?)"
        raise ShapeError(f"cannot multiply {a!r} {fmt_shape(a.shape)} by {b!r} {fmt_shape(b.shape)}{hint}")
    moved = _factored(matmul, a, b)   # linearity: scalar factors move out of the product
    return moved if moved is not None else Node("matmul", (a, b), (*a.shape[:-1], b.shape[1]))


def _factored(make, a: Node, b: Node):
    """``make(a, b)`` with the operands' scalar factors in front, (1/m) A B; None where they have none."""
    ca, ia = constant_factor(a, factor=False)
    cb, ib = constant_factor(b, factor=False)
    return ew(ca * cb * placeholder(0), [make(ia, ib)]) if ca * cb != 1 else None


def batched(a: Node, b: Node) -> Node:
    """A matrix product for every index of the leading axes: a (..., i, k) @ b (..., k, j) -> (..., i, j),
    the leading axes (batch, heads) the same on both sides (attention's Q Kᵀ and P V)."""
    if a.rank != b.rank or a.rank < 3 or a.shape[:-2] != b.shape[:-2] or a.shape[-1] != b.shape[-2]:
        raise ShapeError(f"a batched matrix product takes (..., i, k) @ (..., k, j) with the same leading axes: "
                         f"{a!r} {fmt_shape(a.shape)} @ {b!r} {fmt_shape(b.shape)}")
    moved = _factored(batched, a, b)
    return moved if moved is not None else Node("bmm", (a, b), (*a.shape[:-1], b.shape[-1]))


def swap_last(a: Node) -> Node:
    """a with its last two axes swapped: the transpose of each matrix of a batch."""
    return BUILD["permute"](a, (*range(a.rank - 2), a.rank - 1, a.rank - 2))


def _bmm_vjp(node, g, ctx):
    a, b = node.args
    rule = ctx.rule("matmul", node)
    return [(a, batched(g, swap_last(b)), rule), (b, batched(swap_last(a), g), rule)]


def step_sum(a: Node, g: Node) -> Node:
    """Σ over the examples and steps of a⟨t⟩ᵀ g⟨t⟩: a (batch, time, k), g (batch, time, n) -> (k, n)."""
    if a.rank != 3 or g.rank != 3 or a.shape[:2] != g.shape[:2]:
        raise ShapeError(f"a product summed over the steps takes two sequences of the same batch and length: "
                         f"{a!r} {fmt_shape(a.shape)}, {g!r} {fmt_shape(g.shape)}")
    moved = _factored(step_sum, a, g)
    return moved if moved is not None else Node("step_sum", (a, g), (a.shape[2], g.shape[2]))


def _vjp(node, g, ctx):
    a, b = node.args
    rule = ctx.rule("matmul", node)
    if a.rank == 3:
        return [(a, matmul(g, BUILD["T"](b)), rule), (b, step_sum(a, g), rule)]
    return [(a, matmul(g, BUILD["T"](b)), rule), (b, matmul(BUILD["T"](a), g), rule)]


def _step_sum_vjp(node, g, ctx):
    a, b = node.args
    rule = ctx.rule("matmul", node)
    return [(a, matmul(b, BUILD["T"](g)), rule), (b, matmul(a, g), rule)]


def _step_sum_show(node, p):
    a, b = (p.at_step(*p.arg(x), x) for x in node.args)
    return p.sum_over_time(p.matrix_product([p.transpose(a, p.ATOM), b]), p.MATMUL), p.MATMUL


def _step_sum_value(node, args, _):
    return np.tensordot(args[0], args[1], axes=([0, 1], [0, 1]))


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


register(Op("matmul", zero="any", vjp=_vjp, show=_show, expand=_expand, evaluate=_evaluate, doc="matrix product"))
register(Op("bmm", zero="any", vjp=_bmm_vjp, show=_show, expand=lambda node, args, ex: np.matmul(args[0], args[1]),
            evaluate=lambda node, args, ev: np.matmul(args[0], args[1]),
            doc="a matrix product for every index of the leading axes"))
register(Op("step_sum", zero="any", vjp=_step_sum_vjp, show=_step_sum_show, expand=_step_sum_value, evaluate=_step_sum_value,
            doc="a product summed over the examples and the steps of two sequences"))
BUILD["matmul"] = matmul

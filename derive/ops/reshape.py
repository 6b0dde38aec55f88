"""``reshape``: the same entries in another shape, in row-major order (NumPy's and JAX's ``reshape``).

``flatten`` is the reshape a CNN ends its convolutions with: (batch, h, w, c) -> (batch, h·w·c),
rows over height, then width, then channels, as Keras flattens. Backward: the adjoint reshaped back.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from derive.graph.node import BUILD, Node, ShapeError, dims, fmt_shape, placeholder
from derive.ops._registry import Op, register
from derive.ops.elementwise import constant_factor, ew


def reshape(a: Node, shape) -> Node:
    shape = dims(shape)
    if sp.expand(sp.Mul(*a.shape) - sp.Mul(*shape)) != 0:
        raise ShapeError(f"cannot reshape {a!r} {fmt_shape(a.shape)} to {fmt_shape(shape)}: "
                         f"{sp.Mul(*a.shape)} entries against {sp.Mul(*shape)}")
    if shape == a.shape:
        return a
    if a.op == "ew" and not a.args and a.name is None:  # a constant is the same constant in any shape
        return ew(a.attrs["expr"], [], shape=shape)
    c, inner = constant_factor(a, factor=False)
    if c != 1:  # a scalar factor stays in front, where a textbook writes it
        return ew(c * placeholder(0), [reshape(inner, shape)])
    if a.op == "reshape" and a.name is None:  # a reshape of a reshape is one reshape (a named one stays)
        return reshape(a.args[0], shape)
    return Node("reshape", (a,), shape, (("shape", shape),))


def flatten(a: Node) -> Node:
    """(batch, d1, d2, ...) -> (batch, d1·d2·...): every axis after the first into one."""
    if a.rank < 2:
        raise ShapeError(f"flatten keeps the first (batch) axis and joins the rest: {a!r} {fmt_shape(a.shape)} "
                         "has no axes to join")
    return reshape(a, (a.shape[0], sp.Mul(*a.shape[1:])))


def _vjp(node, g, ctx):
    (a,) = node.args
    return [(a, reshape(g, a.shape), ctx.rule("reshape", node))]


def _is_flatten(node) -> bool:
    a = node.args[0]
    return node.rank == 2 and a.rank > 2 and node.shape[0] == a.shape[0]


def _squeezes(node) -> bool:
    """A reshape that only drops or adds axes of length 1 (a summed conv bias back to (c,))."""
    return [d for d in node.shape if d != 1] == [d for d in node.args[0].shape if d != 1]


def _show(node, p):
    s, _ = p.arg(node.args[0])
    if _squeezes(node) and (node.args[0].op == "slice" or node.shape[0] == 1):
        return p.arg(node.args[0])  # one state of a recurrence (h₁⟨T⟩), a summed bias, a sum back to (1, 1)
    if _is_flatten(node):
        return p.call("flatten", s), p.ATOM
    a = node.args[0]
    if node.rank == 3 and a.op == "permute" and a.attrs["axes"] == (0, 2, 1, 3) and a.args[0].rank == 4:
        # attention's heads (batch, head, time, dₖ) joined back into (batch, time, h·dₖ); before the squeeze
        # below, which a key size of 1 would otherwise take it for
        return p.call("merge", p.arg(a.args[0])[0]), p.ATOM
    if _squeezes(node):  # the same entries in the same order: printed as its operand
        return p.arg(node.args[0])
    shape = ", ".join(p.dim(d) for d in node.shape)
    return p.call("reshape", f"{s}, ({shape})"), p.ATOM


def _expand(node, args, ex):
    return np.reshape(args[0], ex.concrete(node.shape))


def _evaluate(node, args, ev):
    return np.reshape(args[0], ev.concrete(node.shape))


register(Op("reshape", zero="all", vjp=_vjp, show=_show, expand=_expand, evaluate=_evaluate, doc="reshape, row-major"))
BUILD["reshape"] = reshape

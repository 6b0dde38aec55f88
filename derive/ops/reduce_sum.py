"""``sum``: a sum over some axes, keeping them (length 1), or over all of them.

``attrs['axis']`` is an axis, a tuple of axes, or None for all. The sum of a constant is the constant
times the count; the sum of one-hot targets along their class axis is 1 (the derivation uses it, and
the step is recorded). Backward: the adjoint is passed to every entry summed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.graph.node import BUILD, ONE, Node, ShapeError, placeholder, record
from derive.graph.rules import rule
from derive.graph.symbols import m as m_sym
from derive.ops._registry import Op, register
from derive.ops.elementwise import constant_factor, ew

ph = placeholder


def normal_axes(axis, rank: int):
    """``axis`` as the sum stores it: None (all axes), one int, or a sorted tuple of two or more."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if not all(isinstance(k, int) and -rank <= k < rank for k in axes):
        raise ShapeError(f"axis must be None or axes of a rank-{rank} tensor (0 to {rank - 1}), not {axis!r}")
    axes = tuple(sorted({k % rank for k in axes}))
    if len(axes) == rank:
        return None
    return axes[0] if len(axes) == 1 else axes


def summed_axes(axis, rank: int) -> tuple:
    """The axes a stored ``axis`` sums over."""
    return tuple(range(rank)) if axis is None else (axis,) if isinstance(axis, int) else axis


def _summed(shape, axis):
    axes = summed_axes(axis, len(shape))
    return tuple(ONE if k in axes else d for k, d in enumerate(shape))


@dataclass(frozen=True)
class ClassesSumToOne:
    """The fact that one-hot targets sum to 1 over the classes (Σₖ Yₖ = 1), as a step records it."""

    target: str
    axis: int

    def printed(self, p) -> str:
        return f"{p.sum_over_classes(self.target, self.axis)} = 1"


def reduce_sum(a: Node, axis) -> Node:
    axis = normal_axes(axis, a.rank)
    shape = _summed(a.shape, axis)
    c, inner = constant_factor(a, factor=False)
    if c != 1:
        return ew(c * placeholder(0), [reduce_sum(inner, axis)])
    if a.op == "ew" and not a.args:  # sum of a constant: the constant times the count
        count = sp.Mul(*[a.shape[k] for k in summed_axes(axis, a.rank)])
        return ew(a.attrs["expr"] * count, [], shape=shape)
    zero = _centred(a, axis, shape)
    if zero is not None:
        return zero
    split = _linear(a, axis, shape)
    if split is not None:
        return split
    if a.op == "leaf" and a.attrs.get("one_hot_axis", "none") == axis:
        # The targets of a categorical loss are one-hot rows (or columns): each sums to one.
        record(rule("one_hot", target=a.name), ClassesSumToOne(a.name, axis))
        return ew(ONE, [], shape=shape)
    return Node("sum", (a,), shape, (("axis", axis),))


@dataclass(frozen=True)
class CentredSumsToZero:
    """The fact that a centred node sums to 0 over the axes it was centred on (Σᵢ X̂ = 0)."""

    name: str
    axis: object

    def printed(self, p) -> str:
        over_batch = self.axis == 0 or isinstance(self.axis, tuple) and 0 in self.axis   # batch norm's, not layer norm's
        return f"{p.sum(p.name(self.name), p.ATOM, self.axis, over_batch)[0]} = 0"


def _centred(a: Node, axis, shape):
    """0 for a sum of a centred node (X − μ, or (X − μ)/σ) over every axis it was centred on."""
    over = a.attrs.get("centred") if a.name is not None else None
    if over is None or not set(over) <= set(summed_axes(axis, a.rank)):
        return None
    record(rule("centred", name=a.name), CentredSumsToZero(a.name, axis))
    return ew(sp.Integer(0), [], shape=shape)


def _linear(a: Node, axis, shape):
    """A sum of an anonymous elementwise expression, split by linearity where that simplifies it: a
    factor constant along the summed axes (an operand of length 1 there: γ, 1/σ, another sum) comes
    out of the sum, Σᵢ (c ⊙ f) = c ⊙ Σᵢ f, and a term that sums to zero (Σᵢ X̂) goes. None where no
    term has such a factor (the sum stays one node, as Σᵢ δ does)."""
    if a.op != "ew" or a.name is not None or not a.args:
        return None
    axes = summed_axes(axis, a.rank)
    if all(a.shape[j] == ONE for j in axes):   # a sum over nothing: left as it is
        return None
    outer = {ph(k) for k, arg in enumerate(a.args)
             if all(j < a.rank - arg.rank or arg.shape[j - a.rank + arg.rank] == ONE for j in axes)}
    if not outer:
        return None
    terms, pulled = [], False
    for term in sp.Add.make_args(a.attrs["expr"]):
        c, f = term.as_independent(*[ph(k) for k in range(len(a.args)) if ph(k) not in outer], as_Add=False)
        if not c.free_symbols & outer:
            c, f = ONE, term
        pulled = pulled or c != ONE
        terms.append((c, f))
    if not pulled:
        return None
    groups: dict = {}
    for c, f in terms:   # terms with the same outer factor share one sum
        groups[c] = groups.get(c, 0) + f
    outer_args = [a.args[int(str(q)[2:])] for q in sorted(outer, key=str)]
    renumber = {q: ph(i) for i, q in enumerate(sorted(outer, key=str))}
    out, args = [], list(outer_args)
    for c, f in groups.items():
        inner = reduce_sum(ew(f, a.args, shape=a.shape), axis) if f.free_symbols else \
            ew(f * sp.Mul(*[a.shape[j] for j in axes]), [], shape=shape)
        args.append(inner)
        out.append(c.xreplace(renumber) * ph(len(args) - 1))
    return ew(sp.Add(*out), args, shape=shape)


def _vjp(node, g, ctx):
    (a,) = node.args
    return [(a, ew(placeholder(0), [g], shape=a.shape), ctx.rule("sum", node))]


def _show(node, p):
    (a,) = node.args
    axis = node.attrs["axis"]
    # A sum over the batch axis is over the examples: textbooks write it with the example index i.
    over_batch = axis is not None and any(a.shape[k] == m_sym for k in summed_axes(axis, a.rank))
    if over_batch and p.writes_indices and axis == (0, 1) and a.rank == 3 and _over_time(a):
        return p.sum_over_batch_and_steps(*p.arg(a)), p.MATMUL   # a bias at every step: Σᵢ,ₜ
    inner = a.args[0] if a.op == "sum" and a.name is None and a.rank == 3 else None
    if p.writes_indices and inner is not None and _over_time(a) \
            and {*summed_axes(axis, 3), *summed_axes(a.attrs["axis"], 3)} == {0, 1} \
            and len(summed_axes(axis, 3)) == len(summed_axes(a.attrs["axis"], 3)) == 1:
        # a sum over the batch, then over the steps (or the other way): Σᵢ,ₜ, as one sum over both writes it
        return p.sum_over_batch_and_steps(*p.arg(inner)), p.MATMUL
    return p.sum(*p.arg(a), axis, over_batch)


def _over_time(node) -> bool:
    """Whether a (batch, ·, ·) node's middle axis is time: it comes from a recurrence's states or a token
    sequence, or from a (batch, time, features) input that no convolution or pooling reads (dense layers at
    every step, TimeDistributed); a 1-D convolution's (batch, length, channels) is positions."""
    from derive.graph.node import topo_order
    from derive.ops._registry import lookup
    nodes = topo_order(node)
    ops = {n.op for n in nodes}
    if ops & {"scan", "take"}:
        return True
    windowed = any(lookup(op).windowed for op in ops)
    return not windowed and any(n.op == "leaf" and n.role == "input" and n.rank == 3 for n in nodes)


def _expand(node, args, ex):
    return np.sum(args[0], axis=node.attrs["axis"], keepdims=True)


def _evaluate(node, args, ev):
    return np.sum(args[0], axis=node.attrs["axis"], keepdims=True)


register(Op("sum", zero="all", vjp=_vjp, show=_show, expand=_expand, evaluate=_evaluate, doc="sum over axes, keeping them"))
BUILD["sum"] = reduce_sum

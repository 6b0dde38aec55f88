"""Evaluating graph nodes in float64 NumPy, node by node, for the checks.

This evaluator is deliberately separate from the JAX lowering (``compile.lowering.lower``): a user's formula
and the derived one are both computed here from the graph's definitions, each operation by its own
NumPy rule in ``derive.ops``, so a check of a formula does not depend on the lowering being right.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from derive.graph.build import topo_order
from derive.graph.stable import stable
from derive.graph.symbols import m as m_sym
from derive.ops import lookup
from derive.ops.elementwise import UndefinedValue  # noqa: F401 - the checks catch it from here


def leaf_values(model, point) -> dict:
    """Leaf node -> array in the derivation's layout, from a batch-first ``compile.checks.points.Point``:
    the parameters by their records (``Param``), the dropout masks by name (all ones where the
    point has none)."""
    rows = model.convention == "rows"
    flip = (lambda a: a) if rows else (lambda a: np.asarray(a).T)
    values = {model.X: flip(point.x), model.Y: flip(point.y)}
    for r in model.records:
        values[r.node] = point.params[r.name]
    m = point.x.shape[0]
    for mask in model.masks:
        units = int(mask.shape[1] if rows else mask.shape[0])
        values[mask] = flip(point.masks[mask.name] if point.masks else np.ones((m, units)))
    return values


def evaluate(nodes, values: dict, m_value: int, constants: dict | None = None) -> list:
    """The values of ``nodes`` given the leaves' ``values``; ``m_value`` is the batch size.

    Each node is computed by its operation's own NumPy rule (``derive.ops``: ``Op.evaluate``)."""
    ev = _Evaluation(dict(values), m_value, constants)
    roots = _stable(tuple(nodes))  # log(A) of a softmax or sigmoid from its Z: derive.graph.stable
    for n in topo_order(roots[0], stop=ev.values, more=roots[1:]) if roots else ():   # the union, walked once
        if n not in ev.values:
            ev.values[n] = lookup(n.op).evaluate(n, [ev.values[a] for a in n.args], ev)
    return [ev.values[n] for n in roots]


_STABLE: dict = {}


def _stable(nodes: tuple) -> list:
    """derive.graph.stable's rewrite of ``nodes``, once per graph: a check evaluates one loss many times."""
    if nodes not in _STABLE:
        if len(_STABLE) > 512:
            _STABLE.clear()
        _STABLE[nodes] = stable(list(nodes))[0]
    return _STABLE[nodes]


class _Evaluation:
    """What an op's NumPy rule may need beyond its operands: the batch size and the constants (λ)."""

    def __init__(self, values, m_value, constants):
        self.values, self.m_value = values, m_value
        self.subs = {m_sym: sp.Integer(m_value), **{k: sp.Float(v) for k, v in (constants or {}).items()}}

    def concrete(self, shape) -> tuple:
        key = (shape, self.m_value)
        if key not in _SHAPES:
            _SHAPES[key] = tuple(int(sp.sympify(d).xreplace({m_sym: self.m_value})) for d in shape)
        return _SHAPES[key]


_SHAPES: dict = {}

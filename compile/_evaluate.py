"""Evaluating graph nodes in float64 NumPy, node by node, for the checks.

This evaluator is deliberately separate from the JAX lowering (``compile._lower``): a user's formula
and the derived one are both computed here from the graph's definitions, so a check of a formula does
not depend on the lowering being right. Elementwise expressions are turned into NumPy functions by
``sympy.lambdify``; they are graph expressions (built by derive/ or by the whitelisted formula parser),
never text a user typed.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from derive._graph import placeholder, topo_order
from derive._network import m as m_sym
from derive._scalar_functions import SCALAR_FUNCTIONS


class UndefinedValue(ArithmeticError):
    """An elementwise expression whose value is undefined once the batch size is known (1/(m - 3) at m = 3)."""


# The NumPy implementation of every scalar function, by SymPy class name, from derive's table:
# lambdify calls a function by its class name and takes these before NumPy's own.
SCALAR_NUMPY = {c.__name__: f.numpy for f in SCALAR_FUNCTIONS for c in f.classes}
_COMPILED: dict = {}


def _lambdified(expr, n_args):
    key = (expr, n_args)
    if key not in _COMPILED:
        _COMPILED[key] = sp.lambdify([placeholder(i) for i in range(n_args)], expr,
                                     modules=[SCALAR_NUMPY, "numpy"])
    return _COMPILED[key]


def leaf_values(model, point) -> dict:
    """Leaf node -> array in the derivation's layout, from a batch-first ``compile._points.Point``."""
    rows = model.convention == "rows"
    flip = (lambda a: a) if rows else (lambda a: np.asarray(a).T)
    values = {model.X: flip(point.x), model.Y: flip(point.y)}
    for layer in model.layers:
        values[layer.W], values[layer.b] = point.params[layer.W.name], point.params[layer.b.name]
        if layer.mask is not None:
            mask = point.masks[layer.mask.name] if point.masks else np.ones((point.x.shape[0], layer.units))
            values[layer.mask] = flip(mask)
    return values


def evaluate(nodes, values: dict, m_value: int, constants: dict | None = None) -> list:
    """The values of ``nodes`` given the leaves' ``values``; ``m_value`` is the batch size."""
    subs = {m_sym: sp.Integer(m_value), **{k: sp.Float(v) for k, v in (constants or {}).items()}}
    memo = dict(values)
    for root in nodes:
        for n in topo_order(root):
            if n not in memo:
                memo[n] = _one(n, [memo[a] for a in n.args], subs, m_value, memo)
    return [memo[n] for n in nodes]


def _stable_logs(n, expr, args, memo):
    """log(A) and log(1 - A) of a sigmoid or softmax operand A, computed from its Z without forming A:
    a saturated output would give log(0). Returns (expr, args) with those logs as extra operands."""
    from derive._functions import sigmoid
    args = list(args)
    for i, a in enumerate(n.args):
        p = placeholder(i)
        if a.op == "softmax" and expr.has(sp.log(p)):
            zv = memo[a.args[0]]
            axis = a.attrs["axis"]
            shifted = zv - np.max(zv, axis=axis, keepdims=True)
            logs = {sp.log(p): shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))}
        elif a.op == "ew" and len(a.args) == 1 and a.attrs["expr"] == sigmoid(placeholder(0)) \
                and (expr.has(sp.log(p)) or expr.has(sp.log(1 - p))):
            zv = memo[a.args[0]]
            logs = {sp.log(p): -np.logaddexp(0, -zv), sp.log(1 - p): -np.logaddexp(0, zv)}
        else:
            continue
        for term, value in logs.items():
            expr = expr.xreplace({term: placeholder(len(args))})
            args.append(value)
    return expr, args


_SHAPES: dict = {}


def _shape(node, m_value):
    key = (node.shape, m_value)
    if key not in _SHAPES:
        _SHAPES[key] = tuple(int(sp.sympify(d).xreplace({m_sym: m_value})) for d in node.shape)
    return _SHAPES[key]


def _one(n, args, subs, m_value, memo):
    if n.op == "leaf":
        raise ValueError(f"no value for {n.name}")
    if n.op == "matmul":
        return args[0] @ args[1]
    if n.op == "T":
        return args[0].T
    if n.op == "sum":
        axis = n.attrs["axis"]
        return np.sum(args[0], axis=axis, keepdims=True) if axis is not None else np.sum(args[0]).reshape(1, 1)
    if n.op == "softmax":
        axis = n.attrs["axis"]
        e = np.exp(args[0] - np.max(args[0], axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)
    if n.op == "ew":
        expr = n.attrs["expr"].xreplace(subs)
        if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            at = ", ".join(f"{k} = {v}" for k, v in subs.items())
            raise UndefinedValue(f"{sp.sstr(n.attrs['expr'])} is undefined (a division by zero or a log "
                                 f"of 0) at {at}")
        expr, args = _stable_logs(n, expr, args, memo)
        out = _lambdified(expr, len(args))(*args)
        dtype = np.result_type(*args, np.float64) if args else np.float64
        return np.broadcast_to(np.asarray(out, dtype), _shape(n, m_value)).copy()
    raise ValueError(f"cannot evaluate operation {n.op}")

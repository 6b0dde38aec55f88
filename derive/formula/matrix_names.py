"""What a matrix formula may name and call: the derivation's own names and matrix-aware functions.

A user's formula (``derivax check``) is evaluated into graph nodes by the whitelisted parser of
``derive.formula.parse``; the names resolve here to the nodes of the derivation (so ``A1`` in a formula is
the very node A1 of the network) and the functions build ``ew``, ``sum`` and ``softmax`` nodes.
"""
from __future__ import annotations

import sympy as sp

from derive.network.functions import ACTIVATIONS, FUNCTIONS, derivative
from derive.graph.build import Node, ew, placeholder, reduce_sum, softmax
from derive.graph.symbols import lam, m


def matrix_names(derivation) -> dict:
    """Name -> node (or scalar symbol) for every name the derivation prints."""
    model = derivation.model
    names = {"X": model.X, "Y": model.Y, "m": m}
    for n in model.forward:
        if n.name and n.name != "J":
            names[n.name] = n
    for layer in model.layers:
        if layer.W is not None:  # pooling and flatten layers have no parameters
            names[layer.W.name], names[layer.b.name] = layer.W, layer.b
        if layer.mask is not None:
            names[layer.mask.name] = layer.mask
    for delta in derivation.deltas.values():
        names[delta.name] = delta
    if model.l2:
        names["lam"] = lam
    return names


def _elementwise(fn, name):
    def call(*args):
        if not any(isinstance(a, Node) for a in args):
            return fn(*args)
        nodes = [a for a in args if isinstance(a, Node)]
        slots = {id(a): placeholder(nodes.index(a)) for a in nodes}
        expr = fn(*[slots[id(a)] if isinstance(a, Node) else sp.sympify(a) for a in args])
        return ew(expr, nodes)
    call.__name__ = name
    return call


def _max(a, b):
    # max(a, b) = (a + b + |a - b|) / 2 holds entrywise; max(0, z) is relu(z).
    if isinstance(a, Node) or isinstance(b, Node):
        return (a + b + FUNCTIONS_M["abs"](a - b)) / 2
    return sp.Max(a, b)


def _axis(axis):
    if axis is None or axis in (0, 1):
        return None if axis is None else int(axis)
    raise ValueError(f"axis must be 0, 1 or None, not {axis}")


def _sum(x, axis=None, keepdims=True):
    if not isinstance(x, Node):
        raise ValueError("sum(...) takes a matrix")
    return reduce_sum(x, _axis(axis))


def _softmax(x, axis=None):
    if not isinstance(x, Node):
        raise ValueError("softmax(...) takes a matrix")
    if axis is None:
        raise ValueError("softmax needs its axis: softmax(Z, 1) over the classes of each row")
    return softmax(x, _axis(axis))


FUNCTIONS_M = {k: _elementwise(f, k) for k, f in FUNCTIONS.items()}


def _prime(fn, name):
    """The derivative of a table activation as a function: tanh_prime(Z1) is 1 - tanh(Z1)**2."""
    d = derivative(fn, 0)
    return _elementwise(lambda v: d.xreplace({fn.variables[0]: v}), f"{name}_prime")


PRIMES = {f"{name}_prime": _prime(fn, name) for name, fn in ACTIVATIONS.items()}


def matrix_functions() -> dict:
    return {**FUNCTIONS_M, **PRIMES, "max": _max, "sum": _sum, "softmax": _softmax}

"""SymPy matrix expressions as formulas: ``A1.T * (A2 - Y) / m`` written with MatrixSymbols.

``matrix_symbols(d)`` gives a MatrixSymbol for every name the derivation prints, with its shape, so a
formula can be written in SymPy's own matrix algebra; ``from_sympy`` turns such an expression into a
graph node of the derivation. Products of matrices are matrix products, ``HadamardProduct`` (or
``hadamard_product``) is the elementwise one, and elementwise functions are applied with
``f.applyfunc`` or ``ElementwiseApplyFunction``.
"""
from __future__ import annotations

from types import SimpleNamespace

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from derive.graph.build import Node, ew, placeholder, transpose
from derive.formula.matrix_names import matrix_names


class SympyFormulaError(ValueError):
    """A SymPy expression that is not a formula over the derivation's names."""


def matrix_symbols(derivation) -> SimpleNamespace:
    """A namespace of MatrixSymbols X, Y, W1, b1, Z1, A1, delta1, ... and the Symbol m."""
    if not hasattr(derivation, "grads") or not hasattr(derivation, "model"):
        hint = ": write matrix_symbols(net.derive())" if callable(getattr(derivation, "derive", None)) else ""
        raise TypeError(f"matrix_symbols takes a derivation (net.derive()), not {type(derivation).__name__}{hint}")
    out = {}
    for name, node in matrix_names(derivation).items():
        out[name] = sp.MatrixSymbol(name, *node.shape) if isinstance(node, Node) else node
    return SimpleNamespace(**out)


def from_sympy(expr, derivation) -> Node:
    names = matrix_names(derivation)
    node = _convert(sp.sympify(expr), names)
    if not isinstance(node, Node):
        raise SympyFormulaError(f"{expr} is a scalar, not a matrix formula")
    return node


def _convert(e, names):
    if isinstance(e, sp.MatrixSymbol):
        node = names.get(e.name)
        if not isinstance(node, Node):
            raise SympyFormulaError(f"unknown matrix {e.name}; known: {', '.join(sorted(names))}")
        return node
    if isinstance(e, sp.Symbol):
        if e.name not in names:
            raise SympyFormulaError(f"unknown symbol {e.name}; known: {', '.join(sorted(names))}")
        return names[e.name]
    if e.is_Number:
        return e
    if isinstance(e, sp.Transpose):
        return transpose(_convert(e.arg, names))
    if isinstance(e, sp.MatMul):
        parts = [_convert(a, names) for a in e.args]
        out = parts[0]
        for p in parts[1:]:
            out = out @ p if isinstance(out, Node) and isinstance(p, Node) else out * p
        return out
    if isinstance(e, (sp.MatAdd, sp.Add)):
        parts = [_convert(a, names) for a in e.args]
        out = parts[0]
        for p in parts[1:]:
            out = out + p
        return out
    if isinstance(e, (sp.HadamardProduct, sp.Mul)):
        parts = [_convert(a, names) for a in e.args]
        out = parts[0]
        for p in parts[1:]:
            out = out * p
        return out
    if isinstance(e, (sp.HadamardPower, sp.MatPow, sp.Pow)):
        base, k = (_convert(a, names) for a in e.args)
        if isinstance(e, sp.MatPow) and isinstance(base, Node):
            raise SympyFormulaError(f"{e}: a matrix power is not a formula here; use HadamardPower")
        return base ** k
    if isinstance(e, ElementwiseApplyFunction):
        arg = _convert(e.expr, names)
        fn = e.function
        var = fn.variables[0] if isinstance(fn, sp.Lambda) else sp.Dummy()
        body = fn.expr if isinstance(fn, sp.Lambda) else fn(var)
        return ew(body.xreplace({var: placeholder(0)}), [arg])
    if isinstance(e, sp.Function) and len(e.args) == 1:
        arg = _convert(e.args[0], names)
        if isinstance(arg, Node):
            return ew(type(e)(placeholder(0)), [arg])
        return e
    raise SympyFormulaError(f"cannot read {type(e).__name__} {e} as a formula over the derivation's names")

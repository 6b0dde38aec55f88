"""What the layer modules share with the builder: a layer's record, and reading a layer's settings.

Layers of every kind (``network``, ``norm``, ``embedding``, ``attention``) import these from here, below
them all, so that none of them imports another to read an activation or to record a layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.formula.parse import parse_activation
from derive.graph.names import SHOWN, clip, shown
from derive.graph.node import Node
from derive.network import functions as F
from derive.network.functions import NetworkError


@dataclass
class Layer:
    index: int
    units: int
    activation: str            # the name printed
    fn: object                 # SymPy Lambda, or None for softmax
    Z: Node
    A: Node
    W: Node
    b: Node
    mask: Node | None = None
    keep: float | None = None  # keep probability of the dropout mask
    kind: str = "dense"        # "dense", "conv", "max_pool", "avg_pool", "flatten", "recurrent", "concat" or "custom"
    geometry: tuple = ()       # (key, value) pairs a printout's header states: kernel, stride, padding, window
    cell: object = None        # a recurrent layer's step (derive.ops.scan.Cell)


def _activation(spec):
    """(printed name, SymPy Lambda or None for softmax) from a name, a formula string or SymPy."""
    if isinstance(spec, str):
        text = spec.strip()
        if text == "softmax" or text in F.ACTIVATIONS:
            return text, F.ACTIVATIONS.get(text)
        if text.isidentifier() and text != "z":
            # raises: unknown activation, with the valid names (a name past any activation's, by its start)
            F.activation(text if len(text) <= SHOWN else clip(text))
        if F.parametrized(text):
            raise F.NetworkError(F.unknown_activation(text))   # elu(0.5): a parameter, not elu of 0.5
        if bracketed(text):
            text = text[1:-1]
        return text, parse_activation(text)
    plain_variables(spec, "the activation")
    fn = F.activation(spec)
    return str(fn.expr), fn


def plain_variables(spec, what: str) -> None:
    """Refuse a SymPy Lambda (an activation, a loss) whose variable is named with more than letters, digits and _:
    the formula it makes is its printed name, in text, LaTeX and Markdown (a name like ``q}\\input{...}`` would be
    LaTeX commands there) and in generated code's comments."""
    if not isinstance(spec, sp.Lambda):
        return
    for v in spec.variables:
        name = getattr(v, "name", None)
        if not isinstance(name, str) or not name.isidentifier():
            raise NetworkError(f"{what}: the Lambda's variable {shown(str(name if name is not None else v), 60)} is "
                               "no plain name (letters, digits and _): it is printed in the formulas; name it as "
                               + ("sp.Symbol('yhat') and sp.Symbol('y')" if "loss" in what else "sp.Symbol('z')"))


def bracketed(text: str) -> bool:
    """Whether ``text`` is one pair of brackets around the whole of it, ``(z*sigmoid(z))``: its first "(" is
    closed by its last ")". ``(z+1)*(z-1)`` starts and ends with a bracket, but not the same pair."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for ch in text[:-1]:
        depth += (ch == "(") - (ch == ")")
        if depth == 0:   # the first "(" is closed before the end
            return False
    return True


def _flag(value, what: str) -> None:
    if not isinstance(value, bool):
        raise NetworkError(f"{what} must be True or False, not {value!r}")


MAX_SIZE = 10**6  # units of one layer: a million-wide layer is already far past one machine


def _positive_int(value, what):
    """A size (units, filters, an input's size, heads): a whole number from 1 to MAX_SIZE, the spec's own limit."""
    import numbers
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise NetworkError(f"{what} must be a positive integer, not {value!r}")
    if value > MAX_SIZE:
        text = str(int(value)) if int(value).bit_length() < 10_000 else None   # Python writes no longer int
        shown = (text if len(text) <= 20 else f"{text[:10]}... ({len(text)} digits)") if text else \
            f"(a whole number of {int(value).bit_length()} bits)"
        raise NetworkError(f"{what} {shown} is too large (at most {MAX_SIZE})")
    return int(value)


def _plain_ints(value):
    """``value`` with every whole number in it (a NumPy integer, ...) a Python int, through tuples and lists:
    sizes, strides and paddings are read as ints, and a NumPy integer is as good a size as an int. Anything
    else (a bool, a float, a string) is left as it is, for the check that reads it to refuse."""
    import numbers
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_plain_ints(v) for v in value)
    return value

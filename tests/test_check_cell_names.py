"""`derivax check` of a notebook cell: a name a line defines shadows the formula language's constants (e, pi)
and functions (exp, sum) on the lines after it, as in Python; a shadowed function called later is refused
naming the line that defined it. Unshadowed, e is Euler's number and pi is π."""
import pytest
import sympy as sp

from compile.checks.formula import check_formula
from derive import Dense, FormulaError, Network
from derive.formula.parse import parse_scalar

XOR = Network(2, [Dense(2, "tanh"), Dense(2, "softmax")], loss="ce")
DERIVED = XOR.derive("rows")


def check(formula):
    return check_formula(XOR, "W2", formula, "rows", derivation=DERIVED)


@pytest.mark.parametrize("cell", [
    "e = np.exp(Z2)\nA = e / np.sum(e, axis=1, keepdims=True)\ndW2 = A1.T @ (A - Y) / m",
    "e = np.exp(Z2 - np.max(Z2, axis=1, keepdims=True))\nA = e / np.sum(e, axis=1, keepdims=True)\n"
    "dW2 = A1.T @ (A - Y) / m",
    "pi = A2 - Y\ndW2 = A1.T @ pi / m",
    "exp = np.exp(Z2)\nsum = np.sum(exp, axis=1, keepdims=True)\ndW2 = A1.T @ (exp / sum - Y) / m",
])
def test_a_defined_name_shadows_a_constant_or_function(cell):
    r = check(cell)
    assert r.ok, r.render()


def test_a_wrong_cell_with_e_defined_is_rejected():
    r = check("e = np.exp(Z2)\nA = e / np.sum(e, axis=1, keepdims=True)\ndW2 = A1.T @ (A - Y)")
    assert not r.ok and any("missing 1/m" in d for d in r.diagnosis), r.render()


def test_calling_a_shadowed_function_names_the_defining_line():
    with pytest.raises(FormulaError) as e:
        check("exp = A2 - Y\ndW2 = A1.T @ exp(Z2) / m")
    assert "exp(...) calls a value: line 1 defines exp = ..., which shadows the function exp" in str(e.value)
    assert e.value.col == len("exp = A2 - Y\ndW2 = A1.T @ "), (str(e.value), e.value.col)


def test_e_and_pi_undefined_are_the_constants():
    z = sp.Symbol("z")
    assert sp.expand(parse_scalar("e * z + pi", {"z": z}) - (sp.E * z + sp.pi)) == 0
    r = check("A1.T @ (A2 - Y) / m * e")   # off by Euler's number, 2.71828...
    assert not r.ok and any("2.71828 times" in d for d in r.diagnosis), r.render()
    assert check("A1.T @ (A2 - Y) / m * np.e / e").ok

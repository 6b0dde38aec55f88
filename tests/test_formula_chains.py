"""A long chain of one operation (a + b + c + ..., Python's ((a + b) + c) + ...) past the nesting limit is refused
with what the chain is and how to group it, and the grouped formula is read as the same function."""
import pytest
import sympy as sp

from derive import Dense, Network
from derive.network.parts import _activation
from derive.formula.errors import FormulaError, MAX_DEPTH


def test_a_long_sum_is_refused_as_a_chain_with_the_grouping_that_reads():
    n = MAX_DEPTH + 5
    with pytest.raises(FormulaError, match=rf"Python reads a chain a \+ b \+ c .* this one is {n - 1} long; "
                                           r"group it in brackets"):
        Network(2, [Dense(2, "+".join(["z"] * n)), Dense(1)], loss="mse").derive()
    half = n // 2
    grouped = "(" + "+".join(["z"] * half) + ")+(" + "+".join(["z"] * (n - half)) + ")"
    _, f = _activation(grouped)
    assert f(sp.Integer(3)) == 3 * n   # n times z, at z = 3
    Network(2, [Dense(2, grouped), Dense(1)], loss="mse").derive()


def test_a_deep_nesting_that_is_no_chain_keeps_its_message():
    deep = "tanh(" * 3 + "-(" * (MAX_DEPTH + 2) + "z" + ")" * (MAX_DEPTH + 2) + ")" * 3
    with pytest.raises(FormulaError) as exc:
        Network(2, [Dense(2, deep), Dense(1)], loss="mse").derive()
    assert "chain" not in str(exc.value)


@pytest.mark.parametrize("act, says", [
    ("sqrt(z)", r"layer 2 \(Dense 3\): activation sqrt\(z\) is not real-valued"),
    ("foo(z)", r"layer 2 \(Dense 3\): activation: call of 'foo' is not allowed"),
    ("nosuch", r"layer 2 \(Dense 3\): unknown activation 'nosuch'"),
])
def test_an_activation_refused_from_python_names_its_layer(act, says):
    with pytest.raises(ValueError, match=says):
        Network(2, [Dense(3, "tanh"), Dense(3, act), Dense(1)], loss="mse")

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

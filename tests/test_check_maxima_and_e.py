"""check reads np.max along the batch (a softmax stabilized over the wrong axis: NOT EQUAL, and why), e**z as exp(z)
wherever formulas are parsed, and draws its third batch size from the seed and the formula's text. The truths the
verdicts are held to come from NumPy and math: the softmax and its stabilizations computed here at the check's own
points, math.exp, and batch sizes written out."""
import math

import numpy as np
import pytest
import sympy as sp

from compile.checks.formula import _batch_maxima, batches, check_formula, to_node
from compile.checks.points import random_point
from derive import Dense, FormulaError, Network
from derive.formula.parse import parse_activation, parse_loss
from derive.network.examples import resolve

NET = resolve("2-3:tanh-3:softmax")[1]   # Z1 = X W1 + b1 (rows), A1 = tanh, Z2 = A1 W2 + b2, A2 = softmax(Z2)
SIG = resolve("2-3:tanh-1:sigmoid")[1]
WHY = ("a max over the batch is one constant for each class, which does not cancel in a softmax over the classes as "
       "each example's own max does")


def _z2(convention, seed=0, m=3):
    """Z2 at the check's first point (seed, batch of 3), computed here in NumPy, batch-first (m, classes)."""
    point = random_point(NET.derive(convention).model, seed, m)
    p = point.params
    if convention == "rows":
        return np.tanh(point.x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    return (p["W2"] @ np.tanh(p["W1"] @ point.x.T + p["b1"]) + p["b2"]).T


def _softmax_minus(z, shift):
    e = np.exp(z - shift)
    return e / e.sum(axis=1, keepdims=True)


def _stabilized(mx, classes):
    return f"np.exp(Z2 - {mx}) / np.sum(np.exp(Z2 - {mx}), axis={classes}, keepdims=True)"


def test_the_truth_a_row_max_cancels_and_a_column_max_does_not():
    z = _z2("rows")
    plain = _softmax_minus(z, 0)
    assert np.allclose(_softmax_minus(z, z.max(axis=1, keepdims=True)), plain, rtol=1e-12)
    assert not np.allclose(_softmax_minus(z, z.max(axis=0, keepdims=True)), plain, rtol=1e-6)


# ---- 1. np.max with an axis ----

@pytest.mark.parametrize("convention, mx, classes", [
    ("rows", "Z2.max(axis=-1, keepdims=True)", 1),
    ("rows", "np.amax(Z2, 1, keepdims=True)", 1),
    ("columns", "np.max(Z2, axis=0)", 0),   # (m,) broadcasts as a row against (3, m): each example's own max
])
def test_each_examples_own_max_is_equal(convention, mx, classes):
    r = check_formula(NET, "A2", _stabilized(mx, classes), convention)
    assert r.ok, r.render()


@pytest.mark.parametrize("convention, mx, classes", [
    ("rows", "np.max(Z2, axis=0, keepdims=True)", 1),
    ("rows", "Z2.max(0)", 1),                          # (3,): NumPy broadcasts it as a row, one max per class
    ("columns", "np.amax(Z2, axis=-1, keepdims=True)", 0),
])
def test_a_max_over_the_batch_is_read_not_equal_and_said_why(convention, mx, classes):
    r = check_formula(NET, "A2", _stabilized(mx, classes), convention)
    assert not r.ok, r.render()
    z = _z2(convention)
    yours, right = _softmax_minus(z, z.max(axis=0, keepdims=True))[0, 0], _softmax_minus(z, 0)[0, 0]
    assert f"{yours:.6g}" != f"{right:.6g}"
    assert f"(seed 0, batch of 3), entry (1, 1): yours {yours:.6g}, derived {right:.6g}" in r.counterexample, r.render()
    assert WHY in " ".join(r.diagnosis), r.render()
    axis = "0" if convention == "rows" else "1"
    assert f"batchmaxZ₂ = the largest entry of each {'column' if axis == '0' else 'row'} of Z₂, over the batch " \
           f"(np.max along axis {axis})" in r.yours_note, r.render()


def test_the_batch_max_line_is_said_only_where_the_max_does_not_cancel():
    d = NET.derive("rows")
    wrong = to_node(_stabilized("np.max(Z2, axis=0, keepdims=True)", 1), d)
    lines = _batch_maxima(d, wrong, 0, 3)
    assert len(lines) == 1 and WHY in lines[0] and "(axis 1, keepdims=True)" in lines[0], lines
    # a softmax over the batch: its max over the batch, a constant for each column, cancels there
    over_batch = to_node(_stabilized("np.max(Z2, axis=0, keepdims=True)", 0), d)
    assert _batch_maxima(d, over_batch, 0, 3) == []


def test_keepdims_missing_where_it_does_not_broadcast_is_named_at_its_position():
    with pytest.raises(FormulaError) as e:
        check_formula(NET, "A2", "np.exp(Z2 - np.max(Z2, axis=1))")
    assert e.value.col == 7 and e.value.message == (
        "cannot subtract Z2 (m, 3) and np.max(Z2, axis=1) (m,): their shapes do not broadcast together "
        "(np.max(Z2, axis=1) drops the axis it reduces: with keepdims=True it is (m, 1))"), e.value.message


def test_a_max_over_the_batch_at_step_t_is_refused_by_position():
    d = resolve("3x2-rnn3-2:softmax")[1].derive("rows")
    with pytest.raises(FormulaError) as e:
        to_node("sum_t(h1_tm1.T @ (delta1_t * np.max(h1_t, axis=0)))", d)
    assert e.value.col == 29 and e.value.message.startswith(
        "np.max along axis 0 (the batch) of a value at step t of a sequence is not read"), e.value.message


# ---- 2. e**z is exp(z) ----

@pytest.mark.parametrize("text, at_03", [
    ("1/(1+e**(-z))", 1 / (1 + math.exp(-0.3))),
    ("1/(1+np.e**(-z))", 1 / (1 + math.exp(-0.3))),
    ("1/(1+math.e**(-z))", 1 / (1 + math.exp(-0.3))),
    ("z*e**(-z**2/2)", 0.3 * math.exp(-0.045)),
])
def test_e_to_a_power_is_exp_in_an_activation(text, at_03):
    fn = parse_activation(text)
    assert float(fn(sp.Rational(3, 10))) == pytest.approx(at_03, rel=1e-14)


def test_e_to_a_power_is_exp_in_a_loss_and_a_layer():
    loss = parse_loss("(yhat - y)**2 * e**(-y)")
    assert float(loss(sp.Rational(1, 2), sp.Rational(1, 4))) == pytest.approx(0.0625 * math.exp(-0.25), rel=1e-14)
    net = Network(2, [Dense(3, "1/(1+e**(-z))"), Dense(2, "softmax")], loss="ce")
    assert check_formula(net, "A1", "1/(1+np.exp(-Z1))").ok


@pytest.mark.parametrize("net, formula", [
    (NET, "e**Z2 / np.sum(e**Z2, axis=1, keepdims=True)"),
    (SIG, "1/(1+math.e**(-Z2))"),
])
def test_e_to_a_power_is_exp_in_a_matrix_formula(net, formula):
    assert check_formula(net, "A2", formula).ok


def test_e_to_a_matrix_is_its_entrywise_exp():
    r = check_formula(NET, "A2", "np.e**Z2")
    z = _z2("rows")
    assert not r.ok and f"entry (1, 1): yours {math.exp(z[0, 0]):.6g}," in r.counterexample, r.render()


# ---- 3. the third batch size: by the seed and the formula ----

def test_the_third_batch_size_follows_the_formula_too():
    # written out: the same in every run and process (a salted hash() of the text would move them from run to run)
    assert batches(0, "A1.T @ (A2 - Y) / m") == (3, 5, 11)
    assert batches(0, "A1.T @ (A2 - Y)/m") == (3, 5, 7)
    assert batches(0, "  A1.T @ delta2\n") == batches(0, "A1.T @ delta2") == (3, 5, 11)
    assert [batches(seed, "A1.T @ delta2")[-1] for seed in range(3)] == [11, 13, 7]


def test_the_report_says_the_formulas_third_batch_size():
    # m / (m (m − 2)(m − 3)(m − 5) + m) is 1 at m = 2, 3 and 5, and 1/433 at m = 11: the third size alone tells
    r = check_formula(NET, "W2", "np.dot(A1.T, A2 - Y) / (m*(m-2)*(m-3)*(m-5)+m)")
    assert not r.ok
    assert "batch sizes 3, 5, 11)" in " ".join(r.how), r.render()
    assert "(seed 2, batch of 11)" in r.counterexample and "not at m = 11" in " ".join(r.diagnosis), r.render()


def test_a_sum_subtracted_through_a_reshape_keeps_its_brackets():
    # columns: each example's max over the 3 classes, max(a, b) = (a + b + |a − b|)/2 nested; it is subtracted whole
    from compile.checks.formula import to_node
    from derive.network.examples import parse_spec
    from derive.printing.notations import TextPrinter
    d = parse_spec("2-3:tanh-3:softmax").derive("columns")
    shown = TextPrinter().show(to_node("Z2 - Z2.max(axis=0)", d))
    assert shown == ("Z₂ − ((1/4) Z₂[0] + (1/4) Z₂[1] + (1/2) Z₂[2] + (1/4) |Z₂[0] − Z₂[1]| + "
                     "(1/2) |(1/2) Z₂[0] + (1/2) Z₂[1] − Z₂[2] + (1/2) |Z₂[0] − Z₂[1]||)"), shown

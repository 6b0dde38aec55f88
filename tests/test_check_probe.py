"""`derivax check` on what a probe of it found.

1. A threshold that random points miss (a mask moved off relu's kink, a min or a where on the output): judged by
   the pieces between its breakpoints, never said exactly equal by sampling; the truth is taken from NumPy, the
   formula against central differences of the loss at a point inside the narrow band.
2. LaTeX's one-character superscript (A_1^2) is a power; 3. ⊘ and \\oslash divide entrywise; 4. the sum over the
   examples as derivax prints it in LaTeX (\\sum_{i=1}^{m} δ^{[2](i)}) and in text (Σᵢ δ₂⁽ⁱ⁾) reads back, another
   \\sum is refused by name; 6. a target in derivax's own LaTeX (\\frac{\\partial J}{\\partial W^{[1]}}); and a
   constant typed 10^-10 off on a network too large to expand symbol by symbol.
"""
import random

import numpy as np
import pytest
import sympy as sp
from conftest import formula_checker

from compile.cli.main import main
from derive import Dense, FormulaError, Network
from derive.network.scalar_functions import Abs, relu, step
from derive.scalar import piecewise

check = formula_checker("rows")

RELU = Network(2, [Dense(3, "relu"), Dense(2, "softmax")])                      # 2-3:relu-2:softmax
XOR = Network(2, [Dense(2, "tanh"), Dense(2, "softmax")])                      # derivax's xor
DEEP = Network(3, [Dense(3, "tanh"), Dense(3, "sigmoid"), Dense(3, "softmax")])  # 3-3:tanh-3:sigmoid-3:softmax
BCE = Network(2, [Dense(3, "relu"), Dense(1, "sigmoid")], loss="bce")          # 2-3:relu-1:sigmoid --loss bce
WIDE = Network(4, [Dense(4, "tanh")] * 5 + [Dense(4, "softmax")])              # 120 weights: past the exact check


# ---- 1. thresholds: NumPy says where the formulas differ, derivax must find it ----

def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _forward(p, X, Y, act):
    Z1 = X @ p["W1"] + p["b1"]
    A1 = act(Z1)
    A2 = _softmax(A1 @ p["W2"] + p["b2"])
    return Z1, A1, A2, -np.sum(Y * np.log(A2)) / len(X)


def _central(p, X, Y, act, name, h=1e-6):
    g = np.zeros_like(p[name])
    for k in np.ndindex(*g.shape):
        hi, lo = {**p, name: p[name].copy()}, {**p, name: p[name].copy()}
        hi[name][k] += h
        lo[name][k] -= h
        g[k] = (_forward(hi, X, Y, act)[3] - _forward(lo, X, Y, act)[3]) / (2 * h)
    return g


def _point(rng, sizes):
    return {"W1": rng.uniform(-1, 1, sizes[:2]), "b1": rng.uniform(-1, 1, sizes[1]),
            "W2": rng.uniform(-1, 1, sizes[1:]), "b2": rng.uniform(-1, 1, sizes[2])}


def test_a_mask_moved_off_relus_kink_differs_in_the_narrow_band_numpy_reaches():
    rng = np.random.default_rng(0)
    X, Y = rng.uniform(-1, 1, (2, 2)), np.eye(2)
    p = _point(rng, (2, 3, 2))
    p["b1"][0] += 0.005 - (X @ p["W1"] + p["b1"])[0, 0]   # Z1[1, 1] = 0.005: between the kinks 0 and 0.01
    relu_ = lambda z: np.maximum(z, 0)  # noqa: E731
    Z1, A1, A2, _ = _forward(p, X, Y, relu_)
    truth = _central(p, X, Y, relu_, "W1")
    theirs = X.T @ ((A2 - Y) @ p["W2"].T * (Z1 > 0)) / 2
    mine = X.T @ ((A2 - Y) @ p["W2"].T * (Z1 > 0.01)) / 2
    assert np.allclose(theirs, truth, atol=1e-7) and not np.allclose(mine, truth, atol=1e-4)
    r = check(RELU, "W1", "X.T @ ((A2 - Y) @ W2.T * (Z1 > 0.01)) / m")
    assert not r.ok, r.render()
    assert r.how[0].startswith("exactly: not equal: entry (") and "< Z₁[" in r.how[0] and "1/100" in r.how[0], r.how
    # the float64 points agree: no "1 times the derived formula" story, the exact comparison's region instead
    assert r.diagnosis == ["yours agrees with the derived formula at every float64 point it was evaluated at, and "
                           "differs where the exact comparison above shows"], r.diagnosis


@pytest.mark.parametrize("formula, bias, labels", [
    ("A1.T @ np.minimum(A2 - Y, 0.9) / m", [6.0, -6.0], [[0, 1], [0, 1]]),        # A2 − Y > 0.9: past the inputs' range
    ("A1.T @ np.where(np.abs(A2 - Y) > 0.02, A2 - Y, 0) / m", [6.0, -6.0], [[1, 0], [1, 0]]),   # |A2 − Y| < 0.02
])
def test_a_min_or_a_where_on_the_output_differs_where_the_output_is_extreme(formula, bias, labels):
    rng = np.random.default_rng(1)
    X, Y = rng.uniform(-1, 1, (2, 2)), np.array(labels, float)
    p = _point(rng, (2, 2, 2))
    p["b2"] = np.array(bias)
    _, A1, A2, _ = _forward(p, X, Y, np.tanh)
    truth = _central(p, X, Y, np.tanh, "W2")
    D = A2 - Y
    mine = A1.T @ (np.minimum(D, 0.9) if "minimum" in formula else np.where(np.abs(D) > 0.02, D, 0)) / 2
    assert np.allclose(A1.T @ D / 2, truth, atol=1e-8) and not np.allclose(mine, truth, atol=1e-7)
    r = check(XOR, "W2", formula)
    assert not r.ok and r.how[0].startswith("exactly: not equal: entry ("), r.render()
    assert "A₂[" in r.how[0], r.how


def test_the_exit_status_of_a_threshold_moved_off_the_kink_is_1():
    assert main(["check", "2-3:relu-2:softmax", "--param", "W1", "--formula",
                 "X.T @ ((A2 - Y) @ W2.T * (Z1 > 0.01)) / m"]) == 1


@pytest.mark.parametrize("mask", ["(A1 > 0)", "(Z1 >= 0)", "np.heaviside(Z1, 0)", "np.heaviside(Z1, 1)",
                                  "np.where(Z1 > 0, 1, 0)", "(np.maximum(Z1, 0) > 0)"])
def test_relus_own_kink_spelled_any_way_is_exactly_equal(mask):
    """A1 > 0 iff Z1 > 0, and a mask at the kink itself (Z1 = 0) differs on no open set."""
    r = check(RELU, "W1", f"X.T @ ((A2 - Y) @ W2.T * {mask}) / m")
    assert r.ok and r.how[0] == "exactly: equal as functions of every input, weight and target at m = 2", r.render()


def test_a_threshold_no_point_can_reach_is_never_said_exactly_equal():
    """A2 − Y < 1 always (a softmax output is below 1), so the min is the identity: equal, but the piece A2 − Y > 1
    holds no point, and the verdict rests on the numbers."""
    r = check(XOR, "W2", "A1.T @ np.minimum(A2 - Y, 1) / m")
    assert r.ok and r.how[0].startswith("exactly: skipped (entry ("), r.render()
    assert "no point could be found where" in r.how[0]


x, y = sp.symbols("x y")


@pytest.mark.parametrize("a, b, same", [
    (step(x - sp.Rational(1, 100)), step(x), False),                # a band 1/100 wide
    (step(x + 1), step(x), False),
    (sp.Min(x, sp.Rational(9, 10)), x, False),                      # x > 9/10: the edge of random points' range
    (step(x + y - 5) * x, step(x + y - 5) * y, False),                # the same atom, a far region where it is 1
    (step(relu(x)), step(x), True),                                  # relu's own convention
    (Abs(x), x * (2 * step(x) - 1), True),
    (sp.Max(x, y), (x + y + Abs(x - y)) / 2, True),
    (relu(x) - relu(-x), x, True),
    (step(x ** 2 + 1), sp.Integer(1), None),                         # the piece x² < −1 holds no point
])
def test_pieces_between_breakpoints_decide_what_sampling_cannot(a, b, same):
    assert piecewise.compare(a, b, random.Random(0)).same is same


# ---- 2. LaTeX's A_1^2 ----

@pytest.mark.parametrize("typed", [
    r"\frac{1}{m} X^\top \left( (\delta_2 W_2^\top) \odot (1 - A_1^2) \right)",
    r"\frac{1}{m} X^T \left( (\delta_2 W_2^T) \odot (1 - A_1^{2}) \right)",
    "X.T @ (delta2 @ W2.T * (1 - A_1^2)) / m",
])
def test_a_one_character_superscript_in_latex_is_a_power(typed):
    assert check(XOR, "W1", typed).ok
    wrong = check(XOR, "W1", typed.replace("A_1^2", "A_1^3").replace("A_1^{2}", "A_1^{3}"))
    assert not wrong.ok and "A₁³" in wrong.yours, wrong.render()


# ---- 3. ⊘ ----

@pytest.mark.parametrize("typed", ["A₂ ⊙ (1/m − (1/m) Y ⊘ A₂)", r"A_2 \odot (\frac{1}{m} - \frac{1}{m} Y \oslash A_2)"])
def test_the_entrywise_division_sign_divides(typed):
    assert check(XOR, "dZ2", typed).ok
    wrong = check(XOR, "dZ2", typed.replace("A₂)", "A₂ ⊘ A₂)").replace("A_2)", r"A_2 \oslash A_2)"))
    assert not wrong.ok


# ---- 4. the sum over the examples ----

@pytest.mark.parametrize("net, convention, target, typed", [
    (DEEP, "rows", "b2", r"\frac{1}{m} \sum_{i=1}^{m} \delta^{[2](i)}"),
    (DEEP, "rows", "b1", r"\frac{1}{m} \sum_{i=1}^{m} \delta^{[1](i)}"),
    (DEEP, "rows", "b2", "(1/m) Σᵢ δ₂⁽ⁱ⁾"),
    (DEEP, "rows", "b3", r"\frac{1}{m}\sum_{i} \delta^{[3](i)}"),
    (BCE, "columns", "b1", r"\frac{1}{m} \sum_{i=1}^{m} \delta^{[1](i)}"),
])
def test_the_sum_over_the_examples_as_derivax_prints_it_reads_back(net, convention, target, typed):
    r = check(net, target, typed, convention)
    assert r.ok, r.render()
    wrong = check(net, target, typed.replace(r"\frac{1}{m}", "").replace("(1/m)", ""), convention)
    assert not wrong.ok


@pytest.mark.parametrize("typed, col, words", [
    (r"\frac{1}{m} \sum_{j} \delta^{[2](j)}", 12, r"the LaTeX command \sum is not part of a formula's grammar but as "
                                                 r"the sum over the examples, \sum_{i=1}^{m} x^{(i)} (derivax's sum(x, 0))"),
    (r"\frac{1}{m} \delta^{[2](i)}", 18, "(i) marks one example's row of a matrix: write it inside the sum over the "
                                         "examples"),
])
def test_a_sum_it_cannot_read_is_named_at_its_position(typed, col, words):
    with pytest.raises(FormulaError) as e:
        check(DEEP, "b2", typed)
    assert words in str(e.value) and e.value.col == col, (str(e.value), e.value.col)


# ---- 6. a target as derivax prints it in LaTeX ----

@pytest.mark.parametrize("target, label, formula", [
    (r"\frac{\partial J}{\partial W^{[1]}}", "∂J/∂W₁", r"\frac{1}{m} \delta^{[1]} X^{T}"),
    (r"\frac{\partial J}{\partial b^{[2]}}", "∂J/∂b₂", r"\frac{1}{m} \sum_{i=1}^{m} \delta^{[2](i)}"),
    (r"$\frac{\partial J}{\partial W_2}$", "∂J/∂W₂", r"\frac{1}{m} \delta^{[2]} A^{[1]T}"),
])
def test_a_latex_derivative_names_its_target(target, label, formula):
    r = check(BCE, target, formula, "columns")
    assert r.ok and r.label == label, r.render()


# ---- a constant typed off by 10^-10 where the network is too large to expand ----

def test_a_constant_a_ten_billionth_off_is_found_past_the_exact_checks_size():
    assert check(WIDE, "W6", "A5.T @ (A6 - Y) / m").ok
    r = check(WIDE, "W6", "A5.T @ (A6 - Y) / m * 1.0000000001")
    assert not r.ok and "evaluated to 50 digits" in r.how[0], r.render()
    assert "a relative 1e-10" in r.how[0], r.how

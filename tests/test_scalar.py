"""Matrix-form gradients against independent references: sympy.diff of the expanded scalar loss
(exact) and central finite differences of the expanded loss (float64)."""
import random

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive import Dense, Network
from derive.graph.build import ew, placeholder
from derive.scalar.expand import Expander, ScalarTooLarge, check, one_hot_targets, scalar_view


def finite_difference_check(d, seed=0, h=1e-6):
    """Central differences of the expanded loss at a random point versus the expanded matrix form."""
    model = d.model
    rng = random.Random(seed)
    targets = one_hot_targets(model, 2)
    ex = Expander(model, 2, False, targets)
    J = ex(model.J)[0, 0]
    point = {s: sp.Float(rng.uniform(-1, 1)) for s in J.free_symbols}
    if targets is None:  # targets in (0, 1) keep bce and custom losses finite
        point.update({s: sp.Float(rng.uniform(0.1, 0.9)) for s in J.free_symbols if s.name.startswith("y")})
    point[sp.Symbol("lambda", positive=True)] = sp.Float(0.3)
    worst = 0.0
    for p in model.params:
        W, G = ex.symbols(p), ex(d.grads[p.name])
        for i in range(W.rows):
            for j in range(W.cols):
                w = W[i, j]
                hi = float(J.xreplace({**point, w: point[w] + h}))
                lo = float(J.xreplace({**point, w: point[w] - h}))
                fd = (hi - lo) / (2 * h)
                g = float(G[i, j].xreplace(point))
                worst = max(worst, abs(fd - g) / max(1.0, abs(g)))
    return worst


CASES = {
    "xor": Network(2, [Dense(2, "tanh"), Dense(2, "softmax")], loss="ce"),
    "atan": Network(2, [Dense(2, "atan(z)"), Dense(1, "sigmoid")], loss="bce"),
    "swish": Network(2, [Dense(2, "z*sigmoid(z)"), Dense(2, "softmax")], loss="ce"),
    "logcosh": Network(2, [Dense(2, "tanh"), Dense(1)], loss="log(cosh(yhat - y))"),
    "skip": Network(2, [Dense(2, "tanh"), Dense(2, "sigmoid", skip_from=(0, 1)), Dense(1, "sigmoid")],
                    loss="bce"),
    "l2-dropout": Network(2, [Dense(2, "relu", dropout=0.5), Dense(1)], loss="mse", l2=0.1),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("convention", ["rows", "columns"])
def test_matrix_form_equals_scalar_diff_and_finite_differences(name, convention):
    d = CASES[name].derive(convention)
    results = check(d)
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert finite_difference_check(d) < 1e-6


def test_check_catches_a_wrong_gradient():
    """A gradient with the tanh derivative dropped must be reported, with the weight named."""
    d = CASES["xor"].derive()
    grad = d.grads["W1"]
    x_t, delta1 = grad.args[0].args
    wrong_delta = delta1.args[0]  # delta2 W2^T without the (1 - A1^2) factor
    d.grads["W1"] = ew(grad.attrs["expr"], [x_t @ wrong_delta])
    results = {r.name: r for r in check(d)}
    assert not results["W1"].ok and results["W1"].counterexample.startswith("w1_")
    assert results["W2"].ok


def test_check_catches_a_missing_factor():
    d = CASES["logcosh"].derive("columns")
    d.grads["b2"] = ew(placeholder(0) * 2, [d.grads["b2"]])
    assert [r.ok for r in check(d)] == [True, True, True, False]


def test_scalar_view_per_neuron():
    text = scalar_view(CASES["xor"].derive()).render("text")
    assert "z¹₁ = b¹₁ + w¹₁₁ x₁ + w¹₂₁ x₂" in text
    assert "δ¹₁ = (1 − a¹₁²) (w²₁₁ δ²₁ + w²₁₂ δ²₂)" in text
    assert "∂J/∂w²₁₂ = a¹₁ δ²₂" in text
    assert "PASS: matrix-form gradients expanded at m = 2 equal the scalar derivatives" in text


def test_scalar_view_refuses_large_networks():
    with pytest.raises(ScalarTooLarge, match=r"9610 weights and layer widths 64-128-10"):
        scalar_view(Network(64, [Dense(128, "relu"), Dense(10, "softmax")]).derive())


ACTS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "atan(z)", "z*sigmoid(z)",
        "z**3/3 + z", "log(1 + z**2)"]


@st.composite
def networks(draw):
    depth = draw(st.integers(1, 3))
    widths = [draw(st.integers(1, 3)) for _ in range(depth + 1)]
    loss = draw(st.sampled_from(["mse", "bce", "ce", "log(cosh(yhat - y))"]))
    layers = [Dense(w, draw(st.sampled_from(ACTS))) for w in widths[1:-1]]
    if loss == "ce":
        out = Dense(max(widths[-1], 2), "softmax")
    elif loss == "bce":
        out = Dense(widths[-1], "sigmoid")
    else:
        out = Dense(widths[-1], draw(st.sampled_from(ACTS)))
    return Network(widths[0], layers + [out], loss=loss), draw(st.sampled_from(["rows", "columns"]))


# 10 draws a run (each expands a network entry by entry, seconds apiece): across runs and seeds the
# draws differ, and the suite stays well inside its time on two cores.
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_random_architectures_matrix_equals_scalar(case):
    net, convention = case
    results = check(net.derive(convention))
    assert all(r.ok for r in results), (net, convention, results)

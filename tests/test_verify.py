"""`derivax verify`: derived gradients agree with jax.grad, finite differences and sympy.diff, and the
check reports exactly the parameters of a derivation that was made wrong on purpose."""
import json

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compile._verify import verify
from compile.cli import main
from derive import Dense, Network
from derive._examples import EXAMPLES
from derive._graph import ew, placeholder

NETS = {
    "swish-atan-skip-logcosh": Network(2, [Dense(2, "z*sigmoid(z)"), Dense(2, "atan(z)", skip_from=(1,)), Dense(1)],
                                       loss="log(cosh(yhat - y))"),
    "softplus-leaky-bce-l2": Network(2, [Dense(2, "softplus"), Dense(2, "leaky_relu"), Dense(1, "sigmoid")],
                                     loss="bce", l2=0.1),
    "dropout-relu-ce": Network(3, [Dense(3, "relu", dropout=0.3), Dense(2, "softmax")], loss="ce"),
}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_built_in_example_verifies(name):
    report = verify(EXAMPLES[name].net, name=name)
    assert report.ok, report.to_json()
    assert set(report.params) == {p for l in range(1, len(EXAMPLES[name].net.layers) + 1) for p in (f"W{l}", f"b{l}")}


@pytest.mark.parametrize("name", list(NETS))
@pytest.mark.parametrize("convention", ["rows", "columns"])
def test_custom_networks_verify_against_all_three_references(name, convention):
    report = verify(NETS[name], convention)
    assert report.ok, report.to_json()
    assert report.scalar == "used"  # small enough for sympy.diff: all three references ran
    assert all(set(p.comparisons) == {"jax_grad", "finite_diff", "sympy"} for p in report.params.values())


def test_a_dropped_activation_derivative_is_caught_by_every_reference():
    net = EXAMPLES["xor"].net
    d = net.derive()
    grad = d.grads["W1"]
    x_t, delta1 = grad.args[0].args
    d.grads["W1"] = ew(grad.attrs["expr"], [x_t @ delta1.args[0]])  # (delta2 W2^T) without (1 - A1^2)
    report = verify(net, derivation=d)
    assert not report.ok
    assert {n for n, p in report.params.items() if not p.ok} == {"W1"}
    assert not any(c.ok for c in report.params["W1"].comparisons.values())


def test_a_wrong_factor_of_two_is_caught():
    net = NETS["softplus-leaky-bce-l2"]
    d = net.derive("columns")
    d.grads["b2"] = ew(2 * placeholder(0), [d.grads["b2"]])
    report = verify(net, derivation=d)
    assert {n for n, p in report.params.items() if not p.ok} == {"b2"}
    assert report.params["b2"].comparisons["finite_diff"].max_rel_err > 0.1


def test_cli_json_and_exit_code(capsys):
    assert main(["verify", "2-3:(atan(z))-2:softmax", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["ok"] is True and set(doc["params"]) == {"W1", "b1", "W2", "b2"}
    assert doc["params"]["W1"]["jax_grad"]["ok"] and doc["params"]["W1"]["sympy"]["max_rel_err"] < 1e-9


# ---- random architectures: every activation of the table, random SymPy ones, every loss ----

z = sp.Symbol("z")
TABLE = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus"]
PIECES = [sp.tanh(z), sp.atan(z), sp.sin(z), z / (1 + z**2), sp.exp(-z**2), sp.log(1 + z**2), z**3 / 3,
          sp.sqrt(1 + z**2)]
CUSTOM_LOSSES = ["log(cosh(yhat - y))", "sqrt(1 + (yhat - y)**2) - 1", "(yhat - y)**4 / 4 + (yhat - y)**2"]


@st.composite
def activations(draw):
    if draw(st.booleans()):
        return draw(st.sampled_from(TABLE))
    a, b = draw(st.sampled_from(PIECES)), draw(st.sampled_from(PIECES + [z]))
    c = sp.Rational(draw(st.integers(-3, 3)), 2)
    return sp.Lambda(z, a + c * b)


@st.composite
def networks(draw):
    depth = draw(st.integers(1, 4))
    widths = [draw(st.integers(1, 6)) for _ in range(depth + 1)]
    loss = draw(st.sampled_from(["mse", "bce", "ce"] + CUSTOM_LOSSES))
    layers = [Dense(w, draw(activations())) for w in widths[1:-1]]
    if loss == "ce":
        out = Dense(max(widths[-1], 2), "softmax")
    elif loss == "bce":
        out = Dense(widths[-1], "sigmoid")
    else:
        out = Dense(widths[-1], draw(activations()))
    return Network(widths[0], layers + [out], loss=loss), draw(st.sampled_from(["rows", "columns"]))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.integers(0, 2**16))
def test_random_architectures_verify(case, seed):
    """The derivation, evaluated by NumPy, against finite differences and (up to 12 weights) sympy.diff."""
    net, convention = case
    report = verify(net, convention, seed=seed, scalar_limit=12, scalar_seconds=2, engine="numpy")
    assert report.ok, (net, convention, report.to_json())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.integers(0, 2**16))
def test_random_architectures_verify_lowered(case, seed):
    """The JAX lowering of the same: jax.grad and finite differences of the lowered loss."""
    net, convention = case
    report = verify(net, convention, seed=seed, scalar_limit=0)
    assert report.ok, (net, convention, report.to_json())


def test_a_slow_sympy_expansion_is_cut_off_and_reported():
    net = Network(2, [Dense(3, "tanh"), Dense(2, "tanh")], loss="log(cosh(yhat - y))")
    report = verify(net, scalar_seconds=0.05, engine="numpy")
    assert report.ok and report.scalar.startswith("SymPy took more than 0.05 s")
    assert all("sympy" not in p.comparisons for p in report.params.values())


def test_cli_bad_batch_size(capsys):
    assert main(["verify", "xor", "--batch-size", "0"]) == 2
    assert "--batch-size must be at least 1, not 0" in capsys.readouterr().err

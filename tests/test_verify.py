"""`derivax verify`: derived gradients agree with jax.grad, finite differences and sympy.diff, and the
check reports exactly the parameters of a derivation that was made wrong on purpose."""
import json

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compile.checks.verify import verify
from compile.cli.main import main
from derive import GRU, Bidirectional, Conv1D, Conv2D, Dense, Flatten, MaxPool1D, MaxPool2D, Network, SimpleRNN
from derive.network.examples import EXAMPLES
from derive.graph.build import ew, placeholder

NETS = {
    "swish-atan-skip-logcosh": Network(2, [Dense(2, "z*sigmoid(z)"), Dense(2, "atan(z)", skip_from=(1,)), Dense(1)],
                                       loss="log(cosh(yhat - y))"),
    "softplus-leaky-bce-l2": Network(2, [Dense(2, "softplus"), Dense(2, "leaky_relu"), Dense(1, "sigmoid")],
                                     loss="bce", l2=0.1),
    "dropout-relu-ce": Network(3, [Dense(3, "relu", dropout=0.3), Dense(2, "softmax")], loss="ce"),
}


# gpt's check (15 s here) is left to tests/test_attention.py, which compares a transformer block with
# jax.grad of a hand-written model in a third of the time
@pytest.mark.parametrize("name", [n for n in EXAMPLES if n != "gpt"])
def test_every_built_in_example_verifies(name):
    report = verify(EXAMPLES[name].net, name=name)
    assert report.ok, report.to_json()
    layers = EXAMPLES[name].net.layers
    if any(isinstance(layer, (Bidirectional, GRU, SimpleRNN)) for layer in layers):  # named as char-rnn names them
        assert set(report.params) == {r.name for r in EXAMPLES[name].net.build().records}
        assert {"Wxh1", "Whh1", "bh1"} <= set(report.params) or {"Wxr1", "Whn2", "bhn2"} <= set(report.params)
        return
    records = {r.name for r in EXAMPLES[name].net.build().records}
    if not all(isinstance(layer, (Dense, Conv1D, Conv2D, Flatten, MaxPool1D, MaxPool2D)) for layer in layers):
        assert set(report.params) == records   # embeddings, norms, attention: every parameter, by its name
        return
    trainable = [l for l, layer in enumerate(layers, 1) if isinstance(layer, (Dense, Conv1D, Conv2D))]
    assert set(report.params) == {p for l in trainable for p in (f"W{l}", f"b{l}")}


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
    expr = a + c * b
    # tanh(z) − tanh(z) is the constant 0, which no layer takes as its activation: the first piece alone then
    return sp.Lambda(z, expr if z in expr.free_symbols else a)


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


# 20 draws a run (each run draws anew): a draw whose sympy tier runs to its 2 s limit costs that much,
# and at 150 draws an unlucky run took over 5 minutes of the suite's 10 on two cores.
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.integers(0, 2**16))
def test_random_architectures_verify(case, seed):
    """The derivation, evaluated by NumPy, against finite differences and (up to 12 weights) sympy.diff.

    Stacked cubics can overflow float64 at the random point: verify then says so and compares nothing,
    which is the right answer there; every other draw must agree with every reference."""
    net, convention = case
    report = verify(net, convention, seed=seed, scalar_limit=12, scalar_seconds=2, engine="numpy")
    assert report.ok or report.problem.startswith("the values overflow float64"), \
        (net, convention, report.to_json())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.integers(0, 2**16))
def test_random_architectures_verify_lowered(case, seed):
    """The JAX lowering of the same: jax.grad and finite differences of the lowered loss (op by op: a compile per
    draw would double the test's time; the compiled path is verify's default everywhere else)."""
    net, convention = case
    report = verify(net, convention, seed=seed, scalar_limit=0, jit=False)
    assert report.ok, (net, convention, report.to_json())


def test_a_slow_sympy_expansion_is_cut_off_and_reported():
    net = Network(2, [Dense(3, "tanh"), Dense(2, "tanh")], loss="log(cosh(yhat - y))")
    report = verify(net, scalar_seconds=0.05, engine="numpy")
    assert report.ok and report.scalar.startswith("SymPy took more than 0.05 s")
    assert all("sympy" not in p.comparisons for p in report.params.values())


@pytest.mark.parametrize("flag, value, says", [
    ("--batch-size", "0", "argument --batch-size: must be from 1 to 10000, not 0"),
    ("--batch-size", "1000000", "argument --batch-size: must be from 1 to 10000, not 1000000"),
    ("--seed", "-1", "argument --seed: a seed must be from 0 to 4294967295, not -1"),
    ("--seed", str(2**64 + 1), "a seed must be from 0 to 4294967295, not 18446744073709551617"),
    ("--seed", "1e3", "a seed must be an integer, not '1e3'")])
def test_cli_bad_numbers_are_one_line(capsys, flag, value, says):
    assert main(["verify", "xor", flag, value]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1


def test_values_that_overflow_are_reported_as_such(capsys):
    """exp(1000) is beyond float64: verify says the values overflow (exit 2), not that the derivation is wrong."""
    assert main(["verify", "2-1:(z*exp(1000))", "--json"]) == 2
    out = capsys.readouterr().out
    assert "NOT CHECKED: the values overflow float64" in out and "DIFFERENT" not in out
    doc = json.loads(out.strip().splitlines()[-1])
    assert doc["ok"] is False and doc["problem"].startswith("the values overflow")


def test_a_network_too_large_for_memory_is_refused_with_both_sizes(capsys):
    assert main(["verify", "100000-100000"]) == 2
    err = capsys.readouterr().err
    assert "10,000,100,000 weights" in err and "available" in err and err.count("\n") == 1


def test_finite_differences_bound_their_own_truncation_error():
    """A sharply curving loss (a sine of stacked cubics): the right gradient passes, 1% off fails."""
    net = Network(3, [Dense(6, sp.Lambda(z, z**3 / 3 + sp.tanh(z))), Dense(1, sp.Lambda(z, z**3 / 6 + sp.tanh(z))),
                      Dense(1, sp.Lambda(z, z**3 / 6 + sp.tanh(z))), Dense(1, sp.Lambda(z, sp.sin(z)))], loss="mse")
    assert verify(net, seed=0, scalar_limit=0, engine="numpy").ok
    d = net.derive()
    d.grads["W3"] = ew(placeholder(0) * sp.Rational(101, 100), [d.grads["W3"]])
    report = verify(net, seed=0, scalar_limit=0, engine="numpy", derivation=d)
    assert [n for n, p in report.params.items() if not p.ok] == ["W3"]


@pytest.mark.parametrize("spec", ["2-3:tanh:nobias-2:softmax", "3-2:nobias-1", "5x1-conv2k2:tanh:nobias-flatten-1:sigmoid"])
def test_layers_without_a_bias_derive_print_and_verify(spec):
    from derive.network.examples import parse_spec
    net = parse_spec(spec)
    d = net.derive()
    assert "b1" not in d.grads and "W1" in d.grads
    first = d.text(width=200).split("Z₁ = ")[1].split("│")[0].strip()
    assert first in ("X W₁", "X ∗ W₁"), first   # no bias term printed
    report = verify(net, m=2)
    assert report.ok and report.scalar == "used", report.to_json()


def test_use_bias_must_be_a_bool():
    from derive import NetworkError
    with pytest.raises(NetworkError, match="use_bias must be True or False, not 'no'"):
        Network(2, [Dense(2, use_bias="no")])


# Finite differences of deep networks and recurrences rerun only what a moved parameter reaches
# (compile.checks.incremental): the moved losses must be the whole loss's, and a wrong gradient must still fail.
DEEP = Network(3, [Dense(4, "tanh")] * 9 + [Dense(2, "softmax")])


@pytest.mark.parametrize("net", [DEEP, NETS["swish-atan-skip-logcosh"], NETS["dropout-relu-ce"],
                                 Network((6, 1), [GRU(2), Dense(2, "softmax")], loss="ce"),
                                 Network((6, 6, 1), [Conv2D(2, 3, stride=2, activation="relu"), MaxPool2D(2), Flatten(),
                                                     Dense(2, "softmax")], loss="ce")],
                         ids=["deep", "skip", "dropout", "gru", "conv"])
def test_moved_losses_rerun_incrementally_equal_the_whole_loss(net):
    import jax
    import numpy as np
    from compile.checks.incremental import IncrementalLoss
    from compile.checks.points import random_point
    from compile.lowering.lower import lower
    d = net.derive()
    point = random_point(d.model, 0, 3)
    rng = np.random.default_rng(1)
    with jax.enable_x64(True):
        low = lower(d, "float64")
        extra = (point.masks,) if d.model.masks else ()
        whole = jax.jit(lambda p: low.loss(p, point.x, point.y, *extra))
        inc = IncrementalLoss(low.loss, point.params, (point.x, point.y, *extra))
        assert abs(float(inc.base) - float(whole(point.params))) <= 1e-12 * max(1.0, abs(float(inc.base)))
        for name, value in point.params.items():
            moves = rng.normal(size=(3,) + value.shape) * 1e-2
            got = inc.along(name, moves)
            want = [float(whole({**point.params, name: value + mv})) for mv in moves]
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=name)


def test_a_wrong_gradient_deep_in_a_deep_network_is_caught_by_finite_differences():
    from compile.checks.verify import FD_JIT_LAYERS
    assert len(DEEP.layers) >= FD_JIT_LAYERS            # the incremental path
    d = DEEP.derive()
    d.grads["W5"] = ew(placeholder(0) * 1.01, [d.grads["W5"]])
    report = verify(DEEP, derivation=d)
    assert {n for n, p in report.params.items() if not p.comparisons["finite_diff"].ok} == {"W5"}


def test_a_refusal_writes_a_deep_network_s_widths_with_their_counts():
    """The scalar tier's refusal of 100 layers of 512 names the widths as 512 (x101)-10, not 102 numbers."""
    from derive.scalar.expand import ScalarTooLarge, size_check
    model = Network(512, [Dense(512, "tanh")] * 100 + [Dense(10, "softmax")]).build()
    assert model.short_size_text == "512 (x101)-10"
    assert Network(4, [Dense(3)] * 3, loss="mse").build().short_size_text == "4-3-3-3"
    with pytest.raises(ScalarTooLarge, match=r"layer widths 512 \(x101\)-10 "):
        size_check(model)

"""Trainers: each optimizer's step against optax, epochs, dropout, initialisation, fit, and the CLI."""
import io
import json
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from compile.train.optim import OptimizerError, adam, make, momentum, sgd
from compile.train.train import compile_trainer, fit
from conftest import tree_allclose
from derive import Dense, Network

NET = Network(3, [Dense(5, "tanh"), Dense(4, "sigmoid"), Dense(3, "softmax")], loss="ce", name="t")
DROP = Network(3, [Dense(64, "relu", dropout=0.25), Dense(2, "softmax")], loss="ce", name="d")
OPTAX = {"sgd": lambda lr: optax.sgd(lr), "momentum": lambda lr: optax.sgd(lr, momentum=0.9),
         "adam": lambda lr: optax.adam(lr)}


def reference_loss(p, x, y):
    """NET written by hand: tanh, sigmoid, softmax, mean cross-entropy."""
    a = jnp.tanh(x @ p["W1"] + p["b1"])
    a = 1 / (1 + jnp.exp(-(a @ p["W2"] + p["b2"])))
    z = a @ p["W3"] + p["b3"]
    return -jnp.mean(jnp.sum(y * (z - jax.scipy.special.logsumexp(z, axis=1, keepdims=True)), axis=1))


def batch(seed, m=6):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, 3)), np.eye(3)[rng.integers(0, 3, m)]


@pytest.fixture(scope="module")
def trainers64(x64):
    return {name: compile_trainer(NET, name, 0.05, dtype="float64") for name in OPTAX}


@pytest.mark.parametrize("name", list(OPTAX))
def test_train_step_is_the_optax_update(trainers64, name):
    t = trainers64[name]
    params = t.init_params(jax.random.key(1))
    ref, ref_state = params, OPTAX[name](0.05).init(params)
    state = t.init_opt_state(params)
    for step in range(3):
        x, y = batch(step)
        params, state, J = t.train_step(params, state, x, y)
        J_ref, g = jax.value_and_grad(reference_loss)(ref, x, y)
        updates, ref_state = OPTAX[name](0.05).update(g, ref_state, ref)
        ref = optax.apply_updates(ref, updates)
        assert np.isclose(J, J_ref, rtol=1e-12)
    assert tree_allclose(params, ref)


def test_train_step_runs_alone_and_inside_a_jit_a_scan_and_a_grad(trainers64):
    """The trainer's step, compiled with CPU compiler options where it is called with arrays, also runs
    traced inside another function, where JAX takes no compiler options: the same numbers each way."""
    t = trainers64["sgd"]
    p = t.init_params(0)
    x, y = batch(7)
    alone = t.train_step(p, {}, x, y)[0]
    jitted = jax.jit(lambda p, x, y: t.train_step(p, {}, x, y)[0])(p, x, y)
    scanned = jax.lax.scan(lambda p, _: (t.train_step(p, {}, x, y)[0], None), p, None, length=1)[0]
    assert tree_allclose(alone, jitted) and tree_allclose(alone, scanned)
    # only the parameters traced (x and y are arrays): the sum of the new W1 moves with W1 as SGD says
    g = jax.grad(lambda p: jnp.sum(t.train_step(p, {}, x, y)[0]["W1"]))(p)
    curvature = jax.grad(lambda q: jnp.sum(jax.grad(reference_loss)(q, x, y)["W1"]))(p)
    assert np.allclose(g["W1"], 1 - 0.05 * np.asarray(curvature["W1"]))


def test_an_optax_transformation_trains_the_derived_gradients(trainers64):
    t = compile_trainer(NET, optax.adam(0.05), dtype="float64")
    ours = trainers64["adam"]
    p1 = p2 = t.init_params(3)
    s1, s2 = t.init_opt_state(p1), ours.init_opt_state(p2)
    for step in range(2):
        p1, s1, _ = t.train_step(p1, s1, *batch(step))
        p2, s2, _ = ours.train_step(p2, s2, *batch(step))
    assert tree_allclose(p1, p2)


def test_update_rules_print_as_equations():
    assert sgd(0.1).text().splitlines()[0] == "θ ← θ − α·g"
    assert momentum(0.1).text().splitlines()[:2] == ["v ← β·v + g", "θ ← θ − α·v"]
    text = adam(0.001).text()
    assert "μ̂ = μ/(1 − β₁^t)" in text and "θ ← θ − α·μ̂/(√ν̂ + ε)" in text
    assert r"\theta &\leftarrow \theta - \frac{\alpha \hat{\mu}}{\sqrt{\hat{\nu}} + \epsilon}" in adam(0.001).latex()


@pytest.mark.parametrize("bad, message", [(("frobnicate", 0.1), "unknown optimizer 'frobnicate'"),
                                          (("sgd", 0.0), "learning rate must be (a finite number )?> 0"),
                                          (("sgd", -1), "learning rate must be (a finite number )?> 0")])
def test_bad_optimizers_are_refused(bad, message):
    with pytest.raises(OptimizerError, match=message):
        make(*bad)


def test_float32_training_stays_float32_in_64_bit_mode():
    with jax.enable_x64(True):
        t = compile_trainer(DROP, "adam", 0.01)
        params = t.init_params(0)
        x, y = np.random.default_rng(0).normal(size=(10, 3)), np.eye(2)[[0, 1] * 5]
        params, state, J = t.train_step(params, t.init_opt_state(params), x, y, jax.random.key(0))
        params, state, J = t.epoch(params, state, x, y, jax.random.key(1), batch_size=4)
        leaves = jax.tree.leaves((params, state["mu"], state["nu"], J))
        assert all(v.dtype == jnp.float32 for v in leaves)


def test_an_epoch_of_one_batch_is_one_step(trainers64):
    t = trainers64["momentum"]
    params = t.init_params(0)
    x, y = batch(7, m=10)
    p1, s1, J1 = t.epoch(params, t.init_opt_state(params), x, y, jax.random.key(0), batch_size=10)
    p2, s2, J2 = t.train_step(params, t.init_opt_state(params), x, y)
    assert tree_allclose(p1, p2) and tree_allclose(s1, s2) and np.isclose(J1, J2, rtol=1e-12)


def test_an_epoch_takes_every_batch_including_the_last_short_one(trainers64):
    t = trainers64["adam"]
    params = t.init_params(0)
    x, y = batch(8, m=10)
    _, state, _ = t.epoch(params, t.init_opt_state(params), x, y, jax.random.key(0), batch_size=4)
    assert int(state["t"]) == math.ceil(10 / 4)  # Adam counts its steps


@pytest.fixture(scope="module")
def dropout_trainer():
    return compile_trainer(DROP, "sgd", 0.1)


def test_dropout_masks_are_inverted_and_come_from_the_key(dropout_trainer):
    masks = dropout_trainer.dropout_masks(jax.random.key(0), 2000)["D1"]
    assert masks.shape == (2000, 64)
    assert np.allclose(np.unique(np.asarray(masks)), [0, 1 / 0.75])
    assert abs(float(masks.mean()) - 1) < 0.01
    assert np.array_equal(masks, dropout_trainer.dropout_masks(jax.random.key(0), 2000)["D1"])
    assert not np.array_equal(masks, dropout_trainer.dropout_masks(jax.random.key(1), 2000)["D1"])


def test_a_train_step_with_a_key_applies_that_keys_masks(dropout_trainer):
    t = dropout_trainer
    params = t.init_params(0)
    x, y = np.random.default_rng(0).normal(size=(8, 3)), np.eye(2)[[0, 1] * 4]
    key = jax.random.key(5)
    new, _, _ = t.train_step(params, t.init_opt_state(params), x, y, key)
    g = t.grads(params, x, y, t.dropout_masks(key, 8))
    assert tree_allclose(new, {k: params[k] - 0.1 * g[k] for k in params}, rtol=1e-6, atol=1e-7)
    plain, _, _ = t.train_step(params, t.init_opt_state(params), x, y)
    assert not tree_allclose(new, plain, rtol=1e-6)


def test_initialisation_follows_the_activation(dropout_trainer, trainers64):
    he = dropout_trainer.init_params(jax.random.key(0))
    assert abs(float(jnp.std(he["W1"])) - (2 / 3) ** 0.5) < 0.15  # relu layer: He, std √(2/fan_in)
    glorot = trainers64["sgd"].init_params(jax.random.key(0))
    assert float(jnp.max(jnp.abs(glorot["W1"]))) <= (6 / (3 + 5)) ** 0.5  # tanh layer: Glorot
    assert all(float(jnp.max(jnp.abs(v))) == 0 for k, v in glorot.items() if k.startswith("b"))
    assert tree_allclose(glorot, trainers64["sgd"].init_params(jax.random.key(0)), rtol=0)
    assert he["W1"].dtype == jnp.float32 and glorot["W1"].dtype == jnp.float64


def test_fit_with_the_same_seed_gives_the_same_result(dropout_trainer):
    x = np.random.default_rng(0).normal(size=(50, 3))
    y = np.eye(2)[(x[:, 0] > 0).astype(int)]
    a, b = (fit(dropout_trainer, x, y, 3, 8, seed=4, progress=False) for _ in range(2))
    c = fit(dropout_trainer, x, y, 3, 8, seed=5, progress=False)
    assert a.train_loss == b.train_loss and tree_allclose(a.params, b.params, rtol=0, atol=0)
    assert a.train_loss != c.train_loss


def test_fit_stops_on_a_diverging_loss_and_keeps_the_last_good_parameters():
    from rich.console import Console
    net = Network(1, [Dense(1, "identity")], loss="mse")
    t = compile_trainer(net, "sgd", 50.0)
    x = np.arange(4.0).reshape(4, 1)
    out = io.StringIO()
    hist = fit(t, x, 3 * x, 200, 4, progress=True, console=Console(file=out, width=100))
    assert hist.stopped and "stopped, keeping the parameters from epoch" in hist.stopped
    assert hist.epochs < 200 and all(map(math.isfinite, hist.train_loss))
    assert all(np.all(np.isfinite(v)) for v in hist.params.values())
    assert "epoch" in out.getvalue() and "loss" in out.getvalue()


@pytest.fixture(scope="module")
def small_trainer():
    return compile_trainer(Network(4, [Dense(3, "tanh"), Dense(3, "softmax")], loss="ce"), "sgd", 0.1)


def small_data(m=10):
    rng = np.random.default_rng(0)
    return rng.random((m, 4)), rng.integers(0, 3, m)


@pytest.mark.parametrize("change, message", [
    ({"x": None}, r"^training data: x is None, expected an array$"),
    ({"x": "rows"}, r"^training data: x: expected numbers, found dtype <U4"),
    ({"x": np.zeros((10, 5))}, r"^training data: the network takes 4 inputs per example, but x has 5 features"),
    ({"x": np.zeros(10)}, r"^training data: expected x of shape \(examples, features\), found shape \(10,\)"),
    ({"x": np.full((10, 4), np.nan)}, r"^training data: x: expected finite numbers, found 40 NaN"),
    ({"x": np.full((10, 4), 1e300)}, r"^training data: x: the value 1e\+300 at index \(0, 0\) is too large for float32"),
    ({"x": np.ones((10, 4), complex)}, r"^training data: x: expected real numbers, found complex"),
    ({"y": np.zeros(5, int)}, r"^training data: x and y differ in length: x has 10 examples, y has 5$"),
    ({"y": np.full(10, 3)}, r"^training data: y: labels must be in 0\.\.2 for a network with 3 outputs, found label 3"),
    ({"y": np.eye(2)[np.zeros(10, int)]}, r"^training data: y: the network has 3 outputs, but the one-hot labels have 2"),
    ({"x": np.zeros((0, 4)), "y": np.zeros(0, int)}, r"^training data: expected at least one example, found none"),
    ({"epochs": -1}, r"^epochs must be from 0 up, not -1$"),
    ({"epochs": 1.5}, r"^epochs must be an integer, not 1\.5 \(a float\)$"),
    ({"batch_size": 0}, r"^batch_size must be from 1 up, not 0$"),
    ({"batch_size": True}, r"^batch_size must be an integer, not True \(a bool\)$"),
    ({"seed": -1}, r"^seed must be from 0 to 4294967295, not -1$"),
    ({"x_test": np.zeros((2, 4))}, r"^test data: pass both x_test and y_test, or neither \(found only x_test\)$"),
    ({"x_test": np.zeros((2, 3)), "y_test": np.zeros(2, int)},
     r"^test data: the network takes 4 inputs per example, but x_test has 3 features"),
    ({"params": {"W1": np.zeros((4, 3))}}, r"^params: expected a dict with keys W1, b1, W2, b2, found W1$"),
    ({"params": {"W1": np.zeros((3, 4)), "b1": np.zeros(3), "W2": np.zeros((3, 3)), "b2": np.zeros(3)}},
     r"^params\['W1'\]: expected shape \(4, 3\), found \(3, 4\)$"),
])
def test_fit_refuses_bad_arguments_naming_them(small_trainer, change, message):
    from compile.train.data import DataError
    x, y = small_data()
    args = {"x": x, "y": y, "epochs": 1, "batch_size": 4, **change}
    with pytest.raises(DataError, match=message):
        fit(small_trainer, progress=False, **args)


def test_fit_takes_class_labels_as_their_one_hot_rows(small_trainer):
    # (10,) labels once broadcast against the (10, 3) output and trained a meaningless loss.
    x, labels = small_data()
    one_hot = np.eye(3)[labels]
    a = fit(small_trainer, x, labels, 2, 4, progress=False)
    b = fit(small_trainer, x, one_hot, 2, 4, progress=False)
    c = fit(small_trainer, x, labels.reshape(-1, 1), 2, 4, progress=False)
    assert a.train_loss == b.train_loss == c.train_loss
    assert b.initial_loss == pytest.approx(-np.mean(np.log(np.full(10, 1 / 3))), rel=0.3)


def test_compile_trainer_refuses_what_is_no_network():
    with pytest.raises(TypeError, match=r"^compile_trainer: net must be a derive.Network, not a str \('xor'\); a "
                                        r"built-in example, .* derive.network.examples.resolve\('xor'\)\[1\]$"):
        compile_trainer("xor")


# ---- the command line ----

def run_cli(capsys, *argv):
    from compile.cli.main import main
    code = main(["train", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_xor_reaches_full_accuracy(capsys):
    # XOR with two tanh units has local minima: about half of all initialisations stall at 50% with
    # these settings whatever the scheme (measured over 24 seeds); seed 2 is one that does not.
    code, out, _ = run_cli(capsys, "xor", "--json", "--seed", "2", "--show-trained")
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and result["train_accuracy"] == 1.0 and result["test_accuracy"] is None
    assert result["epochs"] == 1000 and result["final_loss"] < 0.1
    assert re.search(r"a¹₁ = -?tanh\(-?\d", out) and "a²₂ = exp(z²₂) / (exp(z²₁) + exp(z²₂))" in out


def test_train_linreg_fits_the_line(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "linreg", "--json", "--save", str(tmp_path / "p.npz"))
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["final_loss"] < 1e-4
    saved = np.load(tmp_path / "p.npz")
    W1, b1, W2, b2 = (saved[k][0, 0] for k in ("W1", "b1", "W2", "b2"))
    assert abs(W1 * W2 - 1) < 1e-2 and abs(b1 * W2 + b2) < 1e-2  # y = x, composed of the two layers


def test_train_plots_the_loss(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    code, _, _ = run_cli(capsys, "2-3:tanh-2:softmax", "--data", "xor", "--epochs", "5",
                         "--plot", str(tmp_path / "loss.png"))
    assert code == 0 and (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, message", [
    (["2-2:tanh-1:sigmoid"], "has no built-in data: pass --data PATH"),
    (["mlp", "--data", "/nonexistent/mnist.npz"], "mnist.npz"),
    (["3-2:tanh-2:softmax", "--data", "xor"], "3 inputs"),
])
def test_bad_input_is_one_clear_line_and_exit_2(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and out == ""

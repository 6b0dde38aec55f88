"""predict reads x_test alone as the checkpoint's training read its x; a run refused at the start prints no
layer table; noisy_sgd's noise follows the run's seed and survives a checkpoint; checkpoints compare
activations as functions, not as text."""
import json
import math

import numpy as np
import pytest
import sympy as sp

from compile.cli.main import main

CLS = "4-8:tanh-3:softmax"


def _softmax_net(params, x):
    """The outputs of 4-8:tanh-3:softmax, computed by NumPy from the checkpoint's arrays (rows layout)."""
    h = np.tanh(x @ params["W1"] + params["b1"])
    z = h @ params["W2"] + params["b2"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ---- predict: x_test alone, read as training read the network's x ----

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two checkpoints of CLS, one trained on features (x, y: small whole numbers stored as uint8, which train
    reads as they are), one on MNIST-style pixels (x_train, y_train: uint8, which train divides by 255)."""
    folder = tmp_path_factory.mktemp("trained")
    rng = np.random.default_rng(3)
    x = rng.integers(0, 6, size=(40, 4)).astype(np.uint8)
    y = rng.integers(0, 3, 40)
    pixels = rng.integers(0, 256, size=(40, 4)).astype(np.uint8)
    np.savez(folder / "features.npz", x=x, y=y)
    np.savez(folder / "pixels.npz", x_train=pixels, y_train=y, x_test=pixels[:8], y_test=y[:8])
    for data in ("features", "pixels"):
        assert main(["train", CLS, "--data", str(folder / f"{data}.npz"), "--epochs", "2",
                     "--save", str(folder / f"{data}-ck.npz")]) == 0
    return folder, x, pixels


def _predict(capsys, checkpoint, inputs, out):
    assert main(["predict", CLS, "--load", str(checkpoint), "-i", str(inputs), "-o", str(out)]) == 0
    return np.load(out), capsys.readouterr().err


def test_uint8_x_test_alone_is_read_as_the_features_the_network_was_trained_on(trained, tmp_path, capsys):
    folder, x, _ = trained
    np.savez(tmp_path / "alone.npz", x_test=x)                  # uint8, as the training file held it
    np.save(tmp_path / "as-trained.npy", x.astype(np.float32))  # the arrays training computed on
    alone, err = _predict(capsys, folder / "features-ck.npz", tmp_path / "alone.npz", tmp_path / "a.npy")
    assert "x_test read as features, as they are" in err, err
    reference, _ = _predict(capsys, folder / "features-ck.npz", tmp_path / "as-trained.npy", tmp_path / "r.npy")
    np.testing.assert_array_equal(alone, reference)
    params = dict(np.load(folder / "features-ck.npz"))
    np.testing.assert_allclose(alone, _softmax_net(params, x.astype(np.float64)), rtol=1e-4, atol=1e-6)


def test_uint8_x_test_alone_is_scaled_where_the_network_was_trained_on_pixels(trained, tmp_path, capsys):
    folder, _, pixels = trained
    np.savez(tmp_path / "alone.npz", x_test=pixels)
    alone, err = _predict(capsys, folder / "pixels-ck.npz", tmp_path / "alone.npz", tmp_path / "a.npy")
    assert "x_test read as pixels, scaled as training scales them" in err and "MNIST's pixels" in err, err
    params = dict(np.load(folder / "pixels-ck.npz"))
    np.testing.assert_allclose(alone, _softmax_net(params, pixels / 255.0), rtol=1e-4, atol=1e-6)


def test_a_checkpoint_records_how_its_training_data_was_read(trained):
    folder, _, _ = trained
    for data in ("features", "pixels"):
        facts = json.loads(str(np.load(folder / f"{data}-ck.npz")["__derivax__"]))
        assert facts["inputs"] == data


def test_a_checkpoint_that_records_no_reading_of_its_inputs_is_refused_by_name(trained, tmp_path, capsys):
    folder, x, _ = trained
    arrays = dict(np.load(folder / "features-ck.npz"))
    facts = json.loads(str(arrays["__derivax__"]))
    facts["inputs"] = "bytes"
    arrays["__derivax__"] = np.array(json.dumps(facts))
    np.savez(tmp_path / "odd.npz", **arrays)
    np.savez(tmp_path / "alone.npz", x_test=x)
    assert main(["predict", CLS, "--load", str(tmp_path / "odd.npz"), "-i", str(tmp_path / "alone.npz")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "inputs is 'bytes', not pixels, features or tokens" in err, err


# ---- train: a loss not finite at the start is said before any layer table ----

def test_a_loss_not_finite_at_the_start_is_said_alone_without_the_layer_table(tmp_path, capsys):
    from derive.network.examples import resolve
    r = np.random.default_rng(0)
    np.savez(tmp_path / "f.npz", x=r.normal(size=(60, 4)).astype("f4"), y=r.normal(size=(60, 1)) * 1e20)
    code = main(["train", "4-8:tanh-1", "--data", str(tmp_path / "f.npz"), "--epochs", "2"])
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    table = resolve("4-8:tanh-1")[1].build().summary_text()
    assert out == "" and table not in out, out   # no header, no table: training never started
    assert err.count("\n") == 1 and "the loss is inf at the initial parameters, before any step" in err, err


def test_fit_calls_on_start_only_for_a_run_that_trains():
    from compile import compile_trainer, fit
    from compile.train.data import DataError
    from derive import Dense, Network
    trainer = compile_trainer(Network(2, [Dense(3, "relu"), Dense(1, "identity")], loss="mse"), "sgd", 0.01)
    calls = []
    with pytest.raises(DataError, match="before any step"):
        fit(trainer, np.full((8, 2), 1e37), np.zeros((8, 1)), 1, 8, progress=False, on_start=lambda: calls.append(1))
    assert calls == []
    seen = []
    fit(trainer, np.ones((8, 2)), np.zeros((8, 1)), 2, 8, progress=False,
        on_start=lambda: calls.append(1), on_epoch=lambda f: seen.append(len(calls)))
    assert calls == [1] and seen == [1, 1]   # once, before the first epoch
    with pytest.raises(DataError, match=r"^on_start must be a function of no arguments"):
        fit(trainer, np.ones((8, 2)), np.zeros((8, 1)), 1, 8, progress=False, on_start="header")


# ---- noisy_sgd: its noise follows the run's seed, and differs from step to step ----

ETA, GAMMA, LR = 0.04, 0.55, 0.1


@pytest.fixture(scope="module")
def noisy():
    pytest.importorskip("optax")
    from compile import compile_trainer
    from derive import Dense, Network
    trainer = compile_trainer(Network(4, [Dense(64, "tanh"), Dense(3, "softmax")]), "noisy_sgd", LR,
                              eta=ETA, gamma=GAMMA)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    return trainer, trainer.init_params(0), x, y


def _flat(params):
    return np.concatenate([np.asarray(params[k], np.float64).ravel() for k in sorted(params)])


def _one_step(noisy, seed):
    """The parameters after one noisy step on the whole batch, from the same start, with ``seed``."""
    from compile import fit
    trainer, p0, x, y = noisy
    return _flat(fit(trainer, x, y, 1, len(x), seed=seed, params=p0, shuffle=False, progress=False).params)


def test_noisy_sgd_draws_its_noise_from_the_run_seed(noisy):
    """From the same parameters and batch the gradient is the same, so two seeds' steps differ by the learning
    rate times the difference of their noises: for independent draws of N(0, σ²), σ² = η / (1 + t)^γ at t = 0
    (optax.noisy_sgd's stated variance), a difference of standard deviation √2 σ."""
    a, b = _one_step(noisy, 1), _one_step(noisy, 2)
    np.testing.assert_array_equal(a, _one_step(noisy, 1))   # the same seed, the same noise
    sigma = math.sqrt(ETA)
    d = (a - b) / (LR * sigma)
    assert np.count_nonzero(d) > 0.99 * d.size
    assert abs(d.std() - math.sqrt(2)) < 0.25 and abs(d.mean()) < 0.25
    assert np.any(_one_step(noisy, 0) != a)


def test_noisy_sgd_draws_new_noise_at_every_step(noisy):
    """Two steps from the same parameters, the second with the state the first left: the same gradient, so
    their difference is the learning rate times σ₁ n₁ − σ₂ n₂ (σ_t² = η / t^γ as the count reaches t)."""
    import jax
    trainer, p0, x, y = noisy
    state = trainer.init_opt_state(p0, 5)
    first, after, _ = trainer.train_step(p0, state, x, np.eye(3)[y])
    second, _, _ = trainer.train_step(p0, after, x, np.eye(3)[y])
    d = (_flat(first) - _flat(second)) / LR
    spread = math.sqrt(ETA + ETA / 2 ** GAMMA)
    assert abs(d.std() / spread - 1) < 0.2
    keys = [jax.random.key_data(k) for k in jax.tree_util.tree_leaves(state) + jax.tree_util.tree_leaves(after)
            if jax.dtypes.issubdtype(k.dtype, jax.dtypes.prng_key)]
    assert len(keys) == 2 and not np.array_equal(keys[0], keys[1])


def test_a_noisy_sgd_checkpoint_resumes_the_same_noise(noisy, tmp_path):
    """Two epochs in one run equal one epoch, saved, read back and trained one more: the noise key is in the
    file (as its bits) and the resumed run draws what the uninterrupted one drew."""
    from compile import fit
    from compile.train.checkpoint import load_checkpoint, save_checkpoint
    trainer, p0, x, y = noisy
    whole = fit(trainer, x, y, 2, len(x), seed=4, params=p0, shuffle=False, progress=False)
    half = fit(trainer, x, y, 1, len(x), seed=4, params=p0, shuffle=False, progress=False)
    save_checkpoint(tmp_path / "n.npz", trainer, half.params, half.opt_state, 1)
    params, state, facts = load_checkpoint(tmp_path / "n.npz", trainer)
    assert facts["state"] == "optimizer state restored"
    rest = fit(trainer, x, y, 1, len(x), seed=4, params=params, opt_state=state, shuffle=False, progress=False)
    np.testing.assert_allclose(_flat(rest.params), _flat(whole.params), rtol=1e-6, atol=1e-7)


# ---- checkpoints: activations compared as functions ----

x_, z_ = sp.Symbol("x"), sp.Symbol("z")


@pytest.fixture(scope="module")
def nets():
    """Trainers of 4-8:ACT-3:softmax by a name for each activation, written in several ways."""
    from compile import compile_trainer
    from derive import Dense, Network
    from derive.network.functions import sigmoid
    acts = {"tanh": "tanh", "tanh in x": sp.Lambda(x_, sp.tanh(x_)), "tanh(2z)": sp.tanh(2 * z_),
            "swish": "swish", "swish in x": sp.Lambda(x_, sigmoid(x_) * x_), "identity": "identity"}
    return {k: compile_trainer(Network(4, [Dense(8, a), Dense(3, "softmax")]), "sgd", 0.1) for k, a in acts.items()}


def _outputs(trainer, params):
    x = np.random.default_rng(2).normal(size=(5, 4)).astype(np.float32)
    return np.asarray(trainer.namespace["forward"](params, x))


def _saved(tmp_path, trainer, layer1=None):
    """A checkpoint of ``trainer``; ``layer1``: its record of layer 1 as another writer spelled it."""
    from compile.train.checkpoint import save_checkpoint
    params = trainer.init_params(0)
    path = tmp_path / "c.npz"
    save_checkpoint(path, trainer, params, trainer.init_opt_state(params))
    if layer1 is not None:
        arrays = dict(np.load(path))
        facts = json.loads(str(arrays["__derivax__"]))
        facts["layers"][0] = layer1
        arrays["__derivax__"] = np.array(json.dumps(facts))
        np.savez(path, **arrays)
    return path, params


@pytest.mark.parametrize("saved, layer1, loaded", [
    ("tanh in x", None, "tanh"),                          # Lambda(x, tanh(x)) against the name
    ("tanh", "layer 1: dense, tanh(x)", "tanh"),          # a record that names the variable x
    ("tanh", "layer 1: dense, tanh", "tanh in x"),        # a record that names the registered activation
    ("swish", "layer 1: dense, sigmoid(x)*x", "swish in x"),   # another order of the same product
    ("identity", "layer 1: dense, _x", "identity"),       # identity as SymPy's Lambda(_x, _x) printed it
])
def test_the_same_activation_spelled_otherwise_is_accepted(nets, tmp_path, saved, layer1, loaded):
    from compile.train.checkpoint import load_checkpoint
    path, params = _saved(tmp_path, nets[saved], layer1)
    again, _, _ = load_checkpoint(path, nets[loaded])
    # the two networks compute the same function of the same parameters
    np.testing.assert_allclose(_outputs(nets[loaded], again), _outputs(nets[saved], params), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("saved, layer1, loaded, there, here", [
    ("tanh(2z)", None, "tanh", "layer 1: dense, tanh(2*z)", "layer 1: dense, tanh(z)"),
    ("tanh", "layer 1: dense, tanh(2*x)", "tanh in x", "layer 1: dense, tanh(2*x)", "layer 1: dense, tanh(z)"),
    ("swish", None, "tanh", "layer 1: dense, z*sigmoid(z)", "layer 1: dense, tanh(z)"),
    ("tanh", "layer 1: dense, tanh(x)*y", "tanh", "layer 1: dense, tanh(x)*y", "layer 1: dense, tanh(z)"),
    ("tanh", "layer 1: dense, __import__('os')", "tanh", "layer 1: dense, __import__('os')", "layer 1: dense, tanh(z)"),
])
def test_another_activation_is_refused_naming_both(nets, tmp_path, saved, layer1, loaded, there, here):
    from compile.train.checkpoint import load_checkpoint
    from compile.train.data import DataError
    path, params = _saved(tmp_path, nets[saved], layer1)
    if layer1 is None:   # what the refusal protects against: the same parameters compute something else
        assert not np.allclose(_outputs(nets[loaded], params), _outputs(nets[saved], params))
    with pytest.raises(DataError) as caught:
        load_checkpoint(path, nets[loaded])
    assert f"the checkpoint was trained as another network: {there} there, {here} here" in str(caught.value)

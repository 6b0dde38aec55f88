"""A checkpoint's optimizer state is restored only into the optimizer that wrote it; train_step checks each
array's shape and kind against the trainer's; predict reads every input as the checkpoint's training read its
x; activations written differently compare by value; an infinite test loss is reported as infinite."""
import json
import re

import numpy as np
import pytest

from compile.cli.main import main

CLS = "4-8:tanh-3:softmax"


def _softmax_net(params, x, act=np.tanh):
    """The outputs of 4-8:<act>-3:softmax computed by NumPy from the checkpoint's arrays (rows layout)."""
    h = act(x @ params["W1"] + params["b1"])
    z = h @ params["W2"] + params["b2"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe2")
    rng = np.random.default_rng(5)
    x = rng.normal(size=(48, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    np.savez(folder / "d.npz", x=x, y=y)
    return folder


def _json(out):
    return json.loads(out.strip().splitlines()[-1])


def _train(capsys, folder, optimizer, *extra):
    code = main(["train", CLS, "--data", str(folder / "d.npz"), "--epochs", "2", "--optimizer", optimizer,
                 "--lr", "0.01", "--seed", "1", "--json", *extra])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


# ---- 1. another optax optimizer's state is never restored as this one's ----

@pytest.mark.parametrize("saved, loaded", [("rmsprop", "adagrad"), ("adamw", "nadam"), ("yogi", "adamw"),
                                           ("yogi", "adabelief")])
def test_another_optax_optimizers_state_starts_afresh(data, tmp_path, capsys, saved, loaded):
    pytest.importorskip("optax")
    ck = tmp_path / "o.npz"
    _train(capsys, data, saved, "--save", str(ck))
    out = _train(capsys, data, loaded, "--load", str(ck))
    assert f"the file's optimizer state ({saved}) is not this trainer's optimizer's ({loaded})" in out, out
    assert "starts afresh" in out and "optimizer state restored" not in out
    # the same run from the parameters alone (a file NumPy wrote, holding no optimizer state) ends the same
    params = {k: v for k, v in np.load(ck).items() if "/" not in k and not k.startswith("__")}
    np.savez(tmp_path / "params.npz", **params)
    alone = _train(capsys, data, loaded, "--load", str(tmp_path / "params.npz"))
    assert _json(out)["final_loss"] == _json(alone)["final_loss"]


def test_the_same_optax_optimizer_still_resumes(data, tmp_path, capsys):
    pytest.importorskip("optax")
    ck = tmp_path / "o.npz"
    _train(capsys, data, "yogi", "--save", str(ck))
    assert json.loads(str(np.load(ck)["__derivax__"]))["optimizer"] == "yogi"
    assert "optimizer state restored" in _train(capsys, data, "yogi", "--load", str(ck))


def test_an_old_file_without_the_name_restores_only_an_unambiguous_structure(data, tmp_path, capsys):
    pytest.importorskip("optax")
    for name, restored in (("yogi", False), ("adamw", True)):
        ck = tmp_path / f"{name}.npz"
        _train(capsys, data, name, "--save", str(ck))
        arrays = dict(np.load(ck))
        meta = json.loads(str(arrays["__derivax__"]))
        meta["optimizer"] = "optax"   # as files were written before the name was recorded
        arrays["__derivax__"] = np.array(json.dumps(meta))
        np.savez(ck, **arrays)
        out = _train(capsys, data, name, "--load", str(ck))
        # yogi's state has the structure of nadam's, adamax's and radam's (optax's own trees say so)
        assert ("optimizer state restored" in out) == restored, out
        if not restored:
            assert "cannot tell whose it is" in out and "nadam" in out


def test_optax_states_of_yogi_and_nadam_have_one_structure():
    """What makes the name necessary, said by optax itself."""
    optax = pytest.importorskip("optax")
    import jax
    p = {"W": np.zeros((2, 3), np.float32)}
    assert jax.tree.structure(optax.yogi(0.1).init(p)) == jax.tree.structure(optax.nadam(0.1).init(p))


# ---- 2. train_step compares every array's shape and kind ----

@pytest.fixture(scope="module")
def adam():
    import jax
    from compile.train.train import compile_trainer
    from derive import Dense, Network
    tr = compile_trainer(Network(2, [Dense(3, "tanh"), Dense(2, "softmax")]), optimizer="adam", lr=0.01)
    p = tr.init_params(jax.random.key(0))
    rng = np.random.default_rng(0)
    x = rng.random((8, 2)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)]
    return tr, p, tr.init_opt_state(p), x, y


@pytest.mark.parametrize("key, shape", [("b1", (8, 3)), ("b1", (3,)), ("W1", (3, 3)), ("b1", (5,))])
def test_a_parameter_of_another_shape_is_named(adam, key, shape):
    import jax.numpy as jnp
    from compile.train.data import DataError
    tr, p, s, x, y = adam
    mine = {"W1": (2, 3), "b1": (1, 3)}[key]   # 2 inputs, 3 units, a bias row: the network's own shapes
    with pytest.raises(DataError, match=rf"params\['{key}'\]: has shape {re.escape(str(shape))}, where .* makes "
                                        rf"{re.escape(str(mine))}"):
        tr.train_step({**p, key: jnp.zeros(shape)}, s, x, y)


def test_optimizer_state_arrays_of_another_shape_or_kind_are_named(adam):
    import jax.numpy as jnp
    from compile.train.data import DataError
    tr, p, s, x, y = adam
    scalars = {"mu": {k: jnp.zeros(()) for k in p}, "nu": {k: jnp.zeros(()) for k in p}, "t": s["t"]}
    with pytest.raises(DataError, match=r"opt_state\['mu'\]\['W1'\]: has shape \(\), where .* makes \(2, 3\)"):
        tr.train_step(p, scalars, x, y)
    with pytest.raises(DataError, match=r"opt_state\['t'\]: holds floating-point numbers .* integers"):
        tr.train_step(p, {**s, "t": jnp.zeros((), jnp.float32)}, x, y)
    with pytest.raises(DataError, match=r"params\['W1'\]: holds integers"):
        tr.train_step({k: v.astype(jnp.int32) for k, v in p.items()}, s, x, y)
    with pytest.raises(DataError, match=r"params\['b1'\]"):   # inside a user's jit as well
        import jax
        jax.jit(lambda pp: tr.train_step(pp, s, x, y))({**p, "b1": jnp.zeros((8, 3))})


def test_a_vmapped_step_over_a_batch_of_parameters_is_each_ones_step(adam):
    import jax
    import jax.numpy as jnp
    tr, p, s, x, y = adam
    many = jax.tree.map(lambda a: jnp.stack([a, a + 0.1, a - 0.2]), p)
    out = jax.vmap(lambda pp: tr.train_step(pp, s, x, y))(many)
    for i in range(3):
        one = tr.train_step(jax.tree.map(lambda a: a[i], many), s, x, y)
        for k in p:
            np.testing.assert_allclose(out[0][k][i], one[0][k], rtol=1e-5, atol=1e-7)


# ---- 3. predict reads every input as the checkpoint records ----

def test_predict_reads_every_input_as_pixels_where_training_did(tmp_path, capsys):
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, size=(40, 4)).astype(np.uint8)
    y = rng.integers(0, 3, 40)
    np.savez(tmp_path / "px.npz", x_train=pixels, y_train=y, x_test=pixels[:8], y_test=y[:8])
    ck = tmp_path / "ck.npz"
    assert main(["train", CLS, "--data", str(tmp_path / "px.npz"), "--epochs", "2", "--save", str(ck)]) == 0
    capsys.readouterr()
    x = pixels[:8]
    (tmp_path / "folder").mkdir()
    np.save(tmp_path / "folder" / "x.npy", x)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "withx.npz", x=x)
    np.savez(tmp_path / "alone.npz", x_test=x)
    expected = _softmax_net(dict(np.load(ck)), x / 255.0)
    for given in ("x.npy", "withx.npz", "alone.npz", "folder"):
        assert main(["predict", CLS, "--load", str(ck), "-i", str(tmp_path / given), "-o",
                     str(tmp_path / "p.npy")]) == 0
        err = capsys.readouterr().err
        assert "read as pixels, scaled as training scales them" in err, (given, err)
        np.testing.assert_allclose(np.load(tmp_path / "p.npy"), expected, rtol=1e-4, atol=1e-6, err_msg=given)


# ---- 4. activations equal as functions, written differently ----

@pytest.mark.parametrize("saved, formula, fn", [
    ("tanh", "(2*sigmoid(2*z)-1)", np.tanh),
    ("swish", "(z/(1+exp(-z)))", lambda z: z / (1 + np.exp(-z)))])
def test_an_activation_written_another_way_loads(data, tmp_path, capsys, saved, formula, fn):
    from compile.train.checkpoint import load_checkpoint
    from compile.train.train import compile_trainer
    from derive.network.examples import resolve
    ck = tmp_path / "a.npz"
    assert main(["train", f"4-8:{saved}-3:softmax", "--data", str(data / "d.npz"), "--epochs", "2",
                 "--save", str(ck)]) == 0
    trainer = compile_trainer(resolve(f"4-8:{formula}-3:softmax")[1], "sgd", 0.1)
    params = load_checkpoint(ck, trainer)[0]
    x = np.load(data / "d.npz")["x"][:5]
    np.testing.assert_allclose(np.asarray(trainer.forward(params, x)), _softmax_net(dict(np.load(ck)), x, fn),
                               rtol=1e-4, atol=1e-6)


def test_an_activation_that_differs_by_a_little_is_still_refused(data, tmp_path, capsys):
    from compile.train.checkpoint import load_checkpoint
    from compile.train.data import DataError
    from compile.train.train import compile_trainer
    from derive.network.examples import resolve
    ck = tmp_path / "a.npz"
    assert main(["train", "4-8:tanh-3:softmax", "--data", str(data / "d.npz"), "--epochs", "1",
                 "--save", str(ck)]) == 0
    trainer = compile_trainer(resolve("4-8:(2*sigmoid(2*z)-1.0000001)-3:softmax")[1], "sgd", 0.1)
    with pytest.raises(DataError, match=r"tanh\(z\) there, .*sigmoid.* here"):
        load_checkpoint(ck, trainer)


# ---- 5. an infinite test loss is reported as infinite ----

def test_an_infinite_test_loss_is_said_and_written_as_inf(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.random((50, 4)).astype(np.float32)
    y = rng.random((50, 1)).astype(np.float32)
    x_test = np.full((10, 4), 1e30, np.float32)   # relu passes it on: (1e30)² overflows float32
    np.savez(tmp_path / "r.npz", x=x, y=y, x_test=x_test, y_test=y[:10])
    assert main(["train", "4-4:relu-1:identity", "--loss", "mse", "--data", str(tmp_path / "r.npz"),
                 "--epochs", "2", "--seed", "0", "--json"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert _json(out)["test_loss"] == "inf"
    assert "test loss inf" in lines[-2], out


# ---- 6. loaded weights that overflow the output are named, not x ----

def test_loaded_weights_that_overflow_the_output_are_named(data, tmp_path, capsys):
    _train(capsys, data, "sgd", "--save", str(tmp_path / "ok.npz"))
    with np.load(tmp_path / "ok.npz", allow_pickle=False) as f:
        arrays = dict(f)
    arrays["W2"] = np.full_like(arrays["W2"], 1e38)   # A1 W2 sums 8 such terms: past float32's 3.4e38
    np.savez(tmp_path / "big.npz", **arrays)
    assert np.abs(np.load(data / "d.npz")["x"]).max() < 10   # x itself is small: not the cause
    code = main(["train", CLS, "--data", str(data / "d.npz"), "--epochs", "1", "--load", str(tmp_path / "big.npz")])
    err = capsys.readouterr().err
    assert code == 2
    assert "parameters loaded from the checkpoint are the cause, W2 reaching 1e+38" in err and "scale x down" not in err

"""Bad input to check-code, checkpoints and .csv inputs: each answered by name, nothing lost or misjudged."""
import warnings

import numpy as np
import pytest

from compile.checks.code import check_code
from compile.cli.main import main
from derive.network.examples import resolve


def _xor_grads(p, x, y):
    """The right loss and gradients of the xor network (2-2 tanh, 2 softmax, mean cross-entropy), by hand."""
    m = x.shape[0]
    a1 = np.tanh(x @ p["W1"] + p["b1"])
    z2 = a1 @ p["W2"] + p["b2"]
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    a2 = e / e.sum(axis=1, keepdims=True)
    dz2 = a2 - y
    dz1 = (dz2 @ p["W2"].T) * (1 - a1**2)
    loss = float(-np.sum(y * np.log(a2)) / m)
    return loss, {"W1": x.T @ dz1 / m, "b1": dz1.sum(axis=0) / m, "W2": a1.T @ dz2 / m, "b2": dz2.sum(axis=0) / m}


@pytest.fixture(scope="module")
def xor():
    return resolve("xor")[1]


def _check(net, change):
    return check_code(net, lambda p, x, y: change(*_xor_grads(p, x, y)), points=2)


# ---- check-code: the loss returned ----

@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_loss_that_is_no_finite_number_is_wrong(xor, bad):
    report = _check(xor, lambda loss, g: (bad, g))
    assert all(p.ok for p in report.params.values()) and not report.ok
    assert report.loss_wrong.startswith(f"the loss it returned is {bad} at seed 0 (m=5) (J = ")
    assert report.loss_wrong.endswith("a loss is a finite number (a log of 0, an overflow in exp, a 0/0)")
    # beside a wrong gradient, the summary still names it
    worse = _check(xor, lambda loss, g: (bad, {**g, "W2": 2 * g["W2"]}))
    assert f"; and the loss it returned is {bad}" in worse.summary()


def test_the_right_loss_is_no_finding(xor):
    report = _check(xor, lambda loss, g: (loss, g))
    assert report.ok and report.loss_wrong is None


# ---- check-code: what the gradients came back as ----

def test_float16_gradients_are_judged_at_float16s_precision(xor):
    report = _check(xor, lambda loss, g: {k: v.astype(np.float16) for k, v in g.items()})
    assert report.ok
    assert ("the gradients of W1, b1, W2, b2 came back in float16, which keeps about 3 significant digits: "
            "compared at its precision (0.01·max|ref| + 1e-05); return float64 for the full check") in report.notes
    # the rounding float16 makes is 2e-4 .. 5e-4 of the largest entry: above float32's 1e-4, within float16's
    assert all(1e-4 < p.max_rel_err < 1e-3 for p in report.params.values())
    # a real mistake is still one in float16: the missing 1/m
    wrong = _check(xor, lambda loss, g: {**{k: v.astype(np.float16) for k, v in g.items()},
                                         "W2": (g["W2"] * 5).astype(np.float16)})
    assert {n for n, p in wrong.params.items() if not p.ok} == {"W2"}


def test_float32_gradients_carry_no_float16_note(xor):
    report = _check(xor, lambda loss, g: {k: v.astype(np.float32) for k, v in g.items()})
    assert report.ok and not any("float16" in n for n in report.notes)


def test_boolean_gradients_are_named_as_booleans_not_clipped(xor):
    report = _check(xor, lambda loss, g: {k: v > 0 for k, v in g.items()})
    assert not report.ok
    assert {p.message for p in report.params.values()} == {
        "booleans (dtype bool), not numbers: a comparison's True/False came back where the gradient's values belong"}
    assert not any("clipped" in n for n in report.notes)


def test_a_huge_gradient_is_no_clip(xor):
    report = _check(xor, lambda loss, g: {k: v * 1e300 for k, v in g.items()})
    assert not any("clipped" in n for n in report.notes)
    assert {p.message for p in report.params.values()} == {"off by a constant factor: user = 1e+300 · ref"}


def test_a_clip_at_a_round_number_is_still_found():
    from compile.checks.sandbox import clip_level
    assert clip_level(np.array([5.0, -5.0, 1.2])) == (5.0, 2)
    assert clip_level(np.array([7.1332e298, 1.0])) is None


# ---- check-code: arguments ----

def _backward(tmp_path, body="return {'W1': params['W1'] * 0}"):
    path = tmp_path / "bw.py"
    path.write_text(f"def backward(params, x, y):\n    {body}\n")
    return str(path)


def test_a_timeout_beyond_ten_minutes_is_refused(tmp_path, capsys):
    fn = _backward(tmp_path, "while True: pass")
    assert main(["check-code", "xor", fn, "--timeout", "1e9"]) == 2
    assert ("argument --timeout: must be at most 600 seconds (a call that needs longer is stuck), not 1e9"
            in capsys.readouterr().err)
    with pytest.raises(ValueError, match=r"^timeout must be at most 600 seconds \(a call that needs longer is "
                                         r"stuck\), not 1000000000\.0$"):
        check_code(resolve("xor")[1], lambda p, x, y: {}, timeout=1e9)


def test_a_network_without_parameters_is_refused_by_name(tmp_path, capsys):
    fn = _backward(tmp_path, "return {'W1': params['W1']}")
    assert main(["check-code", "4x4x1-pool2-flatten", fn]) == 2
    assert capsys.readouterr().err.strip() == (
        "derivax: 4x4x1-pool2-flatten has no parameters (its layers: max pool, flatten): there is no gradient to "
        "check; add a layer with weights, such as a Dense or a convolution")


@pytest.mark.parametrize("model, steps, width", [("charlm", 25, 45), ("gpt", 32, 103)])
def test_check_code_loads_a_sequence_models_data_as_train_does(monkeypatch, tmp_path, capsys, model, steps, width):
    import compile.checks.code as code
    seen = {}

    def fake(net, fn, seed, points, data, **kw):
        seen["data"] = data
        return code.CodeReport(kw["model_name"], "bw.py:backward", {}, [])
    monkeypatch.setattr(code, "check_code", fake)
    main(["check-code", model, _backward(tmp_path)])
    assert "was skipped" not in capsys.readouterr().out
    assert seen["data"] is not None and seen["data"].y_train.shape[1:] == (steps, width)


def test_a_sequence_data_point_is_checked():
    """A network with an output at every step, handed a data set of (examples, steps) labels: its first
    sequences are the data point, y one-hot at every step."""
    from compile.checks.code import _points
    from compile.train.data import load
    net = resolve("charlm")[1]
    model = net.build()
    data = load("charlm", n_inputs=net.n_inputs, n_outputs=45, steps=25, vocab=model.vocab)
    label, _, x, y, _ = _points(model, 0, 1, data, "charlm data")[-1]
    assert label == "charlm data (first 256 of 639 sequences, m=256)"
    assert y.shape == (256, 25, 45) and np.all(y.sum(-1) == 1)
    np.testing.assert_array_equal(x, data.x_train[:256])
    np.testing.assert_array_equal(y, data.y_train[:256])


# ---- checkpoints ----

@pytest.fixture(scope="module")
def bn_checkpoint(tmp_path_factory):
    """An Adam checkpoint of a network with a batch norm, and the trainer that reads it."""
    from compile import compile_trainer, fit
    from compile.train.checkpoint import save_checkpoint
    from derive.network.examples import resolve as net_of
    trainer = compile_trainer(net_of("2-4:relu-bn-2:softmax")[1], "adam", 0.05)
    x = np.random.default_rng(0).normal(size=(16, 2))
    hist = fit(trainer, x, (x[:, 0] > 0).astype(int), 2, 8, progress=False)
    path = tmp_path_factory.mktemp("ck") / "bn.npz"
    save_checkpoint(path, trainer, hist.params, hist.opt_state, hist.epochs)
    return trainer, dict(np.load(path))


def _altered(tmp_path, arrays, **change):
    out = dict(arrays)
    for k, v in change.items():
        k = k.replace("__", "/")
        if v is None:
            out.pop(k)
        else:
            out[k] = v
    np.savez(tmp_path / "c.npz", **out)
    return tmp_path / "c.npz"


@pytest.mark.parametrize("change, message", [
    ({"stats__mu2": np.zeros((1, 3), np.float32)}, "stats/mu2 has shape (1, 3), this network's mu2 (1, 4)"),
    ({"stats__mu2": None}, "no array for stats/mu2: the checkpoint's batch norm averages are incomplete (it holds "
                           "stats/var2)"),
    ({"stats__var2": -np.ones((1, 4), np.float32)}, "stats/var2 has 4 negative entries of 4: a variance is never "
                                                    "negative; the checkpoint is damaged"),
    ({"stats__mu9": np.zeros((1, 4), np.float32)}, "stats/mu9 is no running average of this network (it keeps "
                                                   "stats/mu2, stats/var2)"),
    ({"stats__var2": np.full((1, 4), np.nan, np.float32)}, "stats/var2 has 4 NaN entries of 4: the checkpoint is "
                                                           "damaged, or was saved after training diverged"),
])
def test_batch_norm_averages_are_checked_on_load(bn_checkpoint, tmp_path, change, message):
    from compile.train.checkpoint import load_checkpoint
    from compile.train.data import DataError
    trainer, arrays = bn_checkpoint
    path = _altered(tmp_path, arrays, **change)
    with pytest.raises(DataError) as err:
        load_checkpoint(path, trainer)
    assert str(err.value) == f"{path}: {message}"


def _state_index(trainer, arrays, key):
    """i of the opt_state/i whose place in the state is ``key`` (as jax.tree_util.keystr writes it)."""
    import jax
    state = trainer.init_opt_state({k: arrays[k] for k in trainer.namespace["PARAM_SHAPES"]})
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(state)[0]]
    return paths.index(key)


@pytest.mark.parametrize("key, value, message", [
    ("['t']", np.array(-5, np.int32), "is -5: a count of steps taken is never negative; the checkpoint is damaged"),
    ("['nu']['W1']", -np.ones((2, 4), np.float32), "has 8 negative entries of 8: an average of squares (a variance) "
                                                   "is never negative; the checkpoint is damaged"),
    ("['stats']['var2']", -np.ones((1, 4), np.float32), "has 4 negative entries of 4: an average of squares (a "
                                                        "variance) is never negative; the checkpoint is damaged"),
])
def test_a_damaged_optimizer_state_is_refused_by_its_entry(bn_checkpoint, tmp_path, key, value, message):
    from compile.train.checkpoint import load_checkpoint
    from compile.train.data import DataError
    trainer, arrays = bn_checkpoint
    i = _state_index(trainer, arrays, key)
    path = _altered(tmp_path, arrays, **{f"opt_state__{i}": value})
    with pytest.raises(DataError) as err:
        load_checkpoint(path, trainer)
    assert str(err.value) == f"{path}: opt_state/{i} (the optimizer state's {key}) {message}"


def test_the_saved_state_reads_back_whole(bn_checkpoint, tmp_path):
    from compile.train.checkpoint import load_checkpoint
    trainer, arrays = bn_checkpoint
    params, state, facts = load_checkpoint(_altered(tmp_path, arrays), trainer)
    assert facts["state"] == "optimizer state restored" and set(facts["stats"]) == {"mu2", "var2"}
    np.testing.assert_array_equal(np.asarray(facts["stats"]["var2"]), arrays["stats/var2"])


def test_a_float16_checkpoint_is_read_exactly_and_said_without_a_warning(bn_checkpoint, tmp_path):
    from compile.train.checkpoint import load_checkpoint
    trainer, arrays = bn_checkpoint
    half = arrays["W1"].astype(np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        params, _, facts = load_checkpoint(_altered(tmp_path, arrays, W1=half), trainer)
    np.testing.assert_array_equal(np.asarray(params["W1"]), half.astype(np.float32))
    assert facts["state"] == ("optimizer state restored; W1 stored in float16, read as float32 (exactly: every "
                              "float16 value is a float32 value)")


# ---- .csv inputs ----

def test_a_first_row_of_whole_numbers_0_to_n_1_is_data(tmp_path):
    from compile.train.data import read_inputs
    (tmp_path / "x.csv").write_text("0,1\n1,0\n")
    x, what = read_inputs(tmp_path / "x.csv", 2)
    np.testing.assert_array_equal(x, [[0, 1], [1, 0]])
    assert what == "x.csv (no header row: its columns numbered from 0): 2 examples"


def test_pandas_header_over_other_rows_is_taken_and_said(tmp_path):
    from compile.train.data import load, read_inputs
    (tmp_path / "p.csv").write_text("0,1\n0.5,1.0\n1.0,0.0\n")
    x, what = read_inputs(tmp_path / "p.csv", 2)
    np.testing.assert_array_equal(x, [[0.5, 1.0], [1.0, 0.0]])
    assert what == "p.csv (its first row, 0 to 1, read as the header pandas writes for unnamed columns): 2 examples"
    (tmp_path / "d.csv").write_text("0,1,2\n" + "".join(f"{k * 0.5},{k * 0.25},{k % 2}\n" for k in range(6)))
    data = load(tmp_path / "d.csv", n_inputs=2, n_outputs=2, test_fraction=0)
    assert len(data.x_train) == 6
    assert "(its first row, 0 to 2, read as the header pandas writes for unnamed columns)" in data.description
    (tmp_path / "w.csv").write_text("0,1,2\n" + "".join(f"{k},{k + 1},{k % 2}\n" for k in range(6)))
    whole, what = read_inputs(tmp_path / "w.csv", 3)
    assert len(whole) == 7 and what == "w.csv (no header row: its columns numbered from 0): 7 examples"


def test_predict_keeps_every_row_of_a_headerless_csv(tmp_path, capsys):
    from compile.train.checkpoint import save_checkpoint
    from compile.train.train import compile_trainer
    import jax.numpy as jnp
    net = resolve("xor")[1]
    trainer = compile_trainer(net, "sgd", 0.1)
    params = {k: jnp.zeros(s, jnp.float32) for k, s in trainer.namespace["PARAM_SHAPES"].items()}
    save_checkpoint(tmp_path / "xor.npz", trainer, params, trainer.init_opt_state(params))
    (tmp_path / "x.csv").write_text("0,1\n1,0\n")
    assert main(["predict", "xor", "--load", str(tmp_path / "xor.npz"), "--input", str(tmp_path / "x.csv")]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["p0,p1,class", "0.5,0.5,0", "0.5,0.5,0"]
    assert "predicting on x.csv (no header row: its columns numbered from 0): 2 examples" in err

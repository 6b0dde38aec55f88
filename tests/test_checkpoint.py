"""Checkpoints: parameters and optimizer state saved, read back to resume and to evaluate; batch norm's
running averages carried; files of another network refused by name."""
import json

import numpy as np
import pytest

from compile.cli.main import main


def _json(out):
    return json.loads(out.strip().splitlines()[-1])


def test_save_resume_and_evaluate_reproduce_the_training(tmp_path, capsys):
    path = tmp_path / "mk.npz"
    assert main(["train", "makemore", "--epochs", "1", "--save", str(path), "--json"]) == 0
    trained = _json(capsys.readouterr().out)
    z = np.load(path)
    assert {"C1", "W3", "gamma4", "stats/mu4", "stats/var4", "__derivax__"} <= set(z.files)
    assert main(["evaluate", "makemore", "--load", str(path), "--json"]) == 0
    figures = _json(capsys.readouterr().out)
    # fit measured its training loss on a fixed sample of 5,000 of the 28,911 windows; evaluate on all
    assert trained["train_sample"] == 5_000
    assert figures["train_loss"] == pytest.approx(trained["final_loss"], rel=2e-2)   # running averages, as fit
    assert figures["test_accuracy"] == pytest.approx(trained["test_accuracy"], rel=1e-6)
    assert main(["train", "makemore", "--epochs", "1", "--load", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    assert "optimizer state restored" in out and _json(out)["initial_loss"] == pytest.approx(trained["final_loss"], rel=1e-5)
    assert "training figures on a fixed sample of 5,000 of 28,911 examples" in out


def test_the_optimizer_state_round_trips(tmp_path):
    import jax
    from compile import compile_trainer, fit
    from compile.train.checkpoint import load_checkpoint, save_checkpoint
    from derive import Dense, Network
    trainer = compile_trainer(Network(2, [Dense(3, "tanh"), Dense(2, "softmax")]), "adam", 0.05)
    x = np.random.default_rng(0).normal(size=(16, 2))
    hist = fit(trainer, x, (x[:, 0] > 0).astype(int), 3, 8, progress=False)
    save_checkpoint(tmp_path / "c.npz", trainer, hist.params, hist.opt_state, hist.epochs)
    params, state, facts = load_checkpoint(tmp_path / "c.npz", trainer)
    assert facts["state"] == "optimizer state restored" and facts["epochs"] == 3
    for a, b in zip(jax.tree_util.tree_leaves((hist.params, hist.opt_state)), jax.tree_util.tree_leaves((params, state))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.savez(tmp_path / "p.npz", **{k: np.asarray(v) for k, v in hist.params.items()})   # parameters only
    assert load_checkpoint(tmp_path / "p.npz", trainer)[1] is None
    # Biases written as (n,), as PyTorch and NumPy users keep them, are the same numbers.
    np.savez(tmp_path / "flat.npz", **{k: np.asarray(v).reshape(-1) if k[0] == "b" else np.asarray(v)
                                       for k, v in hist.params.items()})
    flat = load_checkpoint(tmp_path / "flat.npz", trainer)[0]
    assert flat["b1"].shape == hist.params["b1"].shape
    np.testing.assert_array_equal(np.asarray(flat["b2"]), np.asarray(hist.params["b2"]))
    np.savez(tmp_path / "bad.npz", **{**{k: np.asarray(v) for k, v in hist.params.items()}, "b1": np.zeros(4)})
    with pytest.raises(ValueError, match=r"b1 has shape \(4,\), this network's b1 \(1, 3\)"):
        load_checkpoint(tmp_path / "bad.npz", trainer)


def test_a_checkpoint_of_another_network_is_refused(tmp_path, capsys):
    path = tmp_path / "x.npz"
    assert main(["train", "xor", "--epochs", "1", "--save", str(path)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "mlp", "--load", str(path)]) == 2
    assert "W1 has shape (2, 2), this network's W1 (64, 128)" in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (["evaluate", "2-2:softmax", "--load", "x.npz"], "--data is needed: the model is no built-in example"),
    (["evaluate", "xor", "--load", "{tmp}/none.npz"], "cannot read the checkpoint"),
    (["evaluate", "xor", "--load", "x.npz", "-o", "p.csv"], "must end in .npy"),
    (["report", "2-2:softmax", "--epochs", "2", "-o", "{tmp}/r.html"], "--epochs needs --data"),
    (["train", "xor", "--test-fraction", "1"], "must be from 0 up to 1 (not included), not 1"),
    (["check-code", "xor", "x.py", "--dz", "sideways"], "invalid choice: 'sideways'"),
])
def test_bad_arguments_of_the_new_commands_are_named(tmp_path, capsys, argv, words):
    argv = [a.format(tmp=tmp_path) for a in argv]
    try:
        rc = main(argv)
    except SystemExit as exc:   # argparse's own usage errors
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and words in err, err


def test_check_code_refuses_a_reading_it_does_not_know():
    from compile.checks.code import check_code
    from derive import Dense, Network
    with pytest.raises(ValueError, match="dz must be 'auto', 'adjoint'"):
        check_code(Network(2, [Dense(2, "softmax")]), lambda p, x, y: {}, dz="sideways")
    with pytest.raises(ValueError, match="labels must be 'onehot' or 'integer'"):
        check_code(Network(2, [Dense(2, "softmax")]), lambda p, x, y: {}, labels="words")


def test_predict_writes_the_networks_outputs_on_inputs_without_targets(tmp_path, capsys):
    """The table and the arrays predict writes equal the network's forward pass computed here in NumPy from
    the checkpoint's own arrays; a .csv of inputs may carry a column to drop."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] - x[:, 1] > 0).astype(int) + (x[:, 2] > 1)
    lines = ["a,b,c,label"] + [f"{r[0]},{r[1]},{r[2]},{t}" for r, t in zip(x, y)]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    ck = tmp_path / "ck.npz"
    assert main(["train", "3-5:tanh-3:softmax", "--data", str(tmp_path / "d.csv"), "--target", "label",
                 "--epochs", "3", "--save", str(ck)]) == 0
    capsys.readouterr()
    z = np.load(ck)
    h = np.tanh(x @ z["W1"] + z["b1"].reshape(1, -1))
    s = h @ z["W2"] + z["b2"].reshape(1, -1)
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert main(["predict", "3-5:tanh-3:softmax", "--load", str(ck), "--input", str(tmp_path / "d.csv"),
                 "--drop", "label"]) == 0
    out = capsys.readouterr()
    rows = out.out.strip().splitlines()
    assert rows[0] == "p0,p1,p2,class" and len(rows) == 61 and "predicting on d.csv: 60 examples" in out.err
    table = np.array([[float(v) for v in r.split(",")] for r in rows[1:]])
    np.testing.assert_allclose(table[:, :3], p, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(table[:, 3], p.argmax(1))
    np.save(tmp_path / "x.npy", x)
    assert main(["predict", "3-5:tanh-3:softmax", "--load", str(ck), "--input", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "p.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), p, rtol=1e-4, atol=1e-6)
    assert main(["predict", "3-5:tanh-3:softmax", "--load", str(ck), "--input", str(tmp_path / "x.npy"),
                 "--classes", "-o", str(tmp_path / "c.csv")]) == 0
    assert (tmp_path / "c.csv").read_text().split() == ["class", *map(str, p.argmax(1))]


@pytest.mark.parametrize("argv, words", [
    (["predict", "2-2:softmax", "--load", "x.npz"], "--input is needed"),
    (["predict", "xor", "--load", "x.npz", "-o", "p.txt"], "must end in .csv or .npy"),
    (["predict", "xor", "--load", "x.npz", "--input", "{tmp}/none.npy"], "no such file or directory"),
    (["predict", "xor", "--load", "x.npz", "--input", "{tmp}/wide.npy"], "the network takes 2 inputs per example, but x has 3"),
    (["predict", "xor", "--load", "x.npz", "--input", "{tmp}/t.csv", "--drop", "z"], "no column named 'z'; the columns are a, b"),
    (["predict", "xor", "--load", "x.npz", "--input", "{tmp}/wide.npy", "--drop", "z"], "--drop names columns of a .csv"),
    (["predict", "xor", "--load", "x.npz", "--input", "{tmp}/t.csv"], "cannot read the checkpoint"),
])
def test_bad_arguments_of_predict_are_named(tmp_path, capsys, monkeypatch, argv, words):
    np.save(tmp_path / "wide.npy", np.zeros((4, 3)))
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    argv = [a.format(tmp=tmp_path) for a in argv]
    monkeypatch.chdir(tmp_path)
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and words in err, err



def test_predict_a_regression_and_a_single_sigmoid_output(tmp_path, capsys):
    """A regression's table is its outputs (y, or y0, y1, ...); a single sigmoid output's is p and the class
    p > 0.5; both equal the forward pass computed here from the checkpoint's arrays."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 2))
    np.savez(tmp_path / "reg.npz", x=x, y=x @ [[1.0, -1.0], [0.5, 2.0]])
    np.savez(tmp_path / "bin.npz", x=x, y=(x[:, 0] > 0).astype(int))
    np.save(tmp_path / "x.npy", x)
    for name, spec, data in (("reg", "2-3:tanh-2", "reg.npz"), ("bin", "2-3:tanh-1:sigmoid", "bin.npz")):
        ck = tmp_path / f"{name}.npz.ck.npz"
        assert main(["train", spec, "--data", str(tmp_path / data), "--epochs", "2", "--save", str(ck)]) == 0
        capsys.readouterr()
        z = np.load(ck)
        out = np.tanh(x @ z["W1"] + z["b1"].reshape(1, -1)) @ z["W2"] + z["b2"].reshape(1, -1)
        assert main(["predict", spec, "--load", str(ck), "--input", str(tmp_path / "x.npy")]) == 0
        rows = capsys.readouterr().out.strip().splitlines()
        table = np.array([[float(v) for v in r.split(",")] for r in rows[1:]])
        if name == "reg":
            assert rows[0] == "y0,y1"
            np.testing.assert_allclose(table, out, rtol=1e-4, atol=1e-5)
        else:
            p = 1 / (1 + np.exp(-out[:, 0]))
            assert rows[0] == "p,class"
            np.testing.assert_allclose(table[:, 0], p, rtol=1e-4, atol=1e-6)
            np.testing.assert_array_equal(table[:, 1], (p > 0.5).astype(int))


# ---- the layout a checkpoint was trained in: recorded, and turned on reading ----

def _columns_loss(z, x, y):
    """Cross-entropy of a tanh-softmax network from a checkpoint's arrays in the columns layout, computed
    here in NumPy (Z = W A + b, examples as columns): nothing of derivax's reading or lowering."""
    h = np.tanh(z["W1"] @ x.T + z["b1"].reshape(-1, 1))
    s = z["W2"] @ h + z["b2"].reshape(-1, 1)
    p = np.exp(s - s.max(0, keepdims=True))
    p /= p.sum(0, keepdims=True)
    return float(-np.mean(np.log(p[y, np.arange(len(y))])))


@pytest.mark.parametrize("spec, classes", [("4-4:tanh-4:softmax", 4), ("4-8:tanh-3:softmax", 3)],
                         ids=["square", "oblong"])
def test_a_columns_checkpoint_evaluates_to_its_training_run(tmp_path, capsys, spec, classes):
    """Trained in the columns convention, evaluated (rows) and resumed in rows: the same loss the training run
    reported, which NumPy computes from the file's arrays in the columns layout. A square W1 has the same
    shape either way, so only the file's record can tell evaluate to turn it."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(40, 4)), rng.integers(0, classes, 40)
    data = tmp_path / "d.npz"
    np.savez(data, x=x, y=y, x_test=x[:8], y_test=y[:8])   # a test split of its own: the training split is all of x
    ck = tmp_path / "c.npz"
    assert main(["train", spec, "--data", str(data), "--epochs", "3", "--optimizer", "adam", "--lr", "0.05",
                 "--convention", "columns", "--save", str(ck), "--json"]) == 0
    trained = _json(capsys.readouterr().out)
    z = np.load(ck)
    assert json.loads(str(z["__derivax__"]))["convention"] == "columns" and z["W1"].shape == (int(spec[2]), 4)
    exact = _columns_loss(z, x, y)
    assert trained["final_loss"] == pytest.approx(exact, rel=1e-5)
    assert main(["evaluate", spec, "--data", str(data), "--load", str(ck), "--json"]) == 0
    assert _json(capsys.readouterr().out)["train_loss"] == pytest.approx(exact, rel=1e-5)
    assert main(["train", spec, "--data", str(data), "--epochs", "1", "--optimizer", "adam", "--lr", "0.05",
                 "--load", str(ck), "--json"]) == 0
    out = capsys.readouterr().out
    assert "optimizer state restored (the file's columns layout turned into rows)" in out
    assert _json(out)["initial_loss"] == pytest.approx(exact, rel=1e-5)


def test_a_rows_checkpoint_resumes_in_columns_and_the_moments_turn_with_their_parameters(tmp_path):
    """A step taken in columns from a rows checkpoint equals, turned, the step taken in rows from it: the
    parameters and Adam's moments are read in the layout the file records and turned into the trainer's."""
    from compile import compile_trainer, fit
    from compile.train.checkpoint import load_checkpoint, save_checkpoint
    from derive import Dense, Network
    net = Network(3, [Dense(5, "tanh"), Dense(2, "softmax")])
    rows, columns = (compile_trainer(net, "adam", 0.05, convention=c) for c in ("rows", "columns"))
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(16, 3)), rng.integers(0, 2, 16)
    hist = fit(rows, x, y, 2, 8, progress=False)
    save_checkpoint(tmp_path / "r.npz", rows, hist.params, hist.opt_state, hist.epochs)
    p_rows, s_rows, _ = load_checkpoint(tmp_path / "r.npz", rows)
    p_cols, s_cols, facts = load_checkpoint(tmp_path / "r.npz", columns)
    assert facts["state"] == "optimizer state restored (the file's rows layout turned into columns)"
    for k in ("W1", "W2", "b1", "b2"):
        np.testing.assert_array_equal(np.asarray(p_cols[k]), np.asarray(p_rows[k]).T)
    onehot = np.eye(2, dtype=np.float32)[y]
    after_rows = rows.train_step(p_rows, s_rows, x.astype(np.float32), onehot)[0]
    after_cols = columns.train_step(p_cols, s_cols, x.astype(np.float32), onehot)[0]   # batch-first either way
    for k in after_rows:
        np.testing.assert_allclose(np.asarray(after_cols[k]), np.asarray(after_rows[k]).T, rtol=1e-5, atol=1e-6)
    # A file without derivax's record (parameters a user saved) is read as rows.
    np.savez(tmp_path / "plain.npz", **{k: np.asarray(v) for k, v in hist.params.items()})
    plain = load_checkpoint(tmp_path / "plain.npz", columns)[0]
    np.testing.assert_array_equal(np.asarray(plain["W1"]), np.asarray(hist.params["W1"]).T)


# ---- checkpoints that are damaged, of another kind, or hold no real finite numbers ----

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small checkpoint with Adam's state, and the data it was trained on."""
    from compile.cli.main import main as cli
    d = tmp_path_factory.mktemp("ck")
    rng = np.random.default_rng(7)
    np.savez(d / "d.npz", x=rng.normal(size=(30, 2)), y=rng.integers(0, 2, 30))
    assert cli(["train", "2-3:tanh-2:softmax", "--data", str(d / "d.npz"), "--epochs", "2", "--optimizer", "adam",
                "--save", str(d / "ck.npz")]) == 0
    return d, dict(np.load(d / "ck.npz"))


def _edited(arrays, **changes):
    out = dict(arrays)
    for k, f in changes.items():
        out[k] = f(np.array(out[k]))
    return out


def _with(a, index, value):
    a = a.astype(np.result_type(a, value))
    a.flat[index] = value
    return a


@pytest.mark.parametrize("make, words", [
    (lambda a: _edited(a, W1=lambda w: _with(w, 0, np.nan)), "W1 has 1 NaN entry of 6"),
    (lambda a: _edited(a, b2=lambda b: np.full_like(b, np.inf)), "b2 has 2 infinite entries of 2"),
    (lambda a: _edited(a, W2=lambda w: w + 1j), "W2 holds complex numbers (dtype complex"),
    (lambda a: _edited(a, W1=lambda w: _with(w.astype(np.float64), 3, 1e300)),
     "W1 has 1 entry beyond float32's range (largest 3.4e+38)"),
    (lambda a: _edited(a, **{"opt_state/1": lambda s: _with(s, 0, np.nan)}), "opt_state/1 has 1 NaN entry"),
    (lambda a: _edited(a, __derivax__=lambda m: np.array("{not json")), "metadata (__derivax__) is unreadable: not valid JSON"),
    (lambda a: _edited(a, __derivax__=lambda m: np.array("[1, 2]")), "metadata (__derivax__) is unreadable: a JSON list"),
    (lambda a: _edited(a, __derivax__=lambda m: np.array('{"state_arrays": "five"}')), "state_arrays is 'five', not a count"),
    (lambda a: _edited(a, __derivax__=lambda m: np.array('{"convention": "diagonal"}')), "convention is 'diagonal'"),
    (lambda a: _edited(a, __derivax__=lambda m: np.zeros(3)), "metadata (__derivax__) is unreadable: a float64 array"),
], ids=["nan", "inf", "complex", "too-large", "nan-state", "not-json", "json-list", "bad-count", "bad-convention",
        "meta-array"])
def test_a_checkpoint_that_holds_no_real_finite_numbers_is_refused_by_name(saved, tmp_path, capsys, make, words):
    d, arrays = saved
    np.savez(tmp_path / "bad.npz", **make(arrays))
    for argv in (["evaluate", "--data", str(d / "d.npz")], ["train", "--data", str(d / "d.npz"), "--epochs", "1",
                                                              "--optimizer", "adam", "--json"]):
        with _no_warning():
            rc = main([argv[0], "2-3:tanh-2:softmax", *argv[1:], "--load", str(tmp_path / "bad.npz")])
        out, err = capsys.readouterr()
        assert rc == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err, (rc, out, err)
        assert err.startswith(f"derivax: {tmp_path / 'bad.npz'}: ") and words in err, err


class _no_warning:
    """No warning (NumPy's ComplexWarning, a RuntimeWarning) escapes the block."""

    def __enter__(self):
        import warnings
        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)
        return False


@pytest.mark.parametrize("write, words", [
    (lambda p, good: p.write_bytes(good[:len(good) // 2]),
     "is truncated or damaged: it starts as an .npz (zip) archive, but its directory at the end is missing"),
    (lambda p, good: p.write_bytes(b""), "is empty: expected an .npz file"),
    (lambda p, good: np.save(open(p, "wb"), np.zeros(3)), "is not an .npz file but an .npy file (a single array"),
    (lambda p, good: p.write_text("W1,b1\n1,2\n"), "is not an .npz file: expected a zip archive of .npy arrays, as "
                                                   "np.savez writes, found a file starting with bytes 57 31 2c 62 31 0a 31 2c (text)"),
], ids=["truncated", "empty", "npy", "csv"])
def test_a_checkpoint_file_of_the_wrong_kind_says_what_it_is(saved, tmp_path, capsys, write, words):
    d, _ = saved
    path = tmp_path / "bad.npz"
    write(path, (d / "ck.npz").read_bytes())
    rc = main(["evaluate", "2-3:tanh-2:softmax", "--data", str(d / "d.npz"), "--load", str(path)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith(f"derivax: the checkpoint '{path}' ") and words in err, err


def test_json_lines_are_standard_json_when_a_figure_is_not_a_number(tmp_path, capsys):
    """Inputs at float32's edge overflow a linear softmax layer: evaluate's loss is NaN. Its JSON line says
    null (JSON has no NaN), the run says why on stderr and exits 1, not 0."""
    from compile import compile_trainer
    from compile.train.checkpoint import save_checkpoint
    from derive import Dense, Network
    trainer = compile_trainer(Network(2, [Dense(2, "softmax")]), "sgd", 0.1)
    params = trainer.init_params(0)
    save_checkpoint(tmp_path / "c.npz", trainer, params, trainer.init_opt_state(params))
    x = np.full((6, 2), 3e38, np.float32) * np.array([1, -1], np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0, 1] * 3), x_test=x[:2], y_test=np.array([0, 1]))
    rc = main(["evaluate", "2-2:softmax", "--data", str(tmp_path / "d.npz"), "--load", str(tmp_path / "c.npz"), "--json"])
    out, err = capsys.readouterr()

    def refuse(token):
        raise AssertionError(f"{token} in a JSON line")
    line = json.loads(out.strip().splitlines()[-1], parse_constant=refuse)
    assert rc == 1 and line["train_loss"] is None and "NaN" in err


@pytest.mark.parametrize("other, says", [
    ("2-4:relu-1:sigmoid", "layer 1: dense, elu(z) there, layer 1: dense, relu(z) here"),
    ("2-4:elu-1:tanh", "layer 2: dense, sigmoid(z) there, layer 2: dense, tanh(z) here"),
])
def test_a_checkpoint_is_refused_by_a_network_of_the_same_shapes_that_computes_otherwise(tmp_path, other, says):
    """Parameters of an elu network fit a relu network's shapes; evaluated there they gave other numbers,
    silently. The checkpoint records what each layer computes, and the same network still loads."""
    from compile.train.checkpoint import load_checkpoint, save_checkpoint
    from compile.train.data import DataError
    from compile.train.train import compile_trainer
    from derive.network.examples import resolve
    trainer = compile_trainer(resolve("2-4:elu-1:sigmoid")[1])
    params = trainer.init_params(0)
    save_checkpoint(tmp_path / "c.npz", trainer, params, trainer.init_opt_state(params))
    again, _, _ = load_checkpoint(tmp_path / "c.npz", compile_trainer(resolve("2-4:elu-1:sigmoid")[1]))
    assert all(np.array_equal(np.asarray(again[k]), np.asarray(params[k])) for k in params)
    with pytest.raises(DataError, match="the checkpoint was trained as another network: " + says.replace("(", r"\(").replace(")", r"\)")):
        load_checkpoint(tmp_path / "c.npz", compile_trainer(resolve(other)[1]))


def test_no_checkpoint_is_written_when_no_epoch_finished(tmp_path, capsys):
    """A run stopped by an infinite loss in its first epoch has trained nothing: --save writes no file of the
    starting parameters under a checkpoint's name, says so, and the exit status is 1."""
    path = tmp_path / "x.npz"
    assert main(["train", "1-3:(exp(z))-1:identity", "--loss", "mse", "--data", "linreg", "--lr", "1e10",
                 "--epochs", "2", "--save", str(path)]) == 1
    err = capsys.readouterr().err
    assert "no epoch finished, so there are no trained parameters to save" in err and not path.exists()

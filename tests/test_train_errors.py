"""`derivax train` with bad input: one line naming the culprit, exit 2, before any training; files
that cannot be written after training, and losses that diverge, are reported and not passed off as
success."""
import json
import math
import re

import numpy as np
import pytest

from compile.train.train import DIVERGED_MARGIN, DIVERGED_RATIO, History


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr) of ``derivax train ARGV``; argparse's own exit is a status too."""
    from compile.cli.main import main
    try:
        code = main(["train", *argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def refused(capsys, *argv):
    """The one-line refusal of a run that must stop before training: its stderr line."""
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, (code, out, err)
    assert err.startswith("derivax: ")
    return err.strip()


def _no_constant(token):
    raise AssertionError(f"{token} in a JSON line: JSON has no such number")


# ---- output paths are checked before training ----

def test_save_into_a_missing_directory(capsys, tmp_path):
    path = tmp_path / "nope" / "p.npz"
    err = refused(capsys, "xor", "--save", str(path))
    assert err == f"derivax: --save {path}: the directory {path.parent} does not exist"


@pytest.mark.parametrize("option, name", [("--save", "p.npz/"), ("--plot", "loss.png/")])
def test_an_output_named_with_a_trailing_slash_is_refused_before_training(capsys, tmp_path, option, name):
    """pathlib drops the slash: the name passed every check and the write failed after training."""
    path = f"{tmp_path}/{name}"
    err = refused(capsys, "xor", option, path)
    assert err == f"derivax: {option} {path}: names a folder (it ends in /); name a file, e.g. {path[:-1]}"
    assert list(tmp_path.iterdir()) == []


def test_save_to_a_directory(capsys, tmp_path):
    err = refused(capsys, "xor", "--save", str(tmp_path))
    assert err == f"derivax: --save {tmp_path}: is a directory; name a file in it, e.g. {tmp_path / 'params.npz'}"
    assert list(tmp_path.iterdir()) == []


def test_save_without_npz_is_refused_not_renamed(capsys, tmp_path):
    # np.savez would write params.npz for "params": the name asked for is refused instead.
    err = refused(capsys, "xor", "--save", str(tmp_path / "params"))
    assert err == f"derivax: --save {tmp_path / 'params'}: the file name must end in .npz, e.g. {tmp_path / 'params.npz'}"
    assert list(tmp_path.iterdir()) == []


def test_save_below_a_file(capsys, tmp_path):
    (tmp_path / "f").write_text("")
    err = refused(capsys, "xor", "--save", str(tmp_path / "f" / "p.npz"))
    assert err == f"derivax: --save {tmp_path / 'f' / 'p.npz'}: {tmp_path / 'f'} is not a directory"


@pytest.mark.parametrize("name, found", [("loss.xyz", ".xyz"), ("loss", "no ending"), ("loss.npz", ".npz")])
def test_plot_format_matplotlib_does_not_write(capsys, tmp_path, name, found):
    pytest.importorskip("matplotlib")
    from matplotlib.backend_bases import FigureCanvasBase
    err = refused(capsys, "xor", "--plot", str(tmp_path / name))
    assert err.startswith(f"derivax: --plot {tmp_path / name}: expected a file name ending in a format "
                          "matplotlib writes (") and err.endswith(f"), found {found}")
    assert ".png" in err and ".svg" in err and ".pdf" in err
    assert all(f".{f}" in err for f in FigureCanvasBase.get_supported_filetypes())
    assert list(tmp_path.iterdir()) == []


def test_plot_into_a_missing_directory(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "nope" / "loss.png"
    assert refused(capsys, "xor", "--plot", str(path)) == \
        f"derivax: --plot {path}: the directory {path.parent} does not exist"


def test_plot_format_whose_backend_fails_here_is_refused_before_training(capsys, tmp_path, monkeypatch):
    # A format matplotlib lists but cannot write on this machine (.pgf without LaTeX, say): the
    # in-memory trial figure fails, so the run stops before training.
    pytest.importorskip("matplotlib")
    import matplotlib.figure

    def savefig(self, fname, **kw):
        raise RuntimeError("'xelatex' not found;\ninstall it")
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    err = refused(capsys, "xor", "--plot", str(tmp_path / "loss.pgf"))
    assert err == f"derivax: --plot {tmp_path / 'loss.pgf'}: matplotlib cannot write .pgf here: 'xelatex' not found; install it"


def test_files_that_cannot_be_written_after_training_exit_1(capsys, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib.figure
    real = matplotlib.figure.Figure.savefig

    def savefig(self, fname, **kw):  # the trial figure in memory works; the file does not
        if isinstance(fname, str):
            raise OSError(28, "No space left on device")
        return real(self, fname, **kw)

    def savez(path, **arrays):
        raise OSError(13, "Permission denied")
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    monkeypatch.setattr(np, "savez", savez)
    save, plot = tmp_path / "p.npz", tmp_path / "loss.png"
    code, out, err = run_cli(capsys, "xor", "--epochs", "1", "--save", str(save), "--plot", str(plot))
    assert code == 1 and "trained 1 epoch" in out and "saved" not in out and "plotted" not in out
    assert f"derivax: cannot write {save}: Permission denied" in err.splitlines()
    assert f"derivax: cannot write {plot}: No space left on device" in err.splitlines()


# ---- option values: argparse refuses them with the limit and the value ----

@pytest.mark.parametrize("argv, message", [
    (["--seed", "-1"], "a seed must be from 0 to 4294967295, not -1"),
    (["--seed", str(2**64 + 1)], f"a seed must be from 0 to 4294967295, not {2**64 + 1}"),
    (["--seed", "1.5"], "a seed must be an integer, not '1.5'"),
    (["--epochs", "0"], "must be from 1 to 1000000, not 0"),
    (["--epochs", "1000001"], "must be from 1 to 1000000, not 1000001"),
    (["--batch-size", "0"], "must be from 1 to 1000000, not 0"),
    (["--batch-size", "-3"], "must be from 1 to 1000000, not -3"),
    (["--lr", "0"], "must be a finite number > 0, not 0"),
    (["--lr", "-0.5"], "must be a finite number > 0, not -0.5"),
    (["--lr", "nan"], "must be a finite number > 0, not nan"),
    (["--lr", "inf"], "must be a finite number > 0, not inf"),
    (["--lr", "fast"], "must be a number, not 'fast'"),
])
def test_bad_option_values(capsys, argv, message):
    # argparse prints the line (compile.cli.main shapes its prefix): it names the option, the limit, the value.
    code, out, err = run_cli(capsys, "xor", *argv)
    line = err.strip().splitlines()[-1]
    assert code == 2 and out == "" and f"argument {argv[0]}: " in line and message in line


@pytest.mark.parametrize("lr", ["1e-50", "1e300"])
def test_a_learning_rate_float32_cannot_hold(capsys, lr):
    # float32 runs from about 1.18e-38 to 3.4e38: 1e-50 would be a step of 0, 1e300 one of inf.
    assert refused(capsys, "xor", "--lr", lr) == (
        f"derivax: --lr {float(lr):g} is outside float32's range (1.18e-38 to 3.4e+38), the precision "
        "training runs in")


def test_the_largest_seed_trains(capsys):
    code, out, _ = run_cli(capsys, "xor", "--seed", str(2**32 - 1), "--epochs", "1")
    assert code == 0 and f"seed {2**32 - 1};" in out


def test_empty_data_name(capsys):
    assert refused(capsys, "xor", "--data", "") == \
        "derivax: --data needs a path or a built-in data set (xor, linreg, mlp, cnn, cnn1d, rnn, gru, charlm, makemore, gpt), not an empty name"


# ---- the header tells the truth about the batch ----

def test_a_batch_larger_than_the_data_is_reported_as_used(capsys):
    code, out, _ = run_cli(capsys, "xor", "--batch-size", "1000000", "--epochs", "1", "--json")
    header = out.splitlines()[0]
    assert code == 0 and "batch 1000000" not in header
    assert ", batch 4 (all 4 training examples; --batch-size 1000000 asked for more)," in header
    assert json.loads(out.strip().splitlines()[-1])["batch_size"] == 4  # the XOR table has 4 rows


# ---- losses that diverge ----

def history(start, end):
    return History(params={}, opt_state=None, train_loss=[start, end], initial_loss=start)


@pytest.mark.parametrize("start, end, diverged", [
    (0.7, 0.69, False), (0.7, 5.0, False), (0.7, 7.1, True), (0.7, 1e6, True),
    (0.0, DIVERGED_MARGIN / 2, False), (0.0, 1.0, True), (-2.0, 30.0, False)])
def test_diverged_is_far_above_the_start(start, end, diverged):
    assert DIVERGED_RATIO == 10  # the cases above are written for "more than 10 times"
    assert history(start, end).diverged is diverged


def test_a_finite_but_diverging_loss_is_reported(capsys):
    code, out, err = run_cli(capsys, "xor", "--lr", "1e6", "--epochs", "3", "--json")
    result = json.loads(out.strip().splitlines()[-1])
    # Two classes at initialisation: cross-entropy near ln 2; a step of 1e6 throws it far above.
    assert abs(result["initial_loss"] - math.log(2)) < 0.3 and result["final_loss"] > 100
    assert code == 0 and result["diverged"] is True and result["stopped"] is None
    warning = [line for line in err.splitlines() if line.startswith("derivax: warning:")]
    assert warning == [f"derivax: warning: the training loss rose from {result['initial_loss']:.4g} before "
                       f"training to {result['final_loss']:.4g} after it: training diverged; try a smaller "
                       "--lr than 1e+06"]


def test_a_loss_that_falls_is_not_diverged(capsys):
    code, out, err = run_cli(capsys, "linreg", "--epochs", "2", "--json")
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and result["diverged"] is False and "warning" not in err
    assert result["final_loss"] < result["initial_loss"]


def test_a_non_finite_loss_stops_and_exits_1(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "loss.png"
    # y = x with a step of 1e12: the first epoch overflows float32.
    code, out, err = run_cli(capsys, "linreg", "--lr", "1e12", "--epochs", "3", "--plot", str(plot), "--json")
    result = json.loads(out.strip().splitlines()[-1], parse_constant=_no_constant)   # standard JSON: no NaN token
    assert code == 1 and result["epochs"] == 0 and "became inf in epoch 1: stopped" in result["stopped"]
    assert f"derivax: did not write {plot}: no epoch finished, so there is no loss to plot" in err.splitlines()
    assert not plot.exists()


# ---- data that cannot train the network, through the command line ----

def test_targets_outside_0_1_for_cross_entropy(capsys):
    assert refused(capsys, "1-2:tanh-1:sigmoid", "--data", "linreg") == (
        "derivax: training data: the loss bce takes targets in 0..1, but y spans 0..3: for regression "
        "targets use --loss mse")


@pytest.mark.parametrize("arrays, message", [
    (dict(x_train=np.zeros((4, 3)), y_train=np.array([0, 1, 0, 1])),
     "m.npz: the network takes 2 inputs per example, but x_train has 3 features (x_train shape (4, 3))"),
    (dict(x_train=np.zeros((4, 2)), y_train=np.array([0, 1, 2, 1])),
     "m.npz: y_train: labels must be in 0..1 for a network with 2 outputs, found label 2 at index 2 (labels span 0..2)"),
    (dict(x_train=np.zeros((4, 2)), y_train=np.array([0, 0.5, 1, 1])),
     "m.npz: y_train: expected integer class labels, found 0.5 at index 1"),
    (dict(x_train=np.array([[0, 0], [0, np.nan], [0, 0], [0, 0]]), y_train=np.array([0, 1, 0, 1])),
     "m.npz: x_train: expected finite numbers, found 1 NaN or inf value(s), the first at index (1, 1)"),
    (dict(x_train=np.zeros((4, 2)), y_train=np.zeros(3)),
     "m.npz: x_train and y_train differ in length: x_train has 4 examples, y_train has 3"),
    (dict(x_train=np.array(1.0), y_train=np.zeros(4)),
     "m.npz: x_train: expected an array with one entry per example, found a single value (shape ())"),
])
def test_bad_data_files(capsys, tmp_path, arrays, message):
    np.savez(tmp_path / "m.npz", **arrays)
    assert refused(capsys, "2-2:tanh-2:softmax", "--data", str(tmp_path / "m.npz")) == f"derivax: {message}"


def test_a_file_that_is_not_data(capsys, tmp_path):
    (tmp_path / "m.npz").write_text("x,y\n0,1\n")
    err = refused(capsys, "2-2:tanh-2:softmax", "--data", str(tmp_path / "m.npz"))
    assert err.startswith(f"derivax: '{tmp_path / 'm.npz'}' is not an .npz file")


# ---- output paths that are no plain writable file, and the data file itself ----

def test_save_path_too_long(capsys, tmp_path):
    path = tmp_path / ("p" * 300 + ".npz")
    assert refused(capsys, "xor", "--save", str(path)) == f"derivax: --save {path}: File name too long"


def test_save_onto_a_pipe_is_refused(capsys, tmp_path):
    # Writing a pipe nobody reads would block after training; a device would swallow the file.
    import os
    fifo = tmp_path / "p.npz"
    os.mkfifo(fifo)
    assert refused(capsys, "xor", "--save", str(fifo)) == \
        f"derivax: --save {fifo}: the file exists and is not a regular file"


def test_save_through_a_dangling_link_is_refused(capsys, tmp_path):
    link = tmp_path / "p.npz"
    link.symlink_to(tmp_path / "gone" / "p.npz")
    assert refused(capsys, "xor", "--save", str(link)) == \
        f"derivax: --save {link}: a symbolic link to {tmp_path / 'gone' / 'p.npz'}, which does not exist"


def test_save_over_the_data_file_is_refused(capsys, tmp_path):
    data = tmp_path / "d.npz"
    np.savez(data, x_train=np.zeros((4, 2)), y_train=np.array([0, 1, 1, 0]))
    before = data.read_bytes()
    (tmp_path / "link.npz").symlink_to(data)
    for target in (data, tmp_path / "link.npz"):
        err = refused(capsys, "2-2:tanh-2:softmax", "--data", str(data), "--save", str(target))
        assert err == f"derivax: --save {target}: is the --data file; writing it would destroy the training data"
    assert data.read_bytes() == before


# ---- regression targets in a data file ----

def test_a_regression_network_trains_on_real_targets_from_a_file(capsys, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((8, 2))
    np.savez(tmp_path / "r.npz", x_train=x, y_train=x.sum(axis=1) * 10)  # targets 0..20: no labels
    code, out, err = run_cli(capsys, "2-3:tanh-1", "--data", str(tmp_path / "r.npz"), "--epochs", "2",
                             "--lr", "0.01", "--json")
    assert code == 0, err
    assert "data: r.npz: 8 train (2 of them, 20%, held out for testing: the data has no test split) (y read as " \
           "regression targets)" in out
    assert json.loads(out.splitlines()[-1])["train_accuracy"] is None
    # a cross-entropy network reads the same file as labels, and says why it cannot
    err = refused(capsys, "2-3:tanh-1:sigmoid", "--loss", "bce", "--data", str(tmp_path / "r.npz"))
    assert err.startswith("derivax: r.npz: y_train: expected integer class labels, found ")


@pytest.mark.parametrize("option, name", [("--save", "p\0.npz"), ("--plot", "l\0.png"), ("--data", "d\0.npz")])
def test_a_nul_in_a_file_name_is_refused_before_training(capsys, tmp_path, option, name):
    path = str(tmp_path / name)
    err = refused(capsys, "xor", option, path)
    assert err == (f"derivax: {option} {path!r}: a file name cannot hold a NUL character" if option != "--data"
                   else f"derivax: cannot read {path!r}: embedded null byte")


# ---- the network's output size comes from its graph, whatever its last layer ----

def test_a_network_ending_in_a_flatten_trains_to_the_loss_numpy_computes(capsys, tmp_path):
    """3x3x1-conv2k3-flatten ends in a Flatten, which has no units of its own: the output size comes from the
    built graph (2). The trained parameters give, in NumPy, the loss the run reports."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 3, 3, 1)), rng.normal(size=(20, 2))
    np.savez(tmp_path / "img.npz", x=x, y=y)
    code, out, err = run_cli(capsys, "3x3x1-conv2k3-flatten", "--data", str(tmp_path / "img.npz"), "--epochs", "2",
                             "--test-fraction", "0", "--save", str(tmp_path / "c.npz"), "--json")
    assert code == 0, err
    z = np.load(tmp_path / "c.npz")
    pred = np.einsum("nhwc,hwcf->nf", x, z["W1"]) + z["b1"].reshape(1, -1)   # a 3x3 kernel over a 3x3 image
    assert json.loads(out.splitlines()[-1])["final_loss"] == pytest.approx(np.mean(np.sum((pred - y) ** 2, 1)), rel=1e-5)


def test_networks_ending_in_a_normalization_train(capsys, tmp_path):
    """4-ln ends in a layer norm (no activation): trained with mse on one-hot labels, its loss is NumPy's
    layer norm of x with the learned scale and shift; 4-bn trains too."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(24, 4)), rng.integers(0, 4, 24)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    code, out, err = run_cli(capsys, "4-ln", "--data", str(tmp_path / "d.npz"), "--epochs", "2", "--test-fraction",
                             "0", "--save", str(tmp_path / "ln.npz"), "--json")
    assert code == 0, err
    z = np.load(tmp_path / "ln.npz")
    xhat = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    a = xhat * z["gamma1"].reshape(1, -1) + z["beta1"].reshape(1, -1)
    assert json.loads(out.splitlines()[-1])["final_loss"] == pytest.approx(np.mean(np.sum((a - np.eye(4)[y]) ** 2, 1)),
                                                                          rel=1e-4)
    code, out, err = run_cli(capsys, "4-bn", "--data", str(tmp_path / "d.npz"), "--epochs", "1", "--json")
    assert code == 0 and math.isfinite(json.loads(out.splitlines()[-1])["final_loss"]), err


# ---- a network with nothing to train or verify ----

@pytest.mark.parametrize("argv, what", [
    (["train", "3x3x1-flatten", "--data", "{tmp}/img.npz"], "train"),
    (["verify", "3x3x1-flatten"], "verify"),
    (["report", "3x3x1-flatten", "-o", "{tmp}/r.html"], "verify"),
    (["codegen", "4x4x1-pool2-flatten", "-o", "{tmp}/t.py"], "train"),
])
def test_a_network_without_parameters_is_refused_by_name(capsys, tmp_path, argv, what):
    from compile.cli.main import main
    np.savez(tmp_path / "img.npz", x=np.zeros((4, 3, 3, 1)), y=np.zeros((4, 9)))
    rc = main([a.format(tmp=tmp_path) for a in argv])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and err.count("\n") == 1, (rc, out, err)
    assert "has no parameters (its layers: " in err and f"there is nothing to {what}" in err, err
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "t.py").exists()


# ---- output files that would destroy an input ----

def test_an_output_that_is_one_of_the_commands_inputs_is_refused(capsys, tmp_path):
    """predict -o over its --input (the file, a link to it, a folder's x.npy) or the checkpoint, evaluate -o
    over a file of its --data folder, codegen -o over the model's source: refused, every file left as it was."""
    from compile.cli.main import main
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(20, 2)), y=rng.integers(0, 2, 20))
    assert main(["train", "2-3:tanh-2:softmax", "--data", str(tmp_path / "d.npz"), "--epochs", "1",
                 "--save", str(tmp_path / "ck.npz")]) == 0
    np.save(tmp_path / "in.npy", rng.normal(size=(5, 2)))
    (tmp_path / "link.npy").symlink_to(tmp_path / "in.npy")
    (tmp_path / "folder").mkdir()
    np.save(tmp_path / "folder" / "x.npy", rng.normal(size=(5, 2)))
    np.save(tmp_path / "d.npy", rng.normal(size=(5, 2)))
    model = tmp_path / "m.py"
    model.write_text("from derive import Dense, Network\nnet = Network(2, [Dense(3, 'tanh'), Dense(2, 'softmax')])\n")
    capsys.readouterr()
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    net, ck = "2-3:tanh-2:softmax", str(tmp_path / "ck.npz")
    for argv, out, what in [
            (["predict", net, "--load", ck, "--input", "{t}/in.npy", "-o", "{t}/in.npy"], "{t}/in.npy", "the --input file"),
            (["predict", net, "--load", ck, "--input", "{t}/in.npy", "-o", "{t}/link.npy"], "{t}/link.npy",
             "the --input file"),
            (["predict", net, "--load", ck, "--input", "{t}/folder", "-o", "{t}/folder/x.npy"], "{t}/folder/x.npy",
             "the --input file"),
            (["predict", net, "--load", "{t}/d.npy", "--input", "{t}/in.npy", "-o", "{t}/d.npy"], "{t}/d.npy",
             "the --load checkpoint"),
            (["evaluate", net, "--load", ck, "--data", "{t}/folder", "-o", "{t}/folder/x.npy"], "{t}/folder/x.npy",
             "the --data file"),
            (["codegen", str(model), "-o", str(model)], str(model), "the model's own source")]:
        rc = main([a.format(t=tmp_path) for a in argv])
        err = capsys.readouterr().err
        assert rc == 2 and err == f"derivax: {'-o' if argv[0] == 'codegen' else '--output'} {out.format(t=tmp_path)}: " \
            f"is {what}; writing it would destroy it (choose another file name)\n", err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_codegen_writes_python_source_only_to_a_py_file(capsys, tmp_path):
    from compile.cli.main import main
    np.savez(tmp_path / "g.npz", x=np.zeros(3))
    before = (tmp_path / "g.npz").read_bytes()
    assert main(["codegen", "xor", "-o", str(tmp_path / "g.npz")]) == 2
    assert capsys.readouterr().err == f"derivax: -o {tmp_path / 'g.npz'}: the file name must end in .py, e.g. " \
                                      f"{tmp_path / 'g.py'}\n"
    assert (tmp_path / "g.npz").read_bytes() == before and not (tmp_path / "g.py").exists()


# ---- options that would be ignored, and limits said as limits ----

def test_report_refuses_data_it_would_not_use(capsys, tmp_path):
    from compile.cli.main import main
    assert main(["report", "xor", "-o", str(tmp_path / "r.html"), "--data", "xor"]) == 2
    assert "--data is what --epochs trains on; give --epochs N" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("shape, words", [
    ("100000x100000x3", "each size of an input shape must be at most 99999; 100000 is too large"),
    ("28x0x1", "an input shape is 2 or 3 positive sizes joined by 'x' (28x28x1, 40x1), not '28x0x1'"),
    ("28x28", None),
])
def test_an_input_shape_too_large_names_the_limit(shape, words):
    import argparse
    from compile.cli.args import input_shape
    if words is None:
        assert input_shape(shape) == (28, 28)
        return
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(words)):
        input_shape(shape)

"""Training feedback where the output is no terminal: a plain line per epoch (at most about 20), with the
test metrics and the first epoch's compiling said."""
import io

import numpy as np
import pytest


def test_plain_epoch_lines_when_the_output_is_no_terminal():
    from rich.console import Console
    from compile import compile_trainer, fit
    from derive import Dense, Network
    trainer = compile_trainer(Network(2, [Dense(3, "tanh"), Dense(2, "softmax")]), "sgd", 0.1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    y = (x[:, 0] > 0).astype(int)
    buf = io.StringIO()
    fit(trainer, x[:30], y[:30], 60, 10, x_test=x[30:], y_test=y[30:], console=Console(file=buf, force_terminal=False))
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("epoch 1/60: loss ") and "compiling included" in lines[0]
    assert all("test loss" in line and "test accuracy" in line for line in lines)
    assert [line.split(":")[0] for line in lines] == [f"epoch {e}/60" for e in [1] + list(range(3, 61, 3))]


def test_the_plot_shows_test_loss_and_accuracies():
    import matplotlib
    matplotlib.use("Agg")
    from compile.cli.train import _loss_figure
    fig = _loss_figure([1.0, 0.5, 0.3], "net", [1.1, 0.7, 0.5], [0.5, 0.7, 0.9], [0.4, 0.6, 0.8])
    loss_ax, acc_ax = fig.axes
    assert [l.get_label() for l in loss_ax.get_lines()] == ["training loss", "test loss"]
    assert [l.get_label() for l in acc_ax.get_lines()] == ["training accuracy", "test accuracy"]
    regression = _loss_figure([1.0, 0.5], "net", [1.2, 0.6], [None, None], [])
    assert len(regression.axes) == 1


def test_every_commands_help_ends_with_examples_that_parse():
    import shlex
    from compile.cli.main import EXAMPLES, build_parser
    parser = build_parser()
    commands = list(parser._subparsers._group_actions[0].choices)
    assert set(commands) == set(EXAMPLES)
    for name, lines in EXAMPLES.items():
        assert "examples:" in parser._subparsers._group_actions[0].choices[name].format_help()
        for line in lines:
            argv = shlex.split(line)
            assert argv[0] == "derivax" and argv[1] == name
            parser.parse_args(argv[1:])   # SystemExit on any argument the command does not take


def test_plain_lines_say_the_time_left_at_the_pace_after_compiling(monkeypatch):
    """Epoch 1 takes 10 s (compiling), then 2 s each: after epoch 3 of 10, 7 epochs at 2 s are left."""
    import time
    from rich.console import Console
    from compile.train.train import _duration, _progress
    clock = iter([0.0, 10.0, 12.0, 14.0])
    monkeypatch.setattr(time, "perf_counter", lambda: next(clock))
    buf = io.StringIO()
    with _progress(True, Console(file=buf, force_terminal=False), 10) as line:
        for epoch in (1, 2, 3):
            line(epoch, 1.0, None)
    lines = buf.getvalue().splitlines()
    assert lines == ["epoch 1/10: loss 1 (10.0 s for 1 epoch, compiling included)",
                     "epoch 2/10: loss 1 (2.0 s for 1 epoch, about 16 s left)",
                     "epoch 3/10: loss 1 (2.0 s for 1 epoch, about 14 s left)"]
    assert [_duration(s) for s in (5, 60, 125, 3600, 7260)] == ["5 s", "1 min", "2 min 5 s", "1 h 0 min", "2 h 1 min"]


def test_the_parameter_summary_of_a_tiny_network_and_its_count():
    """The table is pinned for a tiny network; the total is the number of values of the initial
    parameters the trainer makes, for networks with shared, scale and recurrent parameters."""
    import math
    from compile import compile_trainer
    from derive import Dense, Network
    from derive.network.examples import resolve
    net = Network(2, [Dense(3, "tanh"), Dense(1, "sigmoid")], loss="bce")
    assert net.build().summary_text() == (
        "layer              output  parameters      count\n"
        "1 dense (tanh)     3       W1 2x3, b1 1x3      9\n"
        "2 dense (sigmoid)  1       W2 3x1, b2 1x1      4\n"
        "13 parameters")
    for name in ("makemore", "gru", "cnn"):
        net = resolve(name)[1]
        model = net.build()
        params = compile_trainer(net, "sgd", 0.1).init_params(0)
        total = sum(math.prod(v.shape) for v in params.values())
        assert model.summary_text().endswith(f"\n{total:,} parameters")
        assert sum(r[3] for r in model.summary()) == total


def test_training_metrics_of_a_large_set_come_from_a_fixed_sample():
    """Above train_sample examples, the per-epoch training loss is the loss on a fixed random sample of that
    many (the same each epoch), computed here from the definitions in NumPy; below it, on all of them."""
    from compile import compile_trainer, fit
    from derive import Dense, Network
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    trainer = compile_trainer(Network(3, [Dense(2, "softmax")]), "sgd", 0.1)
    hist = fit(trainer, x, y, 2, 50, progress=False, train_sample=64, seed=5)
    pick = np.sort(np.random.default_rng(5).permutation(300)[:64])
    p = {k: np.asarray(v, np.float64) for k, v in hist.params.items()}
    z = x[pick] @ p["W1"] + p["b1"]
    logp = z - z.max(1, keepdims=True) - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True))
    assert hist.train_sample == 64
    assert hist.train_loss[-1] == pytest.approx(-logp[np.arange(64), y[pick]].mean(), rel=1e-5)
    assert fit(trainer, x, y, 1, 50, progress=False, train_sample=None).train_sample is None


def test_help_and_argument_parsing_import_neither_sympy_nor_jax():
    """`derivax --help` answers in a fifth of a second: building the parser imports no SymPy, no JAX."""
    import subprocess
    import sys
    code = ("import sys; from compile.cli.main import build_parser; p = build_parser(); "
            "p.parse_args(['train', 'mlp', '--optimizer', 'adamw']); p.parse_args(['verify', 'xor']); "
            "print(sorted(m for m in ('sympy', 'jax', 'derive') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

"""Training feedback where the output is no terminal: a plain line per epoch (at most about 20), with the
test metrics and the first epoch's compiling said."""
import io

import numpy as np


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
    commands = [a for a in parser._subparsers._group_actions[0].choices if a != "examples"]
    assert set(commands) == set(EXAMPLES)
    for name, lines in EXAMPLES.items():
        assert "examples:" in parser._subparsers._group_actions[0].choices[name].format_help()
        for line in lines:
            argv = shlex.split(line)
            assert argv[0] == "derivax" and argv[1] == name
            parser.parse_args(argv[1:])   # SystemExit on any argument the command does not take

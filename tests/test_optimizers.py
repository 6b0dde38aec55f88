"""Optimizers beyond the three derived update rules: optax's by name with their hyper-parameters, and
learning-rate schedules; bad names and keys named."""
import numpy as np
import pytest

from compile import compile_trainer, fit
from compile.train.optim import OptimizerError, make
from derive import Dense, Network

NET = Network(2, [Dense(3, "tanh"), Dense(2, "softmax")])


def _data():
    x = np.random.default_rng(0).normal(size=(40, 2))
    return x, (x[:, 0] > 0).astype(int)


def test_an_optax_optimizer_by_name_trains_with_the_derived_gradients():
    pytest.importorskip("optax")
    trainer = compile_trainer(NET, "adamw", 0.05, weight_decay=1e-3)
    hist = fit(trainer, *_data(), 30, 8, progress=False)
    assert hist.train_loss[-1] < 0.5 * hist.initial_loss


def test_a_schedule_makes_the_rule_come_from_optax():
    optax = pytest.importorskip("optax")
    rule = make("momentum", optax.exponential_decay(0.1, 5, 0.5), beta=0.8)
    assert not hasattr(rule, "step_lines")   # an optax transformation, which applies the schedule
    hist = fit(compile_trainer(NET, rule), *_data(), 10, 8, progress=False)
    assert np.isfinite(hist.train_loss[-1])


@pytest.mark.parametrize("args, words", [
    (("adamw", 0.1), {"nope": 1.0}),
    (("frobnicate", 0.1), {}),
    (("adamw", -1.0), {}),
])
def test_bad_optimizers_are_named(args, words):
    pytest.importorskip("optax")
    with pytest.raises(OptimizerError):
        make(*args, **words)


def test_the_command_line_takes_an_optax_optimizer_and_its_options(capsys):
    pytest.importorskip("optax")
    from compile.cli.main import main
    assert main(["train", "xor", "--optimizer", "rmsprop", "--lr", "0.01", "--opt", "decay=0.95", "--epochs", "5"]) == 0
    assert "rmsprop lr 0.01" in capsys.readouterr().out
    assert main(["train", "xor", "--optimizer", "adamw", "--opt", "nope=1"]) == 2
    assert "adamw takes b1, b2" in capsys.readouterr().err


def test_noisy_sgd_takes_its_key_without_a_library_warning():
    """optax warns when noisy_sgd is made without a key: derivax gives it key 0, as optax drew its noise by default."""
    import warnings
    pytest.importorskip("optax")
    from compile.train.optim import make
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make("noisy_sgd", 0.1)

"""Bad input to `derivax train` and `derivax codegen`, and to the trainer and checkpoints they use: each answered
by one line naming the culprit and exit 2 (a ValueError from Python), before any training, never a traceback,
a wrong result or a failure blamed on another setting."""
import json

import numpy as np
import pytest

from compile.cli.main import main

SPEC = "4-8:tanh-3:softmax"


@pytest.fixture
def good(tmp_path):
    """60 examples of 4 features and 3 classes."""
    r = np.random.default_rng(0)
    path = tmp_path / "good.npz"
    np.savez(path, x=r.normal(size=(60, 4)).astype("f4"), y=r.integers(0, 3, 60))
    return str(path)


def _one_line(capsys, *needles):
    """The command's stderr: one line, starting derivax:, holding every needle and no traceback."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("derivax: "), err
    assert "Traceback" not in err and "TypeError" not in err, err
    for needle in needles:
        assert needle in lines[0], err
    return lines[0]


# --opt: keys that are settings with their own option, or that the optimizer does not take as a number

@pytest.mark.parametrize("optimizer, opt, says", [
    ("sgd", "lr=0.5", "--opt lr=0.5: the learning rate has its own option: --lr 0.5"),
    ("adam", "lr=0.5", "--lr 0.5"),
    ("adamw", "learning_rate=0.01", "--lr 0.01"),
    ("adam", "batch_size=3", "it is set by its own option, --batch-size"),
    ("momentum", "convention=1", "--convention"),
    ("adamw", "mask=1", "mask is no number"),
    ("adamw", "mu_dtype=1", "adamw takes b1, b2"),
])
def test_an_opt_key_that_is_no_hyperparameter_of_the_optimizer_is_named(good, capsys, optimizer, opt, says):
    pytest.importorskip("optax")
    assert main(["train", SPEC, "--data", good, "--epochs", "1", "--optimizer", optimizer, "--opt", opt]) == 2
    _one_line(capsys, says)


# optax's hyperparameters have the ranges derivax's own rules give the same names

@pytest.mark.parametrize("optimizer, opts, says", [
    ("adamw", {"b1": 2.0}, "adamw: b1 must be in [0, 1), not 2.0"),
    ("adamw", {"eps": -1.0}, "adamw: eps must be in (0, 1], not -1.0"),
    ("rmsprop", {"decay": 2.0}, "rmsprop: decay must be in [0, 1), not 2.0"),
    ("rmsprop", {"momentum": 1.0}, "rmsprop: momentum must be in [0, 1), not 1.0"),
    ("lion", {"b2": -0.5}, "lion: b2 must be in [0, 1), not -0.5"),
    ("adadelta", {"rho": 1.5}, "adadelta: rho must be in [0, 1), not 1.5"),
    ("lamb", {"weight_decay": -1e-4}, "lamb: weight_decay must be >= 0, not -0.0001"),
    ("adagrad", {"initial_accumulator_value": -1.0}, "adagrad: initial_accumulator_value must be >= 0"),
    ("adamw", {"nesterov": 0.5}, "adamw: nesterov is a switch: 1 (on) or 0 (off), not 0.5"),
])
def test_optax_hyperparameters_are_range_checked_as_derivax_own(optimizer, opts, says):
    pytest.importorskip("optax")
    from compile.train.optim import OptimizerError, make
    with pytest.raises(OptimizerError) as err:
        make(optimizer, 0.01, **opts)
    assert str(err.value).startswith(says)


def test_a_schedule_checks_the_hyperparameters_of_the_rule_it_replaces():
    optax = pytest.importorskip("optax")
    from compile.train.optim import OptimizerError, make
    with pytest.raises(OptimizerError, match=r"momentum: beta must be in \[0, 1\), not 1.5"):
        make("momentum", optax.exponential_decay(0.1, 5, 0.5), beta=1.5)


# The numeric keywords of optax 0.2's optimizers that derivax offers by name: each must have a range.
KNOWN_NUMBERS = {"b1", "b2", "eps", "eps_root", "decay", "momentum", "weight_decay", "initial_accumulator_value",
                 "initial_scale", "rho", "beta", "trust_coefficient", "min_norm", "eta", "gamma", "threshold"}


def test_every_ranged_optax_hyperparameter_admits_its_default():
    """The table of ranges admits the defaults of every optax optimizer offered by name, and covers the numbers
    they take in the optax this suite knows (0.2.x: eps, b1, b2, decay, momentum, weight_decay, ...); a keyword a
    later optax adds is left unchecked, not refused, so the suite's outcome does not hang on optax's releases."""
    import inspect
    optax = pytest.importorskip("optax")
    from compile.train.optim import _range, _within, make, options
    from compile.train.optimizer_names import OPTAX_OPTIMIZERS
    for name in OPTAX_OPTIMIZERS:
        defaults = {k: p.default for k, p in inspect.signature(getattr(optax, name)).parameters.items()}
        for key, kind in options(name).items():
            if kind == "flag":
                assert isinstance(defaults[key], bool)
                continue
            span = _range(name, key)
            if span is None:
                assert key not in KNOWN_NUMBERS, (name, key)   # one the table must cover
                continue
            if defaults[key] is not None:
                assert _within(defaults[key], span), (name, key, defaults[key])
        make(name, 0.01)   # its defaults, as derivax passes them on


def test_the_command_line_refuses_a_bad_optax_setting_before_training(good, capsys):
    pytest.importorskip("optax")
    assert main(["train", SPEC, "--data", good, "--epochs", "1", "--optimizer", "adamw", "--opt", "b1=2"]) == 2
    _one_line(capsys, "adamw: b1 must be in [0, 1)")
    assert main(["train", SPEC, "--data", good, "--epochs", "1", "--optimizer", "rmsprop", "--opt", "decay=2"]) == 2
    assert "learning rate" not in _one_line(capsys, "rmsprop: decay must be in [0, 1)")


def test_a_hyperparameter_that_rounds_to_zero_in_float32_is_refused(good, capsys):
    assert main(["train", SPEC, "--data", good, "--epochs", "1", "--optimizer", "adam", "--opt", "eps=1e-50"]) == 2
    _one_line(capsys, "--opt eps 1e-50 is outside float32's range")


# codegen: numbers the module's dtype cannot hold, as train refuses them

@pytest.mark.parametrize("option, value", [("--lr", "1e300"), ("--l2", "1e300"), ("--l2", "1e-300")])
def test_codegen_refuses_numbers_outside_float32(tmp_path, capsys, option, value):
    out = tmp_path / "t.py"
    assert main(["codegen", SPEC, option, value, "-o", str(out)]) == 2
    _one_line(capsys, f"{option} {float(value):g} is outside float32's range")
    assert not out.exists()


def test_codegen_takes_the_same_numbers_in_float64(tmp_path, capsys):
    out = tmp_path / "t.py"
    assert main(["codegen", SPEC, "--lr", "1e300", "--dtype", "float64", "-o", str(out)]) == 0
    assert "LR = 1e+300" in out.read_text()


def test_compile_trainer_refuses_settings_its_dtype_cannot_hold():
    from compile import compile_trainer
    from compile.train.optim import OptimizerError
    from derive import Dense, Network
    net = Network(2, [Dense(3, "tanh"), Dense(2, "softmax")])
    with pytest.raises(OptimizerError, match=r"^lr 1e\+300 is outside float32's range"):
        compile_trainer(net, "sgd", 1e300)
    with pytest.raises(OptimizerError, match=r"^eps 1e-50 is outside float32's range"):
        compile_trainer(net, "adam", 0.1, eps=1e-50)
    with pytest.raises(ValueError, match=r"l2 \(the weight decay λ\) 1e\+300 is outside float32's range"):
        compile_trainer(Network(2, [Dense(3, "tanh"), Dense(2, "softmax")], l2=1e300))


# a loss that is not finite before training: said so, with the cause, not blamed on the learning rate

def test_targets_whose_squares_overflow_are_named_not_the_learning_rate(tmp_path, capsys):
    r = np.random.default_rng(0)
    path = tmp_path / "f.npz"
    y = r.normal(size=(60, 1)) * 1e20
    np.savez(path, x=r.normal(size=(60, 4)).astype("f4"), y=y)
    assert main(["train", "4-8:tanh-1", "--data", str(path), "--lr", "1e-30", "--epochs", "2"]) == 2
    line = _one_line(capsys, "the loss is inf at the initial parameters, before any step",
                     f"y's largest magnitude is {np.abs(y[:48]).max():.3g}", "overflow float32")
    assert "smaller learning rate" not in line


def test_a_network_output_that_overflows_names_x():
    from compile import compile_trainer, fit
    from compile.train.data import DataError
    from derive import Dense, Network
    trainer = compile_trainer(Network(2, [Dense(3, "relu"), Dense(1, "identity")], loss="mse"), "sgd", 0.1)
    x = np.full((8, 2), 1e37)
    with pytest.raises(DataError, match=r"the loss is (inf|nan) at the initial parameters.*x's largest magnitude is "
                                        r"1e\+37") as err:
        fit(trainer, x, np.zeros((8, 1)), 1, 8, progress=False)
    assert "learning rate would mend it" in str(err.value)


# a checkpoint's damaged optimizer state: named, refused where the optimizer is the trainer's

@pytest.fixture
def adam_checkpoint(tmp_path):
    from compile import compile_trainer
    from compile.train.checkpoint import save_checkpoint
    from derive import Dense, Network
    trainer = compile_trainer(Network(4, [Dense(8, "tanh"), Dense(3, "softmax")]), "adam", 0.01)
    params = trainer.init_params(0)
    path = tmp_path / "ck.npz"
    save_checkpoint(path, trainer, params, trainer.init_opt_state(params), 1)
    return trainer, dict(np.load(path))


def _damaged(tmp_path, arrays, drop=(), **changes):
    out = {k: v for k, v in arrays.items() if k not in drop}
    out.update({k.replace("__", "/"): v for k, v in changes.items()})
    path = tmp_path / "damaged.npz"
    np.savez(path, **out)
    return path


def _index(trainer, key):
    import jax
    params = trainer.init_params(0)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(trainer.init_opt_state(params))[0]]
    return paths.index(key)


def test_a_missing_optimizer_state_array_is_named(adam_checkpoint, tmp_path):
    from compile.train.checkpoint import load_checkpoint
    from compile.train.data import DataError
    trainer, arrays = adam_checkpoint
    i = _index(trainer, "['nu']['W2']")
    path = _damaged(tmp_path, arrays, drop=(f"opt_state/{i}",))
    with pytest.raises(DataError) as err:
        load_checkpoint(path, trainer)
    assert str(err.value) == (f"{path}: the checkpoint's optimizer state (Adam, this trainer's optimizer) is damaged: "
                              f"opt_state/{i} (the optimizer state's ['nu']['W2']) is missing from the file")


def test_a_misshapen_optimizer_state_array_is_named(adam_checkpoint, tmp_path):
    from compile.train.checkpoint import load_checkpoint
    from compile.train.data import DataError
    trainer, arrays = adam_checkpoint
    i = _index(trainer, "['mu']['W1']")
    path = _damaged(tmp_path, arrays, **{f"opt_state__{i}": arrays[f"opt_state/{i}"].T})
    with pytest.raises(DataError, match=rf"opt_state/{i} \(the optimizer state's \['mu'\]\['W1'\]\) has shape "
                                        r"\(8, 4\), where \(4, 8\) is expected"):
        load_checkpoint(path, trainer)


def test_a_file_without_the_state_record_is_checked_by_its_optimizer_name(adam_checkpoint, tmp_path):
    from compile.train.checkpoint import load_checkpoint
    from compile.train.data import DataError
    trainer, arrays = adam_checkpoint
    facts = json.loads(str(arrays["__derivax__"]))
    del facts["state_tree"]
    path = _damaged(tmp_path, arrays, drop=("opt_state/0",), __derivax__=np.array(json.dumps(facts)))
    with pytest.raises(DataError, match=r"opt_state/0 \(the optimizer state's .*\) is missing"):
        load_checkpoint(path, trainer)


@pytest.mark.parametrize("count", [np.array(2.5), np.array(-1.0), np.array(True)])
def test_a_step_count_must_be_a_whole_number_from_0(adam_checkpoint, tmp_path, count):
    from compile.train.checkpoint import load_checkpoint
    from compile.train.data import DataError
    trainer, arrays = adam_checkpoint
    i = _index(trainer, "['t']")
    path = _damaged(tmp_path, arrays, **{f"opt_state__{i}": count})
    with pytest.raises(DataError, match=rf"opt_state/{i} \(the optimizer state's \['t'\]\) .*count of steps"):
        load_checkpoint(path, trainer)


def test_a_whole_step_count_stored_as_a_float_is_read(adam_checkpoint, tmp_path):
    from compile.train.checkpoint import load_checkpoint
    trainer, arrays = adam_checkpoint
    i = _index(trainer, "['t']")
    state = load_checkpoint(_damaged(tmp_path, arrays, **{f"opt_state__{i}": np.array(2.0)}), trainer)[1]
    assert int(state["t"]) == 2


def test_another_optimizers_state_still_starts_afresh_and_says_whose(adam_checkpoint, tmp_path):
    from compile import compile_trainer
    from compile.train.checkpoint import load_checkpoint
    trainer, arrays = adam_checkpoint
    other = compile_trainer(trainer.net, "momentum", 0.01)
    params, state, facts = load_checkpoint(_damaged(tmp_path, arrays), other)
    assert state is None
    assert facts["state"].startswith("the file's optimizer state (Adam) is not this trainer's optimizer's (momentum)")


def test_an_optax_state_is_checked_as_derivax_own(tmp_path):
    pytest.importorskip("optax")
    from compile import compile_trainer
    from compile.train.checkpoint import load_checkpoint, save_checkpoint
    from compile.train.data import DataError
    from derive import Dense, Network
    trainer = compile_trainer(Network(4, [Dense(8, "tanh"), Dense(3, "softmax")]), "adamw", 0.01)
    params = trainer.init_params(0)
    save_checkpoint(tmp_path / "a.npz", trainer, params, trainer.init_opt_state(params), 1)
    arrays = dict(np.load(tmp_path / "a.npz"))
    with pytest.raises(DataError, match=r"\(adamw, this trainer's optimizer\) is damaged: opt_state/3 .* is missing"):
        load_checkpoint(_damaged(tmp_path, arrays, drop=("opt_state/3",)), trainer)
    assert load_checkpoint(tmp_path / "a.npz", trainer)[2]["state"] == "optimizer state restored"


def test_the_command_line_refuses_a_damaged_state(adam_checkpoint, tmp_path, good, capsys):
    trainer, arrays = adam_checkpoint
    path = _damaged(tmp_path, arrays, drop=("opt_state/5",))
    assert main(["train", SPEC, "--data", good, "--epochs", "1", "--optimizer", "adam", "--lr", "0.01",
                 "--load", str(path)]) == 2
    _one_line(capsys, "opt_state/5", "is missing from the file")


# a built-in CNN given data it cannot take: the data named, and what the network takes

def test_cnn_data_too_small_for_its_layers_names_the_data(good, capsys):
    assert main(["train", "cnn", "--data", good, "--epochs", "1"]) == 2
    line = _one_line(capsys, f"--data {good}: x has shape (60, 4)", "2x2x1 images", "takes 8x8x1 images",
                     "--input HxWxC", "4x4x1")
    assert "MaxPool2D" not in line


def test_cnn_input_too_small_for_its_layers_names_the_input(capsys):
    assert main(["train", "cnn", "--input", "2x2x1", "--epochs", "1"]) == 2
    _one_line(capsys, "--input 2x2x1: the built-in cnn's layers do not fit 2x2x1 images", "4x4x1")

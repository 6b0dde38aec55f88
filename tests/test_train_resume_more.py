"""Resuming: a run resumed from a checkpoint continues the epoch count (and so the shuffling and dropout) of the
run that wrote it, and its settings; a setting given that differs from the checkpoint's is applied and said; a
--seed of its own reaches noisy_sgd's noise; a loss that stops being finite blames the noise scale where the
evidence points at it."""
import argparse
import json

import numpy as np
import pytest

from compile.cli.main import main

CLS = "4-8:tanh-3:softmax"


def _flat(params):
    return np.concatenate([np.asarray(params[k], np.float64).ravel() for k in sorted(params)])


def _meta(path):
    return json.loads(str(np.load(path)["__derivax__"]))


def _rewrite(path, out, **changes):
    """A copy of the checkpoint at ``path`` whose record has ``changes`` (None: the entry removed)."""
    arrays = dict(np.load(path))
    meta = json.loads(str(arrays["__derivax__"]))
    for k, v in changes.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    arrays["__derivax__"] = np.array(json.dumps(meta))
    np.savez(out, **arrays)
    return out


# ---- the epoch count continues: resumed == uninterrupted ----

LR, ETA, SEED = 0.05, 0.05, 3


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """32 training examples of 4 features in 3 classes, 8 for testing (the command line holds none out)."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    folder = tmp_path_factory.mktemp("resume")
    np.savez(folder / "d.npz", x=x[:32], y=y[:32], x_test=x[32:], y_test=y[32:])
    return folder, x[:32], y[:32]


@pytest.fixture(scope="module")
def noisy_cls():
    """4-8:tanh-3:softmax with noisy_sgd: shuffled batches and a random key in the optimizer's state, both to
    continue; the network the command line builds from CLS, with the same settings."""
    pytest.importorskip("optax")
    from compile import compile_trainer
    from derive import Dense, Network
    return compile_trainer(Network(4, [Dense(8, "tanh"), Dense(3, "softmax")]), "noisy_sgd", LR, eta=ETA)


@pytest.fixture(scope="module")
def halves(noisy_cls, data):
    """(4 epochs in one run, 2 epochs saved to a checkpoint, the checkpoint's path): seed 3, batches of 8."""
    from compile import fit
    from compile.train.checkpoint import save_checkpoint
    folder, x, y = data
    whole = fit(noisy_cls, x, y, 4, 8, seed=SEED, progress=False)
    half = fit(noisy_cls, x, y, 2, 8, seed=SEED, progress=False)
    path = folder / "half.npz"
    save_checkpoint(path, noisy_cls, half.params, half.opt_state, history=half)
    return whole, half, path


def test_a_resumed_run_ends_where_the_uninterrupted_run_ends(noisy_cls, data, halves):
    from compile import fit
    from compile.train.checkpoint import load_checkpoint
    trainer, (_, x, y) = noisy_cls, data
    whole, _, path = halves
    params, state, facts = load_checkpoint(path, trainer)
    assert facts["epochs_done"] == 2 and facts["assumed"] == []
    assert facts["settings"] == {"lr": 0.05, "opts": {"eta": 0.05}, "l2": 0.0, "l2_form": "lambda/(2m)",
                                 "reduction": "mean",
                                 "seed": 3, "batch_size": 8, "shuffle": True}
    rest = fit(trainer, x, y, 2, 8, seed=facts["settings"]["seed"], params=params, opt_state=state,
               epochs_done=facts["epochs_done"], progress=False)
    np.testing.assert_allclose(_flat(rest.params), _flat(whole.params), rtol=1e-5, atol=1e-6)
    assert rest.epochs_total == 4
    # counted from 1 again, epochs 3 and 4 would shuffle (and drop out) as epochs 1 and 2 did: another end
    again = fit(trainer, x, y, 2, 8, seed=3, params=params, opt_state=state, progress=False)
    assert np.abs(_flat(again.params) - _flat(whole.params)).max() > 1e-3


def test_a_resumed_runs_progress_lines_count_the_whole_trainings_epochs(noisy_cls, data, halves):
    import io
    from rich.console import Console
    from compile import fit
    from compile.train.checkpoint import load_checkpoint
    trainer, (_, x, y) = noisy_cls, data
    params, state, facts = load_checkpoint(halves[2], trainer)
    out = io.StringIO()
    fit(trainer, x, y, 2, 8, seed=3, params=params, opt_state=state, epochs_done=2,
        console=Console(file=out, force_terminal=False))
    assert [line.split(":")[0] for line in out.getvalue().splitlines()] == ["epoch 3/4", "epoch 4/4"]


def test_a_checkpoint_records_the_epochs_of_every_run(noisy_cls, data, halves, tmp_path):
    from compile import fit
    from compile.train.checkpoint import load_checkpoint, save_checkpoint
    trainer, (_, x, y) = noisy_cls, data
    params, state, facts = load_checkpoint(halves[2], trainer)
    rest = fit(trainer, x, y, 1, 8, seed=3, params=params, opt_state=state, epochs_done=2, progress=False)
    save_checkpoint(tmp_path / "r.npz", trainer, rest.params, rest.opt_state, history=rest)
    meta = _meta(tmp_path / "r.npz")
    assert meta["epochs"] == 1 and meta["epochs_done"] == 3


def test_an_old_checkpoint_without_the_count_is_read_saying_what_was_assumed(noisy_cls, halves, tmp_path):
    from compile.train.checkpoint import load_checkpoint
    trainer = noisy_cls
    old = _rewrite(halves[2], tmp_path / "old.npz", epochs_done=None, settings=None)
    _, state, facts = load_checkpoint(old, trainer)
    assert state is not None and facts["epochs_done"] == 2
    assert facts["assumed"] == ["the checkpoint records no count of epochs across runs (written before derivax "
                                "recorded it): taken to be the 2 epochs of the run that wrote it"]
    older = _rewrite(halves[2], tmp_path / "older.npz", epochs_done=None, settings=None, epochs=None)
    facts = load_checkpoint(older, trainer)[2]
    assert facts["epochs_done"] == 0 and facts["assumed"][0].endswith("(written before derivax recorded it): "
                                                                       "counted from 0")


@pytest.mark.parametrize("change, words", [
    ({"epochs_done": -1}, "epochs_done is -1, not a count of epochs"),
    ({"epochs_done": "two"}, "epochs_done is 'two', not a count of epochs"),
    ({"settings": {"seed": 1.5}}, "settings' seed is 1.5, not a whole number >= 0"),
    ({"settings": {"lr": "fast"}}, "settings' lr is 'fast', not a finite number"),
    ({"settings": [1]}, "settings is [1], not an object"),
])
def test_a_damaged_count_or_setting_is_refused_by_name(noisy_cls, halves, tmp_path, change, words):
    from compile.train.checkpoint import load_checkpoint
    from compile.train.data import DataError
    bad = _rewrite(halves[2], tmp_path / "bad.npz", **change)
    with pytest.raises(DataError) as caught:
        load_checkpoint(bad, noisy_cls)
    assert str(caught.value) == f"{bad}: the checkpoint's metadata (__derivax__) is unreadable: {words}"


# ---- the command line: settings continued, changes said ----

def test_the_command_line_resumes_as_the_uninterrupted_run(noisy_cls, data, halves, capsys, monkeypatch):
    """The checkpoint of 2 epochs (fit's, as the command line writes it: 4-8:tanh-3:softmax, noisy_sgd, eta 0.05,
    lr 0.05, batch 8, seed 3) resumed for 2 with no option but --epochs and --load: the trainer is made with the
    checkpoint's optimizer, rate and options, and ends with the parameters and the noise key of the uninterrupted
    4 epochs. (The trainer of those settings, compiled once for this module, stands in for the one the command
    line would compile: the same network and settings.)"""
    import jax
    import compile.train.train as train
    folder, (whole, _, path) = data[0], halves
    made = []

    def compiled(net, optimizer, lr, **kwargs):
        made.append((optimizer, lr, kwargs))
        return noisy_cls
    monkeypatch.setattr(train, "compile_trainer", compiled)
    assert main(["train", CLS, "--data", str(folder / "d.npz"), "--epochs", "2", "--load", str(path),
                 "--save", str(folder / "rest.npz")]) == 0
    assert made == [("noisy_sgd", LR, {"convention": "rows", "eta": ETA})]
    out = capsys.readouterr().out
    rest = np.load(folder / "rest.npz")
    np.testing.assert_allclose(_flat({k: rest[k] for k in whole.params}), _flat(whole.params), rtol=1e-5, atol=1e-6)
    count, key = jax.tree_util.tree_leaves(whole.opt_state)
    assert int(rest["opt_state/0"]) == int(count) == 16   # 4 epochs of 4 batches
    np.testing.assert_array_equal(rest["opt_state/1"], np.asarray(jax.random.key_data(key)))
    lines = out.splitlines()
    i = lines.index(f"loaded {path}: optimizer state restored")
    assert lines[i + 1:i + 3] == [
        "resuming after epoch 2: this run trains epochs 3 to 4 (the shuffling counts on from there)",
        "continuing the checkpoint's settings (those the command line leaves out): optimizer noisy_sgd, lr 0.05, "
        "batch 8, seed 3, --opt eta=0.05"]
    assert "noisy_sgd lr 0.05, 2 epochs, batch 8, seed 3" in out
    assert _meta(folder / "rest.npz")["epochs_done"] == 4


def _namespace(**given):
    base = {"optimizer": None, "lr": None, "batch_size": None, "seed": None, "shuffle": None}
    return argparse.Namespace(**{**base, **given})


def test_options_given_on_resume_apply_and_are_said_with_the_checkpoints_values():
    from compile.cli.train import resumed_settings
    facts = {"optimizer": "noisy_sgd", "settings": {"lr": 0.05, "opts": {"eta": 0.05}, "seed": 3, "batch_size": 8,
                                                   "shuffle": True}}
    cfg = {"optimizer": "noisy_sgd", "lr": 0.01, "batch_size": 4, "seed": 9, "shuffle": False, "epochs": 1}
    opts = {"eta": 0.1, "gamma": 0.5}
    lines = resumed_settings(_namespace(optimizer="noisy_sgd", lr=0.01, batch_size=4, seed=9, shuffle=False),
                             cfg, opts, facts)
    assert lines == [
        "changed from the checkpoint's settings, from here on: lr 0.01 (the checkpoint's: lr 0.05), batch 4 (the "
        "checkpoint's: batch 8), batches in order (the checkpoint's: shuffled), --opt eta=0.1 (the checkpoint's: "
        "0.05), --opt gamma=0.5 (the checkpoint's: noisy_sgd's default)",
        "seed 9 is not the checkpoint's 3: the epochs to come shuffle and drop out by seed 9, so the run does not go "
        "on as the seed-3 run would have"]
    assert cfg["lr"] == 0.01 and cfg["batch_size"] == 4 and opts == {"eta": 0.1, "gamma": 0.5}
    # another optimizer: its learning rate and options are not taken; the batch size and seed are
    cfg = {"optimizer": "sgd", "lr": 0.1, "batch_size": 32, "seed": 0, "shuffle": True, "epochs": 1}
    opts = {}
    lines = resumed_settings(_namespace(optimizer="sgd"), cfg, opts, facts)
    assert lines == ["continuing the checkpoint's settings (those the command line leaves out): batch 8, seed 3",
                     "changed from the checkpoint's settings, from here on: optimizer sgd (the checkpoint's: "
                     "optimizer noisy_sgd)"]
    assert cfg["lr"] == 0.1 and opts == {}


@pytest.fixture(scope="module")
def noisy():
    """noisy_sgd on a two-layer linear regression (linreg's network) with the noise far too large: eta 1e30."""
    pytest.importorskip("optax")
    from compile import compile_trainer
    from derive import Dense, Network
    return compile_trainer(Network(1, [Dense(1), Dense(1)], loss="mse"), "noisy_sgd", 0.01, eta=1e30)


def test_a_seed_given_on_resume_reaches_the_noise_key(noisy):
    import jax
    from compile.cli.train import resumed_state
    params = noisy.init_params(0)
    state = noisy.init_opt_state(params, 3)
    key = next(leaf for leaf in jax.tree_util.tree_leaves(state) if jax.dtypes.issubdtype(leaf.dtype,
                                                                                         jax.dtypes.prng_key))
    facts = {"settings": {"seed": 3}, "epochs_done": 2, "assumed": []}
    cfg = {"seed": 9, "epochs": 1}
    said = ["seed 9 is not the checkpoint's 3: ..."]
    new, lines = resumed_state(noisy, state, facts, cfg, said)
    keys = [leaf for leaf in jax.tree_util.tree_leaves(new) if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)]
    np.testing.assert_array_equal(jax.random.key_data(keys[0]), jax.random.key_data(jax.random.fold_in(key, 9)))
    assert lines == ["resuming after epoch 2: this run trains epoch 3 (the shuffling counts on from there)",
                     "seed 9 is not the checkpoint's 3: ...; noisy_sgd's noise is drawn by seed 9 too"]
    same, _ = resumed_state(noisy, state, facts, {"seed": 3, "epochs": 1}, [])   # the checkpoint's seed: kept
    assert jax.tree_util.tree_all(jax.tree_util.tree_map(lambda a, b: bool(np.all(
        np.asarray(jax.random.key_data(a) if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key) else a)
        == np.asarray(jax.random.key_data(b) if jax.dtypes.issubdtype(b.dtype, jax.dtypes.prng_key) else b))),
        same, state))


def test_a_loss_setting_that_differs_is_said(noisy_cls):
    from compile.cli.train import resumed_state
    facts = {"settings": {"l2": 0.5, "reduction": "sum"}, "epochs_done": 0, "assumed": []}
    _, lines = resumed_state(noisy_cls, None, facts, {"seed": 0, "epochs": 1}, [])
    assert lines == ["the loss's weight decay λ is 0 here, 0.5 in the checkpoint: this run's applies from here on",
                     "the loss's reduction over the batch is mean here, sum in the checkpoint: this run's applies from "
                     "here on"]


# ---- a loss that stops being finite: the option the evidence points at ----

def test_a_huge_noise_scale_is_named_not_the_learning_rate(noisy):
    from compile import fit
    x = np.arange(4.0).reshape(4, 1)
    hist = fit(noisy, x, x, 2, 4, progress=False)
    # the noise's standard deviation at the first step: lr·√eta = 0.01·1e15
    assert hist.culprit == "eta"
    assert hist.stopped.startswith("the loss became inf in epoch 1: stopped, keeping the parameters from epoch 0 "
                                   "(try a smaller noise scale eta than 1e+30: noisy_sgd's noise moves the "
                                   "parameters by about 1e+13 a step")
    assert "learning rate" not in hist.stopped


def test_a_huge_learning_rate_is_still_named_with_noise_on(noisy):
    """The same evidence with a learning rate of 1e12 and noisy_sgd's own eta (0.01): the gradient's step alone
    is beyond the parameters' size, so the learning rate is named, not the noise. (``culprit`` reads the rate and
    the options from the trainer's record of them.)"""
    import dataclasses
    from compile.train.train import culprit
    x = np.arange(4.0, dtype=np.float32).reshape(4, 1)
    params = noisy.init_params(0)
    steep = dataclasses.replace(noisy, options={"lr": 1e12})
    state = steep.init_opt_state(params, 0)
    assert culprit(steep, params, state, x, x, 4) == ("lr", "try a smaller learning rate")
    assert culprit(noisy, params, state, x, x, 4)[0] == "eta"


def test_the_divergence_warning_names_what_fit_blames(monkeypatch, capsys):
    """The command line's warning for a loss that rose far above its start takes fit's advice where the evidence
    points away from the learning rate (fit's own judgement is tested above; here fit is stood in for, so that no
    step is compiled)."""
    import compile.train.train as train
    advice = "try a smaller noise scale eta than 1e+30: noisy_sgd's noise moves the parameters by about 1e+14 a step"

    def diverged(trainer, x, y, *args, **kwargs):
        params = trainer.init_params(0)
        kwargs["on_start"]()
        return train.History(params, trainer.init_opt_state(params, 0), step_loss=[1e14], train_loss=[1e14],
                             train_accuracy=[0.5], initial_loss=0.7, culprit="eta", advice=advice)
    monkeypatch.setattr(train, "fit", diverged)
    pytest.importorskip("optax")
    assert main(["train", "xor", "--optimizer", "noisy_sgd", "--opt", "eta=1e30", "--epochs", "1"]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if line.startswith("derivax: warning:")]
    assert warning == ["derivax: warning: the training loss rose from 0.7 before training to 1e+14 after it: "
                       f"training diverged; {advice}"]

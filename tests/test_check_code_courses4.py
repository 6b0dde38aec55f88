"""check-code on code that hands its gradients back without returning them: Rashid's neuralNetwork.train and
Trask's loop body update the weights in place and return nothing (each gradient read as (W before - W after) / lr),
and fast.ai's from-the-foundations functions set .g on the parameters. The files are in tests/courses4/; the
verdicts come from derivax's own derivation, and the reading of an update from finite differences of a NumPy loss,
both independent of that code."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from compile import check_code
from compile.cli import main as cli
from derive import Dense, Network

HERE = Path(__file__).parent / "courses4"
HALF_SSE = "(yhat - y)**2/2"


def run(net, fn, **kw):
    kw.setdefault("points", 1)
    return check_code(net, f"{HERE / fn}", **kw)


def _sigmoid_net(*sizes, reduction="sum", bias=False, hidden="sigmoid"):
    return Network(sizes[0], [Dense(sizes[1], hidden, use_bias=bias), Dense(sizes[2], "sigmoid", use_bias=bias)],
                   loss=HALF_SSE, reduction=reduction)


def _wrong(report):
    assert report.error is None, report.error
    return {n: r.message for n, r in report.params.items() if not r.ok}


def _module(name):
    spec = importlib.util.spec_from_file_location(f"courses4_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_an_update_in_place_read_back_is_the_finite_difference_gradient():
    """Rashid's train on one example, its object's wih, who set from W1, W2 (rows) and read back as (before -
    after) / self.lr: the central differences of ½ Σ (σ(σ(x W1) W2) − y)²."""
    from compile.checks import readings as R
    obj = _module("rashid").neuralNetwork(3, 4, 2, 0.3)
    rng = np.random.default_rng(4)
    W1, W2, x, y = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=3), rng.random(2)
    params = R.Params({"W1": W1, "W2": W2})
    reading = R.ObjectReading.of(obj, obj.train, params, {}).bound_to(params)
    got = reading(x, y)

    def J(w1, w2):
        return 0.5 * np.sum((_sigmoid(_sigmoid(x @ w1) @ w2) - y) ** 2)
    for name, W in (("W1", W1), ("W2", W2)):
        fd = np.zeros_like(W)
        for i in np.ndindex(W.shape):
            up, down = W.copy(), W.copy()
            up[i] += 1e-6
            down[i] -= 1e-6
            fd[i] = (J(up, W2) - J(down, W2) if name == "W1" else J(W1, up) - J(W1, down)) / 2e-6
        assert np.allclose(got[name], fd, rtol=1e-6, atol=1e-9), name
    assert reading.update_lr == 0.3 and "lr = 0.3 read from self.lr after its constructor" in reading.said
    assert obj.wih.shape == (4, 3) and not np.allclose(obj.wih, W1.T)   # the constructor's own, back after the call


def test_rashid_train_is_read_as_an_update_with_its_own_lr():
    report = run(_sigmoid_net(3, 4, 1), "rashid.py:neuralNetwork")
    assert report.ok, (report.error, _wrong(report))
    said = " | ".join(report.notes)
    assert "neuralNetwork(inputnodes=3, hiddennodes=4, outputnodes=1, learningrate=0.1) built by its own constructor" \
        in said
    assert "self.wih as W1, self.who as W2" in said and "matched by shape" in said and "as columns" in said
    assert "neuralNetwork.train returned None and updated self.wih, self.who in place" in said
    assert "lr = 0.1 read from self.lr after its constructor" in said


def test_rashid_under_the_mean_is_run_one_example_at_a_time():
    report = run(_sigmoid_net(3, 4, 1, reduction="mean"), "rashid.py:neuralNetwork")
    assert report.ok, (report.error, _wrong(report))
    assert any("its update was the batch's sum, m times the mean's step" in n for n in report.notes), report.notes


@pytest.mark.parametrize("cls, sizes, wrong, words", [
    # the book's own: the output errors sent back without o(1 − o), so wih's step is no gradient step
    ("neuralNetworkBook", (3, 4, 1), {"W1"}, ""),
    ("neuralNetworkNoDerivative", (3, 4, 1), {"W2"}, "the activation's derivative left out at layer 2"),
    ("neuralNetworkWrongLayer", (4, 4, 2), {"W2"}, ""),
    ("neuralNetworkTransposed", (4, 4, 2), {"W1"}, "transposed (its transpose is right)"),
    ("neuralNetworkAscends", (4, 4, 2), {"W1", "W2"}, "a sign error, the update climbs J (user = -ref)"),
])
def test_a_slip_in_rashids_update_is_named_at_its_parameter(cls, sizes, wrong, words):
    found = _wrong(run(_sigmoid_net(*sizes), f"rashid.py:{cls}"))
    assert set(found) == wrong, found
    assert all(words in m for m in found.values()), found


def test_a_network_that_is_not_the_codes_is_said_to_be_so():
    biased = run(_sigmoid_net(3, 4, 1, bias=True), "rashid.py:neuralNetwork")
    assert biased.stopped == "argument" and "b1, b2 have no array in its object" in biased.error
    assert "the network it trains has no biases" in biased.error
    tanh = run(_sigmoid_net(3, 4, 1, hidden="tanh"), "rashid.py:neuralNetwork")
    assert not tanh.ok and any("its query(x) is not the declared network's output" in n for n in tanh.notes)


def test_trasks_loop_body_updates_module_globals_with_no_learning_rate():
    names = {"syn0": "W1", "syn1": "W2"}
    report = run(_sigmoid_net(3, 4, 1), "trask_inplace.py:train_step", names=names)
    assert report.ok, (report.error, _wrong(report))
    said = " | ".join(report.notes)
    assert "train_step returned None and updated syn0, syn1 in place" in said and "lr = 1, as the code holds no" in said
    alpha = run(_sigmoid_net(3, 4, 1), "trask_inplace.py:train_step_alpha", names=names)
    assert alpha.ok and any("lr = 0.5 read from alpha" in n for n in alpha.notes), alpha.notes
    assert set(_wrong(run(_sigmoid_net(3, 4, 1), "trask_inplace.py:train_step_no_deriv", names=names))) == {"W1"}
    up = _wrong(run(_sigmoid_net(3, 4, 1), "trask_inplace.py:train_step_ascends", names=names))
    assert set(up) == {"W1", "W2"} and all(m.startswith("a sign error, the update climbs J") for m in up.values())


def test_a_learning_rate_written_into_the_update_is_hinted_and_given_with_lr():
    names = {"syn0": "W1", "syn1": "W2"}
    report = run(_sigmoid_net(3, 4, 1), "trask_inplace.py:train_step_literal", names=names)
    assert {m for m in _wrong(report).values()} == {"off by a constant factor: user = 0.25 · ref"}
    assert any("--lr 0.25 divides by it" in n for n in report.notes), report.notes
    given = run(_sigmoid_net(3, 4, 1), "trask_inplace.py:train_step_literal", names=names, lr=0.25)
    assert given.ok and any("lr = 0.25 as --lr gives it" in n for n in given.notes), given.notes
    with pytest.raises(ValueError, match="lr, the learning rate an update in place is divided by, must be"):
        run(_sigmoid_net(3, 4, 1), "trask_inplace.py:train_step_literal", names=names, lr=0)


def test_a_batch_update_under_the_mean_and_one_that_changes_nothing():
    names = {"syn0": "W1", "syn1": "W2"}
    mean = run(_sigmoid_net(3, 4, 1, reduction="mean"), "trask_inplace.py:train_step", names=names, points=2)
    assert set(_wrong(mean)) == {"W1", "W2"}
    assert any("m times the mean's: its step goes down J summed over the batch" in n for n in mean.notes), mean.notes
    nothing = run(_sigmoid_net(3, 4, 1), "trask_inplace.py:train_step_nothing", names=names)
    assert nothing.stopped == "result" and "returned None and left nothing behind either" in nothing.error


def test_the_exit_statuses_of_updates_in_place(capsys):
    net = ["3-4:sigmoid:nobias-1:sigmoid:nobias", "--loss", HALF_SSE, "--reduction", "sum", "--points", "1"]
    literal = f"{HERE / 'trask_inplace.py'}:train_step_literal"
    assert cli.main(["check-code", net[0], literal, *net[1:], "--names", "syn0=W1,syn1=W2", "--lr", "0.25"]) == 0
    assert cli.main(["check-code", net[0], literal, *net[1:], "--names", "syn0=W1,syn1=W2"]) == 1
    assert cli.main(["check-code", "3-4:sigmoid-1:sigmoid", f"{HERE / 'rashid.py'}:neuralNetwork", *net[1:]]) == 2
    assert cli.main(["check-code", net[0], literal, *net[1:], "--lr", "0"]) == 2
    assert "--lr: must be a finite number > 0, not 0" in capsys.readouterr().err


def _foundations():
    return Network(3, [Dense(4, "relu"), Dense(1)], loss="mse")


def test_fast_ai_g_attributes_on_a_numpy_subclass():
    report = run(_foundations(), "foundations_g.py:forward_and_backward")
    assert report.ok, (report.error, _wrong(report))
    said = " | ".join(report.notes)
    assert "forward_and_backward returned None and set .g on w1, b1, w2, b2" in said and "(batch,)" in said
    assert set(_wrong(run(_foundations(), "foundations_g.py:forward_and_backward_no_relu_grad"))) == {"W1", "b1"}
    transposed = _wrong(run(_foundations(), "foundations_g.py:forward_and_backward_transposed"))
    assert transposed == {"W1": "wrong shape: found (4, 3) where w1 is (3, 4): transposed"}


def test_g_set_on_plain_numpy_arrays_says_what_numpy_needs():
    report = run(_foundations(), "foundations_g_plain.py:forward_and_backward")
    assert report.stopped == "exception" and "NumPy's arrays take no attributes" in report.error
    assert "class Tensor(np.ndarray): pass" in report.error and "hands x and y in that class" in report.error


def test_fast_ai_g_attributes_on_torch_tensors():
    """The course's own code, in PyTorch: called in this process (a child would import torch again)."""
    pytest.importorskip("torch")
    module = _module("foundations_g_torch")
    report = check_code(_foundations(), module.forward_and_backward, points=1)
    assert report.ok, (report.error, _wrong(report))
    assert any("set .g on w1, b1, w2, b2" in n for n in report.notes), report.notes
    flipped = _wrong(check_code(_foundations(), module.forward_and_backward_flipped, points=1))
    assert set(flipped) == {"W1", "b1", "W2", "b2"} and all("wrong sign" in m for m in flipped.values())
    assert module.w1.shape == (3, 4) and not hasattr(module.w1, "g")   # the file's own, back after the call

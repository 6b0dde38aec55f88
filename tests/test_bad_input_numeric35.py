"""Numeric API gaps: a verification that compared nothing carried through the explorer and the report (not shown
as a plain failure), a batch of no examples and another network's parameters or complex inputs refused by every
trainer function that takes them, losses infinite where the prediction meets the target and activations with a
pole away from the sampled points refused where they are declared, long rows broken without measuring every
place on every line, and a full queue of quick requests answered 429."""
import math
import re

import numpy as np
import pytest

from compile.train.data import DataError
from derive import Dense, Network
from derive.network.functions import NetworkError

PROBLEM = ("the values overflow float64 at the check point (the loss is inf): somewhere they exceed float64's "
           "largest number")


def _overflowing(monkeypatch):
    """compile.checks.verify.verify answering as it does for exp(1000*z): nothing compared, the reason given."""
    import compile.checks.verify as verify_module

    def verify(net, convention="rows", seed=0, m=2, name=None, *args, **kwargs):
        return verify_module.Report(name or "network", convention, m, seed, {}, "not used", PROBLEM)
    monkeypatch.setattr(verify_module, "verify", verify)


def test_the_explorers_verify_says_why_nothing_was_compared(monkeypatch):
    from compile.explore import api
    _overflowing(monkeypatch)
    out = api.verify({"model": "2-3:tanh-1:sigmoid", "loss": "bce"})
    assert out["problem"] == PROBLEM
    assert out["ok"] is False and out["rows"] == []


@pytest.mark.parametrize("suffix", [".md", ".html"])
def test_a_report_that_compared_nothing_says_so_and_exits_2(monkeypatch, tmp_path, capsys, suffix):
    from compile.cli.main import main
    _overflowing(monkeypatch)
    path = tmp_path / f"r{suffix}"
    assert main(["report", "2-3:tanh-1:sigmoid", "--no-steps", "-o", str(path)]) == 2
    err = capsys.readouterr().err
    assert "derivax: nothing was compared: the values overflow float64 at the check point (the loss is inf)" in err
    text = path.read_text(encoding="utf-8")
    assert "NOT CHECKED: the values overflow float64" in text
    if suffix == ".html":   # the frozen page's verdict carries it for its script to show
        assert '"problem": "the values overflow float64' in text or '"problem":"the values overflow float64' in text


def test_a_full_queue_of_derivations_answers_429_as_busy_says():
    from compile.explore.jobs import Busy, Jobs
    jobs = Jobs(max_quick_waiting=0)
    try:
        with pytest.raises(Busy) as info:
            jobs.start("derive", {"model": "xor"})
        assert info.value.status == 429, info.value.message
    finally:
        jobs.close()


@pytest.fixture(scope="module")
def trainer():
    from compile import compile_trainer
    return compile_trainer(Network(2, [Dense(3, "tanh"), Dense(1, "sigmoid")], loss="bce"), optimizer="adam")


@pytest.fixture(scope="module")
def other_params():
    from compile import compile_trainer
    return compile_trainer(Network(2, [Dense(4, "tanh"), Dense(1, "sigmoid")], loss="bce")).init_params(0)


EMPTY = "x: expected at least one example, found none (x shape (0, 2))"


@pytest.mark.parametrize("call", ["train_step", "loss", "grads", "loss_and_grads"])
def test_a_batch_of_no_examples_is_refused_not_nan(trainer, call):
    p = trainer.init_params(0)
    x, y = np.zeros((0, 2), np.float32), np.zeros((0, 1), np.float32)
    args = (p, trainer.init_opt_state(p), x, y) if call == "train_step" else (p, x, y)
    with pytest.raises(DataError, match=rf"^{call}: {re.escape(EMPTY)}"):
        getattr(trainer, call)(*args)


def test_forward_of_no_examples_is_no_prediction(trainer):
    assert np.asarray(trainer.forward(trainer.init_params(0), np.zeros((0, 2), np.float32))).shape == (0, 1)


def test_forward_takes_its_own_parameters_and_computes_as_numpy_does(trainer):
    p = trainer.init_params(0)
    x = np.array([[0.5, -1.0], [2.0, 0.25]], np.float32)
    a1 = np.tanh(x @ np.asarray(p["W1"]) + np.asarray(p["b1"]))
    want = 1 / (1 + np.exp(-(a1 @ np.asarray(p["W2"]) + np.asarray(p["b2"]))))
    np.testing.assert_allclose(np.asarray(trainer.forward(p, x)), want, rtol=1e-5)


def test_forward_refuses_another_networks_parameters(trainer, other_params):
    with pytest.raises(DataError, match=re.escape("params['W1']: has shape (2, 4), where trainer.init_params makes "
                                                  "(2, 3)")):
        trainer.forward(other_params, np.ones((2, 2), np.float32))


@pytest.mark.parametrize("call", ["forward", "loss", "train_step"])
def test_complex_inputs_are_refused_not_truncated(trainer, call):
    p = trainer.init_params(0)
    x, y = np.ones((2, 2), np.float32) + 5j, np.ones((2, 1), np.float32)
    args = {"forward": (p, x), "loss": (p, x, y), "train_step": (p, trainer.init_opt_state(p), x, y)}[call]
    with pytest.raises(DataError, match=rf"^{call}: x: expected real numbers, found complex numbers \(dtype complex"):
        getattr(trainer, call)(*args)


def test_init_opt_state_checks_the_parameters_it_is_given(trainer, other_params):
    with pytest.raises(DataError, match=re.escape("params['W1']: has shape (2, 4)")):
        trainer.init_opt_state(other_params)
    with pytest.raises(DataError, match=r"params: expected a dict with keys W1, b1, W2, b2 .*found None"):
        trainer.init_opt_state(None)


@pytest.mark.parametrize("loss, shown", [("(yhat-y)**-2", "(-y + yhat)**(-2)"), ("-1/abs(yhat-y)", "-1/Abs(-y + yhat)"),
                                         ("1/(yhat-y)", "1/(-y + yhat)")])
def test_a_loss_infinite_where_the_prediction_meets_the_target_is_refused(loss, shown):
    with pytest.raises(NetworkError, match=re.escape(f"loss {shown} is not finite where the prediction equals the "
                                                     "target: at yhat = y = 1/4 it is zoo")):
        Network(2, [Dense(4, "tanh"), Dense(1, "tanh")], loss=loss)


def test_a_loss_largest_where_the_prediction_meets_the_target_is_refused():
    # -|ŷ − y| has no curvature to read at its kink: at ŷ = 1/2 ± 1/100 it is −0.01, below its 0 at ŷ = y
    with pytest.raises(NetworkError, match=re.escape("loss -Abs(-y + yhat) is largest where the prediction equals "
                                                     "the target: at yhat = y = 1/2 it is 0, and -0.01 at yhat = "
                                                     "1/2 ± 1/100")):
        Network(2, [Dense(1, "sigmoid")], loss="-abs(yhat-y)")


@pytest.mark.parametrize("loss", ["mse", "bce", "log(cosh(yhat - y))", "(yhat-y)**2/2", "-y*log(yhat)",
                                  "abs(yhat - y)", "-exp(-(yhat - y)**2)"])
def test_losses_finite_and_smallest_at_the_target_are_taken(loss):
    Network(2, [Dense(1, "sigmoid")], loss=loss)


@pytest.mark.parametrize("act, point", [("log(abs(z-2))", "2"), ("log(abs(z-0.001))", "1/1000"),
                                        ("1/(tanh(z)-0.5)", f"atanh(1/2) ≈ {math.atanh(0.5):.6g}"),
                                        ("log(z+5)", "-5")])
def test_an_activation_with_a_pole_away_from_the_sampled_points_is_refused(act, point):
    with pytest.raises(NetworkError, match=rf"layer 1 \(Dense 3\): activation .* is not a finite number at "
                                           rf"z = {re.escape(point)} \(it is (nan|zoo)\)"):
        Network(2, [Dense(3, act), Dense(1)], loss="mse")


def test_a_pole_sympy_cannot_solve_for_is_found_on_a_grid():
    # z tanh(z) = 1 has no closed form; its positive root is 1.19967864...
    with pytest.raises(NetworkError, match=r"is not a finite number at z = -?1\.19968 \(it is zoo\)"):
        Network(2, [Dense(3, "1/(z*tanh(z)-1)"), Dense(1)], loss="mse")


@pytest.mark.parametrize("act", ["z*sigmoid(z)", "atan(z)", "(relu(z) + 0.5*(exp(-relu(-z)) - 1))", "1/(1+exp(-z))",
                                 "log(1+exp(z))", "z/sqrt(1+z**2)", "log(cosh(z))", "abs(z-2)**1.5"])
def test_activations_without_poles_are_taken(act):
    Network(2, [Dense(3, act), Dense(1)], loss="mse")


def test_a_long_row_is_broken_measuring_each_line_not_the_whole_rest():
    from rich.cells import cell_len
    from derive.printing.breaks import text_lines
    measured = []

    def measure(s):
        measured.append(len(s))
        return cell_len(s)
    right = " + ".join(f"tanh(Z₁ + {i})" for i in range(200))
    lines = text_lines("A₁ = ", right, 100, measure)
    assert " ".join(piece for _, piece in lines) == "A₁ = " + right
    assert all(indent + cell_len(piece) <= 100 for indent, piece in lines)
    # every place on every line measured, as before, is about 1,600 characters a character of the row
    assert sum(measured) < 50 * len(right), sum(measured) / len(right)


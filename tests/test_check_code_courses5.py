"""check-code on more of the courses' code: the initial state's gradient a recurrent layer's backward returns (CS231n's
rnn_backward and lstm_backward dh0, deeplearning.ai's da0), deeplearning.ai's bias gradient without keepdims in its
recurrent cell, a clip read only on enough evidence and a loss named by the function, the error Rashid's book sends
back to the hidden layer, a params dict updated in place, and the messages for code derivax cannot run as written
(MIT 6.036's modules, a class keeping its weights on the object), a loss averaged over the steps, and a gradient whose
derived value is 0. The files are in tests/courses5/; the verdicts come from derivax's own derivation, and the
initial state's reference from central differences of a NumPy loss, both independent of that code."""
from pathlib import Path

import numpy as np
import pytest

from compile import check_code
from compile.cli import main as cli
from derive import Dense, Network
from derive.network.examples import resolve

HERE = Path(__file__).parent / "courses5"


def run(spec, fn, loss=None, **kw):
    kw.setdefault("points", 1)
    net = resolve(spec, loss)[1] if isinstance(spec, str) else spec
    return check_code(net, f"{HERE / fn}", **kw)


def _wrong(report):
    assert report.error is None, report.error
    return {n: r.message for n, r in {**report.params, **report.intermediates}.items() if not r.ok}


# ---- D1: the initial state's gradient, dh0 / da0 ----

def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("spec", ["3x2-rnn4:seq", "3x2-lstm4:seq"])
def test_the_initial_states_reference_is_the_finite_difference_of_the_loss(spec):
    """∂J/∂h⟨0⟩ at h⟨0⟩ = 0 by the derivation (intermediates.initial_state) against central differences of
    J = (1/m) Σ_t Σ h⟨t⟩ ⊙ Y⟨t⟩ written out in NumPy from a state h0."""
    from compile.checks.intermediates import initial_state
    from compile.checks.points import random_point
    from compile.lowering.evaluate import leaf_values
    net = resolve(spec)[1]
    net.loss = "yhat * y"
    d = net.derive("rows")
    p = random_point(d.model, 0, 5)
    name, ref = initial_state(d, leaf_values(d.model, p), 5)
    P, x, y = p.params, p.x, p.y

    def J(h0):
        h, c, total = h0, np.zeros_like(h0), 0.0
        for t in range(x.shape[1]):
            if "rnn" in spec:
                h = np.tanh(x[:, t] @ P["Wxh1"] + h @ P["Whh1"] + P["bh1"].reshape(-1))
            else:
                def gate(k, f):
                    return f(x[:, t] @ P[f"Wx{k}1"] + P[f"bx{k}1"].reshape(-1) + h @ P[f"Wh{k}1"]
                             + P[f"bh{k}1"].reshape(-1))
                i, f, o, g = gate("i", _sigmoid), gate("f", _sigmoid), gate("o", _sigmoid), gate("g", np.tanh)
                c = f * c + i * g
                h = o * np.tanh(c)
            total += np.sum(h * y[:, t])
        return total / len(x)
    fd = np.zeros_like(ref)
    for i in np.ndindex(*ref.shape):
        e = np.zeros_like(ref)
        e[i] = 1e-6
        fd[i] = (J(e) - J(-e)) / 2e-6
    assert name == "h1_at0"
    np.testing.assert_allclose(ref, fd, rtol=1e-6, atol=1e-9)
    assert np.abs(ref).max() > 1e-3


@pytest.mark.parametrize("spec, fn, key, says", [
    ("3x2-rnn4:seq", "cs231n_rnn.py:rnn_backward", "dh0", None),
    ("3x2-rnn4:seq", "cs231n_rnn.py:rnn_backward_zero_dh0", "dh0",
     "all zeros: ∂J/∂h⟨0⟩ is what the first step sends back to the state it starts from, not 0"),
    ("3x2-rnn4:seq", "cs231n_rnn.py:rnn_backward_sign_dh0", "dh0", "wrong sign (user = -ref)"),
    ("3x2-lstm4:seq", "cs231n_rnn.py:lstm_backward", "dh0", None),
    ("3x2-lstm4:seq", "cs231n_rnn.py:lstm_backward_zero_dh0", "dh0",
     "all zeros: ∂J/∂h⟨0⟩ is what the first step sends back to the state it starts from, not 0"),
    ("3x2-rnn4:seq", "dlai_rnn.py:rnn_backward", "da0", None),
    ("3x2-rnn4:seq", "dlai_rnn.py:rnn_backward_zero_da0", "da0",
     "all zeros: ∂J/∂h⟨0⟩ is what the first step sends back to the state it starts from, not 0"),
])
def test_the_initial_states_gradient_a_sequence_backward_returns_is_checked(spec, fn, key, says):
    report = run(spec, fn)
    wrong = _wrong(report)
    assert wrong == ({key: says} if says else {}), wrong
    assert report.intermediates[key].node == "h1_at0"
    assert all(p.ok for p in report.params.values())   # every parameter's gradient is right: dh0 alone is not
    if says:
        assert report.summary().startswith(f"all {len(report.params)} gradients right, but not every intermediate; "
                                           f"the first wrong intermediate in backward order is {key} (∂J/∂h₁⟨0⟩, "
                                           "the initial state's)")


def test_a_zeroed_dh0_exits_1_naming_it(capsys):
    assert cli.main(["check-code", "3x2-rnn4:seq", f"{HERE / 'cs231n_rnn.py'}:rnn_backward_zero_dh0", "--points", "1"]) == 1
    out = capsys.readouterr().out
    assert "WRONG: all 4 gradients right, but not every intermediate; the first wrong intermediate in backward order " \
           "is dh0" in " ".join(out.split())
    assert cli.main(["check-code", "3x2-rnn4:seq", f"{HERE / 'cs231n_rnn.py'}:rnn_backward", "--points", "1"]) == 0
    assert "OK: all 4 gradients and 1 intermediate right" in capsys.readouterr().out


# ---- D2: deeplearning.ai's dba without keepdims ----

def test_a_recurrent_cells_bias_gradient_without_keepdims_is_wrong():
    wrong = _wrong(run("3x2-rnn4:seq", "dlai_rnn.py:rnn_cell_backward_nokeepdims"))
    assert wrong == {"bh1": "wrong shape: found (4,) where ba is (4, 1): the update ba - lr * dba would be (4, 4), "
                            "not (4, 1) (summed without keepdims=True: np.sum(..., axis=1, keepdims=True) keeps the "
                            "column)"}, wrong
    assert run("3x2-rnn4:seq", "dlai_rnn.py:rnn_cell_backward").ok


# ---- D3: no clip read off a hinge's k/m; a loss's name hints at --loss ----

def test_an_svm_loss_checked_under_mse_claims_no_clip_and_is_told_to_declare_the_hinge():
    report = run("4-4", "losses.py:svm_loss", labels="integer", points=3)
    assert _wrong(report).keys() == {"dx"}
    assert not any("clip" in n for n in report.notes), report.notes
    assert ("hint: svm_loss is named for the multiclass SVM (hinge) loss, and the network's loss is mse: check it under "
            "the loss it computes, --loss svm (as 4-4 --loss svm --labels integer)") in report.notes, report.notes


# ---- D4: Rashid's book sends the output errors back without σ′ ----

def test_rashids_book_names_the_output_derivative_missing_from_the_error_sent_back():
    net = Network(3, [Dense(4, "sigmoid", use_bias=False), Dense(1, "sigmoid", use_bias=False)],
                  loss="(yhat - y)**2/2", reduction="sum")
    report = check_code(net, f"{Path(__file__).parent / 'courses4' / 'rashid.py'}:neuralNetworkBook", points=1)
    assert _wrong(report) == {"W1": "the error sent back to layer 1 lacks layer 2's activation derivative: the "
                                    "activation's derivative left out at layer 2 (G passed through as if A = Z)"}


# ---- D5: a params dict updated in place ----

@pytest.mark.parametrize("fn, wrong", [
    ("train_step", set()),
    ("train_step_rebinds", set()),
    ("train_step_wrong_b1", {"b1"}),
])
def test_a_params_dict_updated_in_place_is_read_as_the_update(fn, wrong):
    report = run("3-4:tanh-2", f"params_update.py:{fn}", "mse")
    assert set(_wrong(report)) == wrong
    assert any(n.startswith(f"{fn} returned None and updated params['W1'], params['b1'], params['W2'], params['b2'] in "
                            "place: each gradient read as (W before − W after) / lr, lr = 0.05 read from learning_rate, "
                            "its argument's default") for n in report.notes), report.notes
    assert report.update == 0.05


# ---- D6: messages ----

def test_mit_modules_are_refused_with_what_is_missing(capsys):
    from compile.checks.sandbox import LoadError
    with pytest.raises(LoadError) as linear:
        run("4-4", "mit_modules.py:Linear")
    said = str(linear.value)
    assert linear.value.stopped == "argument"
    assert said.startswith("Linear keeps its parameters as self.W, self.W0, made by its constructor Linear(m, n), whose "
                           "m, n derivax does not give"), said
    assert "Z = WᵀA + W0 on data in columns (features, batch) with W (in, out)" in said
    assert "a layer function without parameters" not in said
    assert cli.main(["check-code", "4-4", f"{HERE / 'mit_modules.py'}:Sequential"]) == 2
    assert "Sequential(modules, loss) runs the modules it is handed (self.modules), which derivax cannot build" \
        in " ".join(capsys.readouterr().err.split())


def test_a_class_keeping_its_weights_on_the_object_is_told_how_to_wrap_it():
    report = run("3-4:tanh-2", "raschka.py:NeuralNetMLP", "mse")
    assert report.stopped == "exception"
    assert ("NeuralNetMLP keeps its weights on the object, as its constructor made them (self.weight_h (4, 3), "
            "self.bias_h (4,), self.weight_out (2, 4), self.bias_out (2,)), the parameters by their shapes (weight_h = "
            "W1ᵀ, bias_h = b1, weight_out = W2ᵀ, bias_out = b2), and NeuralNetMLP.backward(x, a_h, a_out, y) takes "
            "more than derivax hands a method") in report.error, report.error


def test_a_loss_averaged_over_the_steps_too_is_said_so():
    report = run("3x5-td5:softmax", "losses.py:temporal_softmax_steps_loss", labels="integer")
    assert _wrong(report) == {"dx": "off by a constant factor: user = 0.333333 · ref (= 1/3: averaged over the 3 steps "
                                    "as well; J sums the loss over the steps and averages over the batch alone: divide "
                                    "by m, not by m·T)"}


@pytest.mark.parametrize("fn, ok", [("affine_bn_relu_backward", True), ("affine_bn_relu_backward_db", False)])
def test_a_bias_before_batch_norm_is_judged_by_the_absolute_size(fn, ok):
    """The derived gradient of b1 before batch norm is 0: the slip db = Σ dout is off by its own size, and the
    report says so instead of a relative error of 1e11."""
    import json
    report = run("4-3-bn:relu", f"bn_layers.py:{fn}")
    b1 = report.params["b1"]
    assert b1.ok == ok and report.zero_ref == ["b1"]
    assert b1.message.startswith("the derived gradient is 0 here (its entries at most ")
    assert ("rounding): the batch norm after its layer subtracts the batch's mean, and the bias with it; yours "
            + ("is within" if ok else "differs from it by up to")) in b1.message
    shown = json.loads(report.to_json())["params"]["b1"]
    assert shown["reference_zero"] and shown["max_rel_err"] is None
    assert (shown["max_abs_err"] < 1e-12) == ok

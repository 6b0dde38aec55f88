"""check-code on backward code in more public courses' conventions: weights in module globals derivax does not set
(Trask's syn0, syn1; an array held in an object), fast.ai's lower-case globals and (inp, targ) with targets of shape
(batch,), d2l's params unpacked in a function it is handed on to, PyTorch globals with requires_grad, Andrew Ng's
ex4 nnCostFunction with its unrolled Thetas, and gradients returned under keys of the code's own. The files are in
tests/courses3/; the reference is derivax's own derivation, independent of that code."""
from pathlib import Path

import numpy as np
import pytest

from compile import check_code
from derive import Dense, Network

HERE = Path(__file__).parent / "courses3"


def run(net, fn, **kw):
    return check_code(net, f"{HERE / fn}", points=1, **kw)


def _trask():
    return Network(3, [Dense(4, "sigmoid", use_bias=False), Dense(1, "sigmoid", use_bias=False)],
                   loss="(yhat - y)**2/2", reduction="sum")


def _foundations():
    return Network(3, [Dense(4, "relu"), Dense(1)], loss="mse")


def _ng():   # Ng's ex4 network, sigmoid layers under the cross-entropy, with the decay λ/(2m) ΣW²
    return Network(4, [Dense(5, "sigmoid"), Dense(3, "sigmoid")], loss="bce", l2=0.7)


def test_weights_in_globals_derivax_did_not_set_get_no_verdict_and_the_names_that_map_them():
    report = run(_trask(), "trask_globals.py:grads")
    assert report.stopped == "argument" and not report.ok, report.error
    assert "grads reads arrays of its module that derivax did not set: syn0 (3, 4), syn1 (4, 1)" in report.error
    assert "--names syn0=W1,syn1=W2" in report.error
    assert "none is judged" in report.error
    mapped = run(_trask(), "trask_globals.py:grads", names={"syn0": "W1", "syn1": "W2"})
    assert mapped.ok, [(k, r.message) for k, r in mapped.params.items()]


def test_the_exit_status_of_gradients_at_weights_derivax_did_not_choose_is_2(capsys):
    from compile.cli import main as cli
    rc = cli.main(["check-code", "3-4:sigmoid:nobias-1:sigmoid:nobias", f"{HERE / 'trask_globals.py'}:grads",
                   "--loss", "(yhat-y)**2/2", "--reduction", "sum", "--points", "1"])
    out = capsys.readouterr().out
    assert rc == 2 and "--names syn0=W1,syn1=W2" in " ".join(out.split())


def test_a_global_derivax_did_not_set_beside_those_it_did_is_named():
    report = run(_foundations(), "foundations.py:grads_c1")
    assert report.stopped == "argument", report.error
    assert "were set as the module's globals w1, w2, b2" in report.error
    assert "c1 (4,)" in report.error and "--names c1=b1" in report.error


def test_an_array_held_in_an_object_is_named_as_what_derivax_cannot_set():
    report = run(_foundations(), "foundations.py:grads_held")
    assert report.stopped == "argument" and "h1.v (3, 4)" in report.error
    assert "held inside the module's h1" in report.error


def test_fast_ai_lower_case_globals_inp_targ_and_targets_of_one_axis():
    report = run(_foundations(), "foundations.py:grads")
    assert report.ok, (report.error, [(k, r.message) for k, r in report.params.items()])
    said = " | ".join(report.notes)
    assert "called as grads(inp=x, targ=y)" in said and "w1 as W1" in said and "y handed as a vector (batch,)" in said
    bad = run(_foundations(), "foundations.py:grads_bias_not_summed")
    assert {n for n, r in bad.params.items() if not r.ok} == {"b1", "b2"}
    assert "not summed over the batch" in bad.params["b1"].message
    assert not any("--per-example" in n for n in bad.notes), bad.notes


def test_batch_code_run_once_per_example_is_told_to_drop_the_flag():
    report = run(_foundations(), "foundations.py:grads", per_example=True)
    assert report.stopped == "exception"
    assert any("check it without --per-example" in n for n in report.notes), report.notes


def test_params_handed_on_to_a_function_that_unpacks_them_come_as_a_list():
    report = run(_ng(), "d2l_params.py:backward_dict", labels="integer")
    assert report.ok, (report.error, [(k, r.message) for k, r in report.params.items()])
    assert any("backward_dict(params=[W1, b1, W2, b2]" in n for n in report.notes), report.notes


def test_a_dict_unpacked_into_its_keys_is_said_so():
    report = run(_ng(), "d2l_params.py:backward_tuple", labels="integer")
    assert report.stopped == "exception" and "the parameters' dict was unpacked into its keys" in report.error
    assert "W1 = 'W1'" in report.error and "params['W1']" in report.error


def test_torch_globals_keep_their_requires_grad():
    """The file's W and b were made with requires_grad=True: those derivax sets are too, so that l.backward() runs
    (in this process, to spare a child its import of torch); its W.grad against the softmax's gradient by hand."""
    torch = pytest.importorskip("torch")
    import importlib.util
    from compile.checks import readings as R
    spec = importlib.util.spec_from_file_location("torch_autograd_fixture", HERE / "torch_autograd.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(0)
    W, b, X, y = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(5, 4)), np.array([0, 2, 1, 1, 0])
    params = R.Params({"W1": W, "b1": b}, {"W": "W1", "b": "b1"})
    reading = R.GlobalsReading.of(module.backward_autograd, params, params.aliases).bound_to(params)
    out = reading(torch.from_numpy(X), torch.from_numpy(y))
    p = np.exp(X @ W + b)
    p /= p.sum(1, keepdims=True)
    p[range(5), y] -= 1
    assert np.allclose(R.plain(out["W1"]), X.T @ p / 5) and np.allclose(R.plain(out["b1"]), p.sum(0) / 5)
    assert module.W.requires_grad and module.W.shape == (4, 3)   # the file's own, back after the call


def test_ng_ex4_nn_params_unrolled_with_the_bias_in_column_0():
    net = _ng()
    report = run(net, "ng_ex4.py:nnCostFunction", labels="integer")
    assert report.ok, (report.error, [(k, r.message) for k, r in report.params.items()])
    said = " | ".join(report.notes)
    assert "nn_params=[Θ1, Θ2] unrolled" in said and "the loss the function returned equals the network's J" in said
    bad = run(net, "ng_ex4.py:nnCostFunction_bias_reg", labels="integer")
    assert {n for n, r in bad.params.items() if not r.ok} == {"b1", "b2"}


def test_an_unrolled_vector_for_a_network_without_biases_is_refused():
    report = run(_trask(), "ng_ex4.py:nnCostFunction")
    assert report.stopped == "argument" and "unrolled as Ng's ex4 keeps them" in report.error


def test_gradients_under_keys_of_the_codes_own_are_matched_by_shape():
    report = run(_trask(), "trask_globals.py:grads_own_keys")
    assert report.stopped == "result" and not report.ok
    assert "syn0 fits W1 (3, 4), syn1 fits W2 (4, 1)" in report.error and "--names syn0=W1,syn1=W2" in report.error
    mapped = run(_trask(), "trask_globals.py:grads_own_keys", names={"syn0": "W1", "syn1": "W2"})
    assert mapped.ok, [(k, r.message) for k, r in mapped.params.items()]

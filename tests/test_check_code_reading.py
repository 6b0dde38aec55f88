"""check-code's report says what it read and what it did, once: a clip found in the code is checked again as few
times as needed and said in one note; the reading line gives the layout the code was handed (CS231n's channels-first
x and kernels); a layer without parameters is spoken of by its input gradient alone; integer labels handed to code
that takes one-hot Y get a hint with both shapes; a gradient key that spells its parameter only in another case is a
wrong key, as the course's own update would find it.

Each expectation is worked out here from the code under test (what np.clip leaves, what NumPy broadcasts, what a
dict lookup finds), not read back from derivax."""
from pathlib import Path

import numpy as np
import pytest

from compile.checks.code import check_code
from derive.network.examples import resolve

HERE = Path(__file__).parent / "courses"


def _reading(report):
    return next(n for n in report.notes if n.startswith("reading: "))


# ---- a clip found in the code: checked again as few times as needed, said once ----

def _clipping(calls, clip=0.2, missing_m=False, clip_bias=True):
    """A right tanh-then-linear backward (mse) whose gradients np.clip cuts at ±clip (dW2 without its 1/m where
    ``missing_m``, db2 left whole where not ``clip_bias``)."""
    def backward(params, x, y):
        calls.append(len(x))
        W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
        A1 = np.tanh(x @ W1 + b1)
        d2 = 2 * (A1 @ W2 + b2 - y) / x.shape[0]
        d1 = d2 @ W2.T * (1 - A1 ** 2)
        g = {"W1": x.T @ d1, "b1": d1.sum(0), "W2": A1.T @ d2 * (len(x) if missing_m else 1), "b2": d2.sum(0)}
        for k, v in g.items():
            if clip_bias or k != "b2":
                np.clip(v, -clip, clip, out=v)
        return g
    return backward


def test_a_clip_with_an_output_bias_is_checked_again_once_over_and_said_once():
    """db2 = 2·mean(yhat − y): with the parameters scaled down yhat goes to 0 and db2 to −2·mean(y), which does not
    shrink; y is drawn from N(0, 1), so np.clip cuts db2 at every scale. The check again compares db2 as the clip
    leaves it, and stops scaling once what the clip reaches no longer shrinks."""
    calls = []
    report = check_code(resolve("3-4:tanh-2")[1], _clipping(calls), points=2)
    assert report.ok, report.summary()
    said = [n for n in report.notes if "clipped" in n]
    assert len(said) == 1 and "±0.2" in said[0], report.notes
    assert "b2" in said[0], said[0]
    checks = len(calls) // 2                 # two points a check
    assert 2 <= checks <= 3, calls           # the first check, and one or two checks again (not four)


def test_a_slip_under_a_clip_is_still_named():
    """dW2 multiplied by m: once the parameters are small enough for m·dW2 to stay under the clip, it is named."""
    report = check_code(resolve("3-4:tanh-2")[1], _clipping([], missing_m=True), points=2)
    assert {n for n, p in report.params.items() if not p.ok} == {"W2"}, report.summary()
    assert "missing 1/m" in report.params["W2"].message, report.params["W2"].message
    assert len([n for n in report.notes if "clipped" in n]) == 1, report.notes


def test_a_gradient_the_code_leaves_unclipped_is_compared_as_it_is():
    """Only the weights are clipped: db2 past the bound comes back whole, and is right as it is."""
    report = check_code(resolve("3-4:tanh-2")[1], _clipping([], clip_bias=False), points=2)
    assert report.ok, report.summary()
    assert len([n for n in report.notes if "clipped" in n]) == 1, report.notes


def test_a_clip_in_code_called_once_per_example():
    """Nielsen's backprop(x, y), one example a call, each call's gradients clipped: what comes back is the mean of
    the clipped per-example gradients, compared with the mean of each example's derived gradient clipped."""
    calls = []
    inner = _clipping(calls)

    def backprop(params, x, y):
        return inner(params, x[None, :], y[None, :])
    report = check_code(resolve("3-4:tanh-2")[1], backprop, points=2, per_example=True)
    assert report.ok, report.summary()
    assert len([n for n in report.notes if "clipped" in n]) == 1, report.notes


# ---- the reading line: the layout the code was handed ----

@pytest.mark.parametrize("spec, fn, kernels", [
    ("5x5x2-conv3k3s2p1-flatten", "conv_backward_naive", True),
    ("4x4x2-pool2-flatten", "max_pool_backward_naive", False),
])
def test_cs231n_channels_first_layer_functions_are_read_channels_first(spec, fn, kernels):
    """conv_forward_naive(x, w, b, conv_param) takes x (N, C, H, W) and w (F, C, HH, WW)."""
    report = check_code(resolve(spec)[1], f"{HERE / 'layer_functions.py'}:{fn}", points=1)
    assert report.ok, report.summary()
    line = _reading(report)
    assert "x (batch, channels, height, width)" in line and "height, width, channels" not in line, line
    assert ("kernels (F, C, HH, WW)" in line) == kernels and "W (in, out)" not in line, line


def test_a_channels_last_convolution_is_read_channels_last():
    """deeplearning.ai's conv_forward(A_prev, W, b, hparameters): A_prev (m, n_H, n_W, n_C), W (f, f, n_C_prev, n_C)."""
    report = check_code(resolve("5x5x2-conv3k3s2p1-flatten")[1], f"{HERE / 'dlai_conv.py'}:conv_backward", points=1)
    assert report.ok, report.summary()
    line = _reading(report)
    assert "x (batch, height, width, channels)" in line and "kernels (kh, kw, c_in, c_out)" in line, line


def test_cs231n_three_layer_conv_net_is_read_channels_first():
    report = check_code(resolve("4x4x2-conv2k3psame:relu-pool2-flatten-3:relu-2:softmax")[1],
                        f"{HERE / 'cs231n_conv_net.py'}:ThreeLayerConvNet", points=1, labels="integer")
    assert report.ok, report.summary()
    line = _reading(report)
    assert "x (batch, channels, height, width)" in line and "kernels (F, C, HH, WW)" in line, line
    assert "y (batch,) of class indices" in line, line


# ---- a layer without parameters: its input gradient alone ----

@pytest.mark.parametrize("path, fn, grad", [
    ("nnfs_layers.py", "Activation_ReLU", "dinputs"),
    ("layer_functions.py", "relu_backward", "dx"),
])
def test_a_layer_without_parameters_speaks_of_its_input_gradient_alone(path, fn, grad):
    report = check_code(resolve("4-4:relu")[1], f"{HERE / path}:{fn}", points=1)
    assert report.ok and list(report.params) == ["dx"], report.summary()
    said = " | ".join(report.notes)
    for word in ("weights", "biases", "dweights", "dbiases", "d-parameters", "parameters then set", "W (in, out)",
                 "b (out,)"):
        assert word not in said, (word, said)
    assert f"its {grad} compared" in said, said


def test_a_layer_with_parameters_still_speaks_of_them():
    report = check_code(resolve("4-3")[1], f"{HERE / 'nnfs_layers.py'}:Layer_Dense", points=1)
    assert report.ok, report.summary()
    said = " | ".join(report.notes)
    assert "dweights, dbiases" in said and "W (in, out), b (out,)" in said, said


# ---- integer labels handed to code that takes one-hot Y ----

def _dlai(parameters, cache, X, Y):
    """deeplearning.ai's planar backward_propagation, columns: dZ2 = A2 − Y with Y one-hot (classes, m)."""
    m = X.shape[1]
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - Y
    dZ1 = parameters["W2"].T @ dZ2 * (1 - A1 ** 2)
    return {"dW1": dZ1 @ X.T / m, "db1": dZ1.sum(axis=1, keepdims=True) / m,
            "dW2": dZ2 @ A1.T / m, "db2": dZ2.sum(axis=1, keepdims=True) / m}


def test_integer_labels_for_one_hot_columns_get_a_hint_with_both_shapes():
    """A2 (3, m) − y (m,) broadcasts to (3, m) (NumPy aligns the last axes), so nothing fails: every gradient is
    wrong, and the hint says why."""
    assert np.broadcast_shapes((3, 5), (5,)) == (3, 5)
    net = resolve("4-5:tanh-3:softmax")[1]
    report = check_code(net, _dlai, points=2, convention="columns", labels="integer")
    assert report.error is None and not any(p.ok for p in report.params.values()), report.summary()
    hint = [n for n in report.notes if n.startswith("hint:")]
    assert len(hint) == 1 and "(m,)" in hint[0] and "(3, m)" in hint[0] and "one-hot" in hint[0], report.notes
    assert "--labels integer" in hint[0] and "np.eye(3)[y].T" in hint[0], hint[0]
    assert all("one-hot" in p.message for p in report.params.values()), [p.message for p in report.params.values()]
    assert check_code(net, _dlai, points=2, convention="columns").ok   # one-hot, as it takes them


def test_integer_labels_for_one_hot_rows_get_the_hint_too():
    """Rows: P (m, 3) − y (m,) does not broadcast (3 against m), and the code stops; the hint names the shapes."""
    def backward(params, X, Y):
        z = X @ params["W1"] + params["b1"]
        e = np.exp(z - z.max(1, keepdims=True))
        d = (e / e.sum(1, keepdims=True) - Y) / len(X)
        return {"W1": X.T @ d, "b1": d.sum(0)}
    report = check_code(resolve("4-3:softmax")[1], backward, points=1, labels="integer")
    assert report.stopped == "exception", report.summary()
    hint = [n for n in report.notes if n.startswith("hint:")]
    assert len(hint) == 1 and "(m,)" in hint[0] and "(m, 3)" in hint[0], report.notes


def test_code_that_takes_labels_and_slips_gets_no_labels_hint():
    """CS231n's softmax on labels, the 1/N left out: wrong for its own reason, and one-hot y would not help."""
    def backward(params, X, y):
        z = X @ params["W1"] + params["b1"]
        e = np.exp(z - z.max(1, keepdims=True))
        d = e / e.sum(1, keepdims=True)
        d[np.arange(len(X)), y] -= 1
        return {"W1": X.T @ d, "b1": d.sum(0)}
    report = check_code(resolve("4-3:softmax")[1], backward, points=2, labels="integer")
    assert report.error is None and not report.ok
    assert "missing 1/m" in report.params["W1"].message, report.params["W1"].message
    assert not any(n.startswith("hint:") and "label" in n for n in report.notes), report.notes
    # (what is said instead: a summed loss's gradients, which --reduction sum declares)
    assert any(n.startswith("hint: every gradient is m times the mean's") for n in report.notes), report.notes


# ---- a key that spells its parameter only in another case ----

def _keyed(keys, read=("W1", "b1", "W2", "b2")):
    def backward(params, X, y):
        W1, b1, W2, b2 = (params[k] for k in read)
        m = X.shape[0]
        a1 = np.tanh(X @ W1 + b1)
        z2 = a1 @ W2 + b2
        e = np.exp(z2 - z2.max(1, keepdims=True))
        dz2 = (e / e.sum(1, keepdims=True) - y) / m
        dz1 = dz2 @ W2.T * (1 - a1 ** 2)
        return dict(zip(keys, (X.T @ dz1, dz1.sum(0), a1.T @ dz2, dz2.sum(0))))
    return backward


def test_a_key_in_another_case_is_a_wrong_key():
    """The course's update reads grads['db2']: a dict holding 'dB2' raises KeyError there."""
    grads = {"dB2": 1.0}
    with pytest.raises(KeyError):
        grads["db2"]
    report = check_code(resolve("3-4:tanh-2:softmax")[1], _keyed(("dW1", "db1", "dW2", "dB2")), points=1)
    assert {n for n, p in report.params.items() if not p.ok} == {"b2"}, report.summary()
    message = report.params["b2"].message
    assert "wrong key" in message and "'dB2'" in message and "'db2'" in message, message
    assert not any("dB2" in n for n in report.notes if "spelling" in n), report.notes
    assert "dB2" not in report.extra


def test_a_key_spelled_as_the_code_spells_its_parameter_is_right():
    """params['w1'] read and grads['w1'] returned: the code's update params['w1'] -= lr * grads['w1'] finds it."""
    report = check_code(resolve("3-4:tanh-2:softmax")[1], _keyed(("w1", "b1", "dw2", "b2"), ("w1", "b1", "w2", "b2")),
                        points=1)
    assert report.ok, {n: p.message for n, p in report.params.items()}

"""check-code on code in the style of Saito's "Deep Learning from Scratch" and Welch Labs' "Neural Networks
Demystified", named as the books write it, with no adapter. Saito's layers hold the very arrays its constructor put in
self.params (Affine(self.params['W1'], ...)), so the point checked is written into those arrays, not set as a new dict
the layers never see; a class named alone is checked by its gradient(x, t), not by loss(x, t), which is a number;
its SimpleConvNet takes conv_param as a dict; Welch's λ is the constructor's Lambda, Saito's weight_decay_lambda.
The files are in tests/courses6/. The verdicts come from derivax's derivation; that the files' gradients are right is
checked here on their own against central differences of their own loss, independent of derivax."""
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import numeric_gradients

from compile import check_code
from derive import Conv2D, Dense, Flatten, MaxPool2D, Network

HERE = Path(__file__).parent / "courses6"


def dense(sizes, acts, l2=None, l2_form="lambda/(2m)", loss="ce"):
    layers = [Dense(n, a) for n, a in zip(sizes[1:], acts)]
    return Network(sizes[0], layers, loss=loss, l2=l2, l2_form=l2_form)


def conv():
    return Network((6, 6, 2), [Conv2D(3, 3, activation="relu"), MaxPool2D(2), Flatten(), Dense(5, "relu"), Dense(3, "softmax")])


def wrong(report):
    assert report.error is None, report.error
    return sorted(n for n, r in report.params.items() if not r.ok)


def variant(tmp_path, file, old, new):
    """The course folder copied, one line of ``file`` changed: a slip planted in otherwise right code."""
    folder = tmp_path / "course"
    shutil.copytree(HERE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    text = (folder / file).read_text()
    assert text.count(old) == 1
    (folder / file).write_text(text.replace(old, new))
    return folder


@pytest.mark.parametrize("make", ["two", "multi", "conv"])
def test_the_books_gradients_are_right_by_central_differences(make, monkeypatch):
    """The fixtures themselves: gradient(x, t) against central differences of loss(x, t), in float64."""
    monkeypatch.syspath_prepend(str(HERE))
    import saito_nets
    rng = np.random.default_rng(3)
    np.random.seed(3)
    if make == "two":
        net, x = saito_nets.TwoLayerNet(4, 5, 3, weight_init_std=0.5), rng.normal(size=(5, 4))
    elif make == "multi":
        net, x = saito_nets.MultiLayerNet(4, [5, 6], 3, weight_decay_lambda=0.1), rng.normal(size=(5, 4))
    else:
        net = saito_nets.SimpleConvNet((2, 6, 6), {"filter_num": 3, "filter_size": 3, "pad": 0, "stride": 1}, 5, 3,
                                       weight_init_std=0.5)
        x = rng.normal(size=(5, 2, 6, 6))
    t = np.eye(3)[rng.integers(0, 3, 5)]
    own = net.gradient(x, t)

    def loss():   # written out here: the book's own adds 1e-7 inside its log, a difference of 1e-5 at a small ŷ
        z = net.predict(x)
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        decay = sum(np.sum(w ** 2) for k, w in net.params.items() if k.startswith("W"))
        return -np.sum(t * log_p) / len(x) + (0.5 * 0.1 * decay if make == "multi" else 0.0)
    ref = numeric_gradients(lambda _: loss(), net.params)
    for key in net.params:
        assert np.allclose(own[key], ref[key], rtol=1e-5, atol=1e-8), key


def test_a_net_whose_layers_hold_its_arrays_is_checked_at_the_point_given():
    """Named by its class alone: checked by gradient(x, t), with the point's values in the arrays its layers hold.
    Before, the dict was replaced and every gradient came out at the constructor's random weights: 4 of 4 wrong."""
    report = check_code(dense([4, 5, 3], ["relu", "softmax"]), f"{HERE / 'saito_nets.py'}:TwoLayerNet", points=2)
    assert wrong(report) == []
    assert "TwoLayerNet.gradient(x=x, t=y)" in " ".join(report.notes)
    assert "written into the arrays of its own self.params" in " ".join(report.notes)


def test_a_slip_in_a_layer_the_net_is_built_of_is_found(tmp_path):
    folder = variant(tmp_path, "saito_layers.py", "self.dW = np.dot(self.x.T, dout)", "self.dW = 2 * np.dot(self.x.T, dout)")
    report = check_code(dense([4, 5, 3], ["relu", "softmax"]), f"{folder / 'saito_nets.py'}:TwoLayerNet", points=1)
    assert wrong(report) == ["W1", "W2"]
    assert "2 · ref" in report.params["W1"].message


@pytest.mark.parametrize("form, ok", [("lambda/2", True), ("lambda", False)])
def test_saitos_weight_decay_lambda_is_given_the_networks_lambda(form, ok):
    """MultiLayerNet(input_size, hidden_size_list, output_size, weight_decay_lambda): its loss adds (λ/2) ΣW²."""
    report = check_code(dense([4, 5, 6, 3], ["relu", "relu", "softmax"], l2=0.3, l2_form=form),
                        f"{HERE / 'saito_nets.py'}:MultiLayerNet", points=1)
    assert "hidden_size_list=[5, 6]" in " ".join(report.notes) and "weight_decay_lambda=0.3" in " ".join(report.notes)
    assert wrong(report) == ([] if ok else ["W1", "W2", "W3"])


def test_saitos_conv_net_takes_its_conv_param_and_reads_channels_first():
    report = check_code(conv(), f"{HERE / 'saito_nets.py'}:SimpleConvNet.gradient", points=1)
    assert wrong(report) == []
    assert "conv_param={'filter_num': 3, 'filter_size': 3, 'pad': 0, 'stride': 1}" in " ".join(report.notes)


def test_a_slip_in_saitos_convolution_is_found(tmp_path):
    folder = variant(tmp_path, "saito_layers.py", "self.db = np.sum(dout, axis=0)\n        self.dW = np.dot(self.col.T",
                     "self.db = -np.sum(dout, axis=0)\n        self.dW = np.dot(self.col.T")
    report = check_code(conv(), f"{folder / 'saito_nets.py'}:SimpleConvNet.gradient", points=1)
    assert wrong(report) == ["b1"]
    assert "wrong sign" in report.params["b1"].message


@pytest.mark.parametrize("slip, says", [(None, None), ("2 * self.Lambda * self.W2", "W2")])
def test_welchs_lambda_is_the_networks(tmp_path, slip, says):
    """Neural_Network(Lambda=0): (λ/2) ΣW² in its cost, λ W in its gradient. Before, its Lambda was left at 0 and the
    right code was told its weight decay's term was missing."""
    folder = HERE if slip is None else variant(tmp_path, "welch.py", "+ self.Lambda * self.W2", f"+ {slip}")
    net = Network(2, [Dense(3, "sigmoid", use_bias=False), Dense(1, "sigmoid", use_bias=False)], loss="(yhat-y)**2/2",
                  l2=0.05, l2_form="lambda/2")
    report = check_code(net, f"{folder / 'welch.py'}:Neural_Network.costFunctionPrime", points=1)
    assert "Neural_Network(Lambda=0.05)" in " ".join(report.notes)
    assert wrong(report) == ([] if says is None else [says])


def test_code_that_raises_is_reported_with_how_it_was_built_and_called(tmp_path):
    """The error is read against the call and the constructor's arguments: both are said, as for code that runs."""
    folder = variant(tmp_path, "saito_nets.py", "        self.loss(x, t)\n        dout = 1\n",
                     "        self.loss(x, t)\n        dout = 1 + undefined_here\n")
    report = check_code(dense([4, 5, 3], ["relu", "softmax"]), f"{folder / 'saito_nets.py'}:TwoLayerNet", points=1)
    assert "NameError" in report.error
    said = " ".join(report.notes)
    assert "called as TwoLayerNet.gradient(x=x, t=y)" in said
    assert "TwoLayerNet(input_size=4, hidden_size=5, output_size=3) built by its own constructor" in said


def test_a_function_whose_parameters_derivax_does_not_read_is_told_to_be_wrapped(tmp_path):
    """Brownlee's backward_propagate_error(network, expected), a network of neuron dicts: called as fn(params, x, y),
    it fails; the report says which of its names derivax does not read and what a wrapper is to do."""
    (tmp_path / "bp.py").write_text(
        "def backward_propagate_error(network, expected):\n"
        "    for i in reversed(range(len(network))):\n"
        "        for neuron in network[i]:\n"
        "            neuron['delta'] = 0.0\n")
    report = check_code(dense([2, 3, 2], ["sigmoid", "sigmoid"], loss="(yhat-y)**2/2"),
                        f"{tmp_path / 'bp.py'}:backward_propagate_error", points=1)
    assert "takes 2 positional arguments but 3 were given" in report.error
    assert "backward_propagate_error takes (network, expected), none of them a name derivax reads" in report.error
    assert "wrap it in a function backward(params, x, y)" in report.error


SQUARED = """import numpy as np
def sigmoid(z):
    return 1 / (1 + np.exp(-z))
def backward(params, x, y):
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    a2 = sigmoid(a1 @ params["W2"] + params["b2"])
    d2 = (a2 - y) * a2 * (1 - a2)          # the quadratic cost's delta, (yhat - y)**2/2
    d1 = d2 @ params["W2"].T * a1 * (1 - a1)
    m = {m}
    return {{"W1": x.T @ d1 / m, "b1": d1.sum(0) / m, "W2": a1.T @ d2 / m, "b2": d2.sum(0) / m}}
"""


def test_a_squared_error_checked_under_the_default_loss_is_told_to_declare_it(tmp_path, capsys):
    """Brownlee's and Welch's nets compute (yhat − y)²/2; without --loss a sigmoid output takes bce: the report names
    the factor σ′ and, as the loss was not given, says how to declare the code's."""
    from compile.cli import main as cli
    (tmp_path / "sq.py").write_text(SQUARED.format(m="len(x)"))
    assert cli.main(["check-code", "2-3:sigmoid-2:sigmoid", f"{tmp_path / 'sq.py'}:backward", "--points", "1"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "hint: no --loss was given, so the network's loss is binary cross-entropy (bce)" in out
    assert '--loss "(yhat-y)**2/2"' in out
    assert cli.main(["check-code", "2-3:sigmoid-2:sigmoid", f"{tmp_path / 'sq.py'}:backward", "--points", "1",
                     "--loss", "(yhat-y)**2/2"]) == 0
    assert "hint" not in capsys.readouterr().out


def test_gradients_of_a_summed_loss_are_told_of_reduction_sum(tmp_path):
    (tmp_path / "sq.py").write_text(SQUARED.format(m="1"))
    net = dense([2, 3, 2], ["sigmoid", "sigmoid"], loss="(yhat-y)**2/2")
    report = check_code(net, f"{tmp_path / 'sq.py'}:backward", points=1)
    assert wrong(report) == ["W1", "W2", "b1", "b2"]
    assert any(n.startswith("hint: every gradient is m times the mean's") and "--reduction sum" in n
               for n in report.notes)
    summed = Network(2, [Dense(3, "sigmoid"), Dense(2, "sigmoid")], loss="(yhat-y)**2/2", reduction="sum")
    assert wrong(check_code(summed, f"{tmp_path / 'sq.py'}:backward", points=1)) == []


def test_a_function_whose_parameters_derivax_reads_in_part_is_told_which_it_does_not(tmp_path):
    (tmp_path / "mlp.py").write_text("def backward(y, y_pred):\n    return {}\n")
    report = check_code(dense([2, 3, 2], ["sigmoid", "softmax"]), f"{tmp_path / 'mlp.py'}:backward", points=1)
    assert "backward takes (y, y_pred), y_pred is no name derivax reads" in report.error

"""More of the courses' conventions, checked as they are written: CS231n's channels-first sandwich layer
conv_relu_pool_backward, spatial_batchnorm_backward, ThreeLayerConvNet, FullyConnectedNet with batch or layer
norm and seeded dropout, temporal_softmax_loss under a real mask; nnfs's loss classes; deeplearning.ai's
pool_backward in both modes. Each correct version (tests/courses/) is right, and each usual slip is named; the
reference is derivax's derivation and jax.grad of the declared network, independent of that code."""
import shutil
from pathlib import Path

import numpy as np
import pytest

from compile import check_code
from derive.network.examples import resolve

HERE = Path(__file__).parent / "courses"


def _check(tmp_path, name, spec, fn, edit=None, loss=None, points=1, **kw):
    path = HERE / name
    if edit is not None:
        text = path.read_text()
        assert edit[0] in text, edit[0]
        path = tmp_path / name
        path.write_text(text.replace(*edit))
        if name != "layer_functions.py":   # the layers a course file imports, beside it
            shutil.copy(HERE / "layer_functions.py", tmp_path)
    return check_code(resolve(spec, loss)[1], f"{path}:{fn}", points=points, **kw)


def _wrong(report):
    assert report.error is None, report.error
    return {k for k, r in report.params.items() if not r.ok}


@pytest.mark.parametrize("edit, wrong", [
    (None, set()),
    # the pooling's routing left out: dout spread over every window's entries
    (("dr = max_pool_backward_naive(dout, pool_cache)", "dr = dout.repeat(2, axis=2).repeat(2, axis=3)"),
     {"W1", "b1", "dx"}),
])
def test_cs231n_conv_relu_pool_gets_both_the_convolutions_and_the_poolings_parameters(tmp_path, edit, wrong):
    report = _check(tmp_path, "cs231n_conv_net.py", "4x4x2-conv2k3p1:relu-pool2-flatten", "conv_relu_pool_backward",
                    edit)
    assert _wrong(report) == wrong


@pytest.mark.parametrize("edit, wrong", [
    (None, set()),
    (("(n * dxhat - dxhat.sum(axis=0) - ", "(n * dxhat - "), {"dx"}),     # the path through the mean left out
])
def test_cs231n_spatial_batchnorm_in_its_channels_first_layout(tmp_path, edit, wrong):
    report = _check(tmp_path, "cs231n_conv_net.py", "3x3x2-bn-flatten", "spatial_batchnorm_backward", edit)
    assert _wrong(report) == wrong


def test_group_norm_is_said_to_be_no_layer_derivax_declares(tmp_path):
    path = tmp_path / "gn.py"
    path.write_text("def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):\n    return x, None\n\n"
                    "def spatial_groupnorm_backward(dout, cache):\n    return dout, 0, 0\n")
    report = check_code(resolve("3x3x2-bn-flatten")[1], f"{path}:spatial_groupnorm_backward", points=1)
    assert report.error and "normalizes over groups of channels (group norm), a layer derivax does not declare" \
        in report.error, report.error


@pytest.mark.parametrize("edit, wrong", [(None, set()), (("    dx *= keep[:, None]\n", ""), {"dx"})])
def test_temporal_softmax_loss_under_a_real_mask(tmp_path, edit, wrong):
    """The mask is no longer all ones: a dx that ignores it is wrong at the padded steps, and the loss over the
    counted steps is the network's J with those steps' targets left out."""
    report = _check(tmp_path, "layer_functions.py", "3x5-td5:softmax", "temporal_softmax_loss", edit,
                    labels="integer")
    assert _wrong(report) == wrong
    assert "the loss the function returned equals the network's J at every point" in report.notes
    assert any("the mask a real one" in n for n in report.notes), report.notes
    if wrong:
        assert report.params["dx"].message.startswith("the mask left out of dx")


@pytest.mark.parametrize("spec, edit, wrong", [
    ("4-5-bn:relu-4-bn:relu-3:softmax", None, set()),       # gamma1, W2 in its own names: derivax's gamma2, W3
    ("4-5-ln:relu-3:softmax", None, set()),                 # normalization="layernorm"
    ("4-5-bn:relu-3:softmax", ("- dxhat.mean(axis=axis, keepdims=True)\n          ", ""), {"W1", "b1"}),
])
def test_cs231n_fully_connected_net_with_normalization(tmp_path, spec, edit, wrong):
    report = _check(tmp_path, "cs231n_fc_net.py", spec, "FullyConnectedNet", edit, labels="integer")
    assert _wrong(report) == wrong
    if "4-bn" in spec:
        assert any("gamma2 for gamma4" in n and "W3 for W5" in n for n in report.notes), report.notes


@pytest.mark.parametrize("edit, wrong", [(None, set()), (("dh = dh * mask", "dh = dh"), {"W1", "b1"})])
def test_cs231n_fully_connected_net_with_seeded_dropout(tmp_path, edit, wrong):
    """dropout_keep_ratio and seed go to its constructor; derivax draws the masks its dropout_forward draws."""
    report = _check(tmp_path, "cs231n_fc_net.py", "4-5:relu:drop0.5-3:softmax", "FullyConnectedNet", edit,
                    labels="integer")
    assert _wrong(report) == wrong
    assert any("dropout_keep_ratio=0.5 and seed=s handed to its constructor" in n for n in report.notes)
    if wrong:
        assert "the dropout mask left out" in report.params["W1"].message


@pytest.mark.parametrize("edit, wrong", [(None, set()), (("da = dr * (a > 0)", "da = dr"), {"W1", "b1"})])
def test_cs231n_three_layer_conv_net_channels_first(tmp_path, edit, wrong):
    report = _check(tmp_path, "cs231n_conv_net.py", "4x4x2-conv2k3psame:relu-pool2-flatten-3:relu-2:softmax",
                    "ThreeLayerConvNet", edit, labels="integer")
    assert _wrong(report) == wrong
    assert any("channels first" in n for n in report.notes), report.notes
    if not wrong:
        assert "the loss the function returned equals the network's J at every point" in report.notes


@pytest.mark.parametrize("cls, spec, loss, labels, edit, wrong, says", [
    ("Activation_Softmax_Loss_CategoricalCrossentropy", "4-4:softmax", None, "integer", None, set(), None),
    ("Activation_Softmax_Loss_CategoricalCrossentropy", "4-4:softmax", None, "onehot",
     ("        self.dinputs = self.dinputs / samples\n\n\nclass Loss_Binary", "\n\nclass Loss_Binary"), {"dx"},
     "missing 1/m"),
    ("Activation_Softmax_Loss_Combined", "4-4:softmax", None, "onehot", None, set(), None),    # backward alone
    ("Loss_CategoricalCrossentropy", "4-4:softmax", None, "integer", None, set(), None),
    ("Loss_CategoricalCrossentropy", "4-4:softmax", None, "onehot", ("-y_true / dvalues", "-y_true * dvalues"),
     {"dx"}, None),
    ("Loss_BinaryCrossentropy", "1-1:sigmoid", "bce", "onehot", None, set(), None),
    ("Loss_BinaryCrossentropy", "3-3:sigmoid", "bce", "onehot", None, {"dx"}, "your loss averages over the 3 outputs"),
    ("Loss_MeanSquaredError", "2-2", "(yhat - y)**2/2", "onehot", None, set(), None),
])
def test_nnfs_loss_classes(tmp_path, cls, spec, loss, labels, edit, wrong, says):
    """backward(dvalues, y_true): the combined class's dinputs against ∂J/∂Z by jax.grad, a loss alone's against
    ∂J/∂A of the output layer (W the identity); the mean of what forward returns against J."""
    report = _check(tmp_path, "nnfs_losses.py", spec, cls, edit, loss=loss, labels=labels)
    assert _wrong(report) == wrong
    if says:
        assert says in report.params["dx"].message, report.params["dx"].message
    if not wrong and not cls.endswith("Combined"):   # (a class without forward returns no loss)
        assert "the loss the function returned equals the network's J at every point" in report.notes


def test_the_loss_classes_are_the_gradients_of_their_losses_in_the_prediction():
    """What makes their verdict "right" right: each loss class's dinputs is the gradient, in the prediction, of the
    mean of what its forward returns (the J check-code compares them under), by central differences."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("nnfs_losses", HERE / "nnfs_losses.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(0)
    pred = rng.uniform(0.1, 0.9, size=(5, 3))
    target = np.eye(3)[rng.integers(0, 3, size=5)]
    for name in ("Loss_CategoricalCrossentropy", "Loss_BinaryCrossentropy", "Loss_MeanSquaredError"):
        obj = getattr(module, name)()
        obj.backward(pred.copy(), target)
        numeric = np.zeros_like(pred)
        for i in np.ndindex(pred.shape):
            step = np.zeros_like(pred)
            step[i] = 1e-6
            numeric[i] = (np.mean(obj.forward(pred + step, target)) - np.mean(obj.forward(pred - step, target))) / 2e-6
        np.testing.assert_allclose(obj.dinputs, numeric, rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("spec, edit, wrong", [
    ("4x4x2-avgpool2-flatten", None, set()),
    ("4x4x2-avgpool2-flatten", ("np.ones(shape) * dz / (n_H * n_W)", "np.ones(shape) * dz"), {"dx"}),
])
def test_deeplearning_ai_pool_backward_in_the_declared_mode(tmp_path, spec, edit, wrong):
    report = _check(tmp_path, "dlai_pool.py", spec, "pool_backward", edit)
    assert _wrong(report) == wrong


def _makemore():
    from derive import BatchNorm, Dense, Embedding, Flatten, Network
    return Network(2, [Embedding(4, 2), Flatten(), Dense(3), BatchNorm("tanh", variance="unbiased"),
                       Dense(4, "softmax")], loss="ce")


STEPS = ["dlogprobs", "dprobs", "dcounts_sum_inv", "dcounts_sum", "dcounts", "dnorm_logits", "dlogit_maxes", "dlogits",
         "dh", "dhpreact", "dbnraw", "dbnvar_inv", "dbnvar", "dbndiff2", "dbndiff", "dbnmeani", "dhprebn", "dembcat",
         "demb"]


@pytest.mark.parametrize("edit, first", [
    (None, None),
    # the sum over the row left out: the first wrong step is counts_sum_inv's, not the logits' further on
    (("dcounts_sum_inv = (counts * dprobs).sum(1, keepdims=True)", "dcounts_sum_inv = (counts * dprobs)"),
     "dcounts_sum_inv"),
    (("dbnvar_inv = (bndiff * dbnraw).sum(0, keepdims=True)", "dbnvar_inv = (bndiff * dbnraw)"), "dbnvar_inv"),
])
def test_the_makemore_exercises_own_steps_are_checked_in_their_place(tmp_path, edit, first):
    """Every name of the exercise is compared, those that are no node of derivax's derivation too (their references
    formed from its adjoints as the exercise's forward pass splits the softmax and the variance), in the exercise's
    order, and the first wrong one is the step with the slip."""
    path = HERE / "makemore_steps.py"
    if edit is not None:
        text = path.read_text()
        assert edit[0] in text
        path = tmp_path / "makemore_steps.py"
        path.write_text(text.replace(*edit))
    report = check_code(_makemore(), f"{path}:backward", points=1, labels="integer")
    assert report.error is None, report.error
    assert list(report.intermediates) == STEPS
    assert not report.extra
    # dlogprobs is −1/n at every target, a round number by itself: no sign of gradients clipped at ±1/n
    assert not any("clipped" in n for n in report.notes), report.notes
    if first is None:
        assert report.ok, report.summary()
    else:
        assert report.first_wrong is not None and report.first_wrong.name == first, report.summary()


def test_a_module_of_a_package_that_imports_relatively_loads_as_part_of_it(tmp_path):
    """CS231n's layer_utils.py (from .layers import *) and classifiers/fc_net.py (from ..layers import *): loaded as
    modules of their package, not as scripts."""
    package = tmp_path / "cs231n"
    (package / "classifiers").mkdir(parents=True)
    for init in (package / "__init__.py", package / "classifiers" / "__init__.py"):
        init.write_text("")
    (package / "layers.py").write_text((HERE / "layer_functions.py").read_text())
    (package / "layer_utils.py").write_text(
        "from .layers import *\n\n\ndef affine_relu_forward(x, w, b):\n    a, fc_cache = affine_forward(x, w, b)\n"
        "    out, relu_cache = relu_forward(a)\n    return out, (fc_cache, relu_cache)\n\n\n"
        "def affine_relu_backward(dout, cache):\n    fc_cache, relu_cache = cache\n"
        "    return affine_backward(relu_backward(dout, relu_cache), fc_cache)\n")
    (package / "classifiers" / "fc_net.py").write_text(
        "import numpy as np\n\nfrom ..layers import *\nfrom ..layer_utils import *\n\n\nclass TwoLayerNet:\n"
        "    def __init__(self, input_dim=3072, hidden_dim=100, num_classes=10, weight_scale=1e-3, reg=0.0):\n"
        "        self.reg, self.params = reg, {}\n\n"
        "    def loss(self, X, y=None):\n        P = self.params\n"
        "        h, c1 = affine_relu_forward(X, P['W1'], P['b1'])\n        scores, c2 = affine_forward(h, P['W2'], P['b2'])\n"
        "        loss, ds = softmax_loss(scores, y)\n        grads = {}\n"
        "        dh, grads['W2'], grads['b2'] = affine_backward(ds, c2)\n"
        "        _, grads['W1'], grads['b1'] = affine_relu_backward(dh, c1)\n        return loss, grads\n")
    layer = check_code(resolve("4-3:relu")[1], f"{package / 'layer_utils.py'}:affine_relu_backward", points=1)
    assert layer.error is None and layer.ok, layer.summary()
    net = check_code(resolve("4-5:relu-3:softmax")[1], f"{package / 'classifiers' / 'fc_net.py'}:TwoLayerNet", points=1,
                     labels="integer")
    assert net.error is None and net.ok, net.summary()


@pytest.mark.parametrize("cls, spec, edit, says", [
    ("Activation_Sigmoid", "3-3:sigmoid", ("dvalues * (1 - self.output) * self.output", "dvalues * (1 - self.output)"),
     "the activation's derivative written as 1 − A"),
    ("Activation_Softmax", "3-3:softmax", ("np.diagflat(single_output) - np.dot(single_output, single_output.T)",
                                          "np.diagflat(single_output * (1 - single_output))"),
     "softmax's Jacobian reduced to its diagonal"),
])
def test_an_activation_classs_mistyped_derivative_is_named(tmp_path, cls, spec, edit, says):
    """The layer's dinputs is ∂J/∂Z of the square layer whose W is the identity: a derivative mistyped is named as
    it is for a parameter, not only found different."""
    report = _check(tmp_path, "nnfs_activations.py", spec, cls, edit)
    assert _wrong(report) == ({"dx"} if says else set())
    if says:
        assert report.params["dx"].message.startswith(says), report.params["dx"].message


@pytest.mark.parametrize("edit, wrong", [(None, set()), (("dw = np.dot(X, (A - Y).T) / m", "dw = np.dot(X, (A - Y).T)"),
                                                          {"W1"})])
def test_deeplearning_ai_logistic_regression_takes_its_weights_as_a_column(tmp_path, edit, wrong):
    """propagate(w, b, X, Y): w is W1ᵀ, (n_x, 1), and its dw is read back as W1's gradient."""
    report = _check(tmp_path, "dlai_logistic.py", "4-1:sigmoid", "propagate", edit, loss="bce", convention="columns")
    assert _wrong(report) == wrong
    assert any("propagate(w=W1ᵀ (a column), b=b1, X=x, Y=y)" in n for n in report.notes), report.notes
    assert "the loss the function returned equals the network's J at every point" in report.notes
    if wrong:
        assert "missing 1/m" in report.params["W1"].message


def test_deeplearning_ai_logistic_regression_in_rows_says_to_read_it_in_columns(tmp_path):
    report = check_code(resolve("4-1:sigmoid", "bce")[1], f"{HERE / 'dlai_logistic.py'}:propagate", points=1)
    assert report.error.endswith("(when called as fn(params, x, y)); a function of (w, b, X, Y), deeplearning.ai's "
                                 "propagate, takes the columns layout: add --convention columns"), report.error


@pytest.mark.parametrize("cls, wrong, says", [
    ("Layer_Dropout", set(), None),
    ("Layer_Dropout_unmasked", {"dx"}, "the dropout mask left out of the backward pass: dx is dout passed straight "
                                       "through"),
    ("Layer_Dropout_redrawn", {"dx"}, "differs from the derived gradient"),   # another mask than forward's
])
def test_nnfs_dropout_through_the_mask_its_own_forward_drew(cls, wrong, says):
    """Layer_Dropout(rate) draws its mask in forward from np.random, no seed handed: the mask is read back from its
    output (the inputs it zeroed), and dx is compared with jax.grad of the declared 4-4:drop0.3 through that mask."""
    report = check_code(resolve("4-4:drop0.3")[1], f"{HERE / 'nnfs_dropout.py'}:{cls}", points=2)
    assert _wrong(report) == wrong, report.params
    assert f"{cls}(rate=0.3) built by its own constructor (the probability of dropping a unit)" in report.notes
    assert any(n.startswith("dropout on: the mask its forward drew at each point") for n in report.notes), report.notes
    if says:
        assert report.params["dx"].message.startswith(says), report.params["dx"].message


@pytest.mark.parametrize("spec, cls, says", [
    ("4-4:drop0.3", "Layer_Dropout_unscaled",
     "Layer_Dropout_unscaled.forward's output is not its inputs times a mask of 0 and 1/0.7: the declared dropout keeps "
     "a unit with probability 0.7 and scales the kept ones by 1/0.7 (inverted dropout, as nnfs's Layer_Dropout(rate) "
     "does with rate the probability of dropping); a layer that computes otherwise is declared as it computes, "
     "without :drop"),
    ("4-4", "Layer_Dropout",
     "Layer_Dropout(rate) is a dropout layer: declare the dropout on a square layer, as 4-4:drop0.1 (each unit "
     "dropped with probability 0.1); derivax builds it with the declared rate and compares its backward through the "
     "mask its forward draws"),
])
def test_an_nnfs_dropout_unscaled_or_on_a_layer_without_dropout_is_told_what_to_declare(spec, cls, says):
    report = check_code(resolve(spec)[1], f"{HERE / 'nnfs_dropout.py'}:{cls}", points=1)
    assert report.error and report.error.endswith(says), report.error

"""Backward code and formulas in the courses' own conventions, checked as they are written (no adapter): CS231n's
class with loss(X, y, reg) on self.params and integer labels, its softmax_loss_vectorized(W, X, y, reg) returning
(loss, dW); deeplearning.ai's backward_propagation(parameters, cache, X, Y) in columns with dZ = A − Y, and its
regularization notebook's (X, Y, cache, lambd) with the cache a tuple and dA, dZ returned; Nielsen's
Network.backprop(x, y) one example at a time. Each correct version passes, and each usual slip is named.
The files are in tests/courses/; the reference is derivax's own derivation, independent of that code."""
import json
import re
from pathlib import Path

import pytest

from compile import check_code, check_formula
from derive import Dense, Network

HERE = Path(__file__).parent / "courses"


def run(net, fn, **kw):
    return check_code(net, f"{HERE / fn}", points=2, **kw)


def test_cs231n_two_layer_net_as_a_class_with_reg():
    net = Network(4, [Dense(5, "relu"), Dense(3, "softmax")], l2=0.05, l2_form="lambda")
    report = run(net, "cs231n_net.py:TwoLayerNet", labels="integer")
    assert report.ok, report.render() if hasattr(report, "render") else report
    assert any("TwoLayerNet.loss(X=x, y=y, reg=λ) with λ = 0.05" in n for n in report.notes), report.notes


def test_cs231n_softmax_returns_loss_and_dw():
    net = Network(4, [Dense(3, "softmax", use_bias=False)], l2=0.1, l2_form="lambda")
    assert run(net, "cs231n_net.py:softmax_loss_vectorized", labels="integer").ok
    bad = run(net, "cs231n_net.py:softmax_loss_half_reg", labels="integer")
    assert not bad.ok and "weight decay's term is half" in bad.params["W1"].message


def test_deeplearning_ai_planar_backward_with_cache():
    net = Network(2, [Dense(4, "tanh"), Dense(1, "sigmoid")], loss="bce")
    report = run(net, "dlai_planar.py:backward_propagation", convention="columns")
    assert report.ok and any("cache=the forward values" in n for n in report.notes)
    bad = run(net, "dlai_planar.py:backward_tanh_as_a", convention="columns")
    assert not bad.ok and "derivative written as A at layer 1" in bad.params["W1"].message


def test_deeplearning_ai_regularization_notebook_reads_its_dz_as_the_course_does():
    net = Network(3, [Dense(4, "relu"), Dense(3, "relu"), Dense(1, "sigmoid")], loss="bce", l2=0.7)
    report = run(net, "dlai_planar.py:backward_propagation_with_regularization", convention="columns")
    assert report.ok, [(k, r.message) for k, r in {**report.params, **report.intermediates}.items() if not r.ok]
    assert len(report.intermediates) == 5 and any("dZ and dA keys read as the courses write them" in n
                                                   for n in report.notes)
    strict = run(net, "dlai_planar.py:backward_propagation_with_regularization", convention="columns", dz="adjoint")
    assert strict.params["W1"].ok and not strict.ok      # the same code read as ∂J/∂Z: its dZ3 carries no 1/m
    bad = run(net, "dlai_planar.py:backward_half_decay", convention="columns")
    assert not bad.params["W1"].ok and "weight decay's term is half" in bad.params["W1"].message
    assert bad.first_wrong is None                       # its intermediates are right: no false alarm on dA2


def test_nielsen_network_backprop_one_example_at_a_time():
    net = Network(3, [Dense(4, "sigmoid"), Dense(2, "sigmoid")], loss="(yhat - y)**2/2")
    assert run(net, "nielsen_network.py:Network", convention="columns", per_example=True).ok
    at_a = run(net, "nielsen_network.py:NetworkPrimeOfA", convention="columns", per_example=True)
    assert not at_a.ok and "derivative taken at A instead of Z at layer 2" in at_a.params["W2"].message
    no_prime = run(net, "nielsen_network.py:NetworkNoPrimeAtOutput", convention="columns", per_example=True)
    assert not no_prime.params["W1"].ok and "derivative left out at layer 2" in no_prime.params["W2"].message


def test_cs231n_forgotten_relu_mask_is_named():
    net = Network(4, [Dense(5, "relu"), Dense(3, "softmax")], l2=0.05, l2_form="lambda")
    bad = run(net, "cs231n_net.py:TwoLayerNetNoMask", labels="integer")
    assert not bad.ok and bad.params["W2"].ok and "derivative left out at layer 1" in bad.params["W1"].message


@pytest.mark.parametrize("target, formula, ok, words", [
    ("W2", "1/m * np.dot(dZ2, A1.T)", True, "read as the courses write them"),     # the notebook's line, verbatim
    ("dZ2", "A2 - Y", True, "dZ2 as the courses write it"),
    ("dZ2", "(A2 - Y) / m", True, ""),                                               # ∂J/∂Z2 itself
    ("W2", "np.dot(dZ2, A1.T)", False, "missing 1/m"),                              # Ng's dW without the 1/m
    ("W2", "2/m * np.dot(dZ2, A1.T)", False, ""),                                   # wrong in both readings
])
def test_the_courses_dz_in_formulas(target, formula, ok, words):
    net = Network(2, [Dense(4, "tanh"), Dense(1, "sigmoid")], loss="bce")
    result = check_formula(net, target, formula, convention="columns")
    assert result.ok == ok and words in result.render()
    assert not check_formula(net, "dZ2", "A2 - Y", convention="columns", dz="adjoint").ok


def test_nielsens_delta_keeps_the_sign_of_the_textbook():
    net = Network(3, [Dense(4, "sigmoid"), Dense(2, "sigmoid")], loss="(yhat - y)**2/2")
    assert check_formula(net, "delta2", "(A2 - Y) * sigmoid_prime(Z2)", convention="columns").ok
    d = net.derive("columns")
    assert d.text().count("δ₂ = A₂ ⊙ (1 − A₂) ⊙ (A₂ − Y)") == 1


def test_the_decay_constant_under_the_courses_names():
    net = Network(4, [Dense(5, "relu"), Dense(3, "softmax")], l2=0.05, l2_form="lambda")
    assert check_formula(net, "W1", "X.T @ dZ1 + 2 * reg * W1").ok
    half = check_formula(net, "W1", "X.T @ dZ1 + reg * W1")
    assert not half.ok and any("weight decay's term is half" in d for d in half.diagnosis)


@pytest.mark.parametrize("spec, words", [
    ("cs231n_net.py:_softmax_grad.nothing", "_softmax_grad is a function, not a class"),
    ("cs231n_net.py:TwoLayerNet.fly", "TwoLayerNet has no method 'fly'; its methods: loss"),
    ("cs231n_net.py:Missing", "defines no 'Missing'"),
])
def test_a_class_or_method_that_is_not_there_is_named(spec, words):
    from compile.checks.sandbox import LoadError
    net = Network(4, [Dense(5, "relu"), Dense(3, "softmax")])
    with pytest.raises(LoadError, match=words.replace("(", r"\(").replace(")", r"\)")):
        run(net, spec, labels="integer")


def test_a_class_with_no_backward_method_is_named(tmp_path):
    from compile.checks.sandbox import LoadError
    (tmp_path / "net.py").write_text("class Net:\n    def forward(self, x):\n        return x\n")
    with pytest.raises(LoadError, match="Net is a class with none of the methods gradient, gradients, loss, backward, backprop"):
        check_code(Network(2, [Dense(2, "softmax")]), f"{tmp_path / 'net.py'}:Net", points=1)


def test_an_unknown_dz_reading_is_named():
    net = Network(2, [Dense(4, "tanh"), Dense(1, "sigmoid")], loss="bce")
    with pytest.raises(ValueError, match="dz must be 'auto', 'adjoint' or 'delta', not 'sideways'"):
        check_formula(net, "W2", "A1.T @ delta2 / m", dz="sideways")


# ---- code in the interfaces of the best-known from-scratch repositories, run as written ----

def _edited(tmp_path, name, old, new):
    """A copy of tests/courses/<name> with one slip written in."""
    text = (HERE / name).read_text()
    assert old in text, old
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return path


def _checked(tmp_path, name, spec, fn, edit, points=2, **kw):
    """check-code of ``fn`` in tests/courses/<name> (with ``edit``, an (old, new) slip, written in) against
    ``spec``; the report, which must have run."""
    from derive.network.examples import resolve
    path = HERE / name if edit is None else _edited(tmp_path, name, *edit)
    report = check_code(resolve(spec)[1], f"{path}:{fn}", points=points, **kw)
    assert report.error is None, report.error
    return report


def _char_rnn():
    from derive import SimpleRNN
    return Network((4, 5), [SimpleRNN(4, sequences=True), Dense(5, "softmax")], name="char-rnn")


def test_a_char_rnn_loss_with_its_weights_in_module_globals_and_index_lists():
    report = run(_char_rnn(), "char_rnn_globals.py:seq_loss", labels="integer", per_example=True)
    assert report.ok, [(k, r.message) for k, r in report.params.items()]
    said = " | ".join(report.notes)
    assert "the module's globals Wxh, Whh, Why, bh, by" in said and "as columns" in said
    assert "x read as indices" in said and "Why as W2, bh as bh1, by as b2" in said
    assert "h⟨0⟩ zeros of shape (4, 1)" in said


@pytest.mark.parametrize("old, new, wrong, words", [
    ("gWhh += draw @ h[t - 1].T", "gWhh += draw @ h[t].T", {"Whh1"}, "h⟨t⟩ where the step's gradient has h⟨t−1⟩"),
    ("dh = Why.T @ dscores + carry", "dh = Why.T @ dscores", {"Wxh1", "Whh1", "bh1"},
     "missing the term step t+1 sends back"),
    ("gWxh += draw @ x[t].T", "gWxh = draw @ x[t].T", {"Wxh1"}, "not summed over t: only step 1's term"),
    ("draw = (1.0 - h[t] ** 2) * dh", "draw = (1.0 - h[t]) * dh", {"Wxh1", "Whh1", "bh1"}, ""),
])
def test_the_char_rnn_slips_name_exactly_the_wrong_weights(tmp_path, old, new, wrong, words):
    path = _edited(tmp_path, "char_rnn_globals.py", old, new)
    report = check_code(_char_rnn(), f"{path}:seq_loss", points=2, labels="integer", per_example=True)
    assert report.error is None and {n for n, r in report.params.items() if not r.ok} == wrong
    assert all(words in report.params[n].message for n in wrong), [report.params[n].message for n in wrong]


def test_a_scalar_autograd_mlp_is_built_set_and_differentiated_by_its_own_engine():
    net = Network(3, [Dense(4, "tanh"), Dense(1, "tanh")], loss="mse")
    report = run(net, "scalar_autograd.py:MLP")
    assert report.ok, [(k, r.message) for k, r in report.params.items()]
    assert any("MLP(3, [4, 1]) built" in n for n in report.notes)
    import importlib.util   # the class itself, handed from Python
    spec = importlib.util.spec_from_file_location("scalar_autograd_fixture", HERE / "scalar_autograd.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert check_code(net, module.MLP, points=1).ok


@pytest.mark.parametrize("old, new, words", [
    ("            self.grad += other.data * out.grad\n            other.grad += self.data * out.grad",
     "            self.grad = other.data * out.grad\n            other.grad = self.data * out.grad",
     "assigned (=), not accumulated (+=)"),
    ("self.grad += (1 - t ** 2) * out.grad", "self.grad += (1 - t) * out.grad", "multiplies by 1 − t, not 1 − t²"),
])
def test_a_wrong_backward_rule_of_the_value_class_is_named(tmp_path, old, new, words):
    path = _edited(tmp_path, "scalar_autograd.py", old, new)
    net = Network(3, [Dense(4, "tanh"), Dense(1, "tanh")], loss="mse")
    report = check_code(net, f"{path}:MLP", points=2)
    assert not report.ok and words in report.params["W1"].message
    assert any("each tested on its own" in n and words in n for n in report.notes)


def test_a_value_model_whose_layers_are_not_the_networks_is_refused():
    net = Network(3, [Dense(4, "relu"), Dense(1, "tanh")], loss="mse")     # the file's neurons are tanh
    report = run(net, "scalar_autograd.py:MLP")
    assert report.error and "its layers or activations are not the network's" in report.error


def _makemore():
    from derive import BatchNorm, Embedding, Flatten
    return Network(3, [Embedding(7, 2), Flatten(), Dense(5), BatchNorm("tanh", variance="unbiased"),
                       Dense(7, "softmax")], name="makemore")


def test_parameters_are_read_under_the_codes_own_names():
    report = run(_makemore(), "makemore_names.py", labels="integer")
    assert report.ok, [(k, r.message) for k, r in {**report.params, **report.intermediates}.items() if not r.ok]
    assert any("C as C1, W1 as W3, b1 as b3, bngain as gamma4, bnbias as beta4, W2 as W5, b2 as b5" in n
               for n in report.notes), report.notes


def test_a_dropped_bessel_factor_inside_a_one_line_batch_norm_backward_is_named(tmp_path):
    path = _edited(tmp_path, "makemore_names.py", "- n / (n - 1) * raw", "- raw")
    report = check_code(_makemore(), f"{path}", points=2, labels="integer")
    assert report.first_wrong is not None and report.first_wrong.name == "dhprebn"
    assert "off by (N − 1)/N: the variance's 1/N and 1/(N − 1) mixed up" in report.first_wrong.message


def test_the_aliases_of_a_networks_parameters():
    from compile.checks.intermediates import param_aliases
    aliases = param_aliases(_makemore().derive().model)
    assert {k: aliases[k] for k in ("C", "W1", "W2", "b1", "b2", "bngain", "bnbias")} == {
        "C": "C1", "W1": "W3", "W2": "W5", "b1": "b3", "b2": "b5", "bngain": "gamma4", "bnbias": "beta4"}
    rnn = param_aliases(_char_rnn().derive().model)
    assert {k: rnn[k] for k in ("Wxh", "Whh", "bh", "Why", "by")} == {
        "Wxh": "Wxh1", "Whh": "Whh1", "bh": "bh1", "Why": "W2", "by": "b2"}
    assert param_aliases(Network(2, [Dense(3, "tanh"), Dense(1, "sigmoid")], loss="bce").derive().model) == {}


def test_pytorch_code_gets_tensors(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "torch_backward.py").write_text(
        "import torch\n\n"
        "def backward(params, x, y):\n"
        "    h = torch.tanh(x @ params['W1'] + params['b1'])\n"
        "    p = torch.softmax(h @ params['W2'] + params['b2'], dim=1)\n"
        "    d2 = (p - y) / x.shape[0]\n"
        "    d1 = (d2 @ params['W2'].T) * (1 - h ** 2)\n"
        "    return {'W1': x.T @ d1, 'b1': d1.sum(0), 'W2': h.T @ d2, 'b2': d2.sum(0)}\n")
    net = Network(3, [Dense(4, "tanh"), Dense(2, "softmax")])
    report = check_code(net, f"{tmp_path / 'torch_backward.py'}", points=2)
    assert report.ok and any("torch tensors" in n for n in report.notes)


def test_a_clip_is_told_from_a_gradient_by_its_round_bound():
    import numpy as np
    from compile.checks.sandbox import clip_level
    assert clip_level(np.array([[5.0, 1.25], [-5.0, 0.3]])) == (5.0, 2)
    assert clip_level(np.array([0.123456789, -0.05])) is None      # a gradient's largest entry is not round
    assert clip_level(np.zeros(3)) is None


@pytest.mark.parametrize("source, spec, loss, says", [
    ("class MLP:\n    def __init__(self):\n        pass\n\n    def __call__(self, x):\n        return x\n",
     "3-4:tanh-1:tanh", "mse", r"MLP\(3, \[4, 1\]\) could not be built .*built as MLP\(nin, nouts\)"),
    ("class MLP:\n    def __init__(self, nin, nouts):\n        self.sizes = [nin] + nouts\n\n"
     "    def __call__(self, x):\n        return x\n", "3-4:tanh-1:tanh", "mse", r"holds no values with \.data and \.grad"),
    (None, "3-4:relu-2:softmax", "ce", r"checked under the mse loss.*this network's loss is ce"),
    ("import numpy as np\nWxh = np.zeros((3, 3))\n\ndef seq_loss(inputs, targets, hprev):\n    return 0.0, Wxh\n",
     "rnn", None, r"globals do not fit the network's parameters in one layout: Wxh \(3, 3\) for Wxh1 \(5, 4\)"),
])
def test_code_no_reading_can_call_is_named(tmp_path, source, spec, loss, says):
    path = HERE / "scalar_autograd.py" if source is None else tmp_path / "user.py"
    if source is not None:
        path.write_text(source)
    fn = "seq_loss" if spec == "rnn" else "MLP"
    net = _char_rnn() if spec == "rnn" else Network(3, [Dense(4, spec.split("-")[1].split(":")[1]),
                                                        Dense(int(spec.split("-")[2].split(":")[0]),
                                                              spec.split(":")[-1])], loss=loss)
    report = check_code(net, f"{path}:{fn}", points=1, labels="integer" if spec == "rnn" else "onehot",
                        per_example=spec == "rnn")
    assert report.stopped == "argument" and re.search(says, report.error), report.error


def test_the_loss_a_function_returns_is_compared_with_the_networks():
    right = Network(4, [Dense(3, "softmax", use_bias=False)], l2=0.1, l2_form="lambda")
    report = run(right, "cs231n_net.py:softmax_loss_vectorized", labels="integer")
    assert report.ok and "the loss the function returned equals the network's J at every point" in report.notes
    other = Network(4, [Dense(3, "softmax", use_bias=False)], loss="mse", l2=0.1, l2_form="lambda")   # not its loss
    report = run(other, "cs231n_net.py:softmax_loss_vectorized", labels="integer")
    assert not report.ok and any(n.startswith("the loss the function returned is not the network's J") for n in report.notes)


LOSSES = """
import numpy as np

def _probs(W, X):
    scores = X @ W
    scores = scores - scores.max(axis=1, keepdims=True)
    return np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)

def aliased(W, X, y, reg):
    # CS231n's slip: dscores is probs itself, so the loss reads the probabilities after they are changed
    N = X.shape[0]
    probs = _probs(W, X)
    dscores = probs
    dscores[np.arange(N), y] -= 1
    dscores /= N
    loss = -np.log(np.abs(probs[np.arange(N), y])).mean() + reg * np.sum(W * W)
    return loss, X.T @ dscores + 2 * reg * W

def shifted(W, X, y, reg):
    # J plus a constant: the same gradients
    N = X.shape[0]
    probs = _probs(W, X)
    loss = -np.log(probs[np.arange(N), y]).mean() + reg * np.sum(W * W) + 3.0
    probs[np.arange(N), y] -= 1
    return loss, X.T @ probs / N + 2 * reg * W

def one_example(W, x, y):
    # one example at a time, for J summed over the batch
    probs = _probs(W, x[None, :])[0]
    loss = -np.log(probs[y])
    probs[y] -= 1
    return loss, np.outer(x, probs)
"""


@pytest.mark.parametrize("fn, ok, says", [
    ("aliased", False, "the loss it returned is wrong: "),
    ("shifted", True, "the loss the function returned is not the network's J: "),
])
def test_a_wrong_loss_beside_right_gradients_is_wrong(fn, ok, says, tmp_path):
    """Gradients that are J's beside a returned loss that is not J: the loss is wrong (exit 1), unless it is J
    plus one constant at every point (it has J's gradients: noted). The reference: J's own value."""
    path = tmp_path / "losses.py"
    path.write_text(LOSSES)
    net = Network(4, [Dense(3, "softmax", use_bias=False)], l2=0.1, l2_form="lambda")
    report = check_code(net, f"{path}:{fn}", points=3, labels="integer")
    assert all(p.ok for p in report.params.values()) and report.ok is ok
    assert says in (report.summary() if not ok else " ".join(report.notes)), (report.summary(), report.notes)
    assert json.loads(report.to_json())["loss_wrong"] == (None if ok else report.loss_wrong)


def test_a_loss_returned_one_example_at_a_time_is_summed_for_a_summed_j(tmp_path):
    path = tmp_path / "losses.py"
    path.write_text(LOSSES)
    net = Network(4, [Dense(3, "softmax", use_bias=False)], reduction="sum")
    report = check_code(net, f"{path}:one_example", points=2, labels="integer", per_example=True)
    assert report.ok, (report.summary(), report.notes)
    assert "the loss the function returned equals the network's J at every point" in report.notes


def test_a_class_is_built_by_its_own_constructor():
    net = Network(4, [Dense(5, "relu"), Dense(5, "relu"), Dense(3, "softmax")], l2=0.3, l2_form="lambda/2")
    report = run(net, "fc_net_class.py:DeepNet", labels="integer")
    assert report.ok, [(k, r.message) for k, r in report.params.items()]
    assert any("DeepNet(hidden_dims=[5, 5], input_dim=4, num_classes=3, reg=0.3, dtype=float64) built" in n
               for n in report.notes), report.notes
    assert "the loss the function returned equals the network's J at every point" in report.notes


def test_a_slip_in_the_constructed_class_is_named(tmp_path):
    path = _edited(tmp_path, "fc_net_class.py", "dz = dz * (z > 0)", "dz = dz * (z > 0) * z")
    net = Network(4, [Dense(5, "relu"), Dense(5, "relu"), Dense(3, "softmax")], l2=0.3, l2_form="lambda/2")
    report = check_code(net, f"{path}:DeepNet", points=2, labels="integer")
    assert {n for n, r in report.params.items() if not r.ok} == {"W1", "b1", "W2", "b2"}


def test_module_globals_read_by_the_functions_it_calls(tmp_path):
    (tmp_path / "softmax_globals.py").write_text(
        "import numpy as np\n\nW = np.zeros((4, 3))\nb = np.zeros(3)\n\n"
        "def net(X):\n    z = X @ W + b\n    e = np.exp(z - z.max(1, keepdims=True))\n    return e / e.sum(1, keepdims=True)\n\n"
        "def grads(X, y):\n    p = net(X)\n    p[np.arange(len(y)), y] -= 1\n"
        "    return X.T @ p / len(y), p.sum(AXIS) / len(y)\n")
    net = Network(4, [Dense(3, "softmax")])
    source = (tmp_path / "softmax_globals.py").read_text()
    (tmp_path / "softmax_globals.py").write_text(source.replace("AXIS", "0"))
    report = check_code(net, f"{tmp_path / 'softmax_globals.py'}:grads", points=2, labels="integer")
    assert report.ok and any("module's globals W, b" in n for n in report.notes), report.notes
    (tmp_path / "softmax_globals.py").write_text(source.replace("AXIS", "1"))
    bad = check_code(net, f"{tmp_path / 'softmax_globals.py'}:grads", points=2, labels="integer")
    assert bad.params["W1"].ok and "summed over axis 1, the units, instead of axis 0, the batch" in bad.params["b1"].message


def test_the_deep_network_notebooks_backward_from_its_caches(tmp_path):
    net = Network(4, [Dense(5, "relu"), Dense(3, "relu"), Dense(1, "sigmoid")], loss="bce")
    report = run(net, "dlai_deep.py:L_model_backward", convention="columns")
    assert report.ok, [(k, r.message) for k, r in {**report.params, **report.intermediates}.items() if not r.ok]
    assert any("caches=each layer's ((A_prev, W, b), Z)" in n for n in report.notes)
    path = _edited(tmp_path, "dlai_deep.py", "return dA * s * (1 - s)", "return dA * (1 - s)")
    bad = check_code(net, f"{path}:L_model_backward", points=2, convention="columns")
    assert not bad.ok and "derivative written as 1 − A at layer 3" in bad.params["W3"].message


def _dropout_net():
    return Network(4, [Dense(5, "relu", dropout=0.2), Dense(3, "relu", dropout=0.2), Dense(1, "sigmoid")], loss="bce")


def test_dropout_backward_gets_the_masks_and_the_keep_probability():
    report = run(_dropout_net(), "dlai_dropout.py:backward_propagation_with_dropout", convention="columns")
    assert report.ok, [(k, r.message) for k, r in {**report.params, **report.intermediates}.items() if not r.ok]
    assert any(n.startswith("dropout on: masks drawn at each point and handed in the cache as D1, D2") for n in report.notes)


def test_a_forgotten_inverted_dropout_scale_is_found_where_it_was_left_out(tmp_path):
    path = _edited(tmp_path, "dlai_dropout.py", "dA1 = dA1 * D1 / keep_prob", "dA1 = dA1 * D1")
    report = check_code(_dropout_net(), f"{path}:backward_propagation_with_dropout", points=2, convention="columns")
    assert {n for n, r in report.params.items() if not r.ok} == {"W1", "b1"}
    assert "the dropout's 1/keep_prob left out" in report.params["W1"].message
    assert report.first_wrong is not None and report.first_wrong.name == "dA1"


def test_dropout_in_an_inline_spec():
    from derive.network.examples import ModelError, resolve
    net = resolve("4-5:relu:drop0.2-3:tanh:nobias:drop0.5-1:sigmoid")[1]
    assert [(l.dropout, l.use_bias) for l in net.layers] == [(0.2, True), (0.5, False), (None, True)]
    with pytest.raises(ModelError, match=r"dropout takes a rate between 0 and 1, as drop0.2; found 'drop1.5' at position 10"):
        resolve("4-5:relu:drop1.5-1:sigmoid")


LOGREG = '''import numpy as np


def cost_function_reg(theta, X, y, lambda_):
    m = y.size
    h = 1 / (1 + np.exp(-X @ theta))
    rest = theta.copy()
    rest[0] = 0
    J = -(y @ np.log(h) + (1 - y) @ np.log(1 - h)) / m + lambda_ / (2 * m) * np.sum(rest ** 2)
    grad = (h - y) @ X / m + lambda_ / m * DECAYED
    return J, grad
'''


@pytest.mark.parametrize("decayed, ok", [("rest", True), ("theta", False)])
def test_one_vector_theta_with_the_intercept_first(tmp_path, decayed, ok):
    (tmp_path / "logreg.py").write_text(LOGREG.replace("DECAYED", decayed))
    net = Network(2, [Dense(1, "sigmoid")], loss="bce", l2=1.5)
    report = check_code(net, f"{tmp_path / 'logreg.py'}:cost_function_reg", points=2)
    assert report.ok is ok and report.params["W1"].ok
    assert any("theta=[b1, W1], X=x, y=y, lambda_=λ) with λ = 1.5, X with a first column of ones" in n
               for n in report.notes), report.notes
    if not ok:
        assert "the weight decay applied to it as to a weight (biases are not decayed)" in report.params["b1"].message


@pytest.mark.parametrize("spec, loss, target, formula, words", [
    ("4-5:sigmoid-3:sigmoid", "bce", "delta2", "(A2 - Y) * sigmoid_prime(Z2)",
     "an extra factor f′(Z) at layer 2: the activation's derivative applied twice"),
    ("2-1:sigmoid", "bce", "b1", "(1/m)*sum(A1 - Y, 0) + (lam/m)*b1",
     "the weight decay applied to it as to a weight (biases are not decayed)"),
])
def test_formula_slips_from_the_textbooks_are_named(spec, loss, target, formula, words):
    from derive.network.examples import resolve
    net = resolve(spec, loss, None, 1.5 if target == "b1" else None)[1]
    result = check_formula(net, target, formula, convention="columns" if target == "delta2" else "rows")
    assert not result.ok and any(words in d for d in result.diagnosis), result.diagnosis


@pytest.mark.parametrize("spec, fn, edit, wrong", [
    ("4-3", "affine_backward", None, set()),
    ("4-3", "affine_backward", ("dw = x.reshape(len(x), -1).T @ dout", "dw = dout.T @ x.reshape(len(x), -1)"), {"W1"}),
    ("4-4:relu", "relu_backward", None, set()),
    ("4-4:relu", "relu_backward", ("return dout * (cache > 0)", "return dout"), {"dx"}),
    ("4-bn", "batchnorm_backward", None, set()),
    ("4-bn", "batchnorm_backward", ("- dxhat.sum(axis=0) ", ""), {"dx"}),       # the path through the mean dropped
    ("4-bn", "batchnorm_backward_alt", None, set()),                             # its forward: batchnorm_forward
    ("4-bn", "batchnorm_backward_alt", ("dxhat - dxhat.mean(axis=0) - ", "dxhat - "), {"dx"}),
    ("4-ln", "layernorm_backward", None, set()),
    ("4-ln", "layernorm_backward", ("(dxhat * xhat).mean(axis=1, keepdims=True)", "(dxhat * xhat).mean(axis=0)"),
     {"dx"}),                                                                    # the batch's mean for the example's
    ("3x4-td5", "temporal_affine_backward", None, set()),                        # an affine map at every step
    ("3x4-td5", "temporal_affine_backward", ("db = dout.sum(axis=(0, 1))", "db = dout.sum(axis=0).mean(axis=0)"),
     {"b1"}),                                                                    # the steps averaged, not summed
    ("3x2-rnn4:seq", "rnn_backward", None, set()),                               # CS231n's Wx, Wh, b and h0
    ("3x2-rnn4:seq", "rnn_backward", ("draw = (dh[:, t] + carry)", "draw = (dh[:, t])"),
     {"Wxh1", "Whh1", "bh1", "dx"}),                                             # step t+1's term forgotten
])
def test_a_layers_backward_through_its_forward(tmp_path, spec, fn, edit, wrong):
    from derive.network.examples import resolve
    path = HERE / "layer_functions.py" if edit is None else _edited(tmp_path, "layer_functions.py", *edit)
    report = check_code(resolve(spec)[1], f"{path}:{fn}", points=2)
    assert report.error is None, report.error
    assert {n for n, r in report.params.items() if not r.ok} == wrong
    assert "dx" in report.params and any("then " + fn + "(dout, cache) with dout = Y/m" in n for n in report.notes)
    if fn == "relu_backward" and wrong:
        assert "the activation's derivative left out: dx is dout passed straight through" in report.params["dx"].message


def test_a_layer_declared_otherwise_than_its_forward_computes_is_named():
    from derive.network.examples import resolve
    report = check_code(resolve("4-3:relu")[1], f"{HERE / 'layer_functions.py'}:affine_backward", points=1)
    assert report.stopped == "argument" and "affine_forward's output is not the declared network's" in report.error


def test_an_error_signal_that_is_a_leaf_is_lowered():
    """δ₁ = Y under the loss yhat·y on an identity layer: the named δ is Y itself, and the lowered gradients
    are Xᵀ Y / m and the batch sum of Y / m (written out here in NumPy)."""
    import jax
    import numpy as np
    from compile.checks.code import _lowered
    from compile.checks.points import random_point
    net = Network(4, [Dense(3)], loss="yhat * y")
    with jax.enable_x64(True):
        low = _lowered(net)
        p = random_point(low.derivation.model, 0, 5, masks=False)
        g = low.grads(p.params, p.x, p.y)
    np.testing.assert_allclose(np.asarray(g["W1"]), p.x.T @ p.y / 5, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(g["b1"]).ravel(), p.y.sum(0) / 5, rtol=1e-12)


def test_the_multiclass_svm_loss_derives_and_checks_three_ways():
    from compile import verify
    net = Network(4, [Dense(3, use_bias=False)], loss="svm")
    d = net.derive()
    from derive.printing.show import show
    assert show(d.model.J, "text") == "(1/m) Σ (1 − Y) ⊙ relu(A₁ − Σₖ A₁ ⊙ Y + 1)"
    assert show(d.deltas[1], "text") == ("−Y ⊙ (Σₖ (1 − Y) ⊙ step(A₁ − Σₖ A₁ ⊙ Y + 1)) + (1 − Y) ⊙ "
                                         "step(A₁ − Σₖ A₁ ⊙ Y + 1)")
    assert verify(net).ok
    from derive.network.functions import NetworkError
    with pytest.raises(NetworkError, match="needs 2 outputs or more, and the last layer has 1"):
        Network(4, [Dense(1)], loss="svm")


@pytest.mark.parametrize("edit, ok", [(None, True), (("dW = X.T @ counts / n + 2 * reg * W", "dW = X.T @ counts / n"),
                                                     False)])
def test_cs231n_svm_code_against_the_svm_loss(tmp_path, edit, ok):
    net = Network(4, [Dense(3, use_bias=False)], loss="svm", l2=0.1, l2_form="lambda")
    path = HERE / "cs231n_net.py" if edit is None else _edited(tmp_path, "cs231n_net.py", *edit)
    report = check_code(net, f"{path}:svm_loss_vectorized", points=2, labels="integer")
    assert report.ok is ok and "the loss the function returned equals the network's J at every point" in report.notes
    if not ok:
        assert "the weight decay's term is missing" in report.params["W1"].message


def test_a_loss_summed_over_the_batch_as_bishop_writes_the_error():
    from derive.network.functions import NetworkError
    from derive.printing.show import show
    net = Network(4, [Dense(5, "tanh"), Dense(2)], loss="(yhat - y)**2/2", reduction="sum")
    d = net.derive()
    assert show(d.model.J, "text") == "(1/2) Σ (A₂ − Y)²"
    bishop = check_formula(net, "W1", "X.T @ (((A2 - Y) @ W2.T) * (1 - A1**2))")
    assert bishop.ok
    mean = Network(4, [Dense(5, "tanh"), Dense(2)], loss="(yhat - y)**2/2")
    assert any("missing 1/m" in w or "m ·" in w or "= m" in w for w in check_formula(
        mean, "W1", "X.T @ (((A2 - Y) @ W2.T) * (1 - A1**2))").diagnosis)
    with pytest.raises(NetworkError, match="reduction must be 'mean'"):
        Network(4, [Dense(2)], reduction="total")


@pytest.mark.parametrize("edit, wrong", [(None, set()), (("return loss, dx / n", "return loss, dx"), {"dx"})])
def test_a_loss_layer_on_the_scores(tmp_path, edit, wrong):
    from derive.network.examples import resolve
    path = HERE / "layer_functions.py" if edit is None else _edited(tmp_path, "layer_functions.py", *edit)
    report = check_code(resolve("4-4:softmax")[1], f"{path}:softmax_loss", points=2, labels="integer")
    assert report.error is None and {n for n, r in report.params.items() if not r.ok} == wrong
    assert "the loss the function returned equals the network's J at every point" in report.notes
    if wrong:
        assert "missing 1/m" in report.params["dx"].message


UFLDL = '''import numpy as np


def softmax_cost(theta, num_classes, input_size, lambda_, data, labels):
    theta = theta.reshape(num_classes, input_size)
    m = data.shape[1]
    truth = np.zeros((num_classes, m))
    truth[labels, np.arange(m)] = 1
    scores = theta @ data
    e = np.exp(scores - scores.max(axis=0))
    p = e / e.sum(axis=0)
    cost = -np.sum(truth * np.log(p)) / m + lambda_ / 2 * np.sum(theta ** 2)
    grad = (p - truth) @ data.T / m + DECAY
    return cost, grad.ravel()
'''


@pytest.mark.parametrize("decay, ok", [("lambda_ * theta", True), ("0", False)])
def test_a_flattened_theta_with_the_sizes_as_arguments(tmp_path, decay, ok):
    (tmp_path / "softmax_cost.py").write_text(UFLDL.replace("DECAY", decay))
    net = Network(4, [Dense(3, "softmax", use_bias=False)], l2=0.2, l2_form="lambda/2")
    report = check_code(net, f"{tmp_path / 'softmax_cost.py'}:softmax_cost", points=2, convention="columns",
                        labels="integer")
    assert report.ok is ok
    assert any("softmax_cost(theta=W1, num_classes=3, input_size=4, lambda_=λ, data=x, labels=y)" in n
               for n in report.notes), report.notes


def test_jax_code_takes_the_parameters_as_a_pytree(tmp_path):
    (tmp_path / "jax_backward.py").write_text(
        "import jax\nimport jax.numpy as jnp\n\n"
        "def loss(params, x, y):\n"
        "    h = jnp.tanh(x @ params['W1'] + params['b1'])\n"
        "    return jnp.mean(jnp.sum((h @ params['W2'] + params['b2'] - y) ** 2, axis=1)) * SCALE\n\n"
        "def backward(params, x, y):\n"
        "    return jax.grad(loss)(params, x, y)\n")
    net = Network(3, [Dense(4, "tanh"), Dense(2)], loss="mse")
    source = (tmp_path / "jax_backward.py").read_text()
    (tmp_path / "jax_backward.py").write_text(source.replace("SCALE", "1.0"))
    assert check_code(net, f"{tmp_path / 'jax_backward.py'}", points=2).ok
    (tmp_path / "jax_backward.py").write_text(source.replace("SCALE", "0.5"))
    half = check_code(net, f"{tmp_path / 'jax_backward.py'}", points=2)
    assert not half.ok and "the ½ of a squared error" in half.params["W1"].message


def test_sigmoid_prime_missing_its_factor_is_named_as_the_slip_it_is(tmp_path):
    (tmp_path / "sig.py").write_text(
        "import numpy as np\n\n"
        "def backward(params, x, y):\n"
        "    a1 = 1 / (1 + np.exp(-(x @ params['W1'] + params['b1'])))\n"
        "    p = np.exp(a1 @ params['W2'] + params['b2']); p /= p.sum(1, keepdims=True)\n"
        "    d2 = (p - y) / len(x)\n"
        "    d1 = (d2 @ params['W2'].T) * a1\n"
        "    return {'W1': x.T @ d1, 'b1': d1.sum(0), 'W2': a1.T @ d2, 'b2': d2.sum(0)}\n")
    report = check_code(Network(3, [Dense(4, "sigmoid"), Dense(2, "softmax")]), f"{tmp_path / 'sig.py'}", points=2)
    assert "the activation's derivative written as A at layer 1" in report.params["W1"].message


MLP_LIST = '''import numpy as np


def forward_backward(parameters, Xb, Yb):
    C, W1, b1, W2, b2 = parameters
    n = len(Xb)
    cat = C[Xb].reshape(n, -1)
    h = np.tanh(cat @ W1 + b1)
    logits = h @ W2 + b2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    loss = -np.log(p[np.arange(n), Yb]).mean()
    dlogits = p.copy()
    dlogits[np.arange(n), Yb] -= 1
    dlogits /= n
    dpre = (1 - h ** TANH) * (dlogits @ W2.T)
    dC = np.zeros_like(C)
    np.add.at(dC, Xb, (dpre @ W1.T).reshape(n, -1, C.shape[1]))
    return loss, [dC, cat.T @ dpre, dpre.sum(0), h.T @ dlogits, dlogits.sum(0)]
'''


@pytest.mark.parametrize("power, wrong", [("2", set()), ("1", {"C1", "W3", "b3"})])
def test_parameters_unpacked_from_a_list_in_the_networks_order(tmp_path, power, wrong):
    from derive.network.examples import resolve
    (tmp_path / "mlp.py").write_text(MLP_LIST.replace("TANH", power))
    report = check_code(resolve("3-emb7x2-flatten-5:tanh-7:softmax")[1], f"{tmp_path / 'mlp.py'}:forward_backward",
                        points=2, labels="integer")
    assert {n for n, r in report.params.items() if not r.ok} == wrong, report.error
    assert any("parameters=[C1, W3, b3, W4, b4]" in n for n in report.notes), report.notes


def test_a_framework_module_is_no_model_of_scalar_values(tmp_path):
    pytest.importorskip("torch")
    from compile.checks.sandbox import LoadError
    (tmp_path / "net.py").write_text("import torch.nn as nn\n\nclass Net(nn.Module):\n"
                                     "    def forward(self, x):\n        return x\n")
    with pytest.raises(LoadError, match="Net is a class with none of the methods"):
        check_code(Network(3, [Dense(2, "softmax")]), f"{tmp_path / 'net.py'}:Net", points=1)


@pytest.mark.parametrize("edit, wrong", [
    (None, set()),
    (("db = dZ.sum(axis=(0, 1, 2))", "db = dZ.sum(axis=(1, 2))"), {"b1"}),      # not summed over the batch
    (("dpadded[:, i * s:i * s + f, j * s:j * s + f, :] +=", "dpadded[:, i:i + f, j:j + f, :] +="), {"dx"}),
])
def test_the_cnn_notebooks_conv_backward_through_its_forward(tmp_path, edit, wrong):
    from derive.network.examples import resolve
    path = HERE / "dlai_conv.py" if edit is None else _edited(tmp_path, "dlai_conv.py", *edit)
    report = check_code(resolve("5x5x2-conv3k3s2p1-flatten")[1], f"{path}:conv_backward", points=2)
    assert report.error is None, report.error
    assert {n for n, r in report.params.items() if not r.ok} == wrong


@pytest.mark.parametrize("spec, fn, edit, wrong", [
    ("5x5x2-conv3k3s2p1-flatten", "conv_backward_naive", None, set()),
    ("5x5x2-conv3k3s2p1-flatten", "conv_backward_naive",
     ("window = xp[:, :, i * s:i * s + HH, j * s:j * s + WW]", "window = xp[:, :, i:i + HH, j:j + WW]"), {"W1"}),
    ("4x4x2-pool2-flatten", "max_pool_backward_naive", None, set()),
    ("4x4x2-pool2-flatten", "max_pool_backward_naive", ("] += dout[n, c, i, j]", "] += 1.0"), {"dx"}),
])
def test_channels_first_layer_functions_through_their_forward(tmp_path, spec, fn, edit, wrong):
    """CS231n's naive convolution and max-pooling, (N, C, H, W): read in their layout, compared in derivax's."""
    from derive.network.examples import resolve
    path = HERE / "layer_functions.py" if edit is None else _edited(tmp_path, "layer_functions.py", *edit)
    report = check_code(resolve(spec)[1], f"{path}:{fn}", points=2)
    assert report.error is None, report.error
    assert {n for n, r in report.params.items() if not r.ok} == wrong


def test_the_new_readings_bad_arguments_are_named():
    from derive.network.examples import resolve
    net = Network(3, [Dense(2, "softmax")])
    with pytest.raises(ValueError, match="inputs must be 'auto', 'values' or 'indices'"):
        check_code(net, f"{HERE / 'layer_functions.py'}:relu_backward", points=1, inputs="onehot")
    with pytest.raises(ValueError, match="checked on one square layer with its activation, as 4-4:relu"):
        check_code(resolve("4-3:relu")[1], f"{HERE / 'layer_functions.py'}:relu_backward", points=1)


@pytest.mark.parametrize("edit, wrong, says", [
    (None, set(), None),
    (("dprev_h = dpre @ Wh.T", "dprev_h = dnext_h @ Wh.T"), {"Wxh1", "Whh1", "bh1", "dx"}, None),   # tanh′ off the carry
    (("dWh = prev_h.T @ dpre", "dWh = next_h.T @ dpre"), {"Whh1"},
     "the state at t is taken for the state before it"),
    (("dpre = dnext_h * (1 - next_h ** 2)", "dpre = dnext_h * (1 - next_h)"), {"Wxh1", "Whh1", "bh1", "dx"},
     "in the step's backward, the derivative of h₁⟨t⟩ = tanh(…) written as 1 − h₁⟨t⟩ (it is 1 − h₁⟨t⟩²)"),
    (("dpre = dnext_h * (1 - next_h ** 2)", "dpre = dnext_h"), {"Wxh1", "Whh1", "bh1", "dx"},
     "the derivative of h₁⟨t⟩ = tanh(…) left out"),
])
def test_one_step_of_a_recurrence_is_driven_over_the_sequence(tmp_path, edit, wrong, says):
    """CS231n's rnn_step_forward/rnn_step_backward: derivax runs the steps over the declared sequence (h⟨0⟩ = 0,
    dnext_h = dout⟨t⟩ + the next step's dprev_h, gradients summed over t) and names what the step gets wrong."""
    report = _checked(tmp_path, "layer_functions.py", "3x2-rnn4:seq", "rnn_step_backward", edit, points=2)
    assert {n for n, r in report.params.items() if not r.ok} == wrong
    assert any("rnn_step_forward run over the sequence from h⟨0⟩ = 0" in n for n in report.notes)
    if says:
        assert says in report.params["Whh1"].message, report.params["Whh1"].message


@pytest.mark.parametrize("spec, says", [
    ("3x2-rnn4", "rnn_step_forward gives every state, 3 steps of 4: declare the recurrent layer with every state out"),
    ("4-3", "rnn_step_forward is one step of a recurrence: declare the recurrent layer it is a step of"),
])
def test_a_step_function_on_a_network_it_is_not_a_step_of_is_told_what_to_declare(spec, says):
    from derive.network.examples import resolve
    report = check_code(resolve(spec)[1], f"{HERE / 'layer_functions.py'}:rnn_step_backward", points=1)
    assert report.error and says in report.error, report.error


@pytest.mark.parametrize("fn, edit, wrong, says", [
    ("rnn_cell_backward", None, set(), None),
    ("rnn_backward", None, set(), None),
    ("rnn_cell_backward", ('"dWaa": dz @ a_prev.T', '"dWaa": dz @ a_next.T'), {"Whh1"},
     "the state at t is taken for the state before it"),
    ("rnn_cell_backward", ("dz = da_next * (1 - a_next ** 2)", "dz = da_next * (1 - a_next)"),
     {"Wxh1", "Whh1", "bh1", "dx"}, "the derivative of h₁⟨t⟩ = tanh(…) written as 1 − h₁⟨t⟩"),
    ("rnn_backward", ("da[:, :, t] + da_prevt", "da[:, :, t]"), {"Wxh1", "Whh1", "bh1", "dx"},
     "∂J/∂h⟨t⟩ is missing the term step t+1 sends back"),
    # the bias summed over the units, not the batch: a wrong shape, named as such (not a failure of the check)
    ("rnn_cell_backward", ('"dba": dz.sum(axis=1, keepdims=True)', '"dba": dz.sum(axis=0, keepdims=True)'),
     {"bh1"}, None),
])
def test_deeplearning_ai_recurrent_layer_functions_in_their_columns_layout(tmp_path, fn, edit, wrong, says):
    """rnn_cell_forward/backward (driven over the sequence) and rnn_forward/backward, with a parameters dict of
    Wax, Waa, ba and gradients in a dict, checked against the declared 3x2-rnn4:seq."""
    report = _checked(tmp_path, "dlai_rnn.py", "3x2-rnn4:seq", fn, edit, points=2)
    assert report.error is None, report.error
    assert {n for n, r in report.params.items() if not r.ok} == wrong
    assert any("deeplearning.ai's columns layout" in n for n in report.notes), report.notes
    if says:
        assert says in report.params["Whh1"].message, report.params["Whh1"].message


def test_deeplearning_ai_recurrent_functions_on_a_network_without_a_recurrent_layer_are_told_what_to_declare():
    from derive.network.examples import resolve
    report = check_code(resolve("4-3")[1], f"{HERE / 'dlai_rnn.py'}:rnn_cell_backward", points=1)
    assert report.error and "rnn_cell_forward is a recurrent layer's: declare the recurrent layer" in report.error


LSTM_PARAMS = {f"{w}{g}1" for g in "ifgo" for w in ("Wx", "Wh", "bx", "bh")}


@pytest.mark.parametrize("fn, edit, wrong", [
    ("lstm_cell_backward", None, set()),
    ("lstm_backward", None, set()),
    # the forget gate's gradient read at c⟨t⟩ for c⟨t−1⟩: through the carries, every gradient of the sequence moves
    ("lstm_cell_backward", ("dft = dc * c_prev * ft", "dft = dc * c_next * ft"), LSTM_PARAMS | {"dx"}),
])
def test_deeplearning_ai_lstm_functions_with_gates_on_the_stacked_state_and_input(tmp_path, fn, edit, wrong):
    """lstm_cell_forward(xt, a_prev, c_prev, parameters) with Wf (n_a, n_a + n_x) on [a_prev; xt] and one bias per
    gate, against the declared PyTorch-style LSTM (separate Wx, Wh and two biases per gate)."""
    report = _checked(tmp_path, "dlai_rnn.py", "3x2-lstm4:seq", fn, edit, points=1)
    assert set(report.params) == LSTM_PARAMS | {"dx"}
    assert {n for n, r in report.params.items() if not r.ok} == wrong
    assert any("[Whᵀ | Wxᵀ]" in n for n in report.notes), report.notes


@pytest.mark.parametrize("fn, edit, wrong", [
    ("lstm_step_backward", None, set()),
    ("lstm_backward", None, set()),
    # the cell state's gradient without the path through h = o ⊙ tanh(c): every gradient of the sequence moves
    ("lstm_step_backward", ("dc = dnext_c + dnext_h * o * (1 - tc ** 2)", "dc = dnext_c"), LSTM_PARAMS | {"dx"}),
    # the cell state's carry not sent back (dprev_c zero): named
    ("lstm_step_backward", ("dc * f, x.T @ da", "0 * dc, x.T @ da"), LSTM_PARAMS - {"Who1"} | {"dx"}),
])
def test_cs231n_lstm_functions_with_the_gates_side_by_side(tmp_path, fn, edit, wrong):
    """lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b) with Wx (D, 4H) holding the gates i, f, o, g side by side,
    driven over the declared LSTM's sequence; lstm_forward/lstm_backward on the whole sequence."""
    report = _checked(tmp_path, "layer_functions.py", "3x2-lstm4:seq", fn, edit, points=1)
    assert set(report.params) == LSTM_PARAMS | {"dx"}
    assert {n for n, r in report.params.items() if not r.ok} == wrong
    assert any("side by side in the order i, f, o, g" in n for n in report.notes), report.notes
    if edit and edit[1].startswith("0 * dc"):
        assert "∂J/∂c₁⟨t⟩ is missing the term step t+1 sends back through c₁⟨t⟩" in report.params["Wxi1"].message


def test_an_lstm_function_on_a_simple_rnn_is_told_to_declare_an_lstm():
    from derive.network.examples import resolve
    report = check_code(resolve("3x2-rnn4:seq")[1], f"{HERE / 'layer_functions.py'}:lstm_step_backward", points=1)
    assert report.error and "lstm_step_forward is an LSTM layer's: declare the LSTM" in report.error, report.error


@pytest.mark.parametrize("spec, fn, edit, wrong, says", [
    ("3-emb6x4", "word_embedding_backward", None, set(), None),
    ("3-emb6x4", "word_embedding_backward", ("np.add.at(dW, x, dout)", "dW[x] = dout"), {"C1"},
     "the rows assigned instead of accumulated"),
    ("3x5-td5:softmax", "temporal_softmax_loss", None, set(), None),
    ("3x5-td5:softmax", "temporal_softmax_loss", ("dx /= N\n", "dx /= N * T\n"), {"dx"}, "off by a constant factor"),
])
def test_cs231n_word_embedding_and_temporal_softmax_loss(tmp_path, spec, fn, edit, wrong, says):
    """word_embedding_backward returns dW alone (its inputs are indices: no dx), checked against the embedding's
    table; temporal_softmax_loss(x, y, mask) with every step counted, on a softmax at every step."""
    from derive.network.examples import resolve
    path = HERE / "layer_functions.py" if edit is None else _edited(tmp_path, "layer_functions.py", *edit)
    labels = "integer" if "softmax" in spec else "onehot"
    report = check_code(resolve(spec)[1], f"{path}:{fn}", points=2, labels=labels)
    assert report.error is None, report.error
    assert {n for n, r in report.params.items() if not r.ok} == wrong
    if says:
        assert says in next(iter(report.params[n] for n in wrong)).message


@pytest.mark.parametrize("edit, wrong, says", [
    (None, set(), None),
    (("return dout * mask if", "return dout if"), {"dx"}, "the dropout mask left out of the backward pass"),
])
def test_cs231n_dropout_through_the_mask_its_forward_draws_from_the_seed(tmp_path, edit, wrong, says):
    """dropout_forward(x, dropout_param) draws its mask from dropout_param's seed: derivax hands the seed and
    draws the same mask for its own gradients, so dropout_backward is checked on the masked layer."""
    report = _checked(tmp_path, "layer_functions.py", "4-4:drop0.5", "dropout_backward", edit, points=2)
    assert {n for n, r in report.params.items() if not r.ok} == wrong
    assert any("dropout_param {'p': 0.5, 'mode': 'train', 'seed': s}" in n for n in report.notes), report.notes
    if says:
        assert says in report.params["dx"].message


def test_a_dropout_forward_that_reads_p_as_the_drop_probability_is_told(tmp_path):
    from derive.network.examples import resolve
    path = _edited(tmp_path, "layer_functions.py", "(np.random.rand(*x.shape) < p) / p",
                   "(np.random.rand(*x.shape) >= p) / (1 - p)")
    report = check_code(resolve("4-4:drop0.3")[1], f"{path}:dropout_backward", points=1)
    assert report.error and "p the probability of keeping a unit (as CS231n defines it)" in report.error


@pytest.mark.parametrize("spec, fn, convention, edit, wrong", [
    ("4-3", "linear_backward", "columns", None, set()),
    ("4-3:relu", "linear_activation_backward", "columns", None, set()),
    ("4-3:sigmoid", "linear_activation_backward", "columns", None, set()),
    ("4-3:relu", "linear_activation_backward", "columns",
     ("dW = 1. / m * np.dot(dZ, A_prev.T)", "dW = np.dot(dZ, A_prev.T)"), {"W1"}),        # the 1/m left out
    ("4-3:relu", "linear_activation_backward", "columns",
     ("dZ[Z <= 0] = 0", "dZ[Z < -1] = 0"), {"W1", "b1", "dx"}),                            # relu's mask wrong
    ("4-3", "linear_backward", "columns",
     ("return np.dot(W.T, dZ), dW, db", "return np.dot(W.T, dZ) / m, dW, db"), {"dx"}),     # dA_prev with a 1/m
    ("4-4:leaky_relu", "leaky_relu_backward", "rows", None, set()),
    ("4-4:leaky_relu", "leaky_relu_backward", "rows", ("1.0, alpha)", "1.0, 0.0)"), {"dx"}),
])
def test_deeplearning_ai_layer_functions_in_columns(spec, fn, convention, edit, wrong, tmp_path):
    """The course's linear_backward(dZ, cache) and linear_activation_backward(dA, cache, activation), run with
    their forward partners as written (b (n, 1), dA without the 1/m); a layer whose backward takes a defaulted
    alpha. The reference: derivax's derivation of the layer."""
    source = (HERE / "dlai_layers.py").read_text()
    if edit:
        assert edit[0] in source
        source = source.replace(*edit)
    path = tmp_path / "layers.py"
    path.write_text(source)
    _, net = __import__("derive.network.examples", fromlist=["resolve"]).resolve(spec)
    report = check_code(net, f"{path}:{fn}", points=2, convention=convention)
    assert report.error is None, report.error
    assert {k for k, r in report.params.items() if not r.ok} == wrong, report.summary()


NIELSEN_FUNCTIONS = """
import numpy as np

def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))

def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))

def backprop(weights, biases, X, Y):
    m = X.shape[1]
    activation, activations, zs = X, [X], []
    for b, w in zip(biases, weights):
        z = w @ activation + b
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    delta = 2 * (activations[-1] - Y) * sigmoid_prime(zs[-1]) / m
    nabla_w, nabla_b = [None] * len(weights), [None] * len(biases)
    nabla_w[-1], nabla_b[-1] = delta @ activations[-2].T, delta.sum(1, keepdims=True)
    for l in range(2, len(weights) + 1):
        delta = (weights[-l + 1].T @ delta) * sigmoid_prime(zs[-l])
        nabla_w[-l], nabla_b[-l] = delta @ activations[-l - 1].T, delta.sum(1, keepdims=True)
    return ORDER
"""


@pytest.mark.parametrize("order, edit, wrong", [
    ("nabla_w, nabla_b", None, set()),
    ("nabla_b, nabla_w", None, set()),
    ("nabla_w, nabla_b", ("* sigmoid_prime(zs[-l])", "* zs[-l]"), {"W1", "b1"}),
])
def test_a_function_of_nielsens_weight_and_bias_lists(order, edit, wrong, tmp_path):
    """backprop(weights, biases, X, Y) on Nielsen's lists (columns), returning the two lists of gradients in
    either order (the list of matrices told from the list of vectors by their shapes)."""
    source = NIELSEN_FUNCTIONS.replace("ORDER", order)
    if edit:
        source = source.replace(*edit)
    path = tmp_path / "nielsen.py"
    path.write_text(source)
    net = Network(3, [Dense(4, "sigmoid"), Dense(2, "sigmoid")], loss="mse")
    report = check_code(net, f"{path}:backprop", points=2, convention="columns")
    assert report.error is None, report.error
    assert {k for k, r in report.params.items() if not r.ok} == wrong, report.summary()
    assert any("backprop(weights=[W1, W2, ...], biases=[b1, b2, ...], X=x, Y=y)" in n for n in report.notes)


@pytest.mark.parametrize("spec, target, wrong", [
    ("4-3", "Layer_Dense", set()),
    ("4-3", "Layer_Dense.backward", set()),
    ("4-4:relu", "Activation_ReLU", set()),
    ("4-4:relu", "Activation_ReLU_bad", {"dx"}),          # the mask of the inputs left out
    ("4-3", "Layer_Dense_bad", {"b1"}),                   # dbiases summed over the units
])
def test_nnfs_layer_classes_keep_their_results_on_the_object(spec, target, wrong):
    _, net = __import__("derive.network.examples", fromlist=["resolve"]).resolve(spec)
    report = check_code(net, f"{HERE / 'nnfs_layers.py'}:{target}", points=2)
    assert report.error is None, report.error
    assert {k for k, r in report.params.items() if not r.ok} == wrong, report.summary()
    cls = target.split(".")[0]
    if "relu" in spec:   # a layer without parameters: its dinputs alone, no weights or biases spoken of
        assert any(n.startswith(cls + " built, " + cls + ".forward(inputs) run") and "its dinputs compared" in n
                   for n in report.notes), report.notes
        assert not any("weights" in n or "biases" in n for n in report.notes), report.notes
    else:
        assert any(n.startswith(cls + " built, its weights and biases set to the point's") for n in report.notes), \
            report.notes


def test_an_nnfs_layer_declared_as_another_layer_is_told_what_to_declare():
    _, net = __import__("derive.network.examples", fromlist=["resolve"]).resolve("4-3:relu")
    report = check_code(net, f"{HERE / 'nnfs_layers.py'}:Layer_Dense", points=1)
    assert report.error.endswith("Layer_Dense.forward's output is not the declared network's: declare the layer as it "
                                 "computes (4-3 for Layer_Dense, 4-4:relu for Activation_ReLU)"), report.error


def test_a_class_made_without_its_constructor_says_why_when_an_attribute_is_missing(tmp_path):
    """A constructor taking what derivax cannot give (WildML's RNNNumpy(word_dim, ...)): the method's
    AttributeError on what __init__ would have set says the constructor was not run, and why."""
    path = tmp_path / "rnn_numpy.py"
    path.write_text("import numpy as np\n\n\nclass RNNNumpy:\n"
                    "    def __init__(self, word_dim, hidden_dim=100):\n"
                    "        self.word_dim, self.hidden_dim = word_dim, hidden_dim\n\n"
                    "    def backward(self, x, y):\n"
                    "        return {'W1': np.zeros((self.hidden_dim, 1))}\n")
    net = Network(4, [Dense(3, "softmax")])
    report = check_code(net, f"{path}:RNNNumpy.backward", points=1)
    assert report.error.endswith("RNNNumpy was made without its constructor, whose 'word_dim' is nothing derivax "
                                 "can give (it gives the layer sizes, λ and dtype by their usual names): what "
                                 "__init__ sets is not there"), report.error
    assert "raised AttributeError: 'RNNNumpy' object has no attribute 'hidden_dim'" in report.error


def test_a_wrong_rule_the_networks_gradients_do_not_reach_still_fails_the_check(tmp_path):
    """A Value class whose ** rule is wrong (micrograd's classic slip, other * data ** other) in a network of
    + * tanh alone: every gradient is right, but the engine is wrong for the next loss that squares; each rule
    is tested on its own against the exact derivative, and the check fails naming it."""
    rule = ("    def __pow__(self, k):\n"
            "        out = Value(self.data ** k, (self,))\n\n"
            "        def back():\n"
            "            self.grad += (k * self.data ** k) * out.grad\n"
            "        out._back = back\n"
            "        return out\n\n"
            "    def __mul__(self, other):")
    path = _edited(tmp_path, "scalar_autograd.py", "    def __mul__(self, other):", rule)
    net = Network(3, [Dense(4, "tanh"), Dense(1, "tanh")], loss="mse")
    report = check_code(net, f"{path}:MLP", points=1)
    assert all(r.ok for r in report.params.values()) and not report.ok
    assert report.rules_wrong and "backward for a ** 3 is wrong" in report.rules_wrong, report.rules_wrong
    assert "all 4 gradients right" in report.summary() and "wrong backward rule" in report.summary()


@pytest.mark.parametrize("form, ok", [("lambda", True), ("lambda/2", False)])
def test_an_nnfs_layer_takes_its_regularizer_from_its_constructor(form, ok):
    """Layer_Dense(n_inputs, n_neurons, weight_regularizer_l2=λ) is built with the declared λ: its λ ΣW² is
    --l2-form lambda, and against (λ/2) ΣW² its decay term is twice the derived one, said so; the layer without
    that argument has the decay named missing."""
    net = Network(4, [Dense(3)], loss="mse", l2=0.1, l2_form=form)
    report = check_code(net, f"{HERE / 'nnfs_layers.py'}:Layer_Dense_L2", points=2)
    assert report.error is None and report.ok is ok, report.summary()
    assert any("weight_regularizer_l2=0.1" in n for n in report.notes), report.notes
    if not ok:
        assert report.params["W1"].message.startswith("the weight decay's term is twice the derived one")
    plain = check_code(net, f"{HERE / 'nnfs_layers.py'}:Layer_Dense", points=1)
    assert plain.params["W1"].message == "the weight decay's term is missing (its gradient adds to the data term)"


def test_a_network_differing_only_in_its_decays_form_is_lowered_again():
    """Two networks alike but for the decay's form, checked one after the other in one process: the second is
    checked against its own derivation, not the first one's (the lowering is remembered by the declaration)."""
    verdicts = []
    for form in ("lambda", "lambda/2", "lambda"):
        net = Network(4, [Dense(3)], loss="mse", l2=0.1, l2_form=form)
        verdicts.append(check_code(net, f"{HERE / 'nnfs_layers.py'}:Layer_Dense_L2", points=1).ok)
    assert verdicts == [True, False, True]

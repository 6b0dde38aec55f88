"""Bad input given from Python and on the command line: each refused with a message naming the culprit,
before any SymPy, JAX or NumPy work that could fail inside those libraries, run for minutes or answer wrong."""
import math

import pytest
import sympy as sp

import compile
import derive
from compile.cli.main import main as cli
from compile.train.optim import OptimizerError
from derive import Builder, Dense, Embedding, Network, NetworkError, Recurrent, TransformerBlock

Z, YHAT = sp.Symbol("z"), sp.Symbol("yhat")


def nested(f, x, n):
    """f(f(...f(x))) n deep, left unevaluated (SymPy's own evaluation of deep tanh takes minutes)."""
    for _ in range(n):
        x = f(x, evaluate=False)
    return x


def xor_net():
    return Network(2, [Dense(2, "tanh"), Dense(1)], loss="mse")


# ---- 1. TransformerBlock's hidden width ----

@pytest.mark.parametrize("hidden", [0, -1, 2.5])
def test_a_transformer_block_refuses_a_hidden_width_that_is_no_positive_integer(hidden):
    with pytest.raises(NetworkError) as info:
        Network(5, [Embedding(5, 4), TransformerBlock(1, hidden=hidden), Dense(5, "softmax")], loss="ce")
    assert str(info.value) == (f"layer 2 (TransformerBlock): hidden (the MLP's width; None for 4 × 4) must be a "
                               f"positive integer, not {hidden!r}")


def test_a_transformer_block_without_hidden_is_four_times_the_features_wide():
    model = Network(5, [Embedding(5, 4), TransformerBlock(1), Dense(5, "softmax")], loss="ce").build()
    widths = sorted(int(p.shape[1]) for p in model.params if str(p).startswith("W"))
    assert 16 in widths   # 4 features: the MLP is 16 wide


# ---- 2. a node of another Builder ----

def test_a_builder_refuses_a_node_another_builder_made():
    g, h = Builder(2), Builder(2)
    other = h.dense(h.X, 2)
    with pytest.raises(NetworkError) as info:
        g.dense(other, 2)
    assert str(info.value) == ("layer 1 (Dense 2): its input, A1, was made by another Builder (its parameter W1 is "
                               "not this one's): build each network from one Builder")
    assert g.layers == [] and g.records == []   # nothing was added


def test_a_builder_takes_its_own_nodes_and_its_own_input():
    g = Builder(2)
    a = g.dense(g.X, 3, "tanh")
    b = g.dense(a, 3, "tanh", add=[a])
    model = g.output(g.dense(b, 1), loss="mse")
    assert [l.index for l in model.layers] == [1, 2, 3]


@pytest.mark.parametrize("call, message", [
    (lambda g: g.dense([1, 2], 2), "layer 1 (Dense 2): its input must be a node of this Builder (its X, or what one "
                                   "of its methods returned), not [1, 2]"),
    (lambda g: g.dense(g.X, 2, add=[5]), "layer 1 (Dense 2): add[0] must be a node of this Builder (its X, or what "
                                         "one of its methods returned), not 5"),
    (lambda g: g.dense(g.X, 2, add=g.X), "layer 1 (Dense 2): add must be a list of this Builder's nodes, not X"),
    (lambda g: g.concat([]), "layer 1 (concatenation): parts is empty: give the outputs to put side by side"),
    (lambda g: g.concat([g.X, 3]), "layer 1 (concatenation): part 2 must be a node of this Builder (its X, or what "
                                   "one of its methods returned), not 3"),
])
def test_builder_methods_name_an_argument_that_is_no_node(call, message):
    with pytest.raises(NetworkError) as info:
        call(Builder(2))
    assert str(info.value) == message


# ---- 3. optimizer rules made directly ----

@pytest.mark.parametrize("make, message", [
    (lambda: compile.sgd(-1.0), "the learning rate must be a finite number > 0, not -1.0"),
    (lambda: compile.sgd(float("nan")), "the learning rate must be a finite number > 0, not nan"),
    (lambda: compile.sgd(float("inf")), "the learning rate must be a finite number > 0, not inf"),
    (lambda: compile.sgd("0.1"), "the learning rate must be a finite number > 0, not '0.1'"),
    (lambda: compile.adam(0.1, b1=2.0), "adam: b1 must be in [0, 1), not 2.0"),
    (lambda: compile.adam(0.1, eps=0.0), "adam: eps must be in (0, 1], not 0.0"),
    (lambda: compile.momentum(0.1, beta=-1.0), "momentum: beta must be in [0, 1), not -1.0"),
    (lambda: compile.momentum(0.1, beta=float("nan")), "momentum: beta must be a finite number, not nan"),
])
def test_a_rule_made_directly_is_checked_as_one_made_by_name(make, message):
    with pytest.raises(OptimizerError) as info:
        make()
    assert str(info.value) == message


def test_the_named_path_gives_the_same_messages():
    from compile.train.optim import make
    with pytest.raises(OptimizerError, match=r"^momentum: beta must be in \[0, 1\), not -1.0$"):
        make("momentum", 0.1, beta=-1.0)
    assert compile.adam(0.01, b1=0.5).hyper == make("adam", 0.01, b1=0.5).hyper


# ---- 4. arguments of the wrong type ----

def test_derive_takes_a_network_as_network_derive_does():
    net = xor_net()
    assert derive.derive(net).text() == net.derive().text()


def test_the_scalar_check_takes_a_network():
    results = derive.scalar_check(xor_net())
    assert {r.name for r in results} == {"W1", "b1", "W2", "b2"} and all(r.ok for r in results)


@pytest.mark.parametrize("call, message", [
    (lambda: derive.derive("xor"), "derive: its argument must be a Network or a built Model (net.build()), not 'xor'"),
    (lambda: derive.gradients(xor_net().build()), "gradients: J must be the root Node of a graph (with one entry), "
                                                  "not a Model; for a network's gradients use derive(net)"),
    (lambda: derive.gradients(xor_net().build().J, None), "gradients: wrt must be a list of the graph's Nodes, not "
                                                          "None"),
    (lambda: derive.scalar_view("xor"), "scalar_view: its argument must be a Network, a built Model (net.build()) or "
                                        "a Derivation (net.derive()), not 'xor'"),
    (lambda: compile.lower(3), "lower: its argument must be a Network, a built Model (net.build()) or a Derivation "
                               "(net.derive()), not 3"),
])
def test_a_function_names_what_it_takes(call, message):
    with pytest.raises(NetworkError) as info:
        call()
    assert str(info.value) == message


def test_check_update_takes_a_rule_derivax_derives():
    with pytest.raises(OptimizerError) as info:
        compile.check_update("rmsprop", "theta - alpha*g")
    assert str(info.value) == ("check_update: optimizer must be one of sgd, momentum, adam (the update rules derivax "
                               "derives), not 'rmsprop'")


@pytest.mark.parametrize("seconds", ["5", float("nan"), -1, True])
def test_time_limit_names_seconds_that_are_no_number(seconds):
    with pytest.raises(ValueError) as info:
        derive.time_limit(seconds)
    assert str(info.value) == (f"time_limit: seconds must be a finite number >= 0 (0 or None: no limit), "
                               f"not {seconds!r}")


# ---- 5. SymPy expressions past a formula's limits ----

@pytest.mark.parametrize("depth", [9, 200])
def test_an_activation_nested_past_the_formula_limit_is_refused_at_once(depth):
    with pytest.raises(NetworkError) as info:
        Network(2, [Dense(1, nested(sp.tanh, Z, depth))], loss="mse")
    assert str(info.value) == ("layer 1: activation: the SymPy expression has functions applied inside one another "
                               "more than 8 deep (at most 8)")


@pytest.mark.parametrize("norm", ["BatchNorm", "LayerNorm"])
def test_a_normalization_s_activation_nested_past_the_formula_limit_is_refused_at_once(norm):
    """The same limits on a normalization layer's activation as on a Dense layer's: refused before SymPy
    differentiates it."""
    with pytest.raises(NetworkError) as info:
        Network(2, [Dense(3), getattr(derive, norm)(activation=nested(sp.tanh, Z, 200)), Dense(1)], loss="mse")
    assert str(info.value) == (f"layer 2 ({norm}): activation: the SymPy expression has functions applied inside "
                               "one another more than 8 deep (at most 8)")


def test_a_loss_nested_past_the_formula_limit_is_refused_without_a_recursion_error():
    with pytest.raises(NetworkError) as info:
        Network(2, [Dense(1)], loss=nested(sp.sin, YHAT, 200))
    assert str(info.value) == ("the loss: the SymPy expression has functions applied inside one another more than 8 "
                               "deep (at most 8)")


def test_a_deep_or_large_expression_without_functions_is_refused():
    deep = Z
    for _ in range(1000):
        deep = sp.Pow(deep, 2, evaluate=False) + Z
    with pytest.raises(NetworkError, match=r"^layer 1: activation: the SymPy expression is nested more than 80 "
                                           r"levels deep \(at most 80\)$"):
        Network(2, [Dense(1, deep)], loss="mse")
    wide = sp.Add(*[sp.Symbol(f"c{k}") * Z for k in range(1500)])
    with pytest.raises(NetworkError, match=r"^layer 1: activation: the SymPy expression has more than 2000 parts"):
        Network(2, [Dense(1, wide)], loss="mse")


def test_an_expression_within_the_limits_is_derived_as_its_formula_string():
    from_python = Network(2, [Dense(1, nested(sp.tanh, Z, 2))], loss="mse").derive()
    from_text = Network(2, [Dense(1, "tanh(tanh(z))")], loss="mse").derive()
    assert from_python.text() == from_text.text()


# ---- 6. non-finite constants in a recurrent step ----

@pytest.mark.parametrize("constant", [float("nan"), math.inf])
def test_a_recurrent_step_with_a_non_finite_constant_is_refused(constant):
    def step(s):
        return s.h * constant + s.linear("h")
    with pytest.raises(NetworkError) as info:
        Network((3, 1), [Recurrent(2, step), Dense(1)], loss="mse")
    found = "nan" if math.isnan(constant) else "oo"
    assert str(info.value) == (f"layer 1 (Recurrent 2): the step function's equations hold the constant {found}, "
                               "which is no finite number: write a finite constant (a large one, 1e6, if you mean "
                               "a very large value)")


def test_a_recurrent_step_with_finite_constants_is_taken():
    net = Network((3, 1), [Recurrent(2, lambda s: s.h * 0.5 + s.linear("h")), Dense(1)], loss="mse")
    assert "0.5 ∂J/∂h₁⟨t+1⟩" in net.derive().text()


# ---- 7. options given twice ----

def test_train_refuses_an_optimizer_option_given_twice_with_two_values(capsys):
    assert cli(["train", "xor", "--optimizer", "adam", "--opt", "b1=0.9", "--opt", "b1=0.8"]) == 2
    assert capsys.readouterr().err.strip() == "derivax: --opt b1 is given twice, as 0.9 and 0.8: give it once"


def test_check_code_refuses_a_name_mapped_twice(capsys):
    assert cli(["check-code", "xor", "examples/my_backward.py:backward", "--names", "a=Z2,a=Z1"]) == 2
    assert "argument --names: a is given twice, as Z2 and Z1: give it once" in capsys.readouterr().err


def test_check_code_reads_every_names_option_as_one_mapping(capsys, tmp_path):
    """--names given twice maps both (the first is not lost); the same key to two nodes is refused."""
    code = tmp_path / "mine.py"
    code.write_text("import numpy as np\n"
                    "def backward(params, X, Y):\n"
                    "    A1 = np.tanh(X @ params['W1'] + params['b1'])\n"
                    "    Z2 = A1 @ params['W2'] + params['b2']\n"
                    "    E = np.exp(Z2 - Z2.max(axis=1, keepdims=True)); A2 = E / E.sum(axis=1, keepdims=True)\n"
                    "    m = X.shape[0]; d2 = (A2 - Y) / m; d1 = d2 @ params['W2'].T * (1 - A1**2)\n"
                    "    return {'W1': X.T @ d1, 'b1': d1.sum(0), 'W2': A1.T @ d2, 'b2': d2.sum(0),\n"
                    "            'g2': d2, 'g1': d1}\n")
    assert cli(["check-code", "xor", f"{code}:backward", "--names", "g2=Z2", "--names", "g1=Z1"]) == 0
    out = capsys.readouterr().out
    assert "∂J/∂Z₂" in out and "∂J/∂Z₁" in out, out
    assert cli(["check-code", "xor", f"{code}:backward", "--names", "g2=Z2", "--names", "g2=Z1"]) == 2
    assert capsys.readouterr().err.strip() == "derivax: --names g2 is given twice, as Z2 and Z1: give it once"


def test_show_takes_every_param_given(capsys):
    assert cli(["show", "xor", "--format", "json", "--param", "W1", "--param", "W2"]) == 0
    import json
    assert sorted(json.loads(capsys.readouterr().out)["gradients"]) == ["W1", "W2"]


def test_bench_refuses_a_model_with_suite(capsys):
    assert cli(["bench", "xor", "--suite"]) == 2
    assert capsys.readouterr().err.strip() == ("derivax: --suite runs the whole benchmark suite, its own networks: "
                                               "give it no model (not 'xor'), or drop --suite to time xor")

"""Defects found through the Python API: autodiff of the generated forward at a kink, dropout on a log loss's
output, activations whose derivative is not finite, bracketed formulas, the explorer API's field checks, a
Builder's Model where a Network is taken, layers that build as several, duplicate skips, steps="mean" with no
steps, and the simplification of a densely skipped network's adjoints."""
import numpy as np
import pytest
import sympy as sp

from derive import Dense, Network, NetworkError
from derive.network.examples import ModelError, parse_spec, resolve

# jax.grad of each kinked function's JAX code at 0, by the table's convention (the left-hand derivative),
# written out by hand: relu′(0) = step(0) = 0, leaky_relu′(0) = 1/100, abs′(0) = sign(0) = 0, elu′(0) = 1
# (smooth there), selu′(0) = λα from the left.
KINK_SLOPES = {"relu": 0.0, "leaky_relu": 0.01, "abs": 0.0, "step": 0.0, "sign": 0.0, "elu": 1.0,
               "selu": 1.0507009873554805 * 1.6732632423543772}


def test_jax_grad_of_each_kinked_functions_code_takes_the_kink_convention():
    import jax
    import jax.numpy as jnp
    from compile.lowering.lower import ScalarJax
    from derive.network.scalar_functions import SCALAR_FUNCTIONS
    z = sp.Symbol("z")
    rows = {f.name: f for f in SCALAR_FUNCTIONS}
    for name, slope in KINK_SLOPES.items():
        code = ScalarJax({z: "z"}).doprint(rows[name].sympy(z))
        fn = eval("lambda z: " + code, {"jnp": jnp, "jax": jax})   # noqa: S307 - derivax's own printed code
        assert float(jax.grad(fn)(jnp.float32(0.0))) == pytest.approx(slope, rel=1e-6), (name, code)
        assert float(fn(jnp.float32(-2.0))) == pytest.approx(float(rows[name].numpy(np.array(-2.0))), rel=1e-6)


@pytest.fixture(scope="module")
def kinked_trainer():
    """relu then |z| at zero inputs with zero biases: every unit of both layers sits at its kink."""
    from compile import compile_trainer
    net = Network(3, [Dense(4, "relu"), Dense(4, "abs(z)"), Dense(2, "softmax")], loss="ce")
    return compile_trainer(net)


def test_derived_gradient_at_a_kink_agrees_with_jax_grad_of_the_generated_loss(kinked_trainer):
    import jax
    tr = kinked_trainer
    params = tr.init_params(0)
    rng = np.random.default_rng(0)
    x = np.zeros((4, 3), np.float32)
    x[2:] = rng.normal(size=(2, 3))   # two examples at the kink, two off it
    y = np.eye(2, dtype=np.float32)[[0, 1, 1, 0]]
    derived = tr.grads(params, x, y)
    auto = jax.grad(tr.loss)(params, x, y)
    # the left-hand finite difference of the bias b1 (entries at 0 stay on relu's flat side), in float64 NumPy
    W1, b1, W2, b2, W3, b3 = (np.asarray(params[k], np.float64) for k in ("W1", "b1", "W2", "b2", "W3", "b3"))

    def loss(b):
        a2 = np.abs(np.maximum(x @ W1 + b, 0) @ W2 + b2)
        s = a2 @ W3 + b3
        s = s - s.max(1, keepdims=True)
        return -np.mean(np.sum(y * (s - np.log(np.exp(s).sum(1, keepdims=True))), 1))
    h = 1e-6
    left = [(loss(b1) - loss(b1 - h * np.eye(4)[j])) / h for j in range(4)]
    np.testing.assert_allclose(np.asarray(derived["b1"]).ravel(), left, atol=2e-4)
    for k in derived:
        np.testing.assert_allclose(np.asarray(derived[k]), np.asarray(auto[k]), atol=1e-6, err_msg=k)


@pytest.mark.parametrize("loss", ["bce", "ce", "-(y*log(yhat) + (1-y)*log(1-yhat))", "-y*log(yhat)"])
def test_dropout_on_the_output_of_a_log_loss_is_refused_naming_the_layer(loss):
    with pytest.raises(NetworkError, match=r"^layer 2 \(dense, sigmoid\): no dropout on the output layer"):
        Network(2, [Dense(3, "tanh"), Dense(2, "sigmoid", dropout=0.5)], loss=loss)


def test_dropout_on_a_sigmoid_output_is_refused_inline_and_allowed_on_a_hidden_layer_or_with_mse():
    with pytest.raises(ModelError, match="no dropout on the output layer with the loss bce"):
        parse_spec("2-3:tanh-1:sigmoid:drop0.5", "bce")
    Network(2, [Dense(3, "tanh", dropout=0.5), Dense(1, "sigmoid")], loss="bce")
    Network(2, [Dense(3, "tanh"), Dense(1, "sigmoid", dropout=0.5)], loss="mse")


def test_sqrt_of_a_square_is_abs_and_its_derivative_is_finite_at_zero():
    from derive.network.functions import Abs, derivative, z
    net = Network(2, [Dense(3, "sqrt(z**2)"), Dense(1)], loss="mse")
    fn = net.build().layers[0].fn
    assert fn.expr == Abs(z)
    assert derivative(fn).xreplace({z: 0}) == 0   # sign(0), where z/sqrt(z**2) was 0/0 = nan


@pytest.mark.parametrize("formula, where", [("sqrt(abs(z))", "z = 0"), ("1/z", "z = 0"),
                                            ("sqrt(abs(z - 1))", "z = 1")])
def test_an_activation_whose_derivative_is_not_finite_is_refused(formula, where):
    with pytest.raises(NetworkError, match=f"is not a finite number at {where}"):
        Network(2, [Dense(3, formula), Dense(1)], loss="mse")


def test_only_brackets_that_match_each_other_are_taken_off_an_activation():
    from derive.network.parts import bracketed
    assert [bracketed(t) for t in ("(z)", "((z+1)*(z-1))", "(z+1)*(z-1)", "(z)+(1)", "z")] == \
        [True, True, False, False, False]
    z = sp.Symbol("z")
    for text in ("(z+1)*(z-1)", "((z+1)*(z-1))"):
        assert sp.expand(Network(2, [Dense(3, text), Dense(1)], loss="mse").build().layers[0].fn.expr) == z**2 - 1
    for spec in ("2-3:(z+1)*(z-1)-1", "2-3:((z+1)*(z-1))-1"):
        assert sp.expand(parse_spec(spec, "mse").build().layers[0].fn.expr) == z**2 - 1


@pytest.mark.parametrize("spec, position", [("2-3:(z+1)*(z-1 +)-1", 16), ("2-3:((z+1)*(z-1 +))-1", 17)])
def test_a_formula_error_in_a_spec_points_at_its_character(spec, position):
    with pytest.raises(ModelError) as err:
        parse_spec(spec, "mse")
    assert err.value.position == position and spec[position] == ")"


@pytest.mark.parametrize("fields, field, says", [
    ({"model": "xor", "edits": ["x"]}, "edit:0", "each edit is an object"),
    ({"model": "xor", "edits": "abc"}, "edits", "edits has the wrong type (str): it must be a list"),
    ({"model": "xor", "edits": [None]}, "edit:0", "not None"),
    ({"model": 5}, "model", "model has the wrong type (int): it must be a text"),
    ({"model": ["xor"]}, "model", "model has the wrong type (list)"),
    ({"model": "xor", "edits": [{"op": "activation", "layer": 1, "value": 5}]}, "edit:0",
     "the activation must be a text"),
])
def test_derive_page_names_the_malformed_field(fields, field, says):
    from compile.explore.api import ApiError, derive_page
    with pytest.raises(ApiError) as err:
        derive_page(fields)
    assert err.value.field == field and says in err.value.message


def test_a_layer_built_as_several_is_named_when_the_page_edits():
    from compile.explore.api import ApiError, derive_page
    with pytest.raises(ApiError) as err:
        derive_page({"model": "gru", "edits": [{"op": "remove", "layer": 3}]})
    assert "layer 1 (Bidirectional) is built as 3 layers (recurrent, recurrent, concat)" in err.value.message
    assert "transformer" not in err.value.message


def _builder_model():
    from derive import Builder
    g = Builder(2)
    return g.output(g.dense(g.dense(g.X, 3, "tanh"), 1, "sigmoid"), loss="bce")


def test_a_builders_model_is_refused_with_the_way_to_train_it(tmp_path):
    from compile import compile_trainer
    with pytest.raises(TypeError, match=r"not a Model: .*derive\.derive\(model\).*build\(g, inp, adds\)"):
        compile_trainer(_builder_model())
    from compile.checks.formula import check_formula
    with pytest.raises(TypeError, match=r"check_formula: net must be a derive\.Network, not a Model: .*build\(g, inp"):
        check_formula(_builder_model(), "W1", "X.T @ Y")
    path = tmp_path / "graph.py"
    path.write_text("from derive import Builder\ng = Builder(2)\n"
                    "net = g.output(g.dense(g.dense(g.X, 3, 'tanh'), 1, 'sigmoid'), loss='bce')\n")
    with pytest.raises(ModelError, match=r"is a Model, not a derive\.Network: .*build\(g, inp, adds\)"):
        resolve(str(path))


def test_the_way_the_message_gives_trains_a_graph_that_is_not_a_chain():
    from compile import compile_trainer

    class TwoBranches:
        def build(self, g, inp, adds=()):
            return g.concat([g.dense(inp, 3, "tanh"), g.dense(inp, 2, "relu")])
    tr = compile_trainer(Network(2, [TwoBranches(), Dense(1, "sigmoid")], loss="bce"))
    assert tr.model.size_text == "2-3-2-5-1"


def test_a_skip_named_twice_and_steps_mean_without_steps_are_refused():
    with pytest.raises(NetworkError, match=r"^layer 2: skip_from names layer 1 twice"):
        Network(2, [Dense(3, "tanh"), Dense(3, "tanh", skip_from=(1, 1)), Dense(1)], loss="mse")
    with pytest.raises(NetworkError, match=r"steps='mean' .* \(layer 2, dense\) gives one output per example"):
        Network(2, [Dense(3, "tanh"), Dense(1)], loss="mse", steps="mean")


def test_a_sum_over_many_operands_is_simplified_as_one_symbol_to_the_same_forms(monkeypatch):
    import derive.reverse.derivation as D
    a = [sp.Symbol(f"_a{i}") for i in range(7)]
    m = sp.Symbol("m")
    expr = (1 - a[6] ** 2) * sp.Add(*[2 * a[i] / m for i in range(6)])
    D._SIMPLIFIED.pop(expr, None)
    assert D._simplified(expr) == [sp.cancel(expr), sp.factor(expr)]
    # a densely skipped network: what cancel() and factor() get stays as short as one layer's, whatever the depth
    sizes = []
    real = D._cancel_and_factor
    monkeypatch.setattr(D, "_cancel_and_factor", lambda e: sizes.append(sp.count_ops(e)) or real(e))
    L = 14
    Network(3, [Dense(3, "softplus", skip_from=tuple(range(k))) for k in range(1, L + 1)] + [Dense(1)],
            loss="mse").derive()
    assert sizes and max(sizes) <= 12, sizes

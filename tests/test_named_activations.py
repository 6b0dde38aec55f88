"""The named activations that are not plain table rows (elu, selu, swish, silu, gelu, gelu_tanh, mish):
their values against jax.nn's own functions (or NumPy's formula for mish, which jax.nn lacks), their
derived gradients against jax.grad of a network written with jax.nn, finite at saturating inputs, and
their printed forward lines."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from compile.lowering.lower import lower
from derive import Dense, Network
from derive.network.functions import ACTIVATION_NAMES, NetworkError

# Independent references: jax.nn's implementations (gelu=jax.nn.gelu exact; gelu_tanh its default).
REFERENCE = {
    "elu": jax.nn.elu,
    "selu": jax.nn.selu,
    "swish": jax.nn.silu,
    "silu": jax.nn.silu,
    "gelu": lambda z: jax.nn.gelu(z, approximate=False),
    "gelu_tanh": lambda z: jax.nn.gelu(z, approximate=True),
    "mish": lambda z: z * jnp.tanh(jnp.logaddexp(0.0, z)),
}
NAMES = list(REFERENCE)


def _net(act):
    return Network(3, [Dense(4, act), Dense(2, "softmax")], loss="ce", name=act)


_LOWERED = {}


def lowered(act, net=None):
    """One lowering per network, shared by the tests (float64: JAX's 64-bit mode within each call)."""
    key = (act, net is None)
    if key not in _LOWERED:
        with jax.enable_x64(True):
            _LOWERED[key] = lower((net or _net(act)).derive("rows"), "float64")
    return _LOWERED[key]


def _reference_loss(act, params, x, y):
    a = REFERENCE[act](x @ params["W1"] + params["b1"])
    z = a @ params["W2"] + params["b2"]
    return -jnp.sum(y * jax.nn.log_softmax(z, axis=1)) / x.shape[0]


def test_every_name_is_a_layer_activation():
    assert set(NAMES) <= set(ACTIVATION_NAMES)
    with pytest.raises(NetworkError, match="gelu_tanh.*mish"):
        Network(2, [Dense(2, "gelus"), Dense(1)])


@pytest.mark.parametrize("act", NAMES)
def test_values_and_gradients_agree_with_jax_nn(act):
    rng = np.random.default_rng(3)
    low = lowered(act)
    with jax.enable_x64(True):
        params = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=(1, 4)),
                  "W2": rng.normal(size=(4, 2)), "b2": rng.normal(size=(1, 2))}
        # pre-activations from -60 to 60: saturating on both sides, where a careless form gives inf or nan
        x = np.concatenate([rng.normal(size=(5, 3)), 20 * rng.normal(size=(3, 3))])
        y = np.eye(2)[rng.integers(0, 2, 8)]
        one = lowered(act, Network(3, [Dense(4, act)], loss="mse"))   # its output is A1
        z1 = x @ params["W1"] + params["b1"]
        np.testing.assert_allclose(np.asarray(one.forward({"W1": params["W1"], "b1": params["b1"]}, x)),
                                   np.asarray(REFERENCE[act](z1)), rtol=1e-12, atol=1e-12)
        got = low.grads(params, x, y)
        want = jax.grad(lambda p: _reference_loss(act, p, x, y))(params)
        for k in params:
            assert np.all(np.isfinite(np.asarray(got[k]))), k
            np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), rtol=1e-9, atol=1e-12, err_msg=k)


def test_the_printed_forward_pass_and_error_signal():
    import json
    doc = json.loads(Network(2, [Dense(2, "elu"), Dense(1, "sigmoid")], loss="bce").derive().json())
    assert doc["forward"][1] == "A1 = elu(Z1)"
    assert doc["deltas"]["delta1"] == "(delta2 @ W2.T)*((1 - step(Z1))*(elu(Z1) + 1) + step(Z1))"
    doc = json.loads(Network(2, [Dense(2, "swish"), Dense(1, "sigmoid")], loss="bce").derive().json())
    assert doc["forward"][1] == "A1 = Z1*sigmoid(Z1)"


@pytest.mark.parametrize("act, prime", [("2*tanh(z)", "2*(1 - tanh(Z1)**2)"), ("gelu", "gelu_prime(Z1)"),
                                        ("1.7159*tanh(2*z/3)", "1.7159*(2/3)*(1 - tanh(2*Z1/3)**2)"),
                                        ("selu", "selu_prime(Z1)")])
@pytest.mark.parametrize("loss, out", [("bce", "sigmoid"), ("mse", "identity")])
def test_an_error_signal_keeps_its_activations_constant(act, prime, loss, out):
    """δ₁ = (δ₂ W₂ᵀ) ⊙ f′(Z₁), the textbook's recursion, holds for the printed δ's whatever constant f′ has:
    the constant stays inside δ₁ (once it was moved into the gradients, and a right δ₁ was rejected)."""
    from compile.checks.formula import check_formula
    net = Network(2, [Dense(3, act), Dense(1, out)], loss=loss)
    d = net.derive("rows")
    assert check_formula(net, "delta1", f"(delta2 @ W2.T) * {prime}", derivation=d).ok
    assert not check_formula(net, "delta1", "(delta2 @ W2.T) * (1 - tanh(Z1)**2)", derivation=d).ok
    grad = json.loads(d.json())["gradients"]["W1"]
    assert grad == ("(1/m)*(X.T @ delta1)" if loss == "bce" else "(2/m)*(X.T @ delta1)")


@pytest.mark.parametrize("spec, says", [
    ("GELU", "unknown activation 'GELU' (did you mean 'gelu'"),
    ("LeakyReLU", "unknown activation 'LeakyReLU' (did you mean 'leaky_relu'?)"),
    ("elu(0.5)", "elu takes no parameter here (elu's is fixed: α = 1); with 0.5, write the formula "
                 "(relu(z) + 0.5*(exp(-relu(-z)) - 1))"),
    ("leaky_relu:alpha=0.2", "with 0.2, write the formula (relu(z) - 0.2*relu(-z))"),
    ("(elu(1.0))", "activation 1 does not depend on its variable z"),
])
def test_an_activation_that_is_not_one_says_what_was_meant(spec, says):
    from derive.network.examples import ModelError, parse_spec
    with pytest.raises((ModelError, NetworkError), match=None) as info:
        parse_spec(f"2-3:{spec}-1:sigmoid")
    assert says in str(info.value)


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_the_suggested_elu_formula_is_elu_with_that_alpha(alpha):
    """The formula the refusal of elu(α) offers, against jax.nn.elu with that α, values and gradients."""
    net = Network(3, [Dense(4, f"(relu(z) + {alpha}*(exp(-relu(-z)) - 1))")], loss="mse")
    with jax.enable_x64(True):
        low = lower(net.derive("rows"), "float64")
        rng = np.random.default_rng(0)
        params = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=(1, 4))}
        x = 30 * rng.normal(size=(6, 3))
        want = jax.nn.elu(x @ params["W1"] + params["b1"], alpha)
        np.testing.assert_allclose(np.asarray(low.forward(params, x)), np.asarray(want), rtol=1e-12, atol=1e-12)


def test_a_function_named_as_an_activation_says_to_write_it_as_a_formula():
    from derive.network.examples import ModelError, parse_spec
    with pytest.raises(ModelError, match=r"exp is a function of formulas, not a named activation: write the "
                                         r"formula \(exp\(z\)\)"):
        parse_spec("2-3:exp-1:sigmoid")


def test_the_data_sets_own_names_are_the_built_ins_they_serve():
    from compile.train.data import load
    for alias, name in (("digits", "mlp"), ("mnist1d", "cnn1d")):
        a, b = load(alias), load(name)
        assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)

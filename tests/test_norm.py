"""Batch norm, layer norm and embeddings: derived from reductions, broadcasting and a gather, printed
as courses print them, and checked against references written here independently (NumPy code of the
textbook backward passes, jax.grad of hand-written JAX models, finite differences, sympy.diff)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from derive.network.embedding import Embedding
from derive.network.functions import NetworkError
from derive.network.layers import Flatten
from derive.network.network import Builder, Dense, Network
from derive.network.norm import BatchNorm, LayerNorm
from derive.printing.document import sections
from derive.reverse.derivation import derive

EPS = 1e-5


def _rows(d, style, title):
    return [f"{lhs} = {rhs}" for t, rows in sections(d, style, steps=True) if t == title for lhs, rhs, _ in rows]


def _bn_net(norm=None, act="tanh"):
    return Network(2, [Dense(2, use_bias=False), norm or BatchNorm(act), Dense(1, "sigmoid")], loss="bce")


# ---- printed derivations (exact strings) -------------------------------------------------------------

def test_batch_norm_prints_the_course_form():
    d = derive(_bn_net().build())
    assert _rows(d, "text", "Forward pass")[2:9] == [
        "μ₂ = (1/m) Σᵢ A₁⁽ⁱ⁾", "X̄₂ = A₁ − μ₂", "σ²₂ = (1/m) Σᵢ (X̄₂²)⁽ⁱ⁾", "σ₂ = √(σ²₂ + ε)", "X̂₂ = X̄₂ ⊘ σ₂",
        "Z₂ = γ₂ ⊙ X̂₂ + β₂", "A₂ = tanh(Z₂)"]
    assert _rows(d, "text", "Error signals") == [
        "δ₃ = A₃ − Y",
        "δ₂ = (δ₃ W₃ᵀ) ⊙ (1 − A₂²)",
        "∂J/∂X̂₂ = (1/m) δ₂ ⊙ γ₂",
        "δ₁ = (m ∂J/∂X̂₂ − (Σᵢ (∂J/∂X̂₂ ⊙ X̂₂)⁽ⁱ⁾) ⊙ X̂₂ − Σᵢ ∂J/∂X̂₂⁽ⁱ⁾) ⊘ σ₂"]
    assert _rows(d, "text", "Gradients")[:3] == [
        "∂J/∂W₁ = (1/m) Xᵀ δ₁", "∂J/∂γ₂ = (1/m) Σᵢ (δ₂ ⊙ X̂₂)⁽ⁱ⁾", "∂J/∂β₂ = (1/m) Σᵢ δ₂⁽ⁱ⁾"]
    assert _rows(d, "formula", "Error signals")[2:] == [
        "dJ/dxhat2 = (1/m)*delta2*gamma2",
        "delta1 = (m*dxhat2 - sum(dxhat2*xhat2, 0)*xhat2 - sum(dxhat2, 0))/sigma2"]
    assert _rows(d, "latex", "Error signals")[2] == (
        r"\frac{\partial J}{\partial \hat{X}^{[2]}} = \frac{1}{m} \delta^{[2]} \odot \gamma^{[2]}")


def test_bessel_corrected_batch_norm_keeps_its_factor():
    d = derive(_bn_net(BatchNorm("tanh", variance="unbiased")).build())
    assert "σ²₂ = (1/(m − 1)) Σᵢ (X̄₂²)⁽ⁱ⁾" in _rows(d, "text", "Forward pass")
    assert _rows(d, "formula", "Error signals")[3] == (
        "delta1 = dxhat2/sigma2 - (1/(m - 1))*sum(dxhat2*xhat2, 0)*xhat2/sigma2 - (1/m)*sum(dxhat2, 0)/sigma2")


def test_layer_norm_sums_over_the_features():
    d = derive(_bn_net(LayerNorm("tanh")).build())
    assert "μ₂ = (1/2) Σₖ A₁" in _rows(d, "text", "Forward pass")
    assert _rows(d, "text", "Error signals")[3] == "δ₁ = (2 ∂J/∂X̂₂ − (Σₖ ∂J/∂X̂₂ ⊙ X̂₂) ⊙ X̂₂ − Σₖ ∂J/∂X̂₂) ⊘ σ₂"


def test_the_steps_record_why_the_mean_path_vanishes():
    d = derive(_bn_net().build())
    steps = _rows(d, "text", "Steps")
    for line in ["∂X̂₂/∂σ₂ = −X̄₂ ⊘ σ₂² = −X̂₂ ⊘ σ₂", "∂J/∂σ₂ = −(Σᵢ (∂J/∂X̂₂ ⊙ X̂₂)⁽ⁱ⁾) ⊘ σ₂",
                 " = using Σᵢ X̂₂⁽ⁱ⁾ = 0", "∂J/∂μ₂ = −(Σᵢ ∂J/∂X̂₂⁽ⁱ⁾) ⊘ σ₂",
                 " = ∂J/∂X̂₂ ⊘ σ₂ − (1/m) (Σᵢ (∂J/∂X̂₂ ⊙ X̂₂)⁽ⁱ⁾) ⊙ X̂₂ ⊘ σ₂"]:
        assert line in steps, line
    text = d.text(steps=True, width=200)
    assert "[X̂2 is centred: it sums to 0 over the axes its mean was taken over]" in text
    assert "[write X̄₂ ⊘ σ₂ as X̂2]" in text


def test_an_embedding_prints_its_lookup_and_the_scatter_of_its_gradient():
    d = derive(Network(2, [Embedding(3, 2), Flatten(), Dense(2, "softmax")]).build())
    assert _rows(d, "text", "Forward pass")[0] == "A₁ = C₁[X]"
    assert _rows(d, "text", "Gradients")[0] == "∂J/∂C₁ = (1/m) onehot(X)ᵀ reshape(δ₃ W₃ᵀ, (m, 2, 2))"
    assert _rows(d, "formula", "Gradients")[0] == "dJ/dC1 = (1/m)*(scatter_add(reshape(delta3 @ W3.T, (m, 2, 2)), X, 3))"


# ---- the derived gradients against textbook code written independently here ----------------------------

def _textbook_batch_norm_backward(x, gamma, dy, unbiased=False, axis=0):
    """The staged backward pass of a batch-norm layer as courses write it (NumPy, by hand)."""
    n = x.shape[axis]
    mu = x.mean(axis, keepdims=True)
    xc = x - mu
    var = (xc ** 2).sum(axis, keepdims=True) / (n - 1 if unbiased else n)
    std = np.sqrt(var + EPS)
    xhat = xc / std
    dxhat = dy * gamma
    dvar = np.sum(dxhat * xc, axis, keepdims=True) * -0.5 * std ** -3
    dxc = dxhat / std + dvar * 2 * xc / (n - 1 if unbiased else n)
    dmu = -np.sum(dxc, axis, keepdims=True)
    dx = dxc + dmu / n
    return dx, np.sum(dy * xhat, axis, keepdims=True), np.sum(dy, axis, keepdims=True)


@pytest.mark.parametrize("norm", [BatchNorm("identity"), BatchNorm("identity", variance="unbiased"),
                                  LayerNorm("identity")], ids=["biased", "unbiased", "layer"])
def test_derived_normalization_gradients_match_the_textbook_backward(norm):
    from compile.lowering.evaluate import evaluate
    from derive.graph.symbols import eps
    net = Network(3, [Dense(4, use_bias=False), norm, Dense(3, "identity", use_bias=False)], loss="mse")
    model = net.build()
    d = derive(model)
    rng = np.random.default_rng(3)
    m = 5
    values = {model.X: rng.normal(size=(m, 3)), model.Y: rng.normal(size=(m, 3))}
    params = {p: rng.normal(size=tuple(int(s) for s in p.shape)) for p in model.params}
    values.update(params)
    consts = {eps: EPS}
    W1, gamma, beta, W3 = model.params
    delta1, dgamma, dbeta, dZ2 = evaluate([d.adjoints[model.layers[0].Z], d.grads["gamma2"], d.grads["beta2"],
                                           d.adjoints[model.layers[1].Z]], values, m, consts)
    x = values[model.X] @ params[W1]
    dx, dg, db = _textbook_batch_norm_backward(x, params[gamma], dZ2, norm.variance == "unbiased",
                                               axis=0 if norm.kind == "batch" else 1)
    np.testing.assert_allclose(delta1, dx, rtol=1e-10, atol=1e-12)
    if norm.kind == "batch":
        np.testing.assert_allclose(dgamma, dg, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dbeta, db, rtol=1e-10, atol=1e-12)


def test_a_batch_norm_net_verifies_three_ways():
    from compile.checks.verify import verify
    r = verify(Network(2, [Dense(2, use_bias=False), BatchNorm("tanh"), Dense(2, "softmax")]), m=3)
    assert r.ok and r.scalar == "used", r.to_json()
    assert set(r.params["W1"].comparisons) == {"jax_grad", "finite_diff", "sympy"}


def test_embedding_gradient_accumulates_over_repeated_indices_as_jax_grad_does():
    import jax
    import jax.numpy as jnp
    from compile.lowering.lower import lower
    net = Network(3, [Embedding(4, 2), Flatten(), Dense(3, "softmax")])
    d = net.derive()
    x = np.array([[1, 1, 2], [3, 1, 1]], float)   # index 1 four times, 0 never
    y = np.eye(3)[[0, 2]]
    rng = np.random.default_rng(0)
    params = {"C1": rng.normal(size=(4, 2)), "W3": rng.normal(size=(6, 3)), "b3": rng.normal(size=(1, 3))}

    def loss(p):   # the model written by hand in JAX
        e = p["C1"][x.astype(int)].reshape(2, 6)
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(e @ p["W3"] + p["b3"]), axis=1))
    with jax.enable_x64(True):
        want = jax.grad(loss)({k: jnp.asarray(v) for k, v in params.items()})
        got = lower(d, "float64").grads(params, x, y)
    for k in params:
        np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), rtol=1e-12, atol=1e-14)
    assert np.all(np.asarray(got["C1"])[0] == 0)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(units=st.integers(1, 4), m=st.integers(2, 5), kind=st.sampled_from(["batch", "layer"]),
       act=st.sampled_from(["tanh", "relu", "sigmoid", "identity"]), unbiased=st.booleans(), seed=st.integers(0, 99))
def test_normalization_gradients_over_random_shapes(units, m, kind, act, unbiased, seed):
    from compile.checks.verify import verify
    if kind == "layer" and unbiased and units == 1:
        return
    norm = (BatchNorm if kind == "batch" else LayerNorm)(act, variance="unbiased" if unbiased else "biased")
    net = Network(3, [Dense(units, use_bias=False), norm, Dense(2, "softmax")])
    r = verify(net, m=m, seed=seed, scalar_limit=0, engine="numpy")
    assert r.ok, r.to_json()


# ---- bad declarations ------------------------------------------------------------------------------------

@pytest.mark.parametrize("layers, words", [
    ([Dense(2), BatchNorm(eps=0)], "eps must be a number in (0, 1), not 0"),
    ([Dense(2), BatchNorm(variance="sample")], "variance must be 'biased'"),
    ([Dense(2), BatchNorm(momentum=1.5)], "momentum must be a number in (0, 1), not 1.5"),
    ([Dense(2), BatchNorm("softmax")], "softmax belongs on the output Dense layer"),
    ([Dense(1), LayerNorm(variance="unbiased")], "divides by N − 1 = 0"),
    ([Dense(2), BatchNorm(eps=1e-5), BatchNorm(eps=1e-3)], "eps = 0.001, but an earlier layer uses eps = 1e-05"),
    ([Dense(2), Embedding(3, 2)], "put the Embedding first"),
    ([Embedding(0, 2)], "the vocabulary size must be a positive integer, not 0"),
])
def test_bad_normalization_and_embedding_layers_are_named(layers, words):
    with pytest.raises(NetworkError) as err:
        Network(3, layers + [Dense(2, "softmax")])
    assert words in str(err.value)
    assert "layer" in str(err.value)


def test_an_embedding_on_a_shaped_input_is_refused():
    g = Builder((3, 2))
    with pytest.raises(NetworkError, match=r"\(batch, positions\) of integer indices"):
        g.embedding(g.X, 5, 2)


# ---- check: formulas with the layers' names, and the same diagnosis as check-code ------------------------

@pytest.mark.parametrize("target, formula, ok, why", [
    ("delta1", "(m*dxhat2 - sum(dxhat2, 0) - xhat2*sum(dxhat2*xhat2, 0))/sigma2", True, ""),
    ("dxhat2", "delta2*gamma2/m", True, ""),
    ("dA1", "dxc2 - sum(dxc2, 0)/m", True, ""),
    ("dA1", "dxc2", False, "the path through μ₂ is missing"),
    ("gamma2", "sum(delta2*xhat2, 0)", False, "missing 1/m"),
])
def test_check_reads_batch_norm_formulas_and_names_the_mistake(target, formula, ok, why):
    from compile.checks.formula import check_formula
    r = check_formula(_bn_net(), target, formula)
    assert r.ok == ok, (r.counterexample, r.diagnosis)
    assert not why or any(why in line for line in r.diagnosis), r.diagnosis


def test_a_last_batch_of_one_example_is_left_out_where_batch_norm_cannot_normalize_it():
    from compile import compile_trainer, fit
    net = Network(3, [Dense(4, use_bias=False), BatchNorm("tanh", variance="unbiased"), Dense(2, "softmax")])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 3))
    hist = fit(compile_trainer(net, "sgd", 0.1), x, (x[:, 0] > 0).astype(int), 3, 8, progress=False)
    assert hist.stopped is None and np.isfinite(hist.step_loss).all()   # 9 = 8 + 1: the one is not a batch


def test_verify_refuses_a_batch_of_one_for_an_unbiased_batch_norm(capsys):
    from compile.cli.main import main
    assert main(["verify", "2-2:nobias-bn:unbiased:tanh-1:sigmoid", "--batch-size", "1"]) == 2
    assert ("layer 2 (batch norm, unbiased variance) divides by m − 1 over the batch: --batch-size must be at least 2"
            in capsys.readouterr().err)

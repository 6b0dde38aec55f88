"""Attention and transformer blocks: derived from batched products, a causal mask and softmax, printed as
courses print them, and checked against independent references (a hand-written NumPy attention backward,
jax.grad of a hand-written JAX model, finite differences, sympy.diff)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from derive import Dense, Embedding, LayerNorm, Network, NetworkError
from derive.network.attention import Attention, TransformerBlock
from derive.printing.document import sections
from derive.reverse.derivation import derive


def _rows(d, style, title):
    return [f"{lhs} = {rhs}" for t, rows in sections(d, style) if t == title for lhs, rhs, _ in rows]


def test_one_head_prints_the_course_form():
    d = derive(Network(3, [Embedding(5, 4), Attention(1), Dense(5, "softmax")]).build())
    assert _rows(d, "text", "Forward pass")[1:9] == [
        "Q₂ = A₁ Wq₂", "K₂ = A₁ Wk₂", "V₂ = A₁ Wv₂", "S₂ = (1/2) Q₂ K₂ᵀ", "P₂ = softmax(causal(S₂))", "H₂ = P₂ V₂",
        "Z₂ = H₂ Wo₂", "A₂ = Z₂"]
    assert _rows(d, "text", "Error signals") == [
        "δ₃ = A₃ − Y", "δ₂ = δ₃ W₃ᵀ", "∂J/∂V₂ = (1/m) P₂ᵀ δ₂ Wo₂ᵀ", "∂J/∂P₂ = (1/m) δ₂ Wo₂ᵀ V₂ᵀ",
        "∂J/∂S₂ = P₂ ⊙ (∂J/∂P₂ − Σₖ ∂J/∂P₂ ⊙ P₂)", "∂J/∂K₂ = (1/2) (Q₂ᵀ ∂J/∂S₂)ᵀ", "∂J/∂Q₂ = (1/2) ∂J/∂S₂ K₂"]
    assert _rows(d, "formula", "Error signals")[4] == "dJ/dS2 = P2*(dP2 - sum(dP2*P2, 2))"
    assert _rows(d, "latex", "Error signals")[4] == (
        r"\frac{\partial J}{\partial S^{[2]}} = P^{[2]} \odot \left(\frac{\partial J}{\partial P^{[2]}} - "
        r"\sum_{k} \frac{\partial J}{\partial P^{[2]}} \odot P^{[2]}\right)")


def test_heads_split_and_merge_in_the_printout():
    d = derive(Network(3, [Embedding(5, 4), Attention(2), Dense(5, "softmax")]).build())
    fwd = _rows(d, "text", "Forward pass")
    assert "Q₂ = heads(A₁ Wq₂)" in fwd and "Z₂ = merge(H₂) Wo₂" in fwd and "S₂ = (√(2)/2) Q₂ K₂ᵀ" in fwd
    assert "∂J/∂Wq₂ = Σₜ A₁⟨t⟩ᵀ merge(∂J/∂Q₂)⟨t⟩" in _rows(d, "text", "Gradients")


def test_the_mask_drops_out_of_the_backward_pass_with_its_reason():
    d = derive(Network(3, [Embedding(5, 4), Attention(1), Dense(5, "softmax")]).build())
    text = d.text(steps=True, width=220)
    assert "causal₀(P₂ ⊙ G) = P₂ ⊙ G" in text and "the weights are 0 wherever the mask would put 0" in text
    assert "causal₀" not in "\n".join(_rows(d, "text", "Error signals"))


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_dS_matches_a_hand_written_attention_backward():
    """The derived ∂J/∂S, ∂J/∂Q, ∂J/∂K, ∂J/∂V against the backward pass as a course writes it in NumPy."""
    from compile.lowering.evaluate import evaluate
    net = Network(4, [Embedding(6, 3), Attention(1), Dense(6, "softmax")])
    model = net.build()
    d = derive(model)
    rng = np.random.default_rng(2)
    m = 3
    x = rng.integers(0, 6, (m, 4)).astype(float)
    y = np.eye(6)[rng.integers(0, 6, (m, 4))]
    params = {p: rng.normal(size=tuple(int(s) for s in p.shape)) for p in model.params}
    values = {model.X: x, model.Y: y, **params}
    by = {p.name: v for p, v in params.items()}
    nodes = {str(n.name): n for n in model.forward if n.name}
    dP, dS, dQ, dK, dV, dZ = evaluate([d.adjoints[nodes[k]] for k in ("P2", "S2", "Q2", "K2", "V2", "Z2")], values, m)
    a = by["C1"][x.astype(int)]
    q, k, v = a @ by["Wq2"], a @ by["Wk2"], a @ by["Wv2"]
    s = q @ k.transpose(0, 2, 1) / np.sqrt(3)
    s = np.where(np.tril(np.ones((4, 4), bool)), s, -np.inf)
    p = _softmax(s)
    dH = dZ @ by["Wo2"].T
    np.testing.assert_allclose(dV, p.transpose(0, 2, 1) @ dH, rtol=1e-10)
    np.testing.assert_allclose(dP, dH @ v.transpose(0, 2, 1), rtol=1e-10)
    want_dS = p * (dP - (dP * p).sum(-1, keepdims=True))
    np.testing.assert_allclose(dS, want_dS, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(dQ, want_dS @ k / np.sqrt(3), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(dK, want_dS.transpose(0, 2, 1) @ q / np.sqrt(3), rtol=1e-10, atol=1e-14)


def test_a_transformer_block_matches_jax_grad_of_a_hand_written_model():
    import jax
    import jax.numpy as jnp
    from compile.lowering.lower import lower
    T, V, D, H = 4, 5, 4, 2
    net = Network(T, [Embedding(V, D, positions=True), TransformerBlock(H, hidden=6), LayerNorm(),
                      Dense(V, "softmax")], steps="mean")
    d = net.derive()
    rng = np.random.default_rng(0)
    shapes = {p.name: tuple(int(s) for s in p.shape) for p in d.model.params}
    params = {k: rng.normal(size=s) * 0.5 + (1.0 if k.startswith("gamma") else 0.0) for k, s in shapes.items()}
    x = rng.integers(0, V, (3, T)).astype(float)
    y = np.eye(V)[rng.integers(0, V, (3, T))]

    def ln(a, g, b):
        mu = a.mean(-1, keepdims=True)
        var = ((a - mu) ** 2).mean(-1, keepdims=True)
        return g * (a - mu) / jnp.sqrt(var + 1e-5) + b

    def loss(p):   # GPT-2's block, written out by hand
        a = p["C1"][x.astype(int)] + p["Cpos1"]
        h = ln(a, p["gamma2"], p["beta2"])
        split = lambda t: t.reshape(3, T, H, D // H).transpose(0, 2, 1, 3)
        q, k, v = split(h @ p["Wq3"]), split(h @ p["Wk3"]), split(h @ p["Wv3"])
        s = jnp.where(jnp.tril(jnp.ones((T, T), bool)), q @ k.transpose(0, 1, 3, 2) / jnp.sqrt(D // H), -jnp.inf)
        o = (jax.nn.softmax(s, -1) @ v).transpose(0, 2, 1, 3).reshape(3, T, D)
        a3 = a + o @ p["Wo3"]
        h2 = ln(a3, p["gamma4"], p["beta4"])
        a6 = a3 + jax.nn.relu(h2 @ p["W5"] + p["b5"]) @ p["W6"] + p["b6"]
        logits = ln(a6, p["gamma7"], p["beta7"]) @ p["W8"] + p["b8"]
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits, -1), -1))
    with jax.enable_x64(True):
        want = jax.grad(loss)({k: jnp.asarray(v) for k, v in params.items()})
        got = lower(d, "float64").grads(params, x, y)
    assert set(got) == set(shapes)
    for k in shapes:
        np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), rtol=1e-9, atol=1e-12, err_msg=k)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(T=st.integers(2, 4), heads=st.integers(1, 2), dk=st.integers(1, 2), causal=st.booleans(),
       m=st.integers(1, 3), seed=st.integers(0, 99))
def test_attention_gradients_over_random_shapes(T, heads, dk, causal, m, seed):
    from compile.checks.verify import verify
    net = Network(T, [Embedding(4, heads * dk), Attention(heads, causal=causal), Dense(3, "softmax")])
    r = verify(net, m=m, seed=seed, scalar_limit=0, engine="numpy")
    assert r.ok, r.to_json()


def test_a_tiny_attention_layer_passes_the_exact_scalar_check():
    from derive.scalar.expand import check
    d = derive(Network(2, [Embedding(2, 1), Attention(1), Dense(2, "softmax")]).build())
    results = check(d)
    assert all(c.ok for c in results) and {c.method for c in results} == {"exact"}


@pytest.mark.parametrize("layers, words", [
    ([Dense(3), Attention(1)], "attention takes a sequence (batch, time, features)"),
    ([Embedding(5, 3), Attention(2)], "3 features do not split into 2 heads: take a number of heads that divides 3, or give key_size"),
    ([Embedding(5, 4), Attention(0)], "the number of heads must be a positive integer, not 0"),
    ([Embedding(5, 4), Attention(1, causal="yes")], "causal must be True or False"),
    ([Dense(4), TransformerBlock(1)], "not a sequence (batch, time, features)"),
])
def test_bad_attention_layers_are_named(layers, words):
    with pytest.raises(NetworkError) as err:
        Network(3, layers + [Dense(2, "softmax")])
    assert words in str(err.value) and "layer" in str(err.value)


def _attention_backward(diagonal=False):
    """A hand-written backward pass of Embedding(5, 2) -> Attention(1) -> Dense(5, softmax) at every
    step, returning the attention adjoints under d<name> keys; ``diagonal`` reduces the softmax
    Jacobian to its diagonal, as students do."""
    def backward(params, x, y):
        C, Wq, Wk, Wv, Wo, W3, b3 = (params[k] for k in ("C1", "Wq2", "Wk2", "Wv2", "Wo2", "W3", "b3"))
        m, T = x.shape
        a = C[x]
        q, k, v = a @ Wq, a @ Wk, a @ Wv
        s = np.where(np.tril(np.ones((T, T), bool)), q @ k.transpose(0, 2, 1) / np.sqrt(2), -np.inf)
        p = _softmax(s)
        h = p @ v
        a2 = h @ Wo
        probs = _softmax(a2 @ W3 + b3)
        dz3 = (probs - y) / m
        dW3, db3 = np.einsum("mti,mtj->ij", a2, dz3), dz3.sum((0, 1))
        dz2 = dz3 @ W3.T
        dWo = np.einsum("mti,mtj->ij", h, dz2)
        dh = dz2 @ Wo.T
        dP = dh @ v.transpose(0, 2, 1)
        dV = p.transpose(0, 2, 1) @ dh
        dS = p * (1 - p) * dP if diagonal else p * (dP - (dP * p).sum(-1, keepdims=True))
        dQ, dK = dS @ k / np.sqrt(2), dS.transpose(0, 2, 1) @ q / np.sqrt(2)
        da = dQ @ Wq.T + dK @ Wk.T + dV @ Wv.T
        dC = np.zeros_like(C)
        np.add.at(dC, x, da)
        return {"dP2": dP, "dS2": dS, "dQ2": dQ, "dK2": dK, "dV2": dV, "C1": dC, "Wq2": np.einsum("mti,mtj->ij", a, dQ),
                "Wk2": np.einsum("mti,mtj->ij", a, dK), "Wv2": np.einsum("mti,mtj->ij", a, dV), "Wo2": dWo,
                "W3": dW3, "b3": db3}
    return backward


@pytest.mark.parametrize("diagonal", [False, True])
def test_check_code_names_a_diagonal_softmax_jacobian_in_attention(diagonal):
    from compile.checks.code import check_code
    net = Network(3, [Embedding(5, 2), Attention(1), Dense(5, "softmax")])
    r = check_code(net, _attention_backward(diagonal), timeout=None, points=2)
    if not diagonal:
        assert r.ok, r.summary()
        assert list(r.intermediates) == ["dV2", "dP2", "dS2", "dK2", "dQ2"]
        return
    assert r.first_wrong is not None and r.first_wrong.name == "dS2", r.summary()
    assert "softmax's Jacobian reduced to its diagonal" in r.first_wrong.message
    assert r.intermediates["dP2"].ok and r.intermediates["dV2"].ok


@pytest.mark.parametrize("spec, kinds", [
    ("3-emb5x4:pos-att2-5:softmax", ["embedding", "attention", "dense"]),
    ("3-emb5x4-att1:full-5:softmax", ["embedding", "attention", "dense"]),
    ("4-emb6x4:pos-block2x8-ln-6:softmax", ["embedding", "layer_norm", "attention", "layer_norm", "dense", "dense",
                                          "layer_norm", "dense"]),
    ("3-emb5x2-flatten-4:nobias-bn:tanh:unbiased-5:softmax", ["embedding", "flatten", "dense", "batch_norm", "dense"]),
])
def test_spec_tokens_declare_the_layers(spec, kinds):
    from derive.network.examples import parse_spec
    model = parse_spec(spec).build()
    assert [layer.kind for layer in model.layers] == kinds


@pytest.mark.parametrize("spec, words", [
    ("3-emb5-5:softmax", "expected an embedding: embVxD[:pos]"),
    ("3-emb5x4-att2x3-5:softmax", "expected attention: attH[:full]"),
    ("3-emb5x4-att0-5:softmax", "expected a number of heads (a positive integer), found '0'"),
    ("2-bn:sideways-1", "unknown option 'sideways' of bn"),
    ("2-ln:unbiased-1", "unknown option 'unbiased' of ln"),
])
def test_bad_spec_tokens_name_their_position(spec, words):
    from derive.network.examples import ModelError, parse_spec
    with pytest.raises(ModelError) as err:
        parse_spec(spec)
    assert words in str(err.value) and "position" in str(err.value)


def test_attention_straight_on_a_sequence_input_matches_jax_grad_of_a_hand_written_model():
    # an input declared (time, features) is a sequence for attention, as for a recurrent or a TimeDistributed layer
    import jax
    import jax.numpy as jnp
    from compile.lowering.lower import lower
    from derive.network.examples import resolve
    T, F, H = 4, 4, 2
    d = resolve(f"{T}x{F}-att{H}:full-td2:softmax")[1].derive()
    rng = np.random.default_rng(1)
    params = {p.name: rng.normal(size=tuple(int(s) for s in p.shape)) * 0.5 for p in d.model.params}
    x = rng.normal(size=(3, T, F))
    y = np.eye(2)[rng.integers(0, 2, (3, T))]

    def loss(p):   # multi-head self-attention without a mask, a residual-free output projection, then a Dense per step
        split = lambda t: t.reshape(3, T, H, F // H).transpose(0, 2, 1, 3)
        q, k, v = (split(x @ p[w]) for w in ("Wq1", "Wk1", "Wv1"))
        o = (jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / jnp.sqrt(F // H), -1) @ v).transpose(0, 2, 1, 3)
        logits = (o.reshape(3, T, F) @ p["Wo1"]) @ p["W2"] + p["b2"]
        return -jnp.sum(y * jax.nn.log_softmax(logits, -1)) / 3
    with jax.enable_x64(True):
        want = jax.grad(loss)({k: jnp.asarray(v) for k, v in params.items()})
        got = lower(d, "float64").grads(params, x, y)
    assert set(got) == set(params) == {"Wq1", "Wk1", "Wv1", "Wo1", "W2", "b2"}
    for k in params:
        np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), rtol=1e-9, atol=1e-12, err_msg=k)

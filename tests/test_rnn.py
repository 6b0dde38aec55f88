"""Recurrent networks: backprop through time derived from the step's own graph, printed as a
recurrence, lowered to jax.lax.scan, and checked against independent references (finite differences
of the NumPy evaluator, jax.grad of the lowered loss, sympy.diff of the unrolled expansion)."""
import json
import re

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compile.checks.verify import verify
from compile.cli.main import main
from derive import GRU, LSTM, Bidirectional, Dense, Flatten, Network, NetworkError, Recurrent, SimpleRNN
from derive.printing.document import sections


def mgu(s):
    """A minimal gated unit, declared by its equations."""
    f = s.gate("f", "sigmoid")
    n = s.gate("n", "tanh", h=f * s.h)
    return (1 - f) * s.h + f * n


def rows(net, style="text"):
    return {title.split(" (")[0]: rows for title, rows in sections(net.derive(), style)}


def test_a_tiny_rnn_prints_its_recurrence():
    s = rows(Network((3, 2), [SimpleRNN(2), Dense(2, "softmax")]))
    assert s["Forward pass"][:4] == [
        ("z₁⟨t⟩", "x⟨t⟩ Wxh₁ + h₁⟨t−1⟩ Whh₁ + bh₁", ""),
        ("h₁⟨t⟩", "tanh(z₁⟨t⟩)", "t = 1, …, 3; h₁⟨0⟩ = 0"),
        ("H₁", "(h₁⟨1⟩, …, h₁⟨3⟩)", ""),
        ("A₁", "h₁⟨3⟩", "")]
    assert s["Error signals"] == [
        ("δ₂", "A₂ − Y", ""),
        ("∂J/∂h₁⟨3⟩", "(1/m) δ₂ W₂ᵀ", "what the layers above send: ∂J/∂A₁"),
        ("∂J/∂h₁⟨t⟩", "δ₁⟨t+1⟩ Whh₁ᵀ", "t < 3: what step t+1 sends back"),
        ("δ₁⟨t⟩", "∂J/∂h₁⟨t⟩ ⊙ (1 − h₁⟨t⟩²)", "")]
    assert s["Gradients"][:3] == [("∂J/∂Wxh₁", "Σₜ x⟨t⟩ᵀ δ₁⟨t⟩", ""), ("∂J/∂Whh₁", "Σₜ h₁⟨t−1⟩ᵀ δ₁⟨t⟩", ""),
                                  ("∂J/∂bh₁", "Σₜ Σᵢ δ₁⟨t⟩⁽ⁱ⁾", "")]


def test_every_state_into_a_dense_layer_and_a_reverse_layer_print_their_boundaries():
    s = rows(Network((4, 1), [SimpleRNN(2, "relu", sequences=True, reverse=True), Flatten(), Dense(2, "softmax")]))
    assert s["Forward pass"][1] == ("h₁⟨t⟩", "relu(z₁⟨t⟩)", "t = 4, …, 1; h₁⟨5⟩ = 0")
    assert s["Error signals"][1:3] == [
        ("∂J/∂H₁", "(1/m) reshape(δ₃ W₃ᵀ, (m, 4, 2))", ""),
        ("∂J/∂h₁⟨t⟩", "(∂J/∂H₁)⟨t⟩ + δ₁⟨t−1⟩ Whh₁ᵀ", "t = 1, …, 4; step 0 sends nothing back")]
    assert s["Error signals"][3] == ("δ₁⟨t⟩", "∂J/∂h₁⟨t⟩ ⊙ step(z₁⟨t⟩)", "")
    # a layer that runs t = T, …, 1 reads the state of the step before it in its own order: h⟨t+1⟩
    assert s["Forward pass"][0] == ("z₁⟨t⟩", "x⟨t⟩ Wxh₁ + h₁⟨t+1⟩ Whh₁ + bh₁", "")
    assert dict((l, r) for l, r, _ in s["Gradients"])["∂J/∂Whh₁"] == "Σₜ h₁⟨t+1⟩ᵀ δ₁⟨t⟩"


def test_a_reverse_layer_s_state_names_are_its_time_steps():
    """In a layer that runs backwards, h2_tp1 is the state a step reads and h2_tm1 the next step's: the names say
    the time step, as the unrolled view does (z₂⟨3⟩ reads h₂⟨4⟩, the boundary)."""
    from compile.checks.formula import check_formula
    net = Network((3, 1), [Bidirectional(SimpleRNN(1, sequences=True)), Flatten(), Dense(2, "softmax")])
    d = net.derive()
    assert check_formula(net, "Whh2", "sum_t(h2_tp1.T @ delta2_t)", derivation=d).ok
    assert not check_formula(net, "Whh2", "sum_t(h2_tm1.T @ delta2_t)", derivation=d).ok
    unrolled = d.text(unroll=True)
    assert "z₂⟨3⟩ = x⟨3⟩ Wxh₂ + h₂⟨4⟩ Whh₂ + bh₂" in unrolled and "z₂⟨1⟩ = x⟨1⟩ Wxh₂ + h₂⟨2⟩ Whh₂ + bh₂" in unrolled


def test_the_gru_derives_its_gate_adjoints():
    s = rows(Network((2, 1), [GRU(2), Dense(2, "softmax")]))
    fwd = dict((l, r) for l, r, _ in s["Forward pass"])
    assert fwd["h₁⟨t⟩"] == "u₁⟨t⟩ ⊙ h₁⟨t−1⟩ + n₁⟨t⟩ ⊙ (1 − u₁⟨t⟩)"
    assert fwd["an₁⟨t⟩"] == "x⟨t⟩ Wxn₁ + bxn₁ + r₁⟨t⟩ ⊙ (h₁⟨t−1⟩ Whn₁ + bhn₁)"
    err = dict((l, r) for l, r, _ in s["Error signals"])
    assert err["δn₁⟨t⟩"] == "∂J/∂h₁⟨t⟩ ⊙ (1 − u₁⟨t⟩) ⊙ (1 − n₁⟨t⟩²)"
    assert err["δu₁⟨t⟩"] == "∂J/∂h₁⟨t⟩ ⊙ u₁⟨t⟩ ⊙ (1 − u₁⟨t⟩) ⊙ (−n₁⟨t⟩ + h₁⟨t−1⟩)"
    assert err["∂J/∂h₁⟨t⟩"] == ("∂J/∂h₁⟨t+1⟩ ⊙ u₁⟨t+1⟩ + (δn₁⟨t+1⟩ ⊙ r₁⟨t+1⟩) Whn₁ᵀ + δr₁⟨t+1⟩ Whr₁ᵀ "
                                "+ δu₁⟨t+1⟩ Whu₁ᵀ")
    grads = dict((l, r) for l, r, _ in s["Gradients"])
    assert grads["∂J/∂Whn₁"] == "Σₜ h₁⟨t−1⟩ᵀ (δn₁⟨t⟩ ⊙ r₁⟨t⟩)"


def test_latex_of_a_recurrence_is_one_superscript_per_name():
    latex = Network((3, 2), [SimpleRNN(2), Dense(2, "softmax")]).derive().latex()
    assert r"\frac{\partial J}{\partial W_{hh}^{[1]}} &= \sum_{t} h^{[1]\langle t-1\rangle T} \delta^{[1]\langle t\rangle}" \
        in latex
    assert r"\sum_{i=1}^{m} \delta^{[1]\langle t\rangle(i)}" in latex
    assert not re.search(r"(\\rangle|\])\}\^", latex)  # no superscript right after a superscript


NETS = {
    "rnn": lambda: Network((3, 1), [SimpleRNN(2), Dense(2, "softmax")]),
    "gru-every-state": lambda: Network((2, 1), [GRU(1, sequences=True), Flatten(), Dense(2, "softmax")]),
    "bidirectional": lambda: Network((2, 1), [Bidirectional(SimpleRNN(1, sequences=True)), Flatten(),
                                              Dense(1, "sigmoid")], loss="bce"),
    "stacked": lambda: Network((3, 1), [SimpleRNN(1, sequences=True), SimpleRNN(1, "softplus"), Dense(1)],
                               loss="mse"),
    "user-cell": lambda: Network((2, 1), [Recurrent(1, mgu, name="MGU"), Dense(1, "identity")], loss="mse"),
    "lstm": lambda: Network((2, 1), [LSTM(1), Dense(2, "softmax")]),
}


@pytest.mark.parametrize("key", list(NETS))
def test_three_way_agreement_on_tiny_recurrent_nets(key):
    """Derived BPTT, evaluated in NumPy, against finite differences and sympy.diff of the loss expanded
    over the unrolled steps; then the lowered lax.scan code against jax.grad."""
    report = verify(NETS[key](), engine="numpy", scalar_limit=40, scalar_seconds=60)
    assert report.ok and report.scalar == "used", report.to_json()
    lowered = verify(NETS[key](), scalar_limit=0)
    assert lowered.ok, lowered.to_json()


def test_the_lowered_step_is_a_scan_and_its_gradient_the_derived_recurrence():
    from compile.lowering.lower import lower
    source = lower(Network((3, 2), [SimpleRNN(2), Dense(2, "softmax")]).derive()).source
    assert "jax.lax.scan(_step" in source and "reverse=True" in source and "jax.vmap(" in source
    assert "jax.grad" not in source and "jax.vjp" not in source
    assert "delta1_t = sigma*(1 - h_t**2)" in source


ACTS = ["tanh", "sigmoid", "relu", "softplus", "(atan(z) + z/2)"]


@st.composite
def recurrent_nets(draw):
    T, F = draw(st.integers(1, 4)), draw(st.integers(1, 2))
    units = draw(st.integers(1, 3))
    seq, reverse = draw(st.booleans()), draw(st.booleans())
    kind = draw(st.sampled_from(["rnn", "gru", "mgu", "lstm"]))
    layer = (SimpleRNN(units, draw(st.sampled_from(ACTS)), seq, reverse) if kind == "rnn" else
             GRU(units, seq, reverse) if kind == "gru" else LSTM(units, seq, reverse) if kind == "lstm" else
             Recurrent(units, mgu, "MGU", seq, reverse))
    layers = [Bidirectional(layer) if draw(st.booleans()) else layer]
    if seq and draw(st.booleans()):  # every state into one dense layer; else an output at every step
        layers.append(Flatten())
    out = draw(st.sampled_from(["softmax", "sigmoid", "identity"]))
    loss = {"softmax": "ce", "sigmoid": "bce", "identity": "mse"}[out]
    return Network((T, F), layers + [Dense(2 if out == "softmax" else draw(st.integers(1, 2)), out)], loss=loss)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recurrent_nets(), st.integers(0, 2**16))
def test_random_recurrent_nets_against_finite_differences(net, seed):
    report = verify(net, seed=seed, scalar_limit=0, engine="numpy")
    assert report.ok, (net, report.to_json())


# 4 draws a run (each compiles its own scan: 10 s apiece on two busy cores); every run draws anew.
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recurrent_nets(), st.integers(0, 2**16))
def test_random_recurrent_nets_lowered_against_jax_grad(net, seed):
    report = verify(net, seed=seed, scalar_limit=0)
    assert report.ok, (net, report.to_json())


@pytest.mark.parametrize("spec, says", [
    ("4-rnn3-2:softmax", "layer 1 (SimpleRNN 3) takes (batch, time, features) inputs; the input X is (m, 4)"),
    ("4x1-rnn3:foo-2:softmax", "unknown option 'foo' of rnn3: expected seq (every state) or an activation at "
                               "position 10"),
    ("4x1-gru3:tanh-2:softmax", "unknown option 'tanh' of gru3: expected seq (every state); a GRU's gates have"),
    ("4x1-rnn0-2:softmax", "expected a number of units (a positive integer), found '0' at position 8"),
    ("4x1-rnn3-flatten-2:softmax", "layer 2 (Flatten): its input, layer 1, is (m, 3), already flat"),
    ("4x1-rnn3-gru2-2:softmax", "layer 2 (GRU 2) takes (batch, time, features) inputs; its input, layer 1, "
                                "is (m, 3)"),
    ("4x1-rnn3:(z**)-2:softmax", "activation formula"),
    ("4x1-rnn3:seq:seq-2:softmax", "seq is given twice in rnn3 at position 14"),
    ("4x1-lstm2:tanh-2:softmax", "unknown option 'tanh' of lstm2: expected seq (every state); an LSTM's gates"),
])
def test_bad_recurrent_specs_are_one_line_and_exit_2(spec, says, capsys):
    assert main(["show", spec]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_a_bad_cell_is_named():
    def not_a_node(s):
        return 3
    with pytest.raises(NetworkError, match=r"layer 1 \(Recurrent MGU 2\): the step function returned 3, not a graph "
                                           r"node"):
        Network((3, 1), [Recurrent(2, not_a_node, "MGU"), Dense(1)], loss="mse")

    with pytest.raises(NetworkError, match=r"the MGU step gives a state of shape \(m, 3\), and its state h⟨t−1⟩ is "
                                           r"\(m, 2\)"):
        Network((3, 1), [Recurrent(2, _wide, "MGU"), Dense(1)], loss="mse")
    with pytest.raises(NetworkError, match="softmax belongs on the output Dense layer"):
        Network((3, 1), [SimpleRNN(2, "softmax"), Dense(1)], loss="mse")


def _wide(s):
    """A step whose new state has 3 units where the layer has 2."""
    from derive.graph.names import Name
    W = s._g.param(Name("Wq", s.layer), (1, 3), s.layer, "weight", (1, 3), "glorot")
    return s.x @ W


def test_json_and_markdown_carry_the_recurrence(capsys):
    assert main(["show", "3x1-rnn2-2:softmax", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["forward"][:2] == ["z1_t = x_t @ Wxh1 + h1_tm1 @ Whh1 + bh1", "h1_t = tanh(z1_t)"]
    assert doc["gradients"]["Whh1"] == "sum_t(h1_tm1.T @ delta1_t)"
    assert main(["show", "3x1-bigru2:seq-flatten-2:softmax", "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert r"\delta_{n}^{[2]\langle t\rangle}" in md and "runs t = 3, …, 1" in md


@pytest.mark.parametrize("spec", ["5x2-rnn3-3:softmax", "4x1-bigru2:seq-flatten-3:softmax", "4x1-gru2-3:softmax",
                                  "4x2-lstm2-3:softmax", "3x1-bilstm2:seq-flatten-3:softmax"])
def test_the_bench_peers_compute_the_derived_loss_and_gradients(spec):
    """The hand-written lax.scan peer of `derivax bench` (and the PyTorch one, where torch is installed)
    give the loss the derivation evaluates, and jax.grad of the peer the derived gradients."""
    import jax
    from compile.cli import bench_rnn
    from compile.lowering.evaluate import evaluate
    from derive.network.examples import parse_spec
    net = parse_spec(spec)
    d = net.derive()
    model = d.model
    rng = np.random.default_rng(3)
    params = {r.name: rng.normal(size=r.shape) * 0.5 for r in model.records}
    x = rng.normal(size=(4, *model.input_shape))
    y = np.eye(3)[[0, 2, 1, 2]]
    values = {model.X: x, model.Y: y, **{r.node: params[r.name] for r in model.records}}
    J, *grads = evaluate([model.J] + [d.grads[r.name] for r in model.records], values, 4)
    prog = bench_rnn.program(net)
    with jax.enable_x64(True):
        assert float(bench_rnn.jax_loss(params, x, y, prog)) == pytest.approx(float(np.sum(J)), rel=1e-12)
        auto = jax.grad(bench_rnn.jax_loss)(params, x, y, prog)
    for r, g in zip(model.records, grads):
        np.testing.assert_allclose(np.asarray(auto[r.name]), g, rtol=1e-9, atol=1e-12)
    try:
        import torch
    except ImportError:
        return
    step, _ = bench_rnn.torch_step(prog, params, lr=0.0)
    loss = step(torch.tensor(x, dtype=torch.float32), torch.tensor(y.argmax(1)))
    assert float(loss.detach()) == pytest.approx(float(np.sum(J)), rel=1e-4)


def test_codegen_writes_a_standalone_recurrent_trainer(tmp_path, capsys):
    """The generated module runs without derivax and computes the lowered gradients."""
    import runpy
    import jax
    from compile.lowering.lower import lower
    out = tmp_path / "gru_trainer.py"
    assert main(["codegen", "4x2-bigru2:seq-flatten-3:softmax", "-o", str(out), "--dtype", "float64"]) == 0
    source = out.read_text()
    assert "derive" not in source.replace("derived", "").replace("derivax", "") and "jax.lax.scan" in source
    ns = runpy.run_path(str(out))
    from derive.network.examples import parse_spec
    d = parse_spec("4x2-bigru2:seq-flatten-3:softmax").derive()
    rng = np.random.default_rng(0)
    params = {r.name: rng.normal(size=r.shape) * 0.5 for r in d.model.records}
    x, y = rng.normal(size=(3, 4, 2)), np.eye(3)[[0, 1, 2]]
    with jax.enable_x64(True):
        want = lower(d, "float64").grads(params, x, y)
    got = ns["grads"](params, x, y)
    for k in want:
        np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), rtol=1e-10, atol=1e-12)


def _bptt_numpy(params, x, y, bug=None):
    """A student's NumPy backprop through time (CS231n's rnn_forward/rnn_backward in the rows layout) for
    x (N, T, D) -> SimpleRNN tanh (last state) -> Dense softmax, loss the mean cross-entropy."""
    Wx, Wh, b = params["Wxh1"], params["Whh1"], params["bh1"].reshape(-1)
    W2, b2 = params["W2"], params["b2"].reshape(-1)
    N, T, _ = x.shape
    hs = [np.zeros((N, Wh.shape[0]))]
    for t in range(T):
        hs.append(np.tanh(x[:, t] @ Wx + hs[-1] @ Wh + b))
    z = hs[-1] @ W2 + b2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = (p - y) / N
    grads = {"W2": hs[-1].T @ dz, "b2": dz.sum(0), "Wxh1": np.zeros_like(Wx), "Whh1": np.zeros_like(Wh),
             "bh1": np.zeros_like(b)}
    dh = dz @ W2.T
    for t in reversed(range(T)):
        h = hs[t + 1]
        da = dh * (1 - h) if bug == "derivative" else dh * (1 - h ** 2)
        grads["Wxh1"] += x[:, t].T @ da
        if bug == "not summed" and t < T - 1:
            pass
        else:
            grads["Whh1"] += hs[t].T @ da
        grads["bh1"] += da.sum(0)
        dh = np.zeros_like(dh) if bug == "no carry" else da @ Wh.T
    return grads


@pytest.mark.parametrize("bug, wrong", [(None, set()), ("not summed", {"Whh1"}),
                                        ("no carry", {"Wxh1", "Whh1", "bh1"}),
                                        ("derivative", {"Wxh1", "Whh1", "bh1"})])
def test_check_code_names_the_wrong_parameters_of_handwritten_bptt(bug, wrong):
    from compile.checks.code import check_code
    net = Network((5, 2), [SimpleRNN(3), Dense(3, "softmax")])
    report = check_code(net, lambda p, x, y: _bptt_numpy(p, x, y, bug), points=2)
    assert report.error is None, report.error
    assert {k for k, r in report.params.items() if not r.ok} == wrong, report.summary()


def test_steps_show_where_each_term_of_the_recurrence_comes_from():
    d = Network((3, 1), [SimpleRNN(2), Dense(2, "softmax")]).derive()
    rows = dict((title, rows) for title, rows in sections(d, "text", steps=True))["Steps inside layer 1's step (the same at every t)"]
    assert rows == [
        ("tanh′(z₁⟨t⟩)", "1 − tanh(z₁⟨t⟩)² = 1 − h₁⟨t⟩²", "derivative of tanh written through h1⟨t⟩"),
        ("∂J/∂z₁⟨t⟩", "∂J/∂h₁⟨t⟩ ⊙ (1 − h₁⟨t⟩²)", "chain rule through h1⟨t⟩"),
        ("δ₁⟨t⟩", "∂J/∂h₁⟨t⟩ ⊙ (1 − h₁⟨t⟩²)", "name the error signal δ1⟨t⟩ = dJ/dz1⟨t⟩"),
        ("∂J/∂h₁⟨t−1⟩", "δ₁⟨t⟩ Whh₁ᵀ", "chain rule through the product h₁⟨t−1⟩ Whh₁"),
        ("∂J/∂x⟨t⟩", "δ₁⟨t⟩ Wxh₁ᵀ", "chain rule through the product x⟨t⟩ Wxh₁")]


def test_the_lstm_prints_its_two_part_state_and_gate_adjoints():
    s = rows(Network((3, 1), [LSTM(2), Dense(2, "softmax")]))
    fwd = dict((l, r) for l, r, _ in s["Forward pass"])
    assert fwd["c₁⟨t⟩"] == "f₁⟨t⟩ ⊙ c₁⟨t−1⟩ + i₁⟨t⟩ ⊙ g₁⟨t⟩" and fwd["h₁⟨t⟩"] == "o₁⟨t⟩ ⊙ tanh(c₁⟨t⟩)"
    assert fwd["s₁⟨t⟩"] == "[h₁⟨t⟩, c₁⟨t⟩]" and fwd["H₁"] == "(h₁⟨1⟩, …, h₁⟨3⟩)" and fwd["A₁"] == "h₁⟨3⟩"
    err = s["Error signals"]
    assert err[1:5] == [
        ("∂J/∂h₁⟨3⟩", "(1/m) δ₂ W₂ᵀ", "what the layers above send: ∂J/∂A₁"),
        ("∂J/∂h₁⟨t⟩", "δg₁⟨t+1⟩ Whg₁ᵀ + δi₁⟨t+1⟩ Whi₁ᵀ + δf₁⟨t+1⟩ Whf₁ᵀ + δo₁⟨t+1⟩ Who₁ᵀ",
         "t < 3: what step t+1 sends back"),
        ("∂J/∂c₁⟨3⟩", "0", ""),
        ("∂J/∂c₁⟨t⟩", "f₁⟨t+1⟩ ⊙ (∂J/∂c₁⟨t+1⟩ + ∂J/∂h₁⟨t+1⟩ ⊙ o₁⟨t+1⟩ ⊙ (1 − tanh(c₁⟨t+1⟩)²))",
         "t < 3: what step t+1 sends back")]
    assert dict((l, r) for l, r, _ in err)["δo₁⟨t⟩"] == "∂J/∂h₁⟨t⟩ ⊙ o₁⟨t⟩ ⊙ (1 − o₁⟨t⟩) ⊙ tanh(c₁⟨t⟩)"


def test_a_cell_with_a_state_of_parts_must_return_each_part():
    with pytest.raises(NetworkError, match=r"a state of parts \('h', 'c'\) needs one graph node per part"):
        Network((3, 1), [Recurrent(2, lambda s: s.h, "Half", state=("h", "c")), Dense(1)], loss="mse")
    with pytest.raises(NetworkError, match="state must name the parts of the state with distinct letters"):
        Network((3, 1), [Recurrent(2, lambda s: s.h, "Bad", state=("h", "h")), Dense(1)], loss="mse")


def _char_rnn_numpy(params, x, y, bug=None):
    """A student's character-level RNN backward pass (char-rnn's, in the rows layout): softmax over the
    characters at every step, cross-entropy summed over the steps and averaged over the batch."""
    Wxh, Whh, bh = params["Wxh1"], params["Whh1"], params["bh1"].reshape(-1)
    Why, by = params["W2"], params["b2"].reshape(-1)
    N, T, _ = x.shape
    hs, ps = [np.zeros((N, Whh.shape[0]))], []
    for t in range(T):
        hs.append(np.tanh(x[:, t] @ Wxh + hs[-1] @ Whh + bh))
        z = hs[-1] @ Why + by
        e = np.exp(z - z.max(1, keepdims=True))
        ps.append(e / e.sum(1, keepdims=True))
    g = {"Wxh1": np.zeros_like(Wxh), "Whh1": np.zeros_like(Whh), "bh1": np.zeros_like(bh),
         "W2": np.zeros_like(Why), "b2": np.zeros_like(by)}
    dh_next = np.zeros_like(hs[0])
    for t in reversed(range(T)):
        dz = (ps[t] - y[:, t]) / N
        if bug != "not summed" or t == T - 1:
            g["W2"] += hs[t + 1].T @ dz
        g["b2"] += dz.sum(0)
        dh = dz @ Why.T + (0 if bug == "no carry" else dh_next)
        da = dh * (1 - hs[t + 1]) if bug == "derivative" else dh * (1 - hs[t + 1] ** 2)
        g["Wxh1"] += x[:, t].T @ da
        g["Whh1"] += hs[t].T @ da
        g["bh1"] += da.sum(0)
        dh_next = da @ Whh.T
    return g


@pytest.mark.parametrize("bug, wrong", [(None, set()), ("not summed", {"W2"}),
                                        ("no carry", {"Wxh1", "Whh1", "bh1"}),
                                        ("derivative", {"Wxh1", "Whh1", "bh1"})])
def test_check_code_on_a_character_level_rnn_with_a_loss_at_every_step(bug, wrong):
    from compile.checks.code import check_code
    net = Network((4, 5), [SimpleRNN(3, sequences=True), Dense(5, "softmax")])
    report = check_code(net, lambda p, x, y: _char_rnn_numpy(p, x, y, bug), points=2)
    assert report.error is None, report.error
    assert {k for k, r in report.params.items() if not r.ok} == wrong, report.summary()


def test_a_loss_at_every_step_prints_and_verifies():
    s = rows(Network((3, 4), [SimpleRNN(2, sequences=True), Dense(4, "softmax")]))
    assert s["Forward pass"][3:5] == [("Z₂", "H₁ W₂ + b₂", ""), ("A₂", "softmax(Z₂)", "")]
    assert s["Loss"] == [("J", "−(1/m) Σ Y ⊙ log(A₂)", "")]
    assert s["Error signals"][:3] == [("δ₂", "A₂ − Y", ""), ("∂J/∂H₁", "(1/m) δ₂ W₂ᵀ", ""),
                                      ("∂J/∂h₁⟨t⟩", "(∂J/∂H₁)⟨t⟩ + δ₁⟨t+1⟩ Whh₁ᵀ",
                                       "t = 3, …, 1; step 4 sends nothing back")]
    grads = dict((l, r) for l, r, _ in s["Gradients"])
    assert grads["∂J/∂W₂"] == "(1/m) Σₜ H₁⟨t⟩ᵀ δ₂⟨t⟩" and grads["∂J/∂b₂"] == "(1/m) Σᵢ,ₜ δ₂"
    report = verify(Network((3, 2), [SimpleRNN(1, sequences=True), Dense(3, "softmax")]), engine="numpy",
                    scalar_limit=40, scalar_seconds=60)
    assert report.ok and report.scalar == "used", report.to_json()
    assert verify(Network((3, 2), [LSTM(2, sequences=True), Dense(2, "sigmoid")], loss="bce")).ok


def test_targets_at_every_step_are_labels_or_one_hot_and_bad_ones_are_named():
    from compile.train.data import DataError, check_data, load
    x = np.zeros((3, 4, 2))
    _, y = check_data(x, np.array([[0, 1, 2, 1]] * 3), (4, 2), 3, steps=4)
    assert y.shape == (3, 4, 3) and y[0, 2].tolist() == [0, 0, 1]
    _, same = check_data(x, y, (4, 2), 3, steps=4)
    assert np.array_equal(same, y)
    with pytest.raises(DataError, match=r"an output at each of 4 steps: expected y of shape \(examples, 4\) labels"):
        check_data(x, np.zeros((3, 5)), (4, 2), 3, steps=4)
    with pytest.raises(DataError, match=r"labels must be in 0..2 for a network with 3 outputs, found label 7"):
        check_data(x, np.array([[0, 1, 7, 1]] * 3), (4, 2), 3, steps=4)
    data = load("charlm", (25, 45), 45, steps=25)
    assert data.x_train.shape[1:] == (25, 45) and data.y_train.shape[1:] == (25, 45)
    # the target at step t is the input at step t+1: next-character prediction
    assert np.array_equal(data.y_train[:, :-1], data.x_train[:, 1:])


def test_charlm_trains_with_a_loss_at_every_step(capsys):
    assert main(["train", "charlm", "--epochs", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["final_loss"] < doc["initial_loss"] and 0 <= doc["test_accuracy"] <= 1


def test_a_cell_that_reads_what_a_step_cannot_is_named():
    from derive import Builder
    g = Builder((3, 1))
    with pytest.raises(NetworkError, match=r"layer 1 \(Recurrent Peek 2\): the Peek step reads X \(input\); a step "
                                           r"reads only h⟨t−1⟩, x⟨t⟩ and parameters"):
        g.recurrent(g.X, 2, lambda s: s.linear("h") + _peek(g, s), "Peek")
    with pytest.raises(NetworkError, match=r"the Whole step reads its whole state; a state of parts \(h, c\) is read "
                                           r"through them"):
        Network((3, 1), [Recurrent(2, lambda s: (s.carry @ s.weight("Wq", 4), s.c), "Whole", state=("h", "c")),
                         Dense(1)], loss="mse")


def _peek(g, s):
    """A step that reads the whole input sequence X: not a step's to read."""
    from derive.ops import reshape, slice_
    return reshape(slice_(g.X, 1, 0, 1), (g.X.shape[0], 1)) @ s.weight("Wp", 1)


def test_check_code_reads_gradients_under_char_rnn_names():
    """dWxh, dWhh and dbh name Wxh1, Whh1 and bh1 where no other parameter has those letters; the note
    says which keys were read so."""
    from compile.checks.code import check_code
    net = Network((4, 5), [SimpleRNN(3, sequences=True), Dense(5, "softmax")])

    def renamed(p, x, y):
        g = _char_rnn_numpy(p, x, y)
        return {"dWxh": g["Wxh1"], "dWhh": g["Whh1"], "dbh": g["bh1"], "W2": g["W2"], "b2": g["b2"]}
    report = check_code(net, renamed, points=1)
    assert report.ok, report.summary()
    assert "keys read in the courses' spelling: dWhh, dWxh, dbh for Whh1, Wxh1, bh1" in report.notes


def test_the_unrolled_view_writes_every_step():
    d = Network((3, 2), [SimpleRNN(2), Dense(2, "softmax")]).derive()
    rows = dict(sections(d, "text", unroll=True))["Layer 1 unrolled over its 3 steps"]
    assert [f"{l} = {r}" for l, r, _ in rows] == [
        "z₁⟨1⟩ = x⟨1⟩ Wxh₁ + h₁⟨0⟩ Whh₁ + bh₁", "h₁⟨1⟩ = tanh(z₁⟨1⟩)",
        "z₁⟨2⟩ = x⟨2⟩ Wxh₁ + h₁⟨1⟩ Whh₁ + bh₁", "h₁⟨2⟩ = tanh(z₁⟨2⟩)",
        "z₁⟨3⟩ = x⟨3⟩ Wxh₁ + h₁⟨2⟩ Whh₁ + bh₁", "h₁⟨3⟩ = tanh(z₁⟨3⟩)",
        "∂J/∂h₁⟨3⟩ = (1/m) δ₂ W₂ᵀ", "δ₁⟨3⟩ = ∂J/∂h₁⟨3⟩ ⊙ (1 − h₁⟨3⟩²)",
        "∂J/∂h₁⟨2⟩ = δ₁⟨3⟩ Whh₁ᵀ", "δ₁⟨2⟩ = ∂J/∂h₁⟨2⟩ ⊙ (1 − h₁⟨2⟩²)",
        "∂J/∂h₁⟨1⟩ = δ₁⟨2⟩ Whh₁ᵀ", "δ₁⟨1⟩ = ∂J/∂h₁⟨1⟩ ⊙ (1 − h₁⟨1⟩²)",
        "∂J/∂Wxh₁ = x⟨1⟩ᵀ δ₁⟨1⟩ + x⟨2⟩ᵀ δ₁⟨2⟩ + x⟨3⟩ᵀ δ₁⟨3⟩",
        "∂J/∂Whh₁ = h₁⟨0⟩ᵀ δ₁⟨1⟩ + h₁⟨1⟩ᵀ δ₁⟨2⟩ + h₁⟨2⟩ᵀ δ₁⟨3⟩",
        "∂J/∂bh₁ = Σᵢ δ₁⟨1⟩⁽ⁱ⁾ + Σᵢ δ₁⟨2⟩⁽ⁱ⁾ + Σᵢ δ₁⟨3⟩⁽ⁱ⁾"]
    latex = d.latex(unroll=True)
    assert r"\delta^{[1]\langle 3\rangle} &= \frac{\partial J}{\partial h^{[1]\langle 3\rangle}}" in latex


@pytest.mark.parametrize("argv, says", [
    (["show", "2-3:tanh-1:sigmoid", "--unroll"], "--unroll writes out a recurrent layer step by step; this network "
                                                 "has none"),
    (["show", "40x1-rnn2-2:softmax", "--unroll"], "40 steps is too many (at most 8)"),
    (["show", "3x1-rnn2-2:softmax", "--unroll", "--format", "json"], "--unroll is for text, latex and markdown"),
])
def test_unroll_refuses_what_it_cannot_write(argv, says, capsys):
    assert main(argv) == 2
    assert says in capsys.readouterr().err


@pytest.mark.parametrize("formula, equal", [
    ("sum_t(h1_tm1.T @ delta1_t)", True),
    ("sum_t(h1_tm1.T @ (dh1_t * (1 - h1_t**2)))", True),
    ("sum_t(h1_t.T @ delta1_t)", False),                    # h⟨t⟩ for h⟨t−1⟩
    ("sum_t(h1_tm1.T @ (dh1_t * (1 - h1_t)))", False),      # tanh′ written as 1 − h
    ("h1_tm1.T @ delta1_t", None),                           # no sum over t: refused
])
def test_check_reads_bptt_formulas_with_a_sum_over_t(formula, equal):
    from compile.checks.formula import check_formula
    from derive.formula.parse import FormulaError
    net = Network((3, 2), [SimpleRNN(2), Dense(2, "softmax")])
    if equal is None:
        with pytest.raises(FormulaError, match=r"h1_tm1 is a recurrent layer's name at step t: use it inside sum_t"):
            check_formula(net, "Whh1", formula)
        return
    result = check_formula(net, "Whh1", formula)
    assert result.ok is equal, result.render()
    assert "δ₁⟨t⟩ = ∂J/∂h₁⟨t⟩ ⊙ (1 − h₁⟨t⟩²)" in result.where[0]
    if not equal:
        assert result.correct_formula == "sum_t(h1_tm1.T @ delta1_t)" and result.counterexample


@pytest.mark.parametrize("net, target, formula, equal", [
    (lambda: Network((3, 2), [SimpleRNN(2), Dense(2, "softmax")]), "delta1_t", "dh1_t * (1 - h1_t**2)", True),
    (lambda: Network((3, 2), [SimpleRNN(2), Dense(2, "softmax")]), "delta1_t", "dh1_t * (1 - h1_t)", False),
    # two steps: the exact check of a GRU over three steps takes 15 s of SymPy, near its 30 s limit on a busy machine
    (lambda: Network((2, 1), [GRU(2), Dense(2, "softmax")]), "deltau1_t",
     "dh1_t * (h1_tm1 - n1_t) * u1_t * (1 - u1_t)", True),
    (lambda: Network((2, 1), [GRU(2), Dense(2, "softmax")]), "deltau1_t",
     "dh1_t * (n1_t - h1_tm1) * u1_t * (1 - u1_t)", False),   # the update gate's sign turned over
])
def test_check_reads_a_formula_of_one_step_against_every_step(net, target, formula, equal):
    """δ⟨t⟩ as a student writes it, compared at every step of the sequence, exactly and numerically."""
    from compile.checks.formula import check_formula
    result = check_formula(net(), target, formula)
    assert result.ok is equal, result.render()
    assert any(h.startswith("exactly: equal" if equal else "exactly: not equal") for h in result.how), result.how


def test_a_loss_at_every_step_may_be_the_mean_over_the_steps():
    """steps="mean" is Keras's and PyTorch's reduction of a sequence loss: J is the summed loss over T."""
    from compile.lowering.evaluate import evaluate
    from compile.checks.points import random_point
    layers = [SimpleRNN(2, sequences=True), Dense(3, "softmax")]
    summed, mean = (Network((4, 2), layers, steps=k).derive() for k in ("sum", "mean"))
    point = random_point(summed.model, 0, 3)
    values = lambda d: {d.model.X: point.x, d.model.Y: point.y, **{r.node: point.params[r.name] for r in d.model.records}}
    (Js,), (Jm,) = evaluate([summed.model.J], values(summed), 3), evaluate([mean.model.J], values(mean), 3)
    assert float(np.sum(Jm)) == pytest.approx(float(np.sum(Js)) / 4, rel=1e-12)
    assert verify(Network((4, 2), layers, steps="mean"), engine="numpy", scalar_limit=0).ok
    with pytest.raises(NetworkError, match="steps must be 'sum'"):
        Network((4, 2), layers, steps="average")


@pytest.mark.parametrize("edit, wrong", [
    (None, set()),
    (("dh = Why.T @ dy + dhnext", "dh = Why.T @ dy"), {"Wxh1", "Whh1", "bh1"}),            # no δ⟨t+1⟩ term
    (("dhraw = (1 - hs[t] * hs[t]) * dh", "dhraw = (1 - hs[t]) * dh"), {"Wxh1", "Whh1", "bh1"}),
    (("dWhy += dy @ hs[t].T", "dWhy = dy @ hs[t].T"), {"W2"}),                              # not summed over t
    (("dWhh += dhraw @ hs[t - 1].T", "dWhh += dhraw @ hs[t].T"), {"Whh1"}),                 # h⟨t⟩ for h⟨t−1⟩
])
@pytest.mark.parametrize("square", [False, True])
def test_check_code_on_min_char_rnn_style_code_in_a_file(edit, wrong, square, tmp_path):
    """The example's loss function, in min-char-rnn's conventions (weights in module globals, one sequence of
    indices at a time, gradients clipped), run as it is written in check-code's child process. Square:
    as many hidden units as characters, every weight square, so only the biases' (n, 1) tell the columns
    layout (and the state's shape) from the rows."""
    import runpy
    from pathlib import Path
    from compile.checks.code import check_code
    source = (Path(__file__).resolve().parents[1] / "examples" / "min_char_rnn.py").read_text()
    if square:
        assert "STEPS, VOCAB, HIDDEN = 5, 7, 6" in source
        source = source.replace("STEPS, VOCAB, HIDDEN = 5, 7, 6", "STEPS, VOCAB, HIDDEN = 5, 6, 6")
    if edit:
        assert edit[0] in source
        source = source.replace(edit[0], edit[1])
    path = tmp_path / "student.py"
    path.write_text(source)
    net = runpy.run_path(str(path))["net"]
    report = check_code(net, f"{path}:loss_fun", points=2, per_example=True, labels="integer")
    assert report.error is None, report.error
    assert {k for k, r in report.params.items() if not r.ok} == wrong, report.summary()


@pytest.mark.parametrize("layers, says", [
    (lambda: [Recurrent(2, None), Dense(2, "softmax")], r"layer 1 \(Recurrent 2\): step must be a function of a Step"),
    (lambda: [Recurrent(2, lambda s: 1 / 0), Dense(2, "softmax")],
     r"layer 1 \(Recurrent 2\): the step function raised ZeroDivisionError: division by zero"),
    (lambda: [Recurrent(2, lambda s: s.h, state="hc"), Dense(2, "softmax")], r"state must be a tuple of the state's parts"),
    (lambda: [SimpleRNN(2, init="xavier"), Dense(2, "softmax")], r"init must be None \(Glorot weights, zero biases\)"),
    (lambda: [SimpleRNN(2), SimpleRNN(2), Dense(2, "softmax")],
     r"layer 2 \(SimpleRNN 2\) takes \(batch, time, features\) inputs; its input, layer 1, is \(m, 2\), one vector "
     r"per example: a recurrent layer below it must give every state"),
    (lambda: [SimpleRNN(2.5), Dense(2, "softmax")], r"the number of units must be a positive integer, not 2.5"),
])
def test_bad_recurrent_declarations_are_named(layers, says):
    with pytest.raises(NetworkError, match=says):
        Network((4, 1), layers())


@pytest.mark.parametrize("formula, says", [
    ("sum_t(h1_tm1.T @ delta2)", "sum_t takes an expression of one step: a recurrent layer's names at step t "
                                 "(h1_tm1, delta1_t, x_t, ...), its parameters and numbers; delta2 is none of those"),
    ("sum_t(sum_t(h1_tm1.T @ delta1_t))", "sum_t takes an expression of one step, and this one holds a sum over t"),
    ("sum_t(W2)", "and this one has none"),
    ("sum_t(h1_tm1.T @ delta1_t, 0)", "sum_t(...) does not take 2 arguments"),
])
def test_bad_sums_over_t_are_refused_by_position(formula, says, capsys):
    assert main(["check", "3x2-rnn2-2:softmax", "--param", "Whh1", "--formula", formula]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


@pytest.mark.parametrize("spec, target, formula, ok", [
    ("3x1-rnn2:seq-2:softmax", "dh1_t", "dH1_t + delta1_tp1 @ Whh1.T", True),     # the recurrence as printed
    ("3x1-rnn2:seq-2:softmax", "dh1_t", "dH1_t + delta1_t @ Whh1.T", False),      # both time directions mixed
    ("3x1-rnn2:seq-2:softmax", "dh1_t", "dH1_t", False),                          # step t+1's term forgotten
    ("3x1-rnn2-2:softmax", "dh1_t", "delta1_tp1 @ Whh1.T", False),                # the output's term at T forgotten
    ("3x1-birnn2:seq-2:softmax", "dh2_t", "dH2_t + delta2_tm1 @ Whh2.T", True),   # the reverse direction: t−1
])
def test_the_bptt_recurrence_itself_is_a_check_target(spec, target, formula, ok):
    """∂J/∂h⟨t⟩ at every t, against backprop through time's own values (exactly at m = 2, and numerically)."""
    from compile import check_formula
    from derive.network.examples import resolve
    result = check_formula(resolve(spec)[1], target, formula)
    assert result.ok is ok
    if ok and "birnn" not in spec:   # a bidirectional net is past the exact check's width limit
        assert any(h.startswith("exactly: equal") for h in result.how), result.how


def test_a_slipped_activation_derivative_in_a_recurrent_formula_is_named():
    """tanh′ written 1 − h inside Σₜ: what differs names the slip, and the reading names the recurrent layer."""
    from compile.checks.formula import check_formula
    net = Network((3, 2), [SimpleRNN(2), Dense(2, "softmax")])
    result = check_formula(net, "Whh1", "sum_t(h1_tm1.T @ (dh1_t * (1 - h1_t)))")
    assert not result.ok
    assert any("the derivative of h₁⟨t⟩ = tanh(…) written as 1 − h₁⟨t⟩ (it is 1 − h₁⟨t⟩²)" in d
               for d in result.diagnosis), result.diagnosis
    assert "read against: 3x2-2-2 (layer 1 recurrent)" in result.render()


@pytest.mark.parametrize("spec", ["3x2-rnn2-2:softmax", "3-emb5x4:pos-att2-flatten-3:softmax"])
def test_weight_decay_reaches_every_weight_matrix(spec):
    """l2 decays a recurrent layer's and attention's weight matrices as it does a dense layer's, and not
    the biases or embedding tables: with λ, J grows by λ/(2m) Σ W² over exactly those matrices and each of
    their gradients by (λ/m) W (the test's own sums, in NumPy, from the parameters)."""
    import jax
    from compile.train.train import compile_trainer
    from derive.network.examples import resolve
    lam, m = 0.3, 4
    with jax.enable_x64(True):
        plain, decayed = (compile_trainer(resolve(spec, l2=v)[1], dtype="float64") for v in (None, lam))
        params = plain.init_params(0)
        rng = np.random.default_rng(0)
        shape = plain.model.input_shape
        x = rng.integers(0, 5, (m, *shape)) if plain.model.layers[0].kind == "embedding" else rng.normal(size=(m, *shape))
        y = np.eye(int(plain.model.Y.shape[-1]))[rng.integers(0, int(plain.model.Y.shape[-1]), m)]
        J0, g0 = plain.loss_and_grads(params, x, y)
        J1, g1 = decayed.loss_and_grads(params, x, y)
    weights = {r.name for r in plain.model.records if r.kind == "weight"}
    assert weights >= ({"Wxh1", "Whh1", "W2"} if "rnn" in spec else {"Wq2", "Wk2", "Wv2", "Wo2", "W4"})
    expected = lam / (2 * m) * sum(float(np.sum(np.asarray(params[n]) ** 2)) for n in weights)
    assert float(J1) - float(J0) == pytest.approx(expected, rel=1e-10)
    for n in params:
        want = lam / m * np.asarray(params[n]) if n in weights else 0.0
        assert np.allclose(np.asarray(g1[n]) - np.asarray(g0[n]), want, rtol=1e-9, atol=1e-12), n


@pytest.mark.parametrize("names, says", [
    (("z", "h"), "a gate cannot be named 'h', the name of the state (h1⟨t⟩)"),
    (("z", "z"), "a gate cannot be named 'z', the name of another node of the step (z1⟨t⟩)"),
    (("x", "n"), "a gate cannot be named 'x', the name of the step's input (x⟨t⟩)")])
def test_a_step_node_named_as_the_state_the_input_or_another_node_is_refused(names, says):
    """A candidate state named h printed as h1⟨t⟩ = tanh(ah1⟨t⟩) beside the state's own h1⟨t⟩, and check
    compared a right gate formula with the state."""
    def cell(s):
        z = s.gate(names[0], "sigmoid")
        cand = s.gate(names[1], "tanh")
        return (1 - z) * s.h + z * cand

    with pytest.raises(NetworkError, match=re.escape(says)):
        Network((3, 1), [Recurrent(2, cell), Dense(1)], loss="mse").build()
    Network((3, 1), [Recurrent(2, lambda s: (1 - s.gate("z", "sigmoid")) * s.h + s.gate("n", "tanh")),
                     Dense(1)], loss="mse").build()   # other names are taken

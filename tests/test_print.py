"""Printed derivations, pinned as exact strings, and LaTeX checked by rendering it."""
import json
import re

import pytest

from derive import Dense, Network

XOR = Network(2, [Dense(2, "tanh"), Dense(2, "softmax")], loss="ce")

XOR_TEXT = """\
╭─ Forward pass ───────────────────────────────────────────╮
│ Z₁ = X W₁ + b₁                                           │
│ A₁ = tanh(Z₁)                                            │
│ Z₂ = A₁ W₂ + b₂                                          │
│ A₂ = softmax(Z₂)                                         │
╰──────────────────────────────────────────────────────────╯
╭─ Loss (categorical cross-entropy) ───────────────────────╮
│ J = −(1/m) Σ Y ⊙ log(A₂)                                 │
╰──────────────────────────────────────────────────────────╯
╭─ Error signals ──────────────────────────────────────────╮
│ δ₂ = A₂ − Y                                              │
│ δ₁ = (δ₂ W₂ᵀ) ⊙ (1 − A₁²)                                │
╰──────────────────────────────────────────────────────────╯
╭─ Gradients ──────────────────────────────────────────────╮
│ ∂J/∂W₁ = (1/m) Xᵀ δ₁                                     │
│ ∂J/∂b₁ = (1/m) Σᵢ δ₁⁽ⁱ⁾                                  │
│ ∂J/∂W₂ = (1/m) A₁ᵀ δ₂                                    │
│ ∂J/∂b₂ = (1/m) Σᵢ δ₂⁽ⁱ⁾                                  │
╰──────────────────────────────────────────────────────────╯
"""


def test_xor_text_exact():
    assert XOR.derive().text(width=60) == XOR_TEXT


def test_xor_json_exact():
    doc = json.loads(XOR.derive().json())
    assert doc == {
        "convention": "rows",
        "forward": ["Z1 = X @ W1 + b1", "A1 = tanh(Z1)", "Z2 = A1 @ W2 + b2", "A2 = softmax(Z2, 1)"],
        "loss": "-(1/m)*sum(Y*log(A2))",
        "deltas": {"delta2": "A2 - Y", "delta1": "(delta2 @ W2.T)*(1 - A1**2)"},
        "gradients": {"W1": "(1/m)*(X.T @ delta1)", "b1": "(1/m)*sum(delta1, 0)",
                      "W2": "(1/m)*(A1.T @ delta2)", "b2": "(1/m)*sum(delta2, 0)"}}


def test_seed_002_column_formulas():
    """Seed 002: Z = W A + b, delta[l] = (W[l+1]^T delta[l+1]) * g'(Z[l]), dW = (1/m) delta A^T,
    db = (1/m) sum_i delta(i); derived in the columns convention, not typed in."""
    tex = Network(4, [Dense(3, "sigmoid"), Dense(3, "sigmoid"), Dense(2, "softmax")]).derive("columns").latex()
    for line in [r"Z^{[2]} &= W^{[2]} A^{[1]} + b^{[2]}",
                 r"\delta^{[3]} &= A^{[3]} - Y",
                 r"\delta^{[2]} &= \left(W^{[3]T} \delta^{[3]}\right) \odot A^{[2]} \odot \left(1 - A^{[2]}\right)",
                 r"\frac{\partial J}{\partial W^{[2]}} &= \frac{1}{m} \delta^{[2]} A^{[1]T}",
                 r"\frac{\partial J}{\partial b^{[2]}} &= \frac{1}{m} \sum_{i=1}^{m} \delta^{[2](i)}",
                 r"\frac{\partial J}{\partial W^{[1]}} &= \frac{1}{m} \delta^{[1]} X^{T}"]:
        assert line in tex


@pytest.mark.parametrize("act,loss", [("softmax", "ce"), ("sigmoid", "bce"), ("identity", "mse")])
def test_output_delta_has_no_exp_or_log(act, loss):
    d = Network(3, [Dense(4, "tanh"), Dense(2 if act == "softmax" else 1, act)], loss=loss).derive()
    out = d.deltas[2]
    assert out.op == "ew" and str(out.attrs["expr"]) == "_a0 - _a1"
    assert [a.name for a in out.args] == ["A2", "Y"]


def test_derivative_written_through_activation():
    d = Network(2, [Dense(3, "sigmoid"), Dense(3, "tanh"), Dense(1, "sigmoid")], loss="bce").derive()
    text = d.text(width=120)
    assert "δ₂ = (δ₃ W₃ᵀ) ⊙ (1 − A₂²)" in text
    assert "δ₁ = (δ₂ W₂ᵀ) ⊙ A₁ ⊙ (1 − A₁)" in text


def test_deltas_named_once_and_reused():
    d = Network(2, [Dense(3, "tanh")] * 4 + [Dense(1, "sigmoid")], loss="bce").derive()
    js = json.loads(d.json())
    assert js["deltas"]["delta3"] == "(delta4 @ W4.T)*(1 - A3**2)"
    assert js["gradients"]["W2"] == "(1/m)*(A1.T @ delta2)"


def test_one_parameter_view():
    text = XOR.derive().text(params="W2", width=60)
    assert "∂J/∂W₂ = (1/m) A₁ᵀ δ₂" in text and "∂J/∂W₁" not in text and "δ₁ =" not in text
    with pytest.raises(KeyError, match="no parameter 'W9'"):
        XOR.derive().text(params="W9")


def test_steps_replay_the_chain_rule():
    text = XOR.derive().text(steps=True, width=200)
    for rule in ["[derivative of the loss (categorical cross-entropy)]",
                 "[one-hot targets: each example's Y sums to 1 over the classes]",
                 "[softmax–categorical cross-entropy cancellation]",
                 "[derivative of tanh written through A1]",
                 "[chain rule through tanh (layer 1)]"]:
        assert rule in text
    assert "tanh′(Z₁) = 1 − tanh(Z₁)² = 1 − A₁²" in text


def test_a_sums_common_number_joins_the_coefficient():
    """d/dA (A − Y)² is 2A − 2Y: the step reads (2/m)(A₂ − Y), as the books write it, through the chain rule."""
    text = Network(2, [Dense(2, "sigmoid"), Dense(1, "sigmoid")], loss="mse").derive().text(steps=True, width=200)
    lines = [l.strip("│ ").split("    [")[0] for l in text.splitlines()]
    assert "∂J/∂A₂ = (2/m) (A₂ − Y)" in lines
    assert "∂J/∂Z₂ = (2/m) A₂ ⊙ (1 − A₂) ⊙ (A₂ − Y)" in lines
    assert "δ₂ = A₂ ⊙ (1 − A₂) ⊙ (A₂ − Y)" in lines


@pytest.mark.parametrize("act, line", [
    ("relu", "relu′(Z₁) = step(Z₁)    [derivative of relu]"),
    ("softplus", "softplus′(Z₁) = σ(Z₁)    [derivative of softplus]"),
    ("leaky_relu", "leaky_relu′(Z₁) = (99/100) step(Z₁) + 1/100    [derivative of leaky_relu]"),
    ("swish", "swish′(Z₁) = Z₁ ⊙ (1 − σ(Z₁)) ⊙ σ(Z₁) + σ(Z₁)    [derivative of swish]")])
def test_an_activation_not_written_through_its_output_has_its_derivative_line(act, line):
    """relu′, softplus′ = σ, leaky relu's 1/100 below 0: the textbook's lines, each before the chain rule
    through the function; a formula in z has no name to prime and no such line."""
    text = Network(2, [Dense(3, act), Dense(1, "sigmoid")], loss="bce").derive().text(steps=True, width=200)
    lines = text.splitlines()
    at = next(i for i, l in enumerate(lines) if line in l)
    assert f"[chain rule through {act} (layer 1)]" in lines[at + 1]
    formula = Network(2, [Dense(3, "z*sigmoid(z)"), Dense(1, "sigmoid")], loss="bce").derive()
    assert "′(Z₁)" not in formula.text(steps=True, width=200)


def test_relu_states_its_kink_convention():
    assert "relu′(0) = step(0) = 0" in Network(2, [Dense(2, "relu"), Dense(1)], loss="mse").derive().text()


NETS = [XOR, Network(64, [Dense(128, "relu", dropout=0.2), Dense(10, "softmax")], l2=0.01),
        Network(2, [Dense(3, "z*sigmoid(z)"), Dense(2, "atan(z)", skip_from=(0,)), Dense(1, "sigmoid")],
                loss="log(cosh(yhat - y))"),
        Network(2, [Dense(2, "softplus"), Dense(2, "leaky_relu"), Dense(1, "sigmoid")], loss="bce")]


@pytest.mark.parametrize("net", NETS)
@pytest.mark.parametrize("convention", ["rows", "columns"])
def test_every_latex_equation_renders_with_mathtext(net, convention):
    from matplotlib.mathtext import MathTextParser
    parser = MathTextParser("path")
    tex = net.derive(convention).latex(steps=True)
    # a note stands in a column of its own (&& \text) or, where the block has no room for one, after its
    # equation (\qquad \text)
    eqs = [l.replace("&=", "=").split(r" && \text")[0].split(r" \qquad \text")[0].rstrip(" \\")
           for l in tex.splitlines() if "&=" in l]
    assert eqs
    for eq in eqs:
        parser.parse(f"${eq}$")  # raises ValueError on LaTeX that mathtext cannot render


def test_markdown_and_jupyter():
    d = XOR.derive()
    md = d.markdown()
    assert "$$\n\\delta^{[2]} = A^{[2]} - Y\n$$" in md
    assert d._repr_latex_().startswith("$$\\begin{aligned}")


def test_latex_escapes_underscores_in_names_and_rule_words():
    """\\mathrm{leaky_relu} would open a subscript, and \\text{... leaky_relu ...} does not compile."""
    tex = Network(2, [Dense(2, "leaky_relu"), Dense(1)], loss="mse").derive().latex(steps=True)
    assert r"\mathrm{leaky\_relu}\left(Z^{[1]}\right)" in tex
    assert r"\text{chain rule through leaky\_relu (layer 1)}" in tex
    assert "leaky_relu" not in tex


@pytest.mark.parametrize("net", NETS)
def test_latex_steps_are_ascii_with_math_in_dollars(net):
    """A step's rule is words in \\text{...}: names, products and identities in it are LaTeX math in
    $...$ (unicode such as δ2 or ⊙ does not compile under pdflatex)."""
    tex = net.derive().latex(steps=True)
    assert tex.isascii(), sorted({c for c in tex if not c.isascii()})
    assert r"\text{name the error signal $\delta^{[1]}$ ($\partial J / \partial Z^{[1]}$ without the constant factor)}" in tex


# A dense layer at every step of an input sequence (Keras's TimeDistributed, CS231n's temporal affine layer)
TD_TEXT = """\
╭─ Layout ─────────────────────────────────────────────────────────────╮
│ Layout as in Keras: inputs (batch, time, features), here (m, 2, 2);  │
│ x⟨t⟩ is the input at step t. A dense layer on a sequence applies at  │
│ every step with the same W and b, as Keras's TimeDistributed(Dense): │
│ its gradients sum over the steps t (Σᵢ,ₜ: over the batch and every   │
│ step).                                                               │
╰──────────────────────────────────────────────────────────────────────╯
╭─ Forward pass ───────────────────────────────────────────────────────╮
│ Z₁ = X W₁ + b₁                                                       │
│ A₁ = tanh(Z₁)                                                        │
│ Z₂ = A₁ W₂ + b₂                                                      │
│ A₂ = Z₂                                                              │
╰──────────────────────────────────────────────────────────────────────╯
╭─ Loss (mean squared error) ──────────────────────────────────────────╮
│ J = (1/m) Σ (A₂ − Y)²                                                │
╰──────────────────────────────────────────────────────────────────────╯
╭─ Error signals ──────────────────────────────────────────────────────╮
│ δ₂ = A₂ − Y                                                          │
│ δ₁ = (δ₂ W₂ᵀ) ⊙ (1 − A₁²)                                            │
╰──────────────────────────────────────────────────────────────────────╯
╭─ Gradients ──────────────────────────────────────────────────────────╮
│ ∂J/∂W₁ = (2/m) Σₜ X⟨t⟩ᵀ δ₁⟨t⟩                                        │
│ ∂J/∂b₁ = (2/m) Σᵢ,ₜ δ₁                                               │
│ ∂J/∂W₂ = (2/m) Σₜ A₁⟨t⟩ᵀ δ₂⟨t⟩                                       │
│ ∂J/∂b₂ = (2/m) Σᵢ,ₜ δ₂                                               │
╰──────────────────────────────────────────────────────────────────────╯

"""


def test_a_dense_layer_at_every_step_of_an_input_sequence_prints_and_checks_three_ways():
    from compile.checks.verify import verify
    from derive import TimeDistributed
    from derive.network.examples import resolve
    net = resolve("2x2-td2:tanh-td1")[1]
    assert isinstance(net.layers[0], TimeDistributed)
    assert net.derive().text(width=72) + "\n" == TD_TEXT
    report = verify(net)
    assert report.ok and report.scalar == "used", report.to_json()


@pytest.mark.parametrize("spec, says", [
    ("4-td3", "layer 1 (TimeDistributed Dense 3) takes (batch, time, features) inputs; its input is (m, 4)"),
    ("3x4-tdx", "expected a layer size"),
])
def test_a_dense_layer_at_every_step_refuses_what_is_not_a_sequence(spec, says):
    from derive.network.examples import ModelError, resolve
    with pytest.raises(ModelError, match=re.escape(says)):
        resolve(spec)


def test_time_distributed_wraps_a_dense_layer_only():
    from derive import Conv1D, NetworkError, TimeDistributed
    with pytest.raises(NetworkError, match="TimeDistributed wraps a Dense layer, not Conv1D"):
        TimeDistributed(Conv1D(2))


@pytest.mark.parametrize("formula, shown", [("W2 @ W2**-1", "W₂ (1 ⊘ W₂)"), ("(1/W2) @ W2", "(1 ⊘ W₂) W₂"),
                                            ("A1.T @ delta2 @ W2**-1 / m", "(1/m) A₁ᵀ δ₂ (1 ⊘ W₂)")])
def test_an_elementwise_reciprocal_beside_a_matrix_product_is_bracketed(capsys, formula, shown):
    """1 ⊘ W₂ is a quotient: written beside a product without brackets it read as (W₂ 1) ⊘ W₂."""
    from compile.cli.main import main
    assert main(["check", "xor", "--param", "W2", "--formula", formula]) == 1
    assert f"  yours:   ∂J/∂W₂ = {shown}\n" in capsys.readouterr().out


@pytest.mark.parametrize("value, shown", [(1e-30, "1e-30"), (1e40, "1e40"), (2.5e-12, "2.5e-12"), (0.5, "0.5"),
                                          (123456.789, "123457"), (1.0507009873554805, "1.0507")])
def test_a_float_constant_prints_with_its_whole_exponent(value, shown):
    """Six significant digits, the mantissa's trailing zeros dropped, the exponent whole: 1e-30 had printed as
    1.00000e-3 (the exponent's zero stripped with the mantissa's)."""
    import sympy as sp
    z = sp.Symbol("z")
    d = Network(2, [Dense(1, z * value)], loss="mse").derive()
    assert f"A₁ = {shown} Z₁" in d.text(width=200)
    mantissa, _, exponent = shown.partition("e")
    latex = f"{mantissa} \\times 10^{{{exponent}}}" if exponent else shown
    assert f"A^{{[1]}} &= {latex} Z^{{[1]}}" in d.latex()


def test_an_embedding_before_a_recurrent_layer_prints_its_layout():
    """Token indices read by an embedding, then a recurrence: the layout says so (every printout had failed on
    unpacking a (time, features) input that is (time,))."""
    from derive.network.examples import resolve
    d = resolve("3-emb5x2-rnn3-1")[1].derive()
    text = " ".join(d.text(width=200).split())
    assert "inputs (batch, time) of token indices, here (m, 3), each looked up by the embedding" in text
    assert "layer 1: embedding, a row of 2 features per token; A₁ (m, 3, 2)" in text
    assert d.latex() and d.markdown() and d.text(steps=True)


@pytest.mark.parametrize("formula, text, latex", [
    ("0*A1.T @ A2", "0", "0"),
    ("A1.T @ (0*A2)", "0", "0"),
    ("(0*A1).T @ A2", "0", "0"),
    ("0*A1.T @ A2 + A1.T @ A2", "A₁ᵀ A₂", r"A^{[1]T} A^{[2]}"),
    ("A1.T @ softmax(0*A2, 1)", "A₁ᵀ softmax(0ₘₓ₂)", r"A^{[1]T} \mathrm{softmax}\left(0_{m \times 2}\right)"),
])
def test_a_product_with_a_zero_factor_prints_as_zero(formula, text, latex):
    """0 A₂ is the zero matrix: printed 0, or with its shape where the shape is not the product's own."""
    from compile.checks.formula import to_node
    from derive.printing.show import show
    user = to_node(formula, XOR.derive())
    assert (show(user, "text"), show(user, "latex")) == (text, latex)


def test_check_prints_a_zero_product_as_zero(capsys):
    from compile.cli.main import main
    main(["check", "xor", "--param", "W2", "--formula", "0*A1.T @ A2"])
    assert "  yours:   ∂J/∂W₂ = 0\n" in capsys.readouterr().out

"""What `derivax show` prints reads back into `derivax check`: for small networks of every layer kind derivax prints
gradients for (dense layers of each activation family, batch norm, layer norm, convolution with a stride, max and
average pooling, a simple RNN, a GRU, an LSTM, an embedding and attention), the loss (its bare Σ over every entry),
each error signal and each gradient as
the text panels print it (a long one broken over lines, a note beside it) and as the LaTeX view prints it, with its
printed left side as --param, reads EQUAL; the printed names of the left sides are taken as --param alone too; and
a wrong variant of each new notation reads NOT EQUAL, so that the reader does not make everything equal."""
import functools

import pytest

from compile.checks.formula import check_formula
from derive.formula.matrix_names import matrix_names
from derive.formula.parse import FormulaError
from derive.formula.spelling import respell
from derive.network.examples import resolve
from derive.printing.breaks import latex_rows
from derive.printing.document import FACT, sections, text_row

NETWORKS = {
    # an activation of each family: through A (tanh, the sigmoid's output), in Z (softplus's σ(Z)), by name with
    # SELU's constants, written out (gelu's tanh approximation, its line long enough to break)
    "dense": "2-2:tanh-2:softplus-2:selu-2:gelu_tanh-1:sigmoid",
    "normalization": "4-3:nobias-bn:relu-3-ln:tanh-2:softmax",   # batch norm (layer 2), then layer norm (layer 4)
    # a convolution with a stride, max pooling, then average pooling to one position (printed without a reshape)
    "convolution and pooling": "10x10x1-conv1k3:relu-conv1k2s2:tanh-pool2-avgpool2-flatten-2:softmax",
    "rnn": "3x2-rnn2-2:softmax",
    "gru": "3x1-gru2-2:softmax",
    "lstm": "3x1-lstm2-2:softmax",
    "embedding and attention": "2-emb2x1-att1-2:softmax",
}
PANEL = 96   # a text panel's width inside its borders, as derivax show prints it 100 columns wide


@functools.lru_cache(maxsize=None)
def network(spec):
    net = resolve(spec)[1]
    return net, net.derive("rows")


def printed_rows(spec, style):
    """(left side, the row as printed) of the loss, each error signal and each gradient: a text panel's row at its width, its
    note beside it, a long one broken over lines; LaTeX's align row, broken the same way, with its note."""
    _, d = network(spec)
    rows = []
    for title, section in sections(d, style):
        if title.split(" (")[0] not in ("Loss", "Error signals", "Gradients"):
            continue
        for left, right, note in section:
            if style == "text":
                lines = ["".join(piece for piece, _ in line) for line in text_row(left, right, note, PANEL)]
            else:
                lines = [line + " \\\\" for line in latex_rows([(left, right, note)], FACT)]
            rows.append((left, "\n".join(lines)))
    return rows


def check(spec, target, formula):
    net, d = network(spec)
    return check_formula(net, target, formula, "rows", derivation=d)


@pytest.fixture
def verdict_only(monkeypatch):
    """The verdict without the time a diagnosis of a formula found wrong may take (its searches cut short)."""
    from compile.checks import formula as F
    from derive.formula import compare as C
    for module, limit in ((F, "SWAP_SECONDS"), (F, "SIGN_SECONDS"), (F, "EXACT_WHEN_DIFFERENT"),
                          (C, "DIAGNOSIS_SECONDS")):
        monkeypatch.setattr(module, limit, 0.05)


@pytest.fixture
def numbers_decide(verdict_only, monkeypatch):
    """The verdict of the numbers at the check's random points (float64, rtol 1e-9, three batch sizes), the exact
    comparison that confirms an equality skipped: what is tested is how a formula reads, and SymPy's expansion of
    the recurrent layers' steps would take seconds a formula."""
    from compile.checks import formula as F
    monkeypatch.setattr(F, "EXACT_SECONDS", 0.01)


@pytest.mark.parametrize("style", ["text", "latex"])
@pytest.mark.parametrize("kind", list(NETWORKS))
def test_every_printed_error_signal_and_gradient_reads_back_equal(kind, style, numbers_decide):
    spec = NETWORKS[kind]
    wrong = []
    rows = printed_rows(spec, style)
    assert rows
    for left, formula in rows:
        try:
            result = check(spec, left, formula)
        except (FormulaError, ValueError) as exc:
            wrong.append(f"--param {left!r} --formula {formula!r}: {exc}")
            continue
        if not result.ok:
            wrong.append(f"--param {left!r} --formula {formula!r}: NOT EQUAL\n{result.render()}")
    assert not wrong, "\n".join(wrong)


def test_heads_of_key_size_one_print_as_heads_and_merge_and_read_back(numbers_decide):
    """Two heads of one feature each: splitting into heads and merging them back only adds or drops an axis of
    length 1, and was printed as permute(H₂, (0, 2, 1, 3)), which the reader does not take; it prints as heads(...)
    and merge(...) as for any key size, and every printed row reads back."""
    spec = "2-emb2x2-att2-2:softmax"
    rows = printed_rows(spec, "text")
    printed = "\n".join(formula for _, formula in rows)
    assert "permute" not in printed and "merge(∂J/∂Q₂)" in printed and "heads(δ₂ Wo₂ᵀ)" in printed
    wrong = [left for left, formula in rows if not check(spec, left, formula).ok]
    assert not wrong
    assert not check(spec, "∂J/∂Wq₂", "Σₜ A₁⟨t⟩ᵀ merge(∂J/∂K₂)⟨t⟩").ok


def test_the_panels_lines_read_back_with_their_borders(numbers_decide):
    """The probe's δ₁ of batch norm, and a line broken over two, copied with the panel's │ borders."""
    for spec, wanted in ((NETWORKS["normalization"], "δ₁"), (NETWORKS["dense"], "δ₄")):
        left, formula = next(row for row in printed_rows(spec, "text") if row[0] == wanted)
        boxed = "\n".join(f"│ {line.ljust(PANEL)} │" for line in formula.split("\n"))
        assert check(spec, left, boxed).ok, boxed
    assert "\n" in formula   # the gelu layer's δ₄ is broken over lines


@pytest.mark.parametrize("kind, typed, target, formula", [
    ("normalization", "γ₂", "gamma2", "(1/3)*sum(delta2*xhat2, 0)"),
    ("normalization", "\\gamma^{[2]}", "gamma2", "(1/3)*sum(delta2*xhat2, 0)"),
    ("normalization", "∂J/∂β₂", "dbeta2", "(1/3)*sum(delta2, 0)"),
    ("normalization", "\\frac{\\partial J}{\\partial \\beta^{[2]}}", "dbeta2", "(1/3)*sum(delta2, 0)"),
    ("normalization", "σ₂", "sigma2", "sqrt(var2 + epsilon)"),
    ("normalization", "∂J/∂X̂₂", "dxhat2", "(1/3)*delta2*gamma2"),
    ("rnn", "Whh₁", "Whh1", "sum_t(h1_tm1.T @ delta1_t)"),
    ("rnn", "W_{hh}^{[1]}", "Whh1", "sum_t(h1_tm1.T @ delta1_t)"),
    ("rnn", "δ₁⟨t⟩", "delta1_t", "dh1_t*(1 - h1_t**2)"),
    ("rnn", "\\delta^{[1]\\langle t\\rangle}", "delta1_t", "dh1_t*(1 - h1_t**2)"),
    ("rnn", "∂J/∂h₁⟨3⟩", "dh1_at3", "(1/m)*(delta2 @ W2.T)"),
    ("gru", "δn₁⟨t⟩", "deltan1_t", "dh1_t*(1 - u1_t)*(1 - n1_t**2)"),
    ("gru", "\\delta_{n}^{[1]\\langle t\\rangle}", "deltan1_t", "dh1_t*(1 - u1_t)*(1 - n1_t**2)"),
])
def test_the_printed_names_are_targets(kind, typed, target, formula, numbers_decide):
    result = check(NETWORKS[kind], typed, formula)
    assert result.target == target and result.ok


@pytest.mark.parametrize("kind, typed, read", [
    ("normalization", "(m ∂J/∂X̂₂ − Σᵢ ∂J/∂X̂₂⁽ⁱ⁾) ⊘ σ₂ + σ²₂ + μ₂ + X̄₂ ⊙ γ₂ + β₂",
     "(m * dxhat2 - sum(dxhat2, 0)) / sigma2 + var2 + mu2 + xc2 * gamma2 + beta2"),
    ("normalization", "\\mu^{[2]} + {\\sigma^2}^{[2]} + \\sigma^{[2]} + \\bar{X}^{[2]}", "mu2 + var2 + sigma2 + xc2"),
    # σ of a layer that is no normalization, σ(…) and σ′ stay the sigmoid
    ("normalization", "σ(Z₁) ⊙ σ′(Z₅) + σ₁", "sigmoid(Z1) * sigmoid_prime(Z5) + sigmoid1"),
    ("normalization", "\\sigma\\left(Z^{[1]}\\right)", "sigmoid(Z1)"),
    ("rnn", "Σₜ h₁⟨t−1⟩ᵀ δ₁⟨t⟩ + Σₜ Σᵢ δ₁⟨t⟩⁽ⁱ⁾", "sum_t(h1_tm1.T @ delta1_t) + sum_t(sum(delta1_t, 0))"),
    ("rnn", "\\sum_{t} h^{[1]\\langle t-1\\rangle T} \\delta^{[1]\\langle t\\rangle}", "sum_t(h1_tm1.T @ delta1_t)"),
    ("convolution and pooling", "(1/m) A₁ ⋆ dilate₂(δ₂) + Σᵢ,ₚ δ₂",
     "(1/m) * conv_weight_grad(A1, delta2) + sum_ip(delta2)"),
    ("convolution and pooling", "(dilate₂(δ₂) ∗ rot180(W₂)) ⊙ step(Z₁)", "(conv_input_grad(delta2, W2)) * step(Z1)"),
    ("convolution and pooling", "mask₂(A₂) ⊙ up₂((1/4) up₂(δ₆ W₆ᵀ))", "route(A2, (1/4) * up2(delta6 @ W6.T))"),
])
def test_the_printed_notation_is_read_as_the_grammar_writes_it(kind, typed, read):
    _, d = network(NETWORKS[kind])
    assert " ".join(respell(typed, matrix_names(d))[0].split()) == read


@pytest.mark.parametrize("kind, target, formula", [
    ("normalization", "∂J/∂γ₂", "(1/m) Σᵢ (δ₂ ⊙ X̄₂)⁽ⁱ⁾"),                     # the centred input for the normalized
    ("normalization", "δ₁", "(m ∂J/∂X̂₂ − Σᵢ ∂J/∂X̂₂⁽ⁱ⁾) ⊘ σ₂"),                # a term left out
    ("normalization", "δ₃", "(3 ∂J/∂X̂₄ − Σₖ ∂J/∂X̂₄) ⊘ σ₄"),
    ("rnn", "∂J/∂Whh₁", "Σₜ h₁⟨t⟩ᵀ δ₁⟨t⟩"),                                  # the state at t for the one before
    ("rnn", "\\frac{\\partial J}{\\partial W_{hh}^{[1]}}",
     "\\sum_{t} h^{[1]\\langle t\\rangle T} \\delta^{[1]\\langle t\\rangle}"),
    ("convolution and pooling", "∂J/∂W₁", "(1/m) X ⋆ δ₁ ⊙ 2"),
    ("convolution and pooling", "∂J/∂b₁", "Σᵢ,ₚ δ₁"),                                           # the 1/m left out
    ("convolution and pooling", "δ₂", "(mask₂(A₂) ⊙ up₂(up₂(δ₆ W₆ᵀ))) ⊙ (1 − A₂²)"),   # the 1/4 left out
    ("embedding and attention", "∂J/∂Wq₂", "Σₜ A₁⟨t⟩ᵀ ∂J/∂K₂⟨t⟩"),            # another adjoint
])
def test_a_wrong_variant_of_the_printed_notation_is_not_equal(kind, target, formula, verdict_only):
    assert not check(NETWORKS[kind], target, formula).ok


@pytest.mark.parametrize("kind, formula", [
    ("rnn", "∂J/∂h₁⟨t⟩ = δ₁⟨t+1⟩ Whh₁ᵀ"),
    ("lstm", "δg₁⟨t+1⟩ Whg₁ᵀ + δi₁⟨t+1⟩ Whi₁ᵀ + δf₁⟨t+1⟩ Whf₁ᵀ + δo₁⟨t+1⟩ Who₁ᵀ"),
])
def test_a_recurrence_line_holds_at_the_steps_its_note_names(kind, formula, numbers_decide):
    """∂J/∂h₁⟨t⟩ = δ₁⟨t+1⟩ Whh₁ᵀ is printed for t < 3 (at t = 3 what the layers above send stands in its place): with
    its note it is compared at those steps, without it at every step, where it is wrong."""
    assert not check(NETWORKS[kind], "∂J/∂h₁⟨t⟩", formula).ok
    result = check(NETWORKS[kind], "∂J/∂h₁⟨t⟩", formula + "    [t < 3: what step t+1 sends back]")
    assert result.ok and any("t < 3" in how for how in result.how)


def test_a_markdown_block_reads_back_with_its_note(numbers_decide):
    """A block copied from the Markdown view: the $$ lines, the equation, and its note on a line of its own in
    italics, *$t < 3$: what step t+1 sends back*. The note is read as the steps the line holds at, as the text
    panel's [t < 3: ...] is; every other block with its italic note line reads back too."""
    from derive.printing.document import to_markdown
    _, d = network(NETWORKS["rnn"])
    blocks = [b.strip() for b in to_markdown(d).split("\n\n") if b.strip().startswith("$$")]
    noted = [b for b in blocks if "\n*$t < 3$" in b]
    assert len(noted) == 1
    result = check(NETWORKS["rnn"], "∂J/∂h₁⟨t⟩", noted[0])
    assert result.ok and any("t < 3" in how for how in result.how)
    assert not check(NETWORKS["rnn"], "∂J/∂h₁⟨t⟩", noted[0].split("\n*")[0]).ok   # without its note: every step
    with_notes = [b for b in blocks if "\n*" in b and "\\partial J}{\\partial" in b.split("=")[0]]
    assert len(with_notes) >= 2
    for block in with_notes:
        left = block.split("\n")[1].split("=")[0].strip()
        assert check(NETWORKS["rnn"], left, block).ok, block


def test_a_constant_printed_to_six_digits_reads_as_the_constant(verdict_only):
    result = check("2-2:selu-1:sigmoid", "δ₁", "(δ₂ W₂ᵀ) ⊙ (1.7581 (1 − step(Z₁)) ⊙ (elu(Z₁) + 1) + 1.0507 step(Z₁))")
    assert result.ok and "1.7581 read as 1.7580993408473768" in result.yours_note
    # typed in the grammar's own spelling, a rounded constant stays the number it is
    assert not check("2-2:selu-1:sigmoid", "delta1", "(delta2 @ W2.T) * (1.7581 * (1 - step(Z1)) * (elu(Z1) + 1) "
                                                     "+ 1.0507 * step(Z1))").ok


@pytest.mark.parametrize("kind, formula, says", [
    ("convolution and pooling", "conv_weight_grad(delta1, X) / m", "conv_weight_grad(X, delta1)"),   # swapped
    ("rnn", "Σⱼ h1_tm1.T @ delta1_t", "sum_t(...)"),                           # a sum over an index of no axis
    ("normalization", "(1/m) X ⋆ δ₁", "conv_weight_grad(X, delta1)"),             # no convolution in the network
    ("convolution and pooling", "rot180(W₂)", "conv_input_grad(G, W)"),
    ("convolution and pooling", "mask₂(A₂)", "route(A, G)"),
])
def test_a_printed_form_that_cannot_be_read_says_what_to_type(kind, formula, says):
    with pytest.raises(FormulaError) as caught:
        check(NETWORKS[kind], "W1", formula)
    assert says in str(caught.value)


def test_a_bare_sum_is_read_over_every_entry_in_the_cost_only(numbers_decide):
    """derivax prints the loss with a bare Σ (J = −(1/m) Σ Y ⊙ log(A₂)): in a formula for J it is the sum of every
    entry, so the cost with a term left out reads NOT EQUAL; elsewhere (a bias's gradient, where it is as often
    meant over the batch alone) it is still refused, saying which sums derivax reads."""
    spec = "2-3:tanh-1:sigmoid"
    net = resolve(spec, loss="bce")[1]
    d = net.derive("rows")
    assert check_formula(net, "J", "−(1/m) Σ (Y ⊙ log(A₂) + (1 − Y) ⊙ log(1 − A₂))", "rows", derivation=d).ok
    assert not check_formula(net, "J", "−(1/m) Σ Y ⊙ log(A₂)", "rows", derivation=d).ok
    outside = check_formula(net, "J", "−(1/m) Σ (Y ⊙ log(A₂)) + (1 − Y) ⊙ log(1 − A₂)", "rows", derivation=d)
    assert not outside.ok   # the second term outside the sum: a matrix, not the number J
    for target, formula in (("b1", "(1/m) Σ δ₁"), ("J", "−(1/m) Σᵢ Y ⊙ log(A₂)"), ("J", "−(1/m) Σⱼ Y ⊙ log(A₂)")):
        with pytest.raises(FormulaError, match="Σ is a sum"):   # Σᵢ without x⁽ⁱ⁾, Σⱼ: an index derivax does not read
            check_formula(net, target, formula, "rows", derivation=d)

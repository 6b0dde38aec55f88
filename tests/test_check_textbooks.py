"""`derivax check` on formulas as students copy them from the books and courses: typeset, LaTeX, Octave and
notebook spellings read as the grammar's (each compared, through the derivation, with the ASCII formula it
means); the slip a formula makes named, not the target itself; a decay, a cost's 1/2 and a dZ read as the
book that writes them does."""
import functools

import pytest
from conftest import formula_checker

from compile.checks.formula import CheckError, check_formula
from derive import Dense, FormulaError, Network

NG = Network(2, [Dense(3, "tanh"), Dense(2, "softmax")])                             # columns: dZ2 = A2 - Y
NIELSEN3 = Network(2, [Dense(3, "sigmoid"), Dense(3, "sigmoid"), Dense(2, "sigmoid")], loss="(yhat-y)**2/2")
NIELSEN_MSE = Network(2, [Dense(3, "sigmoid"), Dense(2, "sigmoid")], loss="mse")
NIELSEN_HALF = Network(2, [Dense(3, "sigmoid"), Dense(2, "sigmoid")], loss="(yhat-y)**2/2")
RELU = Network(4, [Dense(5, "relu"), Dense(3, "softmax")], l2=0.1, l2_form="lambda")  # CS231n, rows
NG_L2 = Network(2, [Dense(4, "tanh"), Dense(1, "sigmoid")], loss="bce", l2=0.7)      # λ/(2m) ΣW²
D2L_L2 = Network(2, [Dense(4, "tanh"), Dense(1, "sigmoid")], loss="bce", l2=0.7, l2_form="lambda/2")
GOODFELLOW = Network(3, [Dense(4, "relu"), Dense(2)], loss="mse", l2=0.01, l2_form="lambda/2")
check = formula_checker("columns")   # check_formula on a derivation made once per network and convention


# ---- 1. the books' spellings, each read as the ASCII formula it means ----

@pytest.mark.parametrize("net, target, typed, ascii_", [
    (NG, "W2", "(1/m) δ₂ A₁ᵀ", "1/m * delta2 @ A1.T"),                          # derivax's own text view
    (NG, "W2", "δ₂ @ A₁.T / m", "delta2 @ A1.T / m"),
    (NG, "W2", "1/m · (A2 − Y) A1ᵀ", "1/m * (A2 - Y) @ A1.T"),
    (NG, "W2", r"\frac{1}{m} \delta_2 A_1^\top", "1/m * delta2 @ A1.T"),            # LaTeX
    (NG, "W2", r"$\frac{1}{m} (A_2 - Y) A_1^T$", "1/m * (A2 - Y) @ A1.T"),
    (NG, "W2", r"\frac{1}{m} dZ^{[2]} A^{[1]T}", "1/m * dZ2 @ A1.T"),              # Ng's bracketed layers
    (NG, "W2", "dW2 = 1/m * np.dot(dZ2, A1.T);", "1/m * np.dot(dZ2, A1.T)"),       # a notebook's line
    (NG, "W2", "`1/m * np.dot(dZ2, A1.T)`", "1/m * np.dot(dZ2, A1.T)"),
    (NG, "W2", "∂J/∂W₂ = (1/m) δ₂ A₁ᵀ", "1/m * delta2 @ A1.T"),
    (NG, "W2", "1/m * dZ2 @ A1'", "1/m * dZ2 @ A1.T"),                              # Octave's transpose
    (NG, "W2", "1/m * dz2 @ a1.T", "1/m * dZ2 @ A1.T"),                             # a book's lower case
    (NG, "W2", "1/m * delta_2 @ A_1.T", "1/m * delta2 @ A1.T"),
    (NG, "W2", "1/m * delta[2] @ A[1].T", "1/m * delta2 @ A1.T"),
    (NG, "W1", "1/m * dZ1 @ A0.T", "1/m * dZ1 @ X.T"),                              # the input as A0
    (NG, "delta1", "(W₂ᵀ δ₂) ⊙ (1 − A₁²)", "(W2.T @ delta2) * (1 - A1**2)"),
    (NG, "delta1", "W2ᵀ δ2 ⊙ (1 − tanh²(Z1))", "(W2.T @ delta2) * (1 - tanh(Z1)**2)"),
    (NG, "delta1", r"\left( W_2^T \delta_2 \right) \odot (1 - \tanh^2(Z_1))", "(W2.T @ delta2) * (1 - tanh(Z1)**2)"),
    (NG, "delta1", "(W2.T @ delta2) * tanh'(Z1)", "(W2.T @ delta2) * tanh_prime(Z1)"),
    (NIELSEN3, "delta2", "(W3ᵀ δ3) ⊙ σ'(Z2)", "(W3.T @ delta3) * sigmoid_prime(Z2)"),    # Nielsen's BP2
    (NG, "dZ1", "W2.T @ dZ2 * g'(Z1)", "W2.T @ dZ2 * tanh_prime(Z1)"),              # Ng's g[1]'(Z[1])
    (NG, "dZ1", r"W^{[2]T} dZ^{[2]} * g^{[1]\prime}(Z^{[1]})", "W2.T @ dZ2 * tanh_prime(Z1)"),
    (RELU, "W2", "A1.T.dot(A2 - Y) / N + 2*λ*W2", "A1.T.dot(A2 - Y) / m + 2*reg*W2"),   # CS231n's N, a λ
    # σ(z)(1 − σ(z)) and a(1 − a) side by side: entrywise, as no matrix product fits two (3, m) arrays
    (NIELSEN3, "delta2", "(W3ᵀ δ3) ⊙ σ(Z2)(1 − σ(Z2))", "(W3.T @ delta3) * sigmoid(Z2) * (1 - sigmoid(Z2))"),
    (NIELSEN_HALF, "delta2", "(A₂ − Y) ⊙ A₂(1 − A₂)", "(A2 - Y) * A2 * (1 - A2)"),
    (NIELSEN3, "delta2", r"(W_3^T \delta_3) \odot A_2 (1 - A_2)", "(W3.T @ delta3) * A2 * (1 - A2)"),
    (NIELSEN3, "delta2", "(W3ᵀ δ3) ⊙ a₂(1 − a₂)", "(W3.T @ delta3) * A2 * (1 - A2)"),   # a book's lower case
    # Ng's [L], the output layer, and a transpose or square inside the bracket's superscript
    (NG, "dZ2", r"dZ^{[L]} = A^{[L]} - Y", "A2 - Y"),
    (NG, "delta1", r"W^{[L]T} \delta^{[L]} \odot (1 - A^{[L-1]2})", "(W2.T @ delta2) * (1 - A1**2)"),
    (NG, "W2", r"\frac{1}{m} dZ^{[2]} A^{[1]\intercal}", "1/m * dZ2 @ A1.T"),
    # lecture notes' LaTeX: TeX's \frac1m, \sum\limits, an equation's number or name, :=, the sentence's full stop,
    # each line in its own $$...$$, a bold hat, \log of an atom without brackets
    (NG, "W2", r"\frac1m dZ^{[2]} A^{[1]T}", "1/m * dZ2 @ A1.T"),
    (NG, "b2", r"\frac{1}{m} \sum\limits_{i=1}^{m} dZ^{[2](i)}", "1/m * np.sum(dZ2, axis=1, keepdims=True)"),
    (NG, "W2", r"dW^{[2]} = \frac{1}{m} dZ^{[2]} A^{[1]T} \tag{3}", "1/m * dZ2 @ A1.T"),
    (NG, "W2", r"dW^{[2]} = \frac{1}{m} dZ^{[2]} A^{[1]T} \nonumber \label{eq:dw}", "1/m * dZ2 @ A1.T"),
    (NG, "W2", r"dW^{[2]} := \frac{1}{m} dZ^{[2]} A^{[1]T}.", "1/m * dZ2 @ A1.T"),
    (NG, "W2", r"dW^{[2]} = \frac{1}{m} dZ^{[2]} A^{[1]T}, \quad", "1/m * dZ2 @ A1.T"),
    (NG, "W2", "$$dZ^{[2]} = A^{[2]} - Y$$\n$$dW^{[2]} = \\frac{1}{m} dZ^{[2]} A^{[1]T}$$", "1/m * (A2 - Y) @ A1.T"),
    (NG, "W2", r"\frac{1}{m} (\hat{\boldsymbol{y}} - \boldsymbol{y}) \mathbf{A}^{[1]\top}", "1/m * (A2 - Y) @ A1.T"),
    (NG, "J", r"-\frac{1}{m} \sum Y \odot \log A^{[2]}", "-(1/m) * np.sum(Y * np.log(A2))"),
    # characters from PDFs and pseudocode: ½ and the fraction slash, ⊤ after a caret, ⊺, a modifier prime, ←
    (NG, "W2", "½ · 2/m · (A₂ − Y) A₁ᵀ", "1/m * (A2 - Y) @ A1.T"),
    (NG, "W2", "1⁄m (A₂ − Y) A₁^⊤", "1/m * (A2 - Y) @ A1.T"),
    (NG, "W2", "1/m (A₂ − Y) A₁⊺", "1/m * (A2 - Y) @ A1.T"),
    (NG, "W2", "dZ2 ← A2 - Y; dW2 ← 1/m * dZ2 @ A1.T", "1/m * (A2 - Y) @ A1.T"),
    (NG, "delta1", "(W₂ᵀ δ₂) ⊙ tanhʹ(Z₁)", "(W2.T @ delta2) * (1 - tanh(Z1)**2)"),
])
def test_a_book_spelling_reads_as_the_formula_it_means(net, target, typed, ascii_):
    convention = "rows" if net is RELU else "columns"
    mine, reference = check(net, target, typed, convention), check(net, target, ascii_, convention)
    assert reference.ok, reference.render()
    assert mine.ok, mine.render()
    assert "read as" in mine.yours_note


@pytest.mark.parametrize("typed, ascii_, words", [
    ("(1/m) δ₂ Xᵀ", "1/m * delta2 @ X.T", "wrong shape"),                                     # a layer slipped
    ("1/m · (A2 − Y) A1ᵀ · 2", "1/m * (A2 - Y) @ A1.T * 2", "off by a constant factor"),
    (r"\frac{1}{m} (Y - A_2) A_1^T", "1/m * (Y - A2) @ A1.T", "wrong sign"),
])
def test_a_slip_in_a_book_spelling_is_named_as_in_the_ascii_formula(typed, ascii_, words):
    mine, reference = check(NG, "W2", typed), check(NG, "W2", ascii_)
    assert not mine.ok and not reference.ok
    assert mine.diagnosis == reference.diagnosis and any(words in d for d in mine.diagnosis), mine.render()


@pytest.mark.parametrize("typed, col, words", [
    ("(1/m) δ₂ A₁ᵀ @ W₉", 15, "unknown name 'W9'"),
    (r"\frac{1}{m} \sum_i \delta_2", 12, r"the LaTeX command \sum is not part of a formula's grammar"),
    ("(1/m) δ₂ A₁ᵀ + λ W₂", 15, "the weight decay's λ, and this network declares no weight decay"),
    ("delta2(A1.T) / m", 0, "delta2 is not a function, and a name before parentheses calls one: write delta2 @ (...)"),
    ("(1/m) delta2 A1.T", 6, "two operands side by side: write @ (a matrix product) or * between them"),
    ("W2.T @ dZ2 * g'(A1)", 13, "g_prime(Z) is the derivative of a layer's activation at its Z"),
])
def test_an_error_in_a_book_spelling_points_into_the_text_as_typed(typed, col, words):
    with pytest.raises(FormulaError) as e:
        check(NG, "W2", typed)
    assert words in str(e.value) and e.value.col == col and e.value.text == typed, (str(e.value), e.value.col)


# ---- 2. the slip is named, not the target itself; shapes that do not fit name the slipped name ----

def test_a_missing_derivative_is_not_said_to_be_the_target_under_another_name():
    r = check(RELU, "dZ1", "dA1", "rows")
    assert not r.ok
    assert not any("dZ1" in d or "delta1" in d for d in r.diagnosis), r.render()
    assert any("missing the derivative of relu at layer 1" in d for d in r.diagnosis), r.render()


def test_a_wrong_layer_that_breaks_the_shapes_is_named_with_the_error():
    with pytest.raises(FormulaError) as e:
        check(NIELSEN3, "delta1", "(W3.T @ delta2) * sigmoid_prime(Z1)")
    message = str(e.value)
    assert "yours has W3 where the derived formula has W2" in message and "W3.Tᵀ" not in message, message
    assert e.value.col == 1
    assert check(NIELSEN3, "delta1", "(W2.T @ delta2) * sigmoid_prime(Z1)").ok


@pytest.mark.parametrize("typed, words", [
    ("1/m * np.dot(A1.T, dZ2)", "dZ2 @ A1.T would fit: the factors in the wrong order?"),
    ("1/m * δ₂ ⊙ A₁ᵀ", "a matrix product, @, would fit"),
])
def test_a_product_in_the_wrong_order_or_kind_says_what_fits(typed, words):
    with pytest.raises(FormulaError) as e:
        check(NG, "W2", typed)
    assert words in str(e.value), str(e.value)


def test_a_bracketed_layer_before_the_first_is_refused_at_its_place():
    with pytest.raises(FormulaError, match=r"\[L-2\] is no layer of this network: its output layer is \[2\]") as e:
        check(NG, "W2", r"\frac{1}{m} dZ^{[2]} A^{[L-2]T}")
    assert e.value.col == r"\frac{1}{m} dZ^{[2]} A".__len__()


@functools.lru_cache(maxsize=None)
def _rnn():
    from derive.network.examples import resolve
    return resolve("3x2-rnn2-2:softmax")[1]


@pytest.mark.parametrize("typed", [r"\sum_{t=1}^{T} h_{t-1}^{\top} \delta_t", "Σ_t h_{t-1}ᵀ δ_t", "Σₜ h⟨t−1⟩ᵀ δ⟨t⟩",
                                   "sum_t(h_tm1.T @ delta_t)"])
def test_a_books_step_subscripts_name_the_one_recurrent_layers_states(typed):
    """BPTT as the books write it, h_{t-1} and δ_t without a layer: the network's one recurrent layer's h1⟨t−1⟩ and
    δ1⟨t⟩; the state at t for the one before is still wrong."""
    rnn = _rnn()
    reference = check(rnn, "Whh1", "sum_t(h1_tm1.T @ delta1_t)", "rows")
    mine = check(rnn, "Whh1", typed, "rows")
    assert reference.ok and mine.ok, mine.render()
    assert not check(rnn, "Whh1", typed.replace("t-1", "t").replace("t−1", "t").replace("tm1", "t"), "rows").ok


def test_lines_copied_from_a_functions_body_and_a_number_ending_a_line_read_as_written():
    """The lines of a notebook's function, indented alike (the first one's indent lost in the copying); a comma that
    ends a line inside a call stays the call's, and 2. is the number 2."""
    assert check(NG, "W2", "    dZ2 = A2 - Y\n    dW2 = 1/m * np.dot(dZ2, A1.T)").ok
    assert check(NG, "b2", "    db2 = 1/m * np.sum(dZ2,\n                       axis=1, keepdims=True)").ok
    assert not check(NG, "W2", "dW2 = np.dot(A2 - Y, A1.T) / 2.").ok


def test_a_books_columns_formula_under_the_rows_convention_is_told_to_take_columns():
    with pytest.raises(FormulaError, match="Ng's course writes its formulas in the columns convention .* --convention "
                                           "columns"):
        check(NG, "W2", r"\frac{1}{m} dZ^{[2]} A^{[1]T}", "rows")


def test_products_side_by_side_are_entrywise_only_where_no_matrix_product_fits():
    """Said in the note; a product typed as @ stays a matrix product (its shapes refused), and one that fits as a
    matrix product (W3ᵀ δ3) is one; a wrong factor side by side is still wrong."""
    read = check(NIELSEN3, "delta2", "(W3ᵀ δ3) ⊙ σ(Z2)(1 − σ(Z2))")
    assert "σ(Z2)(1 − σ(Z2)) read as an entrywise product (⊙): two arrays (3, m) side by side" in read.yours_note
    with pytest.raises(FormulaError, match="cannot multiply"):
        check(NIELSEN3, "delta2", "(W3ᵀ δ3) ⊙ σ(Z2) @ (1 − σ(Z2))")
    assert not check(NIELSEN3, "delta2", "(W3ᵀ δ3) ⊙ σ(Z2)(1 + σ(Z2))").ok
    with pytest.raises(FormulaError, match="cannot multiply"):   # shapes apart: a slip, not a product side by side
        check(NG, "W2", "(1/m) δ₂ A₁")


@pytest.mark.parametrize("net, target, formula, convention, words", [
    (RELU, "dZ2", "(np.exp(Z2) / np.sum(np.exp(Z2), axis=0, keepdims=True) - Y) / m", "rows",
     "yours sums over axis 0 (position 39) where the derived formula sums over axis 1"),
    (RELU, "dZ2", "(softmax(Z2, 0) - Y) / m", "rows", "yours normalizes over axis 0"),
    (RELU, "b1", "np.sum(dZ1, axis=1)", "rows", "yours sums over axis 1 (position 18) where the derived formula sums "
                                               "over axis 0: with axis 0 there, yours agrees"),
    (NG, "b1", "np.mean(delta1, axis=0, keepdims=True)", "columns", "yours averages over axis 0"),
])
def test_a_sum_or_softmax_over_the_other_axis_is_named(net, target, formula, convention, words):
    r = check(net, target, formula, convention)
    assert not r.ok and any(words in d for d in r.diagnosis), r.render()
    fixed = formula.replace("axis=0", "axis=1") if "axis=0" in formula else \
        formula.replace("axis=1", "axis=0") if "axis=1" in formula else formula.replace("Z2, 0", "Z2, 1")
    assert check(net, target, fixed, convention).ok


# ---- 3. a formula right for another book's loss or decay says which, and that declaration agrees ----

@pytest.mark.parametrize("formula, declared, other, words", [
    ("1/m * np.dot(dZ2, A1.T) + lambd * W2", NG_L2, D2L_L2, "--l2-form lambda/2 declares yours"),
    ("1/m * np.dot(dZ2, A1.T) + lambd / m * W2", D2L_L2, NG_L2, "--l2-form lambda/(2m) declares yours"),
])
def test_a_decay_of_another_form_is_named_by_its_form(formula, declared, other, words):
    r = check(declared, "W2", formula)
    assert not r.ok and any(words in d for d in r.diagnosis), r.render()
    assert check(other, "W2", formula).ok


def test_nielsens_quadratic_cost_is_named_where_the_mean_squared_error_is_declared():
    r = check(NIELSEN_MSE, "W2", "delta2 @ A1.T / m")
    assert not r.ok and any("--loss '(yhat-y)**2/2'" in d for d in r.diagnosis), r.render()
    assert check(NIELSEN_HALF, "W2", "delta2 @ A1.T / m").ok


def test_a_dz_that_is_the_true_adjoint_says_that_reading_agrees():
    """Goodfellow's g is ∂J/∂Z itself: in the columns convention dZ is read as Ng's course's (without the
    1/m), and a formula right under the other reading says so."""
    formula = "dZ2 @ A1.T + lam * W2"
    r = check(GOODFELLOW, "W2", formula)
    assert not r.ok and any("--dz adjoint reads it so" in d for d in r.diagnosis), r.render()
    assert check(GOODFELLOW, "W2", formula, dz="adjoint").ok
    assert not any("--dz adjoint" in d for d in check(GOODFELLOW, "W2", "dZ2 @ A1.T").diagnosis)


# ---- 4. a notebook's lines: each definition read, in order, by the lines after it ----

CS231N = Network(4, [Dense(5, "relu"), Dense(3, "softmax")], l2=0.1, l2_form="lambda")


@pytest.mark.parametrize("net, convention, target, lines, one_line, ok", [
    (NG, "columns", "W2", "dZ2 = A2 - Y\ndW2 = 1/m * np.dot(dZ2, A1.T)", "1/m * np.dot(A2 - Y, A1.T)", True),
    # the first line's slip is the formula's: it is not dropped with a left-hand side
    (NG, "columns", "W2", "dZ2 = Y - A2\ndW2 = 1/m * np.dot(dZ2, A1.T)", "1/m * np.dot(Y - A2, A1.T)", False),
    (NG, "columns", "W1", "dZ2 = A2 - Y; dZ1 = np.dot(W2.T, dZ2) * (1 - A1**2); dW1 = np.dot(dZ1, X.T)",
     "np.dot(np.dot(W2.T, A2 - Y) * (1 - A1**2), X.T)", False),
    (NG, "columns", "W2", "m = X.shape[1]\ndW2 = 1./m * np.dot(A2 - Y, A1.T)", "1/m * np.dot(A2 - Y, A1.T)", True),
    (NG, "columns", "W2", "dZ₂ = A₂ − Y\ndW₂ = (1/m) dZ₂ A₁ᵀ", "1/m * np.dot(A2 - Y, A1.T)", True),
    # CS231n's two-layer net: dscores /= N, the ReLU's mask assigned into dhidden
    (CS231N, "rows", "W1", "dscores = A2 - Y\ndscores /= N\ndhidden = dscores.dot(W2.T)\ndhidden[A1 <= 0] = 0\n"
     "dW1 = X.T.dot(dhidden) + 2 * reg * W1", "X.T.dot((A2 - Y).dot(W2.T) * (A1 > 0)) / m + 2 * reg * W1", True),
    (CS231N, "rows", "W2", "dW2 = A1.T.dot(dZ2)\ndW2 += 2 * reg * W2", "A1.T.dot(dZ2) + 2 * reg * W2", True),
    (CS231N, "rows", "dZ1", "dZ1 = dA1\ndZ1[Z1 <= 0] = 0", "dA1 * (Z1 > 0)", True),
])
def test_lines_of_a_notebook_read_as_the_one_formula_they_compute(net, convention, target, lines, one_line, ok):
    mine = check(net, target, lines, convention)
    assert mine.ok is ok, mine.render()   # against the derived formula
    if not ok:   # and what differs, as the one formula written on one line says it
        reference = check(net, target, one_line, convention)
        assert not reference.ok and mine.diagnosis == reference.diagnosis, (mine.render(), reference.render())


NG_LINES = "dZ2 = A2 - Y\ndW2 = 1/m * np.dot(dZ2, A1.T)\ndZ1 = np.dot(W2.T, dZ2) * (1 - A1**2)\ndW1 = 1/m * np.dot(dZ1, X.T)"


@pytest.mark.parametrize("target, one_line", [("W2", "1/m * np.dot(A2 - Y, A1.T)"),
                                              ("W1", "1/m * np.dot(np.dot(W2.T, A2 - Y) * (1 - A1**2), X.T)")])
def test_a_notebook_of_every_gradient_is_read_up_to_the_target_s_own_line(target, one_line):
    """A cell computing dW2 then dW1 is checked for W2 on its dW2 line, not on its last: compared with each
    gradient's one-line formula, and one slip in the dW2 line is still found there."""
    mine = check(NG, target, NG_LINES, "columns")
    assert mine.ok and check(NG, target, one_line, "columns").ok, mine.render()
    if target == "W2":
        assert "read up to the line that defines dW2; the lines after it define dZ1, dW1" in mine.yours_note
        slipped = check(NG, "W2", NG_LINES.replace("dW2 = 1/m * ", "dW2 = ", 1), "columns")
        assert not slipped.ok


@pytest.mark.parametrize("target, lines, words", [
    # the last line is another target's: checked as W2, ∂J/∂W₁'s formula would be "wrong" for the wrong reason
    ("W2", "dZ2 = A2 - Y\ndZ1 = np.dot(W2.T, dZ2) * (1 - A1**2)\ndW1 = 1/m * np.dot(dZ1, X.T)",
     "its last line defines dW1, which names the gradient of W1: check it with --param W1"),
    ("W2", "dW1 = 1/m * np.dot(dZ1, X.T)", "its left side is dW1, which names the gradient of W1"),
    ("W2", "∂J/∂W₁ = (1/m) δ₁ Xᵀ", "its left side is ∂J/∂W₁, which names the gradient of W1"),
    ("delta1", "dZ2 = A2 - Y", "its left side is dZ2, which names ∂J/∂Z2: check it with --param dZ2, or end the "
                               "formula with the line that defines dZ1"),
])
def test_a_formula_named_for_another_target_is_refused(target, lines, words):
    with pytest.raises(CheckError) as e:
        check(NG, target, lines, "columns")
    assert words in str(e.value), str(e.value)


@pytest.mark.parametrize("lines", ["dW2 += 1", "dZ2 = A2 - Y\ndW2 += 1/m * np.dot(dZ2, A1.T)"])
def test_adding_to_a_name_no_line_defines_is_an_error(lines):
    """dW2 += ... with no dW2 before: an error at dW2, not dW2's increment read as the whole formula."""
    with pytest.raises(FormulaError) as e:
        check(NG, "W2", lines, "columns")
    assert "unknown name 'dW2': define it on a line before" in str(e.value)


@pytest.mark.parametrize("lines, col, words", [
    ("import os\nX", 0, "an import is not allowed"),
    ("A1.T @ (A2 - Y) / m; import os", 0, "only the last may be a bare formula"),
    ("dZ1 = dZ1 * 2\ndZ1", 6, "the formula reads dZ1, the very quantity it is checked against"),
    ("np = 1\nX", 0, "np names a module, function or constant of a formula"),
    ("dA1 = dZ2.dot(W2.T)\ndA1[0] = 0\ndA1", 20, "an assignment into part of an array is read only with a mask"),
])
def test_lines_that_are_not_definitions_are_refused_with_the_position(lines, col, words):
    with pytest.raises(FormulaError) as e:
        check(CS231N, "dZ1", lines, "rows")
    assert words in str(e.value) and e.value.col == col, (str(e.value), e.value.col)


@pytest.mark.parametrize("net, convention, formula, reference", [
    (CS231N, "rows", "A1.T.dot(A2 - Y) / X.shape[0] + 2 * reg * W2", "A1.T.dot(A2 - Y) / m + 2 * reg * W2"),
    (CS231N, "rows", "A1.T.dot(A2 - Y) / len(X) + 2 * reg * W2", "A1.T.dot(A2 - Y) / m + 2 * reg * W2"),
    (NG, "columns", "np.dot(A2 - Y, A1.T) / Y.shape[-1]", "np.dot(A2 - Y, A1.T) / m"),
    (NG, "columns", "np.dot(A2 - Y, A1.T) / float(m)", "np.dot(A2 - Y, A1.T) / m"),
])
def test_the_batch_size_as_the_notebooks_take_it(net, convention, formula, reference):
    assert check(net, "W2", reference, convention).ok
    assert check(net, "W2", formula, convention).ok


def test_the_size_of_the_other_axis_is_named():
    r = check(NG, "W2", "np.dot(A2 - Y, A1.T) / X.shape[0]")
    assert not r.ok and any("yours has X.shape[0] (position 24) where the size the derived formula has is "
                            "X.shape[1]" in d for d in r.diagnosis), r.render()


def test_relus_mask_on_its_output_is_its_derivative_and_the_real_slip_is_named():
    """step(A1) is relu's derivative as step(Z1) is (A1 > 0 exactly where Z1 > 0): a formula missing its 1/m
    says that, not that the mask is the wrong derivative."""
    r = check(CS231N, "W1", "X.T.dot((A2 - Y).dot(W2.T) * (A1 > 0)) + 2 * reg * W1", "rows")
    assert not r.ok and not any("derivative" in d for d in r.diagnosis), r.render()
    assert any("the data term is missing its 1/m" in d for d in r.diagnosis), r.render()


# ---- 5. targets and names as the courses give them ----

@pytest.mark.parametrize("target, same_as", [
    ("∂J/∂W₂", "W2"), ("dW₂", "W2"), ("dw2", "W2"), ("W^{[2]}", "W2"), ("nabla_w2", "W2"), ("δ₂", "delta2"),
    ("delta_2", "delta2"),
])
def test_a_target_as_the_books_name_it_is_derivaxs(target, same_as):
    formula = "A2 - Y" if same_as == "delta2" else "1/m * np.dot(A2 - Y, A1.T)"
    r = check(NG, target, formula)
    assert r.ok and r.label == check(NG, same_as, formula).label, r.render()


DEEP = Network(3, [Dense(4, "relu"), Dense(3, "relu"), Dense(1, "sigmoid")], loss="bce")


@pytest.mark.parametrize("net, convention, target, typed, ascii_", [
    (DEEP, "columns", "dA3", "- (np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))",
     "- (np.divide(Y, A3) - np.divide(1 - Y, 1 - A3))"),                                  # Ng's AL
    (DEEP, "columns", "W3", "1/m * np.dot(dZL, A2.T)", "1/m * np.dot(dZ3, A2.T)"),
    (DEEP, "columns", "W3", "1/m * np.dot(ŷ - Y, A2.T)", "1/m * np.dot(A3 - Y, A2.T)"),
    (RELU, "rows", "dZ2", "(probs - Y) / N", "(A2 - Y) / m"),                             # CS231n's probs
])
def test_the_output_as_the_courses_name_it(net, convention, target, typed, ascii_):
    assert check(net, target, ascii_, convention).ok
    assert check(net, target, typed, convention).ok


def test_a_derivative_written_out_is_the_adjoint_whatever_a_course_calls_dz():
    """∂J/∂Z₂ carries the 1/m, though Ng's dZ2 (the columns convention's reading of dZ2) does not."""
    assert check(NG, "W2", "1/m * dZ2 @ A1.T").ok                  # the course's dZ2 = A2 - Y
    assert check(NG, "W2", "∂J/∂Z₂ A₁ᵀ").ok and check(NG, "W2", "dJ/dZ2 @ A1.T").ok
    wrong = check(NG, "W2", "(1/m) ∂J/∂Z₂ A₁ᵀ")
    assert not wrong.ok and any("an extra 1/m" in d for d in wrong.diagnosis), wrong.render()


def test_a_sum_sign_says_how_to_write_the_sum():
    with pytest.raises(FormulaError) as e:
        check(NG, "b2", "1/m Σ δ₂")
    assert "Σ is a sum: write np.sum(x, axis=...)" in str(e.value) and e.value.col == 4


def test_a_nul_character_is_refused_at_its_position_not_read_as_a_product():
    from derive.network.examples import resolve
    net = resolve("xor")[1]
    with pytest.raises(FormulaError, match=r"^a NUL character is no part of a formula at position 6"):
        check_formula(net, "W2", "A1.T \x00 delta2 / m")


def test_a_convolution_of_operands_no_layer_takes_is_not_equal(capsys):
    """X ⋆ δ₂ where layer 2's input A₁ belongs: the shapes fit no layer, a wrong formula (NOT EQUAL, exit 1) as a
    matrix product that does not fit is, not a formula that cannot be read (exit 2)."""
    from compile.cli import main as cli
    from derive.formula.errors import ShapeMismatch
    from derive.network.examples import resolve
    spec = "6x6x1-conv2k3:relu-conv2k2:relu-flatten-2:softmax"
    with pytest.raises(ShapeMismatch, match="no convolution layer of this network has operands of these shapes"):
        check(resolve(spec)[1], "W2", "(1/m) X ⋆ δ₂", "rows")
    assert cli.main(["check", spec, "--param", "W2", "--formula", "(1/m) X ⋆ δ₂"]) == 1
    assert "NOT EQUAL: ∂J/∂W₂" in capsys.readouterr().out


def test_a_state_after_t_is_shown_as_read_not_as_the_shifted_sequence_it_is_computed_by():
    result = check(_rnn(), "Whh1", "Σₜ h₁⟨t+1⟩ᵀ δ₁⟨t⟩", "rows")
    assert not result.ok and "pad(" not in result.yours and "h1_tp1" in result.yours


def test_a_books_step_subscript_in_a_network_of_two_recurrent_layers_asks_for_the_layer():
    from derive.network.examples import resolve
    with pytest.raises(FormulaError, match=r"h_tm1 names a step of no one layer: this network has h1_tm1 and h2_tm1; "
                                           r"write the layer's number, as h1_tm1"):
        check(resolve("3x2-rnn2:seq-rnn2-2:softmax")[1], "Whh1", "Σₜ h_{t-1}ᵀ δ_t", "rows")

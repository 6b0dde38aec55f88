"""`derivax check` on three notations of the books and courses, each compared through the derivation with the ASCII
formula it means: Nielsen's layers as superscripts (w^2, δ^L, a^{l-1}; his input is layer 1) and his quadratic cost;
CS231n's integer labels indexing a notebook's lines (dscores[range(N), y] -= 1); and two plain-ASCII operands side by
side, which stay an error whose message names the product their shapes fit."""
import pytest
from conftest import formula_checker

from compile.checks.formula import CheckError, NIELSEN_NOTE
from derive import Dense, FormulaError, Network

check = formula_checker("columns")   # check_formula on a derivation made once per network and convention

NIELSEN = Network(2, [Dense(3, "sigmoid"), Dense(2, "sigmoid")], loss="(yhat-y)**2/2")     # his layers 1, 2, 3
NIELSEN3 = Network(2, [Dense(3, "sigmoid"), Dense(3, "sigmoid"), Dense(2, "sigmoid")], loss="(yhat-y)**2/2")
MSE = Network(2, [Dense(3, "sigmoid"), Dense(2, "sigmoid")], loss="mse")
CS231N = Network(4, [Dense(5, "relu"), Dense(3, "softmax")])


# ---- 1. Nielsen's superscript layers: his layer l is derivax's l - 1 (a^1 = X), L the output ----

@pytest.mark.parametrize("net, target, typed, ascii_, read", [
    (NIELSEN, "W2", "δ^3 (a^2)^T / n", "delta2 @ A1.T / m", "read as delta2 @ (A1).T / m"),       # BP4
    (NIELSEN, "W2", "(1/n) δ³ (a²)ᵀ", "delta2 @ A1.T / m", "read as (1/m) * delta2 @ (A1).T"),   # typeset
    (NIELSEN, "W2", "∂C/∂w^3 = (1/n) δ^L (a^{L-1})^T", "delta2 @ A1.T / m", None),
    (NIELSEN, "W1", "δ^2 (a^1)^T / n", "delta1 @ X.T / m", "read as delta1 @ (X).T / m"),         # a^1 is the input
    (NIELSEN, "b1", "np.sum(δ^2, axis=1, keepdims=True) / n", "np.sum(delta1, axis=1, keepdims=True) / m", None),
    (NIELSEN, "delta1", "((w^{3})^T δ^3) ⊙ σ'(z^2)", "(W2.T @ delta2) * sigmoid_prime(Z1)",           # BP2
     "read as ((W2).T @ delta2) * sigmoid_prime(Z1)"),
    (NIELSEN, "delta1", "(w³)ᵀ δ³ ⊙ σ′(z²)", "(W2.T @ delta2) * sigmoid_prime(Z1)", None),
    (NIELSEN3, "delta2", r"\left((w^{4})^T \delta^{4}\right) \odot \sigma'(z^{3})", "(W3.T @ delta3) * sigmoid_prime(Z2)",
     None),
    (NIELSEN, "delta2", "(a^L - y) ⊙ σ'(z^L)", "(A2 - Y) * sigmoid_prime(Z2)", None),                  # BP1
    (NIELSEN, "delta2", "∇ₐC ⊙ σ'(z^L)", "(A2 - Y) * sigmoid_prime(Z2)", "read as dA2 * sigmoid_prime(Z2)"),
    (NIELSEN, "delta2", r"\nabla_a C \odot \sigma'(z^L)", "(A2 - Y) * sigmoid_prime(Z2)", None),
    (NIELSEN, "J", "C = (1/2n) Σ_x ||y − a^L||²", "np.sum((Y - A2)**2) / (2*m)",                     # his cost
     "read as (1/(2 * m)) * np.sum((Y - A2)**2)"),
    (NIELSEN, "J", r"C = \frac{1}{2n} \sum_x \|y - a^L\|^2", "np.sum((Y - A2)**2) / (2*m)", None),
])
def test_nielsens_superscript_layers_read_as_the_formula_they_mean(net, target, typed, ascii_, read):
    mine, reference = check(net, target, typed), check(net, target, ascii_)
    assert reference.ok, reference.render()
    assert mine.ok, mine.render()
    assert NIELSEN_NOTE in mine.reading
    if read:
        assert mine.yours_note.startswith(read), mine.yours_note


def test_his_quadratic_cost_against_a_declared_mean_squared_error_says_which_loss_it_is():
    r = check(MSE, "J", "C = (1/2n) Σ_x ||y − a^L||²")
    assert not r.ok
    assert r.diagnosis == ["off by a constant factor: yours is 0.5 times the derived J: this network's mean squared "
                           "error is J = (1/m) Σ (A − Y)²; yours is the quadratic cost with a 1/2, C = (1/2n) Σ ‖y − "
                           "a^L‖² (Nielsen's), which --loss '(yhat-y)**2/2' declares"], r.render()


@pytest.mark.parametrize("target, same_as", [("∂C/∂w^3", "W2"), ("w^L", "W2"), ("w²", "W1"), ("δ^L", "delta2"),
                                             ("∂C/∂b^2", "b1")])
def test_a_target_in_his_notation_is_derivaxs(target, same_as):
    formula = {"W2": "delta2 @ A1.T / m", "W1": "delta1 @ X.T / m", "delta2": "(A2 - Y) * sigmoid_prime(Z2)",
               "b1": "np.sum(delta1, axis=1, keepdims=True) / m"}[same_as]
    r = check(NIELSEN, target, formula)
    assert r.ok and r.label == check(NIELSEN, same_as, formula).label, r.render()


@pytest.mark.parametrize("typed, col, words", [
    ("(w^{l+1})^T δ^{l+1} ⊙ σ'(z^l)", 4, "w^{l+1} names the layer by a symbol, l: write the layer's number, as Nielsen "
                                         "numbers them from the input, layer 1"),
    ("(w^2)^T δ^2 ⊙ σ'(z^1)", 18, "z^{1}: in Nielsen's numbering the input is layer 1 (a^1, derivax's X), which has no "
                                  "weights, biases, z or δ"),
    ("(w^3)^T δ^4", 9, "δ^{4}: Nielsen's layer 4 is past the output, layer 3 in his numbering"),
    ("(W^3)^T δ^3", 2, "W^{3} writes a layer as a superscript on an upper-case name"),
    ("a^{L}_j", 5, "a^{L}_j is one entry of a matrix: write the whole matrix"),
])
def test_a_superscript_that_names_no_layer_is_refused_at_its_position(typed, col, words):
    with pytest.raises(FormulaError) as e:
        check(NIELSEN, "delta1", typed)
    assert words in str(e.value) and e.value.col == col, (str(e.value), e.value.col)


def test_a_target_with_a_symbolic_layer_says_to_write_its_number():
    with pytest.raises(CheckError, match=r"^--param 'w\^\{l\}': w\^\{l\} names the layer by a symbol, l: write the "
                                         r"layer's number"):
        check(NIELSEN, "w^{l}", "delta2 @ A1.T / m")


def test_his_formulas_in_the_rows_convention_say_they_are_written_in_columns():
    with pytest.raises(FormulaError) as e:
        check(NIELSEN, "W2", "δ^3 (a^2)^T / n", "rows")
    assert "(Nielsen's formulas are written in the columns convention (a^l a column per example): --convention " \
           "columns)" in str(e.value), str(e.value)


def test_a_superscript_is_a_layer_on_a_bare_name_of_his_and_a_power_on_a_derivax_name():
    """a² is his layer 2's activation (A1), and (a²)², A₁² its square: only a bare name of Nielsen's (w, b, z, a, δ)
    takes a layer superscript."""
    his = check(NIELSEN, "delta1", "(W₂ᵀ δ₂) ⊙ (a² − (a²)²)")
    assert his.ok and his.yours_note == "read as (W2.T @ delta2) * (A1 - (A1)**2)", his.render()
    derivaxs = check(NIELSEN, "delta1", "(W₂ᵀ δ₂) ⊙ (A₁ − A₁²)")
    assert derivaxs.ok and NIELSEN_NOTE not in derivaxs.reading


# ---- 2. CS231n's integer labels: X[range(N), y] is the entry the one-hot Y marks in each row ----

@pytest.mark.parametrize("target, lines, one_line", [
    ("dZ2", "dscores = probs.copy()\ndscores[range(N), y] -= 1\ndscores /= N", "(A2 - Y) / m"),
    ("dZ2", "num_examples = X.shape[0]\ndscores = probs\ndscores[np.arange(num_examples), y] -= 1\n"
            "dscores /= num_examples", "(A2 - Y) / m"),
    ("W2", "dscores = np.copy(probs); dscores[range(N), y] -= 1; dscores /= N; dW2 = A1.T.dot(dscores)",
     "A1.T @ (A2 - Y) / m"),
    ("J", "correct_logprobs = -np.log(probs[range(N), y])\nloss = np.sum(correct_logprobs) / N",
     "-np.sum(Y * np.log(A2)) / m"),
])
def test_cs231ns_integer_labels_read_as_the_one_hot_y(target, lines, one_line):
    assert check(CS231N, target, one_line, "rows").ok
    r = check(CS231N, target, lines, "rows")
    assert r.ok, r.render()


def test_a_label_written_at_a_wrong_entry_is_wrong_as_the_formula_it_computes():
    """dscores[range(N), y] += 1 is A2 + Y: not equal, and the derivation says so as for the one-line formula."""
    mine = check(CS231N, "dZ2", "dscores = probs.copy()\ndscores[range(N), y] += 1\ndscores /= N", "rows")
    reference = check(CS231N, "dZ2", "(A2 + Y) / m", "rows")
    assert not mine.ok and not reference.ok and mine.counterexample == reference.counterexample


def test_the_labels_index_the_batch_axis_of_each_convention():
    assert check(CS231N, "dZ2", "dZ2 = A2.copy()\ndZ2[y, range(m)] -= 1\ndZ2", "columns").ok   # Y is (3, m)
    with pytest.raises(FormulaError, match=r"the batch is axis 0 of \(m, 3\) in this convention: write "
                                           r"X\[range\(N\), y\]"):
        check(CS231N, "dZ2", "dscores = probs.copy()\ndscores[y, range(N)] -= 1\ndscores", "rows")


@pytest.mark.parametrize("lines, col, words", [
    ("dscores = probs.copy()\ndscores[range(N), 0] -= 1\ndscores", 23,
     "an index is read only as each example's entry at its label, X[range(N), y] (y the labels, read as the one-hot "
     "Y), and as x.shape[k]; write the rest with Y and the operators (X[range(N), y] is np.sum(X * Y, axis=1))"),
    ("dscores = probs[0]", 10, "an index is read only as each example's entry at its label"),
    ("dscores = probs.copy()\ndscores[range(N - 1), y] -= 1\ndscores", 37,
     "range(m - 1) must run over the batch (range(N), N the examples) to pick each example's label"),
    ("dscores = probs.copy()\ndscores[range(N), y] -= probs\ndscores", 47,
     "A2 has shape (m, 3): a value at each example's label is a number or one per example (N,)"),
])
def test_any_other_index_is_refused_with_what_is_read(lines, col, words):
    with pytest.raises(FormulaError) as e:
        check(CS231N, "dZ2", lines, "rows")
    assert words in str(e.value) and e.value.col == col, (str(e.value), e.value.col)


# ---- 3. plain-ASCII operands side by side: still an error, which names the product their shapes fit ----

@pytest.mark.parametrize("typed, col, hint", [
    ("(1/m) delta2 A1.T", 6, ": here (1/m) * delta2 (a number times an array)"),
    ("delta2 A1.T / m", 7, ": here delta2 @ A1.T (their shapes (2, m) and (m, 3) fit a matrix product, not an "
                           "entrywise one)"),
    ("1/m * (A2 - Y) A1.T", 15, ": here (A2 - Y) @ A1.T (their shapes (2, m) and (m, 3) fit a matrix product"),
    ("dZ2 A2", 4, ": here dZ2 * A2 (their shapes (2, m) and (2, m) multiply entry by entry, not as a matrix product)"),
])
def test_ascii_operands_side_by_side_stay_an_error_that_names_the_product_that_fits(typed, col, hint):
    net = Network(2, [Dense(3, "tanh"), Dense(2, "softmax")])
    with pytest.raises(FormulaError) as e:
        check(net, "W2", typed)
    assert f"two operands side by side: write @ (a matrix product) or * between them{hint}" in str(e.value)
    assert e.value.col == col, (str(e.value), e.value.col)

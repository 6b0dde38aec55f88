"""`derivax check` on what a second probe of it found.

1. A sum over the examples of a product of one example's vectors (Σᵢ a₁⁽ⁱ⁾ᵀ δ₂⁽ⁱ⁾) is the matrix product over the
   batch, not the batch sum of a matrix product; a per-example term that cannot be read exactly is refused.
2. In the books' notation a closing bracket, a transpose or a matrix's name before "(" is a product, not a call.
3. The blocks `derivax show --format latex` and `--format markdown` print, and a text panel's line, read back.
4. A formula right in exact arithmetic that overflows float64 at the check points is equal, with a warning.
The truth is taken from NumPy: the formulas as arrays at a random point.
"""
import subprocess

import numpy as np
import pytest
from conftest import formula_checker

from derive import Dense, FormulaError, Network

check = formula_checker("rows")

XOR = Network(2, [Dense(2, "tanh"), Dense(2, "softmax")])                       # derivax's xor, rows
NG = Network(2, [Dense(3, "tanh"), Dense(2, "softmax")])                        # in the columns convention below
R = Network(4, [Dense(5, "relu"), Dense(3, "softmax")])                         # 4-5:relu-3:softmax


def _softmax(z, axis):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _forward_rows(rng, m=4):
    X, W1, b1 = rng.normal(size=(m, 2)), rng.normal(size=(2, 2)), rng.normal(size=(1, 2))
    W2, b2 = rng.normal(size=(2, 2)), rng.normal(size=(1, 2))
    Y = np.eye(2)[rng.integers(0, 2, m)]
    A1 = np.tanh(X @ W1 + b1)
    A2 = _softmax(A1 @ W2 + b2, 1)
    return A1, A2 - Y, m


# ---- 1. Σᵢ over one example's vectors ----

def test_numpy_the_sum_of_the_examples_outer_products_is_the_matrix_product():
    A1, delta2, m = _forward_rows(np.random.default_rng(0))
    per_example = sum(np.outer(A1[i], delta2[i]) for i in range(m)) / m   # Σᵢ a⁽ⁱ⁾ᵀ δ⁽ⁱ⁾, rows as vectors
    np.testing.assert_allclose(per_example, A1.T @ delta2 / m)             # the derived ∂J/∂W₂
    assert (A1.T @ delta2).sum(0).shape != per_example.shape               # what it was read as before


@pytest.mark.parametrize("typed", [
    "(1/m) Σᵢ a₁⁽ⁱ⁾ᵀ δ₂⁽ⁱ⁾",
    "(1/m) Σᵢ A₁⁽ⁱ⁾ᵀ · δ₂⁽ⁱ⁾",
    r"\frac{1}{m} \sum_{i=1}^{m} (a^{[1](i)})^T \delta^{[2](i)}",
    r"\frac{1}{m} \sum_{i=1}^{m} a^{[1](i)T} \delta^{[2](i)}",
])
def test_a_sum_of_the_examples_outer_products_is_equal_in_rows(typed):
    r = check(XOR, "W2", typed)
    assert r.ok, r.render()


def test_a_sum_of_the_examples_outer_products_is_equal_in_columns():
    # columns: one example's x is a column, Σᵢ δ⁽ⁱ⁾ a⁽ⁱ⁾ᵀ = δ Aᵀ
    r = check(NG, "W2", "(1/m) Σᵢ δ₂⁽ⁱ⁾ a₁⁽ⁱ⁾ᵀ", "columns")
    assert r.ok, r.render()


def test_an_elementwise_sum_over_the_examples_is_still_the_batch_sum():
    assert check(XOR, "b2", "(1/m) Σᵢ δ₂⁽ⁱ⁾").ok
    assert check(XOR, "b2", r"\frac{1}{m} \sum_{i=1}^{m} \delta^{[2](i)}").ok


@pytest.mark.parametrize("typed, convention", [
    ("(1/m) Σᵢ a₁⁽ⁱ⁾ δ₂⁽ⁱ⁾", "rows"),             # a row times a row: no outer product
    ("(1/m) Σᵢ a₁⁽ⁱ⁾ᵀ δ₂⁽ⁱ⁾", "columns"),          # in columns this is an inner product
    ("(1/m) Σᵢ W₂ δ₂⁽ⁱ⁾", "rows"),                 # a matrix product with one example's row
])
def test_a_per_example_term_that_cannot_be_read_exactly_is_refused_with_its_position(typed, convention):
    with pytest.raises(FormulaError) as e:
        check(XOR if convention == "rows" else NG, "W2", typed, convention)
    assert e.value.col == typed.index("Σ"), (str(e.value), e.value.col)
    assert "Σᵢ" in e.value.message


# ---- 2. a bracket, a transpose or a matrix before "(" in the books' notation: a product ----

@pytest.mark.parametrize("typed", [
    "A₁ᵀ (A₂ − Y) / m",
    "A_1^T (A_2 - Y) / m",
    "(A1).T (A2 - Y) / m",
    "(1/m) (A₁)ᵀ (A₂ − Y)",
    r"\frac{1}{m} (A^{[1]})^{T} \left(A^{[2]} - Y\right)",
    r"\frac{A_1^T (A_2 - Y)}{m}",
    r"\dfrac{1}{m} A_1^T (A_2 - Y)",
    r"\tfrac{1}{m} A_1^T (A_2 - Y)",
])
def test_juxtaposition_before_a_parenthesis_is_a_product_rows(typed):
    A1, delta2, m = _forward_rows(np.random.default_rng(1))
    assert np.allclose(A1.T @ delta2 / m, np.einsum("ij,ik->jk", A1, delta2) / m)   # the truth NumPy computes
    r = check(XOR, "W2", typed)
    assert r.ok, r.render()


@pytest.mark.parametrize("typed", [
    "(1/m) (A₂ − Y)(A₁)ᵀ",
    "(1/m) (A₂ − Y) · A₁ᵀ",
    r"\delta^{[2]} (A^{[1]})^T / m",
    "δ₂ (A₁ᵀ) / m",
])
def test_juxtaposition_before_a_parenthesis_is_a_product_columns(typed):
    r = check(NG, "W2", typed, "columns")
    assert r.ok, r.render()


@pytest.mark.parametrize("typed", ["A1.T(A2 - Y) / m", "delta2(A1.T) / m"])
def test_a_call_of_a_matrix_in_numpy_spelling_is_still_refused_with_its_position(typed):
    with pytest.raises(FormulaError) as e:
        check(XOR, "W2", typed)
    assert e.value.col == 0, (str(e.value), e.value.col)


# ---- 3. the blocks derivax prints read back ----

def _shown(fmt):
    return subprocess.run(["derivax", "show", "xor", "--format", fmt], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("fmt", ["latex", "markdown", "text"])
def test_a_whole_printed_block_reads_back(fmt):
    from derive.network.examples import resolve
    net = resolve("xor")[1]
    block = _shown(fmt)
    if fmt == "text":   # a panel's line, with its borders
        block = next(line for line in block.splitlines() if "∂J/∂W₁" in line)
        assert block.startswith("│")
    r = check_formula_net(net, "W1", block)
    assert r.ok, r.render()
    if fmt == "latex":
        gradients = block[block.index("% Gradients"):]
        assert check_formula_net(net, "W1", gradients).ok


def check_formula_net(net, target, formula):
    from compile.checks.formula import check_formula
    return check_formula(net, target, formula, "rows")


# ---- 4. equal in exact arithmetic, not finite in float64 ----

def test_numpy_overflows_where_the_formula_is_right_as_mathematics():
    Z2 = np.random.default_rng(2).normal(size=(3, 3))
    with np.errstate(all="ignore"):
        assert not np.isfinite(np.log(np.exp(1000 * Z2)) - 1000 * Z2).all()
    np.testing.assert_allclose(np.log(np.exp(Z2)) - Z2, 0, atol=1e-12)


def test_a_formula_right_in_exact_arithmetic_that_overflows_is_equal_with_a_warning():
    r = check(R, "delta2", "A2 - Y + np.log(np.exp(1000*Z2)) - 1000*Z2")
    assert r.ok, r.render()
    assert any("equal in exact arithmetic, but it overflows float64 at the check points" in w for w in r.warnings)
    assert "warning: equal in exact arithmetic" in r.render()
    assert any(h.startswith("exactly: equal") for h in r.how), r.how


def test_a_wrong_formula_that_overflows_says_both():
    Z2 = np.random.default_rng(3).normal(size=(3, 3))
    assert not np.allclose(_softmax(1000 * Z2, 1), _softmax(Z2, 1))   # wrong as mathematics
    r = check(R, "delta2", "np.exp(1000*Z2) / np.sum(np.exp(1000*Z2), axis=1, keepdims=True) - Y")
    assert not r.ok and not r.warnings
    said = " ".join(r.diagnosis)
    assert "overflows float64" in said and "differs from the derived formula in exact arithmetic" in said, said


# ---- 5. smaller spellings ----

@pytest.mark.parametrize("typed", [r"\hat{y} - Y", r"\hat{Y} - Y", "Ŷ − Y", "[A₂ − Y]"])
def test_the_books_output_and_square_brackets_read(typed):
    r = check(XOR, "delta2", typed)
    assert r.ok, r.render()


def test_square_brackets_after_a_transpose_are_a_product_in_the_books_notation():
    assert check(XOR, "W2", "(1/m) A₁ᵀ [A₂ − Y]").ok


def test_a_whole_number_cast_is_that_number():
    assert check(R, "W2", "np.int64(2) * A1.T @ (A2 - Y) / (2*m)").ok


def test_the_hint_for_factors_in_the_wrong_order_keeps_the_parentheses():
    net = Network(2, [Dense(3, "tanh"), Dense(1, "sigmoid")], loss="bce")
    with pytest.raises(FormulaError) as e:
        check(net, "W2", "1/m * np.dot(A1.T, A2 - Y)", "columns")
    assert "(A2 - Y) @ A1.T would fit" in str(e.value), str(e.value)


def test_numpy_an_indicator_at_its_boundary_differs_from_step_at_zero():
    Z1 = np.array([[-1.0, 0.0, 2.0]])
    assert ((Z1 >= 0) != (Z1 > 0)).any()   # 1 at Z1 = 0, where step(0) = 0
    r = check(R, "delta1", "((A2 - Y) @ W2.T) * (Z1 >= 0)")
    assert r.ok, r.render()
    assert any("Z1 = 0" in w and "kink" in w for w in r.warnings), r.warnings
    assert not check(R, "delta1", "((A2 - Y) @ W2.T) * (Z1 > 0)").warnings

"""`derivax check` on more of the books' notations, each judged by its verdict beside a wrong formula in the same
notation (so that a misreading shows as a verdict turned): the activation named by a generic letter and primed
(Goodfellow's f′, Bishop's h′, φ′), UFLDL's and CS229's layers in round brackets (W^{(2)}, a^{(0)}), LaTeX's
\\bullet, the README's own Σᵢ a⁽ⁱ⁾ᵀ δ⁽ⁱ⁾, Octave's * as the matrix product beside .* and ', and a formula whose
shapes do not fit inside it, a verdict (exit 1) as a formula of the wrong shape is."""
import pytest
from conftest import formula_checker

from compile.cli.main import main
from derive import Dense, FormulaError, Network
from derive.formula.errors import ShapeMismatch

check = formula_checker("columns")   # check_formula on a derivation made once per network and convention

# layer 1 sigmoid, layer 2 tanh: a layer's f′ is its own activation's derivative only, and W1, W2 are both 2 x 2, so
# that a layer's index misread is a wrong value, not a shape error
MIXED = Network(2, [Dense(2, "sigmoid"), Dense(2, "tanh"), Dense(2, "softmax")])
XOR = Network(2, [Dense(2, "tanh"), Dense(2, "softmax")])
XOR_SUM = Network(2, [Dense(2, "tanh"), Dense(2, "softmax")], reduction="sum")
NG_EX4 = Network(3, [Dense(4, "sigmoid"), Dense(2, "sigmoid")], loss="bce")


def verdict(net, target, formula, convention="columns"):
    return check(net, target, formula, convention).ok


# ---- 1. f′, h′, φ′ (and g′) of a layer's Z: that layer's activation's derivative ----

@pytest.mark.parametrize("target, right, wrong", [
    ("delta1", "(W₂ᵀ δ₂) ⊙ f′(Z₁)", "(W₂ᵀ δ₂) ⊙ tanh′(Z₁)"),                 # layer 1 is sigmoid: not tanh′
    ("delta1", "(W₂ᵀ δ₂) ⊙ h'(Z₁)", "(W₂ᵀ δ₂) ⊙ h'(Z₁) ⊙ A₁"),
    ("delta2", r"\left(W_3^T \delta_3\right) \odot \phi^\prime(Z_2)", r"\left(W_3^T \delta_3\right) \odot \sigma'(Z_2)"),
])
def test_a_generic_activation_primed_is_the_layers_own_derivative(target, right, wrong):
    assert verdict(MIXED, target, right) is True
    assert verdict(MIXED, target, wrong) is False


def test_a_generic_prime_of_no_layers_z_is_refused_by_its_name():
    with pytest.raises(FormulaError) as e:
        check(MIXED, "delta1", "(W₂ᵀ δ₂) ⊙ h'(A₁)")
    assert "h_prime(Z) is the derivative of a layer's activation at its Z" in e.value.message and e.value.col == 11


# ---- 2. a prime never reaches Python's tokenizer as a string's quote ----

@pytest.mark.parametrize("typed, col", [
    ("(W₂ᵀ δ₂) ⊙ φ'(Z₁) +", 19),     # a formula that does not parse: its own syntax error, at its end
    ("A1.T @ 'delta2 / m", 7),        # a quote that opens a string: said so, at the quote
])
def test_a_prime_or_quote_gives_no_tokenizer_message(typed, col):
    with pytest.raises(FormulaError) as e:
        check(XOR, "delta1" if "φ" in typed else "W2", typed)
    assert "string literal" not in str(e.value) and "detected at line" not in str(e.value), str(e.value)
    assert e.value.col == col, (str(e.value), e.value.col)


# ---- 3. layers in round brackets: W^{(2)}, a^{(1)}, \delta^{(2)}; a^{(0)} is the input ----

@pytest.mark.parametrize("target, right, wrong", [
    ("delta1", r"\delta^{(1)} = \left((W^{(2)})^T \delta^{(2)}\right) \odot g'(Z^{(1)})",   # the ' right after =
     r"\delta^{(1)} = \left((W^{(1)})^T \delta^{(2)}\right) \odot g'(Z^{(1)})"),
    ("delta1", r"((W^{(2)})^T \delta^{(2)}) \odot (1 - (a^{(1)})^2)", r"((W^{(2)})^T \delta^{(2)}) \odot (1 - (a^{(2)})^2)"),
    ("W1", r"\frac{1}{m} \delta^{(1)} (a^{(0)})^T", r"\frac{1}{m} \delta^{(1)} (a^{(1)})^T"),
    ("delta1", "(W^{(2)T} δ⁽²⁾) ⊙ (1 − a⁽¹⁾ ⊙ a⁽¹⁾)", "(W^{(2)T} δ⁽²⁾) ⊙ (1 − a⁽²⁾ ⊙ a⁽²⁾)"),
])
def test_a_layer_in_round_brackets_is_that_layer(target, right, wrong):
    assert verdict(XOR, target, right) is True
    assert verdict(XOR, target, wrong) is False


# ---- 4. \bullet is the entrywise product ----

def test_bullet_is_the_entrywise_product():
    # as a matrix product (2, m) by (2, m) would not fit at all
    assert verdict(XOR, "delta1", r"\left((W^{(2)})^T \delta^{(2)}\right) \bullet f'(z^{(1)})") is True
    assert verdict(XOR, "delta1", r"\left((W^{(2)})^T \delta^{(2)}\right) \bullet (1 - a^{(1)})") is False


# ---- 5. the README's Σᵢ a⁽ⁱ⁾ᵀ δ⁽ⁱ⁾: a layer's input and error signal, one example at a time ----

@pytest.mark.parametrize("target, typed, ok", [
    ("W2", "Σᵢ a⁽ⁱ⁾ᵀ δ⁽ⁱ⁾", True),     # A1ᵀ δ2
    ("W1", "Σᵢ a⁽ⁱ⁾ᵀ δ⁽ⁱ⁾", True),     # Xᵀ δ1: a is the layer's own input, not A1 (the same shape here)
    ("W2", "Σᵢ z⁽ⁱ⁾ᵀ δ⁽ⁱ⁾", False),    # Z2ᵀ δ2
    ("b1", "Σᵢ δ⁽ⁱ⁾", True),
])
def test_the_readmes_sum_over_the_examples_reads_the_layers_own_names(target, typed, ok):
    assert verdict(XOR_SUM, target, typed, "rows") is ok


# ---- 6. Octave: * is the matrix product where the formula writes .* or ' ----

@pytest.mark.parametrize("target, typed, ok", [
    ("W2", "(1/m) * A1' * delta2", True),                       # entrywise, (4, m) * (m, 2) would not fit
    ("delta1", "(delta2 * W2') .* A1 .* (1 - A1)", True),
    ("delta1", "(delta2 * W2') .* sigmoidGradient(Z1)", True),    # Ng's ex4 name for σ′
    ("delta1", "(delta2 * W2') .* A1", False),
])
def test_octaves_star_is_the_matrix_product(target, typed, ok):
    assert verdict(NG_EX4, target, typed, "rows") is ok


def test_numpys_star_stays_entrywise_and_says_which_product_fits():
    with pytest.raises(ShapeMismatch) as e:
        check(NG_EX4, "W2", "(1/m) * A1.T * delta2", "rows")
    assert "(a matrix product, @, would fit: * multiplies entry by entry)" in e.value.message, e.value.message
    assert verdict(NG_EX4, "W2", "np.einsum('ij,jk->ik', A1.T, delta2) * (1/m)", "rows") is True   # quotes: a string


# ---- 7. shapes that do not fit inside a formula: NOT EQUAL, exit 1, as a formula of the wrong shape ----

def test_a_shape_mismatch_inside_a_readable_formula_is_a_verdict(capsys):
    bce = ["--loss", "bce"]
    inside = main(["check", "3-4:sigmoid-2:sigmoid", *bce, "--param", "W1", "--formula", "(1/m) Xᵀ ((δ₂ W₂ᵀ) ⊙ A₂ ⊙ (1 − A₂))"])
    out = capsys.readouterr().out
    assert inside == 1 and out.startswith("NOT EQUAL: ∂J/∂W₁\n"), out
    assert "its shapes do not fit at position 11" in out and "yours has A2 where the derived formula has A1" in out
    assert main(["check", "xor", "--param", "W2", "--formula", "(delta2 @ A1.T) / m"]) == 1   # the wrong shape: (m, m)
    assert capsys.readouterr().out.startswith("NOT EQUAL")
    assert main(["check", "xor", "--param", "W2", "--formula", "(delta2 @ A.T) / m"]) == 2    # unreadable: refused
    with pytest.raises(ShapeMismatch) as e:   # from Python: a FormulaError at its position, the verdict beside it
        check(XOR, "W2", "A1 @ delta2 / m", "rows")
    assert e.value.col == 0 and e.value.result.ok is False and e.value.result.how == ["shapes"]

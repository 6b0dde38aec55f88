"""`derivax check` on two more numberings of the layers, each from the input as layer 1, tried where derivax's own
does not read a formula EQUAL: UFLDL's and CS229's a^{(l)}, z^{(l)}, δ^{(l)} in round brackets (a^{(1)} is X) and the
Coursera ML course's ex4 names a1, z2, d3 (a1 is X); its Theta1, Theta2 refused with what to write; and a subscript
digit that ends a name (δ₂W₂ᵀ, A₁^2). Each is judged by its verdict beside a slip in the same notation, and by what
the formula was read as, so that a misread layer shows."""
import pytest
from conftest import formula_checker

from compile.cli.main import main
from derive import Dense, FormulaError, Network
from derive.formula.errors import ShapeMismatch

check = formula_checker("columns")   # check_formula on a derivation made once per network and convention

# UFLDL's 3-layer network (input, hidden, output), sigmoid units and the half squared error, in columns as its notes
UFLDL = Network(3, [Dense(4, "sigmoid"), Dense(2, "sigmoid")], loss="(yhat-y)**2/2")
NG_EX4 = Network(3, [Dense(4, "sigmoid"), Dense(2, "sigmoid")], loss="bce")
XOR = Network(2, [Dense(2, "tanh"), Dense(2, "softmax")])
UFLDL_NOTE = "read in UFLDL's numbering (the input as layer 1, a^{(1)} = X)"
EX4_NOTE = "read in the Coursera ML course's ex4 numbering (the input as layer 1, a1 = X)"


# ---- 1. UFLDL's numbering: a^{(1)} = X, z^{(l+1)} = W^{(l)} a^{(l)} + b^{(l)} ----

def verdict(net, target, formula, convention="columns"):
    """check's verdict, NOT EQUAL where shapes inside the formula do not fit (as the command line gives it)."""
    try:
        return check(net, target, formula, convention)
    except ShapeMismatch as exc:
        return exc.result


# a slip that derivax's numbering cannot read is judged in UFLDL's ("note": the verdict says so); one it reads, NOT
# EQUAL there, keeps that verdict and says that UFLDL's reading was tried ("tried")
@pytest.mark.parametrize("target, right, read, slip, said", [
    ("delta1", r"\delta^{(2)} = \left((W^{(2)})^T \delta^{(3)}\right) \odot f'(z^{(2)})",
     "delta1 = ((W2).T @ delta2) * f_prime(Z1)",
     r"\delta^{(2)} = (W^{(2)})^T \delta^{(3)}", "note"),               # the derivative left out
    ("W1", r"\nabla_{W^{(1)}} J = \frac{1}{m} \delta^{(2)} (a^{(1)})^T",
     "dW1 = ((1)/(m)) * delta1 @ (X).T",
     r"\nabla_{W^{(1)}} J = \delta^{(2)} (a^{(1)})^T", "tried"),          # the 1/m left out
    ("b1", r"\nabla_{b^{(1)}} J = \frac{1}{m} \sum_{i=1}^{m} \delta^{(2)(i)}",
     "db1 = ((1)/(m)) * sum(delta1, 1)",
     r"\nabla_{b^{(1)}} J = \frac{1}{m} \sum_{i=1}^{m} \delta^{(3)(i)}", "note"),   # the output layer's δ
])
def test_ufldls_formulas_read_in_its_numbering(target, right, read, slip, said):
    result = check(UFLDL, target, right)
    assert result.ok is True, result.render()
    assert result.yours_note == f"read as {read}; {UFLDL_NOTE}", result.yours_note
    assert "a^{(1)} is X, a^{(2)} is A1, δ^{(2)} is δ1" in result.reading
    wrong = verdict(UFLDL, target, slip)
    assert wrong.ok is False, wrong.render()
    if said == "note":
        assert wrong.yours_note.endswith(UFLDL_NOTE) and wrong.diagnosis[-1].startswith(
            "in derivax's numbering it does not read: "), wrong.render()
    else:
        assert wrong.diagnosis[-1] == ("read in UFLDL's numbering (the input as layer 1, a^{(1)} = X) too, it is not "
                                       "equal either: missing 1/m: yours is m times the derived formula"), wrong.render()


def test_ufldls_output_delta_and_typeset_layers():
    assert check(UFLDL, "delta2", r"\delta^{(3)} = -(y - a^{(3)}) \odot f'(z^{(3)})").ok is True
    result = check(UFLDL, "delta1", "δ⁽²⁾ = ((W⁽²⁾)ᵀ δ⁽³⁾) ⊙ a⁽²⁾ ⊙ (1 − a⁽²⁾)")
    assert result.ok is True and UFLDL_NOTE in result.yours_note
    assert verdict(UFLDL, "delta1", "δ⁽²⁾ = ((W⁽²⁾)ᵀ δ⁽³⁾) ⊙ a⁽³⁾ ⊙ (1 − a⁽³⁾)").ok is False   # the output's a


def test_derivax_numbering_stands_where_it_reads_equal_and_is_said_beside_a_slip():
    ng = check(XOR, "delta1", r"\delta^{(1)} = \left((W^{(2)})^T \delta^{(2)}\right) \odot g'(Z^{(1)})")
    assert ng.ok is True and "UFLDL" not in ng.yours_note + ng.reading
    # read in derivax's numbering, missing tanh's derivative; UFLDL's has no δ^{(1)} (its input's): said so
    wrong = check(UFLDL, "delta1", r"\delta^{(1)} = (W^{(2)})^T \delta^{(2)}")
    assert wrong.ok is False and "UFLDL" not in wrong.yours_note
    assert wrong.diagnosis[-1].startswith("read in UFLDL's numbering (the input as layer 1, a^{(1)} = X) too, it does "
                                          "not read: δ^{(1)}: in UFLDL's numbering layer 1 is the input"), wrong.diagnosis


def test_ufldl_on_the_command_line(capsys):
    args = ["check", "3-4:sigmoid-2:sigmoid", "--loss", "(yhat-y)**2/2", "--convention", "columns", "--param", "delta1"]
    assert main(args + ["--formula", r"\delta^{(2)} = ((W^{(2)})^T \delta^{(3)}) \odot a^{(2)} \odot (1 - a^{(2)})"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("EQUAL: δ₁\n") and UFLDL_NOTE in out, out
    assert main(args + ["--formula", r"\delta^{(2)} = ((W^{(2)})^T \delta^{(3)}) \odot a^{(2)}"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("NOT EQUAL: δ₁\n") and "in derivax's numbering it does not read: the formula is for " \
        "delta1, but its left side is delta2" in out, out


# ---- 2. the Coursera ML course's ex4: a1 = X, a3 the output, d3 = a3 − y ----

@pytest.mark.parametrize("target, right, slip", [
    ("W2", "d3 = a3 - y\ndW2 = (1/m) * a2' * d3", "d3 = a3 - y\ndW2 = a2' * d3"),
    ("W1", "d3 = a3 - y\nd2 = (d3 * W2') .* sigmoidGradient(z2)\ndW1 = a1' * d2 / m",
     "d3 = a3 - y\nd2 = (d3 * W2') .* sigmoidGradient(z3)\ndW1 = a1' * d2 / m"),
    ("delta1", "(d3 * W2') .* sigmoidGradient(z2)", "(d3 * W2') .* sigmoidGradient(z2) .* a2"),
])
def test_ex4s_names_read_in_its_numbering(target, right, slip):
    result = check(NG_EX4, target, right, "rows")
    assert result.ok is True, result.render()
    assert result.yours_note.endswith(EX4_NOTE) and "a2 is A1, d3 is δ2" in result.reading, result.yours_note
    wrong = verdict(NG_EX4, target, slip, "rows")   # z3 (the output's Z2) beside the hidden layer's units: NOT EQUAL
    assert wrong.ok is False and EX4_NOTE in wrong.yours_note, wrong.render()


def test_ex4s_reading_keeps_derivax_a1_where_that_reads():
    result = check(NG_EX4, "W2", "(1/m) * a1' * delta2", "rows")   # a1 is A1 here, as before
    assert result.ok is True and "ex4" not in result.yours_note + result.reading
    assert result.yours_note == "read as (1/m) * A1.T @ delta2"
    assert check(NG_EX4, "W1", "a1' * d2 / m", "rows").yours_note == f"read as X.T @ delta1 / m; {EX4_NOTE}"


@pytest.mark.parametrize("convention, ok", [("rows", True), ("columns", False)])
def test_theta_grad_of_ex4_is_read_as_dw_transposed(convention, ok):
    # ex4's Theta2_grad(:, 2:end) is dW2ᵀ in the rows convention; in columns, d3' * a2 has dW2ᵀ's shape
    result = verdict(NG_EX4, "W2", "d3 = a3 - y\nTheta2_grad = (1/m) * d3' * a2", convention)
    assert result.ok is ok, result.render()


def test_theta_on_the_command_line(capsys):
    assert main(["check", "3-4:sigmoid-2:sigmoid", "--loss", "bce", "--param", "delta1", "--formula",
                 "(d3 * Theta2)(:, 2:end) .* sigmoidGradient(z2)"]) == 2
    err = capsys.readouterr().err
    assert "Theta2: the Coursera ML course's Theta2 holds the bias in column 0" in err and "at position 7 of" in err


# ---- 3. a subscript digit ends a name: δ₂W₂ᵀ, A₁^2 ----

@pytest.mark.parametrize("typed, ok", [
    ("(1/m) X^T ((δ₂ W₂^T) ⊙ (1 − A₁^2))", True),
    ("(1/m) X^T ((δ₂ W₂^T) ⊙ (1 − A₁^3))", False),
    ("1/m * Xᵀ((δ₂W₂ᵀ)⊙(1−A₁²))", True),
    ("1/m * Xᵀ((δ₂W₁ᵀ)⊙(1−A₁²))", False),     # W1 for W2: the same shape, a wrong value
])
def test_a_subscript_digit_ends_a_name(typed, ok):
    assert check(XOR, "W1", typed, "rows").ok is ok

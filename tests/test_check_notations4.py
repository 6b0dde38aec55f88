"""`derivax check` on four rough edges of reading a formula: the lines of a notebook's formula echoed apart in what it
was read as; one "read as" note in a shape error that carries a slipped name's hint; the 2,000-character limit on
what was typed, not on its respelling; and the Coursera ML course's ex4 Theta<k>(:, 2:end) and Theta<k>_grad = ...
read as derivax's W<k>ᵀ and dW<k>ᵀ (rows convention). Each verdict is compared with one worked out by hand."""
import json

import pytest
from conftest import formula_checker

from compile.checks.formula import CheckError
from compile.cli.main import main
from derive import Dense, FormulaError, Network
from derive.formula.errors import ShapeMismatch
from derive.formula.spelling import shown

check = formula_checker("rows")

XOR = Network(2, [Dense(2, "tanh"), Dense(2, "softmax")])
NET = Network(4, [Dense(3, "sigmoid"), Dense(2, "sigmoid")], loss="bce")   # W1 (4, 3), W2 (3, 2): no square weight
NG_EX4 = Network(3, [Dense(4, "sigmoid"), Dense(2, "sigmoid")], loss="bce")
EX4 = "3-4:sigmoid-2:sigmoid"
EX4_NOTE = "read in the Coursera ML course's ex4 numbering (the input as layer 1, a1 = X)"


def verdict(net, target, formula, convention="rows"):
    """check's verdict, NOT EQUAL where shapes inside the formula do not fit (as the command line gives it)."""
    try:
        return check(net, target, formula, convention)
    except ShapeMismatch as exc:
        return exc.result


# ---- 1. a formula of several lines echoed with its lines apart ----

def test_shown_keeps_lines_apart():
    assert shown("d3 = A2 - Y\ndW2 = A1.T @ d3 / m") == "d3 = A2 - Y; dW2 = A1.T @ d3 / m"
    assert shown("d3 = A2 - Y;\n\n  dW2 = (A1.T @\n   d3) / m;") == "d3 = A2 - Y; dW2 = (A1.T @ d3) / m;"
    assert shown("  A1.T  @ (A2 - Y) ") == "A1.T @ (A2 - Y)"


def test_lines_read_apart_in_the_verdict():
    result = check(XOR, "W2", "d3 = A2 - Y\ndW2 = A1' * d3 / m")
    assert result.ok is True and result.yours_note == "read as d3 = A2 - Y; dW2 = A1.T @ d3 / m", result.render()
    # a formula whose shapes do not fit: the text as typed and as read, each with its lines apart
    wrong = verdict(NET, "W2", "d3 = A2 - Y\ndW2 = A1' * d3 * W2 / m")
    assert wrong.ok is False and wrong.yours == "d3 = A2 - Y; dW2 = A1' * d3 * W2 / m", wrong.render()
    assert wrong.yours_note == "read as d3 = A2 - Y; dW2 = A1.T @ d3 @ W2 / m", wrong.render()


def test_lines_read_apart_in_an_error_and_its_json(capsys):
    formula = "d3 = A2 - Y\ndW2 = A1' * d3 / q"
    with pytest.raises(FormulaError) as e:
        check(XOR, "W2", formula)
    assert e.value.message.endswith(" (read as 'd3 = A2 - Y; dW2 = A1.T @ d3 / q')"), e.value.message
    assert (e.value.line, e.value.column) == (2, 18)
    assert main(["check", "2-2:tanh-2:softmax", "--param", "W2", "--formula", formula, "--json"]) == 2
    said = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert said["ok"] is False and "(read as 'd3 = A2 - Y; dW2 = A1.T @ d3 / q') at line 2, column 18" in said["error"]


# ---- 2. a slipped name's hint in a shape error, and one note of what the formula was read as ----

NABLA = r"\nabla_{W^{[1]}} J = \frac{1}{m} "


@pytest.mark.parametrize("formula, message", [
    # W1 for W2: a swap that makes it right, said inside the shape error
    (NABLA + r"X^T ((\delta^{[2]} W^{[1]T}) \odot A^{[1]} \odot (1 - A^{[1]}))",
     "cannot multiply delta2 (m, 2) by W1.T (3, 4) (yours has W1 where the derived formula has W2: with W2 there, "
     "yours agrees) (read as 'dW1 = ((1)/(m)) * X.T @ ((delta2 @ W1.T) * A1 * (1 - A1))')"),
    # the factors in the wrong order as well: no one name makes it right
    (NABLA + r"((W^{[1]T} \delta^{[2]}) \odot A^{[1]} \odot (1 - A^{[1]})) X^T",
     "cannot multiply W1.T (3, 4) by delta2 (m, 2) (read as 'dW1 = ((1)/(m)) * ((W1.T @ delta2) * A1 * (1 - A1)) "
     "@ X.T')"),
])
def test_a_shape_error_is_read_as_once(formula, message):
    with pytest.raises(ShapeMismatch) as e:
        check(NET, "W1", formula)
    assert e.value.message == message and str(e.value).count("read as") == 1, str(e.value)
    result = e.value.result
    assert result.ok is False and "read as" not in " ".join(result.diagnosis), result.render()
    assert result.diagnosis == ["shapes that do not fit: " + message.split(" (read as ")[0]], result.diagnosis
    assert result.yours_note == "read as " + message.split(" (read as '")[1][:-2]


# ---- 3. the limit on what was typed, not on its respelling ----

def _zeros(depth):   # (δ₂ − δ₂) summed in a balanced tree: 0, written in 2**depth terms
    return "(δ₂ − δ₂)" if depth == 0 else f"({_zeros(depth - 1)} + {_zeros(depth - 1)})"


# typed: 16 + 128 leaves of 9 characters + 127 brackets and pluses of 5 + 1 = 1,804 characters; read as
# "(1/m) * A1.T @ (delta2 + " (25), leaves "(delta2 - delta2)" (17) and the same 127 * 5 + 1: 2,837, and one space more
# (the product sign put beside the space after (1/m)) before its spaces are shown as one
LONG = "(1/m) A₁ᵀ (δ₂ + " + _zeros(7) + ")"
READ = 25 + 17 * 128 + 5 * 127 + 1


def test_a_formula_under_the_limit_that_grows_past_it_when_read():
    assert len(LONG) == 16 + 9 * 128 + 5 * 127 + 1 == 1804 and READ == 2837
    result = check(NET, "W2", LONG)
    assert result.ok is True, result.render()
    assert result.yours_note.startswith("read as (1/m) * A1.T @ (delta2 + ((((((((delta2 - delta2) + (delta2 - delta2))")
    assert len(result.yours_note) == len("read as ") + READ


def test_the_limit_is_on_the_text_typed_and_quotes_it():
    typed = "A1.T @ (A2 - Y) / m + " * 95 + "0 * A1.T @ Y"   # 2,102 characters
    with pytest.raises(FormulaError) as e:
        check(NET, "W2", typed)
    assert e.value.message == "formula longer than 2000 characters (it has 2102)" and e.value.text == typed


def test_the_respelled_text_has_a_bound_of_its_own(monkeypatch):
    import derive.formula.errors as errors
    monkeypatch.setattr(errors, "MAX_RESPELLED", 2500)
    with pytest.raises(FormulaError) as e:
        check(NET, "W2", LONG)
    assert e.value.text == LONG and e.value.col == 0, str(e.value)
    assert e.value.message == (f"formula too long once read: its 1804 characters read as {READ + 1} (δ as delta, σ′ as "
                               "sigmoid_prime, ...), more than 2500")
    assert str(e.value).splitlines()[1] == "  " + LONG[:70] + "..."   # the echo is the text as typed


# ---- 4. the Coursera ML course's ex4: Theta<k>(:, 2:end) is W<k>ᵀ, Theta<k>_grad = ... is dW<k>ᵀ ----

D2 = "d2 = (d3 * Theta2(:, 2:end)) .* sigmoidGradient(z2)"
EX4_W1 = f"d3 = a3 - y;\n{D2};\nTheta1_grad = d2' * a1 / m;"


@pytest.mark.parametrize("target, formula, convention, read", [
    ("delta1", D2, "rows", "(delta2 @ W2.T) * sigmoidGradient(Z1)"),
    ("delta1", "d2 = (d3 @ Theta2[:, 1:]) * sigmoidGradient(z2)", "rows", "(delta2 @ W2.T) * sigmoidGradient(Z1)"),
    ("delta1", "d2 = (Theta2(:, 2:end)' * d3) .* sigmoidGradient(z2)", "columns",
     "(W2.T @ delta2) * sigmoidGradient(Z1)"),
    ("W1", EX4_W1, "rows", "d3 = A2 - Y; d2 = (d3 @ W2.T) * sigmoidGradient(Z1); dW1 = (d2.T @ X / m).T"),
    ("W2", "d3 = a3 - y;\nTheta2_grad = d3' * a2 / m;", "rows", "d3 = A2 - Y; dW2 = (d3.T @ A1 / m).T"),
    ("W2", "d3 = a3 - y;\nTheta2_grad = d3 * a2' / m;", "columns", "d3 = A2 - Y; dW2 = d3 @ A1.T / m"),
    ("W1", "Theta1_grad = d2' * a1;\nTheta1_grad = Theta1_grad / m;", "rows",
     "dW1 = (delta1.T @ X).T; dW1 = (dW1.T / m).T"),
])
def test_ex4s_theta_without_its_bias_column_reads_equal(target, formula, convention, read):
    result = check(NG_EX4, target, formula, convention)
    assert result.ok is True, result.render()
    assert result.yours_note == f"read as {read}; {EX4_NOTE}", result.yours_note


def test_ex4s_slips_read_not_equal():
    missing = verdict(NG_EX4, "W1", EX4_W1.replace(" / m;", ";"))
    assert missing.ok is False and missing.diagnosis[0] == "missing 1/m: yours is m times the derived formula"
    # z3, the output layer's z (derivax's Z2, (m, 2)), beside the hidden layer's units (m, 4)
    z3 = verdict(NG_EX4, "W1", EX4_W1.replace("sigmoidGradient(z2)", "sigmoidGradient(z3)"))
    assert z3.ok is False and z3.diagnosis[0].startswith(
        "shapes that do not fit: cannot multiply elementwise (d3 @ W2.T) (m, 4) and sigmoidGradient(Z2) (m, 2)"), \
        z3.render()


def test_ex4s_theta_with_its_bias_column_stays_refused():
    with pytest.raises(FormulaError) as e:
        check(NG_EX4, "W1", EX4_W1.replace("Theta2(:, 2:end)", "Theta2"))
    assert e.value.message == (
        "Theta2: the Coursera ML course's Theta2 holds the bias in column 0 and is W2ᵀ without it (Theta2(:, 2:end) = "
        "W2ᵀ); derivax keeps W2 and b2 apart: write Theta2(:, 2:end) or W2' for Theta2 without its bias column, b2 "
        "for its column 0, and the gradient as a line Theta2_grad = ..., read as its columns 2:end (dW2ᵀ)")
    assert (e.value.line, e.value.column) == (2, 12)


def test_ex4s_bias_column_is_refused_by_name():
    with pytest.raises(FormulaError) as e:   # the course's a1 with its column of ones
        check(NG_EX4, "W1", "a1 = [ones(m, 1) X];\n" + EX4_W1)
    assert e.value.message.startswith("a column of ones, as the Coursera ML course puts the bias before a1 and a2 "
                                      "([ones(m, 1) X]): derivax keeps the biases apart"), e.value.message
    assert (e.value.line, e.value.column) == (1, 7)
    with pytest.raises(CheckError) as e:   # Theta1_grad's first column is b1's gradient: not what is read
        check(NG_EX4, "b1", EX4_W1)
    assert str(e.value) == ("the formula is for b1, but its last line defines Theta1_grad (read as dW1: the course's "
                            "Theta1_grad without its first column, b1's gradient), which names the gradient of W1: "
                            "check it with --param W1, or end the formula with the line that defines db1")
    with pytest.raises(FormulaError) as e:   # a layer the network does not have
        check(NG_EX4, "delta1", "(d3 * Theta3(:, 2:end)) .* sigmoidGradient(z2)")
    assert e.value.message == ("Theta3(:, 2:end): the Coursera ML course's Theta3 is derivax's layer 3, W3 and b3, "
                               "and this network has no W3 (its weights: W1, W2)"), e.value.message


@pytest.mark.parametrize("formula, code", [
    (EX4_W1, 0),
    (EX4_W1.replace(" / m;", ";"), 1),
    (EX4_W1.replace("sigmoidGradient(z2)", "sigmoidGradient(z3)"), 1),
    (EX4_W1.replace("Theta2(:, 2:end)", "Theta2"), 2),
])
def test_ex4_on_the_command_line(capsys, formula, code):
    assert main(["check", EX4, "--loss", "bce", "--param", "W1", "--formula", formula]) == code
    out, err = capsys.readouterr()
    assert out.startswith({0: "EQUAL: ∂J/∂W₁\n", 1: "NOT EQUAL: ∂J/∂W₁\n", 2: ""}[code]), out
    assert ("Theta2: the Coursera ML course's Theta2 holds the bias" in err) is (code == 2), err

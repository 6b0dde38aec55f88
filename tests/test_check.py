"""`derivax check`: formulas a user wrote, accepted when right and rejected, with the reason, when wrong.

Every right formula here is typed from the textbook (seeds 000-004), not copied from derivax's output;
every wrong one is a mistake students make. Injection payloads must be refused by the parser.
"""
import json

import pytest
import sympy as sp

from compile.checks.formula import check_formula, check_update
from compile.cli.main import main
from derive import Dense, FormulaError, Network
from derive.formula.sympy_matrix import matrix_symbols

XOR = Network(2, [Dense(2, "tanh"), Dense(2, "softmax")], loss="ce")
SIG = Network(4, [Dense(3, "sigmoid"), Dense(3, "sigmoid"), Dense(2, "softmax")], loss="ce")  # seed 002
DERIVED = {(id(n), c): n.derive(c) for n in (XOR, SIG) for c in ("rows", "columns")}


def check(net, target, formula, convention="rows"):
    return check_formula(net, target, formula, convention, derivation=DERIVED.get((id(net), convention)))


RIGHT = [
    (XOR, "rows", "W2", "A1.T @ (A2 - Y) / m"),
    (XOR, "rows", "W2", "(1/m) * A1.T @ delta2"),
    (XOR, "rows", "b2", "sum(A2 - Y, axis=0, keepdims=True) / m"),
    (XOR, "rows", "W1", "X.T @ ((A2 - Y) @ W2.T * (1 - A1**2)) / m"),
    (XOR, "rows", "W1", "X.T @ (delta2 @ W2.T * (1 - tanh(Z1)**2)) / m"),
    (XOR, "rows", "delta1", "(delta2 @ W2.T) * (1 - A1*A1)"),
    (XOR, "rows", "delta1", "(delta2 @ W2.T) * tanh_prime(Z1)"),   # the derivative as --steps prints it
    (XOR, "rows", "dZ2", "(A2 - Y) / m"),
    (XOR, "columns", "W2", "(A2 - Y) @ A1.T / m"),
    (XOR, "columns", "b1", "sum(delta1, 1) / m"),
    # seed 002, examples as columns: delta[l] = (W[l+1]^T delta[l+1]) * g'(Z[l]), dW = (1/m) delta A^T
    (SIG, "columns", "delta2", "(W3.T @ delta3) * A2 * (1 - A2)"),
    (SIG, "columns", "delta1", "(W2.T @ delta2) * sigmoid(Z1) * (1 - sigmoid(Z1))"),
    (SIG, "columns", "W2", "(1/m) * delta2 @ A1.T"),
    (SIG, "columns", "b2", "(1/m) * sum(delta2, 1)"),
    (SIG, "columns", "W1", "delta1 @ X.T / m"),
    (SIG, "rows", "W3", "A2.T @ (A3 - Y) / m"),
]


@pytest.mark.parametrize("net,convention,target,formula", RIGHT)
def test_right_formulas_are_accepted(net, convention, target, formula):
    r = check(net, target, formula, convention)
    assert r.ok, r.render()


WRONG = [  # (net, convention, target, formula, what the diagnosis must say)
    (XOR, "rows", "W2", "A1.T @ (A2 - Y)", "missing 1/m"),
    (XOR, "rows", "W2", "A1.T @ (Y - A2) / m", "wrong sign"),
    (XOR, "rows", "W2", "(A2 - Y).T @ A1 / m", "missing transpose"),
    (XOR, "rows", "W2", "2 * A1.T @ (A2 - Y) / m", "off by a constant factor: yours is 2 times"),
    (XOR, "rows", "W1", "X.T @ ((A2 - Y) @ W2.T * A1 * (1 - A1)) / m",
     "wrong activation derivative at layer 1: A₁ (1 − A₁) is the derivative of sigmoid"),
    (XOR, "rows", "W1", "X.T @ ((A2 - Y) @ W2.T) / m", "missing the derivative of tanh at layer 1"),
    (XOR, "rows", "delta1", "(delta2 @ W2.T) * sigmoid_prime(Z1)", "is the derivative of sigmoid"),
    (XOR, "rows", "b1", "sum(delta1, 1) / m", "wrong shape"),
    (SIG, "columns", "delta2", "(W3.T @ delta3) * (1 - A2**2)",
     "wrong activation derivative at layer 2: 1 − A₂² is the derivative of tanh"),
    (SIG, "columns", "W2", "delta2 @ A1.T", "missing 1/m"),
    (SIG, "columns", "b2", "(1/m) * sum(delta2, 0)", "wrong shape"),
    (SIG, "columns", "W1", "-(1/m) * delta1 @ X.T", "wrong sign"),
]


@pytest.mark.parametrize("net,convention,target,formula,why", WRONG)
def test_wrong_formulas_are_rejected_with_the_reason(net, convention, target, formula, why):
    r = check(net, target, formula, convention)
    assert not r.ok
    assert any(why in d for d in r.diagnosis), r.render()
    assert r.counterexample


# ---- the seeds' formulas, each with a wrong variant ----

NEURON = Network(3, [Dense(1, "sigmoid")], loss="bce")        # seed 001: y = f(sum_i w_i x_i + b)
RELU = Network(3, [Dense(2, "relu"), Dense(1)], loss="mse")
MSE = Network(2, [Dense(1, "identity")], loss="mse")

SEED_FORMULAS = [  # (net, target, right, wrong)
    (NEURON, "Z1", "X @ W1 + b1", "X @ W1 - b1"),                            # the neuron
    (NEURON, "A1", "sigmoid(X @ W1 + b1)", "tanh(X @ W1 + b1)"),
    (NEURON, "A1", "1 / (1 + exp(-Z1))", "1 / (1 + exp(Z1))"),              # sigmoid
    (RELU, "A1", "max(0, Z1)", "abs(Z1)"),                                   # ReLU
    (MSE, "J", "sum((A1 - Y)**2) / m", "sum(A1 - Y)**2 / m"),                # MSE
    (NEURON, "J", "-sum(Y * log(A1) + (1 - Y) * log(1 - A1)) / m", "-sum(Y * log(A1)) / m"),  # BCE
    (NEURON, "W1", "X.T @ (A1 - Y) / m", "X.T @ ((A1 - Y) * A1 * (1 - A1)) / m"),  # sigmoid + BCE cancel
    (MSE, "W1", "2 * X.T @ (A1 - Y) / m", "X.T @ (A1 - Y) / m"),
]


@pytest.mark.parametrize("net,target,right,wrong", SEED_FORMULAS)
def test_seed_formulas_right_and_wrong(net, target, right, wrong):
    assert check(net, target, right).ok
    assert not check(net, target, wrong).ok


@pytest.mark.parametrize("optimizer,right,wrong", [
    ("sgd", "theta - alpha * g", "theta + alpha * g"),                                  # seed 004
    ("momentum", "theta - alpha * (beta * v + g)", "theta - alpha * beta * v"),
    ("adam", "theta - alpha * (mu_hat / (sqrt(nu_hat) + epsilon))", "theta - alpha * mu_hat / sqrt(nu_hat)"),
])
def test_gradient_descent_updates(optimizer, right, wrong):
    assert check_update(optimizer, right)
    assert not check_update(optimizer, wrong)


def test_a_sympy_matrix_expression_from_python():
    S = matrix_symbols(DERIVED[(id(XOR), "rows")])
    assert check(XOR, "W2", S.A1.T * (S.A2 - S.Y) / S.m).ok
    good = S.X.T * sp.HadamardProduct(S.delta2 * S.W2.T, S.A1.applyfunc(lambda a: 1 - a**2)) / S.m
    assert check(XOR, "W1", good).ok
    assert not check(XOR, "W1", S.X.T * (S.delta2 * S.W2.T) / S.m).ok


def test_cli_exit_codes_and_json(capsys):
    assert main(["check", "xor", "--param", "W2", "--formula", "A1.T @ (A2 - Y) / m"]) == 0
    assert "EQUAL" in capsys.readouterr().out
    assert main(["check", "xor", "--param", "W2", "--formula", "A1.T @ (A2 - Y)", "--json"]) == 1
    out = capsys.readouterr().out
    doc = json.loads(out.strip().splitlines()[-1])
    assert doc["ok"] is False and doc["correct"] == "(1/m)*(A1.T @ delta2)"
    assert "derived: ∂J/∂W₂ = (1/m) A₁ᵀ δ₂" in out
    assert main(["check", "xor", "--param", "W9", "--formula", "X"]) == 2
    assert "no formula named 'W9'" in capsys.readouterr().err


@pytest.mark.parametrize("payload,message", [
    ("__import__('os').system('ls')", "attribute access .system is not allowed (only .T and the methods .sum(), .mean(), .max(), .transpose(), .reshape(), .astype(), .dot()) at position 18"),
    ("__import__('os')", "call of '__import__' is not allowed"),
    ("A1.__class__", "attribute access .__class__ is not allowed (only .T and the methods .sum(), .mean(), .max(), .transpose(), .reshape(), .astype(), .dot())"),
    ("A1.T.__dict__", "attribute access .__dict__ is not allowed"),
    ("(lambda q: q)(A1)", "a lambda is not allowed"),
    ("[a for a in (A1, A2)]", "a comprehension is not allowed"),
    ("A1[0]", "a subscript is not allowed"),
    ("open('/etc/passwd')", "call of 'open' is not allowed"),
    ("eval('1')", "call of 'eval' is not allowed"),
    ("np.load('x.npy')", "np.load is not one of the NumPy functions a formula may call"),
    ("os.system('ls')", "attribute access .system is not allowed"),
    ("(x := A1)", "an assignment is not allowed"),
    ("f'{A1}'", "an f-string is not allowed"),
    ("A1 if m else A2", "a conditional is not allowed"),
    ("A1.T @ (A2 - Y) / m; import os", "syntax error"),
])
def test_injection_payloads_are_refused_with_the_position(payload, message, capsys):
    with pytest.raises(FormulaError, match=r"at position \d+") as e:
        check(XOR, "W2", payload)
    assert message in str(e.value)
    assert main(["check", "xor", "--param", "W2", "--formula", payload]) == 2
    assert message in capsys.readouterr().err


def test_a_shape_error_names_the_operands_and_position():
    with pytest.raises(FormulaError) as e:
        check(XOR, "W1", "X @ delta1 / m")
    assert "cannot multiply X (m, 2) by delta1 (m, 2) (Xᵀ (2, m) would fit: transposed?) at position 1" in str(e.value)


def test_division_by_zero_is_refused_at_the_divisor():
    with pytest.raises(FormulaError, match=r"division by zero .* at position 20") as e:
        check(XOR, "W1", "X.T @ delta1 / m / 0")
    assert "\n" + " " * 21 + "^" in str(e.value)


@pytest.mark.parametrize("net", [XOR, Network(3, [Dense(3, "relu", dropout=0.2), Dense(2, "softmax")], l2=0.1),
                                 Network(2, [Dense(2, "z*sigmoid(z)"), Dense(1, "atan(z)", skip_from=())],
                                         loss="log(cosh(yhat - y))")])
def test_every_printed_gradient_reads_back_as_a_formula(net):
    """The JSON view prints formulas in check's syntax (lambda as lam): each must parse and be equal."""
    d = net.derive()
    for param, formula in json.loads(d.json())["gradients"].items():
        assert check_formula(net, param, formula, derivation=d).ok, (param, formula)


RELU_NET = Network(2, [Dense(3, "relu"), Dense(2, "softmax")])


@pytest.mark.parametrize("net, target, formula, ok", [
    (XOR, "W2", "np.dot(A1.T, A2 - Y) / m", True),
    (XOR, "b2", "np.sum(A2 - Y, axis=0, keepdims=True) / m", True),
    (XOR, "W1", "np.dot(X.T, np.multiply(np.dot(A2 - Y, W2.T), 1 - np.power(A1, 2))) / m", True),
    (XOR, "W1", "np.dot(X.T, np.multiply(np.dot(A2 - Y, W2.T), 1 - A1)) / m", False),
    (RELU_NET, "W1", "np.dot(X.T, np.dot(A2 - Y, W2.T) * (A1 > 0)) / m", True),   # CS231n's ReLU mask
    (RELU_NET, "W1", "np.dot(X.T, np.dot(A2 - Y, W2.T) * (Z1 > 0)) / m", True),
    (RELU_NET, "W1", "np.dot(X.T, np.dot(A2 - Y, W2.T) * (Z1 < 0)) / m", False),  # the mask inverted
    (RELU_NET, "W1", "np.dot(X.T, np.dot(A2 - Y, W2.T)) / m", False),             # the mask forgotten
])
def test_numpy_spellings_and_comparison_masks(net, target, formula, ok):
    assert check_formula(net, target, formula).ok is ok


@pytest.mark.parametrize("formula, where, words", [
    ("np.foo(A1)", 3, "np.foo is not one of the NumPy functions"),
    ("np.sum(A1, axis=0, keepdims=1)", 28, "keepdims is True or False"),
    ("0 < A1 < 1", 0, "only one comparison"),
    ("A1 == 0", 0, "the comparison == is not supported in a formula: a mask is a comparison <, <=, > or >= such as (A1 > 0)"),
    ("A1 is A2", 0, "the comparison is is not supported in a formula: a mask is a comparison"),
    ("np.int64(Z1) * A1", 0, "np.int64 truncates to whole numbers: only a mask such as (A1 > 0) may be cast"),
    ("np.where(Z1, 1, 0)", 9, "np.where's condition must be a comparison such as Z1 > 0"),
    ("A1.reshape(99999999999, 1)", 11, "dimension 99999999999 is too large (at most 1000000)"),
    ("A1 ^ 2", 0, "operator ^ is not allowed: write ** for a power (A1**2)"),
    ("5 @ A1", 0, "@ multiplies matrices, and 5 is a number: write * to scale"),
    ("m.T", 2, ".T transposes a matrix, and m is a number"),
])
def test_numpy_spelling_errors_point_at_the_culprit(formula, where, words):
    with pytest.raises(FormulaError) as e:
        check_formula(XOR, "W2", formula)
    assert words in str(e.value) and e.value.col == where, (str(e.value), e.value.col)


def test_the_report_names_the_loss_and_convention_it_read_against():
    """A spec ending in sigmoid means binary cross-entropy: the report says so, with J as derived."""
    from derive.network.examples import parse_spec
    r = check_formula(parse_spec("2-3:tanh-1:sigmoid"), "W2", "A1.T @ (A2 - Y) / m")
    assert r.ok
    assert r.reading == ("2-3-1, loss binary cross-entropy (J = −(1/m) Σ (Y ⊙ log(A₂) + (1 − Y) ⊙ log(1 − A₂))), "
                         "rows convention")
    assert "  read against: 2-3-1, loss binary cross-entropy" in r.render()
    assert json.loads(r.to_json())["reading"] == r.reading


def test_a_byte_that_is_not_utf8_is_named_at_its_position(capsys):
    """A Latin-1 no-break space reached the parser as an undecodable character and was called nesting too deep."""
    assert main(["check", "xor", "--param", "W2", "--formula", "A1.T @ delta2\udca0/ m"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "derivax: the byte 0xa0 is not UTF-8 text (a Latin-1 no-break space or accent?): retype that character at "
        "position 14 of 'A1.T @ delta2\ufffd/ m'", "  A1.T @ delta2\ufffd/ m", "               ^"]


def test_a_formula_beyond_float64_is_said_to_overflow(capsys):
    """m**4096 at m = 3 cannot be a float: the check failed with 'OverflowError: int too large'."""
    assert main(["check", "xor", "--param", "W2", "--formula", "A1.T @ delta2 * (m**64)**64"]) == 1
    out = capsys.readouterr().out
    assert "  what differs: yours overflows float64 at the check points (a power too large?), where the derived " \
           "formula is finite; and it differs from the derived formula in exact arithmetic too\n" in out


@pytest.mark.parametrize("args, says", [
    (("xor", "W2", "A1.T @ delta2 / m"), r"^net must be a derive.Network, not str 'xor' \(derive.network.examples"),
    ((None, 1, "A1"), r"^target names what the formula is for, as text \('W1', 'dZ2', 'delta1'\), not int 1$"),
    ((None, "W2", b"A1"), r"^formula is text \('A1.T @ delta2 / m'\) or a SymPy matrix expression, not bytes b'A1'$")])
def test_check_formula_names_an_argument_of_the_wrong_kind(args, says):
    from compile import check_formula
    from derive.network.examples import resolve
    net = resolve("xor")[1]
    with pytest.raises(TypeError, match=says):
        check_formula(*(net if a is None else a for a in args))

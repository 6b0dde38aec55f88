"""`derivax check`: shapes said as NumPy gives them, a formula that overflows said to overflow, and the LaTeX
loss and forward lines `derivax show --format latex` prints read back.

Each expectation is computed here by hand with NumPy (shapes, overflow flags, a softmax, the hinge loss) at the
points the check uses, not taken from derivax's own evaluation."""
import numpy as np
import pytest

from compile.checks.points import random_point
from derive import Dense, FormulaError, Network
from conftest import formula_checker

check = formula_checker("rows")

SOFT = Network(2, [Dense(3, "tanh"), Dense(3, "tanh"), Dense(4, "softmax")], loss="ce")
BIN = Network(2, [Dense(3, "tanh"), Dense(3, "tanh"), Dense(1, "sigmoid")], loss="bce")
CE = Network(2, [Dense(3, "tanh"), Dense(4, "softmax")], loss="ce")
SVM = Network(2, [Dense(3, "tanh"), Dense(4)], loss="svm")
MSE = Network(2, [Dense(3, "tanh"), Dense(2)], loss="mse")
DECAY = Network(2, [Dense(3, "tanh"), Dense(4, "softmax")], loss="ce", l2=0.1)
DECAY3 = Network(2, [Dense(3, "tanh"), Dense(3, "tanh"), Dense(1, "sigmoid")], loss="bce", l2=0.1)   # a long J
M = 5


@pytest.fixture
def quick(monkeypatch):
    """The verdict without the time a diagnosis may take: its searches under short limits."""
    from compile.checks import formula as F
    from derive.formula import compare as C
    for module, limit in ((F, "SWAP_SECONDS"), (F, "SIGN_SECONDS"), (F, "EXACT_WHEN_DIFFERENT"),
                          (C, "DIAGNOSIS_SECONDS")):
        monkeypatch.setattr(module, limit, 0.5)


def arrays(net, convention):
    """NumPy arrays of the network's activations' shapes (A2, A3, Y) in the convention, with m = M."""
    rng = np.random.default_rng(0)
    k = net.layers[-1].units
    rows = convention == "rows"
    shape = (lambda n: (M, n)) if rows else (lambda n: (n, M))
    return {"A2": rng.random(shape(3)), "A3": rng.random(shape(k)), "Y": rng.random(shape(k)), "m": M}


def said_shape(result) -> tuple:
    """The shape the counterexample says yours has, with m = M."""
    import re
    text = re.search(r"your formula has shape (\([^)]*\))", result.counterexample).group(1)
    return tuple(int(d) for d in text.strip("()").replace("m", str(M)).split(",") if d.strip())


# ---- 1. shapes as NumPy gives them ----

SHAPED = [   # (network, convention, target, formula, NumPy's own computation of it)
    (SOFT, "rows", "b3", "np.sum(A3 - Y)", lambda a: np.sum(a["A3"] - a["Y"])),
    (SOFT, "rows", "dZ3", "np.mean(A3 - Y) * 2", lambda a: np.mean(a["A3"] - a["Y"]) * 2),
    (SOFT, "columns", "W3", "np.sum(A3 - Y, axis=(0, 1))", lambda a: np.sum(a["A3"] - a["Y"], axis=(0, 1))),
    (SOFT, "rows", "b3", "np.sum(A3 - Y, axis=1)", lambda a: np.sum(a["A3"] - a["Y"], axis=1)),
    (SOFT, "rows", "W3", "A2.T @ np.sum(A3 - Y, axis=1) / m",
     lambda a: a["A2"].T @ np.sum(a["A3"] - a["Y"], axis=1) / M),
    (SOFT, "columns", "b3", "np.sum(A3 - Y, axis=1) @ A3", lambda a: np.sum(a["A3"] - a["Y"], axis=1) @ a["A3"]),
    (SOFT, "rows", "b3", "np.sum(A3 - Y) * np.sum(A3, axis=1)",
     lambda a: np.sum(a["A3"] - a["Y"]) * np.sum(a["A3"], axis=1)),
    (BIN, "rows", "dZ3", "np.sum(A3 - Y, axis=1) * A3", lambda a: np.sum(a["A3"] - a["Y"], axis=1) * a["A3"]),
    (BIN, "rows", "W3", "A2.T @ np.sum(A3 - Y, axis=1) / m",
     lambda a: a["A2"].T @ np.sum(a["A3"] - a["Y"], axis=1) / M),
]


@pytest.mark.parametrize("net, convention, target, formula, numpy", SHAPED)
def test_a_numpy_formula_s_shape_is_said_as_numpy_gives_it(net, convention, target, formula, numpy, quick):
    r = check(net, target, formula, convention)
    assert not r.ok and r.how == ["shapes"], r.render()
    assert said_shape(r) == np.shape(numpy(arrays(net, convention))), r.render()


def test_a_number_is_said_to_be_one():
    r = check(SOFT, "b3", "np.sum(A3 - Y) / m")
    assert "your formula has shape () (a number)" in r.counterexample, r.render()
    assert any("yours is a number, shape ()" in d for d in r.diagnosis), r.render()


def test_a_vector_broadcast_against_a_column_is_said_so_not_a_missing_batch_sum(quick):
    """(m,) * (m, 1) is (m, m) in NumPy: the vector stands as a row. Axis 1 of (m, m) is not the batch's in rows,
    and the message said the sum over the batch was missing there."""
    a = arrays(BIN, "rows")
    assert (np.sum(a["A3"] - a["Y"], axis=1) * a["A3"]).shape == (M, M)
    r = check(BIN, "dZ3", "np.sum(A3 - Y, axis=1) * A3")
    assert not r.ok
    assert not any("sum over the batch is missing" in d for d in r.diagnosis), r.render()
    assert any("NumPy reads the vector np.sum(A3 - Y, axis=1) (m,) as a row (1, m)" in d for d in r.diagnosis), \
        r.render()


def test_a_vector_in_a_matrix_product_is_read_as_numpy_multiplies_it():
    """(A3 - Y)[0, :] @ A2.T is (3,) in NumPy, which broadcasts as W3's (1, 3): the gradient, as a vector. It was
    refused as 'a matrix product takes two matrices'."""
    a = arrays(BIN, "columns")
    vector = (a["A3"] - a["Y"])[0, :] @ a["A2"].T / M
    assert vector.shape == (3,) and np.broadcast_shapes(vector.shape, (1, 3)) == (1, 3)
    r = check(BIN, "W3", "(A3 - Y)[0, :] @ A2.T / m", "columns")
    assert r.ok, r.render()
    with pytest.raises(FormulaError) as e:   # NumPy refuses these sizes too
        check(BIN, "W3", "(A3 - Y)[0, :] @ A2 / m", "columns")
    assert "cannot multiply (A3 - Y)[0, :] (m,) by A2 (3, m)" in str(e.value), str(e.value)


# ---- 2. inf is an overflow, nan no number ----

def numpy_z2(net, convention, seed, m):
    """Z2 of a network of two dense tanh-then-output layers at the check's random point, by hand in NumPy, batch
    first (m, units): X W + b in rows, (W Xᵀ + b)ᵀ in columns, the parameters in the convention's layout."""
    p = random_point(net.derive(convention).model, seed, m)
    W1, b1, W2, b2 = (p.params[k] for k in ("W1", "b1", "W2", "b2"))
    if convention == "rows":
        return np.tanh(p.x @ W1 + b1.reshape(1, -1)) @ W2 + b2.reshape(1, -1)
    return (W2 @ np.tanh(W1 @ p.x.T + b1.reshape(-1, 1)) + b2.reshape(-1, 1)).T


def point_of(counterexample):
    import re
    seed, m, *entry = map(int, re.search(r"seed (\d+), batch of (\d+)\), entry \((\d+), (\d+)\)",
                                         counterexample).groups())
    return seed, m, (entry[0] - 1, entry[1] - 1)


@pytest.mark.parametrize("formula", ["np.exp(1000*Z2)", "(A2 - Y)/m + np.exp(1000*Z2) * A2 - np.exp(1000*Z2)"])
def test_a_formula_that_overflows_is_said_to_overflow_naming_the_part(formula, quick):
    r = check(CE, "dZ2", formula)
    assert not r.ok
    seed, m, at = point_of(r.counterexample)
    z = numpy_z2(CE, "rows", seed, m)
    with np.errstate(over="raise"), pytest.raises(FloatingPointError, match="overflow"):
        np.exp(1000 * z)
    said = " ".join(r.diagnosis)
    assert "yours overflows float64 at the check points: exp(1000 Z₂) is beyond float64's range" in said, r.render()
    assert "square root of a negative" not in said and "division by zero" not in said, r.render()


def test_a_formula_with_no_number_is_not_said_to_overflow(quick):
    r = check(CE, "dZ2", "(A2 - Y)/m + np.log(Z2 - 100)")
    seed, m, at = point_of(r.counterexample)
    z = numpy_z2(CE, "rows", seed, m)
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError, match="invalid"):
        np.log(z[at] - 100)
    assert any("log(Z₂ − 100) is no number there" in d for d in r.diagnosis), r.render()
    assert not any("overflow" in d for d in r.diagnosis), r.render()


def test_a_log_of_zero_is_said_to_be_one(quick):
    r = check(CE, "dZ2", "(A2 - Y)/m + np.log(np.maximum(Z2, 0))")
    seed, m, at = point_of(r.counterexample)
    assert numpy_z2(CE, "rows", seed, m)[at] <= 0
    assert any("divides by zero or takes the log of 0 there (-inf" in d for d in r.diagnosis), r.render()


# ---- 3. the LaTeX lines derivax prints read back ----

def latex_lines(net, convention):
    """{lhs: the whole line} of the forward pass and the loss in `derivax show --format latex`."""
    from derive.printing.document import to_latex
    text = to_latex(net.derive(convention))
    out = {}
    for line in text.splitlines():
        if "&=" in line and not line.startswith("\\frac{\\partial"):
            out.setdefault(line.split("&=")[0].strip(), line)
    return out


def latex_block(net, convention, section):
    """The body of one align* block of `derivax show --format latex` (its lines, a long equation broken over
    several of them)."""
    from derive.printing.document import to_latex
    text = to_latex(net.derive(convention)).split(f"% {section}")[1]
    return text.split("\\begin{align*}\n")[1].split("\n\\end{align*}")[0]


@pytest.mark.parametrize("net", [CE, SVM, MSE, DECAY, DECAY3], ids=["ce", "svm", "mse", "decay", "decay-3"])
@pytest.mark.parametrize("convention", ["rows", "columns"])
def test_the_latex_loss_reads_back(net, convention):
    block = latex_block(net, convention, "Loss")
    assert block.startswith("J &= ")
    r = check(net, "J", block, convention)
    assert r.ok, (block, r.render())


@pytest.mark.parametrize("convention", ["rows", "columns"])
def test_the_latex_forward_lines_read_back_softmax_over_the_classes(convention):
    lines = latex_lines(CE, convention)
    assert r"\mathrm{softmax}\left(Z^{[2]}\right)" in lines["A^{[2]}"]
    for lhs, target in (("Z^{[1]}", "Z1"), ("A^{[1]}", "A1"), ("Z^{[2]}", "Z2"), ("A^{[2]}", "A2")):
        r = check(CE, target, lines[lhs], convention)
        assert r.ok, (lines[lhs], r.render())
    block = "\n".join(lines[k] for k in ("Z^{[1]}", "A^{[1]}", "Z^{[2]}", "A^{[2]}"))   # the align's lines
    assert check(CE, "A2", block, convention).ok


@pytest.mark.parametrize("convention", ["rows", "columns"])
def test_softmax_without_its_axis_is_numpy_s_over_the_classes(convention):
    from compile.checks.formula import to_node
    from compile.lowering.evaluate import evaluate, leaf_values
    d = CE.derive(convention)
    p = random_point(d.model, 3, M)
    node = to_node(r"\mathrm{softmax}\left(Z^{[2]}\right)", d)
    z = numpy_z2(CE, convention, 3, M)   # batch first
    by_hand = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    got = evaluate([node], leaf_values(d.model, p), M, d.model.constants)[0]
    assert np.allclose(got, by_hand if convention == "rows" else by_hand.T, rtol=1e-12)
    axis = 0 if convention == "rows" else 1   # the batch's axis: not the one softmax runs over
    assert not check(CE, "A2", f"softmax(Z2, {axis})", convention).ok


@pytest.mark.parametrize("convention", ["rows", "columns"])
def test_a_sum_over_k_is_over_the_classes_as_numpy_computes_the_hinge_loss(convention):
    from compile.checks.formula import to_node
    from compile.lowering.evaluate import evaluate, leaf_values
    d = SVM.derive(convention)
    p = random_point(d.model, 4, M)
    line = latex_lines(SVM, convention)["J"]
    assert r"\sum_{k}" in line
    node = to_node(line, d)
    z = numpy_z2(SVM, convention, 4, M)   # the output layer is linear: A2 = Z2
    correct = np.sum(z * p.y, axis=1, keepdims=True)
    by_hand = np.sum((1 - p.y) * np.maximum(z - correct + 1, 0)) / M
    got = evaluate([node], leaf_values(d.model, p), M, d.model.constants)[0]
    assert np.allclose(got, by_hand, rtol=1e-12)


@pytest.mark.parametrize("typed, index", [
    (r"J &= -\frac{1}{m} \sum_{j} Y \odot \log\left(A^{[2]}\right)", "j"),
    (r"-\frac{1}{m} \sum_n Y \odot \log\left(A^{[2]}\right)", "n"),
])
def test_a_sum_over_another_index_is_refused_naming_its_position(typed, index):
    with pytest.raises(FormulaError) as e:
        check(CE, "J", typed)
    assert e.value.col == typed.index(r"\sum"), (str(e.value), e.value.col)
    assert f"{index} (position {typed.index(index, typed.index(r'sum')) + 1}) is none of these indices" in str(e.value)


def test_a_sum_over_k_of_no_plain_class_axis_is_refused_at_its_position():
    typed = r"\frac{1}{m} \sum_{k} X X^{T}"
    with pytest.raises(FormulaError) as e:
        check(CE, "J", typed)
    assert e.value.col == typed.index(r"\sum"), (str(e.value), e.value.col)
    assert "no one axis of it holds the classes" in str(e.value), str(e.value)


def test_a_latex_line_for_another_target_is_refused_naming_it():
    line = latex_lines(CE, "rows")["A^{[2]}"]
    from compile.checks.formula import CheckError
    with pytest.raises(CheckError) as e:
        check(CE, "Z2", line)
    assert "its left side is A2, which names the forward node A2: check it with --param A2" in str(e.value), \
        str(e.value)

"""`derivax check`'s reading of a formula: shapes as NumPy has them, d-names as each convention's course
defines them, NumPy's and the array methods' spellings, and formulas refused with the reason (a
formula that names its own target, one nested too deeply), each against a hand-derived expectation."""
import json

import pytest
from conftest import formula_checker

from compile.checks.formula import check_formula
from compile.cli.main import main
from derive import Dense, FormulaError, Network

BCE = Network(2, [Dense(3, "tanh"), Dense(1, "sigmoid")], loss="bce")          # 2-3:tanh-1:sigmoid
SOFT = Network(4, [Dense(5, "relu"), Dense(3, "softmax")])                     # 4-5:relu-3:softmax
XOR = Network(2, [Dense(2, "tanh"), Dense(2, "softmax")])
DEEP = Network(3, [Dense(3, "tanh"), Dense(3, "tanh"), Dense(3, "softmax")])
NIELSEN = Network(2, [Dense(3, "sigmoid"), Dense(2, "sigmoid")], loss="mse")
check = formula_checker("rows")   # check_formula on a derivation made once per network and convention


# ---- 1. a transposed vector-shaped gradient is a wrong shape, not the same entries ----

@pytest.mark.parametrize("net, convention, target, formula, words", [
    (BCE, "columns", "W2", "1/m * A1 @ (A2-Y).T",
     "wrong shape: yours is (3, 1), the shape of its transpose (∂J/∂W₂ is (1, 3)): transposed?"),
    (BCE, "rows", "W2", "(A2-Y).T @ A1 / m",
     "wrong shape: yours is (1, 3), the shape of its transpose (∂J/∂W₂ is (3, 1)): transposed?"),
    (BCE, "rows", "dZ2", "(A2 - Y).T", "wrong shape: yours is (1, m), the shape of its transpose"),
    (SOFT, "columns", "b2", "1/m * np.sum(dZ2, axis=1)",
     "wrong shape: yours is (3,) where ∂J/∂b₂ is (3, 1) (columns convention): the sum dropped its axis "
     "(keepdims=True missing?)"),
    (SOFT, "columns", "b2", "1/m * np.sum(dZ2, axis=1, keepdims=True).T",
     "wrong shape: yours is (1, 3), the shape of its transpose (∂J/∂b₂ is (3, 1)): transposed?"),
    (SOFT, "rows", "b1", "np.reshape(np.sum(dZ1, axis=0), (-1, 1))", "transposed?"),
])
def test_a_transposed_or_squeezed_vector_is_rejected(net, convention, target, formula, words):
    r = check(net, target, formula, convention)
    assert not r.ok and r.how == ["shapes"]
    assert any(words in d for d in r.diagnosis), r.render()


@pytest.mark.parametrize("convention, formula", [
    ("columns", "1/m * np.sum(dZ2, axis=1, keepdims=True)"),   # Ng's db2, (3, 1)
    ("rows", "np.sum(dZ2, axis=0)"),                            # CS231n's db2, (3,): broadcasts as (1, 3)
    ("rows", "np.sum(dZ2, axis=0, keepdims=True)"),
])
def test_a_bias_in_the_layout_each_course_uses_is_accepted(convention, formula):
    assert check(SOFT, "b2", formula, convention).ok


def test_the_sum_of_numpy_drops_its_axis_and_derivax_sum_keeps_it():
    assert not check(SOFT, "b2", "np.sum(delta2, axis=1) / m", "columns").ok
    assert check(SOFT, "b2", "sum(delta2, 1) / m", "columns").ok   # derivax's sum keeps its axis


# ---- 2. d-names: Ng's dZ in columns, both readings in rows, said in the verdict line ----

def test_columns_reads_dz_as_the_course_so_a_missing_1_over_m_is_caught():
    r = check(BCE, "W2", "dZ2 @ A1.T", "columns")
    assert not r.ok and "missing 1/m: yours is m times the derived formula" in r.diagnosis
    assert r.render().startswith("NOT EQUAL, reading dZ2 as the courses' dZ2, without the 1/m, as Ng's course "
                                 "defines dZ in the columns convention (--dz adjoint reads it as ∂J/∂Z2): ∂J/∂W₂")
    assert check(BCE, "W2", "1/m * dZ2 @ A1.T", "columns").ok
    assert check(BCE, "W2", "dZ2 @ A1.T", "columns", dz="adjoint").ok   # asked for explicitly


def test_rows_says_which_reading_of_dz_made_a_formula_pass():
    r = check(XOR, "W1", "X.T @ dZ1")
    assert r.ok
    lines = r.render().splitlines()
    assert lines[0] == "EQUAL, reading dZ1 as ∂J/∂Z1, which carries the 1/m: ∂J/∂W₁"
    assert lines[1] == ("  yours:   ∂J/∂W₁ = (1/m) Xᵀ δ₁   (dZ1 read as (1/m) δ₁: the 1/m shown comes from "
                        "this reading)")
    r = check(XOR, "W1", "X.T @ dZ1 / m")
    assert r.ok and r.render().startswith("EQUAL, reading dZ1 as the courses' dZ1, without the 1/m, the only "
                                          "reading that agrees: ∂J/∂W₁")
    assert json.loads(r.to_json())["d_names"] == r.verdict
    assert not check(XOR, "W1", "2 * X.T @ dZ1").ok


def test_the_d_spelling_of_a_parameter_is_its_gradient():
    r = check(XOR, "dW2", "A1.T @ (A2 - Y) / m")
    assert r.ok and r.label == "∂J/∂W₂"
    assert not check(XOR, "db2", "np.sum(A2 - Y, axis=0)").ok   # the 1/m missing


# ---- 13. a formula that reads its own target cannot fail: refused ----

@pytest.mark.parametrize("target, formula, col, words", [
    ("delta1", "delta1", 0, "the formula reads delta1, the very quantity it is checked against (δ₁): such a "
                            "check cannot fail"),
    ("delta1", "2 * dZ1 * m / 2", 4, "(dZ1 is delta1 under another name)"),
    ("dZ1", "delta1 / m", 0, "(delta1 is dZ1 under another name)"),
    ("A1", "0 + A1", 4, "the formula reads A1"),
])
def test_a_formula_naming_its_own_target_is_refused(target, formula, col, words, capsys):
    with pytest.raises(FormulaError) as e:
        check(XOR, target, formula)
    assert words in str(e.value) and e.value.col == col
    assert main(["check", "xor", "--param", target, "--formula", formula]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


# ---- 4. nesting ----

def test_a_formula_nested_too_deeply_is_refused_with_its_depth(capsys):
    formula = "softmax(" * 90 + "Z2" + ", 1)" * 90
    with pytest.raises(FormulaError) as e:
        check(XOR, "A2", formula)
    assert str(e.value).startswith("formula nested too deeply: 91 operations inside one another (at most 40)")
    assert e.value.col == formula.index("softmax(Z2") + 8 - 8 or e.value.col > 0
    assert main(["check", "xor", "--param", "A2", "--formula", formula]) == 2
    assert "RecursionError" not in capsys.readouterr().err


# ---- 9. --json ends with a JSON line when the formula is refused ----

@pytest.mark.parametrize("argv, words", [
    (["--param", "W2", "--formula", "A1.T @ (A2 - Yy) / m"], "unknown name 'Yy'"),
    (["--param", "W9", "--formula", "X"], "no formula named 'W9'"),
])
def test_json_on_a_refused_formula(argv, words, capsys):
    assert main(["check", "xor", *argv, "--json"]) == 2
    out = capsys.readouterr().out
    doc = json.loads(out.strip().splitlines()[-1])
    assert doc["ok"] is False and words in doc["error"] and doc["target"] == argv[1]


# ---- 6. what students write ----

@pytest.mark.parametrize("net, convention, target, formula, ok", [
    (SOFT, "rows", "b2", "dZ2.sum(0)", True),
    (SOFT, "rows", "b2", "dZ2.sum(axis=0, keepdims=True)", True),
    (SOFT, "rows", "b2", "dZ2.sum(1)", False),
    (SOFT, "rows", "b2", "dZ2.mean(axis=0) * m", True),
    (SOFT, "columns", "b2", "np.mean(dZ2, axis=1, keepdims=True)", True),
    (SOFT, "columns", "b2", "np.mean(dZ2, axis=1, keepdims=True) * m", False),
    (NIELSEN, "columns", "delta1", "np.dot(W2.transpose(), delta2) * sigmoid_prime(Z1)", True),
    (NIELSEN, "columns", "delta1", "np.dot(W2.transpose(), delta2) * sigmoid(Z1)", False),
    (SOFT, "rows", "A2", "np.exp(Z2 - np.max(Z2, axis=1, keepdims=True)) / "
                         "np.sum(np.exp(Z2 - np.max(Z2, axis=1, keepdims=True)), axis=1, keepdims=True)", True),
    (SOFT, "rows", "A2", "np.exp(Z2 - Z2.max(axis=1, keepdims=True)) / np.sum(np.exp(Z2), axis=1, keepdims=True)",
     False),
    (SOFT, "rows", "W1", "X.T @ (dZ2 @ W2.T * np.where(Z1 > 0, 1, 0))", True),
    (SOFT, "rows", "W1", "X.T @ (dZ2 @ W2.T * np.where(Z1 > 0, 0, 1))", False),
    (SOFT, "rows", "W1", "X.T @ (dZ2 @ W2.T * np.heaviside(Z1, 0))", True),
    (SOFT, "rows", "W1", "X.T @ (dZ2 @ W2.T * np.heaviside(-Z1, 0))", False),
    (SOFT, "rows", "W1", "X.T @ (dZ2 @ W2.T * np.int64(A1 > 0))", True),
    (SOFT, "rows", "W1", "X.T @ (dZ2 @ W2.T * (Z1 > 0).astype(float))", True),
    (SOFT, "rows", "W1", "X.T.dot(dZ2.dot(W2.T) * (Z1 > 0))", True),
    (SOFT, "rows", "b1", "np.sum(dZ1, axis=0).reshape(1, -1)", True),
    (SOFT, "rows", "b1", "np.reshape(np.sum(dZ1, axis=0), (1, -1))", True),
])
def test_what_students_write(net, convention, target, formula, ok):
    r = check(net, target, formula, convention)
    assert r.ok is ok, r.render()


# ---- 12. a formula of several lines is located by line and column ----

def test_an_error_on_the_second_line_names_line_and_column():
    with pytest.raises(FormulaError) as e:
        check(XOR, "W2", "(A1.T @\n (A2 - Yy)) / m")
    assert e.value.line == 2 and e.value.column == 8
    assert "unknown name 'Yy'" in str(e.value) and "at line 2, column 8 of the formula (2 lines)" in str(e.value)
    assert str(e.value).endswith("\n   (A2 - Yy)) / m\n         ^")


# ---- 7. messages quote the formula's own text ----

@pytest.mark.parametrize("net, convention, formula, words", [
    (SOFT, "rows", "X.T @ ((A2 - Y) @ W1.T * (A1 > 0)) / m", "cannot multiply (A2 - Y) (m, 3) by W1.T (5, 4)"),
    (SOFT, "rows", "X.T @ (A2 * W1)", "cannot multiply elementwise A2 (m, 3) and W1 (4, 5): their shapes do not "
                                      "broadcast together"),
])
def test_shape_errors_quote_the_formula(net, convention, formula, words):
    with pytest.raises(FormulaError) as e:
        check(net, "W1", formula, convention)
    assert words in str(e.value), str(e.value)


# ---- 5. a column broadcast against a row ----

def test_a_column_broadcast_against_a_row_is_named():
    r = check(BCE, "dZ2", "A2 - Y.T")
    assert r.diagnosis == ["A2 - Y.T broadcasts A2 (m, 1) against Y.T (1, m) into (m, m): a column against a row "
                           "(a transpose too many or missing?)", "wrong shape: (m, m) instead of (m, 1)"]


# ---- 10. the diagnosis names the slip that was made ----

def test_the_wrong_layers_activation_is_named():
    r = check(DEEP, "delta2", "delta3 @ W3.T * (1 - A1**2)")
    assert not r.ok
    assert r.diagnosis == ["wrong layer: the factor 1 − A₁² takes layer 1's A1 where layer 2's derivative belongs, "
                           "1 − A₂² (A1 written for A2?)"], r.render()


# ---- 3. the diagnosis has one overall time limit; past it the verdict stands without it ----

def test_a_slow_diagnosis_is_skipped_and_the_verdict_given(monkeypatch):
    import time
    from compile.checks import formula as F
    from derive.formula import compare as C
    monkeypatch.setattr(C, "DIAGNOSIS_SECONDS", 0.5)
    monkeypatch.setattr(F, "EXACT_WHEN_DIFFERENT", 1.0)
    start = time.monotonic()
    r = check(XOR, "delta1", "(delta2 @ W2.T) * " + "tanh(" * 8 + "Z1" + ")" * 8)
    assert time.monotonic() - start < 20
    assert not r.ok and r.counterexample.startswith("at a random point")
    assert "the diagnosis of activation derivatives was skipped: it took longer than 0.5 s" in r.how


# ---- 8. a convolution helper's operands that fit no layer: the shapes, yours and each layer's ----

def test_conv_helper_shapes_are_named():
    from derive.network.examples import parse_spec
    net = parse_spec("6x6x1-conv2k3:relu-pool2-conv2k1:tanh-flatten-2:softmax")
    with pytest.raises(FormulaError) as e:
        check_formula(net, "W3", "conv_weight_grad(A1, delta3) / m")
    assert ("conv_weight_grad: no convolution layer of this network has operands of these shapes: yours are "
            "(m, 4, 4, 2) and (m, 2, 2, 2); layer 1 takes (m, 6, 6, 1) and (m, 4, 4, 2), layer 3 takes "
            "(m, 2, 2, 2) and (m, 2, 2, 2)") in str(e.value)
    with pytest.raises(FormulaError, match=r"yours are \(m, 2, 2, 2\) and \(m, 4, 4, 2\); layer 2 takes "
                                           r"\(m, 4, 4, 2\) and \(m, 2, 2, 2\)"):
        check_formula(net, "W1", "route(A2, A1)")


# ---- 10, 11. stories only where they apply; what a print that looks alike hides ----

def test_a_sign_slip_inside_a_gru_step_gets_no_log_likelihood_story():
    from derive.network.examples import parse_spec
    r = check_formula(parse_spec("3x1-gru2-2:softmax"), "deltau1_t", "dh1_t*u1_t*(1 - u1_t)*(n1_t - h1_tm1)")
    assert r.diagnosis == ["wrong sign: yours is minus the derived formula"]
    whole = check(XOR, "W2", "A1.T @ (Y - A2) / m")
    assert "CS229" in whole.diagnosis[0]   # the whole gradient negated: the log-likelihood's


def test_an_identity_layer_has_no_derivative_story():
    net = Network(4, [Dense(3)], loss="svm", l2=0.05, l2_form="lambda")
    r = check(net, "W1", "2*lam*W1 + (1/m)*(X.T @ (delta1 - Y))")
    assert not r.ok and not any("derivative of identity" in d for d in r.diagnosis), r.diagnosis


def test_a_sum_over_other_axes_that_prints_alike_says_so():
    from derive.network.examples import parse_spec
    r = check_formula(parse_spec("4x4x1-conv2k3:relu-flatten-2:softmax"), "b1", "sum(delta1, (0, 1)) / m")
    assert not r.ok and r.yours == r.correct
    assert r.yours_note == ("printed alike, but yours sums over axes 0, 1 of (m, 2, 2, 2), the derived over "
                            "axes 0, 1, 2 of (m, 2, 2, 2)")


def test_ngs_dropout_backward_with_the_masked_activation_is_equal(capsys):
    """deeplearning.ai's dropout notebook: dZ2 = dA2 ⊙ D2 ⊙ (A2 > 0) with A2 the masked activation. That is δ2
    because a mask's entries are 0 or 1/keep (never negative): the exact check takes masks of such values.
    Without the mask the formula is wrong, and says so."""
    spec = ["3-4:relu:drop0.2-3:relu:drop0.5-1:sigmoid", "--convention", "columns", "--loss", "bce"]
    right = "1/m * np.multiply(W3.T @ (A3 - Y) * D2, np.int64(A2 > 0)) @ A1.T"
    assert main(["check", *spec, "--param", "W2", "--formula", right]) == 0
    assert "the dropout masks at 3 patterns of 0 and 1/keep" in capsys.readouterr().out
    assert main(["check", *spec, "--param", "W2", "--formula", right.replace(" * D2", "")]) == 1


def test_a_formula_both_readings_of_dz_agree_with_says_so(capsys):
    """dA1 = dZ2 W2ᵀ holds whether dZ2 and dA1 both carry the 1/m or both leave it out: the verdict says
    the first reading and that the other agrees too, not that one reading alone agrees."""
    assert main(["check", "xor", "--param", "dA1", "--formula", "dZ2 @ W2.T"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == ("EQUAL, reading dZ2 as ∂J/∂Z2, which carries the 1/m, and the courses' reading, without it, "
                     "agrees too: ∂J/∂A₁"), first


def test_a_factor_a_hair_from_one_is_said_as_such_not_as_one(capsys):
    assert main(["check", "xor", "--param", "W2", "--formula", "A1.T @ (A2 - Y) / m * (1 + 1e-12)"]) == 1
    out = capsys.readouterr().out
    assert "a relative difference of 1.0e-12 (a tiny constant written into it?)" in out
    assert "yours is 1 times" not in out

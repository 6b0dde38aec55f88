"""check names the one slipped name that makes a wrong formula right: a layer's index with shapes that fit,
A for Z inside a derivative, X for A1, a step of a recurrence (c1_t for c1_tm1), a gate of an LSTM. The
verdict itself is the derivation's; the diagnosis must say exactly which name, and nothing where no single
name explains the difference. Likewise one sign: the term, or the line's definition, whose sign flipped makes it
right."""
import pytest

from compile.checks.formula import _near, check_formula
from derive.network.examples import resolve

CASES = [
    # (model, target, formula, the name written, the name meant)
    ("2-3:tanh-3:tanh-2:softmax", "W2", "(1/m)*(A1.T @ delta3)", "delta3", "delta2"),    # shapes fit
    ("2-3:tanh-3:tanh-2:softmax", "W1", "(1/m)*(A1.T @ delta1)", "A1", "X"),
    ("2-3:tanh-3:tanh-3:softmax", "delta2", "(delta3 @ W2.T) * (1 - A2**2)", "W2", "W3"),
    ("2-3:tanh-3:tanh-2:softmax", "delta1", "(delta2 @ W2.T) * (1 - A2**2)", "A2", "A1"),
    ("3x2-lstm3-2:softmax", "Wxi1", "sum_t(x_t.T @ deltaf1_t)", "deltaf1_t", "deltai1_t"),
    ("3x2-lstm3-2:softmax", "deltaf1_t", "c1_t*f1_t*(1 - f1_t)*(dc1_t + dh1_t*o1_t*(1 - tanh(c1_t)**2))",
     "c1_t", "c1_tm1"),
    ("3x2-rnn3-2:softmax", "Whh1", "sum_t(h1_t.T @ delta1_t)", "h1_t", "h1_tm1"),
]


@pytest.mark.parametrize("model, target, formula, wrote, meant", CASES)
def test_the_slipped_name_is_named(model, target, formula, wrote, meant):
    net = resolve(model)[1]
    r = check_formula(net, target, formula)
    assert not r.ok
    says = [line for line in r.diagnosis if line.startswith("yours has")]
    assert says and says[0].startswith(f"yours has {wrote} where the derived formula has {meant}"), r.diagnosis
    # and the formula with that name put right is right (the diagnosis's own claim, checked afresh)
    assert check_formula(net, target, formula.replace(wrote, meant, 1) if formula.count(wrote) == 1
                         else _fix_first(formula, wrote, meant)).ok


def _fix_first(formula, wrote, meant):
    import re
    return re.sub(rf"\b{wrote}\b", meant, formula, count=1)


def test_one_place_of_several_is_named_by_its_position():
    net = resolve("3x2-lstm3-2:softmax")[1]
    formula = "c1_t*f1_t*(1 - f1_t)*(dc1_t + dh1_t*o1_t*(1 - tanh(c1_t)**2))"
    r = check_formula(net, "deltaf1_t", formula)
    assert f"yours has c1_t where the derived formula has c1_tm1 at position 1:" in r.diagnosis[0]


@pytest.mark.parametrize("formula", ["(1/m)*(X.T @ delta1) + 1", "(1/m)*(X.T @ delta1) * 2"])
def test_nothing_is_named_where_no_single_name_explains_it(formula):
    r = check_formula(resolve("2-3:tanh-2:softmax")[1], "W1", formula)
    assert not r.ok and not any(line.startswith("yours has") for line in r.diagnosis)


@pytest.mark.parametrize("a, b, near", [("W1", "W2", True), ("A1", "Z1", True), ("X", "A1", True),
                                        ("c1_t", "c1_tm1", True), ("deltaf1_t", "deltai1_t", True),
                                        ("W1", "b2", False), ("m", "b1", False), ("h1_t", "Whh1", False)])
def test_which_names_are_one_slip_apart(a, b, near):
    assert _near(a, b) is near and _near(b, a) is near


@pytest.mark.parametrize("target", ["dJ/dW1", "∂J/∂W1", "dW1", "W1"])
def test_a_target_spelled_as_shows_json_names_an_adjoint(target):
    r = check_formula(resolve("2-3:tanh-2:softmax")[1], target, "X.T @ delta1 / m")
    assert r.ok and r.label == "∂J/∂W₁"


# ---- decimals, constants and the JSON round trip ----

def test_a_constant_typed_to_a_floats_digits_is_equal_and_prints_as_typed():
    net = resolve("2-3:selu-2:softmax")[1]
    r = check_formula(net, "A1", "1.0507009873554805 * np.where(Z1 > 0, Z1, 1.6732632423543772 * (np.exp(Z1) - 1))")
    assert r.ok and "a decimal constant ends where the other side's goes on" in r.how[0]
    assert r.yours.startswith("1.0507009873554805 Z₁")   # as typed, not 2101401974710961/2000000000000000


def test_a_rounded_constant_is_not_equal_and_is_said_to_be_near():
    r = check_formula(resolve("2-3:selu-2:softmax")[1], "A1", "1.0507 * np.where(Z1 > 0, Z1, 1.6733 * (np.exp(Z1) - 1))")
    assert not r.ok
    assert r.diagnosis[0].startswith("yours is within ") and "a constant rounded" in r.diagnosis[0]
    yours, derived = r.counterexample.split("yours ")[1].split(", derived ")
    assert yours != derived   # printed with the digits that tell them apart


@pytest.mark.parametrize("model", ["2-3:gelu-1:sigmoid", "2-3:gelu_tanh-1:sigmoid", "2-3:selu-2:softmax",
                                   "2-3:mish-2:softmax", "2-3:(1.7159*tanh(2*z/3))-2:softmax"])
def test_every_formula_shows_json_prints_reads_back_as_equal(model):
    import json
    net = resolve(model)[1]
    doc = json.loads(net.derive("rows").json())
    for target, formula in [*doc["deltas"].items(), *doc["gradients"].items()]:
        assert check_formula(net, target, formula).ok, (target, formula)


@pytest.mark.parametrize("formula", ["0.5*Z1*(1 + np.tanh(np.sqrt(2/np.pi)*(Z1 + 0.044715*Z1**3)))",
                                     "0.5*Z1*(1 + tanh(sqrt(2/pi)*(Z1 + 0.044715*Z1**3)))",
                                     "Z1*(1 + np.tanh(math.sqrt(2/math.pi)*(Z1 + 0.044715*Z1**3)))/2"])
def test_pi_is_a_constant_of_formulas(formula):
    assert check_formula(resolve("2-3:gelu_tanh-1:sigmoid")[1], "A1", formula).ok


def test_a_transposed_square_weight_is_named():
    net = resolve("3-3:tanh-3:softmax")[1]
    r = check_formula(net, "delta1", "(delta2 @ W2) * (1 - A1**2)")
    assert r.diagnosis == ["yours has W2 where the derived formula has its transpose W2.T: with W2.T there, "
                           "yours agrees"]


def test_a_forward_formula_gets_no_reading_of_derivatives():
    r = check_formula(resolve("2-3:gelu_tanh-1:sigmoid")[1], "A1", "0.5*Z1*(1 + np.tanh(0.79*(Z1 + 0.044715*Z1**3)))")
    assert not r.ok and not any("derivative" in line for line in r.diagnosis)


def test_an_activations_constant_does_not_make_its_derivative_wrong():
    r = check_formula(resolve("2-3:gelu-1:sigmoid")[1], "W1", "X.T @ ((A2 - Y) @ W2.T * gelu_prime(Z1))")
    assert r.diagnosis == ["missing 1/m: yours is m times the derived formula"]


# ---- the courses' dZ with a loss of its own factor (a squared error's 2) ----

MSE = "2-3:(2*tanh(z))-1:identity"


@pytest.mark.parametrize("target, formula, ok", [
    ("dZ2", "2*(A2 - Y)", True), ("dZ2", "A2 - Y", False),
    ("dW2", "np.dot(dZ2, A1.T)/m", True), ("dW2", "np.dot(A2 - Y, A1.T)/m", False),
    ("dZ1", "np.dot(W2.T, dZ2) * 2*(1-np.tanh(Z1)**2)", True), ("dW1", "np.dot(dZ1, X.T)/m", True)])
def test_the_courses_dz_is_m_times_the_adjoint_so_their_dw_follows(target, formula, ok):
    """dZ = m ∂J/∂Z (the courses' reading): with J = (1/m) Σ (ŷ − y)², dZ2 = 2 (A2 − Y), and then dW2 = dZ2 A1ᵀ / m
    is the gradient; the chain read so agrees with itself (once dZ2 = A2 − Y passed and that dW2 failed)."""
    from derive.network.examples import parse_spec
    from derive import Network
    base = parse_spec(MSE)
    net = Network(base.n_inputs, base.layers, loss="mse")
    r = check_formula(net, target, formula, convention="columns")
    assert r.ok is ok, r.render()
    if not ok and target == "dZ2":
        assert r.diagnosis == ["yours is δ2, ∂J/∂Z without its constant factor, where the courses' dZ2 (m ∂J/∂Z) is "
                               "2 δ2: the loss's own factor 2 is missing"]


def test_functions_nested_past_the_limit_are_refused_with_their_place():
    from derive.formula.parse import MAX_CALL_DEPTH, FormulaError
    deep = "tanh(" * (MAX_CALL_DEPTH + 1) + "Z1" + ")" * (MAX_CALL_DEPTH + 1)
    with pytest.raises(FormulaError, match=f"functions called inside one another {MAX_CALL_DEPTH + 1} deep "
                                           f"\\(at most {MAX_CALL_DEPTH}\\); the deepest call is here") as info:
        check_formula(resolve("xor")[1], "A1", deep)
    assert f"position {deep.index('tanh(Z1)') + 1}" in str(info.value)


# ---- one sign slipped inside a formula: the term, or the line's definition, that has it ----

SIGNED = None


def _signed():
    """deeplearning.ai's deep network (columns, Ng's λ/(2m) decay), derived once for the sign cases."""
    global SIGNED
    if SIGNED is None:
        from derive import Dense, Network
        net = Network(3, [Dense(4, "relu"), Dense(3, "relu"), Dense(1, "sigmoid")], loss="bce", l2=0.7)
        SIGNED = net, net.derive("columns")
    return SIGNED


@pytest.mark.parametrize("target, formula, says, fixed", [
    # one term of dAL with its sign flipped inside the outer minus
    ("dA3", "-(np.divide(Y, AL) + np.divide(1 - Y, 1 - AL))",
     "wrong sign of one term: yours adds np.divide(1 - Y, 1 - A3) where the derived formula subtracts it: with that "
     "sign flipped, yours agrees", "-(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))"),
    # the outer minus distributed over the first term only
    ("dA3", "-np.divide(Y, AL) - np.divide(1 - Y, 1 - AL)",
     "wrong sign of one term: yours subtracts np.divide(1 - Y, 1 - A3) where the derived formula adds it: with that "
     "sign flipped, yours agrees", "-np.divide(Y, AL) + np.divide(1 - Y, 1 - AL)"),
    # dAL's outer minus dropped, in a notebook's lines whose last adds the decay: one definition's sign
    ("W3", "dAL = np.divide(Y, AL) - np.divide(1 - Y, 1 - AL)\ndZ3 = dAL * AL * (1 - AL)\n"
           "dW3 = 1/m * np.dot(dZ3, A2.T) + lambd/m * W3",
     "wrong sign of dAL (line 1): with dAL = -(np.divide(Y, A3) - np.divide(1 - Y, 1 - A3)), yours agrees",
     "dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))\ndZ3 = dAL * AL * (1 - AL)\n"
     "dW3 = 1/m * np.dot(dZ3, A2.T) + lambd/m * W3"),
    ("W3", "dW3 = 1/m * np.dot(AL - Y, A2.T)\ndW3 -= lambd/m * W3",
     "wrong sign of one term: yours subtracts lambd/m * W3 (line 2) where the derived formula adds it: with that sign "
     "flipped, yours agrees", "dW3 = 1/m * np.dot(AL - Y, A2.T)\ndW3 += lambd/m * W3"),
    ("W3", "-1/m * np.dot(AL - Y, A2.T) + lambd/m * W3",
     "wrong sign of one term: the first, -1/m * np.dot(A3 - Y, A2.T), has the wrong sign: negated, yours agrees",
     "1/m * np.dot(AL - Y, A2.T) + lambd/m * W3"),
])
def test_the_one_term_or_definition_with_the_wrong_sign_is_named(target, formula, says, fixed):
    net, d = _signed()
    r = check_formula(net, target, formula, "columns", derivation=d)
    assert not r.ok and r.diagnosis == [says], r.render()
    assert check_formula(net, target, fixed, "columns", derivation=d).ok   # the claim, checked afresh


def test_a_term_is_named_only_where_one_sign_alone_explains_it():
    """One term flipped is named; the whole formula flipped is the factor −1, said as such; two slips, nothing."""
    net, d = _signed()

    def said(formula):
        r = check_formula(net, "W3", formula, "columns", derivation=d)
        assert not r.ok, r.render()
        return r.diagnosis
    assert said("1/m * np.dot(AL - Y, A2.T) - lambd/m * W3") == [
        "wrong sign of one term: yours subtracts lambd/m * W3 where the derived formula adds it: with that sign flipped, "
        "yours agrees"]
    assert said("-1/m * np.dot(AL - Y, A2.T) - lambd/m * W3")[0].startswith("wrong sign: yours is minus the derived")
    assert not any(line.startswith("wrong sign") for line in said("-1/m * np.dot(AL - Y, A2.T) - lambd/m * W3 + 1"))

"""Every formula `derivax show --format json` prints reads back into `derivax check`: for each built-in example,
each error signal and each gradient of its JSON is checked against the derivation itself and found EQUAL; and a
wrong variant of each kind of formula that needed more of the reader (an embedding's scatter_add, a step t of a
sequence, a dense layer at every step, attention's heads and merge, a part of a tensor, a bidirectional layer's
names, backprop through time's recurrence) is found NOT EQUAL, so the reader does not make everything equal."""
import functools
import json

import pytest

from compile.checks.formula import check_formula
from derive.formula.parse import FormulaError
from derive.network.examples import EXAMPLES, resolve
from derive.printing.document import to_json


@functools.lru_cache(maxsize=None)
def example(name):
    """(network, derivation, its JSON) of a built-in example, made once per process."""
    net = resolve(name)[1]
    d = net.derive("rows")
    return net, d, json.loads(to_json(d))


def check(name, target, formula):
    net, d, _ = example(name)
    return check_formula(net, target, formula, "rows", derivation=d)


@pytest.fixture
def verdict_only(monkeypatch):
    """The verdict without the time a diagnosis may take: its searches (for a formula found wrong, and for the
    other reading of d-names, the courses', which the JSON's ∂J/∂N formulas do not follow) under short limits."""
    from compile.checks import formula as F
    from derive.formula import compare as C
    for module, limit in ((F, "SWAP_SECONDS"), (F, "SIGN_SECONDS"), (F, "EXACT_WHEN_DIFFERENT"),
                          (C, "DIAGNOSIS_SECONDS")):
        monkeypatch.setattr(module, limit, 0.5)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_error_signal_and_gradient_of_the_json_reads_back_equal(name, verdict_only):
    _, _, doc = example(name)
    formulas = [*doc["deltas"].items(), *doc["gradients"].items()]
    wrong = []
    for target, formula in formulas:
        try:
            result = check(name, target, formula)
        except (FormulaError, ValueError) as exc:
            wrong.append(f"{target} = {formula}: {exc}")
            continue
        if not result.ok:
            wrong.append(f"{target} = {formula}: NOT EQUAL\n{result.render()}")
    assert not wrong, "\n".join(wrong)


# (example, target, what the JSON's formula holds, what the wrong variant has there)
VARIANTS = [
    ("makemore", "C1", "(1/m)*(scatter_add(", "(scatter_add("),                   # the 1/m dropped
    ("gpt", "C1", "scatter_add((1/48)*delta3 + ", "scatter_add((1/48)*delta3 - "),  # a sign flipped
    ("gpt", "Wq3", "merge(dQ3)[:, t]", "merge(dK3)[:, t]"),                      # another head's adjoint
    ("gpt", "Wk3", "merge(dK3)[:, t]", "merge(dV3)[:, t]"),
    ("gpt", "Wv3", "A2_t.T", "A1_t.T"),                                          # the input before the norm
    ("gpt", "Wo3", "(1/48)*", ""),
    ("gpt", "W5", "delta5_t", "A5_t"),                                           # the layer's output for its δ
    ("gpt", "W6", "(1/48)*", ""),
    ("gpt", "W8", "(1/(32*m))*", "(1/m)*"),                                      # the mean over the steps dropped
    ("charlm", "W2", "H1_t.T", "(2*H1_t).T"),
    ("charlm", "dh1_t", "delta1_tp1", "delta1_t"),                               # step t for step t+1
    ("rnn", "dh1_t", "dH1_t + ", ""),                                            # the output's term at T forgotten
    ("rnn", "dh1_at40", "(1/m)*", ""),
    ("gru", "Wxr1", "deltar1_t", "deltau1_t"),                                   # another gate's error signal
    ("gru", "Whn1", "(deltan1_t*r1_t)", "deltan1_t"),                            # the reset gate dropped
    ("gru", "bxu1", "sum(deltau1_t, 0)", "sum(-deltau1_t, 0)"),
    ("gru", "deltan1_t", "(1 - u1_t)", "u1_t"),
    ("gru", "dh1_t", "dh1_tp1*u1_tp1", "dh1_tp1*(1 - u1_tp1)"),
    ("gru", "dh2_t", "dh2_tm1*u2_tm1 + ", ""),                                   # the state's own carry left out
    ("gru", "dH1", "[:, :, 0:6]", "[:, :, 6:12]"),                               # the other direction's half
    ("gpt", "dV3", "P3.T @", "P3 @"),                                            # each head's Pᵀ not transposed
    ("gpt", "dP3", "delta3 @ Wo3.T", "delta3 @ Wo3"),
    ("gpt", "dK3", "(1/4)*", "(1/2)*"),
    ("gpt", "delta2", " + merge(dQ3) @ Wq3.T", ""),                              # the queries' path left out
]


def _formula(doc, target):
    return doc["deltas"][target] if target in doc["deltas"] else doc["gradients"][target]


@pytest.mark.parametrize("name, target, old, new", VARIANTS)
def test_a_wrong_variant_of_each_kind_reads_back_not_equal(name, target, old, new, verdict_only):
    _, _, doc = example(name)
    formula = _formula(doc, target)
    assert old in formula, formula
    assert check(name, target, formula).ok
    result = check(name, target, formula.replace(old, new, 1))
    assert not result.ok, result.render()


@pytest.mark.parametrize("name, target, formula, says", [
    ("gpt", "W5", "A4_t.T @ delta5_t", "A4_t is step t of a sequence: use it inside sum_t(...)"),
    ("gpt", "W5", "sum_t(W5)", "sum_t takes an expression at step t of the network's sequences"),
    ("gpt", "W5", "sum_t(W5[:, t])", "t indexes the steps of a sequence (batch, time, ...), its axis 1"),
    ("gpt", "dJ/dV3", "heads(W5)", "heads takes a sequence (batch, time, h·dₖ), not (48, 192)"),
    ("gpt", "C1", "scatter_add(delta3, X, 5)", "V is the rows of the table, 103 here"),
    ("gru", "dJ/dH1", "(1/m)*reshape(delta5 @ W5.T, (m, 40, 12))[:, :, 6:6]", "takes nothing of axis 2"),
    ("gru", "dJ/dH1", "dH2[:2]", "holds m entries (the batch): take it whole"),
])
def test_a_formula_the_reader_cannot_read_is_refused_with_the_reason(name, target, formula, says):
    with pytest.raises((FormulaError, ValueError)) as exc:
        check(name, target, formula)
    assert says in str(exc.value), str(exc.value)


def test_a_dense_layer_at_every_step_reads_as_the_json_writes_it_or_indexed():
    """Σₜ A₄⟨t⟩ᵀ δ₅⟨t⟩ written with the names at t, with NumPy's x[:, t], transposed the other way round, or
    as two terms."""
    for formula in ("sum_t(A4[:, t].T @ delta5[:, t]) / 48", "sum_t(delta5_t.T @ A4_t).T / 48",
                    "sum_t(A4_t.T @ delta5_t - A4_t.T @ (delta5_t / 2)) / 24"):
        assert check("gpt", "W5", formula).ok, formula


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_forward_lines_read_back_equal(name, verdict_only):
    """Every example's forward lines read back too: softmax with its axis (softmax(Z2, 1)), a recurrence's states
    stacked (stack_t(h1_t)) and its last (h1_at40), a bidirectional layer's concat(H1, H2), attention's causal mask."""
    _, _, record = example(name)
    assert any("softmax(" in line and ", 1)" in line for line in record["forward"]) or name in ("linreg", "gpt",
                                                                                                  "charlm")
    wrong = []
    for line in record["forward"]:
        target, _, formula = line.partition(" = ")
        try:
            if not check(name, target, formula).ok:
                wrong.append(line)
        except (FormulaError, ValueError) as exc:
            wrong.append(f"{line}: {exc}")
    assert not wrong, "\n".join(wrong)


# (example, target, the JSON's forward formula, a wrong variant): the new names are read as what they mean
FORWARD_VARIANTS = [
    ("rnn", "H1", "stack_t(h1_t)", "stack_t(z1_t)"),                  # every step's pre-activation, not its state
    ("rnn", "A1", "h1_at40", "h1_at39"),                               # the state one step before the last
    ("gru", "A3", "concat(H1, H2)", "concat(H2, H1)"),                 # the directions swapped
    ("gpt", "P3", "softmax(causal(S3), 3)", "softmax(S3, 3)"),         # the mask left out
]


@pytest.mark.parametrize("name, target, formula, variant", FORWARD_VARIANTS)
def test_a_wrong_forward_line_of_the_new_kinds_is_not_equal(name, target, formula, variant, verdict_only):
    _, _, record = example(name)
    assert f"{target} = {formula}" in record["forward"]
    assert check(name, target, formula).ok and not check(name, target, variant).ok


@pytest.mark.parametrize("name, formula, says", [
    ("rnn", "h1_at41", "h1_at41: layer 1 runs steps 1 to 40"),
    ("gpt", "softmax(causal(X), 3)", "a causal mask takes square (queries, keys) scores"),
    ("gru", "concat(H1)", "concat(a, b, ...) puts two or more tensors side by side"),
])
def test_the_new_forward_names_refuse_what_they_cannot_be(name, formula, says):
    target = {"rnn": "A1", "gpt": "P3", "gru": "A3"}[name]
    with pytest.raises((FormulaError, ValueError)) as exc:
        check(name, target, formula)
    assert says in str(exc.value), str(exc.value)

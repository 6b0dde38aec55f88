"""Long formulas: an activation whose derivative SymPy cannot give in time, or whose derivative is too long to
print and compile, is refused when it is read, naming it; the derivative computed under the limit is the one the
layer is derived with; a long elementwise step is differentiated under a limit; and the line breaker takes the
same breaks as the plain rule it implements, in time that does not grow with the square of a row's length."""
import time

import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st
from rich.cells import cell_len

from derive import Dense, Network
from derive.network import functions as F
from derive.ops import elementwise as E
from derive.printing import breaks as B
from derive.run.limits import TimeLimitExceeded

z = sp.Symbol("z")


def _product(n: int) -> str:
    """tanh(z+0)*...*tanh(z+n-1), grouped by ten as the formula reader asks (no chain of more than 40)."""
    groups = ["*".join(f"tanh(z+{i + j})" for j in range(10)) for i in range(0, n, 10)]
    return "*".join(f"({g})" for g in groups)


def test_an_activation_whose_derivative_is_too_long_is_refused_when_it_is_read():
    """A product of 160 tanh factors has a derivative of 160 terms of 160 factors: it took half a minute to derive
    and printing it ran for minutes. It is now refused at once, saying why."""
    formula = _product(160)
    with pytest.raises(F.NetworkError) as exc:
        Network(2, [Dense(3, formula), Dense(1)], loss="mse")
    message = str(exc.value)
    assert "its derivative has more than 20,000 parts" in message and "write a shorter formula" in message
    assert message.startswith("layer 1 (Dense 3): activation")
    # the claim, counted independently: SymPy's own derivative of the product is that long
    expr = sp.Mul(*[sp.tanh(z + i) for i in range(160)])
    assert sum(1 for _ in sp.preorder_traversal(sp.diff(expr, z))) > F.MAX_DERIVATIVE


def test_a_loss_whose_derivative_is_too_long_is_refused_when_it_is_read():
    formula = "(yhat - y)**2 * " + _product(120).replace("z", "yhat")
    with pytest.raises(F.NetworkError, match=r"its derivative in yhat has more than 20,000 parts"):
        Network(2, [Dense(3, "tanh"), Dense(1)], loss=formula)


def test_a_long_activation_within_the_bound_is_derived_with_the_derivative_computed_under_the_limit():
    fn = F.activation(sp.Add(*[sp.tanh(z + i) for i in range(12)]) / 5)
    assert (fn, 0) in F._DERIVATIVES   # given back by the child that read it, not computed again here
    by_hand = sum(1 - sp.tanh(z + i) ** 2 for i in range(12)) / 5
    assert sp.expand(F.derivative(fn, 0) - by_hand) == 0
    net = Network(2, [Dense(3, fn), Dense(1)], loss="mse")
    assert "tanh" in net.derive().text()


def _slow_checks(fn):
    time.sleep(30)
    yield fn, [], None, 0


def test_an_activation_sympy_does_not_differentiate_in_time_is_refused(monkeypatch):
    """Where SymPy does not give the derivative within the limit, the activation used to be accepted unchecked,
    and the derivation then ran SymPy in this process with no limit at all."""
    monkeypatch.setattr(F, "_slope_checks", _slow_checks)
    monkeypatch.setattr(F, "DERIVATIVE_SECONDS", 0.5)
    monkeypatch.setattr(F, "SLOPE_SECONDS", 0.2)
    expr = sp.tanh(z) * sp.Rational(7, 3) + z / 11
    start = time.monotonic()
    with pytest.raises(F.DerivativeError, match=r"did not give its derivative within 0\.5 s"):
        F.activation(expr)
    assert time.monotonic() - start < 10
    assert expr not in [k.expr for k in F._SLOPES]


_PARTIAL_HERE = E._partial_here


def _slow_loss_checks(fn):
    time.sleep(30)
    yield None, 0


def test_a_loss_sympy_does_not_differentiate_in_time_is_refused(monkeypatch):
    monkeypatch.setattr(F, "_loss_checks", _slow_loss_checks)
    monkeypatch.setattr(F, "DERIVATIVE_SECONDS", 0.5)
    monkeypatch.setattr(F, "FLIP_SECONDS", 0.2)
    yhat, y = sp.symbols("yhat y")
    expr = (yhat - y) ** 2 * sp.Rational(5, 7) + sp.log(sp.cosh(yhat - y)) / 13
    start = time.monotonic()
    with pytest.raises(F.DerivativeError, match=r"^loss .*: SymPy did not give its derivative in yhat within 0\.5 s"):
        F.loss(expr)
    assert time.monotonic() - start < 10
    assert not any(k.expr == expr for k in F._MATCHES)


def _slow_partial(expr, i, n, through):
    if F.parts(expr, E.PARTIAL_PARTS) > E.PARTIAL_PARTS:   # the long one, in the child
        time.sleep(30)
    return _PARTIAL_HERE(expr, i, n, through)


def test_a_long_elementwise_step_is_differentiated_under_a_limit(monkeypatch):
    formula = " + ".join("(" + " + ".join(f"tanh(z + {i + j})*sin(z - {i + j})" for j in range(10)) + ")"
                         for i in range(0, 60, 10))
    net = Network(2, [Dense(3, formula), Dense(1)], loss="mse")
    E._partial.cache_clear()
    monkeypatch.setattr(E, "_partial_here", _slow_partial)
    monkeypatch.setattr(E, "PARTIAL_SECONDS", 0.5)
    try:
        with pytest.raises(TimeLimitExceeded, match=r"SymPy did not give it within 0\.5 s") as exc:
            net.derive()
        said = str(exc.value)
        assert said.startswith("the derivative of A1 in its operand 1 (") and "tanh(Z1 + 59)" in said and "_a0" not in said
    finally:
        E._partial.cache_clear()


# ---- the line breaker against the plain rule, written out as it reads ---------------------------------------

def _plain_choose(text, breaks, width, first, rest):
    """The rule of ``breaks.choose`` (grows=True), every place and every rest of the text measured anew."""
    def over(start, places, budget):
        return any(width(text[start:c.at]) > budget for c in places) or width(text[start:]) > budget
    taken, start, budget, pending = [], 0, first, list(breaks)
    while pending and over(start, pending, budget):
        fits = []
        for b in pending:
            if width(text[start:b.at]) > budget:
                break
            fits.append(b)
        if fits:
            def score(b):
                used = width(text[start:b.at])
                short = not over(b.at + 1, [c for c in pending if c.at > b.at], rest(b, taken) / 5)
                return used - budget * (0.2 * b.kind + 0.5 * b.depth + 0.15 * short)
            best = max(fits, key=score)
        else:
            best = pending[0]
        start, budget = best.at + 1, rest(best, taken)
        taken.append(best)
        pending = [b for b in pending if b.at > best.at]
    return taken


def _plain_text_lines(lead, right, width):
    line = lead + right
    if cell_len(line) <= width:
        return [(0, line)]
    hang = cell_len(lead)
    if hang > width // 3:
        hang = 2
    equals = cell_len(lead[:lead.rfind("=")]) if lead.rstrip().endswith("=") else hang
    breaks = [B.Break(b.at + len(lead), b.kind, b.depth) for b in B.text_breaks(right)]
    inside = B._innermost_brackets(line, len(lead))
    least = (width - hang - 2) * 2 / 3
    placed = {}

    def indent(b, before):
        if b.at in placed:
            return placed[b.at]
        if b.kind == B.EQUALS:
            return min(equals, hang)
        bracket = inside.get(b.at)
        if bracket is not None:
            start, column = 0, 0
            for k, t in enumerate(before):
                if t.at < bracket:
                    start, column = t.at + 1, indent(t, before[:k])
                    placed[t.at] = column
            column += cell_len(line[start:bracket + 1])
            if width - column >= least:
                return column
        return hang + 2
    taken = _plain_choose(line, breaks, cell_len, width, lambda b, before: width - indent(b, before))
    out, start = [], 0
    for k, b in enumerate(taken + [None]):
        out.append((indent(taken[k - 1], taken[:k - 1]) if k else 0, line[start:b.at if b else len(line)]))
        start = b.at + 1 if b else len(line)
    return out


WORDS = ["W₁", "A₂", "δ₃", "+", "−", "=", "⊙", "1", "tanh(Z₁", ")", "(", "σ(Z₂)", "Σₖ", "xᵢ", "(1 − A₁²)"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=120), st.integers(12, 90),
       st.sampled_from(["", "δ₁ = ", "∂J/∂W₁ = ", "a rather long left side of an equation = "]))
def test_the_line_breaker_takes_the_plain_rules_breaks(words, width, lead):
    right = " ".join(words)
    assert B.text_lines(lead, right, width) == _plain_text_lines(lead, right, width)


def test_a_row_of_thousands_of_terms_breaks_as_the_plain_rule_does():
    """The rows the plain rule took minutes over (a long activation's derivative, a scalar view) are the cases the
    indexed one is for; here one small enough for the plain rule, bracketed so that lines hang under brackets."""
    right = " + ".join(f"A₁ ⊙ (1 − tanh(Z₁ + {i})²) ⊙ (W₂ + {i})" for i in range(150))
    assert B.text_lines("δ₁ = ", right, 80) == _plain_text_lines("δ₁ = ", right, 80)


@pytest.mark.parametrize("name, said", [("ab\u202ecd", "U+202E (right-to-left override)"), ("x\x1b[31m", "U+001B"),
                                        ("a\u200bb", "U+200B (zero width space)"),
                                        ("", "must be a word naming the layer"), (5, "must be a word naming the layer")])
def test_a_recurrent_layers_name_holds_only_characters_shown_as_themselves(name, said):
    """A recurrent layer's name is printed in the layout, headers and every message about the layer: a right-to-left
    override or an escape in it was printed as it was (a network's own name was refused such characters)."""
    from derive.network.recurrent import Recurrent, simple_rnn_step
    with pytest.raises(F.NetworkError) as exc:
        Network((3, 2), [Recurrent(4, simple_rnn_step("tanh"), name=name), Dense(1)], loss="mse")
    message = str(exc.value)
    assert message.startswith("layer 1 (Recurrent 4): name ") and said in message, message
    assert "\u202e" not in message and "\x1b" not in message and "\u200b" not in message

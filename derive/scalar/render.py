"""Printing the scalar view: per-neuron equations, per-weight gradients and the check's verdict."""
from __future__ import annotations

import json

from derive.printing.breaks import LATEX_WIDTH, SCREEN_WIDTH, latex_rows
from derive.printing.document import FACT, check_width, markdown_math, text_row
from derive.printing.show import printer_for


def rows(view, style):
    """[(title, [(lhs, rhs)])] of the scalar view in notation ``style`` (text, latex, formula)."""
    p = printer_for(style)
    return [("Per-neuron forward pass (one example)",
             [(p.entry_name(l), p.entry_expression(r)) for l, r in view.forward]),
            ("Loss (one example)", [("J", p.entry_expression(view.loss[1]))]),
            ("Per-neuron error signals", [(p.entry_name(l), p.entry_expression(r)) for l, r in view.deltas]),
            ("Per-weight gradients (one example)",
             [(p.gradient_name(p.entry_name(s)), p.entry_expression(r)) for _, s, r in view.grads])]


def verdict_lines(view):
    lines = []
    for c in view.checks:
        how = {"exact": "exactly (rational arithmetic)", "numeric": "to 40 digits at random points",
               "difference": "by 50-digit central differences of the loss (SymPy's exact expansion ran "
                             "past its time limit)"}[c.method]
        if c.ok:
            lines.append(f"{c.name}: {c.weights} weight{'' if c.weights == 1 else 's'}, matrix form = sympy.diff of the expanded loss, {how}")
        else:
            lines.append(f"{c.name}: MISMATCH — {c.counterexample}")
    status = "PASS" if view.ok else "FAIL"
    lines.append(f"{status}: matrix-form gradients expanded at m = {view.m_check} "
                 f"{'equal' if view.ok else 'do not all equal'} the scalar derivatives")
    return lines


def _text(view) -> str:
    out = []
    for title, eqs in rows(view, "text"):
        out.append(f"── {title} " + "─" * max(0, 60 - len(title)))
        out += [f"{l} = {r}" for l, r in eqs]
    return "\n".join(out + ["── Check " + "─" * 55] + verdict_lines(view)) + "\n"


def _latex(view, width: float = LATEX_WIDTH) -> str:
    """Each section an ``align*`` block, each long equation cut into balanced lines that fit ``width``
    points (the standalone document's page) as the derivation's LaTeX view cuts its own."""
    out = []
    for title, eqs in rows(view, "latex"):
        out.append(f"% {title}\n\\begin{{align*}}")
        out.append(" \\\\\n".join(latex_rows([(l, r, "") for l, r in eqs], FACT, width)))
        out.append("\\end{align*}")
    return "\n".join(out + ["% " + c for c in verdict_lines(view)]) + "\n"


def _markdown(view, width: float = SCREEN_WIDTH) -> str:
    """Each equation a ``$$`` block; one too long for a screen's column (``width`` points) broken as the
    derivation's Markdown view breaks its own."""
    out = []
    for title, eqs in rows(view, "latex"):
        out.append(f"### {title}\n")
        out += [markdown_math(l, r, width) + "\n" for l, r in eqs]
    return "\n".join(out + ["### Check\n"] + [f"- {c}" for c in verdict_lines(view)]) + "\n"


def _json(view) -> str:
    (_, forward), (_, loss), (_, deltas), (_, grads) = rows(view, "formula")

    def ascii(text):   # the error signals as the matrix form's JSON names them: delta1_1, not δ1_1
        return text.replace("δ", "delta")
    return json.dumps({
        "forward": [f"{l} = {r}" for l, r in forward],
        "loss": loss[0][1],
        "deltas": [ascii(f"{l} = {r}") for l, r in deltas],
        # keyed by the weight's own name; each written in the names of the rows above
        "gradients": {str(s): ascii(r) for (_, s, _), (_, r) in zip(view.grads, grads)},
        "check": {c.name: {"ok": c.ok, "method": c.method, "weights": c.weights} for c in view.checks},
        "ok": view.ok}) + "\n"


# The document formats, each over the rows in one notation (Markdown's equations are LaTeX).
DOCUMENTS = {"text": _text, "latex": _latex, "markdown": _markdown, "json": _json}


def render(view, fmt: str) -> str:
    return DOCUMENTS[fmt](view)


def scalar_text(view, width=100, said=str) -> str:
    """The scalar view (``derive.scalar``) as text lines of at most ``width`` cells as ``said`` spells them:
    each section under its rule, each long equation broken and hung as the panels break theirs
    (``text_row``), the check's verdict wrapped at its spaces."""
    from rich.cells import cell_len
    from derive.printing.breaks import wrap_words
    width = check_width(width)

    def measure(s):
        return cell_len(said(s))

    def rule(title):   # ── title ─────, 64 cells where the width allows
        lines = wrap_words(f"── {title}", width, measure)
        lines[-1] += " " + "─" * max(0, min(64, width) - measure(lines[-1]) - 1)
        return [said(line.rstrip()) for line in lines]
    out = []
    for title, eqs in rows(view, "text"):
        out += rule(title)
        out += ["".join(t for t, _ in line) for l, r in eqs for line in text_row(l, r, "", width, said)]
    out += rule("Check")
    for line in verdict_lines(view):
        out += [said(("  " if k else "") + piece) for k, piece in enumerate(wrap_words(line, width - 2, measure))]
    return "\n".join(out) + "\n"

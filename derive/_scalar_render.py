"""Printing the scalar view: per-neuron equations, per-weight gradients and the check's verdict."""
from __future__ import annotations

import json
import re

import sympy as sp

from ._printing import ScalarPrinter

SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def display(sym: sp.Symbol, style: str) -> str:
    """w1_1_2 -> w¹₁₂ (text), w^{[1]}_{12} (latex); x_1 -> x₁; δ2_1 -> δ²₁."""
    m = re.fullmatch(r"(\D+?)(\d*)_([\d_]+)", sym.name)
    if not m:
        return {"latex": r"\lambda"}.get(style, "λ") if sym.name == "lambda" else sym.name
    base, layer, idx = m.groups()
    parts = idx.split("_")
    sep = "" if all(len(p) == 1 for p in parts) else ","
    if style == "latex":
        b = r"\delta" if base == "δ" else base
        return b + (f"^{{[{layer}]}}" if layer else "") + "_{" + sep.join(parts) + "}"
    if style == "formula":
        return sym.name
    return base + layer.translate(SUP) + sep.join(p.translate(SUB) for p in parts)


def _fmt(expr, style):
    if style == "latex":
        names = {s: display(s, "latex") for s in expr.free_symbols}
        return sp.latex(expr, symbol_names=names)
    if style == "formula":
        return sp.sstr(expr)
    renamed = expr.xreplace({s: sp.Symbol(display(s, "text")) for s in expr.free_symbols})
    return ScalarPrinter("text", {}).doprint(renamed)


def rows(view, style):
    out = [("Per-neuron forward pass (one example)",
            [(display(l, style) if style != "latex" else display(l, style), _fmt(r, style))
             for l, r in view.forward]),
           ("Loss (one example)", [("J", _fmt(view.loss[1], style))]),
           ("Per-neuron error signals", [(display(l, style), _fmt(r, style)) for l, r in view.deltas]),
           ("Per-weight gradients (one example)",
            [((f"∂J/∂{display(s, style)}" if style == "text" else
               rf"\frac{{\partial J}}{{\partial {display(s, style)}}}" if style == "latex" else f"dJ/d{s}"),
              _fmt(r, style)) for _, s, r in view.grads])]
    return out


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


def render(view, fmt):
    if fmt == "json":
        return json.dumps({
            "forward": [f"{l} = {r}" for l, r in rows(view, "formula")[0][1]],
            "gradients": {str(s): sp.sstr(r) for _, s, r in view.grads},
            "check": {c.name: {"ok": c.ok, "method": c.method, "weights": c.weights} for c in view.checks},
            "ok": view.ok}) + "\n"
    style = {"text": "text", "latex": "latex", "markdown": "latex"}[fmt]
    out = []
    for title, eqs in rows(view, style):
        if fmt == "text":
            out.append(f"── {title} " + "─" * max(0, 60 - len(title)))
            out += [f"{l} = {r}" for l, r in eqs]
        elif fmt == "latex":
            out.append(f"% {title}\n\\begin{{align*}}")
            out.append(" \\\\\n".join(f"{l} &= {r}" for l, r in eqs))
            out.append("\\end{align*}")
        else:
            out.append(f"### {title}\n")
            out += [f"$$\n{l} = {r}\n$$\n" for l, r in eqs]
    check = verdict_lines(view)
    if fmt == "text":
        out.append("── Check " + "─" * 55)
        out += check
    elif fmt == "latex":
        out += ["% " + c for c in check]
    else:
        out.append("### Check\n")
        out += [f"- {c}" for c in check]
    return "\n".join(out) + "\n"

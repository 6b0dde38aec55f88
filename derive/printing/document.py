"""A derivation as a document: sections of equations, in text, LaTeX, Markdown or JSON.

Every format reads the same list of sections built here from the derived graph, so the four
formats cannot disagree about what was derived.
"""
from __future__ import annotations

import io
import json

from derive.graph.node import fmt_shape
from derive.network.functions import KINK_CONVENTION, LOSS_TITLES
from derive.printing.show import printer_for, show


def sections(d, style: str, params=None, steps: bool = False) -> list:
    """[(title, [(lhs, rhs, note)])] for derivation ``d`` in notation ``style`` (text, latex, formula);
    ``params`` limits the gradients shown."""
    p = printer_for(style)
    model = d.model
    wanted = list(params) if params else list(d.grads)
    needed = _needed_deltas(d, wanted)
    fwd = [(p.name(n.name), p.show(n), "") for n in model.forward if n is not model.J]
    loss_title = LOSS_TITLES.get(model.loss_name, model.loss_name)
    out = [("Forward pass", fwd),
           (f"Loss ({loss_title}{', L2 decay' if model.l2 else ''})", [(p.name("J"), p.show(model.J), "")])]
    deltas = [(p.name(dn.name), p.show(dn), "") for l, dn in sorted(d.deltas.items(), reverse=True)
              if dn in needed]
    out.append(("Error signals", deltas))
    out.append(("Gradients", [(p.gradient_name(p.name(n)), p.show(d.grads[n]), "") for n in wanted]))
    if not getattr(model, "is_dense", True):
        from derive.printing.index import index_lines
        rows = index_lines(d, style)
        if rows:
            out.append(("Index form (i: example; y, x or t: position; c: channel; u, v: kernel offset)", rows))
    if steps:
        out.append(("Steps", step_lines(d, p, needed, wanted)))
    return out


def layout_lines(d, style: str = "text") -> list:
    """For a network with convolution or pooling: its layout and layers, and what the window signs
    mean. None for a dense network (whose printout is the matrix form alone)."""
    model = d.model
    if getattr(model, "is_dense", True):
        return []
    p = printer_for(style)
    shape = model.input_shape
    lines = ["Layout as in Keras: inputs (batch, " + ("length" if len(shape) == 2 else "height, width")
             + ", channels), kernels (" + ("k" if len(shape) == 2 else "kh, kw") + ", c_in, c_out), biases "
             "(c_out,); flatten is row-major over the positions, then the channels."]
    for layer in model.layers:
        g = dict(layer.geometry)
        if layer.kind == "conv":
            pads = ", ".join(f"({lo}, {hi})" for lo, hi in g["padding"])
            spec = g["padding_spec"] if isinstance(g["padding_spec"], str) else "explicit"
            lines.append(f"layer {layer.index}: Conv{len(g['kernel'])}D, {layer.units} filter{'s' if layer.units > 1 else ''} of "
                         f"{'x'.join(map(str, g['kernel']))}, stride {'x'.join(map(str, g['stride']))}, "
                         f"padding {spec} {pads}; {p.name(layer.W.name)} {fmt_shape(layer.W.shape)}, "
                         + (f"{p.name(layer.b.name)} {fmt_shape(layer.b.shape)}, " if layer.b is not None else "no bias, ")
                         + f"{p.name(layer.A.name)} {fmt_shape(layer.A.shape)}")
        elif layer.kind in ("max_pool", "avg_pool"):
            lines.append(f"layer {layer.index}: {'max' if layer.kind == 'max_pool' else 'average'}-pooling over "
                         f"{'x'.join(map(str, g['window']))} windows, stride {'x'.join(map(str, g['stride']))}; "
                         f"{p.name(layer.A.name)} {fmt_shape(layer.A.shape)}")
        elif layer.kind == "flatten":
            lines.append(f"layer {layer.index}: flatten; {p.name(layer.A.name)} {fmt_shape(layer.A.shape)}")
    ops = {n.op for n in _walk([*model.forward, *d.grads.values()])}
    if "conv" in ops:
        lines.append("∗ is cross-correlation, as frameworks compute it (the kernel is not flipped; a subscript "
                     "is the stride). In a backward line, δ ∗ rot180(W) correlates δ, dilated by the stride "
                     "(dilate) and padded by k − 1 − p, with the kernel turned by 180°; A ⋆ δ correlates the "
                     "padded input with δ (dilated by the stride), summed over the batch. Σᵢ,ₚ sums over the "
                     "batch and every position.")
    if ops & {"max_pool_grad", "avg_pool_grad"}:
        lines.append("up repeats each entry over its pooling window; mask marks each window's maximum (where "
                     "a window holds its maximum twice, the first in row-major order takes the gradient); "
                     "route and spread do the same for windows that overlap.")
    return lines


def _walk(roots):
    seen, stack = set(), list(roots)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(node.args)
    return seen


def _needed_deltas(d, wanted):
    """The error signals the wanted gradients use: one walk over the union of their graphs (a walk
    per gradient would visit the shared deltas once per layer: quadratic in the depth)."""
    seen, stack, out = set(), [d.grads[p] for p in wanted], set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.role == "delta":
            out.add(node)
        stack.extend(node.args)
    return out


def step_lines(d, p, needed, wanted) -> list:
    """The provenance record, one (lhs, rhs, rule) per line, printed by ``p``."""
    lines, keep = [], True
    names = {n.name for n in needed} | set(wanted)
    for s in d.steps:
        kind, n = s.lhs
        if kind in ("grad", "def"):
            # keep the steps that lead to what is shown (a delta's own Z, a wanted gradient)
            keep = kind == "def" and n in names or kind == "grad" and (n in wanted or getattr(n, "base", None) in ("A", "Z"))
        if not keep:
            continue
        if kind == "through":  # n is the function's name, the line says f'(Z) = (its form) = (through A)
            before, after = s.rhs
            prime = p.derivative_call(n, p.name(before.args[0].name))
            lines.append((prime, f"{p.show(before)} = {p.show(after)}", p.rules(s.rule)))
        elif kind == "fact":  # a fact prints itself with the printer (reduce_sum's ClassesSumToOne)
            lines.append(("", s.rhs.printed(p), p.rules(s.rule)))
        elif kind == "same":
            lines.append(("", p.show(s.rhs), p.rules(s.rule)))
        elif kind == "grad":
            lines.append((p.gradient_name(p.name(n)), p.show(s.rhs), p.rules(s.rule)))
        else:
            lines.append((p.name(n), p.show(s.rhs), p.rules(s.rule)))
    return lines


def to_text(d, params=None, steps=False, width=100) -> str:
    """Rich panels, one per section, rendered to plain text (no colour codes)."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=False, color_system=None, highlight=False)
    _print_panels(console, d, params, steps, Panel, Text)
    return buf.getvalue()


def _print_panels(console, d, params, steps, Panel, Text):
    layout = layout_lines(d)
    if layout:
        console.print(Panel(Text("\n".join(layout)), title="Layout", title_align="left", expand=True))
    for section, rows in sections(d, "text", params, steps):
        body = Text()
        for i, (left, right, note) in enumerate(rows):
            line = f"{left} = {right}" if left else f"  = {right}" if right else ""
            body.append(line)
            if note:
                body.append(f"    [{note}]", style="dim")
            if i < len(rows) - 1:
                body.append("\n")
        if not rows:
            body.append("(none)")
        console.print(Panel(body, title=section, title_align="left", expand=True))
    if any(l.activation in ("relu", "leaky_relu") or "relu" in l.activation or "step" in l.activation
           for l in d.model.layers):
        console.print(f"Kinks: {KINK_CONVENTION}.")


def print_rich(d, params=None, steps=False, console=None):
    """Print to a terminal with colour."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text
    _print_panels(console or Console(), d, params, steps, Panel, Text)


def to_latex(d, params=None, steps=False) -> str:
    parts = [f"% {line}" for line in layout_lines(d, "latex")]
    for section, rows in sections(d, "latex", params, steps):
        parts.append(f"% {section}")
        parts.append(r"\begin{align*}")
        body = []
        for left, right, note in rows:
            tag = rf" && \text{{{note}}}" if note else ""  # the printer escaped the words
            body.append(f"{left} &= {right}{tag}" if left else f"&= {right}{tag}")
        parts.append(" \\\\\n".join(body))
        parts.append(r"\end{align*}")
    return "\n".join(parts) + "\n"


def to_markdown(d, params=None, steps=False) -> str:
    parts = [f"**Convention:** `{d.model.convention}` "
             f"({'examples as rows' if d.model.convention == 'rows' else 'examples as columns'})", ""]
    parts += [line + "\n" for line in layout_lines(d)]
    for section, rows in sections(d, "latex", params, steps):
        parts.append(f"### {section}")
        parts.append("")
        for left, right, note in rows:
            eq = f"{left} = {right}" if left else f"= {right}"
            parts.append(f"$$\n{eq}\n$$")
            if note:
                parts.append(f"*{note}*")
            parts.append("")
    return "\n".join(parts)


def to_json(d, params=None) -> str:
    secs = dict((title.split(" (")[0], rows) for title, rows in sections(d, "formula", params))
    return json.dumps({
        "convention": d.model.convention,
        "forward": [f"{l} = {r}" for l, r, _ in secs["Forward pass"]],
        "loss": secs["Loss"][0][1],
        "deltas": {l: r for l, r, _ in secs["Error signals"]},
        "gradients": {p: show(d.grads[p], "formula") for p in (params or d.grads)},
    }, ensure_ascii=False)

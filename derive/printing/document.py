"""A derivation as a document: sections of equations, in text, LaTeX, Markdown or JSON.

Every format reads the same list of sections built here from the derived graph, so the four
formats cannot disagree about what was derived.
"""
from __future__ import annotations

import io
import json
import re

from derive.graph.node import fmt_shape
from derive.network.functions import KINK_CONVENTION, LOSS_TITLES
from derive.printing.breaks import SCREEN_WIDTH, latex_rows, latex_width
from derive.printing.show import printer_for, show


def sections(d, style: str, params=None, steps: bool = False, unroll: bool = False) -> list:
    """[(title, [(lhs, rhs, note)])] for derivation ``d`` in notation ``style`` (text, latex, formula);
    ``params`` limits the gradients shown; ``unroll`` adds each recurrent layer written out step by step."""
    p = printer_for(style)
    model = d.model
    wanted = list(params) if params else list(d.grads)
    needed = _needed_deltas(d, wanted)
    fwd = []
    for n in model.forward:
        if n is model.J:
            continue
        if n.op == "scan":  # a recurrent layer: its step's equations, then the sequence of its states
            fwd += recurrence_forward(n.attrs["cell"], p, int(n.shape[1]))
        fwd.append((p.name(n.name), p.show(n), ""))
    loss_title = LOSS_TITLES.get(model.loss_name, model.loss_name)
    decay_note = p.inline_math(f"{p.name('lambda')} = {model.l2:g}") if model.l2 else ""
    out = [("Forward pass", fwd),
           (f"Loss ({loss_title}{', L2 decay' if model.l2 else ''})", [(p.name("J"), p.show(model.J), decay_note)])]
    deltas = []
    for layer in reversed(model.layers):
        dn = d.deltas.get(layer.index)
        if dn is not None and dn in needed:
            deltas.append((p.name(dn.name), p.show(dn), ""))
        for n in _named_adjoints(d, layer):   # a normalization's ∂J/∂X̂, before the δ it makes
            deltas.append((p.gradient_name(p.name(n.attrs["of"])), p.show(n, top=True), ""))
        if layer.kind == "recurrent":
            deltas += recurrence_backward(d, layer, p)
    out.append(("Error signals", deltas))
    out.append(("Gradients", [(p.gradient_name(p.name(n)), p.show(d.grads[n]), "") for n in wanted]))
    if not getattr(model, "is_dense", True):
        from derive.printing.index import index_lines
        rows = index_lines(d, style)
        if rows:
            out.append(("Index form (i: example; y, x or t: position; c: channel; u, v: kernel offset)", rows))
    if unroll:
        for layer in model.layers:
            if layer.kind == "recurrent":
                out.append((f"Layer {layer.index} unrolled over its {dict(layer.geometry)['steps']} steps",
                            unrolled_lines(d, layer, p)))
    if steps:
        on_path = _on_path(model, wanted) if params else None
        out.append(("Steps", step_lines(d, p, needed, wanted, on_path=on_path)))
        for layer in model.layers:
            if layer.kind == "recurrent" and (on_path is None or layer.A.name in on_path):
                out.append((f"Steps inside layer {layer.index}'s step (the same at every t)",
                            cell_step_lines(layer.cell, p)))
    return out


def _named_adjoints(d, layer) -> list:
    return [g for n, g in d.adjoints.items() if g.role == "adjoint" and g.op != "leaf"
            and getattr(n.name, "layer", None) == layer.index]


def cell_step_lines(cell, p) -> list:
    """A recurrent layer's step differentiated: where each term of ∂J/∂h⟨t−1⟩ and of each δ⟨t⟩ comes from."""
    from derive.ops.scan import cell_backward
    from types import SimpleNamespace
    back = cell_backward(cell)
    record = SimpleNamespace(steps=list(back.steps))
    names = {s.lhs[1] for s in back.steps if s.lhs[0] in ("grad", "def")}
    return step_lines(record, p, (), names, keep_all=True)


def _steps_note(cell, T: int, p) -> str:
    """The steps a cell runs, and its first state: t = 1, …, T; h₁⟨0⟩ = 0."""
    h = cell.new.name
    start = h.at_step(T + 1 if cell.reverse else 0)
    steps = f"t = {T}, {p.ellipsis}, 1" if cell.reverse else f"t = 1, {p.ellipsis}, {T}"
    return p.inline_math(steps) + p.words("; ") + p.inline_math(f"{p.name(start)} = 0")


def recurrence_forward(cell, p, T: int) -> list:
    """A recurrent layer's step, one line per named node of the cell (z⟨t⟩, gates, h⟨t⟩)."""
    rows = [(p.name(n.name), p.show(n), "") for n in cell.forward]
    lhs, rhs, _ = rows[-1]
    rows[-1] = (lhs, rhs, _steps_note(cell, T, p))
    return rows


def recurrence_backward(d, layer, p) -> list:
    """Backprop through time for a recurrent layer: ∂J/∂h⟨t⟩ from what the layers above send and what
    step t+1 sends back (for each part of a state of several: an LSTM's h and c), then each error
    signal of the step."""
    from derive.ops.scan import cell_backward
    cell = layer.cell
    back = cell_backward(cell)
    T = dict(layer.geometry)["steps"]
    ahead = -1 if cell.reverse else 1   # the step that runs after step t
    parts = list(zip(cell.new.args, back.d_prev.args)) if cell.parts else [(cell.new, back.d_prev)]
    p.time_shift = ahead
    try:
        sent = [p.show(g, top=False) for _, g in parts]
    finally:
        p.time_shift = 0
    rows, out = [], layer.A
    G = d.adjoints.get(out)
    last_step = dict(layer.geometry)["sequences"] is False
    for k, (part, _) in enumerate(parts):
        h = part.name
        grad_h = p.gradient_name(p.name(h))
        if last_step:  # only the last state goes on: it alone receives from above
            end = h.at_step(1 if cell.reverse else T)
            if k == 0 and G is not None:
                rows.append((p.gradient_name(p.name(end)), p.show(G),
                             p.words("what the layers above send: ") + p.inline_math(p.gradient_name(p.name(out.name)))))
            elif k > 0:
                rows.append((p.gradient_name(p.name(end)), "0", ""))
            sent_back = sent[k]
            states = _states_of(d, cell, h) if k == 0 and G is not None and getattr(p, "lines_stand_alone", False) \
                else None
            if states is not None:
                # without its note the line must hold at every t: what the layers above send, zero but at the end
                sent_back = f"{p.at_time(p.gradient_name(p.name(states.name)), h)} + {sent[k]}"
            rows.append((grad_h, sent_back, p.inline_math("t > 1" if cell.reverse else f"t < {T}")
                         + p.words(f": what step t{'−' if cell.reverse else '+'}1 sends back")))
            continue
        order = f"t = 1, {p.ellipsis}, {T}" if cell.reverse else f"t = {T}, {p.ellipsis}, 1"
        note = p.inline_math(order) + p.words(f"; step {0 if cell.reverse else T + 1} sends nothing back")
        if k == 0 and G is not None:
            here = p.gradient_name(p.name(out.name))
            rows.append((here, p.show(G), ""))
            rows.append((grad_h, f"{p.at_time(here, h)} + {sent[k]}", note))
        else:
            rows.append((grad_h, sent[k], note))
    rows += [(p.name(delta.name), p.show(delta, top=True), "") for _, delta in back.deltas]
    return rows


def _states_of(d, cell, h):
    """The named forward node of every step's ``h`` (a cell's states, H₁; an LSTM's h part of them), or None."""
    from derive.ops.slicing import state_part
    for n in d.model.forward:
        found = state_part(n) if n.op in ("scan", "slice") else None
        if found is not None and found[0] is cell and found[1] == h and n.name is not None and n in d.adjoints:
            return n
    return None


def unrolled_lines(d, layer, p) -> list:
    """A recurrent layer written out at every step: its forward pass t = 1, …, T, backprop through time
    t = T, …, 1 (each ∂J/∂h⟨t⟩ with what step t+1 sends back, each δ⟨t⟩), and each parameter's gradient
    as the sum of its T terms."""
    from derive.ops.scan import cell_backward
    cell, back = layer.cell, cell_backward(layer.cell)
    geometry = dict(layer.geometry)
    T = geometry["steps"]
    order = list(range(T, 0, -1)) if cell.reverse else list(range(1, T + 1))
    ahead = -1 if cell.reverse else 1
    parts = list(zip(cell.new.args, back.d_prev.args)) if cell.parts else [(cell.new, back.d_prev)]
    out, G = layer.A, d.adjoints.get(layer.A)

    def at(t, show):
        p.time_at = t
        try:
            return show()
        finally:
            p.time_at = None

    rows = [(at(t, lambda n=n: p.name(n.name)), at(t, lambda n=n: p.show(n)), "") for t in order for n in cell.forward]
    rows[-1] = rows[-1][:2] + (_steps_note(cell, T, p),)
    for t in reversed(order):
        for k, (part, sent) in enumerate(parts):
            terms = []
            if k == 0 and G is not None and geometry["sequences"]:
                terms.append(p.at_time(p.gradient_name(p.name(out.name)), part.name, t))
            elif k == 0 and G is not None and t == order[-1]:
                terms.append(p.show(G))
            if 1 <= t + ahead <= T:
                terms.append(at(t + ahead, lambda sent=sent: p.show(sent, top=False)))
            rows.append((at(t, lambda part=part: p.gradient_name(p.name(part.name))), " + ".join(terms) or "0", ""))
        rows += [(at(t, lambda dn=dn: p.name(dn.name)), at(t, lambda dn=dn: p.show(dn, top=True)), "")
                 for _, dn in back.deltas]
    for q, g in zip(cell.params, back.d_params):
        rows.append((p.gradient_name(p.name(q.name)), " + ".join(at(t, lambda g=g: p.show(g, top=False))
                                                                for t in order), ""))
    return rows


def _param(model, base, layer):
    return next(p.name for p in model.records if p.name.base == base and p.layer == layer)


def layout_lines(d, style: str = "text") -> list:
    """For a network with convolution or pooling: its layout and layers, and what the window signs
    mean. None for a dense network (whose printout is the matrix form alone)."""
    model = d.model
    p = printer_for(style)
    dropout = _dropout_lines(model, p)
    if getattr(model, "is_dense", True):
        return dropout
    shape = model.input_shape
    if any(layer.kind == "recurrent" for layer in model.layers):
        return _recurrent_layout(model, p) + dropout
    lines = []
    if model.reads_sequence:   # a sequence read by dense layers at every step (TimeDistributed)
        T, F = shape
        lines.append(f"Layout as in Keras: inputs (batch, time, features), here (m, {T}, {F}); x⟨t⟩ is the input at "
                     "step t. A dense layer on a sequence applies at every step with the same W and b, as Keras's "
                     "TimeDistributed(Dense): its gradients sum over the steps t (Σᵢ,ₜ: over the batch and every step).")
    elif len(shape) > 1:
        lines.append("Layout as in Keras: inputs (batch, " + ("length" if len(shape) == 2 else "height, width")
                     + ", channels), kernels (" + ("k" if len(shape) == 2 else "kh, kw") + ", c_in, c_out), biases "
                     "(c_out,); flatten is row-major over the positions, then the channels.")
    for layer in model.layers:
        g = dict(layer.geometry)
        if layer.kind == "embedding":
            lines.append(f"layer {layer.index}: embedding; X holds {g['positions']} integer indices per example, each "
                         f"selecting a row of {p.name(_param(model, 'C', layer.index))} ({g['vocab']} rows of "
                         f"{layer.units}); {p.name(layer.A.name)} {fmt_shape(layer.A.shape)}; onehot(X)ᵀ G adds each "
                         "row of G into the row it was read from, so a repeated index accumulates")
        elif layer.kind in ("batch_norm", "layer_norm"):
            over = "the batch" + (" and every position" if len(g["over"]) > 1 else "") \
                if layer.kind == "batch_norm" else "the features of each example"
            var = "biased, 1/N" if g["variance"] == "biased" else "Bessel-corrected, 1/(N − 1)"
            evaluation = (f"; evaluation normalizes with running averages of μ and σ² (momentum {g['momentum']:g})"
                          if layer.kind == "batch_norm" else "")
            lines.append(f"layer {layer.index}: {'batch' if layer.kind == 'batch_norm' else 'layer'} norm over {over}; "
                         f"variance {var}; ε = {g['eps']:g}{evaluation}")
        elif layer.kind == "conv":
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
    return lines + dropout


def _dropout_lines(model, p) -> list:
    """What each dropout mask is: a layer's A = D ⊙ g(Z) names D and says nothing else about it."""
    lines = []
    for layer in model.layers:
        mask, keep = getattr(layer, "mask", None), getattr(layer, "keep", None)
        if mask is None or keep is None:
            continue
        lines.append(f"layer {layer.index}: dropout; {p.name(mask.name)} is the mask drawn at each training step, "
                     f"each entry 0 with probability {1 - keep:g} and 1/{keep:g} otherwise (inverted dropout: the "
                     f"expected {p.name(layer.A.name)} is unchanged); evaluation draws no mask")
    return lines


def _recurrent_layout(model, p) -> list:
    if len(model.input_shape) >= 2:
        T, F = model.input_shape[:2]
        inputs = f"inputs (batch, time, features), here (m, {T}, {F})"
    else:   # token indices, looked up by an embedding
        inputs = (f"inputs (batch, time) of token indices, here (m, {model.input_shape[0]}), each looked up by the "
                  "embedding as a row of features")
    lines = [f"Layout as in Keras: {inputs}; x⟨t⟩ is the input at step t, (batch, features); a recurrent layer's "
             "states H are (batch, time, units), h⟨t⟩ one step of them."]
    for layer in model.layers:
        if layer.kind == "embedding":
            lines.append(f"layer {layer.index}: embedding, a row of {layer.units} features per token; "
                         f"{p.name(layer.A.name)} {fmt_shape(layer.A.shape)}")
        elif layer.kind == "recurrent":
            cell, g = layer.cell, dict(layer.geometry)
            params = ", ".join(f"{p.name(q.name)} {fmt_shape(q.shape)}" for q in cell.params)
            what = "state" if not cell.parts else cell.parts[0]
            gives = f"every {what}" if g["sequences"] else f"its last {what}"
            lines.append(f"layer {layer.index}: {cell.kind}, {layer.units} unit{'s' if layer.units > 1 else ''}"
                         + (f", {layer.activation}" if cell.kind == "SimpleRNN" else "")
                         + f", runs {_steps_note(cell, g['steps'], printer_for('text'))}; {params}; gives {gives}, "
                         f"{p.name(layer.A.name)} {fmt_shape(layer.A.shape)}")
        elif layer.kind == "concat":
            lines.append(f"layer {layer.index}: the two directions side by side; {p.name(layer.A.name)} "
                         f"{fmt_shape(layer.A.shape)}")
        elif layer.kind == "flatten":
            lines.append(f"layer {layer.index}: flatten, row-major over time then units; {p.name(layer.A.name)} "
                         f"{fmt_shape(layer.A.shape)}")
    backwards = any(getattr(getattr(layer, "cell", None), "reverse", False) for layer in model.layers)
    lines.append("Backprop through time: ∂J/∂h⟨t⟩ gathers what the layers above send to step t and what step "
                 + ("t+1 sends back (t−1 in a layer that runs t = T, …, 1)" if backwards else "t+1 sends back")
                 + "; each parameter's gradient is the sum over t of what each step sends it.")
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


def _on_path(model, wanted) -> set:
    """The names of the forward nodes that depend on a wanted parameter: only their adjoints reach the
    wanted gradients (∂J/∂A₁ takes no part in ∂J/∂W₂)."""
    from derive.graph.build import topo_order
    wanted = set(wanted)
    reached, names = set(), set(wanted)
    for n in topo_order(model.J):
        if n.name in wanted or any(a in reached or (a.op == "leaf" and a.name in wanted) for a in n.args):
            reached.add(n)
            if n.name is not None:
                names.add(n.name)
    return names


# A side fact a step used (Σₖ Yₖ = 1): a row of its own, read as a fact used ("using Σₖ Yₖ = 1", the printer's
# ``fact_used``), never chained with "=" to the equation above it. Its left side is FACT, an empty name.
class _Fact(str):
    pass


FACT = _Fact("")


def row_line(left, right) -> str:
    """One row of a section as an equation: 'lhs = rhs', '= rhs' (a rewriting of the line above), or a fact."""
    if left is FACT:
        return right
    if left:
        return f"{left} = {right}"
    return f"= {right}" if right else ""


# The steps shown are those of the nodes a derivation is read by: each layer's A and Z, and inside a
# normalization layer each stage (μ, X̄, σ², σ, X̂), and inside attention Q, K, V, S, P, H.
STEP_BASES = frozenset({"A", "Z", "mu", "xc", "var", "sigma", "xhat", "Q", "K", "V", "S", "P", "H"})


def step_lines(d, p, needed, wanted, keep_all=False, on_path=None) -> list:
    """The provenance record, one (lhs, rhs, rule) per line, printed by ``p``; ``on_path`` (names), where
    given, keeps only the adjoints of those names besides the wanted gradients. A fact a step used has FACT
    for its left side."""
    lines, keep = [], True
    names = {n.name for n in needed} | set(wanted)
    for s in d.steps:
        kind, n = s.lhs
        if kind in ("grad", "def") and not keep_all:
            # keep the steps that lead to what is shown (a delta's own Z, a wanted gradient)
            base = getattr(n, "base", None)
            keep = kind == "def" and n in names or kind == "grad" and (
                n in wanted or base in STEP_BASES and (on_path is None or n in on_path))
        if not keep:
            continue
        if kind == "through":  # n is the function's name, the line says f'(Z) = (its form) = (through A)
            before, after = s.rhs
            prime = p.derivative_call(n, p.name(before.args[0].name))
            form = p.show(before) if after is None else f"{p.show(before)} = {p.show(after)}"
            lines.append((prime, form, p.rules(s.rule)))
        elif kind == "partial":  # ∂X̂₂/∂σ₂ = (its form) = (through X̂₂)
            before, after = s.rhs
            lines.append((p.partial_name(p.name(n[0]), p.name(n[1])), f"{p.show(before)} = {p.show(after)}",
                          p.rules(s.rule)))
        elif kind == "fact":  # a fact prints itself with the printer (reduce_sum's ClassesSumToOne)
            lines.append((FACT, p.fact_used(s.rhs.printed(p)), p.rules(s.rule)))
        elif kind == "same":
            lines.append(("", p.show(s.rhs), p.rules(s.rule)))
        elif kind == "grad":
            lines.append((p.gradient_name(p.name(n)), p.show(s.rhs), p.rules(s.rule)))
        else:
            lines.append((p.name(n), p.show(s.rhs), p.rules(s.rule)))
    return lines


# Widths, in characters, a text view is laid out in: narrower panels have no room for a formula, and rich
# lays out every line of a much wider one at that width (a width of 10**9 never ends).
WIDTHS = (20, 1000)


def check_width(width) -> int:
    """``width`` as a whole number of characters in WIDTHS, or a TypeError or ValueError naming it."""
    import numbers
    if not isinstance(width, numbers.Integral) or isinstance(width, bool):
        raise TypeError(f"width must be a whole number of characters, not {width!r} ({type(width).__name__})")
    if not WIDTHS[0] <= width <= WIDTHS[1]:
        raise ValueError(f"width must be from {WIDTHS[0]} to {WIDTHS[1]} characters, not {width}")
    return int(width)


def to_text(d, params=None, steps=False, width=100, unroll=False) -> str:
    """Rich panels, one per section, rendered to plain text (no colour codes)."""
    width = check_width(width)
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text

    buf = io.StringIO()
    # force_jupyter=False: inside Jupyter rich would display the panels and leave the buffer empty
    console = Console(file=buf, width=width, force_terminal=False, force_jupyter=False, color_system=None,
                      highlight=False)
    _print_panels(console, d, params, steps, Panel, Text, unroll)
    return buf.getvalue()


def _print_panels(console, d, params, steps, Panel, Text, unroll=False):
    from derive.printing.plain import lacks_symbols, spell
    # a terminal without the symbols (PYTHONIOENCODING=ascii): the lines in ASCII before the panels measure them
    said = spell if lacks_symbols(getattr(console, "file", None)) else str
    layout = layout_lines(d)
    if layout:
        console.print(Panel(Text(said("\n".join(layout))), title="Layout", title_align="left", expand=True))
    inner = max(console.width - 4, 8)   # a panel's border and padding take 2 cells on either side
    for section, rows in sections(d, "text", params, steps, unroll):
        body = Text()
        for i, (left, right, note) in enumerate(rows):
            for k, segments in enumerate(text_row(left, right, note, inner, said)):
                if k:
                    body.append("\n")
                for text, style in segments:
                    body.append(text, style=style)
            if i < len(rows) - 1:
                body.append("\n")
        if not rows:
            body.append("(none)")
        title, rest = panel_title(said(section), console.width)
        if rest:   # the part of the title its border has no room for: the panel's first lines
            head = Text("\n".join(rest), style="dim")
            body = head.append("\n").append_text(body)
        console.print(Panel(body, title=Text(title), title_align="left", expand=True))
    note = kink_note(kinked(d.model))
    if note:
        console.print(said(f"Kinks: {note}."))


# The scalar functions with a kink or a jump at 0, in the order the note names them, each with the value its
# derivative takes there: (name, the derivative's value at 0, how that value is chosen).
KINKS = (("relu", "step(0) = 0", "left"), ("leaky_relu", "1/100", "left"),
         ("selu", "λα ≈ 1.7581", "left"), ("abs", "sign(0) = 0", "mean"),
         ("step", "0", "jump"), ("sign", "0", "jump"))


def panel_title(title: str, width: int) -> tuple:
    """(the title a panel ``width`` cells wide shows whole on its top border, the lines of the rest of the
    title, at most the panel's inner width each): a title too long keeps its head (Index form), its
    parenthesis (the index legend) goes to the lines; a head too long as well is cut with an ellipsis,
    and the lines hold the whole title."""
    from rich.cells import cell_len
    from derive.printing.breaks import wrap_words
    room = width - 6   # the corners, a border cell on either side, a space on either side of the title
    if cell_len(title) <= room:
        return title, []
    inner = max(width - 4, 8)
    head, paren, rest = title.partition(" (")
    if paren and cell_len(head) <= room:
        return head, wrap_words("(" + rest, inner)
    cut = ""
    for ch in title:
        if cell_len(cut + ch) > room - 1:
            break
        cut += ch
    return cut.rstrip() + "…", wrap_words(title, inner)


def kinked(model) -> list:
    """The names of KINKS that the activations of ``model``'s layers call."""
    import sympy as sp
    from derive.network.scalar_functions import SCALAR_FUNCTIONS
    classes = {c: f.name for f in SCALAR_FUNCTIONS for c in f.classes}
    found = set()
    for layer in model.layers:
        fn = getattr(layer, "fn", None)
        expr = getattr(fn, "expr", None)
        if isinstance(expr, sp.Basic):
            found |= {classes.get(type(f)) for f in expr.atoms(sp.Function)}
        elif layer.activation in dict((k[0], k) for k in KINKS):
            found.add(layer.activation)
    return [name for name, _, _ in KINKS if name in found]


def kink_note(names=("relu",), p=None) -> str:
    """The value the derivative of each of ``names`` (the kinked functions a network calls) takes at its
    kink, written as the notation writes derivatives (relu′(0) = step(0) = 0); empty without any."""
    p = p or printer_for("text")
    rows = [(p.derivative_call(name, "0") + " = " + value, how) for name, value, how in KINKS if name in names]
    parts = []
    for how, lead in (("left", KINK_CONVENTION.split(": ")[0] + ": "), ("mean", ""),
                      ("jump", "a jump adds no gradient: ")):
        said = [text + (", the mean of its two sides" if how == "mean" else "") for text, h in rows if h == how]
        if said:
            parts.append(lead + ", ".join(said))
    return "; ".join(parts)


def text_row(left, right, note, width: int, said=str) -> list:
    """One row of a text panel as lines, each a list of (text, style), at most ``width`` cells as ``said``
    spells it: a long equation broken before a top-level sign, its lines after the first hanging under
    its right side; its note (dim) after the last line where it fits, else on lines of its own, indented
    as well."""
    from rich.cells import cell_len
    from derive.printing.breaks import text_lines, wrap_words

    def measure(s):
        return cell_len(said(s))
    if left is FACT:
        lead = "  "
    elif left:
        lead = f"{left} = "
    else:
        lead = "  = " if right else ""
    lines = text_lines(lead, right, width, measure)
    out = [[(said(" " * indent + piece), "")] for indent, piece in lines]
    if note:
        tag = f"[{note}]"
        if lines[-1][0] + measure(lines[-1][1]) + 4 + measure(tag) <= width:
            out[-1].append((said(f"    {tag}"), "dim"))
        else:   # under the right side, its own lines one cell further in, past the "["
            indent = (2 if measure(lead) > width // 3 else measure(lead)) + 2
            out += [[(said(" " * (indent + (k > 0)) + piece), "dim")]
                    for k, piece in enumerate(wrap_words(tag, width - indent - 1, measure))]
    return out


def print_rich(d, params=None, steps=False, console=None, unroll=False):
    """Print to a terminal with colour."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text
    if console is not None and not isinstance(console, Console):
        raise TypeError(f"console must be a rich.console.Console (or None: the terminal), not {console!r} "
                        f"({type(console).__name__})")
    _print_panels(console or Console(), d, params, steps, Panel, Text, unroll)


def _comment(text: str) -> str:
    """A LaTeX comment of ``text`` on one line: a line break in it (a layer's name can hold one) would end the comment
    and hand the rest to TeX as commands."""
    return "% " + " ".join(text.splitlines())


def to_latex(d, params=None, steps=False, unroll=False) -> str:
    parts = [_comment(line) for line in layout_lines(d, "latex")]
    for section, rows in sections(d, "latex", params, steps, unroll):
        parts.append(_comment(section))
        parts.append(r"\begin{align*}")
        # a long equation on several lines, a long note below its equation: each line fits the page
        parts.append(" \\\\\n".join(latex_rows(rows, FACT)))
        parts.append(r"\end{align*}")
    return "\n".join(parts) + "\n"


# Characters the text parts of a standalone document may hold (layout lines, the title), as pdflatex
# takes them: everything else non-ASCII becomes a question mark rather than a failed compilation.
LATEX_TEXT = {"∗": r"$\ast$", "⋆": r"$\star$", "Σ": r"$\Sigma$", "ᵢ": r"$_i$", "ₚ": r"$_p$", "ₜ": r"$_t$",
              "⊙": r"$\odot$", "⊘": r"$\oslash$", "δ": r"$\delta$", "σ": r"$\sigma$", "μ": r"$\mu$",
              "γ": r"$\gamma$", "β": r"$\beta$", "ε": r"$\varepsilon$", "λ": r"$\lambda$", "∂": r"$\partial$",
              "−": "-", "–": "--", "—": "---", "′": "'", "ᵀ": r"$^T$", "⟨": r"$\langle$", "⟩": r"$\rangle$",
              "√": r"$\surd$", "°": r"$^\circ$", "…": r"\dots{}", "×": r"$\times$", "→": r"$\to$",
              "‘": "`", "’": "'", "“": "``", "”": "''", "²": r"$^2$", "̂": "", "̄": ""}


def latex_text(text: str) -> str:
    """Plain text as LaTeX source that pdflatex compiles: special characters escaped, the Unicode a
    printout holds in words (⊙, δ, Σᵢ, subscripts) as math, and any other non-ASCII character as '?'."""
    out = []
    for ch in text:
        if ch in "&%$#_{}":
            out.append("\\" + ch)
        elif ch in "~^\\":
            out.append({"~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}[ch])
        elif ord(ch) < 128:
            out.append(ch)
        elif ch in LATEX_TEXT:
            out.append(LATEX_TEXT[ch])
        elif "₀" <= ch <= "₉":
            out.append(f"$_{ord(ch) - ord('₀')}$")
        elif ch in "⁰¹²³⁴⁵⁶⁷⁸⁹":
            out.append(f"$^{'⁰¹²³⁴⁵⁶⁷⁸⁹'.index(ch)}$")
        else:
            out.append("?")
    return "".join(out)


def breakable(title: str) -> str:
    """``title`` as ``latex_text`` writes it, free to break after each '-', ':', ',' and '*' (a network's
    spec is one long word otherwise, and runs past the margin); the heading sets it ragged right, so that
    a line broken there need not stretch its few spaces."""
    return "".join(latex_text(ch) + (r"\allowbreak{}" if ch in "-:,*" else "") for ch in title)


def to_latex_document(d, params=None, steps=False, unroll=False, title="derivax derivation", more="") -> str:
    """A standalone LaTeX document (article, amsmath, amssymb) that pdflatex compiles: a section per part
    of the derivation, the layout as text, the steps with their reasons. ``more``: LaTeX of the same kind
    (``% title`` lines before their blocks, as the scalar view renders it) set after the derivation, its
    other ``%`` lines (the scalar check's verdicts) as text."""
    body = to_latex(d, params, steps, unroll)
    parts = [r"\documentclass[10pt]{article}", r"\usepackage[margin=2cm]{geometry}", r"\usepackage{amsmath,amssymb}",
             r"\allowdisplaybreaks", r"\begin{document}", rf"\section*{{\raggedright {breakable(title)}}}"]
    parts += [latex_text(line) + r"\par" for line in layout_lines(d, "text")]   # the layout, as words
    lines = body.splitlines()[len(layout_lines(d, "latex")):]
    for line in lines:
        parts.append(rf"\subsection*{{{latex_text(line[2:])}}}" if line.startswith("% ") else line)
    extra = more.splitlines()
    for k, line in enumerate(extra):
        if not line.startswith("% "):
            parts.append(line)
        elif k + 1 < len(extra) and extra[k + 1].startswith("\\begin"):
            parts.append(rf"\subsection*{{{latex_text(line[2:])}}}")
        else:   # a verdict of the check, as a line of text
            parts.append(latex_text(line[2:]) + r"\par")
    parts.append(r"\end{document}")
    return "\n".join(parts) + "\n"


def to_markdown(d, params=None, steps=False, unroll=False) -> str:
    parts = [f"**Convention:** `{d.model.convention}` "
             f"({'examples as rows' if d.model.convention == 'rows' else 'examples as columns'})", ""]
    parts += [_markdown_prose(line) + "\n" for line in layout_lines(d)]
    for section, rows in sections(d, "latex", params, steps, unroll):
        parts.append(f"### {_markdown_prose(section)}")
        parts.append("")
        for left, right, note in rows:
            parts.append(markdown_math(left, right))
            if note:
                parts.append(f"*{_markdown_text(note)}*")
            parts.append("")
    return "\n".join(parts)


def markdown_math(left, right, width: float = SCREEN_WIDTH) -> str:
    """One row as a Markdown display block, ``$$ lhs = rhs $$``; a row too long for a screen's column broken
    as the LaTeX view breaks it, its lines in an ``aligned`` environment (which KaTeX and MathJax take)."""
    lines = latex_rows([(left, right, "")], FACT, width)
    if len(lines) == 1:
        return f"$$\n{row_line(left, right)}\n$$"
    return "$$\n\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}\n$$"


def to_jupyter_latex(d, width: float = SCREEN_WIDTH) -> str:
    """The derivation as a notebook shows it (a ``_repr_latex_``): one ``aligned`` block, each section under
    its heading, each long equation broken as the LaTeX view breaks it to fit a screen's column."""
    secs = sections(d, "latex")
    words = printer_for("latex").words
    lhs = max([latex_width(left) for _, rows in secs for left, _, _ in rows if left and left is not FACT] + [0.0])
    lines = []
    for title, rows in secs:
        lines.append(r"&\textbf{" + words(title) + "}")   # a loss formula's braces and backslashes as text
        lines += latex_rows([(left, right, "") for left, right, _ in rows], FACT, width, lhs)
    return "$$\\begin{aligned}" + " \\\\ ".join(lines) + "\\end{aligned}$$"


def _markdown_text(note: str) -> str:
    """A note's words with Markdown's emphasis and code marks escaped outside its $...$ math: a rule
    naming z*sigmoid(z) stays literal, not italics."""
    parts = re.split(r"(?<!\\)\$", note)   # a $ the words escaped (\$) is no math's
    for k in range(0, len(parts), 2):   # outside math
        parts[k] = "".join("\\" + ch if ch in "*`[]<>" else ch for ch in parts[k])
    return "$".join(parts)


def _markdown_prose(text: str) -> str:
    """Words (a layout line, a title, which may hold a layer's name) as one line of Markdown that shows them as they
    are: its marks escaped, a backslash too (Pandoc passes ``\\input{...}`` on to LaTeX as a command), and ``$``
    (math) and ``<`` (HTML) with them."""
    return "".join("\\" + ch if ch in "\\*`[]<>$_#|" else ch for ch in " ".join(text.splitlines()))


def _formula_name(lhs: str) -> str:
    """An error-signal row's name as the formulas write it: ∂J/∂X̂₇ (dJ/dxhat7) is dxhat7, the name the
    other formulas use for it (``adjoint_name``); delta2 stays delta2. ``derivax check`` reads either."""
    from derive.printing.show import printer_for
    f = printer_for("formula")
    spelled = f.gradient_name("")
    return f.adjoint_name(lhs[len(spelled):]) if lhs.startswith(spelled) else lhs


def to_json(d, params=None) -> str:
    secs = dict((title.split(" (")[0], rows) for title, rows in sections(d, "formula", params))
    return json.dumps({
        "convention": d.model.convention,
        "forward": [f"{l} = {r}" for l, r, _ in secs["Forward pass"]],
        "loss": secs["Loss"][0][1],
        "deltas": {_formula_name(l): r for l, r, _ in secs["Error signals"]},
        "gradients": {p: show(d.grads[p], "formula") for p in (params or d.grads)},
        **_constants(d.model),
    }, ensure_ascii=False)


def _constants(model) -> dict:
    """{"constants": {name: value}} for the numbers the formulas name (the L2 decay's lam), else {}."""
    if not model.l2:
        return {}
    return {"constants": {printer_for("formula").name("lambda"): model.l2}}

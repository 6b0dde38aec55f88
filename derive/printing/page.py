"""A derivation as one JSON-able record: what the explorer page shows, and what ``derivax report`` freezes.

The record holds the network as a graph (its layers, parameters, the loss, and every edge between them,
residual ones included), the derivation's sections with each line in LaTeX, in MathML (the browser renders
it with no script) and in formula syntax (what ``check`` reads back), and for every gradient, error signal
and named node what a click shows: the steps that made it, each with the rule that made it, and the path
its error signal takes through the graph. It is built from the same ``sections`` and step record the other
views print, so it cannot disagree with them. Nothing numeric happens here.
"""
from __future__ import annotations

import html
import re

from derive.graph.node import fmt_shape
from derive.printing.notations import LatexPrinter
from derive.printing.document import layout_lines, sections
from derive.printing.show import printer_for

MAX_DRAWN = 80   # graph nodes: a larger network's picture says it is too large to draw
MAX_UNROLLED = 8  # steps: a recurrent layer this short is also shown unrolled, step by step


def mathml(latex: str) -> str:
    """LaTeX math as MathML (``latex2mathml``)."""
    from latex2mathml.converter import convert
    return convert(latex)


def note_html(note: str) -> str:
    """A step's reason, as the LaTeX printer words it (math between $...$), as HTML with MathML."""
    parts = re.split(r"(?<!\\)\$", note)   # a $ the words escaped (\$) is no math's
    out = []
    for k, part in enumerate(parts):
        if k % 2:
            out.append(mathml(part))
        else:   # LaTeX's escapes back to plain characters
            out.append(html.escape(_PLAIN_WORDS.sub(lambda found: _UNESCAPED[found.group()], part)))
    return "".join(out)


# The LaTeX printer's words' escapes (``LatexPrinter.TEXT_SPECIALS``), each back to its character.
_UNESCAPED = {escaped: ch for ch, escaped in LatexPrinter.TEXT_SPECIALS.items() if escaped.strip()}
_PLAIN_WORDS = re.compile("|".join(map(re.escape, sorted(_UNESCAPED, key=len, reverse=True))))


def equation(lhs, rhs, note="", formula=None) -> dict:
    """One equation: LaTeX, MathML, the reason (HTML) and, where there is one, its formula syntax."""
    return dict(lhs=lhs, rhs=rhs, note=note, lhs_ml=mathml(lhs) if lhs else "",
                rhs_ml=mathml(("= " if lhs else "") + rhs), note_html=note_html(note) if note else "", formula=formula)


def graph(model) -> dict:
    """The network as nodes and edges: the input, one node per layer, one per parameter, the loss. A layer's
    inputs are the outputs its graph reaches before any other layer's (a residual's earlier output, both
    directions of a bidirectional pair), so what is drawn is what was built."""
    outputs = {model.X: "X"}
    for layer in model.layers:
        outputs[layer.A] = f"L{layer.index}"
    nodes = [{"id": "X", "kind": "input", "label": "X", "text": f"input {_shape(model, model.X)}", "layer": 0}]
    edges = []
    for layer in model.layers:
        lid = f"L{layer.index}"
        act = "" if layer.activation in ("identity", "custom", layer.kind, "flatten", "concat", "embedding", None) \
            or layer.kind.endswith("pool") else f" {layer.activation}"
        nodes.append({"id": lid, "kind": "layer", "label": f"layer {layer.index}", "layer": layer.index,
                      "text": f"{layer.kind.replace('_', ' ')} {layer.units}{act}", "shape": _shape(model, layer.A),
                      "output": str(layer.A.name), "steps": dict(layer.geometry).get("steps")
                      if layer.kind == "recurrent" else None})
        first = True
        for src in _inputs(layer, outputs):
            edges.append({"from": src, "to": lid, "kind": "forward" if first else "residual"})
            first = False
    for r in model.records:
        pid = f"P:{r.name}"
        nodes.append({"id": pid, "kind": "param", "label": str(r.name), "layer": r.layer,
                      "text": f"{r.name} {'x'.join(map(str, r.shape))}", "shape": list(r.shape)})
        edges.append({"from": pid, "to": f"L{r.layer}", "kind": "param"})
    nodes.append({"id": "J", "kind": "loss", "label": "J", "text": f"loss {model.loss_name}", "layer": len(model.layers) + 1})
    edges.append({"from": f"L{model.layers[-1].index}", "to": "J", "kind": "forward"})
    return {"nodes": nodes, "edges": edges}


def _shape(model, node) -> str:
    return fmt_shape(node.shape)


def _inputs(layer, outputs) -> list:
    """The graph ids of the layer outputs (or X) that ``layer``'s output is computed from directly: a walk
    down its graph that stops at any other layer's output. The layer just before comes first."""
    found, seen, stack = [], set(), list(layer.A.args)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node in outputs and node is not layer.A:
            found.append(outputs[node])
            continue
        stack.extend(node.args)
    before = f"L{layer.index - 1}" if layer.index > 1 else "X"
    return sorted(set(found), key=lambda s: (s != before, s))


def _on_path(g: dict, start: str) -> list:
    """The graph ids on some path from ``start`` to the loss: the way its error signal comes back."""
    succ = {}
    for e in g["edges"]:
        succ.setdefault(e["from"], []).append(e["to"])
    memo = {}

    def reaches(n):
        if n not in memo:
            memo[n] = False   # no cycles in a built graph; this guards the walk anyway
            memo[n] = n == "J" or any(reaches(m) for m in succ.get(n, ()))
        return memo[n]
    out, stack = [], [start]
    while stack:
        n = stack.pop()
        if n in out or not reaches(n):
            continue
        out.append(n)
        stack.extend(succ.get(n, ()))
    return out


def record(d, name: str = "", steps: bool = True) -> dict:
    """The whole page's record for derivation ``d`` (see the module's text)."""
    model = d.model
    lx, fx = printer_for("latex"), printer_for("formula")
    # a recurrent layer short enough is also written out at every step, as the page's unrolled view
    unroll = any(l.kind == "recurrent" for l in model.layers) and all(
        dict(l.geometry).get("steps", 0) <= MAX_UNROLLED for l in model.layers if l.kind == "recurrent")
    secs_l = sections(d, "latex", None, False, unroll)
    secs_f = sections(d, "formula", None, False, unroll)
    clicks = _clicks(d, fx)
    out_sections = []
    ids = {}
    for (title, rows), (_, frows) in zip(secs_l, secs_f):
        lines = []
        for k, ((lhs, rhs, note), (flhs, frhs, _)) in enumerate(zip(rows, frows)):
            line = equation(lhs, rhs, note, f"{flhs} = {frhs}" if flhs else frhs)
            line["id"] = f"{title.split(' (')[0].lower().replace(' ', '-')}-{k}"
            line["click"] = clicks.get(flhs.strip()) if flhs else None
            if flhs:
                ids.setdefault(flhs.strip(), line["id"])
            lines.append(line)
        out_sections.append({"title": title, "lines": lines})
    g = graph(model)
    too_large = len(g["nodes"]) > MAX_DRAWN
    targets = {}
    params = set(d.grads)
    blocks = _blocks(d, lx, fx)
    # Every step line once; a target lists the numbers of its lines (a deep network's targets share most
    # of them: copies made a 60-layer page 60 MB, quadratic in the depth).
    step_lines, first = [], []
    for b in blocks:
        first.append(len(step_lines))
        step_lines.extend(b["lines"])
    numbers = {id(b): range(at, at + len(b["lines"])) for b, at in zip(blocks, first)}
    for layer in model.layers:   # what a click on a layer shows: its forward equation and its error signal
        targets[f"L{layer.index}"] = {"kind": "layer", "title": f"layer {layer.index}",
                                      "forward": _forward_lines(model, layer, lx, fx),
                                      "adjoint": _adjoint_line(d, layer, lx, fx),
                                      "path": _on_path(g, f"L{layer.index}")}
    for index, delta in d.deltas.items():   # an error signal: the steps on its way back from the loss
        path = _on_path(g, f"L{index}")
        layers = {int(n[1:]) for n in path if n.startswith("L")}
        chosen = [b for b in blocks if b["head"] not in params and b["layer"] in layers]
        targets[f"D:{index}"] = {"kind": "delta", "title": f"δ{index}", "layer": index,
                                 "line": ids.get(fx.name(delta.name)),
                                 "steps": [k for b in chosen for k in numbers[id(b)]] if steps else [],
                                 "path": path}
    for pname in d.grads:
        r = next(r for r in model.records if r.name == pname)
        path = _on_path(g, f"P:{pname}")
        layers = {int(n[1:]) for n in path if n.startswith("L")}
        chosen = [b for b in blocks if b["head"] == pname or (b["head"] not in params and b["layer"] in layers)]
        targets[f"P:{pname}"] = {"kind": "gradient", "title": f"∂J/∂{pname}", "param": pname,
                                 "line": ids.get(fx.gradient_name(fx.name(pname))),
                                 "steps": [k for b in chosen for k in numbers[id(b)]] if steps else [],
                                 "path": path, "layer": r.layer}
    return {"name": name, "size_text": model.size_text, "loss": model.loss_name, "convention": model.convention,
            "layout": layout_lines(d, "text"), "sections": out_sections, "summary": [
                {"layer": a, "output": "x".join(map(str, b)) or "1", "parameters": c, "count": n}
                for a, b, c, n in model.summary()],
            "graph": None if too_large else g, "graph_note": (f"{len(g['nodes'])} nodes: too many to draw; the "
                                                              "derivation is shown without the picture")
            if too_large else "", "targets": targets, "step_lines": step_lines if steps else [], "lines": ids,
            "params": list(d.grads), "layers": _layers(model)}


def _clicks(d, fx) -> dict:
    """What a click on a line opens, by the name the line defines in formula syntax: a gradient its
    parameter (P:W1), an error signal its layer's δ (D:2), a forward line its layer (L2)."""
    out = {fx.gradient_name(fx.name(p)): f"P:{p}" for p in d.grads}
    out.update({fx.name(delta.name): f"D:{k}" for k, delta in d.deltas.items()})
    for n in d.model.forward:
        layer = getattr(getattr(n, "name", None), "layer", None)
        if layer is not None and n is not d.model.J:
            out.setdefault(fx.name(n.name), f"L{layer}")
    out["J"] = "J"
    return out


def _forward_lines(model, layer, lx, fx) -> list:
    out = []
    for n in model.forward:
        name = getattr(n, "name", None)
        if n is model.J or not name or getattr(name, "layer", None) != layer.index:
            continue
        out.append(equation(lx.name(name), lx.show(n), "", f"{fx.name(name)} = {fx.show(n)}"))
    return out


def _adjoint_line(d, layer, lx, fx):
    delta = d.deltas.get(layer.index)
    if delta is not None:
        return equation(lx.name(delta.name), lx.show(delta), "", f"{fx.name(delta.name)} = {fx.show(delta)}")
    g = d.adjoints.get(layer.A)
    if g is None:
        return None
    return equation(lx.gradient_name(lx.name(layer.A.name)), lx.show(g), "",
                 f"{fx.gradient_name(fx.name(layer.A.name))} = {fx.show(g)}")


def _blocks(d, lx, fx) -> list:
    """The step record cut into blocks, one per named result (a gradient, a δ's definition) with the lines
    that rewrite it, each line with its rule in words: [{head, layer, lines}]."""
    blocks = []
    for s in d.steps:
        kind, n = s.lhs
        if kind in ("grad", "def") or not blocks:
            blocks.append({"head": str(n) if n is not None else "", "layer": getattr(n, "layer", None), "lines": []})
        note = lx.rules(s.rule)
        if kind == "through":
            before, after = s.rhs
            lhs = lx.derivative_call(n, lx.name(before.args[0].name))
            rhs = lx.show(before) if after is None else f"{lx.show(before)} = {lx.show(after)}"
            formula = None
        elif kind == "partial":
            before, after = s.rhs
            lhs = lx.partial_name(lx.name(n[0]), lx.name(n[1]))
            rhs, formula = f"{lx.show(before)} = {lx.show(after)}", None
        elif kind == "fact":
            lhs, rhs, formula = "", lx.fact_used(s.rhs.printed(lx)), None
        elif kind == "same":
            lhs, rhs, formula = "", lx.show(s.rhs), fx.show(s.rhs)
        elif kind == "grad":
            lhs, rhs = lx.gradient_name(lx.name(n)), lx.show(s.rhs)
            formula = f"{fx.gradient_name(fx.name(n))} = {fx.show(s.rhs)}"
        else:
            lhs, rhs, formula = lx.name(n), lx.show(s.rhs), f"{fx.name(n)} = {fx.show(s.rhs)}"
        line = equation(lhs, rhs, note, formula)
        line["rules"] = [r.kind for r in s.rule]
        blocks[-1]["lines"].append(line)
    return blocks


def _layers(model) -> list:
    """Each layer as the page's editor shows it: its kind, units, activation, and whether the activation
    can be changed there (a layer that has one)."""
    return [{"index": l.index, "kind": l.kind, "units": l.units, "activation": l.activation,
             "editable": l.kind in ("dense", "conv", "batch_norm", "layer_norm") and l.activation is not None}
            for l in model.layers]

"""A derivation as one self-contained HTML page: its sections as MathML (rendered by the browser itself, no
script and no CDN), the steps with their reasons, the network drawn as an SVG picture of its layers.

The page is the same record the other views print (``derive.printing.document.sections``), so it cannot
disagree with them. ``compile.cli.report`` adds what needs numbers: the verification table and the
training curves.
"""
from __future__ import annotations

import html

from derive.printing.breaks import (EQUALS, EQUALS_WIDTH, QUAD, latex_pieces, latex_width, note_lines, screen_width,
                                    text_width)
from derive.printing.document import FACT, layout_lines, sections
from derive.printing.page import mathml, note_html

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
div.eqs { overflow-x: auto; max-width: 100%; } div.line.more { padding-left: 1.5em; }
table.eq { border-collapse: collapse; width: 100%; } table.eq td { padding: .25rem .5rem; vertical-align: middle; }
td.lhs { text-align: right; white-space: nowrap; } td.note { color: #666; font-size: .85rem; }
math { font-size: 1.1rem; } .layout { color: #444; font-size: .9rem; }
table.num { border-collapse: collapse; } table.num td, table.num th { border: 1px solid #ccc; padding: .2rem .6rem; }
.ok { color: #17702b; font-weight: 600; } .bad { color: #b00020; font-weight: 600; }
"""


# The column a section's equations are broken to: about 800 px (the page is at most 62rem wide, and a reader's
# window is often narrower), less the padding of the cells (.5rem on either side) and, in a section with notes,
# the least the notes' column takes (its widest word or formula). Math is set at 1.1rem: 17.6 px to the em.
COLUMN_PX = 800.0
MATH_EM_PX = 17.6
CELL_PX = 16.0


def section_width(rows) -> float:
    """The width in points (as ``latex_width`` estimates them) a section's left sides and equations have in
    the page's column, its rows [(left, right, note)] in LaTeX."""
    notes = [note for _, _, note in rows if note]
    room = COLUMN_PX - 2 * CELL_PX
    if notes:   # a note wraps at its spaces outside math: its column is at least its widest piece
        widest = max(text_width(piece) for note in notes for piece in note_lines(note, 0.0))
        room -= CELL_PX + min(widest * MATH_EM_PX / 10.0, COLUMN_PX / 3)
    return screen_width(room, MATH_EM_PX)


def derivation_html(d, params=None, steps=False, unroll=False) -> str:
    """The derivation's sections as HTML: one heading and one table of equations per section."""
    out = []
    layout = layout_lines(d, "text")
    if layout:
        out.append("<h2>Layout</h2>" + "".join(f'<p class="layout">{html.escape(line)}</p>' for line in layout))
    for title, rows in sections(d, "latex", params, steps, unroll):
        out.append(f"<h2>{html.escape(title)}</h2><div class=\"eqs\"><table class=\"eq\">")
        lhs_width = max([latex_width(left) for left, _, _ in rows if left and left is not FACT] + [0.0])
        width = section_width(rows)
        for left, right, note in rows:
            lhs = mathml(left) if left and left is not FACT else ""
            out.append(f'<tr><td class="lhs">{lhs}</td><td>{_right_side(left, right, lhs_width, width)}</td>'
                       f'<td class="note">{note_html(note) if note else ""}</td></tr>')
        out.append("</table></div>")
    return "\n".join(out)


def _right_side(left, right, lhs_width: float, width: float) -> str:
    """An equation's right side as MathML, broken into lines where the LaTeX views break it
    (``derive.printing.breaks``) to fit ``width`` points with its left side: a line after the first under
    the first's "=", or a step in."""
    if not right:
        return mathml(right if left is FACT else "= " + right)
    lead = 0.0 if left is FACT else EQUALS_WIDTH
    first = width - lhs_width - lead
    pieces = latex_pieces(right, first, first - QUAD)
    if len(pieces) == 1:
        return mathml(right if left is FACT else "= " + right)
    lines = []
    for k, (kind, piece) in enumerate(pieces):
        if k == 0:
            lines.append(f'<div class="line">{mathml(piece if left is FACT else "= " + piece)}</div>')
        else:
            lines.append(f'<div class="line{"" if kind == EQUALS else " more"}">{mathml(piece)}</div>')
    return "".join(lines)


def network_svg(model) -> str:
    """The network as a picture: the input, each layer as a box (its kind, size and activation), the
    loss; an arc on the right for each residual connection (an earlier layer's output added to Z)."""
    boxes = [("X", f"input {model.size_text.split('-')[0]}")]
    index = {model.X: 0}
    for layer in model.layers:
        what = {"dense": "Dense", "conv": "Conv", "max_pool": "MaxPool", "avg_pool": "AvgPool", "flatten": "Flatten",
                "recurrent": "Recurrent", "concat": "Concat", "batch_norm": "BatchNorm", "layer_norm": "LayerNorm",
                "embedding": "Embedding", "attention": "Attention", "custom": "Layer"}.get(layer.kind, layer.kind)
        act = "" if layer.activation in ("identity", "custom", layer.kind, "flatten", "concat", "embedding") \
            or layer.kind.endswith("pool") else f" {layer.activation}"
        boxes.append((f"layer {layer.index}", f"{what} {layer.units}{act}"))
        index[layer.A] = layer.index
    boxes.append(("J", f"loss {model.loss_name}"))
    width, h, gap = 360, 34, 16
    height = len(boxes) * (h + gap) + gap
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 80}" height="{height}" '
             f'viewBox="0 0 {width + 80} {height}" font-family="system-ui, sans-serif" font-size="13">']
    for k, (label, text) in enumerate(boxes):
        y = gap + k * (h + gap)
        parts.append(f'<rect x="20" y="{y}" width="{width}" height="{h}" rx="6" fill="#eef3fb" stroke="#5b7db1"/>')
        parts.append(f'<text x="30" y="{y + 21}" fill="#555">{html.escape(label)}</text>')
        parts.append(f'<text x="120" y="{y + 21}">{html.escape(text)}</text>')
        if k:
            parts.append(f'<line x1="{20 + width / 2}" y1="{y - gap}" x2="{20 + width / 2}" y2="{y}" stroke="#5b7db1" '
                         'marker-end="url(#arrow)"/>')
    for layer in model.layers:   # residual connections: what Z adds besides its own product
        for a in (layer.Z.args[1:] if layer.Z is not None else ()):
            if a in index and index[a] != layer.index - 1:
                y0 = gap + index[a] * (h + gap) + h / 2
                y1 = gap + layer.index * (h + gap) + h / 2
                parts.append(f'<path d="M {20 + width} {y0} C {width + 70} {y0}, {width + 70} {y1}, {20 + width} {y1}" '
                             'fill="none" stroke="#c0762b" marker-end="url(#arrow)"/>')
    parts.insert(1, '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
                    '<path d="M0,0 L8,4 L0,8 z" fill="#5b7db1"/></marker></defs>')
    parts.append("</svg>")
    return "".join(parts)


def page(title: str, body: str) -> str:
    """A whole HTML document around ``body``: no script, no external resource."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n")

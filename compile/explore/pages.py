"""The explorer's page as text: index.html with its boot data embedded, and, for ``derivax report``, the
same page frozen into one self-contained file (its script and style inlined, the derivation, verification
and training curves embedded, and a script-free copy of the derivation for readers without JavaScript).

A long equation is broken into lines as every other view breaks it (``derive.printing.breaks``), once for each
of a few widths of the room its right side may have (``ROOMS_PX``): the page's column narrows as the window
does and as the side panel opens, and the page shows the breaking for the widest of those rooms that fits
the room it has (``breaks``)."""
from __future__ import annotations

import json
from importlib import resources

from derive.printing.breaks import EQUALS, EQUALS_WIDTH, QUAD, latex_pieces, latex_width, screen_width

# The page sets math at 1.12em of its 15 px font: 16.8 px to the estimates' em of 10pt.
MATH_EM_PX = 15 * 1.12
# The widths in px of the room an equation's right side ("= ..." on the page) is broken for, widest first:
# the derivation's column at its widest (62rem) less its left sides and copy buttons, down to the side
# panel's or a phone's.
ROOMS_PX = (720, 580, 460, 370, 300, 240, 190)


def static_text(name: str) -> str:
    return resources.files("compile.explore").joinpath("static", name).read_text(encoding="utf-8")


def boot_page(boot: dict, inline: bool = False) -> str:
    """index.html with ``boot`` embedded (JSON, with "<" escaped so no text in it can end the script);
    ``inline`` puts the style and script into the page itself (the frozen report: one file)."""
    page = static_text("index.html")
    data = json.dumps(boot, ensure_ascii=False).replace("<", "\\u003c").replace("\u2028", "\\u2028") \
        .replace("\u2029", "\\u2029")
    page = page.replace("__DERIVAX_BOOT__", data, 1)
    if inline:
        css = static_text("explore.css").replace("</style", "<\\/style")
        js = static_text("explore.js").replace("</script", "<\\/script")
        page = page.replace('<link rel="stylesheet" href="/static/explore.css">', f"<style>{css}</style>", 1)
        page = page.replace('<script src="/static/explore.js"></script>', f"<script>{js}</script>", 1)
    return page


def breakings(lhs: str, rhs: str, rooms=ROOMS_PX) -> tuple:
    """(the room in px the right side of ``lhs`` = ``rhs`` needs whole, [(room, lines)] for each room of
    ``rooms`` it does not fit whole and can be broken for), each line (kind, LaTeX) as ``latex_pieces`` cuts it
    (the first without its "= "); a breaking the next room takes too stands once, for the narrower room."""
    lead = EQUALS_WIDTH if lhs else 0.0
    need = (lead + latex_width(rhs)) / screen_width(1.0, MATH_EM_PX)
    out = []
    for px in rooms:
        if px >= need:
            continue
        first = screen_width(px, MATH_EM_PX) - lead
        pieces = latex_pieces(rhs, first, first - QUAD)
        if len(pieces) == 1:
            continue
        if out and out[-1][1] == pieces:   # the same lines fit the narrower room too
            out[-1] = (px, pieces)
        else:
            out.append((px, pieces))
    return need, out


def equation_breaks(lhs: str, rhs: str, rooms=ROOMS_PX):
    """How the page shows the right side of the equation ``lhs`` = ``rhs`` (LaTeX, as
    ``derive.printing.page.equation`` holds it; no ``lhs``: ``rhs`` stands alone) where the room it has is
    narrower than it (``breakings``): {"px": the room it needs whole, "fits": [{"px": the least room the lines
    fit, "lines": [{"ml": MathML, "more": a line a step in, not one that starts with "="}]}], the widest room
    first}; None for one that fits the narrowest room whole, or that cannot be broken."""
    from derive.printing.page import mathml
    if not rhs:
        return None
    need, found = breakings(lhs, rhs, rooms)
    if not found:
        return None
    return {"px": round(need, 1), "fits": [{"px": px, "lines": [
        {"ml": mathml(("= " if lhs and k == 0 else "") + piece), "more": bool(k) and kind != EQUALS}
        for k, (kind, piece) in enumerate(pieces)]} for px, pieces in found]}


def breaks(lines) -> dict:
    """The breakings (``equation_breaks``) of ``lines`` (equations as ``derive.printing.page.equation`` makes
    them) that need any, by the LaTeX their ``rhs_ml`` renders ("= " and the right side, or the right side
    alone): an equation shown in several places (a gradient's line and its last step) is broken once."""
    out = {}
    for line in lines:
        if not line or not line.get("rhs"):
            continue
        key = ("= " if line.get("lhs") else "") + line["rhs"]
        if key not in out:
            out[key] = equation_breaks(line.get("lhs"), line["rhs"])
    return {k: v for k, v in out.items() if v is not None}


def record_breaks(record: dict) -> dict:
    """``breaks`` of every equation the page may show of ``record`` (``derive.printing.page.record``): its
    sections' lines, the steps, and the layers' forward lines and error signals its panel shows."""
    lines = [line for sec in record.get("sections", ()) for line in sec["lines"]]
    lines += record.get("step_lines", [])
    for t in record.get("targets", {}).values():
        lines += t.get("forward") or []
        lines.append(t.get("adjoint"))
    return breaks(lines)


def with_breaks(record: dict) -> dict:
    """``record`` with its equations' breakings (``record_breaks``) under "breaks", the key the page reads
    them from (a record without it is shown unbroken)."""
    return record if "breaks" in record else {**record, "breaks": record_breaks(record)}


def frozen_page(record: dict, verify=None, curves=None, fallback: str = "") -> str:
    """The explorer page as one file that needs no server: ``record`` (derive.printing.page), its equations'
    breakings, the verify job's result and the training curves embedded; ``fallback`` (HTML) is shown where
    scripts do not run."""
    record = with_breaks(record)
    page = boot_page({"mode": "frozen", "record": record, "verify": verify, "curves": curves}, inline=True)
    if fallback:   # first in the body: a reader without JavaScript sees it before the page's empty frame
        page = page.replace("<body>", f"<body>\n<noscript>{fallback}</noscript>", 1)
    return page

"""Long equations broken over lines, as textbooks break them: before a top-level ``=``, else before a
top-level ``+`` or ``−``, else before a product sign (⊙, ⊘, ∗), else between the factors of a product, the
shallowest bracket first.

The same rule serves two notations. The text view measures in terminal cells and indents the lines that
follow (a hanging indent, under the right-hand side, or under the content of the bracket a line continues
inside, as a code formatter aligns it). LaTeX measures an estimate of the typeset width in
points (10pt Computer Modern, display style) and closes a ``\\left(`` left open at a break with
``\\right.``, reopening it with ``\\left.`` on the next line, so each line is balanced: plain ``align*``
rows that pdflatex, KaTeX and MathJax all take. The page's width is the LaTeX document's; what is read on a
screen (Markdown, a notebook, the HTML report) is broken to a screen's column (``screen_width``).
"""
from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from operator import attrgetter

_at = attrgetter("at")

# How good a place to break is, best first: before "=", before "+" or "−", before a product sign,
# between two juxtaposed factors.
EQUALS, PLUS, TIMES, JUXTAPOSED = range(4)


@dataclass(frozen=True)
class Break:
    """A place a line may end: the space at ``at`` (the next line starts at ``at + 1``), of kind
    ``kind`` (EQUALS ... JUXTAPOSED), inside ``depth`` brackets."""
    at: int
    kind: int
    depth: int


def choose(text: str, breaks: list, width, first: float, rest, grows: bool = False) -> list:
    """The breaks to take so that every line of ``text`` fits: the first in ``first``, the others in
    ``rest`` (``width(s)`` measures a piece); ``rest`` may also be a function of a break and the breaks taken
    before it, the room of the line that starts there (a line indented under a bracket has less). Each line
    ends at the best place that fits, a shallow ``=`` or ``+`` before a deep juxtaposition, a late place
    before an early one of the same kind, one that leaves more than a sign and a name or two for the last
    line; a line with no place that fits ends at the first place after it (it runs over: nothing shorter
    is possible). ``grows``: a piece never measures less for running on to a later place, so no place
    past the first that runs over is measured (the same breaks, in time that grows with the lines' length
    rather than the whole text's: a scalar view's equation may run to hundreds of lines)."""
    room = rest if callable(rest) else (lambda b, before: rest)
    places = sorted(breaks, key=lambda b: b.at)
    n = len(places)

    def over(start: int, lo: int, budget: float) -> bool:   # the text from start (places lo on after it) runs over
        if grows and any(width(text[start:places[k].at]) > budget for k in range(lo, n)):
            return True
        return width(text[start:]) > budget
    # lo: the first place after the last taken; a place is kept as its index, so that no line copies the rest
    taken, start, budget, lo = [], 0, first, 0
    while lo < n and over(start, lo, budget):
        if grows:
            hi = lo
            while hi < n and width(text[start:places[hi].at]) <= budget:
                hi += 1
            fits = range(lo, hi)
        else:
            fits = [k for k in range(lo, n) if width(text[start:places[k].at]) <= budget]
        if fits:
            def score(k):
                b = places[k]
                used = width(text[start:b.at])
                # a last line of a sign and a name or two
                short = not over(b.at + 1, k + 1, room(b, taken) / 5)
                return used - budget * (0.2 * b.kind + 0.5 * b.depth + 0.15 * short)
            pick = max(fits, key=score)
        else:
            pick = lo
        best = places[pick]
        start, budget = best.at + 1, room(best, taken)
        taken.append(best)
        lo = pick + 1
    return taken


# ---- the text view ---------------------------------------------------------------------------------

TEXT_BINARY = {"=": EQUALS, "+": PLUS, "−": PLUS, "-": PLUS, "⊙": TIMES, "⊘": TIMES, "∗": TIMES, "⋆": TIMES}
TEXT_OPENS, TEXT_CLOSES = "([{⟨", ")]}⟩"
# A word an operand follows and belongs to: a sum's sign (Σ, Σₖ, Σᵢ,ₚ, Σ_{u,v}), log, a fact's "using".
TEXT_PREFIX = re.compile(r"(Σ\S*|log|using)$")


def text_breaks(text: str) -> list:
    """The places a line of the text view may break: the spaces between its words, each with its kind and
    the number of brackets open there."""
    words, depth, start = [], 0, 0
    for k, ch in enumerate(text):
        if ch == " ":
            words.append((start, k, depth))
            start = k + 1
        elif ch in TEXT_OPENS:
            depth += 1
        elif ch in TEXT_CLOSES:
            depth = max(depth - 1, 0)
    words.append((start, len(text), depth))
    return _classify([(text[a:b], b, d) for a, b, d in words], TEXT_BINARY, TEXT_PREFIX)


def _classify(words: list, binary: dict, prefix) -> list:
    """Break places from words [(word, end, depth at its end)]: before a binary sign, or between two
    operands where the first is no prefix (Σ, log)."""
    out = []
    for k in range(1, len(words)):
        before, after = words[k - 1][0], words[k][0]
        at, depth = words[k - 1][1], words[k - 1][2]
        if not before or not after:
            continue
        if before in binary or prefix.search(before):
            continue   # after a sign, or between Σ and what it sums
        if after in binary:
            if k + 1 < len(words):   # a sign with an operand after it: binary
                out.append(Break(at, binary[after], depth))
            continue
        out.append(Break(at, JUXTAPOSED, depth))
    return out


def text_lines(lead: str, right: str, width: int, measure=None) -> list:
    """``lead`` (the left side and its "= ", or an indent) and ``right`` as lines of at most ``width``
    cells where ``right`` can be broken: [(indent, text)]. The lines after the first hang under the right
    side, 2 cells further in (a line that starts with "=" puts it under the first line's "="), or 4
    cells in where the left side takes more than a third of the width; a line that continues inside a
    bracket hangs under that bracket's content, as a code formatter aligns it, where that leaves the line
    at least two thirds of a hanging line's room. ``measure`` gives a piece's width in cells (as the
    terminal will spell it)."""
    from rich.cells import cell_len
    measure = measure or cell_len
    line = lead + right
    if measure(line) <= width:
        return [(0, line)]
    hang = measure(lead)
    if hang > width // 3:
        hang = 2
    equals = measure(lead[:lead.rfind("=")]) if lead.rstrip().endswith("=") else hang
    breaks = [Break(b.at + len(lead), b.kind, b.depth) for b in text_breaks(right)]
    inside = _innermost_brackets(line, len(lead))
    least = (width - hang - 2) * 2 / 3   # the room a line under a bracket keeps at the least
    placed = {}   # a break taken: the indent of the line after it

    def indent(b, before, n=None) -> int:   # the indent of the line after b, with before[:n] taken before it
        n = len(before) if n is None else n
        if b.at in placed:
            return placed[b.at]
        if b.kind == EQUALS:
            return min(equals, hang)
        bracket = inside.get(b.at)
        if bracket is not None:
            start, column = 0, 0   # the line that holds the bracket: where it starts, its indent
            k = bisect_left(before, bracket, 0, n, key=_at)   # the breaks taken before the bracket
            if k:
                t = before[k - 1]
                start, column = t.at + 1, indent(t, before, k - 1)
                placed[t.at] = column   # a break taken stays where it is: its line's indent with it
            column += measure(line[start:bracket + 1])
            if width - column >= least:
                return column
        return hang + 2

    # grows: a piece never takes fewer cells for running on, so each line measures the places up to the first that
    # runs over (a row of hundreds of terms, an activation's long sum, broke in minutes measuring all of them)
    taken = choose(line, breaks, measure, width, lambda b, before: width - indent(b, before), grows=True)
    out, start = [], 0
    for k, b in enumerate(taken + [None]):
        piece = line[start:b.at if b else len(line)]
        out.append((indent(taken[k - 1], taken, k - 1) if k else 0, piece))
        start = b.at + 1 if b else len(line)
    return out


def _innermost_brackets(line: str, start: int) -> dict:
    """For each space of ``line`` from ``start`` on that a bracket opened there encloses: the index of the
    innermost such bracket."""
    out, opened = {}, []
    for k in range(start, len(line)):
        ch = line[k]
        if ch in TEXT_OPENS:
            opened.append(k)
        elif ch in TEXT_CLOSES:
            if opened:
                opened.pop()
        elif ch == " " and opened:
            out[k] = opened[-1]
    return out


def wrap_words(text, width, measure=None) -> list:
    """Words (a step's note) as lines of at most ``width`` cells, broken at spaces; ``text`` may be the words
    already cut (a list), ``measure`` another measure of width (LaTeX's points)."""
    from rich.cells import cell_len
    measure = measure or cell_len
    lines, line = [], ""
    for word in (text.split(" ") if isinstance(text, str) else text):
        if line and measure(line + " " + word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return lines + [line]


# ---- LaTeX -----------------------------------------------------------------------------------------

# The text width, in points, lines are broken to: the standalone document's (10pt article, 2cm margins:
# 483pt on A4, 500pt on US letter), less the 10% an estimate may miss.
LATEX_WIDTH = 440.0
# The width lines are broken to where they are read on a screen (Markdown rendered by KaTeX or MathJax, a
# notebook): a column of about 800 px, math set at KaTeX's 1.21em of a 16 px font (MathJax sets it a little
# smaller), so 19.36 px to the estimates' em of 10pt, less the 10% an estimate may miss.
SCREEN_PX = 800.0
KATEX_EM_PX = 19.36


def screen_width(px: float = SCREEN_PX, em_px: float = KATEX_EM_PX) -> float:
    """The width in points (as ``latex_width`` estimates them) of a column ``px`` pixels wide, where math is
    set at ``em_px`` pixels to the em, less the 10% an estimate may miss."""
    return 0.9 * px / em_px * 10.0


SCREEN_WIDTH = screen_width()
QUAD = 10.0          # \quad at 10pt: the indent of a line that continues an equation
EQUALS_WIDTH = 13.4  # "=" and the space on either side of it
MIN_ALIGN_SEP = 10.0  # amsmath's \minalignsep: the least space between an equation and its note

LATEX_BINARY = {"=": EQUALS, "+": PLUS, "-": PLUS, r"\odot": TIMES, r"\oslash": TIMES, r"\ast": TIMES,
                r"\star": TIMES, r"\cdot": TIMES}
LATEX_PREFIX = re.compile(r"(\\(sum|prod|log|exp|max|min)((_|\^)(\{[^{}]*\}|\w))*|\\text\{using \}|"
                          r"\\left\S?|\\left\\\w+)$")

_CONTROL = re.compile(r"\\([A-Za-z]+|.)")


def _group(s: str, k: int) -> int:
    """The index after the brace group that opens at ``s[k]``."""
    depth = 0
    for j in range(k, len(s)):
        if s[j] == "{" and (j == 0 or s[j - 1] != "\\"):
            depth += 1
        elif s[j] == "}" and s[j - 1] != "\\":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(s)


def latex_breaks(tex: str) -> list:
    """The places a LaTeX formula may break: spaces outside every brace group, each with the number of
    ``\\left`` delimiters open there."""
    words, depth, start, k = [], 0, 0, 0
    while k < len(tex):
        ch = tex[k]
        if ch == "{":
            k = _group(tex, k)
            continue
        if ch == "\\":
            m = _CONTROL.match(tex, k)
            word = m.group(1)
            if word == "left":
                depth += 1
            elif word == "right":
                depth = max(depth - 1, 0)
            k = m.end()
            continue
        if ch == " ":
            words.append((tex[start:k], k, depth))
            start = k + 1
        k += 1
    words.append((tex[start:], len(tex), depth))
    return _classify(words, LATEX_BINARY, LATEX_PREFIX)


def open_lefts(tex: str) -> int:
    """How many ``\\left`` delimiters ``tex`` leaves open."""
    depth = 0
    for m in re.finditer(r"\\(left|right)(?![A-Za-z])", tex):
        depth += 1 if m.group(1) == "left" else -1
    return max(depth, 0)


def latex_pieces(tex: str, first: float, rest: float) -> list:
    """``tex`` (one side of an equation) cut to fit: [(kind, piece)], the first piece's kind None, each
    piece balanced (``\\right.`` closes what it leaves open, ``\\left.`` opens what it closes)."""
    if latex_width(tex) <= first:
        return [(None, tex)]
    # the estimate only ever grows as a piece runs on, but for a negative space (\!)
    taken = choose(tex, latex_breaks(tex), latex_width, first, rest, grows="\\!" not in tex)
    out, start, depth = [], 0, 0
    for k, b in enumerate(taken + [None]):
        piece = tex[start:b.at if b else len(tex)]
        opened = depth
        depth = open_lefts(r"\left. " * opened + piece)
        if k and piece.split(" ", 1)[0] in LATEX_BINARY and not piece.startswith("="):
            piece = "{} " + piece   # a sign that starts a line (or follows \left.) would be unary: {} keeps it binary
        if opened:
            piece = r"\left. " * opened + piece
        if depth:
            piece += r" \right." * depth
        out.append((taken[k - 1].kind if k else None, piece))
        start = b.at + 1 if b else len(tex)
    return out


# Estimated widths, in points at 10pt, of what a formula holds (Computer Modern, display style).
_WORD_WIDTH = {
    "partial": 5.7, "delta": 4.5, "sigma": 5.7, "mu": 6.0, "lambda": 5.8, "gamma": 5.2, "beta": 5.7,
    "varepsilon": 4.7, "epsilon": 4.1, "alpha": 6.4, "eta": 5.0, "theta": 4.7, "pi": 5.7, "tau": 4.4,
    "Sigma": 7.2, "Delta": 8.3, "nabla": 8.3, "langle": 3.9, "rangle": 3.9, "odot": 12.2, "oslash": 12.2,
    "ast": 9.4, "star": 9.4, "cdot": 7.2, "times": 12.2, "quad": 10.0, "qquad": 20.0, ",": 1.7, ";": 2.8,
    ":": 2.2, " ": 3.3, "!": -1.7, "dots": 13.4, "ldots": 13.4, "cdots": 13.4, "log": 14.5, "exp": 16.5,
    "max": 18.0, "min": 17.0, "tanh": 21.0, "sinh": 20.0, "cosh": 20.0, "sin": 14.0, "cos": 14.0, "infty": 10.0, "to": 15.6, "leq": 13.4, "geq": 13.4, "ne": 13.4,
    "approx": 13.4, "in": 12.2, "{": 5.0, "}": 5.0, "|": 2.8, "%": 8.3, "&": 7.8, "_": 5.0, "#": 8.3,
}
_CHAR_WIDTH = {"(": 3.9, ")": 3.9, "[": 2.8, "]": 2.8, ",": 4.5, ".": 2.8, "/": 5.0, "'": 2.8, "|": 2.8,
               "+": 12.2, "-": 12.2, "=": 13.4, "<": 13.4, ">": 13.4, ":": 5.6, ";": 4.5, "!": 2.8, "*": 5.0}
_SCRIPT = 0.75          # a sub- or superscript's size, and the space after it
_TEXT_CHAR = 5.0        # a letter of \text{...} or \mathrm{...}
_SPACE_IN_TEXT = 3.3


def latex_width(tex: str, scale: float = 1.0, display: bool = True) -> float:
    """An estimate of the width in points of math ``tex`` typeset at 10pt (a little over, rather than
    under: a line estimated to fit does)."""
    total, k, last = 0.0, 0, 0.0
    while k < len(tex):
        ch = tex[k]
        if ch in "^_":   # a script: beside its base, the wider of a sub- and a superscript
            arg, k = _argument(tex, k + 1)
            w = latex_width(arg, scale * _SCRIPT, False)
            if last < 0:   # a second script on the same base
                total += max(0.0, w + last)
                last = 0.0
            else:
                total += w
                last = -w
            continue
        last = 0.0
        if ch == " ":
            k += 1
            continue
        if ch == "{":
            end = _group(tex, k)
            total += latex_width(tex[k + 1:end - 1], scale, display)
            k = end
            continue
        if ch == "\\":
            m = _CONTROL.match(tex, k)
            word, k = m.group(1), m.end()
            total += _control(word, tex, k, scale, display)
            k = _skip_arguments(word, tex, k)
            if word in ("sum", "prod") and display:
                # limits above and below: the wider of the sign and its limits
                lims = []
                while k < len(tex) and tex[k] in "^_":
                    arg, k = _argument(tex, k + 1)
                    lims.append(latex_width(arg, scale * _SCRIPT, False))
                total += max([0.0] + [w - 14.4 * scale for w in lims])
            continue
        total += _CHAR_WIDTH.get(ch, 7.6 if ch.isupper() else 5.2) * scale
        k += 1
    return total


def _argument(tex: str, k: int):
    """The argument that starts at ``k`` (a brace group, a control word or one character) and the index after it."""
    while k < len(tex) and tex[k] == " ":
        k += 1
    if k >= len(tex):
        return "", k
    if tex[k] == "{":
        end = _group(tex, k)
        return tex[k + 1:end - 1], end
    if tex[k] == "\\":
        m = _CONTROL.match(tex, k)
        return m.group(0), m.end()
    return tex[k], k + 1


def _control(word: str, tex: str, k: int, scale: float, display: bool) -> float:
    """The width of the control word ``word`` whose arguments start at ``k``."""
    if word == "frac":
        num, k = _argument(tex, k)
        den, k = _argument(tex, k)
        inner = scale if display else scale * _SCRIPT
        return max(latex_width(num, inner, False), latex_width(den, inner, False)) + 2.4 * scale
    if word in ("left", "right"):
        delim = tex[k:k + 1]
        return (1.2 if delim == "." else 6.5) * scale
    if word in ("mathrm", "operatorname", "mathit", "textrm"):
        arg, _ = _argument(tex, k)
        return len(re.sub(r"\\.", "x", arg)) * _TEXT_CHAR * scale + 1.7 * scale
    if word in ("text", "mbox", "textit", "emph"):
        arg, _ = _argument(tex, k)
        return text_width(arg) * scale
    if word in ("mathbf", "boldsymbol", "mathbb", "mathcal"):
        arg, _ = _argument(tex, k)
        return latex_width(arg, scale, display) * 1.15
    if word in ("hat", "bar", "tilde", "vec", "dot", "overline", "widehat", "widetilde"):
        arg, _ = _argument(tex, k)
        return latex_width(arg, scale, display)
    if word == "sqrt":
        arg, _ = _argument(tex, k)
        return latex_width(arg, scale, display) + 8.3 * scale
    if word in ("sum", "prod"):
        return (14.4 if display else 10.6) * scale
    if word in ("vphantom", "phantom"):
        return 0.0
    return _WORD_WIDTH.get(word, 6.5) * scale


def _skip_arguments(word: str, tex: str, k: int) -> int:
    """The index after the arguments ``_control`` measured with ``word``."""
    count = {"frac": 2, "mathrm": 1, "operatorname": 1, "mathit": 1, "textrm": 1, "text": 1, "mbox": 1, "textit": 1,
             "emph": 1, "mathbf": 1, "boldsymbol": 1, "mathbb": 1, "mathcal": 1, "hat": 1, "bar": 1, "tilde": 1,
             "vec": 1, "dot": 1, "overline": 1, "widehat": 1, "widetilde": 1, "sqrt": 1, "vphantom": 1,
             "phantom": 1}.get(word, 0)
    if word in ("left", "right"):
        while k < len(tex) and tex[k] == " ":
            k += 1
        if k < len(tex) and tex[k] == "\\":
            return _CONTROL.match(tex, k).end()
        return k + 1
    for _ in range(count):
        _, k = _argument(tex, k)
    return k


def text_width(words: str) -> float:
    """An estimate of the width in points of ``words`` set in \\text{...} at 10pt, math in $...$ included."""
    total = 0.0
    for k, part in enumerate(words.split("$")):
        if k % 2:
            total += latex_width(part, 1.0, False)
            continue
        part = re.sub(r"\\([&%$#_{}])", r"\1", part)
        part = re.sub(r"\\[A-Za-z]+\{\}|--", "-", part)
        total += sum(_SPACE_IN_TEXT if c == " " else _TEXT_CHAR * (0.8 if c in "iljtf.,;:'()" else 1.0)
                     for c in part)
    return total


def note_lines(note: str, width: float) -> list:
    """A note's words (LaTeX text, math in $...$) cut at spaces outside its math into lines of at most
    ``width`` points."""
    pieces, math = [], False
    current = ""
    for ch in note:
        if ch == "$" and not current.endswith("\\"):
            math = not math
        if ch == " " and not math:
            pieces.append(current)
            current = ""
        else:
            current += ch
    pieces.append(current)
    return wrap_words(pieces, width, text_width)


def latex_rows(rows: list, fact, width: float = LATEX_WIDTH, lhs: float | None = None) -> list:
    """The rows of one ``align*`` block, [(left, right, note)] as LaTeX, each long equation cut into lines
    that fit ``width`` points (a line after the first starts under the first's ``=``: with ``=`` where
    it broke before one, else a \\quad in, its sign first). The notes stand in a column of their own
    beside the equations where the block has room for one; else each after its equation's last line,
    or where that line has no room, on lines of its own below it. ``fact`` is the left side of a row
    that is a fact used (no "="); ``lhs``, where given, the width of the left sides' column (rows of a
    larger block aligned with these), else the widest of these rows' left sides."""
    if lhs is None:
        lhs = max([latex_width(left) for left, _, _ in rows if left and left is not fact] + [0.0])
    cut = []
    for left, right, note in rows:
        lead = 0.0 if left is fact else EQUALS_WIDTH
        first = width - lhs - lead
        pieces = latex_pieces(right, first, first - QUAD) if right else [(None, right)]
        lines = []
        for k, (kind, piece) in enumerate(pieces):
            if k == 0:
                if left is fact:
                    lines.append((f"&{piece}", latex_width(piece)))
                else:
                    lines.append((f"{left} &= {piece}" if left else f"&= {piece}", lead + latex_width(piece)))
            elif kind == EQUALS:
                lines.append((f"&{piece}", latex_width(piece)))
            else:
                lines.append((f"&\\quad {piece}", QUAD + latex_width(piece)))
        cut.append((lines, note))
    column = max([w for lines, _ in cut for _, w in lines] + [0.0])
    notes = [k for k, (_, note) in enumerate(cut) if note]
    room = width - lhs - column - MIN_ALIGN_SEP
    beside, inline, below = set(), set(), {}
    if all(text_width(cut[k][1]) <= room for k in notes):   # a column of notes beside the equations
        beside = set(notes)
    for k in notes if not beside else ():   # else each after its equation, or below it where that is full
        lines, note = cut[k]
        if lines[-1][1] + 2 * QUAD + text_width(note) <= width - lhs:
            inline.add(k)
        else:
            below[k] = note_lines(note, width - lhs - 2 * QUAD)
    out = []
    for k, (lines, note) in enumerate(cut):
        text = [line for line, _ in lines]
        if k in beside:
            text[0] += rf" && \text{{{note}}}"
        elif k in inline:
            text[-1] += rf" \qquad \text{{{note}}}"
        text += [rf"&\qquad \text{{{line}}}" for line in below.get(k, ())]
        out += text
    return out

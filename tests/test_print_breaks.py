"""Long equations broken over lines: in LaTeX before a top-level sign with each line balanced and within the
page (the standalone document has no overfull line), in the text view with the lines after the first hanging
under the right side."""

import pytest

from derive.network.examples import resolve
from derive.printing.breaks import (EQUALS, LATEX_WIDTH, PLUS, TIMES, latex_breaks, latex_pieces, latex_rows,
                                    latex_width, open_lefts, text_breaks, text_lines)
from derive.printing.document import FACT, sections, text_row, to_latex, to_latex_document

LONG = (r"\mathrm{onehot}\left(X\right)^{T} \left(\frac{1}{48} \delta^{[3]} + \frac{\partial J}{\partial "
        r"\hat{X}^{[2]}} \oslash \sigma^{[2]} - \frac{1}{48} \left(\sum_{k} \frac{\partial J}{\partial \hat{X}^{[2]}} "
        r"\odot \hat{X}^{[2]}\right) \odot \hat{X}^{[2]} \oslash \sigma^{[2]} - \frac{1}{48} \left(\sum_{k} "
        r"\frac{\partial J}{\partial \hat{X}^{[2]}}\right) \oslash \sigma^{[2]}\right)")


@pytest.fixture(scope="module")
def gpt():
    return resolve("gpt")[1].derive()


def test_latex_breaks_before_signs_never_after_a_sum_sign():
    breaks = latex_breaks(r"a = \sum_{k} b + c \odot \left(d - e\right) f")
    words = {b.at: b for b in breaks}
    text = r"a = \sum_{k} b + c \odot \left(d - e\right) f"
    assert {text[b.at + 1:].split(" ")[0]: (b.kind, b.depth) for b in words.values()} == {
        "=": (EQUALS, 0), "+": (PLUS, 0), r"\odot": (TIMES, 0), "-": (PLUS, 1), "f": (3, 0)}


def test_a_long_latex_side_is_cut_into_balanced_lines_that_fit():
    assert latex_width(LONG) > 400
    pieces = latex_pieces(LONG, 300, 290)
    assert len(pieces) >= 2
    for kind, piece in pieces:
        assert open_lefts(piece) == 0 and piece.count(r"\left") == piece.count(r"\right"), piece
        assert latex_width(piece) <= 300
    assert pieces[0][1].endswith(r" \right.") and pieces[0][1].startswith(r"\mathrm{onehot}\left(X\right)^{T} \left(")
    assert all(piece.startswith(r"\left. {} ") and kind in (PLUS, TIMES) for kind, piece in pieces[1:])


def test_a_short_block_keeps_its_column_of_notes():
    rows = [("a", "b", "why"), ("c", "d + e", "because")]
    assert latex_rows(rows, FACT) == [r"a &= b && \text{why}", r"c &= d + e && \text{because}"]


def test_a_block_too_wide_for_a_column_of_notes_puts_each_note_after_or_below_its_equation():
    rows = [(r"\delta", f"{LONG} + {LONG}", "a note of some length " * 3), ("a", "b", "short")]
    out = latex_rows(rows, FACT)
    assert out[0].startswith(r"\delta &= \mathrm{onehot}") and out[1].startswith(r"&\quad ")
    assert any(line.startswith(r"&\quad {} + \mathrm{onehot}") for line in out)
    assert r"\qquad \text{a note of some length" in "\n".join(out)
    assert out[-1] == r"a &= b \qquad \text{short}"
    assert not any("&&" in line for line in out)


def test_every_latex_line_of_a_long_derivation_is_estimated_to_fit(gpt):
    tex = to_latex(gpt, steps=True)
    for line in tex.splitlines():
        if line.startswith(("%", r"\begin", r"\end")):
            continue
        eq = line.rstrip(" \\").replace("&", "")
        assert latex_width(eq) <= LATEX_WIDTH + 60, line   # the note beside it measured as math: a little over
        assert line.count(r"\left") == line.count(r"\right"), line


@pytest.mark.parametrize("model", ["gpt", "gru", "makemore"])
def test_the_standalone_document_has_no_overfull_line_where_a_tex_engine_is(model, pdflatex):
    d = resolve(model)[1].derive()
    _, over = pdflatex(to_latex_document(d, steps=True, title=f"derivax: {model}"))
    assert not [w for w in over if w > 10], over


def test_text_breaks_before_signs_at_the_shallowest_depth():
    line = "δ₁ ⊙ (1 − u₁) ⊙ (h₁ W + b)"
    kinds = {line[b.at + 1]: (b.kind, b.depth) for b in text_breaks(line)}
    assert kinds == {"⊙": (TIMES, 0), "−": (PLUS, 1), "W": (3, 1), "+": (PLUS, 1)}


def test_a_long_text_line_hangs_under_its_right_side():
    right = " + ".join(f"δ{k} W{k}ᵀ" for k in range(1, 12))
    lines = text_lines("∂J/∂A₁ = ", right, 40)
    assert len(lines) > 1 and lines[0][0] == 0
    assert all(indent == len("∂J/∂A₁ = ") + 2 and piece.startswith("+ ") for indent, piece in lines[1:])
    assert all(indent + len(piece) <= 40 for indent, piece in lines)


def test_a_break_before_equals_puts_it_under_the_first():
    lines = text_lines("f′(Z) = ", "1 − tanh(Z)² ⊙ (1 + a + b + c + d) = 1 − A² ⊙ (1 + a + b + c + d)", 50)
    assert lines == [(0, "f′(Z) = 1 − tanh(Z)² ⊙ (1 + a + b + c + d)"), (6, "= 1 − A² ⊙ (1 + a + b + c + d)")]


@pytest.mark.parametrize("width", [60, 100])
def test_every_text_row_fits_its_panel_and_its_note_hangs_too(gpt, width):
    from rich.cells import cell_len
    for _, rows in sections(gpt, "text", None, True):
        for left, right, note in rows:
            lines = text_row(left, right, note, width)
            texts = ["".join(t for t, _ in line) for line in lines]
            long_pieces = [t for t in texts if cell_len(t) > width]
            # only a piece with no place to break (a long name) may run over
            assert all(" " not in t.strip() for t in long_pieces), long_pieces
            assert all(t.startswith(" ") for t in texts[1:]), texts


def test_the_text_panels_hang_their_wrapped_lines(gpt):
    from rich.cells import cell_len
    text = gpt.text(steps=True, width=100)
    lines = text.splitlines()
    assert {cell_len(line) for line in lines if line.startswith(("│", "╭", "╰"))} == {100}
    at = next(k for k, line in enumerate(lines) if line.startswith("│ ∂J/∂C₁ = onehot(X)ᵀ"))
    assert lines[at + 1].startswith("│" + " " * 22 + "− (1/48)")   # under the bracket's content

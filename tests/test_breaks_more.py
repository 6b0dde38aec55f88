"""Long equations broken where they are read: Markdown's $$ blocks and a notebook's display in ``aligned``
environments, the text view's continuations hung under the bracket they continue, the HTML report's lines
broken for its column, and the scalar view laid out at the terminal's width."""
import io
import re
from contextlib import redirect_stdout

import pytest
from rich.cells import cell_len

from derive.network.examples import resolve
from derive.printing.breaks import latex_width, text_lines
from derive.printing.document import markdown_math, to_jupyter_latex
from derive.printing.html import derivation_html, section_width

C1 = "onehot(X)ᵀ ((1/48) δ₃ + ∂J/∂X̂₂ ⊘ σ₂ − (1/48) (Σₖ ∂J/∂X̂₂ ⊙ X̂₂) ⊙ X̂₂ ⊘ σ₂ − (1/48) (Σₖ ∂J/∂X̂₂) ⊘ σ₂)"
# A screen's column of 800 px with KaTeX's display math at 1.21em of 16 px (10pt to the em), less 10%.
SCREEN_PT = 0.9 * 800 / (1.21 * 16) * 10


@pytest.fixture(scope="module")
def gpt():
    return resolve("gpt")[1].derive()


def _blocks(markdown: str) -> list:
    return re.findall(r"\$\$\n(.*?)\n\$\$", markdown, re.S)


# ---- Markdown and the notebook display ---------------------------------------------------------------

def test_a_long_markdown_row_is_an_aligned_block_and_a_short_one_stays_whole():
    # a, b, c, d are 5.2pt each, + 12.2pt, y = 18.6pt with its "=": the right side has 41.4pt, a + b + c is 40
    assert markdown_math("y", "a + b + c + d", width=60) == (
        "$$\n\\begin{aligned}\ny &= a + b + c \\\\\n&\\quad {} + d\n\\end{aligned}\n$$")
    assert markdown_math("y", "a + b + c + d", width=80) == "$$\ny = a + b + c + d\n$$"


def test_the_markdown_view_breaks_its_long_equations_for_a_screen(gpt):
    md = gpt.markdown()
    assert gpt._repr_markdown_() == md
    blocks = _blocks(md)
    assert r"\frac{\partial J}{\partial \beta^{[2]}} = \sum_{i,t} \delta^{[2]}" in blocks
    long = next(b for b in blocks if b.startswith("\\begin{aligned}\n\\frac{\\partial J}{\\partial C^{[1]}} &= "
                                                   "\\mathrm{onehot}"))
    lines = long.split("\n")[1:-1]
    assert len(lines) == 2 and lines[1].startswith(r"&\quad \left. {} - \frac{1}{48}")
    for block in blocks:
        assert set(re.findall(r"\\begin\{(\w+\*?)\}", block)) <= {"aligned"}   # what KaTeX and MathJax take
        if block.startswith("\\begin{aligned}"):
            for line in block.split("\n")[1:-1]:
                assert line.count(r"\left") == line.count(r"\right"), line
                assert latex_width(line.rstrip(" \\").replace("&", "")) <= SCREEN_PT, line


def test_the_markdown_math_compiles_where_pdflatex_is(gpt, pdflatex):
    body = "\n".join(f"\\[\n{b}\n\\]" for b in _blocks(gpt.markdown()) if b.strip())
    pdflatex("\\documentclass{article}\\usepackage{amsmath,amssymb}\\allowdisplaybreaks"
             f"\\begin{{document}}\n{body}\n\\end{{document}}\n")   # compiles without an error


def test_the_notebook_display_breaks_long_rows_under_its_headings(gpt):
    out = to_jupyter_latex(gpt)
    assert out.startswith("$$\\begin{aligned}&\\textbf{Forward pass} \\\\ ") and out.endswith("\\end{aligned}$$")
    rows = out[len("$$\\begin{aligned}"):-len("\\end{aligned}$$")].split(" \\\\ ")
    assert r"&\textbf{Gradients}" in rows
    at = rows.index(r"&\textbf{Gradients}") + 1
    assert rows[at].startswith(r"\frac{\partial J}{\partial C^{[1]}} &= \mathrm{onehot}\left(X\right)^{T} \left(")
    assert rows[at].endswith(r"\right.") and rows[at + 1].startswith(r"&\quad \left. {} - \frac{1}{48}")
    for row in rows:
        assert row.count(r"\left") == row.count(r"\right"), row
        assert latex_width(row.replace("&", "")) <= SCREEN_PT, row


# ---- the text view: a continuation hangs under its bracket ---------------------------------------------

def test_a_continuation_inside_a_bracket_hangs_under_the_brackets_content():
    lead = "∂J/∂C₁ = "
    under = cell_len(lead + "onehot(X)ᵀ (")
    assert under == 21
    assert text_lines(lead, C1, 76) == [
        (0, "∂J/∂C₁ = onehot(X)ᵀ ((1/48) δ₃ + ∂J/∂X̂₂ ⊘ σ₂ − (1/48) (Σₖ ∂J/∂X̂₂ ⊙ X̂₂) ⊙ X̂₂"),
        (under, "⊘ σ₂ − (1/48) (Σₖ ∂J/∂X̂₂) ⊘ σ₂)")]


def test_each_nesting_level_hangs_under_its_own_bracket():
    right = "relu(W₁ (x₁ + x₂ + x₃ + x₄ + x₅ + x₆ + x₇ + x₈ + x₉) + b₁)"
    assert text_lines("Z₁ = ", right, 36) == [
        (0, "Z₁ = relu(W₁ (x₁ + x₂ + x₃ + x₄ + x₅"),
        (len("Z₁ = relu(W₁ ("), "+ x₆ + x₇ + x₈ + x₉)"),
        (len("Z₁ = relu("), "+ b₁)")]


def test_a_bracket_too_far_right_leaves_the_plain_hanging_indent():
    lines = text_lines("∂J/∂C₁ = ", C1, 40)
    assert len(lines) > 2 and {indent for indent, _ in lines[1:]} == {len("∂J/∂C₁ = ") + 2}
    assert all(indent + cell_len(piece) <= 40 for indent, piece in lines)


def test_the_panels_hang_a_bracketed_continuation_under_its_bracket(gpt):
    lines = gpt.text(width=100).splitlines()
    at = next(k for k, line in enumerate(lines) if line.startswith("│ ∂J/∂C₁ = onehot(X)ᵀ ((1/48)"))
    assert lines[at + 1].startswith("│ " + " " * 21 + "− (1/48) (Σₖ ∂J/∂X̂₂) ⊘ σ₂)")


# ---- the HTML report: lines broken for its column --------------------------------------------------------

def test_the_html_column_in_points():
    # 800 px less two cells' padding of 16 px, at 17.6 px to the em of 10pt, less 10%
    assert section_width([("a", "b", "")]) == pytest.approx(0.9 * (800 - 32) / 17.6 * 10)
    assert section_width([("a", "b", r"because $\frac{\partial J}{\partial W^{[1]}}$")]) < 0.9 * (800 - 48) / 1.76


def test_the_html_page_breaks_a_row_the_latex_page_keeps_whole(gpt):
    # ∂J/∂C_pos is 429pt with its left side: within the LaTeX page's 440pt, but 755 px at 1.1rem, over the
    # column with the cells' padding
    tex = gpt.latex().splitlines()
    at = next(k for k, line in enumerate(tex) if line.startswith(r"\frac{\partial J}{\partial C_{pos}^{[1]}} &="))
    assert not tex[at + 1].startswith("&")
    grads = derivation_html(gpt).split("<h2>Gradients</h2>", 1)[1].split("</table>", 1)[0]
    cpos = grads.split("<tr>")[2]
    assert "<mi>p</mi><mi>o</mi><mi>s</mi>" in cpos.split("</td>")[0]
    assert cpos.count('<div class="line') == 2, cpos[:300]


# ---- the scalar view at the terminal's width -------------------------------------------------------------

def test_the_scalar_view_is_laid_out_at_the_width_columns_gives(monkeypatch):
    from compile.cli.main import main
    monkeypatch.setenv("COLUMNS", "40")
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["show", "1-3:softmax", "--scalar"]) == 0
    lines = out.getvalue().splitlines()
    assert max(cell_len(line) for line in lines) <= 40
    at = lines.index("a¹₁ = exp(z¹₁)/(exp(z¹₁) + exp(z¹₂)")
    assert lines[at + 1] == " " * cell_len("a¹₁ = exp(z¹₁)/(") + "+ exp(z¹₃))"
    assert "── Per-weight gradients (one example) ──" in lines
    assert lines[-2:] == ["PASS: matrix-form gradients expanded", "  at m = 2 equal the scalar derivatives"]


@pytest.mark.parametrize("columns, width", [(None, 100), ("abc", 100), ("5", 20), ("72", 72), ("5000", 1000)])
def test_the_text_width_off_a_terminal(monkeypatch, columns, width):
    from compile.cli.show import text_width
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert text_width() == width

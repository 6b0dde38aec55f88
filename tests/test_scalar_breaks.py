"""The scalar view's long equations broken as the derivation's own are: in LaTeX to the standalone document's
page, in Markdown to a screen's column, each line's \\left and \\right balanced; and the breaker fast on an
equation hundreds of lines long."""
import re

import pytest

from derive.network.examples import resolve
from derive.printing.breaks import PLUS, Break, choose
from derive.printing.document import to_latex_document
from derive.scalar.expand import scalar_view

# One term of the loss below: "-" 12.2, y_k 9.1, \log 14.5, \left( and \right) 6.5 each, a^{[2]}_k 13.3 (the
# scripts share one place): 62.1pt. The LaTeX page leaves J's right side 440 − 7.6 (J) − 13.4 ("=") = 419pt,
# room for 6 terms (372.6) but not 7 (434.7); a screen's column, 371.9 − 21 = 350.9pt, for 5 but not 6.
TERMS = [rf"- y_{{{k}}} \log{{\left(a^{{[2]}}_{{{k}}} \right)}}" for k in range(1, 10)]


@pytest.fixture(scope="module")
def view():
    return scalar_view(resolve("1-1:tanh-9:softmax")[1].derive())   # 20 weights: well inside the view's limit


def test_the_scalar_latex_breaks_a_long_equation_at_the_page_width(view):
    tex = view.render("latex")
    assert ("\\begin{align*}\n"
            f"J &= {' '.join(TERMS[:6])} \\\\\n"
            f"&\\quad {{}} {' '.join(TERMS[6:])}\n"
            "\\end{align*}") in tex
    # a row that fits stays whole, as before
    assert "z^{[1]}_{1} &= b^{[1]}_{1} + w^{[1]}_{1} x_{1} \\\\\n" in tex
    assert (r"\delta^{[1]}_{1} &= \left(1 - \left(a^{[1]}_{1}\right)^{2}\right) \left(w^{[2]}_{1} \delta^{[2]}_{1} + "
            r"w^{[2]}_{2} \delta^{[2]}_{2}") in tex


def test_the_scalar_markdown_breaks_to_a_screen_and_balances_its_brackets(view):
    md = view.render("markdown")
    assert ("$$\n\\begin{aligned}\n"
            f"J &= {' '.join(TERMS[:5])} \\\\\n"
            f"&\\quad {{}} {' '.join(TERMS[5:])}\n"
            "\\end{aligned}\n$$\n") in md
    # a sum inside a bracket: the first line closes it with \right., the next reopens it with \left.
    inner = " + ".join(rf"w^{{[2]}}_{{{k}}} \delta^{{[2]}}_{{{k}}}" for k in range(1, 8))
    lead = r"\delta^{[1]}_{1} &= \left(1 - \left(a^{[1]}_{1}\right)^{2}\right) \left("
    assert ("$$\n\\begin{aligned}\n"
            rf"{lead}{inner} \right. \\" "\n"
            r"&\quad \left. {} + w^{[2]}_{8} \delta^{[2]}_{8} + w^{[2]}_{9} \delta^{[2]}_{9}\right)" "\n"
            "\\end{aligned}\n$$\n") in md
    assert "$$\nz^{[1]}_{1} = b^{[1]}_{1} + w^{[1]}_{1} x_{1}\n$$\n" in md   # a short row: one line, as before
    for block in re.findall(r"\$\$\n(.*?)\n\$\$", md, re.S):
        for line in block.split("\n"):
            assert line.count(r"\left") == line.count(r"\right"), line


def test_the_scalar_view_in_the_standalone_document_compiles_without_overfull_lines(view, pdflatex):
    md = view.render("markdown")
    display = "\n".join(f"\\[\n{b}\n\\]" for b in re.findall(r"\$\$\n(.*?)\n\$\$", md, re.S))
    doc = to_latex_document(view.derivation, title="derivax: 1-1:tanh-9:softmax",
                            more=view.render("latex") + display)
    _, over = pdflatex(doc)
    assert not [w for w in over if w > 10], over


def _sum(n: int):
    """'x + x + ... + x' (n terms) and its breaks, before each '+'."""
    text = " + ".join(["x"] * n)
    return text, [Break(k, PLUS, 0) for k in range(1, len(text), 4)]


def test_a_growing_width_gives_the_same_breaks_measuring_only_near_each_line():
    text, breaks = _sum(60)   # 237 characters
    for first, rest in ((40, 30), (25, 50), (7, 7), (3, 3)):
        assert choose(text, breaks, len, first, rest, grows=True) == choose(text, breaks, len, first, rest)
    # 10 terms (37 characters) in the first line's 40, then 7 ("+ x" after "x", 27 characters) in each 30
    assert [b.at for b in choose(text, breaks, len, 40, 30, grows=True)][:3] == [37, 65, 93]
    text, breaks = _sum(3000)   # 8 terms on the first line, 7 on each of the 428 after it
    calls = []

    def width(s):
        calls.append(s)
        return len(s)
    taken = choose(text, breaks, width, 30, 30, grows=True)
    assert len(taken) == 428 and [b.at for b in taken[:2]] == [29, 57]
    # no piece measured runs far past a line, and a few dozen measures a line, not one for every place left
    assert max(len(c) for c in calls) <= 2 * 30 and len(calls) < 60 * 429


def test_the_standalone_document_holds_the_scalar_view_before_it_ends(capsys):
    from compile.cli.main import main
    assert main(["show", "1-1:tanh-1", "--scalar", "--format", "latex", "--standalone"]) == 0
    out = capsys.readouterr().out
    body, after = out.split("\\end{document}")
    assert after.strip() == ""
    assert "\\subsection*{Per-weight gradients (one example)}" in body
    assert "PASS: matrix-form gradients expanded at m = 2 equal the scalar derivatives\\par" in body
    assert body.index("\\frac{\\partial J}{\\partial w^{[1]}_{1}} &= 2 x_{1} \\delta^{[1]}_{1}") > body.index(
        "\\subsection*{Per-weight gradients (one example)}")

"""How a derivation and its nodes show in Jupyter and IPython: short reprs, headed LaTeX and Markdown,
text captured (not displayed) inside a notebook, Markdown notes that stay literal."""
import pytest

from derive import Dense, Network


@pytest.fixture(scope="module")
def d():
    return Network(2, [Dense(3, "tanh"), Dense(2, "softmax")]).derive()


def test_repr_is_one_short_line(d):
    assert repr(d) == "<Derivation of 2-3-2 (rows, loss ce): gradients W1, b1, W2, b2; error signals delta2, delta1>"


def test_latex_display_has_a_heading_per_section(d):
    out = d._repr_latex_()
    assert out.startswith("$$\\begin{aligned}&\\textbf{Forward pass}")
    for title in ("Loss (categorical cross-entropy)", "Error signals", "Gradients"):
        assert f"&\\textbf{{{title}}}" in out
    assert "\\frac{\\partial J}{\\partial W^{[1]}} &= \\frac{1}{m} X^{T} \\delta^{[1]}" in out


def test_markdown_display_is_the_markdown_view(d):
    assert d._repr_markdown_() == d.markdown() and "### Gradients" in d._repr_markdown_()


def test_a_node_shows_its_formula_not_its_op_tree(d):
    assert d["W1"]._repr_latex_() == "$\\frac{1}{m} X^{T} \\delta^{[1]}$"

    class Printer:
        def __init__(self):
            self.out = ""

        def text(self, s):
            self.out += s
    p = Printer()
    d["W1"]._repr_pretty_(p, False)
    assert p.out == "(1/m) Xᵀ δ₁"


def test_text_is_captured_inside_jupyter(d, monkeypatch):
    import rich.console
    monkeypatch.setattr(rich.console, "_is_jupyter", lambda: True)
    assert "∂J/∂W₁ = (1/m) Xᵀ δ₁" in d.text()


def test_markdown_notes_keep_formulas_literal():
    d = Network(2, [Dense(2, "(z*sigmoid(z))"), Dense(1, "sigmoid")], loss="bce").derive()
    md = d.markdown(steps=True)
    assert "z\\*sigmoid(z)" in md and "*chain rule through z*sigmoid" not in md


@pytest.mark.parametrize("model", ["xor", "makemore", "3-emb5x4-att1-5:softmax", "2x1-rnn1-1:sigmoid"])
def test_the_standalone_latex_document_is_ascii_and_compiles_where_a_tex_engine_is(model, tmp_path):
    import shutil
    import subprocess
    from derive.network.examples import resolve
    from derive.printing.document import to_latex_document
    d = resolve(model)[1].derive()
    doc = to_latex_document(d, steps=True, title=f"derivax: {model}")
    assert doc.startswith("\\documentclass") and doc.rstrip().endswith("\\end{document}")
    assert doc.isascii(), [line for line in doc.splitlines() if not line.isascii()][:3]
    assert "\\subsection*{Steps}" in doc
    engine = shutil.which("pdflatex")
    if engine is None:
        pytest.skip("no pdflatex on this machine: the document is checked to be ASCII only")
    (tmp_path / "d.tex").write_text(doc)
    done = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", "d.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]


def test_latex_text_escapes_and_maps_unicode():
    from derive.printing.document import latex_text
    assert latex_text("50% of x_1 & δ₂ ⊙ Σᵢ") == "50\\% of x\\_1 \\& $\\delta$$_2$ $\\odot$ $\\Sigma$$_i$"
    assert latex_text("ℵ") == "?"

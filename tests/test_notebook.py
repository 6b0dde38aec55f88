"""The example notebook runs (nbclient, a real kernel) and shows what a notebook user expects: the
derivation as LaTeX with a heading per section, a gradient as a formula, the terminal view as text."""
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "derivation.ipynb"


def test_the_example_notebook_runs_and_displays_the_derivation():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(o.output_type != "error" for c in code for o in c.outputs)
    latex = code[0].outputs[0].data["text/latex"]
    assert "\\textbf{Forward pass}" in latex and "\\textbf{Gradients}" in latex
    assert code[1].outputs[0].data["text/latex"] == "$\\frac{1}{m} X^{T} \\delta^{[1]}$"
    assert "∂J/∂W₁ = (1/m) Xᵀ δ₁" in code[2].outputs[0].text   # d.text() inside the kernel: not empty
    assert code[3].outputs[0].data["text/plain"] == "True"
    assert "accuracy 100%" in code[4].outputs[0].text

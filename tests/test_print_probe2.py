"""Printed output at its edges: a panel title wider than a narrow terminal, long equations in the HTML page,
the kinks note of a network without relu, a long spec as a LaTeX section title, the ASCII scalar view's
layer and unit."""
import io
import re
import subprocess

from rich.console import Console

from derive import Dense, Network
from derive.network.examples import resolve
from derive.printing.document import to_latex_document
from derive.printing.html import STYLE, derivation_html
from derive.printing.plain import spell

LONG = "10-20:tanh-20:(z*tanh(log(1+exp(z))))-20:(z/(1+exp(-z)))-5:sigmoid"


def _derive(spec):
    return resolve(spec, None, None, None, None, None)[1].derive("rows")


def _printed(d, width):
    console = Console(width=width, file=io.StringIO(), force_terminal=True, color_system=None)
    d.print(console=console)
    return console.file.getvalue()


# ---- 1. a panel title too wide for the terminal keeps its content --------------------------------------

def test_a_title_too_wide_keeps_its_legend_as_the_panels_first_lines():
    out = _printed(_derive("cnn"), 60)
    lines = out.splitlines()
    top = next(k for k, line in enumerate(lines) if "Index form" in line)
    assert lines[top].startswith("╭─ Index form ─") and lines[top].endswith("─╮")
    legend = " ".join(line.strip("│ ") for line in lines[top + 1:top + 3])
    assert legend == "(i: example; y, x or t: position; c: channel; u, v: kernel offset)"
    assert all(len(line) <= 60 for line in lines)


def test_a_title_that_fits_stays_on_the_border():
    out = _printed(_derive("cnn"), 100)
    assert "╭─ Index form (i: example; y, x or t: position; c: channel; u, v: kernel offset) ─" in out


def test_a_title_with_no_short_head_is_cut_with_an_ellipsis_and_kept_whole_below():
    from derive.printing.document import panel_title
    title, rest = panel_title("Averyveryverylongheadingwithoutanyparenthesis", 30)
    assert title.endswith("…") and len(title) <= 24
    assert "".join(rest) == "Averyveryverylongheadingwithoutanyparenthesis"


# ---- 2. the HTML page breaks long equations and scrolls them on their own ------------------------------

def test_html_breaks_a_long_equation_and_scrolls_the_equations_not_the_page():
    page = derivation_html(_derive(LONG))
    assert 'class="line more"' in page or 'class="line"' in page
    assert page.count('<div class="eqs">') == page.count('<table class="eq">') > 0
    assert re.search(r"div\.eqs\s*\{[^}]*overflow-x:\s*auto", STYLE)


def test_html_leaves_a_short_equation_on_one_line():
    page = derivation_html(Network(2, [Dense(2, "tanh"), Dense(1, "sigmoid")], loss="bce").derive())
    assert 'class="line' not in page


# ---- 3. the kinks note names the network's own kinked activations ---------------------------------------

def test_kinks_note_of_a_step_network_names_step_not_relu():
    text = _derive("2-3:(step(z))-1:sigmoid").text()
    assert text.endswith("Kinks: a jump adds no gradient: step′(0) = 0.\n")
    assert "relu" not in text


def test_kinks_note_names_each_kinked_activation_with_its_own_value():
    text = _derive("2-3:leaky_relu-3:(abs(z))-1:sigmoid").text(width=200)
    note = text.split("Kinks: ")[1]
    assert note == ("at a kink the derivative takes its value from the left: leaky_relu′(0) = 1/100; "
                    "abs′(0) = sign(0) = 0, the mean of its two sides.\n")
    assert "Kinks: at a kink the derivative takes its value from the left: relu′(0) = step(0) = 0.\n" \
        in _derive("2-3:relu-1:sigmoid").text()
    assert "Kinks" not in _derive("2-3:tanh-1:sigmoid").text()


# ---- 4. a long spec as the LaTeX section title breaks --------------------------------------------------

def test_the_section_title_may_break_after_each_dash_and_colon():
    doc = to_latex_document(_derive("2-1:sigmoid"), title=f"derivax: {LONG}")
    section = next(line for line in doc.splitlines() if line.startswith(r"\section*"))
    assert section.startswith(r"\section*{\raggedright derivax:\allowbreak{} 10-\allowbreak{}20:\allowbreak{}tanh")


def test_the_long_section_title_is_no_overfull_line_where_a_tex_engine_is(pdflatex):
    doc = to_latex_document(_derive("2-1:sigmoid"), title=f"derivax: {LONG}")
    log, _ = pdflatex(doc)
    at = next(k for k, line in enumerate(doc.splitlines(), 1) if line.startswith(r"\section*"))
    assert f"in paragraph at lines {at}--{at}" not in log


# ---- 5. the ASCII scalar view writes layer and unit apart ----------------------------------------------

def test_ascii_scalar_names_read_as_layer_and_unit_not_powers():
    assert spell("∂J/∂w¹₂₂ = a¹₁ δ¹₂") == "dJ/dw[1]_22 = a[1]_1 delta[1]_2"
    assert spell("a¹₁²") == "a[1]_1^2"
    assert spell("A₁² δ₂⁽ⁱ⁾") == "A1^2 delta2^(i)"


def test_ascii_scalar_view_on_the_command_line():
    import os
    import sys
    code = "import sys; from compile.cli.main import console; sys.argv = ['derivax'] + sys.argv[1:]; console()"
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    done = subprocess.run([sys.executable, "-c", code, "show", "2-2:tanh-1:sigmoid", "--scalar"],
                          capture_output=True, env=env, timeout=300)
    out = done.stdout.decode("ascii")
    assert "dJ/dw[1]_11 = x1 delta[1]_1" in out and "a^11" not in out

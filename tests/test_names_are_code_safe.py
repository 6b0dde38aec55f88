"""Every name a node gets is printed into generated Python; a name a model file chooses (a recurrent cell's
gate, state part or pre-activation) must not be able to end a string or a statement there."""
import subprocess
import sys

import pytest

from derive import Dense, Network
from derive.graph.names import Name
from derive.network.recurrent import Recurrent

BAD = ['f"); import os; os.system("touch PWNED"); ("', "my gate", "a\nb", "", "1x", "g-1", "é"]


@pytest.mark.parametrize("base", BAD)
def test_a_name_that_is_no_python_name_is_refused(base):
    with pytest.raises(ValueError, match="cannot name a node: a name is ASCII letters, digits and _"):
        Name(base, 1)


@pytest.mark.parametrize("base", ["W", "delta", "xhat", "dJdh", "Wx_f", "a2b"])
def test_names_of_letters_digits_and_underscores_are_taken(base):
    assert Name(base, 1, 0).base == base


def test_a_gate_named_with_code_is_refused_and_nothing_runs(tmp_path):
    model = tmp_path / "cell.py"
    marker = tmp_path / "PWNED"
    model.write_text(
        "from derive import Network, Dense\n"
        "from derive.network.recurrent import Recurrent\n"
        "def step(s):\n"
        f"    f = s.gate('f\"); import os; os.system(\"touch {marker}\"); (\"', 'sigmoid')\n"
        "    return f * s.h\n"
        "net = Network((3, 2), [Recurrent(3, step), Dense(2, 'softmax')], loss='ce')\n")
    out = tmp_path / "out.py"
    done = subprocess.run([sys.executable, "-m", "compile.cli.main", "codegen", str(model), "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "cannot name a node" in done.stderr
    assert not out.exists() and not marker.exists()


def test_a_cell_with_plain_names_still_builds():
    def step(s):
        f = s.gate("forget", "sigmoid")
        return f * s.h
    net = Network((3, 2), [Recurrent(3, step), Dense(2, "softmax")], loss="ce")
    assert "Wxforget1" in net.derive().grads


@pytest.mark.parametrize("argv, says", [
    (["codegen", "2-3:tanh-1:sigmoid", "-o", "."], "-o .: needs a file name (such as out.py)"),
    (["codegen", "2-3:tanh-1:sigmoid", "-o", ".py"], "-o .py: needs a file name (such as out.py)"),
    (["codegen", "2-3:tanh-1:sigmoid", "-o", "{missing}/x.py"], "the folder {missing} does not exist"),
    (["codegen", "2-3:tanh-1:sigmoid", "-o", "{tmp}"], "is a folder; give a file name in it"),
    (["report", "2-3:tanh-1:sigmoid", "-o", "{missing}/r.html"], "the folder {missing} does not exist"),
    (["report", "2-3:tanh-1:sigmoid", "-o", ".html"], "-o .html: needs a file name (such as out.html)"),
])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(tmp_path, capsys, argv, says):
    from compile.cli.main import main
    fill = {"missing": str(tmp_path / "nope"), "tmp": str(tmp_path)}
    assert main([a.format(**fill) for a in argv]) == 2
    err = capsys.readouterr().err
    assert says.format(**fill) in err and "Traceback" not in err


def test_codegen_to_a_dash_writes_to_standard_output(capsys):
    from compile.cli.main import main
    assert main(["codegen", "2-3:tanh-1:sigmoid", "-o", "-"]) == 0
    assert capsys.readouterr().out.startswith('"""Trainer for 2-3:tanh-1:sigmoid')


def test_a_layers_name_cannot_run_latex_or_markdown():
    # a recurrent layer's name is shown in the layout lines: in LaTeX they are comments, which a line break in the
    # name would end (handing "\input{...}" to TeX); in Markdown, Pandoc passes a bare \input on to LaTeX
    from derive.printing.document import to_latex, to_markdown
    name = "A\n\\input{/etc/hostname}\r\\def\\x{1}"
    net = Network((3, 2), [Recurrent(2, lambda s: s.gate("f", "tanh"), name=name), Dense(1)], loss="mse")
    d = net.derive()
    latex = to_latex(d)
    lines = latex.splitlines()
    assert not [line for line in lines if "\\input" in line and not line.startswith("% ")]
    assert any(line.startswith("% layer 1: A \\input{/etc/hostname} \\def\\x{1}, 2 units") for line in lines)
    md = to_markdown(d)
    assert "layer 1: A \\\\input\\{/etc/hostname\\} \\\\def\\\\x\\{1\\}, 2 units" not in md   # braces are left as they are
    assert "layer 1: A \\\\input{/etc/hostname} \\\\def\\\\x{1}, 2 units" in md

"""Every name a node gets is printed into generated Python; a name a model file chooses (a recurrent cell's
gate, state part or pre-activation) must not be able to end a string or a statement there."""
import subprocess
import sys

import numpy as np
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


# ---- names a custom layer chooses --------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["class", "None", "lambda", "jnp", "params", "m", "sigma", "t3", "d0", "out1"])
def test_a_name_the_generated_code_keeps_for_itself_is_refused(text):
    with pytest.raises(ValueError, match=f"^'{text}' cannot name a node: "):
        Name(text)


def test_text_of_letters_and_digits_is_read_as_a_layers_name():
    from derive.graph.names import as_name
    assert [(as_name(t), as_name(t).base, as_name(t).layer) for t in ("W3", "Wq12", "x1y", "gate")] == \
        [("W3", "W", 3), ("Wq12", "Wq", 12), ("x1y", "x1y", None), ("gate", "gate", None)]


class Custom:
    """A custom layer whose parameter the model names."""

    def __init__(self, name):
        self.name = name

    def build(self, g, inp, adds=()):
        from derive.graph.build import matmul
        return matmul(inp, g.param(self.name, (2, 3), 1, "weight", (2, 3), "he"))


@pytest.mark.parametrize("name", ['x"]; import os; os.system("echo PWNED"); #', "W1; import os", "a b", "", "W\n",
                                  "ü", "class", "jnp"])
def test_a_custom_layers_parameter_name_is_checked_where_it_enters(name):
    from derive.network.functions import NetworkError
    with pytest.raises(NetworkError, match=r"^layer 1 \(Custom\): parameter .* cannot name a node: "):
        Network(2, [Custom(name), Dense(1)], loss="mse")


@pytest.mark.parametrize("make", ["named", "leaf"])
def test_a_node_a_custom_layer_names_with_code_is_refused(make):
    from derive.graph.build import leaf, named
    from derive.network.functions import NetworkError

    class Naming:
        def build(self, g, inp, adds=()):
            if make == "named":
                return named(g.dense(inp, 3, "tanh"), 'h"); import os; ("', "act")
            return inp + leaf('h"); import os; ("', (1, 2), "const")
    with pytest.raises(NetworkError, match=r"^layer 1 \(Naming\): 'h\"\); import os; \(\"' cannot name a node"):
        Network(2, [Naming(), Dense(1)], loss="mse")


def test_a_custom_parameter_named_with_code_stops_codegen_and_nothing_runs(tmp_path, capsys):
    from compile.cli.main import main
    model, marker, out = tmp_path / "inj.py", tmp_path / "PWNED", tmp_path / "out.py"
    model.write_text(
        "from derive import Network, Dense\n"
        "from derive.graph.build import matmul\n"
        "class Custom:\n"
        "    def build(self, g, inp, adds=()):\n"
        f"        return matmul(inp, g.param('params[__import__(\"os\").system(\"touch {marker}\")]', (2, 3), 1, "
        "'weight', (2, 3), 'he'))\n"
        "net = Network(2, [Custom(), Dense(1)], loss='mse')\n")
    assert main(["codegen", str(model), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "layer 1 (Custom): parameter 'params[__import__" in err and "cannot name a node" in err
    assert not out.exists() and not marker.exists()


def test_a_parameter_named_as_another_ones_gradient_variable_gets_its_own_gradient():
    # dW1, a custom layer's parameter, and the gradient of W1 were one variable of the generated code: the gradient
    # overwrote the parameter, and dJ/d(dW1)'s decay term read it (JAX refused the shapes, (2, 3) and (3, 1))
    from derive.graph.build import matmul
    from compile.lowering.lower import lower

    class Last:
        def build(self, g, inp, adds=()):
            return g.add_layer(matmul(inp, g.param("dW1", (3, 1), 2, "weight", (3, 1), "glorot")), lambda z: z * 1)
    lowered = lower(Network(2, [Dense(3), Last()], loss="mse", l2=0.5).derive())
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(4, 2)), rng.normal(size=(4, 1))
    W, b, P = rng.normal(size=(2, 3)), rng.normal(size=(1, 3)), rng.normal(size=(3, 1))
    got = lowered.grads({"W1": W, "b1": b, "dW1": P}, X, Y)
    m, lam = 4, 0.5
    A1 = X @ W + b
    dA = 2 * (A1 @ P - Y) / m   # J = (1/m) Σ (A - Y)² + (λ/(2m)) (ΣW1² + ΣdW1²), by hand
    want = {"W1": X.T @ dA @ P.T + lam / m * W, "b1": (dA @ P.T).sum(0, keepdims=True), "dW1": A1.T @ dA + lam / m * P}
    for k, v in want.items():
        np.testing.assert_allclose(np.asarray(got[k]), v, rtol=1e-4, atol=1e-6)


# ---- the generated code's last check -------------------------------------------------------------------------------

def test_a_node_named_with_code_is_never_written_into_generated_code(tmp_path):
    # a node made directly (no check where names enter) still never becomes code: lowering refuses its name
    from derive.graph.build import Node, named
    from compile.lowering.lower import lower_nodes
    marker = tmp_path / "PWNED"
    code = f'__import__("os").system("touch {marker}")'
    bad_leaf = Node("leaf", (), (1, 2), name=f"a=0; {code}; b", role="param")
    with pytest.raises(ValueError, match=r"^cannot lower a node named 'a=0; __import__"):
        lower_nodes({"out": bad_leaf * 2}, [bad_leaf], "float32")
    good = Node("leaf", (), (1, 2), name="a", role="param")
    with pytest.raises(ValueError, match=r"^cannot lower a node named 'h = 1\\n"):
        lower_nodes({"out": named(good * 2 + 1, f"h = 1\n{code}\nh", "act") * 3}, [good], "float32")
    assert not marker.exists()


def test_comments_and_docstrings_of_generated_code_hold_one_line_of_shown_characters():
    from compile.lowering.lower import one_line
    assert one_line("A₁ = tanh(Z₁)\nimport os\r\u2028x\u202eyz\x00") == "A₁ = tanh(Z₁) import os  x?yz?"

"""User-chosen text that reaches printouts and messages: a custom layer's failures said with the layer, LaTeX's
special characters written as themselves, names that would hide text, and echoes of long text cut short."""
import re

import numpy as np
import pytest
import sympy as sp

from derive import Dense, Network
from derive.graph.build import matmul
from derive.network.functions import NetworkError


class Linear:
    """A custom layer: inp @ P, P named by the model."""

    def __init__(self, name="P"):
        self.name = name

    def build(self, g, inp, adds=()):
        return matmul(inp, g.param(self.name, (2, 3), 1, "weight", (2, 3), "glorot"))


class Boom:
    def build(self, g, inp, adds=()):
        return {}["missing"]


class NoAdds:
    def build(self, g, inp):
        return g.dense(inp, 3, "tanh")


class Returns3:
    def build(self, g, inp, adds=()):
        return 3


def test_what_a_custom_build_raises_is_said_with_the_layers_position_and_class():
    with pytest.raises(NetworkError, match=r"^layer 2 \(Boom\): build raised KeyError: 'missing'$"):
        Network(2, [Dense(2), Boom(), Dense(1)], loss="mse")


def test_a_build_without_adds_is_said_with_the_layer():
    with pytest.raises(NetworkError, match=r"^layer 1 \(NoAdds\): build must take \(g, inp, adds\)"):
        Network(2, [NoAdds(), Dense(1)], loss="mse")


def test_a_build_that_returns_no_node_is_said_with_the_layer():
    with pytest.raises(NetworkError, match=r"^layer 1 \(Returns3\): build returned 3, not a graph node"):
        Network(2, [Returns3(), Dense(1)], loss="mse")


def test_a_builders_own_refusal_inside_a_custom_build_names_the_custom_layer_too():
    class Bad:
        def build(self, g, inp, adds=()):
            return g.dense(inp, 3, "nosuch")
    with pytest.raises(NetworkError, match=r"^layer 1 \(Bad\): layer 1 \(Dense 3\): unknown activation 'nosuch'"):
        Network(2, [Bad(), Dense(1)], loss="mse")


def test_a_parameter_named_by_text_without_layer_digits_expands_to_scalars():
    # "x1y" is a name Name accepts; as plain text it had no (base, layer) parts and the scalar expansion (verify's
    # exact reference) failed with "cannot unpack non-iterable NoneType object"
    from derive.scalar.expand import Expander
    net = Network(2, [Linear("x1y"), Dense(1)], loss="mse")
    model = net.build()
    assert [(str(p.name), p.name.base, p.name.layer) for p in model.params][0] == ("x1y", "x1y", None)
    ex = Expander(model, 2, False, None)
    J = ex(model.J)[0, 0]
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(2, 2)), rng.normal(size=(2, 1))
    P, W, b = rng.normal(size=(2, 3)), rng.normal(size=(3, 1)), rng.normal(size=(1, 1))
    values = {}
    for node, v in [(model.X, X), (model.Y, Y), *zip(model.params, (P, W, b))]:
        values.update(zip(list(ex.symbols(node)), v.ravel()))
    expected = np.sum((X @ P @ W + b - Y) ** 2) / 2   # mse: the mean over the batch of the squared error
    assert float(J.xreplace({s: sp.Float(v) for s, v in values.items()})) == pytest.approx(expected, rel=1e-12)


def test_a_parameter_typed_as_letters_and_digits_is_that_layers_name():
    model = Network(2, [Linear("V7"), Dense(1)], loss="mse").build()
    name = model.params[0].name
    assert (str(name), name.base, name.layer) == ("V7", "V", 7)


# ---- LaTeX and Markdown -------------------------------------------------------------------------------------------

def test_latex_names_write_every_special_character_as_itself():
    from derive.network.scalar_functions import latex_name
    assert latex_name("a\\b{c}^~%&$#_d") == r"a\backslash{}b\{c\}\hat{}\tilde{}\%\&\$\#\_d"
    assert latex_name("leaky_relu") == r"leaky\_relu"


def test_latex_words_write_every_special_character_as_itself():
    from derive.printing.notations import LatexPrinter
    assert LatexPrinter().words("q}\\input{x}^~ 5% & $1 #2_3 – a") == \
        r"q\}\textbackslash{}input\{x\}\textasciicircum{}\textasciitilde{} 5\% \& \$1 \#2\_3 -- a"


def test_a_derivative_of_a_function_named_with_braces_is_no_latex_command():
    from derive.printing.notations import LatexPrinter
    assert LatexPrinter().derivative_call("tanh(q}\\input{h}", "Z") == \
        r"\mathrm{tanh(q\}\backslash{}input\{h\}}'\left(Z\right)"


def test_a_custom_layers_activation_label_cannot_run_latex_or_markdown():
    from derive.printing.document import to_latex, to_markdown

    class Labelled:
        def build(self, g, inp, adds=()):
            W = g.param("W1", (2, 3), 1, "weight", (2, 3), "glorot")
            return g.add_layer(matmul(inp, W), lambda z: z * z, activation="sq}\\input{/etc/hostname}\\iffalse{")
    d = Network(2, [Labelled(), Dense(1)], loss="mse").derive()
    said = r"chain rule through sq\}\textbackslash{}input\{/etc/hostname\}\textbackslash{}iffalse\{ (layer 1)"
    latex, md = to_latex(d, steps=True), to_markdown(d, steps=True)
    assert said in latex and said in md
    assert "}\\input" not in latex and "}\\input" not in md


@pytest.mark.parametrize("name", ["q}\\input{/etc/hostname}\\mathrm{", "a b", "z'"])
def test_an_activations_lambda_variable_must_be_a_plain_name(name):
    v = sp.Symbol(name)
    with pytest.raises(NetworkError, match=r"^layer 1 \(Dense 3\): the activation: the Lambda's variable .* is no "
                                           r"plain name .*sp\.Symbol\('z'\)"):
        Network(2, [Dense(3, sp.Lambda(v, sp.tanh(v))), Dense(1, "sigmoid")], loss="bce")


def test_a_losss_lambda_variables_must_be_plain_names():
    yh, y = sp.Symbol("<b>yh"), sp.Symbol('"y')
    with pytest.raises(NetworkError, match=r"^the loss: the Lambda's variable '<b>yh' is no plain name"):
        Network(2, [Dense(1)], loss=sp.Lambda((yh, y), (yh - y) ** 2))


def test_a_lambda_of_a_plain_variable_still_derives():
    q = sp.Symbol("q")
    d = Network(2, [Dense(3, sp.Lambda(q, sp.tanh(q))), Dense(1, "sigmoid")], loss="bce").derive()
    assert "W1" in d.grads


def test_a_loss_formulas_text_in_a_notebooks_heading_is_no_latex_command(monkeypatch):
    # a section's title holds the loss as typed (a formula's comment may hold anything)
    from derive.printing import document
    title = "Loss ((yhat - y)**2 # }\\input{/etc/hostname}^~ 5% & $)"
    monkeypatch.setattr(document, "sections", lambda d, style: [(title, [])])
    assert document.to_jupyter_latex(None) == (r"$$\begin{aligned}&\textbf{Loss ((yhat - y)**2 \# \}\textbackslash{}"
                                               r"input\{/etc/hostname\}\textasciicircum{}\textasciitilde{} 5\% \& "
                                               r"\$)}\end{aligned}$$")


def test_a_notes_escapes_read_back_as_their_characters_in_html():
    from derive.printing.page import note_html
    assert note_html(r"through sq\}\textbackslash{}in\{x\} costs \$5 \#1 a\_b -- c") == \
        "through sq}\\in{x} costs $5 #1 a_b – c"


def test_markdown_notes_keep_an_escaped_dollar_out_of_math():
    from derive.printing.document import _markdown_text
    assert _markdown_text(r"cost \$5 *each* through $A^{[1]}$ *x*") == r"cost \$5 \*each\* through $A^{[1]}$ \*x\*"


# ---- names that hide text, echoes of long text ---------------------------------------------------------------------

@pytest.mark.parametrize("char, said", [("\u202e", "U+202E (right-to-left override)"), ("\x1b", "U+001B"),
                                        ("\u200b", "U+200B (zero width space)")])
def test_a_network_name_with_a_bidirectional_or_control_character_is_refused(char, said):
    with pytest.raises(NetworkError, match=r"^name .* holds " + re.escape(said)):
        Network(2, [Dense(1)], loss="mse", name=f"net {char} evil")


def test_codegen_writes_no_bidirectional_character_into_the_module():
    from compile.lowering.codegen import generate
    net = Network(2, [Dense(1)], loss="mse")
    net.name = "a\u202eb\u2066c"   # set after the check: the module's docstring still holds none
    head = generate(net).split("\n", 1)[0]
    assert head.startswith('"""Trainer for a?b?c (2-1, loss mse')


def test_a_long_unknown_activation_is_echoed_cut_short():
    with pytest.raises(NetworkError) as caught:
        Network(2, [Dense(3, "q" * 5000), Dense(1)], loss="mse")
    said = str(caught.value)
    assert said.startswith("layer 1 (Dense 3): unknown activation '" + "q" * 150) and "q" * 160 not in said
    assert "…'; valid: identity, sigmoid" in said and len(said) < 400


def test_a_long_unknown_loss_is_echoed_cut_short():
    with pytest.raises(NetworkError) as caught:
        Network(2, [Dense(1)], loss="q" * 5000)
    said = str(caught.value)
    assert said.startswith("unknown loss '" + "q" * 150) and "q" * 160 not in said and len(said) < 300

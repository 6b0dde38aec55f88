"""Printed output of tiny networks: side facts in --steps, the steps --param keeps, names of several letters,
sums over the batch and the steps, the JSON's error-signal keys, dropout's mask and the L2 constant."""
import json
import re

from derive import Dense, Network
from derive.network.examples import resolve
from derive.printing.document import FACT, sections, to_json
from derive.printing.html import derivation_html

XOR = Network(2, [Dense(2, "tanh"), Dense(2, "softmax")], loss="ce")


def _derive(spec, l2=None):
    _, net = resolve(spec, None, None, l2, None, None)
    return net.derive("rows")


def _steps_panel(text):
    return [line.strip("│ ").rstrip() for line in text.split("Steps")[1].splitlines()[1:] if line.startswith("│")]


# ---- 1. a side fact a step used is a line of its own, never chained with "=" ---------------------------

def test_one_hot_fact_is_a_fact_used_in_text():
    rows = _steps_panel(XOR.derive().text(steps=True))
    assert rows[:3] == [
        "∂J/∂A₂ = −(1/m) Y ⊘ A₂    [derivative of the loss (categorical cross-entropy)]",
        "using Σₖ Yₖ = 1    [one-hot targets: each example's Y sums to 1 over the classes]",
        "∂J/∂Z₂ = A₂ ⊙ (1/m − (1/m) Y ⊘ A₂)    [chain rule through softmax (layer 2): S ⊙ (G − Σₖ G ⊙ S)]"]
    assert "= Σₖ Yₖ = 1" not in XOR.derive().text(steps=True)


def test_one_hot_fact_is_a_fact_used_in_latex_markdown_and_html():
    d = XOR.derive()
    tex = d.latex(steps=True)
    # XOR's steps with a column of notes are wider than the page: each note follows its equation
    assert (r"&\text{using } \sum_k Y_k = 1 \qquad \text{one-hot targets: each example's $Y$ sums to 1 over "
            r"the classes} \\") in tex.splitlines()
    assert r"&= \sum_k Y_k" not in tex
    md = d.markdown(steps=True)
    assert "$$\n\\text{using } \\sum_k Y_k = 1\n$$" in md and "= \\sum_k Y_k" not in md
    html = derivation_html(d, steps=True)
    assert "<mtext>using&#x000A0;</mtext>" in html or re.search(r"<mtext>using.{0,12}</mtext>", html), html
    assert not re.search(r"<mo>=</mo>\s*<munder>\s*<mo>&#x02211;</mo>\s*<mi>k</mi>", html)


def test_every_fact_of_a_derivation_reads_as_used():
    tex = _derive("gpt").latex(steps=True)
    assert r"&\text{using } \mathrm{causal_{0}}\left(P^{[3]} \odot G\right) = P^{[3]} \odot G" in tex
    assert r"&= \mathrm{causal" not in tex
    tex = _derive("makemore").latex(steps=True)
    assert r"&\text{using } \sum_{i=1}^{m} \hat{X}^{[4](i)} = 0" in tex
    assert r"&= \sum_{i=1}^{m} \hat{X}^{[4](i)} = 0" not in tex


# ---- 2. --param keeps the steps the asked gradients need ---------------------------------------------

def _lhs(rows):
    return [left for left, _, _ in rows]


def test_param_keeps_only_the_steps_on_its_path():
    d = XOR.derive()
    steps = dict(sections(d, "text", ["W2"], steps=True))["Steps"]
    assert [(l or r) if l is FACT else l for l, r, _ in steps] == \
        ["∂J/∂A₂", "using Σₖ Yₖ = 1", "∂J/∂Z₂", "", "δ₂", "∂J/∂W₂"]
    steps = dict(sections(d, "text", ["W1"], steps=True))["Steps"]
    assert [l for l in _lhs(steps) if l] == \
        ["∂J/∂A₂", "∂J/∂Z₂", "δ₂", "∂J/∂A₁", "tanh′(Z₁)", "∂J/∂Z₁", "δ₁", "∂J/∂W₁"]


def test_param_of_a_later_layer_leaves_out_a_recurrent_step():
    d = _derive("3x1-gru2-2:softmax")
    titles = [t for t, _ in sections(d, "text", ["W2"], steps=True)]
    assert not any(t.startswith("Steps inside") for t in titles)
    titles = [t for t, _ in sections(d, "text", ["Wxr1"], steps=True)]
    assert any(t.startswith("Steps inside layer 1") for t in titles)


# ---- 3. names of several letters: a letter and a subscript --------------------------------------------

def test_gate_names_are_a_letter_with_a_subscript_in_latex():
    tex = _derive("3x1-gru2-2:softmax").latex()
    assert r"a_{r}^{[1]\langle t\rangle}" in tex and r"a_{u}^{[1]\langle t\rangle}" in tex
    assert not re.search(r"(?<![\\A-Za-z_{])a[run]\^", tex)
    tex = _derive("3x1-lstm2-2:softmax").latex()
    for gate in "ifgo":
        assert rf"a_{{{gate}}}^{{[1]\langle t\rangle}}" in tex
    tex = _derive("gpt").latex()
    assert r"C_{pos}^{[1]}" in tex and "Cpos" not in tex


# ---- 4. a sum over the batch and the steps is Σᵢ,ₜ -------------------------------------------------------

def test_layer_norm_scale_gradient_sums_over_batch_and_steps():
    d = _derive("gpt")
    grads = dict((l, r) for l, r, _ in dict(sections(d, "text"))["Gradients"])
    assert grads["∂J/∂γ₂"] == "Σᵢ,ₜ δ₂ ⊙ X̂₂"
    assert grads["∂J/∂β₂"] == "Σᵢ,ₜ δ₂"
    assert "Σₖ Σᵢ" not in d.text()
    assert r"\frac{\partial J}{\partial \gamma^{[2]}} &= \sum_{i,t} \delta^{[2]} \odot \hat{X}^{[2]}" in d.latex()


# ---- 5. the JSON's error-signal keys are the names the formulas use ------------------------------------

def test_json_delta_keys_are_the_names_formulas_use():
    doc = json.loads(to_json(_derive("4-3:nobias-bn:tanh-2:softmax")))
    assert doc["deltas"] == {
        "delta3": "A3 - Y", "delta2": "(delta3 @ W3.T)*(1 - A2**2)", "dxhat2": "(1/m)*delta2*gamma2",
        "delta1": "(m*dxhat2 - sum(dxhat2*xhat2, 0)*xhat2 - sum(dxhat2, 0))/sigma2"}
    doc = json.loads(to_json(_derive("gpt")))
    assert {"dxhat7", "dV3", "dP3", "dS3", "dK3", "dQ3"} <= set(doc["deltas"])
    assert not [k for k in doc["deltas"] if k.startswith("dJ/d")]
    names = set(re.findall(r"\bd[A-Za-z]+\d+\b", " ".join([*doc["deltas"].values(), *doc["gradients"].values()])))
    assert names - {"delta" + n for n in "0123456789"} <= set(doc["deltas"]) | {"dH1"}


def test_check_reads_a_json_delta_key_as_its_target():
    from compile.checks.formula import check_formula
    spec = "4-3:nobias-bn:tanh-2:softmax"
    net = resolve(spec)[1]
    d = net.derive("rows")
    doc = json.loads(to_json(d))
    for target in ("dxhat2", "dJ/dxhat2"):
        assert check_formula(net, target, doc["deltas"]["dxhat2"], "rows", derivation=d).ok


# ---- 6. dropout's mask explained; the L2 constant's value in the JSON -----------------------------------

def test_dropout_mask_has_a_layout_line():
    d = _derive("4-5:relu:drop0.2-3:softmax")
    assert d.text().startswith(
        "╭─ Layout ─")
    text = " ".join(line.strip("│ ").rstrip() for line in d.text().split("╰")[0].splitlines()[1:])
    assert text == ("layer 1: dropout; D₁ is the mask drawn at each training step, each entry 0 with probability "
                    "0.2 and 1/0.8 otherwise (inverted dropout: the expected A₁ is unchanged); evaluation draws no "
                    "mask")
    assert d.latex().startswith("% layer 1: dropout; D^{[1]} is the mask drawn at each training step")
    assert "Layout" not in XOR.derive().text()


def test_json_names_the_l2_constant_value():
    doc = json.loads(to_json(_derive("4-5:relu:drop0.2-3:softmax", l2=0.01)))
    assert "lam" in doc["loss"] and doc["constants"] == {"lam": 0.01}
    assert "constants" not in json.loads(to_json(XOR.derive()))

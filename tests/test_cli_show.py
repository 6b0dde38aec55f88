"""`derivax show` and `derivax examples` end to end."""
import json

import pytest

from compile.cli.main import main


def test_show_xor_prints_all_four_gradients(capsys):
    assert main(["show", "xor"]) == 0
    out = capsys.readouterr().out
    for line in ["∂J/∂W₁ = (1/m) Xᵀ δ₁", "∂J/∂b₁", "∂J/∂W₂ = (1/m) A₁ᵀ δ₂", "∂J/∂b₂", "δ₂ = A₂ − Y"]:
        assert line in out


def test_show_json_and_scalar_check(capsys):
    assert main(["show", "2-2:tanh-1:sigmoid", "--format", "json", "--scalar"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["gradients"]["W2"] == "(1/m)*(A1.T @ delta2)"
    assert doc["scalar"]["ok"] is True and set(doc["scalar"]["check"]) == {"W1", "b1", "W2", "b2"}


def test_show_custom_activation_spec(capsys):
    assert main(["show", "2-3:(z*sigmoid(z))-1:sigmoid", "--steps"]) == 0
    out = capsys.readouterr().out
    assert "A₁ = Z₁ ⊙ σ(Z₁)" in out or "A₁ = σ(Z₁) ⊙ Z₁" in out


def test_show_model_file(tmp_path, capsys):
    f = tmp_path / "mynet.py"
    f.write_text("from derive import Network, Dense\n"
                 "net = Network(3, [Dense(2, 'relu'), Dense(1, 'sigmoid')], loss='bce')\n"
                 "other = Network(1, [Dense(1)], loss='mse')\n")
    assert main(["show", str(f), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["forward"][1] == "A1 = relu(Z1)"
    assert main(["show", f"{f}:other", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["forward"] == ["Z1 = X @ W1 + b1", "A1 = Z1"]


def test_columns_latex(capsys):
    assert main(["show", "mlp", "--convention", "columns", "--format", "latex"]) == 0
    out = capsys.readouterr().out
    assert r"\frac{\partial J}{\partial W^{[1]}} &= \frac{1}{m} \delta^{[1]} X^{T}" in out


def test_examples_lists_builtins(capsys):
    assert main(["examples"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("xor ") and "linreg" in out and "mlp" in out


@pytest.mark.parametrize("argv, says", [
    (["--standalone"], "--standalone is for --format latex"),
    (["--standalone", "--format", "markdown"], "--standalone is for --format latex"),
    (["--steps", "--format", "json"], "--steps is for text, latex and markdown"),
])
def test_an_option_the_format_does_not_take_is_refused_not_ignored(argv, says, capsys):
    assert main(["show", "xor", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and says in err


def test_the_scalar_json_defines_every_name_its_gradients_use(capsys):
    """--scalar --format json: the per-neuron forward pass, the loss, the error signals and the per-weight
    gradients, each in ASCII names the rows above define; substituted into each other, every gradient is
    sympy.diff of the expanded one-example loss (the test's own differentiation)."""
    import sympy as sp
    assert main(["show", "xor", "--format", "json", "--scalar"]) == 0
    doc = json.loads(capsys.readouterr().out)["scalar"]
    defs = {}
    for line in doc["forward"] + doc["deltas"]:
        name, _, rhs = line.partition(" = ")
        defs[sp.Symbol(name)] = sp.sympify(rhs)
    assert all(ord(c) < 128 for c in json.dumps(doc["deltas"]) + json.dumps(doc["gradients"]))

    def expand(e):
        for _ in range(10):
            e = e.subs(defs)
        return e
    loss = expand(sp.sympify(doc["loss"]))
    assert doc["gradients"] and all(str(s) not in loss.free_symbols for s in defs if str(s).startswith("delta"))
    point = {s: sp.Rational(k % 5 + 1, 7) * (-1) ** k for k, s in enumerate(sorted(loss.free_symbols, key=str))}
    point.update({sp.Symbol("y_1"): 0, sp.Symbol("y_2"): 1})   # one-hot: what δ = a − y of softmax with ce takes
    for weight, formula in doc["gradients"].items():
        got = expand(sp.sympify(formula)).subs(point)
        want = sp.diff(loss, sp.Symbol(weight)).subs(point)
        assert abs(float(got - want)) < 1e-12, weight

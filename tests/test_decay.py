"""Weight decay in the forms courses write it: λ/(2m) ΣW² (Ng), (λ/2) ΣW² (d2l), λ ΣW² (CS231n's reg).
Each is derived, verified against independent references, known to `check` by its value, and
reachable from the command line (--l2, --l2-form)."""
import numpy as np
import pytest

from compile.checks.formula import check_formula
from compile.checks.verify import verify
from compile.cli.main import main
from derive import Dense, Network, NetworkError

COEF = {"lambda/(2m)": lambda lam, m: lam / (2 * m), "lambda/2": lambda lam, m: lam / 2, "lambda": lambda lam, m: lam}


def numpy_loss(params, x, y, lam, form):
    """Cross-entropy of a tanh-softmax net plus the decay, straight from the definitions."""
    a1 = np.tanh(x @ params["W1"] + params["b1"])
    z = a1 @ params["W2"] + params["b2"]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    m = len(x)
    return -np.sum(y * np.log(p)) / m + COEF[form](lam, m) * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))


@pytest.mark.parametrize("form", list(COEF))
def test_each_form_derives_evaluates_and_verifies(form):
    from compile.checks.points import random_point
    from compile.lowering.evaluate import evaluate, leaf_values
    net = Network(2, [Dense(3, "tanh"), Dense(2, "softmax")], loss="ce", l2=0.3, l2_form=form)
    d = net.derive()
    point = random_point(d.model, 1, 4)
    (J,) = evaluate([d.model.J], leaf_values(d.model, point), 4, d.model.constants)
    assert float(np.sum(J)) == pytest.approx(numpy_loss(point.params, point.x, point.y, 0.3, form), rel=1e-12)
    report = verify(net, engine="numpy", scalar_limit=40)
    assert report.ok and report.scalar == "used", report.to_json()
    assert verify(net).ok


@pytest.mark.parametrize("form, decay", [("lambda/(2m)", "(lam/m) * W2"), ("lambda/2", "lam * W2"),
                                         ("lambda", "2 * lam * W2")])
def test_check_knows_lambda_by_name_and_by_value(form, decay):
    net = Network(2, [Dense(3, "tanh"), Dense(2, "softmax")], loss="ce", l2=0.7, l2_form=form)
    assert check_formula(net, "W2", f"(1/m) * A1.T @ delta2 + {decay}").ok
    typed = decay.replace("lam", "0.7")
    result = check_formula(net, "W2", f"(1/m) * A1.T @ delta2 + {typed}")
    assert result.ok and any(h.startswith("exactly: equal") for h in result.how), result.render()
    wrong = check_formula(net, "W2", "(1/m) * A1.T @ delta2 + 0.5 * W2")
    assert not wrong.ok


def test_the_command_line_declares_the_decay(capsys):
    assert main(["show", "2-3:tanh-2:softmax", "--l2", "0.7", "--l2-form", "lambda/2"]) == 0
    out = capsys.readouterr().out
    assert "J = −(1/m) Σ Y ⊙ log(A₂) + (λ/2) Σ W₁² + (λ/2) Σ W₂²    [λ = 0.7]" in out
    assert main(["check", "2-3:tanh-2:softmax", "--l2", "0.7", "--l2-form", "lambda", "--param", "W1",
                 "--formula", "(1/m) * X.T @ delta1 + 1.4 * W1"]) == 0


@pytest.mark.parametrize("argv, says", [
    (["show", "2-3:tanh-2:softmax", "--l2-form", "lambda"], "give its λ with --l2"),
    (["show", "2-3:tanh-2:softmax", "--l2", "-1"], "l2 (the weight decay λ) must be a finite number >= 0"),
    (["show", "2-3:tanh-2:softmax", "--l2", "0.1", "--l2-form", "lambda/m"], "invalid choice: 'lambda/m'"),
])
def test_bad_decay_arguments_are_one_line_and_exit_2(argv, says, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_a_bad_form_is_refused_by_name():
    with pytest.raises(NetworkError, match=r"l2_form must be one of 'lambda/\(2m\)', 'lambda/2', 'lambda'"):
        Network(2, [Dense(2, "softmax")], l2=0.1, l2_form="lambda/m")


def test_cs231n_style_code_with_reg_checks_against_the_lambda_form():
    """CS231n's softmax/two-layer code adds reg * ΣW² to the loss and 2 * reg * W to each dW."""
    from compile.checks.code import check_code
    net = Network(3, [Dense(4, "relu"), Dense(3, "softmax")], loss="ce", l2=0.05, l2_form="lambda")

    def cs231n(params, x, y, reg=0.05, forget=False):
        W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
        h = np.maximum(0, x @ W1 + b1)
        s = h @ W2 + b2
        p = np.exp(s - s.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        ds = (p - y) / len(x)
        dh = (ds @ W2.T) * (h > 0)
        g = {"W2": h.T @ ds, "b2": ds.sum(0), "W1": x.T @ dh, "b1": dh.sum(0)}
        if not forget:
            g["W2"] = g["W2"] + 2 * reg * W2
            g["W1"] = g["W1"] + 2 * reg * W1
        return g
    assert check_code(net, cs231n, points=2).ok
    report = check_code(net, lambda p, x, y: cs231n(p, x, y, forget=True), points=2)
    assert {k for k, r in report.params.items() if not r.ok} == {"W1", "W2"}

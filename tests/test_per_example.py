"""check-code on a backward pass written one example at a time in the book convention (column vectors,
W of shape (out, in), the quadratic cost ½‖a − y‖², a result (nabla_b, nabla_w) of per-layer lists),
with no adapter: averaged over the batch by derivax, and its usual bugs named."""
import numpy as np
import pytest

from compile.checks.code import check_code
from derive import Dense, Network

NET = Network(3, [Dense(4, "sigmoid"), Dense(2, "sigmoid")], loss="(yhat - y)**2/2")

SOURCE = '''
import numpy as np

def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))

def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))

def backprop(params, x, y):
    weights = [params["W1"], params["W2"]]
    biases = [params["b1"], params["b2"]]
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    activation, activations, zs = x, [x], []
    for b, w in zip(biases, weights):
        z = np.dot(w, activation) + b
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
    nabla_b[-1] = delta
    nabla_w[-1] = np.dot(delta, activations[-2].transpose())
    for l in range(2, 3):
        delta = np.dot(weights[-l + 1].transpose(), delta) * sigmoid_prime(zs[-l])
        nabla_b[-l] = delta
        nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
    return (nabla_b, nabla_w)
'''


def _fn(src):
    ns = {}
    exec(compile(src, "<backprop>", "exec"), ns)
    return ns["backprop"]


def test_a_per_example_backprop_in_the_book_convention_is_right():
    r = check_code(NET, _fn(SOURCE), convention="columns", per_example=True, timeout=None)
    assert r.ok, r.summary()
    assert any("called once per example" in n for n in r.notes)


@pytest.mark.parametrize("bug, wrong, why", [
    (("delta = (activations[-1] - y) * sigmoid_prime(zs[-1])", "delta = (activations[-1] - y)"),
     {"W1", "b1", "W2", "b2"}, "the activation's derivative left out at layer 2"),
    (("* sigmoid_prime(zs[-l])", "* zs[-l]"), {"W1", "b1"}, ""),
])
def test_the_books_bugs_are_named(bug, wrong, why):
    src = SOURCE.replace(*bug)
    assert src != SOURCE
    r = check_code(NET, _fn(src), convention="columns", per_example=True, timeout=None)
    assert {n for n, p in r.params.items() if not p.ok} == wrong
    assert not why or why in r.params["W2"].message, r.params["W2"].message


def test_the_command_line_runs_it_in_a_child(tmp_path, capsys):
    from compile.cli.main import main
    path = tmp_path / "network.py"
    path.write_text(SOURCE)
    rc = main(["check-code", "3-4:sigmoid-2:sigmoid", f"{path}:backprop", "--loss", "(yhat - y)**2/2",
               "--convention", "columns", "--per-example", "--points", "2"])
    assert rc == 0, capsys.readouterr().out

"""check-code on course code its earlier readings misread: Nielsen's backprop(x, y), which takes one example, handed
the whole batch; code whose shapes fit the other convention; a factor of 1/2 that is also the mean over two outputs;
micrograd's backward() visiting its nodes in the wrong order; a gradient that disagrees with the code's own loss;
makemore's Bessel correction named at the first wrong step; a bias-less function on a biased spec."""
import textwrap
from pathlib import Path

import numpy as np

from compile.checks.code import check_code
from derive import Dense, Network
from derive.network.examples import resolve

HERE = Path(__file__).parent / "courses"


def _file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


# ---- 1: code of one example at a time, handed the batch ----

def _nielsen():
    return Network(3, [Dense(4, "sigmoid"), Dense(2, "sigmoid")], loss="(yhat - y)**2/2")


def test_nielsens_backprop_is_run_once_per_example_without_the_flag():
    """Handed the batch (x (3, m)), backprop's delta is (2, m): nabla_b keeps the batch axis and delta @ a.T sums
    the m examples' gradients. Run once per example, it is right."""
    report = check_code(_nielsen(), f"{HERE / 'nielsen_network.py'}:Network", points=2, convention="columns")
    assert report.ok, report.summary()
    assert any("one example at a time" in n and "once per example" in n for n in report.notes), report.notes
    assert not any("missing 1/m" in (p.message or "") for p in report.params.values())


def test_a_wrong_nielsen_backprop_still_shows_its_own_mistake_per_example():
    report = check_code(_nielsen(), f"{HERE / 'nielsen_network.py'}:NetworkPrimeOfA", points=2,
                        convention="columns")
    assert not report.ok
    assert "derivative taken at A instead of Z at layer 2" in (report.params["W2"].message or ""), report.summary()
    assert any("it was run once per example" in n for n in report.notes), report.notes
    assert not any((p.message or "") == "missing 1/m (user = m · ref)" for p in report.params.values())


def test_a_batch_function_that_forgets_to_sum_a_bias_is_not_run_per_example(tmp_path):
    """backward(x, y) on module globals, on the whole batch, W right, db1 not summed: its mistake stays named."""
    fn = _file(tmp_path, "glob.py", """\
        import numpy as np
        params = {}

        def backward(x, y):
            W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
            m = x.shape[1]
            A1 = np.tanh(W1 @ x + b1)
            dZ2 = (W2 @ A1 + b2 - y) * 2 / m
            dZ1 = W2.T @ dZ2 * (1 - A1 ** 2)
            return {"W1": dZ1 @ x.T, "b1": dZ1, "W2": dZ2 @ A1.T, "b2": dZ2.sum(axis=1, keepdims=True)}
        """)
    report = check_code(resolve("3-4:tanh-2")[1], f"{fn}:backward", points=2, convention="columns")
    if report.error is None:
        assert not report.ok
        assert not any("once per example" in n for n in report.notes), report.notes


def test_code_whose_shapes_fit_the_columns_convention_is_hinted_at_it():
    """Rows hand x as (m, 3): np.dot(W (4, 3), x) cannot be formed; in columns it runs."""
    report = check_code(_nielsen(), f"{HERE / 'nielsen_network.py'}:Network", points=1, per_example=True)
    assert report.stopped == "exception"
    assert any("--convention columns" in n for n in report.notes), report.notes
    planar = check_code(Network(2, [Dense(4, "tanh"), Dense(1, "sigmoid")], loss="bce"),
                        f"{HERE / 'dlai_planar.py'}:backward_propagation", points=1)
    assert planar.stopped == "exception"
    assert any("--convention columns" in n for n in planar.notes), planar.notes


def test_the_whole_nielsen_hint_names_both_flags():
    report = check_code(_nielsen(), f"{HERE / 'nielsen_network.py'}:Network", points=1)
    assert report.stopped == "exception"
    assert any("--convention columns --per-example" in n for n in report.notes), report.notes


# ---- 4: a factor of 1/2 with two outputs ----

def test_half_with_two_outputs_reads_as_the_mean_over_the_outputs_or_a_half(tmp_path):
    """dz2 = 2 (yhat − y) / (m · 2): the mean over the batch and the 2 outputs, as np.mean does; the mse's gradient
    is 2 (yhat − y) / m, so every gradient is half the derived one."""
    fn = _file(tmp_path, "mean_all.py", """\
        import numpy as np

        def backward(params, x, y):
            m = x.shape[0]
            a1 = 1 / (1 + np.exp(-(x @ params["W1"] + params["b1"])))
            yhat = a1 @ params["W2"] + params["b2"]
            dz2 = 2 * (yhat - y) / (m * y.shape[1])
            dz1 = (dz2 @ params["W2"].T) * a1 * (1 - a1)
            return {"W1": x.T @ dz1, "b1": dz1.sum(0), "W2": a1.T @ dz2, "b2": dz2.sum(0)}
        """)
    report = check_code(resolve("3-4:sigmoid-2", loss="mse")[1], f"{fn}:backward", points=2)
    message = report.params["W2"].message
    assert "0.5" in message and "2 outputs" in message and "MSELoss" in message and "½" in message, message


# ---- 2: a Value class whose backward() visits the nodes in the wrong order ----

def _edited(tmp_path, name, old, new):
    text = (HERE / name).read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return str(path)


def test_a_backward_that_visits_the_nodes_in_topological_order_is_named_not_its_rules(tmp_path):
    """for v in order (not reversed): the output's own step runs last, after its inputs' steps ran on a gradient
    of 0, so the parameters' gradients are 0, while each rule alone is exact."""
    path = _edited(tmp_path, "scalar_autograd.py", "for v in reversed(order):", "for v in order:")
    net = Network(3, [Dense(4, "tanh"), Dense(1, "tanh")], loss="mse")
    report = check_code(net, f"{path}:MLP", points=2)
    assert not report.ok
    message = report.params["W1"].message
    assert "topological order, not reversed" in message and "backward rule" not in message.split(":")[0], message
    assert "assigned (=)" not in message and "is wrong" not in message, message
    assert any("backward() against its own rules" in n for n in report.notes), report.notes


def test_a_wrong_rule_is_still_named_as_a_rule(tmp_path):
    path = _edited(tmp_path, "scalar_autograd.py", "self.grad += (1 - t ** 2) * out.grad",
                   "self.grad += (1 - t) * out.grad")
    report = check_code(Network(3, [Dense(4, "tanh"), Dense(1, "tanh")], loss="mse"), f"{path}:MLP", points=1)
    assert "multiplies by 1 − t, not 1 − t²" in report.params["W1"].message
    assert "topological order" not in report.params["W1"].message


# ---- 3: a decay's gradient that disagrees with the code's own loss ----

def test_a_decay_gradient_that_disagrees_with_its_own_loss_is_not_sent_to_another_l2_form():
    """softmax_loss_half_reg returns data_loss + reg ΣW², the network's J under --l2-form lambda, and the gradient
    X.T @ dscores + reg W, where the gradient of reg ΣW² adds 2 reg W."""
    net = Network(4, [Dense(3, "softmax", use_bias=False)], l2=0.1, l2_form="lambda")
    report = check_code(net, f"{HERE / 'cs231n_net.py'}:softmax_loss_half_reg", points=2, labels="integer")
    assert any("equals the network's J" in n for n in report.notes), report.notes
    message = report.params["W1"].message
    assert "weight decay's term is half" in message
    assert "--l2-form" not in message and "own loss" in message and "2 * reg * W" in message, message


# ---- 5: makemore's Bessel correction, named at the first wrong step ----

def test_the_bessel_slip_is_named_at_the_first_wrong_step_and_in_the_summary(tmp_path):
    """bnvar divides by n − 1; dbndiff2 written with 1/n is (n − 1)/n times the exercise's step."""
    from derive import BatchNorm, Embedding, Flatten
    net = Network(2, [Embedding(4, 2), Flatten(), Dense(3), BatchNorm("tanh", variance="unbiased"),
                      Dense(4, "softmax")], loss="ce")
    text = (HERE / "makemore_steps.py").read_text()
    old = "dbndiff2 = (1.0 / (n - 1)) * np.ones_like(bndiff2) * dbnvar"
    assert old in text
    path = tmp_path / "makemore_steps.py"
    path.write_text(text.replace(old, "dbndiff2 = (1.0 / n) * np.ones_like(bndiff2) * dbnvar"))
    report = check_code(net, f"{path}:backward", points=2, labels="integer")
    assert report.first_wrong is not None and report.first_wrong.name == "dbndiff2", report.summary()
    assert "(N − 1)/N" in report.first_wrong.message and "1/(N − 1) mixed up" in report.first_wrong.message
    assert "(N − 1)/N" in report.summary()


# ---- 6: one gradient, and a bias-less function on a spec with a bias ----

def test_one_gradient_is_said_in_the_singular_and_a_missing_bias_hints_at_nobias():
    with_bias = resolve("4-3:softmax", l2=0.1, l2_form="lambda")
    report = check_code(with_bias[1], f"{HERE / 'cs231n_net.py'}:softmax_loss_vectorized", points=1,
                        labels="integer", model_name=with_bias[0])
    assert not report.ok
    assert any("nobias" in n and "4-3:softmax:nobias" in n for n in report.notes), report.notes
    bare = resolve("4-3:softmax:nobias", l2=0.1, l2_form="lambda")[1]
    good = check_code(bare, f"{HERE / 'cs231n_net.py'}:softmax_loss_vectorized", points=1, labels="integer")
    assert good.ok and "the one gradient (W1) right" in good.summary(), good.summary()
    assert not any("nobias" in n for n in good.notes)

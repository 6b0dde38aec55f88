"""check-code on course code its readings used to leave to the user: gradients clipped by their global norm (judged
unclipped), Nielsen's backprop(x, y) with a slip run once per example without the flag, the makemore exercise's
intermediates under the names of its tensors (logits, h, hpreact) and its MLP before batch norm, and code in the
columns layout read in it where nothing else fits.

Every slip is planted by hand in otherwise right code, and which gradients it spoils is checked here against central
finite differences of the loss in NumPy, not read back from derivax."""
import io
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

from compile.checks.code import _global_level, check_code
from derive import Dense, Embedding, Flatten, Network
from derive.network.examples import resolve
from conftest import makemore_point, numeric_gradients

HERE = Path(__file__).parent / "code_more"
COURSES = Path(__file__).parent / "courses"


def _agrees(a, b):
    return np.allclose(np.reshape(a, np.shape(b)), b, rtol=1e-5, atol=1e-8)


# ---- 1: gradients clipped by their global norm ----

def _norm_clipped(c, slip=False, torch_style=False):
    """A right tanh-then-linear backward for the mse (J = (1/m) Σ ‖A2 − Y‖²) whose gradients are scaled together where
    their global norm passes c: g · c / norm, or torch's clip_grad_norm_ (c / (norm + 1e-6), in place). ``slip``: dW2
    without its 1/m."""
    def backward(params, x, y):
        W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
        m = x.shape[0]
        A1 = np.tanh(x @ W1 + b1)
        d2 = 2 * (A1 @ W2 + b2 - y) / m
        d1 = d2 @ W2.T * (1 - A1 ** 2)
        grads = {"W1": x.T @ d1, "b1": d1.sum(0), "W2": A1.T @ d2 * (m if slip else 1), "b2": d2.sum(0)}
        norm = np.sqrt(sum(np.sum(g * g) for g in grads.values()))
        if torch_style:
            coef = c / (norm + 1e-6)
            if coef < 1:
                for g in grads.values():
                    g *= coef
        elif norm > c:
            grads = {k: g * c / norm for k, g in grads.items()}
        return grads
    return backward


def _mse_point(seed=3, m=4):
    rng = np.random.default_rng(seed)
    params = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=4), "W2": rng.normal(size=(4, 2)),
              "b2": rng.normal(size=2)}
    return params, rng.normal(size=(m, 3)), rng.normal(size=(m, 2))


def _mse(x, y):
    def loss(p):
        return np.sum((np.tanh(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"] - y) ** 2) / len(x)
    return loss


def test_the_clipped_fixture_is_right_unclipped_and_its_slip_is_dw2_alone():
    params, x, y = _mse_point()
    want = numeric_gradients(_mse(x, y), params)
    right = _norm_clipped(np.inf)(params, x, y)
    slipped = _norm_clipped(np.inf, slip=True)(params, x, y)
    assert all(_agrees(right[k], want[k]) for k in want)
    assert {k for k in want if not _agrees(slipped[k], want[k])} == {"W2"}
    clipped = _norm_clipped(0.5)(params, x, y)   # the clip scales them all: their norm is 0.5
    assert np.isclose(np.sqrt(sum(np.sum(g * g) for g in clipped.values())), 0.5)


def test_gradients_clipped_by_their_global_norm_are_judged_unclipped():
    report = check_code(resolve("3-4:tanh-2")[1], _norm_clipped(0.5), points=2)
    assert report.ok, report.summary()
    said = [n for n in report.notes if "global norm" in n]
    assert len(said) == 1 and "at 0.5" in said[0] and "2 of 2 point(s)" in said[0], report.notes


def test_a_slip_under_a_global_norm_clip_is_named_at_its_own_gradient():
    """torch's clip_grad_norm_ written in NumPy (its 1e-6 in the norm); dW2 without its 1/m: the clip scales every
    gradient by c/‖g‖ of the code's own ‖g‖, which W1, b1 and b2 still tell; W2, divided by it, is m times the derived."""
    report = check_code(resolve("3-4:tanh-2")[1], _norm_clipped(1.0, slip=True, torch_style=True), points=2)
    assert {n for n, p in report.params.items() if not p.ok} == {"W2"}, report.summary()
    assert report.params["W2"].message.startswith("missing 1/m"), report.params["W2"].message
    assert len([n for n in report.notes if "clipped by their global norm at 1 " in n]) == 1, report.notes


def test_the_global_norm_level_is_read_only_where_the_norm_repeats_or_is_round():
    assert _global_level([5.0, 3.25, 5.0]) == 5.0
    assert _global_level([0.4999993, 0.31]) == 0.5     # torch's c / (norm + 1e-6): short of c by less than 1e-6
    assert _global_level([1.2345678, 1.2345678]) == 1.2345678
    assert _global_level([1.2345678, 0.7]) is None      # one point, not round: a norm, no clip
    assert _global_level([2.5, None]) is None


# ---- 3: Nielsen's backprop(x, y) with a slip, handed the batch ----

def _nielsen_truth():
    """Which of NetworkHiddenSlip's gradients (averaged over the examples) differ from finite differences of
    J = (1/m) Σ ½‖a − y‖², at one point."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("nielsen_slip", HERE / "nielsen_slip.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rng = np.random.default_rng(1)
    p = {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=(4, 1)), "W2": rng.normal(size=(2, 4)),
         "b2": rng.normal(size=(2, 1))}
    x, y = rng.normal(size=(3, 5)), rng.uniform(size=(2, 5))

    def loss(q):
        a = mod.sigmoid(q["W2"] @ mod.sigmoid(q["W1"] @ x + q["b1"]) + q["b2"])
        return 0.5 * np.sum((a - y) ** 2) / x.shape[1]
    want = numeric_gradients(loss, p)
    wrong = {}
    for cls in ("Network", "NetworkHiddenSlip"):
        net = getattr(mod, cls)([3, 4, 2])
        net.weights, net.biases = [p["W1"], p["W2"]], [p["b1"], p["b2"]]
        got = {k: 0 for k in p}
        for i in range(x.shape[1]):
            nb, nw = net.backprop(x[:, i:i + 1], y[:, i:i + 1])
            for k, v in zip(("b1", "b2", "W1", "W2"), (*nb, *nw)):
                got[k] = got[k] + v / x.shape[1]
        wrong[cls] = {k for k in p if not _agrees(got[k], want[k])}
    return wrong


def test_a_batch_function_with_a_bias_left_unsummed_is_not_run_per_example():
    """backprop(x, y) written for the whole batch, dW right and db1 left unsummed: its results are no sum over the
    examples of what it returns for each one, so it is not read as code of one example at a time, nor hinted at it."""
    report = check_code(resolve("3-4:tanh-2")[1], f"{HERE / 'batch_network.py'}:Network", points=2,
                        convention="columns")
    assert report.error is None, report.error
    assert not any("one example at a time" in n for n in report.notes), report.notes
    assert {n for n, p in report.params.items() if not p.ok} == {"b1"}, report.summary()
    assert "not summed over the batch" in report.params["b1"].message


# ---- 2: the makemore exercise's tensors' names, and its MLP before batch norm ----

def _mlp():
    return Network(3, [Embedding(6, 2), Flatten(), Dense(4, "tanh"), Dense(6, "softmax")], loss="ce")


def _mlp_truth(text):
    """{name: whether the gradient the fixture's ``text`` returns under it agrees with finite differences of the mean
    cross-entropy}, for the parameters and for h and hpreact (differences taken in those tensors)."""
    ns = {}
    exec(compile(text, "makemore_mlp", "exec"), ns)
    p, x, y, ce = makemore_point()
    pre = p["C"][x].reshape(5, -1) @ p["W1"] + p["b1"]
    want = numeric_gradients(lambda q: ce(np.tanh(q["C"][x].reshape(5, -1) @ q["W1"] + q["b1"]) @ q["W2"] + q["b2"]), p)
    want.update(numeric_gradients(lambda q: ce(q["h"] @ p["W2"] + p["b2"]), {"h": np.tanh(pre)}))
    want.update(numeric_gradients(lambda q: ce(np.tanh(q["hpreact"]) @ p["W2"] + p["b2"]), {"hpreact": pre.copy()}))
    got = ns["backward"](p, x, y)
    return {k: _agrees(got[k], v) for k, v in want.items()}


def test_the_mlp_before_batch_norm_names_its_first_wrong_tensor_by_its_own_name(tmp_path):
    text = (HERE / "makemore_mlp.py").read_text()
    slip = ("dhpreact = (1.0 - h ** 2) * dh", "dhpreact = (1.0 - h) * dh")   # tanh′ written 1 − h
    assert slip[0] in text
    slipped = text.replace(*slip)
    assert all(_mlp_truth(text).values())
    truth = _mlp_truth(slipped)
    assert {k for k, ok in truth.items() if not ok} == {"C", "W1", "b1", "hpreact"}, truth
    path = tmp_path / "makemore_mlp.py"
    path.write_text(slipped)
    for fn, key in (("backward", "hpreact"), ("backward_d", "dhpreact")):
        report = check_code(_mlp(), f"{path}:{fn}", points=1, labels="integer")
        assert report.error is None, report.error
        assert list(report.intermediates) == [f"{d}{k}" for d in ("" if fn == "backward" else "d",)
                                              for k in ("probs", "logits", "h", "hpreact", "embcat")]
        assert report.first_wrong is not None and report.first_wrong.name == key, report.summary()
        assert "1 − A" in report.first_wrong.message, report.first_wrong.message
        assert {n for n, p in report.params.items() if not p.ok} == {"C1", "W3", "b3"}, report.summary()
        assert not report.extra


def test_a_tensor_returned_as_itself_under_its_name_is_not_read_as_its_gradient(tmp_path):
    text = (HERE / "makemore_mlp.py").read_text()
    path = tmp_path / "makemore_mlp.py"
    path.write_text(text.replace('"logits": dlogits,', '"logits": logits,'))
    report = check_code(_mlp(), f"{path}:backward", points=1, labels="integer")
    assert report.ok, report.summary()
    assert "logits" not in report.intermediates and report.extra == ["logits"]
    assert any(n.startswith("logits: the forward pass's own value") for n in report.notes), report.notes


def test_the_batch_norm_exercise_s_tensors_names_are_its_intermediates():
    """The exercise's network (examples/makemore_backprop.py's shape): each intermediate under its tensor's name; emb
    is the looked-up rows (emb = C[Xb]), the table being C."""
    from compile.checks.intermediates import bare_names
    from derive import BatchNorm
    net = Network(3, [Embedding(5, 2), Flatten(), Dense(4), BatchNorm("tanh", variance="unbiased"),
                      Dense(5, "softmax")], loss="ce")
    assert bare_names(net.build("rows")) == {
        "emb": "A1", "embcat": "A2", "hprebn": "A3", "bnmeani": "mu4", "bndiff": "xc4", "bnvar": "var4", "bnraw": "xhat4",
        "hpreact": "Z4", "h": "A4", "logits": "Z5", "probs": "A5"}


# ---- 4: the columns layout read where nothing else fits ----

def test_code_that_fits_only_the_columns_layout_is_read_in_it():
    """deeplearning.ai's backward with tanh′ written A1: in rows np.dot(W2.T, dZ2) cannot be formed; in columns every
    gradient has its shape and dW2, db2 agree, so it is read in columns and the slip named at W1, b1."""
    net = Network(2, [Dense(4, "tanh"), Dense(1, "sigmoid")], loss="bce")
    fn = f"{COURSES / 'dlai_planar.py'}:backward_tanh_as_a"
    report = check_code(net, fn, points=1, convention="auto")
    assert report.error is None, report.error
    assert {n for n, p in report.params.items() if not p.ok} == {"W1", "b1"}, report.summary()
    said = [n for n in report.notes if n.startswith("read in the columns convention")]
    assert len(said) == 1 and "W2, b2 agree" in said[0], report.notes
    asked = check_code(net, fn, points=1, convention="rows")   # a convention asked for is kept
    assert asked.stopped == "exception" and any("add --convention columns" in n for n in asked.notes)


def test_the_command_line_reads_a_wrong_nielsen_backprop_in_columns_one_example_at_a_time():
    """No --convention, no --per-example: in rows backprop stops on its shapes; in columns, handed the batch, its
    nabla_b keep the batch axis and every gradient is the sum over the examples of what it returns for each one, so it
    is run once per example, W2 and b2 agree, and the slip is named at the hidden layer alone."""
    from compile.cli.main import main
    truth = _nielsen_truth()
    assert truth == {"Network": set(), "NetworkHiddenSlip": {"W1", "b1"}}
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["check-code", "3-4:sigmoid-2:sigmoid", f"{HERE / 'nielsen_slip.py'}:NetworkHiddenSlip",
                     "--loss", "(yhat - y)**2/2", "--points", "1", "--json"])
    text = out.getvalue()
    assert code == 1, text
    assert "read in the columns convention" in text and "so it was run once per example" in text
    import json
    result = json.loads(text.strip().splitlines()[-1])
    assert {n for n, p in result["params"].items() if not p["ok"]} == truth["NetworkHiddenSlip"], result
    assert "derivative left out at layer 1" in result["params"]["W1"]["message"], result
    assert "hint:" not in text

"""check-code on gradients clipped by their global norm where the batch run alone does not show it: code called once per
example that clips each example's gradients (Nielsen's backprop(x, y)), and code whose norm also counts intermediates it
returns (deeplearning.ai's dZ1, the makemore MLP's h and emb); and the makemore MLP's bare emb read as the rows the
embedding looked up (emb = C[Xb]), not as its table C.

The fixtures are in tests/code_more/norm_clipped.py; every slip is planted by hand, and which gradients it spoils is
checked here against central finite differences of the loss in NumPy (the fixture's clip set off), not read back from
derivax."""
from pathlib import Path

import numpy as np

from compile.checks.code import check_code
from derive import Dense, Embedding, Flatten, Network
from conftest import makemore_point, numeric_gradients

HERE = Path(__file__).parent / "code_more"
TEXT = (HERE / "norm_clipped.py").read_text()
NIELSEN = Network(3, [Dense(4, "sigmoid"), Dense(2, "sigmoid")], loss="(yhat - y)**2/2")
PLANAR = Network(2, [Dense(4, "tanh"), Dense(1, "sigmoid")], loss="bce")
MLP = Network(3, [Embedding(6, 2), Flatten(), Dense(4, "tanh"), Dense(6, "softmax")], loss="ce")

HIDDEN_PRIME = ("* sigmoid_prime(zs[-l])", "")                               # Nielsen: σ′ left out at layer 1
DW2_MEAN = ("dW2 = 1 / m * np.dot(dZ2, A1.T)", "dW2 = np.dot(dZ2, A1.T)")      # planar: dW2 without its 1/m
TANH_PRIME = ("dhpreact = (1.0 - h ** 2) * dh", "dhpreact = (1.0 - h) * dh")   # makemore: tanh′ written 1 − h


def _module(*slip, clip=None):
    """The fixture's names, with ``slip`` (old, new) planted in its text; ``clip`` replaces its bound CLIP."""
    text = TEXT.replace(*slip) if slip else TEXT
    assert not slip or text != TEXT
    ns = {}
    exec(compile(text, "norm_clipped", "exec"), ns)
    if clip is not None:
        ns["CLIP"] = clip
    return ns


def _wrong(got, want):
    return {k for k in want if not np.allclose(np.reshape(got[k], np.shape(want[k])), want[k], rtol=1e-5, atol=1e-8)}


def _norm(grads):
    return float(np.sqrt(sum(np.sum(np.asarray(g) ** 2) for g in grads)))


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


# ---- the fixtures, against finite differences ----

def _nielsen(ns):
    """(the gradients Network.backprop returns for each example, averaged; finite differences of
    J = (1/m) Σ ½‖a − y‖²; the global norm of the first example's gradients as returned)."""
    rng = np.random.default_rng(4)
    p = {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=(4, 1)), "W2": rng.normal(size=(2, 4)),
         "b2": rng.normal(size=(2, 1))}
    x, y = rng.normal(size=(3, 5)), rng.uniform(size=(2, 5))
    net = ns["Network"]([3, 4, 2])
    net.weights, net.biases = [p["W1"], p["W2"]], [p["b1"], p["b2"]]
    got, first = {k: 0 for k in p}, None
    for i in range(5):
        nb, nw = net.backprop(x[:, i:i + 1], y[:, i:i + 1])
        first = _norm([*nb, *nw]) if first is None else first
        for k, v in zip(("b1", "b2", "W1", "W2"), (*nb, *nw)):
            got[k] = got[k] + v / 5

    def loss(q):
        return 0.5 * np.sum((_sigmoid(q["W2"] @ _sigmoid(q["W1"] @ x + q["b1"]) + q["b2"]) - y) ** 2) / 5
    return got, numeric_gradients(loss, p), first


def _planar(ns):
    """(what backward_propagation returns, with dZ1 divided by m as ∂J/∂Z1; finite differences of the mean binary
    cross-entropy in the parameters and in Z1; the global norm of every array it returned)."""
    rng = np.random.default_rng(5)
    p = {"W1": rng.normal(size=(4, 2)), "b1": rng.normal(size=(4, 1)), "W2": rng.normal(size=(1, 4)),
         "b2": rng.normal(size=(1, 1))}
    X, Y = rng.normal(size=(2, 6)), rng.uniform(0.1, 0.9, size=(1, 6))

    def bce(A2):
        return -np.mean(Y * np.log(A2) + (1 - Y) * np.log(1 - A2))
    Z1 = p["W1"] @ X + p["b1"]
    A1 = np.tanh(Z1)
    grads = ns["backward_propagation"](p, {"Z1": Z1, "A1": A1, "A2": _sigmoid(p["W2"] @ A1 + p["b2"])}, X, Y)
    want = numeric_gradients(lambda q: bce(_sigmoid(q["W2"] @ np.tanh(q["W1"] @ X + q["b1"]) + q["b2"])), p)
    want.update(numeric_gradients(lambda q: bce(_sigmoid(p["W2"] @ np.tanh(q["Z1"]) + p["b2"])), {"Z1": Z1.copy()}))
    got = {**{k: grads["d" + k] for k in p}, "Z1": grads["dZ1"] / 6}
    return got, want, _norm(grads.values())


def _mlp(ns, fn="backward", steps=("h", "emb")):
    """(what ``fn`` returns; finite differences of the mean cross-entropy in the parameters and in the tensors
    ``steps`` (h, emb); the global norm of every array it returned)."""
    p, x, y, ce = makemore_point()

    def out(emb, q=p):
        return ce(np.tanh(emb.reshape(5, -1) @ q["W1"] + q["b1"]) @ q["W2"] + q["b2"])
    emb = p["C"][x]
    want = numeric_gradients(lambda q: out(q["C"][x], q), p)
    tensors = {"h": lambda q: ce(q["h"] @ p["W2"] + p["b2"]), "emb": lambda q: out(q["emb"])}
    start = {"h": np.tanh(emb.reshape(5, -1) @ p["W1"] + p["b1"]), "emb": emb.copy()}
    for k in steps:
        want.update(numeric_gradients(tensors[k], {k: start[k]}))
    got = ns[fn](p, x, y)
    return got, want, _norm(got.values())


def test_the_fixtures_clip_and_their_slips_spoil_what_they_should():
    for run, slip, spoiled in ((_nielsen, HIDDEN_PRIME, {"W1", "b1"}), (_planar, DW2_MEAN, {"W2"}),
                               (_mlp, TANH_PRIME, {"C", "W1", "b1", "emb"})):
        got, want, _ = run(_module(clip=np.inf))
        assert not _wrong(got, want), run.__name__
        got, want, _ = run(_module(*slip, clip=np.inf))
        assert _wrong(got, want) == spoiled, run.__name__
        assert abs(run(_module())[2] - 0.05) < 1e-12, run.__name__   # the clip cuts: the norm is its bound


# ---- 1: a clip by the global norm of each example, in code called once per example ----

def test_per_example_code_that_clips_each_example_is_judged_unclipped_and_its_slip_named():
    report = check_code(NIELSEN, _module(*HIDDEN_PRIME)["Network"], points=1, convention="columns", per_example=True)
    assert report.error is None, report.error
    assert {n for n, p in report.params.items() if not p.ok} == {"W1", "b1"}, report.summary()
    assert "derivative left out at layer 1" in report.params["W1"].message, report.params["W1"].message
    said = [n for n in report.notes if "clipped by their global norm at 0.05" in n]
    assert len(said) == 1 and "at 5 of 5 examples" in said[0], report.notes


def test_per_example_clipping_code_handed_the_batch_is_read_one_example_at_a_time():
    """No convention, no per-example: in rows backprop stops on its shapes; in columns, handed the batch, its bias
    gradients keep the batch axis, and its results are the examples' sums up to the one factor its clip scaled the
    batch's by: run once per example, each example's clip read, every gradient right."""
    report = check_code(NIELSEN, _module()["Network"], points=1, convention="auto")
    assert report.ok, report.summary()
    assert any(n.startswith("read in the columns convention") for n in report.notes), report.notes
    assert any("so it was run once per example" in n and "its clip by the global norm" in n for n in report.notes)
    assert any("clipped by their global norm at 0.05" in n and "at 5 of 5 examples" in n for n in report.notes)


# ---- 1: a norm that also counts the intermediates returned ----

def test_a_norm_that_counts_dz1_is_read_and_a_missing_mean_named_at_dw2():
    report = check_code(PLANAR, _module(*DW2_MEAN)["backward_propagation"], points=2, convention="columns")
    assert report.error is None, report.error
    assert {n for n, p in report.params.items() if not p.ok} == {"W2"}, report.summary()
    assert report.params["W2"].message.startswith("missing 1/m"), report.params["W2"].message
    # dZ1 = m ∂J/∂Z1 (checked against finite differences above): the courses' reading
    assert report.intermediates["dZ1"].ok and report.dz == "delta", report.summary()
    said = [n for n in report.notes if "clipped by their global norm at 0.05" in n]
    assert len(said) == 1 and "intermediates dZ1 it returned" in said[0] and "2 of 2 point(s)" in said[0], report.notes


def test_a_norm_that_counts_h_and_emb_in_the_makemore_mlp_is_read():
    report = check_code(MLP, _module(*TANH_PRIME)["backward"], points=1, labels="integer")
    assert report.error is None, report.error
    assert {n for n, p in report.params.items() if not p.ok} == {"C1", "W3", "b3"}, report.summary()
    assert list(report.intermediates) == ["h", "emb"] and report.intermediates["h"].ok
    assert report.first_wrong is not None and report.first_wrong.name == "emb", report.summary()
    assert "1 − A" in report.first_wrong.message, report.first_wrong.message
    said = [n for n in report.notes if "clipped by their global norm at 0.05" in n]
    assert len(said) == 1 and "intermediates emb, h it returned" in said[0], report.notes


# ---- 2: emb, the rows the embedding looked up ----

def test_emb_names_the_looked_up_rows_in_the_makemore_mlp_and_the_table_elsewhere():
    from compile.checks.intermediates import bare_names, param_aliases
    model = MLP.build("rows")
    assert bare_names(model)["emb"] == "A1" and "emb" not in param_aliases(model)
    assert param_aliases(model)["C"] == "C1"
    other = Network(3, [Embedding(6, 2), Flatten(), Dense(6, "softmax")], loss="ce").build("rows")
    assert param_aliases(other)["emb"] == "C1" and "emb" not in bare_names(other)


def test_a_wrong_gradient_returned_under_emb_is_named_at_emb_and_dc_is_the_table_s(tmp_path):
    """The MLP before batch norm returning each step under its tensor's name, emb among them, with demb halved in what
    it returns: emb is compared with ∂J/∂emb (finite differences in emb above) and named; C, from dC, is right."""
    text = (HERE / "makemore_mlp.py").read_text()
    old = '"embcat": dembcat}'
    assert old in text
    ns = {}
    exec(compile(text.replace(old, '"embcat": dembcat, "emb": demb / 2}'), "makemore_mlp", "exec"), ns)
    got, want, _ = _mlp(ns, steps=("emb",))
    assert _wrong(got, want) == {"emb"}
    assert np.allclose(2 * got["emb"], want["emb"], rtol=1e-5, atol=1e-8)
    report = check_code(MLP, ns["backward"], points=1, labels="integer")
    assert report.error is None, report.error
    assert all(p.ok for p in report.params.values()), report.summary()
    assert list(report.intermediates) == ["probs", "logits", "h", "hpreact", "embcat", "emb"], report.summary()
    assert report.first_wrong is not None and report.first_wrong.name == "emb", report.summary()
    assert report.first_wrong.message.startswith("off by a constant factor: user = 0.5 · ref"), \
        report.first_wrong.message
    assert not report.extra

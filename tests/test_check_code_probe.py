"""check-code on mistakes course code makes that its earlier readings let through or misnamed: a bias gradient whose
update would broadcast the bias into a matrix, makemore's b2 beside a first layer without a bias, deeplearning.ai's
dw transposed, a clip inferred where nothing clips, a hint about indexing with x or y on an error that has nothing
to do with them, and a factor of m worded for the mean under --reduction sum.

Each expectation is worked out here from the code under test's own arithmetic (NumPy's broadcasting, the loss's
definition), not read back from derivax."""
import textwrap

import numpy as np

from compile.checks.code import _shape_problem, check_code
from derive.network.examples import resolve


def _file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


# ---- D1: a bias gradient that broadcasts against the bias into a bigger array ----

def test_a_bias_gradient_whose_update_would_grow_the_bias_is_wrong_in_rows(tmp_path):
    """Rows: b1 is handed as (5,); db1 = d.sum(axis=0).reshape(-1, 1) is (5, 1), and b1 - lr * db1 is (5, 5) by
    NumPy's broadcasting. db2 = d.sum(axis=0, keepdims=True) is (1, 3): b2 - lr * db2 is (1, 3), three entries,
    harmless."""
    fn = _file(tmp_path, "rows_bias.py", """\
        import numpy as np

        def backward(params, X, Y):
            W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
            m = X.shape[0]
            H = np.tanh(X @ W1 + b1)
            d2 = (H @ W2 + b2 - Y) * 2 / m
            d1 = d2 @ W2.T * (1 - H ** 2)
            return {"W1": X.T @ d1, "b1": d1.sum(axis=0).reshape(-1, 1),
                    "W2": H.T @ d2, "b2": d2.sum(axis=0, keepdims=True)}
        """)
    report = check_code(resolve("4-5:tanh-3")[1], f"{fn}:backward", points=1)
    grown = np.broadcast_shapes((5, 1), (5,))
    assert grown == (5, 5)
    assert not report.params["b1"].ok
    message = report.params["b1"].message
    assert "(5, 1)" in message and "(5,)" in message and str(grown) in message and "b1 - lr * db1" in message
    assert report.params["b2"].ok and report.params["W1"].ok and report.params["W2"].ok, report.summary()


def test_a_bias_gradient_without_keepdims_is_wrong_in_columns(tmp_path):
    """deeplearning.ai's columns: b1 is (4, 1); np.sum(dZ1, axis=1) is (4,), and b1 - lr * db1 is (4, 4). db2 with
    keepdims=True is (1, 1), as b2 is."""
    fn = _file(tmp_path, "planar.py", """\
        import numpy as np

        def backward_propagation(parameters, cache, X, Y):
            m = X.shape[1]
            W2 = parameters["W2"]
            A1, A2 = cache["A1"], cache["A2"]
            dZ2 = A2 - Y
            dZ1 = np.dot(W2.T, dZ2) * (1 - A1 ** 2)
            return {"dW1": np.dot(dZ1, X.T) / m, "db1": np.sum(dZ1, axis=1) / m,
                    "dW2": np.dot(dZ2, A1.T) / m, "db2": np.sum(dZ2, axis=1, keepdims=True) / m}
        """)
    net = resolve("2-4:tanh-1:sigmoid", loss="bce")[1]
    report = check_code(net, f"{fn}:backward_propagation", points=1, convention="columns")
    assert np.broadcast_shapes((4,), (4, 1)) == (4, 4)
    assert not report.params["b1"].ok
    message = report.params["b1"].message
    assert "(4,)" in message and "(4, 1)" in message and "(4, 4)" in message
    assert all(report.params[n].ok for n in ("W1", "W2", "b2")), report.summary()


def test_harmless_bias_shapes_stay_right():
    """The same entries in a shape whose update keeps the parameter's shape: (1, n) for a handed (n,), (n,) for a
    handed (1, n); the reference is derivax's (1, n)."""
    ref = np.arange(3.0).reshape(1, 3)
    for found, handed in (((1, 3), (3,)), ((3,), (1, 3)), ((3,), (3,))):
        shaped, problem = _shape_problem(np.arange(3.0).reshape(found), ref, True, 5, "b1", handed)
        assert problem is None and shaped.shape == (1, 3), (found, handed, problem)
    _, problem = _shape_problem(np.arange(3.0).reshape(3, 1), ref, True, 5, "b1", (3,))
    assert problem is not None and "(3, 3)" in problem


# ---- D2: makemore's names, b2 the output layer's bias when the first layer has none ----

MAKEMORE = """\
    import numpy as np

    def backward(params, Xb, Yb):
        C, W1, W2, {bias} = params["C"], params["W1"], params["W2"], params["{bias}"]
        bngain, bnbias = params["bngain"], params["bnbias"]
        n = Xb.shape[0]
        emb = C[Xb]
        embcat = emb.reshape(n, -1)
        hprebn = embcat @ W1
        mu = hprebn.mean(0, keepdims=True)
        xc = hprebn - mu
        var = (xc ** 2).mean(0, keepdims=True)
        inv = (var + 1e-5) ** -0.5
        bnraw = xc * inv
        h = np.tanh(bngain * bnraw + bnbias)
        logits = h @ W2 + {bias}
        e = np.exp(logits - logits.max(1, keepdims=True))
        probs = e / e.sum(1, keepdims=True)
        dlogits = probs.copy()
        dlogits[np.arange(n), Yb] -= 1
        dlogits /= n
        dh = dlogits @ W2.T
        dpre = (1 - h ** 2) * dh
        dbnraw = bngain * dpre
        dhprebn = inv * (dbnraw - dbnraw.mean(0) - bnraw * (dbnraw * bnraw).mean(0))
        dembcat = dhprebn @ W1.T
        dC = np.zeros_like(C)
        np.add.at(dC, Xb, dembcat.reshape(emb.shape))
        return {{"C": dC, "W1": embcat.T @ dhprebn, "W2": h.T @ dlogits, "{bias}": dlogits.sum(0),
                 "bngain": (bnraw * dpre).sum(0), "bnbias": dpre.sum(0)}}
    """


def test_makemore_b2_is_the_bias_of_the_layer_w2_names(tmp_path):
    """The exercise's first layer has no bias: its code reads C, W1, W2, b2 (no b1), b2 the output layer's."""
    fn = _file(tmp_path, "makemore.py", MAKEMORE.format(bias="b2"))
    net = resolve("3-emb7x4-flatten-6:nobias-bn:tanh-7:softmax")[1]
    report = check_code(net, f"{fn}:backward", points=1, labels="integer")
    assert report.error is None, report.error
    out_bias = [str(p.name) for p in net.derive().model.params][-1]
    assert report.ok, report.summary()
    assert any(f"b2 as {out_bias}" in n for n in report.notes), report.notes
    assert not report.extra


def test_which_reading_of_bk_the_code_names_say():
    """Counting reads b1 as the first bias; aligned reads bK as the bias of WK's layer. The code's own names decide:
    b2 without b1, where counting has no second bias, is aligned; b1 alone, counting; b1 and b2 where only counting
    has both, counting."""
    from compile.checks.intermediates import aligned_aliases, param_aliases
    from compile.checks.readings import reads_biases_aligned, strings_read
    model = resolve("3-emb7x4-flatten-6:nobias-bn:tanh-7-5:softmax")[1].derive().model
    counted, aligned = param_aliases(model), aligned_aliases(model)
    import re
    biases = [str(p.name) for p in model.params if re.fullmatch(r"b\d+", str(p.name))]
    weights = [str(p.name) for p in model.params if re.fullmatch(r"W\d+", str(p.name))]
    assert len(weights) == 3 and len(biases) == 2   # the first dense layer has none
    assert counted["b1"] == biases[0] and counted["b2"] == biases[1]
    assert aligned == {"b2": biases[0], "b3": biases[1]}
    assert reads_biases_aligned({"W1", "W2", "W3", "b2", "b3"}, counted, aligned)
    assert not reads_biases_aligned({"W1", "W2", "W3", "b1", "b2"}, counted, aligned)
    assert not reads_biases_aligned({"W1", "W2", "b1"}, counted, aligned)
    assert reads_biases_aligned({"W2", "b2"}, counted, aligned)       # both fit: b2 read beside its W2
    assert not reads_biases_aligned({"b2"}, counted, aligned)         # both fit, no W2 read: counting

    def backward(params, X, y):
        return {"b3": params["b3"], "W3": params["W3"]}
    assert {"b3", "W3"} <= strings_read(backward)


# ---- D3: a key matched to a parameter by name is reported there, with its shape ----

def test_deeplearning_ai_dw_transposed_is_named_at_w(tmp_path):
    """propagate(w, b, X, Y) is handed w as the column (3, 1); np.dot(A - Y, X.T) is (1, 3), the transpose."""
    def propagate(w, b, X, Y):
        m = X.shape[1]
        A = 1 / (1 + np.exp(-(np.dot(w.T, X) + b)))
        dw = 1 / m * np.dot(A - Y, X.T)
        db = 1 / m * np.sum(A - Y)
        return {"dw": dw, "db": db}, -np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A))
    net = resolve("3-1:sigmoid", loss="bce")[1]
    report = check_code(net, propagate, points=1, convention="columns")
    w = report.params["W1"]
    assert not w.ok and "not returned" not in w.message
    assert "(1, 3)" in w.message and "(3, 1)" in w.message and "transposed" in w.message
    assert "dw" not in report.extra
    assert report.params["b1"].ok


def test_a_gradient_kept_in_module_globals_returned_transposed_is_named(tmp_path):
    """The module keeps W1 as (2, 3), columns; a gradient returned as (3, 2) is its transpose, though it has
    derivax's own shape."""
    fn = _file(tmp_path, "glob.py", """\
        import numpy as np

        W1 = np.zeros((2, 3))
        b1 = np.zeros((2, 1))

        def grads(X, Y):
            m = X.shape[0]
            d = 2 * (X @ W1.T + b1.T - Y) / m
            return {"W1": X.T @ d, "b1": d.sum(axis=0).reshape(-1, 1)}
        """)
    report = check_code(resolve("3-2")[1], f"{fn}:grads", points=1)
    assert report.error is None, report.error
    w = report.params["W1"]
    assert not w.ok and "(3, 2)" in w.message and "(2, 3)" in w.message and "transposed" in w.message
    assert report.params["b1"].ok, report.params["b1"].message


# ---- D4: clipping inferred only where the reference goes past the bound ----

def test_a_gradient_that_is_one_over_m_is_no_clip(tmp_path):
    """CS231n's svm_loss with the correct class's count left out: at m = 5 its largest entry is 1/m = 0.2, a value
    the gradient takes by itself; nothing clips."""
    fn = _file(tmp_path, "svm.py", """\
        import numpy as np

        def svm_loss(x, y):
            N = x.shape[0]
            margins = np.maximum(0, x - x[np.arange(N), y][:, None] + 1.0)
            margins[np.arange(N), y] = 0
            loss = margins.sum() / N
            dx = (margins > 0).astype(float)
            dx[np.arange(N), y] -= 1
            dx /= N
            return loss, dx
        """)
    report = check_code(resolve("4-4", loss="svm")[1], f"{fn}:svm_loss", points=1, labels="integer")
    assert report.error is None, report.error
    assert not report.params["dx"].ok
    assert not any("clip" in n for n in report.notes), report.notes


def test_a_real_clip_is_still_found():
    """np.clip(g, -0.2, 0.2) on the right gradients: checked again where nothing reaches the bound, and right."""
    def backward(params, x, y):
        W1, W2 = params["W1"], params["W2"]
        A1 = np.tanh(x @ W1)
        d2 = 2 * (A1 @ W2 - y) / x.shape[0]
        d1 = d2 @ W2.T * (1 - A1 ** 2)
        g = {"W1": x.T @ d1, "W2": A1.T @ d2}
        for v in g.values():
            np.clip(v, -0.2, 0.2, out=v)
        return g
    net = resolve("3-4:tanh:nobias-2:nobias")[1]
    report = check_code(net, backward, points=2)
    assert report.ok, report.summary()
    assert any("±0.2" in n and "clipped" in n for n in report.notes), report.notes


# ---- D5: the hint about indexing with x or y only where the index is made of them ----

def test_a_mask_of_the_wrong_shape_gets_no_hint_about_inputs(tmp_path):
    fn = _file(tmp_path, "mask.py", """\
        import numpy as np

        def backward(params, X, y):
            W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
            Z1 = X @ W1 + b1
            A1 = np.maximum(Z1, 0)
            Z2 = A1 @ W2 + b2
            dZ2 = Z2 - y
            dA1 = dZ2 @ W2.T
            dA1[Z2 <= 0] = 0
            return {"W1": X.T @ dA1, "b1": dA1.sum(0), "W2": A1.T @ dZ2, "b2": dZ2.sum(0)}
        """)
    report = check_code(resolve("4-5:relu-3")[1], f"{fn}:backward", points=1)
    assert report.stopped == "exception" and "boolean index" in report.error
    assert not any("hint" in n for n in report.notes), report.notes
    assert not report.indexes_data


def test_a_key_spelled_wrong_gets_no_hint_about_inputs():
    def backward(params, X, y):
        grads = {"dA1": X}
        return {"W1": grads["dA" + str(2)]}
    report = check_code(resolve("4-3")[1], backward, points=1)
    assert report.stopped == "exception" and "KeyError" in report.error
    # (the call's note names the function, whose qualified name here holds the word)
    assert not any("hint" in n for n in report.notes if not n.startswith("called as")), report.notes


def test_targets_used_as_indices_get_the_hint():
    """One-hot y (floats) as CS231n's index array: the hint names --labels integer."""
    def backward(params, X, y):
        s = X @ params["W1"] + params["b1"]
        d = np.exp(s) / np.exp(s).sum(1, keepdims=True)
        d[np.arange(len(X)), y] -= 1
        return {"W1": X.T @ d / len(X), "b1": d.mean(0)}
    report = check_code(resolve("4-3:softmax")[1], backward, points=1)
    assert report.stopped == "exception" and report.indexes_data
    assert any("--labels integer" in n for n in report.notes), report.notes


# ---- D6: a factor of m under --reduction sum ----

def test_a_mean_where_j_is_the_sum_is_named_for_the_sum():
    """J = Σ (yhat − y)²/2 over the batch: code that divides by m returns ref / m, and that is no second 1/m."""
    def backward(params, x, t):
        W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
        m = x.shape[0]
        z = np.tanh(x @ W1 + b1)
        d2 = (z @ W2 + b2 - t) / m
        d1 = d2 @ W2.T * (1 - z ** 2)
        return {"W1": x.T @ d1, "b1": d1.sum(0), "W2": z.T @ d2, "b2": d2.sum(0)}
    net = resolve("3-5:tanh-2", loss="(yhat-y)**2/2", reduction="sum")[1]
    report = check_code(net, backward, points=2)
    for p in report.params.values():
        assert not p.ok and "twice" not in p.message
        assert "divided by m" in p.message and "--reduction sum" in p.message, p.message
    mean = resolve("3-5:tanh-2", loss="(yhat-y)**2/2")[1]   # under the mean, the same code is right
    assert check_code(mean, backward, points=2).ok

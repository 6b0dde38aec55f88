"""`derivax check-code`: hand-written backward functions, right and wrong in known ways, get the verdicts
their mistakes call for. The expected verdicts come from the code under test's construction (and the
correct functions are checked against finite differences of a NumPy loss), not from derivax."""
import json

import numpy as np
import pytest

from compile import cli
from compile._check_code import check_code
from derive._examples import resolve

FORWARD = '''import numpy as np


def forward(params, x):
    z1 = np.dot(x, params["W1"]) + params["b1"]
    a1 = np.tanh(z1)
    z2 = np.dot(a1, params["W2"]) + params["b2"]
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))   # np.softmax does not exist
    return a1, e / e.sum(axis=1, keepdims=True)
'''

# Seed 000's backward pass, repaired just enough to run: a1 and a2 computed inside, a dict returned.
# It still returns only dW1 and db1.
SEED000 = FORWARD + '''

def backward_propagation(params, x, y):
    a1, a2 = forward(params, x)
    W2 = params["W2"]
    m = x.shape[0]
    dZ2 = a2 - y
    dW2 = np.dot(a1.T, dZ2) / m
    db2 = np.sum(dZ2, axis=0, keepdims=True) / m
    dZ1 = np.dot(dZ2, W2.T) * (1 - np.power(a1, 2))
    dW1 = np.dot(x.T, dZ1) / m
    db1 = np.sum(dZ1, axis=0, keepdims=True) / m
    return {"W1": dW1, "b1": db1}
'''

FULL = FORWARD + '''

def backward(params, x, y):
    a1, a2 = forward(params, x)
    m = x.shape[0]
    dZ2 = a2 - y
    dW2 = np.dot(a1.T, dZ2) / m
    db2 = np.sum(dZ2, axis=0, keepdims=True) / m
    dZ1 = np.dot(dZ2, params["W2"].T) * (1 - np.power(a1, 2))
    dW1 = np.dot(x.T, dZ1) / m
    db1 = np.sum(dZ1, axis=0) / m
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
'''

# Three layers, relu, relu, identity, J = (1/m) sum (A3 - Y)^2.
RELU_MSE = '''import numpy as np


def backward(params, x, y):
    z1 = x @ params["W1"] + params["b1"]
    a1 = np.maximum(z1, 0)
    z2 = a1 @ params["W2"] + params["b2"]
    a2 = np.maximum(z2, 0)
    a3 = a2 @ params["W3"] + params["b3"]
    m = len(x)
    dZ3 = 2 * (a3 - y) / m
    dA2 = dZ3 @ params["W3"].T
    dZ2 = dA2 * (z2 > 0)
    dZ1 = dZ2 @ params["W2"].T * (z1 > 0)
    return {"W1": x.T @ dZ1, "b1": dZ1.sum(0), "W2": a1.T @ dZ2, "b2": dZ2.sum(0),
            "W3": a2.T @ dZ3, "b3": dZ3.sum(0)}
'''


def load(source, name="backward"):
    namespace = {}
    exec(compile(source, "<test>", "exec"), namespace)
    return namespace[name]


def numpy_loss(source, params, x, y):
    """J from the file's own forward pass, straight from the definitions (ce or mse)."""
    if "forward" in source:
        _, a2 = load(source, "forward")(params, x)
        return -np.sum(y * np.log(a2)) / len(x)
    a = x
    for k in (1, 2, 3):
        z = a @ params[f"W{k}"] + params[f"b{k}"]
        a = np.maximum(z, 0) if k < 3 else z
    return np.sum((a - y) ** 2) / len(x)


@pytest.mark.parametrize("source, spec", [(FULL, "2-2:tanh-2:softmax"), (FULL, "3-4:tanh-2:softmax"),
                                          (RELU_MSE, "4-5:relu-3:relu-2")])
def test_reference_functions_match_finite_differences(source, spec):
    """The 'correct' functions of this file are correct, independently of derivax."""
    rng = np.random.default_rng(7)
    sizes = [int(s.split(":")[0]) for s in spec.split("-")]
    params = {}
    for k, (i, o) in enumerate(zip(sizes, sizes[1:]), 1):
        params[f"W{k}"], params[f"b{k}"] = rng.normal(0, 0.7, (i, o)), rng.normal(0, 0.3, o)
    x = rng.normal(size=(6, sizes[0]))
    y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], 6)] if "softmax" in spec else rng.normal(size=(6, sizes[-1]))
    got = load(source)(params, x, y)
    h = 1e-6
    for name, p in params.items():
        num = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + h
            up = numpy_loss(source, params, x, y)
            p[idx] = old - h
            num[idx] = (up - numpy_loss(source, params, x, y)) / (2 * h)
            p[idx] = old
        assert np.allclose(np.reshape(got[name], p.shape), num, rtol=1e-5, atol=1e-8), name


def run_cli(tmp_path, capsys, source, model, fn="backward", extra=()):
    path = tmp_path / "user_backward.py"
    path.write_text(source)
    rc = cli.main(["check-code", model, f"{path}:{fn}", "--json", *extra])
    out = capsys.readouterr().out
    return rc, out, json.loads(out.strip().splitlines()[-1])


def wrong(doc):
    return {n for n, p in doc["params"].items() if not p["ok"]}


def test_seed000_backward_misses_exactly_w2_and_b2(tmp_path, capsys):
    rc, out, doc = run_cli(tmp_path, capsys, SEED000, "xor", "backward_propagation")
    assert rc == 1 and doc["ok"] is False
    assert wrong(doc) == {"W2", "b2"}
    for name in ("W2", "b2"):
        assert "not returned" in doc["params"][name]["message"]
        assert doc["params"][name]["max_rel_err"] is None
    for name in ("W1", "b1"):
        assert doc["params"][name]["max_rel_err"] < 1e-10
    assert "xor data (m=4)" in doc["points"]
    assert "2 of 4 gradients wrong (W2, b2)" in out


def test_full_xor_backward_is_right_at_random_points_and_data(tmp_path, capsys):
    rc, out, doc = run_cli(tmp_path, capsys, FULL, "xor")
    assert rc == 0 and doc["ok"] is True and wrong(doc) == set()
    assert len(doc["points"]) == 4 and doc["points"][-1] == "xor data (m=4)"
    assert all(p["max_rel_err"] < 1e-10 for p in doc["params"].values())
    assert "OK: all 4 gradients right" in out


def test_missing_one_over_m_in_dw2_only(tmp_path, capsys):
    src = FULL.replace("dW2 = np.dot(a1.T, dZ2) / m", "dW2 = np.dot(a1.T, dZ2)")
    assert src != FULL
    rc, _, doc = run_cli(tmp_path, capsys, src, "xor")
    assert rc == 1 and wrong(doc) == {"W2"}
    assert "missing 1/m" in doc["params"]["W2"]["message"]
    assert doc["params"]["W2"]["max_rel_err"] == pytest.approx(6.0, rel=1e-6)  # m - 1 at m = 7


def test_sigmoid_derivative_in_a_tanh_layer(tmp_path, capsys):
    src = FULL.replace("(1 - np.power(a1, 2))", "a1 * (1 - a1)")
    assert src != FULL
    rc, _, doc = run_cli(tmp_path, capsys, src, "xor")
    assert rc == 1 and wrong(doc) == {"W1", "b1"}
    for name in ("W1", "b1"):  # not a constant factor: no diagnosis is claimed
        assert doc["params"][name]["message"] == "differs from the derived gradient"


def test_transposed_dw1_on_a_non_square_layer(tmp_path, capsys):
    src = FULL.replace('{"W1": dW1,', '{"W1": dW1.T,')
    assert src != FULL
    rc, out, doc = run_cli(tmp_path, capsys, src, "3-4:tanh-2:softmax")
    assert rc == 1 and wrong(doc) == {"W1"}
    msg = doc["params"]["W1"]["message"]
    assert "expected (3, 4)" in msg and "found (4, 3)" in msg and "transposed?" in msg


def test_exception_names_the_line_of_the_users_file(tmp_path, capsys):
    bad = 'dZ1 = np.dot(dZ2, params["W2"]) * (1 - np.power(a1, 2))'  # W2 not transposed: (m, 2) . (4, 2)
    src = FULL.replace('dZ1 = np.dot(dZ2, params["W2"].T) * (1 - np.power(a1, 2))', bad)
    assert src != FULL
    line = src.splitlines().index("    " + bad) + 1
    rc, out, doc = run_cli(tmp_path, capsys, src, "3-4:tanh-2:softmax")
    assert rc == 1 and wrong(doc) == {"W1", "b1", "W2", "b2"}
    assert "Traceback" not in out
    assert f"line {line} of user_backward.py" in doc["error"] and "ValueError" in doc["error"]
    assert all(doc["error"] in p["message"] for p in doc["params"].values())


def test_three_layer_relu_mse_with_one_wrong_parameter(tmp_path, capsys):
    rc, _, doc = run_cli(tmp_path, capsys, RELU_MSE, "4-5:relu-3:relu-2")
    assert rc == 0 and wrong(doc) == set()
    src = RELU_MSE.replace('"b2": dZ2.sum(0)', '"b2": dA2.sum(0)')  # relu' left out of b2 alone
    assert src != RELU_MSE
    rc, _, doc = run_cli(tmp_path, capsys, src, "4-5:relu-3:relu-2")
    assert rc == 1 and wrong(doc) == {"b2"}
    assert doc["params"]["b2"]["message"] == "differs from the derived gradient"


def test_json_is_exactly_one_last_line(tmp_path, capsys):
    rc, out, doc = run_cli(tmp_path, capsys, SEED000, "xor", "backward_propagation", ["--seed", "3"])
    json_lines = [l for l in out.splitlines() if l.startswith("{")]
    assert len(json_lines) == 1 and out.strip().splitlines()[-1] == json_lines[0]
    assert set(doc["params"]) == {"W1", "b1", "W2", "b2"}
    assert {"ok", "max_rel_err", "message"} <= set(doc["params"]["W1"])
    assert doc["points"][0] == "seed 3 (m=5)"


@pytest.mark.parametrize("arg, needle", [("missing.py", "no such file"), ("{path}:nope", "defines no 'nope'"),
                                         ("{path}:np", "is a module, not a function")])
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, arg, needle):
    path = tmp_path / "user_backward.py"
    path.write_text(FULL)
    rc = cli.main(["check-code", "xor", str(tmp_path / arg.format(path=path))])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_default_function_name_is_backward(tmp_path, capsys):
    path = tmp_path / "user_backward.py"
    path.write_text(FULL)
    assert cli.main(["check-code", "xor", str(path)]) == 0
    assert "OK: all 4 gradients right" in capsys.readouterr().out


# ---- the Python API, with variations of a correct function ----

@pytest.fixture(scope="module")
def xor():
    return resolve("xor")[1], load(FULL)


def variant(good, change):
    return lambda p, x, y: change(good(p, x, y), x)


def verdicts(report):
    return {n for n, p in report.params.items() if not p.ok}, {n: p.message for n, p in report.params.items()}


@pytest.mark.parametrize("name, change, bad, message", [
    ("sign", lambda g, x: {**g, "W2": -g["W2"]}, {"W2"}, "wrong sign (user = -ref)"),
    ("factor", lambda g, x: {**g, "b2": 0.5 * g["b2"]}, {"b2"}, "off by a constant factor: user = 0.5 · ref"),
    ("m twice", lambda g, x: {**g, "b1": g["b1"] / len(x)}, {"b1"}, "divided by m twice (user = ref / m)"),
    ("transposed", lambda g, x: {**g, "W1": g["W1"].T}, {"W1"}, "transposed (its transpose is right)"),
    ("zeros", lambda g, x: {**g, "W2": np.zeros((2, 2))}, {"W2"}, "all zeros"),
    ("nan", lambda g, x: {**g, "b1": g["b1"] * np.nan}, {"b1"}, "2 non-finite value(s) (nan or inf)"),
    ("shape", lambda g, x: {**g, "b2": np.zeros((len(x), 2))}, {"b2"}, "not summed over the batch?"),
    ("noise", lambda g, x: {**g, "W1": g["W1"] + 1e-3 * np.cos(x[:2, :2])}, {"W1"},
     "differs from the derived gradient"),
    ("float32", lambda g, x: {k: v.astype(np.float32) for k, v in g.items()}, set(), ""),
    ("float32 too far", lambda g, x: {**g, "W1": (g["W1"] * (1 + 1e-3)).astype(np.float32)}, {"W1"}, ""),
    ("float64 too far", lambda g, x: {**g, "W1": g["W1"] * (1 + 1e-5)}, {"W1"}, ""),
])
def test_diagnoses(xor, name, change, bad, message):
    net, good = xor
    report = check_code(net, variant(good, change))
    wrong_set, messages = verdicts(report)
    assert wrong_set == bad and report.ok == (not bad)
    for n in bad:
        assert message in messages[n]


def test_one_batch_size_cannot_tell_m_from_a_constant(xor):
    net, good = xor
    report = check_code(net, variant(good, lambda g, x: {**g, "W2": g["W2"] * len(x)}), points=1)
    assert report.params["W2"].message == "off by a constant factor: user = 5 · ref (= the batch size m: missing 1/m?)"


def test_function_sees_biases_as_vectors_and_extra_keys_are_noted(xor):
    net, good = xor
    seen = []

    def fn(p, x, y):
        seen.append({k: v.shape for k, v in p.items()})
        return {**good(p, x, y), "dZ1": 0}
    report = check_code(net, fn, points=2)
    assert report.ok and report.extra == ["dZ1"]
    assert seen == [{"W1": (2, 2), "b1": (2,), "W2": (2, 2), "b2": (2,)}] * 2


def test_non_dict_return_marks_every_parameter(xor):
    net, good = xor
    report = check_code(net, lambda p, x, y: tuple(good(p, x, y).values()))
    assert not report.ok and "returned a tuple, not a dict" in report.error
    assert all(not p.ok and p.max_rel_err is None for p in report.params.values())
    assert json.loads(report.to_json())["ok"] is False


def test_data_point_is_used(xor):
    net, good = xor
    x = np.array([[0.0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.eye(2)[[0, 1, 1, 0]]
    only_data = []

    def fn(p, xx, yy):
        only_data.append(xx.shape[0])
        return good(p, xx, yy)
    report = check_code(net, fn, points=1, data=(x, y), data_label="xor data")
    assert report.ok and only_data == [5, 4] and report.points[-1] == "xor data (m=4)"


def test_dropout_network_is_checked_with_dropout_off():
    """The mlp example has dropout; the user's function has none and must still match."""
    net = resolve("mlp")[1]

    def fn(p, x, y):
        z1 = x @ p["W1"] + p["b1"]
        a1 = np.maximum(z1, 0)
        z2 = a1 @ p["W2"] + p["b2"]
        e = np.exp(z2 - z2.max(axis=1, keepdims=True))
        d2 = (e / e.sum(axis=1, keepdims=True) - y) / len(x)
        d1 = d2 @ p["W2"].T * (z1 > 0)
        return {"W1": x.T @ d1, "b1": d1.sum(0), "W2": a1.T @ d2, "b2": d2.sum(0)}
    assert check_code(net, fn, points=2).ok

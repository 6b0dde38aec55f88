"""`derivax check-code`: hand-written backward functions, right and wrong in known ways, get the verdicts
their mistakes call for. The expected verdicts come from the code under test's construction (and the
correct functions are checked against finite differences of a NumPy loss), not from derivax."""
import json
import os
import signal
import sys
import time

import numpy as np
import pytest

from compile.cli import main as cli
from compile.checks.code import check_code
from compile.checks.sandbox import LoadError
from derive.network.examples import parse_spec, resolve

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
    for name in ("W1", "b1"):  # the wrong derivative is found behind Z1 = X W1 + b1
        assert doc["params"][name]["message"] == "sigmoid's derivative A ⊙ (1 − A) used at layer 1"


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
    assert rc == 2 and wrong(doc) == {"W1", "b1", "W2", "b2"} and doc["stopped"] == "exception"
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
    assert doc["params"]["b2"]["message"] == "the activation's derivative left out at layer 2 (G passed through as if A = Z)"


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
        return {**good(p, x, y), "loss": 0}
    report = check_code(net, fn, points=2)
    assert report.ok and report.extra == ["loss"]
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


# ---- the user's code misbehaving: every way it can end is a verdict, exit status 2 ----

SPEC = "2-3:tanh-2:softmax"


def run_file(tmp_path, capsys, source, *extra, fn="backward"):
    """(exit status, stdout, stderr, the JSON line or None) of check-code on ``source`` in a file."""
    path = tmp_path / "user_backward.py"
    path.write_text(source)
    rc = cli.main(["check-code", SPEC, f"{path}:{fn}", "--json", *extra])
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    return rc, out, err, (json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None)


def line_of(source, text):
    """The 1-based line of ``source`` that contains ``text`` (the test's own count, not derivax's)."""
    (number,) = [k for k, line in enumerate(source.splitlines(), 1) if text in line]
    return number


def assert_stopped(rc, out, doc, stopped, *needles):
    assert rc == 2 and doc["ok"] is False and doc["stopped"] == stopped
    for needle in needles:
        assert needle in doc["error"], (needle, doc["error"])
    assert all(not p["ok"] and doc["error"] in p["message"] for p in doc["params"].values())
    assert "Traceback" not in out and out.strip().splitlines()[-2].startswith("ERROR: ")


@pytest.mark.parametrize("code", [0, 3])
def test_sys_exit_in_the_function_names_status_and_line(tmp_path, capsys, code):
    src = f"import sys\n\n\ndef backward(params, x, y):\n    sys.exit({code})\n"
    rc, out, _, doc = run_file(tmp_path, capsys, src)
    assert_stopped(rc, out, doc, "exit", f"status {code}",
                   f"line {line_of(src, 'sys.exit(')} of user_backward.py: sys.exit({code})")


def test_os_exit_in_the_function_ends_only_the_child(tmp_path, capsys):
    rc, out, _, doc = run_file(tmp_path, capsys, "import os\n\ndef backward(params, x, y):\n    os._exit(0)\n")
    assert_stopped(rc, out, doc, "exit", "status 0", "os._exit")


@pytest.mark.parametrize("body, signame", [("ctypes.string_at(0)", "SIGSEGV"),
                                           ("os.kill(os.getpid(), signal.SIGKILL)", "SIGKILL")])
def test_a_signal_that_kills_the_child_is_named(tmp_path, capsys, body, signame):
    src = f"import ctypes, os, signal\n\ndef backward(params, x, y):\n    {body}\n"
    rc, out, _, doc = run_file(tmp_path, capsys, src)
    assert_stopped(rc, out, doc, "signal", f"killed by signal {signame}")


def alive(pid):
    """Whether process ``pid`` still runs (a zombie, dead but not yet reaped, does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False


@pytest.mark.parametrize("body", ["while True:\n        pass", "time.sleep(1000)"])
def test_a_call_that_does_not_return_is_cut_at_the_timeout(tmp_path, capsys, body):
    """... and the child is killed together with what it started (here a helper process)."""
    pids = tmp_path / "pids.txt"
    src = ("import os, subprocess, sys, time\n\ndef backward(params, x, y):\n"
           "    helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(1000)'])\n"
           f"    open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{helper.pid}}')\n    {body}\n")
    start = time.monotonic()
    rc, out, _, doc = run_file(tmp_path, capsys, src, "--timeout", "1")
    assert_stopped(rc, out, doc, "timeout", "time limit of 1 s", "--timeout")
    assert doc["points"] == ["seed 0 (m=5)"] and time.monotonic() - start < 8
    child, helper = map(int, pids.read_text().split())
    deadline = time.monotonic() + 3  # the helper, orphaned, is reaped by whoever adopts it
    while (alive(child) or alive(helper)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child) and not alive(helper)


@pytest.mark.parametrize("exc, stopped", [("KeyboardInterrupt", "KeyboardInterrupt"),
                                          ("MemoryError('too big')", "MemoryError"),
                                          ("GeneratorExit", "exception")])
def test_base_exceptions_from_the_function_are_verdicts(tmp_path, capsys, exc, stopped):
    src = f"def backward(params, x, y):\n    raise {exc}\n"
    rc, out, _, doc = run_file(tmp_path, capsys, src)
    assert_stopped(rc, out, doc, stopped, f"raised {exc.split('(')[0]}",
                   f"line 2 of user_backward.py: raise {exc}")


def test_memory_blow_up_is_a_memory_error_under_the_childs_limit(tmp_path, capsys, monkeypatch):
    """2 GiB would be allocated without the limit on any machine that runs these tests; with a limit of
    1 GiB the allocation itself fails, before any page is touched."""
    from compile.checks import sandbox as _sandbox
    monkeypatch.setattr(_sandbox, "memory_limit", lambda: 2**30)
    src = "import numpy as np\n\ndef backward(params, x, y):\n    big = np.ones(2**28)\n    return {}\n"
    rc, out, _, doc = run_file(tmp_path, capsys, src)
    assert_stopped(rc, out, doc, "MemoryError", "line 4 of user_backward.py: big = np.ones(2**28)",
                   "memory limit of the check: 1 GiB")


@pytest.mark.parametrize("top, stopped, needle", [
    ("import sys\nsys.exit(0)", "exit", "status 0 through sys.exit (line 2 of user_backward.py: sys.exit(0))"),
    ("import sys\nsys.exit(3)", "exit", "status 3 through sys.exit (line 2 of user_backward.py: sys.exit(3))"),
    ("import os\nos._exit(0)", "exit", "exited with status 0 without returning or raising"),
    ("import time\ntime.sleep(1000)", "timeout", "time limit of 1 s"),
    ("raise KeyboardInterrupt", "KeyboardInterrupt", "raised KeyboardInterrupt (line 1 of user_backward.py"),
    ("x = (", "exception", "raised SyntaxError: '(' was never closed (line 1 of user_backward.py: x = ()"),
])
def test_a_file_that_does_not_load_exits_2_with_one_line(tmp_path, capsys, top, stopped, needle):
    rc, out, err, doc = run_file(tmp_path, capsys, top + "\n\ndef backward(params, x, y):\n    return {}\n",
                                 "--timeout", "1")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "did not load" in err and needle in err
    assert doc["stopped"] == stopped and doc["ok"] is False and needle in doc["error"]
    assert "Traceback" not in out + err


@pytest.mark.parametrize("returned, needle", [
    ("None", "returned None, not a dict of gradients ({'W1': ..., 'b1': ..., 'W2': ..., 'b2': ...})"),
    ("[1, 2]", "returned a list, not a dict"),
    ("(g for g in [1])", "returned a generator, not a dict"),
    ("'W1'", "returned a str, not a dict"),
])
def test_a_value_that_is_no_dict_says_what_it_is(tmp_path, capsys, returned, needle):
    rc, out, _, doc = run_file(tmp_path, capsys, f"def backward(params, x, y):\n    return {returned}\n")
    assert_stopped(rc, out, doc, "result", needle)


@pytest.mark.parametrize("method, needle", [
    ("__contains__(self, k)", "'W1' in result raised RuntimeError: broken"),
    ("__getitem__(self, k)", "result['W1'] raised RuntimeError: broken"),
    ("keys(self)", "result.keys() raised RuntimeError: broken"),
])
def test_a_dict_whose_methods_raise_names_the_method_and_line(tmp_path, capsys, method, needle):
    src = ("import numpy as np\n\n\nclass Grads(dict):\n    def " + method + ":\n"
           "        raise RuntimeError('broken')\n\n\n"
           "def backward(params, x, y):\n    return Grads({k: np.zeros_like(v) for k, v in params.items()})\n")
    rc, out, _, doc = run_file(tmp_path, capsys, src)
    assert_stopped(rc, out, doc, "exception", "returned a Grads", needle,
                   f"line {line_of(src, 'broken')} of user_backward.py: raise RuntimeError('broken')")


# A right backward pass of 2-3:tanh-2:softmax; VALUES below replace one gradient at a time.
RIGHT = '''import numpy as np


def backward(params, x, y):
    a1 = np.tanh(x @ params["W1"] + params["b1"])
    z2 = a1 @ params["W2"] + params["b2"]
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    d2 = (e / e.sum(axis=1, keepdims=True) - y) / len(x)
    d1 = d2 @ params["W2"].T * (1 - a1**2)
    grads = {"W1": x.T @ d1, "b1": d1.sum(0), "W2": a1.T @ d2, "b2": d2.sum(0)}
    grads.update(CHANGE)
    return grads
'''


def test_the_right_function_of_these_tests_is_right(tmp_path, capsys):
    rc, _, _, doc = run_file(tmp_path, capsys, RIGHT.replace("CHANGE", "{}"))
    assert rc == 0 and doc["ok"] is True and doc["stopped"] is None and doc["error"] is None


@pytest.mark.parametrize("change, param, needle", [
    ('{"W2": grads["W2"] * np.nan}', "W2", "6 non-finite value(s)"),
    ('{"b1": np.array([np.inf, 0, 0])}', "b1", "1 non-finite value(s)"),
    ('{"W1": grads["W1"] + 0j}', "W1", "complex values (dtype complex128)"),
    ('{"b2": "0.1 0.2"}', "b2", "a str, not an array of numbers"),
    ('{"b2": None}', "b2", "None, not an array of numbers"),
    ('{"W1": np.array([[1, "a", None]] * 2, dtype=object)}', "W1", "not an array of real numbers (dtype object)"),
    ('{"W1": (v for v in grads["W1"])}', "W1", "a generator, not an array of numbers"),
    ('{"W2": grads["W2"][:, :1]}', "W2", "wrong shape: expected (3, 2), found (3, 1)"),
    ('{"W1": np.zeros((2000, 1000))}', "W1", "wrong shape: found (2000, 1000), 2000000 values"),
])
def test_a_bad_value_is_a_verdict_on_its_parameter(tmp_path, capsys, change, param, needle):
    rc, _, _, doc = run_file(tmp_path, capsys, RIGHT.replace("CHANGE", change))
    assert rc == 1 and doc["stopped"] is None and wrong(doc) == {param}
    assert needle in doc["params"][param]["message"]


def test_wrong_keys_and_keys_that_are_no_strings(tmp_path, capsys):
    src = RIGHT.replace("grads.update(CHANGE)", 'grads["w"] = grads.pop("W1"); grads[2] = grads.pop("b2")')
    rc, _, _, doc = run_file(tmp_path, capsys, src)
    assert rc == 1 and wrong(doc) == {"W1", "b2"}
    for name in ("W1", "b2"):
        assert doc["params"][name]["message"] == ("missing: not returned (keys returned that are no parameter: "
                                                  "w, 2 (an int, not a str))")
    assert doc["extra"] == ["2 (an int, not a str)", "w"]


def test_prints_and_garbage_on_stdout_do_not_reach_the_report(tmp_path, capfd):
    """The child's stdout is the parent's stderr: 5 MB of prints neither block it nor touch stdout,
    and bytes that look like a frame or a JSON verdict are only text there."""
    src = RIGHT.replace("CHANGE", "{}").replace("def backward", "print('x' * 5_000_000)\n\n\ndef backward")
    src = src.replace("    return grads", "    os.write(1, bytes(8) + b'{\"ok\": true}\\n')\n"
                                           "    print('y' * 1_000_000)\n    return grads")
    path = tmp_path / "user_backward.py"
    path.write_text("import os\n" + src)
    assert cli.main(["check-code", SPEC, str(path), "--json"]) == 0
    out, err = capfd.readouterr()
    assert [l for l in out.splitlines() if l.startswith("{")] == [out.strip().splitlines()[-1]]
    assert json.loads(out.strip().splitlines()[-1])["ok"] is True
    assert err.count("x" * 1000) >= 5000 and '{"ok": true}' in err and "y" * 1000 in err


def test_one_child_process_serves_every_point(tmp_path, capsys):
    pids = tmp_path / "pids.txt"
    src = RIGHT.replace("CHANGE", "{}").replace(
        "    return grads", f"    open({str(pids)!r}, 'a').write(str(__import__('os').getpid()) + '\\n')\n"
                           "    return grads")
    rc, _, _, doc = run_file(tmp_path, capsys, src, "--points", "4")
    seen = pids.read_text().split()
    assert rc == 0 and len(seen) == 4 and len(set(seen)) == 1 and int(seen[0]) != os.getpid()


@pytest.mark.parametrize("option, value, needle", [
    ("--timeout", "0", "must be a finite number > 0, not 0"),
    ("--timeout", "nan", "must be a finite number > 0, not nan"),
    ("--timeout", "soon", "must be a number, not 'soon'"),
    ("--points", "0", "must be from 1 to 100, not 0"),
    ("--points", "101", "must be from 1 to 100, not 101"),
    ("--seed", "-1", "must be from 0 to 4294967295, not -1"),
])
def test_bad_option_values_exit_2_naming_the_option(tmp_path, capsys, option, value, needle):
    path = tmp_path / "user_backward.py"
    path.write_text(FULL)
    try:  # argparse's own exit, whether or not the command line turns it into a return value
        rc = cli.main(["check-code", "xor", str(path), f"{option}={value}"])
    except SystemExit as stop:
        rc = stop.code
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and option in err and len(err.strip().splitlines()) == 1


# ---- the Python API: a callable runs in this process, a "file.py:name" in a child ----

def exits(p, x, y):
    sys.exit(4)


def interrupted(p, x, y):
    raise KeyboardInterrupt


def sleeps(p, x, y):
    time.sleep(1000)


def spins(p, x, y):
    while True:
        pass


@pytest.mark.parametrize("fn, stopped, needle", [
    (exits, "exit", "exited with status 4 through sys.exit (line"),
    (interrupted, "KeyboardInterrupt", "raised KeyboardInterrupt (line")])
def test_python_api_catches_exit_and_interrupt_of_a_callable(xor, fn, stopped, needle):
    report = check_code(xor[0], fn)
    assert not report.ok and report.stopped == stopped and needle in report.error
    assert f"line {fn.__code__.co_firstlineno + 1} of test_check_code.py" in report.error


@pytest.mark.parametrize("fn", [sleeps, spins])
def test_python_api_time_limit_on_a_callable(xor, fn):
    net, _ = xor
    start = time.monotonic()
    report = check_code(net, fn, timeout=0.5)
    assert report.stopped == "timeout" and "time limit of 0.5 s" in report.error
    assert time.monotonic() - start < 5 and signal.getitimer(signal.ITIMER_REAL)[0] == 0


def test_python_api_runs_a_file_in_a_child(tmp_path, xor):
    net, _ = xor
    path = tmp_path / "user_backward.py"
    path.write_text(FULL)
    assert check_code(net, f"{path}:backward").ok
    path.write_text("import os\n\ndef backward(params, x, y):\n    os._exit(7)\n")
    report = check_code(net, str(path))
    assert report.stopped == "exit" and "status 7" in report.error
    path.write_text("import sys\nsys.exit(5)\n")
    with pytest.raises(LoadError, match="status 5") as err:
        check_code(net, str(path))
    assert err.value.stopped == "exit"


# ---- what a user's code can do to the check itself ----

def test_an_exception_whose_str_raises_is_still_named(tmp_path, capfd):
    src = ("class Odd(Exception):\n    def __str__(self):\n        raise RuntimeError('no text')\n\n\n"
           "def backward(params, x, y):\n    raise Odd()\n")
    path = tmp_path / "user_backward.py"
    path.write_text(src)
    rc = cli.main(["check-code", SPEC, str(path), "--json"])
    out, err = capfd.readouterr()
    doc = json.loads(out.strip().splitlines()[-1])
    assert_stopped(rc, out, doc, "exception", "raised Odd: <its str() raised RuntimeError>",
                   f"line {line_of(src, 'raise Odd()')} of user_backward.py")
    assert "Traceback" not in err
    report = check_code(resolve("xor")[1], load(src))  # in this process too
    assert report.stopped == "exception" and "raised Odd: <its str() raised RuntimeError>" in report.error


def test_a_function_that_forks_is_answered_by_one_process(tmp_path, capfd):
    # The forked copy returns too: once it wrote a second reply into the channel and read the next
    # request, and the check ended in a broken channel with the child's traceback.
    src = FULL.replace("def backward(params, x, y):\n", "def backward(params, x, y):\n    os.fork()\n")
    path = tmp_path / "user_backward.py"
    path.write_text("import os\n" + src)
    rc = cli.main(["check-code", "xor", str(path), "--json"])
    out, err = capfd.readouterr()
    assert rc == 0 and json.loads(out.strip().splitlines()[-1])["ok"], out
    assert "Traceback" not in err


def test_an_async_function_is_named_without_a_warning(tmp_path, capfd):
    path = tmp_path / "user_backward.py"
    path.write_text("async def backward(params, x, y):\n    return {}\n")
    rc = cli.main(["check-code", SPEC, str(path), "--json"])
    out, err = capfd.readouterr()
    doc = json.loads(out.strip().splitlines()[-1])
    assert_stopped(rc, out, doc, "result", "returned a coroutine (an async def function: it must return "
                                           "the dict itself), not a dict")
    assert "never awaited" not in err


@pytest.mark.parametrize("kwargs, error, message", [
    ({"points": 0}, ValueError, r"^points must be 1 or more, not 0$"),   # once: "all right" at no point
    ({"points": 2.0}, TypeError, r"^points must be an integer, not 2\.0$"),
    ({"seed": -1}, ValueError, r"^seed must be 0 or more, not -1$"),
    ({"timeout": float("nan")}, ValueError, r"^timeout must be > 0 seconds \(or None for no limit\), not nan$"),
    ({"timeout": -1}, ValueError, r"^timeout must be > 0 seconds"),
    ({"timeout": "5"}, TypeError, r"^timeout must be a number of seconds or None, not '5'$"),
    ({"data": (np.zeros((3, 5)), np.eye(2)[[0, 1, 0]])}, ValueError,
     r"^data: the network takes 2 inputs per example, but x has 5 features"),
    ({"data": (np.zeros((3, 2)), np.eye(2)[[0, 1]])}, ValueError, r"^data: x and y differ in length: x has 3"),
    ({"data": (np.full((3, 2), np.nan), np.eye(2)[[0, 1, 0]])}, ValueError, r"^data: x: expected finite numbers"),
    ({"data": "xor"}, ValueError, r"^data: expected an \(x, y\) pair or a compile.train.data.Dataset, found str$"),
    ({"points": 10**9}, ValueError, r"^points must be at most 100 \(each point is a call of your code\), not 10+$"),
    ({"names": "dlogits=Z9"}, TypeError, r"^names maps your gradients' keys to derivax's node names, a dict such as "
                                         r"\{'dlogits': 'Z5'\}, not str 'dlogits=Z9'$"),
])
def test_python_api_refuses_bad_arguments_naming_them(xor, kwargs, error, message):
    net, fn = xor
    with pytest.raises(error, match=message):
        check_code(net, fn, **kwargs)


def test_python_api_takes_class_labels_as_data(xor):
    net, fn = xor
    x = np.array([[0.0, 0], [0, 1], [1, 0], [1, 1]])
    report = check_code(net, fn, points=1, data=(x, np.array([0, 1, 1, 0])))
    assert report.ok and report.points[-1] == "data (m=4)"


def test_a_file_that_replaces_what_the_channel_uses_is_still_checked(tmp_path, capfd):
    # os.write, json.dumps, numpy in sys.modules, replaced at load: the child's traceback and
    # "exited with status 1" once followed; the channel keeps its own references now.
    path = tmp_path / "user_backward.py"
    path.write_text(FULL + "\nimport json, os\nos.write = os.read = json.dumps = json.loads = None\n")
    rc = cli.main(["check-code", "xor", str(path), "--json"])
    out, err = capfd.readouterr()
    assert rc == 0 and json.loads(out.strip().splitlines()[-1])["ok"], out
    # no numpy for anyone after loading: the function returns lists, and the check still reads them
    path.write_text("import sys\nsys.modules['numpy'] = None\n\n\ndef backward(params, x, y):\n"
                    "    return {'W1': [[0.0, 0.0]] * 2, 'b1': [0.0, 0.0], 'W2': [[0.0, 0.0]] * 2, 'b2': [0.0, 0.0]}\n")
    rc = cli.main(["check-code", "xor", str(path), "--json"])
    out, err2 = capfd.readouterr()
    doc = json.loads(out.strip().splitlines()[-1])
    assert rc == 1 and doc["error"] is None and all(p["message"] == "all zeros" for p in doc["params"].values())
    assert "Traceback" not in err + err2


@pytest.mark.parametrize("where", ["load", "call"])
def test_a_function_that_closes_the_channel_is_named_for_it(tmp_path, capfd, where):
    close = "os.closerange(3, 1024)"
    src = (f"import os\n{close}\n\ndef backward(params, x, y):\n    return {{}}\n" if where == "load"
           else f"import os\n\ndef backward(params, x, y):\n    {close}\n    return {{}}\n")
    path = tmp_path / "user_backward.py"
    path.write_text(src)
    rc = cli.main(["check-code", SPEC, str(path), "--json"])
    out, err = capfd.readouterr()
    doc = json.loads(out.strip().splitlines()[-1])
    assert rc == 2 and doc["stopped"] == "crash" and "Traceback" not in err
    assert "broke the check's channel: the child could not answer (its code closed the channel's pipes" in doc["error"]


# ---- the courses' conventions: columns, grads["dW1"] ----

DLAI_BACKWARD = 'import numpy as np\n\ndef backward(parameters, X, Y):\n    """deeplearning.ai course 1 week 3 style: X (n_x, m), Y (n_y, m), W1 (n_h, n_x), b1 (n_h, 1); sigmoid output, cross-entropy."""\n    m = X.shape[1]\n    W1, b1, W2, b2 = parameters["W1"], parameters["b1"], parameters["W2"], parameters["b2"]\n    Z1 = np.dot(W1, X) + b1\n    A1 = np.tanh(Z1)\n    Z2 = np.dot(W2, A1) + b2\n    A2 = 1 / (1 + np.exp(-Z2))\n    dZ2 = A2 - Y\n    dW2 = (1 / m) * np.dot(dZ2, A1.T)\n    db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)\n    dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))\n    dW1 = (1 / m) * np.dot(dZ1, X.T)\n    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)\n    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}\n'


@pytest.mark.parametrize("bug, wrong", [
    (None, set()),
    (("(1 - np.power(A1, 2))", "(1 - A1)"), {"W1", "b1"}),                 # the wrong tanh derivative
    (("np.sum(dZ2, axis=1, keepdims=True)", "np.sum(dZ2, axis=0, keepdims=True)"), {"b2"}),  # summed over units
    (("(1 / m) * np.dot(dZ2, A1.T)", "np.dot(dZ2, A1.T)"), {"W2"}),          # 1/m forgotten
])
def test_check_code_reads_the_columns_convention_and_the_courses_keys(tmp_path, bug, wrong):
    """A deeplearning.ai-style backward pass: X (n_x, m), W1 (n_h, n_x), b1 (n_h, 1), grads["dW1"]."""
    source = DLAI_BACKWARD if bug is None else DLAI_BACKWARD.replace(*bug)
    assert bug is None or source != DLAI_BACKWARD
    path = tmp_path / "dlai.py"
    path.write_text(source)
    report = check_code(parse_spec("2-4:tanh-1:sigmoid"), f"{path}:backward", convention="columns")
    assert report.error is None, report.error
    assert {n for n, p in report.params.items() if not p.ok} == wrong
    assert any("keys read in the courses' spelling: dW1, dW2, db1, db2" in n for n in report.notes)
    assert any("the columns convention" in n for n in report.notes)


def test_the_columns_code_is_wrong_in_the_rows_convention(tmp_path):
    path = tmp_path / "dlai.py"
    path.write_text(DLAI_BACKWARD)
    report = check_code(parse_spec("2-4:tanh-1:sigmoid"), f"{path}:backward")
    assert not report.ok


def test_a_forgotten_weight_decay_term_is_named():
    from derive import Dense, Network
    net = Network(2, [Dense(2, "tanh"), Dense(2, "softmax")], l2=0.5)
    good = load(FULL)

    def backward(p, x, y):   # the decay's gradient added to W1's, forgotten in W2's
        g = good(p, x, y)
        return {**g, "W1": g["W1"] + 0.5 / len(x) * p["W1"]}
    report = check_code(net, backward)
    assert verdicts(report)[0] == {"W2"}
    assert report.params["W2"].message == "the weight decay's term is missing (its gradient adds to the data term)"


def test_the_courses_dz_is_recognised_as_delta_and_checked_as_such():
    from derive import Dense, Network
    net = Network(2, [Dense(2, "tanh"), Dense(2, "softmax")])
    good = load(FULL)

    def backward(p, x, y):   # deeplearning.ai's dZ2 = A2 − Y, without the 1/m
        z2 = np.tanh(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
        e = np.exp(z2 - z2.max(1, keepdims=True))
        return {**good(p, x, y), "dZ2": e / e.sum(1, keepdims=True) - y}
    r = check_code(net, backward, dz="adjoint")
    assert not r.intermediates["dZ2"].ok and "yours is δ2" in r.intermediates["dZ2"].message
    r = check_code(net, backward, dz="delta")
    assert r.ok and "dZ2 = δ2" in r.notes[-1]
    r = check_code(net, backward)   # auto: the courses' reading, since only it agrees, and said
    assert r.ok and "dZ2 = δ2" in r.notes[-1] and any("read as the courses write them" in n for n in r.notes)


SPELLINGS = """
import numpy as np

def _grads(W1, b1, W2, b2, X, y):
    m = X.shape[0]
    a1 = np.tanh(X @ W1 + b1)
    z2 = a1 @ W2 + b2
    e = np.exp(z2 - z2.max(1, keepdims=True))
    dz2 = (e / e.sum(1, keepdims=True) - y) / m
    dz1 = dz2 @ W2.T * (1 - a1 ** 2)
    return X.T @ dz1, dz1.sum(0), a1.T @ dz2, dz2.sum(0)

def lower(params, X, y):
    g = _grads(params["w1"], params["b1"], params["w2"], params["b2"], X, y)
    return dict(zip(["w1", "b1", "w2", "b2"], g))

def underscored(params, X, y):
    g = _grads(params["W_1"], params["b_1"], params["W_2"], params["b_2"], X, y)
    return dict(zip(["dW_1", "db_1", "dW_2", "db_2"], g))

def own_names(params, X, y):
    g = _grads(params["Wa"], params["ba"], params["Wb"], params["bb"], X, y)
    return dict(zip(["Wa", "ba", "Wb", "bb"], g))

def as_a_list(params, X, y):
    W1, b1, W2, b2 = params
    return list(_grads(W1, b1, W2, b2, X, y))

def as_a_list_slipped(params, X, y):
    W1, b1, W2, b2 = params
    dW1, db1, dW2, db2 = _grads(W1, b1, W2, b2, X, y)
    return [dW1, db1, dW2 * 2, db2]
"""


@pytest.mark.parametrize("fn, extra, wrong, said", [
    ("lower", (), set(), "keys read in the courses' spelling: w1, w2 for W1, W2"),
    ("underscored", (), set(), "keys read in the courses' spelling: dW_1, dW_2, db_1, db_2 for W1, W2, b1, b2"),
    ("own_names", ("--names", "Wa=W1,ba=b1,Wb=W2,bb=b2"), set(), "the parameters read under the code's names: Wa as W1"),
    ("as_a_list", (), set(), None),
    ("as_a_list_slipped", (), {"W2"}, None),
])
def test_parameters_read_and_returned_under_the_codes_own_spellings(tmp_path, capsys, fn, extra, wrong, said):
    """Keys that spell a parameter in another case or with underscores (w1, W_1, dW_1) are read as it, in
    the parameters handed and in the gradients returned; --names maps the code's own names for both; a
    list of arrays returned for parameters unpacked from a list is read in their order."""
    rc, out, doc = run_cli(tmp_path, capsys, SPELLINGS, SPEC, fn, extra)
    assert doc["error"] is None, doc["error"]
    assert {n for n, p in doc["params"].items() if not p["ok"]} == wrong and rc == (1 if wrong else 0)
    assert said is None or said in out, out


def test_a_parameter_key_the_network_lacks_names_the_ones_it_has(tmp_path, capsys):
    rc, out, doc = run_cli(tmp_path, capsys, SPELLINGS, SPEC, "own_names")
    assert rc == 2 and doc["stopped"] == "exception"
    assert ("raised KeyError: 'Wa': the parameters are W1, b1, W2, b2 (--names Wa=NAME reads it as one of them) "
            "(line ") in doc["error"], doc["error"]


@pytest.mark.parametrize("divide, says", [
    (lambda yhat: yhat.size, "(= 1/3: your loss averages over the 3 outputs, as np.mean of every entry or "
                             "PyTorch's MSELoss do"),
    (lambda yhat: 2 * yhat.size, "(= 1/3 / 2: your loss averages over the 3 outputs and halved"),
])
def test_a_squared_error_averaged_over_the_outputs_too_is_named(divide, says):
    """np.mean((yhat - y) ** 2) over every entry: its gradient is derivax's mse's over the number of
    outputs (derivax's mse sums over the outputs); the factor is the test's own count of them."""
    from derive import Dense, Network
    net = Network(3, [Dense(4, "tanh"), Dense(3)], loss="mse")

    def backward(p, x, y):
        a1 = np.tanh(x @ p["W1"] + p["b1"])
        yhat = a1 @ p["W2"] + p["b2"]
        dz2 = 2 * (yhat - y) / divide(yhat)
        dz1 = dz2 @ p["W2"].T * (1 - a1 ** 2)
        return {"W1": x.T @ dz1, "b1": dz1.sum(0), "W2": a1.T @ dz2, "b2": dz2.sum(0)}
    report = check_code(net, backward)
    assert {n for n, r in report.params.items() if not r.ok} == {"W1", "b1", "W2", "b2"}
    assert says in report.params["W2"].message, report.params["W2"].message



def test_token_indices_handed_as_data_are_checked_against_the_embedding():
    """Index 7 of a vocabulary of 5 ran to a verdict: JAX's gather clamps it to the last row."""
    from derive import Dense, Embedding, Flatten, Network
    net = Network(3, [Embedding(5, 2), Flatten(), Dense(2, "softmax")])
    with pytest.raises(ValueError, match=r"^data: x: the network's embedding reads token indices, whole numbers in "
                                         r"0\.\.4 \(a vocabulary of 5\); found 7 at index \(0, 2\)"):
        check_code(net, lambda p, x, y: {}, data=(np.array([[0, 1, 7]] * 4), np.eye(2)[[0, 1, 0, 1]]))

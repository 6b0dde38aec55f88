"""The benchmark harness: its hand-written peer computes the right loss, and a tiny run reports every figure.
No timing is asserted: timings belong to `derivax bench`, not to the test suite."""
import json
import math

import numpy as np
import pytest

from compile.cli import bench as _bench
from derive import Dense, Network
from derive.network.examples import parse_spec



def numpy_loss(params, x, y, acts, loss, l2=0.0):
    """The mean-over-batch loss in float64 NumPy, straight from the definitions."""
    fns = {"identity": lambda z: z, "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0),
           "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "softplus": lambda z: np.log1p(np.exp(z)),
           "swish": lambda z: z / (1 + np.exp(-z)), "silu": lambda z: z / (1 + np.exp(-z)),
           "elu": lambda z: np.where(z > 0, z, np.exp(np.minimum(z, 0)) - 1),
           "selu": lambda z: 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * (np.exp(np.minimum(z, 0)) - 1)),
           "gelu": lambda z: z * (1 + np.vectorize(math.erf)(z / np.sqrt(2))) / 2,
           "gelu_tanh": lambda z: z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3))) / 2,
           "softmax": lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)}
    a = np.asarray(x, np.float64)
    for (W, b), act in zip(params, acts):
        a = fns[act](a @ np.asarray(W, np.float64) + np.asarray(b, np.float64))
    per_entry = {"ce": lambda: -y * np.log(a), "mse": lambda: (a - y) ** 2,
                 "bce": lambda: -(y * np.log(a) + (1 - y) * np.log(1 - a))}[loss]()
    decay = l2 / 2 * sum((np.asarray(W, np.float64) ** 2).sum() for W, _ in params)
    return (per_entry.sum() + decay) / len(x)


@pytest.mark.parametrize("spec, l2", [("5-4:tanh-3:softmax", 0.0), ("5-4:relu-3:sigmoid-1:sigmoid", 0.0),
                                      ("5-6:softplus-2:identity", 0.1), ("5-4:sigmoid-2:tanh", 0.0),
                                      ("5-4:(z*sigmoid(z))-3:softmax", 0.0), ("5-4:elu-3:selu-2:identity", 0.0),
                                      ("5-4:gelu-3:gelu_tanh-4:silu-3:softmax", 0.0)])
def test_peer_loss_matches_numpy(spec, l2):
    import jax
    net = parse_spec(spec)
    net = Network(net.n_inputs, net.layers, loss=net.loss, l2=l2 or None)
    sizes, acts, loss, l2 = _bench.peer_spec(net)
    params = _bench.peer_init(jax.random.PRNGKey(1), sizes)
    x, y = _bench.batches(2, 1, 7, sizes[0], sizes[-1], loss != "mse")
    x, y = np.asarray(x[0]), np.asarray(y[0])
    want = numpy_loss(params, x, y, acts, loss, l2)
    assert float(_bench.peer_loss(params, x, y, acts, loss, l2)) == pytest.approx(want, rel=1e-5)


def test_peer_takes_swish_written_as_a_formula():
    for act in ("z*sigmoid(z)", "(z * sigmoid(z))", "sigmoid(z)*z"):
        assert _bench.peer_spec(Network(2, [Dense(3, act), Dense(2, "softmax")], loss="ce"))[1] == ["swish", "softmax"]
    with pytest.raises(_bench.BenchError, match=r"found '\(z\*tanh\(z\)\)'"):
        _bench.peer_spec(Network(2, [Dense(3, "(z*tanh(z))"), Dense(2, "softmax")], loss="ce"))


def test_float64_batches_and_peer_compute_in_float64():
    """With JAX's 64-bit mode on, the batches are float64 and the peer's loss is NumPy's to float64 rounding."""
    import jax
    net = parse_spec("5-4:tanh-3:softmax")
    sizes, acts, loss, l2 = _bench.peer_spec(net)
    with jax.enable_x64(True):
        params = _bench.peer_init(jax.random.PRNGKey(1), sizes, "float64")
        x, y = _bench.batches(2, 1, 7, sizes[0], sizes[-1], dtype="float64")
        assert x.dtype == y.dtype == params[0][0].dtype == np.float64
        got = _bench.peer_loss(params, x[0], y[0], acts, loss)
        assert got.dtype == np.float64
        want = numpy_loss(params, np.asarray(x[0]), np.asarray(y[0]), acts, loss)
        assert float(got) == pytest.approx(want, rel=1e-13)


def test_a_float64_row_runs_in_a_process_of_its_own():
    import jax
    r = _bench.run_in_child("6-5:tanh-3:softmax", 4, 1, 2, "float64", first_repeats=1)
    assert r["dtype"] == "float64" and r["derived_steps_per_s"] > 0 and r["first_step_ratio"] > 0
    assert jax.dtypes.canonicalize_dtype(np.float64) == np.float32   # not turned on here


def test_peer_step_is_sgd_on_the_loss():
    """One step moves each parameter by -lr times a central difference of the NumPy loss."""
    import jax
    net = parse_spec("3-2:tanh-2:softmax")
    sizes, acts, loss, l2 = _bench.peer_spec(net)
    params = _bench.peer_init(jax.random.PRNGKey(0), sizes)
    x, y = _bench.batches(3, 1, 5, 3, 2)
    x, y = np.asarray(x[0], np.float64), np.asarray(y[0], np.float64)
    new, value = _bench.peer_step(acts, loss, l2, lr=0.5)(params, x.astype(np.float32), y.astype(np.float32))
    assert float(value) == pytest.approx(numpy_loss(params, x, y, acts, loss), rel=1e-5)
    ref = [[np.asarray(p, np.float64) for p in layer] for layer in params]
    for li, layer in enumerate(ref):
        for pi, p in enumerate(layer):
            grad, h = np.zeros_like(p), 1e-6
            for idx in np.ndindex(p.shape):
                p[idx] += h
                up = numpy_loss(ref, x, y, acts, loss)
                p[idx] -= 2 * h
                down = numpy_loss(ref, x, y, acts, loss)
                p[idx] += h
                grad[idx] = (up - down) / (2 * h)
            np.testing.assert_allclose(np.asarray(new[li][pi]), p - 0.5 * grad, atol=2e-6)


@pytest.mark.parametrize("layers, loss, found", [
    ([Dense(3, "tanh", dropout=0.5), Dense(2, "softmax")], "ce", "dropout"),
    ([Dense(3, "leaky_relu"), Dense(2, "softmax")], "ce", "found 'leaky_relu'"),
    ([Dense(3, "tanh"), Dense(2, "softmax")], "mse", r"with loss 'mse'"),
])
def test_peer_rejects_what_it_cannot_compare(layers, loss, found):
    with pytest.raises(_bench.BenchError, match=found):
        _bench.peer_spec(Network(2, layers, loss=loss))


def test_interleaved_alternates_order():
    order = []
    _bench.interleaved(lambda: order.append("a"), lambda: order.append("b"), 3)
    assert order == ["a", "b", "b", "a", "a", "b"]


def test_tiny_bench_reports_every_figure(capsys, monkeypatch):
    from compile.cli.main import main
    # A new process per first step costs seconds of imports; here the same function runs in this one.
    monkeypatch.setattr(_bench, "first_step_in_child", _bench.first_step)
    rc = main(["bench", "6-5:tanh-3:softmax", "--batch-size", "4", "--repeats", "2", "--steps", "3",
               "--first-repeats", "1", "--small", "6-4:tanh-3:softmax", "--small-batch-size", "4",
               "--small-steps", "5", "--json"])
    assert rc == 0
    out = capsys.readouterr().out
    figures = json.loads(out.strip().splitlines()[-1])
    keys = {"model", "batch_size", "derived_steps_per_s", "jax_grad_steps_per_s", "step_speedup",
            "derived_first_step_s", "jax_grad_first_step_s", "first_step_ratio", "small_model",
            "scan_steps_per_s", "loop_steps_per_s", "scan_speedup", "device", "limit_s", "derived_of_limit",
            "jax_grad_of_limit"}
    assert figures["step_speedup_quartiles"][0] <= figures["step_speedup_quartiles"][1]
    assert len(figures["scan_speedup_quartiles"]) == 2
    assert keys <= set(figures)
    assert all(figures[k] > 0 for k in keys - {"model", "small_model", "device", "batch_size"})
    assert "first step, s" in out and "scan epoch vs loop" in out and "of the machine's limit" in out


def test_the_limits_products_are_the_derived_steps_products():
    """products() lists the matrix products the derived step computes (every dot of its jaxpr, by the
    sizes of its output and of its sum, whichever way transpose_matmul turns it)."""
    import jax
    from compile.train.train import compile_trainer
    from collections import Counter
    net = parse_spec("7-6:tanh-5:tanh-4:tanh-3:softmax")
    t = compile_trainer(net)
    params = t.init_params(0)
    x, y = _bench.batches(0, 1, 40, 7, 3)
    jaxpr = jax.make_jaxpr(t.loss_and_grads)(params, x[0], y[0])

    def dots(jx):
        for e in jx.eqns:
            if e.primitive.name == "dot_general":
                (ca, _), _ = e.params["dimension_numbers"]
                yield frozenset(e.outvars[0].aval.shape), e.invars[0].aval.shape[ca[0]]
            for v in e.params.values():   # the nested jit calls
                if hasattr(v, "jaxpr") and hasattr(v.jaxpr, "eqns"):
                    yield from dots(v.jaxpr)
    want = Counter()
    for _, form, (m, n_a), (r, c) in _bench.products([7, 6, 5, 4, 3], 40):
        out, inner = {"ab": ((m, c), n_a), "abT": ((m, r), n_a), "aTb": ((n_a, c), m)}[form]
        want[frozenset(out), inner] += 1
    assert Counter(dots(jaxpr.jaxpr)) == want and sum(want.values()) == 4 + 3 + 4


def test_the_machine_limit_sums_each_products_fastest_form_once_per_shape(monkeypatch):
    forms = {"ab": ["ab"], "abT": ["abT"], "aTb": ["plain", "copy", "narrow"]}
    seconds = {"ab": 1.0, "abT": 2.0, "plain": 5.0, "copy": 3.0, "narrow": 4.0}
    calls = []
    monkeypatch.setattr(_bench, "_product_forms", lambda form: forms[form])
    monkeypatch.setattr(_bench, "_seconds_per_call", lambda f, args: calls.append(f) or seconds[f])
    # 3-4-4-4-2: layers 2 and 3 have the same shapes, timed once and counted twice
    assert _bench.machine_limit([3, 4, 4, 4, 2], 5) == 4 * 1.0 + 3 * 2.0 + 4 * 3.0
    assert len(calls) == 3 + 2 + 3 * 3


def test_every_form_the_limit_times_is_the_product():
    import jax
    rng = np.random.default_rng(3)
    a, b, w = rng.standard_normal((6, 5)), rng.standard_normal((6, 4)), rng.standard_normal((5, 4))
    want = {"ab": (a, w, a @ w), "abT": (b, w, b @ w.T), "aTb": (a, b, a.T @ b)}
    for form, (x, y, product) in want.items():
        forms = _bench._product_forms(form)
        assert len(forms) == (4 if form == "aTb" else 1)
        for f in forms:
            np.testing.assert_allclose(np.asarray(jax.jit(f)(x, y)), product, rtol=1e-5, atol=1e-5)


def test_the_first_step_phases_script_times_each_side_and_refuses_bad_counts():
    """benchmarks/bench_first_step.py: each side's phases, each a positive time; a batch size of 0 is
    refused by name, without a traceback."""
    import subprocess
    import sys
    from pathlib import Path
    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(bench))
    try:
        from bench_first_step import PHASES, phases
    finally:
        sys.path.remove(str(bench))
    for side in ("derived", "peer"):
        out = phases(side, "3-2:tanh-2:softmax", 4)
        assert set(out) == set(PHASES[side]) and all(v > 0 for v in out.values())
    done = subprocess.run([sys.executable, str(bench / "bench_first_step.py"), "--batch-size", "0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--batch-size: 0 is below 1" in done.stderr and "Traceback" not in done.stderr


def test_the_noise_script_times_two_copies_of_one_step_and_refuses_bad_input():
    """benchmarks/bench_noise.py: the jax.grad step against a second compile of itself gives a median
    within its own quartiles, over the repeats asked for; a count of 0 and a network the peer cannot
    write are refused by name, exit 2, without a traceback."""
    import subprocess
    import sys
    from pathlib import Path
    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(bench))
    try:
        from bench_noise import null_ratio
    finally:
        sys.path.remove(str(bench))
    r = null_ratio("3-2:tanh-2:softmax", 4, 3)
    assert r["repeats"] == 3 and r["steps_per_repeat"] >= 100 and r["step_ms"] > 0
    assert r["quartiles"][0] <= r["ratio"] <= r["quartiles"][1]
    for argv, message in ((["--repeats", "0"], "--repeats: must be from 1 to 1000, not 0"),
                          (["3-2:softmax-2:softmax"], "the hand-written peer"),
                          (["3-x2"], "3-x2")):
        done = subprocess.run([sys.executable, str(bench / "bench_noise.py"), *argv],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_the_in_scan_script_times_both_steps_without_dispatch_and_refuses_bad_input():
    """benchmarks/bench_in_scan.py: both steps inside one jitted scan, each a positive time per step, the median
    within its quartiles; a network the peer cannot write is refused by name, exit 2, without a traceback."""
    import subprocess
    import sys
    from pathlib import Path
    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(bench))
    try:
        from bench_in_scan import in_scan
    finally:
        sys.path.remove(str(bench))
    r = in_scan("3-2:tanh-2:softmax", 4, 3)
    assert r["derived_step_us"] > 0 and r["jax_grad_step_us"] > 0
    assert r["quartiles"][0] <= r["ratio"] <= r["quartiles"][1]
    done = subprocess.run([sys.executable, str(bench / "bench_in_scan.py"), "3-2:softmax-2:softmax"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "the hand-written peer" in done.stderr and "Traceback" not in done.stderr


def test_first_step_in_a_child_process():
    seconds = _bench.first_step_in_child("peer", "3-2:tanh-2:softmax", 4)
    assert 0 < seconds < 600


def test_first_step_child_failure_is_reported():
    with pytest.raises(_bench.BenchError, match=r"time-to-first-step child \(peer\) failed:.*ModelError"):
        _bench.first_step_in_child("peer", "no-such-model", 4)


def test_bench_names_an_unsupported_model(capsys):
    from compile.cli.main import main
    assert main(["bench", "2-3:leaky_relu-2:softmax", "--small", "none"]) == 2
    assert "leaky_relu" in capsys.readouterr().err


def _refused(capsys, monkeypatch, *argv):
    """The one line of a bench refused before anything is timed (a timing would fail the test)."""
    from compile.cli.main import main

    def timed(*a, **k):
        raise AssertionError("timed before the arguments were checked")
    monkeypatch.setattr(_bench, "first_step_in_child", timed)
    rc = main(["bench", *argv])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1, (rc, out, err)
    return err.strip()


@pytest.mark.parametrize("argv, message", [
    # once found only after the first comparison had been timed, or not at all
    (["--small", "2-3:leaky_relu-2:softmax"], "derivax: --small: layer 1: the hand-written peer knows the "
                                              "activations identity, tanh, sigmoid, relu, softplus, swish, elu, selu, silu, gelu, gelu_tanh, softmax, "
                                              "found 'leaky_relu'"),
    (["--small", "nope"], "derivax: --small nope: unknown model 'nope'"),
    (["--batch-size", "10000000000"], "derivax bench: argument --batch-size: must be from 1 to 1000000, "
                                      "not 10000000000"),
    (["--repeats", "x"], "derivax bench: argument --repeats: must be an integer, not 'x'"),
    (["--small-steps", "0"], "derivax bench: argument --small-steps: must be from 1 to 1000000, not 0"),
])
def test_bench_arguments_are_checked_before_timing(capsys, monkeypatch, argv, message):
    assert _refused(capsys, monkeypatch, "6-5:tanh-3:softmax", *argv).startswith(message)


def test_bench_of_a_network_too_large_for_memory_is_refused(capsys, monkeypatch):
    from compile.checks import points as _points
    monkeypatch.setattr(_points, "available_bytes", lambda: 2**30)
    err = _refused(capsys, monkeypatch, "6000-6000:tanh-10:softmax", "--small", "none")
    assert err.startswith("derivax: the benchmark of this network needs about ") and "36,066,010 weights" in err


def test_the_suite_table_and_the_fit_benchmark_run():
    """The suite's Markdown table for given figures, pinned; the fit benchmark on a tiny set returns its
    figures for both sides (its ratio is the peer's time over fit's)."""
    from compile.cli.bench import suite_markdown
    from compile.cli.bench_fit import measure
    table = suite_markdown({"machine": "m", "rows": [
        {"row": "64-64-10 tanh", "batch": 64, "peer": "jax.grad step", "derived_steps_per_s": 27700.4,
         "peer_steps_per_s": 26798, "ratio": 1.0337, "quartiles": (0.981, 1.052), "first_step_ratio": 1.1,
         "of_limit": (0.934, 0.876)},
        {"row": "fit", "batch": 128, "peer": "PyTorch eager loop", "derived_steps_per_s": None,
         "peer_steps_per_s": None, "ratio": 0.75, "quartiles": (0.7, 0.8), "first_step_ratio": None}]})
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[-2:] == ["| 64-64-10 tanh | 64 | jax.grad step | 27,700 | 26,798 | 1.03x (0.98-1.05) | 1.10x "
                         "| 93% / 88% |",
                         "| fit | 128 | PyTorch eager loop |  |  | 0.75x (0.70-0.80) | | |"]
    out = measure(examples=600, sizes=(8, 6, 3), batch=50, epochs=1, repeats=1)
    assert set(out["seconds"]) == {"derivax fit", "jax.grad loop"} and out["train_examples"] == 500
    assert out["fit_vs_jax_loop"] == out["seconds"]["jax.grad loop"] / out["seconds"]["derivax fit"]
    # One repeat: its one ratio is both quartiles.
    assert out["fit_vs_jax_loop_quartiles"] == (out["fit_vs_jax_loop"],) * 2


@pytest.mark.parametrize("repeats", [2, 3, 5, 7, 11])
def test_ratio_quartiles_are_numpys_of_the_per_repeat_ratios(repeats):
    """The spread shown beside a ratio is the first and third quartile of the per-repeat ratios, as
    NumPy's percentile computes them (linear between the sorted ratios)."""
    import numpy as np
    rng = np.random.default_rng(repeats)
    num, den = rng.uniform(1, 2, repeats), rng.uniform(1, 2, repeats)
    q1, q3 = _bench.ratio_quartiles(list(num), list(den))
    assert np.allclose([q1, q3], np.percentile(num / den, [25, 75]))
    assert _bench.spread(1.0337, (q1, q3)) == f"1.03x ({q1:.2f}-{q3:.2f})"


def test_the_floor_scripts_program_computes_the_steps_products_and_the_script_refuses_bad_input():
    """benchmarks/bench_floor.py: its program of products gives, for each layer, Aᵀ δ of the chain computed here in
    NumPy (δ sent down through each Wᵀ); a network the peer cannot write is refused by name, exit 2."""
    import subprocess
    import sys
    from pathlib import Path
    import numpy as np
    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(bench))
    try:
        from bench_floor import products_program
    finally:
        sys.path.remove(str(bench))
    rng = np.random.default_rng(0)
    sizes = [3, 4, 2]
    ws = [rng.normal(size=(a, b)).astype(np.float32) for a, b in zip(sizes, sizes[1:])]
    x = rng.normal(size=(5, 3)).astype(np.float32)
    a1 = x @ ws[0]
    d = a1 @ ws[1]
    want = [a1.T @ d, x.T @ (d @ ws[1].T)]   # layer 2's, then layer 1's
    got = products_program(sizes)(ws, x)
    assert all(np.allclose(np.asarray(g), w, rtol=1e-5) for g, w in zip(got, want))
    done = subprocess.run([sys.executable, str(bench / "bench_floor.py"), "3-2:softmax-2:softmax"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "the hand-written peer" in done.stderr and "Traceback" not in done.stderr

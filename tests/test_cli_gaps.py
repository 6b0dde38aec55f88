"""Command-line gaps: a convolutional network's step memory refused before it is compiled, `bench --suite` with
the options it takes and those it has no place for, `show --scalar --param`, `explore --host` that is no address
of this machine, and a Builder Model handed to the explorer from Python.

Nothing here times a benchmark: the timing functions are replaced by ones that record what they are asked for
(or fail the test), and memory is pinned by replacing ``available_bytes``, so the largest batch that fits is
computed here by hand from the layer shapes."""
import pytest

from compile.cli import bench as _bench
from compile.cli.main import main
from compile.checks import points as _points

HALF = 10**6   # bytes the benchmark may take: half of the 2 * 10^6 pinned as available


def _pinned(monkeypatch, available=2 * HALF):
    monkeypatch.setattr(_points, "available_bytes", lambda: available)


def _largest(weights, units, half=HALF, itemsize=4, copies=6):
    """The largest batch m with itemsize * (copies * weights + 4 * m * units) <= half: the estimate's own terms
    (parameters and gradients, 4 entries a unit for a forward and a backward pass), solved for m by hand."""
    return (half // itemsize - copies * weights) // (4 * units)


# 4x4x1 -> conv 2 filters 3x3 (valid) -> 2x2x2 -> flatten 8 -> dense 3, softmax
# weights: 3*3*1*2 + 2 + 8*3 + 3 = 47; entries per example: X 16, Z1 8, A1 8, A2 8, Z3 3, A3 3, J 1 = 47
CNN, CNN_WEIGHTS, CNN_UNITS = "4x4x1-conv2k3:relu-flatten-3:softmax", 47, 47
# 6 -> 5 tanh -> 3 softmax: weights 6*5 + 5 + 5*3 + 3 = 53; entries X 6, Z1 5, A1 5, Z2 3, A2 3, J 1 = 23
DENSE, DENSE_WEIGHTS, DENSE_UNITS = "6-5:tanh-3:softmax", 53, 23


def _conv_recorded(monkeypatch):
    """bench_cnn.run replaced by one that records the batch it is asked for."""
    from compile.cli import bench_cnn
    asked = []

    def run(net, name, batch, repeats, steps, peers=None, torch=True):
        asked.append(batch)
        return {}
    monkeypatch.setattr(bench_cnn, "run", run)
    monkeypatch.setattr(bench_cnn, "render", lambda result: None)
    return asked


def test_a_convolutional_step_too_large_for_memory_is_refused_before_it_is_compiled(monkeypatch, capsys):
    _pinned(monkeypatch)
    asked = _conv_recorded(monkeypatch)
    largest = _largest(CNN_WEIGHTS, CNN_UNITS)
    assert largest == 1328
    assert main(["bench", CNN, "--batch-size", "2000", "--repeats", "1", "--steps", "1", "--no-torch"]) == 2
    out, err = capsys.readouterr()
    assert asked == [] and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith("derivax: the benchmark of this network needs about ")
    assert f"{CNN_WEIGHTS} weights" in err and "batch 2000" in err
    assert err.rstrip().endswith(f"; --batch-size {largest} is the largest batch that fits")
    # the batch named fits, and one more does not
    assert main(["bench", CNN, "--batch-size", str(largest), "--repeats", "1", "--steps", "1", "--no-torch"]) == 0
    assert asked == [largest]
    assert main(["bench", CNN, "--batch-size", str(largest + 1), "--repeats", "1", "--steps", "1", "--no-torch"]) == 2
    assert asked == [largest]


def test_a_dense_step_too_large_for_memory_names_the_largest_batch_too(monkeypatch, capsys):
    _pinned(monkeypatch)

    def timed(*a, **k):
        raise AssertionError("timed before the sizes were checked")
    monkeypatch.setattr(_bench, "first_step_in_child", timed)
    assert main(["bench", DENSE, "--batch-size", "3000", "--small", "none"]) == 2
    err = capsys.readouterr().err
    largest = _largest(DENSE_WEIGHTS, DENSE_UNITS)
    assert largest == 2713 and err.rstrip().endswith(f"; --batch-size {largest} is the largest batch that fits")


def test_no_batch_fits_is_said_as_such(monkeypatch, capsys):
    _pinned(monkeypatch, available=2000)   # 1000 bytes: less than the 6 copies of 47 float32 weights alone
    asked = _conv_recorded(monkeypatch)
    assert main(["bench", CNN, "--batch-size", "2", "--no-torch"]) == 2
    assert asked == [] and capsys.readouterr().err.rstrip().endswith("; even --batch-size 1 does not fit")


# ---- bench --suite ----

def _suite_recorded(monkeypatch):
    """Every timing of the suite replaced by one that records (what, batch) and returns figures of 1."""
    from compile.cli import bench_cnn, bench_fit
    asked = []
    step = {"derived_steps_per_s": 1.0, "jax_grad_steps_per_s": 1.0, "step_speedup": 1.0,
            "step_speedup_quartiles": (1.0, 1.0), "first_step_ratio": 1.0, "derived_of_limit": 1.0,
            "jax_grad_of_limit": 1.0}

    def run(net, name, batch, *a, **k):
        asked.append((name, batch))
        return step

    def run_in_child(model, batch, *a, **k):
        asked.append((model + " float64", batch))
        return step

    def measure(epochs=2, repeats=3, torch=False, batch=128, **k):
        asked.append(("fit", batch))
        return {"train_examples": 50000, "epochs": epochs, "net": "784-256-128-10", "batch": batch,
                "fit_vs_jax_loop": 1.0, "fit_vs_jax_loop_quartiles": (1.0, 1.0)}

    def conv(net, name, batch, *a, **k):
        asked.append((name, batch))
        return {"derived_steps_per_s": 1.0, "jax.grad_steps_per_s": 1.0, "speedup_vs_jax.grad": 1.0,
                "speedup_vs_jax.grad_quartiles": (1.0, 1.0)}
    monkeypatch.setattr(_bench, "run", run)
    monkeypatch.setattr(_bench, "run_in_child", run_in_child)
    monkeypatch.setattr(bench_fit, "measure", measure)
    monkeypatch.setattr(bench_cnn, "run", conv)
    return asked


def test_the_suite_times_every_row_at_the_batch_size_given(monkeypatch, capsys):
    asked = _suite_recorded(monkeypatch)
    assert main(["bench", "--suite", "--batch-size", "16", "--repeats", "1", "--no-torch"]) == 0
    rows = len(_bench.SUITE) + 1 + len(_bench.SUITE_EXAMPLES)   # the dense rows, fit, the CNN and the GRU
    assert len(asked) == rows and {batch for _, batch in asked} == {16}, asked
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table) == rows + 1 and all(line.split(" | ")[1] == "16" for line in table[1:]), table


def test_the_suite_keeps_each_rows_own_batch_where_none_is_given(monkeypatch, capsys):
    asked = _suite_recorded(monkeypatch)
    assert main(["bench", "--suite", "--repeats", "1", "--no-torch"]) == 0
    assert [b for _, b in asked] == [256, 64, 64, 64, 512, 128, 256, 128, 32, 100]


def test_the_suite_refuses_a_batch_too_large_for_memory_before_any_row_is_timed(monkeypatch, capsys):
    asked = _suite_recorded(monkeypatch)
    _pinned(monkeypatch, available=2**34)
    # its first row, 784-256-128-10: weights 784*256 + 256 + 256*128 + 128 + 128*10 + 10, entries per example
    # X 784, Z1 and A1 256 each, Z2 and A2 128 each, Z3 and A3 10 each, J 1
    weights, units = 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10, 784 + 2 * 256 + 2 * 128 + 2 * 10 + 1
    assert main(["bench", "--suite", "--batch-size", "1000000", "--no-torch"]) == 2
    err = capsys.readouterr().err
    assert asked == [] and len(err.strip().splitlines()) == 1
    assert "layer widths 784-256-128-10, batch 1000000" in err
    largest = _largest(weights, units, half=2**33)
    assert err.rstrip().endswith(f"; --batch-size {largest} is the largest batch that fits")


@pytest.mark.parametrize("argv, named", [
    (["--small", "none"], "--small: sets"),
    (["--small-batch-size", "8"], "--small-batch-size: sets"),
    (["--small-steps", "3", "--small", "64-3:tanh-2:softmax"], "--small, --small-steps: set"),
])
def test_the_suite_refuses_the_options_of_the_scan_comparison(monkeypatch, capsys, argv, named):
    asked = _suite_recorded(monkeypatch)
    assert main(["bench", "--suite", "--no-torch", *argv]) == 2
    out, err = capsys.readouterr()
    them = "it" if named.endswith("sets") else "them"
    assert asked == [] and out == ""
    assert err == (f"derivax: {named} the scan-versus-loop comparison of a dense network, which --suite does not "
                   f"run: drop {them}, or drop --suite to time one dense network\n")


def test_a_convolutional_network_refuses_the_options_of_the_scan_comparison(monkeypatch, capsys):
    asked = _conv_recorded(monkeypatch)
    assert main(["bench", CNN, "--small-steps", "3", "--no-torch"]) == 2
    assert asked == [] and capsys.readouterr().err == (
        "derivax: --small-steps: sets the scan-versus-loop comparison of a dense network, which a network with conv, "
        "dense, flatten layers does not run: drop it, or time a dense network\n")


def test_a_convolutional_network_refuses_first_repeats_it_would_not_use(monkeypatch, capsys):
    asked = _conv_recorded(monkeypatch)
    assert main(["bench", CNN, "--first-repeats", "2", "--no-torch"]) == 2
    assert asked == [] and capsys.readouterr().err == (
        "derivax: --first-repeats: a network with conv, dense, flatten layers is timed in its steady state only, with "
        "no time-to-first-step comparison: drop it, or time a dense network\n")


def test_the_suite_says_where_it_caps_the_steps_given(monkeypatch, capsys):
    _suite_recorded(monkeypatch)
    assert main(["bench", "--suite", "--steps", "40", "--repeats", "1", "--no-torch"]) == 0
    assert "derivax: --steps 40: the suite times at most 50 steps a repeat, 30 on its CNN and RNN rows" in \
        capsys.readouterr().err


# ---- show --scalar --param ----

def _scalar_sections(text):
    """{section title: [lines]} of the scalar view's text (the sections under their ── rules)."""
    out, title = {}, None
    for line in text.splitlines():
        if line.startswith("── "):
            title = line.strip("─ ")
            out[title] = []
        elif title is not None:
            out[title].append(line)
    return out


def test_show_scalar_param_expands_only_the_parameters_asked_for(capsys):
    assert main(["show", "xor", "--scalar"]) == 0
    full = _scalar_sections(capsys.readouterr().out)
    assert main(["show", "xor", "--scalar", "--param", "W1"]) == 0
    only = _scalar_sections(capsys.readouterr().out)
    # ∂J/∂w¹ᵢⱼ = xᵢ δ¹ⱼ, by hand; the same lines, character for character, as in the view of every parameter
    w1 = ["∂J/∂w¹₁₁ = x₁ δ¹₁", "∂J/∂w¹₁₂ = x₁ δ¹₂", "∂J/∂w¹₂₁ = x₂ δ¹₁", "∂J/∂w¹₂₂ = x₂ δ¹₂"]
    grads = "Per-weight gradients (one example)"
    assert only[grads] == w1 == [line for line in full[grads] if line.startswith("∂J/∂w¹")]
    assert only["Check"] == [line for line in full["Check"] if line.startswith(("W1:", "PASS"))]
    assert only["Check"][0] == ("W1: 4 weights, matrix form = sympy.diff of the expanded loss, exactly "
                                "(rational arithmetic)")
    for title in ("Per-neuron forward pass (one example)", "Loss (one example)", "Per-neuron error signals"):
        assert only[title] == full[title]   # W1's gradient uses both error signals


def test_show_scalar_param_json_checks_only_that_parameter(capsys):
    import json
    assert main(["show", "xor", "--scalar", "--param", "b2", "--format", "json"]) == 0
    scalar = json.loads(capsys.readouterr().out)["scalar"]
    assert scalar["gradients"] == {"b2_1": "delta2_1", "b2_2": "delta2_2"}
    assert list(scalar["check"]) == ["b2"] and scalar["deltas"] == ["delta2_1 = a2_1 - y_1", "delta2_2 = a2_2 - y_2"]


# ---- explore --host ----

@pytest.mark.parametrize("host, said", [
    ("999.1.1.1", "derivax: --host 999.1.1.1: not an address or a host name that resolves ("),
    ("192.0.2.1", "derivax: cannot listen on 192.0.2.1:0: "),   # TEST-NET-1: the address of no machine
])
def test_explore_refuses_a_host_it_cannot_listen_on_before_saying_where_the_page_is(capsys, host, said):
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    assert main(["explore", "xor", "--no-browser", "--port", "0", "--host", host]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith(said), err
    assert "note" not in err and "listening" not in err


# ---- a Builder Model handed to the explorer from Python ----

def _builder_model():
    from derive import Builder
    g = Builder(2)
    return g.output(g.dense(g.dense(g.X, 2, "tanh"), 2, "softmax"), "ce")


def test_explore_from_python_refuses_a_builder_model_as_the_command_line_does(monkeypatch, tmp_path, capsys):
    import subprocess

    from compile.explore import launch
    from derive.network.examples import ModelError
    from derive.network.network import MODEL_ROUTE
    model = _builder_model()

    def started(*a, **k):
        raise AssertionError("a server process was started for a Model")
    monkeypatch.setattr(subprocess, "Popen", started)
    with pytest.raises(ModelError) as python:
        launch.start(model)
    assert str(python.value) == f"explore: model is a Model, not a derive.Network: {MODEL_ROUTE}"
    with pytest.raises(ModelError) as python:
        launch.explore(model)
    # the command line's words for a model file that holds one
    f = tmp_path / "built.py"
    f.write_text("from derive import Builder\ng = Builder(2)\n"
                 "net = g.output(g.dense(g.dense(g.X, 2, 'tanh'), 2, 'softmax'), 'ce')\n")
    assert main(["explore", str(f), "--no-browser", "--port", "0"]) == 2
    cli = capsys.readouterr().err.strip()
    assert cli == f"derivax: {f}:net is a Model, not a derive.Network: {MODEL_ROUTE}"
    assert str(python.value).split(" is a Model", 1)[1] == cli.split(" is a Model", 1)[1]


def test_the_explorer_app_refuses_a_builder_model_among_its_files():
    pytest.importorskip("starlette")
    from compile.explore.server import create_app
    from derive.network.examples import ModelError
    from derive.network.network import MODEL_ROUTE
    with pytest.raises(ModelError) as refused:
        create_app({"model": "mine"}, files={"mine": _builder_model()})
    assert str(refused.value) == f"mine is a Model, not a derive.Network: {MODEL_ROUTE}"


@pytest.mark.parametrize("data", ["mlp", "digits"])
def test_a_built_in_data_set_that_does_not_fit_the_network_is_named_as_the_set(capsys, data):
    # the digits have 64 features: a network of 10 inputs cannot take them, and the set is not the user's own data
    assert main(["train", "10-5-10", "--data", data, "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"derivax: --data {data}, a built-in data set: ") and "x has 64 features" in err, err

"""Bad input of every kind gets one clear line naming the culprit (exit 2) or the right answer; steps
that could run for minutes inside SymPy are cut off by a time limit and fall back."""
import json
import re
import threading
import time

import pytest
import sympy as sp

from compile.cli.main import main
from derive import Dense, Network, NetworkError
from derive.graph.build import ew, placeholder
from derive.run.limits import TimeLimitExceeded, time_limit
from derive.scalar.expand import check


def _spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def _one_line(err: str) -> bool:
    return err.startswith("derivax") and err.count("\n") == 1 and "Traceback" not in err


# ---- time limits ----

def test_a_time_limit_cuts_off_a_busy_block_and_says_so():
    t0 = time.monotonic()
    with time_limit(0.2) as limit:
        _spin(30)
    assert limit.expired and time.monotonic() - t0 < 5


def test_a_time_limit_is_not_swallowed_by_except_exception():
    with time_limit(0.2) as limit:
        for _ in range(1000):
            try:
                _spin(30)
            except Exception:  # noqa: BLE001 - what library code does
                pass
    assert limit.expired


def test_a_cut_off_inside_python_code_that_c_code_called_is_still_a_cut_off():
    """Raised in a __hash__ under the C lru_cache, the cut-off arrives wrapped in a SystemError."""
    import functools

    class Slow:
        def __hash__(self):
            _spin(30)
            return 1

    @functools.lru_cache(maxsize=None)
    def cached(x):
        return x
    with time_limit(0.2) as limit:
        cached(Slow())
    assert limit.expired


def test_nested_limits_each_own_their_cut_off():
    with time_limit(30) as outer:
        with time_limit(0.1) as inner:
            _spin(30)
        _spin(0.05)
    assert inner.expired and not outer.expired
    with time_limit(0.1) as outer:
        with time_limit(30) as inner:
            _spin(30)
    assert outer.expired and not inner.expired


def test_a_time_limit_holds_off_the_main_thread():
    seen = []

    def work():
        with time_limit(0.2) as limit:
            _spin(30)
        seen.append(limit.expired)
    t = threading.Thread(target=work)
    t.start()
    t.join(10)
    assert not t.is_alive() and seen == [True]


def test_a_block_that_finishes_in_time_is_untouched_and_check_raises_only_after_a_cut_off():
    with time_limit(5, "the step") as limit:
        value = sum(range(1000))
    assert value == 499500 and not limit.expired
    limit.check()
    with time_limit(0.05, "the step") as limit:
        _spin(30)
    with pytest.raises(TimeLimitExceeded, match="the step took longer than 0.05 s"):
        limit.check()


def test_a_sympy_step_in_a_child_is_cut_off_and_leaves_this_process_whole():
    from derive.run.worker import run, stream
    x = sp.Symbol("x")
    t0 = time.monotonic()
    with pytest.raises(TimeLimitExceeded, match="expanding took longer than 0.3 s"):
        run(lambda: sp.expand((x + 1) ** 4000 * (x - 2) ** 4000), seconds=0.3, what="expanding")
    assert time.monotonic() - t0 < 10
    assert sp.expand((x + 2) ** 2) == x**2 + 4 * x + 4  # SymPy here is untouched

    def slow():
        yield 1
        yield 2
        time.sleep(60)
        yield 3
    assert stream(slow, seconds=0.5) == ([1, 2], False)
    with pytest.raises(ZeroDivisionError):
        run(lambda: 1 / 0, seconds=5)
    seen = []
    t = threading.Thread(target=lambda: seen.append(run(lambda: sp.factor(x**2 - 1), seconds=10)))
    t.start()
    t.join(30)
    assert seen == [(x - 1) * (x + 1)]


def test_a_step_started_in_a_child_runs_beside_this_process_and_is_read_later():
    """start(...) forks now and result() reads later: the child's time counts from its start, an exception is raised
    at result(), a cancelled child is stopped unread."""
    import os
    from derive.run.worker import start
    t0 = time.monotonic()
    jobs = [start(lambda: (time.sleep(1.0), os.getpid())[1], seconds=30) for _ in range(2)]
    pids = [job.result() for job in jobs]
    assert len(set(pids)) == 2 and os.getpid() not in pids and time.monotonic() - t0 < 1.9   # side by side
    late = start(lambda: time.sleep(60), seconds=0.5, what="sleeping")
    time.sleep(0.6)   # its time is spent before it is read
    with pytest.raises(TimeLimitExceeded, match="sleeping took longer than 0.5 s"):
        late.result()
    with pytest.raises(ZeroDivisionError):
        start(lambda: 1 / 0, seconds=5).result()
    stopped = start(lambda: time.sleep(60), seconds=60)
    stopped.cancel()
    with pytest.raises(ChildProcessError):   # killed and reaped: no child of that pid is left
        os.waitpid(stopped.child, 0)


def test_a_child_never_frees_what_it_inherited():
    """Objects the parent left as garbage (cycles not yet collected) are not freed in a forked child, even
    when the child collects: on a GPU such an object can be a JAX array, and freeing it in a child calls
    into a CUDA context the child does not have. A finaliser that writes its process id shows where it ran."""
    import gc
    import os
    from derive.run.worker import run
    read, write = os.pipe()

    class Held:
        def __del__(self):
            os.write(write, f"{os.getpid()}\n".encode())

    gc.disable()   # the cycle stays uncollected here until after the fork
    try:
        a = Held()
        a.cycle = a
        del a

        def collect_in_child():
            return gc.collect(), os.getpid()
        _, child = run(collect_in_child, seconds=30)
    finally:
        gc.enable()
    gc.collect()   # now it is freed, here
    os.close(write)
    with os.fdopen(read) as f:
        pids = [int(line) for line in f.read().split()]
    assert pids == [os.getpid()] and child != os.getpid()


def test_the_exact_check_falls_back_to_differences_past_its_limit_and_still_catches_an_error():
    net = Network(2, [Dense(2, "tanh"), Dense(1)], loss="log(cosh(yhat - y))")
    d = net.derive("columns")
    right = check(d, seconds=1e-6)
    assert [r.method for r in right] == ["difference"] * 4 and all(r.ok for r in right)
    d.grads["b2"] = ew(placeholder(0) * 2, [d.grads["b2"]])
    wrong = {r.name: r for r in check(d, seconds=1e-6)}
    assert not wrong["b2"].ok and "central difference" in wrong["b2"].counterexample
    assert all(wrong[n].ok for n in ("W1", "b1", "W2"))


# ---- formulas: real-valued, defined, declared ----

@pytest.mark.parametrize("spec, says", [
    ("2-1:(sqrt(-1)*z)", "not a real number: this part is I at position 6"),
    ("2-1:(log(-1)+z)", "not a real number"),
    ("2-1:(z*(-8)**(1/3))", "not a real number"),
    ("2-1:(sqrt(z))", "activation sqrt(z) is not real-valued for real inputs: at z = -3"),
    ("2-1:(log(z))", "not real-valued for real inputs"),
])
def test_complex_valued_activations_are_refused(capsys, spec, says):
    assert main(["show", spec]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


@pytest.mark.parametrize("loss", ["sqrt(-1)*(yhat - y)**2", "sqrt(yhat - y - 2)"])
def test_complex_valued_losses_are_refused(capsys, loss):
    assert main(["show", "2-1", "--loss", loss]) == 2
    assert "real" in capsys.readouterr().err


def test_a_loss_named_like_a_variable_is_a_formula_and_a_loss_starting_with_minus_is_a_value(capsys):
    assert main(["show", "2-1:sigmoid", "--loss", "yhat", "--format", "json"]) == 0
    assert main(["show", "2-2:softmax", "--loss", "-y*log(yhat)", "--format", "json"]) == 0
    assert main(["show", "2-2:softmax", "--loss=-y*log(yhat)", "--format", "json"]) == 0


def test_free_symbols_and_foreign_functions_are_refused_at_declaration():
    z, a, k = sp.symbols("z a k")
    yhat, y = sp.symbols("yhat y")
    with pytest.raises(NetworkError, match=r"activation a\*z uses 'a', which is not one of its variables"):
        Network(2, [Dense(2, sp.Lambda(z, a * z)), Dense(1)])
    with pytest.raises(NetworkError, match=r"uses 'k'"):
        Network(2, [Dense(1)], loss=sp.Lambda((yhat, y), k * (yhat - y) ** 2))
    with pytest.raises(NetworkError, match="calls gamma, which derivax cannot compute"):
        Network(2, [Dense(2, sp.gamma(z)), Dense(1)])


@pytest.mark.parametrize("l2", [float("nan"), float("inf"), -0.1, "0.1", True, [0.1]])
def test_bad_weight_decay_is_refused_at_declaration(l2):
    with pytest.raises(NetworkError, match=r"l2 \(the weight decay λ\) must be a finite number >= 0"):
        Network(2, [Dense(2, "tanh"), Dense(1)], loss="mse", l2=l2)


@pytest.mark.parametrize("layer, says", [
    (lambda: Dense(True), "must be a positive integer, not True"),
    (lambda: Dense(2.5), "must be a positive integer, not 2.5"),
    (lambda: Dense(2, "tanh", dropout="0.5"), "dropout probability must be in (0, 1)"),
    (lambda: Dense(2, "tanh", dropout=float("nan")), "dropout probability must be in (0, 1)"),
    (lambda: Dense(2, "softmax", dropout=0.5), "dropout on a softmax layer"),
])
def test_bad_layer_arguments_name_the_layer(layer, says):
    with pytest.raises(NetworkError, match="layer 1") as e:
        Network(2, [layer(), Dense(2, "softmax")])
    assert says in str(e.value)


# ---- check --formula: every formula gets a verdict, never a traceback ----

@pytest.mark.parametrize("formula, value", [("1", "1"), ("m", "3"), ("relu_prime(m)", "1")])
def test_a_bare_number_is_that_number_in_every_entry(capsys, formula, value):
    """A formula that is one number (as a JSON line dJ/dc1_at3 = 0 is) is compared entry by entry, never a traceback."""
    assert main(["check", "xor", "--param", "W2", "--formula", formula]) == 1
    out = capsys.readouterr().out
    assert "NOT EQUAL" in out and f"(seed 0, batch of 3), entry (1, 1): yours {value}, derived" in out


def test_an_undefined_formula_names_the_position(capsys):
    assert main(["check", "xor", "--param", "W2", "--formula", "A1.T @ log(0*A2)"]) == 2
    err = capsys.readouterr().err
    assert "not a real number: this part is log(0)" in err and "position 8" in err


def test_a_formula_undefined_at_a_batch_size_says_so(capsys):
    assert main(["check", "xor", "--param", "W2", "--formula", "A1.T @ (A2 - Y)/(m - 3)"]) == 1
    out = capsys.readouterr().out
    assert "NOT EQUAL" in out and "undefined" in out and "m = 3" in out and "exactly: equal" not in out


def test_a_formula_that_is_nan_at_the_points_is_not_also_called_equal(capsys):
    # sqrt(A2 - 2) is NaN for softmax outputs, which lie in (0, 1).
    assert main(["check", "xor", "--param", "W2", "--formula", "A1.T @ ((A2 - Y)/m * (1 + sqrt(A2 - 2)))"]) == 1
    out = capsys.readouterr().out
    assert "NOT EQUAL" in out and "exactly: equal" not in out and "yours is undefined at the check points" in out


def test_erf_is_evaluated_by_the_checks(capsys):
    assert main(["check", "2-2:(erf(z))-1", "--param", "W2", "--formula", "2*A1.T @ (A2 - Y)/m"]) == 0
    assert "EQUAL" in capsys.readouterr().out


# ---- inline specs ----

@pytest.mark.parametrize("spec, says", [
    ("2-²", "expected a layer size (a positive integer), found '²' at position 3"),
    ("2-①", "found '①' at position 3"),
    ("2-" + "9" * 5000, "a layer size 9999999999... (5000 digits) is too large (at most 1000000)"),
    ("-2-1", "expected the input size (a positive integer), found '' at position 1"),
    ("2-0", "found '0'"),
    ("2--3", "found '' at position 3"),
])
def test_bad_specs_are_one_clear_error(capsys, spec, says):
    assert main(["show", spec]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_a_long_spec_is_echoed_once_and_cut_to_a_window(capsys):
    spec = "2-" + "3-" * 3000 + "x"
    assert main(["show", spec]) == 2
    err = capsys.readouterr().err
    assert "found 'x' at position 6003 of the spec (6003 characters)" in err
    assert len(err) < 400


# ---- model files, codegen and the command line ----

def test_a_failing_model_file_shows_only_the_users_frames(tmp_path, capsys):
    f = tmp_path / "model.py"
    f.write_text("def make():\n    raise ValueError('boom')\nnet = make()\n")
    assert main(["show", str(f)]) == 2
    err = capsys.readouterr().err
    assert "raised ValueError: boom" in err and "line 2, in make" in err
    assert "derive/" not in err and "runpy" not in err and "compile/" not in err


def test_a_model_file_that_exits_says_so(tmp_path, capsys):
    f = tmp_path / "model.py"
    f.write_text("import sys\nsys.exit(3)\n")
    assert main(["show", str(f)]) == 2
    assert "exited (sys.exit(3)) before it defined a network" in capsys.readouterr().err


@pytest.mark.parametrize("content, says", [
    ("import os\nos._exit(0)\n", "called os._exit(0) before it defined a network"),
    ("x = 1\0\n", "is not Python source: source code string cannot contain null bytes"),
    (None, "is a folder, not a model file: name the .py file that declares the network")],
    ids=["os-exit", "binary", "folder"])
def test_a_model_file_that_ends_derivax_is_binary_or_a_folder_says_so(tmp_path, capsys, content, says):
    """os._exit in the file ended derivax at once with status 0 and no output; a file with a NUL byte had "a
    syntax error at line None"; a folder named like a file was "no such file"."""
    f = tmp_path / "model.py"
    f.mkdir() if content is None else f.write_text(content)
    assert main(["show", str(f)]) == 2
    assert capsys.readouterr().err == f"derivax: {f} {says}\n"


def test_a_model_file_variable_that_is_no_python_name_is_refused(tmp_path, capsys):
    f = tmp_path / "model.py"
    f.write_text("raise SystemExit('never run')\n")
    assert main(["show", f"{f}:my-net"]) == 2
    assert capsys.readouterr().err == (f"derivax: {f}:my-net: 'my-net' is not a Python name; name the variable that "
                                       "holds the network (file.py:net)\n")


def test_a_thread_a_model_file_leaves_running_does_not_keep_derivax_alive(tmp_path):
    """The command's work was done, printed, and the process then waited for the file's thread forever."""
    import subprocess
    import sys
    f = tmp_path / "model.py"
    f.write_text("import threading, time\nfrom derive import Dense, Network\n"
                 "threading.Thread(target=lambda: time.sleep(1000), name='poller').start()\n"
                 "net = Network(2, [Dense(2, 'tanh'), Dense(2, 'softmax')])\n")
    probe = "import sys\nfrom compile.cli.main import console\nsys.argv[1:] = ['show', sys.argv[1]]\nconsole()\n"
    done = subprocess.run([sys.executable, "-c", probe, str(f)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Z₁ = X W₁ + b₁" in done.stdout
    assert done.stderr == (f"derivax: {f} started a thread (poller) that is still running; it was stopped with "
                           "derivax\n")


def test_a_crash_in_native_code_in_a_model_file_names_the_files_line(tmp_path):
    import subprocess
    import sys
    f = tmp_path / "model.py"
    f.write_text("import ctypes\nctypes.string_at(0)\n")
    probe = "import sys\nfrom compile.cli.main import console\nsys.argv[1:] = ['show', sys.argv[1]]\nconsole()\n"
    done = subprocess.run([sys.executable, "-c", probe, str(f)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and done.stdout == ""
    assert "Segmentation fault" in done.stderr and f'File "{f}", line 2 in <module>' in done.stderr


def test_codegen_refuses_to_overwrite_the_models_own_source(tmp_path, capsys):
    f = tmp_path / "model.py"
    source = "from derive import Dense, Network\nnet = Network(2, [Dense(2, 'tanh'), Dense(1)], loss='mse')\n"
    f.write_text(source)
    assert main(["codegen", str(f), "-o", str(f)]) == 2
    assert capsys.readouterr().err == f"derivax: -o {f}: is the model's own source; writing it would destroy it " \
                                      "(choose another file name)\n"
    assert f.read_text() == source


def test_a_float64_module_computes_in_float64(tmp_path):
    import subprocess
    import sys
    out = tmp_path / "t64.py"
    assert main(["codegen", "xor", "--dtype", "float64", "-o", str(out)]) == 0
    probe = ("import jax, numpy as np, t64\n"
             "p = t64.init_params(jax.random.PRNGKey(0))\n"
             "g = t64.grads(p, np.zeros((4, 2)), np.eye(2)[[0, 1, 1, 0]])\n"
             "print(sorted({str(v.dtype) for v in list(p.values()) + list(g.values())}))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['float64']"


def test_argument_errors_are_one_line(capsys):
    assert main(["show", "xor", "--formatt", "x"]) == 2
    assert _one_line(capsys.readouterr().err)
    assert main(["verify", "xor", "--seed", "-1"]) == 2
    assert _one_line(capsys.readouterr().err)


def test_an_unexpected_failure_is_one_line_without_a_traceback(capsys, monkeypatch):
    import compile.cli.main as cli

    def broken(args):
        raise RuntimeError("something inside broke\nsecond line")
    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser(), "examples", broken))
    monkeypatch.delenv("DERIVAX_DEBUG", raising=False)
    assert cli.main(["examples"]) == 2
    err = capsys.readouterr().err
    assert _one_line(err) and "RuntimeError: something inside broke" in err


def _with_func(parser, command, fn):
    for action in parser._actions:
        if isinstance(getattr(action, "choices", None), dict) and command in action.choices:
            action.choices[command].set_defaults(func=fn)
    return parser


# ---- found by trying many bad inputs ----

@pytest.mark.parametrize("spec", ["2-3:(z)-1", "2-3:((z))-1", "2-3:(abs(z))-1", "2-1:(log(abs(z) + 1))"])
def test_plain_and_absolute_value_activations_derive_and_verify(capsys, spec):
    """abs is |z| of a real z (derivative sign(z)), not SymPy's complex Abs; z alone is the identity."""
    assert main(["verify", spec, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["ok"] and all("sympy" in p for p in doc["params"].values())


def test_a_loss_without_the_prediction_is_refused_and_one_of_yhat_alone_derives(capsys):
    assert main(["show", "2-1:sigmoid", "--loss", "y"]) == 2
    assert "does not depend on the prediction yhat" in capsys.readouterr().err
    assert main(["show", "2-1:sigmoid", "--loss", "-log(yhat)", "--format", "json"]) == 0


@pytest.mark.parametrize("argv, says", [
    (["train", "xor", "--epochs", "1_0"], "argument --epochs: must be an integer, not '1_0'"),
    (["verify", "xor", "--seed", "1_0"], "a seed must be an integer, not '1_0'"),
    (["codegen", "xor", "--lr", "1_0"], "argument --lr: must be a number, not '1_0'")])
def test_numbers_with_underscores_are_refused(capsys, argv, says):
    assert main(argv) == 2
    assert says in capsys.readouterr().err


def test_optimizer_hyperparameters_are_named_and_bounded():
    from compile.train.optim import OptimizerError, make
    assert make("momentum", 0.1, beta=0.5).hyper  # the name the error message offers is the one taken
    for kwargs, says in [({"b1": 2}, "b1 must be in [0, 1)"), ({"b1": -1}, "b1 must be in [0, 1)"),
                         ({"eps": 0}, "eps must be in (0, 1]")]:
        with pytest.raises(OptimizerError, match=re.escape(says)):
            make("adam", 0.1, **kwargs)


def test_a_wrong_number_of_arguments_names_the_function(capsys):
    assert main(["check", "xor", "--param", "W2", "--formula", "relu_prime(Z1, Z2)"]) == 2
    assert "relu_prime(...) does not take 2 arguments at position 1" in capsys.readouterr().err


def test_a_long_formula_is_echoed_once_in_a_window(capsys):
    assert main(["check", "xor", "--param", "W2", "--formula", "A1.T @ delta2 /m " * 60]) == 2
    err = capsys.readouterr().err
    # the formula as read: its trailing space dropped
    assert "syntax error" in err and "of the formula (1019 characters)" in err and len(err) < 400


def test_version_and_empty_output_name(capsys):
    assert main(["--version"]) == 0 and capsys.readouterr().out.startswith("derivax ")
    assert main(["codegen", "xor", "-o", ""]) == 2
    assert "-o needs a file name" in capsys.readouterr().err


def test_sympy_constructs_derivax_cannot_compute_are_refused_and_assumptions_on_z_are_kept():
    z = sp.Symbol("z")
    for expr, name in [(sp.Max(z, 0), "Max"), (sp.Piecewise((z, z > 0), (0, True)), "Piecewise"),
                       (z * sp.Heaviside(z), "Heaviside")]:
        with pytest.raises(NetworkError, match=f"calls {name}, which derivax cannot compute"):
            Network(2, [Dense(2, expr), Dense(1)])
    real_z = sp.Symbol("z", real=True)
    net = Network(2, [Dense(2, sp.tanh(real_z) + real_z / 2), Dense(1)], loss="mse")
    from compile.checks.verify import verify
    assert verify(net, engine="numpy").ok


def test_training_a_network_too_large_for_memory_is_refused_before_it_starts(capsys):
    assert main(["train", "2-100000-100000-2:softmax", "--data", "xor"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("derivax: training of this network needs about") and "available" in err


# ---- a model file runs with its prints on stderr, under a time limit ----

PRINTER = ("print('hello from the model file')\n"
           "from derive import Dense, Network\n"
           "net = Network(2, [Dense(2, 'tanh'), Dense(2, 'softmax')])\n")


def test_what_a_model_file_prints_goes_to_stderr(tmp_path, capfd):
    """show --format json and predict's table keep standard output to themselves: a print at the top of a
    model file (Python's or a child process's) lands on standard error."""
    import json as _json
    f = tmp_path / "printer.py"
    f.write_text(PRINTER + "import os\nos.system('echo from a child process')\n")
    assert main(["show", str(f), "--format", "json"]) == 0
    out, err = capfd.readouterr()
    assert _json.loads(out)["forward"][0] == "Z1 = X @ W1 + b1"
    assert "hello from the model file" in err and "from a child process" in err
    import numpy as np
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    assert main(["train", str(f), "--data", "xor", "--epochs", "1", "--save", str(tmp_path / "c.npz")]) == 0
    capfd.readouterr()
    assert main(["predict", str(f), "--load", str(tmp_path / "c.npz"), "--input", str(tmp_path / "x.npy")]) == 0
    out, err = capfd.readouterr()
    assert out.splitlines()[0] == "p0,p1,class" and len(out.splitlines()) == 4 and "hello" in err


@pytest.mark.parametrize("body", ["while True:\n    pass\n",
                                  "import time\ntime.sleep(600)\n",
                                  "while True:\n    try:\n        time.sleep(600)\n    except Exception:\n        pass\n"],
                         ids=["loop", "sleep", "catches"])
def test_a_model_file_that_never_finishes_is_stopped_at_its_time_limit(tmp_path, capsys, monkeypatch, body):
    import derive.network.examples as examples
    monkeypatch.setattr(examples, "MODEL_FILE_SECONDS", 0.5)
    f = tmp_path / "slow.py"
    f.write_text("import time\n" + body)
    t0 = time.monotonic()
    assert main(["show", str(f)]) == 2
    err = capsys.readouterr().err
    assert time.monotonic() - t0 < 5 and _one_line(err), err
    assert err == (f"derivax: {f}: running the model file took longer than 0.5 s, the limit for loading a model "
                   "file, and was stopped: a model file should only declare `net` (is there a loop that never ends, "
                   "or training or a download at its top level?)\n")


@pytest.mark.parametrize("body", ["x = sum(range(10**15))\n",
                                  "while True:\n    try:\n        while True:\n            pass\n"
                                  "    except BaseException:\n        continue\n"],
                         ids=["blocks-in-c", "catches-everything"])
def test_a_model_file_the_time_limit_cannot_interrupt_is_stopped_by_its_watchdog(tmp_path, body):
    """sum over a range runs in C and never returns to the interpreter, where the cut-off is raised; a loop
    can catch the cut-off every time. The watchdog process stops the run a moment past the limit, and says
    why, naming the file and the limit."""
    import subprocess
    import sys
    f = tmp_path / "stuck.py"
    f.write_text(body)
    probe = ("import sys\nimport derive.network.examples as e\ne.MODEL_FILE_SECONDS = e.MODEL_FILE_GRACE = 0.5\n"
             "from compile.cli.main import main\nsys.exit(main(['show', sys.argv[1]]))\n")
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-c", probe, str(f)], capture_output=True, text=True, timeout=120)
    assert time.monotonic() - t0 < 60 and done.returncode != 0 and done.stdout == ""
    assert done.stderr.strip().splitlines()[-1] == (
        f"derivax: {f}: running the model file took longer than 0.5 s, the limit for loading a model file, and "
        "could not be interrupted (a call that never returns to Python, or a loop that catches every exception): "
        "derivax stopped")


def test_verify_calls_a_nan_loss_nan_and_an_overflow_an_overflow(capsys):
    """A NaN loss at the check point is undefined (the log of a negative number, 0/0), not an overflow; exp(1000)
    is beyond float64: an overflow. Both compare nothing and exit 2. (A log of an output that can go negative
    is refused where it is declared, so the NaN reading is asked of the check's own words here.)"""
    import numpy as _np
    from compile.checks.verify import _overflow
    nan = _overflow({"W1": _np.ones((2, 2))}, float("nan"))
    assert nan.startswith("the values are NaN (undefined) at the check point (the loss is nan)") and "overflow" not in nan
    assert _overflow({"W1": _np.ones((2, 2))}, float("inf")).startswith("the values overflow float64")
    assert _overflow({"W1": _np.ones((2, 2))}, 1.5) == ""
    assert main(["verify", "2-3:(exp(1000)*z)-1", "--json"]) == 2
    out = capsys.readouterr().out
    assert "NOT CHECKED: the values overflow float64" in out


@pytest.mark.parametrize("argv, says", [
    (["check", "xor", "--param", "W2", "--json"], "the following arguments are required: --formula"),
    (["check", "xor", "--param", "W2", "--formula", "A1", "--seed", "-1", "--json"], "a seed must be from 0"),
    (["verify", "xor", "--bogus", "--json"], "unrecognized arguments: --bogus"),
])
def test_json_asked_for_ends_with_a_json_line_even_when_the_arguments_are_refused(argv, says, capsys):
    import json as _json
    assert main(argv) == 2
    out, err = capsys.readouterr()
    doc = _json.loads(out.strip().splitlines()[-1])
    assert doc["ok"] is False and says in doc["error"] and says in err


def test_a_child_forked_while_a_model_file_runs_leaves_by_the_real_os_exit(tmp_path):
    """os._exit is refused to a model file while it runs, but a process forked meanwhile (derivax's SymPy steps under a
    time limit run in one) must end with its status: before, the child raised the refusal instead, ran on through
    derivax's own code and printed 'called os._exit(0) before it defined a network' beside a right answer."""
    import subprocess
    import sys
    model = tmp_path / "forks.py"
    model.write_text("import os\nfrom derive import Dense, Network\npid = os.fork()\nif pid == 0:\n    os._exit(7)\n"
                     "_, status = os.waitpid(pid, 0)\nif os.waitstatus_to_exitcode(status) == 7:\n"
                     "    net = Network(2, [Dense(1, 'sigmoid')], loss='bce')\n")
    code = f"from derive.network.examples import resolve\nprint(resolve({str(model)!r})[1].layers[0].units)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr[-1500:]

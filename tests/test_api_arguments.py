"""Bad arguments to the Python API (fit, a trainer's functions, verify, generate, a derivation's views) are
refused before any work, with a message naming the argument, the layer or the value at fault: no NaN
passed off as a learning rate too large, no error from inside NumPy, JAX or rich."""
import re

import numpy as np
import pytest

from compile.checks.points import TooLarge
from compile.train.data import DataError
from compile.train.train import compile_trainer, fit
from derive import BatchNorm, Conv1D, Conv2D, Dense, Embedding, Flatten, Network


@pytest.fixture(scope="module")
def tokens():
    """A trainer whose network starts with an embedding of 5 rows (token indices 0..4)."""
    return compile_trainer(Network(3, [Embedding(5, 2), Flatten(), Dense(2, "softmax")]))


@pytest.fixture(scope="module")
def small():
    return compile_trainer(Network(2, [Dense(3, "tanh"), Dense(2, "softmax")]))


@pytest.fixture(scope="module")
def normed():
    return compile_trainer(Network(2, [Dense(3), BatchNorm("tanh"), Dense(2, "softmax")]))


def watch(monkeypatch, trainer):
    """The calls that would start work in fit (drawing parameters, running an epoch), recorded."""
    calls = []
    for name in ("init_params", "epoch"):
        real = getattr(trainer, name)
        monkeypatch.setattr(trainer, name, lambda *a, _n=name, _f=real, **k: (calls.append(_n), _f(*a, **k))[1])
    return calls


X4, Y4 = np.zeros((4, 2)), [0, 1, 1, 0]


# ---- token indices of a network that starts with an embedding ----

@pytest.mark.parametrize("bad, shown, why", [(7, "7", "out of range"), (-1, "-1", "out of range"),
                                             (1.5, "1.5", "not a whole number")])
def test_fit_refuses_token_indices_outside_the_vocabulary(monkeypatch, tokens, bad, shown, why):
    ran = watch(monkeypatch, tokens)
    x = np.array([[0, 1, bad]] * 4)
    with pytest.raises(DataError) as exc:
        fit(tokens, x, [0, 1, 0, 1], 2, 2, progress=False)
    assert str(exc.value).startswith(f"training data: x: the network's embedding reads token indices, whole "
                                     f"numbers in 0..4 (a vocabulary of 5); found {shown} at index (0, 2) ({why}")
    assert ran == []


def test_fit_refuses_token_indices_in_the_test_split(monkeypatch, tokens):
    ran = watch(monkeypatch, tokens)
    with pytest.raises(DataError, match=r"^test data: x_test: .* found 9 at index \(1, 0\)"):
        fit(tokens, np.zeros((4, 3)), [0, 1, 0, 1], 1, 2, x_test=[[0, 0, 0], [9, 0, 0]], y_test=[0, 1],
            progress=False)
    assert ran == []


@pytest.mark.parametrize("function", ["forward", "loss", "grads", "loss_and_grads"])
def test_a_trainers_functions_refuse_token_indices_outside_the_vocabulary(monkeypatch, tokens, function):
    calls = []
    monkeypatch.setitem(tokens.namespace, function, lambda *a, **k: calls.append(a))
    args = (np.eye(2)[[0]],) if function != "forward" else ()
    with pytest.raises(DataError, match=rf"^{function}: x: .* found 70 at index \(0, 2\) \(out of range"):
        getattr(tokens, function)(tokens.init_params(0), np.array([[0, 1, 70]]), *args)
    assert calls == []


def test_a_trainers_forward_takes_good_tokens_and_runs_inside_jit(tokens):
    import jax
    params = tokens.init_params(0)
    x = np.array([[0, 1, 4], [4, 3, 2]])
    direct = np.asarray(tokens.forward(params, x))
    traced = np.asarray(jax.jit(tokens.forward)(params, x))   # no values to check inside a trace
    assert direct.shape == (2, 2) and np.allclose(direct, traced) and np.isfinite(direct).all()


# ---- batch norm over a batch of one example ----

def test_fit_refuses_batch_norm_with_a_batch_of_one(monkeypatch, normed):
    ran = watch(monkeypatch, normed)
    with pytest.raises(DataError, match=r"^batch_size: layer 2 \(batch norm\) normalizes each feature over the "
                                        r"batch, which needs at least 2 examples in a batch, not 1$"):
        fit(normed, np.random.default_rng(0).normal(size=(4, 2)), [0, 1, 0, 1], 2, 1, progress=False)
    assert ran == []


def test_fit_refuses_batch_norm_with_one_example(monkeypatch, normed):
    ran = watch(monkeypatch, normed)
    with pytest.raises(DataError, match=r"^training data: layer 2 \(batch norm\) .* at least 2 examples; "
                                        r"the data has 1$"):
        fit(normed, np.ones((1, 2)), [0], 2, 8, progress=False)
    assert ran == []


def test_batch_norm_after_a_convolution_takes_a_batch_of_one():
    """Its statistics average over the positions too: one example gives 9 values a feature."""
    from compile.train.train import check_batch_norm
    model = Network((4, 4, 1), [Conv2D(2, 2), BatchNorm("relu"), Flatten(), Dense(2, "softmax")]).build("rows")
    check_batch_norm(model, 1, 4)
    with pytest.raises(DataError):
        check_batch_norm(Network(2, [Dense(3), BatchNorm(), Dense(1)], loss="mse").build("rows"), 1, 4)


# ---- fit's other arguments ----

@pytest.mark.parametrize("kwargs, message", [
    (dict(opt_state={"x": 1}), r"opt_state: does not fit this trainer's optimizer \(SGD\), whose state "
                               r"trainer.init_opt_state\(params\) makes: expected an empty dict, found unknown 'x'"),
    (dict(opt_state="abc"), r"opt_state: does not fit .*: expected an empty dict, found a str"),
    (dict(train_sample=-3), r"train_sample must be from 0 up, not -3"),
    (dict(train_sample=True), r"train_sample must be an integer, not True \(a bool\)"),
    (dict(train_sample=2.5), r"train_sample must be an integer, not 2.5 \(a float\)"),
    (dict(train_sample="5"), r"train_sample must be an integer, not '5' \(a str\)"),
    (dict(on_epoch=3), r"on_epoch must be a function of one dict \(or None\), not 3 \(an int\)"),
    (dict(classify="yes"), r"classify must be True, False or None \(decided by the loss\), not 'yes'"),
])
def test_fit_names_a_bad_setting_before_training(monkeypatch, small, kwargs, message):
    ran = watch(monkeypatch, small)
    with pytest.raises(DataError, match="^" + message + "$"):
        fit(small, X4, Y4, 1, 2, progress=False, **kwargs)
    assert ran == []


def test_fit_names_where_a_resumed_state_differs(monkeypatch):
    trainer = compile_trainer(Network(2, [Dense(2, "softmax")]), "adam", 0.01)
    params = trainer.init_params(0)
    state = trainer.init_opt_state(params)
    ran = watch(monkeypatch, trainer)
    less = {**state, "mu": {k: v for k, v in state["mu"].items() if k != "W1"}}
    with pytest.raises(DataError, match=r"^opt_state\['mu'\]: does not fit .*found missing 'W1'$"):
        fit(trainer, X4, Y4, 1, 2, params=params, opt_state=less, progress=False)
    with pytest.raises(DataError, match=r"^opt_state\['nu'\]\['b1'\]: expected shape \(1, 2\), found \(3,\)$"):
        fit(trainer, X4, Y4, 1, 2, params=params, opt_state={**state, "nu": {**state["nu"], "b1": np.zeros(3)}},
            progress=False)
    with pytest.raises(DataError, match=r"^opt_state\['mu'\]\['W1'\]: expected finite numbers, found nan"):
        fit(trainer, X4, Y4, 1, 2, params=params, progress=False,
            opt_state={**state, "mu": {**state["mu"], "W1": np.full((2, 2), np.nan)}})
    assert ran == []


def test_fit_refuses_parameters_that_are_not_finite_numbers(monkeypatch, small):
    params = {k: np.asarray(v) for k, v in small.init_params(0).items()}
    ran = watch(monkeypatch, small)
    with pytest.raises(DataError, match=r"^params\['W1'\]: expected real numbers, found dtype <U1 \(shape \(2, 3\)\)$"):
        fit(small, X4, Y4, 1, 2, params={**params, "W1": np.array([["a"] * 3] * 2)}, progress=False)
    nan = {k: v * np.nan for k, v in params.items()}
    with pytest.raises(DataError, match=r"^params\['W1'\]: expected finite numbers, found nan at index \(0, 0\)"):
        fit(small, X4, Y4, 1, 2, params=nan, progress=False)
    with pytest.raises(DataError, match=r"^params\['b2'\]: expected finite numbers, found 1e\+300 at index "
                                        r"\(0, 1\) \(too large for float32\)"):
        fit(small, X4, Y4, 1, 2, params={**params, "b2": np.array([[0, 1e300]])}, progress=False)
    assert ran == []


# ---- memory ----

def test_a_trainer_too_large_for_memory_is_refused_naming_its_largest_array():
    with pytest.raises(TooLarge) as exc:
        compile_trainer(Network(2, [Dense(10**6), Dense(10**6), Dense(1)], loss="mse"))
    text = str(exc.value)
    assert text.startswith("training of this network needs about ")
    assert "layer widths 2-1000000-1000000-1" in text
    assert text.endswith("(the largest array, W2 of layer 2, is 1000000×1000000: 3725.3 GB in float32 alone)")


def test_drawing_parameters_and_fit_are_refused_when_memory_runs_short(monkeypatch, small):
    import compile.checks.points as points
    ran = watch(monkeypatch, small)
    monkeypatch.setattr(points, "available_bytes", lambda: 100)
    with pytest.raises(TooLarge, match=r"^training of this network needs about .* \(the largest array, W1 of layer 1"):
        fit(small, X4, Y4, 1, 2, progress=False)
    assert ran == []
    monkeypatch.undo()
    monkeypatch.setattr(points, "available_bytes", lambda: 100)
    with pytest.raises(TooLarge, match=r"^drawing the parameters of this network needs about "):
        small.init_params(0)


def test_init_params_names_a_bad_seed(small):
    with pytest.raises(DataError, match=r"^init_params: key must be from 0 to 4294967295, not -1$"):
        small.init_params(-1)
    with pytest.raises(DataError, match=r"^init_params: key must be an integer, not 'a' \(a str\)$"):
        small.init_params("a")


def test_generated_zeros_and_ones_are_made_in_the_trainers_dtype(normed):
    """Zero biases and unit scales: no float64 array of the same size before the cast."""
    made = re.findall(r"(?<!j)np\.(?:zeros|ones)\((\([\d, ]*\))(, DTYPE)?\)", normed.source)
    assert len(made) == 4 and all(dtype for _shape, dtype in made), made


# ---- verify and generate ----

NET = Network(2, [Dense(2, "tanh"), Dense(2, "softmax")])


@pytest.mark.parametrize("kwargs, message", [
    (dict(m=0), r"verify: m \(the examples at the check point\) must be from 1 to 10000, not 0"),
    (dict(m=-2), r"verify: m \(the examples at the check point\) must be from 1 to 10000, not -2"),
    (dict(m=2.5), r"verify: m \(the examples at the check point\) must be an integer, not 2.5 \(a float\)"),
    (dict(m=True), r"verify: m \(the examples at the check point\) must be an integer, not True \(a bool\)"),
    (dict(seed=-1), r"verify: seed must be from 0 to 4294967295, not -1"),
    (dict(seed="a"), r"verify: seed must be an integer, not 'a' \(a str\)"),
    (dict(engine="torch"), r"verify: engine must be one of 'jax', 'numpy', not 'torch'"),
    (dict(scalar_limit=-1), r"verify: scalar_limit \(the most weights for sympy.diff\) must be from 0 up, not -1"),
    (dict(scalar_seconds=-1), r"verify: scalar_seconds must be a number of seconds above 0, not -1"),
])
def test_verify_names_a_bad_setting(monkeypatch, kwargs, message):
    import compile.checks.verify as verify_module
    drawn = []
    monkeypatch.setattr(verify_module, "random_point", lambda *a, **k: drawn.append(a))
    with pytest.raises(ValueError, match="^" + message + "$"):
        verify_module.verify(NET, **kwargs)
    assert drawn == []


def test_verify_refuses_an_unbiased_batch_norm_at_one_example():
    from compile.checks.verify import verify
    net = Network(2, [Dense(3), BatchNorm("tanh", variance="unbiased"), Dense(2, "softmax")])
    with pytest.raises(ValueError, match=r"^verify: layer 2 \(batch norm, unbiased variance\) divides by m − 1 "
                                         r"over the batch: m must be at least 2, not 1$"):
        verify(net, m=1)


@pytest.mark.parametrize("function", ["verify", "generate"])
def test_a_name_where_a_network_is_expected_says_how_to_make_one(function):
    import compile
    with pytest.raises(TypeError) as exc:
        getattr(compile, function)("xor")
    assert str(exc.value) == (f"{function}: net must be a derive.Network, not a str ('xor'); a built-in example, "
                              "a model file or an inline spec is made into one by "
                              "derive.network.examples.resolve('xor')[1]")
    with pytest.raises(TypeError, match=rf"^{function}: net must be a derive.Network .*, not an int$"):
        getattr(compile, function)(3)
    with pytest.raises(TypeError, match=rf"^{function}: net must be a derive.Network, not a Derivation"):
        getattr(compile, function)(NET.derive())


# ---- a derivation's views ----

@pytest.fixture(scope="module")
def derivation():
    return NET.derive()


@pytest.mark.parametrize("width, kind, message", [
    (0, ValueError, "width must be from 20 to 1000 characters, not 0"),
    (-5, ValueError, "width must be from 20 to 1000 characters, not -5"),
    (10**9, ValueError, "width must be from 20 to 1000 characters, not 1000000000"),
    ("80", TypeError, "width must be a whole number of characters, not '80' (str)"),
    (True, TypeError, "width must be a whole number of characters, not True (bool)"),
])
def test_text_names_a_bad_width(derivation, width, kind, message):
    with pytest.raises(kind) as exc:
        derivation.text(width=width)
    assert str(exc.value) == message


def test_text_takes_the_widths_between(derivation):
    assert max(map(len, derivation.text(width=20).splitlines())) <= 20
    assert "Z₁" in derivation.text(width=1000)


def test_views_name_a_bad_params_or_console(derivation):
    with pytest.raises(TypeError, match=re.escape("params must be a parameter's name or a list of names "
                                                  "(of W1, b1, W2, b2), not 3 (int)")):
        derivation.markdown(params=3)
    with pytest.raises(TypeError, match=re.escape("console must be a rich.console.Console (or None: the "
                                                  "terminal), not 3 (int)")):
        derivation.print(console=3)


def test_the_command_line_refuses_a_batch_norms_batch_of_one_before_anything_prints(capsys):
    from compile.cli.main import main
    assert main(["train", "2-3:nobias-bn:tanh-2:softmax", "--data", "xor", "--batch-size", "1", "--epochs", "2"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == ("derivax: --batch-size: layer 2 (batch norm) normalizes each feature over the batch, "
                                 "which needs at least 2 examples in a batch, not 1\n")


@pytest.mark.parametrize("call, says", [
    (lambda: __import__("derive").show(3), r"^show prints a node of a network's graph .*not int 3; a whole derivation "
                                           r"prints with its .text\(\) or .print\(\)$"),
    (lambda: __import__("derive").matrix_symbols(__import__("derive.network.examples", fromlist=["resolve"])
                                                 .resolve("xor")[1]),
     r"^matrix_symbols takes a derivation \(net.derive\(\)\), not Network: write matrix_symbols\(net.derive\(\)\)$")])
def test_the_printing_and_symbol_helpers_name_what_they_take(call, says):
    with pytest.raises(TypeError, match=says):
        call()


def test_an_on_epoch_that_raises_keeps_the_training_so_far_on_the_exception(small):
    """A callback that raised lost every epoch trained before it; the exception now carries the History."""
    x = np.random.default_rng(0).normal(size=(8, 2))
    y = [0, 1] * 4

    def stop_at_2(figures):
        if figures["epoch"] == 2:
            raise KeyError("enough")

    with pytest.raises(KeyError) as caught:
        fit(small, x, y, 5, 4, on_epoch=stop_at_2, progress=False)
    hist = caught.value.history
    assert hist.epochs == 2 and hist.stopped == "on_epoch raised KeyError after epoch 2"
    whole = fit(small, x, y, 2, 4, progress=False)   # the same two epochs, uninterrupted
    for k in whole.params:
        np.testing.assert_array_equal(np.asarray(hist.params[k]), np.asarray(whole.params[k]))
    assert any(".history" in note for note in caught.value.__notes__)


# ---- x and y of the wrong shape given to a trainer's functions (and to a generated module's) ----

@pytest.fixture(scope="module")
def one_out():
    return compile_trainer(Network(2, [Dense(3, "tanh"), Dense(1, "sigmoid")], loss="bce"))


X5 = np.linspace(-1, 1, 10).reshape(5, 2)


@pytest.mark.parametrize("call, says", [
    (lambda t, p: t.forward(p, np.zeros((5, 3))), "x has shape (5, 3); this network takes x as (batch, 2)"),
    (lambda t, p: t.forward(p, np.zeros((5, 2, 1))), "x has shape (5, 2, 1); this network takes x as (batch, 2)"),
    (lambda t, p: t.loss(p, X5, np.array([0, 1, 1, 0, 1])),
     "y has shape (5,); with x of shape (5, 2) this network takes y as (5, 2): class labels? y is one-hot, one "
     "row of 2 per example (jax.nn.one_hot(y, 2))"),
    (lambda t, p: t.grads(p, X5, np.eye(2)[[0, 1, 1, 0]]),
     "y has shape (4, 2); with x of shape (5, 2) this network takes y as (5, 2): x has 5 examples, y 4"),
    (lambda t, p: t.loss_and_grads(p, X5, np.zeros((5, 3))),
     "y has shape (5, 3); with x of shape (5, 2) this network takes y as (5, 2)"),
    (lambda t, p: t.train_step(p, t.init_opt_state(p), np.zeros((5, 3)), np.eye(2)[[0, 1, 1, 0, 1]]),
     "x has shape (5, 3); this network takes x as (batch, 2)"),
])
def test_a_wrong_shape_is_named_before_jax_sees_it(small, call, says):
    params = small.init_params(0)
    with pytest.raises(ValueError) as exc:
        call(small, params)
    assert str(exc.value) == says


def test_labels_for_one_output_are_refused_not_broadcast(one_out):
    """(batch, 1) against labels of shape (batch,) would broadcast to a (batch, batch) loss: a number, and wrong."""
    params = one_out.init_params(0)
    y = np.array([0.0, 1, 1, 0, 1])
    with pytest.raises(ValueError, match=re.escape("takes y as (5, 1) (y.reshape(-1, 1))")):
        one_out.loss(params, X5, y)
    # the column it asks for gives binary cross-entropy as NumPy computes it from forward's output
    a = np.asarray(one_out.forward(params, X5), np.float64)[:, 0]
    want = -np.mean(y * np.log(a) + (1 - y) * np.log(1 - a))
    assert float(one_out.loss(params, X5, y.reshape(-1, 1))) == pytest.approx(want, rel=1e-5)


def test_one_example_alone_and_a_users_jit_still_work(small):
    import jax
    params = small.init_params(0)
    np.testing.assert_allclose(small.forward(params, X5[0]), small.forward(params, X5[:1]), rtol=1e-6)
    y = np.eye(2)[[0, 1, 1, 0, 1]]
    np.testing.assert_allclose(jax.jit(small.loss)(params, X5, y), small.loss(params, X5, y), rtol=1e-6)
    with pytest.raises(ValueError, match=re.escape("x has shape (5, 4)")):   # shapes are known while tracing
        jax.jit(small.loss)(params, np.zeros((5, 4)), y)


def test_a_generated_module_checks_shapes_on_its_own(tmp_path):
    """The standalone module (imports only jax and numpy) carries the same check."""
    import subprocess
    import sys
    from compile.lowering.codegen import generate
    path = tmp_path / "net.py"
    path.write_text(generate(Network((8, 1), [Conv1D(2, 3), Flatten(), Dense(2, "softmax")])))
    code = ("import numpy as np, net\n"
            "p = net.init_params(__import__('jax').random.key(0))\n"
            "print(net.forward(p, np.zeros((3, 8))).shape)\n"    # one channel without its axis
            "try:\n    net.forward(p, np.zeros((3, 9, 1)))\nexcept ValueError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines() == ["(3, 2)", "x has shape (3, 9, 1); this network takes x as (batch, 8, 1)"], \
        done.stderr[-2000:]

"""Bad input given from Python: each refused with a derivax error, a ValueError or a TypeError naming the argument
and what it takes; never an AttributeError or KeyError from inside, a wrong network, a check that passes having
compared nothing, or a run that does not end."""
import numpy as np
import pytest
import sympy as sp

import compile
import derive
from compile.train.optim import OptimizerError
from derive import (Builder, Conv2D, Dense, Embedding, Flatten, MaxPool2D, Network, NetworkError, Recurrent,
                    TransformerBlock)


def xor_net():
    return Network(2, [Dense(2, "tanh"), Dense(1)], loss="mse")


def pooled():
    return Network((4, 4, 1), [MaxPool2D(2), Flatten()], loss="mse")


# ---- 1. a normalization's and a pooling's kind ----

@pytest.mark.parametrize("kind", ["Batch", "batch ", "group", "layernorm", None])
def test_an_unknown_normalization_kind_is_refused(kind):
    g = Builder(2)
    a = g.dense(g.X, 2)
    with pytest.raises(NetworkError, match=r"kind must be one of 'batch', 'layer'"):
        g.norm(a, kind=kind)


@pytest.mark.parametrize("kind", ["Max", "min", "sum", None])
def test_an_unknown_pooling_kind_is_refused(kind):
    g = Builder((4, 4, 1))
    with pytest.raises(NetworkError, match=r"kind must be one of 'max', 'avg'"):
        g.pool(g.X, kind=kind)


def test_the_known_kinds_still_build():
    g = Builder((4, 4, 1))
    assert g.layers == [] and g.pool(g.X, kind="avg") is g.layers[-1].A
    g = Builder(2)
    g.norm(g.dense(g.X, 2), kind="layer")
    assert g.layers[-1].kind == "layer_norm"


# ---- 2. verify with another network's derivation ----

@pytest.mark.parametrize("other", [Network(2, [Dense(3, "tanh"), Dense(1)], loss="mse"),
                                   Network(2, [Dense(2, "relu"), Dense(1)], loss="mse"),
                                   Network(2, [Dense(2, "tanh"), Dense(1)], loss="(yhat - y)**4")])
def test_verify_refuses_a_derivation_of_another_network(other):
    with pytest.raises(ValueError, match="derivation is not a derivation of net"):
        compile.verify(xor_net(), derivation=other.derive(), scalar_limit=0, engine="numpy")


def test_verify_takes_a_derivation_of_the_same_network():
    net = xor_net()
    assert compile.verify(net, derivation=net.derive(), scalar_limit=0, engine="numpy").ok


# ---- 3. a network without parameters ----

@pytest.mark.parametrize("call", [lambda n: compile.verify(n), lambda n: compile.generate(n),
                                  lambda n: compile.compile_trainer(n)], ids=["verify", "generate", "compile_trainer"])
def test_a_network_without_parameters_is_refused(call):
    with pytest.raises(ValueError, match="has no parameters"):
        call(pooled())


# ---- 4. scalar_check's and scalar_view's settings ----

@pytest.mark.parametrize("kwargs, error", [
    (dict(m_value=10**6, seconds=5), ValueError), (dict(m_value=0), ValueError), (dict(m_value=-1), ValueError),
    (dict(m_value=2.5), TypeError), (dict(m_value="2"), TypeError), (dict(m_value=True), TypeError),
    (dict(seed="x"), TypeError), (dict(seed=-1), ValueError), (dict(seconds=float("inf")), ValueError),
    (dict(seconds=float("nan")), ValueError), (dict(seconds=0), ValueError), (dict(seconds="a"), TypeError)])
def test_scalar_check_refuses_bad_settings(kwargs, error):
    key = next(iter(kwargs))
    with pytest.raises(error, match=rf"scalar_check: {key}"):
        derive.scalar_check(xor_net(), **kwargs)


def test_scalar_check_takes_a_numpy_batch_size():
    assert all(r.ok for r in derive.scalar_check(xor_net(), m_value=np.int64(3), seconds=30))


@pytest.mark.parametrize("seconds, error", [(float("inf"), ValueError), (float("nan"), ValueError),
                                            ("a", TypeError), (-1, ValueError), (True, TypeError)])
def test_scalar_view_refuses_a_bad_time_limit(seconds, error):
    with pytest.raises(error, match="scalar_view: seconds"):
        derive.scalar_view(xor_net(), seconds=seconds)


# ---- 5. constants of a recurrent step ----

@pytest.mark.parametrize("step, words", [
    (lambda s: s.gate("f", "tanh") + s.h * (1 + 2j), "complex"),
    (lambda s: s.gate("f", "tanh") + s.h * sp.I, "complex"),
    (lambda s: s.gate("f", "tanh") * sp.Symbol("q"), "symbol q"),
    (lambda s: s.gate("f", "tanh") * "2", "not its text"),
    (lambda s: s.gate("f", "tanh") * np.ones((1, 2)), "array"),
    (lambda s: np.ones((1, 2)) * s.gate("f", "tanh"), "array"),
    (lambda s: s.gate("f", "tanh") ** "2", "not its text")],
    ids=["complex", "I", "symbol", "string", "array", "array-left", "power-string"])
def test_a_recurrent_step_with_a_bad_constant_is_refused_where_declared(step, words):
    with pytest.raises(NetworkError, match=rf"layer 1 \(Recurrent 2\).*{words}"):
        Network((3, 2), [Recurrent(2, step), Dense(1)], loss="mse")


def test_a_recurrent_step_with_real_constants_builds():
    step = lambda s: s.gate("f", "tanh") * np.float64(0.5) + 2 * s.h + sp.Rational(1, 3) * s.h + sp.pi * s.h  # noqa
    Network((3, 2), [Recurrent(2, step), Dense(1)], loss="mse")


# ---- 6. a derivation's parameter names ----

def test_a_derivation_answers_in_and_iterates_over_its_parameters():
    d = xor_net().derive()
    assert "W1" in d and "W9" not in d and [1] not in d
    assert list(d) == ["W1", "b1", "W2", "b2"]
    assert all(d[name] is d.grads[name] for name in d)


# ---- 7. NumPy integers as sizes ----

@pytest.mark.parametrize("layers, shape", [
    ([Conv2D(1, np.int64(2)), Flatten(), Dense(1)], (4, 4, 1)),
    ([Conv2D(1, (np.int64(2), np.int64(2)), stride=np.int64(1), padding=np.int64(1)), Flatten(), Dense(1)],
     (4, 4, 1)),
    ([Conv2D(1, 2, padding=((np.int64(1), np.int64(0)), (0, np.int64(1)))), Flatten(), Dense(1)], (4, 4, 1)),
    ([MaxPool2D(np.int64(2), stride=np.int64(2)), Flatten(), Dense(1)], (4, 4, 1)),
    ([Embedding(5, 4), TransformerBlock(np.int64(2)), Flatten(), Dense(1)], 3),
    ([Dense(2), Dense(2, skip_from=(np.int64(1),)), Dense(1)], 2)],
    ids=["kernel", "tuples", "pairs", "pool", "heads", "skip_from"])
def test_numpy_integers_are_sizes(layers, shape):
    plain = Network(shape, [_plain(layer) for layer in layers], loss="mse").derive()
    numpy = Network(shape, layers, loss="mse").derive()
    assert [(p.name, p.shape) for p in numpy.model.params] == [(p.name, p.shape) for p in plain.model.params]
    assert [layer.geometry for layer in numpy.model.layers] == [layer.geometry for layer in plain.model.layers]


def _plain(layer):
    import dataclasses

    def ints(v):
        return int(v) if isinstance(v, np.integer) else type(v)(ints(u) for u in v) if isinstance(v, tuple) else v
    return dataclasses.replace(layer, **{f.name: ints(getattr(layer, f.name)) for f in dataclasses.fields(layer)})


@pytest.mark.parametrize("heads", [np.int64(3), 2.0, True, 0])
def test_a_transformer_block_refuses_heads_that_do_not_fit(heads):
    with pytest.raises(NetworkError, match="heads"):
        Network(3, [Embedding(5, 4), TransformerBlock(heads), Flatten(), Dense(1)], loss="mse")


@pytest.mark.parametrize("skip", [True, 1.0, "1", np.int64(2)])
def test_skip_from_still_refuses_what_names_no_earlier_layer(skip):
    with pytest.raises(NetworkError, match="must name an earlier layer"):
        Network(2, [Dense(2), Dense(2, skip_from=(skip,)), Dense(1)], loss="mse")


# ---- 8. check_code's and check_formula's arguments ----

@pytest.mark.parametrize("net", ["xor", None, 5])
def test_check_code_refuses_what_is_no_network(net):
    with pytest.raises(TypeError, match="check_code: net must be a derive.Network"):
        compile.check_code(net, lambda params, x, y: {})


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(seed=-5), ValueError, "seed"), (dict(seed="a"), TypeError, "seed"), (dict(seed=True), TypeError, "seed"),
    (dict(derivation=5), TypeError, "derivation must be a derive.Derivation")])
def test_check_formula_refuses_bad_settings(kwargs, error, words):
    with pytest.raises(error, match=f"check_formula: {words}"):
        compile.check_formula(xor_net(), "W2", "A1.T", **kwargs)


# ---- 9. fit's console and the optimizer's update ----

def _data():
    x = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
    return x, x[:, :1]


def test_fit_refuses_a_console_that_is_not_rich():
    x, y = _data()
    with pytest.raises(TypeError, match="console must be a rich.console.Console"):
        compile.fit(compile.compile_trainer(xor_net()), x, y, 1, 4, progress=True, console=5)


def test_an_optimizer_whose_update_returns_nothing_is_named():
    class Broken:
        def init(self, params):
            return {}

        def update(self, grads, state, params=None):
            return None
    x, y = _data()
    with pytest.raises(OptimizerError, match="the optimizer Broken: its update"):
        compile.fit(compile.compile_trainer(xor_net(), optimizer=Broken()), x, y, 1, 4, progress=False)


# ---- 10. Builder.add_layer's act ----

@pytest.mark.parametrize("act, words", [(lambda z: None, "act returned None"),
                                        (lambda z: 1 / 0, "act raised ZeroDivisionError"),
                                        (5, "act must be a function")])
def test_add_layer_names_the_layer_when_act_fails(act, words):
    g = Builder(2)
    with pytest.raises(NetworkError, match=rf"layer 1 \(custom\): {words}"):
        g.add_layer(g.X, act)


def test_add_layer_still_builds_a_layer():
    g = Builder(2)
    a = g.add_layer(g.dense(g.X, 2), lambda z: z * 2, "double")
    assert g.layers[-1].A is a and g.layers[-1].activation == "double"


# ---- 11. the parameters and state the generated functions take ----

@pytest.fixture(scope="module")
def trainer():
    return compile.compile_trainer(xor_net())


def test_forward_names_the_missing_and_unknown_parameters(trainer):
    x, _ = _data()
    params = trainer.init_params(0)
    missing = {k: v for k, v in params.items() if k != "W1"}
    with pytest.raises(ValueError, match="missing W1"):
        trainer.forward(missing, x)
    with pytest.raises(ValueError, match="unknown 'W9'"):
        trainer.forward({**params, "W9": params["W1"]}, x)
    with pytest.raises(ValueError, match="missing W1"):
        compile.lower(xor_net().derive()).forward(missing, x)


def test_train_step_checks_its_parameters_and_state(trainer):
    x, y = _data()
    params = trainer.init_params(0)
    state = trainer.init_opt_state(params)
    with pytest.raises(ValueError, match="opt_state: does not fit"):
        trainer.train_step(params, "x", x, y)
    with pytest.raises(ValueError, match="params: expected a dict with keys W1, b1, W2, b2; missing b2"):
        trainer.train_step({k: v for k, v in params.items() if k != "b2"}, state, x, y)
    new, _, loss = trainer.train_step(params, state, x, y)
    assert set(new) == set(params) and np.isfinite(float(loss))


# ---- 12. flags that take True or False ----

@pytest.mark.parametrize("call, words", [
    (lambda: xor_net().derive().latex(steps="no"), "Derivation.latex: steps must be True or False"),
    (lambda: xor_net().derive().markdown(unroll="yes"), "Derivation.markdown: unroll must be True or False"),
    (lambda: xor_net().derive().text(steps=1), "Derivation.text: steps must be True or False"),
    (lambda: compile.verify(xor_net(), jit="yes"), "verify: jit must be True or False"),
    (lambda: compile.check_code(xor_net(), lambda params, x, y: {}, per_example="yes"),
     "check_code: per_example must be True or False")])
def test_a_flag_that_is_no_bool_is_refused(call, words):
    with pytest.raises(TypeError, match=words):
        call()


@pytest.mark.parametrize("flag", ["shuffle", "progress"])
def test_fit_refuses_a_flag_that_is_no_bool(trainer, flag):
    x, y = _data()
    with pytest.raises(ValueError, match=f"{flag} must be True or False"):
        compile.fit(trainer, x, y, 1, 4, **{"progress": False, flag: "no"})


@pytest.mark.parametrize("bias", ["maybe", 1, None])
def test_a_gate_refuses_a_bias_that_is_no_flag(bias):
    with pytest.raises(NetworkError, match=r"layer 1 \(Recurrent 2\).*bias of gate 'f' must be True, False or 'both'"):
        Network((3, 2), [Recurrent(2, lambda s: s.gate("f", "tanh", bias=bias)), Dense(1)], loss="mse")

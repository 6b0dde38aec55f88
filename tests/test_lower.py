"""The lowered JAX functions against an independently hand-written model differentiated by jax.grad.

The reference below is written from the textbook definitions in plain jnp and shares nothing with
derive/ or compile/; the derived gradients must match its jax.grad to 1e-9 in float64.
"""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from compile.lowering.lower import lower
from conftest import tree_allclose
from derive import Dense, Network

pytestmark = pytest.mark.usefixtures("x64")

ACT = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": lambda z: jnp.maximum(z, 0),
       "softplus": lambda z: jnp.log1p(jnp.exp(z)), "leaky_relu": lambda z: jnp.where(z > 0, z, 0.01 * z),
       "z*sigmoid(z)": lambda z: z / (1 + jnp.exp(-z)), "identity": lambda z: z,
       "softmax": lambda z: jnp.exp(z) / jnp.sum(jnp.exp(z), axis=1, keepdims=True)}
LOSS = {"ce": lambda a, y: -y * jnp.log(a), "bce": lambda a, y: -(y * jnp.log(a) + (1 - y) * jnp.log(1 - a)),
        "mse": lambda a, y: (a - y) ** 2, "log(cosh(yhat - y))": lambda a, y: jnp.log(jnp.cosh(a - y))}

# name: (inputs, [(units, activation, dropout, skip_from)], loss, l2)
CASES = {
    "tanh-softmax-ce": (3, [(4, "tanh", None, ()), (3, "softmax", None, ())], "ce", None),
    "sigmoid-bce": (3, [(5, "sigmoid", None, ()), (1, "sigmoid", None, ())], "bce", None),
    "relu-mse": (4, [(6, "relu", None, ()), (5, "relu", None, ()), (2, "identity", None, ())], "mse", None),
    "softplus-leaky-mse": (3, [(4, "softplus", None, ()), (2, "leaky_relu", None, ())], "mse", None),
    "swish-custom-loss": (3, [(4, "z*sigmoid(z)", None, ()), (2, "tanh", None, ())], "log(cosh(yhat - y))", None),
    "skip": (4, [(4, "tanh", None, (0,)), (4, "tanh", None, (0, 1)), (2, "softmax", None, ())], "ce", None),
    "l2": (3, [(4, "tanh", None, ()), (3, "softmax", None, ())], "ce", 0.01),
    "dropout": (3, [(6, "relu", 0.5, ()), (5, "tanh", 0.25, ()), (2, "softmax", None, ())], "ce", None),
}
M = 7  # batch size


def network(case):
    n_in, layers, loss, l2 = CASES[case]
    return Network(n_in, [Dense(u, a, dropout=d, skip_from=s) for u, a, d, s in layers], loss=loss, l2=l2)


def reference_loss(case, params, x, y, masks=None):
    """J = (1/m) sum of the per-entry loss (+ l2/(2m) sum W^2); W is (in, out), batch-first."""
    n_in, layers, loss, l2 = CASES[case]
    outs = [x]
    for l, (units, act, drop, skip) in enumerate(layers, 1):
        z = outs[-1] @ params[f"W{l}"] + params[f"b{l}"] + sum(outs[k] for k in skip)
        a = ACT[act](z)
        if drop and masks is not None:
            a = a * masks[f"D{l}"]
        outs.append(a)
    m = x.shape[0]
    J = jnp.sum(LOSS[loss](outs[-1], y)) / m
    if l2:
        J += l2 / (2 * m) * sum(jnp.sum(params[f"W{l}"] ** 2) for l in range(1, len(layers) + 1))
    return J, outs[-1]


def sample(case, seed=0):
    """Parameters (rows layout), x, y and dropout masks (0 or 1/keep) of a case, from a seed."""
    n_in, layers, loss, _ = CASES[case]
    rng = np.random.default_rng(seed)
    sizes = [n_in] + [u for u, *_ in layers]
    params = {}
    for l, (a, b) in enumerate(zip(sizes, sizes[1:]), 1):
        params[f"W{l}"] = rng.normal(0, 0.8, (a, b))
        params[f"b{l}"] = rng.normal(0, 0.3, (1, b))
    x = rng.normal(size=(M, n_in))
    out = sizes[-1]
    if loss == "ce":
        y = np.eye(out)[rng.integers(0, out, M)]
    elif loss == "bce":
        y = rng.integers(0, 2, (M, out)).astype(float)
    else:
        y = rng.normal(size=(M, out))
    masks = {f"D{l}": (rng.random((M, u)) < 1 - d) / (1 - d) for l, (u, _, d, _) in enumerate(layers, 1) if d}
    return params, x, y, masks


def to_convention(params, convention):
    return params if convention == "rows" else {k: v.T for k, v in params.items()}


@pytest.fixture(scope="module")
def lowered(x64):
    cache = {}

    def get(case, convention="rows", dtype="float64"):
        key = (case, convention, dtype)
        if key not in cache:
            cache[key] = lower(network(case).derive(convention), dtype)
        return cache[key]
    return get


@pytest.mark.parametrize("convention", ["rows", "columns"])
@pytest.mark.parametrize("case", list(CASES))
def test_grads_equal_jax_grad_of_a_hand_written_model(lowered, case, convention):
    params, x, y, masks = sample(case)
    lw = lowered(case, convention)
    args = (x, y, masks) if masks else (x, y)
    derived = to_convention(lw.grads(to_convention(params, convention), *args), convention)
    reference = jax.grad(lambda p: reference_loss(case, p, x, y, masks or None)[0])(params)
    assert tree_allclose(derived, reference)
    J = lw.loss(to_convention(params, convention), *args)
    assert np.allclose(J, reference_loss(case, params, x, y, masks or None)[0], rtol=1e-12)


@pytest.mark.parametrize("case", ["tanh-softmax-ce", "dropout", "skip"])
def test_forward_is_the_prediction_without_dropout(lowered, case):
    params, x, y, _ = sample(case, seed=1)
    for convention in ("rows", "columns"):
        pred = lowered(case, convention).forward(to_convention(params, convention), x)
        assert pred.shape == y.shape
        assert np.allclose(pred, reference_loss(case, params, x, y)[1], rtol=1e-12)


def test_loss_and_grads_agree_with_loss_and_grads(lowered):
    params, x, y, masks = sample("dropout", seed=2)
    lw = lowered("dropout")
    J, g = lw.loss_and_grads(params, x, y, masks)
    assert np.allclose(J, lw.loss(params, x, y, masks), rtol=1e-14)
    assert tree_allclose(g, lw.grads(params, x, y, masks), rtol=1e-14)


def test_no_masks_means_no_dropout(lowered):
    params, x, y, _ = sample("dropout", seed=3)
    ones = {k: np.ones_like(v) for k, v in sample("dropout", seed=3)[3].items()}
    lw = lowered("dropout")
    assert tree_allclose(lw.grads(params, x, y), lw.grads(params, x, y, ones))


def test_source_is_the_derived_formulas_with_comments(lowered):
    src = lowered("tanh-softmax-ce").source
    assert "jax.grad" not in src and "vjp" not in src and "jvp" not in src
    body = src[src.index("def loss_and_grads"):]
    assert "    # δ₂ = A₂ − Y\n    delta2 = A2 - Y\n" in body
    assert "    # ∂J/∂W₁ = (1/m) Xᵀ δ₁\n    dW1 = transpose_matmul(X, delta1)/m\n" in body
    # Each named node is computed once: one tanh per hidden layer, the backward pass reuses A1.
    assert body.count("jnp.tanh(") == 1
    # the loss's log-softmax, stable (M x parameters: far below the size where the rows of Y are summed apart)
    assert "    J = -y_log_softmax_sum(Y, Z2, 1, m*31)/m\n" in body
    assert "jnp.log(jnp.sum(jnp.exp(z - top), axis=axis, keepdims=True))" in src


def test_a_step_with_softmax_and_its_loss_exponentiates_once(lowered):
    """The compiled loss_and_grads of a softmax + cross-entropy network computes exp(Z − max Z) once, for
    the loss and for the softmax in δ."""
    params, x, y, _ = sample("tanh-softmax-ce")
    hlo = lowered("tanh-softmax-ce").loss_and_grads.lower(params, x, y).compile().as_text()
    assert hlo.count(" exponential(") == 1


@pytest.mark.parametrize("work", [0, 2**27])
def test_y_log_softmax_sum_shares_softmaxs_exponentials(work):
    """Both forms of the loss, beside jax.nn.softmax of the same logits: one exponential once compiled."""
    from compile.lowering.lower import LOG_SOFTMAX_SUM, run_source
    f = run_source("import jax\nimport jax.numpy as jnp\n" + LOG_SOFTMAX_SUM, "y_log_softmax_sum")["y_log_softmax_sum"]
    z, y = np.ones((5, 3)), np.eye(3)[[0, 1, 2, 0, 1]]
    both = jax.jit(lambda y, z: (f(y, z, 1, work), jax.nn.softmax(z, axis=1)))
    assert both.lower(y, z).compile().as_text().count(" exponential(") == 1


# (shape of a as (k, n), columns c of b, what a CPU stores): a copy of aᵀ (a small), the product bᵀ a
# (b narrow, a of 2^13 numbers or more), then nothing past the multiply-adds, the copy's size (8 MiB of
# float64, 10.5M products) and the columns of b (129, 2.1M products)
@pytest.mark.parametrize("shape,stored", [((7, 3, 4), "aT"), ((64, 64, 10), "aT"), ((256, 128, 10), "bTa"),
                                          ((512, 2048, 1), "bTa"), ((256, 784, 256), None), ((512, 2048, 33), None),
                                          ((128, 128, 129), None)])
def test_transpose_matmul_is_the_transposed_product(shape, stored):
    from compile.lowering.lower import TRANSPOSE_MATMUL, run_source
    ns = run_source("import jax\n" + TRANSPOSE_MATMUL, "transpose_matmul")
    k, n, c = shape
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((k, n)), rng.standard_normal((k, c))
    got = jax.jit(ns["transpose_matmul"])(a, b)
    np.testing.assert_allclose(np.asarray(got), a.T @ b, rtol=1e-12, atol=1e-12)
    hlo = jax.jit(ns["transpose_matmul"]).lower(a, b).as_text()
    barriers = re.findall(r"optimization_barrier %\S+ : tensor<(\d+)x(\d+)xf64>", hlo)
    want = {"aT": [(n, k)], "bTa": [(c, n)], None: []}[stored if jax.default_backend() == "cpu" else None]
    assert [(int(r), int(s)) for r, s in barriers] == want


@pytest.mark.parametrize("axis", [0, 1])
def test_y_log_softmax_sum_is_the_sum_either_way(axis):
    """Both forms of the helper give NumPy's Σ y ⊙ log_softmax(z), for targets whose rows do not sum to 1
    and logits large enough to overflow a plain softmax; the large form is the one taken from 2^27 work."""
    from compile.lowering.lower import LOG_SOFTMAX_SUM, run_source
    f = run_source("import jax\nimport jax.numpy as jnp\n" + LOG_SOFTMAX_SUM, "y_log_softmax_sum")["y_log_softmax_sum"]
    rng = np.random.default_rng(5)
    z = rng.normal(0, 300, (6, 4))
    y = rng.random((6, 4))
    shifted = z - z.max(axis=axis, keepdims=True)
    want = np.sum(y * (shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))))
    small, large = (jax.jit(f, static_argnums=(2, 3))(y, z, axis, work) for work in (0, 2**27))
    np.testing.assert_allclose([float(small), float(large)], [want, want], rtol=1e-12)
    forms = {work: str(jax.make_jaxpr(f, static_argnums=(2, 3))(y, z, axis, work)) for work in (0, 2**27 - 1, 2**27)}
    assert forms[0] == forms[2**27 - 1]
    assert (forms[0] != forms[2**27]) == (jax.default_backend() == "cpu")


def test_a_large_step_sums_the_rows_of_y_apart_with_the_same_loss_and_grads():
    """A network whose batch times parameters passes 2^27 takes the row-sum form of its loss; the
    loss and gradients still equal jax.grad of a hand-written model."""
    n_in, hidden, out, m = 300, 512, 10, 1024   # 159,242 parameters x 1024 examples
    net = Network(n_in, [Dense(hidden, "tanh"), Dense(out, "softmax")], loss="ce")
    lw = lower(net.derive(), "float64")
    rng = np.random.default_rng(6)
    params = {"W1": rng.normal(0, 0.05, (n_in, hidden)), "b1": rng.normal(0, 0.1, (1, hidden)),
              "W2": rng.normal(0, 0.05, (hidden, out)), "b2": rng.normal(0, 0.1, (1, out))}
    x, y = rng.normal(size=(m, n_in)), np.eye(out)[rng.integers(0, out, m)]
    assert f"m*{n_in * hidden + hidden + hidden * out + out})" in lw.source and m * 159242 >= 2**27

    def ref(p):
        a = jnp.tanh(x @ p["W1"] + p["b1"])
        z = a @ p["W2"] + p["b2"]
        return -jnp.sum(y * jax.nn.log_softmax(z, axis=1)) / m
    J, g = lw.loss_and_grads(params, x, y)
    np.testing.assert_allclose(float(J), float(ref(params)), rtol=1e-12)
    assert tree_allclose(g, jax.grad(ref)(params))


def test_float64_needs_x64_mode():
    with jax.enable_x64(False):
        with pytest.raises(ValueError, match="x64"):
            lower(network("l2").derive(), "float64")


@pytest.mark.parametrize("case", ["tanh-softmax-ce", "sigmoid-bce"])
def test_saturated_outputs_give_finite_loss_and_grads_in_float32(case):
    with jax.enable_x64(False):
        lw = lower(network(case).derive(), "float32")
        params, x, y, _ = sample(case, seed=4)
        last = f"W{len(CASES[case][1])}"
        params = {k: jnp.asarray(v * (1e4 if k == last else 1), jnp.float32) for k, v in params.items()}
        wrong = np.roll(y, 1, axis=1) if case == "tanh-softmax-ce" else 1 - y  # confidently wrong
        x, y = jnp.asarray(x, jnp.float32), jnp.asarray(wrong, jnp.float32)
        J, g = lw.loss_and_grads(params, x, y)
        assert J.dtype == jnp.float32 and np.isfinite(J) and J > 100
        assert all(v.dtype == jnp.float32 and np.all(np.isfinite(v)) for v in g.values())
        assert np.isfinite(lw.loss(params, x, y))

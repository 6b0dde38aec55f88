"""Convolution and pooling kernels: NumPy (derive.ops.windows) and JAX (compile.lowering.windows).

Each is checked against something independent: the NumPy forward maps against direct loops over every
index written here, the NumPy adjoints against central differences of the NumPy forward and the adjoint
identity, the JAX forward maps against NumPy, and the JAX adjoints against jax.vjp of the JAX forward
(autodiff is the reference in the tests only; the kernels write their adjoints out)."""
import itertools

import numpy as np
import pytest
import sympy as sp

from derive.ops import windows as N
from conftest import numeric_gradients

# (spatial, kernel, stride, padding, c_in, c_out): 1-D and 2-D, strides 1, 2, 3, paddings valid,
# asymmetric (0, 1), (1, 1) and explicit (2, 1), kernels 1, 2, 3, 5; the comment gives
# (n + lo + hi - k) % s a dim, nonzero where the last rows are in no window.
CONV = [
    ((8,), (3,), (2,), ((0, 0),), 1, 2),                     # 1
    ((9,), (5,), (3,), ((2, 1),), 3, 1),                     # 1
    ((4,), (1,), (1,), ((1, 1),), 2, 3),                     # 0, lo > k - 1
    ((6, 7), (3, 2), (1, 2), ((1, 1), (0, 1)), 2, 3),        # 0 0
    ((7, 8), (3, 3), (2, 3), ((0, 1), (2, 1)), 3, 2),        # 1 2
    ((5, 5), (5, 2), (2, 3), ((2, 1), (0, 0)), 1, 1),        # 1 0
    ((4, 6), (2, 1), (3, 2), ((2, 1), (1, 1)), 2, 2),        # 2 1, lo > k - 1
]
CONV_IDS = [f"{len(c[0])}d-n{c[0]}-k{c[1]}-s{c[2]}-p{c[3]}" for c in CONV]

# (spatial, window, stride): non-overlapping, overlapping (3 by 2), with gaps (2 by 3), mixed
POOL = [
    ((8,), (2,), (2,)),
    ((8,), (3,), (2,)),
    ((6, 7), (2, 2), (2, 2)),
    ((7, 7), (3, 3), (2, 2)),
    ((8, 7), (2, 2), (3, 3)),
    ((7, 6), (3, 2), (2, 3)),
]
POOL_IDS = [f"{len(c[0])}d-n{c[0]}-w{c[1]}-s{c[2]}" for c in POOL]
M = 2  # batch


def conv_data(case, seed=0):
    spatial, k, s, pad, cin, cout = case
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(M, *spatial, cin))
    w = rng.normal(size=(*k, cin, cout))
    out = tuple((n + lo + hi - kk) // ss + 1 for n, kk, ss, (lo, hi) in zip(spatial, k, s, pad))
    g = rng.normal(size=(M, *out, cout))
    return x, w, g


def pool_data(case, c=2, seed=1):
    spatial, win, s = case
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(M, *spatial, c))
    out = tuple((n - k) // ss + 1 for n, k, ss in zip(spatial, win, s))
    g = rng.normal(size=(M, *out, c))
    return x, g


# --- direct loops over every index: the definitions, written without padding or slicing ---------------

def naive_conv(x, w, stride, padding):
    nd = x.ndim - 2
    spatial, k = x.shape[1:-1], w.shape[:nd]
    out = tuple((n + lo + hi - kk) // s + 1 for n, kk, s, (lo, hi) in zip(spatial, k, stride, padding))
    y = np.zeros((x.shape[0], *out, w.shape[-1]))
    for i in range(x.shape[0]):
        for pos in itertools.product(*map(range, out)):
            for c in range(w.shape[-1]):
                total = 0.0
                for off in itertools.product(*map(range, k)):
                    src = [s * p + u - lo for s, p, u, (lo, _) in zip(stride, pos, off, padding)]
                    if all(0 <= q < n for q, n in zip(src, spatial)):  # else a padded zero
                        for ci in range(x.shape[-1]):
                            total += x[(i, *src, ci)] * w[(*off, ci, c)]
                y[(i, *pos, c)] = total
    return y


def naive_pool(x, window, stride, reduce):
    spatial = x.shape[1:-1]
    out = tuple((n - k) // s + 1 for n, k, s in zip(spatial, window, stride))
    y = np.zeros((x.shape[0], *out, x.shape[-1]))
    for i in range(x.shape[0]):
        for pos in itertools.product(*map(range, out)):
            for c in range(x.shape[-1]):
                vals = [x[(i, *[s * p + u for s, p, u in zip(stride, pos, off)], c)]
                        for off in itertools.product(*map(range, window))]
                y[(i, *pos, c)] = reduce(vals)
    return y


def numeric_grad(f, a, eps=1e-6):
    """Central differences of the scalar f at every entry of a."""
    return numeric_gradients(lambda p: f(p["a"]), {"a": a}, eps)["a"]


# --- NumPy ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CONV, ids=CONV_IDS)
def test_numpy_conv_is_the_direct_sum(case):
    x, w, g = conv_data(case)
    _, _, s, pad, _, _ = case
    y = N.conv(x, w, s, pad)
    assert y.shape == g.shape
    np.testing.assert_allclose(y, naive_conv(x, w, s, pad), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CONV, ids=CONV_IDS)
def test_numpy_conv_adjoints_are_the_derivatives(case):
    x, w, g = conv_data(case)
    spatial, k, s, pad, _, _ = case
    dx = N.conv_input_grad(g, w, s, pad, spatial)
    dw = N.conv_weight_grad(x, g, s, pad, k)
    assert dx.shape == x.shape and dw.shape == w.shape
    np.testing.assert_allclose(dx, numeric_grad(lambda a: np.sum(N.conv(a, w, s, pad) * g), x.copy()),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dw, numeric_grad(lambda b: np.sum(N.conv(x, b, s, pad) * g), w.copy()),
                               rtol=1e-6, atol=1e-7)
    # the adjoint identity <conv(x, w), g> = <x, dx> = <w, dw> (conv is linear in each argument)
    inner = np.sum(N.conv(x, w, s, pad) * g)
    assert np.isclose(inner, np.sum(x * dx), rtol=1e-12)
    assert np.isclose(inner, np.sum(w * dw), rtol=1e-12)


def test_rows_in_no_window_get_no_gradient():
    # n = 6, k = 2, s = 3, padding (0, 1): windows start at 0 and 3; rows 2 and 5 are in none
    w = np.ones((2, 1, 1))
    dx = N.conv_input_grad(np.ones((1, 2, 1)), w, (3,), ((0, 1),), (6,))
    assert dx[0, :, 0].tolist() == [1, 1, 0, 1, 1, 0]
    # padded on the low side by 2 with k = 1: the first window reads a padded zero, row 0 is the 2nd
    dx = N.conv_input_grad(np.arange(1.0, 4.0).reshape(1, 3, 1), np.full((1, 1, 1), 2.0), (2,), ((2, 0),), (3,))
    assert dx[0, :, 0].tolist() == [4, 0, 6]


@pytest.mark.parametrize("case", POOL, ids=POOL_IDS)
def test_numpy_pools_are_the_direct_reductions(case):
    x, g = pool_data(case)
    _, win, s = case
    np.testing.assert_allclose(N.max_pool(x, win, s), naive_pool(x, win, s, max), rtol=0, atol=0)
    np.testing.assert_allclose(N.avg_pool(x, win, s), naive_pool(x, win, s, lambda v: sum(v) / len(v)),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", POOL, ids=POOL_IDS)
def test_numpy_pool_adjoints_are_the_derivatives(case):
    x, g = pool_data(case)
    spatial, win, s = case
    dmax = N.max_pool_grad(x, g, win, s)
    davg = N.avg_pool_grad(g, win, s, spatial)
    assert dmax.shape == x.shape and davg.shape == x.shape
    # random normal entries: no ties, and no maximum changes under a step of 1e-6
    np.testing.assert_allclose(dmax, numeric_grad(lambda a: np.sum(N.max_pool(a, win, s) * g), x.copy()),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(davg, numeric_grad(lambda a: np.sum(N.avg_pool(a, win, s) * g), x.copy()),
                               rtol=1e-6, atol=1e-7)
    assert np.isclose(np.sum(N.avg_pool(x, win, s) * g), np.sum(x * davg), rtol=1e-12)


TIES = [
    # all equal, 2 by 2 windows: each window's adjoint goes whole to its top-left entry
    (np.zeros((1, 4, 4, 1)), (2, 2), (2, 2),
     np.array([[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]], float)),
    # overlapping 3 by 2 windows of a constant: the shared row 2 is the first entry of the second
    # window (and not the first of the first), so it gets only the second window's adjoint
    (np.ones((1, 5, 2, 1)), (3, 2), (2, 1), np.array([[1, 0], [0, 0], [2, 0], [0, 0], [0, 0]], float)),
    # a tie of two maxima inside one window: the first in row-major order (row 0, column 1) wins
    (np.array([1.0, 3.0, 3.0, 2.0]).reshape(1, 2, 2, 1), (2, 2), (2, 2), np.array([[0, 1], [0, 0]], float)),
]


def tie_adjoint(x, win, s):
    out = tuple((n - k) // ss + 1 for n, k, ss in zip(x.shape[1:-1], win, s))
    return np.arange(1.0, 1 + np.prod(out)).reshape((1, *out, 1))


@pytest.mark.parametrize("x, win, s, expected", TIES, ids=["equal", "overlap", "two-maxima"])
def test_numpy_max_pool_grad_gives_ties_to_the_first_maximum(x, win, s, expected):
    assert N.max_pool_grad(x, tie_adjoint(x, win, s), win, s)[0, ..., 0].tolist() == expected.tolist()


def test_conv_and_avg_pool_run_on_sympy_expressions():
    a = np.array(sp.symbols("a0:4"), dtype=object).reshape(1, 4, 1)
    w = np.array(sp.symbols("w0:2"), dtype=object).reshape(2, 1, 1)
    y = N.conv(a, w, (2,), ((1, 0),))
    a0, a1, a2, a3 = a.ravel()
    w0, w1 = w.ravel()
    assert [sp.expand(e - f) for e, f in zip(y.ravel(), [a0 * w1, a1 * w0 + a2 * w1])] == [0, 0]
    assert sp.expand(N.avg_pool(a, (2,), (2,))[0, 1, 0] - (a2 + a3) / 2) == 0
    # exact integers as SymPy objects agree with float64 everywhere
    rng = np.random.default_rng(3)
    xi, wi = rng.integers(-3, 4, size=(2, 5, 4, 2)), rng.integers(-3, 4, size=(3, 2, 2, 2))
    gi = rng.integers(-3, 4, size=(2, 2, 4, 2))
    obj = lambda v: np.vectorize(sp.Integer, otypes=[object])(v)
    args = ((2, 1), ((1, 0), (0, 1)))
    for f, num, sym in [(N.conv, (xi, wi), (obj(xi), obj(wi))),
                        (N.conv_input_grad, (gi, wi), (obj(gi), obj(wi))),
                        (N.conv_weight_grad, (xi, gi), (obj(xi), obj(gi)))]:
        extra = {N.conv: (), N.conv_input_grad: ((5, 4),), N.conv_weight_grad: ((3, 2),)}[f]
        got = f(*sym, *args, *extra)
        assert got.dtype == object
        np.testing.assert_array_equal(got.astype(float), f(*(v.astype(float) for v in num), *args, *extra))
    got = N.avg_pool_grad(obj(gi[:, :, :2]), (2, 2), (2, 2), (5, 4))
    want = N.avg_pool_grad(gi[:, :, :2].astype(float), (2, 2), (2, 2), (5, 4))
    np.testing.assert_array_equal(got.astype(float), want)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):  # the kernel is longer than the padded input
        N.conv(np.zeros((1, 3, 1)), np.zeros((5, 1, 1)), (1,), ((0, 1),))
    with pytest.raises(ValueError):  # the adjoint is not conv's output for this input
        N.conv_input_grad(np.zeros((1, 3, 1)), np.zeros((2, 1, 1)), (2,), ((0, 0),), (8,))
    with pytest.raises(ValueError):
        N.max_pool(np.zeros((1, 2, 2, 1)), (3, 3), (1, 1))


# --- JAX against NumPy and against jax.vjp ---------------------------------------------------------

import jax  # noqa: E402 - the NumPy tests above need no JAX

from compile.lowering import windows as J  # noqa: E402


def _conv_all(x, w, g, stride, padding, spatial, k):
    """Every JAX conv function, and jax.vjp of the forward, in one compiled call per case."""
    y, vjp = jax.vjp(lambda a, b: J.conv(a, b, stride, padding), x, w)
    rx, rw = vjp(g)
    return y, J.conv_input_grad(g, w, stride, padding, spatial), J.conv_weight_grad(x, g, stride, padding, k), rx, rw


def _pool_all(x, g, window, stride, spatial):
    ymax, vmax = jax.vjp(lambda a: J.max_pool(a, window, stride), x)
    yavg, vavg = jax.vjp(lambda a: J.avg_pool(a, window, stride), x)
    return (ymax, yavg, J.max_pool_grad(x, g, window, stride), J.avg_pool_grad(g, window, stride, spatial),
            vmax(g)[0], vavg(g)[0])


CONV_ALL = jax.jit(_conv_all, static_argnums=(3, 4, 5, 6))
POOL_ALL = jax.jit(_pool_all, static_argnums=(2, 3, 4))
MAX_POOL_GRAD = jax.jit(J.max_pool_grad, static_argnums=(2, 3))


@pytest.mark.parametrize("case", CONV, ids=CONV_IDS)
def test_jax_conv_matches_numpy_and_its_adjoints_match_vjp(case, x64):
    x, w, g = conv_data(case)
    spatial, k, s, pad, _, _ = case
    y, dx, dw, rx, rw = CONV_ALL(x, w, g, s, pad, spatial, k)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, N.conv(x, w, s, pad), rtol=1e-12, atol=1e-12)
    assert dx.shape == x.shape and dw.shape == w.shape
    np.testing.assert_allclose(dx, rx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw, rw, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", POOL, ids=POOL_IDS)
def test_jax_pools_match_numpy_and_their_adjoints_match_vjp(case, x64):
    x, g = pool_data(case)
    spatial, win, s = case
    ymax, yavg, dmax, davg, rmax, ravg = POOL_ALL(x, g, win, s, spatial)
    np.testing.assert_allclose(ymax, N.max_pool(x, win, s), rtol=0, atol=0)
    np.testing.assert_allclose(yavg, N.avg_pool(x, win, s), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dmax, rmax, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(davg, ravg, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x, win, s, expected", TIES, ids=["equal", "overlap", "two-maxima"])
def test_jax_max_pool_grad_gives_ties_to_the_first_maximum(x, win, s, expected, x64):
    got = MAX_POOL_GRAD(x, tie_adjoint(x, win, s), win, s)
    assert np.asarray(got)[0, ..., 0].tolist() == expected.tolist()


def test_jax_kernels_keep_float32():
    """A trainer runs in float32 without x64: every kernel keeps the dtype and agrees with NumPy."""
    case = CONV[4]
    x, w, g = conv_data(case)
    spatial, k, s, pad, _, _ = case
    with jax.enable_x64(False):
        f32 = [a.astype(np.float32) for a in (x, w, g)]
        outs = CONV_ALL(*f32, s, pad, spatial, k)[:3]
        assert all(o.dtype == np.float32 for o in outs)
        for got, want in zip(outs, (N.conv(x, w, s, pad), N.conv_input_grad(g, w, s, pad, spatial),
                                    N.conv_weight_grad(x, g, s, pad, k))):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        spatial, win, s = POOL[3]
        x, g = pool_data(POOL[3])
        outs = POOL_ALL(x.astype(np.float32), g.astype(np.float32), win, s, spatial)[:4]
        assert all(o.dtype == np.float32 for o in outs)
        for got, want in zip(outs, (N.max_pool(x, win, s), N.avg_pool(x, win, s), N.max_pool_grad(x, g, win, s),
                                    N.avg_pool_grad(g, win, s, spatial))):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)

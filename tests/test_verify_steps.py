"""verify's finite differences on a loss that moves on a finer scale than their first step: smaller steps
(Ridders' extrapolation) resolve it before any verdict, so a right gradient is not called different and a
wrong one still is."""
import numpy as np
import pytest
import sympy as sp

from compile.checks.verify import _directional, _ridders, verify
from derive import Dense, Network

EPS = float(np.finfo(np.float64).eps)


class Sine:
    """J(w) = sin(k w) summed: its derivative along u is k cos(k w)·u, known exactly."""
    def __init__(self, k):
        self.k = k

    def __call__(self, params):
        return float(np.sum(np.sin(self.k * params["w"])))

    def exact(self, params, u):
        return float(np.sum(self.k * np.cos(self.k * params["w"]) * u))


def test_steps_finer_than_the_first_resolve_a_loss_that_oscillates_within_it():
    params = {"w": np.array([0.3, -0.7, 1.1])}
    loss = Sine(1e6)   # a period of 6e-6: the first step, 6e-6 times the weight's size, spans it
    rng = np.random.default_rng(0)
    dirs, coarse, _ = _directional(loss, params, "w", rng, EPS)
    exact = np.array([loss.exact(params, u) for u in dirs])
    assert np.max(np.abs(coarse - exact)) > 0.1 * np.max(np.abs(exact))   # the first step alone is wrong
    fine, err = _ridders(loss, params, "w", dirs, EPS, loss(params))
    assert np.max(np.abs(fine - exact)) <= 1e-6 * np.max(np.abs(exact))     # resolved
    assert np.max(err) <= 1e-6 * np.max(np.abs(exact))                      # and its error says so


z = sp.Symbol("z")
# Cubics of cubics under a sine: pre-activations near 1e6 at verify's seed-0 point, a loss that turns every 1e-6
CHAOTIC = Network(4, [Dense(4, sp.Lambda(z, z**3 / 3 - 3 * sp.tanh(z) / 2)),
                      Dense(2, sp.Lambda(z, z**3 / 3 + sp.tanh(z))),
                      Dense(4, sp.Lambda(z, z**3 / 6 + sp.tanh(z))),
                      Dense(5, sp.Lambda(z, sp.sin(z) + sp.tanh(z)))], loss="mse")


def test_a_right_gradient_of_a_loss_that_turns_within_the_first_step_verifies():
    report = verify(CHAOTIC, seed=0, scalar_limit=0, engine="numpy")   # the differences alone
    assert report.ok, {n: (c.max_rel_err, c.inconclusive) for n, p in report.params.items()
                       for c in p.comparisons.values() if not c.ok}
    assert max(p.comparisons["finite_diff"].max_rel_err for p in report.params.values()) < 1e-6


def test_a_wrong_gradient_of_that_loss_still_differs(monkeypatch):
    import compile.checks.verify as V
    side = V._numpy_side

    def one_percent_off(d, point, jit):   # the derived W1 gradient, 1% too large
        derived, auto, loss = side(d, point, jit)
        return {**derived, "W1": 1.01 * derived["W1"]}, auto, loss
    monkeypatch.setattr(V, "_numpy_side", one_percent_off)
    report = verify(CHAOTIC, seed=0, scalar_limit=0, engine="numpy")
    fd = report.params["W1"].comparisons["finite_diff"]
    assert not fd.ok and not fd.inconclusive and fd.max_rel_err > 1e-3
    assert all(report.params[n].ok for n in report.params if n != "W1")


def test_an_inner_function_inlined_twice_keeps_each_calls_constants():
    """jnp.heaviside calls jnp.where twice, with 1.0 and with 0.0: the incremental loss inlines that one inner
    function at both calls, and the second ran the first's kernel (J 5.49 where it is 5.63)."""
    import jax

    from compile.checks.incremental import IncrementalLoss
    from compile.checks.points import random_point
    from compile.lowering.lower import lower
    net = Network(2, [Dense(3, "step(z - 1/4) + z/2"), Dense(1)], loss="mse")
    d = net.derive("rows")
    point = random_point(d.model, 0, 2)
    with jax.enable_x64(True):
        low = lower(d, "float64")
        with jax.disable_jit():
            whole = float(low.loss(point.params, point.x, point.y))
        inc = IncrementalLoss(low.loss, point.params, (point.x, point.y))
        assert float(inc.base) == pytest.approx(whole, rel=1e-12)
        move = np.full(point.params["W1"].shape, 1e-3)
        with jax.disable_jit():
            moved = float(low.loss({**point.params, "W1": point.params["W1"] + move}, point.x, point.y))
        assert float(inc.along("W1", move[None])[0]) == pytest.approx(moved, rel=1e-12)

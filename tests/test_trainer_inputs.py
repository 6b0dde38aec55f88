"""The trainer's functions called directly refuse what their derived gradient does not hold for: targets of a
categorical cross-entropy whose rows do not sum to 1 (δ = A − Y takes them to), and a batch too small for a batch
norm's own statistics (a NaN loss). The references are jax.grad of the trainer's own loss, and NumPy."""
import re

import jax
import numpy as np
import pytest

from compile import compile_trainer
from compile.train.data import DataError
from derive import BatchNorm, Dense, Network


@pytest.fixture(scope="module")
def ce():
    t = compile_trainer(Network(3, [Dense(4, "tanh"), Dense(3, "softmax")], loss="ce"))
    return t, t.init_params(0)


X = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)


def test_soft_targets_that_sum_to_one_get_the_gradient_of_the_loss(ce):
    t, p = ce
    y = np.random.default_rng(0).dirichlet(np.ones(3), size=5).astype(np.float32)   # label smoothing, distillation
    got, want = t.grads(p, X, y), jax.grad(lambda q: t.loss(q, X, y))(p)
    for k in got:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-6)


def test_targets_whose_rows_do_not_sum_to_one_are_refused_where_the_gradient_would_be_wrong(ce):
    t, p = ce
    y = np.random.default_rng(0).random((5, 3)).astype(np.float32)
    # the premise: the derived δ = A − Y is not the gradient of the loss for such y
    got, want = t.namespace["grads"](p, X, y), jax.grad(lambda q: t.loss(q, X, y))(p)
    assert np.abs(np.asarray(got["b2"]) - np.asarray(want["b2"])).max() > 0.1
    worst = int(np.argmax(np.abs(y.sum(1) - 1)))
    for name in ("grads", "loss_and_grads"):
        with pytest.raises(DataError, match=rf"{name}: y\[{worst}\] = .* is not a one-hot row .* sums to "
                                            + re.escape(f"{float(y[worst].astype(np.float64).sum()):.6g}")):
            getattr(t, name)(p, X, y)
    assert np.isfinite(t.loss(p, X, y))   # the loss holds for any y


def test_a_batch_of_one_is_refused_by_a_batch_norms_functions_and_the_running_averages_serve():
    t = compile_trainer(Network(3, [Dense(3, use_bias=False), BatchNorm("tanh", variance="unbiased"),
                                    Dense(2, "softmax")]))
    p = t.init_params(0)
    x, y = X[:1], np.eye(2, dtype=np.float32)[[0]]
    assert not np.isfinite(t.namespace["loss"](p, x, y))   # the premise: NaN, without a word
    for name, call in (("loss", lambda: t.loss(p, x, y)), ("grads", lambda: t.grads(p, x, y)),
                       ("forward", lambda: t.forward(p, x))):
        with pytest.raises(DataError, match=rf"{name}: layer 2 \(batch norm\) .* x holds 1 example \(shape \(1, 3\)\)"):
            call()
    stats = t.stats(t.init_opt_state(p))
    assert np.isfinite(t.loss(p, x, y, stats)) and np.isfinite(t.loss(p, x, y, stats=stats))
    assert np.isfinite(t.loss(p, X[:2], np.eye(2, dtype=np.float32)[[0, 1]]))

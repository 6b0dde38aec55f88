"""train_step looks at what its shapes cannot show, as forward, grads and fit do: token indices outside an embedding's
vocabulary (JAX's gather would clamp 99 and wrap -1, and 2.5 would be cut), targets of a categorical cross-entropy
that are no one-hot rows (the derived δ = A − Y is the gradient of the loss it reports only where each row sums to 1),
and a batch too small for a batch norm's statistics (its running variance went NaN). Values are looked at where they
are NumPy arrays, on the host; the batch norm's rule reads the shape alone, so it holds for arrays on the device too.
The references: jax.grad of the loss written out here, and the arrays' own values."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from compile import DataError, compile_trainer
from derive import BatchNorm, Dense, Embedding, Flatten, Network


@pytest.fixture(scope="module")
def dense():
    tr = compile_trainer(Network(3, [Dense(4, "tanh"), Dense(3, "softmax")]), "sgd", 1.0)
    p = tr.init_params(0)
    return tr, p, tr.init_opt_state(p)


@pytest.fixture(scope="module")
def embedded():
    tr = compile_trainer(Network(3, [Embedding(5, 4), Flatten(), Dense(3, "softmax")]), "sgd", 0.1)
    p = tr.init_params(0)
    return tr, p, tr.init_opt_state(p)


X = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
Y = np.eye(3, dtype="float32")[[0, 1, 2, 0]]


def test_targets_that_are_no_one_hot_rows_are_refused_naming_the_row(dense):
    tr, p, s = dense
    with pytest.raises(DataError, match=r"train_step: y\[0\] = \[2.0, 0.0, 0.0\] is not a one-hot row .* sums to 2"):
        tr.train_step(p, s, X, 2 * Y)
    padded = Y.copy()
    padded[3] = 0   # a row of zeros, as a padded step of a sequence would be
    with pytest.raises(DataError, match=r"y\[3\] = \[0.0, 0.0, 0.0\]"):
        tr.train_step(p, s, X, padded)


def test_one_hot_rows_and_class_probabilities_step_along_the_gradient_of_the_loss(dense):
    """What is taken is stepped along the true gradient: with lr 1, the step's change is jax.grad of the reported loss."""
    tr, p, s = dense
    soft = np.full((4, 3), 0.1, "float32")
    soft[np.arange(4), [0, 1, 2, 0]] = 0.8
    for y in (Y, soft):
        new = tr.train_step(p, s, X, y)[0]

        def J(q):
            a = jnp.tanh(X @ q["W1"] + q["b1"])
            return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(a @ q["W2"] + q["b2"]), axis=1))
        ref = jax.grad(J)(p)
        for k in p:
            assert np.allclose(np.asarray(p[k] - new[k]), np.asarray(ref[k]), atol=1e-5), k


@pytest.mark.parametrize("bad, why", [(99, "out of range"), (-1, "out of range"), (2.5, "not a whole number")])
def test_token_indices_outside_the_vocabulary_are_refused(embedded, bad, why):
    tr, p, s = embedded
    x = np.array([[0, 1, bad]] * 4)
    with pytest.raises(DataError, match=rf"train_step: x: .* 0\.\.4 .* found {bad:g} at index \(0, 2\) \({why}"):
        tr.train_step(p, s, x, Y)
    new = tr.train_step(p, s, np.array([[0, 1, 4]] * 4), Y)[0]   # the last token of the vocabulary is one
    assert all(np.isfinite(np.asarray(v)).all() for v in new.values())


@pytest.mark.parametrize("device", [False, True])
def test_a_batch_norm_is_not_stepped_on_one_example(device):
    tr = compile_trainer(Network(3, [Dense(4, use_bias=False), BatchNorm("tanh"), Dense(1, "sigmoid")], loss="bce"),
                         "sgd", 0.1)
    p = tr.init_params(0)
    s = tr.init_opt_state(p)
    x, y = np.ones((1, 3), "float32"), np.ones((1, 1), "float32")
    if device:
        x, y = jnp.asarray(x), jnp.asarray(y)
    with pytest.raises(DataError, match=r"train_step: layer 2 \(batch norm\) .* x holds 1 example \(shape \(1, 3\)\)"):
        tr.train_step(p, s, x, y)
    s2 = tr.train_step(p, s, np.ones((2, 3), "float32") * [[1], [2]], np.ones((2, 1), "float32"))[1]
    assert all(np.isfinite(np.asarray(v)).all() for v in jax.tree.leaves(tr.stats(s2)))


def test_a_run_on_inputs_far_from_the_unit_scale_is_told_to_scale_them_before_the_learning_rate(dense):
    """What a diverged or stopped run is traced back to: 8-bit pixels read as they are (0..255) are named, with the
    range found in x; inputs of the unit scale leave the learning rate to blame."""
    from compile.train.train import culprit
    tr, p, s = dense
    pixels = np.random.default_rng(1).integers(0, 256, (50, 3)).astype("float32")
    who, advice = culprit(tr, p, s, pixels, np.eye(3, dtype="float32")[np.arange(50) % 3], 10)
    assert who == "x" and f"x ranges over {pixels.min():g}..{pixels.max():g}" in advice and "255" in advice
    assert culprit(tr, p, s, pixels / 255, np.eye(3, dtype="float32")[np.arange(50) % 3], 10)[0] == "lr"


def test_a_normalizations_eps_that_rounds_to_zero_in_the_trainers_precision_is_refused():
    from compile import generate
    from derive import LayerNorm
    from derive.network.functions import NetworkError
    net = Network(3, [LayerNorm(eps=1e-50), Dense(2, "softmax")])
    for make in (lambda: compile_trainer(net, "sgd", 0.1), lambda: generate(net)):
        with pytest.raises(NetworkError, match=r"layer 1 \(normalization\): eps 1e-50 rounds to 0 in float32"):
            make()


def test_a_wrapper_given_a_class_says_to_make_the_layer():
    from derive import GRU, Bidirectional, TimeDistributed
    from derive.network.functions import NetworkError
    with pytest.raises(NetworkError, match=r"not the class GRU: write Bidirectional\(GRU\(8\)\)"):
        Bidirectional(GRU)
    with pytest.raises(NetworkError, match=r"not the class Dense: write TimeDistributed\(Dense\(\.\.\.\)\)"):
        TimeDistributed(Dense)


@pytest.fixture(scope="module")
def normed():
    net = Network(3, [Dense(4, "tanh", dropout=0.2), Dense(4, use_bias=False), BatchNorm("tanh"), Dense(2, "softmax")])
    tr = compile_trainer(net, "sgd", 0.1)
    p = tr.init_params(0)
    return tr, p, tr.init_opt_state(p)


def test_dropouts_key_may_be_a_seed_as_init_params_takes_one(normed):
    tr, p, s = normed
    x = np.random.default_rng(0).random((8, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[[0, 1] * 4]
    by_seed = tr.train_step(p, s, x, y, 7)[0]
    by_key = tr.train_step(p, s, x, y, jax.random.key(7))[0]
    assert all(np.array_equal(np.asarray(by_seed[k]), np.asarray(by_key[k])) for k in p)
    with pytest.raises(DataError, match=r"train_step: key \(dropout's random key: a JAX key, or a whole number as its "
                                        r"seed\) must be an integer, not 'a'"):
        tr.train_step(p, s, x, y, "a")


@pytest.mark.parametrize("stats, words", [
    ({"mu": 0}, r"a dict of mu3, var3; mu3, var3 missing; 'mu' not among them"),
    ({"mu3": np.zeros(5), "var3": np.ones(5)}, r"stats\['mu3'\] has shape \(5,\), where trainer.stats\(opt_state\) "
                                               r"makes \(1, 4\)"),
    ({"mu3": np.zeros((1, 4)), "var3": -np.ones((1, 4))}, r"stats\['var3'\] holds a variance below 0 \(-1\)"),
    ({"mu3": np.full((1, 4), np.nan), "var3": np.ones((1, 4))}, r"stats\['mu3'\] holds a value that is no finite"),
])
def test_running_averages_of_another_form_are_named(normed, stats, words):
    tr, p, s = normed
    with pytest.raises(DataError, match=rf"forward: .*{words}"):
        tr.forward(p, np.ones((2, 3), "float32"), stats)
    good = tr.forward(p, np.ones((2, 3), "float32"), tr.stats(s))
    assert np.isfinite(np.asarray(good)).all()
    with pytest.raises(DataError, match=r"stats takes the optimizer state \(opt_state\), .* found a dict of W1, b1"):
        tr.stats(p)


def test_running_averages_that_are_no_dict_are_named(normed):
    tr, p, s = normed
    with pytest.raises(DataError, match=r"forward: stats are the running averages trainer.stats\(opt_state\) gives, a "
                                        r"dict of mu3, var3; found a list"):
        tr.forward(p, np.ones((2, 3), "float32"), [0, 1])

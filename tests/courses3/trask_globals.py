"""Trask's 'neural network in 11 lines' style: weights kept as the module globals syn0 (3, 4) and syn1 (4, 1), no
biases, sigmoid layers, nonlin(x, deriv=True) = x(1 - x) on the activation, J = ½ Σ (l2 - y)² summed over the batch.
Written for the tests of derivax check-code."""
import numpy as np

rng = np.random.default_rng(7)
syn0 = 2 * rng.random((3, 4)) - 1
syn1 = 2 * rng.random((4, 1)) - 1


def nonlin(x, deriv=False):
    if deriv:
        return x * (1 - x)
    return 1 / (1 + np.exp(-x))


def grads(X, y):
    """Right, under derivax's keys, at whatever syn0 and syn1 hold."""
    l1 = nonlin(np.dot(X, syn0))
    l2 = nonlin(np.dot(l1, syn1))
    l2_delta = (l2 - y) * nonlin(l2, deriv=True)
    l1_delta = l2_delta.dot(syn1.T) * nonlin(l1, deriv=True)
    return {"W1": X.T.dot(l1_delta), "W2": l1.T.dot(l2_delta)}


def grads_own_keys(params, X, y):
    """Right, taking the parameters, returned under Trask's names."""
    w0, w1 = params["W1"], params["W2"]
    l1 = nonlin(np.dot(X, w0))
    l2 = nonlin(np.dot(l1, w1))
    l2_delta = (l2 - y) * nonlin(l2, deriv=True)
    l1_delta = l2_delta.dot(w1.T) * nonlin(l1, deriv=True)
    return {"syn1": l1.T.dot(l2_delta), "syn0": X.T.dot(l1_delta)}

"""Andrew Trask's "neural network in 11 lines", its loop's body as a function: the weights kept as the module
globals syn0 (3, 4) and syn1 (4, 1), no biases, sigmoid layers, nonlin(x, deriv=True) = x(1 - x) on the activation,
and the weights updated in place (syn1 += l1.T.dot(l2_delta)) with no learning rate: a step down ½ Σ (y - l2)²
summed over the batch. The other functions each carry one slip, or a learning rate of their own. Written for the
tests of derivax check-code."""
import numpy as np

rng = np.random.default_rng(1)
syn0 = 2 * rng.random((3, 4)) - 1
syn1 = 2 * rng.random((4, 1)) - 1
alpha = 0.5


def nonlin(x, deriv=False):
    if deriv:
        return x * (1 - x)
    return 1 / (1 + np.exp(-x))


def train_step(X, y):
    global syn0, syn1
    l0 = X
    l1 = nonlin(np.dot(l0, syn0))
    l2 = nonlin(np.dot(l1, syn1))
    l2_error = y - l2
    l2_delta = l2_error * nonlin(l2, deriv=True)
    l1_error = l2_delta.dot(syn1.T)
    l1_delta = l1_error * nonlin(l1, deriv=True)
    syn1 += l1.T.dot(l2_delta)
    syn0 += l0.T.dot(l1_delta)


def train_step_alpha(X, y):
    """Right, with the learning rate alpha of Trask's later posts (a module global)."""
    global syn0, syn1
    l1 = nonlin(np.dot(X, syn0))
    l2 = nonlin(np.dot(l1, syn1))
    l2_delta = (y - l2) * nonlin(l2, deriv=True)
    l1_delta = l2_delta.dot(syn1.T) * nonlin(l1, deriv=True)
    syn1 += alpha * l1.T.dot(l2_delta)
    syn0 += alpha * X.T.dot(l1_delta)


def train_step_literal(X, y):
    """Right, its learning rate 0.25 written into the update (no name derivax can read)."""
    global syn0, syn1
    l1 = nonlin(np.dot(X, syn0))
    l2 = nonlin(np.dot(l1, syn1))
    l2_delta = (y - l2) * nonlin(l2, deriv=True)
    l1_delta = l2_delta.dot(syn1.T) * nonlin(l1, deriv=True)
    syn1 += 0.25 * l1.T.dot(l2_delta)
    syn0 += 0.25 * X.T.dot(l1_delta)


def train_step_no_deriv(X, y):
    """Slip: l1_delta without the hidden layer's derivative."""
    global syn0, syn1
    l1 = nonlin(np.dot(X, syn0))
    l2 = nonlin(np.dot(l1, syn1))
    l2_delta = (y - l2) * nonlin(l2, deriv=True)
    l1_delta = l2_delta.dot(syn1.T)
    syn1 += l1.T.dot(l2_delta)
    syn0 += X.T.dot(l1_delta)


def train_step_ascends(X, y):
    """Slip: the error taken as l2 - y and still added: each step climbs the error."""
    global syn0, syn1
    l1 = nonlin(np.dot(X, syn0))
    l2 = nonlin(np.dot(l1, syn1))
    l2_delta = (l2 - y) * nonlin(l2, deriv=True)
    l1_delta = l2_delta.dot(syn1.T) * nonlin(l1, deriv=True)
    syn1 += l1.T.dot(l2_delta)
    syn0 += X.T.dot(l1_delta)


def train_step_nothing(X, y):
    """Slip: the update made on local copies (syn1 = syn1 + ... without the global statement): the module's weights
    never change."""
    w0, w1 = syn0.copy(), syn1.copy()
    l1 = nonlin(np.dot(X, w0))
    l2 = nonlin(np.dot(l1, w1))
    l2_delta = (y - l2) * nonlin(l2, deriv=True)
    w1 += l1.T.dot(l2_delta)

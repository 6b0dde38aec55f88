"""Backward passes in the conventions of the deeplearning.ai notebooks: columns (W (out, in), b (out, 1),
X (in, m)), backward_propagation(parameters, cache, X, Y) reading cache["A1"], dZ = A − Y without the 1/m,
gradients keyed dW1, db1; the regularization notebook's (X, Y, cache, lambd) with the cache unpacked as a
tuple (Z1, A1, W1, b1, Z2, ...) and dZ, dA returned too. Written here for the tests."""
import numpy as np


def _grads(dZ, A_prev, m):
    return np.dot(dZ, A_prev.T) / m, np.sum(dZ, axis=1, keepdims=True) / m


def backward_propagation(parameters, cache, X, Y):
    m = X.shape[1]
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - Y
    dW2, db2 = _grads(dZ2, A1, m)
    dZ1 = np.dot(parameters["W2"].T, dZ2) * (1 - A1 ** 2)
    dW1, db1 = _grads(dZ1, X, m)
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def backward_tanh_as_a(parameters, cache, X, Y):
    """The usual slip: tanh's derivative written A1 instead of 1 - A1**2."""
    m = X.shape[1]
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - Y
    dZ1 = np.dot(parameters["W2"].T, dZ2) * A1
    (dW1, db1), (dW2, db2) = _grads(dZ1, X, m), _grads(dZ2, A1, m)
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def backward_propagation_with_regularization(X, Y, cache, lambd, decay_scale=1.0):
    """Three layers, relu, relu, sigmoid; the decay's gradient lambd/m · W (times ``decay_scale`` for W1)."""
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    out = {}
    dZ = A3 - Y
    for k, (A_prev, W, Z_prev) in ((3, (A2, W3, Z2)), (2, (A1, W2, Z1)), (1, (X, W1, None))):
        out[f"dZ{k}"] = dZ
        dW, out[f"db{k}"] = _grads(dZ, A_prev, m)
        out[f"dW{k}"] = dW + (decay_scale if k == 1 else 1.0) * lambd / m * W
        if Z_prev is not None:
            out[f"dA{k - 1}"] = dA = np.dot(W.T, dZ)
            dZ = dA * (Z_prev > 0)
    return out


def backward_half_decay(X, Y, cache, lambd):
    """The slip of the regularization notebook: dW1's decay written lambd/(2m) W1, the loss's own factor."""
    return backward_propagation_with_regularization(X, Y, cache, lambd, decay_scale=0.5)

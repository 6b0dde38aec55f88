"""A hand-written backward in d2l.ai's style: params = [W1, b1, W2, b2] unpacked inside (W1, b1, W2, b2 = params),
here for sigmoid layers under the cross-entropy summed over the outputs, y integer labels, the mean over the batch,
and the decay lambd/(2n) ΣW² on the weights. Written for the tests of derivax check-code."""
import numpy as np


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def backward(params, X, y, lambd):
    W1, b1, W2, b2 = params
    n = X.shape[0]
    H = _sigmoid(X @ W1 + b1)
    O = _sigmoid(H @ W2 + b2)
    dO = (O - np.eye(O.shape[1])[y]) / n
    dZ = dO @ W2.T * H * (1 - H)
    return [X.T @ dZ + lambd / n * W1, dZ.sum(0), H.T @ dO + lambd / n * W2, dO.sum(0)]


def backward_dict(params, X, y, lambd):
    """params handed on to backward, which unpacks it."""
    dW1, db1, dW2, db2 = backward(params, X, y, lambd)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def backward_tuple(params, X, y, lambd):
    """Unpacks tuple(params): a dict's keys."""
    W1, b1, W2, b2 = tuple(params)
    return {"W1": X @ W1, "b1": b1, "W2": W2, "b2": b2}

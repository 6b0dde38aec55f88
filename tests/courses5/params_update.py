"""A training step that updates the parameters' dict it is handed in place and returns nothing, as many notebooks'
update_parameters does (params["W1"] -= learning_rate * dW1): a tanh layer, then a linear one, under the mean
squared error summed over the outputs. The slips are functions of their own beside the right one. Written for the
tests."""
import numpy as np


def _grads(params, X, Y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    A1 = np.tanh(X @ W1 + b1)
    A2 = A1 @ W2 + b2
    dZ2 = 2 * (A2 - Y) / len(X)
    dZ1 = dZ2 @ W2.T * (1 - A1 ** 2)
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0), "W2": A1.T @ dZ2, "b2": dZ2.sum(axis=0)}


def train_step(params, X, Y, learning_rate=0.05):
    g = _grads(params, X, Y)
    for k in ("W1", "b1", "W2", "b2"):
        params[k] -= learning_rate * g[k]


def train_step_rebinds(params, X, Y, learning_rate=0.05):
    """The same step written params[k] = params[k] - ..., a new array under each key."""
    g = _grads(params, X, Y)
    for k in ("W1", "b1", "W2", "b2"):
        params[k] = params[k] - learning_rate * g[k]


def train_step_wrong_b1(params, X, Y, learning_rate=0.05):
    """Slip: b1's step uses W2's bias gradient summed into every unit (db2's mean for db1)."""
    g = _grads(params, X, Y)
    g["b1"] = np.full_like(g["b1"], g["b2"].mean())
    for k in ("W1", "b1", "W2", "b2"):
        params[k] -= learning_rate * g[k]

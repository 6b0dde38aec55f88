"""A hand-written backward pass for the xor network, with one mistake: check it with

    derivax check-code xor examples/my_backward.py:backward

derivax runs it at random points and at the XOR data and names the parameter that is wrong.
"""
import numpy as np


def backward(params, x, y):
    """Gradients of the mean cross-entropy of a 2-2-2 tanh/softmax network (W: (in, out), b: (out,))."""
    m = x.shape[0]
    a1 = np.tanh(x @ params["W1"] + params["b1"])
    z2 = a1 @ params["W2"] + params["b2"]
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    a2 = e / e.sum(axis=1, keepdims=True)
    dz2 = a2 - y
    dz1 = (dz2 @ params["W2"].T) * (1 - a1**2)
    return {"W1": x.T @ dz1 / m, "b1": dz1.sum(axis=0) / m,
            "W2": a1.T @ dz2,              # the mistake: no / m
            "b2": dz2.sum(axis=0) / m}

"""A deep network's backward pass in the interface of the deeplearning.ai deep-network notebook:
L_model_backward(AL, Y, caches), each cache ((A_prev, W, b), Z), columns, relu layers then a sigmoid,
cross-entropy; it returns dA{l-1}, dW{l}, db{l}. Written for the tests; the bug is an edit of this text."""
import numpy as np


def _through(dA, Z, activation):
    if activation == "sigmoid":
        s = 1 / (1 + np.exp(-Z))
        return dA * s * (1 - s)
    return dA * (Z > 0)


def _linear(dZ, linear_cache):
    A_prev, W, b = linear_cache
    m = A_prev.shape[1]
    return W.T @ dZ, dZ @ A_prev.T / m, dZ.sum(axis=1, keepdims=True) / m


def L_model_backward(AL, Y, caches):
    grads, L = {}, len(caches)
    Y = Y.reshape(AL.shape)
    dA = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    for l in reversed(range(L)):
        linear_cache, Z = caches[l]
        dZ = _through(dA, Z, "sigmoid" if l == L - 1 else "relu")
        dA, grads[f"dW{l + 1}"], grads[f"db{l + 1}"] = _linear(dZ, linear_cache)
        grads[f"dA{l}"] = dA
    return grads

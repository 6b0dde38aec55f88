"""A three-layer network's backward pass with dropout in the interface of the deeplearning.ai regularization
notebook: backward_propagation_with_dropout(X, Y, cache, keep_prob), the cache a tuple (Z1, D1, A1, W1, b1,
Z2, D2, A2, W2, b2, Z3, A3, W3, b3) with D the 0/1 masks and A after them, columns, cross-entropy on a sigmoid.
Written for the tests; the bug is an edit of this text (see tests/test_courses.py)."""
import numpy as np


def backward_propagation_with_dropout(X, Y, cache, keep_prob):
    Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3 = cache
    m = X.shape[1]
    grads = {}
    dZ3 = A3 - Y
    grads["dW3"], grads["db3"] = dZ3 @ A2.T / m, dZ3.sum(axis=1, keepdims=True) / m
    dA2 = W3.T @ dZ3
    dA2 = dA2 * D2 / keep_prob
    dZ2 = dA2 * (A2 > 0)
    grads["dW2"], grads["db2"] = dZ2 @ A1.T / m, dZ2.sum(axis=1, keepdims=True) / m
    dA1 = W2.T @ dZ2
    dA1 = dA1 * D1 / keep_prob
    dZ1 = dA1 * (A1 > 0)
    grads["dW1"], grads["db1"] = dZ1 @ X.T / m, dZ1.sum(axis=1, keepdims=True) / m
    grads.update(dZ3=dZ3, dA2=dA2, dZ2=dZ2, dA1=dA1, dZ1=dZ1)
    return grads

"""CS231n's loss layers (layers.py, rnn_layers.py): svm_loss(x, y) and temporal_softmax_loss(x, y, mask), each
returning (loss, dx), with y class indices. The slips are functions of their own beside the right ones. Written for
the tests."""
import numpy as np


def svm_loss(x, y):
    N = x.shape[0]
    margins = np.maximum(0, x - x[np.arange(N), y][:, None] + 1.0)
    margins[np.arange(N), y] = 0
    dx = (margins > 0).astype(float)
    dx[np.arange(N), y] -= (margins > 0).sum(axis=1)
    return margins.sum() / N, dx / N


def temporal_softmax_loss(x, y, mask, steps_too=False):
    N, T, V = x.shape
    flat, labels, kept = x.reshape(N * T, V), y.reshape(N * T), mask.reshape(N * T)
    probs = np.exp(flat - flat.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    count = N * T if steps_too else N
    loss = -np.sum(kept * np.log(probs[np.arange(N * T), labels])) / count
    dx = probs.copy()
    dx[np.arange(N * T), labels] -= 1
    dx *= kept[:, None] / count
    return loss, dx.reshape(N, T, V)


def temporal_softmax_steps_loss(x, y, mask):
    """Slip: divided by N·T, the steps averaged as well as the batch."""
    return temporal_softmax_loss(x, y, mask, steps_too=True)

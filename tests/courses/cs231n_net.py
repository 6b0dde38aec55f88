"""A two-layer net as CS231n's assignment writes it: a class whose loss(X, y, reg) reads self.params (W1 (D, H),
b1 (H,), W2 (H, C), b2 (C,)), takes integer labels, adds reg * ΣW² and returns (loss, grads)."""
import numpy as np


class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, std=1e-4):
        self.params = {"W1": std * np.random.randn(input_size, hidden_size), "b1": np.zeros(hidden_size),
                       "W2": std * np.random.randn(hidden_size, output_size), "b2": np.zeros(output_size)}

    def loss(self, X, y=None, reg=0.0):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        N = X.shape[0]
        hidden = np.maximum(0, X.dot(W1) + b1)
        scores = hidden.dot(W2) + b2
        if y is None:
            return scores
        shifted = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(N), y]).sum() / N + reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dscores = probs.copy()
        dscores[np.arange(N), y] -= 1
        dscores /= N
        grads = {"W2": hidden.T.dot(dscores) + 2 * reg * W2, "b2": dscores.sum(axis=0)}
        dhidden = dscores.dot(W2.T)
        dhidden[hidden <= 0] = 0
        grads["W1"] = X.T.dot(dhidden) + 2 * reg * W1
        grads["b1"] = dhidden.sum(axis=0)
        return loss, grads


def softmax_loss_vectorized(W, X, y, reg):
    """A linear softmax classifier's loss and dW (no bias), as the assignment's softmax.py returns them."""
    N = X.shape[0]
    scores = X.dot(W)
    scores -= scores.max(axis=1, keepdims=True)
    p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(N), y]).sum() / N + reg * np.sum(W * W)
    p[np.arange(N), y] -= 1
    dW = X.T.dot(p) / N + 2 * reg * W
    return loss, dW


def softmax_loss_half_reg(W, X, y, reg):
    """The usual slip: the decay's gradient written reg * W, not 2 * reg * W."""
    N = X.shape[0]
    scores = X.dot(W)
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(N), y] -= 1
    return 0.0, X.T.dot(p) / N + reg * W


class TwoLayerNetNoMask(TwoLayerNet):
    """The usual slip: the ReLU's mask (dhidden[hidden <= 0] = 0) forgotten."""

    def loss(self, X, y=None, reg=0.0):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        N = X.shape[0]
        hidden = np.maximum(0, X.dot(W1) + b1)
        scores = hidden.dot(W2) + b2
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(N), y] -= 1
        p /= N
        dhidden = p.dot(W2.T)
        return 0.0, {"W2": hidden.T.dot(p) + 2 * reg * W2, "b2": p.sum(axis=0),
                     "W1": X.T.dot(dhidden) + 2 * reg * W1, "b1": dhidden.sum(axis=0)}

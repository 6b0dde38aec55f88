"""A two-layer net in the conventions of CS231n's assignment: a class whose loss(X, y, reg) reads self.params
(W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)), takes integer labels, adds reg·ΣW² and returns (loss, grads); and a
linear classifier's loss(W, X, y, reg) returning (loss, dW). Written here for the tests."""
import numpy as np


def _softmax_grad(scores, y):
    """(mean cross-entropy, its gradient with respect to the scores) for integer labels y."""
    n = len(y)
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    data_loss = -np.mean(np.log(p[np.arange(n), y]))
    p[np.arange(n), y] -= 1.0
    return data_loss, p / n


class TwoLayerNet:
    mask = True   # the ReLU's mask in the backward pass

    def __init__(self, input_size, hidden_size, output_size, std=1e-4):
        rng = np.random.default_rng(0)
        self.params = {"W1": std * rng.normal(size=(input_size, hidden_size)), "b1": np.zeros(hidden_size),
                       "W2": std * rng.normal(size=(hidden_size, output_size)), "b2": np.zeros(output_size)}

    def loss(self, X, y=None, reg=0.0):
        P = self.params
        hidden = np.maximum(X @ P["W1"] + P["b1"], 0.0)
        scores = hidden @ P["W2"] + P["b2"]
        if y is None:
            return scores
        data_loss, dscores = _softmax_grad(scores, y)
        loss = data_loss + reg * sum(np.sum(P[k] ** 2) for k in ("W1", "W2"))
        dhidden = dscores @ P["W2"].T
        if self.mask:
            dhidden = dhidden * (hidden > 0)
        grads = {"W2": hidden.T @ dscores + 2 * reg * P["W2"], "b2": dscores.sum(axis=0),
                 "W1": X.T @ dhidden + 2 * reg * P["W1"], "b1": dhidden.sum(axis=0)}
        return loss, grads


class TwoLayerNetNoMask(TwoLayerNet):
    """The usual slip: the ReLU's mask forgotten in the backward pass."""
    mask = False


def softmax_loss_vectorized(W, X, y, reg):
    """A linear softmax classifier (no bias): its loss and dW."""
    data_loss, dscores = _softmax_grad(X @ W, y)
    return data_loss + reg * np.sum(W * W), X.T @ dscores + 2 * reg * W


def softmax_loss_half_reg(W, X, y, reg):
    """The usual slip: the decay's gradient written reg * W, not 2 * reg * W."""
    data_loss, dscores = _softmax_grad(X @ W, y)
    return data_loss + reg * np.sum(W * W), X.T @ dscores + reg * W


def svm_loss_vectorized(W, X, y, reg):
    """The multiclass SVM's loss and gradient, CS231n's interface: margins max(0, s_j − s_y + 1) over j ≠ y."""
    n = X.shape[0]
    scores = X @ W
    correct = scores[np.arange(n), y][:, None]
    margins = np.maximum(0, scores - correct + 1)
    margins[np.arange(n), y] = 0
    loss = margins.sum() / n + reg * np.sum(W * W)
    counts = (margins > 0).astype(float)
    counts[np.arange(n), y] = -counts.sum(axis=1)
    dW = X.T @ counts / n + 2 * reg * W
    return loss, dW

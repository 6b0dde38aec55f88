"""Layer functions in the interface of CS231n's second assignment (layers.py): each layer_forward returns
(out, cache) and each layer_backward(dout, cache) returns dx and then the gradients of the parameters the
forward took, in its order. Written for the tests; the bugs are edits of this text (see tests/test_courses.py)."""
import numpy as np


def affine_forward(x, w, b):
    return x.reshape(len(x), -1) @ w + b, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(len(x), -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def batchnorm_forward(x, gamma, beta, bn_param):
    eps = bn_param.get("eps", 1e-5)
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, (xhat, gamma, var, eps)


def batchnorm_backward(dout, cache):
    xhat, gamma, var, eps = cache
    n = dout.shape[0]
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dxhat = dout * gamma
    dx = (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (n * np.sqrt(var + eps))
    return dx, dgamma, dbeta


def softmax_loss(x, y):
    """The mean cross-entropy of the softmax of the scores x for the labels y, and its gradient in x."""
    shifted = x - x.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.log(p[np.arange(n), y]).mean()
    dx = p.copy()
    dx[np.arange(n), y] -= 1
    return loss, dx / n


def rnn_forward(x, h0, Wx, Wh, b):
    """A simple tanh RNN over x (N, T, D) from h0 (N, H): every state (N, T, H), and the cache."""
    h, states = h0, []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ Wx + h @ Wh + b)
        states.append(h)
    return np.stack(states, axis=1), (x, h0, Wx, Wh, states)


def rnn_backward(dh, cache):
    x, h0, Wx, Wh, states = cache
    dx, dWx, dWh, db = np.zeros_like(x), np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wx.shape[1])
    carry = np.zeros_like(h0)
    for t in reversed(range(x.shape[1])):
        draw = (dh[:, t] + carry) * (1 - states[t] ** 2)
        before = states[t - 1] if t > 0 else h0
        dx[:, t] = draw @ Wx.T
        dWx += x[:, t].T @ draw
        dWh += before.T @ draw
        db += draw.sum(axis=0)
        carry = draw @ Wh.T
    return dx, carry, dWx, dWh, db

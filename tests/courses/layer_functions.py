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


def batchnorm_backward_alt(dout, cache):
    """The same gradient in the fewest operations, as the assignment's second version: its forward is
    batchnorm_forward."""
    xhat, gamma, var, eps = cache
    dxhat = dout * gamma
    dx = (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0)) / np.sqrt(var + eps)
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def layernorm_forward(x, gamma, beta, ln_param):
    """Each example normalized over its own features."""
    eps = ln_param.get("eps", 1e-5)
    xhat = (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    return gamma * xhat + beta, (xhat, gamma, x.var(axis=1, keepdims=True), eps)


def layernorm_backward(dout, cache):
    xhat, gamma, var, eps = cache
    dxhat = dout * gamma
    dx = (dxhat - dxhat.mean(axis=1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=1, keepdims=True)) \
        / np.sqrt(var + eps)
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


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


def conv_forward_naive(x, w, b, conv_param):
    """Channels first, as the assignment's layers: x (N, C, H, W), w (F, C, HH, WW), b (F,)."""
    s, p = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    out = np.zeros((N, F, (H + 2 * p - HH) // s + 1, (W + 2 * p - WW) // s + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = np.tensordot(xp[:, :, i * s:i * s + HH, j * s:j * s + WW], w,
                                           axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = xp[:, :, i * s:i * s + HH, j * s:j * s + WW]
            dw += np.tensordot(dout[:, :, i, j], window, axes=([0], [0]))
            dxp[:, :, i * s:i * s + HH, j * s:j * s + WW] += np.tensordot(dout[:, :, i, j], w, axes=([1], [0]))
    return dxp[:, :, p:dxp.shape[2] - p, p:dxp.shape[3] - p], dw, dout.sum(axis=(0, 2, 3))


def max_pool_forward_naive(x, pool_param):
    h, w, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    out = np.zeros((N, C, (H - h) // s + 1, (W - w) // s + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * s:i * s + h, j * s:j * s + w].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    h, w, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    window = x[n, c, i * s:i * s + h, j * s:j * s + w]
                    a, k = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * s + a, j * s + k] += dout[n, c, i, j]
    return dx


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """One tanh step: x (N, D), prev_h (N, H) -> next_h (N, H), and what the backward step needs."""
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    dpre = dnext_h * (1 - next_h ** 2)
    dx = dpre @ Wx.T
    dprev_h = dpre @ Wh.T
    dWx = x.T @ dpre
    dWh = prev_h.T @ dpre
    db = dpre.sum(axis=0)
    return dx, dprev_h, dWx, dWh, db


def temporal_affine_forward(x, w, b):
    """The same affine map at every step: x (N, T, D), w (D, M), b (M,) -> (N, T, M)."""
    N, T, D = x.shape
    out = (x.reshape(N * T, D) @ w).reshape(N, T, -1) + b
    return out, (x, w, b)


def temporal_affine_backward(dout, cache):
    x, w, b = cache
    N, T, D = x.shape
    flat = dout.reshape(N * T, -1)
    dx = (flat @ w.T).reshape(N, T, D)
    dw = x.reshape(N * T, D).T @ flat
    db = dout.sum(axis=(0, 1))
    return dx, dw, db


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """The four gates from one product: a = x Wx + prev_h Wh + b (N, 4H), split in the order i, f, o, g."""
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f, o, g = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), _sigmoid(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tc = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * (1 - tc ** 2)
    da = np.concatenate([dc * g * i * (1 - i), dc * prev_c * f * (1 - f), dnext_h * tc * o * (1 - o),
                         dc * i * (1 - g ** 2)], axis=1)
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_forward(x, h0, Wx, Wh, b):
    h, c, states, caches = h0, np.zeros_like(h0), [], []
    for t in range(x.shape[1]):
        h, c, cache = lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        states.append(h)
        caches.append(cache)
    return np.stack(states, axis=1), caches


def lstm_backward(dh, cache):
    N, T, H = dh.shape
    x = np.stack([c[0] for c in cache], axis=1)
    dx, dWx, dWh, db = np.zeros_like(x), 0, 0, 0
    dprev_h, dprev_c = np.zeros((N, H)), np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dprev_c, dwx, dwh, dbt = lstm_step_backward(dh[:, t] + dprev_h, dprev_c, cache[t])
        dWx, dWh, db = dWx + dwx, dWh + dwh, db + dbt
    return dx, dprev_h, dWx, dWh, db


def word_embedding_forward(x, W):
    """Rows of W (V, D) at integer indices x (N, T): (N, T, D)."""
    return W[x], (x, W)


def word_embedding_backward(dout, cache):
    x, W = cache
    dW = np.zeros_like(W)
    np.add.at(dW, x, dout)
    return dW


def temporal_softmax_loss(x, y, mask, verbose=False):
    """Softmax cross-entropy at every step of scores x (N, T, V) with labels y (N, T), summed over the steps
    where mask is set and averaged over the batch."""
    N, T, V = x.shape
    flat, labels, keep = x.reshape(N * T, V), y.reshape(N * T), mask.reshape(N * T)
    probs = np.exp(flat - flat.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    loss = -np.sum(keep * np.log(probs[np.arange(N * T), labels])) / N
    dx = probs.copy()
    dx[np.arange(N * T), labels] -= 1
    dx /= N
    dx *= keep[:, None]
    return loss, dx.reshape(N, T, V)


def dropout_forward(x, dropout_param):
    """Inverted dropout: each unit kept with probability p (the keep probability), scaled by 1/p."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    mask = (np.random.rand(*x.shape) < p) / p if mode == "train" else None
    return (x * mask if mode == "train" else x), (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout * mask if dropout_param["mode"] == "train" else dout

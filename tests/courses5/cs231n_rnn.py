"""CS231n's recurrent layer functions (rnn_layers.py) over a whole sequence: rnn_forward(x, h0, Wx, Wh, b) and
lstm_forward(x, h0, Wx, Wh, b), whose backward functions return dh0, the gradient of the initial state, beside dx and
the parameters' gradients. The slips are functions of their own beside the right ones (each finds its forward by
dropping its suffix). Written for the tests."""
import numpy as np


def rnn_forward(x, h0, Wx, Wh, b):
    h, states = h0, []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ Wx + h @ Wh + b)
        states.append(h)
    return np.stack(states, axis=1), (x, h0, Wx, Wh, states)


def rnn_backward(dh, cache, zero_dh0=False):
    x, h0, Wx, Wh, states = cache
    dx, dWx, dWh, db = np.zeros_like(x), np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wx.shape[1])
    carry = np.zeros_like(h0)
    for t in reversed(range(x.shape[1])):
        prev = states[t - 1] if t else h0
        dpre = (dh[:, t] + carry) * (1 - states[t] ** 2)
        dx[:, t] = dpre @ Wx.T
        dWx += x[:, t].T @ dpre
        dWh += prev.T @ dpre
        db += dpre.sum(axis=0)
        carry = dpre @ Wh.T
    dh0 = np.zeros_like(carry) if zero_dh0 else carry
    return dx, dh0, dWx, dWh, db


def rnn_backward_zero_dh0(dh, cache):
    """Slip: dh0 left at zero (the last carry never returned)."""
    return rnn_backward(dh, cache, zero_dh0=True)


def rnn_backward_sign_dh0(dh, cache):
    """Slip: dh0 of the wrong sign."""
    dx, dh0, dWx, dWh, db = rnn_backward(dh, cache)
    return dx, -dh0, dWx, dWh, db


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_forward(x, h0, Wx, Wh, b):
    """The gates i, f, o, g side by side in Wx (D, 4H), Wh (H, 4H), b (4H,); c⟨0⟩ = 0."""
    H = h0.shape[1]
    h, c, states, caches = h0, np.zeros_like(h0), [], []
    for t in range(x.shape[1]):
        a = x[:, t] @ Wx + h @ Wh + b
        i, f, o, g = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:])
        prev_h, prev_c = h, c
        c = f * c + i * g
        h = o * np.tanh(c)
        states.append(h)
        caches.append((x[:, t], prev_h, prev_c, i, f, o, g, c))
    return np.stack(states, axis=1), (Wx, Wh, caches)


def lstm_backward(dh, cache, zero_dh0=False):
    Wx, Wh, caches = cache
    N, T, H = dh.shape
    dx = np.zeros((N, T, Wx.shape[0]))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wx.shape[1])
    dh_next, dc_next = np.zeros((N, H)), np.zeros((N, H))
    for t in reversed(range(T)):
        xt, prev_h, prev_c, i, f, o, g, c = caches[t]
        dht = dh[:, t] + dh_next
        tc = np.tanh(c)
        dc = dc_next + dht * o * (1 - tc ** 2)
        da = np.concatenate([dc * g * i * (1 - i), dc * prev_c * f * (1 - f), dht * tc * o * (1 - o),
                             dc * i * (1 - g ** 2)], axis=1)
        dx[:, t] = da @ Wx.T
        dWx += xt.T @ da
        dWh += prev_h.T @ da
        db += da.sum(axis=0)
        dh_next, dc_next = da @ Wh.T, dc * f
    return dx, np.zeros_like(dh_next) if zero_dh0 else dh_next, dWx, dWh, db


def lstm_backward_zero_dh0(dh, cache):
    """Slip: dh0 left at zero."""
    return lstm_backward(dh, cache, zero_dh0=True)

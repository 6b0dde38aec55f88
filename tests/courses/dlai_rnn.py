"""A simple RNN written in deeplearning.ai's course 5 conventions: columns (xt is (n_x, m), a is (n_a, m)), the
weights in a ``parameters`` dict (Wax (n_a, n_x), Waa (n_a, n_a), ba (n_a, 1), Wya, by), gradients returned in a
dict; the sequence functions take x of shape (n_x, m, T_x)."""
import numpy as np


def softmax(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def rnn_cell_forward(xt, a_prev, parameters):
    Wax, Waa, Wya = parameters["Wax"], parameters["Waa"], parameters["Wya"]
    ba, by = parameters["ba"], parameters["by"]
    a_next = np.tanh(Wax @ xt + Waa @ a_prev + ba)
    yt_pred = softmax(Wya @ a_next + by)
    return a_next, yt_pred, (a_next, a_prev, xt, parameters)


def rnn_cell_backward(da_next, cache):
    a_next, a_prev, xt, parameters = cache
    dz = da_next * (1 - a_next ** 2)
    return {"dxt": parameters["Wax"].T @ dz, "da_prev": parameters["Waa"].T @ dz,
            "dWax": dz @ xt.T, "dWaa": dz @ a_prev.T, "dba": dz.sum(axis=1, keepdims=True)}


def rnn_forward(x, a0, parameters):
    n_x, m, T_x = x.shape
    a, y_pred, caches = [], [], []
    a_next = a0
    for t in range(T_x):
        a_next, yt, cache = rnn_cell_forward(x[:, :, t], a_next, parameters)
        a.append(a_next)
        y_pred.append(yt)
        caches.append(cache)
    return np.stack(a, axis=2), np.stack(y_pred, axis=2), (caches, x)


def rnn_backward(da, caches):
    caches, x = caches
    n_a, m, T_x = da.shape
    parameters = caches[0][3]
    dx = np.zeros_like(x)
    dWax, dWaa, dba = (np.zeros_like(parameters[k]) for k in ("Wax", "Waa", "ba"))
    da_prevt = np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        g = rnn_cell_backward(da[:, :, t] + da_prevt, caches[t])
        dx[:, :, t] = g["dxt"]
        dWax += g["dWax"]
        dWaa += g["dWaa"]
        dba += g["dba"]
        da_prevt = g["da_prev"]
    return {"dx": dx, "da0": da_prevt, "dWax": dWax, "dWaa": dWaa, "dba": dba}

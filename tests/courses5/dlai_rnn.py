"""deeplearning.ai's recurrent layer functions (course 5, week 1) in their columns layout: xt (n_x, m), a (n_a, m),
the weights in a parameters dict (Wax (n_a, n_x), Waa (n_a, n_a), ba (n_a, 1), Wya, by), the gradients in a dict;
rnn_forward takes x (n_x, m, T_x) and a0, and rnn_backward returns da0 beside dx. The slips are functions of their
own beside the right ones. Written for the tests."""
import numpy as np


def softmax(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def rnn_cell_forward(xt, a_prev, parameters):
    a_next = np.tanh(parameters["Wax"] @ xt + parameters["Waa"] @ a_prev + parameters["ba"])
    yt_pred = softmax(parameters["Wya"] @ a_next + parameters["by"])
    return a_next, yt_pred, (a_next, a_prev, xt, parameters)


def rnn_cell_backward(da_next, cache, keepdims=True):
    a_next, a_prev, xt, parameters = cache
    dz = da_next * (1 - a_next ** 2)
    return {"dxt": parameters["Wax"].T @ dz, "da_prev": parameters["Waa"].T @ dz,
            "dWax": dz @ xt.T, "dWaa": dz @ a_prev.T, "dba": dz.sum(axis=1, keepdims=keepdims)}


def rnn_cell_backward_nokeepdims(da_next, cache):
    """Slip: dba summed without keepdims=True, (n_a,) where ba is (n_a, 1)."""
    return rnn_cell_backward(da_next, cache, keepdims=False)


def rnn_forward(x, a0, parameters):
    a, y_pred, caches = [], [], []
    a_next = a0
    for t in range(x.shape[2]):
        a_next, yt, cache = rnn_cell_forward(x[:, :, t], a_next, parameters)
        a.append(a_next)
        y_pred.append(yt)
        caches.append(cache)
    return np.stack(a, axis=2), np.stack(y_pred, axis=2), (caches, x)


def rnn_backward(da, caches, zero_da0=False):
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
    return {"dx": dx, "da0": 0 * da_prevt if zero_da0 else da_prevt, "dWax": dWax, "dWaa": dWaa, "dba": dba}


def rnn_backward_zero_da0(da, caches):
    """Slip: da0 left at zero."""
    return rnn_backward(da, caches, zero_da0=True)

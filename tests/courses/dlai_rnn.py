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


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    """Gates on the stacked [a_prev; xt] (n_a + n_x, m): Wf, Wi, Wc, Wo are (n_a, n_a + n_x)."""
    concat = np.concatenate([a_prev, xt], axis=0)
    ft = sigmoid(parameters["Wf"] @ concat + parameters["bf"])
    it = sigmoid(parameters["Wi"] @ concat + parameters["bi"])
    cct = np.tanh(parameters["Wc"] @ concat + parameters["bc"])
    c_next = ft * c_prev + it * cct
    ot = sigmoid(parameters["Wo"] @ concat + parameters["bo"])
    a_next = ot * np.tanh(c_next)
    yt_pred = softmax(parameters["Wy"] @ a_next + parameters["by"])
    return a_next, c_next, yt_pred, (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)


def lstm_cell_backward(da_next, dc_next, cache):
    a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters = cache
    n_a = a_next.shape[0]
    concat = np.concatenate([a_prev, xt], axis=0)
    dc = dc_next + da_next * ot * (1 - np.tanh(c_next) ** 2)
    dot = da_next * np.tanh(c_next) * ot * (1 - ot)
    dcct = dc * it * (1 - cct ** 2)
    dit = dc * cct * it * (1 - it)
    dft = dc * c_prev * ft * (1 - ft)
    out = {"dc_prev": dc * ft}
    dconcat = 0
    for gate, d in (("f", dft), ("i", dit), ("c", dcct), ("o", dot)):
        out["dW" + gate] = d @ concat.T
        out["db" + gate] = d.sum(axis=1, keepdims=True)
        dconcat = dconcat + parameters["W" + gate].T @ d
    out["da_prev"], out["dxt"] = dconcat[:n_a], dconcat[n_a:]
    return out


def lstm_forward(x, a0, parameters):
    n_x, m, T_x = x.shape
    a_next, c_next = a0, np.zeros_like(a0)
    a, c, y, caches = [], [], [], []
    for t in range(T_x):
        a_next, c_next, yt, cache = lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)
        a.append(a_next)
        c.append(c_next)
        y.append(yt)
        caches.append(cache)
    return np.stack(a, axis=2), np.stack(y, axis=2), np.stack(c, axis=2), (caches, x)


def lstm_backward(da, caches):
    caches, x = caches
    n_a, m, T_x = da.shape
    parameters = caches[0][-1]
    grads = {"dx": np.zeros_like(x), **{f"d{w}{g}": np.zeros_like(parameters[w + g]) for g in "fico" for w in "Wb"}}
    da_prevt, dc_prevt = np.zeros((n_a, m)), np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        g = lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, caches[t])
        grads["dx"][:, :, t] = g["dxt"]
        for k in grads:
            if k != "dx":
                grads[k] += g[k]
        da_prevt, dc_prevt = g["da_prev"], g["dc_prev"]
    grads["da0"] = da_prevt
    return grads

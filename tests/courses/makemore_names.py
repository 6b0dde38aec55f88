"""A backward pass for an embedding, a linear layer, batch norm (Bessel-corrected variance), tanh and a softmax
output, in the names of the well-known backprop exercise: it reads params["C"], ["W1"], ["b1"], ["bngain"],
["bnbias"], ["W2"], ["b2"] and returns dC, dW1, ... with the intermediates dlogits, dhpreact, dhprebn. NumPy,
written for the tests; the bugs are edits of this text (see tests/test_courses.py)."""
import numpy as np


def backward(params, Xb, Yb):
    C, W1, b1 = params["C"], params["W1"], params["b1"]
    gain, shift, W2, b2 = params["bngain"], params["bnbias"], params["W2"], params["b2"]
    n = Xb.shape[0]
    emb = C[Xb]
    cat = emb.reshape(n, -1)
    pre = cat @ W1 + b1
    mean = pre.mean(0, keepdims=True)
    var = pre.var(0, keepdims=True, ddof=1)
    inv = (var + 1e-5) ** -0.5
    raw = (pre - mean) * inv
    act = np.tanh(gain * raw + shift)
    logits = act @ W2 + b2
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    dlogits = probs.copy()
    dlogits[np.arange(n), Yb] -= 1
    dlogits /= n
    dact = dlogits @ W2.T
    dhpreact = (1 - act ** 2) * dact
    dhprebn = gain * inv / n * (n * dhpreact - dhpreact.sum(0) - n / (n - 1) * raw * (dhpreact * raw).sum(0))
    dcat = dhprebn @ W1.T
    dC = np.zeros_like(C)
    np.add.at(dC, Xb, dcat.reshape(emb.shape))
    return {"dC": dC, "dW1": cat.T @ dhprebn, "db1": dhprebn.sum(0), "dbngain": (raw * dhpreact).sum(0, keepdims=True),
            "dbnbias": dhpreact.sum(0, keepdims=True), "dW2": act.T @ dlogits, "db2": dlogits.sum(0),
            "dlogits": dlogits, "dhpreact": dhpreact, "dhprebn": dhprebn}

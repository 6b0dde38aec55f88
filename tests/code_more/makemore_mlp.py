"""The makemore MLP before batch norm came in (an embedding of the context, hpreact = embcat @ W1 + b1, h = tanh(hpreact),
logits = h @ W2 + b2, softmax cross-entropy), its backward pass written one tensor at a time. ``backward`` returns
each intermediate's gradient under the name of its tensor, as the exercise's cmp('logits', dlogits, logits) names it;
``backward_d`` under the d-names (dlogits, dh, dhpreact). Written for the tests; the slips are edits of this text."""
import numpy as np


def _grads(params, x, y):
    C, W1, b1, W2, b2 = params["C"], params["W1"], params["b1"], params["W2"], params["b2"]
    n = x.shape[0]
    emb = C[x]
    embcat = emb.reshape(n, -1)
    hpreact = embcat @ W1 + b1
    h = np.tanh(hpreact)
    logits = h @ W2 + b2
    counts = np.exp(logits - logits.max(1, keepdims=True))
    probs = counts / counts.sum(1, keepdims=True)
    dprobs = np.zeros_like(probs)
    dprobs[np.arange(n), y] = -1 / (n * probs[np.arange(n), y])
    dlogits = probs * (dprobs - (dprobs * probs).sum(1, keepdims=True))
    dh = dlogits @ W2.T
    dhpreact = (1.0 - h ** 2) * dh
    dembcat = dhpreact @ W1.T
    demb = dembcat.reshape(emb.shape)
    dC = np.zeros_like(C)
    np.add.at(dC, x, demb)
    grads = {"C": dC, "W1": embcat.T @ dhpreact, "b1": dhpreact.sum(0), "W2": h.T @ dlogits, "b2": dlogits.sum(0)}
    steps = {"probs": dprobs, "logits": dlogits, "h": dh, "hpreact": dhpreact, "embcat": dembcat}
    return grads, steps


def backward(params, x, y):
    grads, steps = _grads(params, x, y)
    return {**grads, **steps}


def backward_d(params, x, y):
    grads, steps = _grads(params, x, y)
    return {**{"d" + k: v for k, v in grads.items()}, **{"d" + k: v for k, v in steps.items()}}

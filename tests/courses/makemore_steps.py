"""The makemore backprop exercise with every step of its own: the softmax split into logit_maxes, norm_logits,
counts, counts_sum, counts_sum_inv, probs, logprobs, and batch norm's bndiff2 and bnvar_inv, their adjoints returned
under the exercise's names beside the nodes derivax has (dlogits, dbnraw, ...). Written for the tests; the bugs
are edits of this text."""
import numpy as np

from derive import BatchNorm, Dense, Embedding, Flatten, Network

net = Network(3, [Embedding(27, 10), Flatten(), Dense(64), BatchNorm("tanh", variance="unbiased"),
                  Dense(27, "softmax")], loss="ce", name="makemore exercise")


def backward(params, x, y):
    """x: (n, 3) integer contexts; y: (n,) integer next characters. Returns every gradient, and the
    adjoints of the intermediates on the way."""
    C, W1, b1, W2, b2 = params["C1"], params["W3"], params["b3"], params["W5"], params["b5"]
    bngain, bnbias = params["gamma4"], params["beta4"]
    n = x.shape[0]
    # forward, in small steps
    emb = C[x]
    embcat = emb.reshape(n, -1)
    hprebn = embcat @ W1 + b1
    bnmeani = 1 / n * hprebn.sum(0, keepdims=True)
    bndiff = hprebn - bnmeani
    bndiff2 = bndiff ** 2
    bnvar = 1 / (n - 1) * bndiff2.sum(0, keepdims=True)
    bnvar_inv = (bnvar + 1e-5) ** -0.5
    bnraw = bndiff * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    h = np.tanh(hpreact)
    logits = h @ W2 + b2
    logit_maxes = logits.max(1, keepdims=True)
    norm_logits = logits - logit_maxes
    counts = np.exp(norm_logits)
    counts_sum = counts.sum(1, keepdims=True)
    counts_sum_inv = counts_sum ** -1
    probs = counts * counts_sum_inv
    logprobs = np.log(probs)
    # backward, in the same steps
    dlogprobs = np.zeros_like(logprobs)
    dlogprobs[np.arange(n), y] = -1.0 / n
    dprobs = (1.0 / probs) * dlogprobs
    dcounts_sum_inv = (counts * dprobs).sum(1, keepdims=True)
    dcounts = counts_sum_inv * dprobs
    dcounts_sum = (-counts_sum ** -2) * dcounts_sum_inv
    dcounts += np.ones_like(counts) * dcounts_sum
    dnorm_logits = counts * dcounts
    dlogits = dnorm_logits.copy()
    dlogit_maxes = (-dnorm_logits).sum(1, keepdims=True)
    dlogits += np.eye(logits.shape[1])[logits.argmax(1)] * dlogit_maxes
    dh = dlogits @ W2.T
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(0)
    dhpreact = (1.0 - h ** 2) * dh
    dbngain = (bnraw * dhpreact).sum(0, keepdims=True)
    dbnraw = bngain * dhpreact
    dbnbias = dhpreact.sum(0, keepdims=True)
    dbndiff = bnvar_inv * dbnraw
    dbnvar_inv = (bndiff * dbnraw).sum(0, keepdims=True)
    dbnvar = (-0.5 * (bnvar + 1e-5) ** -1.5) * dbnvar_inv
    dbndiff2 = (1.0 / (n - 1)) * np.ones_like(bndiff2) * dbnvar
    dbndiff += 2 * bndiff * dbndiff2
    dhprebn = dbndiff.copy()
    dbnmeani = (-dbndiff).sum(0, keepdims=True)
    dhprebn += 1.0 / n * (np.ones_like(hprebn) * dbnmeani)
    dembcat = dhprebn @ W1.T
    dW1 = embcat.T @ dhprebn
    db1 = dhprebn.sum(0)
    demb = dembcat.reshape(emb.shape)
    dC = np.zeros_like(C)
    np.add.at(dC, x, demb)
    return {"dlogprobs": dlogprobs, "dcounts_sum_inv": dcounts_sum_inv, "dcounts_sum": dcounts_sum, "dcounts": dcounts, "dnorm_logits": dnorm_logits, "dlogit_maxes": dlogit_maxes, "dbnvar_inv": dbnvar_inv, "dbndiff2": dbndiff2, "dprobs": dprobs, "dlogits": dlogits, "dh": dh, "dhpreact": dhpreact, "dbnraw": dbnraw,
            "dbnvar": dbnvar, "dbndiff": dbndiff, "dbnmeani": dbnmeani, "dhprebn": dhprebn, "dembcat": dembcat,
            "demb": demb, "dC": dC, "dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dbngain": dbngain,
            "dbnbias": dbnbias}

"""The makemore backprop exercise: an MLP language model's backward pass written by hand, one tensor
at a time, and checked tensor by tensor against the derivation.

The network is the exercise's: an embedding of the previous 3 characters, a linear layer with bias,
batch norm with Bessel's correction (1/(n − 1)), tanh, a linear layer to the 27 characters, softmax
cross-entropy. ``backward`` computes the forward pass in NumPy, then every adjoint on the way back under
the exercise's names (dlogits, dh, dhpreact, dbnraw, dbnvar, dbndiff, dbnmeani, dhprebn, dembcat, demb,
dC, ...). derivax maps those names onto the nodes of its derivation and checks each:

    derivax check-code examples/makemore_backprop.py examples/makemore_backprop.py:backward --labels integer

Change one line of ``backward`` (drop ``.sum(0, keepdims=True)`` from dbnvar_inv, or write 1/n for
1/(n - 1) in dbndiff2) and the check names the first tensor that goes wrong, and why.
"""
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
    counts = np.exp(logits - logits.max(1, keepdims=True))
    probs = counts / counts.sum(1, keepdims=True)
    # backward, in the same steps
    dprobs = np.zeros_like(probs)
    dprobs[np.arange(n), y] = -1 / (n * probs[np.arange(n), y])
    dlogits = probs * (dprobs - (dprobs * probs).sum(1, keepdims=True))
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
    return {"dprobs": dprobs, "dlogits": dlogits, "dh": dh, "dhpreact": dhpreact, "dbnraw": dbnraw,
            "dbnvar": dbnvar, "dbndiff": dbndiff, "dbnmeani": dbnmeani, "dhprebn": dhprebn, "dembcat": dembcat,
            "demb": demb, "dC": dC, "dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dbngain": dbngain,
            "dbnbias": dbnbias}

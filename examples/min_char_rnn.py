"""A character-level RNN's backward pass written as min-char-rnn writes it, checked by derivax.

The loss function below is in that code's conventions: one sequence at a time, column vectors, weights
(out, in) named Wxh, Whh, Why, biases bh, by of shape (n, 1), the loss summed over the steps and the
gradients returned as dWxh, dWhh, dWhy, dbh, dby. ``backward`` is the few lines that hand it derivax's
batches and names (x (batch, time, vocab), y (batch, time, vocab) one-hot; Wxh1 (vocab, hidden), ...),
and average over the batch, as derivax's J does.

    derivax check-code examples/min_char_rnn.py examples/min_char_rnn.py:backward

Edit ``loss_fun`` (drop ``dhnext`` from ``dh``, or write ``1 - h`` for tanh's derivative) and run it again:
derivax names the parameters whose gradients are wrong.
"""
import numpy as np

from derive import Dense, Network, SimpleRNN

STEPS, VOCAB, HIDDEN = 5, 7, 6
net = Network((STEPS, VOCAB), [SimpleRNN(HIDDEN, sequences=True), Dense(VOCAB, "softmax")], name="min-char-rnn")


def loss_fun(xs, targets, hprev, Wxh, Whh, Why, bh, by):
    """xs: the inputs, a list of (vocab, 1) columns; targets: the next characters' indices."""
    hs, ps, loss = {-1: np.copy(hprev)}, {}, 0.0
    for t in range(len(xs)):
        hs[t] = np.tanh(Wxh @ xs[t] + Whh @ hs[t - 1] + bh)
        ys = Why @ hs[t] + by
        ps[t] = np.exp(ys - ys.max()) / np.sum(np.exp(ys - ys.max()))
        loss += -np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(xs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1                      # softmax and cross-entropy together
        dWhy += dy @ hs[t].T
        dby += dy
        dh = Why.T @ dy + dhnext                 # from the output at t, and from step t+1
        dhraw = (1 - hs[t] * hs[t]) * dh         # through tanh
        dbh += dhraw
        dWxh += dhraw @ xs[t].T
        dWhh += dhraw @ hs[t - 1].T
        dhnext = Whh.T @ dhraw
    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(xs) - 1]


def backward(params, x, y):
    """derivax's batch, layout and names in; the loss function's gradients, averaged over the batch, out."""
    W = {"Wxh": params["Wxh1"].T, "Whh": params["Whh1"].T, "Why": params["W2"].T,
         "bh": params["bh1"].reshape(-1, 1), "by": params["b2"].reshape(-1, 1)}
    total = None
    for xi, yi in zip(x, y):
        _, *grads, _ = loss_fun([xt.reshape(-1, 1) for xt in xi], yi.argmax(axis=1),
                                np.zeros((HIDDEN, 1)), W["Wxh"], W["Whh"], W["Why"], W["bh"], W["by"])
        total = grads if total is None else [a + g for a, g in zip(total, grads)]
    dWxh, dWhh, dWhy, dbh, dby = (g / len(x) for g in total)
    return {"Wxh1": dWxh.T, "Whh1": dWhh.T, "W2": dWhy.T, "bh1": dbh.ravel(), "b2": dby.ravel()}

"""A character-level RNN's loss function written in min-char-rnn's conventions, checked by derivax as it is.

``loss_fun(inputs, targets, hprev)`` takes one sequence at a time: the characters' indices, the next
characters' indices and the state to start from, a (hidden, 1) column. It reads its weights from the
module's globals, in columns (W (out, in), b (n, 1)), sums the loss over the steps and returns
``loss, dWxh, dWhh, dWhy, dbh, dby, h_last``. derivax sets the globals from its own parameters (reading the
layout off their shapes), hands each sequence as indices and averages over the batch, as its J does:

    derivax check-code examples/min_char_rnn.py examples/min_char_rnn.py:loss_fun --per-example --labels integer

Edit ``loss_fun`` (drop ``dhnext`` from ``dh``, write ``1 - h`` for tanh's derivative, or ``hs[t]`` for
``hs[t - 1]`` in dWhh) and run it again: derivax names the parameters whose gradients are wrong.
"""
import numpy as np

from derive import Dense, Network, SimpleRNN

STEPS, VOCAB, HIDDEN = 5, 7, 6
net = Network((STEPS, VOCAB), [SimpleRNN(HIDDEN, sequences=True), Dense(VOCAB, "softmax")], name="min-char-rnn")

rng = np.random.default_rng(0)
Wxh = rng.normal(0, 0.01, (HIDDEN, VOCAB))   # input to hidden
Whh = rng.normal(0, 0.01, (HIDDEN, HIDDEN))  # hidden to hidden
Why = rng.normal(0, 0.01, (VOCAB, HIDDEN))   # hidden to output
bh = np.zeros((HIDDEN, 1))
by = np.zeros((VOCAB, 1))


def loss_fun(inputs, targets, hprev):
    """inputs, targets: lists of character indices; hprev: the state before the first step."""
    xs, hs, ps, loss = {}, {-1: np.copy(hprev)}, {}, 0.0
    for t in range(len(inputs)):
        xs[t] = np.zeros((VOCAB, 1))
        xs[t][inputs[t]] = 1                     # one-hot
        hs[t] = np.tanh(Wxh @ xs[t] + Whh @ hs[t - 1] + bh)
        ys = Why @ hs[t] + by
        ps[t] = np.exp(ys - ys.max()) / np.sum(np.exp(ys - ys.max()))
        loss += -np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
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
    for dparam in (dWxh, dWhh, dWhy, dbh, dby):
        np.clip(dparam, -5, 5, out=dparam)       # against exploding gradients
    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]

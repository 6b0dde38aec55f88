"""A character-level RNN's loss function in the interface of the well-known NumPy gist: one sequence at a
time as lists of character indices, the weights kept as module globals in columns (W (out, in), b (out, 1)),
the loss summed over the steps, the gradients clipped at ±5, and the last state returned after them.
Written for the tests; the bugs are edits of this text (see tests/test_courses.py)."""
import numpy as np

vocab, hidden = 5, 4
rng = np.random.default_rng(3)
Wxh = rng.normal(0, 0.01, (hidden, vocab))
Whh = rng.normal(0, 0.01, (hidden, hidden))
Why = rng.normal(0, 0.01, (vocab, hidden))
bh = np.zeros((hidden, 1))
by = np.zeros((vocab, 1))


def seq_loss(inputs, targets, hprev):
    steps = len(inputs)
    x, h, p = {}, {-1: np.array(hprev, copy=True)}, {}
    loss = 0.0
    for t in range(steps):
        x[t] = np.zeros((vocab, 1))
        x[t][inputs[t]] = 1.0
        h[t] = np.tanh(Wxh @ x[t] + Whh @ h[t - 1] + bh)
        scores = Why @ h[t] + by
        e = np.exp(scores - scores.max())
        p[t] = e / e.sum()
        loss -= np.log(p[t][targets[t], 0])
    gWxh, gWhh, gWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    gbh, gby = np.zeros_like(bh), np.zeros_like(by)
    carry = np.zeros((hidden, 1))
    for t in reversed(range(steps)):
        dscores = p[t].copy()
        dscores[targets[t]] -= 1.0
        gWhy += dscores @ h[t].T
        gby += dscores
        dh = Why.T @ dscores + carry
        draw = (1.0 - h[t] ** 2) * dh
        gbh += draw
        gWxh += draw @ x[t].T
        gWhh += draw @ h[t - 1].T
        carry = Whh.T @ draw
    for g in (gWxh, gWhh, gWhy, gbh, gby):
        np.clip(g, -5, 5, out=g)
    return loss, gWxh, gWhh, gWhy, gbh, gby, h[steps - 1]

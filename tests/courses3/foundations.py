"""fast.ai 'from the foundations' conventions in NumPy: lower-case module globals w1, b1, w2, b2, a forward and backward
of (inp, targ) with the one output's targets of shape (batch,) (out.squeeze(-1) - targ), J the mean squared error.
Written for the tests of derivax check-code."""
import numpy as np

rng = np.random.default_rng(11)
w1 = rng.normal(size=(3, 4))
b1 = np.zeros(4)
w2 = rng.normal(size=(4, 1))
b2 = np.zeros(1)
c1 = np.zeros(4)          # a bias under a name that is no parameter's


def _grads(inp, targ, bias1, summed=True):
    l1 = inp @ w1 + bias1
    l2 = np.maximum(l1, 0.)
    out = l2 @ w2 + b2
    g_out = (2. * (out.squeeze(-1) - targ) / inp.shape[0])[:, None]
    g_l2 = g_out @ w2.T
    g_l1 = (l1 > 0) * g_l2
    return {"w1": inp.T @ g_l1, "b1": g_l1.sum(0) if summed else g_l1,
            "w2": l2.T @ g_out, "b2": g_out.sum(0) if summed else g_out}


def grads(inp, targ):
    return _grads(inp, targ, b1)


def grads_bias_not_summed(inp, targ):
    return _grads(inp, targ, b1, summed=False)


def grads_c1(inp, targ):
    """Its first bias read from c1, which derivax does not set."""
    return _grads(inp, targ, c1)


class Holder:
    def __init__(self, v):
        self.v = np.asarray(v, dtype=float)


h1 = Holder(rng.normal(size=(3, 4)))


def grads_held(inp, targ):
    """Its first weight held in an object's attribute (h1.v)."""
    l1 = inp @ h1.v + b1
    return {"w1": l1, "b1": l1.sum(0), "w2": w2, "b2": b2}

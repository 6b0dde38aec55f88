"""A network in the conventions of Nielsen's book: a class whose backprop(x, y) takes one example as a column,
reads self.weights and self.biases (lists, W of shape (out, in), b of (out, 1)) and self.num_layers, and
returns (nabla_b, nabla_w), one array per layer, for the quadratic cost ½‖a − y‖². Written here for the tests."""
import numpy as np


def sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def dsig(z):
    s = sig(z)
    return s * (1.0 - s)


class Network:
    def __init__(self, sizes):
        self.sizes, self.num_layers = list(sizes), len(sizes)
        self.weights = [np.zeros((o, i)) for i, o in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.zeros((o, 1)) for o in sizes[1:]]

    def _forward(self, x):
        zs, outs = [], [x]
        for W, b in zip(self.weights, self.biases):
            zs.append(W @ outs[-1] + b)
            outs.append(sig(zs[-1]))
        return zs, outs

    def output_error(self, zs, outs, y):
        return (outs[-1] - y) * dsig(zs[-1])

    def backprop(self, x, y):
        zs, outs = self._forward(x)
        L = len(self.weights)
        grads_b, grads_w = [None] * L, [None] * L
        err = self.output_error(zs, outs, y)
        for k in range(L - 1, -1, -1):
            grads_b[k] = err
            grads_w[k] = err @ outs[k].T
            if k:
                err = (self.weights[k].T @ err) * dsig(zs[k - 1])
        return grads_b, grads_w


class NetworkPrimeOfA(Network):
    """The usual slip: σ′ taken at the activation a instead of z in the output layer."""

    def output_error(self, zs, outs, y):
        return (outs[-1] - y) * dsig(outs[-1])


class NetworkNoPrimeAtOutput(Network):
    """The usual slip: the output error taken as a − y under the quadratic cost (σ′(z) left out), as if the
    cost were cross-entropy."""

    def output_error(self, zs, outs, y):
        return outs[-1] - y

"""MIT 6.036 (6.390) homework's modules: data in columns (features, batch), Linear(m, n) keeping W (m, n) and W0
(n, 1) and computing Z = Wᵀ A + W0, its backward setting dLdW, dLdW0; Sequential(modules, loss) running them.
Written for the tests."""
import numpy as np


class Linear:
    def __init__(self, m, n):
        self.m, self.n = (m, n)
        self.W0 = np.zeros([self.n, 1])
        self.W = np.random.normal(0, 1.0 * m ** (-.5), [m, n])

    def forward(self, A):
        self.A = A
        return np.dot(self.W.T, A) + self.W0

    def backward(self, dLdZ):
        self.dLdW = np.dot(self.A, dLdZ.T)
        self.dLdW0 = np.sum(dLdZ, axis=1, keepdims=True)
        return np.dot(self.W, dLdZ)


class Tanh:
    def forward(self, Z):
        self.A = np.tanh(Z)
        return self.A

    def backward(self, dLdA):
        return dLdA * (1 - self.A ** 2)


class Sequential:
    def __init__(self, modules, loss):
        self.modules = modules
        self.loss = loss

    def forward(self, Xt):
        for m in self.modules:
            Xt = m.forward(Xt)
        return Xt

    def backward(self, delta):
        for m in self.modules[::-1]:
            delta = m.backward(delta)

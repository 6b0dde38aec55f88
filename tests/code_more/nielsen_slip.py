"""A network in the conventions of Nielsen's network.py: backprop(x, y) takes one example as a column (x (n, 1)),
reads self.weights (W of shape (out, in)) and self.biases (b of (out, 1)), and returns (nabla_b, nabla_w) for the
quadratic cost ½‖a − y‖², sigmoid at every layer. ``NetworkHiddenSlip`` plants one slip: the hidden layer's σ′(z)
left out of its delta, so the output layer's gradients stay right and the hidden layer's go wrong. Written for the
tests."""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class Network:
    def __init__(self, sizes):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.biases = [np.zeros((y, 1)) for y in sizes[1:]]
        self.weights = [np.zeros((y, x)) for x, y in zip(sizes[:-1], sizes[1:])]

    def hidden_prime(self, z):
        return sigmoid_prime(z)

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, self.num_layers):
            z = zs[-l]
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * self.hidden_prime(z)
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return (nabla_b, nabla_w)


class NetworkHiddenSlip(Network):
    def hidden_prime(self, z):
        return 1.0

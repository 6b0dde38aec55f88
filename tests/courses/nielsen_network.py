"""Nielsen's network.py: a class whose backprop(x, y) takes one example as a column, reads self.weights and
self.biases (lists), and returns (nabla_b, nabla_w) for the quadratic cost ½‖a − y‖²."""
import numpy as np


class Network:
    def __init__(self, sizes):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]
        self.weights = [np.random.randn(y, x) for x, y in zip(sizes[:-1], sizes[1:])]

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
        delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for layer in range(2, self.num_layers):
            z = zs[-layer]
            delta = np.dot(self.weights[-layer + 1].transpose(), delta) * sigmoid_prime(z)
            nabla_b[-layer] = delta
            nabla_w[-layer] = np.dot(delta, activations[-layer - 1].transpose())
        return (nabla_b, nabla_w)

    def cost_derivative(self, output_activations, y):
        return output_activations - y


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class NetworkPrimeOfA(Network):
    """The usual slip: σ′ taken at the activation a instead of z in the output layer."""

    def backprop(self, x, y):
        activations, zs = [x], []
        for b, w in zip(self.biases, self.weights):
            zs.append(np.dot(w, activations[-1]) + b)
            activations.append(sigmoid(zs[-1]))
        delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(activations[-1])
        nabla_b, nabla_w = [None] * len(self.weights), [None] * len(self.weights)
        nabla_b[-1], nabla_w[-1] = delta, np.dot(delta, activations[-2].T)
        delta = np.dot(self.weights[-1].T, delta) * sigmoid_prime(zs[-2])
        nabla_b[-2], nabla_w[-2] = delta, np.dot(delta, activations[-3].T)
        return (nabla_b, nabla_w)


class NetworkNoPrimeAtOutput(Network):
    """The usual slip: the output δ taken as a − y under the quadratic cost (σ′(z) left out), as if the
    cost were cross-entropy."""

    def backprop(self, x, y):
        activations, zs = [x], []
        for b, w in zip(self.biases, self.weights):
            zs.append(np.dot(w, activations[-1]) + b)
            activations.append(sigmoid(zs[-1]))
        delta = self.cost_derivative(activations[-1], y)
        nabla_b, nabla_w = [None] * len(self.weights), [None] * len(self.weights)
        nabla_b[-1], nabla_w[-1] = delta, np.dot(delta, activations[-2].T)
        delta = np.dot(self.weights[-1].T, delta) * sigmoid_prime(zs[-2])
        nabla_b[-2], nabla_w[-2] = delta, np.dot(delta, activations[-3].T)
        return (nabla_b, nabla_w)

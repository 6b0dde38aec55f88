"""A class in the style of Raschka's from-scratch MLP (Machine Learning with PyTorch and Scikit-Learn, ch. 11): its
weights live on the object, weight_h (hidden, features) and weight_out (classes, hidden) with their biases, made by its
constructor; backward(x, a_h, a_out, y) takes the forward pass's values besides x and y and returns the gradients of
the mean squared error of one-hot targets. Written for the tests."""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class NeuralNetMLP:
    def __init__(self, num_features, num_hidden, num_classes, random_seed=123):
        rng = np.random.RandomState(random_seed)
        self.num_classes = num_classes
        self.weight_h = rng.normal(0.0, 0.1, size=(num_hidden, num_features))
        self.bias_h = np.zeros(num_hidden)
        self.weight_out = rng.normal(0.0, 0.1, size=(num_classes, num_hidden))
        self.bias_out = np.zeros(num_classes)

    def forward(self, x):
        a_h = sigmoid(x @ self.weight_h.T + self.bias_h)
        return a_h, sigmoid(a_h @ self.weight_out.T + self.bias_out)

    def backward(self, x, a_h, a_out, y):
        onehot = np.eye(self.num_classes)[y]
        delta_out = 2.0 * (a_out - onehot) / len(y) * a_out * (1.0 - a_out)
        delta_h = delta_out @ self.weight_out * a_h * (1.0 - a_h)
        return delta_out.T @ a_h, delta_out.sum(axis=0), delta_h.T @ x, delta_h.sum(axis=0)

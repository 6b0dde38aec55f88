"""Neural Networks from Scratch (nnfs)'s layer classes as the book writes them: forward(inputs) keeps
self.output, backward(dvalues) sets self.dweights, self.dbiases and self.dinputs."""
import numpy as np
class Layer_Dense:
    def __init__(self, n_inputs, n_neurons):
        self.weights = 0.01 * np.random.randn(n_inputs, n_neurons)
        self.biases = np.zeros((1, n_neurons))
    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.dot(inputs, self.weights) + self.biases
    def backward(self, dvalues):
        self.dweights = np.dot(self.inputs.T, dvalues)
        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)
        self.dinputs = np.dot(dvalues, self.weights.T)
class Activation_ReLU:
    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)
    def backward(self, dvalues):
        self.dinputs = dvalues.copy()
        self.dinputs[self.inputs <= 0] = 0
class Activation_ReLU_bad:
    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)
    def backward(self, dvalues):
        self.dinputs = dvalues.copy()
class Layer_Dense_bad(Layer_Dense):
    def backward(self, dvalues):
        self.dweights = np.dot(self.inputs.T, dvalues)
        self.dbiases = np.sum(dvalues, axis=1, keepdims=True)
        self.dinputs = np.dot(dvalues, self.weights.T)


class Layer_Dense_L2(Layer_Dense):
    """The book's later Layer_Dense: an L2 regularizer λ ΣW² of its own, its gradient 2λW added in backward."""

    def __init__(self, n_inputs, n_neurons, weight_regularizer_l1=0, weight_regularizer_l2=0):
        super().__init__(n_inputs, n_neurons)
        self.weight_regularizer_l1, self.weight_regularizer_l2 = weight_regularizer_l1, weight_regularizer_l2

    def backward(self, dvalues):
        super().backward(dvalues)
        if self.weight_regularizer_l2 > 0:
            self.dweights += 2 * self.weight_regularizer_l2 * self.weights

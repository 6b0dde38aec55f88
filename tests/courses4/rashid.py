"""Tariq Rashid's "Make Your Own Neural Network" class: neuralNetwork(inputnodes, hiddennodes, outputnodes,
learningrate) keeps its weights as wih (hidden, inputs) and who (outputs, hidden), no biases, sigmoid layers;
train(inputs_list, targets_list) takes one example, as a column, and updates the weights in place, returning
nothing, by self.lr times the error signal: a step down ½ Σ (targets − outputs)². The subclasses each carry one
slip, the book's own among them. Written for the tests of derivax check-code."""
import numpy as np


class neuralNetwork:
    def __init__(self, inputnodes, hiddennodes, outputnodes, learningrate):
        self.inodes = inputnodes
        self.hnodes = hiddennodes
        self.onodes = outputnodes
        rng = np.random.default_rng(3)
        self.wih = rng.normal(0.0, pow(self.inodes, -0.5), (self.hnodes, self.inodes))
        self.who = rng.normal(0.0, pow(self.hnodes, -0.5), (self.onodes, self.hnodes))
        self.lr = learningrate
        self.activation_function = lambda x: 1.0 / (1.0 + np.exp(-x))

    def forward(self, inputs):
        hidden_outputs = self.activation_function(np.dot(self.wih, inputs))
        final_outputs = self.activation_function(np.dot(self.who, hidden_outputs))
        return hidden_outputs, final_outputs

    def train(self, inputs_list, targets_list):
        inputs = np.array(inputs_list, ndmin=2).T
        targets = np.array(targets_list, ndmin=2).T
        hidden_outputs, final_outputs = self.forward(inputs)
        output_errors = targets - final_outputs
        output_deltas = output_errors * final_outputs * (1.0 - final_outputs)
        hidden_errors = np.dot(self.who.T, output_deltas)
        self.who += self.lr * np.dot(output_deltas, np.transpose(hidden_outputs))
        self.wih += self.lr * np.dot(hidden_errors * hidden_outputs * (1.0 - hidden_outputs), np.transpose(inputs))

    def query(self, inputs_list):
        return self.forward(np.array(inputs_list, ndmin=2).T)[1]


class neuralNetworkBook(neuralNetwork):
    """The book's train: the output errors sent back to the hidden layer without the output's derivative o(1 − o)
    (hidden_errors = who.T @ output_errors), so that wih's step is no step down the gradient."""

    def train(self, inputs_list, targets_list):
        inputs = np.array(inputs_list, ndmin=2).T
        targets = np.array(targets_list, ndmin=2).T
        hidden_outputs, final_outputs = self.forward(inputs)
        output_errors = targets - final_outputs
        hidden_errors = np.dot(self.who.T, output_errors)
        self.who += self.lr * np.dot(output_errors * final_outputs * (1.0 - final_outputs), np.transpose(hidden_outputs))
        self.wih += self.lr * np.dot(hidden_errors * hidden_outputs * (1.0 - hidden_outputs), np.transpose(inputs))


class neuralNetworkNoDerivative(neuralNetwork):
    """Slip: who's step leaves out the output's derivative o(1 − o)."""

    def train(self, inputs_list, targets_list):
        inputs = np.array(inputs_list, ndmin=2).T
        targets = np.array(targets_list, ndmin=2).T
        hidden_outputs, final_outputs = self.forward(inputs)
        output_errors = targets - final_outputs
        output_deltas = output_errors * final_outputs * (1.0 - final_outputs)
        hidden_errors = np.dot(self.who.T, output_deltas)
        self.who += self.lr * np.dot(output_errors, np.transpose(hidden_outputs))
        self.wih += self.lr * np.dot(hidden_errors * hidden_outputs * (1.0 - hidden_outputs), np.transpose(inputs))


class neuralNetworkWrongLayer(neuralNetwork):
    """Slip: who's step multiplies by the inputs, not the hidden layer's outputs (the same size on 4-4-2)."""

    def train(self, inputs_list, targets_list):
        inputs = np.array(inputs_list, ndmin=2).T
        targets = np.array(targets_list, ndmin=2).T
        hidden_outputs, final_outputs = self.forward(inputs)
        output_deltas = (targets - final_outputs) * final_outputs * (1.0 - final_outputs)
        hidden_errors = np.dot(self.who.T, output_deltas)
        self.who += self.lr * np.dot(output_deltas, np.transpose(inputs))
        self.wih += self.lr * np.dot(hidden_errors * hidden_outputs * (1.0 - hidden_outputs), np.transpose(inputs))


class neuralNetworkTransposed(neuralNetwork):
    """Slip: wih's step is the transposed product (of the right shape where wih is square, on 4-4-2)."""

    def train(self, inputs_list, targets_list):
        inputs = np.array(inputs_list, ndmin=2).T
        targets = np.array(targets_list, ndmin=2).T
        hidden_outputs, final_outputs = self.forward(inputs)
        output_deltas = (targets - final_outputs) * final_outputs * (1.0 - final_outputs)
        hidden_errors = np.dot(self.who.T, output_deltas)
        self.who += self.lr * np.dot(output_deltas, np.transpose(hidden_outputs))
        self.wih += self.lr * np.dot(inputs, np.transpose(hidden_errors * hidden_outputs * (1.0 - hidden_outputs)))


class neuralNetworkAscends(neuralNetwork):
    """Slip: the errors taken as outputs − targets and still added: each step climbs the error."""

    def train(self, inputs_list, targets_list):
        inputs = np.array(inputs_list, ndmin=2).T
        targets = np.array(targets_list, ndmin=2).T
        hidden_outputs, final_outputs = self.forward(inputs)
        output_deltas = (final_outputs - targets) * final_outputs * (1.0 - final_outputs)
        hidden_errors = np.dot(self.who.T, output_deltas)
        self.who += self.lr * np.dot(output_deltas, np.transpose(hidden_outputs))
        self.wih += self.lr * np.dot(hidden_errors * hidden_outputs * (1.0 - hidden_outputs), np.transpose(inputs))

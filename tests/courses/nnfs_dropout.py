"""Neural Networks from Scratch (nnfs)'s dropout layer as the book keeps it: the constructor takes the rate of
dropping a unit, forward draws a 0/1 mask with np.random.binomial (no seed) and scales the kept inputs by
1/(1 - rate), backward multiplies dvalues by the same mask."""
import numpy as np


class Layer_Dropout:
    def __init__(self, rate):
        self.rate = 1 - rate   # kept from here on as the probability of keeping a unit

    def forward(self, inputs):
        self.inputs = inputs
        self.binary_mask = np.random.binomial(1, self.rate, size=inputs.shape) / self.rate
        self.output = inputs * self.binary_mask

    def backward(self, dvalues):
        self.dinputs = dvalues * self.binary_mask


class Layer_Dropout_unscaled(Layer_Dropout):
    """The mask left unscaled in forward and backward: its output is no inverted dropout's."""

    def forward(self, inputs):
        self.inputs = inputs
        self.binary_mask = np.random.binomial(1, self.rate, size=inputs.shape)
        self.output = inputs * self.binary_mask


class Layer_Dropout_unmasked(Layer_Dropout):
    """The mask left out of backward: dvalues passed straight through."""

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()


class Layer_Dropout_redrawn(Layer_Dropout):
    """A second mask drawn in backward, not the one forward applied."""

    def backward(self, dvalues):
        self.dinputs = dvalues * np.random.binomial(1, self.rate, size=dvalues.shape) / self.rate

"""derivax's symbolic side: declare a network, derive its backprop, print the derivation."""
from derive.formula.parse import FormulaError, parse_activation, parse_loss
from derive.network.functions import (ACTIVATION_NAMES, KINK_CONVENTION, LOSSES, DerivativeError, leaky_relu, relu,
                         sigmoid, softplus, step)
from derive.graph.build import Node, ShapeError
from derive.run.limits import TimeLimitExceeded, time_limit
from derive.network.network import Builder, Dense, Model, Network, NetworkError, TimeDistributed, m
from derive.network.layers import AvgPool1D, AvgPool2D, Conv1D, Conv2D, Flatten, MaxPool1D, MaxPool2D
from derive.reverse.derivation import Derivation, Step, derive, gradients
from derive.reverse import recurrence as _recurrence  # noqa: F401 - a recurrence's backward rule
from derive.network.recurrent import GRU, LSTM, Bidirectional, Recurrent, SimpleRNN
from derive.network.norm import BatchNorm, LayerNorm
from derive.network.embedding import Embedding
from derive.network.attention import Attention, TransformerBlock
from derive.printing.show import show
from derive.scalar.expand import ScalarTooLarge, scalar_view
from derive.scalar.expand import check as scalar_check
from derive.formula.sympy_matrix import matrix_symbols

__all__ = ["ACTIVATION_NAMES", "Attention", "TransformerBlock", "AvgPool1D", "AvgPool2D", "BatchNorm", "Bidirectional", "Embedding", "LayerNorm", "Builder", "GRU", "LSTM", "Recurrent", "SimpleRNN", "Conv1D", "Conv2D", "Flatten", "MaxPool1D", "MaxPool2D", "Dense", "TimeDistributed", "Derivation", "DerivativeError", "FormulaError",
           "KINK_CONVENTION", "LOSSES", "Model", "Network", "NetworkError", "Node", "ShapeError", "Step", "TimeLimitExceeded",
           "ScalarTooLarge", "derive", "gradients", "leaky_relu", "m", "parse_activation", "parse_loss", "relu",
           "matrix_symbols", "scalar_check", "scalar_view", "show", "sigmoid", "softplus", "step", "time_limit"]

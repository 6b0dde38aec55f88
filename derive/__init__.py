"""derivax's symbolic side: declare a network, derive its backprop, print the derivation."""
from ._formula import FormulaError, parse_activation, parse_loss
from ._functions import (ACTIVATION_NAMES, KINK_CONVENTION, LOSSES, DerivativeError, leaky_relu, relu,
                         sigmoid, softplus, step)
from ._graph import Node, ShapeError
from ._limits import TimeLimitExceeded, time_limit
from ._network import Builder, Dense, Model, Network, NetworkError, m
from ._reverse import Derivation, Step, derive, gradients
from ._printing import show
from ._scalar import ScalarTooLarge, scalar_view
from ._scalar import check as scalar_check
from ._sympy_matrix import matrix_symbols

__all__ = ["ACTIVATION_NAMES", "Builder", "Dense", "Derivation", "DerivativeError", "FormulaError",
           "KINK_CONVENTION", "LOSSES", "Model", "Network", "NetworkError", "Node", "ShapeError", "Step", "TimeLimitExceeded",
           "ScalarTooLarge", "derive", "gradients", "leaky_relu", "m", "parse_activation", "parse_loss", "relu",
           "matrix_symbols", "scalar_check", "scalar_view", "show", "sigmoid", "softplus", "step", "time_limit"]

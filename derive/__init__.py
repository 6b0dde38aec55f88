"""derivax's symbolic side: declare a network, derive its backprop, print the derivation."""
from ._formula import FormulaError, parse_activation, parse_loss
from ._functions import (ACTIVATION_NAMES, KINK_CONVENTION, LOSSES, DerivativeError, leaky_relu, relu,
                         sigmoid, softplus, step)
from ._graph import Node, ShapeError
from ._network import Builder, Dense, Model, Network, NetworkError, m
from ._reverse import Derivation, Step, derive
from ._printing import show

__all__ = ["ACTIVATION_NAMES", "Builder", "Dense", "Derivation", "DerivativeError", "FormulaError",
           "KINK_CONVENTION", "LOSSES", "Model", "Network", "NetworkError", "Node", "ShapeError", "Step",
           "derive", "leaky_relu", "m", "parse_activation", "parse_loss", "relu", "show", "sigmoid",
           "softplus", "step"]

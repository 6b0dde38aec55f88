"""Graph operations, one module each: constructor (shape rule), backward rule, printing, scalar
expansion and NumPy evaluation. ``OPS`` is the registry; adding an op is adding a module here (and
its lowering to ``compile._lower_ops``)."""
from ._registry import OPS, Op, lookup, register
from .leaf import leaf
from .elementwise import broadcastable, constant_factor, ew, unbroadcast
from .matmul import matmul
from .transpose import transpose
from .reduce_sum import reduce_sum
from .softmax import softmax
from .log_softmax import log_softmax
from .reshape import flatten, reshape
from .permute import permute

__all__ = ["OPS", "Op", "broadcastable", "constant_factor", "ew", "flatten", "leaf", "log_softmax", "lookup", "matmul", "permute",
           "reduce_sum", "register", "reshape", "softmax", "transpose", "unbroadcast"]

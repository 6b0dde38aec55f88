"""Graph operations, one module each: constructor (shape rule), backward rule, printing, scalar
expansion and NumPy evaluation. ``OPS`` is the registry; adding an op is adding a module here (and
its lowering to ``compile.lower.ops``)."""
from derive.ops._registry import OPS, Op, lookup, register
from derive.ops.leaf import leaf
from derive.ops.elementwise import broadcastable, constant_factor, ew, unbroadcast
from derive.ops.matmul import matmul
from derive.ops.transpose import transpose
from derive.ops.reduce_sum import reduce_sum
from derive.ops.softmax import softmax
from derive.ops.log_softmax import log_softmax
from derive.ops.reshape import flatten, reshape
from derive.ops.permute import permute

__all__ = ["OPS", "Op", "broadcastable", "constant_factor", "ew", "flatten", "leaf", "log_softmax", "lookup", "matmul", "permute",
           "reduce_sum", "register", "reshape", "softmax", "transpose", "unbroadcast"]

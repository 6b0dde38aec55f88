"""Graph operations, one module each: constructor (shape rule), backward rule, printing, scalar
expansion and NumPy evaluation. ``OPS`` is the registry; adding an op is adding a module here (and
its lowering to ``compile.lowering.ops``)."""
from derive.ops._registry import OPS, Op, lookup, register
from derive.ops.leaf import leaf
from derive.ops.elementwise import broadcastable, constant_factor, ew, unbroadcast
from derive.ops.matmul import batched, matmul, step_sum, swap_last
from derive.ops.transpose import transpose
from derive.ops.reduce_sum import reduce_sum
from derive.ops.softmax import softmax
from derive.ops.log_softmax import log_softmax
from derive.ops.reshape import flatten, reshape
from derive.ops.permute import permute
from derive.ops.conv import conv, conv_input_grad, conv_weight_grad
from derive.ops.pool import avg_pool, avg_pool_grad, max_pool, max_pool_grad, max_pool_pick
from derive.ops.slicing import concat, pad, slice_
from derive.ops.scan import Cell, bptt, make_cell, scan, time_map, time_sum
from derive.ops.gather import scatter_add, take
from derive.ops.causal import causal

__all__ = ["Cell", "causal", "OPS", "Op", "bptt", "concat", "make_cell", "pad", "scan", "slice_", "step_sum", "time_map", "time_sum", "avg_pool", "avg_pool_grad", "broadcastable", "conv", "conv_input_grad", "conv_weight_grad",
           "max_pool", "max_pool_grad", "max_pool_pick", "constant_factor", "ew", "flatten", "leaf", "log_softmax", "lookup", "matmul", "batched", "swap_last", "permute",
           "reduce_sum", "register", "reshape", "scatter_add", "softmax", "take", "transpose", "unbroadcast"]

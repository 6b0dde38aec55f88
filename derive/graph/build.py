"""The expression graph every network is built from: nodes (``derive.graph.node``) and the constructors
of its operations (``derive.ops``, one module per operation), under one name.

Operations (``Node.op``): ``leaf`` (X, Y, W1, b1, D1), ``matmul``, ``T`` (transpose), ``ew`` (an
elementwise SymPy expression over broadcast operands), ``sum`` (over any axes, keeping them),
``softmax``, ``reshape`` (and ``flatten``) and ``permute``. Shapes are tuples of SymPy dimensions of
any rank; a dense network's are pairs.
"""
from derive.graph.node import (BUILD, ONE, RECORDERS as _RECORDERS, Node, ShapeError, dims, fmt_shape, is_placeholder,
                    named, placeholder, topo_order)
from derive.ops import (OPS, avg_pool, constant_factor, conv, ew, flatten, leaf, matmul, max_pool, permute, reduce_sum,
                        reshape, softmax, transpose)

__all__ = ["BUILD", "ONE", "OPS", "Node", "ShapeError", "avg_pool", "constant_factor", "conv", "max_pool", "dims", "ew", "flatten", "fmt_shape",
           "is_placeholder", "leaf", "matmul", "named", "permute", "placeholder", "reduce_sum", "reshape",
           "softmax", "topo_order", "transpose"]

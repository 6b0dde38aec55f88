"""``leaf``: a named input of the graph (X, Y, a parameter W1 / b1, a dropout mask D1).

Leaves have no operands: reverse mode stops at them, and every evaluator takes their values from
outside (symbols in the scalar expansion, arrays in the NumPy evaluator, arguments in JAX)."""
from __future__ import annotations

from derive.graph.node import Node
from derive.ops._registry import Op, register


def leaf(name: str, shape, role: str, one_hot_axis=None, keep=None) -> Node:
    """A named input. ``one_hot_axis``: the axis along which a target's entries sum to one; ``keep``:
    a dropout mask's keep probability (its entries are 0 or 1/keep)."""
    attrs = (("one_hot_axis", one_hot_axis),) if one_hot_axis is not None else ()
    attrs += (("keep", keep),) if keep is not None else ()
    return Node("leaf", (), shape, attrs, name=name, role=role)


def _show(node, p):
    return p.name(node.name), p.ATOM


def _expand(node, args, ex):
    return ex.leaf(node)


def _evaluate(node, args, ev):
    raise ValueError(f"no value given for {node.name}")


register(Op("leaf", vjp=lambda node, g, ctx: [], show=_show, expand=_expand, evaluate=_evaluate,
            doc="a named input"))

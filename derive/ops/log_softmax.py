"""``log_softmax``: log(softmax(z)) = z − log Σ exp(z) along one axis, computed without forming the
softmax (a saturated softmax would give log(0)). It enters a graph through the stable-log rewrite
(``derive.graph.stable``), never through a declaration: the printed derivation keeps log(A).

Backward: G − softmax(z) ⊙ Σₖ G."""
from __future__ import annotations

import numpy as np
import sympy as sp

from derive.graph.node import Node, placeholder
from derive.ops._registry import Op, register
from derive.ops.elementwise import ew
from derive.ops.reduce_sum import reduce_sum
from derive.ops.softmax import one_axis, softmax

ph = placeholder


def log_softmax(a: Node, axis: int) -> Node:
    return Node("log_softmax", (a,), a.shape, (("axis", one_axis(a, axis, "log_softmax")),))


def _vjp(node, g, ctx):
    axis = node.attrs["axis"]
    a = node.args[0]
    return [(a, ew(ph(0) - ph(1) * ph(2), [g, softmax(a, axis), reduce_sum(g, axis)]),
             ctx.rule("log_softmax", node))]


def _show(node, p):
    s, _ = p.arg(node.args[0])
    return p.log_call(p.call("softmax", s)), p.ATOM  # log softmax(Z), as the derivation reads it


def _expand(node, args, ex):
    e = np.frompyfunc(ex.exp, 1, 1)(args[0])
    total = np.sum(e, axis=node.attrs["axis"], keepdims=True)
    return np.frompyfunc(sp.log, 1, 1)(e / total)


def _evaluate(node, args, ev):
    axis = node.attrs["axis"]
    shifted = args[0] - np.max(args[0], axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


register(Op("log_softmax", vjp=_vjp, show=_show, expand=_expand, evaluate=_evaluate,
            doc="log of a softmax, stable"))

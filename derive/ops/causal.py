"""``causal``: a causal mask on the last two axes (queries, keys) of attention scores.

``causal(S)`` keeps S where the key is not later than the query (j ≤ i) and puts −∞ elsewhere, so that
a softmax over the keys gives a later step weight 0. Its adjoint keeps G where S was kept and puts 0
elsewhere: the same op with fill 0 (``causal(G, fill=0)``), which is its own adjoint.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.graph.node import Node, ShapeError, fmt_shape, record
from derive.graph.rules import rule
from derive.ops._registry import Op, register

FILLS = ("-inf", "0")


def causal(a: Node, fill: str = "-inf") -> Node:
    if a.rank < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"a causal mask takes square (queries, keys) scores on the last two axes, not {a!r} "
                         f"{fmt_shape(a.shape)}")
    if fill not in FILLS:
        raise ShapeError(f"a causal mask fills with -inf or 0, not {fill!r}")
    if fill == "0":
        weights = _masked_weights(a)
        if weights is not None:   # P ⊙ (...) is already 0 where the mask would put 0
            record(rule("masked_weights"), MaskedWeights(weights))
            return a
    return Node("causal", (a,), a.shape, (("fill", fill),))


@dataclass(frozen=True)
class MaskedWeights:
    """The fact that a causal mask of zeros leaves a product with masked softmax weights unchanged."""

    weights: Node

    def printed(self, p) -> str:
        w = p.show(self.weights, top=False)
        product = f"{w}{p.hadamard}G"
        return f"{p.call('causal' + p.sub('0'), product)} = {product}"


def _masked_weights(a: Node):
    """The factor of a product ``a`` that is a softmax of causally masked scores (0 above the diagonal)."""
    if a.op != "ew" or a.name is not None:
        return None
    for k, factor in enumerate(a.args):
        if factor.op == "softmax" and factor.args[0].op == "causal" and factor.args[0].attrs["fill"] == "-inf" \
                and factor.attrs["axis"] == factor.rank - 1:
            slot = sp.Symbol(f"_a{k}")
            if sp.Mul.make_args(sp.factor_terms(a.attrs["expr"])).count(slot) or a.attrs["expr"].is_Mul and \
                    slot in a.attrs["expr"].args:
                return factor
    return None


def _kept(n: int) -> np.ndarray:
    return np.tril(np.ones((n, n), dtype=bool))


def _vjp(node, g, ctx):
    return [(node.args[0], causal(g, "0"), ctx.rule("causal", node))]


def _show(node, p):
    s, _ = p.arg(node.args[0])
    return p.call("causal" if node.attrs["fill"] == "-inf" else "causal" + p.sub("0"), s), p.ATOM


def _expand(node, args, ex):
    a = np.array(args[0], dtype=object)
    fill = -sp.oo if node.attrs["fill"] == "-inf" else sp.Integer(0)
    a[..., ~_kept(a.shape[-1])] = fill
    return a


def _evaluate(node, args, ev):
    a = np.array(args[0], dtype=np.result_type(args[0], np.float64))
    a[..., ~_kept(a.shape[-1])] = -np.inf if node.attrs["fill"] == "-inf" else 0.0
    return a


register(Op("causal", vjp=_vjp, show=_show, expand=_expand, evaluate=_evaluate,
            doc="a causal mask on (queries, keys): −∞ (or 0) where the key is later than the query"))

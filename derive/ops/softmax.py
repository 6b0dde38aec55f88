"""``softmax``: exp(z) / Σ exp(z) along one axis.

Backward: dJ/dZ = S ⊙ (G − Σₖ G ⊙ S), the Jacobian diag(s) − s sᵀ applied to G, with the sum along
the softmax's axis."""
from __future__ import annotations

import numpy as np

from derive.graph.node import Node, ShapeError, fmt_shape, placeholder
from derive.ops._registry import Op, register
from derive.ops.elementwise import ew
from derive.ops.reduce_sum import reduce_sum

ph = placeholder


def one_axis(a: Node, axis, what: str) -> int:
    """``axis`` as an axis of ``a`` (a negative one counted from the end), or a ShapeError."""
    if not (isinstance(axis, int) and -a.rank <= axis < a.rank):
        raise ShapeError(f"{what} axis must be an axis of {a!r} {fmt_shape(a.shape)}, not {axis!r}")
    return axis % a.rank


def softmax(a: Node, axis: int) -> Node:
    return Node("softmax", (a,), a.shape, (("axis", one_axis(a, axis, "softmax")),))


def _vjp(node, g, ctx):
    axis = node.attrs["axis"]
    r = reduce_sum(ew(ph(0) * ph(1), [g, node]), axis)
    return [(node.args[0], ew(ph(0) * (ph(1) - ph(2)), [node, g, r]), ctx.rule("softmax", node))]


def _show(node, p):
    s, _ = p.arg(node.args[0])
    return p.softmax_call(s, node.attrs["axis"]), p.ATOM


def _expand(node, args, ex):
    e = np.frompyfunc(ex.exp, 1, 1)(args[0])
    return e / np.sum(e, axis=node.attrs["axis"], keepdims=True)


def _evaluate(node, args, ev):
    axis = node.attrs["axis"]
    e = np.exp(args[0] - np.max(args[0], axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _mistakes(node, arg, args, g):
    """The Jacobian diag(s) − s sᵀ reduced to its diagonal: S ⊙ (1 − S) ⊙ G, as if each output
    depended on its own input alone."""
    s = _evaluate(node, args, None)
    return [("softmax's Jacobian reduced to its diagonal (S ⊙ (1 − S) ⊙ G, the sum over the row left out)",
             s * (1 - s) * g)]


register(Op("softmax", vjp=_vjp, show=_show, expand=_expand, evaluate=_evaluate, doc="softmax along an axis",
            mistakes=_mistakes))

"""``take`` and ``scatter_add``: an embedding lookup and its adjoint.

``take(C, X)`` is the rows of the table C (V, d) that the integer indices X select: shape X's shape
plus (d,), E[i, j] = C[X[i, j]]. It is the product onehot(X) C written without the one-hot matrix, so
its adjoint for C is onehot(X)ᵀ G: ``scatter_add(G, X, V)``, each row of G added into the row of the
table it was read from, and a row read twice gets both (the gradient accumulates over repeated
indices); its own adjoint is the lookup again. The indices are data, not differentiable: no adjoint
reaches X.
"""
from __future__ import annotations

import numpy as np

from derive.graph.node import Node, ShapeError, fmt_shape, placeholder
from derive.ops._registry import Op, register
from derive.ops.elementwise import constant_factor, ew


def take(table: Node, idx: Node) -> Node:
    if table.rank != 2:
        raise ShapeError(f"an embedding table is (vocabulary, dimensions), not {fmt_shape(table.shape)}")
    return Node("take", (table, idx), (*idx.shape, table.shape[1]))


def scatter_add(g: Node, idx: Node, rows) -> Node:
    if tuple(g.shape[:-1]) != tuple(idx.shape):
        raise ShapeError(f"scatter_add: the adjoint {fmt_shape(g.shape)} does not match the indices "
                         f"{fmt_shape(idx.shape)}")
    c, inner = constant_factor(g, factor=False)
    if c != 1:  # a scalar factor stays in front, where a textbook writes it
        return ew(c * placeholder(0), [scatter_add(inner, idx, rows)])
    return Node("scatter_add", (g, idx), (rows, g.shape[-1]))


def _take_vjp(node, g, ctx):
    table, idx = node.args
    return [(table, scatter_add(g, idx, table.shape[0]), ctx.rule("take", node))]


def _take_show(node, p):
    table, idx = node.args
    return p.lookup(p.arg(table)[0], p.arg(idx)[0]), p.ATOM


def _indices(a) -> np.ndarray:
    """Index values (the scalar tier gives them as an object array of integers)."""
    out = np.asarray(a)
    if out.dtype == object:
        try:
            out = np.vectorize(int, otypes=[np.int64])(out)
        except TypeError:
            raise ValueError("an embedding lookup needs concrete indices, not symbols") from None
    return out.astype(np.int64)


def _take_expand(node, args, ex):
    return np.asarray(args[0], dtype=object)[_indices(args[1])]


def _take_evaluate(node, args, ev):
    return np.asarray(args[0])[_indices(args[1])]


def _scatter_vjp(node, g, ctx):
    """scatter_add is linear in G, and its adjoint is the lookup: each row of G reads back the row it
    was added into."""
    src, idx = node.args
    return [(src, take(g, idx), ctx.rule("scatter_add", node))]


def _scatter_show(node, p):
    g, idx = node.args
    return p.scattered(p.arg(g), p.arg(idx)[0], p.dim(node.shape[0])), p.MATMUL


def _scatter(values, idx, shape, dtype):
    out = np.zeros(shape, dtype=dtype)
    if dtype == object:
        out.fill(0)
    np.add.at(out, _indices(idx).ravel(), np.asarray(values).reshape(-1, shape[-1]))
    return out


def _scatter_expand(node, args, ex):
    return _scatter(args[0], args[1], ex.concrete(node.shape), object)


def _scatter_evaluate(node, args, ev):
    return _scatter(args[0], args[1], ev.concrete(node.shape), np.result_type(args[0], np.float64))


def _take_mistakes(node, arg, args, g):
    """Each row of G assigned to its row of the table (C[X] = G): a repeated index keeps one row, not
    the sum."""
    if arg != 0:
        return []
    table, idx = args
    out = np.zeros(np.shape(table))
    out[_indices(idx).ravel()] = np.asarray(g).reshape(-1, np.shape(table)[-1])
    return [("the rows assigned instead of accumulated (a repeated index must add its rows)", out)]


register(Op("take", vjp=_take_vjp, show=_take_show, expand=_take_expand, evaluate=_take_evaluate,
            doc="rows of a table at integer indices (an embedding lookup)", mistakes=_take_mistakes))
register(Op("scatter_add", vjp=_scatter_vjp, show=_scatter_show, expand=_scatter_expand,
            evaluate=_scatter_evaluate, doc="rows added into a table at integer indices"))

"""The stable-log rewrite: a graph pass that every evaluator runs before computing a loss.

A loss takes log(A) of its prediction; where A = softmax(Z) or A = σ(Z), log(A) formed from A is
log(0) once A saturates. The pass rewrites, inside every elementwise expression,

    log(softmax(Z))  ->  log_softmax(Z)            (a graph operation of its own)
    log(σ(Z))        ->  log_sigmoid(Z)
    log(1 − σ(Z))    ->  log_sigmoid(−Z)

which are the same functions, computed from Z. It is mathematics, so it lives here: the JAX lowering
and the NumPy evaluator both run it and neither knows a special case. The printed derivation is not
rewritten: it keeps log(A₂), as a textbook writes it.
"""
from __future__ import annotations

import sympy as sp

from derive.graph.build import Node, ew, placeholder, topo_order
from derive.graph.node import attr_items
from derive.network.scalar_functions import log_sigmoid, sigmoid
from derive.ops import log_softmax

ph = placeholder


def stable(roots, shared: tuple | None = None) -> tuple:
    """(rewritten roots, {rewritten node: the node it replaces}) for a list of root nodes. ``shared``,
    a pair of dicts (memo, origin) passed to several calls, rewrites a node the calls share once: a
    module's functions (forward, loss, grads) hold the same nodes."""
    memo, origin = shared if shared is not None else ({}, {})
    roots = list(roots)
    order = topo_order(roots[0], more=roots[1:], stop=memo) if roots else []   # one walk over the union
    for node in order:
        if node in memo:
            continue
        args = [memo[a] for a in node.args]
        new = _rewrite(node, args)
        if new is None and all(a is b for a, b in zip(args, node.args)):
            memo[node] = node
            continue
        if new is None:
            new = Node(node.op, tuple(args), node.shape, attr_items(node.attrs),
                       node.name, node.role)
        memo[node] = new
        origin[new] = node
    return [memo[r] for r in roots], origin


def _is_sigmoid(a: Node) -> bool:
    return a.op == "ew" and len(a.args) == 1 and a.attrs["expr"] == sigmoid(ph(0))


def _rewrite(node: Node, args: list):
    """The stable form of an elementwise node, or None where there is nothing to rewrite."""
    if node.op != "ew":
        return None
    expr, extra = node.attrs["expr"], []
    for i, a in enumerate(node.args):
        p = ph(i)
        if a.op == "softmax" and expr.has(sp.log(p)):
            extra.append(log_softmax(args[i].args[0], a.attrs["axis"]))
            expr = expr.xreplace({sp.log(p): _slot(len(args) + len(extra) - 1)})
        elif _is_sigmoid(a) and (expr.has(sp.log(p)) or expr.has(sp.log(1 - p))):
            extra.append(args[i].args[0])
            z = _slot(len(args) + len(extra) - 1)
            expr = expr.xreplace({sp.log(p): log_sigmoid(z), sp.log(1 - p): log_sigmoid(-z)})
    inline = _inline_sigmoid_logs(expr)
    if not extra and inline == expr:
        return None
    expr = inline.xreplace({_slot(k): ph(k) for k in range(len(args) + len(extra))})
    built = ew(expr, list(args) + extra, shape=node.shape)
    if node.name is None:
        return built
    return Node(built.op, built.args, built.shape, attr_items(built.attrs), node.name, node.role)


def _inline_sigmoid_logs(expr):
    """log(σ(w)) and log(1 − σ(w)) written inside one expression (an unnamed sigmoid is inlined into
    the loss): the same rewrite, on the expression itself."""
    def is_log_sigmoid(e):
        if not isinstance(e, sp.log):
            return False
        inner = e.args[0]
        return isinstance(inner, sigmoid) or any(isinstance(t, sigmoid) and sp.expand(inner - 1 + t) == 0
                                                 for t in inner.atoms(sigmoid))

    def stable_form(e):
        inner = e.args[0]
        if isinstance(inner, sigmoid):
            return log_sigmoid(inner.args[0])
        t = next(t for t in inner.atoms(sigmoid) if sp.expand(inner - 1 + t) == 0)
        return log_sigmoid(-t.args[0])
    return expr.replace(is_log_sigmoid, stable_form)


def _slot(k: int) -> sp.Symbol:
    return sp.Symbol(f"_s{k}")

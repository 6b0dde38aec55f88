"""A recurrence's step, differentiated by the same reverse mode as any layer: backprop through time
is this step's backward graphs, run from t = T down to 1 (``derive.ops.scan``).

With σ⟨t⟩ = ∂J/∂h⟨t⟩ (a leaf of the step's backward graphs, printed ∂J/∂h₁⟨t⟩), the step's reverse
mode starts from Σ σ⟨t⟩ ⊙ h⟨t⟩ and reaches h⟨t−1⟩, x⟨t⟩ and every parameter through each op's own
backward rule. On the way it names the adjoint of each of the step's pre-activations (z⟨t⟩, a GRU's
gate inputs) an error signal, δ⟨t⟩ = ∂J/∂z⟨t⟩, as the dense layers' are named, so that the printed
recurrence reads as a textbook's: δ₁⟨t⟩ = ∂J/∂h₁⟨t⟩ ⊙ (1 − h₁⟨t⟩²), and what step t+1 sends back to
h⟨t⟩ is δ₁⟨t+1⟩ Whh₁ᵀ.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import sympy as sp

from derive.graph.names import Name
from derive.graph.node import BUILD, Node, named, placeholder, renamable
from derive.graph.rules import CHAIN, Gradient, Rule, rule
from derive.ops import ew, reduce_sum
from derive.ops.scan import Cell
from derive.reverse.derivation import RULE_RECORDS, Step, gradients, tidy

ph = placeholder


@dataclass(frozen=True, eq=False)
class CellBackward:
    """A step's backward graphs, over the leaves σ⟨t⟩ (``adj``), h⟨t−1⟩, x⟨t⟩ and the parameters."""

    cell: Cell
    adj: Node           # σ⟨t⟩ = ∂J/∂h⟨t⟩
    d_prev: Node        # what step t sends back to h⟨t−1⟩
    d_x: Node           # ∂J/∂x⟨t⟩
    d_params: tuple     # what step t sends to each parameter, in the order of cell.params
    deltas: tuple       # (pre-activation, its named error signal), from the step's output down
    steps: tuple = ()   # the step's own derivation (derive.reverse.derivation.Step), for --steps


_CACHE: "weakref.WeakKeyDictionary[Cell, CellBackward]" = weakref.WeakKeyDictionary()


def delta_name(pre: Name) -> Name:
    """z⟨t⟩'s error signal is δ⟨t⟩; a gate input ar⟨t⟩'s is δr⟨t⟩."""
    return Name("delta" + pre.base[1:], pre.layer, pre.step, pre.at)



def backward(cell: Cell) -> CellBackward:
    if cell in _CACHE:
        return _CACHE[cell]
    h = cell.new.name
    adj = Node("leaf", (), cell.new.shape, (("of", h),), name=Name("dJd" + h.base, h.layer, h.step), role="adjoint")
    root = reduce_sum(ew(ph(0) * ph(1), [adj, cell.new]), None)
    deltas, ctx = [], _StepContext()

    def name_signal(node, g):
        if isinstance(node.name, Name) and node is not cell.new and node.role != "param":
            why = tuple(dict.fromkeys(r for r in ctx.seen.get(node, ()) if r != CHAIN)) or (CHAIN,)
            ctx.steps.append(Step(why, ("grad", node.name), g))
        if node.role == "pre" and isinstance(node.name, Name):
            tidied = tidy(g, ctx.steps, rule("simplify"))
            g = named(renamable(tidied), delta_name(node.name), "delta")
            ctx.steps.append(Step((rule("name_step_delta", delta=g.name, gradient=Gradient(node.name)),),
                                  ("def", g.name), tidied))
            deltas.append((node, g))
        return g

    wrt = [cell.prev, cell.x, *cell.params]
    out = gradients(root, wrt, name_signal, ctx)

    def grad(x):
        return tidy(out[x], [], rule("simplify"))

    result = CellBackward(cell, adj, grad(cell.prev), grad(cell.x), tuple(grad(p) for p in cell.params),
                          tuple(deltas), tuple(ctx.steps))
    _CACHE[cell] = result
    return result


class _StepContext:
    """Reverse mode's context inside a step: each rule worded as a layer's are, steps recorded."""

    def __init__(self):
        self.seen, self.steps = {}, []

    def rule(self, kind, node, arg=None):
        if kind == "ew":
            if node.role == "pre" and arg is not None and arg.role == "param":
                return rule("bias_sum", param=arg.name)
            return rule("through", name=node.name) if isinstance(node.name, Name) else CHAIN
        make = RULE_RECORDS.get(kind)
        return make(node, arg, self) if make else Rule(kind)

    def derivative_through(self, node, before, after):
        expr = node.attrs["expr"]
        fname = expr.func.__name__ if isinstance(expr, sp.Function) and expr.args == (ph(0),) else "the activation"
        self.steps.append(Step((rule("written_through", function=fname, name=node.name),),
                               ("through", fname), (before, after)))


BUILD["cell_backward"] = backward

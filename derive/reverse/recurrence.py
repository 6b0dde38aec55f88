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
from derive.graph.node import BUILD, Node, named, placeholder, renamable, topo_order
from derive.graph.rules import CHAIN, Gradient, Rule, rule
from derive.ops import concat, ew, reduce_sum
from derive.ops.scan import Cell
from derive.reverse.derivation import RULE_RECORDS, Step, gradients, tidy

ph = placeholder


@dataclass(frozen=True, eq=False)
class CellBackward:
    """A step's backward graphs, over the leaves σ⟨t⟩ (``adj``), h⟨t−1⟩, x⟨t⟩ and the parameters."""

    cell: Cell
    adj_parts: tuple    # σ⟨t⟩ = ∂J/∂h⟨t⟩ as leaves: ((leaf, start, stop),), one per part of the state
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
    if cell.parts:  # an LSTM's (h, c): one adjoint leaf per part, ∂J/∂h⟨t⟩ and ∂J/∂c⟨t⟩
        news, olds = list(cell.new.args), _carry_parts(cell)
    else:
        news, olds = [cell.new], [cell.prev]
    adj_parts, start, terms = [], 0, []
    for new in news:
        h = new.name
        adj = Node("leaf", (), new.shape, (("of", h),), name=Name("dJd" + h.base, h.layer, h.step), role="adjoint")
        stop = start + int(new.shape[1])
        adj_parts.append((adj, start, stop))
        terms.append(reduce_sum(ew(ph(0) * ph(1), [adj, new]), None))
        start = stop
    root = terms[0] if len(terms) == 1 else ew(sp.Add(*[ph(i) for i in range(len(terms))]), terms)
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

    wrt = [q for q in olds if q is not None] + [cell.x, *cell.params]
    out = gradients(root, wrt, name_signal, ctx)

    def grad(x):
        if x is None:  # a part of the state the step never reads
            return ew(sp.Integer(0), [], shape=(cell.new.shape[0], cell.part_units))
        return tidy(out[x], [], rule("simplify"))

    d_prev = grad(olds[0]) if not cell.parts else concat([grad(q) for q in olds], 1)
    result = CellBackward(cell, tuple(adj_parts), d_prev, grad(cell.x), tuple(grad(p) for p in cell.params),
                          tuple(deltas), tuple(ctx.steps))
    _CACHE[cell] = result
    return result


def _carry_parts(cell) -> list:
    """The named parts of a state of several (h⟨t−1⟩, c⟨t−1⟩), which must be the only readers of it."""
    readers = {n for n in topo_order(cell.new) if cell.prev in n.args}
    if any(n.role != "carry_part" for n in readers):
        raise ValueError(f"the {cell.kind} step reads its whole state; a state of parts ({', '.join(cell.parts)}) "
                         "is read through them (s.h, s.c)")
    by_name = {n.name.base: n for n in readers}
    return [by_name.get(part) for part in cell.parts]   # None: a part the step never reads


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

    def partial_through(self, node, arg, before, after):
        pass

    def derivative_through(self, node, before, after):
        expr = node.attrs["expr"]
        fname = expr.func.__name__ if isinstance(expr, sp.Function) and expr.args == (ph(0),) else "the activation"
        self.steps.append(Step((rule("written_through", function=fname, name=node.name),),
                               ("through", fname), (before, after)))


BUILD["cell_backward"] = backward

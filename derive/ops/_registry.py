"""The op registry: everything derive/ knows about one graph operation, in one record.

An ``Op`` is data, in the manner of JAX's per-primitive rule tables and tinygrad's one-table gradients:
each module of this package defines one operation's constructor (its shape rule) and registers its
record here. Reverse mode, the scalar expansion and the NumPy evaluator look the op up by
``node.op`` and call its rule; none of them branches on the op itself. compile/ registers each op's
JAX lowering in a table of its own (derive stays free of JAX), and a completeness test checks that
every op has every entry, there and here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Op:
    """One graph operation.

    - ``vjp(node, g, ctx)``: the backward rule, ``[(arg, contribution to arg's adjoint, rule text)]``;
      ``ctx`` words the rule (``ctx.rule(kind, node, arg)``) and records steps (reverse mode's context).
    - ``show(node, p)``: ``(string, precedence)``; ``p`` is the printer of a notation (text, latex,
      formula: ``derive.printing.printer.NotationPrinter``), which prints the operands (``p.arg(node)``) and
      writes the notation's pieces (``p.wrap(s)``, ``p.call(name, args)``, ``p.transpose``, ``p.sum``).
      The rule itself is the same in every notation.
    - ``expand(node, args, ex)``: the node entry by entry, from its operands' entries (NumPy arrays of
      SymPy expressions); ``ex`` gives the batch size and the exp to use.
    - ``evaluate(node, args, ev)``: the node's value from its operands' values (float NumPy arrays).
    - ``differentiable``: False for the nodes of a recurrence's backward pass (no second derivatives).
    - ``mistakes(node, arg, args, g)``: the wrong backward rules people write for this op, as
      ``[(words, value)]``: the value a mistaken rule gives for operand ``arg`` (an index), from the
      operands' values ``args`` and the adjoint's value ``g`` (NumPy arrays). A check of someone's code
      names the mistake whose value theirs matches. A rule that runs a graph of its own (a recurrence's
      step) takes ``ev`` too, the evaluation's concrete shapes.
    - ``zero``: "any" where the node is the zero matrix when any operand is (a product), "all" where it is
      when all its operands are (a transpose, a sum, a part); the printers write such a node as 0.
    - ``windowed``: a window slides over the middle axes of its operand (a convolution, a pooling, their
      adjoints): those axes are positions, not time steps, and a sum over them is printed Σₚ.
    """

    name: str
    vjp: Callable
    show: Callable
    expand: Callable
    evaluate: Callable
    doc: str = ""
    differentiable: bool = True   # False: a backward pass's own node, whose vjp says it has none
    mistakes: Callable | None = None
    windowed: bool = False
    zero: str = ""


OPS: dict = {}


def register(op: Op) -> Op:
    if op.name in OPS:
        raise ValueError(f"operation {op.name!r} is registered twice")
    OPS[op.name] = op
    return op


def lookup(name: str) -> Op:
    try:
        return OPS[name]
    except KeyError:
        raise ValueError(f"unknown graph operation {name!r}; known: {', '.join(sorted(OPS))}") from None

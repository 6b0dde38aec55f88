"""A formula's names at step t of a sequence, and its sums and stacks over t.

A sequence is any (batch, time, ...) tensor of a network: a layer's output at every step of its input
(``A4``, ``delta5`` of a dense layer applied at every position, a recurrent layer's states ``H1``) or any
expression of one (``merge(dQ3)``). A formula names its step t as ``A4_t`` (a named one) or ``x[:, t]``
(any one): a *position*, a leaf standing for the sequence's entry at t. Inside a recurrent layer's step, the
step's own nodes are names at t too (``h1_t``, ``delta1_t``), and a node at the step after t in the cell's
direction is written shifted (``u1_tp1``, ``dh1_tp1``; ``u2_tm1`` for a reverse cell), zero past the last step.

``sum_steps`` and ``stack_steps`` read an expression of such names as the sum over t of its value at each
step, or its values stacked on the time axis. Each name stands for a sequence (``atoms``: the leaf or step node
-> the sequence of its values over t), and the expression is lifted to one over whole sequences where its
operations apply step by step (entrywise ones, a product by a matrix that does not change with t, a sum over a
step's axes): Σₜ aₜᵀ gₜ is the product summed over the examples and the steps (``step_sum``), as the
derivation writes a dense layer's gradient at every step. Any other expression is written out at each step.
"""
from __future__ import annotations

import sympy as sp

from derive.graph.build import Node, ShapeError, ew, fmt_shape, placeholder, reshape, topo_order
from derive.graph.names import Name
from derive.graph.node import attr_items

MAX_EXPANDED = 40_000   # the nodes an expression written out at every step may hold, in all


def position(seq: Node) -> Node:
    """Step t of the sequence ``seq`` (batch, time, ...): a leaf of one step's shape (batch, ...)."""
    if not isinstance(seq, Node) or seq.rank < 3:
        shape = fmt_shape(seq.shape) if isinstance(seq, Node) else "a number"
        raise ValueError(f"step t is taken of a sequence (batch, time, ...), and this is {shape}")
    name = seq.name
    shown = Name(name.base, name.layer, 0) if isinstance(name, Name) and name.step is None else None
    return Node("leaf", (), (seq.shape[0], *seq.shape[2:]), (("of", seq),), shown, "position")


def is_position(node) -> bool:
    return node.op == "leaf" and node.role == "position"


def is_shifted(node) -> bool:
    """A recurrent step's node at the step after t (``u1_tp1``): a leaf made by ``shifted``."""
    return node.op == "leaf" and "shift_of" in node.attrs


def shifted(node: Node, cell) -> Node:
    """``node`` (a node of ``cell``'s step, or its ∂J/∂h⟨t⟩ leaf) at the step after t in the cell's
    direction."""
    ahead = -1 if cell.reverse else 1
    if node.role == "adjoint":   # ∂J/∂h⟨t+1⟩: printed as an adjoint of the state at t+1
        return Node("leaf", (), node.shape, (("of", node.attrs["of"].shifted(ahead)), ("shift_of", node)),
                    Name(node.name.base, node.name.layer, node.name.step + ahead), "adjoint")
    return Node("leaf", (), node.shape, (("shift_of", node),), node.name.shifted(ahead), "shifted")


def shift(seq: Node, reverse: bool) -> Node:
    """The sequence's value at the step after t (t + 1; t − 1 for a reverse cell), zero past the last step."""
    from derive.ops import pad, slice_
    T = int(seq.shape[1])
    if T == 1:
        return ew(sp.Integer(0), [], shape=seq.shape)
    if reverse:
        return pad(slice_(seq, 1, 0, T - 1), 1, 1, 0)
    return pad(slice_(seq, 1, 1, T), 1, 0, 1)


class NotLiftable(Exception):
    """An operation of an expression at step t that does not apply step by step to whole sequences."""


def step_atoms(derivation, x) -> dict | None:
    """{name at t: its sequence} for an expression that names positions or shifted steps (with them, a recurrent
    step's own names read as the sequences of their values: ``h1_t`` as every state); None for one that names
    neither (a recurrent step's expression alone is summed by the recurrence's own ``time_sum``)."""
    if not isinstance(x, Node):
        return None
    order = topo_order(x)
    if not any(is_position(n) or is_shifted(n) for n in order):
        return None
    cells = _cells(derivation)
    owner = {}
    for cell, (_, _, nodes) in cells.items():
        for n in nodes:
            owner.setdefault(n, cell)
    atoms = {}
    for n in topo_order(x, stop=_Stop(owner)):
        if is_position(n):
            atoms[n] = n.attrs["of"]
        elif is_shifted(n):
            base = n.attrs["shift_of"]
            cell = owner.get(base)
            if cell is None:
                raise ValueError(f"{n.name} names a recurrent step at the step after t, of no layer of this network")
            sigmas, states, _ = cells[cell]
            atoms[n] = shift(_stacked(sigmas, states, base), cell.reverse)
        elif n in owner:
            sigmas, states, _ = cells[owner[n]]
            atoms[n] = _stacked(sigmas, states, n)
    steps = {int(s.shape[1]) for s in atoms.values()}
    if len(steps) > 1:
        raise ValueError(f"this expression names steps of sequences of different lengths "
                         f"({', '.join(map(str, sorted(steps)))} steps): step t of each is a different t")
    return atoms


class _Stop:
    """The nodes a walk does not enter: positions, shifted steps, and a recurrent step's own names."""

    def __init__(self, owner):
        self.owner = owner

    def __contains__(self, node):
        return is_position(node) or is_shifted(node) or node in self.owner


def _stacked(sigmas, states, node):
    from derive.ops.scan import time_map
    return time_map(sigmas, states, root=node)


def _cells(derivation) -> dict:
    """{cell: (bptt node, states node, the step's names as nodes)} of each recurrent layer."""
    out = {}
    for layer in derivation.model.layers:
        if layer.kind != "recurrent":
            continue
        ref = next((g for g in derivation.grads.values() if g.op == "time_sum" and g.attrs["cell"] is layer.cell),
                   None)
        if ref is not None:
            out[layer.cell] = (ref.args[0], ref.args[2], set(step_names_of(derivation, layer.cell)))
    return out


def lift(x: Node, atoms: dict) -> Node:
    """``x``, an expression at step t, as the sequence of its values over t (the time axis second); NotLiftable
    where one of its operations does not apply step by step."""
    order = topo_order(x, stop=set(atoms))
    lifted = {}
    for n in order:
        if n in atoms:
            lifted[n] = atoms[n]
            continue
        if not any(a in lifted for a in n.args):
            continue   # the same at every step
        lifted[n] = _lift_op(n, lifted)
    if x not in lifted:
        raise NotLiftable("the expression names no step")
    return lifted[x]


def _free(a: Node, rank: int) -> Node:
    """An operand the same at every step, beside operands of step rank ``rank`` lifted to rank + 1: one that
    reaches the batch axis gets a time axis of length 1; one of fewer axes broadcasts as it did."""
    if a.rank == rank and a.shape[0] != 1:
        return reshape(a, (a.shape[0], 1, *a.shape[1:]))
    return a


def _lift_op(n: Node, lifted: dict) -> Node:
    from derive.ops import matmul, reduce_sum
    from derive.ops.reduce_sum import summed_axes
    if n.op == "ew":
        if any(a in lifted and a.rank != n.rank for a in n.args):
            raise NotLiftable("an operand of another rank")
        args = [lifted[a] if a in lifted else _free(a, n.rank) for a in n.args]
        steps = next(lifted[a].shape[1] for a in n.args if a in lifted)
        out = ew(n.attrs["expr"], args)
        if tuple(out.shape) != (n.shape[0], steps, *n.shape[1:]):
            raise NotLiftable("operands that broadcast differently over the steps")
        return out
    if n.op == "matmul" and n.args[0] in lifted and n.args[1] not in lifted and lifted[n.args[0]].rank == 3:
        return matmul(lifted[n.args[0]], n.args[1])
    if n.op == "sum" and n.args[0] in lifted:
        a = n.args[0]
        axes = summed_axes(n.attrs["axis"], a.rank)
        return reduce_sum(lifted[a], tuple(0 if k == 0 else k + 1 for k in axes))
    raise NotLiftable(n.op)


def _written_out(x: Node, atoms: dict) -> list:
    """``x`` at each step t: every name at t replaced by its sequence's entry at t."""
    from derive.ops import slice_
    order = topo_order(x, stop=set(atoms))
    T = int(next(iter(atoms.values())).shape[1])
    if T * len(order) > MAX_EXPANDED:
        raise ValueError(f"this expression of step t, written out at each of the {T} steps, would hold "
                         f"{T * len(order)} operations (at most {MAX_EXPANDED})")
    out = []
    for t in range(T):
        memo = {}
        for n in order:
            if n in atoms:
                seq = atoms[n]
                memo[n] = reshape(slice_(seq, 1, t, t + 1), (seq.shape[0], *seq.shape[2:]))
            elif any(a in memo for a in n.args):
                args = tuple(memo.get(a, a) for a in n.args)
                memo[n] = Node(n.op, args, n.shape, attr_items(n.attrs), None, n.role)
        out.append(memo.get(x, x))
    return out


def sum_steps(x: Node, atoms: dict) -> Node:
    """Σₜ of ``x``, an expression at step t of the names in ``atoms``."""
    from derive.ops import constant_factor, reduce_sum, step_sum
    c, inner = constant_factor(x)
    out = None
    if inner.op == "matmul" and inner.args[0].op == "T":   # Σₜ aₜᵀ gₜ: the product over the examples and steps
        a, g = inner.args[0].args[0], inner.args[1]
        try:
            la, lg = lift(a, atoms), lift(g, atoms)
            if la.rank == lg.rank == 3 and la.shape[:2] == lg.shape[:2]:
                out = step_sum(la, lg)
        except NotLiftable:
            out = None
    if out is None and inner.op == "ew" and inner.args and _linear(inner.attrs["expr"], len(inner.args)) \
            and all(_depends(a, atoms) for a in inner.args):   # Σₜ (aₜ + bₜ) = Σₜ aₜ + Σₜ bₜ
        out = ew(inner.attrs["expr"], [sum_steps(a, atoms) for a in inner.args], shape=inner.shape)
    if out is None:
        try:
            whole = lift(inner, atoms)
            out = reshape(reduce_sum(whole, 1), inner.shape)
        except (NotLiftable, ShapeError):
            parts = _written_out(inner, atoms)
            out = ew(sp.Add(*[placeholder(k) for k in range(len(parts))]), parts, shape=inner.shape)
    return out if c == 1 else ew(c * placeholder(0), [out])


def _depends(x: Node, atoms: dict) -> bool:
    return any(n in atoms for n in topo_order(x, stop=set(atoms)))


def _linear(expr, n: int) -> bool:
    """Whether an elementwise expression is a sum of its operands times numbers (a − 2b)."""
    slots = [placeholder(k) for k in range(n)]
    weights = [sp.diff(expr, p) for p in slots]
    if any(w.free_symbols & set(slots) for w in weights):
        return False
    return sp.expand(expr - sum(w * p for w, p in zip(weights, slots))) == 0


def stack_steps(x: Node, atoms: dict) -> Node:
    """``x``, an expression at step t of the names in ``atoms``, at every t, stacked on the time axis."""
    from derive.ops import concat
    try:
        out = lift(x, atoms)
        T = int(next(iter(atoms.values())).shape[1])
        full = (x.shape[0], T, *x.shape[1:])
        if tuple(out.shape) != full:
            out = ew(placeholder(0), [out], shape=full)   # broadcast over the batch (a step's (1, n) at every t)
        return out
    except (NotLiftable, ShapeError):
        parts = _written_out(x, atoms)
        return concat([reshape(p, (p.shape[0], 1, *p.shape[1:])) for p in parts], 1)


def step_names_of(derivation, cell) -> list:
    from derive.ops.scan import cell_backward
    from derive.graph.build import topo_order
    back = cell_backward(cell)
    nodes = [n for n in topo_order(cell.new) if n.name is not None and n.role != "param"]
    from derive.ops.scan import step_extras
    extras = step_extras(cell)
    return nodes + [d for _, d in back.deltas] + [leaf for leaf, _, _ in back.adj_parts] \
        + list(extras.following.values()) + ([extras.upstream] if extras.upstream is not None else [])

"""``scan``: a recurrence over time, and the three nodes of its backward pass (``bptt``, ``time_sum``,
``time_map``).

A recurrent layer's step is a graph of its own, a ``Cell``: from the state h⟨t−1⟩ (a leaf, (batch,
units)), the input x⟨t⟩ (a leaf, (batch, features)) and parameters shared by every step, the new state
h⟨t⟩. ``scan(xs, cell)`` runs it over an input sequence (batch, time, features) from h⟨0⟩ = 0 and gives
every state, (batch, time, units). A ``reverse`` cell runs t = T, ..., 1 (the second half of a
bidirectional layer).

The backward rule is the step's own reverse mode, formed once per cell by ``derive.reverse.recurrence``
(``cell_backward``): with σ⟨t⟩ = ∂J/∂h⟨t⟩, the step sends σ⟨t⟩ back to h⟨t−1⟩, to x⟨t⟩ and to each
parameter. Over the sequence:

- ``bptt(G, xs, H)``: σ⟨t⟩ = G⟨t⟩ + (what step t+1 sends back to h⟨t⟩), from σ⟨T+1⟩ = 0 down to t = 1,
  where G = ∂J/∂H is what the layers above send to every state: backprop through time;
- ``time_sum``: a parameter's gradient, the sum over t of what each step sends it;
- ``time_map``: ∂J/∂xs, what each step sends its input (a stacked layer below needs it).

Nothing here is particular to one cell: a GRU's or a user's cell derives as a simple RNN's does.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from derive.graph.node import BUILD, Node, ShapeError, attr_items, fmt_shape, topo_order
from derive.ops._registry import Op, lookup, register


@dataclass(frozen=True, eq=False)
class Cell:
    """One step of a recurrence as a graph: ``new`` = h⟨t⟩ from ``prev`` = h⟨t−1⟩, ``x`` = x⟨t⟩ and
    ``params``. ``forward`` lists the step's named nodes in evaluation order (gates, z⟨t⟩, h⟨t⟩)."""

    kind: str           # "SimpleRNN", "GRU", "LSTM", or the name of a user's cell
    layer: int
    prev: Node
    x: Node
    new: Node
    params: tuple
    reverse: bool = False
    forward: tuple = field(default=(), compare=False)
    parts: tuple = ()   # a state of several parts (an LSTM's h and c): their names, side by side in the state

    @property
    def part_units(self) -> int:
        return int(self.new.shape[1]) // max(1, len(self.parts))

    @property
    def units(self) -> int:
        return int(self.new.shape[1])


def make_cell(kind: str, layer: int, prev: Node, x: Node, new: Node, reverse: bool = False, declared=(),
              parts=()) -> Cell:
    """A ``Cell``, checked: the new state has the state's shape, and the step reads only h⟨t−1⟩, x⟨t⟩
    and parameters. ``declared``: named nodes in the order the step's equations made them (the order
    its forward lines print in; any other named node follows in the graph's order)."""
    if new.shape != prev.shape:
        raise ShapeError(f"the {kind} step gives a state of shape {fmt_shape(new.shape)}, and its state "
                         f"h⟨t−1⟩ is {fmt_shape(prev.shape)}: they must be the same")
    order = topo_order(new)
    params, forward = [], []
    for n in order:
        if n.op == "leaf" and n not in (prev, x):
            if n.role != "param":
                raise ShapeError(f"the {kind} step reads {n.name} ({n.role}); a step reads only h⟨t−1⟩, "
                                 "x⟨t⟩ and parameters")
            params.append(n)
        elif n.op != "leaf" and n.name is not None and n.role != "carry_part":
            forward.append(n)
    if parts and any(n.role != "carry_part" for n in order if prev in n.args):
        raise ShapeError(f"the {kind} step reads its whole state; a state of parts ({', '.join(parts)}) is read "
                         "through them (s.h, s.c)")
    first = {n: k for k, n in enumerate(declared)}
    forward.sort(key=lambda n: first.get(n, len(first)))  # stable: the rest keep the graph's order
    return Cell(kind, layer, prev, x, new, tuple(params), reverse, tuple(forward), tuple(parts))


def _steps(T: int, reverse: bool):
    return range(T - 1, -1, -1) if reverse else range(T)


def _prev_index(t: int, T: int, reverse: bool):
    """The index of h⟨t−1⟩ in the states (the step before in the cell's direction), None at the start."""
    k = t + 1 if reverse else t - 1
    return k if 0 <= k < T else None


def cell_backward(cell: Cell):
    """The step's backward graphs (``derive.reverse.recurrence.CellBackward``), formed once per cell."""
    make = BUILD.get("cell_backward")
    if make is None:
        raise RuntimeError("derive.reverse.recurrence is not loaded: import derive first")
    return make(cell)


def scan(xs: Node, cell: Cell) -> Node:
    """Every state of ``cell`` run over ``xs`` (batch, time, features): (batch, time, units)."""
    if xs.rank != 3:
        raise ShapeError(f"a recurrence runs over (batch, time, features) inputs; {xs!r} is {fmt_shape(xs.shape)}")
    m, T, F = xs.shape
    if cell.x.shape != (m, F):
        raise ShapeError(f"the {cell.kind} step takes inputs x⟨t⟩ of shape {fmt_shape(cell.x.shape)}, and the "
                         f"sequence gives {fmt_shape((m, F))} at each step")
    return Node("scan", (xs, *cell.params), (m, T, cell.new.shape[1]), (("cell", cell),))


# ---- the step's graph, run at one time step by any evaluator ----

def _run(roots, values: dict, compute) -> list:
    vals = dict(values)
    for root in roots:
        for n in topo_order(root):
            if n not in vals:
                vals[n] = compute(n, [vals[a] for a in n.args])
    return [vals[r] for r in roots]


def _numpy(ev):
    return lambda n, args: lookup(n.op).evaluate(n, args, ev)


def _symbolic(ex):
    def compute(n, args):
        value = lookup(n.op).expand(n, args, ex)
        if isinstance(value, sp.MatrixBase):
            value = np.array(value.tolist(), dtype=object)
        return np.asarray(value, dtype=object)
    return compute


def _forward(cell, xs, params, zeros, compute):
    T = xs.shape[1]
    states = [None] * T
    h = zeros
    for t in _steps(T, cell.reverse):
        values = {cell.prev: h, cell.x: xs[:, t], **dict(zip(cell.params, params))}
        (h,) = _run([cell.new], values, compute)
        states[t] = h
    return np.stack(states, axis=1)


def _step_values(cell, back, t, sigma, xs, states, params, zeros):
    k = _prev_index(t, xs.shape[1], cell.reverse)
    return {**{leaf: sigma[:, a:b] for leaf, a, b in back.adj_parts}, cell.prev: zeros if k is None else states[:, k],
            cell.x: xs[:, t], cell.new: states[:, t], **dict(zip(cell.params, params))}


def _bptt(cell, G, xs, states, params, zeros, compute, drop=None):
    """Every step's ∂J/∂h⟨t⟩ from the layers above (G) and the step after; ``drop``, a column slice of the
    state, leaves that part's carry out (a mistake: an LSTM's c⟨t⟩ not sent back)."""
    back = cell_backward(cell)
    T = xs.shape[1]
    sigmas = [None] * T
    carry = zeros
    for t in _steps(T, not cell.reverse):
        sigma = G[:, t] + carry
        sigmas[t] = sigma
        (carry,) = _run([back.d_prev], _step_values(cell, back, t, sigma, xs, states, params, zeros), compute)
        if drop is not None:
            carry = np.array(carry, copy=True)
            carry[:, drop] = 0
    return np.stack(sigmas, axis=1)


def _per_step(cell, root, sigmas, xs, states, params, zeros, compute, upstream=None) -> list:
    back = cell_backward(cell)
    extras = _EXTRAS.get(cell)
    read = set(topo_order(root)) if extras is not None else set()
    out = []
    T = xs.shape[1]
    for t in range(T):
        values = _step_values(cell, back, t, sigmas[:, t], xs, states, params, zeros)
        if extras is not None:
            following = t - 1 if cell.reverse else t + 1   # the step after t in the cell's own direction
            for delta, leaf in extras.following.items():
                if leaf in read:
                    if 0 <= following < T:
                        later = _step_values(cell, back, following, sigmas[:, following], xs, states, params, zeros)
                        values[leaf] = _run([delta], later, compute)[0]
                    else:   # past the last step: nothing is sent back
                        values[leaf] = _run([delta], values, compute)[0] * 0
            if extras.upstream in read and upstream is not None:
                values[extras.upstream] = upstream[:, t]
        out.append(_run([root], values, compute)[0])
    return out


@dataclass
class StepExtras:
    """Leaves a formula of one step may read besides the step's own nodes: each error signal at the step
    after t (δ⟨t+1⟩, zero past the last step) and what the layers above send the state at t, (∂J/∂H)⟨t⟩:
    the two terms of backprop through time's recurrence for ∂J/∂h⟨t⟩."""
    following: dict
    upstream: Node | None


_EXTRAS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def step_extras(cell) -> StepExtras:
    """The cell's StepExtras, made once (a formula names them delta1_tp1, or delta2_tm1 for a reverse cell,
    and dH1_t)."""
    if cell not in _EXTRAS:
        from derive.graph.names import Name
        back = cell_backward(cell)
        shift = -1 if cell.reverse else 1   # a reverse cell's next step is t−1, printed δ⟨t−1⟩
        following = {delta: Node("leaf", (), delta.shape, name=delta.name.shifted(shift), role="following")
                     for _, delta in back.deltas}
        upstream = None
        if len(back.adj_parts) == 1:   # one state (not an LSTM's (h, c)): the layers above send it G⟨t⟩
            leaf = back.adj_parts[0][0]
            upstream = Node("leaf", (), leaf.shape, (("of", Name("H", cell.layer, 0)),), name=Name("dH", cell.layer, 0),
                            role="adjoint")   # printed ∂J/∂H₁⟨t⟩, written dH1_t
        _EXTRAS[cell] = StepExtras(following, upstream)
    return _EXTRAS[cell]


def recurrence(cell):
    """∂J/∂h⟨t⟩ as one step's expression, (∂J/∂H)⟨t⟩ + what step t+1 sends back with its error signals read
    as δ⟨t+1⟩ (δ₁⟨t+1⟩ Whh₁ᵀ): backprop through time's recurrence in the names a formula writes. None for a
    cell whose step t+1 sends back through more than its error signals (a GRU's gates at t+1), or whose
    state has several parts."""
    from derive.ops.elementwise import ew
    from derive.graph.node import placeholder
    back, extras = cell_backward(cell), step_extras(cell)
    swap = dict(extras.following)
    inside = [n for n in topo_order(back.d_prev, stop=swap) if n not in swap]
    if extras.upstream is None or any(n.op == "leaf" and n.role != "param" for n in inside):
        return None
    memo = dict(swap)
    for n in inside:   # step t+1's graph with its error signals read as δ⟨t+1⟩
        args = tuple(memo.get(a, a) for a in n.args)
        memo[n] = n if all(a is b for a, b in zip(args, n.args)) else \
            Node(n.op, args, n.shape, attr_items(n.attrs), n.name, n.role)
    return ew(placeholder(0) + placeholder(1), [extras.upstream, memo.get(back.d_prev, back.d_prev)])


# ---- scan ----

def _check_states(states: Node, what: str) -> tuple:
    if states.op != "scan":
        raise ShapeError(f"{what} takes the states of a recurrence (a scan node), not {states!r}")
    return states.attrs["cell"], states.args[0], states.args[1:]


def bptt(g: Node, states: Node) -> Node:
    """σ⟨t⟩ = ∂J/∂h⟨t⟩ for every t, from G = ∂J/∂H (what the layers above send to each state)."""
    cell, xs, params = _check_states(states, "bptt")
    if g.shape != states.shape:
        raise ShapeError(f"∂J/∂H must have the states' shape {fmt_shape(states.shape)}, not {fmt_shape(g.shape)}")
    return Node("bptt", (g, xs, states, *params), states.shape, (("cell", cell),))


def time_sum(sigmas: Node, states: Node, k: int | None = None, root: Node | None = None) -> Node:
    """The gradient of the cell's k-th parameter: the sum over t of what step t sends it; or, with
    ``root``, the sum over t of any expression of the step's nodes (a formula ``check`` reads)."""
    cell, xs, params = _check_states(states, "time_sum")
    if root is not None:
        return Node("time_sum", (sigmas, xs, states, *params), root.shape, (("cell", cell), ("root", root)))
    return Node("time_sum", (sigmas, xs, states, *params), params[k].shape, (("cell", cell), ("wrt", k)))


def time_map(sigmas: Node, states: Node, root: Node | None = None) -> Node:
    """∂J/∂xs: what each step sends its input x⟨t⟩; or, with ``root``, any expression of the step's
    nodes at every t, stacked on the time axis (a per-step formula ``check`` reads, δ₁⟨t⟩ for all t).
    A root that reads (∂J/∂H)⟨t⟩ takes G, the bptt node's own operand, as one more operand."""
    cell, xs, params = _check_states(states, "time_map")
    if root is not None:
        shape = (root.shape[0], xs.shape[1], *root.shape[1:])
        extras = _EXTRAS.get(cell)
        if extras is not None and extras.upstream is not None and extras.upstream in set(topo_order(root)):
            return Node("time_map", (sigmas, xs, states, *params, sigmas.args[0]), shape,
                        (("cell", cell), ("root", root), ("upstream", True)))
        return Node("time_map", (sigmas, xs, states, *params), shape, (("cell", cell), ("root", root)))
    return Node("time_map", (sigmas, xs, states, *params), xs.shape, (("cell", cell),))


def _scan_vjp(node, g, ctx):
    xs, params = node.args[0], node.args[1:]
    rule = ctx.rule("scan", node)
    sigmas = bptt(g, node)
    return [(xs, time_map(sigmas, node), rule)] + [(p, time_sum(sigmas, node, k), rule) for k, p in enumerate(params)]


def _scan_show(node, p):
    cell = node.attrs["cell"]
    T = int(node.shape[1])
    first, last = (p.name(cell.new.name.at_step(t)) for t in (1, T))
    return p.sequence(first, last), p.ATOM


def _scan_expand(node, args, ex):
    cell = node.attrs["cell"]
    zeros = np.full(ex.concrete(cell.prev.shape), sp.Integer(0), dtype=object)
    return _forward(cell, args[0], args[1:], zeros, _symbolic(ex))


def _scan_evaluate(node, args, ev):
    cell = node.attrs["cell"]
    return _forward(cell, args[0], args[1:], np.zeros(ev.concrete(cell.prev.shape)), _numpy(ev))


def _no_second_order(node, g, ctx):
    raise NotImplementedError(f"{node.op} is part of a recurrence's backward pass; derivax does not derive "
                              "second derivatives through a recurrence")


# ---- bptt: σ⟨t⟩ for every t ----

def _bptt_show(node, p):
    cell = node.attrs["cell"]
    T = int(node.shape[1])
    first, last = (p.gradient_name(p.name(cell.new.name.at_step(t))) for t in (1, T))
    return p.sequence(first, last), p.ATOM


def _bptt_expand(node, args, ex):
    cell = node.attrs["cell"]
    zeros = np.full(ex.concrete(cell.prev.shape), sp.Integer(0), dtype=object)
    return _bptt(cell, args[0], args[1], args[2], args[3:], zeros, _symbolic(ex))


def _bptt_evaluate(node, args, ev):
    cell = node.attrs["cell"]
    return _bptt(cell, args[0], args[1], args[2], args[3:], np.zeros(ev.concrete(cell.prev.shape)), _numpy(ev))


# ---- time_sum: a parameter's gradient, summed over t ----

def _time_sum_root(node):
    if "root" in node.attrs:
        return node.attrs["root"]
    return cell_backward(node.attrs["cell"]).d_params[node.attrs["wrt"]]


def _time_sum_show(node, p):
    return p.sum_over_time(*p.arg(_time_sum_root(node))), p.MATMUL


def _time_sum_expand(node, args, ex):
    cell = node.attrs["cell"]
    zeros = np.full(ex.concrete(cell.prev.shape), sp.Integer(0), dtype=object)
    parts = _per_step(cell, _time_sum_root(node), args[0], args[1], args[2], args[3:], zeros, _symbolic(ex))
    return sum(parts[1:], parts[0])


def _time_sum_evaluate(node, args, ev):
    cell = node.attrs["cell"]
    parts = _per_step(cell, _time_sum_root(node), args[0], args[1], args[2], args[3:],
                      np.zeros(ev.concrete(cell.prev.shape)), _numpy(ev))
    return np.sum(parts, axis=0)


# ---- time_map: ∂J/∂xs, step by step ----

def _time_map_root(node):
    if "root" in node.attrs:
        return node.attrs["root"]
    return cell_backward(node.attrs["cell"]).d_x


def _time_map_show(node, p):
    return p.over_time(p.show(_time_map_root(node), top=False)), p.ATOM


def _operands(node, args):
    """(params, upstream) of a time_map's operands: G is the last one where its root reads (∂J/∂H)⟨t⟩."""
    if node.attrs.get("upstream"):
        return args[3:-1], args[-1]
    return args[3:], None


def _time_map_expand(node, args, ex):
    cell = node.attrs["cell"]
    zeros = np.full(ex.concrete(cell.prev.shape), sp.Integer(0), dtype=object)
    params, upstream = _operands(node, args)
    return np.stack(_per_step(cell, _time_map_root(node), args[0], args[1], args[2], params, zeros,
                              _symbolic(ex), upstream), axis=1)


def _time_map_evaluate(node, args, ev):
    cell = node.attrs["cell"]
    params, upstream = _operands(node, args)
    return np.stack(_per_step(cell, _time_map_root(node), args[0], args[1], args[2], params,
                              np.zeros(ev.concrete(cell.prev.shape)), _numpy(ev), upstream), axis=1)


def _scan_mistakes(node, arg, args, g, ev=None):
    """What hand-written BPTT gets wrong about a parameter of the step (``arg`` > 0): the state at t taken for
    the one before it in the weight's gradient, the term step t+1 sends back left out of ∂J/∂h⟨t⟩ (or of one
    part of a state of parts, an LSTM's c⟨t⟩), the steps' terms not summed (the one written last kept), and an
    activation's derivative left out or mistyped in the step's backward (run through BPTT, as code does, or in
    one step's formula alone). ``ev`` gives the batch's concrete shapes."""
    from derive.graph.names import Name, text_label
    if ev is None or arg == 0:
        return []
    cell = node.attrs["cell"]
    xs, params, G = args[0], list(args[1:]), np.asarray(g)
    zeros, compute = np.zeros(ev.concrete(cell.prev.shape)), _numpy(ev)
    states = _forward(cell, xs, params, zeros, compute)
    back = cell_backward(cell)
    root = back.d_params[arg - 1]
    T = xs.shape[1]

    def terms(sigmas, shifted=False):
        out = []
        for t in range(T):
            values = _step_values(cell, back, t, sigmas[:, t], xs, states, params, zeros)
            if shifted:
                values[cell.prev] = states[:, t]
            out.append(_run([root], values, compute)[0])
        return out
    sigmas = _bptt(cell, G, xs, states, params, zeros, compute)
    each = terms(sigmas)
    last = list(_steps(T, not cell.reverse))[-1]   # the step a backward loop reaches last
    out = [("the state at t is taken for the state before it: h⟨t⟩ where the step's gradient has h⟨t−1⟩",
            sum(terms(sigmas, shifted=True))),
           ("∂J/∂h⟨t⟩ is missing the term step t+1 sends back (backprop through time's carry)", sum(terms(G))),
           (f"not summed over t: only step {last + 1}'s term, the one a backward loop writes last (= for +=?)",
            each[last])]
    for k, part in enumerate(cell.parts if len(cell.parts) > 1 else ()):   # one part's carry left out (LSTM's c)
        w = cell.part_units
        dropped = _bptt(cell, G, xs, states, params, zeros, compute, drop=slice(k * w, (k + 1) * w))
        label = text_label(Name(part, cell.layer, 0))
        out.append((f"∂J/∂{label} is missing the term step t+1 sends back through {label} (its carry)",
                    sum(terms(dropped))))
    for words, slipped in _activation_slips(cell, back, root):
        def wrong(n, args, _slipped=slipped):
            return args[0] * _slipped[n](args[1]) if n in _slipped else compute(n, args)
        sig = _bptt(cell, G, xs, states, params, zeros, wrong)
        for adjoints in (sig, sigmas):   # BPTT run with the slip (code), or the slip in one step's formula alone
            out.append((words, sum(_run([root], _step_values(cell, back, t, adjoints[:, t], xs, states, params, zeros),
                                        wrong)[0] for t in range(T))))
    return out


def _activation_slips(cell, back, root) -> list:
    """[(words, {backward node: slipped derivative of A})]: for each activation A = f(Z) of the step whose
    derivative the backward writes through A (tanh′ = 1 − A², σ′ = A ⊙ (1 − A)), the derivative as people
    mistype it: left out, another activation's, A, 1 − A, A²."""
    from derive.graph.node import placeholder as ph
    from derive.ops.elementwise import THROUGH_A, WRITTEN
    from derive.graph.names import text_label
    nodes = set(topo_order(back.d_prev)) | set(topo_order(root))
    out = []
    for a in cell.forward:
        if a.op != "ew" or len(a.args) != 1:
            continue
        targets = [n for n in nodes if n.op == "ew" and len(n.args) == 2 and n.args[1] is a
                   and sp.diff(n.attrs["expr"], ph(0), 2) == 0 and not n.attrs["expr"].has(ph(2))]
        if not targets:
            continue
        probe = np.linspace(0.05, 0.95, 7)
        through = {t: sp.lambdify(ph(1), sp.diff(t.attrs["expr"], ph(0)), "numpy") for t in targets}
        right = {t: np.broadcast_to(through[t](probe), probe.shape) for t in targets}
        kind = next((k for k, f in THROUGH_A.items() if all(np.allclose(f(probe), r) for r in right.values())), None)
        if kind is None:
            continue
        label = text_label(a.name) if a.name is not None else "A"
        slips = [("left out", lambda v: np.ones_like(v))]
        slips += [(f"written as {other}'s {WRITTEN[other]}", f) for other, f in THROUGH_A.items() if other != kind]
        slips += [("written as A", lambda v: v), ("written as 1 − A", lambda v: 1 - v), ("written as A²", lambda v: v ** 2)]
        for what, f in slips:
            if np.allclose(f(probe), THROUGH_A[kind](probe)):
                continue
            out.append((f"in the step's backward, the derivative of {label} = {kind}(…) {what.replace('A', label)} "
                        f"(it is {WRITTEN[kind].replace('A', label)})", {t: f for t in targets}))
    return out


register(Op("scan", vjp=_scan_vjp, show=_scan_show, expand=_scan_expand, evaluate=_scan_evaluate,
            doc="a recurrence: every state of a cell run over a sequence", mistakes=_scan_mistakes))
register(Op("bptt", vjp=_no_second_order, show=_bptt_show, expand=_bptt_expand, evaluate=_bptt_evaluate,
            doc="backprop through time: ∂J/∂h⟨t⟩ for every t, from t = T down", differentiable=False))
register(Op("time_sum", zero="all", vjp=_no_second_order, show=_time_sum_show, expand=_time_sum_expand,
            evaluate=_time_sum_evaluate, doc="a recurrence's parameter gradient, summed over t",
            differentiable=False))
register(Op("time_map", vjp=_no_second_order, show=_time_map_show, expand=_time_map_expand,
            evaluate=_time_map_evaluate, doc="a recurrence's input gradient, step by step", differentiable=False))


"""``slice``, ``pad`` and ``concat``: part of a tensor along one axis, zeros around it, tensors side by
side. A recurrent layer's last state is a slice of its states; a bidirectional layer's states are the
two directions' concatenated along the units.

Backward: a slice's adjoint is padded back with zeros, a pad's is sliced out, a concatenation's is
sliced into its parts.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from derive.graph.node import BUILD, Node, ShapeError, fmt_shape
from derive.ops._registry import Op, register


def _axis(a: Node, axis: int) -> int:
    if not isinstance(axis, int) or not -a.rank <= axis < a.rank:
        raise ShapeError(f"axis {axis!r} is not an axis of {a!r} {fmt_shape(a.shape)}")
    return axis % a.rank


def slice_(a: Node, axis: int, start: int, stop: int) -> Node:
    """Entries start..stop-1 along ``axis``."""
    axis = _axis(a, axis)
    n = int(a.shape[axis])
    if not 0 <= start < stop <= n:
        raise ShapeError(f"cannot take {start}..{stop - 1} along axis {axis} of {a!r} {fmt_shape(a.shape)}")
    if (start, stop) == (0, n):
        return a
    shape = tuple(sp.Integer(stop - start) if k == axis else d for k, d in enumerate(a.shape))
    return Node("slice", (a,), shape, (("axis", axis), ("start", start), ("stop", stop)))


def pad(a: Node, axis: int, before: int, after: int) -> Node:
    """``a`` with ``before`` and ``after`` zeros along ``axis``."""
    axis = _axis(a, axis)
    if before == after == 0:
        return a
    shape = tuple(d + before + after if k == axis else d for k, d in enumerate(a.shape))
    return Node("pad", (a,), shape, (("axis", axis), ("before", before), ("after", after)))


def concat(parts, axis: int) -> Node:
    parts = list(parts)
    axis = _axis(parts[0], axis)
    for q in parts[1:]:
        if q.rank != parts[0].rank or any(d != e for k, (d, e) in enumerate(zip(q.shape, parts[0].shape)) if k != axis):
            raise ShapeError(f"cannot put {parts[0]!r} {fmt_shape(parts[0].shape)} and {q!r} {fmt_shape(q.shape)} "
                             f"side by side along axis {axis}")
    if len(parts) == 1:
        return parts[0]
    shape = tuple(sum((q.shape[axis] for q in parts), sp.Integer(0)) if k == axis else d
                  for k, d in enumerate(parts[0].shape))
    return Node("concat", tuple(parts), shape, (("axis", axis),))


def _index(rank, axis, start, stop):
    return tuple(slice(start, stop) if k == axis else slice(None) for k in range(rank))


def _slice_vjp(node, g, ctx):
    (a,) = node.args
    axis, start, stop = node.attrs["axis"], node.attrs["start"], node.attrs["stop"]
    return [(a, pad(g, axis, start, int(a.shape[axis]) - stop), ctx.rule("slice", node))]


def state_part(node):
    """(cell, name at t) where ``node`` is every step of a recurrence's state, or of one part of it (an
    LSTM's h: a slice of the states over the units); None otherwise."""
    if node.op == "scan":
        cell = node.attrs["cell"]
        return cell, cell.new.name
    if node.op == "slice" and node.args[0].op == "scan" and node.attrs["axis"] == 2:
        cell = node.args[0].attrs["cell"]
        k, rest = divmod(node.attrs["start"], cell.part_units or 1)
        if cell.parts and not rest and node.attrs["stop"] - node.attrs["start"] == cell.part_units:
            return cell, cell.new.args[k].name
    return None


def _slice_show(node, p):
    a = node.args[0]
    found = state_part(a)
    if found and node.attrs["axis"] == 1 and node.attrs["stop"] == node.attrs["start"] + 1:
        return p.name(found[1].at_step(node.attrs["start"] + 1)), p.ATOM  # one state: h₁⟨T⟩
    found = state_part(node)
    if found:  # one part of every state: (h₁⟨1⟩, …, h₁⟨T⟩)
        T = int(node.shape[1])
        return p.sequence(p.name(found[1].at_step(1)), p.name(found[1].at_step(T))), p.ATOM
    s, _ = p.arg(a)
    return p.slice(s, node.attrs["axis"], node.attrs["start"], node.attrs["stop"], node.rank), p.ATOM


def _slice_value(node, args, _):
    return args[0][_index(node.rank, node.attrs["axis"], node.attrs["start"], node.attrs["stop"])]


def _pad_vjp(node, g, ctx):
    (a,) = node.args
    axis, before = node.attrs["axis"], node.attrs["before"]
    return [(a, slice_(g, axis, before, before + int(a.shape[axis])), ctx.rule("pad", node))]


def _pad_show(node, p):
    s, _ = p.arg(node.args[0])
    return p.call("pad", f"{s}, axis {node.attrs['axis']}, {node.attrs['before']}, {node.attrs['after']}"), p.ATOM


def _pad_expand(node, args, ex):
    widths = [(0, 0)] * node.rank
    widths[node.attrs["axis"]] = (node.attrs["before"], node.attrs["after"])
    return np.pad(np.asarray(args[0], dtype=object), widths, constant_values=sp.Integer(0))


def _pad_evaluate(node, args, ev):
    widths = [(0, 0)] * node.rank
    widths[node.attrs["axis"]] = (node.attrs["before"], node.attrs["after"])
    return np.pad(args[0], widths)


def _concat_vjp(node, g, ctx):
    axis, start, out = node.attrs["axis"], 0, []
    for q in node.args:
        n = int(q.shape[axis])
        out.append((q, slice_(g, axis, start, start + n), ctx.rule("concat", node)))
        start += n
    return out


def _concat_show(node, p):
    return p.side_by_side([p.arg(q)[0] for q in node.args]), p.ATOM


def _concat_value(node, args, _):
    return np.concatenate(args, axis=node.attrs["axis"])


register(Op("slice", zero="all", vjp=_slice_vjp, show=_slice_show, expand=_slice_value, evaluate=_slice_value,
            doc="entries start..stop-1 along one axis"))
register(Op("pad", zero="all", vjp=_pad_vjp, show=_pad_show, expand=_pad_expand, evaluate=_pad_evaluate,
            doc="zeros before and after along one axis"))
register(Op("concat", zero="all", vjp=_concat_vjp, show=_concat_show, expand=_concat_value, evaluate=_concat_value,
            doc="tensors side by side along one axis"))
BUILD["slice"], BUILD["pad"], BUILD["concat"] = slice_, pad, concat

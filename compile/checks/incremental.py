"""A loss evaluated again after one parameter moves, recomputing only what depends on that parameter.

Finite differences move one parameter at a time, a few times each (two step sizes, two signs, a few
directions). Evaluated whole, a deep network's loss is recomputed from its first layer for every one of
those moves, and each evaluation rereads every weight: at 100 layers of 512 that is 1,600 evaluations of
210 MB of float64 weights. Here the loss is traced once to a flat list of JAX primitives (nested ``jit``
calls inlined) and evaluated once at the base point, keeping every intermediate value. A move of
parameter P then reruns only the primitives downstream of P, all of its moves at once along a leading
axis (each primitive vmapped over the axis of its moved inputs), reading everything upstream from the
base pass. Each primitive runs as its own small jit-compiled kernel, shared by every primitive with the
same kind, parameters and shapes (a network's identical layers share theirs).

The values are the loss's own: the same primitives in the same order on the same float64 numbers, so a
difference of two moved losses is what the whole function would give, up to the rounding of a batched
matrix product.
"""
from __future__ import annotations

import numpy as np


class _Lit:
    """A literal operand of a primitive (a constant written into the traced program)."""
    __slots__ = ("val",)

    def __init__(self, val):
        self.val = val


def _literal_key(val) -> tuple:
    a = np.asarray(val)
    return a.dtype.str, a.shape, a.tobytes()


class IncrementalLoss:
    """``loss(params)`` at ``params``, and ``along(name, deltas)``: the loss at ``params`` with
    ``params[name] + deltas[i]`` for each i, recomputing only what ``params[name]`` reaches."""

    def __init__(self, fn, params: dict, extra: tuple = ()):
        import jax
        try:
            from jax.extend.core import Literal
        except ImportError:                                   # older JAX
            from jax.core import Literal
        self._jax = jax
        self._Literal = Literal
        self.names = list(params)
        # One slot per array: the extra arguments may be pytrees (a dict of dropout masks).
        inputs, tree = jax.tree_util.tree_flatten(([params[n] for n in self.names], tuple(extra)))
        if len(inputs) < len(self.names) + len(jax.tree_util.tree_leaves(tuple(extra))):
            raise ValueError("every parameter must be one array")

        def flat(*leaves):
            ps, rest = jax.tree_util.tree_unflatten(tree, leaves)
            return fn(dict(zip(self.names, ps)), *rest)
        closed = jax.make_jaxpr(flat)(*inputs)
        self._slots = 0
        self._consts = {}
        self._eqns = []                                       # (eqn, operands, output slots)
        self._inputs = [self._new() for _ in inputs]
        self._out = self._inline(closed.jaxpr, closed.consts, self._inputs)
        if len(self._out) != 1:
            raise ValueError("the loss must return one value")
        self._kernels = {}      # (primitive, its parameters, literals, axes) -> kernel
        self._by_eqn = {}       # (id(eqn), axes) -> kernel: the lookup above, once per primitive in the program
        self._values = dict(self._consts)
        self._values.update(zip(self._inputs, inputs))
        for eqn, operands, outs in self._eqns:
            args = [self._values[r] for r in operands if not isinstance(r, _Lit)]
            self._values.update(zip(outs, self._kernel(eqn, operands, (None,) * len(args))(*args)))
        self.base = self._read(self._out[0], self._values)
        # Each primitive with the slots of its non-literal operands, and the first primitive each slot
        # feeds: a move of an input starts there.
        self._program = [(eqn, operands, [r for r in operands if not isinstance(r, _Lit)], outs)
                         for eqn, operands, outs in self._eqns]
        self._first = {}
        for i, (_, operands, _) in enumerate(self._eqns):
            for r in operands:
                if not isinstance(r, _Lit):
                    self._first.setdefault(r, i)

    def _new(self) -> int:
        self._slots += 1
        return self._slots - 1

    def _inline(self, jaxpr, consts, operands):
        env = {}
        for v, c in zip(jaxpr.constvars, consts):
            s = self._new()
            self._consts[s] = c
            env[v] = s
        env.update(zip(jaxpr.invars, operands))

        def read(a):
            return _Lit(a.val) if isinstance(a, self._Literal) else env[a]
        for eqn in jaxpr.eqns:
            args = [read(a) for a in eqn.invars]
            inner = eqn.params.get("jaxpr") if eqn.primitive.name in ("jit", "pjit") else None
            if inner is not None:
                outs = self._inline(inner.jaxpr, inner.consts, args)
            else:
                outs = [self._new() for _ in eqn.outvars]
                self._eqns.append((eqn, args, outs))
            env.update(zip(eqn.outvars, outs))
        return [read(a) for a in jaxpr.outvars]

    @staticmethod
    def _read(ref, values):
        return ref.val if isinstance(ref, _Lit) else values[ref]

    def _kernel(self, eqn, operands, axes):
        """A jit-compiled function running ``eqn``'s primitive on its non-literal operands, vmapped over
        the leading axis of those whose ``axes`` entry is 0."""
        # An inner jit's equation is inlined at each call, with that call's literals: they belong to the key
        key = (id(eqn), tuple(id(r) for r in operands if isinstance(r, _Lit)), axes)
        fn = self._by_eqn.get(key)
        if fn is None:
            fn = self._by_eqn[key] = self._shared_kernel(eqn, operands, axes)
        return fn

    def _shared_kernel(self, eqn, operands, axes):
        # A literal by its bytes, dtype and shape: 1 (int32) and 1.0 (float64) compare equal and hash alike, 0.0 and
        # -0.0 too, and JAX's typed literal arrays hash and compare loosely (0.0 took 1.0's kernel).
        lits = tuple((i, type(r.val).__name__, *_literal_key(r.val)) for i, r in enumerate(operands)
                     if isinstance(r, _Lit))
        try:
            key = (eqn.primitive, tuple(sorted(eqn.params.items())), lits, axes)
            hash(key)
        except TypeError:
            key = (id(eqn), axes)
        fn = self._kernels.get(key)
        if fn is None:
            prim = eqn.primitive
            bound = prim.get_bind_params(eqn.params)
            subfuns, params = bound if isinstance(bound, tuple) else ((), bound)   # older JAX: (subfuns, params)
            fixed = {i: r.val for i, r in enumerate(operands) if isinstance(r, _Lit)}
            n = len(operands)

            def run(*args):
                it = iter(args)
                out = prim.bind(*subfuns, *[fixed[i] if i in fixed else next(it) for i in range(n)], **params)
                return out if prim.multiple_results else [out]
            fn = self._jax.jit(self._jax.vmap(run, in_axes=axes) if 0 in axes else run)
            self._kernels[key] = fn
        return fn

    def along(self, name: str, deltas) -> np.ndarray:
        """The loss with ``params[name] + deltas[i]`` for each i (deltas stacked on a leading axis)."""
        slot = self._inputs[self.names.index(name)]
        moved = {slot: self._values[slot][None] + self._jax.numpy.asarray(deltas)}
        start = self._first.get(slot, len(self._eqns))
        values = self._values
        for eqn, operands, slots, outs in self._program[start:]:
            axes = tuple(0 if r in moved else None for r in slots)
            if 0 not in axes:
                continue
            args = [moved[r] if a == 0 else values[r] for r, a in zip(slots, axes)]
            moved.update(zip(outs, self._kernel(eqn, operands, axes)(*args)))
        out = self._out[0]
        if isinstance(out, _Lit) or out not in moved:         # the loss does not depend on this parameter
            return np.full(len(deltas), float(self.base))
        return np.asarray(moved[out], dtype=np.float64).reshape(len(deltas))

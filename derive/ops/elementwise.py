"""``ew``: an elementwise expression, with NumPy broadcasting of its operands.

``attrs['expr']`` is a scalar SymPy expression in placeholder symbols ``_a0, _a1, ...``, one per
operand node. Hadamard products, sums, scalar factors, activations and bias broadcasts are all ``ew``
nodes, so SymPy's scalar algebra simplifies them. Operands broadcast as in NumPy: shapes are aligned
on the right, and an axis of length 1 (or a missing leading axis) is repeated; reverse mode sums
such an operand's adjoint over the copies.

The backward rule differentiates the expression with ``sympy.diff``: an activation or loss nobody
wrote a rule for derives through the same code as tanh does.
"""
from __future__ import annotations

import functools

import numpy as np

import sympy as sp

from derive.graph.names import clip
from derive.graph.node import BUILD, ONE, Node, ShapeError, dims, fmt_shape, placeholder
from derive.network.scalar_functions import SCALAR_FUNCTIONS
from derive.ops._registry import Op, register
from derive.run.limits import TimeLimitExceeded

ph = placeholder


def broadcast_shape(shapes) -> tuple:
    """The shape operands of ``shapes`` broadcast to, or None if they do not."""
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(rank):
        sizes = {s[len(s) - rank + axis] for s in shapes if len(s) - rank + axis >= 0} - {ONE}
        if len(sizes) > 1:
            return None
        out.append(sizes.pop() if sizes else ONE)
    return tuple(out)


def broadcastable(arg_shape, shape) -> bool:
    if len(arg_shape) > len(shape):
        return False
    return all(d == 1 or d == s for d, s in zip(arg_shape, shape[len(shape) - len(arg_shape):]))


def ew(expr, args, shape=None) -> Node:
    """Elementwise ``expr`` over ``args`` (placeholder i stands for args[i]).

    Anonymous ``ew`` arguments are inlined (their expression substituted), repeated arguments merged
    and unused ones dropped, so a chain of elementwise steps is one SymPy expression. Named nodes (Z1,
    A1, delta1) are never inlined: they stay shared.
    """
    expr = sp.sympify(expr)
    if shape is None:
        if not args:
            raise ShapeError("an elementwise expression with no operands needs a shape")
        shape = broadcast_shape([a.shape for a in args])
        if shape is None:
            others = ", ".join(f"{b!r} {fmt_shape(b.shape)}" for b in args)
            raise ShapeError(f"elementwise operands do not broadcast together: {others}")
    shape = dims(shape)
    for a in args:
        if not broadcastable(a.shape, shape):
            others = ", ".join(f"{b!r} {fmt_shape(b.shape)}" for b in args)
            raise ShapeError(f"elementwise operands do not broadcast to {fmt_shape(shape)}: {others}")
    new_args: list = []
    subs = {}

    def slot(node):
        if node not in new_args:
            new_args.append(node)
        return sp.Symbol(f"_b{new_args.index(node)}")

    free = expr.free_symbols   # once: a sum over many operands (dense skip connections) is long
    for i, a in enumerate(args):
        p = ph(i)
        if p not in free:
            continue
        if a.op == "ew" and a.name is None:
            inner = a.attrs["expr"]
            subs[p] = inner.xreplace({ph(j): slot(b) for j, b in enumerate(a.args)})
        else:
            subs[p] = slot(a)
    expr = expr.xreplace(subs)
    free = expr.free_symbols
    used = [n for i, n in enumerate(new_args) if sp.Symbol(f"_b{i}") in free]
    expr = expr.xreplace({sp.Symbol(f"_b{new_args.index(n)}"): ph(k) for k, n in enumerate(used)})
    if expr == ph(0) and len(used) == 1 and used[0].shape == shape:
        return used[0]
    return Node("ew", tuple(used), shape, (("expr", expr),))


def constant_factor(node: Node, factor: bool = True):
    """``node`` as ``(c, rest)`` with c free of its operands (1 where there is none).

    Only an anonymous ``ew`` node has a factor to give; a named one (Z1, delta1) stays whole. With
    ``factor``, the expression is first put in factored form (``factor_terms``), so that a common
    factor of a sum, (1/m)(A - Y), is found too; without it only an explicit product's factor is, as
    the graph's own rewrites need (cheap, and called on every product and transpose)."""
    if node.op != "ew" or node.name is not None or not node.args:
        return ONE, node
    c, rest = _split_factor(node.attrs["expr"], len(node.args), factor)
    if c == 1:
        return ONE, node
    return c, ew(rest, node.args, shape=node.shape)


@functools.lru_cache(maxsize=4096)
def _split_factor(expr, n: int, factor: bool):
    """(c, rest) with expr = c·rest and c free of the n operands; cached per expression."""
    if factor:
        expr = sp.factor_terms(expr)
    return expr.as_independent(*[ph(i) for i in range(n)], as_Add=False)


def unbroadcast(contrib: Node, arg: Node) -> Node:
    """The adjoint of a broadcast operand: the contribution summed over the axes it was repeated on."""
    extra = len(contrib.shape) - len(arg.shape)
    axes = list(range(extra)) + [extra + k for k, (da, dn) in enumerate(zip(arg.shape, contrib.shape[extra:]))
                                 if da == 1 and dn != 1]
    if not extra:
        for axis in axes:  # one axis at a time: Σᵢ for a bias, as a textbook sums over the batch
            contrib = BUILD["sum"](contrib, axis)
        return contrib
    # a lower-rank operand (a conv bias (c,) added to (m, h, w, c)): one sum over the batch and every
    # position, then the operand's own shape
    return BUILD["reshape"](BUILD["sum"](contrib, tuple(axes)), arg.shape)


# SymPy's algebraic ``subs`` is tried on derivatives up to this many operations (a user's long activation
# formula keeps its derivative as it is rather than risk a slow substitution).
SUBS_OPS = 60
# Named nodes of several operands whose derivatives are written through the node itself (X̂ = X̄ ⊘ σ).
WRITTEN_THROUGH = frozenset({"normalized"})
# Named nodes that are a stage of a layer, not its activation: their derivative is a partial one, ∂σ/∂σ².
STAGES = frozenset({"normalized", "std"})


# An elementwise expression of more parts than this is differentiated in a child process, under PARTIAL_SECONDS:
# SymPy's differentiation of a long one (a user's activation of hundreds of terms) runs for seconds, and nothing
# tells in advance which run for minutes. Smaller ones, every built-in layer's, are differentiated here.
PARTIAL_PARTS = 300
PARTIAL_SECONDS = 20.0


@functools.lru_cache(maxsize=4096)
def _partial(expr, i: int, n: int, through: bool):
    """(∂expr/∂(operand i), that derivative written through the expression's own value as the placeholder
    n + 1, or None). Cached: a deep network's identical layers differentiate one activation once. A long
    expression's in a child process under a limit (TimeLimitExceeded past it)."""
    from derive.network.functions import parts
    if parts(expr, PARTIAL_PARTS) > PARTIAL_PARTS:
        from derive.run.worker import run
        return run(_partial_here, expr, i, n, through, seconds=PARTIAL_SECONDS, what="differentiating it")
    return _partial_here(expr, i, n, through)


def _partial_here(expr, i: int, n: int, through: bool):
    p = ph(i)
    if expr.is_Add:   # the terms that hold the operand: a sum over many operands, each differentiated once
        d = sp.Add(*[sp.diff(t, p) for t in expr.args if p in t.free_symbols])
    else:
        d = sp.diff(expr, p)
    if d == 0 or not through:
        return d, None
    o = ph(n + 1)
    written = d.xreplace({expr: o})
    if written == d and sp.count_ops(d) <= SUBS_OPS:   # a power of the expression: 1/(2√(v + ε)) is 1/(2σ)
        written = d.subs(expr, o)
    return d, written


def _vjp(node, g, ctx):
    expr, args = node.attrs["expr"], node.args
    out = []
    for i, arg in enumerate(args):
        named = bool(node.name and (len(args) == 1 or node.role in WRITTEN_THROUGH))
        try:
            d, through = _partial(expr, i, len(args), named)
        except TimeLimitExceeded:
            what = f"{node.name}" if node.name else "an elementwise step"
            # the expression in its operands' names (Z1), where they have them, not the graph's placeholders
            said = expr.xreplace({ph(k): sp.Symbol(str(a.name)) for k, a in enumerate(args) if a.name})
            raise TimeLimitExceeded(f"the derivative of {what} in its operand {i + 1} ({clip(str(said))}): SymPy did "
                                    f"not give it within {PARTIAL_SECONDS:g} s; write a shorter formula") from None
        if d == 0:
            continue
        extra = []
        if named:
            # Write g'(Z) through the forward activation where that removes Z: tanh' = 1 - A^2; and
            # a normalization's quotient through itself: ∂(X̄ ⊘ σ)/∂σ = −X̄ ⊘ σ² = −X̂ ⊘ σ.
            o = ph(len(args) + 1)
            gone = d.free_symbols - through.free_symbols - {o}
            if o in through.free_symbols and (ph(i) in gone if len(args) == 1 else gone):
                after = ew(through.xreplace({o: ph(len(args))}), [*args, node], shape=node.shape)
                if node.role in STAGES:   # a stage of a layer (σ = √(σ² + ε), X̂ = X̄ ⊘ σ): its partial derivative
                    ctx.partial_through(node, arg, ew(d, args, shape=node.shape), after)
                else:   # an activation: g′(Z) written through A
                    ctx.derivative_through(node, ew(d, args, shape=node.shape), after)
                d, extra = through.xreplace({o: ph(len(args))}), [node]   # the node: operand len(args)
            elif node.role == "act" and len(args) == 1 and d.free_symbols and hasattr(ctx, "derivative_of"):
                ctx.derivative_of(node, ew(d, args, shape=node.shape))   # g′(Z), in Z alone (relu′, gelu′)
        # the operands the derivative holds (none of a sum's others), each moved one place for g
        operands = [*args, *extra]
        free = d.free_symbols
        used = [k for k in range(len(operands)) if ph(k) in free]
        contrib = ew(ph(0) * d.xreplace({ph(k): ph(j + 1) for j, k in enumerate(used)}),
                     [g, *[operands[k] for k in used]], shape=node.shape)
        out.append((arg, unbroadcast(contrib, arg), ctx.rule("ew", node, arg)))
    return out


def _show(node, p):
    return p.elementwise(node)


def _entry_function(expr, n):
    slots = [ph(i) for i in range(n)]
    return np.frompyfunc(lambda *values: expr.xreplace(dict(zip(slots, values))), n, 1) if n else None


def _expand(node, args, ex):
    shape = ex.concrete(node.shape)
    expr = node.attrs["expr"].xreplace(ex.subs)
    if getattr(ex, "digits", None):   # numbers throughout: an exact constant (1/√2) as a Float of those digits
        expr = expr.evalf(ex.digits)
    if not args:
        out = np.empty(shape, dtype=object)
        out.fill(expr)
        return out
    spread = [np.broadcast_to(a, shape) for a in args]
    return np.asarray(_entry_function(expr, len(args))(*spread), dtype=object).reshape(shape)


class UndefinedValue(ArithmeticError):
    """An elementwise expression whose value is undefined once the batch size is known (1/(m - 3) at m = 3)."""


# The NumPy implementation of every scalar function, by SymPy class name, from the one table:
# lambdify calls a function by its class name and takes these before NumPy's own.
SCALAR_NUMPY = {c.__name__: f.numpy for f in SCALAR_FUNCTIONS for c in f.classes}
_COMPILED: dict = {}


def numpy_function(expr, n_args):
    """``expr`` over placeholders _a0 .. _a{n-1} as a NumPy function (compiled once per expression).

    The expression is a graph expression built by derive/ or by the whitelisted formula parser, never
    text a user typed."""
    key = (expr, n_args)
    if key not in _COMPILED:
        _COMPILED[key] = sp.lambdify([ph(i) for i in range(n_args)], expr, modules=[SCALAR_NUMPY, "numpy"])
    return _COMPILED[key]


def _evaluate(node, args, ev):
    expr = node.attrs["expr"].xreplace(ev.subs)
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        at = ", ".join(f"{k} = {v}" for k, v in ev.subs.items())
        raise UndefinedValue(f"{sp.sstr(node.attrs['expr'])} is undefined (a division by zero or a log "
                             f"of 0) at {at}")
    out = numpy_function(expr, len(args))(*args)
    dtype = np.result_type(*args, np.float64) if args else np.float64
    return np.broadcast_to(np.asarray(out, dtype), ev.concrete(node.shape)).copy()


# The derivatives people write for a table activation, as courses write them through A.
WRITTEN = {"tanh": "1 − A²", "sigmoid": "A ⊙ (1 − A)", "relu": "step(A)"}
THROUGH_A = {"tanh": lambda a: 1 - a ** 2, "sigmoid": lambda a: a * (1 - a), "relu": lambda a: (a > 0) * 1.0}


def _mistakes(node, arg, args, g):
    """Wrong backward rules of an activation A_l = f(Z_l) (⊙ a dropout mask D_l): its derivative left out,
    another activation's used, f' taken at A instead of Z, the dropout mask left out."""
    from derive.network.functions import ACTIVATIONS
    if node.role != "act" or node.name is None or not isinstance(node.name, str):
        return []
    expr, n = node.attrs["expr"], len(node.args)
    masks = [k for k, a in enumerate(node.args) if a.role == "mask"]
    slots = [k for k in range(n) if k not in masks]
    if arg in masks or slots != [arg]:
        return []
    layer = getattr(node.name, "layer", None)
    where = f" at layer {layer}" if layer is not None else ""
    mask = np.prod([args[k] for k in masks], axis=0) if masks else 1.0
    f = expr.xreplace({ph(k): sp.Integer(1) for k in masks})
    fprime = sp.diff(f, ph(arg))
    z = args[arg]

    def at(e, v):
        return np.broadcast_to(np.asarray(numpy_function(e, n)(*[v if k == arg else args[k] for k in range(n)]),
                                          float), np.shape(z))
    right = at(fprime, z)
    out = [(f"the activation's derivative left out{where} (G passed through as if A = Z)", g * mask)]
    if masks:
        out.append((f"the dropout mask left out of the backward pass{where}", g * right))
    a = at(f, z)
    for name, through in THROUGH_A.items():   # another activation's derivative as courses write it, at this A
        value = through(a)
        if not np.allclose(value, right):
            out.append((f"{name}'s derivative {WRITTEN[name]} used{where}", g * value * mask))
    # slips of the pen before another activation's derivative: sigmoid′ written as A is softplus′(Z) too,
    # and the slip is what a student made
    for label, value in (("A", a), ("1 − A", 1 - a), ("A²", a ** 2), ("1 − Z²", 1 - z ** 2)):
        value = np.broadcast_to(np.asarray(value, float), np.shape(z))
        if not np.allclose(value, right):
            out.append((f"the activation's derivative written as {label}{where}", g * value * mask))
    for name, fn in ACTIVATIONS.items():   # another activation's derivative at Z
        other = sp.diff(fn.expr, fn.variables[0]).xreplace({fn.variables[0]: ph(arg)})
        value = at(other, z)
        if name != "identity" and not np.allclose(value, right):
            out.append((f"{name}'s derivative {name}′(Z) used{where}", g * value * mask))
    out.append((f"an extra factor f′(Z){where}: the activation's derivative applied twice (the quadratic cost's "
                "δ = (A − Y) ⊙ σ′(Z) kept under cross-entropy, whose δ is A − Y: the σ′ cancels)",
                g * right * right * mask))
    wrong_point = at(fprime, a)
    if not np.allclose(wrong_point, right):
        out.append((f"the derivative taken at A instead of Z{where} (f′(A) for f′(Z))", g * wrong_point * mask))
    return out


register(Op("ew", vjp=_vjp, show=_show, expand=_expand, evaluate=_evaluate, doc="elementwise expression",
            mistakes=_mistakes))
BUILD["ew"] = ew

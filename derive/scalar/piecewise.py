"""Deciding whether two scalar expressions with thresholds are the same function.

A step, an abs, a sign, relu, a min or a max (and so every comparison a formula writes as a mask) changes its
form where its argument crosses a breakpoint. Two sides that differ only where an argument lies in a narrow
band (step(z − 1/100) against step(z)) or beyond some value (min(a, 9/10) against a) agree at almost every
random point, so random points cannot tell them apart. ``compare`` splits instead: it takes each argument
whose sign decides the expression (a group: one linear form c0 + c1·q of the same q, with every breakpoint
of q found in either side), cuts the line of q at its breakpoints, puts each atom's form on each piece in
its place (step → 0 or 1, |u| → ±u, relu(u) → u or 0, ...), and goes on in each piece until no atom is left
whose sign matters. A piece whose two sides agree as rational functions of the remaining (frozen) atoms
is equal exactly; a piece where they do not is sought: a point inside it, found by moving one input or
weight of each argument until the argument lies in its interval (so a band 1/100 wide, or a value beyond
the inputs' range, is reached), where the two sides are evaluated to 50 digits. A piece no point can be
found in (q < 0 for a softmax output, which is never negative) leaves the comparison undecided: the
caller then says it compared the two numerically only. Equality holds almost everywhere: at a breakpoint
itself (z = 0) each side keeps its own convention (step(0) = 0).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from derive.network.scalar_functions import LEAKY_SLOPE, SELU_ALPHA, SELU_SCALE, Abs, elu, leaky_relu, relu, selu, \
    sign, step

# Where a side holds a decimal constant (a Float, or a number typed with 10 digits or more), the two sides
# may differ by where its digits end: within this, at the comparison's points, they are equal.
DECIMAL_AGREEMENT = 1e-13

# One argument each, whose sign picks the form.
SWITCHES = (step, Abs, sign, relu, leaky_relu, elu, selu, sp.Heaviside, sp.Abs, sp.sign)
# Atoms with thresholds this module cannot split: the comparison is left undecided where they matter.
OPAQUE = (sp.Piecewise, sp.floor, sp.ceiling, sp.frac, sp.Mod)
LEAVES = 256         # pieces examined per entry before the comparison is left undecided
POINTS = 2           # points sought inside each piece where the two sides differ as frozen functions
ZERO = 1e-25         # |difference| at 50 digits below which two sides agree at a point
STEPS = (-64, -16, -6, -2, -0.5, 0, 0.5, 2, 6, 16, 64)   # offsets tried on one input to reach an interval
DIGITS = 50


def has_thresholds(e) -> bool:
    return bool(sp.sympify(e).atoms(*SWITCHES, sp.Max, sp.Min, *OPAQUE))


@dataclass
class Verdict:
    same: bool | None          # None: a piece could be neither shown equal nor reached
    worst: float = 0.0         # the largest |difference| at a point found inside a piece
    where: str = ""            # the piece where they differ (or the reason left undecided)
    numeric: bool = False      # some piece was equal at its points only, not as frozen functions
    apart: float = 0.0         # the difference in the piece ``where`` names
    reasons: list = field(default_factory=list)


class _Stop(Exception):
    pass


def _frozen(d, rng):
    from derive.scalar.expand import _frozen_zero
    return _frozen_zero(d, rng)


def without_min_max(e):
    """max(a, b) = (a + b + |a − b|)/2 and min(a, b) = (a + b − |a − b|)/2, so that every threshold is an abs
    or a step of one argument (a max of several, a pooling window's, is taken two at a time)."""
    def fold(node):
        args = list(node.args)
        out = args[0]
        for a in args[1:]:
            if isinstance(node, sp.Max):
                out = (out + a + Abs(out - a)) / 2
            else:
                out = (out + a - Abs(out - a)) / 2
        return out
    e = sp.sympify(e)
    if not e.atoms(sp.Max, sp.Min):
        return e
    return e.replace(lambda x: isinstance(x, (sp.Max, sp.Min)), fold)


def _switch(atom):
    """(q, c0, c1) with the atom's argument u = c0 + c1·q, q without a constant term or a constant factor."""
    return _linear(atom.args[0])


def argument(e):
    """q of ``e`` = c0 + c1·q: what the pieces of a threshold on ``e`` are cut along."""
    return _linear(sp.sympify(e))[0]


def _linear(u):
    c0, rest = u.as_coeff_Add()
    c1, q = rest.as_content_primitive() if rest.is_Add else rest.as_coeff_Mul()
    if q.could_extract_minus_sign():
        c1, q = -c1, -q
    return q, c0, c1


def _loosely_zero(d, rng) -> bool:
    """Whether d is 0 with every threshold's atom a variable of its own (the same atoms on both sides, their
    smooth parts written otherwise: 1/(1 + exp(−z)) for σ(z)), at random points to 40 digits: 0 for every value
    of the atoms is 0 for the values each piece gives them."""
    atoms = d.atoms(*SWITCHES)
    if not atoms:
        return False
    from derive.scalar.expand import _numeric_zero
    loose = d.xreplace({a: sp.Dummy() for a in atoms})
    try:
        return _numeric_zero(loose, sorted(loose.free_symbols, key=str), rng, trials=2)[0]
    except (TypeError, ValueError, ArithmeticError):
        return False


def _decisive(atom):
    """The atom whose argument's sign is read first to decide ``atom``'s form: step(relu(z)) is decided by z, the
    argument of the relu its own argument is (|u| − 1/50 by u); any other argument (W2 relu(Z1) + b2, with
    thresholds inside) is cut along as it is, its inner atoms evaluated as they are."""
    q = _switch(atom)[0]
    return _decisive(q) if isinstance(q, SWITCHES) else atom


def _value(atom, positive: bool):
    """The atom's form where its argument is positive (or negative)."""
    from derive.scalar.expand import expo
    u = atom.args[0]
    if isinstance(atom, (step, sp.Heaviside)):
        return sp.Integer(1 if positive else 0)
    if isinstance(atom, (Abs, sp.Abs)):
        return u if positive else -u
    if isinstance(atom, (sign, sp.sign)):
        return sp.Integer(1 if positive else -1)
    if isinstance(atom, relu):
        return u if positive else sp.Integer(0)
    if isinstance(atom, leaky_relu):
        return u if positive else LEAKY_SLOPE * u
    if isinstance(atom, elu):
        return u if positive else expo(u) - 1
    if isinstance(atom, selu):
        return SELU_SCALE * u if positive else SELU_SCALE * SELU_ALPHA * (expo(u) - 1)
    raise TypeError(type(atom).__name__)


def _representative(lo, hi):
    if lo == -sp.oo and hi == sp.oo:
        return sp.Integer(0)
    if lo == -sp.oo:
        return hi - 1
    if hi == sp.oo:
        return lo + 1
    return (lo + hi) / 2


def _number(e, point) -> complex:
    return complex(sp.sympify(e).xreplace(point).evalf(DIGITS))


def compare(a, b, rng, named=None, leaves: int = LEAVES) -> Verdict:
    """Whether the scalars ``a`` and ``b`` are the same function (almost everywhere); see the module docstring.
    ``named(q)`` may give an argument's name for the message (Z₁[1, 2]), or None."""
    a, b = without_min_max(a), without_min_max(b)
    verdict = Verdict(True)
    count = [0]
    try:
        _walk(a, b, {}, rng, verdict, count, leaves, named or (lambda q: None))
    except _Stop:
        pass
    if verdict.same is True and verdict.reasons:
        verdict.same = None
        verdict.where = verdict.reasons[0]
    return verdict


def _walk(a, b, bounds, rng, verdict, count, leaves, named, last=None):
    count[0] += 1
    if count[0] > leaves:
        verdict.reasons.append(f"its breakpoints cut it into more than {leaves} pieces")
        raise _Stop
    d = a - b
    if _frozen(d, rng):
        return
    if _loosely_zero(d, rng):
        verdict.numeric = True
        return
    if bounds:
        # The atoms left are evaluated at a point as they are: d there is the two sides' difference, so a
        # point of this piece where d is not 0 settles it, before any further split.
        point = _inside(d, bounds, rng)
        if point is not None:
            _differs(d, [point], {last: bounds[last]}, verdict, named, leaf=False)
    if d.atoms(*OPAQUE):
        verdict.reasons.append(f"it holds {sorted({type(x).__name__ for x in d.atoms(*OPAQUE)})[0]}, whose "
                               "pieces are not split")
        raise _Stop
    mine, theirs = a.atoms(*SWITCHES), b.atoms(*SWITCHES)
    groups = {}
    for atom in mine | theirs:
        q, c0, c1 = _switch(atom)
        groups.setdefault(q, []).append((atom, c0, c1))
    # Split first where the two sides' atoms differ (step(Z1 − 1/100) against step(Z1)); where they have the same
    # atoms but still differ as frozen functions, on any of them.
    wanted = {_switch(_decisive(x))[0] for x in mine ^ theirs} or {_switch(_decisive(x))[0] for x in mine | theirs}
    if not wanted:
        _leaf(d, bounds, rng, verdict, count, leaves, named)
        return
    q = max(wanted, key=lambda k: (len({-c0 / c1 for _, c0, c1 in groups[k]}), -sp.count_ops(k), str(k)))
    lo, hi = bounds.get(q, (-sp.oo, sp.oo))
    cuts = sorted({t for t in (-c0 / c1 for _, c0, c1 in groups[q]) if lo < t < hi})
    edges = [lo, *cuts, hi]
    for left, right in zip(edges, edges[1:]):
        r = _representative(left, right)
        swap = {atom: _value(atom, bool(c0 + c1 * r > 0)) for atom, c0, c1 in groups[q]}
        _walk(a.xreplace(swap), b.xreplace(swap), {**bounds, q: (left, right)}, rng, verdict, count, leaves, named,
              q)


def _leaf(d, bounds, rng, verdict, count, leaves, named):
    """A piece with no threshold left to split, where the two sides differ as frozen functions: its points."""
    points = [p for p in (_inside(d, bounds, rng) for _ in range(POINTS)) if p is not None]
    if not points:
        verdict.reasons.append(f"no point could be found where {_describe(bounds, named)}, where the two sides "
                               "would differ")
        return
    _differs(d, points, bounds, verdict, named, leaf=True)


def _differs(d, points, bounds, verdict, named, leaf):
    """Notes d's values at ``points`` of a piece; stops the comparison where they show a difference."""
    try:
        worst = max(abs(_number(d, p)) for p in points)
    except (TypeError, ValueError, ArithmeticError):
        return
    if worst < ZERO:
        verdict.numeric = verdict.numeric or leaf
        return
    verdict.worst = max(verdict.worst, worst)
    if verdict.same is not False or worst > verdict.apart:
        verdict.where, verdict.apart = _describe(bounds, named), worst
    verdict.same = False
    if worst >= DECIMAL_AGREEMENT:
        raise _Stop


def _describe(bounds, named) -> str:
    parts = []
    for q, (lo, hi) in bounds.items():
        name = named(q) or sp.sstr(q)
        if lo == -sp.oo:
            parts.append(f"{name} < {sp.sstr(hi)}")
        elif hi == sp.oo:
            parts.append(f"{name} > {sp.sstr(lo)}")
        else:
            parts.append(f"{sp.sstr(lo)} < {name} < {sp.sstr(hi)}")
    return ", ".join(parts)


def _inside(d, bounds, rng):
    """A point (symbol → 50-digit Float) where every argument q of ``bounds`` lies strictly inside its interval,
    the other symbols random in [-0.9, 0.9]; None where none was found. The search runs in float64; the point
    found is checked again with 50 digits."""
    symbols = set(d.free_symbols)
    for q in bounds:
        symbols |= q.free_symbols
    symbols = sorted(symbols, key=str)
    where = {s: k for k, s in enumerate(symbols)}
    fast = {q: _compiled(q, symbols) for q in bounds}
    uses = {s: sum(s in q.free_symbols for q in bounds) for s in symbols}
    for _ in range(TRIES):
        values = [rng.randint(-90, 90) / 100 for _ in symbols]
        for q, (lo, hi) in bounds.items():
            if _between(fast[q](values), lo, hi):
                continue
            movable = sorted(q.free_symbols, key=lambda s: (uses[s], rng.random()))
            for s in movable[:4]:
                if _move(fast[q], lo, hi, where[s], values):
                    break
        point = {s: sp.Float(v, DIGITS) for s, v in zip(symbols, values)}
        if all(_within(q, lo, hi, point) for q, (lo, hi) in bounds.items()):
            return point
    return None


TRIES = 3
_COMPILED = {}


def _compiled(q, symbols):
    """q as a float64 function of the values of ``symbols`` (a list): None where it is not finite there."""
    key = (q, tuple(symbols))
    if key not in _COMPILED:
        if len(_COMPILED) > 4096:
            _COMPILED.clear()
        _COMPILED[key] = _lambdified(q, symbols)
    return _COMPILED[key]


def _lambdified(q, symbols):
    import numpy as np
    from derive.network.scalar_functions import SCALAR_FUNCTIONS
    table = {row.sympy.__name__: row.numpy for row in SCALAR_FUNCTIONS
             if row.numpy is not None and isinstance(row.sympy, type)}
    table["expo"] = np.exp
    try:
        f = sp.lambdify(symbols, q, modules=[table, "numpy"])
    except Exception:   # noqa: BLE001 - a function NumPy cannot compute: the 50-digit evaluation instead
        f = None

    def value(values):
        if f is not None:
            try:
                with np.errstate(all="ignore"):
                    v = complex(f(*values))
                if np.isfinite(v.real) and abs(v.imag) < 1e-12:
                    return v.real
                return None
            except Exception:   # noqa: BLE001 - as above
                pass
        try:
            v = _number(q, {s: sp.Float(x, DIGITS) for s, x in zip(symbols, values)})
        except (TypeError, ValueError, ArithmeticError):
            return None
        return v.real if abs(v.imag) < 1e-30 else None
    return value


def _between(v, lo, hi) -> bool:
    return v is not None and (lo == -sp.oo or v > float(lo)) and (hi == sp.oo or v < float(hi))


def _within(q, lo, hi, point) -> bool:
    try:
        v = _number(q, point)
    except (TypeError, ValueError, ArithmeticError):
        return False
    if abs(v.imag) > 1e-30:
        return False
    return (lo == -sp.oo or v.real > lo) and (hi == sp.oo or v.real < hi)


def _targets(lo, hi):
    """Values of q to aim at inside (lo, hi): near each end, and its middle."""
    if lo == -sp.oo and hi == sp.oo:
        return [0.0]
    if lo == -sp.oo:
        h = float(hi)
        return [h - 1e-3 * max(1.0, abs(h)), h - 0.5, h - 4]
    if hi == sp.oo:
        l_ = float(lo)
        return [l_ + 1e-3 * max(1.0, abs(l_)), l_ + 0.5, l_ + 4]
    l_, h = float(lo), float(hi)
    return [(l_ + h) / 2, l_ + (h - l_) / 4, h - (h - l_) / 4]


def _move(f, lo, hi, k, values) -> bool:
    """Moves ``values[k]`` until f(values) lies in (lo, hi): a change of sign of f − target along it, then
    bisection. True where it did (``values`` then holds the point), False with ``values`` as it was."""
    start = values[k]

    def at(v):
        values[k] = v
        return f(values)
    samples = [(x, at(x)) for x in sorted({start + o for o in STEPS})]
    samples = [(x, v) for x, v in samples if v is not None]
    for target in _targets(lo, hi):
        for (x0, v0), (x1, v1) in zip(samples, samples[1:]):
            if (v0 - target) * (v1 - target) > 0:
                continue
            for _ in range(100):
                mid = (x0 + x1) / 2
                vm = at(mid)
                if vm is None or mid in (x0, x1):
                    break
                if (v0 - target) * (vm - target) <= 0:
                    x1, v1 = mid, vm
                else:
                    x0, v0 = mid, vm
                if _between(vm, lo, hi) and abs(vm - target) <= 1e-3 * max(abs(target), 1e-12) + 1e-15:
                    return True
            for x in ((x0 + x1) / 2, x0, x1):
                if _between(at(x), lo, hi):
                    return True
    values[k] = start
    return False

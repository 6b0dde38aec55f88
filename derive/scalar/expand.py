"""The scalar tier: the same graph expanded to explicit SymPy scalars, one symbol per weight.

Two uses. Printing: per-neuron forward equations and error signals for one example, and the
gradient of each weight. Checking: the loss is expanded at the network's sizes (batch of ``CHECK_M``
examples), differentiated by ``sympy.diff`` with respect to every weight symbol, and compared with the
matrix-tier gradient expanded at the same sizes. That comparison is independent of reverse mode: it
shares only the forward graph.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import sympy as sp

from derive.graph.build import Node, topo_order
from derive.graph.names import GREEK, parts
from derive.run.worker import run, stream
from derive.scalar.render import render
from derive.graph.symbols import m as m_sym
from derive.ops import lookup

MAX_WEIGHTS = 80
MAX_WIDTH = 9
CHECK_M = 2
# Time for the exact check of one network: past it, the parameters left are checked by 50-digit
# central differences (see ``check``).
CHECK_SECONDS = 60.0
VIEW_SECONDS = 60.0   # the per-neuron equations alone (one example, names kept): normally well under a second


class expo(sp.Function):
    """exp as an opaque atom: SymPy merges exp(a)*exp(b) into exp(a + b), which would hide that two
    sides are the same rational function of the same exponentials. Its derivative is itself."""

    def fdiff(self, argindex=1):
        return expo(self.args[0])

    def _eval_evalf(self, prec):
        return sp.exp(self.args[0])._eval_evalf(prec)


class ScalarTooLarge(ValueError):
    """The scalar view of a network with too many weights to expand one by one."""


def _base(name: str):
    base, digits = parts(name)
    return GREEK.get(base, base.lower()), digits


def entry_symbol(name: str, i: int, j: int, shape, batch_axis, m_value) -> sp.Symbol:
    """Entry (i, j) of matrix ``name`` as a symbol such as w1_1_2 (layer 1, row 1, column 2).

    The example index comes first; it is dropped in one-example views (m = 1), and the unit axis of
    a bias vector is dropped too."""
    base, layer = _base(name)
    idx = [i + 1, j + 1]
    if batch_axis is not None:
        ex, unit = idx[batch_axis], idx[1 - batch_axis]
        idx = [unit] if m_value == 1 else [ex, unit]
    else:
        idx = [v for v, d in zip(idx, shape) if d != 1] or [1]
    return sp.Symbol(f"{base}{layer}_" + "_".join(map(str, idx)))


def _batch_axis(node: Node):
    for k, d in enumerate(node.shape):
        if d == m_sym:
            return k
    return None


class Expander:
    """Evaluates graph nodes entry by entry, as explicit SymPy expressions, at batch size ``m_value``.

    Each operation expands by its own rule (``derive.ops``: ``Op.expand``) over NumPy arrays of SymPy
    expressions, so any rank works; a rank-2 result is handed out as a ``sympy.Matrix``.
    ``layered=True`` keeps named intermediate nodes (Z1, A1, delta2) as symbols of their entries, for
    printing per-neuron equations; ``layered=False`` expands everything down to x, y and weights."""

    def __init__(self, model, m_value: int, layered: bool, targets=None, exp=sp.exp):
        self.model, self.m, self.layered, self.exp = model, m_value, layered, exp
        self.memo: dict = {}
        self.targets = targets
        self.subs = {m_sym: sp.Integer(m_value)}

    def concrete(self, d):
        """A dimension (or a shape) with the batch size put in, as int (or a tuple of ints)."""
        if isinstance(d, tuple):
            return tuple(self.concrete(x) for x in d)
        return int(sp.sympify(d).subs(m_sym, self.m))

    def symbols(self, node: Node):
        """One symbol per entry of a leaf or named node: w1_1_2 for a matrix, x_1_2_3 for rank 3."""
        if node.rank != 2:
            shape = self.concrete(node.shape)
            out = np.empty(shape, dtype=object)
            one = self.m == 1 and node.shape and node.shape[0] == m_sym  # one example: no example index
            for index in np.ndindex(*shape):
                shown = index[1:] if one else index
                out[index] = sp.Symbol(f"{_base(node.name)[0]}{_base(node.name)[1]}_"
                                       + "_".join(str(i + 1) for i in shown))
            return out
        r, c = self.concrete(node.shape[0]), self.concrete(node.shape[1])
        axis = _batch_axis(node)
        return sp.Matrix(r, c, lambda i, j: entry_symbol(node.name, i, j, (r, c), axis, self.m))

    indices = None   # the token indices of an embedding's input, as integers (they select, they are not summed)

    def leaf(self, node: Node):
        if node.role == "target" and self.targets is not None:
            return self.targets
        if node is self.model.X and getattr(self.model, "vocab", None):
            return self.index_values()
        return self.symbols(node)

    def index_values(self) -> np.ndarray:
        """The input's indices: those given (``indices``), or a fixed pattern that repeats an index."""
        shape = self.concrete(self.model.X.shape)
        if self.indices is not None:
            return np.asarray(self.indices).astype(int).reshape(shape).astype(object)
        flat = [(k * 2) % (self.model.vocab if self.model.vocab < 3 else 3) for k in range(int(np.prod(shape)))]
        return np.array(flat, dtype=object).reshape(shape)

    def __call__(self, node: Node):
        if node not in self.memo:
            for n in topo_order(node):
                if n not in self.memo:
                    self.memo[n] = self._eval(n, top=n is node)
        return _handed_out(self.memo[node])

    def _eval(self, n: Node, top: bool):
        if self.layered and n.name and n.role in ("pre", "act", "delta") and not top:
            return self.symbols(n)
        return self.compute(n)

    def compute(self, n: Node):
        """The node's own definition, its arguments taken from the memo."""
        args = [_entries(self.memo[a] if a in self.memo else self(a)) for a in n.args]
        return _handed_out(_entries(lookup(n.op).expand(n, args, self)))


def _entries(value) -> np.ndarray:
    """A SymPy Matrix (or an array) as a NumPy array of its entries."""
    if isinstance(value, np.ndarray):
        return value
    return np.array(value.tolist(), dtype=object).reshape(value.shape)


def flat(value) -> list:
    """The entries of a Matrix or an array of any rank, in row-major order."""
    return list(_entries(value).ravel())


def _filled(value, draw) -> np.ndarray:
    """An array of the shape of ``value`` (a Matrix or an array) with ``draw()`` in every entry."""
    out = np.empty(_entries(value).shape, dtype=object)
    for index in np.ndindex(*out.shape):
        out[index] = draw()
    return out


def _handed_out(value):
    """Rank-2 results leave as sympy.Matrix (what printers and checks index as M[i, j], M.rows)."""
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return sp.Matrix(value.tolist()) if value.size else sp.zeros(*value.shape)
    return value


def one_hot_targets(model, m_value: int):
    """Concrete one-hot targets when the loss assumes them (categorical cross-entropy)."""
    Y = model.Y
    axis = Y.attrs.get("one_hot_axis")
    if axis is None:
        return None
    e = Expander(model, m_value, False)
    shape = e.concrete(Y.shape)
    k = shape[axis]
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):   # each row's class: one more than the sum of its other indices
        rest = sum(i for a, i in enumerate(index) if a != axis)
        out[index] = sp.Integer(int(index[axis] == (rest + 1) % k))
    return _handed_out(out)


def _frozen_zero(d, rng, trials=2) -> bool:
    """True when d is identically 0 as a rational function of its function applications.

    Every function application (tanh(...), expo(...), log(...)) and every non-integer power is
    frozen into an independent variable; what is left is a rational function. It is evaluated in
    exact rational arithmetic at random points with coordinates from a set of 2 * 10^6 values: a
    nonzero rational function of degree D vanishes at such a point with probability at most
    D / 10^6 (Schwartz-Zippel), so two zero values make it zero but for odds far below the error
    of any float check. Polynomial cancellation (``sympy.cancel``) decides the same question but
    expands products of sums, which took minutes on three-layer networks.
    """
    if d == 0:
        return True
    atoms = {a for a in d.atoms(sp.Function, sp.Pow) if not (a.is_Pow and a.exp.is_Integer)}
    frozen = d.xreplace({a: sp.Dummy() for a in sorted(atoms, key=sp.count_ops, reverse=True)})
    free = sorted(frozen.free_symbols, key=str)
    for _ in range(trials):
        point = {s: sp.Rational(rng.randint(-10**6, 10**6), rng.randint(1, 997)) for s in free}
        value = frozen.xreplace(point)
        if value.has(sp.zoo, sp.nan):
            continue  # a pole: try another point
        if value != 0:
            return False
    return True


def _numeric_zero(d, symbols, rng, digits=40, trials=3) -> tuple[bool, float]:
    """d at random points, every symbol a 50-digit Float: SymPy then evaluates each function
    application as it builds it, so nothing symbolic is left to simplify (or to hang on)."""
    worst = 0.0
    for _ in range(trials):
        point = {s: sp.Float(sp.Rational(rng.randint(-90, 90), 100), 50) for s in symbols}
        v = abs(complex(d.xreplace(point).evalf(digits)))
        worst = max(worst, v)
    return worst < 1e-25, worst


def _numeric_leaves(model, ex, rng, targets):
    """50-digit values for every leaf but the parameters: inputs, targets, masks."""
    vals = {}
    for node in [model.X, model.Y] + list(model.masks):
        if node is model.Y and targets is not None:
            vals[node] = targets
            continue
        if node is model.X and getattr(model, "vocab", None):
            vals[node] = ex.index_values()
            continue
        M = ex.symbols(node)
        lo, hi = (10, 90) if node is model.Y else (-90, 90)  # targets in (0, 1): bce stays finite
        vals[node] = _filled(M, lambda: sp.Float(sp.Rational(rng.randint(lo, hi), 100), 50))
    return vals


def _difference_check(d, p, m_value, rng, targets, constants):
    """(ok, worst, counterexample) for parameter ``p`` without any symbolic expansion: the loss is
    evaluated with 50-digit numbers in every leaf, and its central difference (step 1e-20, error
    about 1e-40 of the third derivative) is compared with the matrix-form gradient at the point."""
    model = d.model
    subs = {m_sym: sp.Integer(m_value), **{k: sp.Float(v, 50) for k, v in constants.items()}}

    def run(node, params):
        ex = Expander(model, m_value, False, targets)
        ex.subs, ex.digits = subs, 50
        ex.memo.update(leaves)
        ex.memo.update(params)
        return ex(node)

    probe = Expander(model, m_value, False, targets)
    leaves = _numeric_leaves(model, probe, rng, targets)
    params = {q: _filled(probe.symbols(q), lambda: sp.Float(sp.Rational(rng.randint(-90, 90), 100), 50))
              for q in model.params}
    G = flat(run(d.grads[p.name], params))
    h = sp.Float("1e-20", 50)
    # One random direction u for the whole parameter: <G, u> against the loss's central difference
    # along u. Two expansions of the loss per parameter, not two per weight; a wrong entry shows in
    # <G, u> for all but a measure-zero set of directions.
    u = [sp.Float(sp.Rational(rng.randint(-90, 90) or 1, 100), 50) for _ in G]
    hi, lo = params[p].copy(), params[p].copy()
    for k, step in enumerate(u):
        hi.flat[k] += h * step
        lo.flat[k] -= h * step
    fd = (flat(run(model.J, {**params, p: hi}))[0] - flat(run(model.J, {**params, p: lo}))[0]) / (2 * h)
    along = sum(g * step for g, step in zip(G, u))
    scale = max(1.0, float(sp.sqrt(sum(abs(complex(sp.N(g, 30))) ** 2 for g in G))))
    err = abs(complex(sp.N(fd - along, 30))) / scale
    if err > 1e-15:
        return False, err, f"{p.name}: along a random direction, a 50-digit central difference of the loss and " \
                           f"the matrix form differ by {err:.3g}"
    return True, err, ""


@dataclass
class ParamCheck:
    name: str
    ok: bool
    method: str           # "exact" (rational arithmetic, functions frozen), "numeric" (40 digits at
                          # random points) or "difference" (50-digit central differences, past the time limit)
    weights: int
    worst: float = 0.0
    counterexample: str = ""


@dataclass
class ScalarView:
    derivation: object
    forward: list = field(default_factory=list)   # (symbol, expression) per neuron, one example
    loss: tuple = ()
    deltas: list = field(default_factory=list)
    grads: list = field(default_factory=list)     # (param name, entry symbol, expression)
    checks: list = field(default_factory=list)
    m_check: int = CHECK_M

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def render(self, fmt: str = "text") -> str:
        return render(self, fmt)


def size_check(model) -> int:
    n = sum(int(sp.prod(p.shape)) for p in model.params)
    # a layer's width: the entries of one example's activation (h·w·c for a convolution's)
    widths = [int(sp.prod(model.input_shape))] + [int(sp.prod([d for d in l.A.shape if d != m_sym]))
                                                   for l in model.layers]
    if n > MAX_WEIGHTS or max(widths) > MAX_WIDTH:
        raise ScalarTooLarge(
            f"the scalar view expands every weight one by one: this network has {n} weights and layer "
            f"widths {model.short_size_text} (limits: {MAX_WEIGHTS} weights, width {MAX_WIDTH} entries); "
            "use the matrix view (derivax show MODEL without --scalar)")
    return n


MAX_CHECK_M = 8   # the largest batch the exact check expands: every entry of every example is one expression


def _whole(value, name: str, where: str, low: int, high: int) -> int:
    """A whole-number setting in [low, high] (a NumPy integer too), or a TypeError/ValueError naming it."""
    import numbers
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be a whole number from {low} to {high}, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{where}: {name} must be from {low} to {high}, not {value}")
    return int(value)


def _seconds(value, where: str) -> float:
    """A time limit: a finite number of seconds above 0, or a TypeError/ValueError naming it."""
    import math
    import numbers
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: seconds must be a number of seconds above 0, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where}: seconds must be a finite number of seconds above 0, not {value!r}")
    return float(value)


def check(d, m_value: int = CHECK_M, seed: int = 0, seconds: float = CHECK_SECONDS, params=None) -> list:
    """Matrix-form gradients expanded at batch size ``m_value`` versus sympy.diff of the expanded loss.

    Each entry is decided exactly (``_frozen_zero``), else to 40 digits at random points, parameter
    after parameter in a child process (``derive.run.worker``). SymPy can take minutes on some
    expansions: the parameters not decided within ``seconds`` are checked instead by 50-digit central
    differences of the loss (``_difference_check``), which builds no symbolic expression and so
    always finishes. ``d`` may also be a Network or a built Model, derived first. ``params`` (a name or
    a list of names) checks those parameters alone; each parameter draws its random points from its own
    generator, so its verdict is the one the check of every parameter gives it."""
    from derive.reverse.derivation import as_derivation
    m_value = _whole(m_value, "m_value (the batch size the loss is expanded at)", "scalar_check", 1, MAX_CHECK_M)
    seed = _whole(seed, "seed", "scalar_check", 0, 2**32 - 1)
    seconds = _seconds(seconds, "scalar_check")
    d = as_derivation(d, "scalar_check")
    model = d.model
    size_check(model)
    wanted = _wanted(d, params)
    targets = one_hot_targets(model, m_value)
    decided, _ = stream(_exact_verdicts, d, m_value, seed, targets, wanted, seconds=seconds)
    verdicts = dict(decided)
    out = []
    for p in wanted:
        n = int(sp.prod(p.shape).subs(m_sym, m_value))
        if p.name in verdicts:
            ok, method, worst, counter = verdicts[p.name]
        else:
            ok, worst, counter = _difference_check(d, p, m_value, _rng(seed + 1, p), targets, model.constants)
            method = "difference"
        out.append(ParamCheck(p.name, ok, method, n, worst, counter))
    return out


def _wanted(d, params) -> list:
    """The parameters (leaf nodes) named in ``params``, each once, in the order named (as the matrix view lists
    their gradients); every one, in the model's order, where None. A name the model lacks is a KeyError naming
    the parameters it has (``Derivation._params``)."""
    names = d._params(params)
    if names is None:
        return list(d.model.params)
    by_name = {str(p.name): p for p in d.model.params}
    return [by_name[n] for n in dict.fromkeys(map(str, names))]


def _rng(seed: int, p) -> random.Random:
    """The random points of parameter ``p``'s check: its own generator, the same whichever others are checked."""
    return random.Random(f"{seed}/{p.name}")


def _exact_verdicts(d, m_value, seed, targets, wanted=None):
    """Yields (parameter name, (ok, method, worst, counterexample)), parameter by parameter (those of
    ``wanted``, or every one)."""
    model = d.model
    ex = Expander(model, m_value, False, targets, exp=expo)
    J = ex(model.J)[0, 0]
    free = sorted(J.free_symbols, key=str)
    for p in model.params if wanted is None else wanted:
        yield str(p.name), _exact_param(d, ex, J, free, p, _rng(seed, p))


def _exact_param(d, ex, J, free, p, rng):
    """(ok, method, worst, counterexample) for the entries of ``p``, symbolically."""
    method, worst = "exact", 0.0
    for w, g in zip(flat(ex.symbols(p)), flat(ex(d.grads[p.name]))):
        diff = sp.diff(J, w) - g
        if _frozen_zero(diff, rng):
            continue
        same, err = _numeric_zero(diff, free, rng)
        worst = max(worst, err)
        if same:
            method = "numeric"
            continue
        return False, method, worst, f"{w}: sympy.diff and the matrix form differ by {err:.3g}"
    return True, method, worst, ""


def scalar_view(d, seconds: float = VIEW_SECONDS, params=None) -> ScalarView:
    """Per-neuron equations for one example, per-weight gradients, and the exact check. The equations
    are built in a child process (``derive.run.worker``): TimeLimitExceeded past ``seconds``. ``d`` may also be a
    Network or a built Model, derived first. ``params`` (a name or a list of names, as the matrix view's
    ``params``) expands and checks those parameters' gradients alone, with the error signals they use: each
    line is the one the view of every parameter has."""
    from derive.reverse.derivation import as_derivation
    seconds = _seconds(seconds, "scalar_view")
    d = as_derivation(d, "scalar_view")
    model = d.model
    size_check(model)
    wanted = _wanted(d, params)
    view = ScalarView(d)
    view.forward, view.loss, view.deltas, view.grads = run(
        _equations, d, model, None if params is None else wanted, seconds=seconds,
        what="the scalar view's per-neuron equations")
    view.checks = check(d, params=None if params is None else [str(p.name) for p in wanted])
    return view


def _equations(d, model, wanted=None) -> tuple:
    """(forward, loss, deltas, grads) equations of one example, as the scalar view lists them; with ``wanted``
    (parameters), their gradients alone and the error signals those use."""
    from derive.printing.document import _needed_deltas
    needed = None if wanted is None else _needed_deltas(d, [str(p.name) for p in wanted])
    view = SimpleNamespace(forward=[], loss=(), deltas=[], grads=[])
    lay = Expander(model, 1, True, None)
    for n in model.forward:
        if n is model.J:
            continue
        lhs, rhs = lay.symbols(n), lay.compute(n) if n.op != "leaf" else None
        lay.memo[n] = lhs
        view.forward += list(zip(flat(lhs), flat(rhs)))
    view.loss = (sp.Symbol("J"), lay.compute(model.J)[0, 0])
    for l, delta in sorted(d.deltas.items(), reverse=True):
        if needed is not None and delta not in needed:
            continue
        lhs, rhs = lay.symbols(delta), lay.compute(delta)
        lay.memo[delta] = lhs
        view.deltas += list(zip(flat(lhs), flat(rhs)))
    for p in model.params if wanted is None else wanted:
        lhs, rhs = lay.symbols(p), lay(d.grads[p.name])
        view.grads += [(p.name, a, b) for a, b in zip(flat(lhs), flat(rhs))]
    return view.forward, view.loss, view.deltas, [(str(n), s_, e) for n, s_, e in view.grads]

"""The activation and loss tables.

An activation is a SymPy ``Lambda`` of one variable; a loss is a ``Lambda`` of (prediction, target)
giving the loss of one entry. Their derivatives are never written here: reverse mode differentiates
them with ``sympy.diff``, so a function the user writes goes through exactly the same machinery.
The scalar functions they may call are the rows of ``derive.network.scalar_functions``; those SymPy lacks
are ``Function`` classes there, whose ``fdiff`` is the derivative (SymPy's own rule table). Kinks
follow one stated convention: the derivative at 0 is the left-hand one, relu'(0) = step(0) = 0 and
leaky_relu'(0) = 1/100, as in JAX and PyTorch.
"""
from __future__ import annotations

import re

import sympy as sp

from derive.graph.names import clip
from derive.network.scalar_functions import SCALAR_FUNCTIONS
# The function classes, imported from here by the rest of derivax and by users.
from derive.network.scalar_functions import LEAKY_SLOPE, Abs, leaky_relu, relu, sigmoid, softplus, step  # noqa: F401

z = sp.Symbol("z")
yhat, y = sp.symbols("yhat y")

KINK_CONVENTION = "at a kink the derivative takes its value from the left: relu'(0) = step(0) = 0"


# Named activations that are formulas of the scalar functions: they print as what they are (swish's
# A = Z ⊙ σ(Z)), and their derivatives are sympy.diff's, as a formula's. gelu is the exact one (Keras's and
# PyTorch's default; jax.nn.gelu's default is gelu_tanh, the tanh approximation). Each with the weight
# initialisation of relu-like layers.
COMPOSITE_ACTIVATIONS = {
    "swish": z * sigmoid(z),
    "silu": z * sigmoid(z),
    "gelu": z * (1 + sp.erf(z / sp.sqrt(2))) / 2,
    "gelu_tanh": z * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (z + sp.Float("0.044715") * z**3))) / 2,
    "mish": z * sp.tanh(softplus(z)),
}
COMPOSITE_INIT = "he"

# Elementwise activations, the scalar functions a layer may name. softmax is not elementwise: it is its
# own graph operation.
ACTIVATIONS = {"identity": sp.Lambda(z, z),
               **{f.name: sp.Lambda(z, f.sympy(z)) for f in SCALAR_FUNCTIONS if f.activation},
               **{name: sp.Lambda(z, expr) for name, expr in COMPOSITE_ACTIVATIONS.items()}}
ACTIVATION_NAMES = tuple(ACTIVATIONS) + ("softmax",)
# Activations initialised as relu's (He): the rows marked so, and the formulas above.
HE_ACTIVATIONS = frozenset([f.name for f in SCALAR_FUNCTIONS if f.init == "he"]
                           + ([*COMPOSITE_ACTIVATIONS] if COMPOSITE_INIT == "he" else []))

# Per-entry losses L(yhat, y); the network's loss is J = (1/m) * sum over examples and outputs.
LOSSES = {
    "mse": sp.Lambda((yhat, y), (yhat - y) ** 2),
    "bce": sp.Lambda((yhat, y), -(y * sp.log(yhat) + (1 - y) * sp.log(1 - yhat))),
    "ce": sp.Lambda((yhat, y), -y * sp.log(yhat)),
}
# Other libraries' names of the table's losses, suggested when one is written (Keras's, PyTorch's).
LOSS_ALIASES = {"categorical_crossentropy": "ce", "crossentropy": "ce", "cross_entropy": "ce", "nll": "ce",
                "sparse_categorical_crossentropy": "ce", "binary_crossentropy": "bce", "bcewithlogits": "bce",
                "mean_squared_error": "mse", "l2": "mse", "squared_error": "mse", "hinge": "svm",
                "multi_margin": "svm"}
LOSS_TITLES = {"mse": "mean squared error", "bce": "binary cross-entropy",
               "ce": "categorical cross-entropy", "svm": "multiclass hinge (SVM)"}

# Functions a formula may call: the names printed, and the ones a user may write in z or yhat, y (the
# named formulas too: gelu(z) in a formula is its expression).
FUNCTIONS = {f.name: f.sympy for f in SCALAR_FUNCTIONS}
FUNCTIONS.update({name: sp.Lambda(z, expr) for name, expr in COMPOSITE_ACTIVATIONS.items()})

# The SymPy function classes that the lowering to JAX and the NumPy evaluator compute (sqrt is a power).
COMPUTABLE = tuple(c for f in SCALAR_FUNCTIONS for c in f.classes)
ALIASES = {c: f.sympy for f in SCALAR_FUNCTIONS for c in f.also}


# The algebra around those calls: what an expression may hold besides them.
ALGEBRA = (sp.Add, sp.Mul, sp.Pow, sp.Symbol, sp.Number, sp.NumberSymbol, sp.core.numbers.ImaginaryUnit)


class NetworkError(ValueError):
    """A network declaration that cannot be built; the message names the layer and the shapes."""


class DerivativeError(NetworkError):
    """A user function whose derivative SymPy cannot give in closed form."""


_DERIVATIVES: dict = {}   # (fn, var_index) -> its derivative: the layers of a deep network share one


def derivative(fn: sp.Lambda, var_index: int = 0, label: str = "function") -> sp.Expr:
    """d fn / d (its var_index-th variable), refusing results that are not closed form. An activation's was
    computed in a child process under a limit when it was read (``_finite_slope``), and is taken from there."""
    known = _DERIVATIVES.get((fn, var_index))
    if known is not None:
        return known
    var = fn.variables[var_index]
    try:
        d = sp.diff(fn.expr, var)
    except Exception as exc:  # SymPy raises assorted types here
        raise DerivativeError(f"cannot differentiate {label} {fn.expr}: {exc}") from None
    return _known_derivative(fn, var_index, d, label)


def _known_derivative(fn: sp.Lambda, var_index: int, d: sp.Expr, label: str) -> sp.Expr:
    """``d``, the derivative of ``fn`` in its var_index-th variable, kept for the next ``derivative`` call; a
    DerivativeError where it is not closed form."""
    if d.has(sp.Derivative, sp.Subs):
        raise DerivativeError(f"SymPy cannot differentiate {label} {fn.expr} in closed form "
                              f"(it leaves {d})")
    if len(_DERIVATIVES) >= 4096:
        _DERIVATIVES.clear()
    _DERIVATIVES[fn, var_index] = d
    return d


def parts(expr, most: int) -> int:
    """The number of parts of ``expr`` (each operation, function, symbol and number, as often as it occurs), counted
    up to ``most + 1``: iterative, and never past that."""
    stack, count = [expr], 0
    while stack and count <= most:
        e = stack.pop()
        count += 1
        stack.extend(getattr(e, "args", ()))
    return count


# Activations with a parameter, written as formulas of the table's functions (exp of −relu(−z) = exp(min(z, 0))
# never overflows): what a spec such as elu(0.5) or leaky_relu:alpha=0.2 asks for.
PARAMETRIC = {"elu": "(relu(z) + {0}*(exp(-relu(-z)) - 1))", "leaky_relu": "(relu(z) - {0}*relu(-z))"}
_PARAMETER = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:\(|:)\s*(?:(?:alpha|negative_slope|slope)\s*=\s*)?"
                        r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*\)?\s*$")


def parametrized(text: str) -> bool:
    """Whether ``text`` is an activation's name with a parameter after it (elu(0.5), leaky_relu:alpha=0.2),
    which derivax's names do not take: not a formula of the function at that number."""
    found = _PARAMETER.match(text)
    return bool(found) and found.group(1).lower() in ACTIVATION_NAMES


def unknown_activation(text: str, formulas: str = "or a formula in z") -> str:
    """Why ``text`` names no activation: the names near it (GELU for gelu, LeakyReLU for leaky_relu),
    and for a parameter written after a name (elu(0.5), leaky_relu:alpha=0.2) the formula that has it."""
    import difflib
    found = _PARAMETER.match(text)
    if found:
        name, value = found.group(1).lower(), found.group(2)
        if name in PARAMETRIC:
            return (f"activation {text!r}: {name} takes no parameter here ({name}'s is fixed: "
                    f"{'α = 1' if name == 'elu' else 'slope 0.01'}); with {value}, write the formula "
                    f"{PARAMETRIC[name].format(value)}")
        if name in ACTIVATION_NAMES:
            return f"activation {text!r}: {name} takes no parameter"
    if text in FUNCTIONS and text not in ACTIVATIONS:
        return f"{text} is a function of formulas, not a named activation: write the formula ({text}(z)) for it"
    plain = re.sub(r"[^a-z0-9]", "", text.lower())
    near = [n for n in ACTIVATION_NAMES if n.replace("_", "") == plain]
    near += [n for n in difflib.get_close_matches(text.lower(), ACTIVATION_NAMES, n=2, cutoff=0.75) if n not in near]
    hint = f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else ""
    return f"unknown activation {text!r}{hint}; valid: {', '.join(ACTIVATION_NAMES)}, {formulas}"


class ExpressionTooLarge(NetworkError):
    """A SymPy expression given from Python nested or grown past what a formula string may be."""


def size_checked(expr, label: str) -> None:
    """Refuse a SymPy expression given from Python (a formula string is checked as it is read) past a
    formula string's limits (``derive.formula.parse``), before any SymPy
    work on it: functions applied inside one another more than MAX_CALL_DEPTH deep (SymPy's evaluation of
    tanh(tanh(...(z))) grows with each level: 10 levels take a minute), more than 2·MAX_DEPTH levels of
    operations (each operation of a string can be two of SymPy's: a − b is Add(a, Mul(−1, b))), or more
    than MAX_LENGTH parts. Iterative and bounded, so that no printing or recursion of SymPy's is reached;
    ``label`` (the layer's activation, the loss) names the culprit, never the expression itself."""
    from derive.formula.errors import MAX_CALL_DEPTH, MAX_DEPTH, MAX_LENGTH
    stack, count = [(expr, 0, 0)], 0
    while stack:
        e, depth, calls = stack.pop()
        count += 1
        if count > MAX_LENGTH:
            raise ExpressionTooLarge(f"{label}: the SymPy expression has more than {MAX_LENGTH} parts (at most "
                                     f"{MAX_LENGTH}, as a formula has at most {MAX_LENGTH} characters)")
        if isinstance(e, sp.Function):
            calls += 1
            if calls > MAX_CALL_DEPTH:
                raise ExpressionTooLarge(f"{label}: the SymPy expression has functions applied inside one another "
                                         f"more than {MAX_CALL_DEPTH} deep (at most {MAX_CALL_DEPTH})")
        args = getattr(e, "args", ())
        if args:
            depth += 1
            if depth > 2 * MAX_DEPTH:
                raise ExpressionTooLarge(f"{label}: the SymPy expression is nested more than {2 * MAX_DEPTH} "
                                         f"levels deep (at most {2 * MAX_DEPTH})")
        stack.extend((a, depth, calls) for a in args)


def activation(spec) -> sp.Lambda:
    """An activation from a table name, a SymPy Lambda of one variable, or an expression in z."""
    if isinstance(spec, str):
        if spec not in ACTIVATIONS:
            raise NetworkError(unknown_activation(spec))
        return ACTIVATIONS[spec]
    if isinstance(spec, sp.Lambda):
        if len(spec.variables) != 1:
            raise NetworkError(f"an activation takes one variable; {spec} takes {len(spec.variables)}")
        fn = spec
    elif isinstance(spec, sp.Expr):
        fn = sp.Lambda(_variable(spec, "z", z), spec)
    else:
        raise NetworkError(f"an activation is a name, a SymPy Lambda or an expression in z, not {spec!r}")
    fn = _checked(fn, f"activation {fn.expr}", {fn.variables[0]: ACTIVATION_POINTS})
    if fn.variables[0] not in fn.expr.free_symbols:
        raise NetworkError(f"activation {fn.expr} does not depend on its variable {fn.variables[0]}: every unit "
                           "would output that one number")
    return _finite_slope(fn)


SLOPE_SECONDS = 2.0   # past this the derivative's poles are not sought, and nothing is refused for them
# An activation whose derivative SymPy does not give within this long is refused: every step after it (the
# backward pass's partials, printing, lowering) works on that derivative, in this process.
DERIVATIVE_SECONDS = 20.0
# The most parts an activation's derivative may have (as ``parts`` counts them): ten times a formula's longest. A
# product of many factors has a derivative of as many terms, each as long: 160 tanh factors give 100,000 parts,
# which took minutes to print and compile, for every layer that uses it.
MAX_DERIVATIVE = 20_000
_SLOPES: dict = {}    # fn -> (fn as computed, the points where its derivative is not finite, their values)
# Where the real zeros of a formula's denominators and log arguments are sought when SymPy cannot solve for them:
# sign changes on a grid this wide (denser near 0), each narrowed down by bisection.
POLE_RANGE = 1000.0
# A derivative larger than this at a zero of a denominator, computed at a root found in 15 digits, is that
# denominator's pole, which the rounding of the root left finite.
POLE_SIZE = 1e10


def _slope_gaps(expr, var) -> list:
    """(point, value) for each SLOPE_POINTS where d expr / d var is no finite number (sqrt(z**2)'s z/sqrt(z**2)
    is 0/0 = nan at 0); an error of SymPy's is left to the derivative's own check (``derivative``)."""
    d = sp.diff(expr, var)
    gaps = []
    for point in SLOPE_POINTS:
        v = sp.sympify(d.xreplace({var: point})).evalf(15)
        if v.has(*NON_FINITE) or v.is_finite is False:
            gaps.append((point, v))
    return gaps


def _real_slope(fn: sp.Lambda) -> tuple:
    """(fn, the points where its derivative is not finite, with the values there). Where there are some, fn's
    formula as SymPy writes it for a real variable (sqrt(z**2) is |z|, whose derivative sign(z) is 0 at 0)
    replaces it when that one's derivative is finite at every point: the same function, with the derivative
    of the kink convention."""
    var = fn.variables[0]
    gaps = _slope_gaps(fn.expr, var)
    if not gaps:
        return fn, []
    real = sp.Dummy(var.name, real=True)
    expr = fn.expr.xreplace({var: real}).xreplace({real: var})   # rebuilt, so evaluated for a real variable
    for alias, own in ALIASES.items():
        expr = expr.replace(alias, own)
    if expr != fn.expr and not _foreign(expr) and not _slope_gaps(expr, var):
        return sp.Lambda(fn.variables, expr), []
    return fn, gaps


def _singular_arguments(expr, var) -> list:
    """The subexpressions in ``var`` whose real zeros make ``expr`` or its derivative undefined: the bases of
    negative and fractional powers (1/(z − 2), sqrt(|z − 2|)'s derivative) and the arguments of logs."""
    found = []
    for e in (expr, sp.diff(expr, var)):
        for sub in sp.preorder_traversal(e):
            if isinstance(sub, sp.Pow) and sub.exp.is_number and (sub.exp.is_negative or not sub.exp.is_integer):
                arg = sub.base
            elif isinstance(sub, sp.log):
                arg = sub.args[0]
            else:
                continue
            if arg.has(var) and arg not in found:
                found.append(arg)
    return found


def _real_zeros(g, var) -> list:
    """The real zeros of ``g``: SymPy's solveset (the table's functions written as SymPy's own), those of a
    periodic set within ±POLE_RANGE; where SymPy cannot say, the sign changes of ``g`` on a grid, narrowed by
    bisection (a zero that only touches 0 is missed there)."""
    x = sp.Dummy("x", real=True)
    plain = g.xreplace({var: x})
    own = {"Abs": sp.Abs, "sign": sp.sign, "sigmoid": lambda u: 1 / (1 + sp.exp(-u)),
           "softplus": lambda u: sp.log(1 + sp.exp(u)), "relu": lambda u: sp.Max(u, 0),
           "log_sigmoid": lambda u: -sp.log(1 + sp.exp(-u))}
    for f in SCALAR_FUNCTIONS:
        if isinstance(f.sympy, type) and f.sympy.__name__ in own:
            plain = plain.replace(f.sympy, own[f.sympy.__name__])
    try:
        zeros = sp.solveset(plain, x, sp.S.Reals)
        if not isinstance(zeros, sp.FiniteSet):
            zeros = sp.Intersection(zeros, sp.Interval(-POLE_RANGE, POLE_RANGE))
    except Exception:   # noqa: BLE001 - SymPy raises assorted types here: the grid below
        zeros = None
    if zeros is sp.S.EmptySet:
        return []
    if isinstance(zeros, sp.FiniteSet) and all(r.is_real for r in zeros):
        return sorted(zeros, key=lambda r: abs(float(r)))
    return _sign_changes(g, var)


def _sign_changes(g, var) -> list:
    """The points where ``g`` changes sign on a grid over ±POLE_RANGE (every 1/1000 within ±10, wider apart
    beyond), each narrowed by bisection to a float64 root, as SymPy Floats."""
    import numpy as np
    names = {c.__name__: f.numpy for f in SCALAR_FUNCTIONS for c in f.classes if f.numpy is not None}
    try:
        fn = sp.lambdify(var, g, modules=[names, "numpy"])
    except Exception:   # noqa: BLE001 - a formula NumPy cannot compute: nothing to say
        return []
    far = np.geomspace(10.0, POLE_RANGE, 2000)
    grid = np.concatenate([-far[::-1], np.linspace(-10.0, 10.0, 20001), far])

    def at(v):
        with np.errstate(all="ignore"):
            return np.broadcast_to(np.asarray(fn(v), dtype=float), np.shape(v))
    try:
        values = at(grid)
    except Exception:   # noqa: BLE001
        return []
    sides = np.sign(values)
    roots = [float(t) for t, s in zip(grid, sides) if s == 0]
    for i in np.flatnonzero(np.isfinite(values[:-1]) & np.isfinite(values[1:]) & (sides[:-1] * sides[1:] < 0)):
        lo, hi = float(grid[i]), float(grid[i + 1])
        for _ in range(80):
            mid = (lo + hi) / 2
            if mid in (lo, hi):
                break
            if np.sign(at(mid)) == sides[i]:
                lo = mid
            else:
                hi = mid
        roots.append(lo)
    return [sp.Float(r, 15) for r in sorted(roots, key=abs)]


def _pole_gaps(expr, var) -> list:
    """[(point, value)] for the real point nearest 0 where ``expr`` or its derivative is no finite number, among
    the real zeros of its denominators and log arguments (``_singular_arguments``): log(|z − 2|) at 2, which
    the SLOPE_POINTS miss. At a root found in floats a derivative beyond POLE_SIZE counts as the pole (zoo)."""
    d = sp.diff(expr, var)
    points = []
    for g in _singular_arguments(expr, var):
        points += [r for r in _real_zeros(g, var) if r not in points and r not in SLOPE_POINTS]
    for point in sorted(points, key=lambda r: abs(float(r))):
        for e in (d, expr):
            v = sp.sympify(e.xreplace({var: point})).evalf(15)
            if v.has(*NON_FINITE) or v.is_finite is False:
                return [(point, v)]
            if isinstance(point, sp.Float) and v.is_real and abs(v) > POLE_SIZE:
                return [(point, sp.zoo)]
    return []


def _slope_checks(fn: sp.Lambda):
    """The derivative's size, then ``_real_slope``'s (fn, gaps) with fn's derivative (None where it is larger than
    MAX_DERIVATIVE or has gaps), then, where there are no gaps at the SLOPE_POINTS, the poles elsewhere
    (``_pole_gaps``): items, so that a pole search cut off by the limit leaves the ones before it."""
    var = fn.variables[0]
    size = parts(sp.diff(fn.expr, var), MAX_DERIVATIVE)
    if size > MAX_DERIVATIVE:
        yield fn, [], None, size
        return
    out, gaps = _real_slope(fn)
    yield out, gaps, (None if gaps else sp.diff(out.expr, var)), size
    if not gaps:
        try:
            poles = _pole_gaps(out.expr, var)
        except (TypeError, ValueError, ArithmeticError, AttributeError, NotImplementedError, RecursionError):
            return   # SymPy could not say: nothing is refused
        yield poles


def _shown(point) -> str:
    """A point as a message writes it: a float root to 6 digits, an exact one with its value beside it."""
    if isinstance(point, sp.Float):
        return f"{float(point):.6g}"
    if isinstance(point, sp.Rational):
        return str(point)
    return f"{point} ≈ {float(point):.6g}"


def _with_derivative(checks, fn: sp.Lambda, seconds: float, what: str, of: str, why: str) -> list:
    """The items ``checks(fn)`` yields in a child process within ``seconds``, the first of which ends with fn's
    derivative and its size (``parts``) and is awaited up to DERIVATIVE_SECONDS; [] where SymPy failed (nothing is
    refused for that here: ``derivative`` says how, where it is needed). A DerivativeError where the derivative did
    not come in time, ExpressionTooLarge where it has more than MAX_DERIVATIVE parts; ``what`` names the formula,
    ``of`` the variable (" in yhat"), ``why`` what its length costs."""
    from derive.run.worker import stream
    try:
        items, finished = stream(checks, fn, seconds=seconds, first=DERIVATIVE_SECONDS)
    except (TypeError, ValueError, ArithmeticError, AttributeError, NotImplementedError, RecursionError):
        return []
    if not items and not finished:
        raise DerivativeError(f"{what}: SymPy did not give its derivative{of} within {DERIVATIVE_SECONDS:g} s; write "
                              "a shorter formula")
    if items and items[0][-1] > MAX_DERIVATIVE:
        raise ExpressionTooLarge(f"{what}: its derivative{of} has more than {MAX_DERIVATIVE:,} parts, too long to "
                                 f"print and compile{why}; write a shorter formula")
    return items


def _finite_slope(fn: sp.Lambda) -> sp.Lambda:
    """``fn``, or the same function written so that its derivative is finite at every SLOPE_POINTS
    (``_real_slope``); refuse one whose derivative is not finite at one of them (sqrt(|z|) at 0): a unit whose
    Z is exactly there gets a NaN or infinite gradient, and the whole network's parameters with it. In a child
    process under a limit, as any SymPy step on a formula; past the limit, or where SymPy fails, nothing is
    refused, but for a derivative that SymPy does not give within DERIVATIVE_SECONDS or that is longer than
    MAX_DERIVATIVE parts. The derivative computed there is the one the layer is derived with (``derivative``)."""
    known = _SLOPES.get(fn)
    if known is None:
        items = _with_derivative(_slope_checks, fn, SLOPE_SECONDS, f"activation {clip(str(fn.expr))}", "",
                                 " for every unit of the layer (a product of many factors has a derivative of as "
                                 "many terms, each as long)")
        known = (fn, [])
        if items:
            out, gaps, d, _ = items[0]
            if d is not None:
                _known_derivative(out, 0, d, "activation")
            known = (out, gaps or (items[1] if len(items) > 1 else []))
        if len(_SLOPES) >= 4096:
            _SLOPES.clear()
        _SLOPES[fn] = known
    out, gaps = known
    if gaps:
        var = fn.variables[0]
        where = ", ".join(f"{var} = {_shown(p)} (it is {v})" for p, v in gaps)
        zero = " (a zero input with a zero bias, a convolution's zero padding)" if gaps[0][0] == 0 else ""
        raise NetworkError(f"activation {fn.expr}: its derivative {derivative(fn, 0, 'activation')} is not a finite "
                           f"number at {where}: a unit whose {var} is exactly there{zero} would get a NaN or infinite "
                           f"gradient. Write a formula whose derivative is finite for every real {var}")
    return out


def loss(spec) -> sp.Lambda:
    """A per-entry loss from a table name, a Lambda of (yhat, y) or an expression in yhat and y."""
    if isinstance(spec, str):
        if spec not in LOSSES:
            import difflib
            near = difflib.get_close_matches(spec.lower(), [*LOSS_TITLES, *LOSSES], n=1, cutoff=0.6)
            near = [spec.lower()] if spec.lower() in LOSSES else near
            alias = LOSS_ALIASES.get(spec.lower().replace("-", "_").replace(" ", "_"))
            near = [alias] if alias else near
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise NetworkError(f"unknown loss {spec!r}{hint}; valid: {', '.join(LOSS_TITLES)}, "
                             "or a formula in yhat and y")
        return LOSSES[spec]
    if isinstance(spec, sp.Lambda):
        if len(spec.variables) != 2:
            raise NetworkError(f"a loss takes (yhat, y); {spec} takes {len(spec.variables)} variables")
        fn = spec
    elif isinstance(spec, sp.Expr):
        fn = sp.Lambda((_variable(spec, "yhat", yhat), _variable(spec, "y", y)), spec)
    else:
        raise NetworkError(f"a loss is a name, a SymPy Lambda or an expression in yhat and y, not {spec!r}")
    p, t = fn.variables
    _finite(fn.expr, f"loss {fn.expr}")
    if p not in fn.expr.free_symbols:  # its gradient is 0: nothing would train, nothing to derive
        raise NetworkError(f"loss {fn.expr} does not depend on the prediction {p}: its gradient is 0 "
                           "everywhere (a loss compares yhat with y, e.g. (yhat - y)**2)")
    fn = _checked(fn, f"loss {fn.expr}", {p: LOSS_PREDICTIONS, t: LOSS_TARGETS})
    _not_flipped(fn)
    return fn


# Where a loss is read where the prediction meets its target: a prediction equal to its target, strictly inside
# (0, 1), and predictions MATCH_STEP either side of it.
MATCH_POINTS = tuple(map(sp.Rational, ("1/4", "1/2", "3/4")))
MATCH_STEP = sp.Rational(1, 100)
FLIP_SECONDS = 2.0   # past this the loss is not read there, and nothing is refused


def _at_match(fn: sp.Lambda):
    """What the loss is where the prediction equals the target, at the MATCH_POINTS: ("undefined", point, which,
    value) where the loss (which = "loss") or its derivative in the prediction ("slope") is no finite real number
    at one of them; ("curvature", the second derivative in the prediction at each, as floats) where it is negative
    at every one; ("largest", point, value, nearby) where at every one a prediction MATCH_STEP above and below
    gives a smaller loss (a kink: −|ŷ − y|); else ("curvature", None). Where a value is no finite real number (a
    kink, a formula SymPy cannot evaluate), that reading says nothing."""
    p, t = fn.variables
    slope = sp.diff(fn.expr, p)
    for v in MATCH_POINTS:
        for which, e in (("loss", fn.expr), ("slope", slope)):
            value = sp.N(e.xreplace({p: v, t: v}), 15)
            if value.has(*NON_FINITE) or value.is_finite is False or value.is_extended_real is False:
                return "undefined", v, which, value
    second = sp.diff(slope, p)
    values = [sp.N(second.xreplace({p: v, t: v}), 15) for v in MATCH_POINTS]
    if all(v.is_real and v.is_finite for v in values) and all(v < 0 for v in values):
        return "curvature", [float(v) for v in values]
    peaks = []
    for v in MATCH_POINTS:
        values = [sp.N(fn.expr.xreplace({p: v + k * MATCH_STEP, t: v}), 15) for k in (0, -1, 1)]
        if not all(w.is_real and w.is_finite for w in values) or not values[1] < values[0] > values[2]:
            break
        peaks.append((v, float(values[0]), float(max(values[1:]))))
    else:
        v, value, nearby = peaks[len(peaks) // 2]
        return "largest", v, value, nearby
    return "curvature", None


_MATCHES: dict = {}   # a loss -> what _at_match found of it (a loss given again is not looked at again)


def _loss_checks(fn: sp.Lambda):
    """(the loss's derivative in the prediction, or None where it has more than MAX_DERIVATIVE parts, its size), then
    what ``_at_match`` finds: items, so that a look cut off by the limit leaves the derivative."""
    d = sp.diff(fn.expr, fn.variables[0])
    size = parts(d, MAX_DERIVATIVE)
    yield (None if size > MAX_DERIVATIVE else d), size
    if size <= MAX_DERIVATIVE:
        try:
            found = _at_match(fn)
        except (TypeError, ValueError, ArithmeticError, AttributeError, NotImplementedError, RecursionError):
            return   # SymPy could not say: nothing is refused
        yield found


def _not_flipped(fn: sp.Lambda) -> None:
    """Refuse a loss that is not finite and smallest where the prediction meets the target, at the MATCH_POINTS:
    one that is infinite or undefined there ((ŷ − y)⁻², 1/(ŷ − y)), or whose derivative is (sqrt|ŷ − y|: a
    prediction that reaches its target gets a NaN gradient); one that is largest there, or curves down there at
    every point: minimizing it drives the prediction away from the target without end (bce or mse with its sign
    flipped trains to a loss of −∞). Every loss that compares, (ŷ − y)², −y log ŷ, a robust one, is finite and
    curves up there. Where a value cannot be had (a kink, a formula SymPy cannot evaluate), nothing is refused."""
    p, t = fn.variables
    found = _MATCHES.get(fn)
    if found is None:
        # in a child process under a limit: a deeply nested formula's second derivative took 4.5 s
        items = _with_derivative(_loss_checks, fn, FLIP_SECONDS, f"loss {clip(str(fn.expr))}", f" in {p}", "")
        if items:
            _known_derivative(fn, 0, items[0][0], "the loss")
        found = items[1] if len(items) > 1 else ("unknown",)   # unknown: nothing is refused; nor asked again
        if len(_MATCHES) >= 4096:
            _MATCHES.clear()
        _MATCHES[fn] = found
    if found[0] == "unknown":
        return
    if found[0] == "undefined":
        _, v, which, value = found
        if which == "loss":
            raise NetworkError(f"loss {fn.expr} is not finite where the prediction equals the target: at {p} = {t} "
                               f"= {v} it is {value}. A loss must be finite and smallest where {p} = {t} (as "
                               f"({p} - {t})**2 is): a prediction that reaches its target would make the loss and "
                               "the gradients infinite or NaN, and one near it huge")
        raise NetworkError(f"loss {fn.expr}: its derivative in {p}, {derivative(fn, 0, 'loss')}, is not finite where "
                           f"the prediction equals the target: at {p} = {t} = {v} it is {value}. A prediction that "
                           "reaches its target would get a NaN or infinite gradient: write a loss whose derivative "
                           f"is finite at {p} = {t}")
    if found[0] == "largest":
        _, v, value, nearby = found
        raise NetworkError(f"loss {fn.expr} is largest where the prediction equals the target: at {p} = {t} = {v} "
                           f"it is {value:.4g}, and {nearby:.4g} at {p} = {v} ± {MATCH_STEP}: minimizing it drives "
                           "the prediction away from the target. Is its sign flipped?")
    values = found[1]
    if values is None or not all(v < 0 for v in values):
        return
    raise NetworkError(f"loss {fn.expr} curves down where the prediction equals the target (its second derivative "
                       f"in {p} is {values[1]:.3g} at {p} = {t} = 1/2): minimizing it drives the prediction "
                       "away from the target, to a loss of −∞. Is its sign flipped?")


# Where a declared function must be real: an activation at any real z (these points, 0 excluded for
# a kink's sake); a loss at predictions in (0, 1) (inside every output activation's range) and
# targets in [0, 1].
ACTIVATION_POINTS = tuple(map(sp.Rational, ("-3", "-1", "-1/2", "1/2", "1", "3")))
LOSS_PREDICTIONS = tuple(map(sp.Rational, ("1/10", "1/2", "9/10")))
LOSS_TARGETS = tuple(map(sp.Rational, ("0", "3/10", "1")))
# Where a declared activation's derivative must be finite: 0 (where a kink is, and where zero inputs, zero
# biases and a convolution's zero padding put Z) and the points its values are read at.
SLOPE_POINTS = (sp.Integer(0),) + ACTIVATION_POINTS


def _variable(expr, name: str, default: sp.Symbol) -> sp.Symbol:
    """The symbol called ``name`` in ``expr`` whatever its assumptions (Symbol('z', real=True) is a
    different symbol from Symbol('z') to SymPy, but the same variable to the user), else ``default``."""
    found = [s for s in expr.free_symbols if s.name == name]
    return found[0] if len(found) == 1 else default


NON_FINITE = (sp.nan, sp.oo, -sp.oo, sp.zoo)


def _finite(expr, label: str) -> None:
    """Refuse a formula holding an infinite or undefined constant (SymPy's oo, zoo, nan): its derivative
    would print as a number (nan*z differentiates to 0) that is none."""
    found = [c for c in NON_FINITE if expr.has(c)]
    if found:
        raise NetworkError(f"{label} holds the constant {found[0]}, which is no finite number: write a "
                           "finite constant (a large one, 1e6, if you mean a very large value)")


def _checked(fn: sp.Lambda, label: str, points: dict) -> sp.Lambda:
    """``fn`` if it is a real function of its own variables made of functions derivax can compute."""
    _finite(fn.expr, label)
    # SymPy's own Abs and sign become the table's: a network puts a plain symbol in place of a real z,
    # and at a plain symbol SymPy's differentiate to no closed form (re, im, Derivative).
    for alias, own in ALIASES.items():
        fn = sp.Lambda(fn.variables, fn.expr.replace(alias, own))
    variables = list(fn.variables)
    names = {v.name for v in variables}
    extra = sorted({s.name for s in fn.expr.free_symbols} - names)
    if extra:
        raise NetworkError(f"{label} uses {', '.join(map(repr, extra))}, which is not one of its "
                           f"variables ({', '.join(sorted(names))}): give it a value, or use only those")
    if {s.name for s in fn.expr.free_symbols} != {s.name for s in fn.expr.free_symbols & set(variables)}:
        raise NetworkError(f"{label}: its variables must be the Lambda's own symbols "
                           f"({', '.join(sorted(names))}), not others of the same name")
    # An undefined function f(z) is left to ``derivative``, which says it has no closed form.
    unknown = sorted({type(f).__name__ for f in _foreign(fn.expr)})
    if unknown:
        raise NetworkError(f"{label} calls {', '.join(unknown)}, which derivax cannot compute; it knows "
                           f"{', '.join(sorted(FUNCTIONS))}")
    for value in _numbers(fn.expr):
        if value.is_extended_real is False:
            raise NetworkError(f"{label} is not real-valued: it contains the complex number {value}")
    import itertools
    for combo in itertools.product(*(points[v] for v in variables)):
        at = dict(zip(variables, combo))
        v = sp.sympify(fn.expr.xreplace(at)).evalf(15)
        if v.is_number and v.has(sp.I) or v.is_extended_real is False and v.is_finite:
            where = ", ".join(f"{k} = {val}" for k, val in at.items())
            raise NetworkError(f"{label} is not real-valued for real inputs: at {where} it is {v}")
    return fn


def _foreign(expr) -> list:
    """The outermost subexpressions that are neither algebra nor a function derivax computes."""
    if isinstance(expr, COMPUTABLE + ALGEBRA + (sp.core.function.AppliedUndef,)):
        return [f for a in expr.args for f in _foreign(a)]
    return [expr]


def _numbers(expr):
    """The constant subexpressions of ``expr`` (numbers, I, sqrt(-2), ...), largest first."""
    if expr.is_number:
        return [expr]
    return [n for a in expr.args for n in _numbers(a)]


# The multiclass SVM's loss (CS231n's, Weston and Watkins'): Σ_{j ≠ y} max(0, s_j − s_y + 1) for each
# example, with s_y the correct class's score. Not entry by entry (s_y is the row's), so the network builds
# it from its scores and Y; this Lambda of (s_j, s_y) is its per-entry term, for what reads a loss's formula.
SVM_ENTRY = sp.Lambda((yhat, y), FUNCTIONS["relu"](yhat - y + 1))

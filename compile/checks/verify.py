"""`derivax verify`: every derived gradient against three references at one random float64 point.

For each parameter P the lowered symbolic gradient (``grads`` of the lowered derivation) is compared with

1. ``jax.grad`` of the lowered loss (JAX's autodiff of the forward formulas, not of the backward ones);
2. central finite differences of the lowered loss along random unit directions u: the derived side is
   the inner product <dJ/dP, u>, the numeric side (J(P + h u) - J(P - h u)) / 2h, with h the cube root
   of the dtype's machine epsilon (the step that balances truncation and rounding error);
3. for networks small enough for the scalar tier, ``sympy.diff`` of the loss expanded one weight at a
   time (``derive.scalar.expand``), evaluated at the same point: exact differentiation, sharing with the
   derived side only the forward graph.

Errors: ``abs`` is the largest absolute difference; ``rel`` divides it by the size of the reference
(its largest entry, or the gradient's norm for directional derivatives, which |<g, u>| cannot exceed),
so a gradient of zero does not turn rounding noise into a huge relative error.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import numpy as np

from compile.checks.results import Comparison, ParamResult
from compile.checks.points import MAX_BATCH, mask_dims, random_point

# Agreement thresholds on the relative error, in float64. jax.grad and sympy.diff compute the same
# number by other roundings (1e-9 leaves room for long sums); a central difference is good to about
# eps^(2/3) ~ 4e-11 relative to the third derivative, so 1e-6 flags any real error but not that.
TOLERANCE = {"jax_grad": 1e-9, "finite_diff": 1e-6, "sympy": 1e-9}
REFERENCES = {"jax_grad": "jax.grad", "finite_diff": "finite differences", "sympy": "sympy.diff (scalar)"}
DIRECTIONS = 4
DEEP_DIRECTIONS = 2   # directions per parameter from FD_JIT_LAYERS layers on
# sympy.diff of the expanded loss costs about half a second a weight at 40 weights: above this
# many, the scalar reference is left out of verify.
SCALAR_WEIGHTS = 30
FD_JIT_LAYERS = 8   # layers from which the finite differences' loss is compiled once, not run op by op
SCALAR_SECONDS = 60.0
DIGITS = 20  # working precision of the scalar tier's evaluation


@dataclass
class Report:
    model: str
    convention: str
    m: int
    seed: int
    params: dict                      # name -> ParamResult
    scalar: str                       # "used", or why the scalar tier was skipped
    problem: str = ""                 # why nothing could be compared (values that overflow), or ""

    @property
    def ok(self) -> bool:
        return not self.problem and all(p.ok for p in self.params.values())

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "model": self.model, "convention": self.convention,
                           "problem": self.problem or None,
                           "scalar_tier": self.scalar, "params": {
                               n: {"ok": p.ok, **{k: c.as_dict() for k, c in p.comparisons.items()}}
                               for n, p in self.params.items()}})

    def render(self, console=None) -> None:
        from rich.console import Console
        from rich.table import Table
        console = console or Console(width=None if sys.stdout.isatty() else 100)
        if self.problem:
            console.print(f"NOT CHECKED: {self.problem}", soft_wrap=True, markup=False, highlight=False)
            return
        tab = Table(title=f"derivax verify {self.model} ({self.convention}, float64, batch {self.m}, "
                          f"seed {self.seed})")
        for col in ("parameter", "derived vs", "max abs err", "max rel err", "rel tol", "verdict"):
            tab.add_column(col, justify="right" if "err" in col or "tol" in col else "left", no_wrap=True)
        for p in self.params.values():
            first = True
            for key, c in p.comparisons.items():
                tab.add_row(f"{p.name} {'×'.join(map(str, p.shape))}" if first else "", REFERENCES[key],
                            f"{c.max_abs_err:.1e}", f"{c.max_rel_err:.1e}", f"{TOLERANCE[key]:g}",
                            "inconclusive" if c.inconclusive else "agree" if c.ok else "DIFFERENT",
                            style="yellow" if c.inconclusive else None if c.ok else "bold red",
                            end_section=key == list(p.comparisons)[-1])
                first = False
        console.print(tab)
        if self.scalar != "used":
            console.print(f"sympy.diff skipped: {self.scalar}", soft_wrap=True)
        blind = {n: c.inconclusive for n, p in self.params.items() for c in p.comparisons.values() if c.inconclusive}
        if blind:
            console.print(f"finite differences inconclusive for {', '.join(blind)}: {next(iter(blind.values()))}; "
                          "they count neither way", soft_wrap=True, markup=False, highlight=False)
        bad = [n for n, p in self.params.items() if not p.ok and not p.untold]
        untold = [n for n, p in self.params.items() if p.untold]
        console.print(f"FAIL: {', '.join(bad)} disagree" if bad else
                      f"INCONCLUSIVE: no reference could tell for {', '.join(untold)}" if untold else
                      "PASS: every derived gradient agrees with every reference" if not blind else
                      "PASS: every derived gradient agrees with every reference that can tell")


# A finite difference whose rounding bound is above this and above half the gradient's size cannot tell a right
# gradient from a wrong one (a loss of 1e308, or exp(exp(z)) at its largest): inconclusive, not a pass.
BLIND_FLOOR = 1e-6
# A finite difference whose error bound is above this share of the gradient passes wrong gradients too: its
# derivatives are estimated again over smaller steps (Ridders) before it counts.
LOOSE = 1e-3


def _compare(key, derived, reference, scale=None, floor=1e-13) -> Comparison:
    derived, reference = np.asarray(derived, float), np.asarray(reference, float)
    if derived.shape != reference.shape or not np.all(np.isfinite(derived)):
        return Comparison(key, float("inf"), float("inf"), False)
    err = float(np.max(np.abs(derived - reference))) if derived.size else 0.0
    size = scale if scale is not None else float(np.max(np.abs(reference))) if reference.size else 0.0
    rel = err / max(size, 1e-12)
    # An absolute floor: below it a difference is rounding (gradients of size 1e-13 are zero to
    # float64 precision; a finite difference carries a rounding error of about eps |J| / h).
    return Comparison(key, err, rel, rel <= TOLERANCE[key] or err <= floor)


def _step(eps, value) -> float:
    """The step of a central difference for a parameter: the cube root of the dtype's machine epsilon (where truncation
    and rounding errors balance), scaled by the parameter's size."""
    return eps ** (1 / 3) * max(1.0, float(np.max(np.abs(value)))) if np.size(value) else eps ** (1 / 3)


def _directional(loss, params, name, rng, eps, J=None, directions=DIRECTIONS):
    """(directions, derivatives of loss along each, their error bound) for ``name``.

    Each derivative is a central difference at steps h and h/2 combined by Richardson extrapolation
    (error O(h^4) where a plain central difference has O(h^2)); the two estimates' disagreement
    bounds what is left of the truncation error. A loss that curves sharply (a sine of a cubic of
    a cubic) thus widens its own bound rather than failing a right gradient, while a wrong gradient
    still stands far outside it. h is the cube root of the dtype's machine epsilon, scaled by the
    parameter's size: the step that balances truncation and rounding error."""
    h = _step(eps, params[name])
    J = abs(float(loss(params)) if J is None else J)
    dirs = []
    for _ in range(directions):
        u = rng.normal(size=params[name].shape)
        u /= np.linalg.norm(u) or 1.0
        dirs.append(u)
    # Per direction: J at +h, -h, +h/2, -h/2 along it.
    steps = (h, -h, h / 2, -h / 2)
    moves = [step * u for u in dirs for step in steps]
    if hasattr(loss, "along"):          # only what the parameter reaches is recomputed, all moves at once
        values = np.asarray(loss.along(name, np.stack(moves)), dtype=np.float64)
    else:
        values = np.array([float(loss({**params, name: params[name] + move})) for move in moves])
    values = values.reshape(directions, len(steps))
    coarse = (values[:, 0] - values[:, 1]) / (2 * h)
    fine = (values[:, 2] - values[:, 3]) / h
    fds = (4 * fine - coarse) / 3
    spread = float(np.max(np.abs(fds - fine))) if directions else 0.0
    rounding = 50 * eps * max(J, 1.0) / h
    return dirs, fds, rounding + 2 * spread


RIDDERS_STEPS = 14   # central differences at h, h/2, ... h/2^13: down to where rounding takes over


def _ridders(loss, params, name, dirs, eps, J):
    """(derivatives of loss along each of ``dirs``, the error of each) by Ridders' extrapolation of central
    differences over halving steps: each direction's estimate is the tableau's entry whose error (its distance
    from its neighbours, plus the rounding at its step) is least, so a step too coarse for the loss and one
    drowned in rounding both lose to the steps between them.

    For a loss that changes on a scale finer than ``_directional``'s step (a sine of a large pre-activation):
    the smaller steps resolve it, and the error is the tableau's own measure of what it could not."""
    hs = _step(eps, params[name]) / 2.0 ** np.arange(RIDDERS_STEPS)
    moves = [sign * h * u for u in dirs for h in hs for sign in (1, -1)]
    if hasattr(loss, "along"):
        values = np.asarray(loss.along(name, np.stack(moves)), dtype=np.float64)
    else:
        values = np.array([float(loss({**params, name: params[name] + move})) for move in moves])
    values = values.reshape(len(dirs), RIDDERS_STEPS, 2)
    rounding = 50 * eps * max(abs(J), 1.0) / hs
    out, errs = [], []
    for v in values:
        central = (v[:, 0] - v[:, 1]) / (2 * hs)
        best, err = central[0], np.inf
        prev = [central[0]]
        for i in range(1, RIDDERS_STEPS):
            row, fac = [central[i]], 4.0
            for j in range(1, i + 1):   # eliminate the h^2j term of the error
                row.append((row[j - 1] * fac - prev[j - 1]) / (fac - 1))
                fac *= 4.0
                e = max(abs(row[j] - row[j - 1]), abs(row[j] - prev[j - 1])) + rounding[i]
                if e <= err:
                    best, err = row[j], e
            prev = row
        out.append(best)
        errs.append(err)
    return np.array(out), np.array(errs)


def size_check_scalar(derivation, limit=None) -> int:
    """The number of weights, or ScalarTooLarge when the scalar reference would take too long."""
    from derive.scalar.expand import ScalarTooLarge, size_check
    n = size_check(derivation.model)
    limit = SCALAR_WEIGHTS if limit is None else limit
    if n > limit:
        raise ScalarTooLarge(f"{n} weights: verify differentiates the full expansion with sympy.diff up to "
                             f"{limit} weights (derivax show --scalar checks up to 80 exactly)")
    return n


def scalar_gradients(derivation, point, params, limit=None):
    """sympy.diff of the expanded loss with respect to every weight, evaluated at ``point``.

    Returns {name: array} or raises derive.scalar.expand.ScalarTooLarge."""
    import sympy as sp
    from derive.scalar.expand import Expander
    model = derivation.model
    size_check_scalar(derivation, limit)
    m = point.x.shape[0]
    ex = Expander(model, m, False, None)
    if getattr(model, "vocab", None):
        ex.indices = point.x
    J = ex(model.J)[0, 0]
    rows = model.convention == "rows"
    values = {}
    leaves = {model.X: point.x, model.Y: point.y}
    for mask in model.masks:
        leaves[mask] = point.masks[mask.name] if point.masks else np.ones((m, *mask_dims(model, mask)))
    def entries(node):  # a node's entry symbols in row-major order (a Matrix, or an array of any rank)
        syms = ex.symbols(node)
        return list(syms) if isinstance(syms, sp.MatrixBase) else list(np.asarray(syms, dtype=object).ravel())

    for node, v in leaves.items():
        if node is model.X and getattr(model, "vocab", None):
            continue   # indices: already in the expansion
        v = v if rows else v.T
        values.update(zip(entries(node), np.asarray(v, float).ravel()))
    for p in model.params:
        values.update(zip(entries(p), np.asarray(params[p.name], float).ravel()))
    for sym, v in model.constants.items():
        values[sym] = float(v)
    out = {}
    exact = {s: sp.Float(v, DIGITS) for s, v in values.items()}
    weights = {w for p in model.params for w in entries(p)}
    # The data (x, y, masks, constants) first, once: what is left is a function of the weights alone.
    J = J.xreplace({s: v for s, v in exact.items() if s not in weights})
    for p in model.params:
        grad = np.zeros(tuple(int(d) for d in p.shape))
        for k, w in enumerate(entries(p)):
            # Every other weight takes its value too: J becomes an expression in w alone, whose
            # sympy.diff is cheap; the derivative is still exact, and only then evaluated at w's value.
            Jw = J.xreplace({s: exact[s] for s in weights if s != w})
            grad.flat[k] = float(sp.diff(Jw, w).xreplace({w: exact[w]}).evalf(DIGITS))
        out[p.name] = grad
    return out


def verify(net, convention="rows", seed=0, m=2, name=None, jit=True, derivation=None,
           scalar_limit=None, scalar_seconds=SCALAR_SECONDS, engine="jax") -> Report:
    """Compare every derived gradient of ``net`` with jax.grad, finite differences and sympy.diff.

    ``jit=True`` checks the functions compiled, as training runs them: XLA fuses and may compute a value again
    in each fusion that reads it, rounded its own way, and code that leans on exact equality (a max-pool's
    routing, once) can then differ from the same code run op by op. ``jit=False`` runs them op by op (a
    recurrence and a deep network are compiled even so: op by op they take minutes). ``derivation`` replaces ``net.derive()``
    (to check a derivation that was edited, say). ``engine="numpy"`` evaluates the derived graph with
    NumPy (``compile.lowering.evaluate``) instead of its JAX lowering, and leaves jax.grad out: it checks the
    derivation alone, with no compilation, for sweeps over many architectures."""
    from derive.scalar.expand import ScalarTooLarge
    from derive.run.worker import start
    from compile.lowering.codegen import check_network

    if derivation is None:
        check_network(net, "verify")
    elif not hasattr(derivation, "grads") or not hasattr(getattr(derivation, "model", None), "params"):
        raise TypeError(f"verify: derivation must be a derive.Derivation (what net.derive() returns), "
                        f"not {_a(derivation)}")
    _setting(m, "m (the examples at the check point)", 1, MAX_BATCH)
    _setting(seed, "seed", 0, 2**32 - 1)
    if engine not in ENGINES:
        raise ValueError(f"verify: engine must be one of {', '.join(map(repr, ENGINES))}, not {engine!r}")
    if scalar_limit is not None:
        _setting(scalar_limit, "scalar_limit (the most weights for sympy.diff)", 0)
    if isinstance(scalar_seconds, bool) or not isinstance(scalar_seconds, (int, float)) \
            or not 0 < scalar_seconds < float("inf"):
        raise ValueError(f"verify: scalar_seconds must be a number of seconds above 0, not {scalar_seconds!r}")
    if not isinstance(jit, bool):
        raise TypeError(f"verify: jit must be True or False, not {jit!r}")
    d = derivation if derivation is not None else net.derive(convention)
    model = d.model
    if derivation is not None:
        _same_network(net, model)
    from compile.lowering.codegen import check_parameters
    check_parameters(model, name or getattr(net, "name", "the network"), "verify", "check")
    _batch_norm_point(model, m)
    point = random_point(model, seed, m)
    # sympy.diff of the loss expanded weight by weight, started first: it runs in a child process (derive.run.worker;
    # a SymPy step cut off from inside could leave SymPy broken for the rest of this process), beside the lowered
    # functions' compiling and finite differences here
    job, scalar = None, None
    try:
        size_check_scalar(d, scalar_limit)
        job = start(scalar_gradients, d, point, point.params, scalar_limit, seconds=scalar_seconds)
    except ScalarTooLarge as exc:
        scalar = str(exc).split(";")[0]
    try:
        return _compared(net, name, d, point, m, seed, jit, engine, job, scalar, scalar_seconds)
    finally:
        if job is not None:
            job.cancel()


def _compared(net, name, d, point, m, seed, jit, engine, job, scalar, scalar_seconds) -> Report:
    """verify's comparisons at ``point``, with the exact reference from the child ``job`` (or ``scalar``, why none)."""
    from derive.run.limits import TimeLimitExceeded
    from derive.scalar.expand import ScalarTooLarge
    model = d.model
    with np.errstate(all="ignore"):  # overflow is reported below, in words
        derived, auto, loss = (_jax_side if engine == "jax" else _numpy_side)(d, point, jit)
        problem = _overflow(derived, loss(point.params))
    if problem:
        return Report(name or getattr(net, "name", "network"), model.convention, m, seed, {}, "not used",
                      problem)
    rng = np.random.default_rng(seed + 1)
    eps = float(np.finfo(np.float64).eps)
    results = {}
    J = float(loss(point.params))
    # A deep network has many parameters and a costly loss: two random directions each (a wrong gradient
    # is off along almost every direction), so that the whole check stays near linear in the depth.
    directions = DIRECTIONS if len(model.layers) < FD_JIT_LAYERS else DEEP_DIRECTIONS
    with np.errstate(all="ignore"):   # a loss near float64's largest: said as inconclusive below, not warned
        for p in model.params:
            r = ParamResult(p.name, tuple(int(s) for s in p.shape))
            g = derived[p.name]
            if auto is not None:
                r.comparisons["jax_grad"] = _compare("jax_grad", g, auto[p.name])
            dirs, fds, rounding = _directional(loss, point.params, p.name, rng, eps, J, directions)
            along = np.array([float(np.sum(g * u)) for u in dirs])
            size = float(np.linalg.norm(g))
            c = _compare("finite_diff", along, fds, scale=size, floor=rounding)
            if not c.ok or rounding > LOOSE * size:
                # a loss that moves on a finer scale than the step (a sine of a large pre-activation) fails a right
                # gradient there, or passes a wrong one by a wide bound: smaller steps, before any verdict
                fine, err = _ridders(loss, point.params, p.name, dirs, eps, J)
                if float(np.max(2 * err)) < rounding or not c.ok:
                    fds, rounding = fine, float(np.max(2 * err))
                    c = _compare("finite_diff", along, fds, scale=size, floor=rounding)
            if rounding > BLIND_FLOOR and rounding > 0.5 * max(size, float(np.max(np.abs(fds), initial=0.0))):
                # the differences' own error is as large as the gradient: any gradient would agree
                rounds = 50 * eps * max(abs(J), 1.0) / _step(eps, point.params[p.name])   # at the largest step
                c.inconclusive = (f"the loss ({J:.3g}) rounds by about {rounds:.2g} over the difference's step, more "
                                  f"than the gradient's own size ({size:.2g})" if rounds > 0.5 * size else
                                  f"the loss ({J:.3g}) changes on a finer scale than any step resolves: the "
                                  f"differences' error ({rounding:.2g}) is more than the gradient's own size "
                                  f"({size:.2g})")
            r.comparisons["finite_diff"] = c
            results[p.name] = r
    exact = None
    if job is not None:
        try:
            exact = job.result()
            scalar = "used"
        except ScalarTooLarge as exc:
            scalar = str(exc).split(";")[0]
        except TimeLimitExceeded:
            scalar = f"SymPy took more than {scalar_seconds:g} s to expand and differentiate the loss"
    if exact is not None:
        for pname, r in results.items():
            r.comparisons["sympy"] = _compare("sympy", derived[pname], exact[pname])
    return Report(name or getattr(net, "name", "network"), model.convention, m, seed, results, scalar)


ENGINES = ("jax", "numpy")


def _a(value) -> str:
    name = type(value).__name__
    return "None" if value is None else ("an " if name[:1] in "aeiou" else "a ") + name


def _setting(value, name, low, high=None) -> None:
    """A whole-number setting of verify in [low, high], or a ValueError naming it (bools and floats refused:
    a batch of 2.5 or of True would be rounded silently)."""
    import numbers
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ValueError(f"verify: {name} must be an integer, not {value!r} ({_a(value)})")
    if value < low or (high is not None and value > high):
        raise ValueError(f"verify: {name} must be from {low}" + (f" to {high}" if high is not None else " up")
                         + f", not {value}")


def _signature(model) -> tuple:
    """What makes two built models the same network: the input, each layer's kind, size and activation, each
    parameter's name and shape, the loss and the weight decay."""
    layers = tuple((l.index, l.kind, int(l.units), str(l.activation), tuple(l.geometry)) for l in model.layers)
    params = tuple((r.name if hasattr(r, "name") else str(r), tuple(str(d) for d in r.shape)) for r in model.params)
    return (model.convention, tuple(str(d) for d in model.X.shape), layers, params, model.loss_name,
            str(model.loss_fn), model.l2, getattr(model, "l2_form", None), getattr(model, "reduction", None))


def _same_network(net, model) -> None:
    """A ValueError where ``derivation`` (its ``model``) is not a derivation of ``net``: verify would check the
    other network's gradients and report them under ``net``'s name."""
    from compile.lowering.codegen import check_network
    check_network(net, "verify")
    if not callable(getattr(net, "build", None)):
        return
    own = net.build(model.convention)
    if _signature(own) == _signature(model):
        return
    def described(mod):
        layers = ", ".join(f"{l.kind.replace('_', ' ')} {l.units} {l.activation}" for l in mod.layers)
        params = ", ".join(f"{p.name} {'x'.join(map(str, p.shape))}" for p in mod.params) or "none"
        return f"layers {layers}; parameters {params}; loss {mod.loss_name}"
    raise ValueError(f"verify: derivation is not a derivation of net {getattr(net, 'name', '')!r}: the derivation's "
                     f"network has {described(model)}, and net has {described(own)}; pass net.derive(), or a "
                     "derivation of the same network")


def _batch_norm_point(model, m) -> None:
    """A ValueError where a batch norm with Bessel's correction (variance 'unbiased') would average over one
    value per feature: it divides by m − 1 = 0, and every value at the point would be NaN."""
    from compile.train.train import batch_norm_counts
    for layer, variance, per_example in batch_norm_counts(model):
        if variance == "unbiased" and m * per_example < 2:
            raise ValueError(f"verify: layer {layer} (batch norm, unbiased variance) divides by m − 1 over the "
                             f"batch: m must be at least 2, not {m}")


def _overflow(derived, J) -> str:
    """Why the point cannot be checked in float64 (values that overflow or are undefined), or ''."""
    bad = [n for n, g in derived.items() if not np.all(np.isfinite(np.asarray(g, float)))]
    if np.isfinite(float(J)) and not bad:
        return ""
    what = f"the loss is {float(J)}" if not np.isfinite(float(J)) else "the loss is finite"
    if bad:
        what += f" and the gradients of {', '.join(bad)} have non-finite entries"
    if np.isnan(float(J)):   # undefined, not too large: the log of a negative number, 0/0, inf - inf
        return (f"the values are NaN (undefined) at the check point ({what}): an operation outside its domain, "
                "such as the log or square root of a negative number, 0/0 or inf - inf. Nothing could be "
                "compared there, so this says nothing about whether the derivation is right")
    return (f"the values overflow float64 at the check point ({what}): somewhere they exceed float64's "
            "largest number, 1.8e308 (a constant such as exp(1000), or layers that compound a power). "
            "Nothing could be compared there, so this says nothing about whether the derivation is right")


def _jax_side(d, point, jit):
    """(derived gradients, jax.grad gradients, loss function) from the JAX lowering, in float64."""
    import jax
    from compile.checks.incremental import IncrementalLoss
    from compile.lowering.lower import lower
    model = d.model
    extra = (point.masks,) if model.masks else ()
    # A recurrence runs jitted: without jit, lax.scan steps through its body op by op, in Python, for
    # every step of every evaluation (a minute for the MNIST-1D GRU, against five seconds jitted).
    # A deep network too: op by op, its gradients and jax.grad's dispatch thousands of primitives one by one
    # (5 s at 100 layers of 512), where compiling each whole function takes well under a second.
    jit = jit or any(n.op == "scan" for n in model.forward) or len(model.layers) >= FD_JIT_LAYERS
    with jax.enable_x64(True):
        low = lower(d, "float64")

        def run(f, *args):
            with jax.enable_x64(True), (_nullcontext() if jit else jax.disable_jit()):
                return f(*args)

        if jit:
            # The finite differences evaluate the loss a few dozen times per parameter, and a deep network
            # has many parameters and many ops per evaluation: op by op that is quadratic in the depth
            # (67 s at 50 layers of 512), compiled once it is linear.
            with jax.enable_x64(True):
                compiled = jax.jit(lambda p: low.loss(p, point.x, point.y, *extra))
                # On the device once: a difference moves one parameter, and copying all the others at every
                # call (100 MB at 50 layers of 512) would cost more than the loss itself.
                placed = {k: jax.device_put(v) for k, v in point.params.items()}

            def loss(p):
                with jax.enable_x64(True):
                    return float(compiled({k: placed[k] if v is point.params[k] else v for k, v in p.items()}))
            try:
                with jax.enable_x64(True):
                    incremental = IncrementalLoss(low.loss, placed, (point.x, point.y, *extra))
            except Exception:   # a primitive it cannot rerun on its own: every move evaluates the whole loss
                incremental = None
            if incremental is not None:
                whole = loss

                def loss(p):
                    # J at the point is the incremental evaluator's base pass: no whole-loss compile for it
                    if all(v is point.params[k] for k, v in p.items()):
                        return float(incremental.base)
                    return whole(p)

                def along(name, moves):
                    with jax.enable_x64(True):
                        try:
                            return incremental.along(name, moves)
                        except Exception:   # noqa: BLE001 - a primitive that cannot rerun batched: the whole loss
                            return np.array([whole({**point.params, name: point.params[name] + mv}) for mv in moves])
                loss.along = along
        else:
            def loss(p):
                return float(run(low.loss, p, point.x, point.y, *extra))

        derived = {k: np.asarray(v) for k, v in run(low.grads, point.params, point.x, point.y, *extra).items()}
        reference = jax.grad(lambda p: low.loss(p, point.x, point.y, *extra))
        auto = run(jax.jit(reference) if jit else reference,
                   {k: jax.numpy.asarray(v) for k, v in point.params.items()})
    return derived, {k: np.asarray(v) for k, v in auto.items()}, loss


def _numpy_side(d, point, jit):
    """(derived gradients, None, loss function) from the NumPy evaluator of the derived graph."""
    from compile.lowering.evaluate import evaluate, leaf_values
    model = d.model
    m = point.x.shape[0]
    names = list(d.grads)
    values = evaluate([d.grads[n] for n in names], leaf_values(model, point), m, model.constants)

    def loss(p):
        # In extended precision: the printed loss has no stable forms (log(1 - A) of a saturated
        # sigmoid cancels), and a finite difference would see that rounding, not the gradient.
        from compile.checks.points import Point
        wide = {k: np.asarray(v, np.longdouble) for k, v in p.items()}
        leaves = leaf_values(model, Point(wide, np.asarray(point.x, np.longdouble),
                                          np.asarray(point.y, np.longdouble), point.masks))
        return evaluate([model.J], leaves, m, model.constants)[0][0, 0]
    return dict(zip(names, values)), None, loss


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

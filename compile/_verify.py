"""`derivax verify`: every derived gradient against three references at one random float64 point.

For each parameter P the lowered symbolic gradient (``grads`` of the lowered derivation) is compared with

1. ``jax.grad`` of the lowered loss (JAX's autodiff of the forward formulas, not of the backward ones);
2. central finite differences of the lowered loss along random unit directions u: the derived side is
   the inner product <dJ/dP, u>, the numeric side (J(P + h u) - J(P - h u)) / 2h, with h the cube root
   of the dtype's machine epsilon (the step that balances truncation and rounding error);
3. for networks small enough for the scalar tier, ``sympy.diff`` of the loss expanded one weight at a
   time (``derive._scalar``), evaluated at the same point: exact differentiation, sharing with the
   derived side only the forward graph.

Errors: ``abs`` is the largest absolute difference; ``rel`` divides it by the size of the reference
(its largest entry, or the gradient's norm for directional derivatives, which |<g, u>| cannot exceed),
so a gradient of zero does not turn rounding noise into a huge relative error.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

import numpy as np

from ._points import random_point

# Agreement thresholds on the relative error, in float64. jax.grad and sympy.diff compute the same
# number by other roundings (1e-9 leaves room for long sums); a central difference is good to about
# eps^(2/3) ~ 4e-11 relative to the third derivative, so 1e-6 flags any real error but not that.
TOLERANCE = {"jax_grad": 1e-9, "finite_diff": 1e-6, "sympy": 1e-9}
REFERENCES = {"jax_grad": "jax.grad", "finite_diff": "finite differences", "sympy": "sympy.diff (scalar)"}
DIRECTIONS = 4
# sympy.diff of the expanded loss costs about half a second a weight at 40 weights: above this
# many, the scalar reference is left out of verify.
SCALAR_WEIGHTS = 30
DIGITS = 20  # working precision of the scalar tier's evaluation


@dataclass
class Comparison:
    reference: str
    max_abs_err: float
    max_rel_err: float
    ok: bool

    def as_dict(self):
        return {"max_abs_err": self.max_abs_err, "max_rel_err": self.max_rel_err, "ok": self.ok}


@dataclass
class ParamResult:
    name: str
    shape: tuple
    comparisons: dict = field(default_factory=dict)  # reference key -> Comparison
    note: str = ""

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons.values())


@dataclass
class Report:
    model: str
    convention: str
    m: int
    seed: int
    params: dict                      # name -> ParamResult
    scalar: str                       # "used", or why the scalar tier was skipped

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.params.values())

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "model": self.model, "convention": self.convention,
                           "scalar_tier": self.scalar, "params": {
                               n: {"ok": p.ok, **{k: c.as_dict() for k, c in p.comparisons.items()}}
                               for n, p in self.params.items()}})

    def render(self, console=None) -> None:
        from rich.console import Console
        from rich.table import Table
        console = console or Console()
        tab = Table(title=f"derivax verify {self.model} ({self.convention}, float64, batch {self.m}, "
                          f"seed {self.seed})",
                    caption="abs / rel: largest absolute and relative difference from the derived gradient")
        tab.add_column("parameter")
        for key in TOLERANCE:
            tab.add_column(f"vs {REFERENCES[key]}", justify="right")
        tab.add_column("verdict")
        for p in self.params.values():
            cells = []
            for key in TOLERANCE:
                c = p.comparisons.get(key)
                cells.append("skipped" if c is None else
                             f"{c.max_abs_err:.1e} / {c.max_rel_err:.1e} {'ok' if c.ok else 'DIFFERENT'}")
            tab.add_row(f"{p.name} {'×'.join(map(str, p.shape))}", *cells,
                        "agree" if p.ok else "DISAGREE", style=None if p.ok else "bold red")
        console.print(tab)
        if self.scalar != "used":
            console.print(f"sympy.diff skipped: {self.scalar}")
        bad = [n for n, p in self.params.items() if not p.ok]
        console.print("PASS: every derived gradient agrees with every reference" if not bad else
                      f"FAIL: {', '.join(bad)} disagree")


def _compare(key, derived, reference, scale=None) -> Comparison:
    derived, reference = np.asarray(derived, float), np.asarray(reference, float)
    if derived.shape != reference.shape or not np.all(np.isfinite(derived)):
        return Comparison(key, float("inf"), float("inf"), False)
    err = float(np.max(np.abs(derived - reference))) if derived.size else 0.0
    size = scale if scale is not None else float(np.max(np.abs(reference))) if reference.size else 0.0
    rel = err / max(size, 1e-12)
    # An absolute floor: gradients of size 1e-12 and below are zero to float64 precision.
    return Comparison(key, err, rel, rel <= TOLERANCE[key] or err <= 1e-13)


def _directional(loss, params, name, rng, eps):
    """(directions, central differences of loss along each) for parameter ``name``."""
    h = eps ** (1 / 3) * max(1.0, float(np.max(np.abs(params[name]))))
    dirs, fds = [], []
    for _ in range(DIRECTIONS):
        u = rng.normal(size=params[name].shape)
        u /= np.linalg.norm(u) or 1.0
        hi = {**params, name: params[name] + h * u}
        lo = {**params, name: params[name] - h * u}
        fds.append((float(loss(hi)) - float(loss(lo))) / (2 * h))
        dirs.append(u)
    return dirs, np.array(fds)


def scalar_gradients(derivation, point, params):
    """sympy.diff of the expanded loss with respect to every weight, evaluated at ``point``.

    Returns {name: array} or raises derive._scalar.ScalarTooLarge."""
    import sympy as sp
    from derive._scalar import Expander, ScalarTooLarge, size_check
    model = derivation.model
    n = size_check(model)
    if n > SCALAR_WEIGHTS:
        raise ScalarTooLarge(f"{n} weights: verify differentiates the full expansion with sympy.diff up to "
                             f"{SCALAR_WEIGHTS} weights (derivax show --scalar checks up to 80 exactly)")
    m = point.x.shape[0]
    ex = Expander(model, m, False, None)
    J = ex(model.J)[0, 0]
    rows = model.convention == "rows"
    values = {}
    leaves = {model.X: point.x, model.Y: point.y}
    for layer in model.layers:
        if layer.mask is not None:
            leaves[layer.mask] = point.masks[layer.mask.name] if point.masks else np.ones((m, layer.units))
    for node, v in leaves.items():
        v = v if rows else v.T
        values.update(zip(ex.symbols(node), np.asarray(v, float).ravel()))
    for p in model.params:
        values.update(zip(ex.symbols(p), np.asarray(params[p.name], float).ravel()))
    for sym, v in model.constants.items():
        values[sym] = float(v)
    out = {}
    exact = {s: sp.Float(v, DIGITS) for s, v in values.items()}
    weights = {w for p in model.params for w in ex.symbols(p)}
    # The data (x, y, masks, constants) first, once: what is left is a function of the weights alone.
    J = J.xreplace({s: v for s, v in exact.items() if s not in weights})
    for p in model.params:
        W = ex.symbols(p)
        grad = np.zeros(W.shape)
        for k, w in enumerate(W):
            # Every other weight takes its value too: J becomes an expression in w alone, whose
            # sympy.diff is cheap; the derivative is still exact, and only then evaluated at w's value.
            Jw = J.xreplace({s: exact[s] for s in weights if s != w})
            grad.flat[k] = float(sp.diff(Jw, w).xreplace({w: exact[w]}).evalf(DIGITS))
        out[p.name] = grad
    return out


def verify(net, convention="rows", seed=0, m=2, name=None, jit=False, derivation=None) -> Report:
    """Compare every derived gradient of ``net`` with jax.grad, finite differences and sympy.diff.

    ``jit=False`` runs the lowered functions op by op: for the small arrays of a check that is faster
    than compiling them, and the formulas are the same. ``derivation`` replaces ``net.derive()``
    (to check a derivation that was edited, say)."""
    import jax
    from derive._scalar import ScalarTooLarge
    from ._lower import lower

    d = derivation if derivation is not None else net.derive(convention)
    model = d.model
    point = random_point(model, seed, m)
    with jax.enable_x64(True):
        low = lower(d, "float64")
        extra = (point.masks,) if model.masks else ()

        def loss(p):
            return low.loss(p, point.x, point.y, *extra)

        ctx = jax.disable_jit() if not jit else _nullcontext()
        with ctx:
            params = {k: jax.numpy.asarray(v) for k, v in point.params.items()}
            derived = {k: np.asarray(v) for k, v in low.grads(params, point.x, point.y, *extra).items()}
            auto = {k: np.asarray(v) for k, v in jax.grad(loss)(params).items()}
            rng = np.random.default_rng(seed + 1)
            eps = float(np.finfo(np.float64).eps)
            np_params = {k: np.asarray(v) for k, v in point.params.items()}
            results = {}
            for p in model.params:
                r = ParamResult(p.name, tuple(int(s) for s in p.shape))
                g = derived[p.name]
                r.comparisons["jax_grad"] = _compare("jax_grad", g, auto[p.name])
                dirs, fds = _directional(loss, np_params, p.name, rng, eps)
                along = np.array([float(np.sum(g * u)) for u in dirs])
                r.comparisons["finite_diff"] = _compare("finite_diff", along, fds,
                                                        scale=float(np.linalg.norm(auto[p.name])))
                results[p.name] = r
    try:
        exact = scalar_gradients(d, point, point.params)
        scalar = "used"
    except ScalarTooLarge as exc:
        exact, scalar = None, str(exc).split(";")[0]
    if exact is not None:
        for pname, r in results.items():
            r.comparisons["sympy"] = _compare("sympy", derived[pname], exact[pname])
    return Report(name or getattr(net, "name", "network"), model.convention, m, seed, results, scalar)


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def add_arguments(parser) -> None:
    parser.add_argument("model", help="built-in example, file.py[:name], or an inline spec like 2-2:tanh-2:softmax")
    parser.add_argument("--loss", help="ce, bce, mse, or a formula in yhat and y")
    parser.add_argument("--convention", choices=["rows", "columns"], default="rows")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random point (default 0)")
    parser.add_argument("--batch-size", type=int, default=2, help="examples at the point (default 2)")
    parser.add_argument("--jit", action="store_true", help="check the jit-compiled functions (slower to start)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the results")


def main(args) -> int:
    from derive._examples import resolve
    name, net = resolve(args.model, args.loss)
    if args.batch_size < 1:
        print(f"derivax: --batch-size must be at least 1, not {args.batch_size}", file=sys.stderr)
        return 2
    report = verify(net, args.convention, args.seed, args.batch_size, name, args.jit)
    report.render()
    if args.json:
        print(report.to_json())
    return 0 if report.ok else 1

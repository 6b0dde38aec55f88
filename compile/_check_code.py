"""`derivax check-code MODEL file.py:function`: a backward function you wrote, against the derivation.

The function takes ``(params, x, y)`` in the rows convention: params maps W1, b1, W2, ... to float64
arrays, W of shape (in, out) and b of shape (out,); x is (batch, in), y is (batch, out), one-hot for
categorical cross-entropy. It returns a dict of the gradients of J, the loss averaged over the batch,
under the same names. It runs at random points (each with its own batch size, so that a factor of m
can be told from a constant) and, for a built-in example, at the example's data; each gradient it
returns is compared with the derived gradient lowered to JAX in float64 (dropout off).

Per parameter the error is max |user - ref| / max(max |ref|, 1e-12), worst over the points.
JAX is imported inside functions: the command line imports this module at start-up.
"""
from __future__ import annotations

import json
import runpy
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._factor import close, factor, transposed
from ._points import random_point

# ok iff max |user - ref| <= RTOL * max |ref| + ATOL at every point. float64 code that computes the
# same formula in another order agrees to ~1e-13; 1e-6 leaves room for a 1e-8 epsilon in a log or a
# clip, and is far below what a real mistake gives (a missing 1/m, a wrong derivative: O(0.1) and up).
# A result in float32 (or narrower) carries ~1e-7 rounding per operation and longer sums lose more:
# it is held to 1e-4.
TOLERANCES = {"float64": (1e-6, 1e-12), "float32": (1e-4, 1e-7)}
BATCH = 5            # examples at the first random point; point k has BATCH + k
_LOWERED: dict = {}  # lowered derivations, by network declaration: lowering costs about a second


@dataclass
class ParamResult:
    name: str
    ok: bool
    max_rel_err: float | None   # None where no comparison could be made (missing, bad shape, ...)
    message: str
    worst_point: str | None = None

    def as_dict(self):
        return {"ok": self.ok, "max_rel_err": self.max_rel_err, "message": self.message,
                "worst_point": self.worst_point}


@dataclass
class CodeReport:
    model: str
    function: str
    params: dict                    # name -> ParamResult, in the derivation's order
    points: list                    # labels of the points the function ran at
    extra: list = field(default_factory=list)  # keys returned that are no parameter
    error: str | None = None        # what stopped the function as a whole (exception, not a dict)
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and all(p.ok for p in self.params.values())

    def summary(self) -> str:
        wrong = [n for n, p in self.params.items() if not p.ok]
        if self.error:
            return f"the function failed; all {len(wrong)} gradients count as wrong"
        where = f"at {len(self.points)} point(s): {', '.join(self.points)}"
        if not wrong:
            return f"all {len(self.params)} gradients right {where}"
        return f"{len(wrong)} of {len(self.params)} gradients wrong ({', '.join(wrong)}) {where}"

    def render(self, console=None) -> None:
        from rich.console import Console
        from rich.table import Table
        console = console or Console(file=sys.stdout, width=None if sys.stdout.isatty() else 120)
        tab = Table(title=f"check-code: {self.function} against the derived gradients of {self.model}")
        for col in ("parameter", "verdict", "max rel err", "worst at", "note"):
            tab.add_column(col, justify="right" if col == "max rel err" else "left")
        for name, p in self.params.items():
            err = "-" if p.max_rel_err is None else f"{p.max_rel_err:.2e}"
            verdict = "[green]right[/green]" if p.ok else "[bold red]wrong[/bold red]"
            note = "the function failed (below)" if self.error else p.message  # not once per row
            tab.add_row(name, verdict, err, p.worst_point or "-", note)
        console.print(tab)
        for line in ([f"error: {self.error}"] if self.error else []) + self.notes + [tolerance_text()]:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        if self.extra:
            console.print(f"note: extra keys returned, not parameters: {', '.join(self.extra)}",
                          markup=False, highlight=False, soft_wrap=True)
        console.print(("OK: " if self.ok else "WRONG: ") + self.summary(), markup=False, highlight=False,
                      soft_wrap=True)

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "params": {n: p.as_dict() for n, p in self.params.items()},
                           "extra": self.extra, "error": self.error, "points": self.points,
                           "tolerance": tolerance_text(), "model": self.model, "function": self.function})


def tolerance_text() -> str:
    (r64, a64), (r32, a32) = TOLERANCES["float64"], TOLERANCES["float32"]
    return (f"tolerance: right iff max|user - ref| <= {r64:g}·max|ref| + {a64:g} at every point "
            f"({r32:g}·max|ref| + {a32:g} for results in float32 or narrower)")


def _tolerance(dtype) -> tuple:
    narrow = np.dtype(dtype).kind == "f" and np.dtype(dtype).itemsize < 8
    return TOLERANCES["float32" if narrow else "float64"]


def _lowered(net):
    """The derivation of ``net`` in rows, lowered to float64 (call inside jax.enable_x64)."""
    from ._lower import lower
    try:
        key = (net.n_inputs, tuple(net.layers), net.loss, net.l2)
        hash(key)
    except TypeError:  # an unhashable activation or loss: lower again
        key = None
    if key is None or key not in _LOWERED:
        low = lower(net.derive("rows"), "float64")
        if key is None:
            return low
        _LOWERED[key] = low
    return _LOWERED[key]


def _points(model, seed, count, data, data_label):
    """(label, params in the derivation's shapes, x, y), float64."""
    out = []
    for k in range(count):
        p = random_point(model, seed + k, BATCH + k, masks=False)
        out.append((f"seed {seed + k} (m={BATCH + k})", p.params, p.x, p.y))
    if data is not None:
        x, y = (data.x_train, data.y_train) if hasattr(data, "x_train") else data
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        params = random_point(model, seed, BATCH, masks=False).params
        out.append((f"{data_label} (m={len(x)})", params, x, y))
    return out


def _exception_text(exc, fn) -> str:
    """Type, message and the line of the user's file where it happened (its last frame there)."""
    frames = traceback.extract_tb(exc.__traceback__)[1:]  # [0] is the call in this module
    code = getattr(fn, "__code__", None)
    user_file = code.co_filename if code else (frames[0].filename if frames else None)
    mine = [f for f in frames if user_file and Path(f.filename).resolve() == Path(user_file).resolve()]
    text = f"raised {type(exc).__name__}: {exc}"
    if mine:
        f = mine[-1]
        text += f" (line {f.lineno} of {Path(f.filename).name}" + (f": {f.line.strip()})" if f.line else ")")
    elif not frames:
        text += " (when called as fn(params, x, y))"
    return text


def _as_array(value):
    """(array, None) or (None, message) for one returned gradient."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - anything that is not array-like is the user's value
        return None, f"not an array ({type(exc).__name__}: {exc})"
    if arr.dtype.kind not in "fiub":
        return None, f"not an array of real numbers (dtype {arr.dtype})"
    return arr, None


def _shape_problem(arr, ref, is_bias, m):
    """The user's array reshaped to the reference shape, or (None, message)."""
    want = ref.shape
    if arr.shape == want or (is_bias and arr.shape == want[1:]):
        return arr.reshape(want), None
    shown = want[1:] if is_bias else want
    msg = f"wrong shape: expected {shown}" + (f" or {want}" if is_bias else "") + f", found {arr.shape}"
    if arr.ndim == 2 and arr.shape == want[::-1]:
        msg += " (transposed?)"
    elif is_bias and arr.shape == (m, want[1]):
        msg += " (not summed over the batch?)"
    return None, msg


def _diagnose(pairs) -> str:
    """What differs, said only when it holds at every point. pairs: [(user, ref, m, rtol, atol)]."""
    if all(not u.any() for u, *_ in pairs):
        return "all zeros"
    if transposed(pairs):
        return "transposed (its transpose is right)"
    found = factor(pairs)
    if found is None:
        return ""
    kind = found[0]
    if kind == "c":
        c, m0 = found[1], found[2]
        hint = " (= the batch size m: missing 1/m?)" if abs(c / m0 - 1) <= 1e-6 else ""
        return f"off by a constant factor: user = {c:.6g} · ref{hint}"
    return {"m": "missing 1/m (user = m · ref)", "1/m": "divided by m twice (user = ref / m)",
            "-m": "wrong sign and missing 1/m (user = -m · ref)", "-1": "wrong sign (user = -ref)"}[kind]


def check_code(net, fn, seed=0, points=3, data=None, model_name=None, data_label="data") -> CodeReport:
    """Run ``fn(params, x, y)`` at ``points`` random points (and at ``data``, an (x, y) pair or a
    compile._data.Dataset) and compare what it returns with the derived gradients of ``net``."""
    import jax
    with jax.enable_x64(True):
        low = _lowered(net)
        model = low.derivation.model
        names = [p.name for p in model.params]
        biases = {layer.b.name for layer in model.layers}
        state = {n: {"err": None, "msg": None, "worst": None, "bad": False, "pairs": []} for n in names}
        labels, extra, error = [], set(), None
        for label, params, x, y in _points(model, seed, points, data, data_label):
            args = (params, x, y) + ((None,) if model.masks else ())
            ref = {k: np.asarray(v) for k, v in low.grads(*args).items()}
            given = {k: (v.reshape(-1) if k in biases else v).copy() for k, v in params.items()}
            labels.append(label)
            try:
                out = fn(given, x.copy(), y.copy())
            except Exception as exc:  # noqa: BLE001 - the user's error is the report, not a crash
                error = f"at {label}: {_exception_text(exc, fn)}"
                break
            if not isinstance(out, dict):
                error = (f"returned a {type(out).__name__}, not a dict of gradients "
                         f"({{{', '.join(repr(n) + ': ...' for n in names)}}})")
                break
            extra |= {str(k) for k in out if k not in state}
            for n in names:
                _compare(state[n], n, out, ref[n], n in biases, len(x), label)
    results = {}
    for n in names:
        s = state[n]
        if error is not None:
            results[n] = ParamResult(n, False, None, f"the function {error}")
        elif s["msg"] is not None:
            results[n] = ParamResult(n, False, None, s["msg"], s["worst"])
        elif s["bad"]:
            why = _diagnose(s["pairs"])
            results[n] = ParamResult(n, False, s["err"], why or "differs from the derived gradient", s["worst"])
        else:
            results[n] = ParamResult(n, True, s["err"], "", s["worst"])
    fname = getattr(fn, "__qualname__", None) or repr(fn)
    return CodeReport(model_name or getattr(net, "name", "net"), fname, results, labels, sorted(extra), error)


def _compare(s, name, out, ref, is_bias, m, label):
    """Fold one point's comparison for one parameter into its running state ``s``."""
    if s["msg"] is not None:
        return
    if name not in out:
        s["msg"], s["worst"] = "missing: not returned", label
        return
    arr, problem = _as_array(out[name])
    if problem is None:
        arr_shaped, problem = _shape_problem(arr, ref, is_bias, m)
    if problem is None and not np.isfinite(arr_shaped).all():
        problem = f"{int((~np.isfinite(arr_shaped)).sum())} non-finite value(s) (nan or inf)"
    if problem is not None:
        s["msg"], s["worst"] = problem, label
        return
    rtol, atol = _tolerance(arr.dtype)
    u = arr_shaped.astype(np.float64)
    rel = float(np.max(np.abs(u - ref))) / max(float(np.max(np.abs(ref))), 1e-12)
    if s["err"] is None or rel > s["err"]:
        s["err"], s["worst"] = rel, label
    s["bad"] |= not close(u, ref, rtol, atol)
    s["pairs"].append((u, ref, m, rtol, atol))


# ---- command line ----

def add_arguments(parser) -> None:
    parser.description = ("Check a backward function you wrote. It takes (params, x, y) in the rows "
                          "convention (W of shape (in, out), b of shape (out,), x (batch, in), y (batch, "
                          "out)) and returns a dict of the gradients of the mean-over-batch loss.")
    parser.add_argument("model", help="built-in example, file.py[:name], or an inline spec like 2-2:tanh-2:softmax")
    parser.add_argument("function", help="file.py[:name] defining the backward function (default name: backward); "
                                         "rows convention only")
    parser.add_argument("--loss", help="ce, bce, mse, or a formula in yhat and y")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first random point (default 0)")
    parser.add_argument("--points", type=int, default=3, help="random points (default 3)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the results")


def load_function(spec: str):
    """(callable, label) from file.py[:name], or raise ValueError with a one-line message."""
    path, sep, name = spec.rpartition(":")
    if not sep or not name.isidentifier():  # no name given (or a drive letter's colon)
        path, name = spec, "backward"
    if not Path(path).is_file():
        raise ValueError(f"no such file: {path}")
    try:
        namespace = runpy.run_path(path)  # the user's own program, run as they asked
    except Exception as exc:  # noqa: BLE001 - a file that does not run is a bad argument
        where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) else ""
        raise ValueError(f"{path} failed to run: {type(exc).__name__}: {exc}{where}") from None
    if name not in namespace:
        found = sorted(k for k, v in namespace.items() if callable(v) and getattr(v, "__module__", None)
                       == namespace.get("__name__") and not k.startswith("_"))
        raise ValueError(f"{path} defines no {name!r}" + (f"; functions there: {', '.join(found)}" if found else ""))
    fn = namespace[name]
    if not callable(fn):
        raise ValueError(f"{path}:{name} is a {type(fn).__name__}, not a function")
    return fn, f"{Path(path).name}:{name}"


def main(args) -> int:
    from derive._examples import EXAMPLES, resolve

    from ._data import BUILTINS, DataError, load
    if args.points < 1:
        print(f"derivax: --points must be at least 1, not {args.points}", file=sys.stderr)
        return 2
    try:
        fn, label = load_function(args.function)
    except ValueError as exc:
        print(f"derivax: {exc}", file=sys.stderr)
        return 2
    name, net = resolve(args.model, args.loss)
    data, notes = None, []
    if args.model in EXAMPLES and args.model in BUILTINS:
        try:
            data = load(args.model, n_inputs=net.n_inputs, n_outputs=net.layers[-1].units)
        except (DataError, ImportError) as exc:
            notes.append(f"note: the {args.model} data was skipped: {exc}")
    report = check_code(net, fn, args.seed, args.points, data, model_name=name, data_label=f"{name} data")
    report.function = label
    report.notes += notes
    report.render()
    if args.json:
        print(report.to_json())
    return 0 if report.ok else 1

"""`derivax check-code MODEL file.py:function`: a backward function you wrote, against the derivation.

The function takes ``(params, x, y)`` in the rows convention: params maps W1, b1, W2, ... to float64
arrays, W of shape (in, out) and b of shape (out,); x is (batch, in), y is (batch, out), one-hot for
categorical cross-entropy. It returns a dict of the gradients of J, the loss averaged over the batch,
under the same names. It runs at random points (each with its own batch size, so that a factor of m
can be told from a constant) and, for a built-in example, at the example's data; each gradient it
returns is compared with the derived gradient lowered to JAX in float64 (dropout off).

Per parameter the error is max |user - ref| / max(max |ref|, 1e-12), worst over the points.
JAX is imported inside functions: the command line imports this module at start-up.

A function in a file is loaded and called in a child process, one for all points of a check, under a
time limit per call (``compile.checks.sandbox``); a callable given from Python is called in this process.
Either way every way the function can end (an exception, an exit, a signal, a time-out, a value that
is no dict of arrays) becomes the report's ``error`` and ``stopped``, never a crash of the check.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compile.checks.factor import close, factor, transposed
from compile.checks.readings import DRAWN_MASK, broadcast_problem, realigned
from compile.checks.results import Comparison, ParamResult
from compile.checks.points import random_point
from compile.checks.sandbox import DEFAULT_TIMEOUT, MAX_TIMEOUT, InChild, open_function

# ok iff max |user - ref| <= RTOL * max |ref| + ATOL at every point. float64 code that computes the
# same formula in another order agrees to ~1e-13; 1e-6 leaves room for a 1e-8 epsilon in a log or a
# clip, and is far below what a real mistake gives (a missing 1/m, a wrong derivative: O(0.1) and up).
# A result in float32 (or narrower) carries ~1e-7 rounding per operation and longer sums lose more:
# it is held to 1e-4. float16 keeps 11 bits (one rounding alone is up to 4.9e-4 of a value): a result in it
# is held to 1e-2, ten of its epsilons, still far below a real mistake.
TOLERANCES = {"float64": (1e-6, 1e-12), "float32": (1e-4, 1e-7), "float16": (1e-2, 1e-5)}
BATCH = 5            # examples at the first random point; point k has BATCH + k
ZERO_REFERENCE = 1e-10   # a derived gradient no larger than this at every point is 0, to rounding
DATA_SEQUENCES = 256  # sequences of a data set at its point (a corpus of 13081 would take each call minutes)
_LOWERED: dict = {}  # lowered derivations, by network declaration: lowering costs about a second


@dataclass
class CodeReport:
    model: str
    function: str
    params: dict                    # name -> ParamResult, in the derivation's order
    points: list                    # labels of the points the function ran at
    extra: list = field(default_factory=list)  # keys returned that are no parameter
    error: str | None = None        # what stopped the function as a whole, as a sentence
    notes: list = field(default_factory=list)
    # what kind of thing stopped it: "exception", "exit", "signal", "timeout", "KeyboardInterrupt",
    # "MemoryError", "result" (no dict returned), "crash" (the channel to the child broke); for a file
    # that did not load also "argument" (no such function); None when it ran at every point
    stopped: str | None = None
    intermediates: dict = field(default_factory=dict)   # key -> ParamResult, in backward order
    first_wrong: object = None                          # the first wrong intermediate's ParamResult
    dz: str = "adjoint"   # how the intermediates were read: as ∂J/∂N, or as the courses write them ("delta")
    loss_wrong: str | None = None   # the returned loss is not J while the gradients are J's, as a sentence
    rules_wrong: str | None = None  # a Value class's backward rules found wrong, tested each on its own
    indexes_data: bool = False      # what stopped it was an index made of the inputs or targets it was handed
    peaks: dict = field(default_factory=dict, repr=False)   # parameter -> the largest |entry| of its derived gradient
    # checked again below a clip at ±c: the gradients compared as np.clip cut them, and those whose derived or returned
    # entries still reach ±c
    clip_cut: list = field(default_factory=list, repr=False)
    clip_reached: list = field(default_factory=list, repr=False)
    takes: list = field(default_factory=list, repr=False)   # the names of the function's parameters (self left out)
    # what it returned at each point that ran: (the batch size m, {parameter: its gradient as returned})
    returned: list = field(default_factory=list, repr=False)
    # c, where its gradients were read as clipped by their global norm at c (and judged unclipped)
    norm_clip: float | None = field(default=None, repr=False)
    # the learning rate, where the gradients were read off an update in place: (W before − W after) / lr
    update: float | None = field(default=None, repr=False)
    # the parameters whose derived gradient is 0 at every point: their error is an absolute size, not a relative one
    zero_ref: list = field(default_factory=list, repr=False)

    def meaning(self, p) -> str:
        """What an intermediate's key was compared with: ∂J/∂Z₂, or in the courses' reading δ₂ or ∂J/∂A₁
        without the loss's constant factor."""
        from derive.printing.show import name as shown
        node = str(p.node)
        if _state_meaning(node):
            return _state_meaning(node)
        if self.dz == "delta" and node[:1] == "Z" and node[1:].isdigit():
            return shown(f"delta{node[1:]}", "text")
        return f"∂J/∂{shown(node, 'text')}" + (" without the 1/m" if self.dz == "delta" else "")

    @property
    def ok(self) -> bool:
        return self.error is None and self.loss_wrong is None and self.rules_wrong is None and all(
            p.ok for p in [*self.params.values(), *self.intermediates.values()])

    def summary(self) -> str:
        wrong = [n for n, p in self.params.items() if not p.ok]
        if self.error:
            return f"the function could not be checked: {self.error}"
        where = f"at {len(self.points)} point(s): {', '.join(self.points)}"
        inner = (f" and {len(self.intermediates)} intermediate{'s' if len(self.intermediates) != 1 else ''}"
                 if self.intermediates else "")
        first = ""
        if self.first_wrong is not None:
            f = self.first_wrong
            first = (f"; the first wrong intermediate in backward order is {f.name} ({self.meaning(f)}): "
                     f"{f.message or 'differs from the derived adjoint'}")
        every = f"all {len(self.params)} gradients" if len(self.params) != 1 else f"the one gradient ({next(iter(self.params))})"
        if not wrong and self.first_wrong is None and (self.loss_wrong or self.rules_wrong):
            return f"{every}{inner} right {where}, but " + "; and ".join(
                filter(None, (self.loss_wrong, self.rules_wrong)))
        if not wrong and self.first_wrong is None:
            return f"{every}{inner} right {where}"
        if not wrong:
            return f"{every} right, but not every intermediate{first} ({where})"
        return (f"{len(wrong)} of {len(self.params)} gradient{'s' if len(self.params) != 1 else ''} wrong ({', '.join(wrong)}) {where}{first}"
                + (f"; and {self.loss_wrong}" if self.loss_wrong else ""))

    def render(self, console=None) -> None:
        from rich.console import Console
        from rich.table import Table
        console = console or Console(file=sys.stdout, width=None if sys.stdout.isatty() else 120)
        tab = Table(title=f"check-code: {self.function} against the derived gradients of {self.model}")
        for col in ("parameter", "verdict", "max rel err", "worst at", "note"):
            tab.add_column(col, justify="right" if col == "max rel err" else "left")
        for name, p in self.params.items():
            err = "-" if p.max_rel_err is None else "ref 0" if name in self.zero_ref else f"{p.max_rel_err:.2e}"
            verdict = ("[green]right[/green]" if p.ok else "[bold red]not checked[/bold red]" if self.error
                       else "[bold red]wrong[/bold red]")
            note = "the function failed (below)" if self.error else p.message  # not once per row
            tab.add_row(name, verdict, err, p.worst_point or "-", note)
        for name, p in self.intermediates.items():
            err = "-" if p.max_rel_err is None else f"{p.max_rel_err:.2e}"
            verdict = "[green]right[/green]" if p.ok else "[bold red]wrong[/bold red]"
            mark = " (first wrong)" if p is self.first_wrong else ""
            tab.add_row(f"{name} = {self.meaning(p)}", verdict + mark, err, p.worst_point or "-",
                        "" if self.error else p.message)
        if self.loss_wrong:
            tab.add_row("the loss returned", "[bold red]wrong[/bold red]", "-", "-", "not the network's J (below)")
        console.print(tab)
        for line in self.notes + [tolerance_text()]:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        if self.extra:
            console.print(f"note: extra keys returned, not parameters: {', '.join(self.extra)}",
                          markup=False, highlight=False, soft_wrap=True)
        verdict = "OK: " if self.ok else "ERROR: " if self.error else "WRONG: "
        console.print(verdict + self.summary(), markup=False, highlight=False, soft_wrap=True)

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "params": {n: {"ok": p.ok, "max_rel_err": p.max_rel_err, "message": p.message,
                                               "worst_point": p.worst_point,
                                               **({"max_rel_err": None, "reference_zero": True,
                                                   "max_abs_err": p.comparisons["derived"].max_abs_err}
                                                  if n in self.zero_ref else {})} for n, p in self.params.items()},
                           "intermediates": {n: {"node": p.node, "ok": p.ok, "max_rel_err": p.max_rel_err,
                                                 "message": p.message, "worst_point": p.worst_point}
                                             for n, p in self.intermediates.items()},
                           "first_wrong": None if self.first_wrong is None else self.first_wrong.name,
                           "extra": self.extra, "error": self.error, "stopped": self.stopped,
                           "loss_wrong": self.loss_wrong, "rules_wrong": self.rules_wrong,
                           "points": self.points,
                           "tolerance": tolerance_text(), "model": self.model, "function": self.function})


def _state_meaning(node) -> str:
    """"∂J/∂h₁⟨0⟩, the initial state's" for a recurrence's state at one fixed step, h1_at0; "" for any other node."""
    import re
    match = re.fullmatch(r"([a-z]+)(\d+)_at(\d+)", str(node))
    if not match:
        return ""
    from derive.printing.show import name as shown
    state = f"∂J/∂{shown(match.group(1) + match.group(2), 'text')}⟨{match.group(3)}⟩"
    return state + ", the initial state's" if match.group(3) == "0" else state


def tolerance_text() -> str:
    (r64, a64), (r32, a32), (r16, a16) = TOLERANCES["float64"], TOLERANCES["float32"], TOLERANCES["float16"]
    return (f"tolerance: right iff max|user - ref| <= {r64:g}·max|ref| + {a64:g} at every point "
            f"({r32:g}·max|ref| + {a32:g} for results in float32, {r16:g}·max|ref| + {a16:g} in float16)")


def _tolerance(narrow: bool, half: bool = False) -> tuple:
    return TOLERANCES["float16" if half else "float32" if narrow else "float64"]


def _lowered(net, convention="rows"):
    """The derivation of ``net`` in ``convention``, lowered to float64 (call inside jax.enable_x64)."""
    from compile.lowering.lower import lower
    try:
        # everything the derivation hangs on: a key without the decay's form or the reduction handed a
        # (λ/2) ΣW² network the lowering of a λ ΣW² one
        key = (net.n_inputs, tuple(net.layers), net.loss, net.l2, getattr(net, "l2_form", None),
               getattr(net, "reduction", None), getattr(net, "steps", None), convention)
        hash(key)
    except TypeError:  # an unhashable activation or loss: lower again
        key = None
    if key is None or key not in _LOWERED:
        low = lower(net.derive(convention), "float64")
        if key is None:
            return low
        _LOWERED[key] = low
    return _LOWERED[key]


def _points(model, seed, count, data, data_label, scale=1.0, masks=False):
    """(label, params in the derivation's shapes, x, y, dropout masks or None), float64; ``scale`` multiplies
    the parameters; ``masks`` draws the dropout masks (batch-first, scaled by 1/keep, as training does)."""
    out = []
    for k in range(count):
        p = random_point(model, seed + k, BATCH + k, masks=masks)
        out.append((f"seed {seed + k} (m={BATCH + k})", {n: v * scale for n, v in p.params.items()}, p.x, p.y,
                    p.masks if masks else None))
    if data is not None:
        x, y = _data_arrays(model, data)
        params = random_point(model, seed, BATCH, masks=False).params
        cut = ""
        if model.Y.rank == 3 and len(x) > DATA_SEQUENCES:   # a corpus of sequences: its first ones, one call
            cut, x, y = f"first {DATA_SEQUENCES} of {len(x)} sequences, ", x[:DATA_SEQUENCES], y[:DATA_SEQUENCES]
        out.append((f"{data_label} ({cut}m={len(x)})", params, x, y, None))
    return out


def _data_arrays(model, data):
    """``data`` (a Dataset or an (x, y) pair) checked against the network, as float64; a
    compile.train.data.DataError (a ValueError) names what does not fit."""
    from compile.train.data import DataError, check_data, check_tokens
    if hasattr(data, "x_train"):
        data = (data.x_train, data.y_train)
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise DataError(f"data: expected an (x, y) pair or a compile.train.data.Dataset, found {type(data).__name__}")
    if getattr(model, "vocab", None):   # indices into an embedding: out of range they would be read wrong silently
        try:
            check_tokens(np.asarray(data[0]), model.vocab, "data: x")
        except TypeError:
            pass   # not numbers: check_data names it
    n_out = model.sizes[-1]
    labels = model.loss_name in ("ce", "svm") or (model.loss_name == "bce" and n_out == 1)
    steps = int(model.Y.shape[1]) if model.Y.rank == 3 else None   # an output at every step: y (N, steps, outputs)
    return check_data(*data, model.sizes[0], n_out, "classification" if labels else "regression", "data",
                      dtype=np.float64, steps=steps)


def _shape_problem(arr, ref, is_bias, m, name=None, handed=None):
    """The user's array reshaped to the reference shape, or (None, message). A dense layer's bias,
    printed (1, units), may come as (units,); a convolution's, printed (c_out,), as (1, c_out): as long as
    an update with it keeps the shape the parameter was ``handed`` in (a (4,) for a (4, 1) does not)."""
    want = ref.shape
    if is_bias and arr.size == ref.size:
        grown = broadcast_problem(arr, name, handed)
        if grown is not None:
            return None, grown
    if is_bias and arr.size == ref.size and [d for d in arr.shape if d != 1] == [d for d in want if d != 1]:
        return arr.reshape(want), None   # the same entries, axes of length 1 kept or dropped: (1, 1, 1, c)
    other = (want[1:] if len(want) == 2 else (1,) + want) if is_bias else None
    vector = [d for d in want if d != 1]
    if is_bias and len(vector) == 1 and len(want) == 2:  # (n,), (1, n) and (n, 1): the same n entries
        if arr.shape in ((vector[0],), (1, vector[0]), (vector[0], 1)):
            return arr.reshape(want), None
        other = (vector[0],)
    if arr.shape == want or arr.shape == other:
        return arr.reshape(want), None
    shown = (other if len(want) == 2 else want) if is_bias else want
    msg = f"wrong shape: expected {shown}" + (f" or {other if len(want) == 1 else want}" if is_bias else "") \
        + f", found {arr.shape}"
    if arr.ndim == 2 and arr.shape == want[::-1]:
        msg += " (transposed?)"
    elif is_bias and len(want) == 2 and arr.shape == (m, want[1]):
        msg += " (not summed over the batch?)"
    elif is_bias and len(want) == 2 and want[1] == 1 and arr.shape == (want[0], m):   # columns: (n, m)
        msg += " (not summed over the batch: sum over axis 1, keepdims=True)"
    elif is_bias and len(want) == 2 and want[1] == 1 and arr.shape == (1, m):
        msg += " (summed over axis 0, the units, instead of axis 1, the batch)"
    elif is_bias and len(want) == 2 and want[0] == 1 and arr.shape in ((m,), (m, 1)):   # rows: (m,) for (n,)
        msg += " (summed over axis 1, the units, instead of axis 0, the batch)"
    elif is_bias and len(want) == 1 and arr.ndim >= 2 and arr.shape[-1] == want[0]:
        msg += " (not summed over the batch and every position?)"
    return None, msg


def _diagnose(pairs, keep=None, squared=False, outputs=None, bce=False, reduction="mean", steps=None) -> str:
    """What differs, said only when it holds at every point. pairs: [(user, ref, m, rtol, atol)]. A factor that
    follows m is worded for the ``reduction`` J has over the batch: under the mean a gradient m times the right
    one misses its 1/m, under the sum (no 1/m at all) one m times smaller divides by m where J does not."""
    summed = reduction == "sum"
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
        hint = (" (= the batch size m: multiplied by m? J is the sum over the batch here, --reduction sum)" if summed
                else " (= the batch size m: missing 1/m?)") if abs(c / m0 - 1) <= 1e-6 else ""
        if summed and abs(c * m0 - 1) <= 1e-6:
            hint = " (= 1/m: J is the sum over the batch here (--reduction sum); is yours the mean?)"
        over_batch = "sums over the batch" if summed else "averages over the batch"
        j_form = "J = Σ (A − Y)²" if summed else "J = (1/m) Σ (A − Y)²"
        if squared and abs(c - 0.5) <= 1e-5 and outputs == 2:   # 1/2 is also the mean over the 2 outputs
            hint = (f" (= 1/2, which reads two ways: your loss averages over the 2 outputs, as np.mean of every "
                    f"entry or PyTorch's MSELoss do, or it has the ½ of a squared error, (yhat − y)²/2; derivax's mse "
                    f"sums over the outputs and {over_batch}: {j_form}; declare yours with --loss)")
        elif squared and (abs(c - 0.5) <= 1e-5 or abs(c - 2) <= 4e-5):
            hint = (" (the ½ of a squared error: is your loss (yhat − y)²/2, or (yhat − y)²? declare it with "
                    "--loss)")
        elif squared and outputs and outputs > 1 and any(abs(c * outputs * k - 1) <= 1e-5 for k in (1, 2)):
            half = " and halved" if abs(c * outputs * 2 - 1) <= 1e-5 else ""
            hint = (f" (= 1/{outputs}{' / 2' if half else ''}: your loss averages over the {outputs} outputs"
                    f"{half}, as np.mean of every entry or PyTorch's MSELoss do; derivax's mse sums over the "
                    f"outputs and {over_batch}: {j_form})")
        elif bce and outputs and outputs > 1 and abs(c * outputs - 1) <= 1e-5:
            hint = (f" (= 1/{outputs}: your loss averages over the {outputs} outputs, as np.mean of every entry does; "
                    f"derivax's bce sums over the outputs and {over_batch}: declare yours with --loss "
                    f"\"-(y*log(yhat) + (1 - y)*log(1 - yhat))/{outputs}\")")
        if steps and steps > 1 and abs(c * steps - 1) <= 1e-6:
            hint = (f" (= 1/{steps}: averaged over the {steps} steps as well; J sums the loss over the steps and "
                    + ("the batch)" if summed else "averages over the batch alone: divide by m, not by m·T)"))
        if keep and abs(c - keep) <= 1e-6 * keep:
            hint = " (= the keep probability: the dropout's 1/keep_prob left out?)"
        elif keep and abs(c * keep - 1) <= 1e-6:
            hint = " (= 1/keep probability: the dropout's 1/keep_prob applied twice?)"
        return f"off by a constant factor: user = {c:.6g} · ref{hint}"
    if summed:
        sum_here = "J is the sum over the batch here (--reduction sum)"
        return {"m": f"multiplied by m (user = m · ref): {sum_here}, with no 1/m to leave out",
                "1/m": f"divided by m (user = ref / m): {sum_here}; is yours the mean?",
                "-m": f"wrong sign and multiplied by m (user = -m · ref): {sum_here}",
                "-1": "wrong sign (user = -ref)"}[kind]
    return {"m": "missing 1/m (user = m · ref)", "1/m": "divided by m twice (user = ref / m)",
            "-m": "wrong sign and missing 1/m (user = -m · ref)", "-1": "wrong sign (user = -ref)"}[kind]


def _clip_likely(c, reply, ref, names, m, per_example) -> bool:
    """Whether gradients whose largest entries are ±c (``reply["clipped"]``) were clipped there, as np.clip(d, -c, c)
    does: not where c is 1/m (a gradient's own value, one entry's share of the mean) or a value the reference
    takes too; and, where each call returns the whole batch's gradient, only where an entry at ±c is one the
    reference has beyond c (the clip cut it). Called once per example, the results are sums of clipped terms
    that the reference (of the whole batch) cannot show: there the first two tests alone decide."""
    if not c or abs(c * m - 1) <= 1e-9:
        return False
    beyond = False
    for n in names:
        u, r = reply["values"].get(n), ref.get(n)
        if u is None or r is None or u.size != r.size or not r.size:
            continue
        u, r = u.reshape(r.shape), np.abs(np.asarray(r, float))
        if np.any(np.abs(r - c) <= 1e-9 * c):
            return False
        at = np.abs(np.abs(u) - c) <= 1e-12 * c
        beyond |= bool(np.any(r[at] > c * (1 + 1e-9)))
    return beyond or bool(per_example)


def _single_references(model, low, params, x, y, drop) -> list:
    """The derived gradients of each example's own loss at a point, one dict an example: what code called once per
    example has before it averages (or sums) them."""
    out = []
    for i in range(len(x)):
        masks = (None if drop is None else {k: v[i:i + 1] for k, v in drop.items()},) if model.masks else ()
        out.append({k: np.asarray(v) for k, v in low.grads(params, x[i:i + 1], y[i:i + 1], *masks).items()})
    return out


def _clip_aware(ref, reply, names, c, singles=None, summed=False) -> tuple:
    """(references, names compared as clipped, names the clip reaches) for code that clips its gradients at ±c: each
    derived gradient, or, where the returned one is nearer to it, that gradient as np.clip(d, -c, c) leaves it (for code
    called once per example, each example's gradient clipped, then averaged, or summed under --reduction sum). A
    gradient the code does not clip is compared with the derived one, so that no clip is read into it. The clip
    reaches a gradient whose derived entries (each example's) go past ±c, or whose returned entries sit at ±c."""
    out, cut, reached = dict(ref), set(), set()
    for n in names:
        u, r = reply.get("values", {}).get(n), ref.get(n)
        if u is None or r is None or u.size != r.size or (singles and n not in singles[0]):
            continue
        u = u.reshape(r.shape)
        if singles:
            clipped = sum(np.clip(g[n], -c, c) for g in singles)
            clipped = clipped if summed else clipped / len(singles)
            beyond = any(np.any(np.abs(g[n]) > c * (1 + 1e-9)) for g in singles)
        else:
            clipped, beyond = np.clip(r, -c, c), bool(np.any(np.abs(r) > c * (1 + 1e-9)))
        if beyond or np.any(np.abs(np.abs(u) - c) <= 1e-12 * c):
            reached.add(n)
        if beyond and np.max(np.abs(u - clipped)) < np.max(np.abs(u - r)):
            out[n] = clipped
            cut.add(n)
    return out, cut, reached


def _below_clip(first, c, again):
    """The check of code that clips its gradients at ±c (np.clip(d, -c, c)) run again with the parameters scaled
    down, ``again(factor)``, where the clip cuts less: each gradient compared with the derived one or, where the
    clip cuts that, with it clipped. First at 0.1 of the parameters; at 0.01 and 0.001 only while a gradient the clip
    still reaches shrinks with the parameters (an output bias's, the output minus targets that are not scaled, does
    not). One report with one note; ``first`` where no check again could run."""
    best, previous, scale = None, first.peaks, None
    for factor in (0.1, 0.01, 0.001):
        retry = again(factor)
        if retry.error is not None:
            break
        best, scale = retry, factor
        if not any(retry.peaks.get(n, 0.0) < 0.5 * previous.get(n, 0.0) for n in retry.clip_reached):
            break
        previous = retry.peaks
    if best is None:
        return first
    where = ("where no entry reaches the clip" if not best.clip_reached else
             f"where the clip still cuts the derived gradient of {', '.join(best.clip_cut)}: compared with it clipped, "
             f"as np.clip(d, -{c:g}, {c:g}) leaves it, and every other entry exactly" if best.clip_cut else
             "where the clip cuts none of the gradients it returned: each compared exactly")
    best.notes.append(f"its gradients stop at ±{c:g} (clipped, as np.clip does): checked again with the parameters "
                      f"scaled by {scale:g}, {where}")
    return best


# Gradients clipped by their global norm at c come back with that norm at c: exactly where the code scales them by
# c / norm, and short of it by at most 1e-6 where it scales by c / (norm + 1e-6), as torch's clip_grad_norm_ does.
NORM_ATOL = 2e-6


def _global_norm(values, ref, names):
    """The norm of every parameter gradient returned at a point taken together, sqrt(Σ Σ g²) over the parameters (what
    a clip by the global norm measures); None where one is missing, of another size or not finite."""
    total = 0.0
    for n in names:
        u, r = values.get(n), ref.get(n)
        if u is None or r is None or np.size(u) != np.size(r):
            return None
        u = np.asarray(u, float)
        with np.errstate(over="ignore"):   # a norm past the largest double is no clip's
            total += float(np.sum(u * u))
    return float(np.sqrt(total)) if np.isfinite(total) else None


def _at_level(norm, c) -> bool:
    """Whether a global norm is at the clip's bound c (short of it by torch's 1e-6 at most)."""
    return norm is not None and abs(norm - c) <= NORM_ATOL + 1e-9 * c


def _one_by_one(run, given, xs, ys, names, optional, layout, context):
    """What code called once per example returns for each example of a point alone (x's row, or column in the columns
    layout, and y's), one call of ``run`` with a batch of one each: [reply], or None where a call did not return."""
    m = xs.shape[1] if layout == "columns" else xs.shape[0]
    out = []
    for i in range(m):
        reply = run(given, xs[:, i:i + 1] if layout == "columns" else xs[i:i + 1],
                    ys[:, i:i + 1] if layout == "columns" else ys[i:i + 1], names, optional, per_example=layout,
                    context=context)
        if reply.get("status") != "returned":
            return None
        out.append(reply)
    return out


def _examples_unclipped(ones, singles, reply, ref, weights, c, summed, label, clipped) -> dict:
    """The references at a point for code called once per example that clips each example's gradients by their global
    norm at c, and ``reply``'s gradients rebuilt from what it returned for each example alone (``ones``): where the
    clip cut an example's, divided by the factor it scaled them by (read off those that agree with the example's
    derived gradients, ``singles``), or else that example's derived gradients clipped the same way; then averaged, or
    summed under --reduction sum. Each example the clip cut goes to ``clipped`` as (where, the factor or None)."""
    users, refs, cut = [], [], []
    for i, (one, single) in enumerate(zip(ones, singles)):
        u = {n: np.asarray(one["values"][n], float) for n in weights if n in one["values"]}
        r = {n: np.asarray(single[n], float) for n in weights}
        if _at_level(_global_norm(one["values"], single, weights), c):
            shrink = _common_factor(one, single, weights)
            cut.append((f"{label}, example {i + 1}", shrink))
            if shrink is not None:   # the example's own gradients before the clip scaled them
                u = {n: v / shrink for n, v in u.items()}
            else:
                whole = _global_norm(single, single, weights)
                if whole and whole > c:
                    r = {n: v * (c / whole) for n, v in r.items()}
        users.append(u)
        refs.append(r)
    if any(set(u) != set(users[0]) or any(np.shape(v) != np.shape(users[0][n]) for n, v in u.items()) for u in users):
        return ref   # the examples' results do not add up: compared as the run once per example averaged them
    k = 1 if summed else len(users)
    for n in users[0]:
        reply["values"][n] = sum(u[n] for u in users) / k
    clipped.extend(cut)
    return {**ref, **{n: sum(r[n] for r in refs) / k for n in weights}}


def _global_level(norms):
    """c where the code clips its gradients by their global norm at c: the largest of their norms at the points, reached
    at two points or more, or at one where it is a round number (5, 1, 0.25, as clip bounds are), every other point's
    below it; None otherwise (a norm that varies from point to point is no clip's)."""
    if not norms or any(g is None for g in norms):
        return None
    c = max(norms)
    if not c > 0:
        return None
    at = [g for g in norms if abs(g - c) <= NORM_ATOL + 1e-9 * c]
    from compile.checks.sandbox import CLIP_MAX
    whole = 0.01 <= c <= CLIP_MAX and abs(c - round(c, 2)) <= NORM_ATOL + 1e-9 * c
    if whole:
        return round(c, 2)
    return c if len(at) >= 2 else None


def _common_factor(reply, ref, names):
    """s where the gradients returned at a point are the derived ones times one factor s in (0, 1]: what a clip by the
    global norm scales every gradient by (c / ‖g‖), read off the largest group of gradients that agree with the derived
    ones up to the same factor (a gradient with a slip of its own agrees with none). None where no gradient agrees
    so."""
    found = []
    for n in names:
        u, r = reply["values"].get(n), ref.get(n)
        if u is None or r is None or np.size(u) != np.size(r):
            continue
        r = np.asarray(r, float)
        u = np.asarray(u, float).reshape(r.shape)
        rr = float(np.sum(r * r))
        if rr == 0:
            continue
        s = float(np.sum(u * r)) / rr
        rtol, atol = _tolerance(n in reply["narrow"], n in reply.get("half", ()))
        if 0 < s <= 1 + 1e-9 and close(u, s * r, rtol, atol):
            found.append(s)
    groups = []
    for s in found:
        group = next((g for g in groups if abs(g[0] - s) <= 1e-6 * s), None)
        if group is None:
            groups.append([s])
        else:
            group.append(s)
    if not groups:
        return None
    best = max(groups, key=len)
    if sum(len(g) == len(best) for g in groups) > 1:   # two groups as large: which factor is the clip's is not told
        return None
    return min(1.0, best[0])


def _norm_clip_note(c, clipped, total, per_example=False, counted=()) -> str:
    """The one note of a check whose gradients were clipped by their global norm at ``c``: ``clipped`` [(point, the
    common factor, or None where no gradient agreed up to one)] at the points where the clip cut, of ``total``; for
    code called once per example, at the examples where it cut, of ``total`` examples. ``counted``: the keys of the
    intermediates the norm counted too, each scaled with the gradients."""
    read = [s for _, s in clipped if s is not None]
    unread = [at for at, s in clipped if s is None]
    where = (f"{len(clipped)} of {total} examples (called once per example, it clips each example's gradients on their "
             "own, before they are averaged)" if per_example else f"{len(clipped)} of {total} point(s)")
    also = f", and of the intermediates {', '.join(counted)} it returned with them" if counted else ""
    text = (f"its gradients are clipped by their global norm at {c:g} (all scaled by one factor c/‖g‖, ‖g‖ the norm of "
            f"every parameter's gradient taken together{also}, as np.sqrt(sum(np.sum(g * g) for g in grads)) or "
            f"torch's clip_grad_norm_ compute it) at {where}")
    if read:
        lo, hi = min(read), max(read)
        span = f"{lo:.4g}" if abs(hi - lo) <= 1e-6 * hi else f"{lo:.4g} to {hi:.4g}"
        text += (f": there every gradient was divided by the common factor ({span}) that the gradients agreeing with "
                 "the derived ones share, and judged unclipped (a factor common to every gradient does not show "
                 "through such a clip)")
    if unread:
        text += (f"; at {', '.join(unread)} no gradient agreed with the derived one up to one factor: there they were "
                 "compared with the derived gradients clipped the same way")
    return text


def _labels_hint(report, model, columns, per_step, onehot):
    """``report`` with a hint where y handed as class indices (--labels integer) is what made the check fail: code
    that computes with Y one-hot (a notebook's A2 − Y, Y of shape (classes, m)) and is right when ``onehot()`` checks
    it with one-hot Y. In columns the labels (m,) broadcast against (classes, m) without an error."""
    again = onehot()
    if again.error is not None or not again.params or not all(p.ok for p in again.params.values()):
        return report
    k = int(model.sizes[-1])
    steps = ("steps",) if per_step else ()
    labels = (*steps, "m") if columns else ("m", *steps)
    hot = (str(k), *steps, "m") if columns else ("m", *steps, str(k))

    def shape(axes):
        return "(" + ", ".join(axes) + ("," if len(axes) == 1 else "") + ")"
    what = ("classes, " + "steps, " * per_step + "batch") if columns else ("batch, " + "steps, " * per_step + "classes")
    hint = (f"hint: y was handed as class indices of shape {shape(labels)} (--labels integer), and this code takes Y "
            f"one-hot, of shape {shape(hot)} ({what}): with one-hot Y every gradient it returns is right")
    if columns and report.error is None:
        hint += (f". Labels {shape(labels)} broadcast against an array of shape {shape(hot)} without an error, so its "
                 "gradients came out wrong instead of failing")
    make = f"Y = np.eye({k})[y]" + (".T" if columns else "")
    hint += f". Hand it one-hot (leave out --labels integer), or make Y one-hot in the code ({make})"
    report.notes.append(hint)
    for p in report.params.values():
        if p.message == "differs from the derived gradient":
            p.message = "differs from the derived gradient: y handed as class indices where the code takes Y one-hot " \
                        "(hint below)"
    return report


# A function's name that says which loss it computes (CS231n's svm_loss and softmax_loss, a hinge loss, nnfs's
# Loss_BinaryCrossentropy): (the words it is named by, derivax's loss, how to declare it)
NAMED_LOSSES = (
    (("svm", "hinge"), "svm", "the multiclass SVM (hinge) loss", "--loss svm (as 4-4 --loss svm --labels integer)"),
    (("binary_cross", "binarycross", "bce"), "bce", "a binary cross-entropy",
     "--loss bce on a sigmoid output (as 1-1:sigmoid --loss bce)"),
    (("softmax", "cross_entropy", "crossentropy"), "ce", "a softmax cross-entropy",
     "--loss ce on a softmax output (as 4-4:softmax --labels integer)"),
)


def _loss_name_hint(fn, model) -> str | None:
    """A hint where the function's name says it computes a loss other than the one declared (svm_loss checked under
    the default mse); None where its name says none, or says the declared one."""
    shown = str(fn).rpartition(":")[2] if isinstance(fn, (str, os.PathLike)) else str(getattr(fn, "__name__", ""))
    if not any(w in shown.lower() for w in ("loss", "hinge", "entropy")):   # softmax_backward: a layer's, no loss
        return None
    for words, loss, what, how in NAMED_LOSSES:
        if any(w in shown.lower() for w in words):
            if model.loss_name == loss:
                return None
            return (f"hint: {shown} is named for {what}, and the network's loss is {model.loss_name}: check it under the "
                    f"loss it computes, {how}")
    return None


def _layout_text(model, columns, x_axes, per_step, parameterless=False, channels_first=False, labels="onehot") -> str:
    """The arrays the function was handed, as the reading line lists them: the parameters in their layout (none for a
    layer without parameters, whose input gradient alone is checked), x and y; kernels and x channels first where the
    code took them so (CS231n's conv_forward_naive, (N, C, H, W))."""
    if columns:
        return ("" if parameterless else "W (out, in), b (out, 1), ") + "x (inputs, batch), " + (
            "y (batch,) of class indices" if labels == "integer" else "y (outputs, batch)")
    conv = {str(n.name) for l in model.layers if l.kind == "conv" for n in (l.W, l.b) if n is not None}
    kernel_rank = max((len(r.shape) for r in model.records if str(r.name) in conv and r.kind == "weight"), default=0)
    parts = []
    if not parameterless:
        if any(r.kind in ("weight", "bias", "embedding") and str(r.name) not in conv for r in model.records):
            parts.append("W (in, out), b (out,)")
        if conv:
            parts.append("kernels (F, C, HH, WW), biases (F,)" if channels_first and kernel_rank == 4 else
                         "kernels (kh, kw, c_in, c_out), biases (c_out,)" if kernel_rank == 4 else
                         "kernels (k, c_in, c_out), biases (c_out,)")
        norms = [r for r in model.records if r.kind in ("scale", "shift")]
        if norms:
            parts.append("gamma, beta (channels,)" if len(norms[0].shape) > 2 else "gamma, beta (features,)")
    first = channels_first and len(model.input_shape) == 3
    parts.append("x (batch, channels, height, width)" if first else f"x (batch, {x_axes})")
    parts.append(f"y ({'batch, time' if per_step else 'batch,'}) of class indices" if labels == "integer" else
                 f"y (batch, {'time, ' if per_step else ''}outputs)")
    return ", ".join(parts) + ("; channels first, as the code takes them, its gradients read back in derivax's layout"
                               if first else "")


def check_code(net, fn, seed=0, points=3, data=None, model_name=None, data_label="data",
               timeout=DEFAULT_TIMEOUT, convention="rows", names=None, labels="onehot",
               per_example=False, dz="auto", inputs="auto", _scale=1.0, _clip=None, _flip=True,
               _norm=None, _y_vector=False, lr=None) -> CodeReport:
    """Run ``fn(params, x, y)`` at ``points`` random points (and at ``data``, an (x, y) pair or a
    compile.train.data.Dataset) and compare what it returns with the derived gradients of ``net``.

    ``convention="columns"`` hands the function what the deeplearning.ai notebooks and Nielsen's book
    use: W (out, in), b (out, 1), x (inputs, batch), y (outputs, batch). Gradients may be keyed W1 or,
    as the courses write them, dW1; biases may come as (n,), (1, n) or (n, 1). The report's notes say
    which reading was used.

    ``fn`` is a callable, called in this process, or "file.py[:name]", loaded and called in a child
    process; ``timeout`` is the limit in seconds for each call (and for loading the file). A file that
    does not load, or does not define the function, raises compile.checks.sandbox.LoadError; bad
    arguments raise ValueError or TypeError naming them.

    The function may also return adjoints of named intermediate nodes (``dZ5``, ``dxhat4``, or a name
    ``names`` maps to one, ``{"dlogits": "Z5"}``, or the makemore exercise's spelling for a network of
    its shape): each is checked, and the report names the first wrong one in the order the backward
    pass forms them, with the mistake that explains it (``compile.checks.intermediates``).
    ``dz`` reads the returned dZ and dA: "adjoint" as ∂J/∂Z, "delta" as the courses compute them (without the
    loss's 1/m: dZ2 = δ2, dA1 = W2ᵀ dZ2), "auto" (default) the second where only it makes every returned
    intermediate agree; the report says which. The function's parameters are read by name (``sandbox.ROLES``):
    deeplearning.ai's ``backward_propagation(parameters, cache, X, Y)`` gets the forward pass's values as
    ``cache``, CS231n's ``loss(X, y, reg)`` (a method: "file.py:TwoLayerNet") the weight decay's λ.
    ``labels="integer"`` hands y as class indices (batch,) instead of one-hot rows; an embedding's
    input x comes as integers. ``per_example=True`` calls the function once per example, as Nielsen's
    ``backprop(x, y)`` runs, and averages what it returns; a result ``(nabla_b, nabla_w)``, lists of one
    array per layer, is read as b1, b2, ... and W1, W2, ....

    ``inputs="indices"`` draws one-hot inputs and hands each as its index (a character's, as min-char-rnn
    takes them); "auto" (default) hands real values, and the indices where the code fails indexing with
    those. Code from the courses is read as written (``compile.checks.readings``): parameters under its
    own names (``params["W1"]`` for the first weight, ``bngain`` for a batch norm's scale), weights kept in
    module globals (min-char-rnn's ``lossFun(inputs, targets, hprev)``), PyTorch code (handed tensors),
    and a model of scalar values such as micrograd's ``MLP`` ("file.py:MLP"), whose Value class's own
    backward rules are each tested too; the report says which reading was used."""
    import jax
    from compile.checks import intermediates as I
    from compile.lowering.codegen import check_network
    from compile.lowering.evaluate import evaluate
    check_network(net, "check_code")
    _check_arguments(fn, seed, points, timeout)
    if not isinstance(per_example, bool):
        raise TypeError(f"check_code: per_example must be True or False, not {per_example!r}")
    if lr is not None:
        import math
        import numbers
        if not isinstance(lr, numbers.Real) or isinstance(lr, bool) or not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"lr, the learning rate an update in place is divided by, must be a finite number > 0, "
                             f"not {lr!r}"[:300])
        lr = float(lr)
    if names is not None and not isinstance(names, dict):
        raise TypeError(f"names maps your gradients' keys to derivax's node names, a dict such as "
                        f"{{'dlogits': 'Z5'}}, not {type(names).__name__} {names!r}"[:300])
    if labels not in ("onehot", "integer"):
        raise ValueError(f"labels must be 'onehot' or 'integer', not {labels!r}")
    if dz not in ("auto", "adjoint", "delta"):
        raise ValueError(f"dz must be 'auto', 'adjoint' (dZ2 is ∂J/∂Z2) or 'delta' (dZ2 is δ2, as courses write "
                         f"it), not {dz!r}")
    if convention not in ("rows", "columns", "auto"):
        raise ValueError(f"convention must be 'rows' or 'columns', not {convention!r} (or 'auto': rows, or columns "
                         "where only they fit the code)")
    switch = convention == "auto"   # rows, read in columns where only they fit the code's shapes
    convention = "rows" if switch else convention
    if inputs not in ("auto", "values", "indices"):
        raise ValueError(f"inputs must be 'auto', 'values' or 'indices' (one-hot inputs handed as their index), "
                         f"not {inputs!r}")
    if inputs == "auto":
        report = check_code(net, fn, seed, points, data, model_name, data_label, timeout, convention, names, labels,
                            per_example, dz, "values", _y_vector=_y_vector, lr=lr)
        if report.stopped == "exception" and report.indexes_data and data is None:
            retry = check_code(net, fn, seed, points, data, model_name, data_label, timeout, convention, names,
                               labels, per_example, dz, "indices", _y_vector=_y_vector, lr=lr)
            if retry.stopped is None:
                retry.notes.append(f"x read as indices: with real-valued inputs the code stopped ({report.error})")
                return retry
            if not per_example or labels != "integer":
                report.notes.append("hint: the code indexes with its inputs or targets. Code that takes one example "
                                    "or one sequence at a time (as a character-level RNN's loss function) needs "
                                    "--per-example; class indices as targets, --labels integer; inputs as indices, "
                                    "--inputs indices")
        # one output's targets handed (batch, 1) to code that takes them (batch,): its output (batch,) minus them
        # broadcasts to (batch, batch), and its gradients came back with an axis of m more, or it stopped on the shapes
        broadcast = [] if per_example or _y_vector or report.stopped is not None else \
            _outer_broadcast(report, net, convention, labels)
        stopped_on_shapes = not per_example and not _y_vector and report.stopped == "exception" and \
            _shape_error(report.error) and _one_output(net, convention, labels)
        if broadcast or stopped_on_shapes:
            retry = check_code(net, fn, seed, points, data, model_name, data_label, timeout, convention, names,
                               labels, per_example, dz, "auto", _flip=_flip, _y_vector=True, lr=lr)
            if retry.error is None and not _outer_broadcast(retry, net, convention, labels) \
                    and any(p.ok for p in retry.params.values()):
                why = (f"its gradients came back with an axis of the batch size more ({', '.join(broadcast)})"
                       if broadcast else f"it stopped ({report.error})")
                retry.notes = [f"{n}, as the code takes them: handed (batch, 1), {why}, as an output of shape (batch,) "
                               "minus targets of shape (batch, 1) broadcasts to (batch, batch)" if n == Y_VECTOR else n
                               for n in retry.notes]
                return retry
        if not per_example and report.stopped in (None, "exception"):
            report = _per_example_reading(report, getattr(net, "reduction", None), lambda: check_code(
                net, fn, seed, points, data, model_name, data_label, timeout, convention, names, labels, True, dz,
                "auto", _flip=False, lr=lr))
        if broadcast and not any("as --per-example asks" in n for n in report.notes):
            report.notes = [n for n in report.notes if not (n.startswith("hint:") and "--per-example" in n)]
            report.notes.append(f"note: {', '.join(broadcast)} came back with an axis of the batch size m more than the "
                                "parameter has: y is handed (batch, 1), one column for the one output; code that "
                                "subtracts it from an output of shape (batch,) (out.squeeze(-1) - y, out[:, 0] - y) "
                                "broadcasts to (batch, batch). Keep the output's column (out - y), or reshape y to "
                                "(batch,) inside the function; handed (batch,) it did not run right either")
        if per_example and report.stopped == "exception" and (
                "too many indices" in (report.error or "") or _shape_error(report.error)):
            one = "one column (inputs, 1)" if convention == "columns" else "one vector (inputs,)"
            how = ("indexes an axis one example does not have" if "too many indices" in report.error
                   else "stopped on one example's shapes")
            report.notes.append(f"hint: called once per example (--per-example), x is {one} and y its targets: the "
                                f"code {how}, as code of a whole batch does; check it without --per-example")
        other = "rows" if convention == "columns" else "columns"
        # the other convention only where the network is built in it (a convolution, a recurrence, an embedding
        # are built in rows alone): its refusal is no reading of the code, and must not stand for the code's own error
        if _flip and report.stopped == "exception" and _shape_error(report.error) and _builds_in(net, other):
            report = _convention_hint(report, other, per_example, lambda: check_code(
                net, fn, seed, points, data, model_name, data_label, timeout, other, names, labels, per_example, dz,
                "auto", _flip=False, lr=lr), switch)
        return report
    columns = convention == "columns"
    dz_asked = dz   # "auto" is settled below, for this check's gradients: a check again settles it for its own
    with open_function(fn, timeout) as run, jax.enable_x64(True):
        low = _lowered(net, convention)  # meanwhile a child loads the file
        run.wait_loaded()
        layer_check = getattr(run, "layer", False)
        # a loss's function or class: dx is ∂J/∂Z of the scores ("loss"), or ∂J/∂A of a loss alone ("prediction")
        loss_layer = layer_check in ("loss", "prediction") or (
            layer_check and "_loss" in str(fn).rpartition(":")[2] and run.takes[:2] == ["x", "y"]
            and run.takes[2:3] in ([], ["mask"]))
        if layer_check and not loss_layer:   # a layer's backward through its forward: the linear loss Σ out ⊙ Y / m
            import copy
            net = copy.copy(net)
            net.loss = "yhat * y"
            low = _lowered(net, convention)
        d = low.derivation
        model = d.model
        mapping = names
        # no dx for a layer on integer inputs (an embedding's indices: word_embedding_backward returns dW alone)
        indices = bool(model.layers) and model.layers[0].kind == "embedding"
        names = [p.name for p in model.params] + (["dx"] if layer_check and not indices else [])
        pooling = layer_check == "none" and model.layers and model.layers[0].kind in ("max_pool", "avg_pool")
        identity = layer_check in ("none", "loss", "prediction") and not pooling   # relu_forward(x): W = I, b = 0
        if pooling:   # max_pool_forward_naive(x, pool_param): no parameters, dx alone
            names = ["dx"]
        if identity:
            dense = [l for l in model.layers if l.kind == "dense"]
            if len(model.layers) != 1 or not dense or tuple(dense[0].W.shape) != (dense[0].W.shape[1],) * 2:
                raise ValueError("a layer function without parameters (as relu_forward(x), or softmax_loss(x, y)) or "
                                 "a loss class (as nnfs's Loss_BinaryCrossentropy) is checked on one square layer with "
                                 "its activation, as 4-4:relu, 10-10:softmax or 1-1:sigmoid --loss bce: derivax sets "
                                 "its W to the identity")
            names = ["dx"]
        if not names:   # nothing to differentiate: the function's own failure to find W1 would be all it said
            kinds = ", ".join(layer.kind.replace("_", " ") for layer in model.layers)
            raise ValueError(f"{model_name or getattr(net, 'name', 'the network')} has no parameters (its layers: "
                             f"{kinds}): there is no gradient to check; add a layer with weights, such as a Dense or "
                             "a convolution")
        inter, aliases = I.resolve(d, mapping)
        # bK as the bias of WK's layer, where the code's names say so (the child tells): never over --names
        aligned = {k: v for k, v in I.aligned_aliases(model).items()
                   if k not in (mapping or {}) and "d" + k not in (mapping or {})}
        aligned_keys = [k for k in (*aligned, *("d" + k for k in aligned)) if k not in inter and k not in aliases]
        aligned_read = False
        order = I.backward_order(d, set(inter.values()))
        key_of = {}
        for key, node in inter.items():
            key_of.setdefault(node, []).append(key)
        # vectors of a layer: biases, and a batch norm's scale and shift (CS231n's gamma, beta of shape (D,))
        biases = {r.name for r in model.records if r.kind in ("bias", "scale", "shift")}
        state = {n: {"err": None, "msg": None, "worst": None, "bad": False, "pairs": []} for n in names}
        # node -> its state, for the intermediates the function returned, in each reading of dZ asked for
        inner_by = {r: {} for r in (("adjoint", "delta") if dz == "auto" else (dz,))}
        # a recurrent layer's function over the whole sequence from a state it is handed (CS231n's rnn_forward(x, h0,
        # ...), lstm_forward; deeplearning.ai's rnn_forward(x, a0, parameters)): the gradient of that state it returns
        # (dh0, da0), compared with the derived ∂J/∂h⟨0⟩ at the h⟨0⟩ = 0 it was handed
        forward_takes = set(getattr(run, "forward_takes", []) or [])
        initial = None
        if layer_check == "parameters" and model.layers and model.layers[0].kind == "recurrent":
            initial = "da0" if {"a0", "parameters"} <= forward_takes else \
                "dh0" if forward_takes & {"h0", "h_init"} else None
        initial_state = {"key": initial, "err": None, "msg": None, "worst": None, "bad": False, "pairs": [],
                         "node": None, "unchecked": None}
        # the makemore exercise's steps that are no node of the derivation (dlogprobs, dcounts_sum_inv, dbnvar_inv, ...)
        exercise, step_states = I.course_names(model), {}
        # the intermediates under the names of the tensors they are the gradients of (logits, h), and those of them
        # whose value came back as the tensor's own (the forward pass's), not compared
        bare, forward_keys = {k: v for k, v in I.bare_names(model).items() if k in inter}, set()
        point_labels, extra, error, stopped, spelled, callings = [], set(), None, None, set(), set()
        key_hints = []   # keys that name no parameter in the shapes of parameters not returned
        indexes_data = False
        findings, said, readings = [], [], []
        halves, half_dtypes = [], set()   # parameters returned in a 16-bit float, and those dtypes
        spelled_for = {}   # returned key -> parameter, where the key spells it loosely (w1, dW_1 for W1)
        clipped, losses = None, []   # losses: (point, the loss the function returned, J) at each point
        # c -> (the points whose gradients stop at ±c, whether at one of them the derived ones go past it, whether at one
        # of those c is no multiple of 1/m): a clip is read at two points at least (at one where one ran), as a gradient's
        # own k/m (a hinge's count over the batch) may sit at a round c at one point by chance; or at one where c is no
        # such multiple, or the code is called once per example
        clip_votes = {}
        update = None   # the learning rate, where the gradients were read off an update in place
        # the global norm of the parameters' gradients returned at each point, and of those and the intermediates
        # returned (a norm may count dZ1, dh beside them); where a check again reads them as clipped by it (``_norm``,
        # the bound), (point, the common factor they were scaled by, or None) at the points it cut, or for code called
        # once per example at the examples it cut, and the examples it ran on
        norms, norms_all, norm_clipped, examples = [], [], [], 0
        norm_counted = {}   # the intermediates' keys a clip's norm counted, in the order they came back
        # code called once per example: a point's arguments, to call it on each example alone (``_one_by_one``)
        probe, example_level = None, None
        inner_scale = 1.0   # the derived intermediates at a point clipped by the global norm as the code clipped them
        as_returned = []   # (m, {parameter: the gradient returned}) at each point
        channels_first = False   # the code was handed x (and kernels) channels first, as CS231n's layers take them
        peaks = {}   # parameter -> the largest |entry| of its derived gradient over the points
        # checked again below a clip: the gradients compared as the clip cut them, and those the clip still reaches
        clip_cut, clip_reached = set(), set()
        # dropout on where the function takes its keep probability (the regularization notebook's
        # backward_propagation_with_dropout(X, Y, cache, keep_prob)): masks drawn, handed in the cache
        from compile.checks.sandbox import ROLES
        dropout = bool(model.masks) and any(t.lower() in ROLES["keep"] for t in getattr(run, "takes", []))
        # CS231n's dropout_forward(x, dropout_param): the mask its forward draws from the seed handed to it
        seeded = bool(model.masks) and layer_check and any(t.lower() in ("dropout_param", "dropout_params")
                                                             for t in getattr(run, "forward_takes", []))
        # CS231n's FullyConnectedNet(..., dropout_keep_ratio, seed): its dropout_param {"p", "seed"} handed to every
        # dropout_forward, each drawing its mask after np.random.seed(seed); one keep probability for every layer
        seeded_class = bool(model.masks) and not layer_check and "dropout_keep_ratio" in getattr(
            run, "init_takes", []) and len({float(mk.attrs["keep"]) for mk in model.masks}) == 1
        seeded = seeded or seeded_class
        # nnfs's Layer_Dropout: a layer class whose forward draws its mask itself (np.random, no seed handed): the mask
        # it drew is read back from its output (the units it zeroed), and derivax's gradients are taken through it
        drawn = bool(model.masks) and identity and not seeded and getattr(run, "forward_takes", [])[:1] == ["self"]
        for k_point, (label, params, x, y, drop) in enumerate(_points(model, seed, points, data, data_label, _scale,
                                                                       dropout)):
            if seeded:
                drop, seeded_param = _seeded_masks(model, seed + k_point, len(x))
            if inputs == "indices":
                x = _one_hot_like(x, seed + len(point_labels))
            if labels == "integer" and y.ndim >= 2 and not np.all((y == 0) | (y == 1)):
                # class indices are one-hot targets: those bce draws as probabilities, at their largest entry
                y = np.eye(y.shape[-1])[np.argmax(y, axis=-1)]
            step_mask = None
            if loss_layer and run.takes[2:3] == ["mask"] and model.Y.rank == 3 and model.loss_name == "ce":
                # temporal_softmax_loss(x, y, mask): a real mask, each sequence cut after a length of its own (the
                # padding as captioning data has it), the padded steps' labels 0 (the NULL token's index) and
                # their one-hot rows zero, so that J and its jax.grad leave them out as the mask does
                step_mask = _step_mask(len(x), y.shape[1], seed + k_point)
                y = y * step_mask[:, :, None]
            if identity:
                w = str(model.layers[0].W.name)
                params = {**params, w: np.eye(params[w].shape[0]),
                          **({str(model.layers[0].b.name): np.zeros_like(params[str(model.layers[0].b.name)])}
                             if model.layers[0].b is not None else {})}
            def references(params, x, y, drop):
                args = (params, x, y) + ((drop,) if model.masks else ())
                ref = {k: np.asarray(v) for k, v in low.grads(*args).items()}
                if layer_check:   # dx: jax.grad of the lowered forward pass, an independent reference
                    masked = (drop,) if model.masks and drop is not None else ()
                    ref["dx"] = np.asarray(jax.grad(lambda xx: low.loss(params, xx, y, *masked).sum())(x))
                if layer_check == "prediction":   # a loss alone: its dinputs is ∂J/∂A of the output layer (W = I)
                    out_node = model.layers[-1].A
                    at = {model.X: x, model.Y: y, **{p: params[p.name] for p in model.params}}
                    ref["dx"] = np.asarray(I.references(d, [out_node], at, len(x))[out_node], float).reshape(x.shape)
                return args, ref
            args, ref = references(params, x, y, drop)
            # rows: biases as vectors (n,), x (batch, inputs); columns as the courses write them:
            # W (out, in), b (out, 1), x (inputs, batch), y (outputs, batch)
            given = {k: (v.reshape(-1) if k in biases and not columns else v).copy() for k, v in params.items()}
            point_labels.append(label)
            xs = (x.T if columns else x).copy()
            if getattr(model, "vocab", None):   # token indices
                xs = xs.astype(np.int64)
            if inputs == "indices":   # each one-hot input as its index
                xs = np.argmax(x, axis=-1).astype(np.int64)
                xs = xs.T.copy() if columns else xs
            ys = (y.T if columns else y).copy()
            if labels == "integer":
                ys = np.argmax(ys, axis=0 if columns else -1)
            elif _y_vector and not columns and ys.ndim == 2 and ys.shape[1] == 1:   # one output's targets as (batch,)
                ys = ys.reshape(-1)
            context = _context(d, params, x, y, given, columns, drop)
            context["aliases"] = {**context["aliases"], **aliases}   # --names' spellings of parameters too
            context["lr"] = lr   # what an update in place is divided by (else the code's own, or 1)
            if aligned:
                context["aligned"] = aligned
            if seeded:
                context["dropout"] = seeded_param
            if drawn:   # the keep probability, and a seed for NumPy's generator: the same masks on every run
                context["drawn"] = {"keep": float(model.masks[0].attrs["keep"]), "seed": 1000 + seed + k_point}
            if step_mask is not None:
                context["mask"] = step_mask
            optional = (list(inter) + list(aliases) + aligned_keys
                        + ([*EXERCISE_STEPS, *(k[1:] for k in EXERCISE_STEPS)] if exercise else [])
                        + ([DRAWN_MASK] if drawn else []) + ([initial] if initial else []))
            if initial:
                context["initial"] = initial
            reply = run(given, xs, ys, names, optional, per_example=convention if per_example else None,
                        context=context)
            if per_example and probe is None:
                probe = (given, xs, ys, names, optional, convention, context)
            if reply.get("update") is not None:
                update = float(reply["update"])
            if reply.get("calling"):
                callings.add(reply["calling"])
            channels_first |= bool(reply.get("channels_first"))
            for pname in reply.get("half", ()):
                if pname in names and pname not in halves:
                    halves.append(pname)
            half_dtypes.update(t for t in reply.get("dtypes", ()) if np.dtype(t).itemsize < 4)
            if reply.get("loss") is not None:   # the loss it returned, against J
                losses.append((label, float(reply["loss"]), float(np.sum(np.asarray(low.loss(*args))))))
            for text in reply.get("readings", []):
                if text not in readings:
                    readings.append(text)
            for short, text in zip(reply.get("findings", []), reply.get("findings_said", [])):
                if short not in findings:
                    findings.append(short)
                    said.append(text)
            if reply.get("aligned"):
                aligned_read = True
            elif reply.get("status") == "returned":   # the aligned spellings are no parameter's in the counting reading
                for key in aligned_keys:
                    if key in reply["values"] or key in reply["problems"]:
                        reply["values"].pop(key, None)
                        reply["problems"].pop(key, None)
                        reply["extra"].append(key)
            for key, pname in (realigned(aliases, aligned) if aligned_read else aliases).items():
                # dC for C1, as the exercise writes it
                if pname not in reply.get("values", {}) and key in reply.get("values", {}):
                    reply["values"][pname] = reply["values"].pop(key)
                    spelled.add(key)
                    if key in reply["narrow"]:
                        reply["narrow"].append(pname)
                    if key in reply.get("half", ()):
                        reply["half"].append(pname)
                elif pname not in reply.get("values", {}) and pname not in reply.get("problems", {}) \
                        and key in reply.get("problems", {}):   # what is wrong with it, said at its parameter
                    reply["problems"][pname] = reply["problems"].pop(key)
                    spelled.add(key)
            if reply["status"] == "stopped":
                error, stopped = f"at {label}: {reply['message']}", reply["stopped"]
                indexes_data = bool(reply.get("indexes_data"))
                if stopped == "MemoryError" and isinstance(run, InChild):
                    error += f" (memory limit of the check: {run.memory / 2**30:.3g} GiB)"
                break
            unnamed = None if layer_check else _keys_by_shape(reply, names, given)
            if unnamed is not None and not (set(reply["values"]) | set(reply["problems"])) & set(names):
                # every gradient under a key of its own: which they are, not a verdict of missing
                error, stopped = f"at {label}: {unnamed}", "result"
                break
            if unnamed is not None and f"hint: {unnamed}" not in key_hints:
                key_hints.append(f"hint: {unnamed}")
            if drawn:   # the mask the code's forward drew: derivax's gradients through that mask
                from compile.checks.points import mask_dims
                mask = model.masks[0]
                got = reply["values"].pop(DRAWN_MASK, None)
                if got is None or got.shape != (len(x), *mask_dims(model, mask)):
                    error, stopped = (f"at {label}: its forward drew no dropout mask derivax could read back from "
                                      "its output"), "result"
                    break
                drop = {mask.name: got}
                args, ref = references(params, x, y, drop)
            if reply.get("clipped"):
                c = reply["clipped"]
                seen, cut, alone = clip_votes.get(c, (0, False, False))
                likely = _clip_likely(c, reply, ref, names, len(x), per_example)
                # a bound that is no multiple of 1/m here is no count over the batch: one point tells
                clip_votes[c] = (seen + 1, cut or likely,
                                 alone or (likely and (bool(per_example) or abs(c * len(x) - round(c * len(x))) > 1e-9)))
            for n in names:   # the derived gradient's largest |entry|: whether it shrinks with the parameters
                if n in ref:
                    peaks[n] = max(peaks.get(n, 0.0), float(np.max(np.abs(ref[n]), initial=0.0)))
            if _clip is not None:   # a check again below the clip: a gradient np.clip cut is compared as cut
                singles = _single_references(model, low, params, x, y, drop) if per_example else None
                ref, cut, reached = _clip_aware(ref, reply, names, _clip, singles,
                                                getattr(model, "reduction", "mean") == "sum")
                clip_cut |= cut
                clip_reached |= reached
            values = {model.X: x.T if columns else x, model.Y: y.T if columns else y,
                      **{p: params[p.name] for p in model.params}, **_mask_values(model, drop, columns, len(x))}
            inner_scale = 1.0
            if not layer_check:   # a clip by the global norm: every gradient scaled by one factor where it cuts
                weights = [p.name for p in model.params]
                # the intermediates returned (dZ1, dh, demb, the exercise's dlogprobs): a norm may count them too
                inner_keys = [k for k in reply["values"] if k in inter or (exercise and (
                    k in EXERCISE_STEPS or "d" + k in EXERCISE_STEPS))]
                gnorm = _global_norm(reply["values"], ref, weights)
                gnorm_all = _global_norm(reply["values"], {**reply["values"], **ref}, [*weights, *inner_keys]) \
                    if inner_keys and gnorm is not None else None
                norms.append(gnorm)
                norms_all.append(gnorm_all)
                if _norm is not None and per_example:   # each example's gradients clipped on their own
                    examples += len(x)
                    ones = _one_by_one(run, given, xs, ys, names, optional, convention, context)
                    if ones is not None:
                        ref = _examples_unclipped(ones, _single_references(model, low, params, x, y, drop), reply, ref,
                                                  weights, _norm, getattr(model, "reduction", "mean") == "sum", label,
                                                  norm_clipped)
                elif _norm is not None and (_at_level(gnorm, _norm) or _at_level(gnorm_all, _norm)):
                    over = weights if _at_level(gnorm, _norm) else [*weights, *inner_keys]
                    norm_counted.update(dict.fromkeys(over[len(weights):]))
                    inner_refs = {}   # the derived adjoints of the intermediates the norm counted
                    if len(over) > len(weights):
                        nodes = {k: inter[k] for k in inner_keys if k in inter}
                        got = I.references(d, list(dict.fromkeys(nodes.values())), values, len(x)) if nodes else {}
                        inner_refs = {k: np.asarray(got[node], float) for k, node in nodes.items()}
                        if len(inner_refs) < len(inner_keys):   # the exercise's steps that are no node
                            steps = _exercise_steps(d, exercise, values, len(x))
                            for k in inner_keys:
                                step = k if k in EXERCISE_STEPS else "d" + k
                                if k not in inner_refs and step in steps:
                                    inner_refs[k] = steps[step]
                    shrink = _common_factor(reply, ref, weights)
                    # every parameter's gradient wrong: the factor read off the intermediates, those that are ∂J/∂N
                    # in every reading (a notebook's dZ1 may be δ1, without the 1/m)
                    import re
                    plain_keys = [k for k in inner_refs if dz == "adjoint" or not re.fullmatch(r"d[ZA]\d+", k)]
                    if shrink is None and plain_keys:
                        shrink = _common_factor(reply, {**ref, **inner_refs}, [*weights, *plain_keys])
                    if shrink is not None:   # the code's own gradients before the clip scaled them
                        norm_clipped.append((label, shrink))
                        for n in over:
                            reply["values"][n] = np.asarray(reply["values"][n], float) / shrink
                    elif len(inner_refs) == len(over) - len(weights):
                        # no gradient to read the factor off: the derived ones clipped the same way (where derivax
                        # derives every array the norm counted)
                        norm_clipped.append((label, None))
                        whole = _global_norm({**ref, **inner_refs}, {**ref, **inner_refs}, [*weights, *inner_refs])
                        if whole and whole > _norm:
                            ref = {k: (np.asarray(v) * (_norm / whole) if k in weights else v) for k, v in ref.items()}
                            inner_scale = _norm / whole
            as_returned.append((len(x), {n: np.asarray(reply["values"][n]) for n in names if n in reply["values"]}))
            extra |= set(reply["extra"])
            spelled |= set(reply.get("spelled", []))
            spelled_for.update(reply.get("spelled_for", {}))
            for n in names:
                _compare(state[n], n, reply, ref[n], n in biases, len(x), label,
                         (reply.get("handed") or {}).get(n))
                if n == "dx" and not loss_layer and (identity or (model.layers[0].kind == "dense"
                                                                  and model.layers[0].W is not None)):
                    # what dx would be with the layer's own derivative left out
                    W = np.asarray(params[str(model.layers[0].W.name)])
                    # (rows, as dx is compared; a columns W is (out, in))
                    state[n].setdefault("douts", []).append(
                        y / len(x) if identity else (y / len(x)) @ (W if columns else W.T))
                s = state[n]
                if n == "dx" and step_mask is not None:
                    s.setdefault("step_masks", []).append(step_mask)
                if len(s.setdefault("points", [])) < len(s["pairs"]):
                    s["points"].append((s["pairs"][-1][0], values, len(x), *s["pairs"][-1][3:]))
            # the exercise's steps under its d-names (dlogprobs) or the names of its tensors (logprobs)
            asked = {next(k for k in (step, step[1:]) if k in reply["values"] or k in reply["problems"]): step
                     for step in EXERCISE_STEPS if any(k in reply["values"] or k in reply["problems"]
                                                       for k in (step, step[1:]))} if exercise else {}
            if asked:
                steps = _exercise_steps(d, exercise, values, len(x))
                for key, step in asked.items():
                    if step not in steps:   # batch norm's steps, returned for a network without it
                        continue
                    st = step_states.setdefault(key, {"key": key, "step": step, "err": None, "msg": None,
                                                      "worst": None, "bad": False, "pairs": [], "points": []})
                    _compare(st, key, reply, np.asarray(steps[step], float) * inner_scale, True, len(x), label)
                    extra.discard(key)
            for key in [k for k in bare if k in reply["values"] and k not in (mapping or {})]:
                # a tensor's own name for its gradient (logits for dlogits), unless what came back is the tensor itself
                node = inter[key]
                got = np.asarray(reply["values"][key], float)
                value = np.asarray(evaluate([node], values, len(x), model.constants)[0], float)
                if got.size == value.size and close(got.reshape(value.shape), value, 1e-9, 1e-12):
                    reply["values"].pop(key)
                    forward_keys.add(key)
                    extra.add(key)
            returned = [node for node in order if any(k in reply["values"] or k in reply["problems"]
                                                      for k in key_of[node])]
            if returned:
                for reading, states in inner_by.items():
                    refs = I.references(d, returned, values, len(x), dz_delta=reading == "delta")
                    if inner_scale != 1.0:   # clipped by the global norm with the parameters' gradients
                        refs = {node: np.asarray(v, float) * inner_scale for node, v in refs.items()}
                    for node in returned:
                        key = next(k for k in key_of[node] if k in reply["values"] or k in reply["problems"])
                        s = states.setdefault(node, {"key": key, "err": None, "msg": None, "worst": None,
                                                     "bad": False, "pairs": [], "points": []})
                        _compare(s, key, reply, refs[node], True, len(x), label)
                        if s["pairs"] and len(s["points"]) < len(s["pairs"]):
                            s["points"].append((s["pairs"][-1][0], values, len(x), *s["pairs"][-1][3:]))
            if initial and (initial in reply["values"] or initial in reply["problems"]):
                found = None
                try:
                    found = I.initial_state(d, values, len(x))
                except Exception as exc:  # noqa: BLE001 - a derivation without it is said, not a crash
                    initial_state["unchecked"] = f"{type(exc).__name__}: {exc}"[:200]
                if found is None:
                    initial_state["unchecked"] = initial_state["unchecked"] or "the network declares no recurrence"
                else:
                    initial_state["node"] = found[0]
                    _compare(initial_state, initial, reply, found[1], False, len(x), label)
        if per_example and probe is not None and _norm is None and _clip is None and not layer_check \
                and error is None and any(state[n]["bad"] for n in names):
            # code called once per example that may clip each example's gradients by their global norm: the norms of
            # what it returns for the first point's examples, each on its own
            ones = _one_by_one(run, *probe)
            weights = [p.name for p in model.params]
            example_level = _global_level([_global_norm(o["values"], o["values"], weights) for o in ones]) \
                if ones else None
    clipped = max((c for c, (seen, cut, alone) in clip_votes.items()
                   if cut and (alone or seen >= min(2, len(point_labels)))), default=None)
    # dz="auto": the courses' reading of dZ and dA where only it makes every returned intermediate agree
    right = {r: all(st["msg"] is None and not st["bad"] for st in states.values()) for r, states in inner_by.items()}
    if dz == "auto":   # only keys in the notebooks' spelling (dZ3, dA2): makemore's dlogits carries its 1/n
        import re
        notebook = all(re.fullmatch(r"d[ZA]\d+", st["key"]) for st in inner_by["adjoint"].values())
        agree = {r: sum(st["msg"] is None and not st["bad"] for st in states.values()) for r, states in inner_by.items()}
        # the courses' reading where it makes every intermediate agree, or, code with a slip, more of them
        dz = "delta" if notebook and inner_by["delta"] and not right["adjoint"] and (
            right["delta"] or agree["delta"] > agree["adjoint"]) else "adjoint"
    inner = inner_by[dz]
    loss_off, loss_wrong = _loss_verdict(losses, error is None and all(
        st["msg"] is None and not st["bad"] for st in state.values()))
    rules_wrong = None
    if findings and error is None:
        # a Value class's backward rule that is wrong, where this network's gradients may not go through it
        # (micrograd's __pow__ in a network of + * relu): the engine is wrong all the same, for the next loss
        rules_wrong = ("its Value class's " + "; ".join(findings) if _traversal(findings) else
                       "its Value class has " + ("wrong backward rules" if len(findings) > 1 else
                                                 "a wrong backward rule") + ": " + "; ".join(findings))
    results = {}
    for n in names:
        s = state[n]
        if error is not None:
            results[n] = ParamResult(n, message=f"the function {error}")
        elif s["msg"] is not None:
            results[n] = ParamResult(n, message=s["msg"], worst_point=s["worst"])
        elif s["bad"]:
            node = next((p for p in model.params if p.name == n), None)
            keep = float(model.masks[0].attrs["keep"]) if model.masks and dropout else None
            squared = model.loss_name == "mse" or "**2" in str(model.loss_name).replace(" ", "")
            # a layer function or class on a square layer whose W is the identity: its dx is ∂J/∂Z of that layer
            # (∂J/∂A for a loss alone), where a mistyped derivative is named as for a parameter (after the
            # explanations of dx's own below)
            late = (model.layers[0].A if layer_check == "prediction" else model.layers[0].Z) \
                if node is None and n == "dx" and identity and model.layers and not pooling else None
            why = (I.diagnose(d, node, s.get("points", [])) if node is not None else "") or \
                _diagnose(s["pairs"], keep, squared, getattr(model.layers[-1], "units", None) if model.layers else None,
                          bce=model.loss_name == "bce", reduction=getattr(model, "reduction", "mean"),
                          steps=int(model.Y.shape[1]) if model.Y.rank == 3 else None)
            if not why and n == "dx" and s.get("douts") and len(s["douts"]) == len(s["pairs"]) and all(
                    u.shape == g.shape and close(u, g, rtol, atol) for (u, _, _, rtol, atol), g in zip(s["pairs"], s["douts"])):
                why = ("the dropout mask left out of the backward pass: dx is dout passed straight through"
                       if identity and (seeded or drawn) else
                       "the activation's derivative left out: dx is dout passed straight through" if identity else
                       "the activation's (or normalization's) derivative left out: dx is dout Wᵀ alone")
            masks = s.get("step_masks") or []
            if not why and masks and len(masks) == len(s["pairs"]) and all(
                    u.shape == g.shape and close(u * mk[:, :, None], g, rtol, atol)
                    for (u, g, _, rtol, atol), mk in zip(s["pairs"], masks)):
                why = ("the mask left out of dx: right at the steps the mask counts, not zero at the steps it leaves "
                       "out (multiply dx by the mask, as the loss is)")
            if not why and late is not None:
                why = I.diagnose(d, late, s.get("points", []))
            if not why and loss_off is not None:
                why = "its loss is not the network's J either (below): a different loss, or a wrong one"
            if why and losses and loss_off is None:   # its own loss is J: its gradient is what disagrees
                why = _own_loss_decay(why, getattr(model, "l2_form", None))
            if findings:   # a Value class's own rule that is wrong explains every gradient it reaches
                why = f"{why}; " if why else ""
                why += "; ".join(findings) if _traversal(findings) else \
                    "wrong backward rule" + ("s" if len(findings) > 1 else "") + ": " + "; ".join(findings)
            results[n] = ParamResult(n, comparisons={"derived": Comparison("derived", None, s["err"], False)},
                                     message=why or "differs from the derived gradient", worst_point=s["worst"])
        else:
            results[n] = ParamResult(n, comparisons={"derived": Comparison("derived", None, s["err"], True)},
                                     worst_point=s["worst"])
    zero_ref = []   # parameters whose derived gradient is 0 at every point: judged by the absolute size alone
    for n in names:
        s = state[n]
        if error is not None or s["msg"] is not None or not s["pairs"] or s.get("ref_peak", 1.0) > ZERO_REFERENCE:
            continue
        zero_ref.append(n)
        r = results[n]
        r.comparisons["derived"].max_abs_err = s["abs_err"]
        layers = list(model.layers)
        normalized = any(getattr(l, "b", None) is not None and str(l.b.name) == n and k + 1 < len(layers)
                         and layers[k + 1].kind == "batch_norm" for k, l in enumerate(layers))
        why = (": the batch norm after its layer subtracts the batch's mean, and the bias with it" if normalized
               else "")
        r.message = (f"the derived gradient is 0 here (its entries at most {s['ref_peak']:.1e}, rounding){why}; "
                     + (f"yours is within {s['abs_err']:.2e} of it" if r.ok else
                        f"yours differs from it by up to {s['abs_err']:.2e}")
                     + ", an absolute size (a relative error has nothing to measure against)")
    notes_after = []   # hints on gradients read off an update in place, after the readings' notes
    if update is not None and error is None:
        _update_findings(results, state, names, update, notes_after)
    elif error is None and getattr(model, "reduction", "mean") == "mean" and names and all(
            (results[n].message or "").startswith("missing 1/m") or "(= the batch size m: missing 1/m?)"
            in (results[n].message or "") for n in names if n in results):
        notes_after.append("hint: every gradient is m times the mean's, the gradient of J summed over the batch: if "
                           "your loss is that sum (a loop adding each example's, or np.sum without / m), --reduction "
                           "sum declares it")
    first, inner_results = None, {}
    for node in order:   # the intermediates in the order the backward pass forms them
        if node not in inner:
            continue
        s = inner[node]
        if error is not None:
            r = ParamResult(s["key"], message=f"the function {error}")
        elif s["msg"] is not None:
            r = ParamResult(s["key"], message=s["msg"], worst_point=s["worst"])
        elif s["bad"]:
            why = I.diagnose(d, node, s["points"]) or _diagnose(
                s["pairs"], float(model.masks[0].attrs["keep"]) if model.masks and dropout else None,
                reduction=getattr(model, "reduction", "mean"))
            r = ParamResult(s["key"], comparisons={"derived": Comparison("derived", None, s["err"], False)},
                            message=why or "differs from the derived adjoint", worst_point=s["worst"])
        else:
            r = ParamResult(s["key"], comparisons={"derived": Comparison("derived", None, s["err"], True)},
                            worst_point=s["worst"])
        r.node = str(node.name)
        inner_results[s["key"]] = r
        if first is None and not r.ok and error is None:
            first = r
    if step_states:   # the exercise's own steps, each in its place in the backward order, the first wrong among all
        ranked = EXERCISE_ORDER
        made = {}
        for key, st in step_states.items():
            if error is not None:
                r = ParamResult(key, message=f"the function {error}")
            elif st["msg"] is not None:
                r = ParamResult(key, message=st["msg"], worst_point=st["worst"])
            else:
                r = ParamResult(key, comparisons={"derived": Comparison("derived", None, st["err"], not st["bad"])},
                                message=(_bessel_step(st["pairs"], model) or _diagnose(st["pairs"])
                                         or "differs from the exercise's step, formed from the derived adjoints")
                                if st["bad"] else "", worst_point=st["worst"])
            r.node = EXERCISE_STEPS[st["step"]]
            made[key] = r

        def rank(key):   # a key's place in the exercise's backward order, under its d-name or its tensor's name
            step = step_states[key]["step"] if key in step_states else key if key in ranked else "d" + key
            return ranked.index(step) if step in ranked else None
        merged, pending = {}, sorted(made, key=rank)
        for key, r in inner_results.items():
            while pending and rank(key) is not None and rank(pending[0]) < rank(key):
                step = pending.pop(0)
                merged[step] = made[step]
            merged[key] = r
        for key in pending:
            merged[key] = made[key]
        inner_results = merged
        first = next((r for r in inner_results.values() if not r.ok), None) if error is None else None
    unchecked_initial = None
    if initial_state["node"] is not None:   # the initial state's gradient: formed last, after every step's
        s = initial_state
        if error is not None:
            r = ParamResult(initial, message=f"the function {error}")
        elif s["msg"] is not None:
            r = ParamResult(initial, message=s["msg"], worst_point=s["worst"])
        else:
            why = _diagnose(s["pairs"]) if s["bad"] else ""
            if why == "all zeros":
                why = "all zeros: ∂J/∂h⟨0⟩ is what the first step sends back to the state it starts from, not 0"
            r = ParamResult(initial, comparisons={"derived": Comparison("derived", None, s["err"], not s["bad"])},
                            message=(why or "differs from the derived ∂J/∂h⟨0⟩, what the first step sends back to the "
                                            "state it starts from") if s["bad"] else "", worst_point=s["worst"])
        r.node = s["node"]
        inner_results[initial] = r
        if first is None and not r.ok and error is None:
            first = r
    elif initial_state["unchecked"] is not None and error is None:
        unchecked_initial = (f"{initial}, the gradient of the initial state it returned, was not checked: "
                             f"{initial_state['unchecked']}")
    fname = getattr(fn, "__qualname__", None) or (fn if isinstance(fn, str) else repr(fn))
    model = low.derivation.model
    x_axes = {1: "inputs", 2: "time, features" if model.reads_sequence else "length, channels",
              3: "height, width, channels"}[len(model.input_shape)]
    if model.layers and model.layers[0].kind == "embedding":
        x_axes = "positions) of integer indices (the embedding's rows"
    per_step = model.Y.rank == 3   # a loss at every step: summed over the steps
    notes = [f"reading: the {convention} convention ("
             + _layout_text(model, columns, x_axes, per_step, parameterless=names == ["dx"],
                            channels_first=channels_first, labels=labels) + f"), loss {model.loss_name}"
             + (" summed over the steps" if per_step else "") + (", gradients of the sum over the batch (--reduction sum)"
                                                         if getattr(model, "reduction", "mean") == "sum"
                                                         else ", gradients of the mean over the batch")]
    if spelled:
        from compile.checks.sandbox import key_spellings
        meant = {**{k: n for n in names for k in key_spellings(n, names)},
                 **(realigned(aliases, aligned) if aligned_read else aliases), **spelled_for}
        notes.append(f"keys read in the courses' spelling: {', '.join(sorted(spelled))} for "
                     f"{', '.join(meant.get(k, k[1:]) for k in sorted(spelled))}")
    if _y_vector:
        notes.append(Y_VECTOR)
    if labels == "integer":
        notes.append(f"y handed as class indices ({'batch, time' if per_step else 'batch,'}), not one-hot "
                     + ("columns" if columns else "rows"))
    for how in sorted(callings):
        notes.append(f"{how} (read from its parameters' names)")
    notes += readings
    notes += key_hints[:1]
    if halves:
        r16, a16 = TOLERANCES["float16"]
        notes.append(f"the gradients of {', '.join(halves)} came back in {' and '.join(sorted(half_dtypes)) or 'float16'}, "
                     f"which keeps about 3 significant digits: compared at its precision ({r16:g}·max|ref| + {a16:g}); "
                     "return float64 for the full check")
    if loss_off is not None and loss_wrong is None:
        at, theirs, J = loss_off
        ratio = f" ({theirs / J:.6g} times it)" if J else ""
        notes.append(f"the loss the function returned is not the network's J: {theirs:.8g} against J = {J:.8g} at {at}"
                     f"{ratio}; gradients of a different loss differ too: declare the loss it computes (--loss, "
                     "--l2, --l2-form) or check that its loss is right")
    elif losses and loss_off is None:
        notes.append("the loss the function returned equals the network's J at every point")
    if inputs == "indices":
        notes.append("x handed as indices: one-hot inputs, each as the index of its 1")
    if model.masks:
        names_d = ", ".join(str(mk.name) for mk in model.masks)
        keep = float(model.masks[0].attrs["keep"])
        notes.append(f"dropout on: the mask its forward drew at each point (its own draw, NumPy's generator seeded "
                     f"with 1000 + the point's seed) read back from its output, the inputs it zeroed, each kept one "
                     f"scaled by 1/{keep:g}; derivax's gradients taken through that mask" if drawn else
                     f"dropout on: masks drawn at each point and handed in the cache as {names_d} (0 or 1), with the keep "
                     "probability; gradients of the masked network" if dropout else
                     f"dropout on: dropout_keep_ratio={keep:g} and seed=s handed to its constructor at each point, and "
                     "the masks derivax's gradients use drawn as its dropout_forward draws them, np.random.seed(s); "
                     "np.random.rand(*x.shape) < p for each layer, scaled by 1/p" if seeded and not layer_check else
                     f"dropout on: dropout_param {{'p': {keep:g}, 'mode': 'train', 'seed': s}} handed at each point, p "
                     "the keep probability, and the mask derivax's gradients use drawn as the forward draws it, "
                     f"np.random.seed(s); np.random.rand(*x.shape) < p, scaled by 1/p" if seeded else
                     f"dropout off (every mask {names_d} is 1): the function takes no keep probability")
    if said:
        notes.append(("the Value class's backward() against its own rules: " if _traversal(findings) else
                      "the Value class's backward rules, each tested on its own against the exact derivative: ")
                     + "; ".join(said))
    if dz == "delta" and inner_results:
        notes.append("dZ and dA keys read as the courses write them: without the loss's constant factor (dZ = δ, the "
                     "error signal; dA = Wᵀ dZ), the reading in which every intermediate returned agrees (or, where one is "
                     "wrong, more of them)")
    if per_example:
        one = ("one sequence (time,) of indices" if inputs == "indices" else "one sequence (time, features)") \
            if x_axes.startswith("time") else "one column (inputs, 1)" if columns else "one vector (inputs,)"
        notes.append(f"called once per example (x {one}"
                     + ("), its results summed over the batch" if getattr(model, "reduction", "mean") == "sum"
                        else "), its results averaged over the batch"))
    if unchecked_initial:
        notes.append(unchecked_initial)
    if forward_keys:
        plural = "s" if len(forward_keys) > 1 else ""
        notes.append(f"{', '.join(sorted(forward_keys))}: the forward pass's own value{plural} came back under the "
                     "tensor's name, not a gradient: not compared")
    if inner_results:
        notes.append("intermediates, in the order the backward pass forms them: "
                     + ", ".join(f"{k} = δ{r.node[1:]}" if dz == "delta" and r.node.startswith("Z") and r.node[1:].isdigit()
                                 else f"{k} = {_state_meaning(r.node)}" if _state_meaning(r.node)
                                 else f"{k} = ∂J/∂{r.node} without that factor" if dz == "delta"
                                 else f"{k} = ∂J/∂{r.node}" for k, r in inner_results.items()))
    # a function of a layer without a bias (CS231n's softmax_loss_vectorized(W, X, y, reg)) on a spec with one
    bias_names = [r.name for r in model.records if r.kind == "bias" and r.name in results]
    unreturned = [n for n in bias_names if (results[n].message or "").startswith("missing: not returned")]
    if error is None and unreturned and len(unreturned) == len(bias_names) and any(
            not (results[n].message or "").startswith("missing") for n in names if n not in bias_names):
        spec = model_name or getattr(net, "name", "")
        example = f"{spec}:nobias" if spec[:1].isdigit() and spec.count("-") == 1 else "4-3:softmax:nobias"
        notes.append(f"hint: the function returns no bias gradient ({', '.join(unreturned)}): where its layer has no "
                     f"bias, declare it so, nobias among the layer's options in the spec (as {example}) or "
                     "Dense(..., use_bias=False); derivax's J with a bias differs from the code's without one")
    report = CodeReport(model_name or getattr(net, "name", "net"), fname, results, point_labels, sorted(extra), error,
                        stopped=stopped, notes=notes, intermediates=inner_results, first_wrong=first, dz=dz,
                        loss_wrong=loss_wrong, rules_wrong=rules_wrong, indexes_data=indexes_data, peaks=peaks,
                        clip_cut=[n for n in names if n in clip_cut], clip_reached=[n for n in names if n in clip_reached],
                        takes=list(getattr(run, "takes", []) or []), returned=as_returned, update=update,
                        zero_ref=zero_ref)
    report.notes += notes_after
    if any(s is None or s < 1 - 1e-6 for _, s in norm_clipped):   # a norm at the bound that nothing scaled is no clip
        report.notes.append(_norm_clip_note(_norm, norm_clipped, examples if per_example else len(point_labels),
                                            per_example, list(norm_counted)))
        report.norm_clip = _norm
    if _clip is not None or _norm is not None:   # a check again: what comes next is the first check's to do
        return report
    level = None
    if error is None and not layer_check:   # the norm of the parameters' gradients, or of those and the intermediates
        level = example_level if per_example else _global_level(norms) or _global_level(norms_all)
    if level is not None and not all(p.ok for p in results.values()):
        # code that clips its gradients by their global norm: checked again, each point's gradients divided by the
        # factor the clip scaled them all by
        again = check_code(net, fn, seed, points, data, model_name, data_label, timeout, convention, mapping, labels,
                           per_example, dz_asked, inputs, _scale, None, _flip, level, _y_vector, lr)
        if again.error is None and again.norm_clip is not None:
            report, clipped = again, None
    if clipped and not all(p.ok for p in results.values()):
        # code that clips its gradients (min-char-rnn: np.clip(dparam, -5, 5)): checked again where less reaches the clip
        report = _below_clip(report, clipped, lambda scale: check_code(
            net, fn, seed, points, None, model_name, data_label, timeout, convention, mapping, labels, per_example,
            dz_asked, inputs, _scale * scale, clipped, _y_vector=_y_vector, lr=lr))
    if not report.ok and report.error is None and (loss_layer or not layer_check):
        named = _loss_name_hint(fn, model)
        if named and named not in report.notes:
            report.notes.append(named)
    if labels == "integer" and not report.ok and (report.error is None or report.stopped == "exception") \
            and not report.indexes_data and model.loss_name in ("ce", "bce", "svm"):
        report = _labels_hint(report, model, columns, per_step, lambda: check_code(
            net, fn, seed, points, data, model_name, data_label, timeout, convention, mapping, "onehot", per_example,
            dz, inputs, _scale, _y_vector=_y_vector, lr=lr))
    return report


# the weight decay's term in a weight's gradient, as code writes it, by --l2-form
DECAY_CODE = {"lambda": "2 * reg * W", "lambda/2": "reg * W", "lambda/(2m)": "(lambd / m) * W"}


def _update_findings(results, state, names, lr, notes) -> None:
    """What gradients read off an update in place say beyond their comparison: a gradient of the wrong sign is an
    update that climbs J, named as the sign error it is; one factor c shared by every gradient is a step c times
    lr·∂J/∂W, a learning rate derivax did not find (or a loss that is c times J), and ``notes`` gets the hint."""
    for r in results.values():
        if (r.message or "").startswith("wrong sign"):
            r.message = (f"a sign error, the update climbs J{r.message[len('wrong sign'):]}: W + lr·∂J/∂W where a "
                         "step down leaves W − lr·∂J/∂W (the error taken as outputs − targets and still added, or += "
                         "for −=)")
    found = [factor(state[n]["pairs"]) if state[n]["bad"] and state[n]["pairs"] else None for n in names]
    if found and all(f is not None and f[0] == "m" for f in found):
        notes.append("hint: every gradient read off its update is m times the mean's: its step goes down J summed over "
                     "the batch, as a loop over the whole batch (Trask's) takes it: --reduction sum declares that J")
        return
    if not found or any(f is None or f[0] != "c" for f in found):
        return
    c = found[0][1]
    if c <= 0 or any(abs(f[1] - c) > 1e-6 * abs(c) for f in found):
        return
    step = f"{lr * c:.6g}"
    notes.append(f"hint: every gradient read off its update is {c:.6g} times the derived one: its step is "
                 f"{step}·∂J/∂W, with lr = {lr:g} taken. Where {step} is its learning rate (written into the update "
                 f"as a number), --lr {step} divides by it; else the loss it descends is {c:.6g} times J (--loss "
                 "declares it)")


def _own_loss_decay(why, form) -> str:
    """A weight decay's term said to be another --l2-form's, reworded where the loss the code returned is the
    network's J at every point: the code's loss has the declared form, so its gradient disagrees with its own loss."""
    import re
    found = re.search(r": yours is the term of (.*?), whose gradient adds (\S+), and this network's J adds (.*?), "
                      r"whose gradient adds (\S+) \(--l2-form \S+ declares yours\)", why)
    if found is None:
        return why
    yours, theirs_grad, j_form, j_grad = found.groups()
    code = f" ({DECAY_CODE[form]})" if form in DECAY_CODE else ""
    return (why[:found.start()] + f": the loss the code returned is this network's J, whose weight decay is {j_form}, "
            f"so the gradient disagrees with the code's own loss: that decay's gradient adds {j_grad}{code}, not "
            f"{theirs_grad}" + why[found.end():])


def _bessel_step(pairs, model) -> str:
    """The variance's 1/N and 1/(N − 1) mixed up, where an exercise's step (makemore's dbndiff2, dbnvar) is the
    derived one times (N − 1)/N or N/(N − 1) at every point, N the batch's count; "" otherwise."""
    if not pairs or not any(layer.kind == "batch_norm" for layer in model.layers):
        return ""
    for words, ratio, how in (
            ("(N − 1)/N", lambda m: (m - 1) / m, "the backward divides by N where the variance divides by N − 1 "
             "(Bessel's correction, as bnvar = 1/(n−1) Σ bndiff2): 1/(n−1) in dbndiff2 too"),
            ("N/(N − 1)", lambda m: m / (m - 1), "the backward divides by N − 1 where the variance divides by N: "
             "1/n in dbndiff2 too")):
        if all(m > 1 and u.shape == g.shape and g.any() and close(u, g * ratio(m), rtol, atol)
               for u, g, m, rtol, atol in pairs):
            return f"off by {words}: the variance's 1/N and 1/(N − 1) mixed up ({how})"
    return ""


def _traversal(findings) -> bool:
    """Whether the Value class's findings are the one that says its backward() visits the nodes wrongly."""
    from compile.checks.readings import TRAVERSAL
    return len(findings) == 1 and TRAVERSAL in findings[0]


Y_VECTOR = "y handed as a vector (batch,), the one output's targets"


def _builds_in(net, convention) -> bool:
    """Whether ``net`` is built in ``convention`` (an input of more than one axis, a convolution, a recurrence, an
    embedding, a normalization or attention are built in rows alone)."""
    from derive.network.functions import NetworkError
    try:
        net.build(convention)
    except NetworkError:
        return False
    return True


def _one_output(net, convention, labels) -> bool:
    """Whether the network has one output, its targets handed (batch, 1) in rows: what y of shape (batch,) can stand
    for."""
    if convention != "rows" or labels != "onehot":
        return False
    model = _lowered(net, convention).derivation.model
    return bool(model.layers) and getattr(model.layers[-1], "units", None) == 1 and model.Y.rank == 2


def _outer_broadcast(report, net, convention, labels) -> list:
    """The parameters whose gradient came back with one axis of the batch size more than the parameter has, at every
    point, a weight's among them (a bias's alone is one not summed over the batch), from a network with one output
    handed its targets (batch, 1) in rows: code that takes them (batch,) (fast.ai's out.squeeze(-1) - targ) broadcasts
    them against its output (batch,) to (batch, batch). Empty for anything else."""
    if not report.returned or not _one_output(net, convention, labels):
        return []
    model = _lowered(net, convention).derivation.model
    sizes = {str(p.name): int(np.prod(p.shape)) for p in model.params}
    grown = None
    for m, got in report.returned:
        here = [n for n, arr in got.items() if n in sizes and m > 1 and arr.size == m * sizes[n] and m in arr.shape]
        grown = here if grown is None else [n for n in grown if n in here]
    vectors = {r.name for r in model.records if r.kind in ("bias", "scale", "shift")}
    return grown if grown and any(n not in vectors for n in grown) else []


def _keys_by_shape(reply, names, given):
    """Where parameters' gradients are not returned and keys that name no parameter are, in those parameters' shapes
    (Trask's {"syn0": ..., "syn1": ...}): the sentence saying which key's shape fits which parameter and the --names
    that reads them so; else None. Keys of one shape are matched in their natural order (syn0 before syn1)."""
    import re
    from compile.checks.readings import _shape_fits
    missing = [n for n in names if n not in reply["values"] and n not in reply["problems"]]
    shapes = reply.get("extra_shapes") or {}
    keys = sorted((k for k in shapes if k in reply.get("extra", []) and k.isidentifier()),
                  key=lambda k: [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", k)])
    if not missing or not keys:
        return None
    fits = {}
    for name in missing:
        handed = (reply.get("handed") or {}).get(name) or np.shape(given[name])
        key = next((k for k in keys if k not in fits and _shape_fits(shapes[k], handed)), None)
        if key is not None:
            fits[key] = (name, tuple(int(d) for d in handed))
    if not fits:
        return None
    returned = ", ".join(f"{k} {tuple(shapes[k])}" for k in reply["extra"] if k in shapes)
    return (f"no gradient came back under {', '.join(missing)}, and the keys it returned that name no parameter ("
            f"{returned}) have their shapes: " + ", ".join(f"{k} fits {n} {s}" for k, (n, s) in fits.items())
            + f"; --names {','.join(f'{k}={n}' for k, (n, _) in fits.items())} reads "
            + ("it as that parameter's gradient" if len(fits) == 1 else "them as those parameters' gradients"))


def _one_example_signature(takes) -> bool:
    """Whether a function takes (x, y) alone, as Nielsen's Network.backprop(self, x, y) does: one example, the
    parameters its own (self.weights, self.biases) or the module's."""
    from compile.checks.sandbox import ROLES
    return len(takes) == 2 and takes[0].lower() in ROLES["x"] and takes[1].lower() in ROLES["y"]


BATCH_AXIS = "(not summed over the batch"   # how _shape_problem says a bias gradient kept the batch axis


def _per_example_reading(report, reduction, again):
    """The report of code that takes one example at a time, run once per example (``again``), where handed the
    whole batch it shows it: a function of (x, y) alone whose bias gradients kept the batch axis and whose weight
    gradients are the batch's sum (m times the mean's, each example's gradient added up), or whose every gradient is
    the sum over the examples of what it returns for each (whatever its own mistakes), or that stopped on the batch,
    and that runs on each example with every gradient of the right shape. Where only the bias gradients say so, a hint
    to --per-example replaces the story of a missing 1/m; none where its results are no such sum (code of the whole
    batch that left a bias gradient unsummed)."""
    if not _one_example_signature(report.takes) or report.stopped not in (None, "exception"):
        return report
    results = list(report.params.values())
    axis = [p.name for p in results if BATCH_AXIS in (p.message or "")]
    # an update in place (Rashid's train(inputs_list, targets_list)) handed the batch steps down the batch's sum: its
    # every gradient m times the mean's, a sign error beside it or not
    update = report.update is not None and report.stopped is None
    summed = all(BATCH_AXIS in (p.message or "") or (p.message or "").startswith("missing 1/m")
                 or "missing 1/m?" in (p.message or "") or (update and "missing 1/m" in (p.message or ""))
                 for p in results)
    if report.stopped is None and not axis and not (update and summed and reduction in (None, "mean")):
        return report
    if report.stopped == "exception" or (summed and reduction in (None, "mean")) or axis:
        retry = again()
        runs = retry.error is None and not any((p.message or "").startswith("wrong shape") for p in retry.params.values())
        sums = _sums_of_examples(report.returned, retry.returned, reduction, retry.norm_clip) if runs else None
        if runs and (report.stopped or (summed and reduction in (None, "mean")) or sums):
            why = (f"handed the whole batch it stopped ({report.error})" if report.stopped else
                   "handed the whole batch, its update was the batch's sum, m times the mean's step (an update of the "
                   "whole batch at once steps down J summed over it, --reduction sum)" if update and not axis else
                   f"handed the whole batch, its bias gradients kept the batch axis ({', '.join(axis)}) and its weight "
                   "gradients were the batch's sum, m times the mean's" if summed and reduction in (None, "mean") else
                   f"handed the whole batch, its bias gradients kept the batch axis ({', '.join(axis)}) and every "
                   "gradient it returned was the sum of those it returns for the examples one at a time"
                   + (" (up to one factor at a point: its clip by the global norm, below, scaled the batch's results "
                      "as one example's)" if retry.norm_clip is not None else ""))
            retry.notes.insert(1, f"{os.path.basename(report.function)} takes one example at a time, as Nielsen's backprop(x, y) does: "
                                  f"{why}; so it was run once per example (as --per-example asks)")
            return retry
        if report.stopped or sums is False or retry.error is not None:
            # whole-batch code: what it returns is no sum of the examples' results, or it does not run on one example
            return report
    for p in results:
        if (p.message or "").startswith("missing 1/m") or "missing 1/m?" in (p.message or ""):
            p.message += " or, as code of one example at a time, the batch's sum (hint below)"
    report.notes.append(f"hint: {os.path.basename(report.function)} takes (x, y) alone and its bias gradients kept the batch axis "
                        f"({', '.join(axis)}): code that takes one example at a time, as Nielsen's backprop(x, y) does, "
                        "is checked with --per-example (a factor of m in its weight gradients is then its sum over the "
                        "batch, not a missing 1/m)")
    return report


def _sums_of_examples(batch, single, reduction, clip=None) -> bool | None:
    """Whether what code returned handed the whole batch (``batch``: (m, {parameter: gradient}) at each point) is, at
    every point and for every gradient, the sum of what it returns for the examples one at a time (``single``, as a run
    once per example reads it: their mean, or their sum under --reduction sum), a gradient that kept the batch axis
    summed over it: code of one example at a time, whatever its gradients' own mistakes. With ``clip``, the bound of a
    clip by the global norm that the run once per example read (``single`` then holds the gradients before it), that
    sum up to one factor in (0, 1] at a point where the batch's gradients, as returned, have their global norm at the
    bound: the clip scaled the batch's results as one example's. None where the two runs cannot be compared so (not
    the same points, or not the same gradients returned)."""
    if not batch or len(batch) != len(single):
        return None
    for (m, got), (m_one, one) in zip(batch, single):
        if m != m_one or not one or set(one) - set(got):
            return None
        pairs = []   # (the batch's gradient summed over its batch axis, in each way it can be; the examples' sum)
        for name, mean in one.items():
            total = np.asarray(mean, float) * (1 if reduction == "sum" else m)
            arr = np.asarray(got[name], float)
            sums = [arr] if arr.size == total.size else [
                arr.sum(axis=k) for k in range(arr.ndim) if arr.shape[k] == m and arr.size // m == total.size]
            pairs.append(([a.reshape(total.shape) for a in sums], total))
        if all(any(close(a, total, 1e-6, 1e-12) for a in sums) for sums, total in pairs):
            continue
        if clip is None or not all(sums for sums, _ in pairs) or not _at_level(
                _global_norm(got, got, list(got)), clip):
            return False
        tt = sum(float(np.sum(total * total)) for _, total in pairs)
        k = sum(float(np.sum(sums[0] * total)) for sums, total in pairs) / tt if tt else 0.0
        if not 0 < k <= 1 + 1e-9 or not all(any(close(a, k * total, 1e-6, 1e-12) for a in sums)
                                             for sums, total in pairs):
            return False
    return True


# what NumPy, PyTorch and JAX say when two arrays' shapes do not fit
SHAPE_ERRORS = ("not aligned", "could not be broadcast", "matmul: input operand", "size mismatch",
                "shapes cannot be multiplied", "incompatible shapes", "dot_general requires contracting dimensions",
                "must match the size of tensor")


def _shape_error(error) -> bool:
    return bool(error) and any(s in error.lower() for s in SHAPE_ERRORS)


def _convention_hint(report, other, per_example, again, switch=False):
    """A hint at the other convention where the code stopped on shapes that do not fit and runs in it; with ``switch``
    (no convention was asked for), that convention's report where the evidence leaves no doubt: there every gradient
    comes back in its shape and at least one agrees with the derived one exactly (at random points no chance does)."""
    retry = again()
    if retry.error is not None:
        return report
    auto = any("as --per-example asks" in n for n in retry.notes)
    flags = f"--convention {other}" + (" --per-example" if auto and not per_example else "")
    layout = ("W (out, in), b (out, 1), x (inputs, batch)" if other == "columns"
              else "W (in, out), b (out,), x (batch, inputs)")
    agree = [n for n, p in retry.params.items() if p.ok]
    if switch and agree and not any((p.message or "").startswith("wrong shape") for p in retry.params.values()):
        given = "columns" if other == "rows" else "rows"
        said = "every gradient agrees" if len(agree) == len(retry.params) else \
            f"{', '.join(agree)} agree{'s' if len(agree) == 1 else ''}"
        retry.notes.insert(1, f"read in the {other} convention ({layout}): in the {given} one the code stopped on "
                              f"shapes that do not fit ({report.error}); in the {other} one every gradient comes back "
                              f"in its shape and {said} with the derived one{'s' if len(agree) > 1 else ''} "
                              f"({flags} asks for this reading)")
        return retry
    verdict = "its gradients are then right" if retry.ok else f"then: {retry.summary()}"
    report.notes.append(f"hint: the code stopped on shapes that do not fit; it runs in the {other} convention ({layout}"
                        f"{', one example at a time' if auto and not per_example else ''}): add {flags} ({verdict})")
    return report


# A returned loss equals J where |theirs - J| <= LOSS_RTOL·|J| + LOSS_ATOL: loose enough for a loss summed in
# float32.
LOSS_RTOL, LOSS_ATOL = 1e-4, 1e-7


def _loss_verdict(losses, gradients_right: bool) -> tuple:
    """(the first point whose returned loss is not J, or None; a sentence calling the loss wrong, or None).

    The loss is wrong when every gradient is the derived one, so the function differentiates the network's J,
    and yet the loss it returns is not J at some point, by more than one constant: a loss that differs
    from J by the same amount everywhere (a constant term dropped or added) has J's gradients and is only
    noted. With a wrong gradient the mismatch is noted, as a sign of a different loss. A loss that is nan or
    inf is wrong whatever the gradients are."""
    import math
    for at, theirs, J in losses:
        if not math.isfinite(theirs):
            return (at, theirs, J), (f"the loss it returned is {theirs} at {at} (J = {J:.8g}): a loss is a finite "
                                     "number (a log of 0, an overflow in exp, a 0/0)")
    off = [(at, theirs, J) for at, theirs, J in losses
           if not abs(theirs - J) <= LOSS_RTOL * max(abs(J), 1e-8) + LOSS_ATOL]
    if not off:
        return None, None
    if not gradients_right:
        return off[0], None
    gaps = [theirs - J for _, theirs, J in losses]
    scale = max(abs(J) for _, _, J in losses)
    if len(losses) > 1 and max(gaps) - min(gaps) <= LOSS_RTOL * max(scale, 1e-8) + LOSS_ATOL:
        return off[0], None   # J plus a constant
    at, theirs, J = off[0]
    return off[0], (f"the loss it returned is wrong: {theirs:.8g} against J = {J:.8g} at {at}, while every gradient "
                    "it returned is J's, so the loss is computed differently from the gradients (an array "
                    "changed in place after the loss read it, a term left out or counted twice, a wrong mean)")


def _conv_geometry(model):
    """{"stride", "pad"} of a network's first layer where it is a convolution with one stride and one pad
    for every side (what deeplearning.ai's hparameters hold); {"window", "stride"} for a pooling layer with
    square windows; else None."""
    layer = model.layers[0] if model.layers else None
    geometry = dict(getattr(layer, "geometry", None) or ())
    if getattr(layer, "kind", None) in ("max_pool", "avg_pool") and geometry:
        windows, strides = set(geometry.get("window", ())), set(geometry.get("stride", ()))
        return {"window": windows.pop(), "stride": strides.pop(),
                # deeplearning.ai's pool_forward(A_prev, hparameters, mode="max"): "average" for an average pooling
                "mode": "average" if layer.kind == "avg_pool" else "max"} if len(windows) == len(strides) == 1 else None
    if getattr(layer, "kind", None) != "conv" or not geometry:
        return None
    strides = set(geometry.get("stride", ()))
    pads = {p for side in geometry.get("padding", ()) for p in side}
    if len(strides) != 1 or len(pads) != 1:
        return None
    return {"stride": strides.pop(), "pad": pads.pop()}


def _pool_geometry(model):
    """{"window", "stride"} of the first pooling layer after a first convolution (CS231n's conv_relu_pool_forward
    takes both conv_param and pool_param), square windows and one stride; else None."""
    layers = list(model.layers)
    if not layers or layers[0].kind != "conv":
        return None
    layer = next((l for l in layers[1:] if l.kind in ("max_pool", "avg_pool")), None)
    geometry = dict(getattr(layer, "geometry", None) or ())
    windows, strides = set(geometry.get("window", ())), set(geometry.get("stride", ()))
    return {"window": windows.pop(), "stride": strides.pop()} if len(windows) == len(strides) == 1 else None


def _cnn_sizes(model):
    """What a convolutional net's constructor takes, CS231n's ThreeLayerConvNet(input_dim=(C, H, W), num_filters,
    filter_size, hidden_dim, num_classes), and where its flatten is (the maps' (H, W, C) before it, and the weight
    after it, whose rows a channels-first flatten orders (C, H, W)); None for a network without a first convolution
    and one flatten."""
    layers = list(model.layers)
    if len(model.input_shape) != 3 or not layers or layers[0].kind != "conv" or layers[0].W is None:
        return None
    flat = [k for k, l in enumerate(layers) if l.kind == "flatten"]
    if len(flat) != 1 or flat[0] == 0 or flat[0] + 1 >= len(layers) or layers[flat[0] + 1].kind != "dense":
        return None
    before = tuple(int(n) for n in layers[flat[0] - 1].A.shape[1:])
    dense = [l for l in layers if l.kind == "dense"]
    h, w, c = (int(n) for n in model.input_shape)
    kh, _, _, filters = (int(n) for n in layers[0].W.shape)
    geometry = dict(getattr(layers[0], "geometry", None) or ())
    pads, strides = set(geometry.get("padding", ((0, 0),))), set(geometry.get("stride", (1,)))
    pad = next(iter(pads)) if len(pads) == 1 else None
    # Saito's SimpleConvNet(input_dim, conv_param={'filter_num', 'filter_size', 'pad', 'stride'}, hidden_size,
    # output_size): where its convolution has one padding on every side and one stride
    conv_param = {"filter_num": filters, "filter_size": kh, "pad": int(pad[0]), "stride": int(next(iter(strides)))} \
        if pad is not None and pad[0] == pad[1] and len(strides) == 1 else None
    return {"input_dim": (c, h, w), "num_filters": filters, "filter_size": kh, "num_classes": int(layers[-1].units),
            "hidden_dim": int(dense[0].units) if len(dense) == 2 else None, "maps": before,
            "flat_weight": str(layers[flat[0] + 1].W.name), "input": (h, w, c), "conv_param": conv_param}


def _theta(model, columns):
    """(W, b or None) of a one-layer network whose parameters code keeps as one vector theta: one unit with
    its intercept first (Ng's logistic and linear regression), or, without a bias, W flattened in the layout
    of the convention (UFLDL's softmax regression: (classes, inputs) in columns). None for any other."""
    layers = [l for l in model.layers]
    if len(layers) != 1 or layers[0].kind != "dense":
        return None
    b = str(layers[0].b.name) if layers[0].b is not None else None
    if b is not None and (columns or int(layers[0].units) != 1):
        return None
    return str(layers[0].W.name), b


def _unrolled_layers(model):
    """[[W, b] of each layer] where the network is dense layers on a vector input, each with a bias: what Ng's ex4
    unrolls into nn_params (``compile.checks.sandbox._unrolled``); None for any other."""
    layers = list(model.layers)
    if not layers or len(model.input_shape) != 1 or any(
            l.kind != "dense" or getattr(l, "W", None) is None or getattr(l, "b", None) is None for l in layers):
        return None
    return [[str(l.W.name), str(l.b.name)] for l in layers]


def _one_hot_like(x, seed):
    """x of the same shape, each row along its last axis one-hot at a random place."""
    rng = np.random.default_rng(10_000 + seed)
    hot = rng.integers(0, x.shape[-1], size=x.shape[:-1])
    return np.eye(x.shape[-1])[hot]


def _seeded_masks(model, point_seed: int, m: int):
    """(masks, dropout_param) for CS231n's dropout_forward at one point: the mask drawn as its forward draws
    it from dropout_param's seed (np.random.seed(seed); np.random.rand(*x.shape) < p, scaled by 1/p, p the
    keep probability), so the reference's mask is the one the user's code makes."""
    from compile.checks.points import mask_dims
    keep = round(float(model.masks[0].attrs["keep"]), 12)   # 1 − 0.7 handed as 0.3, and drawn with the same p
    s = 1000 + point_seed
    # every layer's mask drawn as a forward seeded anew draws it (CS231n's FullyConnectedNet hands every dropout_forward
    # the same dropout_param)
    drawn = {mask.name: (np.random.RandomState(s).rand(m, *mask_dims(model, mask)) < keep) / keep
             for mask in model.masks}
    return drawn, {"p": keep, "mode": "train", "seed": s}


# The makemore backprop exercise's steps that are no node of derivax's derivation, in the order its backward pass forms
# them (between the nodes: dlogprobs before dprobs, dcounts_sum_inv ... dlogit_maxes before dlogits, dbnvar_inv before
# dbnvar, dbndiff2 before dbndiff), and what each is the adjoint of.
EXERCISE_ORDER = ["dlogprobs", "dprobs", "dcounts_sum_inv", "dcounts_sum", "dcounts", "dnorm_logits", "dlogit_maxes",
                  "dlogits", "dh", "dhpreact", "dbnraw", "dbnvar_inv", "dbnvar", "dbndiff2", "dbndiff", "dbnmeani",
                  "dhprebn", "dembcat", "demb"]
EXERCISE_STEPS = {"dlogprobs": "logprobs", "dcounts_sum_inv": "counts_sum_inv", "dcounts_sum": "counts_sum",
                  "dcounts": "counts", "dnorm_logits": "norm_logits", "dlogit_maxes": "logit_maxes",
                  "dbnvar_inv": "bnvar_inv", "dbndiff2": "bndiff²"}


def _exercise_steps(d, names, values, m) -> dict:
    """{key: reference} for the exercise's steps at a point: the adjoints of its forward pass's own intermediates, as
    it splits the softmax (logit_maxes = each row's max of the logits, norm_logits, counts = exp(norm_logits),
    counts_sum, counts_sum_inv, probs = counts · counts_sum_inv, logprobs = log probs) and batch norm's variance
    (bndiff2 = bndiff², bnvar from their sum, bnvar_inv = (bnvar + ε)^(−1/2)). Each is JAX's vector-Jacobian product of
    that forward code, in float64, at the derivation's adjoint of the node downstream (∂J/∂probs, ∂J/∂bnraw,
    ∂J/∂bnvar): no derivative of a step is written by hand."""
    import jax
    import jax.numpy as jnp
    from compile.checks import intermediates as I
    from compile.lowering.evaluate import evaluate
    nodes = {str(n.name): n for n in I.intermediate_nodes(d).values()}
    normed = "dbnraw" in names   # batch norm's steps too (the MLP before it came in has none)
    logits, probs = (nodes[names[k]] for k in ("dlogits", "dprobs"))
    xc, var, xhat = (nodes[names[k]] for k in ("dbndiff", "dbnvar", "dbnraw")) if normed else (logits, logits, probs)
    L, XC, VAR = (np.asarray(v, float) for v in evaluate([logits, xc, var], values, m, d.model.constants))
    adj = I.references(d, [probs, xhat, var], values, m)
    dP, dxhat, dvar = (np.asarray(adj[n], float) for n in (probs, xhat, var))
    VAR = VAR.reshape(1, -1)
    with jax.enable_x64():
        def grad(f, at, cotangent):   # the adjoint of f's input at ``at`` given the adjoint of its output
            return np.asarray(jax.vjp(f, jnp.asarray(at))[1](jnp.asarray(cotangent))[0])

        logit_maxes = L.max(axis=1, keepdims=True)
        norm = L - logit_maxes
        counts = np.exp(norm)
        total = counts.sum(axis=1, keepdims=True)

        def from_counts(c):   # probs, through counts_sum and counts_sum_inv as well as directly
            return c * c.sum(axis=1, keepdims=True) ** -1

        steps = {"dlogprobs": grad(jnp.exp, np.log(counts / total), dP),
                 "dcounts_sum_inv": grad(lambda inv: counts * inv, 1 / total, dP),
                 "dcounts_sum": grad(lambda s: counts * s ** -1, total, dP),
                 "dcounts": grad(from_counts, counts, dP),
                 "dnorm_logits": grad(lambda z: from_counts(jnp.exp(z)), norm, dP),
                 "dlogit_maxes": grad(lambda mx: from_counts(jnp.exp(L - mx)), logit_maxes, dP)}
        if normed:
            # bnvar is the sum of bndiff² over the batch times the factor the derivation's own variance shows: 1/(n − 1)
            # with Bessel's correction, 1/n without
            scale = VAR / (XC ** 2).sum(axis=0, keepdims=True)
            steps.update({"dbnvar_inv": grad(lambda inv: XC * inv, np.ones_like(VAR), dxhat),
                          "dbndiff2": grad(lambda sq: sq.sum(axis=0, keepdims=True) * scale, XC ** 2,
                                           dvar.reshape(1, -1))})
        return steps


def _step_mask(m: int, steps: int, point_seed: int):
    """A 0/1 mask (m, steps) over the steps of each sequence: sequence i counted for its first L_i steps, L_i from
    1 to steps, and at least one sequence shorter than the rest, so that a mask left out of a loss's gradient (or
    applied twice, or to the wrong steps) shows."""
    rng = np.random.default_rng(20_000 + point_seed)
    lengths = rng.integers(1, steps + 1, size=m)
    if steps > 1 and lengths.min() == steps:
        lengths[0] = steps - 1
    return (np.arange(steps)[None, :] < lengths[:, None]).astype(float)


def _mask_values(model, drop, columns, m) -> dict:
    """The dropout masks as the derivation's leaves take them: those drawn, or ones where dropout is off."""
    from compile.checks.points import mask_dims
    out = {}
    for mask in model.masks:
        value = drop[mask.name] if drop is not None else np.ones((m, *mask_dims(model, mask)))
        out[mask] = value.T if columns else value
    return out


def _context(d, params, x, y, given, columns, drop=None) -> dict:
    """What a function may ask for besides (params, x, y), by its parameters' names: the forward pass's
    named values at this point (a ``cache``, in the function's layout), the weight decay's λ (``reg``,
    ``lambd``), and the layer sizes (Nielsen's ``self.sizes``)."""
    from compile.lowering.evaluate import evaluate
    model = d.model
    named = [n for n in model.forward if n.name and n is not model.J and n.rank == 2]
    values = {model.X: x.T if columns else x, model.Y: y.T if columns else y,
              **{p: params[p.name] for p in model.params}}
    values.update(_mask_values(model, drop, columns, len(x)))   # dropout on: the masks drawn; off: ones
    try:
        got = evaluate(named, values, len(x), model.constants)
    except Exception:  # noqa: BLE001 - a network the NumPy evaluator cannot run: no cache to hand
        got = None
    forward = None
    order, layers_chain, keeps = [], None, {}
    if got is not None:
        forward = {str(n.name): np.array(v) for n, v in zip(named, got)}   # in the model's layout: the user's
        forward.update(given)
        keeps = {}
        for mask in model.masks if drop is not None else ():   # the notebook's D1: 0/1, the 1/keep_prob apart
            keep = float(mask.attrs["keep"])
            keeps[str(mask.name)] = keep
            forward[str(mask.name)] = np.array(values[mask] * keep)
        for layer in model.layers:   # the deeplearning.ai order: Z1, (D1,) A1, W1, b1, Z2, ...
            mask = getattr(layer, "mask", None)
            for node in (layer.Z, mask if drop is not None else None, layer.A, layer.W, layer.b):
                if node is not None and str(node.name) in forward and str(node.name) not in order:
                    order.append(str(node.name))
        # the deeplearning.ai deep network's caches: per dense layer ((A_prev, W, b), Z), A_prev = X first
        before, chain = "X", []
        forward.setdefault("X", np.array(x.T if columns else x))
        for layer in model.layers:
            names = [str(n.name) if n is not None else None for n in (layer.W, layer.b, layer.Z, layer.A)]
            if layer.kind != "dense" or not all(n in forward for n in names if n) or names[0] is None:
                chain = None
                break
            chain.append([before, *names[:3]])
            before = names[3]
        layers_chain = chain
    # the layer sizes as a constructor takes them (hidden_dims): a normalization is no layer of its own there
    sizes = [int(model.input_shape[0])] + [int(l.units) for l in model.layers if l.kind not in ("batch_norm", "layer_norm")] \
        if len(model.input_shape) == 1 else None
    from compile.checks.intermediates import param_aliases
    recurrent = [l for l in model.layers if l.kind == "recurrent"]
    last = model.layers[-1].A if model.layers else None
    return {"forward": forward, "order": order, "reg": float(model.l2) if model.l2 else 0.0, "sizes": sizes,
            "cnn": _cnn_sizes(model),
            "batch_norm": any(l.kind == "batch_norm" for l in model.layers), "chain": layers_chain,
            "layer_norm": any(l.kind == "layer_norm" for l in model.layers),
            "keep": next(iter(keeps.values())) if len(set(keeps.values())) == 1 else None,
            "theta": _theta(model, columns), "unrolled": _unrolled_layers(model),
            "conv": _conv_geometry(model), "pool": _pool_geometry(model),
            # a first normalization on (batch, height, width, channels): CS231n's spatial_batchnorm_forward's maps
            "maps": bool(model.layers) and len(model.input_shape) == 3 and model.layers[0].kind == "batch_norm",
            "last": None if last is None else str(last.name),
            "aliases": param_aliases(model), "loss": model.loss_name, "reduction": getattr(model, "reduction", "mean"), "layout": "columns" if columns else "rows",
            "output": None if forward is None or last is None or str(last.name) not in forward
            else forward[str(last.name)],
            "state": int(recurrent[0].units) if recurrent else None,
            "activation": model.layers[0].activation if len(model.layers) == 1
            and isinstance(getattr(model.layers[0], "activation", None), str) else None}


MAX_POINTS = 100   # as the command line's --points


def _check_arguments(fn, seed, points, timeout) -> None:
    """Refuse what would check nothing (no points), never end (a NaN time limit) or fail deep inside."""
    import math
    import numbers

    def whole(value, name, low, high=None):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise TypeError(f"{name} must be an integer, not {value!r}")
        if value < low:
            raise ValueError(f"{name} must be {low} or more, not {value}")
        if high is not None and value > high:
            raise ValueError(f"{name} must be at most {high} (each point is a call of your code), not {value}")
    whole(points, "points", 1, MAX_POINTS)
    whole(seed, "seed", 0)
    if timeout is not None:
        if not isinstance(timeout, numbers.Real) or isinstance(timeout, bool):
            raise TypeError(f"timeout must be a number of seconds or None, not {timeout!r}")
        if math.isnan(timeout) or timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds (or None for no limit), not {timeout!r}")
        if timeout > MAX_TIMEOUT:
            raise ValueError(f"timeout must be at most {MAX_TIMEOUT:g} seconds (a call that needs longer is stuck), "
                             f"not {timeout!r}")
    if not callable(fn) and not isinstance(fn, (str, Path)):
        raise TypeError(f"fn must be a callable or 'file.py[:name]', not {fn!r}")


def _compare(s, name, reply, ref, is_bias, m, label, handed=None):
    """Fold one point's comparison for one parameter into its running state ``s``."""
    if s["msg"] is not None:
        return
    problem = reply["problems"].get(name)
    if problem is None and name not in reply["values"]:
        others = reply["extra"]
        problem = "missing: not returned" + (f" (keys returned that are no parameter: {', '.join(others)})"
                                             if others else "")
    if problem is None:
        arr = reply["values"][name]
        arr_shaped, problem = _shape_problem(arr, ref, is_bias, m, name, handed)
    if problem is None and not np.isfinite(arr_shaped).all():
        problem = f"{int((~np.isfinite(arr_shaped)).sum())} non-finite value(s) (nan or inf)"
    if problem is not None:
        s["msg"], s["worst"] = problem, label
        return
    rtol, atol = _tolerance(name in reply["narrow"], name in reply.get("half", ()))
    u = arr_shaped  # float64 already: the value was converted where the function ran
    gap = float(np.max(np.abs(u - ref), initial=0.0))
    rel = gap / max(float(np.max(np.abs(ref), initial=0.0)), 1e-12)
    # a derived gradient of 0 (to rounding: a bias before batch norm) has no scale to measure an error against
    s["ref_peak"] = max(s.get("ref_peak", 0.0), float(np.max(np.abs(ref), initial=0.0)))
    s["abs_err"] = max(s.get("abs_err", 0.0), gap)
    if s["err"] is None or rel > s["err"]:
        s["err"], s["worst"] = rel, label
    s["bad"] |= not close(u, ref, rtol, atol)
    s["pairs"].append((u, ref, m, rtol, atol))

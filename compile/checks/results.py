"""What every check reports for one parameter: its comparisons, each against one reference.

``verify`` compares a derived gradient with up to three references (jax.grad, finite differences,
sympy.diff); ``check-code`` compares a user's gradient with the derived one (the reference
"derived"). A parameter that could not be compared at all (a key missing, a wrong shape, a function
that failed) has no comparison and a message saying why; it is not ok.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Comparison:
    reference: str
    max_abs_err: float | None   # None where the check measures only the relative error
    max_rel_err: float
    ok: bool
    # why the reference cannot tell a right gradient from a wrong one here (a finite difference whose rounding
    # is larger than the gradient itself), or "": such a comparison counts neither for nor against it
    inconclusive: str = ""

    def as_dict(self):
        def finite(v):  # JSON has no inf: an error that could not be measured is null
            return v if v is not None and np.isfinite(v) else None
        out = {"max_abs_err": finite(self.max_abs_err), "max_rel_err": finite(self.max_rel_err),
               "ok": None if self.inconclusive else self.ok}
        if self.inconclusive:
            out["inconclusive"] = self.inconclusive
        return out


@dataclass
class ParamResult:
    name: str
    shape: tuple = ()
    comparisons: dict = field(default_factory=dict)  # reference key -> Comparison
    message: str = ""                 # why it differs or could not be compared; a note where it agrees
    worst_point: str | None = None    # the evaluation point of the largest error, where several were used
    node: str | None = None           # for an intermediate adjoint a check compared: the node's name

    @property
    def ok(self) -> bool:
        told = [c for c in self.comparisons.values() if not c.inconclusive]
        return bool(told) and all(c.ok for c in told)

    @property
    def untold(self) -> bool:
        """Compared, but by no reference that could tell: neither a pass nor a disagreement."""
        return bool(self.comparisons) and all(c.inconclusive for c in self.comparisons.values())

    @property
    def max_rel_err(self) -> float | None:
        """The largest relative error over the comparisons; None where none could be made."""
        errs = [c.max_rel_err for c in self.comparisons.values()]
        return max(errs) if errs else None

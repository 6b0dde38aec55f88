"""Structured names: a node's name is text (``W1``, ``delta2``) that also carries its parts.

``Name`` is a ``str``, so names stay what dictionaries are keyed by and what users type (``W1``);
its parts (``base``, ``layer``, ``step``) are what printers and rule texts read, never parsed back out
of the text. ``step`` is a time step of a recurrence: an offset from t (0 for h⟨t⟩, -1 for h⟨t−1⟩, 1 for
δ⟨t+1⟩), None elsewhere; ``at`` says the step is a fixed one (h⟨3⟩ in an unrolled view), not an offset.
A name stays a Python identifier (h1_tm1, delta1_tp1, h1_at3): generated code uses it as a variable.
"""
from __future__ import annotations

import re

_PLAIN = re.compile(r"([A-Za-z_]+?)(\d*)")  # a typed name: W1, delta2


_BASE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


class Name(str):
    """``Name("W", 1)`` is the text ``W1`` with ``.base == "W"`` and ``.layer == 1``."""

    base: str
    layer: int | None
    step: int | None
    at: bool

    def __new__(cls, base: str, layer: int | None = None, step: int | None = None, at: bool = False):
        if not isinstance(base, str) or not _BASE.match(base):
            # every name is printed into generated Python (lowered modules, codegen): a quote, a space or a
            # newline there would end a string or a statement
            raise ValueError(f"{base!r} cannot name a node: a name is ASCII letters, digits and _, starting with "
                             "a letter (it becomes a Python name in the generated code)")
        text = base + ("" if layer is None else str(layer)) + ("" if step is None else "_" + _step_key(step, at))
        self = super().__new__(cls, text)
        self.base, self.layer, self.step, self.at = base, layer, step, at
        return self

    def __reduce__(self):
        return Name, (self.base, self.layer, self.step, self.at)

    def shifted(self, by: int) -> "Name":
        """The same name ``by`` steps later (h⟨t−1⟩ shifted by 1 is h⟨t⟩); a name without a step as it is."""
        return self if self.step is None else Name(self.base, self.layer, self.step + by, self.at)

    def at_step(self, t: int) -> "Name":
        """The name at the fixed step t + its offset (h⟨t−1⟩ at t = 3 is h⟨2⟩): the unrolled view's names."""
        return self if self.step is None else Name(self.base, self.layer, t + self.step, True)


def _step_key(step: int, at: bool) -> str:
    if at:
        return f"at{step}"
    return "t" if step == 0 else f"t{'p' if step > 0 else 'm'}{abs(step)}"


def step_text(step: int, at: bool, minus: str = "−") -> str:
    """t, t−1, t+1, or the fixed step 3."""
    if at:
        return str(step)
    return "t" if step == 0 else f"t{'+' if step > 0 else minus}{abs(step)}"


def parts(name) -> tuple:
    """(base, layer digits) of a name: a ``Name`` by its parts; plain text a user typed (a formula's
    ``A1``, a custom layer's ``W3``) by its letters and digits; anything else (None, a display name
    already made) gives None."""
    if isinstance(name, Name):
        return name.base, "" if name.layer is None else str(name.layer)
    match = _PLAIN.fullmatch(name) if isinstance(name, str) else None
    return match.groups() if match else None


def layer_of(name) -> int | None:
    """The layer a name belongs to (None for X, Y, J and plain text)."""
    return getattr(name, "layer", None)



# The one table of how names are written: digits as subscripts and superscripts (W₁, w¹₁₂, Z²), and
# the Greek letters that names spell out (delta2 is δ₂ in text and \delta^{[2]} in LaTeX: LaTeX's
# command for each letter is its spelled-out name). Every printer and the scalar view read these.
SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")  # the minus: a negative power, Z⁻²
GREEK = {"delta": "δ", "lambda": "λ", "gamma": "γ", "beta": "β", "mu": "μ", "sigma": "σ", "epsilon": "ε"}
SPELLED = {letter: spelled for spelled, letter in GREEK.items()}  # δ -> delta
# Names of a normalization layer that are not one letter: the variance σ² and the normalized X̂.
MARKED = {"var": ("σ²", r"{\sigma^2}"), "xhat": ("X̂", r"\hat{X}"), "xc": ("X̄", r"\bar{X}")}


def subscript(digits) -> str:
    return str(digits).translate(SUBSCRIPT)


def superscript(digits) -> str:
    return str(digits).translate(SUPERSCRIPT)


_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def text_label(name) -> str:
    """A name as plain text prints it where no printer is at hand (a rule's words): h₁⟨t⟩ for h1_t."""
    if not isinstance(name, Name):
        return str(name)
    layer = "" if name.layer is None else str(name.layer).translate(_SUBSCRIPTS)
    return name.base + layer + ("" if name.step is None else f"⟨{step_text(name.step, name.at)}⟩")

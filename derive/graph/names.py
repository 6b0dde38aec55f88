"""Structured names: a node's name is text (``W1``, ``delta2``) that also carries its parts.

``Name`` is a ``str``, so names stay what dictionaries are keyed by and what users type (``W1``);
its parts (``base``, ``layer``, ``step``) are what printers and rule texts read, never parsed back out
of the text. ``step`` is a time step of a recurrence: an offset from t (0 for h⟨t⟩, -1 for h⟨t−1⟩, 1 for
δ⟨t+1⟩), None elsewhere; ``at`` says the step is a fixed one (h⟨3⟩ in an unrolled view), not an offset.
A name stays a Python identifier (h1_tm1, delta1_tp1, h1_at3): generated code uses it as a variable.
"""
from __future__ import annotations

import keyword
import re

_PLAIN = re.compile(r"([A-Za-z_]+?)(\d*)")  # a typed name: W1, delta2


_BASE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

# Names the generated code (compile.lowering, compile.lowering.codegen) gives its own things: the modules and
# helpers its functions call, their arguments and fixed locals (a recurrence's step function's h_prev, sigma),
# its constants. A node named so would be assigned over them there, and the function would compute with the
# wrong value or fail.
RESERVED = frozenset({
    "jax", "jnp", "np", "DTYPE", "params", "x", "y", "masks", "stats", "key", "m", "opt_state", "LR", "LAMBDA",
    "EPSILON", "MOMENTUM", "INPUT_SHAPE", "OUTPUT_SHAPE", "ONE_HOT", "PARAM_NAMES", "PARAM_SHAPES", "check_shapes",
    "check_params", "transpose_matmul", "y_log_softmax_sum", "conv", "conv_input_grad", "conv_weight_grad",
    "max_pool", "max_pool_grad", "max_pool_pick", "avg_pool", "avg_pool_grad", "h_prev", "h_t", "sigma", "g_t",
    "sent", "send", "inputs"})
# The generated code's temporaries: t3 (a value used twice), d0 (a step's gradient), out0 (lower_nodes' outputs).
_TEMPORARY = re.compile(r"(t|d|out)\d+\Z")


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
            raise ValueError(f"{shown(base)} cannot name a node: a name is ASCII letters, digits and _, starting with "
                             "a letter (it becomes a Python name in the generated code)")
        text = base + ("" if layer is None else str(layer)) + ("" if step is None else "_" + _step_key(step, at))
        if keyword.iskeyword(text):
            raise ValueError(f"{shown(text)} cannot name a node: it is a Python keyword, and a name becomes a Python name "
                             "in the generated code; choose another")
        if text in RESERVED or _TEMPORARY.match(text):
            raise ValueError(f"{shown(text)} cannot name a node: the generated code uses {text} for its own values (a name "
                             "becomes a Python name there); choose another")
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


SHOWN = 160   # the most characters of a user's text a message echoes


def clip(text: str, width: int = SHOWN) -> str:
    """``text`` as a message echoes what a user gave: at most ``width`` characters, cut with an ellipsis."""
    return text if len(text) <= width else text[:width - 1] + "…"


def hidden_character(text: str, spaces: str = "\t\n\r") -> str | None:
    """The first character of ``text`` that is not shown as itself, but for ``spaces``: a control character (an
    escape, U+001B, would command the terminal), a format one (a right-to-left override, U+202E, shows the text
    after it reversed, in code and reports) or a lone surrogate; None where there is none."""
    import unicodedata
    return next((ch for ch in text if unicodedata.category(ch) in ("Cc", "Cf", "Cs") and ch not in spaces), None)


def hidden_said(ch: str) -> str:
    """U+202E (right-to-left override), as a message names a character ``hidden_character`` found."""
    import unicodedata
    said = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab"}.get(ch)
    return f"U+{ord(ch):04X} ({said or unicodedata.name(ch, 'a control character').lower()})"


def shown(value, width: int = SHOWN) -> str:
    """``repr(value)``, clipped as ``clip`` clips."""
    return clip(repr(value), width)


def as_name(name) -> Name:
    """A name a model chose (a custom layer's parameter, ``W3``) as a ``Name``, by the same rules: a ``Name`` as it
    is; text as its letters and layer digits (``W3`` is ``Name("W", 3)``, printed W₃ as before), or whole where it
    has no such parts. A ValueError for anything else, saying why (see ``Name``)."""
    if isinstance(name, Name):
        return name
    if not isinstance(name, str):
        raise ValueError(f"a name is text (str), not {type(name).__name__} {shown(name)}")
    found = _PLAIN.fullmatch(name)
    if found and found.group(2) and _BASE.match(found.group(1)) and not found.group(2).startswith("0"):
        return Name(found.group(1), int(found.group(2)))
    return Name(name)


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

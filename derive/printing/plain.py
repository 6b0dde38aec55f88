"""The text view on a terminal that cannot show its characters (``PYTHONIOENCODING=ascii``, a legacy code page):
each character the stream's encoding lacks is written as the ASCII the grammar of ``check`` reads where there is
one (∂J/∂W₂ as dJ/dW2, A₁ᵀ as A1^T, ⊙ as *, δ₂ as delta2), so a derivation prints whole instead of stopping at its
first symbol with a UnicodeEncodeError.

``install(stream)`` sets it on a text stream whose encoding lacks them; ``spell(text)`` is the same
transliteration on a string."""
from __future__ import annotations

import codecs
import unicodedata

from derive.graph.names import SUBSCRIPT, SUPERSCRIPT

HANDLER = "derivax-plain"

# The digits read back through the one table that writes them (derive.graph.names); the index letters beside them.
_SUB = {**{low: chr(digit) for digit, low in SUBSCRIPT.items()},
        **{ord(c): p for c, p in zip("₊₋₍₎ᵢⱼₖₗₘₙₜ", "+-()ijklmnt")}}
_SUPER = {**{chr(high): chr(digit) for digit, high in SUPERSCRIPT.items()},
          **dict(zip("⁺⁽⁾ⁱⁿᵀᴸˡ", "+()inTLl"))}
_WORDS = {
    "∂": "d", "∇": "grad ", "⊙": "*", "⊘": "/", "∘": "*", "·": "*", "×": "x", "−": "-", "–": "-", "—": "-",
    "Σ": "sum", "∑": "sum", "Π": "prod", "√": "sqrt", "≤": "<=", "≥": ">=", "≠": "!=", "≈": "~", "→": "->",
    "←": "<-", "⟨": "<", "⟩": ">", "…": "...", "′": "'", "″": "''", "‖": "||", "∈": " in ", "∞": "inf",
    "δ": "delta", "σ": "sigma", "λ": "lambda", "ε": "eps", "α": "alpha", "β": "beta", "γ": "gamma",
    "μ": "mu", "η": "eta", "θ": "theta", "π": "pi", "ŷ": "yhat", "ĥ": "hhat", "ᵀ": "^T",
    "“": '"', "”": '"', "‘": "'", "’": "'", "•": "*", "✓": "ok", "✗": "x",
}
# Box drawing (rich's tables and panels): corners and joints as +, lines as - and |.
_BOX = {**{c: "-" for c in "─━═┄┅╌╍"}, **{c: "|" for c in "│┃║┆┇╎╏"}}


def _one(ch: str) -> str:
    if ch in _WORDS:
        return _WORDS[ch]
    if ch in _SUPER:
        return "^" + _SUPER[ch]
    sub = ch.translate(_SUB)
    if sub != ch:
        return sub
    if ch in _BOX:
        return _BOX[ch]
    if unicodedata.combining(ch):   # x̂: x and a combining circumflex
        return "hat" if ch == "\u0302" else ""
    if "\u2500" <= ch <= "\u257f":   # the other box-drawing characters: corners and joints
        return "+"
    name = unicodedata.name(ch, "")
    if name.startswith("GREEK SMALL LETTER ") or name.startswith("GREEK CAPITAL LETTER "):
        word = name.split("LETTER ", 1)[1].lower()
        return word if name.startswith("GREEK SMALL") else word.capitalize()
    plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode("ascii")
    return plain or "?"


def spell(text: str) -> str:
    """``text`` with every non-ASCII character written as ASCII (superscripts as powers: A₁² as A1^2)."""
    out, k = [], 0
    while k < len(text):
        ch = text[k]
        run = _layer_run(text, k)
        if run:   # w¹₂₂, the scalar view's layer above and unit below: w[1]_22, never a power w^122
            out.append(f"[{run}]_")
            k += len(run)
            continue
        if ch in _SUPER and k > 0 and text[k - 1] in _SUPER:   # a superscript of several digits: one ^
            out.append(_SUPER[ch])
        elif ch in "Σ∑" and k + 1 < len(text) and text[k + 1].translate(_SUB) != text[k + 1]:
            out.append("sum_")   # Σᵢ, Σₜ: the index a sum runs over, sum_i
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append(_one(ch))
        k += 1
    return "".join(out)


def _layer_run(text: str, k: int) -> str:
    """The digits of a run of superscript digits that starts at ``k`` and a subscript follows (a layer
    written above a unit, w¹₂₂), else ""."""
    if text[k] not in _SUPER or (k > 0 and text[k - 1] in _SUPER):
        return ""
    j = k
    while j < len(text) and text[j] in _SUPER:
        j += 1
    digits = "".join(_SUPER[c] for c in text[k:j])
    if not digits.isdigit() or j == len(text) or text[j].translate(_SUB) == text[j]:
        return ""
    return digits


def _handler(error: UnicodeEncodeError):
    # the encoder hands over each run of characters it lacks at once: a superscript of several digits is one run
    return spell(error.object[error.start:error.end]), error.end


def _register() -> None:
    try:
        codecs.lookup_error(HANDLER)
    except LookupError:
        codecs.register_error(HANDLER, _handler)


def lacks_symbols(stream) -> bool:
    """Whether ``stream``'s encoding cannot write the text view's symbols (∂, subscripts, ⊙, ᵀ)."""
    encoding = getattr(stream, "encoding", None)
    if encoding is None:   # a buffer of text (io.StringIO) holds any character
        return False
    try:
        "∂J/∂W₂ ⊙ A₁ᵀ δ ─".encode(encoding)
        return False
    except (UnicodeEncodeError, LookupError):
        return True


def install(stream) -> bool:
    """Set the ASCII spelling on ``stream`` where its encoding lacks the symbols; whether it did."""
    if not lacks_symbols(stream) or not hasattr(stream, "reconfigure"):
        return False
    _register()
    try:
        stream.reconfigure(errors=HANDLER)
    except (ValueError, OSError, LookupError):
        return False
    return True

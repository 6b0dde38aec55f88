"""A formula as the books and courses print it, respelled into the grammar ``derive.formula.parse`` reads.

Students copy gradient formulas from where they read them: derivax's own text view (``(1/m) δ₂ A₁ᵀ``),
a textbook's typeset notation (``W₂ᵀ δ₂ ⊙ σ′(Z₁)``, ``A − Y``), LaTeX (``\\frac{1}{m} \\delta_2 A_1^\\top``),
Octave (``Theta2' .* ...``) or a line of their notebook (``dW2 = 1/m * np.dot(dZ2, A1.T);``). ``respell``
rewrites those spellings, character by character, into the Python-shaped text the whitelisted parser
walks; it never evaluates anything, and it keeps, for every character it writes, the offset of the
character of the user's text it came from, so that an error points into what the user typed.

What it rewrites (nothing else is touched):

- around the formula: backticks, ``$...$``, ``\\( ... \\)``; a left-hand side ``dW2 =`` or ``∂J/∂W₂ =``;
  a trailing ``;``;
- unicode: ``−`` and dashes as ``-``; ``⊙`` and ``∘`` as ``*``; ``·``, ``⋅`` and ``×`` as a product (below);
  ``ᵀ`` and ``⊤`` as ``.T``; ``²``, ``³`` as ``**2``, ``**3``; subscript digits as digits; ``δ`` as delta,
  ``λ`` as lam, ``σ`` as sigmoid, ``ε`` as epsilon, ``π`` as pi;
- LaTeX: ``\\frac{a}{b}``; ``\\delta``, ``\\lambda``, ``\\sigma``, ``\\tanh``, ...; ``\\odot``, ``\\circ``,
  ``\\cdot``, ``\\times``; ``^T``, ``^\\top``, ``^{T}``, ``^\\intercal`` as ``.T``; ``_{2}``, ``_2`` and Ng's
  ``^{[2]}`` as a layer's index; ``\\left(``, ``\\right)``, ``\\mathbf{W}``, spacing commands; any other
  command is refused with its position;
- Octave: ``.*`` and ``./`` as ``*`` and ``/``, ``.^`` as ``**``; and, where the text does not parse as
  it is, ``A1'`` as ``A1.T`` and ``sigmoid'(Z1)`` as ``sigmoid_prime(Z1)``;
- a product written by juxtaposition (``(1/m) δ₂ A₁ᵀ``), where the text does not parse as it is: ``*``
  where one side is a number (or m, λ), ``@`` between two matrices, as the books mean it.

With the derivation's ``names`` (``respell(text, names)``), a name the derivation does not know is read
as the one it plainly means, where exactly one fits: ``delta_2`` and ``delta[2]`` as delta2, ``a1`` and
``dz2`` as A1 and dZ2 (a book's lower case), ``A0`` as X (the input as layer 0's activation), ``N`` as m
(CS231n's batch size), and ``lambda`` as the weight decay's λ.
"""
from __future__ import annotations

import ast
import re

from derive.formula.parse import FormulaError

_SUBSCRIPTS = {chr(0x2080 + k): str(k) for k in range(10)}
_UNICODE = {"−": "-", "–": "-", "—": "-", "⊙": "*", "∘": "*", "÷": "/", "²": "**2", "³": "**3",
            "δ": "delta", "λ": "lam", "σ": "sigmoid", "ε": "epsilon", "π": "pi", "ᵀ": ".T", "⊤": ".T",
            "′": "'", "’": "'", "“": '"', "”": '"', "\u00a0": " ", **_SUBSCRIPTS}
_PRODUCT = "\x00"   # a product sign (·, ⋅, ×, \cdot, \times) until its operands say which product it is
_PRODUCTS = ("·", "⋅", "×", "∙")
# LaTeX commands read as a name or an operator; any other command is refused with its position
_LATEX = {"delta": "delta", "lambda": "lam", "sigma": "sigmoid", "tanh": "tanh", "exp": "exp", "log": "log",
          "ln": "log", "epsilon": "epsilon", "varepsilon": "epsilon", "pi": "pi", "odot": "*", "circ": "*",
          "ast": "*", "cdot": _PRODUCT, "times": _PRODUCT, "top": "T", "intercal": "T", "sqrt": "sqrt",
          "max": "max", "left": "", "right": "", "Big": "", "big": "", "Bigg": "", "bigg": "",
          "mathbf": "", "mathrm": "", "boldsymbol": "", "bm": "", "mathit": "", "mathsf": "", "text": "",
          "operatorname": "", "displaystyle": ""}
_SPACES = {",", ";", "!", " ", ":"}
# ordinary names a formula uses besides the derivation's (never respelled)
_FUNCTION_WORDS = {"np", "numpy", "jnp", "math", "T", "axis", "keepdims", "float", "int", "sum", "softmax",
                   "max", "sum_t", "flatten", "reshape", "True", "False", "None"}
_SCALARS = {"m", "lam", "reg", "lambd", "lmbda", "lambda_", "pi", "epsilon", "N"}
_KEYWORDS = {"and", "or", "not", "in", "is", "if", "else", "for", "lambda", "None", "True", "False"}


class _Out:
    """Text being written, with the offset in the user's text of each character written."""

    def __init__(self):
        self.chars, self.at = [], []

    def put(self, text, at):
        self.chars.extend(text)
        self.at.extend([at] * len(text))

    def text(self):
        return "".join(self.chars)


def respell(text: str, names=None):
    """(respelled text, offsets): ``offsets[k]`` is the offset in ``text`` of the respelled text's
    character k (one more entry, for the end). Returns ``text`` itself, and offsets 0..n, where
    nothing needs respelling."""
    if not isinstance(text, str):
        return text, None
    out, at = _characters(text)
    new = out
    if not _parses(new):
        new, at = _octave_primes(new, at)
        new, at = _juxtaposed(new, at)
    new, at = _products(new, at)
    if names is not None:
        new, at = _names(new, at, names)
    return new, at


def map_error(exc: FormulaError, original: str, respelled: str, offsets) -> FormulaError:
    """``exc`` (raised on the respelled text) as an error in the text the user typed."""
    if offsets is None or respelled == original or exc.text != respelled:
        return exc
    col = offsets[min(max(exc.col, 0), len(offsets) - 1)]
    return FormulaError(original, col, f"{exc.message} (read as {respelled!r})")


def _parses(text) -> bool:
    try:
        ast.parse(text, mode="eval")
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def _strip_around(text):
    """(start, end) of the formula inside backticks, $...$, \\( \\), a left-hand side and a trailing ';'."""
    start, end = 0, len(text)
    changed = True
    while changed:
        changed = False
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        for left, right in (("```", "```"), ("`", "`"), ("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
            if text.startswith(left, start) and text.endswith(right, 0, end) and end - start > len(left) + len(right):
                start, end, changed = start + len(left), end - len(right), True
                break
        if end > start and text[end - 1] == ";":
            end, changed = end - 1, True
        lhs = re.match(r"[^=()<>!:,'\"\[\]]*?(?<![=<>!])=(?!=)", text[start:end])
        if lhs and lhs.group().strip(" =") and not re.search(r"\b(axis|keepdims)\s*=$", lhs.group()):
            start, changed = start + lhs.end(), True
    return start, end


def _characters(text):
    """The always-safe respellings: characters and LaTeX commands that no Python expression holds."""
    start, end = _strip_around(text)
    out = _Out()
    i = start
    while i < end:
        c = text[i]
        if c == "\\":
            word = re.match(r"\\([A-Za-z]+|.)", text[i:end])
            name = word.group(1) if word else ""
            if name in _SPACES:
                out.put(" ", i)
                i += len(word.group())
                continue
            if name == "frac":
                i = _frac(text, i, end, out)
                continue
            if name in _LATEX:
                put = _LATEX[name]
                after = i + len(word.group())
                if put in ("", "T") and name not in ("top", "intercal"):   # a wrapper: \mathbf{W} is W
                    group = _group(text, after, end)
                    if group is not None and name not in ("left", "right", "Big", "big", "Bigg", "bigg",
                                                           "displaystyle"):
                        inner = _characters(text[group[0]:group[1]])
                        out.put(inner[0], None)
                        out.at[len(out.at) - len(inner[0]):] = [group[0] + k for k in inner[1][:-1]]
                        i = group[1] + 1
                        continue
                if put and put[0].isalpha() and out.chars and (out.chars[-1].isalnum() or out.chars[-1] == "_"):
                    out.put(" ", i)
                out.put(put, i)
                i = after
                if name in ("left", "right", "Big", "big", "Bigg", "bigg") and i < end and text[i] in "[{":
                    out.put("(", i)
                    i += 1
                elif name in ("right", "Big", "big", "Bigg", "bigg") and i < end and text[i] in "]}":
                    out.put(")", i)
                    i += 1
                continue
            raise FormulaError(text, i, f"the LaTeX command \\{name} is not part of a formula's grammar: write it "
                                        "with NumPy's spelling (np.sum(x, axis=...), @ for a matrix product)")
        if c == "^":
            sup = re.match(r"\^\s*(\{\s*(?:\\top|\\intercal|T|\\mathsf\{T\}|\\mathrm\{T\})\s*\}|\\top\b|\\intercal\b"
                           r"|T(?![A-Za-z0-9_]))", text[i:end])
            if sup:
                out.put(".T", i)
                i += len(sup.group())
                continue
            layer = re.match(r"\^\s*\{?\s*\[\s*(\d+)\s*\]\s*\}?", text[i:end])   # Ng's W^{[2]}
            if layer:
                out.put(layer.group(1), i)
                i += len(layer.group())
                continue
            if text.startswith("^{", i):   # a power written as LaTeX groups it
                group = _group(text, i + 1, end)
                if group is not None:
                    out.put("**(", i)
                    inner = _characters(text[group[0]:group[1]])
                    out.chars.extend(inner[0])
                    out.at.extend(group[0] + k for k in inner[1][:-1])
                    out.put(")", group[1])
                    i = group[1] + 1
                    continue
        if c == "_":
            sub = re.match(r"_\s*\{\s*(\d+)\s*\}|_(\d+)(?![A-Za-z_])", text[i:end])
            if sub and out.chars and out.chars[-1].isalpha() and _word_before(out) not in ("sum", "max"):
                out.put(sub.group(1) or sub.group(2), i)
                i += len(sub.group())
                continue
        if c in "{}" and (text.count("\\", start, end) or text.count("^{", start, end) or text.count("_{", start, end)):
            out.put("(" if c == "{" else ")", i)   # LaTeX's grouping
            i += 1
            continue
        if c == "." and i + 1 < end and text[i + 1] in "*/^" and not (out.chars and out.chars[-1].isdigit()
                                                                     and text[i + 1] == "/"):
            out.put("**" if text[i + 1] == "^" else text[i + 1], i)   # Octave's elementwise .* ./ .^
            i += 2
            continue
        if c in _PRODUCTS:
            out.put(_PRODUCT, i)
            i += 1
            continue
        if c in _UNICODE:
            put = _UNICODE[c]
            if put[0].isalpha() and out.chars and (out.chars[-1].isalnum() or out.chars[-1] == "_") \
                    and c not in _SUBSCRIPTS:
                out.put(" ", i)
            out.put(put, i)
            i += 1
            continue
        out.put(c, i)
        i += 1
    out.at.append(end)
    return out.text(), out.at


def _word_before(out) -> str:
    k = len(out.chars)
    while k > 0 and (out.chars[k - 1].isalnum() or out.chars[k - 1] == "_"):
        k -= 1
    return "".join(out.chars[k:])


def _group(text, i, end):
    """(start, end) inside the braces that open at ``i`` (spaces skipped), or None."""
    while i < end and text[i] == " ":
        i += 1
    if i >= end or text[i] != "{":
        return None
    depth = 0
    for k in range(i, end):
        depth += {"{": 1, "}": -1}.get(text[k], 0)
        if depth == 0:
            return i + 1, k
    return None


def _frac(text, i, end, out):
    """\\frac{a}{b} as ((a)/(b)); the offset after it."""
    first = _group(text, i + 5, end)
    second = _group(text, first[1] + 1, end) if first else None
    if second is None:
        raise FormulaError(text, i, "\\frac takes two groups in braces, as \\frac{1}{m}")
    out.put("((", i)
    for lo, hi, close in ((first[0], first[1], ")/("), (second[0], second[1], "))")):
        inner, at = _characters(text[lo:hi])
        out.chars.extend(inner)
        out.at.extend(lo + k for k in at[:-1])
        out.put(close, hi)
    return second[1] + 1


_TOKEN = re.compile(r"\s*(?:(?P<num>\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
                    r"|(?P<str>'[^']*'|\"[^\"]*\")|(?P<op>\*\*|//|[-+*/@%<>=!]=?|[()\[\],.:'\x00^&|~]))")


def _tokens(text):
    """[(kind, text, start, end)] of a respelled formula; None where it holds something else."""
    out, i = [], 0
    while i < len(text):
        if text[i:].strip() == "":
            break
        t = _TOKEN.match(text, i)
        if not t:
            return None
        kind = t.lastgroup
        out.append((kind, t.group(kind), t.start(kind), t.end(kind)))
        i = t.end()
    return out


def _octave_primes(text, at):
    """Octave's and the books' primes, where the text does not parse as Python: A1' as A1.T, (A2-Y)' as
    (A2-Y).T, sigmoid'(Z1) and σ'(Z1) as sigmoid_prime(Z1)."""
    if "'" not in text:
        return text, at
    out = _Out()
    for k, c in enumerate(text):
        if c == "'" and k > 0 and (text[k - 1].isalnum() or text[k - 1] in "_)'"):
            after = text[k + 1:].lstrip()
            word = re.search(r"[A-Za-z_][A-Za-z_0-9]*$", text[:k])
            if after.startswith("(") and word:
                out.put("_prime", at[k])
            else:
                out.put(".T", at[k])
            continue
        out.put(c, at[k])
    out.at.append(at[-1])
    return out.text(), out.at


def _juxtaposed(text, at):
    """A product written by juxtaposition, where the text does not parse as Python: a sign put between two
    operands that stand side by side ((1/m) delta2 A1.T, 2 (A2 - Y))."""
    tokens = _tokens(text)
    if not tokens:
        return text, at
    callable_ = {"np", "numpy", "jnp", "math"}
    inserts = []
    for k in range(1, len(tokens)):
        (pk, pt, _, pe), (nk, nt, ns, _) = tokens[k - 1], tokens[k]
        ends = pk in ("num", "name") and pt not in _KEYWORDS or pt == ")" or (pk == "name" and pt == "T" and k > 1
                                                                             and tokens[k - 2][1] == ".")
        starts = nk in ("num", "name") and nt not in _KEYWORDS or nt == "("
        if not (ends and starts):
            continue
        if nt == "(" and pk == "name":   # a call: tanh(Z1), np.dot(...), f(...)
            continue
        if pk == "num" and nk == "num":
            continue
        if pk == "name" and k > 1 and tokens[k - 2][1] == "." and pt != "T":   # np.dot (a, b) is a call
            continue
        if pt in callable_:
            continue
        inserts.append((ns, _PRODUCT))
    if not inserts:
        return text, at
    out = _Out()
    prev = 0
    for pos, sign in inserts:
        for c in range(prev, pos):
            out.put(text[c], at[c])
        out.put(f" {sign} ", at[pos])
        prev = pos
    for c in range(prev, len(text)):
        out.put(text[c], at[c])
    out.at.append(at[-1])
    return out.text(), out.at


def _products(text, at):
    """Each product sign as the product its operands make: * where one side is a number (1/m, 2, m, λ),
    @ between two matrices."""
    if _PRODUCT not in text:
        return text, at
    tokens = _tokens(text) or []
    chars = list(text)
    for k, (kind, t, s, _) in enumerate(tokens):
        if t != _PRODUCT:
            continue
        left = _operand_left(tokens, k)
        right = tokens[k + 1] if k + 1 < len(tokens) else None
        scalar = _scalar(left) or (right is not None and (right[0] == "num" or right[1] in _SCALARS)
                                   and not (k + 2 < len(tokens) and tokens[k + 2][1] in (".", "(")))
        chars[s] = "*" if scalar else "@"
    return "".join(chars), at


def _operand_left(tokens, k):
    """The tokens of the operand that ends before token ``k``."""
    j = k - 1
    depth = 0
    while j >= 0:
        t = tokens[j][1]
        depth += {")": 1, "(": -1}.get(t, 0)
        if depth == 0 and (tokens[j][0] in ("num", "name") or t == "("):
            if j > 0 and tokens[j - 1][1] == "." or t == "T" and j > 0 and tokens[j - 1][1] == ".":
                j -= 1
                continue
            if t == "(" and j > 0 and tokens[j - 1][0] == "name":
                j -= 1
            break
        j -= 1
    return tokens[max(j, 0):k]


def _scalar(tokens) -> bool:
    """Whether an operand's tokens hold numbers, m and λ alone (1/m, (1/m), 2, lam)."""
    if not tokens:
        return False
    return all(kind == "num" or t in _SCALARS or t in ("(", ")", "+", "-", "*", "/", "**") for kind, t, _, _ in tokens)


def _names(text, at, names):
    """Names the derivation does not know, read as the one each plainly means (see the module's doc)."""
    tokens = _tokens(text)
    if not tokens:
        return text, at
    known = set(names)
    lower = {}
    for n in known:
        lower.setdefault(n.lower(), []).append(n)
    edits = []   # (start, end, replacement)
    for k, (kind, t, s, e) in enumerate(tokens):
        if kind != "name" or t in known or t in _FUNCTION_WORDS or k > 0 and tokens[k - 1][1] == ".":
            continue
        following = tokens[k + 1][1] if k + 1 < len(tokens) else ""
        if following == "(" or following == "=":   # a call, or a keyword argument
            continue
        if t == "lambda":
            if following and (tokens[k + 1][0] == "name" or following == ":"):
                continue   # a lambda expression: refused as such by the parser
            edits.append((s, e, "lam"))
            continue
        found = None
        if following == "[" and k + 3 < len(tokens) and tokens[k + 2][0] == "num" and tokens[k + 3][1] == "]" \
                and t + tokens[k + 2][1] in known:   # delta[2], Ng's A[1]
            edits.append((s, tokens[k + 3][3], t + tokens[k + 2][1]))
            continue
        flat = re.sub(r"_(?=\d)", "", t)
        candidates = [flat] + ([c for c in lower.get(flat.lower(), [])] if flat.lower() in lower else [])
        for c in candidates:
            if c in known:
                found = c
                break
        if found is None and re.fullmatch(r"[Aa]_?0|[Hh]_?0|[Aa]_?prev_?1", t) and "X" in known:
            found = "X"
        if found is None and t == "N" and "m" in known:
            found = "m"
        if found is not None and (len(lower.get(flat.lower(), [])) <= 1 or flat in known):
            edits.append((s, e, found))
    if not edits:
        return text, at
    out = _Out()
    prev = 0
    for s, e, put in edits:
        for c in range(prev, s):
            out.put(text[c], at[c])
        out.put(put, at[s])
        prev = e
    for c in range(prev, len(text)):
        out.put(text[c], at[c])
    out.at.append(at[-1])
    return out.text(), out.at

"""Printing graph nodes in three styles: ``text`` (unicode), ``latex`` and ``formula``.

``formula`` is the NumPy-like syntax that ``derivax check`` parses back (``@`` matrix product, ``*``
elementwise, ``.T``, ``sum(x, axis)``), so every printed gradient can be fed back in as a formula.

The scalar part of an elementwise node is printed by a SymPy ``Printer`` subclass (dispatching
``_print_<Class>`` as SymPy's printers do) that knows which symbols stand for matrices, so it writes
⊙ between matrices and keeps scalar factors such as 1/m in front, as a textbook does.
"""
from __future__ import annotations

import re

import sympy as sp
from sympy.core.function import _coeff_isneg
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.printer import Printer

from ._graph import Node, is_placeholder, placeholder
from ._names import Name
from ._scalar_functions import SCALAR_FUNCTIONS, fill
from ._symbols import m as m_sym
from .ops import lookup

SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
SUP = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
GREEK = {"delta": ("δ", r"\delta"), "lambda": ("λ", r"\lambda")}
# Each scalar function prints as its row of the table says (σ(x), |x|, \tanh\left(x\right), ...).
ROWS = {c: f for f in SCALAR_FUNCTIONS for c in f.classes}
STYLES = ("text", "latex", "formula")
ATOM, MATMUL = 100, 60  # precedences of a name and of a juxtaposed matrix product


def name(n: str, style: str) -> str:
    """W1 -> W₁ (text), W^{[1]} (latex), W1 (formula). A structured name (``derive._names.Name``) is
    read by its parts; plain text (a formula's names) by its letters and digits."""
    if style == "formula":
        return "lam" if n == "lambda" else str(n)  # lambda is a Python keyword: formulas say lam
    if isinstance(n, Name):
        base, digits = n.base, "" if n.layer is None else str(n.layer)
    else:
        match = re.fullmatch(r"([A-Za-z_]+?)(\d*)", n)
        if match is None:  # already a display name (the scalar view's w¹₁₂)
            return n
        base, digits = match.groups()
    sym = GREEK.get(base, (base, base))[0 if style == "text" else 1]
    if not digits:
        return sym
    return sym + digits.translate(SUB) if style == "text" else f"{sym}^{{[{digits}]}}"


class ScalarPrinter(Printer):
    _default_settings = {"order": None}

    """Prints an elementwise SymPy expression; ``atoms`` maps placeholders to printed matrices."""

    def __init__(self, style: str, atoms: dict, precs: dict | None = None):
        super().__init__()
        self.style, self.atoms, self.precs = style, atoms, precs or {}

    def mfactor(self, f, crowded: bool) -> str:
        """A matrix factor of a product: a juxtaposed product is bracketed when beside others."""
        if f in self.precs and self.precs[f] < ATOM and (crowded or self.style == "formula"):
            return _wrap(self.atoms[f], self.style)
        return self.paren(f, PRECEDENCE["Mul"])

    def is_matrix(self, e) -> bool:
        return any(s in self.atoms for s in e.free_symbols)

    def paren(self, e, level):
        s = self._print(e)
        if precedence(e) < level:
            return r"\left(" + s + r"\right)" if self.style == "latex" else "(" + s + ")"
        return s

    def _print_Symbol(self, s):
        if s in self.atoms:
            return self.atoms[s]
        return name(s.name, self.style)

    def _print_Integer(self, e):
        return str(e.p)

    def _print_Rational(self, e):
        if self.style == "latex":
            return ("- " if e.p < 0 else "") + rf"\frac{{{abs(e.p)}}}{{{e.q}}}"
        return f"{e.p}/{e.q}"

    def _print_Float(self, e):
        return sp.Float(e, 6).__str__().rstrip("0").rstrip(".")

    def _print_Add(self, e):
        terms = self._as_ordered_terms(e)
        out = self._print(terms[0])
        minus = "−" if self.style == "text" else "-"
        for t in terms[1:]:
            if _coeff_isneg(t):
                out += f" {minus} " + self.paren(-t, PRECEDENCE["Mul"])
            else:
                out += " + " + self.paren(t, PRECEDENCE["Add"] + 1)
        return out

    def _coefficient(self, c) -> str:
        """A scalar factor in front: (1/m) in text, \\frac{1}{m} in LaTeX, (1/m)* in a formula."""
        num, den = sp.fraction(c)
        if self.style == "latex":
            return self._print(c) if den == 1 else rf"\frac{{{self._print(num)}}}{{{self._print(den)}}}"
        s = self.paren(num, PRECEDENCE["Mul"])
        if den != 1:
            s = f"({s}/{self.paren(den, PRECEDENCE['Pow'])})" if self.style == "text" \
                else f"({s}/{self.paren(den, PRECEDENCE['Pow'])})"
        return s

    def _print_Mul(self, e):
        minus = "−" if self.style == "text" else "-"
        if _coeff_isneg(e):
            return minus + self.paren(-e, PRECEDENCE["Mul"])
        factors = e.as_ordered_factors()
        const = sp.Mul(*[f for f in factors if not self.is_matrix(f)])
        mat = sp.Mul(*[f for f in factors if self.is_matrix(f)])
        num, den = sp.fraction(mat)
        if not self.is_matrix(e):  # a scalar such as lambda/m or a per-neuron expression
            num, den = sp.fraction(e)
            sep = " " if self.style != "formula" else "*"
            top = sep.join(self.paren(f, PRECEDENCE["Mul"]) for f in sp.Mul.make_args(num))
            if den == 1:
                return top
            if self.style == "latex":
                return rf"\frac{{{self._print(num)}}}{{{self._print(den)}}}"
            return f"{self.paren(num, PRECEDENCE['Mul'])}/{self.paren(den, PRECEDENCE['Pow'])}"
        times = {"text": " ⊙ ", "latex": r" \odot ", "formula": "*"}[self.style]
        divide = {"text": " ⊘ ", "latex": r" \oslash ", "formula": "/"}[self.style]
        fs = [f for f in sp.Mul.make_args(num) if f != 1]
        crowded = len(fs) > 1 or den != 1
        s = times.join(self.mfactor(f, crowded) for f in fs) if fs else "1"
        if den != 1:
            s += divide + (self.mfactor(den, True) if den in self.precs else self.paren(den, PRECEDENCE["Mul"] + 1))
        if const != 1:
            sep = "*" if self.style == "formula" else " "
            s = self._coefficient(const) + sep + (self.paren(mat, PRECEDENCE["Mul"] + 1)
                                                  if isinstance(mat, sp.Add) else s)
        return s

    def _print_Pow(self, e):
        base, exp = e.args
        if exp == -1:
            return self._print_Mul(sp.Mul(1, e, evaluate=False)) if not self.is_matrix(base) \
                else "1" + {"text": " ⊘ ", "latex": r" \oslash ", "formula": "/"}[self.style] \
                + self.paren(base, PRECEDENCE["Pow"] + 1)
        if exp == sp.Rational(1, 2):
            return {"text": "√", "latex": r"\sqrt", "formula": "sqrt"}[self.style] + \
                ("{" + self._print(base) + "}" if self.style == "latex" else "(" + self._print(base) + ")")
        b = self.paren(base, PRECEDENCE["Pow"] + 1)
        if base in self.precs and self.precs[base] < ATOM or self.style == "latex" and "^" in b \
                and not b.startswith(r"\left("):
            b = _wrap(self._print(base), self.style)
        if self.style == "text" and exp.is_Integer:
            return b + str(exp).translate(SUP)
        if self.style == "latex":
            return f"{b}^{{{self._print(exp)}}}"
        return f"{b}**{self.paren(exp, PRECEDENCE['Pow'] + 1)}"

    def _print_Function(self, e):
        args = ", ".join(self._print(a) for a in e.args)
        row = ROWS.get(type(e))
        if row is not None:
            return fill(row.printed(self.style), args)
        fname = type(e).__name__  # a function of no row prints by its class name
        if self.style == "latex":
            return rf"\mathrm{{{fname}}}\left(" + args + r"\right)"
        return f"{fname}({args})"

    def _print_Exp1(self, e):
        return "e"

    def _print_Pi(self, e):
        return {"text": "π", "latex": r"\pi", "formula": "pi"}[self.style]

    def emptyPrinter(self, e):
        return str(e)


def show(node: Node, style: str = "text", top: bool = True) -> str:
    """The formula of ``node``: named nodes print as their names, the rest structurally."""
    return _show(node, style, top)[0]


def _wrap(s, style):
    return r"\left(" + s + r"\right)" if style == "latex" else "(" + s + ")"


def _show(node: Node, style: str, top: bool):
    """(string, precedence) of ``node``: a name where it has one, else its operation's own printing
    (``derive.ops``: ``Op.show``)."""
    if node.name and not top or node.op == "leaf":
        return name(node.name, style), ATOM
    return lookup(node.op).show(node, style, _Notation(style))


class _Notation:
    """What an op's printing rule needs from the printer: its operands printed, brackets, names,
    dimensions and the precedences, in one notation."""

    ATOM, MATMUL, MUL = ATOM, MATMUL, PRECEDENCE["Mul"]

    def __init__(self, style: str):
        self.style = style

    def arg(self, node: Node):
        return _show(node, self.style, False)

    def wrap(self, s: str) -> str:
        return _wrap(s, self.style)

    def name(self, n: str) -> str:
        return name(n, self.style)

    def dim(self, d) -> str:
        return "m" if d == m_sym else str(d)

    def elementwise(self, node: Node):
        atoms, precs = {}, {}
        for i, a in enumerate(node.args):
            atoms[placeholder(i)], precs[placeholder(i)] = self.arg(a)
        expr = node.attrs["expr"]
        s = ScalarPrinter(self.style, atoms, precs).doprint(expr)
        if expr.is_Symbol and is_placeholder(expr):
            return s, precs[expr]
        return s, precedence(expr)

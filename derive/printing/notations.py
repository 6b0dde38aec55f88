"""The three notations a derivation prints in, one printer class each.

- ``TextPrinter``: unicode for the terminal, ``Z₁ = X W₁ + b₁``, ``δ₁ = (δ₂ W₂ᵀ) ⊙ (1 − A₁²)``.
- ``LatexPrinter``: ``Z^{[1]} = X W^{[1]} + b^{[1]}``, as the seed texts write layers.
- ``FormulaPrinter``: the NumPy-like syntax that ``derivax check`` parses back (``@`` matrix product,
  ``*`` elementwise, ``.T``, ``sum(x, axis)``), so every printed gradient can be fed back in.

Each class only sets and overrides the notation's pieces of ``derive.printing.printer.NotationPrinter``; a new
notation is a new class here and a row of ``PRINTERS``.
"""
from __future__ import annotations

import sympy as sp

from derive.graph.names import GREEK, MARKED, SPELLED, Name, subscript, superscript
from derive.printing.printer import NotationPrinter, decimal
from derive.network.scalar_functions import latex_name


class TextPrinter(NotationPrinter):
    minus, hadamard, hadamard_divide, scalar_times = "−", " ⊙ ", " ⊘ ", " "
    matmul_sign, transpose_mark, pi = " ", "ᵀ", "π"
    sum_all, sum_over_axis = "Σ ", "Σₖ "

    def letter(self, base: str) -> str:
        if base.startswith("delta") and base[5:].isalpha():  # a gate's error signal: deltar is δr
            return "δ" + base[5:]
        if base in MARKED:
            return MARKED[base][0]
        return GREEK.get(base, base)

    def layer_index(self, digits: str) -> str:
        return subscript(digits)

    def entry(self, base, layer, parts, sep) -> str:
        return base + superscript(layer) + sep.join(subscript(p) for p in parts)

    def entry_expression(self, expr) -> str:
        return self.doprint(expr.xreplace({s: sp.Symbol(self.entry_name(s)) for s in expr.free_symbols}))

    def power(self, b, exp):
        return b + superscript(exp) if exp.is_Integer else super().power(b, exp)

    def sqrt(self, s):
        return f"√({s})"

    def function_template(self, row):
        return row.text or super().function_template(row)

    def sum_over_batch(self, inner: str, atom: bool) -> str:
        return f"Σᵢ {inner}⁽ⁱ⁾"

    def sum_over_batch_and_positions(self, inner: str) -> str:
        return f"Σᵢ,ₚ {inner}"

    conv_sign, correlation_sign = " ∗ ", " ⋆ "

    def sub(self, label: str) -> str:
        return subscript(label)

    def zero_matrix(self, shape) -> str:
        return "0" + "ₓ".join(subscript(self.dim(d)).replace("m", "ₘ") for d in shape)

    def fraction(self, value) -> str:
        return self.wrap(str(value))

    def sum_over_classes(self, target: str, axis: int) -> str:
        return f"Σₖ {target}ₖ"

    def log_call(self, call: str) -> str:
        return "log " + call

    def gradient_name(self, shown: str) -> str:
        return f"∂J/∂{shown}"

    def partial_name(self, top: str, bottom: str) -> str:
        return f"∂{top}/∂{bottom}"

    def derivative_call(self, fname: str, arg: str) -> str:
        return f"{fname}′({arg})"


class LatexPrinter(NotationPrinter):
    hadamard, hadamard_divide, scalar_times = r" \odot ", r" \oslash ", " "
    matmul_sign, transpose_mark, pi = " ", "^{T}", r"\pi"
    sum_all, sum_over_axis = r"\sum ", r"\sum_{k} "

    def scientific(self, mantissa: str, exponent: int) -> str:
        return f"{mantissa} \\times 10^{{{exponent}}}"

    def letter(self, base: str) -> str:
        if base in GREEK:
            return "\\" + base  # LaTeX names each letter as it is spelled
        if base in MARKED:
            return MARKED[base][1]
        if base.startswith("delta") and base[5:].isalpha():  # a gate's error signal: \delta_{r}
            return rf"\delta_{{{base[5:]}}}"
        if len(base) > 1 and base.isalpha():
            # a name of several letters is one letter and a subscript, not a product: a recurrent layer's
            # Wxh is W_{xh}, a gate's ar is a_{r}, a position table Cpos is C_{pos}
            return rf"{base[0]}_{{{base[1:]}}}"
        return base

    ellipsis, sum_over_t = r"\dots", r"\sum_{t} "

    def over_time(self, s):
        return r"\left[" + s + r"\right]_{t}"

    def slice(self, s, axis, start, stop, rank):
        index = [":"] * (axis + 1)
        index[axis] = str(start) if stop == start + 1 else f"{start}:{stop}"
        return f"{{{s}}}_{{[{', '.join(index)}]}}"

    def side_by_side(self, parts):
        return r"\left[" + ", ".join(parts) + r"\right]"

    positions_to_steps = (r"\sum_{i,p}", r"\sum_{i,t}")

    def stepped(self, letter, digits, step):
        return letter + "^{" + (f"[{digits}]" if digits else "") + rf"\langle {step}\rangle}}"

    def layer_index(self, digits: str) -> str:
        return f"^{{[{digits}]}}"

    # A rule's words go inside \text{...}: LaTeX's special characters escaped (a rule naming
    # leaky_relu, an activation's formula as typed), the dash as LaTeX writes it, and math in $...$.
    TEXT_SPECIALS = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                     "\\": r"\textbackslash{}", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}", "–": "--",
                     "\n": " ", "\r": " "}

    def words(self, text: str) -> str:
        return "".join(self.TEXT_SPECIALS.get(ch, ch) for ch in text)

    def inline_math(self, text: str) -> str:
        return f"${text}$"

    def math(self, m) -> str:
        return m.latex

    def name_in_words(self, n) -> str:
        return self.inline_math(self.name(n))

    def gradient_in_words(self, n) -> str:
        return self.inline_math(rf"\partial J / \partial {self.name(n)}")

    def entry(self, base, layer, parts, sep) -> str:
        base = "\\" + SPELLED[base] if base in SPELLED else base
        return base + (f"^{{[{layer}]}}" if layer else "") + "_{" + sep.join(parts) + "}"

    def entry_expression(self, expr) -> str:
        return sp.latex(expr, symbol_names={s: self.entry_name(s) for s in expr.free_symbols})

    def wrap(self, s):
        return r"\left(" + s + r"\right)"

    def call(self, fname, args):
        return rf"\mathrm{{{fname}}}\left(" + args + r"\right)"

    def function_name(self, name):
        return latex_name(name)

    def transpose(self, s, prec):
        if prec == self.ATOM and (s.endswith("]}") or s.endswith(r"\rangle}")):
            return s[:-1] + (" T}" if s.endswith(r"\rangle}") else "T}")  # W^{[2]T}, as seed texts write it
        return super().transpose(s, prec)

    def sum_over_batch(self, inner, atom):
        if atom and (inner.endswith("]}") or inner.endswith(r"\rangle}")):
            return rf"\sum_{{i=1}}^{{m}} {inner[:-1]}(i)}}"  # delta^{[2](i)}
        return rf"\sum_{{i=1}}^{{m}} {inner}^{{(i)}}"

    def sum_over_classes(self, target, axis):
        return rf"\sum_k {target}_k"

    def sum_over_batch_and_positions(self, inner):
        return rf"\sum_{{i,p}} {inner}"

    def indexed(self, s, idx):
        return f"{s}_{{{','.join(idx)}}}"

    def sum_over(self, names):
        return rf"\sum_{{{','.join(names)}}} "

    conv_sign, correlation_sign = r" \ast ", r" \star "

    def sub(self, label):
        return f"_{{{label}}}"

    def dimensions(self, shape):
        return r" \times ".join(self.dim(d) for d in shape)

    def operator_name(self, name):
        return rf"\mathrm{{{name}}}"

    def fraction(self, value):
        return sp.latex(value)

    def log_call(self, call):
        return r"\log " + call

    def fact_used(self, fact):
        return rf"\text{{using }} {fact}"

    def gradient_name(self, shown):
        return rf"\frac{{\partial J}}{{\partial {shown}}}"

    def partial_name(self, top, bottom):
        return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"

    def derivative_call(self, fname, arg):
        return rf"\mathrm{{{latex_name(fname)}}}'\left({arg}\right)"

    def quotient(self, num, den):
        return rf"\frac{{{self._print(num)}}}{{{self._print(den)}}}"

    def coefficient(self, c):
        num, den = sp.fraction(c)
        return self._print(c) if den == 1 or decimal(c) is not None else self.quotient(num, den)

    def _print_Rational(self, e):
        shown = decimal(e)
        if shown is not None:
            return shown
        return ("- " if e.p < 0 else "") + rf"\frac{{{abs(e.p)}}}{{{e.q}}}"

    def power(self, b, exp):
        return f"{b}^{{{self._print(exp)}}}"

    def bracket_power_base(self, b):
        return "^" in b and not b.startswith(r"\left(")  # W^{[1]}^{2} is no LaTeX: (W^{[1]})^{2}

    def sqrt(self, s):
        return r"\sqrt{" + s + "}"

    def function_template(self, row):
        return row.latex or self.call(latex_name(row.name), "{0}")


class FormulaPrinter(NotationPrinter):
    """The base printer's settings are this notation's: Python's operators."""

    bracket_lone_products = True
    writes_indices = False
    KEYWORDS = {"lambda": "lam"}  # a Python keyword cannot be a formula's name

    def name(self, n):
        step = getattr(n, "step", None)
        if step is not None and self.time_at is not None and not n.at:
            n = n.at_step(self.time_at)
        elif step is not None and self.time_shift:
            n = n.shifted(self.time_shift)
        return self.KEYWORDS.get(n, str(n))

    def entry_name(self, sym):
        return sym.name  # w1_1_2, as SymPy's own printer writes it in the expressions

    def softmax_call(self, s, axis):
        return f"softmax({s}, {axis})"   # the axis a formula read back by check names

    def _print_Float(self, e):
        return repr(float(e))   # every digit a float64 holds: the formula reads back as the same number

    def entry_expression(self, expr):
        return sp.sstr(expr)

    def sum(self, s, prec, axis, over_batch):
        return (f"sum({s})" if axis is None else f"sum({s}, {axis})"), self.ATOM

    def sum_over_classes(self, target, axis):
        return f"sum({target}, {axis})"

    def log_call(self, call):
        return f"log({call})"

    def scattered(self, g, idx, rows):
        return f"scatter_add({g[0]}, {idx}, {rows})"

    # convolution and pooling as calls; their stride, padding and window are the network's layer's
    # (``derive.formula.matrix_names.window_functions`` reads them back), as the header states them
    def convolution(self, x, w, stride):
        return f"conv({x}, {w})"

    def conv_input_grad(self, g, w, stride):
        return f"conv_input_grad({g}, {w})"

    def conv_weight_grad(self, x, g, stride):
        return f"conv_weight_grad({x}, {g})"

    def window_call(self, kind, window, stride, args):
        return f"{kind}({', '.join(args)})"

    def routed(self, a, g, window):
        return f"route({a}, {g})"

    def spread(self, g, window, factor):
        return f"spread({g})"

    def gradient_name(self, shown):
        return f"dJ/d{shown}"

    def partial_name(self, top, bottom):
        return f"d{top}/d{bottom}"

    def adjoint_name(self, shown):
        return f"d{shown}"

    def sequence(self, first, last):
        """Every step's state, as check reads it: stack_t(h1_t) (stack_t(dh1_t) for ∂J/∂h⟨t⟩ at every t)."""
        import re
        a, b = re.fullmatch(r"(.+)_at1", first), re.fullmatch(r"(.+)_at\d+", last)
        if a and b and a.group(1) == b.group(1):
            base = a.group(1)
            return f"stack_t({'d' + base[len('dJ/d'):] if base.startswith('dJ/d') else base}_t)"
        return f"stack({first}, ..., {last})"

    # A line of the formula notation holds without the note beside it (show's JSON has no notes): ∂J/∂h⟨t⟩ of a
    # layer whose last state alone goes on is written with what the layers above send, dH1_t, at every t.
    lines_stand_alone = True

    def at_step(self, s, prec, node):
        """An operand at step t as check reads it: a named sequence by its name at t (A4_t), anything else
        indexed at its time axis, merge(dQ3)[:, t]."""
        name = getattr(node, "name", None)
        if isinstance(name, Name) and name.step is None and prec == self.ATOM and node.role != "adjoint":
            return self.name(Name(name.base, name.layer, 0))
        return f"{s if prec == self.ATOM else self.wrap(s)}[:, t]"

    def at_time(self, s, h, t=None):
        """(∂J/∂H₁)⟨t⟩ as check reads it: dH1_t (dH1[:, 2] at the fixed step 3)."""
        shown = "d" + s[len("dJ/d"):] if s.startswith("dJ/d") else self.wrap(s)
        if t is None:
            return shown + "_t" if s.startswith("dJ/d") else shown + "[:, t]"
        return f"{shown}[:, {t - 1}]"

    def sum_over_time(self, s, prec):
        return f"sum_t({s})"

    def over_time(self, s):
        return f"stack_t({s})"

    def side_by_side(self, parts):
        return f"concat({', '.join(parts)})"

    def zero_matrix(self, shape):
        return "0"   # broadcast to the shape it stands in

    def derivative_call(self, fname, arg):
        return f"{fname}_prime({arg})"


PRINTERS = {"text": TextPrinter, "latex": LatexPrinter, "formula": FormulaPrinter}


def printer_for(style: str, atoms: dict | None = None, precs: dict | None = None) -> NotationPrinter:
    """The printer of a notation: ``text``, ``latex`` or ``formula``."""
    try:
        return PRINTERS[style](atoms, precs)
    except KeyError:
        raise ValueError(f"unknown notation {style!r}; known: {', '.join(PRINTERS)}") from None

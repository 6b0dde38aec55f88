"""What every notation's printer shares: graph nodes printed through their ops, elementwise expressions
through SymPy's ``_print_<Class>`` dispatch.

Nothing here asks which notation it is printing. What differs between notations (signs, brackets,
names, fractions, powers, sums, transposes, function calls) is a setting or a method of
``NotationPrinter`` that each notation's class in ``derive.printing.notations`` sets or overrides, as SymPy's
printers do. An op prints itself (``Op.show(node, p)`` in its module of ``derive.ops``) by calling
those methods, so adding a notation is adding a class, and adding an op is adding a module.

The elementwise part knows which symbols stand for matrices (``atoms``: placeholder -> the operand
printed; ``precs``: its precedence), so it writes ⊙ between matrices and keeps scalar factors such as
1/m in front, as a textbook does.
"""
from __future__ import annotations

import functools
import re
import string
import weakref

import sympy as sp
from sympy.core.function import _coeff_isneg
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.printer import Printer

from derive.graph.build import Node, is_placeholder, placeholder
from derive.graph.names import GREEK, MARKED, Name, parts, step_text
from derive.graph.rules import Gradient, Math
from derive.printing.rules import FALLBACK, RULE_WORDS
from derive.network.scalar_functions import SCALAR_FUNCTIONS, fill
from derive.graph.symbols import m as m_sym
from derive.ops import lookup
from derive.ops.elementwise import broadcast_shape

# Each scalar function prints as its row of the table says (σ(x), |x|, \tanh\left(x\right), ...).
ROWS = {c: f for f in SCALAR_FUNCTIONS for c in f.classes}
ATOM, MATMUL, MUL, POW = 100, 60, PRECEDENCE["Mul"], PRECEDENCE["Pow"]  # a name; a juxtaposed product
ENTRY_NAME = re.compile(r"(\D+?)(\d*)_([\d_]+)")   # a scalar-view symbol: w1_1_2 (layer 1, entry 1, 2)


_ZERO = weakref.WeakKeyDictionary()


def is_zero(node) -> bool:
    """Whether ``node`` is the zero matrix whatever its operands' values: a constant 0, a product with a
    zero factor (0 A₁ᵀ A₂), an elementwise expression its zero operands make 0, a sum or a transpose
    of a zero matrix. An operand with a name is what its name says: never looked into."""
    if not isinstance(node, Node) or node.op == "leaf" or node.role == "adjoint":
        return False
    found = _ZERO.get(node)
    if found is None:
        if node.op == "ew":
            expr = node.attrs["expr"]
            zeros = {placeholder(i): 0 for i, a in enumerate(node.args) if not a.name and is_zero(a)}
            found = bool((expr.xreplace(zeros) if zeros else expr) == 0)
        else:   # as the op says (derive.ops._registry.Op.zero): a product of a zero, a sum of zeros
            rule = lookup(node.op).zero
            zeros = [not a.name and is_zero(a) for a in node.args] if rule else []
            found = bool(zeros) and (any(zeros) if rule == "any" else all(zeros))
        _ZERO[node] = found
    return found


def _label(sizes: tuple) -> str:
    """A stride or window as an operator's subscript: 2 for (2, 2), 2,3 for (2, 3)."""
    return str(sizes[0]) if len(set(sizes)) == 1 else ",".join(map(str, sizes))


def decimal(c) -> str | None:
    """A rational that was typed as a decimal, 1.0507009873554805 or 0.044715, as that decimal: one whose
    denominator has no prime factors but 2 and 5 and is over 100 (1/2, 3/4 and 1/100 stay fractions), written
    in at most 17 significant digits. None for any other number."""
    if not isinstance(c, sp.Rational) or c.is_Integer or c.q <= 100:
        return None
    q = int(c.q)
    twos, fives = (q & -q).bit_length() - 1, 0
    rest = q >> twos
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    if rest != 1:
        return None
    places = max(twos, fives)
    digits = str(abs(int(c.p)) * 10**places // q)
    if len(digits.lstrip("0")) > 17:
        return None
    whole, frac = digits[:-places] or "0", digits[-places:].rjust(places, "0")
    return ("-" if c.p < 0 else "") + f"{whole}.{frac}".rstrip("0").rstrip(".")


@functools.lru_cache(maxsize=None)
def _template(text: str) -> tuple:
    """A rule's template as (words, the name of the value after them or None) pairs."""
    return tuple((words, key) for words, key, _, _ in string.Formatter().parse(text))


class NotationPrinter(Printer):
    """Prints graph nodes (``show``) and elementwise SymPy expressions (``doprint``) in one notation."""

    _default_settings = {"order": None}
    ATOM, MATMUL, MUL = ATOM, MATMUL, MUL

    # Settings each notation gives: the signs it writes.
    minus = "-"
    hadamard = "*"            # between matrices, entry by entry
    hadamard_divide = "/"
    scalar_times = "*"        # between scalar factors, and after a scalar coefficient
    matmul_sign = " @ "
    transpose_mark = ".T"
    pi = "pi"
    # A matrix product bracketed as a factor even when it stands alone (1/m)*(A @ B): in a Python
    # formula @ and * bind equally tightly, so the brackets say which product comes first.
    bracket_lone_products = False

    def __init__(self, atoms: dict | None = None, precs: dict | None = None):
        super().__init__()
        self.atoms, self.precs = atoms or {}, precs or {}

    # ---- a step's reasons, in words (derive.graph.rules; the words are derive.printing.rules) --------

    def rules(self, rules) -> str:
        return "; ".join(self.rule(r) for r in rules)

    def rule(self, r) -> str:
        values = {key: self.rule_value(v) for key, v in r.values}
        values.setdefault("kind", self.words(r.kind))
        # the template's words escaped as the notation writes words, each {value} filled as printed
        return "".join(self.words(text) + (values[key] if key is not None else "")
                       for text, key in _template(RULE_WORDS.get(r.kind, FALLBACK)))

    def rule_value(self, v) -> str:
        if isinstance(v, Node):
            return self.inline_math(self.show(v))
        if isinstance(v, Math):
            return self.inline_math(self.math(v))
        if isinstance(v, Name):
            return self.name_in_words(v)
        if isinstance(v, Gradient):
            return self.gradient_in_words(v.name)
        return self.words(str(v))

    # How a notation writes words and math inside them; text writes both as they are.
    def words(self, text: str) -> str:
        return text

    def inline_math(self, text: str) -> str:
        return text

    def math(self, m: Math) -> str:
        return m.text

    def name_in_words(self, n: Name) -> str:
        """A name inside words: its letter and plain digits (δ2, dJ/dZ2), as one types it."""
        base, digits = parts(n)
        word = GREEK.get(base) or MARKED.get(base, ("",))[0] or \
            ("δ" + base[5:] if base.startswith("delta") and base[5:].isalpha() else base)
        step = getattr(n, "step", None)
        return word + digits + ("" if step is None else f"⟨{step_text(step + self.time_shift, n.at)}⟩")

    def adjoint_name(self, shown: str) -> str:
        """∂J/∂h₁⟨t⟩ inside a formula (the formula notation writes dh1_t, a name it can read back)."""
        return self.gradient_name(shown)

    def gradient_in_words(self, n: Name) -> str:
        return "dJ/d" + self.name_in_words(n)

    # ---- graph nodes -------------------------------------------------------------------------------

    def show(self, node: Node, top: bool = True) -> str:
        return self.node(node, top)[0]

    def node(self, node: Node, top: bool = False):
        """(string, precedence) of ``node``: its name where it has one (unless it is the line's top),
        else its op's printing; a notation may print an op its own way with ``_print_op_<op>``."""
        if node.role == "adjoint" and (node.op == "leaf" or not top):  # ∂J/∂h₁⟨t⟩, ∂J/∂X̂₂
            return self.adjoint_name(self.name(node.attrs["of"])), ATOM
        if node.name and not top or node.op == "leaf":
            return self.name(node.name), ATOM
        if is_zero(node):   # 0 A₂ is 0: a product, a transpose or a sum of a zero matrix
            return self.zero(), ATOM
        own = getattr(self, "_print_op_" + node.op, None)
        return own(node) if own else lookup(node.op).show(node, self)

    def arg(self, node: Node):
        """An operand: a zero one where its shape matters (softmax of it, a part of a concatenation) as
        the zero matrix of its shape."""
        if not node.name and node.shape and is_zero(node):
            return self.zero_matrix(node.shape), ATOM
        return self.node(node)

    def zero(self) -> str:
        return "0"

    def zero_matrix(self, shape) -> str:
        """The zero matrix of ``shape``: 0₂ₓₘ, 0_{2 \\times m}; the formula notation's 0 broadcasts to it."""
        return self.zero() + self.sub(self.dimensions(shape))

    def dimensions(self, shape) -> str:
        return "×".join(self.dim(d) for d in shape)

    def elementwise(self, node: Node):
        atoms, precs = {}, {}
        expr = node.attrs["expr"]
        zeros = {placeholder(i): 0 for i, a in enumerate(node.args) if not a.name and is_zero(a)}
        if zeros:   # a zero operand drops out of its sums and products (0 A₂ + B is B) ...
            kept = expr.xreplace(zeros)
            left = [a.shape for i, a in enumerate(node.args) if placeholder(i) in kept.free_symbols]
            # ... where what is left has the shape of the whole (not 0ₘₓ₂ + b₂, b₂ a row)
            if kept == 0 or left and broadcast_shape(left) == tuple(node.shape):
                expr = kept
        for i, a in enumerate(node.args):
            if placeholder(i) in expr.free_symbols:
                atoms[placeholder(i)], precs[placeholder(i)] = self.arg(a)
        s = type(self)(atoms, precs).doprint(expr)
        if expr.is_Symbol and is_placeholder(expr):
            return s, precs[expr]
        if expr.is_Pow and expr.exp.is_negative:   # printed as a quotient, 1 ⊘ W: bracketed beside a product
            return s, PRECEDENCE["Mul"]
        return s, precedence(expr)

    def dim(self, d) -> str:
        return "m" if d == m_sym else str(d)

    def wrap(self, s: str) -> str:
        return "(" + s + ")"

    def call(self, fname: str, args: str) -> str:
        return f"{fname}({args})"

    def softmax_call(self, s: str, axis: int) -> str:
        """softmax over the classes: the books leave the axis unwritten; a formula names it (``FormulaPrinter``)."""
        return self.call("softmax", s)

    def matrix_product(self, parts: list) -> str:
        return self.matmul_sign.join(parts)

    def transpose(self, s: str, prec) -> str:
        return (s if prec == ATOM else self.wrap(s)) + self.transpose_mark

    def sum(self, s: str, prec, axis, over_batch: bool):
        """(string, precedence) of a sum of ``s``: over the batch (an example index i), over one axis
        (an index k), or over everything (axis None)."""
        inner = s if prec == ATOM or prec >= MUL and not over_batch else self.wrap(s)
        if over_batch and isinstance(axis, tuple):
            return self.sum_over_batch_and_positions(inner), MATMUL
        if over_batch:
            return self.sum_over_batch(inner, prec == ATOM), MATMUL
        return (self.sum_over_axis if axis is not None else self.sum_all) + inner, MATMUL

    # ---- index form (derive.printing.index): an entry of a tensor, a sum over named indices ----------

    writes_indices = True   # the formula notation has no index form

    def indexed(self, s: str, idx) -> str:
        return f"{s}[{', '.join(idx)}]"

    def sum_over(self, names) -> str:
        return f"{self.sum_all.strip()}_{{{','.join(names)}}} "

    def sum_over_batch_and_steps(self, s: str, prec) -> str:
        """A sum over the examples and the steps of a sequence (a bias applied at every step): Σᵢ,ₜ."""
        return self.sum_over_batch_and_positions(s if prec >= MUL else self.wrap(s)).replace(
            *self.positions_to_steps)

    positions_to_steps = ("Σᵢ,ₚ", "Σᵢ,ₜ")

    def sum_over_batch_and_positions(self, inner: str) -> str:
        """A sum over the examples and every position of a channels-last tensor (a conv bias)."""
        return self.sum_all + inner

    # ---- an embedding (derive.ops.gather): its lookup C[X], and its adjoint onehot(X)ᵀ G, the
    # product the lookup is without the one-hot matrix -------------------------------------------------

    def lookup(self, table: str, idx: str) -> str:
        return f"{table}[{idx}]"

    def scattered(self, g, idx: str, rows: str) -> str:
        s, prec = g
        return f"{self.transpose(self.call_op('onehot', '', idx), ATOM)}{self.matmul_sign}" \
               f"{s if prec >= MATMUL else self.wrap(s)}"

    # ---- convolution and pooling (derive.ops.conv, derive.ops.pool): the math notations' forms;
    # the formula notation writes calls instead ------------------------------------------------------

    conv_sign, correlation_sign = " * ", " (*) "

    def sub(self, label: str) -> str:
        """An operator's subscript (a stride, a pool size)."""
        return f"_{label}"

    def operator_name(self, name: str) -> str:
        return name

    def call_op(self, name: str, label: str, args: str) -> str:
        return self.operator_name(name) + (self.sub(label) if label else "") + self.wrap(args)

    def fraction(self, value) -> str:
        return self.wrap(sp.sstr(value))

    def convolution(self, x: str, w: str, stride: tuple) -> str:
        return f"{x}{self.conv_sign.rstrip()}{self._stride(stride)} {w}"

    def conv_input_grad(self, g: str, w: str, stride: tuple) -> str:
        """δ ∗ rot180(W): the full correlation with the kernel turned by 180° (g dilated by a stride)."""
        return f"{self._dilated(g, stride)}{self.conv_sign}{self.call_op('rot180', '', w)}"

    def conv_weight_grad(self, x: str, g: str, stride: tuple) -> str:
        return f"{x}{self.correlation_sign}{self._dilated(g, stride)}"

    def window_call(self, kind: str, window: tuple, stride: tuple, args: list) -> str:
        label = _label(window) if window == stride else f"{_label(window)}/{_label(stride)}"
        return self.call_op(kind, label, ", ".join(args))

    def routed(self, a: str, g: str, window: tuple) -> str:
        """max-pooling's adjoint where windows tile the input: the mask of each window's first maximum
        times the adjoint repeated over its window."""
        return f"{self.call_op('mask', _label(window), a)}{self.hadamard}{self.call_op('up', _label(window), g)}"

    def spread(self, g: str, window: tuple, factor) -> str:
        return f"{self.fraction(factor)}{self.scalar_times}{self.call_op('up', _label(window), g)}"

    def _stride(self, stride: tuple) -> str:
        return "" if set(stride) == {1} else self.sub(_label(stride))

    def _dilated(self, g: str, stride: tuple) -> str:
        return g if set(stride) == {1} else self.call_op("dilate", _label(stride), g)

    # ---- recurrences (derive.ops.scan) and parts of tensors (derive.ops.slicing) ----------------------

    ellipsis = "…"
    sum_over_t = "Σₜ "

    def sequence(self, first: str, last: str) -> str:
        """Every state of a recurrence: (h₁⟨1⟩, …, h₁⟨T⟩)."""
        return self.wrap(f"{first}, {self.ellipsis}, {last}")

    def sum_over_time(self, s: str, prec) -> str:
        return self.sum_over_t + (s if prec >= MUL else self.wrap(s))

    def over_time(self, s: str) -> str:
        """What each step gives, stacked over t."""
        return f"[{s}]ₜ"

    def at_time(self, s: str, h, t=None) -> str:
        """A sequence's entry at step t, or at the fixed step ``t``: (∂J/∂H₁)⟨t⟩, (∂J/∂H₁)⟨3⟩."""
        return self.stepped(self.wrap(s), "", "t" if t is None else str(t))

    def at_step(self, s: str, prec, node) -> str:
        """An operand at step t: a named sequence by its name (H₁⟨t⟩), anything else bracketed, (…)⟨t⟩."""
        name = getattr(node, "name", None)
        if isinstance(name, Name) and name.step is None and prec == ATOM and node.role != "adjoint":
            return self.name(Name(name.base, name.layer, 0))
        return self.stepped(s if prec == ATOM else self.wrap(s), "", "t")

    def slice(self, s: str, axis: int, start: int, stop: int, rank: int) -> str:
        """Part of a tensor along one axis, as NumPy indexes it (from 0)."""
        index = [":"] * (axis + 1)
        index[axis] = str(start) if stop == start + 1 else f"{start}:{stop}"
        return f"{s}[{', '.join(index)}]"

    def side_by_side(self, parts: list) -> str:
        return "[" + ", ".join(parts) + "]"

    # ---- names -------------------------------------------------------------------------------------

    def name(self, n) -> str:
        """A structured name (``derive.graph.names.Name``) by its parts; plain text (a formula's names) by
        its letters and digits; a display name already made (the scalar view's w¹₁₂) as it is."""
        found = parts(n)
        if found is None:
            return n
        base, digits = found
        step = getattr(n, "step", None)
        if step is not None and self.time_at is not None and not n.at:  # the unrolled view: h₁⟨3⟩
            return self.stepped(self.letter(base), digits, step_text(step + self.time_at, True))
        if step is not None:
            return self.stepped(self.letter(base), digits, step_text(step + self.time_shift, n.at, self.minus))
        return self.letter(base) + (self.layer_index(digits) if digits else "")

    # A recurrence's lines print the step's names relative to t; a line about step t + 1 (what it sends
    # back to step t) prints them shifted: the printer's ``time_shift``. The unrolled view prints them at
    # one fixed step: ``time_at``.
    time_shift = 0
    time_at = None

    def stepped(self, letter: str, digits: str, step: str) -> str:
        """A name at a time step: h₁⟨t−1⟩ (as Ng's course writes a^{[l]<t>})."""
        return f"{letter}{self.layer_index(digits) if digits else ''}⟨{step}⟩"

    def entry_name(self, sym: sp.Symbol) -> str:
        """A scalar-view symbol: w1_1_2 -> base w, layer 1, entry indices 1 and 2."""
        match = ENTRY_NAME.fullmatch(sym.name)
        if not match:
            return self.letter(sym.name)
        base, layer, idx = match.groups()
        parts = idx.split("_")
        sep = "" if all(len(p) == 1 for p in parts) else ","
        return self.entry(base, layer, parts, sep)

    # ---- what each notation writes its own way (no default fits every notation) --------------------

    def letter(self, base: str) -> str:
        """A name's base: delta -> δ, \\delta."""
        raise NotImplementedError

    def layer_index(self, digits: str) -> str:
        """A name's layer: ₁, ^{[1]}."""
        raise NotImplementedError

    def entry(self, base: str, layer: str, parts: list, sep: str) -> str:
        """A scalar-view symbol from its parts: w¹₁₂, w^{[1]}_{12}."""
        raise NotImplementedError

    def entry_expression(self, expr) -> str:
        """A scalar-view expression, its symbols written by ``entry_name``."""
        raise NotImplementedError

    def sum_over_batch(self, inner: str, atom: bool) -> str:
        """Σᵢ δ₁⁽ⁱ⁾; ``inner`` is already bracketed where needed, ``atom`` when it is a name."""
        raise NotImplementedError

    def sum_over_classes(self, target: str, axis: int) -> str:
        """The sum of a target's entries over the classes, Σₖ Yₖ, for the one-hot fact."""
        raise NotImplementedError

    def log_call(self, call: str) -> str:
        """log of a function call written as an operator: log softmax(Z₂)."""
        raise NotImplementedError

    def fact_used(self, fact: str) -> str:
        """A side fact a step used, as a line of its own: using Σₖ Yₖ = 1."""
        return f"using {fact}"

    def gradient_name(self, shown: str) -> str:
        """∂J/∂W₁ from the name W₁ as this notation prints it."""
        raise NotImplementedError

    def partial_name(self, top: str, bottom: str) -> str:
        """∂X̂₂/∂σ₂ from two names as this notation prints them."""
        raise NotImplementedError

    def derivative_call(self, fname: str, arg: str) -> str:
        """The derivative of the named function at ``arg``: tanh′(Z₁)."""
        raise NotImplementedError

    # ---- elementwise expressions (SymPy's _print_<Class> dispatch) ---------------------------------

    def is_matrix(self, e) -> bool:
        return any(s in self.atoms for s in e.free_symbols)

    def paren(self, e, level):
        s = self._print(e)
        # an operand stands in for its printing, whose precedence is its own: B − (C + D), not B − C + D
        return self.wrap(s) if (self.precs[e] if e in self.precs else precedence(e)) < level else s

    def mfactor(self, f, crowded: bool) -> str:
        """A matrix factor of a product: a juxtaposed product is bracketed when beside others."""
        if f in self.precs and self.precs[f] < ATOM and (crowded or self.bracket_lone_products):
            return self.wrap(self.atoms[f])
        return self.paren(f, MUL)

    def quotient(self, num, den) -> str:
        return f"{self.paren(num, MUL)}/{self.paren(den, POW)}"

    def coefficient(self, c) -> str:
        """A scalar factor in front of matrices: (1/m) in text and formulas; a typed decimal as one."""
        if decimal(c) is not None:
            return self._print(c)
        num, den = sp.fraction(c)
        return self.paren(num, MUL) if den == 1 else f"({self.quotient(num, den)})"

    def _print_Symbol(self, s):
        return self.atoms[s] if s in self.atoms else self.name(s.name)

    def _print_Integer(self, e):
        return str(e.p)

    def _print_Rational(self, e):
        shown = decimal(e)
        return shown if shown is not None else f"{e.p}/{e.q}"

    def _print_Float(self, e):
        # six significant digits, trailing zeros of the mantissa dropped; the exponent kept whole (1e-30, not 1e-3)
        mantissa, _, exponent = sp.Float(e, 6).__str__().partition("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return self.scientific(mantissa, int(exponent)) if exponent else mantissa

    def scientific(self, mantissa: str, exponent: int) -> str:
        """A number in powers of ten: 2.5e-12 (text); LaTeX writes 2.5 \\times 10^{-12}."""
        return f"{mantissa}e{exponent}"

    def _print_Add(self, e):
        terms = self._as_ordered_terms(e)
        out = self._print(terms[0])
        for t in terms[1:]:
            if _coeff_isneg(t):
                out += f" {self.minus} " + self.paren(-t, MUL)
            else:
                out += " + " + self.paren(t, PRECEDENCE["Add"] + 1)
        return out

    def _print_Mul(self, e):
        if _coeff_isneg(e):
            return self.minus + self.paren(-e, MUL)
        if not self.is_matrix(e):  # a scalar such as lambda/m or a per-neuron expression
            num, den = sp.fraction(e)
            top = self.scalar_times.join(self.paren(f, MUL) for f in sp.Mul.make_args(num))
            return top if den == 1 else self.quotient(num, den)
        factors = e.as_ordered_factors()
        const = sp.Mul(*[f for f in factors if not self.is_matrix(f)])
        mat = sp.Mul(*[f for f in factors if self.is_matrix(f)])
        if const != 1:   # a sum's common number joins the coefficient: (1/m)(2A − 2Y) as (2/m)(A − Y)
            kept = []
            for f in sp.Mul.make_args(mat):
                content, primitive = f.as_content_primitive() if f.is_Add else (sp.S.One, f)
                if content.is_Rational and content > 0 and content != 1:
                    const, f = const * content, primitive
                kept.append(f)
            mat = sp.Mul(*kept)
        num, den = sp.fraction(mat)
        fs = [f for f in sp.Mul.make_args(num) if f != 1]
        crowded = len(fs) > 1 or den != 1
        s = self.hadamard.join(self.mfactor(f, crowded) for f in fs) if fs else "1"
        if den != 1:
            s += self.hadamard_divide + (self.mfactor(den, True) if den in self.precs else self.paren(den, MUL + 1))
        if const != 1:
            s = self.coefficient(const) + self.scalar_times + (self.paren(mat, MUL + 1)
                                                               if isinstance(mat, sp.Add) else s)
        return s

    def _print_Pow(self, e):
        base, exp = e.args
        if exp == -1:
            if not self.is_matrix(base):
                return self._print_Mul(sp.Mul(1, e, evaluate=False))
            return "1" + self.hadamard_divide + self.paren(base, POW + 1)
        if exp == sp.Rational(1, 2):
            return self.sqrt(self._print(base))
        b = self.paren(base, POW + 1)
        if base in self.precs and self.precs[base] < ATOM or self.bracket_power_base(b):
            b = self.wrap(self._print(base))
        return self.power(b, exp)

    def power(self, b: str, exp) -> str:
        return f"{b}**{self.paren(exp, POW + 1)}"

    def bracket_power_base(self, b: str) -> bool:
        return False

    def sqrt(self, s: str) -> str:
        return self.call("sqrt", s)

    def _print_Function(self, e):
        args = ", ".join(self._print(a) for a in e.args)
        row = ROWS.get(type(e))
        if row is not None:
            return fill(self.function_template(row), args)
        return self.call(self.function_name(type(e).__name__), args)  # a function of no row: by its class name

    def function_name(self, name: str) -> str:
        """The name of a function of no row of the table (a SymPy class's), as this notation writes it in a call."""
        return name

    def function_template(self, row) -> str:
        """How this notation writes a function of the table, with ``{0}`` for its argument."""
        return self.call(row.name, "{0}")

    def _print_Exp1(self, e):
        return "e"

    def _print_Pi(self, e):
        return self.pi

    def emptyPrinter(self, e):
        return str(e)

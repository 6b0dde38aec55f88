"""The scalar functions: one row each, read by every part of derivax that names or computes them.

A row holds everything about one function: the name a formula calls it by, the SymPy function that
builds it (whose ``fdiff`` is its derivative), its JAX code, its NumPy implementation, how it prints
where that differs from ``name(x)``, and the weight initialisation that suits it as an activation.
The formula grammar (``derive.network.functions.FUNCTIONS``), the printers (``derive.printing.show``), the JAX
lowering (``compile.lowering.lower.CALLS``), the NumPy evaluator (``compile.lowering.evaluate.SCALAR_NUMPY``) and the
trainer's initialisation (``compile.lowering.codegen.HE_ACTIVATIONS``) are all read from ``SCALAR_FUNCTIONS``;
a new activation is one row here (and its SymPy class, if SymPy lacks it), and
``tests/test_functions.py`` checks every row under every evaluator.

Templates write ``{0}`` for the argument (the JAX lowering brackets it where an operator applies to
it). This module never imports JAX: the JAX side is code for the lowering to print.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy as sp


class step(sp.Function):
    """Unit step, step(z) = 1 if z > 0 else 0 (so step(0) = 0). The derivative of relu."""

    def fdiff(self, argindex=1):
        return sp.Integer(0)  # zero almost everywhere; the jump at 0 is not a gradient

    @classmethod
    def eval(cls, x):
        if x.is_number and x.is_extended_real:
            return sp.Integer(1) if x > 0 else sp.Integer(0)
        return None


class Abs(sp.Function):
    """|z| for real z, with derivative sign(z) (sign(0) = 0). SymPy's own Abs takes its argument to be
    complex and differentiates through re and im, which is no closed form for a network. The class
    keeps the name Abs, so that it prints and lowers as SymPy's own Abs does."""

    def fdiff(self, argindex=1):
        return sign(self.args[0])

    @classmethod
    def eval(cls, x):
        if x.is_number and x.is_extended_real:
            return sp.Abs(x)
        return None


class sign(sp.Function):
    """sign(z) of a real z: -1, 0 or 1, the derivative of abs. Its own derivative is 0 almost everywhere,
    as step's is; SymPy's own sign differentiates to a DiracDelta, which nothing can compute."""

    def fdiff(self, argindex=1):
        return sp.Integer(0)

    @classmethod
    def eval(cls, x):
        if x.is_number and x.is_extended_real:
            return sp.sign(x)
        c, rest = x.as_coeff_Mul()
        if c.is_extended_real and c != 1 and c != 0:  # sign(-2 z) = -sign(z), as SymPy's sign writes it
            return sp.sign(c) * cls(rest)
        return None


class sigmoid(sp.Function):
    """Logistic function 1 / (1 + exp(-z))."""

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return 1 / (1 + sp.exp(-x))
        return None

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))


class relu(sp.Function):
    """max(0, z)."""

    def fdiff(self, argindex=1):
        return step(self.args[0])

    @classmethod
    def eval(cls, x):
        if x.is_number and x.is_extended_real:
            return sp.Max(0, x)
        return None


LEAKY_SLOPE = sp.Rational(1, 100)


class leaky_relu(sp.Function):
    """z if z > 0 else z / 100."""

    def fdiff(self, argindex=1):
        return LEAKY_SLOPE + (1 - LEAKY_SLOPE) * step(self.args[0])

    @classmethod
    def eval(cls, x):
        if x.is_number and x.is_extended_real:
            return x if x > 0 else LEAKY_SLOPE * x
        return None


class softplus(sp.Function):
    """log(1 + exp(z))."""

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return sp.log(1 + sp.exp(x))
        return None

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return sp.log(1 + sp.exp(x))


class elu(sp.Function):
    """z if z > 0 else exp(z) − 1 (α = 1, as Keras's and PyTorch's default). Its derivative is written
    through elu itself, 1 for z > 0 and elu(z) + 1 = exp(z) elsewhere, so that no exp(z) of a large z
    is ever formed (0 · exp(z) would be 0 · inf = nan)."""

    def fdiff(self, argindex=1):
        x = self.args[0]
        return step(x) + (1 - step(x)) * (elu(x) + 1)

    @classmethod
    def eval(cls, x):
        if x.is_number and x.is_extended_real:
            return x if x > 0 else sp.exp(x) - 1
        return None


# SELU's constants (Klambauer et al. 2017), to the digits JAX and PyTorch use.
SELU_ALPHA = sp.Float("1.6732632423543772848170429916717", 32)
SELU_SCALE = sp.Float("1.0507009873554804934193349852946", 32)


class selu(sp.Function):
    """λ z if z > 0 else λ α (exp(z) − 1), with SELU's λ ≈ 1.0507 and α ≈ 1.6733. The derivative through
    elu: λ for z > 0, λ α (elu(z) + 1) = λ α exp(z) elsewhere; never negative in float32, where
    selu(z) + λ α, two roundings of −λ α apart for a very negative z, gave a gradient of the wrong sign."""

    def fdiff(self, argindex=1):
        x = self.args[0]
        return SELU_SCALE * (step(x) + SELU_ALPHA * (1 - step(x)) * (elu(x) + 1))

    @classmethod
    def eval(cls, x):
        if x.is_number and x.is_extended_real:
            return SELU_SCALE * (x if x > 0 else SELU_ALPHA * (sp.exp(x) - 1))
        return None


class log_sigmoid(sp.Function):
    """log σ(z) = −softplus(−z), computed without forming σ(z) (which saturates to 0 or 1). The
    stable-log rewrite (derive.graph.stable) puts it where a loss takes the log of a sigmoid output."""

    def fdiff(self, argindex=1):
        return sigmoid(-self.args[0])

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return -sp.log(1 + sp.exp(-x))
        return None

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return -sp.log(1 + sp.exp(-x))


@dataclass(frozen=True)
class ScalarFunction:
    """One scalar function of one variable.

    ``jax`` and ``numpy`` are None only where ``sympy`` builds no function of its own (sqrt(z) is the
    power z**(1/2), which the printers of powers compute). ``text`` and ``latex`` are templates;
    None prints ``name(x)`` and ``\\mathrm{name}\\left(x\\right)``. ``init`` is the weight
    initialisation before a layer of this activation: "he" keeps the variance of relu-like layers
    (half the units are off), "glorot" suits functions that are linear near 0."""

    name: str                      # what a formula calls it, and how a formula prints it
    sympy: Callable                # the SymPy class (or constructor) that builds it
    jax: str | None                # JAX code, "{0}" for the argument
    numpy: Callable | None         # arrays in and out; no overflow where the function itself is finite
    text: str | None = None
    latex: str | None = None
    init: str = "glorot"
    activation: bool = False       # a layer may name it: Dense(3, "relu")
    also: tuple = ()               # SymPy classes taken for this one (SymPy's own Abs of a real z)

    @property
    def classes(self) -> tuple:
        """The SymPy function classes whose applications this row computes."""
        own = (self.sympy,) if isinstance(self.sympy, type) and issubclass(self.sympy, sp.Function) else ()
        return own + self.also


# Each of LaTeX's special characters as math mode writes the character itself; a line break as a space.
_MATH_SPECIALS = {"\\": r"\backslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "%": r"\%", "&": r"\&", "$": r"\$",
                  "#": r"\#", "^": r"\hat{}", "~": r"\tilde{}", "\n": " ", "\r": " "}


def latex_name(name: str) -> str:
    """A name as LaTeX's \\mathrm takes it, every special character as itself: leaky_relu's underscore would open a
    subscript, and the braces and backslashes of a formula's text (an activation's printed name) would be LaTeX."""
    return "".join(_MATH_SPECIALS.get(ch, ch) for ch in name)


def fill(template: str, arg: str) -> str:
    """``template`` with ``arg`` for each ``{0}`` (replaced, not formatted: LaTeX has braces)."""
    return template.replace("{0}", arg)


def _latex(command: str) -> str:
    return command + r"\left({0}\right)"


def _sigmoid(z):
    return 0.5 * (1 + np.tanh(0.5 * z))  # no overflow for large |z|, unlike 1 / (1 + exp(-z))


# The named activations come first, in the order their names are listed (identity first, softmax
# last: both are made elsewhere, identity as z itself and softmax as a graph operation).
SCALAR_FUNCTIONS = (
    ScalarFunction("sigmoid", sigmoid, "jax.nn.sigmoid({0})", _sigmoid, text="σ({0})",
                   latex=_latex(r"\sigma"), activation=True),
    ScalarFunction("tanh", sp.tanh, "jnp.tanh({0})", np.tanh, latex=_latex(r"\tanh"), activation=True),
    # Each kinked function's JAX code is differentiated by jax.grad (a check of a derived gradient against
    # the generated loss's) to the table's own derivative at the kink, the left-hand one: jax.nn.relu's is
    # step(0) = 0 where jnp.maximum(z, 0)'s is 1/2; sign(z)·z's is sign(0) = 0 where jnp.abs's is 1; a
    # jnp.where takes the derivative of the branch it picks, the one for z ≤ 0.
    ScalarFunction("relu", relu, "jax.nn.relu({0})", lambda z: np.maximum(z, 0), init="he",
                   activation=True),
    ScalarFunction("leaky_relu", leaky_relu, "jnp.where({0} > 0, {0}, " + str(LEAKY_SLOPE) + "*{0})",
                   lambda z: np.where(z > 0, z, float(LEAKY_SLOPE) * z), init="he", activation=True),
    ScalarFunction("softplus", softplus, "jax.nn.softplus({0})", lambda z: np.logaddexp(0, z),
                   activation=True),
    ScalarFunction("elu", elu, "jax.nn.elu({0})", lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
                   init="he", activation=True),
    ScalarFunction("selu", selu, "jax.nn.selu({0})",
                   lambda z: float(SELU_SCALE) * np.where(z > 0, z, float(SELU_ALPHA) * np.expm1(np.minimum(z, 0))),
                   activation=True),
    ScalarFunction("log_sigmoid", log_sigmoid, "jax.nn.log_sigmoid({0})", lambda z: -np.logaddexp(0, -z),
                   latex=_latex(r"\log\sigma")),
    # heaviside(z, 0) is 1 for z > 0 and 0 at z = 0: step(0) = 0, in z's own dtype.
    ScalarFunction("step", step, "jnp.heaviside({0}, 0)", lambda z: np.heaviside(z, 0)),
    ScalarFunction("exp", sp.exp, "jnp.exp({0})", np.exp, latex=_latex(r"\exp")),
    ScalarFunction("log", sp.log, "jnp.log({0})", np.log, latex=_latex(r"\log")),
    ScalarFunction("sqrt", sp.sqrt, None, None),
    ScalarFunction("sinh", sp.sinh, "jnp.sinh({0})", np.sinh, latex=_latex(r"\sinh")),
    ScalarFunction("cosh", sp.cosh, "jnp.cosh({0})", np.cosh, latex=_latex(r"\cosh")),
    ScalarFunction("sin", sp.sin, "jnp.sin({0})", np.sin, latex=_latex(r"\sin")),
    ScalarFunction("cos", sp.cos, "jnp.cos({0})", np.cos, latex=_latex(r"\cos")),
    ScalarFunction("atan", sp.atan, "jnp.arctan({0})", np.arctan, latex=_latex(r"\arctan")),
    ScalarFunction("erf", sp.erf, "jax.lax.erf({0})", np.vectorize(math.erf, otypes=[float])),
    # A SymPy expression of a real z may hold SymPy's own Abs: it computes the same.
    ScalarFunction("abs", Abs, "(jnp.sign({0})*{0})", np.abs, text="|{0}|", latex=r"\left|{0}\right|",
                   also=(sp.Abs,)),
    ScalarFunction("sign", sign, "jnp.sign({0})", np.sign, also=(sp.sign,)),  # the derivative of abs
)

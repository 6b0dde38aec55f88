"""Every scalar function of derive's table under every evaluator, against SymPy's own numbers.

For each row: its derivative is closed form and is the slope of the function (40-digit central
differences); the NumPy evaluator and the JAX lowering (float64) compute the function and its
derivative to 1e-12 of SymPy's evalf; its formula prints and parses back; a network using it derives
and verifies under both engines. Last, a row added to a copy of the table is all a new activation
needs: the grammar, the printers, both evaluators and the initialisation pick it up.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

from compile.lowering.codegen import HE_ACTIVATIONS
from derive.ops.elementwise import SCALAR_NUMPY, numpy_function as _lambdified
from compile.lowering.lower import CALLS, ScalarJax, function_sources
from compile.checks.verify import verify
from derive import Dense, Network
from derive.formula.parse import parse_scalar
from derive.network.functions import ACTIVATIONS, COMPOSITE_ACTIVATIONS, COMPUTABLE, FUNCTIONS, derivative
from derive.graph.build import placeholder
from derive.printing.show import ScalarPrinter
from derive.network.scalar_functions import SCALAR_FUNCTIONS

pytestmark = pytest.mark.usefixtures("x64")

z = sp.Symbol("z")
ROWS = pytest.mark.parametrize("f", SCALAR_FUNCTIONS, ids=lambda f: f.name)
# Away from every kink (0) and from 1/4, where the networks below put it.
POINTS = tuple(map(sp.Rational, ("-13/10", "-2/5", "7/10", "21/10")))


def points(f) -> list:
    """The sample points where ``f`` is real: all of them, or the positive ones for log and sqrt."""
    return [p for p in POINTS if f.sympy(p).evalf(30).is_extended_real]


def test_the_table_is_complete_and_every_evaluator_is_read_from_it():
    names = [f.name for f in SCALAR_FUNCTIONS]
    class_names = [c.__name__ for f in SCALAR_FUNCTIONS for c in f.classes]
    assert len(set(names)) == len(names) and list(FUNCTIONS) == names + list(COMPOSITE_ACTIVATIONS)
    # Class names key the lowering and the evaluator: two rows may share one only as aliases (Abs).
    assert {n for n in class_names if class_names.count(n) > 1} == {"Abs", "sign"}
    assert set(COMPUTABLE) == {c for f in SCALAR_FUNCTIONS for c in f.classes}
    for f in SCALAR_FUNCTIONS:
        assert f.init in ("he", "glorot")
        assert (f.jax is None) == (f.numpy is None) == (not f.classes)  # only sqrt, a power, has none
        for c in f.classes:
            assert CALLS[c.__name__] == f.jax and SCALAR_NUMPY[c.__name__] is f.numpy
    assert set(HE_ACTIVATIONS) == {"relu", "leaky_relu", "elu", "swish", "silu", "gelu", "gelu_tanh", "mish"}
    assert list(ACTIVATIONS) == ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu", "selu",
                                 "swish", "silu", "gelu", "gelu_tanh", "mish"]


@ROWS
def test_the_derivative_is_closed_form_and_is_the_slope(f):
    d = derivative(sp.Lambda(z, f.sympy(z)), 0, f.name)  # raises DerivativeError if it is not closed form
    assert not d.has(sp.DiracDelta)
    assert all(type(g) in COMPUTABLE for g in d.atoms(sp.Function)), d  # the derivative is in the table
    h = sp.Rational(1, 10**10)
    for p in points(f):
        slope = ((f.sympy(p + h) - f.sympy(p - h)) / (2 * h)).evalf(40)
        exact = d.subs(z, p).evalf(40)
        assert abs(exact - slope) <= 1e-12 * max(1, abs(slope)), (p, exact, slope)


@ROWS
def test_numpy_and_jax_compute_the_function_and_its_derivative(f):
    pts = points(f)
    assert len(pts) >= 2
    x = np.array([float(p) for p in pts])
    for expr in (f.sympy(z), sp.diff(f.sympy(z), z)):
        exact = np.array([float(expr.subs(z, p).evalf(30)) for p in pts])
        e = expr.xreplace({z: placeholder(0)})
        np.testing.assert_allclose(_lambdified(e, 1)(x), exact, rtol=1e-12, atol=0, err_msg=f"NumPy: {expr}")
        code = ScalarJax({placeholder(0): "x"}).doprint(e)
        got = eval(code, {"jax": jax, "jnp": jnp, "x": jnp.asarray(x)})  # our own generated code
        assert expr.is_number or got.dtype == jnp.float64  # step' = 0 prints as the number 0
        np.testing.assert_allclose(np.asarray(got), exact, rtol=1e-12, atol=0, err_msg=f"JAX: {code}")


@ROWS
def test_it_prints_in_every_style_and_its_formula_parses_back(f):
    expr = f.sympy(z)
    for style in ("text", "latex"):
        assert "z" in ScalarPrinter(style, {}).doprint(expr)
    formula = ScalarPrinter("formula", {}).doprint(expr)
    assert parse_scalar(formula, {"z": z}, "formula") == expr, formula


@ROWS
def test_a_network_with_it_as_activation_derives_and_verifies(f):
    # An argument that is not a bare name, so the lowering must bracket it where a template needs it;
    # + z/2 gives the layer a gradient where the function's own derivative is 0 (step, sign).
    arg = "z - 1/4" if len(points(f)) == len(POINTS) else "z**2 + 1"
    net = Network(2, [Dense(3, f"{f.name}({arg}) + z/2"), Dense(1)], loss="mse")
    if f.jax:
        assert f.jax.split("{0}")[0] in function_sources(net.derive())
    for engine in ("numpy", "jax"):
        report = verify(net, engine=engine)
        assert report.ok and report.scalar == "used", (engine, report.to_json())


def test_a_compound_argument_is_bracketed_where_the_template_applies_an_operator_to_it():
    code = ScalarJax({placeholder(0): "Z1"}).doprint(FUNCTIONS["leaky_relu"](placeholder(0) + 1))
    assert code == "jnp.where((Z1 + 1) > 0, Z1 + 1, 1/100*(Z1 + 1))"
    assert ScalarJax({placeholder(0): "Z1"}).doprint(FUNCTIONS["relu"](placeholder(0))) == "jax.nn.relu(Z1)"


def test_sympys_own_abs_and_sign_of_a_real_z_are_the_tables():
    # At the plain symbol a network puts in place of z, SymPy's own would differentiate to re, im and
    # Derivative, which nothing computes.
    zr = sp.Symbol("z", real=True)
    net = Network(2, [Dense(3, sp.Abs(zr - sp.Rational(1, 4)) + sp.sign(zr) + zr / 2), Dense(1)], loss="mse")
    assert "sign(Z₁ − 1/4)" in net.derive().text()
    for engine in ("numpy", "jax"):
        assert verify(net, engine=engine).ok


NEW_ROW = '''

class gauss(sp.Function):
    """exp(-z**2), which no other part of derivax names."""

    def fdiff(self, argindex=1):
        return -2 * self.args[0] * gauss(self.args[0])

    @classmethod
    def eval(cls, x):
        return sp.exp(-x**2) if x.is_Number else None


SCALAR_FUNCTIONS += (ScalarFunction("gauss", gauss, "jnp.exp(-{0}**2)", lambda z: np.exp(-z**2),
                                    text="G({0})", init="he", activation=True),)
'''

NEW_ROW_CHECK = '''
import derive
from compile.lowering.codegen import init_source
from compile.lowering.lower import function_sources
from compile.checks.verify import verify
from derive import Dense, Network
from derive.formula.parse import parse_activation

assert derive.__file__.startswith(__import__("os").getcwd()), derive.__file__
net = Network(2, [Dense(3, "gauss"), Dense(2, "gauss(2*z - 1) + z"), Dense(1)], loss="mse")
d = net.derive()
assert "A₁ = G(Z₁)" in d.text() and r"\\mathrm{gauss}\\left(Z^{[1]}\\right)" in d.latex(), d.text()
source = function_sources(d)
assert "A1 = jnp.exp(-Z1**2)" in source and "jnp.exp(-(2*Z2 - 1)**2)" in source, source
assert "W1: He normal" in init_source(d.model) and "W2: Glorot" in init_source(d.model)
assert parse_activation("gauss(z)").expr.func.__name__ == "gauss"
for engine in ("numpy", "jax"):
    report = verify(net, engine=engine)
    assert report.ok and report.scalar == "used", report.to_json()
print("ok")
'''


def test_a_row_added_to_the_table_is_all_a_new_activation_needs(tmp_path):
    root = Path(__file__).resolve().parent.parent
    for package in ("derive", "compile"):
        shutil.copytree(root / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    with open(tmp_path / "derive" / "network" / "scalar_functions.py", "a") as table:
        table.write(NEW_ROW)
    run = subprocess.run([sys.executable, "-c", NEW_ROW_CHECK], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr

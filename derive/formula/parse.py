"""Whitelisted parsing of formula strings a user typed.

A string is parsed with Python's ``ast`` and walked here node by node; only the node kinds listed
below are accepted, and names resolve only through the tables the caller passes. Nothing is handed
to ``eval``, ``sympify`` or ``parse_expr``, so a formula cannot reach Python.
"""
from __future__ import annotations

import ast
import operator

import sympy as sp

from derive.network.functions import FUNCTIONS, _numbers, activation, loss, yhat, y, z
from derive.graph.build import Node, ew
from derive.formula.matrix_names import indicator, matrix_functions, matrix_names, numpy_functions

MAX_LENGTH = 2000
MAX_CONSTANT = 10**6
MAX_EXPONENT = 64


class FormulaError(ValueError):
    """A formula that does not parse or uses something outside the grammar; names the position."""

    def __init__(self, text: str, col: int, message: str, width: int = 70):
        self.text, self.col, self.message = text, col, message
        # A long formula is echoed once, as a window of about ``width`` characters around the position.
        start = max(0, min(col - width // 2, len(text) - width))
        left, right = ("..." if start > 0 else ""), ("..." if start + width < len(text) else "")
        shown = repr(text) if len(text) <= width else f"the formula ({len(text)} characters)"
        super().__init__(f"{message} at position {col + 1} of {shown}\n  {left}{text[start:start + width]}{right}"
                         f"\n  {' ' * (col - start + len(left))}^")


_COMPARE = {ast.Gt: ">", ast.Lt: "<", ast.GtE: ">=", ast.LtE: "<="}
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow}
_KIND = {ast.Lambda: "a lambda", ast.ListComp: "a comprehension", ast.GeneratorExp: "a comprehension",
         ast.SetComp: "a comprehension", ast.DictComp: "a comprehension", ast.Subscript: "a subscript",
         ast.Attribute: "attribute access", ast.Compare: "a comparison", ast.BoolOp: "a boolean operator",
         ast.IfExp: "a conditional", ast.NamedExpr: "an assignment", ast.Starred: "unpacking",
         ast.JoinedStr: "an f-string", ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict",
         ast.Set: "a set", ast.Await: "await", ast.Yield: "yield", ast.Slice: "a slice"}


def _kind(node) -> str:
    return _KIND.get(type(node), type(node).__name__)


class Evaluator:
    """Walks a parsed formula. ``names``: variables; ``functions``: callables by name.

    ``matrix=True`` also allows ``@`` and the attribute ``.T`` (and nothing else after a dot);
    ``keywords`` lists the keyword arguments a call may take (e.g. ``axis`` for ``sum``).
    """

    def shape(self, node):
        """A shape (``reshape``'s second argument) or axes (``sum``'s): whole numbers and the batch size m."""
        dims = []
        for e in node.elts:
            if isinstance(e, ast.Constant) and isinstance(e.value, int) and not isinstance(e.value, bool) \
                    and 0 <= e.value <= MAX_CONSTANT:
                dims.append(sp.Integer(e.value))
            elif isinstance(e, ast.Name) and e.id == "m" and "m" in self.names:
                dims.append(self.names["m"])
            else:
                self.fail(e, "a shape holds whole numbers > 0 and m; a tuple of axes, whole numbers")
        return tuple(dims)

    def __init__(self, text, names, functions, matrix=False, keywords=()):
        self.text, self.names, self.functions = text, names, functions
        self.matrix, self.keywords = matrix, set(keywords)

    def fail(self, node, message):
        col = getattr(node, "col_offset", 0)
        if isinstance(node, ast.Attribute) and getattr(node, "end_col_offset", None):
            col = node.end_col_offset - len(node.attr)  # point at the attribute, not the object
        raise FormulaError(self.text.strip(), col, message)

    def run(self):
        text = self.text
        if not isinstance(text, str) or not text.strip():
            raise FormulaError(str(text), 0, "empty formula")
        if len(text) > MAX_LENGTH:
            raise FormulaError(text[:60] + "...", 0, f"formula longer than {MAX_LENGTH} characters")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise FormulaError(text, max((exc.offset or 1) - 1, 0), f"syntax error ({exc.msg})") from None
        except (RecursionError, MemoryError, ValueError):
            raise FormulaError(text, 0, "formula nested too deeply") from None
        try:
            return self.visit(tree.body)
        except RecursionError:
            raise FormulaError(text, 0, "formula nested too deeply") from None

    def visit(self, node):
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.MatMult) and self.matrix:
                return self.apply(node, operator.matmul, self.visit(node.left), self.visit(node.right))
            op = _BINOPS.get(type(node.op))
            if op is None:
                self.fail(node, f"operator {type(node.op).__name__} is not allowed")
            left, right = self.visit(node.left), self.visit(node.right)
            if op is operator.pow and not (isinstance(right, (int, sp.Integer, sp.Rational))
                                           or isinstance(right, sp.Expr) and right.is_number):
                self.fail(node.right, "an exponent must be a number")
            if op is operator.pow and abs(sp.sympify(right)) > MAX_EXPONENT:
                self.fail(node.right, f"exponent {right} is too large (at most {MAX_EXPONENT})")
            return self._bounded(node, self.apply(node, op, left, right))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return self.apply(node, operator.neg, self.visit(node.operand))
            if isinstance(node.op, ast.UAdd):
                return self.visit(node.operand)
            self.fail(node, f"operator {type(node.op).__name__} is not allowed")
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                self.fail(node, f"constant {v!r} is not allowed (numbers only)")
            if abs(v) > MAX_CONSTANT:
                self.fail(node, f"constant {v!r} is too large (at most {MAX_CONSTANT})")
            return sp.Integer(v) if isinstance(v, int) else sp.Rational(str(v))
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            if node.id in self.functions:
                self.fail(node, f"{node.id} is a function: call it, as {node.id}(...)")
            self.fail(node, f"unknown name {node.id!r}; known: {', '.join(sorted(self.names))}")
        if isinstance(node, ast.Compare) and self.matrix:
            if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
                self.fail(node, "only one comparison <, <=, > or >= at a time (an indicator such as (A1 > 0))")
            op = _COMPARE[type(node.ops[0])]
            return self.apply(node, lambda a, b: indicator(op, a, b), self.visit(node.left),
                              self.visit(node.comparators[0]))
        if isinstance(node, ast.Call) and self.matrix and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id in ("np", "numpy", "jnp"):
            table = numpy_functions()
            if node.func.attr not in table:
                self.fail(node.func, f"{node.func.value.id}.{node.func.attr} is not one of the NumPy functions a "
                                     f"formula may call: {', '.join(sorted(table))}")
            kwargs = {}
            for kw in node.keywords:
                if node.func.attr != "sum" or kw.arg not in ("axis", "keepdims"):
                    self.fail(kw.value, f"keyword argument {kw.arg!r} is not allowed here")
                if kw.arg == "keepdims":
                    if not (isinstance(kw.value, ast.Constant) and kw.value.value is True):
                        self.fail(kw.value, "keepdims may only be True (sums keep their dimensions)")
                    continue
                kwargs[kw.arg] = self.shape(kw.value) if isinstance(kw.value, ast.Tuple) else self.visit(kw.value)
            args = [self.shape(a) if isinstance(a, ast.Tuple) and node.func.attr == "sum" else self.visit(a)
                    for a in node.args]
            return self.apply(node, table[node.func.attr], *args, _called=f"{node.func.value.id}.{node.func.attr}",
                              **kwargs)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in self.functions:
                if not isinstance(node.func, ast.Name):
                    self.visit(node.func)  # reports what is being called (attribute access, ...)
                    self.fail(node, "only the listed functions may be called")
                self.fail(node, f"call of {node.func.id!r} is not allowed; functions: "
                                f"{', '.join(sorted(self.functions))}")
            kwargs = {}
            for kw in node.keywords:
                if kw.arg not in self.keywords:
                    self.fail(kw.value, f"keyword argument {kw.arg!r} is not allowed")
                if kw.arg == "keepdims":  # sums keep their dims anyway; only the literal True is taken
                    if not (isinstance(kw.value, ast.Constant) and kw.value.value is True):
                        self.fail(kw.value, "keepdims may only be True (sums keep their dimensions)")
                    continue
                kwargs[kw.arg] = self.visit(kw.value)
            args = [self.shape(a) if isinstance(a, ast.Tuple) and node.func.id in ("reshape", "sum") else
                    self.visit(a) for a in node.args]
            return self.apply(node, self.functions[node.func.id], *args, _called=node.func.id, **kwargs)
        if isinstance(node, ast.Attribute) and self.matrix and node.attr == "T":
            return self.apply(node, lambda v: v.T, self.visit(node.value))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in ("np", "jnp", "numpy", "torch", "math") and node.attr in self.functions:
            self.fail(node, f"attribute access {node.value.id}.{node.attr} is not allowed: write {node.attr}(...)")
        if isinstance(node, ast.Attribute):
            self.fail(node, f"attribute access .{node.attr} is not allowed (only .T)"
                      if self.matrix else f"attribute access .{node.attr} is not allowed")
        self.fail(node, f"{_kind(node)} is not allowed")

    def _bounded(self, node, value):
        """A number folded from constants (10**10) obeys the same bound as a constant typed."""
        if isinstance(value, sp.Number) and value.is_finite and abs(value) > MAX_CONSTANT:
            self.fail(node, f"constant {value} is too large (at most {MAX_CONSTANT})")
        expr = value.attrs.get("expr") if hasattr(value, "attrs") else value
        if isinstance(expr, sp.Basic) and expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            self.fail(node.right if isinstance(node, ast.BinOp) else node,
                      "division by zero (or another undefined value)")
        return value

    def apply(self, node, fn, *args, _called=None, **kwargs):
        try:
            value = fn(*args, **kwargs)
        except FormulaError:
            raise
        except TypeError as exc:
            if _called and ("positional argument" in str(exc) or "keyword argument" in str(exc)):
                self.fail(node, f"{_called}(...) does not take {len(args)} argument{'s' if len(args) != 1 else ''}"
                                + (f" and {', '.join(kwargs)}" if kwargs else ""))
            self.fail(node, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        except (ValueError, AttributeError, ArithmeticError) as exc:
            self.fail(node, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        expr = value.attrs.get("expr") if hasattr(value, "attrs") else value
        if isinstance(expr, sp.Basic) and expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            if isinstance(node, ast.BinOp):  # point at the divisor
                self.fail(node.right, "division by zero (or another undefined value)")
            self.fail(node, "undefined value (a log of 0, or a division by zero)")
        complex_part = _complex_constant(value)
        if complex_part is not None:
            self.fail(node, f"not a real number: this part is {complex_part}")
        return value


def _complex_constant(value):
    """The first constant of ``value`` (a SymPy expression or a graph node) that is not real, or None."""
    expr = value.attrs.get("expr") if hasattr(value, "attrs") else value
    if not isinstance(expr, sp.Basic):
        return None
    for c in _numbers(expr):
        if c.is_extended_real is False:
            return c
    return None


def parse_scalar(text: str, variables: dict, what: str = "formula") -> sp.Expr:
    """A scalar SymPy expression from ``text`` over ``variables`` and the known functions."""
    expr = Evaluator(text, variables, FUNCTIONS).run()
    if not isinstance(expr, sp.Basic):
        expr = sp.sympify(expr)  # a plain number produced by our own evaluation, not user text
    if expr.has(sp.zoo, sp.nan) or expr.has(sp.oo):
        raise FormulaError(text, 0, f"{what} is undefined (division by zero or infinity)")
    return expr


def parse_activation(text: str) -> sp.Lambda:
    """An activation written as a formula in z, e.g. ``z*sigmoid(z)``."""
    return activation(sp.Lambda(z, parse_scalar(text, {"z": z, "pi": sp.pi}, "activation")))


def parse_loss(text: str) -> sp.Lambda:
    """A per-entry loss written as a formula in yhat and y, e.g. ``log(cosh(yhat - y))``."""
    return loss(sp.Lambda((yhat, y), parse_scalar(text, {"yhat": yhat, "y": y, "pi": sp.pi}, "loss")))


def parse_matrix(text: str, derivation, at_step: bool = False):
    """A matrix formula over the names the derivation prints, as a graph node.

    Names: X, Y, m, the parameters (W1, b1, gamma2, C1, ...), the forward nodes (Z1, A1, xhat2, ...), the
    error signals (delta1, ...), the named adjoints (dxhat2, dS3), ``lam`` for the weight-decay constant
    and ``epsilon`` for a normalization's. Operators ``@ * + - / **``, ``.T``;
    calls of the elementwise functions and of the table activations' derivatives as the steps view
    prints them (``tanh_prime(Z1)``, ``relu_prime(Z1)``), ``softmax(x, axis)``, ``sum(x, axis)``
    (``keepdims`` is accepted and always true) and ``max(a, b)``; ``flatten(x)``, ``reshape(x, (m, 2, 2, 64))``
    and ``sum(x, (0, 1, 2))``; and in a network with convolution or pooling the window functions
    (``derive.formula.matrix_names.window_functions``). Shape errors name the position.
    """
    functions = matrix_functions(derivation.model)
    if any(layer.kind == "recurrent" for layer in derivation.model.layers):
        from derive.formula.matrix_names import _sum_t
        functions["sum_t"] = _sum_t(derivation)
    value = Evaluator(text, matrix_names(derivation), functions, matrix=True, keywords=("axis", "keepdims")).run()
    if isinstance(value, Node) and not at_step:  # at_step: a formula of one step, checked at every t
        from derive.graph.build import topo_order
        stray = next((n for n in topo_order(value) if getattr(n.name, "step", None) is not None
                      or n.role in ("carry", "step_input") or n.role == "adjoint" and n.op == "leaf"), None)
        if stray is not None:  # a name at step t outside a sum over t has no one value
            name = str(stray.name) if stray.role != "adjoint" else "d" + str(stray.attrs["of"])
            raise FormulaError(text, max(0, text.find(name)), f"{name} is a recurrent layer's name at step t: "
                               "use it inside sum_t(...), e.g. sum_t(h1_tm1.T @ delta1_t)")
    if not isinstance(value, Node):  # a number or an expression in m alone: a 1 x 1 constant
        value = ew(sp.sympify(value), [], shape=(1, 1))
    return value

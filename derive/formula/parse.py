"""Whitelisted parsing of formula strings a user typed.

A string is parsed with Python's ``ast`` and walked here node by node; only the node kinds listed
below are accepted, and names resolve only through the tables the caller passes. Nothing is handed
to ``eval``, ``sympify`` or ``parse_expr``, so a formula cannot reach Python.
"""
from __future__ import annotations

import ast
import operator
import re

import sympy as sp

from derive.network.functions import FUNCTIONS, _numbers, activation, loss, yhat, y, z
from derive.graph.build import Node, ShapeError, ew
from derive.ops.elementwise import broadcast_shape
from derive.formula.matrix_names import array_methods, indicator, matrix_functions, matrix_names, numpy_functions

from derive.formula.errors import MAX_CALL_DEPTH, MAX_DEPTH, MAX_LENGTH, FormulaError  # noqa: F401 - named here too
from derive.formula.errors import MAX_RESPELLED
from derive.formula.errors import ShapeMismatch

MAX_CONSTANT = 10**6

MAX_EXPONENT = 64
MAX_DIMENSION = 10**6


_COMPARE = {ast.Gt: ">", ast.Lt: "<", ast.GtE: ">=", ast.LtE: "<="}
_UNSUPPORTED_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not", ast.In: "in",
                        ast.NotIn: "not in"}
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow}
_OPERATOR_TEXT = {ast.BitXor: "^", ast.BitAnd: "&", ast.BitOr: "|", ast.FloorDiv: "//", ast.Mod: "%",
                  ast.LShift: "<<", ast.RShift: ">>", ast.Invert: "~", ast.Not: "not", ast.MatMult: "@"}
_OPERATOR_HINT = {ast.BitXor: ": write ** for a power (A1**2)", ast.BitAnd: ": write * to combine masks",
                  ast.FloorDiv: ": write / for a division"}
_OPERATION = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply elementwise", ast.Div: "divide",
              ast.Pow: "raise"}
_KIND = {ast.Lambda: "a lambda", ast.ListComp: "a comprehension", ast.GeneratorExp: "a comprehension",
         ast.SetComp: "a comprehension", ast.DictComp: "a comprehension", ast.Subscript: "a subscript",
         ast.Attribute: "attribute access", ast.Compare: "a comparison", ast.BoolOp: "a boolean operator",
         ast.IfExp: "a conditional", ast.NamedExpr: "an assignment", ast.Starred: "unpacking",
         ast.JoinedStr: "an f-string", ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict",
         ast.Set: "a set", ast.Await: "await", ast.Yield: "yield", ast.Slice: "a slice"}
# The constants a formula may name, as pi or as np.pi / math.pi (gelu's derivative holds √(2/π)).
CONSTANTS = {"pi": sp.pi, "e": sp.E}
_NUMPY_MODULES = ("np", "numpy", "jnp", "math")
# NumPy's calls whose keyword arguments are read here (others take none)
_REDUCTIONS = ("sum", "mean", "max", "amax")
# methods of an array a formula may call, on the parsed node (never looked up on the value by name)
METHODS = ("sum", "mean", "max", "transpose", "reshape", "astype", "dot")
_DECAY_NAMES = ("lam", "reg", "lambd", "lmbda", "lambda_")
_SIZE_CALLS = ("len", "float", "int")
_CASTS = ("int64", "int32", "int8", "float64", "float32", "float16", "float_", "double")


MAX_STATEMENTS = 40


def _statement_kind(node) -> str:
    return {ast.Import: "an import", ast.ImportFrom: "an import", ast.FunctionDef: "a function definition",
            ast.ClassDef: "a class", ast.For: "a loop", ast.While: "a loop", ast.If: "an if", ast.With: "a with",
            ast.Return: "a return", ast.Delete: "a del", ast.Global: "a global", ast.Try: "a try",
            ast.AnnAssign: "an annotated assignment"}.get(type(node), type(node).__name__)


def free_names(text):
    """[(name, offset)] of the names a formula reads from the derivation (in a formula of several lines,
    those a line reads before one defines them), in the order written; None where it does not parse."""
    src = text.strip() if isinstance(text, str) else ""
    lines = src.split("\n")

    def offset(node):
        before = sum(len(l) + 1 for l in lines[:node.lineno - 1])
        here = lines[node.lineno - 1] if 0 < node.lineno <= len(lines) else ""
        return before + len(here.encode("utf-8")[:node.col_offset].decode("utf-8", "ignore"))
    try:
        tree = ast.parse(src, mode="eval")
        body = [tree.body]
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        try:
            body = ast.parse(src, mode="exec").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
    bound, out = set(), []

    def reads(node):
        found = sorted((n for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)),
                       key=lambda n: (n.lineno, n.col_offset))
        out.extend((n.id, offset(n)) for n in found if n.id not in bound)
    for line in body:
        if isinstance(line, ast.Assign):
            reads(line.value)
            for t in line.targets:
                if isinstance(t, ast.Subscript):
                    reads(t)
            bound.update(n.id for t in line.targets for n in ast.walk(t) if isinstance(n, ast.Name)
                         and isinstance(n.ctx, ast.Store))
        elif isinstance(line, ast.AugAssign):
            reads(line.value)
            if isinstance(line.target, ast.Subscript):   # dscores[range(N), y] -= 1 reads dscores and y
                reads(line.target)
            if isinstance(line.target, ast.Name) and line.target.id not in bound:
                out.append((line.target.id, offset(line.target)))
            if isinstance(line.target, ast.Name):
                bound.add(line.target.id)
        else:
            reads(line)
    return out


def _kind(node) -> str:
    return _KIND.get(type(node), type(node).__name__)


def nesting_depth(tree, counted=ast.expr):
    """(depth, node at that depth) of the deepest chain of operations in ``tree`` (of the nodes of type
    ``counted``: every operation, or ast.Call for calls alone), counted without recursion (so a formula
    nested past Python's own limit is measured too)."""
    deepest, at = 0, tree
    stack = [(tree, 1 if isinstance(tree, counted) else 0)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest, at = depth, node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)):
                continue
            stack.append((child, depth + (1 if isinstance(child, counted) else 0)))
    return deepest, at


_CHAINS = {ast.Add: "+", ast.Sub: "+", ast.Mult: "*", ast.Div: "*"}


def longest_chain(tree):
    """(length, sign) of the longest chain of additions (and subtractions) or of products (and divisions) in
    ``tree`` written one after another, a + b - c + ..., which Python reads as operations nested on the left."""
    best = (0, "+")
    for node in ast.walk(tree):
        if not (isinstance(node, ast.BinOp) and type(node.op) in _CHAINS):
            continue
        sign, run, at = _CHAINS[type(node.op)], 0, node
        while isinstance(at, ast.BinOp) and _CHAINS.get(type(at.op)) == sign:
            run, at = run + 1, at.left
        best = max(best, (run, sign))
    return best


class Evaluator:
    """Walks a parsed formula. ``names``: variables; ``functions``: callables by name.

    ``matrix=True`` also allows ``@``, the attribute ``.T``, NumPy's spellings (``np.sum``, ...) and the
    array methods of ``METHODS``; ``keywords`` lists the keyword arguments a call may take (e.g.
    ``axis`` for ``sum``). ``notes`` collects what a formula does that is legal but likely a slip (a row
    broadcast against a column), for the diagnosis of a formula found wrong.
    """

    def __init__(self, text, names, functions, matrix=False, keywords=(), numpy=None, methods=None, respelled=False):
        self.text, self.names, self.functions = text, names, functions
        # respelled: ``text`` is a formula already read in the grammar's spelling (derive.formula.spelling), whose
        # typed text was held to MAX_LENGTH there: it is held to MAX_RESPELLED
        self.limit = MAX_RESPELLED if respelled else MAX_LENGTH
        self.matrix, self.keywords = matrix, set(keywords)
        self.numpy, self.methods = numpy or {}, methods or {}
        self.src = text.strip() if isinstance(text, str) else ""
        self.notes = []
        self.lookup = None   # a name outside ``names`` to a value, or None (a recurrent state at a fixed step)
        self.defined = {}    # the names a formula's own lines define -> the line defining each (_run_statements)
        # the values NumPy holds as a number, shape (), that a node holds as 1 x 1: np.sum(x) over every axis,
        # and what is computed from such numbers alone (id -> node, the node kept alive with its id)
        self.scalars = {}
        self.maxima = {}   # id(x) -> (x, index): the arrays np.max takes over every entry (matrix_names.max_of_all)

    def is_scalar(self, value) -> bool:
        """Whether NumPy would hold ``value`` as a number (a constant, or np.sum(x) over every axis)."""
        return not isinstance(value, Node) or id(value) in self.scalars

    def numpy_shape(self, value) -> tuple:
        """The shape NumPy would give ``value``: () for a number, the node's own shape otherwise."""
        return () if self.is_scalar(value) else tuple(value.shape)

    def _scalar(self, value):
        if isinstance(value, Node) and all(d == 1 for d in value.shape):
            self.scalars[id(value)] = value
        return value

    # ---- positions and messages ----
    def offset(self, node) -> int:
        """The offset in the formula of ``node``'s first character (line and column as ``ast`` gives them)."""
        line, col = getattr(node, "lineno", 1), getattr(node, "col_offset", 0)
        lines = self.src.split("\n")
        before = sum(len(l) + 1 for l in lines[:max(line - 1, 0)])
        here = lines[line - 1] if 0 < line <= len(lines) else ""
        col = len(here.encode("utf-8")[:col].decode("utf-8", "ignore"))  # ast counts bytes
        return before + col

    def fail(self, node, message, error=FormulaError):
        col = self.offset(node)
        if isinstance(node, ast.Attribute) and getattr(node, "end_col_offset", None):
            end = self.offset(type("P", (), {"lineno": node.end_lineno, "col_offset": node.end_col_offset})())
            col = end - len(node.attr)  # point at the attribute, not the object
        raise error(self.src, col, message)

    def source(self, node) -> str:
        """The formula's own text of a sub-expression (what a message quotes)."""
        text = ast.get_source_segment(self.src, node) if hasattr(node, "lineno") else None
        return " ".join(text.split()) if text else ast.unparse(node)

    def shown(self, node, value) -> str:
        """A sub-expression as the user wrote it, with its shape."""
        from derive.graph.build import fmt_shape
        text = self.source(node)
        if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Compare)):
            text = f"({text})"
        if isinstance(value, Node) and not self.is_scalar(value):   # the shape NumPy gives it
            return f"{text} {fmt_shape(value.shape)}"
        return f"{text} (a number)"

    def run(self):
        text = self.text
        if not isinstance(text, str) or not text.strip():
            raise FormulaError(str(text), 0, "empty formula")
        if len(text) > self.limit:
            raise FormulaError(text, 0, f"formula longer than {self.limit} characters (it has {len(text)})")
        if not self.matrix:
            return self._run()
        # a matrix formula as the books print it (δ₂ A₁ᵀ, \frac{1}{m}, dW2 = ...;): respelled into the grammar,
        # its errors pointed back into the text as typed
        from derive.formula.spelling import map_error, respell
        respelled, offsets = respell(text, self.names)
        if respelled == self.src:
            return self._run()
        self.src = respelled
        try:
            return self._run()
        except FormulaError as exc:
            raise map_error(exc, text, respelled, offsets) from None

    def _run(self):
        for i, ch in enumerate(self.src):   # a byte of no UTF-8 character, as the command line hands it on
            if 0xDC80 <= ord(ch) <= 0xDCFF:
                raise FormulaError(self.src, i, f"the byte 0x{ord(ch) - 0xDC00:02x} is not UTF-8 text (a Latin-1 "
                                                "no-break space or accent?): retype that character")
        try:
            tree = ast.parse(self.src, mode="eval")
        except SyntaxError as exc:
            lines = self._statements() if self.matrix else None
            if lines is not None:
                return self._run_statements(lines)
            line = exc.lineno or 1
            # no offset (0): the formula ended where more was due (A2 - Y +): its end
            column = exc.offset - 1 if exc.offset else len(self.src.split("\n")[line - 1].encode("utf-8")) \
                if line <= len(self.src.split("\n")) else 0
            probe = type("P", (), {"lineno": line, "col_offset": max(column, 0)})()
            msg = re.sub(r"\s*\(detected at line \d+\)", "", exc.msg)
            if "parenthes" in msg and "nested" in msg:
                msg = "parentheses nested too deeply"
            elif "string literal" in msg:   # Python's tokenizer on a quote: say what the formula holds there
                msg = "a quote opens a string that is not closed (a prime or a transpose is written right after " \
                      "its operand: f'(Z1), A1')"
            elif msg.startswith("invalid syntax") and _side_by_side(self.src, self.offset(probe)):
                msg += "; two operands side by side: write @ (a matrix product) or * between them" \
                       + self._side_by_side_fit(self.offset(probe))
            raise FormulaError(self.src, min(self.offset(probe), len(self.src)), f"syntax error ({msg})") from None
        except (RecursionError, MemoryError, ValueError):
            raise FormulaError(self.src, 0, "formula nested too deeply") from None
        return self._expression(tree.body)

    def _side_by_side_fit(self, at) -> str:
        """What two operands side by side at offset ``at`` make, by their shapes: ': here (1/m) * delta2 (a number
        times an array)', ': here delta2 @ A1.T (their shapes (2, m) and (m, 3) fit a matrix product, not an
        entrywise one)'; '' where the operands do not read on their own. The formula is not read so: in code two
        operands side by side are a syntax error, and two matrices may mean either product."""
        from derive.formula.spelling import _operand_left, _operand_right, _tokens
        from derive.graph.build import fmt_shape
        tokens = _tokens(self.src) or []
        k = next((j for j, t in enumerate(tokens) if t[2] == at), None)
        if not k or not self.matrix:
            return ""
        left, right = _operand_left(tokens, k), _operand_right(tokens, k - 1)
        if not left or not right:
            return ""
        texts = [self.src[part[0][2]:part[-1][3]] for part in (left, right)]
        values = []
        for text in texts:
            try:
                values.append(Evaluator(text, self.names, self.functions, matrix=True, keywords=self.keywords,
                                        numpy=self.numpy, methods=self.methods)._run())
            except (FormulaError, RecursionError, ValueError):
                return ""
        (a, b), (u, v) = texts, values
        if not (isinstance(u, Node) and isinstance(v, Node)):
            other = "an array" if isinstance(u, Node) or isinstance(v, Node) else "a number"
            return f": here {a} * {b} (a number times {other})"
        if u.rank != 2 or v.rank != 2:
            return ""
        shapes = f"their shapes {fmt_shape(u.shape)} and {fmt_shape(v.shape)}"
        product = u.shape[1] == v.shape[0]
        entrywise = all(p == q or p == 1 or q == 1 for p, q in zip(u.shape, v.shape))
        if product and not entrywise:
            return f": here {a} @ {b} ({shapes} fit a matrix product, not an entrywise one)"
        if entrywise and not product:
            return f": here {a} * {b} ({shapes} multiply entry by entry, not as a matrix product)"
        if product:
            return f": here {a} @ {b} or {a} * {b} ({shapes} fit both)"
        return f" ({a} and {b}: {shapes} fit neither)"

    def _expression(self, body):
        depth, deepest = nesting_depth(body)
        if depth > MAX_DEPTH:
            run, sign = longest_chain(body)
            chain = (f": Python reads a chain a {sign} b {sign} c {sign} ... as ((a {sign} b) {sign} c) {sign} ..., each "
                     f"operation inside the next, and this one is {run} long; group it in brackets, e.g. "
                     f"(a {sign} b {sign} c) {sign} (d {sign} e {sign} f)") if run > MAX_DEPTH // 2 else "; the deepest is here"
            raise FormulaError(self.src, self.offset(deepest), f"formula nested too deeply: {depth} operations "
                               f"inside one another (at most {MAX_DEPTH}){chain}")
        depth, deepest = nesting_depth(body, ast.Call)
        if depth > MAX_CALL_DEPTH:
            raise FormulaError(self.src, self.offset(deepest), f"functions called inside one another {depth} deep "
                               f"(at most {MAX_CALL_DEPTH}); the deepest call is here")
        try:
            return self.visit(body)
        except RecursionError:
            raise FormulaError(self.src, 0, f"formula nested too deeply (at most {MAX_DEPTH} levels)") from None

    # ---- lines of a notebook: definitions, then the formula ----
    def _statements(self):
        """The statements of a formula written as lines of code (dZ2 = A2 - Y; dW2 = ...), or None where
        the text is not several statements (its syntax error is then the expression's)."""
        try:
            module = ast.parse(self.src, mode="exec")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        if len(module.body) < 2 and not (module.body and isinstance(module.body[0], (ast.Assign, ast.AugAssign))):
            return None
        return module.body

    def _run_statements(self, lines):
        """Each line's definition in order (a name bound to its value, read by the lines after it), the
        last line's value the formula's: what a notebook's lines compute, and nothing else of Python."""
        if len(lines) > MAX_STATEMENTS:
            self.fail(lines[MAX_STATEMENTS], f"at most {MAX_STATEMENTS} lines of definitions before the formula")
        self.names = dict(self.names)   # definitions are the formula's own: the caller's table is left as it was
        self.defined = {}   # name -> the line that defined it (a definition shadows a constant or function's name)
        value = None
        for k, line in enumerate(lines):
            last = k == len(lines) - 1
            if isinstance(line, ast.Expr) and last:
                value = self._expression(line.value)
            elif isinstance(line, ast.Assign) and len(line.targets) == 1:
                value = self._assign(line.targets[0], line.value)
            elif isinstance(line, ast.AugAssign) and isinstance(line.target, ast.Subscript) \
                    and type(line.op) in _BINOPS and type(line.op) is not ast.Pow:
                value = self._assign_labels(line.target, line.value, type(line.op))
            elif isinstance(line, ast.AugAssign) and isinstance(line.target, ast.Name) \
                    and type(line.op) in _BINOPS:
                old = self._bound(line.target)
                right = self._expression(line.value)
                value = self._bounded(line, self.apply(line, _BINOPS[type(line.op)], old, right,
                                                       _operands=(line.target, line.value)))
                self.names[line.target.id] = value
                self.defined[line.target.id] = line.lineno
            elif isinstance(line, ast.Expr):
                self.fail(line, "syntax error (a formula's lines before the last define names, as dZ2 = A2 - Y; "
                                "only the last may be a bare formula)")
            else:
                self.fail(line, f"syntax error (a formula's lines define names, as dZ2 = A2 - Y, and the last is "
                                f"the formula: {_statement_kind(line)} is not allowed)")
        return value

    def _bound(self, target):
        if target.id not in self.names:
            self.fail(target, f"unknown name {target.id!r}: define it on a line before (x = ...)")
        return self.names[target.id]

    def _assign(self, target, value_node):
        if isinstance(target, ast.Name):
            if target.id in _NUMPY_MODULES:   # e = ... and exp = ... shadow the constant and the function, as in Python
                self.fail(target, f"{target.id} names a module, function or constant of a formula: define another "
                                  "name")
            value = self._expression(value_node)
            self.names[target.id] = value
            self.defined[target.id] = target.lineno
            return value
        if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) \
                and isinstance(target.slice, ast.Compare):   # CS231n's dhidden[hidden <= 0] = 0: a mask
            old = self._bound(target.value)
            cond = self._expression(target.slice)
            new = self._expression(value_node)
            value = self.apply(target, lambda c, x, v: c * v + (1 - c) * x, cond, old, new,
                               _operands=(target.slice, target.value, value_node))
            from derive.graph.build import fmt_shape
            if isinstance(old, Node) and isinstance(value, Node) and value.shape != old.shape:
                self.fail(target.slice, f"the mask {self.source(target.slice)} has shape {fmt_shape(value.shape)}, "
                                        f"not {target.value.id}'s {fmt_shape(old.shape)}")
            self.names[target.value.id] = value
            return value
        if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Tuple):
            return self._assign_labels(target, value_node, None)
        if isinstance(target, ast.Subscript):
            self.fail(target, "an assignment into part of an array is read only with a mask, as dA1[Z1 <= 0] = 0, "
                              "or at each example's label, as dscores[range(N), y] -= 1")
        self.fail(target, f"syntax error (a line defines one name, as dZ2 = A2 - Y: {_kind(target)} is not allowed "
                          "on the left)")

    # ---- shapes and axes ----
    def shape(self, node, what="shape"):
        """A shape (``reshape``'s) or axes (``sum``'s): whole numbers, -1 (one dimension inferred) and m."""
        dims = []
        elts = node.elts if isinstance(node, ast.Tuple) else [node]
        for e in elts:
            v = e.operand.value if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub) \
                and isinstance(e.operand, ast.Constant) and isinstance(e.operand.value, int) else None
            v = -v if v is not None else (e.value if isinstance(e, ast.Constant) else None)
            if isinstance(v, int) and not isinstance(v, bool):
                if v > MAX_DIMENSION:
                    self.fail(e, f"{'dimension' if what == 'shape' else 'axis'} {v} is too large "
                                 f"(at most {MAX_DIMENSION})")
                if what == "shape" and (v == 0 or v < -1):
                    self.fail(e, f"dimension {v} is not a size: a shape holds whole numbers > 0, -1 (the one "
                                 "dimension inferred) and m")
                if what == "axes" and v < -MAX_DIMENSION:
                    self.fail(e, f"axis {v} is too large (at most {MAX_DIMENSION})")
                dims.append(sp.Integer(v))
            elif isinstance(e, ast.Name) and e.id == "m" and "m" in self.names and what == "shape":
                dims.append(self.names["m"])
            else:
                self.fail(e, "a shape holds whole numbers > 0, -1 and m" if what == "shape"
                          else "axes are whole numbers (0, 1, -1) or a tuple of them")
        return tuple(dims)

    # ---- the walk ----
    def visit(self, node):
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.MatMult) and self.matrix:
                return self.matmul(node, node.left, node.right)
            op = _BINOPS.get(type(node.op))
            if op is None:
                sign = _OPERATOR_TEXT.get(type(node.op), type(node.op).__name__)
                self.fail(node, f"operator {sign} is not allowed{_OPERATOR_HINT.get(type(node.op), '')}")
            left, right = self.visit(node.left), self.visit(node.right)
            if op is operator.pow and left is sp.E and not (isinstance(right, sp.Expr) and right.is_number):
                return self.euler_power(node, right)   # e**z, np.e**z, math.e**z: exp(z)
            if op is operator.pow and not (isinstance(right, (int, sp.Integer, sp.Rational))
                                           or isinstance(right, sp.Expr) and right.is_number):
                self.fail(node.right, "an exponent must be a number")
            if op is operator.pow and abs(sp.sympify(right)) > MAX_EXPONENT:
                self.fail(node.right, f"exponent {right} is too large (at most {MAX_EXPONENT})")
            self.outer(node, [(node.left, left), (node.right, right)])
            return self._bounded(node, self.apply(node, op, left, right, _operands=(node.left, node.right)))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return self.apply(node, operator.neg, self.visit(node.operand), _operands=(node.operand,))
            if isinstance(node.op, ast.UAdd):
                return self.visit(node.operand)
            sign = _OPERATOR_TEXT.get(type(node.op), type(node.op).__name__)
            self.fail(node, f"operator {sign} is not allowed")
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                self.fail(node, f"constant {v!r} is not allowed (numbers only)")
            if abs(v) > MAX_CONSTANT:
                written = ast.get_source_segment(self.src, node) or repr(v)   # 1e400 as typed, not its inf
                self.fail(node, f"constant {written} is too large (at most {MAX_CONSTANT})")
            return sp.Integer(v) if isinstance(v, int) else sp.Rational(str(v))
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            if self.lookup is not None:
                try:
                    found = self.lookup(node.id)
                except ValueError as exc:
                    self.fail(node, str(exc))
                if found is not None:
                    return found
            if node.id in CONSTANTS:   # e and pi, where no name of the formula shadows them
                return CONSTANTS[node.id]
            if node.id in self.functions:
                self.fail(node, f"{node.id} is a function: call it, as {node.id}(...)")
            if self.matrix and node.id in _DECAY_NAMES:
                self.fail(node, f"{node.id} is the weight decay's λ, and this network declares no weight decay "
                                "(derivax check --l2 λ, or Network(..., l2=λ))")
            stepped = re.fullmatch(r"([A-Za-z]+)_(t|tm[0-9]+|tp[0-9]+|at[0-9]+)", node.id) if self.matrix else None
            layers = sorted(n for n in self.names if stepped and re.fullmatch(
                f"{stepped.group(1)}[0-9]+_{stepped.group(2)}", n)) if stepped else []
            if len(layers) > 1:   # h_{t-1} in a network of two recurrent layers: whose h it is, the formula must say
                self.fail(node, f"{node.id} names a step of no one layer: this network has {' and '.join(layers)}; "
                                f"write the layer's number, as {layers[0]}")
            self.fail(node, f"unknown name {node.id!r}; known: {', '.join(sorted(self.names))}")
        if isinstance(node, ast.Compare) and self.matrix:
            unsupported = next((o for o in node.ops if type(o) in _UNSUPPORTED_COMPARE), None)
            if unsupported is not None:
                self.fail(node, f"the comparison {_UNSUPPORTED_COMPARE[type(unsupported)]} is not supported in a formula: a mask "
                                "is a comparison <, <=, > or >= such as (A1 > 0)")
            if len(node.ops) != 1:
                self.fail(node, "only one comparison <, <=, > or >= at a time (an indicator such as (A1 > 0))")
            op = _COMPARE[type(node.ops[0])]
            return self.apply(node, lambda a, b: indicator(op, a, b), self.visit(node.left),
                              self.visit(node.comparators[0]), _operands=(node.left, node.comparators[0]))
        if isinstance(node, ast.Subscript) and self.matrix and isinstance(node.value, ast.Attribute) \
                and node.value.attr == "shape":
            return self.size(node)
        if isinstance(node, ast.Subscript) and self.matrix and _basic_index(node.slice, self.names):
            return self.indexed(node)
        if isinstance(node, ast.Subscript) and self.matrix and isinstance(node.slice, ast.Name) \
                and "take" in self.functions and node.slice.id not in _LABELS:   # C1[X]: an embedding's lookup
            return self.apply(node, self.functions["take"], self.visit(node.value), self.visit(node.slice),
                              _called="take", _operands=(node.value, node.slice))
        if isinstance(node, ast.Subscript) and self.matrix:
            return self.picked(node)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.defined \
                and (node.func.id in self.functions or node.func.id in _SIZE_CALLS):
            name = node.func.id
            self.fail(node, f"{name}(...) calls a value: line {self.defined[name]} defines {name} = ..., which "
                            f"shadows the function {name}; give that value another name")
        if isinstance(node, ast.Call) and self.matrix and isinstance(node.func, ast.Name) \
                and node.func.id in _SIZE_CALLS and node.func.id not in self.functions:
            return self.size_call(node)
        if isinstance(node, ast.Call) and self.matrix and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id in _NUMPY_MODULES \
                and node.func.value.id not in self.names:
            return self.numpy_call(node)
        if isinstance(node, ast.Call) and self.matrix and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "copy" and not node.args and not node.keywords:
            return self.visit(node.func.value)   # probs.copy(): the same values (a line never changes another's)
        if isinstance(node, ast.Call) and self.matrix and isinstance(node.func, ast.Attribute) \
                and node.func.attr in self.methods:
            return self.method_call(node)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in self.functions:
                if not isinstance(node.func, ast.Name):
                    self.visit(node.func)  # reports what is being called (attribute access, ...)
                    self.fail(node, "only the listed functions may be called")
                if self.matrix and node.func.id in self.names and len(node.args) == 1 and not node.keywords:
                    self.fail(node, f"{node.func.id} is not a function, and a name before parentheses calls one: "
                                    f"write {node.func.id} @ (...) for a matrix product, {node.func.id} * (...) for "
                                    "an entrywise one")
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
            args = [self.shape(a, "shape" if node.func.id == "reshape" else "axes")
                    if isinstance(a, ast.Tuple) and node.func.id in ("reshape", "sum", "permute") else
                    self.visit(a) for a in node.args]
            return self.apply(node, self.functions[node.func.id], *args, _called=node.func.id,
                              _operands=tuple(node.args), **kwargs)
        if isinstance(node, ast.Attribute) and self.matrix and node.attr == "T":
            value = self.visit(node.value)
            if not isinstance(value, Node):
                self.fail(node, f".T transposes a matrix, and {self.source(node.value)} is a number")
            return self.apply(node, _dot_t, value, _operands=(node.value,))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.attr in CONSTANTS \
                and node.value.id in ("np", "jnp", "numpy", "torch", "math") and node.value.id not in self.names:
            return CONSTANTS[node.attr]   # np.pi, math.e
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in ("np", "jnp", "numpy", "torch", "math") and node.attr in self.functions:
            self.fail(node, f"attribute access {node.value.id}.{node.attr} is not allowed: write {node.attr}(...)")
        if isinstance(node, ast.Attribute):
            self.fail(node, f"attribute access .{node.attr} is not allowed (only .T and the methods "
                            f"{', '.join('.' + m + '()' for m in self.methods)})"
                      if self.matrix else f"attribute access .{node.attr} is not allowed")
        self.fail(node, f"{_kind(node)} is not allowed")

    # ---- sizes: m as the notebooks take it (X.shape[1], len(X)), float(m) ----
    def size(self, node):
        """x.shape[k]: the size of an axis of x (m for the batch's, a layer's units for another)."""
        index = node.slice
        k = -index.operand.value if isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub) \
            and isinstance(index.operand, ast.Constant) else index.value if isinstance(index, ast.Constant) else None
        if not isinstance(k, int) or isinstance(k, bool):
            self.fail(index, "x.shape[k] takes a whole number k, the axis")
        value = self.visit(node.value.value)
        if not isinstance(value, Node):
            self.fail(node.value, f"{self.source(node.value.value)} is a number: it has no shape")
        if not -value.rank <= k < value.rank:
            from derive.graph.build import fmt_shape
            self.fail(index, f"{self.source(node.value.value)} has shape {fmt_shape(value.shape)}: no axis {k}")
        return value.shape[k]

    def size_call(self, node):
        """len(x) (x.shape[0]), float(x) and int(x) of a size or a number (float(m), int(X.shape[1]))."""
        name = node.func.id
        if len(node.args) != 1 or node.keywords:
            self.fail(node, f"{name}(...) takes one argument")
        value = self.visit(node.args[0])
        if name == "len":
            if not isinstance(value, Node):
                self.fail(node.args[0], f"len takes an array, and {self.source(node.args[0])} is a number")
            return value.shape[0]
        if isinstance(value, Node):
            if all(d == 1 for d in value.shape):   # float(J) of a 1 x 1 cost: a number
                return self._scalar(value)
            self.fail(node, f"{name}(...) takes a number, and {self.source(node.args[0])} is an array")
        if name == "int" and not (sp.sympify(value).is_integer or sp.sympify(value) == self.names.get("m")):
            self.fail(node, f"int(...) truncates {self.source(node.args[0])} to a whole number: write it without int")
        return value

    # ---- CS231n's integer labels: X[range(N), y], each example's entry at its label ----
    def labels_index(self, node):
        """(array, class axis) of ``X[range(N), y]`` (rows) or ``X[y, range(m)]`` (columns), y the labels: the
        entries the one-hot Y marks, one per example. Any other index is refused with what is read."""
        from derive.graph.build import fmt_shape
        index, what = node.slice, self.source(node)
        parts = index.elts if isinstance(index, ast.Tuple) else [index]
        ranges = [k for k, e in enumerate(parts) if _batch_range(e)]
        labels = [k for k, e in enumerate(parts) if isinstance(e, ast.Name) and e.id in _LABELS]
        Y = self.names.get("Y")
        if len(parts) != 2 or len(ranges) != 1 or len(labels) != 1:
            classes = 0 if isinstance(Y, Node) and Y.rank == 2 and Y.shape[1] == self.names.get("m") else 1
            self.fail(node, f"a subscript is not allowed ({what}): an index is read only as each example's entry at its "
                            "label, X[range(N), y] (y the labels, read as the one-hot Y), and as x.shape[k]; write the "
                            f"rest with Y and the operators (X[range(N), y] is np.sum(X * Y, axis={classes}))")
        x = self.visit(node.value)
        if not isinstance(x, Node) or not isinstance(Y, Node) or x.rank != 2 or Y.rank != 2:
            self.fail(node.value, f"{what} picks each example's entry at its label from a matrix shaped as the "
                                  f"one-hot Y, and {self.source(node.value)} is "
                                  + (f"{fmt_shape(x.shape)}" if isinstance(x, Node) else "a number"))
        batch = next((k for k, d in enumerate(Y.shape) if d == self.names.get("m")), None)
        if batch is None or tuple(x.shape) != tuple(Y.shape):
            self.fail(node.value, f"{what}: {self.source(node.value)} has shape {fmt_shape(x.shape)}, and the labels "
                                  f"y index the one-hot Y's {fmt_shape(Y.shape)}")
        call = parts[ranges[0]]
        size = self.visit(call.args[0])
        if isinstance(size, Node) or sp.simplify(sp.sympify(size) - self.names["m"]) != 0:
            self.fail(call.args[0], f"{self.source(call)} must run over the batch (range(N), N the examples) to pick "
                                    f"each example's label, and {self.source(call.args[0])} is "
                                    + ("an array" if isinstance(size, Node) else f"{size}"))
        if ranges[0] != batch:
            right = "X[range(N), y]" if batch == 0 else "X[y, range(m)]"
            self.fail(index, f"{what}: the batch is axis {batch} of {fmt_shape(Y.shape)} in this convention: write "
                             f"{right}")
        return x, 1 - batch

    def indexed(self, node):
        """NumPy's basic indexing: x[:, :, 6:12] (a part along an axis), x[:, 0] (one entry of an axis, the axis
        dropped), and x[:, t], step t of a sequence (batch, time, ...), read inside sum_t(...)."""
        from derive.graph.build import fmt_shape, reshape
        from derive.ops import slice_
        x = self.visit(node.value)
        what = self.source(node.value)
        if not isinstance(x, Node):
            self.fail(node.value, f"{what} is a number: it has no entries to index")
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if len(elts) > x.rank:
            self.fail(node.slice, f"{len(elts)} indices for {what} {fmt_shape(x.shape)}, of {x.rank} axes")
        steps = [k for k, e in enumerate(elts) if isinstance(e, ast.Name)]
        if steps:
            whole = all(isinstance(e, ast.Slice) and e.lower is None and e.upper is None and e.step is None
                        for k, e in enumerate(elts) if k != 1)
            if steps != [1] or not whole or x.rank < 3:
                self.fail(elts[steps[0]], "t indexes the steps of a sequence (batch, time, ...), its axis 1: write "
                                          "x[:, t]" + ("" if x.rank >= 3 else f" ({what} is {fmt_shape(x.shape)})"))
            from derive.formula.steps import position
            return self.apply(node, position, x, _operands=(node.value,))
        out, dropped = x, []
        for k, e in enumerate(elts):
            n = x.shape[k]
            if isinstance(e, ast.Slice):
                if e.step is not None:
                    self.fail(e.step, "a slice here is start:stop, without a step")
                if e.lower is None and e.upper is None:
                    continue
                bad = next((b for b in (e.lower, e.upper) if b is not None and not _is_whole(b)), None)
                if bad is not None:
                    self.fail(bad, "a slice's bounds are whole numbers (6:12, -1:)")
                if not n.is_Integer:
                    self.fail(e, f"axis {k} of {what} {fmt_shape(x.shape)} holds {n} entries (the batch): take it "
                                 "whole, with :")
                lo, hi = (_whole(b, d, int(n)) for b, d in ((e.lower, 0), (e.upper, int(n))))
                if lo >= hi:
                    self.fail(e, f"{self.source(e)} takes nothing of axis {k} of {what} {fmt_shape(x.shape)}")
                out = slice_(out, k, lo, hi)
            else:
                i = _whole(e, None, None)
                if not n.is_Integer:
                    self.fail(e, f"axis {k} of {what} {fmt_shape(x.shape)} holds {n} entries (the batch): take it "
                                 "whole, with :")
                if not -int(n) <= i < int(n):
                    self.fail(e, f"index {i} is past axis {k} of {what} {fmt_shape(x.shape)}")
                i %= int(n)
                out = slice_(out, k, i, i + 1)
                dropped.append(k)
        kept = tuple(d for k, d in enumerate(out.shape) if k not in dropped)
        return reshape(out, kept) if dropped and kept else out

    def picked(self, node):
        """X[range(N), y]: each example's entry at its label, a vector of the batch (NumPy's (N,)), the sum of
        X ⊙ Y over the classes."""
        from derive.formula.matrix_names import numpy_functions
        x, classes = self.labels_index(node)
        return self.apply(node, lambda a, b: numpy_functions()["sum"](a * b, axis=classes), x, self.names["Y"],
                          _operands=(node.value, node.slice))

    def _assign_labels(self, target, value_node, op):
        """X[range(N), y] -= v (op the operator, None for =): X changed at each example's label, the entries the
        one-hot Y marks; v a number or one per example (N,)."""
        from derive.graph.build import fmt_shape, reshape
        if not isinstance(target.value, ast.Name):
            self.fail(target, "an assignment at each example's label names the array, as dscores[range(N), y] -= 1")
        x, classes = self.labels_index(target)
        Y = self.names["Y"]
        v = self._expression(value_node)
        if isinstance(v, Node):
            if v.rank == 1 and v.shape[0] == self.names["m"]:
                v = reshape(v, (v.shape[0], 1) if classes == 1 else (1, v.shape[0]))
            elif not all(d == 1 for d in v.shape):
                self.fail(value_node, f"{self.source(value_node)} has shape {fmt_shape(v.shape)}: a value at each "
                                      "example's label is a number or one per example (N,)")
        rules = {ast.Add: lambda a, y, w: a + w * y, ast.Sub: lambda a, y, w: a - w * y,
                 ast.Mult: lambda a, y, w: a * (1 - y) + a * w * y, ast.Div: lambda a, y, w: a * (1 - y) + a / w * y,
                 None: lambda a, y, w: a * (1 - y) + w * y}
        value = self._bounded(target, self.apply(target, rules[op], x, Y, v,
                                                 _operands=(target.value, target.slice, value_node)))
        self.names[target.value.id] = value
        return value

    def matmul(self, node, left_node, right_node, called="@"):
        left, right = self.visit(left_node), self.visit(right_node)
        for part, value in ((left_node, left), (right_node, right)):
            if self.is_scalar(value):
                self.fail(part, f"{called} multiplies matrices, and {self.source(part)} is a number: "
                                "write * to scale")
        if left.rank == 1 or right.rank == 1:   # a vector, as NumPy multiplies it (A1.T @ v, v @ W2)
            value = self.apply(node, _numpy_matmul, left, right, _operands=(left_node, right_node))
            return self._scalar(value) if left.rank == right.rank == 1 else value
        return self.apply(node, operator.matmul, left, right, _operands=(left_node, right_node))

    def outer(self, node, operands):
        """Note an elementwise operation that broadcasts a row against a column into a matrix neither
        operand has the shape of: (m, 1) - (1, m) is (m, m)."""
        nodes = [(n, v) for n, v in operands if isinstance(v, Node) and not self.is_scalar(v)]
        if len(nodes) != 2 or sorted((nodes[0][1].rank, nodes[1][1].rank)) not in ([2, 2], [1, 2]):
            return
        (ln, l), (rn, r) = nodes
        one = sp.Integer(1)
        # NumPy aligns the shapes at their last axes: a vector (n,) stands as a row (1, n)
        ls, rs = ((one,) * (2 - l.rank) + tuple(l.shape)), ((one,) * (2 - r.rank) + tuple(r.shape))
        from_left = any(a != one and b == one for a, b in zip(ls, rs))
        from_right = any(a == one and b != one for a, b in zip(ls, rs))
        if from_left and from_right:
            from derive.graph.build import fmt_shape
            shape = tuple(b if a == one else a for a, b in zip(ls, rs))
            vector = next(((n, v) for n, v in nodes if v.rank == 1), None)
            why = (f"NumPy reads the vector {self.source(vector[0])} {fmt_shape(vector[1].shape)} as a row "
                   f"(1, {vector[1].shape[0]}), here against a column (keepdims=True missing in a sum?)"
                   if vector is not None else "a column against a row (a transpose too many or missing?)")
            self.notes.append(f"{self.source(node)} broadcasts {self.shown(ln, l)} against {self.shown(rn, r)} "
                              f"into {fmt_shape(shape)}: {why}")

    def keywords_of(self, node, allowed, name):
        out = {}
        for kw in node.keywords:
            if kw.arg not in allowed:
                self.fail(kw.value, f"keyword argument {kw.arg!r} is not allowed here")
            if kw.arg == "keepdims":
                if not (isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, bool)):
                    self.fail(kw.value, "keepdims is True or False")
                out["keepdims"] = kw.value.value
            elif kw.arg == "axis":
                out["axis"] = self.axes(kw.value)
            else:
                out[kw.arg] = self.visit(kw.value)
        return out

    def axes(self, node):
        """An axis argument: None, one axis, or a tuple of axes."""
        if isinstance(node, ast.Constant) and node.value is None:
            return None
        found = self.shape(node, "axes")
        return found if isinstance(node, ast.Tuple) else found[0]

    def reduction_args(self, node, args, name):
        """(x, kwargs) of sum/mean/max called with an array first: axis positional or by keyword."""
        kwargs = self.keywords_of(node, ("axis", "keepdims"), name)
        if len(args) > 2:
            self.fail(node, f"{name}(...) takes an array, an axis and keepdims")
        if len(args) == 2:
            kwargs["axis"] = self.axes(args[1])
        return kwargs

    def numpy_call(self, node):
        module, name = node.func.value.id, node.func.attr
        called = f"{module}.{name}"
        table = self.numpy
        if name == "einsum":
            return self.einsum(node, called)
        if name not in table and name not in _CASTS and name not in ("where", "reshape"):
            self.fail(node.func, f"{called} is not one of the NumPy functions a formula may call: "
                                 f"{', '.join(sorted([*table, 'where', 'reshape', 'int64', 'float64', 'einsum']))}")
        if name in _CASTS:
            return self.cast(node, node.args[0] if len(node.args) == 1 and not node.keywords else None, called)
        if name == "where":
            if len(node.args) != 3 or node.keywords:
                self.fail(node, f"{called}(condition, a, b) takes three arguments")
            if not isinstance(node.args[0], ast.Compare):
                self.fail(node.args[0], f"{called}'s condition must be a comparison such as Z1 > 0")
            cond, a, b = (self.visit(x) for x in node.args)
            return self.apply(node, lambda c, p, q: c * p + (1 - c) * q, cond, a, b, _operands=tuple(node.args))
        if name == "reshape":
            if len(node.args) < 2 or node.keywords:
                self.fail(node, f"{called}(x, shape) takes an array and a shape")
            x = self.visit(node.args[0])
            return self.reshape(node, x, node.args[1:], node.args[0])
        if name in ("dot", "matmul") and len(node.args) == 2 and not node.keywords:
            return self.matmul(node, node.args[0], node.args[1], called)
        if name in _REDUCTIONS:
            if not node.args:
                self.fail(node, f"{called}(...) takes an array")
            kwargs = self.reduction_args(node, node.args, called)
            x = self.visit(node.args[0])
            if name in ("max", "amax"):
                return self.max_all(node, x, kwargs, called, node.args[0])
            return self.reduced(x, kwargs, self.apply(node, table[name], x, _called=called,
                                                      _operands=(node.args[0],), **kwargs))
        if node.keywords:
            self.fail(node.keywords[0].value, f"keyword argument {node.keywords[0].arg!r} is not allowed here")
        args = [self.visit(a) for a in node.args]
        value = self.apply(node, table[name], *args, _called=called, _operands=tuple(node.args))
        return self._scalar(value) if name == "squeeze" else value   # np.squeeze of a 1 x 1: a number

    def einsum(self, node, called):
        """np.einsum('ij,jk->ik', a, b): the matrix product, transpose, sum or entrywise product its subscripts
        make (``derive.formula.matrix_names.einsum``); other subscripts are refused, named, at their position."""
        from derive.formula.matrix_names import einsum, einsum_letters
        if not node.args or not (isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            self.fail(node.args[0] if node.args else node, f"{called}(subscripts, a, b) takes its subscripts first, "
                                                           "as a string such as 'ij,jk->ik'")
        for kw in node.keywords:   # optimize= only chooses the order of the products
            if kw.arg != "optimize":
                self.fail(kw.value, f"keyword argument {kw.arg!r} is not allowed here")
        subscripts = node.args[0].value
        try:
            _, out = einsum_letters(subscripts)
        except ValueError as exc:
            self.fail(node.args[0], str(exc))
        operands = node.args[1:]
        values = [self.visit(a) for a in operands]
        value = self.apply(node, lambda *arrays: einsum(subscripts, *arrays), *values, _operands=tuple(operands))
        return self._scalar(value) if not out else value

    def cast(self, node, arg, called):
        """np.int64(A1 > 0), np.float64(x), (A1 > 0).astype(float): a mask's 0/1 as numbers."""
        if arg is None:
            self.fail(node, f"{called}(...) takes one argument")
        if isinstance(arg, ast.Compare) or "float" in called or "double" in called:
            return self.visit(arg)
        if isinstance(arg, ast.Constant) and type(arg.value) in (int, float) and float(arg.value).is_integer():
            return self.visit(arg)   # np.int64(2): a whole number stays itself
        self.fail(node, f"{called} truncates to whole numbers: only a mask such as (A1 > 0) may be cast")

    def reshape(self, node, x, shape_nodes, receiver):
        if not isinstance(x, Node):
            self.fail(receiver, f"reshape takes an array, and {self.source(receiver)} is a number")
        if len(shape_nodes) == 1 and isinstance(shape_nodes[0], ast.Tuple):
            shape = self.shape(shape_nodes[0])
        else:
            shape = tuple(d for a in shape_nodes for d in self.shape(a))
        return self.apply(node, self.functions["reshape"], x, shape, _called="reshape", _operands=(receiver,))

    def method_call(self, node):
        name, receiver = node.func.attr, node.func.value
        called = f"{self.source(receiver)}.{name}"
        if name == "astype":
            if len(node.args) != 1 or node.keywords:
                self.fail(node, f"{called}(...) takes one type")
            t = node.args[0]
            kind = t.id if isinstance(t, ast.Name) else t.attr if isinstance(t, ast.Attribute) else \
                t.value if isinstance(t, ast.Constant) and isinstance(t.value, str) else ""
            if kind not in ("float", "int", *_CASTS):
                self.fail(t, "astype takes a number type (float, int, np.float64)")
            return self.cast(node, receiver, kind if kind != "int" else "int")
        x = self.visit(receiver)
        if not isinstance(x, Node):
            self.fail(node.func, f".{name}() is a method of an array, and {self.source(receiver)} is a number")
        if name == "transpose":
            if node.args or node.keywords:
                self.fail(node, f"{called}() takes no axes here (a matrix's transpose)")
            return self.apply(node, _dot_t, x, _operands=(receiver,))
        if name == "reshape":
            if not node.args or node.keywords:
                self.fail(node, f"{called}(shape) takes a shape")
            return self.reshape(node, x, node.args, receiver)
        if name == "dot":
            if len(node.args) != 1 or node.keywords:
                self.fail(node, f"{called}(other) takes one array")
            return self.matmul(node, receiver, node.args[0], called)
        kwargs = self.reduction_args(node, [receiver, *node.args], called)
        if name == "max":
            return self.max_all(node, x, kwargs, called, receiver)
        return self.reduced(x, kwargs, self.apply(node, self.methods[name], x, _called=called, _operands=(receiver,),
                                                  **kwargs))

    def max_all(self, node, x, kwargs, called="np.max", receiver=None):
        """np.max(x) without an axis: the largest entry of x, a number (1 x 1 with keepdims=True), as
        ``derive.formula.matrix_names.max_of_all`` stands for it; each expression's maximum named apart. With an
        axis, NumPy's max along it (``matrix_names._np_max``), over the batch a stand-in as well, named apart
        the same way."""
        from derive.formula.matrix_names import max_of_all, over_the_batch
        if not isinstance(x, Node):
            return x
        axis = kwargs.get("axis")
        if axis is not None and not over_the_batch(x, axis):
            return self.reduced(x, kwargs, self.apply(node, self.numpy["max"], x, _called=called,
                                                      _operands=(receiver,), **kwargs))
        if id(x) not in self.maxima:
            self.maxima[id(x)] = (x, len([k for k in self.maxima.values() if k[0].name is None]))
        if axis is not None:
            return self.apply(node, self.numpy["max"], x, index=self.maxima[id(x)][1], _called=called,
                              _operands=(receiver,), **kwargs)
        value = self.apply(node, max_of_all, x, self.maxima[id(x)][1])
        return value if kwargs.get("keepdims") else self._scalar(value)

    def reduced(self, x, kwargs, value):
        """``value``, NumPy's reduction of ``x`` (np.sum, np.mean, np.max, x.sum()): over every axis and without
        keepdims=True a number to NumPy, shape (), which the node holds as 1 x 1."""
        from derive.formula.matrix_names import _axis
        from derive.ops.reduce_sum import normal_axes
        if kwargs.get("keepdims") or not isinstance(x, Node):
            return value
        axis = kwargs.get("axis")
        if axis is None or normal_axes(_axis(axis), x.rank) is None or self.is_scalar(x):
            return self._scalar(value)
        return value

    def _bounded(self, node, value):
        """A number folded from constants (10**10) obeys the same bound as a constant typed."""
        if isinstance(value, sp.Number) and value.is_finite and abs(value) > MAX_CONSTANT:
            self.fail(node, f"constant {value} is too large (at most {MAX_CONSTANT})")
        expr = value.attrs.get("expr") if hasattr(value, "attrs") else value
        if isinstance(expr, sp.Basic) and expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            self.fail(node.right if isinstance(node, ast.BinOp) else node,
                      "division by zero (or another undefined value)")
        return value

    def grouped(self, node) -> str:
        """The formula's text of an operand, in parentheses where an operator binds it (A2 - Y as (A2 - Y))."""
        text = self.source(node)
        loose = isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.IfExp, ast.Lambda))
        return f"({text})" if loose else text

    def reworded(self, node, message, operands, args):
        """A message from an operation, with the graph's internal names of its operands (ew(A2, Y),
        T(W1)) replaced by the formula's own text of them; a shape mismatch of an elementwise operator
        says what was being done, to what."""
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATION and "broadcast" in message \
                and all(isinstance(v, Node) for v in args[:2]):
            a, b = args[:2]
            product = isinstance(node.op, ast.Mult) and a.rank == b.rank == 2 and a.shape[1] == b.shape[0]
            return (f"cannot {_OPERATION[type(node.op)]} {self.shown(node.left, args[0])} and "
                    f"{self.shown(node.right, args[1])}: their shapes do not broadcast together"
                    + (" (a matrix product, @, would fit: * multiplies entry by entry)" if product else "")
                    + self._kept_dims_hint([(node.left, a), (node.right, b)]))
        if message.startswith("cannot multiply") and "would fit" not in message and len(args) >= 2 \
                and all(isinstance(v, Node) and v.rank == 2 for v in args[:2]) \
                and args[1].shape[1] == args[0].shape[0] and len(operands) >= 2:
            message += (f" ({self.grouped(operands[1])} @ {self.grouped(operands[0])} would fit: the factors in the "
                        "wrong order?)")
        pairs = sorted(((repr(v), self.shown(n, v).rsplit(" (", 1)[0]) for n, v in zip(operands, args)
                        if isinstance(v, Node)),
                       key=lambda p: -len(p[0]))
        for internal, text in pairs:
            if internal != text:
                message = message.replace(internal, text)
        return message.replace(".Tᵀ (", " (")   # W3.T transposed is W3, as the formula spells it

    def euler_power(self, node, power):
        """e**z (the constant e, np.e or math.e raised to a power that is not a number) as exp(z), the table's exp
        (a matrix formula's entrywise one)."""
        exp = self.functions.get("exp")
        if exp is None and isinstance(power, Node):
            self.fail(node, "e**(...) of an array is exp(...), which this formula cannot call")
        return self._bounded(node, self.apply(node, exp or sp.exp, power, _called="exp", _operands=(node.right,)))

    def _kept_dims_hint(self, operands) -> str:
        """' (np.max(Z2, axis=1) drops the axis it reduces: with keepdims=True it is (m, 1))': for two operands that
        do not broadcast, one of them a reduction along one axis without keepdims=True (np.max, np.sum, np.mean,
        x.max(...)) that would broadcast against the other with its axis kept; '' otherwise."""
        from derive.graph.build import fmt_shape
        (ln, lv), (rn, rv) = operands
        for (part, value), (_, other) in (((ln, lv), (rn, rv)), ((rn, rv), (ln, lv))):
            if not isinstance(part, ast.Call) or not isinstance(part.func, ast.Attribute) \
                    or part.func.attr not in _REDUCTIONS or any(kw.arg == "keepdims" for kw in part.keywords):
                continue
            numpy = isinstance(part.func.value, ast.Name) and part.func.value.id in _NUMPY_MODULES
            axis = next((kw.value for kw in part.keywords if kw.arg == "axis"), None)
            positional = part.args[1:] if numpy else part.args
            axis = axis if axis is not None else positional[0] if positional else None
            k = -axis.operand.value if isinstance(axis, ast.UnaryOp) and isinstance(axis.op, ast.USub) \
                and isinstance(axis.operand, ast.Constant) else axis.value if isinstance(axis, ast.Constant) else None
            if not isinstance(k, int) or isinstance(k, bool) or self.is_scalar(value):
                continue
            rank = value.rank + 1
            if not -rank <= k < rank:
                continue
            k %= rank
            kept = tuple(value.shape[:k]) + (sp.Integer(1),) + tuple(value.shape[k:])
            if broadcast_shape([kept, tuple(other.shape)]) is None:
                continue
            return f" ({self.source(part)} drops the axis it reduces: with keepdims=True it is {fmt_shape(kept)})"
        return ""

    def apply(self, node, fn, *args, _called=None, _operands=(), **kwargs):
        try:
            value = fn(*args, **kwargs)
        except FormulaError:
            raise
        except RecursionError:
            raise
        except TypeError as exc:
            if _called and ("positional argument" in str(exc) or "keyword argument" in str(exc)):
                self.fail(node, f"{_called}(...) does not take {len(args)} argument{'s' if len(args) != 1 else ''}"
                                + (f" and {', '.join(kwargs)}" if kwargs else ""))
            if "unsupported operand" in str(exc):
                self.fail(node, f"{self.source(node)} combines operands that do not go together: "
                                + ", ".join(self.shown(n, v) for n, v in zip(_operands, args)))
            self.fail(node, self.reworded(node, str(exc).splitlines()[0], _operands, args) if str(exc)
                      else type(exc).__name__)
        except (ValueError, AttributeError, ArithmeticError) as exc:
            # operands whose shapes fit no product or entrywise operation: a wrong formula (ShapeMismatch)
            unfit = isinstance(exc, ShapeError) and ("broadcast" in str(exc) or str(exc).startswith("cannot multiply")
                                                     or "no convolution layer of this network has operands" in str(exc)
                                                     or "layer of this network fits these shapes" in str(exc))
            self.fail(node, self.reworded(node, str(exc).splitlines()[0], _operands, args) if str(exc)
                      else type(exc).__name__, ShapeMismatch if unfit else FormulaError)
        expr = value.attrs.get("expr") if hasattr(value, "attrs") else value
        if isinstance(expr, sp.Basic) and expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            if isinstance(node, ast.BinOp):  # point at the divisor
                self.fail(node.right, "division by zero (or another undefined value)")
            self.fail(node, "undefined value (a log of 0, or a division by zero)")
        complex_part = _complex_constant(value)
        if complex_part is not None:
            self.fail(node, f"not a real number: this part is {complex_part}")
        return self._with_numbers(args, value)

    def _with_numbers(self, args, value):
        """An entrywise ``value`` of operands some of which NumPy holds as numbers (``is_scalar``): a number
        where all are, else shaped as NumPy broadcasts the others (np.sum(x) * v is v's (n,), not (1, n))."""
        nodes = [a for a in args if isinstance(a, Node)]
        if not isinstance(value, Node) or value.op != "ew" or not any(id(a) in self.scalars for a in nodes):
            return value
        rest = [tuple(a.shape) for a in nodes if id(a) not in self.scalars]
        if not rest:
            return self._scalar(value)
        shape = broadcast_shape(rest)
        if shape is not None and shape != tuple(value.shape) and same_entries(shape, value.shape):
            from derive.graph.build import reshape
            return reshape(value, shape)
        return value


_LABELS = ("y", "Y", "labels")   # CS231n's integer labels y, as the lines index with them


def _is_whole(e) -> bool:
    """Whether ``e`` is a whole number typed (3, -1)."""
    e = e.operand if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub) else e
    return isinstance(e, ast.Constant) and isinstance(e.value, int) and not isinstance(e.value, bool)


def _whole(node, default, n):
    """A slice's bound or an index (``_is_whole``), as Python reads it: a negative one counts from the end, a
    bound past the end stops there (with ``n``, the axis's length); ``default`` where none is given."""
    if node is None:
        return default
    v = -node.operand.value if isinstance(node, ast.UnaryOp) else node.value
    if n is None:
        return v
    return max(0, min(n, v + n if v < 0 else v))


def _basic_index(index, names) -> bool:
    """Whether a subscript is NumPy's basic indexing of the kinds ``Evaluator.indexed`` reads: slices, whole
    numbers and t, the step (x[:, :, 6:12], x[:, t])."""
    elts = index.elts if isinstance(index, ast.Tuple) else [index]
    return bool(elts) and all(isinstance(e, ast.Slice) or _is_whole(e) or isinstance(e, ast.Name) and e.id == "t"
                              and "t" not in names for e in elts) \
        and any(isinstance(e, (ast.Slice, ast.Name)) for e in elts)


def _batch_range(node) -> bool:
    """Whether ``node`` is range(n) or np.arange(n): the examples' indices, as CS231n picks each one's label."""
    if not (isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords):
        return False
    f = node.func
    return isinstance(f, ast.Name) and f.id == "range" or isinstance(f, ast.Attribute) and f.attr == "arange" \
        and isinstance(f.value, ast.Name) and f.value.id in _NUMPY_MODULES


def _side_by_side(src, at) -> bool:
    """Whether offset ``at`` of a formula starts an operand right after another one, a space between
    (1/m delta2, (A2 - Y) A1.T): a product written as the books write it."""
    if not 0 < at < len(src) or not (src[at].isalnum() or src[at] in "_(") or not src[at - 1].isspace():
        return False
    before = src[:at].rstrip()
    return bool(before) and (before[-1].isalnum() or before[-1] in "_)")


def same_entries(a, b) -> bool:
    """Whether two shapes hold the same entries in the same places under NumPy's broadcasting: equal once the
    leading axes of length 1 are dropped ((n,) and (1, n); (c,) and (1, 1, 1, c)). (n,) and (n, 1) are not: a
    vector broadcasts as a row."""
    def core(shape):
        shape = list(shape)
        while shape and shape[0] == 1:
            shape.pop(0)
        return shape
    return core(a) == core(b)


def _numpy_matmul(a, b):
    """``a @ b`` as NumPy reads a vector (rank 1) in it: on the left as a row, on the right as a column, the
    axis it gave dropped from the product ((3, m) @ (m,) is (3,)); two vectors make their inner product."""
    from derive.graph.build import fmt_shape, reshape
    if a.rank > 2 or b.rank > 2:
        return a @ b   # a sequence's or a batch's product: the graph's own rule, and its message
    n, k = a.shape[-1], b.shape[0]
    if n != k:
        raise ShapeError(f"cannot multiply {a!r} {fmt_shape(a.shape)} by {b!r} {fmt_shape(b.shape)}: {n} against "
                         f"{k} entries")
    left = reshape(a, (1, n)) if a.rank == 1 else a
    right = reshape(b, (k, 1)) if b.rank == 1 else b
    out = left @ right
    kept = tuple(d for j, d in enumerate(out.shape) if not (j == 0 and a.rank == 1 or j == 1 and b.rank == 1))
    return reshape(out, kept) if kept else out


def _dot_t(v):
    """``.T``: a matrix transposed, a vector (rank 1) unchanged, as NumPy reads it; of a tensor of rank 3 or more
    (attention's (batch, head, time, dₖ)), each matrix of its last two axes transposed, as show prints it (P3.T
    for Pᵀ per example and head; NumPy's own .T would reverse every axis)."""
    if isinstance(v, Node) and v.rank >= 3:
        from derive.ops import swap_last
        return swap_last(v)
    return v if isinstance(v, Node) and v.rank == 1 else v.T


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
    if not isinstance(text, str):   # 5, None: no text at all, not an empty one
        raise FormulaError(repr(text), 0, f"{what} must be a formula written as a string (such as "
                           f"{'z*sigmoid(z)' if what == 'activation' else '(yhat - y)**2'}), not {text!r} "
                           f"({type(text).__name__})")
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


def parse_matrix(text: str, derivation, at_step: bool = False, notes=None, shapes=None, respelled=False):
    """A matrix formula over the names the derivation prints, as a graph node.

    Names: X, Y, m, the parameters (W1, b1, gamma2, C1, ...), the forward nodes (Z1, A1, xhat2, ...), the
    error signals (delta1, ...), the named adjoints (dxhat2, dS3), ``lam`` for the weight-decay constant
    and ``epsilon`` for a normalization's. Operators ``@ * + - / **``, ``.T``;
    calls of the elementwise functions and of the table activations' derivatives as the steps view
    prints them (``tanh_prime(Z1)``, ``relu_prime(Z1)``), ``softmax(x, axis)`` (``softmax(x)`` over the classes, as
    show prints it), ``sum_k(x)`` (the sum over the classes, LaTeX's \\sum_{k}), ``sum_ip(x)`` (over every axis but
    the last, Σᵢ,ₚ and Σᵢ,ₜ), ``sum(x, axis)``
    (``keepdims`` is accepted and always true) and ``max(a, b)``; ``flatten(x)``, ``reshape(x, (m, 2, 2, 64))``,
    ``permute(x, axes)``, ``sum(x, (0, 1, 2))`` and NumPy's slices ``x[:, :, 0:6]``; in a network with convolution
    or pooling the window functions (``derive.formula.matrix_names.window_functions``), with attention ``heads`` and
    ``merge``, with an embedding ``C1[X]`` and ``scatter_add(G, X, V)``; with sequences, names at step t (``A4_t``,
    ``x[:, t]``, a recurrent step's ``h1_tm1``, ``u1_tp1``) inside ``sum_t`` and ``stack_t``
    (``derive.formula.steps``). Shape errors name the position. ``notes`` collects the evaluator's notes of a
    legal but likely slip; ``shapes`` the shape NumPy would give the formula's value. ``respelled``: ``text`` is
    already in the grammar's spelling, respelled from a formula of at most MAX_LENGTH characters (``derivax check``
    reads it so), and is held to MAX_RESPELLED instead.
    """
    from derive.formula.matrix_names import step_functions
    functions = matrix_functions(derivation.model)
    functions.update(step_functions(derivation))
    evaluator = Evaluator(text, matrix_names(derivation), functions, matrix=True, keywords=("axis", "keepdims"),
                          numpy=numpy_functions(), methods=array_methods(), respelled=respelled)
    from derive.formula.matrix_names import fixed_step
    evaluator.lookup = lambda name: (fixed_step(derivation, name) or (None,))[0]   # h1_at40: one step's state
    value = evaluator.run()
    if notes is not None:
        notes.extend(evaluator.notes)
    if shapes is not None:   # the shape NumPy gives the formula (np.sum(x) is a number, (), not 1 x 1)
        shapes.append(evaluator.numpy_shape(value))
    if isinstance(value, Node) and not at_step:  # at_step: a formula of one step, checked at every t
        from derive.graph.build import topo_order
        stray = next((n for n in topo_order(value) if getattr(n.name, "step", None) is not None
                      or n.role in ("carry", "step_input", "position") or n.role == "adjoint" and n.op == "leaf"),
                     None)
        if stray is not None and stray.role == "position":
            name = str(stray.name) if stray.name is not None else "[:, t]"
            raise FormulaError(text, max(0, text.find(name)), f"{name} is step t of a sequence: use it inside "
                               "sum_t(...), e.g. sum_t(A1_t.T @ delta2_t), or stack_t(...)")
        if stray is not None:  # a name at step t outside a sum over t has no one value
            name = str(stray.name) if stray.role != "adjoint" else "d" + str(stray.attrs["of"])
            raise FormulaError(text, max(0, text.find(name)), f"{name} is a recurrent layer's name at step t: "
                               "use it inside sum_t(...), e.g. sum_t(h1_tm1.T @ delta1_t)")
    if not isinstance(value, Node):  # a number or an expression in m alone: a 1 x 1 constant
        value = ew(sp.sympify(value), [], shape=(1, 1))
    return value

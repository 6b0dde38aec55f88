"""The graph's core: nodes, shapes, placeholders, the walk in topological order.

A node is immutable and hash-consed: building the same expression twice gives the same object, so
common subexpressions are shared for free and reverse mode can key its adjoints by node. What each
operation means (its shape rule, backward rule, printing, scalar expansion and NumPy evaluation) is
not here but in its own module of ``derive.ops``; this module knows operations only by name.

A shape is a tuple of SymPy dimensions (an Integer, or the batch-size symbol ``m``), of any rank; a
dense network's matrices are the rank-2 case.
"""
from __future__ import annotations

import weakref

import sympy as sp

ONE = sp.Integer(1)


class ShapeError(ValueError):
    """Two operands whose shapes do not fit together."""


_PLACEHOLDERS: list = []


def placeholder(i: int) -> sp.Symbol:
    """The i-th operand of an elementwise expression, _a{i} (made once: graphs ask for them thousands of times)."""
    while len(_PLACEHOLDERS) <= i:
        _PLACEHOLDERS.append(sp.Symbol(f"_a{len(_PLACEHOLDERS)}"))
    return _PLACEHOLDERS[i]


def is_placeholder(s) -> bool:
    return isinstance(s, sp.Symbol) and s.name.startswith("_a")


def fmt_shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def dims(shape) -> tuple:
    """A shape as a tuple of SymPy dimensions."""
    return tuple(sp.sympify(d) for d in shape)


# The constructors Python's operators build with (a + b, a @ b, a.T): the op modules register them
# here, so that this module needs none of them imported.
BUILD: dict = {}
# How a node displays in Jupyter and IPython, by notation: derive.printing.show registers its printers here.
SHOW: dict = {}


class Node:
    """One operation of the graph. Build nodes with the constructors of ``derive.ops`` (re-exported
    by ``derive.graph.build``); ``Node(...)`` itself checks nothing."""

    __slots__ = ("op", "args", "shape", "attrs", "name", "role", "_key", "__weakref__")
    # NumPy defers to the node's own operators (array * node is node.__rmul__(array), which refuses an array)
    # rather than applying them entry by entry into an array of nodes.
    __array_ufunc__ = None
    # Weak values: a node nobody holds any more leaves the table. Its key names its arguments by id,
    # which is safe: a node holds its arguments, so an entry dies before the ids in its key can be reused.
    _table = weakref.WeakValueDictionary()

    def __new__(cls, op, args, shape, attrs=(), name=None, role=None):
        shape = dims(shape)
        key = (op, tuple(id(a) for a in args), shape, attrs, name, role)
        hit = cls._table.get(key)
        if hit is not None:
            return hit
        self = object.__new__(cls)
        self.op, self.args, self.shape, self.name, self.role = op, tuple(args), shape, name, role
        self.attrs = dict(attrs)
        self._key = key
        cls._table[key] = self
        return self

    def __repr__(self):
        if self.name:
            return self.name
        return f"{self.op}({', '.join(map(repr, self.args))})"

    def _repr_latex_(self):   # Jupyter: the node's formula, as derivax prints it
        return "$" + SHOW["latex"](self) + "$"

    def _repr_pretty_(self, p, cycle):   # IPython: the formula in text, not the op tree
        p.text(SHOW["text"](self))

    @property
    def rank(self) -> int:
        return len(self.shape)

    # Python operators, for the graph form of declaring networks and for user formulas.
    def __matmul__(self, other):
        return BUILD["matmul"](self, other)

    def __add__(self, other):
        return _binary(placeholder(0) + placeholder(1), self, other)

    __radd__ = __add__

    def __sub__(self, other):
        return _binary(placeholder(0) - placeholder(1), self, other)

    def __rsub__(self, other):
        return _binary(placeholder(1) - placeholder(0), self, other)

    def __mul__(self, other):
        return _binary(placeholder(0) * placeholder(1), self, other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return _binary(placeholder(0) / placeholder(1), self, other)

    def __rtruediv__(self, other):
        return _binary(placeholder(1) / placeholder(0), self, other)

    def __neg__(self):
        return BUILD["ew"](-placeholder(0), [self])

    def __pow__(self, k):
        return BUILD["ew"](placeholder(0) ** real_constant(k), [self])

    @property
    def T(self):
        return BUILD["T"](self)


def _binary(expr, a: Node, b) -> Node:
    """``expr`` over a node and a node or a scalar; a scalar is a constant of one entry per axis."""
    if not isinstance(b, Node):
        b = BUILD["ew"](real_constant(b), [], shape=(1,) * a.rank)
    return BUILD["ew"](expr, [a, b])


def real_constant(value):
    """``value``, a constant a node is combined with (``2 * node``), as SymPy: a real number (an int, a float, a
    NumPy scalar) or a SymPy expression with no imaginary unit. A TypeError for anything else: a string would be
    parsed as a formula, an array has no one value per entry here, and a complex number has no place in a loss."""
    import numbers
    if isinstance(value, sp.Basic):
        if value.has(sp.I):
            raise TypeError(f"a constant of the graph must be a real number, not {value} (a complex number)")
        return value
    if isinstance(value, numbers.Real):
        return sp.sympify(value)
    if getattr(value, "shape", None) == () and getattr(getattr(value, "dtype", None), "kind", "?") in ("i", "u", "f"):
        return sp.sympify(value.item())   # a NumPy 0-d array of a real number is that number
    if isinstance(value, numbers.Complex):
        raise TypeError(f"a constant of the graph must be a real number, not {value!r} (a complex number)")
    kind = type(value).__name__
    hint = (": an array is no constant of an elementwise operation (write a number, or make the values a parameter)"
            if hasattr(value, "shape") else ": write the number itself, not its text" if isinstance(value, str) else "")
    raise TypeError(f"a constant of the graph must be a real number (an int, a float or a SymPy number), not "
                    f"{value!r:.60} ({'an' if kind[:1] in 'aeiou' else 'a'} {kind}){hint}")


def renamable(node: Node) -> Node:
    """A node that may take a name of its own: a leaf or an already named node is wrapped in an
    identity first (naming it directly would rename the leaf, or the other name's node)."""
    if node.op == "leaf" or node.name is not None:
        return Node("ew", (node,), node.shape, (("expr", placeholder(0)),))
    return node


def named(node: Node, name: str, role: str) -> Node:
    """The same operation as ``node``, carrying a name (Z1, A1, delta2, ...) for printing and reuse. A leaf
    (δ₁ = Y under the loss yhat·y) is named through the identity on it: a named copy of a leaf would be a
    new leaf, with no value."""
    if node.op == "leaf":
        return Node("ew", (node,), node.shape, (("expr", placeholder(0)),), name, role)
    return Node(node.op, node.args, node.shape, attr_items(node.attrs), name, role)


# Provenance: the simplifier and the graph's own rewrites append (rule, fact) here while a recorder
# is active (see derive.reverse.derivation).
RECORDERS: list = []


def record(rule, fact: dict):
    if RECORDERS:
        RECORDERS[-1].append((rule, fact))


def topo_order(root: Node, stop=(), more=()) -> list:
    """Nodes reachable from ``root`` (and from the roots ``more``), each after its arguments (iterative:
    graphs can be deep), each once; the arguments of a node in ``stop`` (a value already known) are not
    visited. One walk over several roots costs their union, not one walk each."""
    order, seen, stack = [], set(), [(r, False) for r in reversed([root, *more])]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        if node in stop:
            continue
        for a in reversed(node.args):
            if a not in seen:
                stack.append((a, False))
    return order


def attr_items(attrs: dict) -> tuple:
    """A node's attributes as the tuple ``Node`` takes, in the order of their names (the order equal
    nodes are built with, so that they are one node)."""
    return tuple(sorted(attrs.items(), key=_first))


def _first(item):
    return item[0]

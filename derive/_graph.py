"""The expression graph of matrix operations that every network is built from.

A node is immutable and hash-consed: building the same expression twice gives the same object, so
common subexpressions are shared for free and reverse mode can key its adjoints by node.

Operations (``Node.op``):

- ``leaf``: an input X, target Y, parameter W1 / b1 or dropout mask D1.
- ``matmul``: matrix product ``a @ b``.
- ``T``: transpose.
- ``ew``: an elementwise expression. ``attrs['expr']`` is a scalar SymPy expression in placeholder
  symbols ``_a0, _a1, ...``, one per argument node; an argument of shape (1, c), (r, 1) or (1, 1) is
  broadcast to the node's shape. Hadamard products, sums, scalar factors, activations and bias
  broadcasts are all ``ew`` nodes, so SymPy's scalar algebra simplifies them.
- ``sum``: sum over axis 0, axis 1 or all entries (``attrs['axis']`` is 0, 1 or None), keeping dims.
- ``softmax``: softmax along ``attrs['axis']``.

Every shape is a pair of SymPy expressions (an Integer, or the batch-size symbol ``m``).
"""
from __future__ import annotations

import weakref

import sympy as sp

ONE = sp.Integer(1)


class ShapeError(ValueError):
    """Two operands whose shapes do not fit together."""


def placeholder(i: int) -> sp.Symbol:
    return sp.Symbol(f"_a{i}")


def is_placeholder(s) -> bool:
    return isinstance(s, sp.Symbol) and s.name.startswith("_a")


def fmt_shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


class Node:
    """One operation of the graph. Do not construct directly: use the functions below."""

    __slots__ = ("op", "args", "shape", "attrs", "name", "role", "_key", "__weakref__")
    # Weak values: a node nobody holds any more leaves the table. Its key names its arguments by id,
    # which is safe: a node holds its arguments, so an entry dies before the ids in its key can be reused.
    _table = weakref.WeakValueDictionary()

    def __new__(cls, op, args, shape, attrs=(), name=None, role=None):
        shape = (sp.sympify(shape[0]), sp.sympify(shape[1]))
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

    # Python operators, for the graph form of declaring networks and for user formulas.
    def __matmul__(self, other):
        return matmul(self, other)

    def __add__(self, other):
        return ew(placeholder(0) + placeholder(1), [self, _lift(other, self)])

    __radd__ = __add__

    def __sub__(self, other):
        return ew(placeholder(0) - placeholder(1), [self, _lift(other, self)])

    def __rsub__(self, other):
        return ew(placeholder(1) - placeholder(0), [self, _lift(other, self)])

    def __mul__(self, other):
        return ew(placeholder(0) * placeholder(1), [self, _lift(other, self)])

    __rmul__ = __mul__

    def __truediv__(self, other):
        return ew(placeholder(0) / placeholder(1), [self, _lift(other, self)])

    def __rtruediv__(self, other):
        return ew(placeholder(1) / placeholder(0), [self, _lift(other, self)])

    def __neg__(self):
        return ew(-placeholder(0), [self])

    def __pow__(self, k):
        return ew(placeholder(0) ** sp.sympify(k), [self])

    @property
    def T(self):
        return transpose(self)


def _lift(x, like: Node) -> Node:
    """A scalar operand becomes a (1, 1) constant node, broadcast by ``ew``."""
    if isinstance(x, Node):
        return x
    return ew(sp.sympify(x), [], shape=(1, 1))


def leaf(name: str, shape, role: str, one_hot_axis=None) -> Node:
    """A named input. ``one_hot_axis``: the axis along which a target's entries sum to one."""
    attrs = (("one_hot_axis", one_hot_axis),) if one_hot_axis is not None else ()
    return Node("leaf", (), shape, attrs, name=name, role=role)


def named(node: Node, name: str, role: str) -> Node:
    """The same operation as ``node``, carrying a name (Z1, A1, delta2, ...) for printing and reuse."""
    return Node(node.op, node.args, node.shape, tuple(sorted(node.attrs.items(), key=str)), name, role)


def matmul(a: Node, b: Node) -> Node:
    if a.shape[1] != b.shape[0]:
        raise ShapeError(f"cannot multiply {a!r} {fmt_shape(a.shape)} by {b!r} {fmt_shape(b.shape)}")
    ca, ia = constant_factor(a, factor=False)
    cb, ib = constant_factor(b, factor=False)
    if ca * cb != 1:  # linearity: scalar factors move out of the product
        return ew(ca * cb * placeholder(0), [matmul(ia, ib)])
    return Node("matmul", (a, b), (a.shape[0], b.shape[1]))


def transpose(a: Node) -> Node:
    if a.op == "T":
        return a.args[0]
    c, inner = constant_factor(a, factor=False)
    if c != 1:
        return ew(c * placeholder(0), [transpose(inner)])
    return Node("T", (a,), (a.shape[1], a.shape[0]))


def reduce_sum(a: Node, axis) -> Node:
    shape = {0: (1, a.shape[1]), 1: (a.shape[0], 1), None: (1, 1)}[axis]
    c, inner = constant_factor(a, factor=False)
    if c != 1:
        return ew(c * placeholder(0), [reduce_sum(inner, axis)])
    if a.op == "ew" and not a.args:  # sum of a constant matrix
        n = {0: a.shape[0], 1: a.shape[1], None: a.shape[0] * a.shape[1]}[axis]
        return ew(a.attrs["expr"] * n, [], shape=shape)
    if a.op == "leaf" and a.attrs.get("one_hot_axis", "none") == axis:
        # The targets of a categorical loss are one-hot rows (or columns): each sums to one.
        _record("one-hot targets: each example's Y sums to 1 over the classes",
                {"text": f"Σₖ {a.name}ₖ = 1", "latex": rf"\sum_k {a.name}_k = 1", "formula": f"sum({a.name}, {axis}) = 1"})
        return ew(ONE, [], shape=shape)
    return Node("sum", (a,), shape, (("axis", axis),))


def softmax(a: Node, axis: int) -> Node:
    return Node("softmax", (a,), a.shape, (("axis", axis),))


# Provenance: the simplifier and the graph's own rewrites append (rule, before, after) here while a
# recorder is active (see derive._reverse).
_RECORDERS: list = []


def _record(rule, fact: dict):
    if _RECORDERS:
        _RECORDERS[-1].append((rule, fact))


def _broadcastable(arg_shape, shape) -> bool:
    return all(d == 1 or d == s for d, s in zip(arg_shape, shape))


def ew(expr, args, shape=None) -> Node:
    """Elementwise ``expr`` over ``args`` (placeholder i stands for args[i]).

    Anonymous ``ew`` arguments are inlined (their expression substituted), repeated arguments merged
    and unused ones dropped, so a chain of elementwise steps is one SymPy expression. Named nodes (Z1,
    A1, delta1) are never inlined: they stay shared.
    """
    expr = sp.sympify(expr)
    if shape is None:
        if not args:
            raise ShapeError("an elementwise expression with no operands needs a shape")
        shape = (max((a.shape[0] for a in args), key=lambda d: d != 1),
                 max((a.shape[1] for a in args), key=lambda d: d != 1))
    shape = (sp.sympify(shape[0]), sp.sympify(shape[1]))
    for a in args:
        if not _broadcastable(a.shape, shape):
            others = ", ".join(f"{b!r} {fmt_shape(b.shape)}" for b in args)
            raise ShapeError(f"elementwise operands do not broadcast to {fmt_shape(shape)}: {others}")
    # Inline anonymous ew arguments and merge duplicates.
    new_args: list = []
    subs = {}

    def slot(node):
        if node not in new_args:
            new_args.append(node)
        return sp.Symbol(f"_b{new_args.index(node)}")

    for i, a in enumerate(args):
        p = placeholder(i)
        if p not in expr.free_symbols:
            continue
        if a.op == "ew" and a.name is None:
            inner = a.attrs["expr"]
            subs[p] = inner.xreplace({placeholder(j): slot(b) for j, b in enumerate(a.args)})
        else:
            subs[p] = slot(a)
    expr = expr.xreplace(subs)
    used = [n for i, n in enumerate(new_args) if sp.Symbol(f"_b{i}") in expr.free_symbols]
    expr = expr.xreplace({sp.Symbol(f"_b{new_args.index(n)}"): placeholder(k) for k, n in enumerate(used)})
    if expr == placeholder(0) and len(used) == 1 and used[0].shape == shape:
        return used[0]
    return Node("ew", tuple(used), shape, (("expr", expr),))


def constant_factor(node: Node, factor: bool = True):
    """``node`` as ``(c, rest)`` with c free of its operands (1 where there is none).

    Only an anonymous ``ew`` node has a factor to give; a named one (Z1, delta1) stays whole. With
    ``factor``, the expression is first put in factored form (``factor_terms``), so that a common
    factor of a sum, (1/m)(A - Y), is found too; without it only an explicit product's factor is, as
    the graph's own rewrites need (cheap, and called on every product and transpose)."""
    if node.op != "ew" or node.name is not None or not node.args:
        return ONE, node
    expr = node.attrs["expr"]
    if factor:
        expr = sp.factor_terms(expr)
    c, rest = expr.as_independent(*[placeholder(i) for i in range(len(node.args))], as_Add=False)
    if c == 1:
        return ONE, node
    return c, ew(rest, node.args, shape=node.shape)


def topo_order(root: Node) -> list:
    """Nodes reachable from ``root``, each after its arguments (iterative: graphs can be deep)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        for a in reversed(node.args):
            if a not in seen:
                stack.append((a, False))
    return order

"""The index form of a convolutional network's equations, the way lecture notes derive them:

    Z₁[i,y,x,c] = Σ_{u,v,c'} X[i, y+u−1, x+v−1, c'] W₁[u,v,c',c] + b₁[c]
    ∂J/∂W₁[u,v,c',c] = (1/m) Σ_{i,y,x} X[i, y+u−1, x+v−1, c'] δ₁[i,y,x,c]

Each line is the derived node itself written entry by entry: every op that can be written with
indices (elementwise expressions, convolution and its two adjoints, sums, pooling, reshapes that only
drop axes of length 1) writes its own entry from its operands' entries. A node of any other op is
written as the entry of its matrix form, (…)[i, j].

Indices: i the example, y and x (t in 1-D) the position, c the channel (c' an input channel), u and
v the kernel offset.
"""
from __future__ import annotations

import sympy as sp

from derive.graph.node import placeholder
from derive.graph.symbols import m as m_sym
from derive.printing.show import printer_for

CIN = "c'"  # an input channel


def index_lines(d, style: str = "text") -> list:
    """[(lhs, rhs, note)] for each convolution layer: its pre-activation, its kernel's and bias's
    gradients, and the gradient of its input where the derivation formed one."""
    model = d.model
    p = printer_for(style)
    if not p.writes_indices:
        return []
    w = _Writer(p)
    out = []
    for layer in model.layers:
        if layer.kind != "conv":
            continue
        nd = len(dict(layer.geometry)["kernel"])
        pos, ker = _positions(nd), _offsets(nd)
        zi = ["i", *pos, "c"]
        out.append((w.indexed(p.name(layer.Z.name), zi), w.top(layer.Z, zi), ""))
        if layer.W.name in d.grads:
            wi = [*ker, "c'", "c"]
            out.append((p.gradient_name(w.indexed(p.name(layer.W.name), wi)), w.top(d.grads[layer.W.name], wi), ""))
        if layer.b is not None and layer.b.name in d.grads:
            out.append((p.gradient_name(w.indexed(p.name(layer.b.name), ["c"])), w.top(d.grads[layer.b.name], ["c"]), ""))
        conv = next((a for a in layer.Z.args if a.op == "conv"), None)
        source = conv.args[0] if conv is not None else None
        if source is not None and source.name and source in d.adjoints:
            ai = ["i", *pos, "c'"]
            out.append((p.gradient_name(w.indexed(p.name(source.name), ai)), w.top(d.adjoints[source], ai),
                        "terms whose index is out of range or not whole are 0"))
    return out


class _Writer:
    def __init__(self, p):
        self.p = p

    def indexed(self, s: str, idx) -> str:
        return self.p.indexed(s, idx)

    def sigma(self, names) -> str:
        return self.p.sum_over(names)

    def minus(self) -> str:
        return self.p.minus

    def top(self, node, idx) -> str:
        return self.entry(node, idx, top=True)[0]

    def entry(self, node, idx, top=False):
        """(string, precedence) of ``node``'s entry at ``idx``."""
        p = self.p
        if node.op == "leaf" or (node.name and not top):
            return self.indexed(p.name(node.name), idx), p.ATOM
        own = getattr(self, "_" + node.op, None)
        if own is not None:
            found = own(node, idx)
            if found is not None:
                return found
        return self.indexed(p.wrap(p.show(node, top=False)), idx), p.ATOM

    def _ew(self, node, idx):
        atoms, precs = {}, {}
        for k, a in enumerate(node.args):
            atoms[placeholder(k)], precs[placeholder(k)] = self.entry(a, _broadcast(idx, a, node))
        expr = node.attrs["expr"]
        q = type(self.p)(atoms, precs)
        s = q.doprint(expr)
        return s, (precs[expr] if expr in precs else sp.printing.precedence.precedence(expr))

    def _operand(self, node, idx):
        s, prec = self.entry(node, idx)
        return s if prec >= self.p.MUL else self.p.wrap(s)

    def _product_sum(self, summed, a, a_idx, b, b_idx):
        """Σ over ``summed`` of a[a_idx] b[b_idx]: what each convolution op is, entry by entry."""
        return self.sigma(summed) + f"{self._operand(a, a_idx)} {self._operand(b, b_idx)}", self.p.MATMUL

    @staticmethod
    def _geometry(node):
        stride, pads = node.attrs["stride"], node.attrs["padding"]
        return stride, [lo for lo, _ in pads], _offsets(len(stride))

    def _conv(self, node, idx):
        x, w = node.args
        stride, los, ker = self._geometry(node)
        where = [self._at(s, y, u, lo) for s, y, u, lo in zip(stride, idx[1:-1], ker, los)]
        return self._product_sum([*ker, CIN], x, [idx[0], *where, CIN], w, [*ker, CIN, idx[-1]])

    def _conv_weight_grad(self, node, idx):
        x, g = node.args
        stride, los, _ = self._geometry(node)
        nd, pos = len(stride), _positions(len(stride))
        where = [self._at(s, y, u, lo) for s, y, u, lo in zip(stride, pos, idx[:nd], los)]
        return self._product_sum(["i", *pos], x, ["i", *where, idx[nd]], g, ["i", *pos, idx[nd + 1]])

    def _conv_input_grad(self, node, idx):
        g, w = node.args
        stride, los, ker = self._geometry(node)
        where = [self._back(s, y, u, lo) for s, y, u, lo in zip(stride, idx[1:-1], ker, los)]
        return self._product_sum([*ker, "c"], g, [idx[0], *where, "c"], w, [*ker, idx[-1], "c"])

    def _sum(self, node, idx):
        (a,) = node.args
        axis = node.attrs["axis"]
        axes = range(a.rank) if axis is None else (axis,) if isinstance(axis, int) else axis
        names = {0: "i"} if a.shape[0] == m_sym else {}
        for k, n in enumerate(_positions(a.rank - 2) if a.rank in (3, 4) else [], 1):
            names[k] = n
        inner = list(idx)
        summed = []
        for k in axes:
            inner[k] = names.get(k, f"k{k}")
            summed.append(inner[k])
        s, prec = self.entry(a, inner)
        return self.sigma(summed) + (s if prec >= self.p.MUL else self.p.wrap(s)), self.p.MATMUL

    def _reshape(self, node, idx):
        (a,) = node.args
        if [d for d in node.shape if d != 1] != [d for d in a.shape if d != 1]:
            return None
        it = iter(i for i, d in zip(idx, node.shape) if d != 1)
        return self.entry(a, [next(it) if d != 1 else "·" for d in a.shape])

    def _max_pool(self, node, idx):
        (a,) = node.args
        window, stride = node.attrs["window"], node.attrs["stride"]
        ker = _offsets(len(window))
        where = [self._at(s, y, u, 0) for s, y, u in zip(stride, idx[1:-1], ker)]
        s, _ = self.entry(a, [idx[0], *where, idx[-1]])
        return f"max_{{{','.join(ker)}}} {s}", self.p.MATMUL

    def _at(self, s: int, y: str, u: str, lo: int) -> str:
        """The input position of output ``y`` and kernel offset ``u``: s·y + u − lo."""
        out = (f"{s}{y}" if s != 1 else y) + f"+{u}"
        return out + (f"{self.minus()}{lo}" if lo else "")

    def _back(self, s: int, y: str, u: str, lo: int) -> str:
        """The output position an input position ``y`` reaches through offset ``u``: (y + lo − u)/s."""
        inner = y + (f"+{lo}" if lo else "") + f"{self.minus()}{u}"
        return inner if s == 1 else f"({inner})/{s}"


def _positions(nd: int) -> list:
    """The position indices of a 1-D or 2-D tensor: t, or y and x."""
    return ["t"] if nd == 1 else ["y", "x"]


def _offsets(nd: int) -> list:
    """The kernel (or window) offsets: u, or u and v."""
    return ["u"] if nd == 1 else ["u", "v"]


def _broadcast(idx, arg, node):
    """The indices of a broadcast operand: its own axes, aligned on the right; length 1 is index 1."""
    extra = node.rank - arg.rank
    return [("1" if d == 1 and n != 1 else i) for i, d, n in zip(idx[extra:], arg.shape, node.shape[extra:])]

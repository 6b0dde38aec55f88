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
        pos = ("t",) if nd == 1 else ("y", "x")
        ker = ("u",) if nd == 1 else ("u", "v")
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

    def _conv(self, node, idx):
        x, w = node.args
        stride, pads = node.attrs["stride"], node.attrs["padding"]
        nd = len(stride)
        ker = ["u"] if nd == 1 else ["u", "v"]
        where = [self._at(s, y, u, lo) for s, y, u, (lo, _) in zip(stride, idx[1:-1], ker, pads)]
        body = f"{self._operand(x, [idx[0], *where, CIN])} {self._operand(w, [*ker, CIN, idx[-1]])}"
        return self.sigma([*ker, CIN]) + body, self.p.MATMUL

    def _conv_weight_grad(self, node, idx):
        x, g = node.args
        stride, pads = node.attrs["stride"], node.attrs["padding"]
        nd = len(stride)
        pos = ["t"] if nd == 1 else ["y", "x"]
        where = [self._at(s, y, u, lo) for s, y, u, (lo, _) in zip(stride, pos, idx[:nd], pads)]
        body = f"{self._operand(x, ['i', *where, idx[nd]])} {self._operand(g, ['i', *pos, idx[nd + 1]])}"
        return self.sigma(["i", *pos]) + body, self.p.MATMUL

    def _conv_input_grad(self, node, idx):
        g, w = node.args
        stride, pads = node.attrs["stride"], node.attrs["padding"]
        nd = len(stride)
        ker = ["u"] if nd == 1 else ["u", "v"]
        where = [self._back(s, y, u, lo) for s, y, u, (lo, _) in zip(stride, idx[1:-1], ker, pads)]
        body = f"{self._operand(g, [idx[0], *where, 'c'])} {self._operand(w, [*ker, idx[-1], 'c'])}"
        return self.sigma([*ker, "c"]) + body, self.p.MATMUL

    def _sum(self, node, idx):
        (a,) = node.args
        axis = node.attrs["axis"]
        axes = range(a.rank) if axis is None else (axis,) if isinstance(axis, int) else axis
        names = {0: "i"} if a.shape[0] == m_sym else {}
        spatial = ["t"] if a.rank == 3 else ["y", "x"] if a.rank == 4 else []
        for k, n in enumerate(spatial, 1):
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
        ker = ["u"] if len(window) == 1 else ["u", "v"]
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


def _broadcast(idx, arg, node):
    """The indices of a broadcast operand: its own axes, aligned on the right; length 1 is index 1."""
    extra = node.rank - arg.rank
    return [("1" if d == 1 and n != 1 else i) for i, d, n in zip(idx[extra:], arg.shape, node.shape[extra:])]

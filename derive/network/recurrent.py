"""Recurrent layers: a cell is declared by its step's equations, built from graph operations; its
backward pass is derived (``derive.reverse.recurrence``), never written.

A step function takes a ``Step`` (h⟨t−1⟩ as ``s.h``, x⟨t⟩ as ``s.x``, and helpers that make the layer's
parameters) and returns h⟨t⟩. ``SimpleRNN`` and ``GRU`` are such declarations; a user's cell is one
more, e.g. a minimal gated unit::

    def mgu(s):
        f = s.gate("f", "sigmoid")                  # f⟨t⟩ = σ(x⟨t⟩ Wxf + h⟨t−1⟩ Whf + bf)
        n = s.gate("n", "tanh", h=f * s.h)          # n⟨t⟩ = tanh(x⟨t⟩ Wxn + (f⟨t⟩ ⊙ h⟨t−1⟩) Whn + bn)
        return (1 - f) * s.h + f * n

    Network((40, 1), [Recurrent(8, mgu, name="MGU"), Dense(10, "softmax")])

Layout: inputs (batch, time, features); a layer gives its last state (batch, units) or, with
``sequences=True``, every state (batch, time, units), as Keras's ``return_sequences``. h⟨0⟩ = 0.
Parameters are named as in Karpathy's char-rnn, one per input and gate: Wxh (features, units), Whh
(units, units), bh (1, units), with the layer's number (Wxh1).
"""
from __future__ import annotations

from dataclasses import dataclass

from derive.graph.names import Name
from derive.graph.node import Node, is_placeholder, named, placeholder, renamable
from derive.graph.symbols import eps as _eps, lam as _lam, m
from derive.ops import leaf, matmul, slice_


KNOWN = (m, _lam, _eps)   # the symbols every stage gives a value: the batch size, the decay λ, a norm's ε


def finite_constants(new) -> None:
    """Refuse a step whose equations hold a constant that is no finite number (``s.h * float('nan')``),
    as a Dense layer's activation is refused: h⟨t⟩ would print as nan, and train as nothing."""
    import sympy as sp
    from derive.graph.node import topo_order
    from derive.network.functions import NON_FINITE, NetworkError
    for node in topo_order(new[0], more=new[1:]):
        expr = node.attrs.get("expr") if node.op == "ew" else None
        if isinstance(expr, sp.Basic):
            found = [c for c in NON_FINITE if expr.has(c)]
            if found:
                raise NetworkError(f"the step function's equations hold the constant {found[0]}, which is no "
                                   "finite number: write a finite constant (a large one, 1e6, if you mean a very "
                                   "large value)")
            if expr.has(sp.I):
                raise NetworkError("the step function's equations hold the imaginary unit I (a complex constant): "
                                   "write real constants")
            free = sorted(str(q) for q in expr.free_symbols if not is_placeholder(q) and q not in KNOWN)
            if free:
                raise NetworkError(f"the step function's equations hold the symbol {free[0]}, which has no value: "
                                   "write a number, or make it a parameter (s.weight, s.bias)")


class Step:
    """What a step function builds with: ``h`` = h⟨t−1⟩, ``x`` = x⟨t⟩ (leaves), the layer's parameters
    (``weight``, ``bias``, ``linear``), named gates (``gate``) and activations (``act``)."""

    def __init__(self, builder, layer: int, units: int, features: int, init, x_name: Name, kind: str,
                 parts=("h",), reverse: bool = False):
        self._g, self.layer, self.units, self.features, self._init, self.kind = builder, layer, units, features, init, kind
        # the state a step reads: h⟨t−1⟩, or h⟨t+1⟩ in a layer that runs t = T, ..., 1 (the step before it in time
        # order is the one after it in the layer's)
        before = 1 if reverse else -1
        self.declared: list = []   # the named nodes in the order the step made them, for printing
        # names a node of the step cannot take: the state's parts, the carry's and the input's, and (as they are
        # declared) each named node's own, so that no two lines of the step print the same name
        self._reserved, self._parts = {*parts, "s", x_name.base}, set(parts)
        self.x = leaf(x_name, (m, features), "step_input")
        if len(parts) == 1:
            self.carry = self.h = leaf(Name(parts[0], layer, before), (m, units), "carry")
            return
        # A state of several parts (an LSTM's h and c) is one carry s⟨t−1⟩ with the parts side by side;
        # the step reads each part by its name (s.h, s.c).
        self.carry = leaf(Name("s", layer, before), (m, units * len(parts)), "carry")
        for k, part in enumerate(parts):
            piece = slice_(self.carry, 1, k * units, (k + 1) * units)
            setattr(self, part, named(piece, Name(part, layer, before), "carry_part"))

    def weight(self, name: str, rows: int) -> Node:
        """A (rows, units) weight, ``name`` with the layer's number (Wxh → Wxh1)."""
        fans = (self.units, self.units) if self._init == "pytorch" else (rows, self.units)
        return self._g.param(Name(name, self.layer), (rows, self.units), self.layer, "weight", fans,
                             "pytorch" if self._init == "pytorch" else "glorot")

    def bias(self, name: str) -> Node:
        return self._g.param(Name(name, self.layer), (1, self.units), self.layer, "bias", (self.units, self.units),
                             "pytorch" if self._init == "pytorch" else "zeros")

    def linear(self, gate: str, x=None, h=None, bias=True) -> Node:
        """x Wx<gate> + h Wh<gate> + b<gate>, with x⟨t⟩ and h⟨t−1⟩ unless given (None: those; False: none).
        ``bias="both"``: a bias on each side, x Wx<gate> + bx<gate> + h Wh<gate> + bh<gate>, as PyTorch's and
        Keras's recurrent layers have them."""
        if bias not in (True, False, "both") or not isinstance(bias, (bool, str)):
            raise ValueError(f"the {self.kind} step: bias of gate {gate!r} must be True, False or 'both' (a bias on "
                             f"each side), not {bias!r}")
        x = self.x if x is None else x
        h = self.h if h is None else h
        terms = []
        if x is not False:
            terms.append(matmul(x, self.weight("Wx" + gate, int(x.shape[1]))))
            if bias == "both":
                terms.append(self.bias("bx" + gate))
        if h is not False:
            terms.append(matmul(h, self.weight("Wh" + gate, int(h.shape[1]))))
            if bias == "both":
                terms.append(self.bias("bh" + gate))
        if bias is True:
            terms.append(self.bias("b" + gate))
        out = terms[0]
        for t in terms[1:]:
            out = out + t
        return out

    def _claim(self, base: str, what: str) -> None:
        """Refuse a name the step's state, input or another of its nodes already has (a gate named h would
        print as the state h⟨t⟩ and be checked as it)."""
        if base in self._reserved:   # (a name that is no identifier is refused where it is made, by Name)
            owner = ("another node of the step" if base in {n.name.base for n in self.declared} else
                     "the state" if base in self._parts or base == "s" else "the step's input")
            shown = f"{base}⟨t⟩" if owner == "the step's input" else f"{base}{self.layer}⟨t⟩"
            raise ValueError(f"the {self.kind} step: a {what} cannot be named {base!r}, the name of {owner} "
                             f"({shown}); give it another name")
        self._reserved.add(base)

    def pre(self, base: str, node: Node) -> Node:
        """Name a pre-activation (z⟨t⟩, a gate's input): its adjoint is printed as an error signal δ."""
        self._claim(base, "pre-activation")
        out = named(renamable(node), Name(base, self.layer, 0), "pre")
        self.declared.append(out)
        return out

    def act(self, activation, node: Node, name: str | None = None, claimed: bool = False) -> Node:
        """``activation`` (a name, formula or SymPy function, as a Dense layer's) applied to ``node``."""
        label, fn = self._g.activation(activation, self.layer)
        out = Node("ew", (node,), node.shape, (("expr", fn.expr.xreplace({fn.variables[0]: placeholder(0)})),))
        if name:
            if not claimed:
                self._claim(name, "gate")
            out = named(out, Name(name, self.layer, 0), "gate")
            self.declared.append(out)
        return out

    def name(self, base: str, node: Node) -> Node:
        """Name a node of the step (c⟨t⟩ for ``base`` "c"), so that it prints as one line of its own."""
        if base not in self._parts:   # a part of the state (an LSTM's c) is named as the step makes it
            self._claim(base, "node")
        out = named(renamable(node), Name(base, self.layer, 0), "state_part")
        self.declared.append(out)
        return out

    def gate(self, name: str, activation, x=None, h=None, bias=True) -> Node:
        """name⟨t⟩ = activation(x Wx<name> + h Wh<name> + b<name>), its input named a<name>⟨t⟩."""
        self._claim(name, "gate")   # before its input's name a<name>: a gate named twice is named as such
        return self.act(activation, self.pre("a" + name, self.linear(name, x, h, bias)), name, claimed=True)



def simple_rnn_step(activation):
    def step(s: Step) -> Node:
        """h⟨t⟩ = act(x⟨t⟩ Wxh + h⟨t−1⟩ Whh + bh)."""
        return s.act(activation, s.pre("z", s.linear("h")))
    return step


def gru_step(s: Step) -> Node:
    """PyTorch's nn.GRU and Keras's GRU (reset_after), biases on both sides as they have them:
    r⟨t⟩ = σ(x Wxr + bxr + h Whr + bhr), u⟨t⟩ = σ(x Wxu + bxu + h Whu + bhu),
    n⟨t⟩ = tanh(x Wxn + bxn + r ⊙ (h Whn + bhn)), h⟨t⟩ = (1 − u) ⊙ n + u ⊙ h⟨t−1⟩
    (u is PyTorch's z, the update gate)."""
    r = s.gate("r", "sigmoid", bias="both")
    u = s.gate("u", "sigmoid", bias="both")
    inner = matmul(s.h, s.weight("Whn", s.units)) + s.bias("bhn")
    n = s.act("tanh", s.pre("an", matmul(s.x, s.weight("Wxn", s.features)) + s.bias("bxn") + r * inner), "n")
    return (1 - u) * n + u * s.h


def lstm_step(s: Step):
    """PyTorch's nn.LSTM and Keras's LSTM, biases on both sides as they have them:
    i⟨t⟩, f⟨t⟩, o⟨t⟩ = σ(x Wx· + bx· + h⟨t−1⟩ Wh· + bh·), g⟨t⟩ = tanh(x Wxg + bxg + h⟨t−1⟩ Whg + bhg),
    c⟨t⟩ = f ⊙ c⟨t−1⟩ + i ⊙ g, h⟨t⟩ = o ⊙ tanh(c⟨t⟩). The state is (h, c)."""
    i = s.gate("i", "sigmoid", bias="both")
    f = s.gate("f", "sigmoid", bias="both")
    g = s.gate("g", "tanh", bias="both")
    o = s.gate("o", "sigmoid", bias="both")
    c = s.name("c", f * s.c + i * g)
    return o * s.act("tanh", c), c


@dataclass(frozen=True)
class Recurrent:
    """A recurrent layer of ``units`` whose step is ``step(s) -> h⟨t⟩`` (see ``Step``); ``sequences``:
    every state rather than the last; ``reverse``: run t = T, ..., 1."""

    units: int
    step: object
    name: str = "Recurrent"
    sequences: bool = False
    reverse: bool = False
    init: str | None = None   # None: Glorot weights, zero biases; "pytorch": all uniform on ±1/sqrt(units)
    activation: str = "custom"
    state: tuple = ("h",)     # the parts of the state, e.g. ("h", "c"): the step reads s.h, s.c, returns both

    def build(self, g, inp, adds=()):
        return g.recurrent(inp, self.units, self.step, self.name, self.activation, self.sequences, self.reverse,
                           self.init, self.state)


@dataclass(frozen=True)
class SimpleRNN:
    """h⟨t⟩ = activation(x⟨t⟩ Wxh + h⟨t−1⟩ Whh + bh) (Keras's SimpleRNN, Elman's network)."""

    units: int
    activation: object = "tanh"
    sequences: bool = False
    reverse: bool = False
    init: str | None = None

    def build(self, g, inp, adds=()):
        label = g.activation(self.activation, g.next_layer)[0]
        return g.recurrent(inp, self.units, simple_rnn_step(self.activation), "SimpleRNN", label, self.sequences,
                           self.reverse, self.init)


@dataclass(frozen=True)
class GRU:
    """A gated recurrent unit, as PyTorch's ``nn.GRU`` and Keras's GRU (reset_after) compute it."""

    units: int
    sequences: bool = False
    reverse: bool = False
    init: str | None = None

    def build(self, g, inp, adds=()):
        return g.recurrent(inp, self.units, gru_step, "GRU", "gru", self.sequences, self.reverse, self.init)


@dataclass(frozen=True)
class LSTM:
    """A long short-term memory layer, as PyTorch's ``nn.LSTM`` and Keras's LSTM compute it; its state
    is (h, c), and it gives h."""

    units: int
    sequences: bool = False
    reverse: bool = False
    init: str | None = None

    def build(self, g, inp, adds=()):
        return g.recurrent(inp, self.units, lstm_step, "LSTM", "lstm", self.sequences, self.reverse, self.init,
                           ("h", "c"))


@dataclass(frozen=True)
class Bidirectional:
    """A recurrent layer run both ways: layer l forward (t = 1..T), layer l+1 backward (t = T..1), their
    outputs side by side (layer l+2), as Keras's ``Bidirectional`` (merge_mode="concat")."""

    layer: object

    def __post_init__(self):
        import dataclasses
        if not (dataclasses.is_dataclass(self.layer) and not isinstance(self.layer, type)
                and hasattr(self.layer, "reverse") and callable(getattr(self.layer, "build", None))):
            what = "nothing" if self.layer is None else f"the class {self.layer.__name__}" \
                if isinstance(self.layer, type) else type(self.layer).__name__
            from derive.network.functions import NetworkError
            raise NetworkError(f"Bidirectional wraps a recurrent layer (SimpleRNN, GRU, LSTM, Recurrent), "
                               f"not {what}: write Bidirectional(GRU(8)), say")

    def build(self, g, inp, adds=()):
        import dataclasses
        fwd = self.layer.build(g, inp)
        bwd = dataclasses.replace(self.layer, reverse=not self.layer.reverse).build(g, inp)
        return g.concat([fwd, bwd])


__all__ = ["GRU", "LSTM", "Bidirectional", "Recurrent", "SimpleRNN", "Step", "gru_step", "lstm_step",
           "simple_rnn_step"]

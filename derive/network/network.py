"""Declaring a network: layers are sugar that build one expression graph of matrix operations.

Two forms share one builder. The sequential shorthand::

    net = Network(2, [Dense(2, "tanh"), Dense(2, "softmax")], loss="ce")

and the general graph form, where any node may feed any later one::

    g = Builder(2)
    a1 = g.dense(g.X, 3, "tanh")
    a2 = g.dense(a1, 3, "tanh", add=[a1])        # skip connection into Z2
    model = g.output(g.dense(a2, 1, "sigmoid"), loss="bce")

A layer is anything with ``build(builder, input, adds) -> output``: it adds its nodes to the graph
and registers its parameters with ``builder.param(...)`` (a ``Param`` record: shape, fans,
initialisation). ``Dense`` is the first such layer; a name registered twice is one shared parameter.

Conventions: ``rows`` puts examples in rows (X is (m, n), Z = X W + b, W is (in, out)); ``columns``
puts them in columns (X is (n, m), Z = W A + b, W is (out, in)). The same declaration builds either.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import sympy as sp

from derive.network import functions as F
from derive.formula.parse import parse_loss
from derive.network.functions import NetworkError
from derive.graph.build import Node, ShapeError, fmt_shape, leaf, matmul, named, placeholder
from derive.graph.node import renamable, topo_order
from derive.ops import avg_pool as avg_pool_op, conv as conv_op, flatten as flatten_op, max_pool as max_pool_op
from derive.ops.conv import positive_ints
from derive.ops import concat as concat_op, make_cell, reshape as reshape_op, scan as scan_op, slice_ as slice_op
from derive.network.recurrent import Step, finite_constants
from derive.network.parts import Layer, _activation, _flag, _plain_ints, _positive_int  # noqa: F401 - re-exported
from derive.network.parts import plain_variables
from derive.graph.names import SHOWN, Name, as_name, clip, hidden_character, hidden_said, shown
from derive.reverse.derivation import derive as _derive
from derive.network.functions import HE_ACTIVATIONS
from derive.graph.symbols import lam, m
CONVENTIONS = ("rows", "columns")
# The weight decay's forms, each its coefficient of ΣW² in J (biases are not decayed).
L2_FORMS = {"lambda/(2m)": lam / (2 * m), "lambda/2": lam / 2, "lambda": lam}
RECURRENT_KINDS = ("SimpleRNN", "GRU", "LSTM")
POOL_KINDS = ("max", "avg")


def _layer_activation(act, l: int, what: str):
    """(printed name, Lambda or None) of layer l's activation, as ``_activation`` reads it; an activation refused
    is refused naming the layer (l and what it is), where the message does not name it already."""
    from derive.formula.errors import FormulaError
    try:
        name, fn = _activation(_sized(act, f"layer {l}: activation"))
        if fn is not None:
            F.derivative(fn, 0, f"layer {l} activation")  # refuse what SymPy cannot differentiate
    except FormulaError as exc:
        if f"layer {l}" in exc.message:
            raise
        raise FormulaError(exc.text, exc.col, f"layer {l} ({what}): activation: {exc.message}") from None
    except NetworkError as exc:
        if f"layer {l}" in str(exc):
            raise
        raise NetworkError(f"layer {l} ({what}): {exc}") from None
    return name, fn


@dataclass(frozen=True)
class Dense:
    """A dense layer: ``units`` outputs, an activation (table name, SymPy Lambda, expression in z, or
    a formula string in z), optional dropout probability, and optional skip connections: the outputs
    of earlier layers (0 = the input X) added to this layer's Z."""

    units: int
    activation: object = "identity"
    dropout: float | None = None
    skip_from: tuple = ()
    init: str | None = None   # None: He or Glorot by activation, zero biases; "pytorch": PyTorch's default
    use_bias: bool = True     # False: Z = A W, no b (as d2l's and some papers' layers)

    def build(self, g: "Builder", inp: Node, adds=()) -> Node:
        """The layer protocol: add this layer's nodes and parameters to ``g``; return its output."""
        return g.dense(inp, self.units, self.activation, self.dropout, adds, init=self.init, bias=self.use_bias)


@dataclass(frozen=True)
class TimeDistributed:
    """A dense layer applied at every step of a (batch, time, features) input with the same W and b, as Keras's
    ``TimeDistributed(Dense(...))`` and CS231n's temporal affine layer: Z⟨t⟩ = X⟨t⟩ W + b. A dense layer after a
    recurrent layer that gives every state already applies at every step; this declares it on the input."""

    layer: Dense

    def __post_init__(self):
        if isinstance(self.layer, type):   # TimeDistributed(Dense): the class, not a layer
            raise NetworkError(f"TimeDistributed wraps a Dense layer, not the class {self.layer.__name__}: write "
                               f"TimeDistributed({self.layer.__name__}(...))")
        if not isinstance(self.layer, Dense):
            raise NetworkError(f"TimeDistributed wraps a Dense layer, not {type(self.layer).__name__}")

    def __getattr__(self, name):   # units, activation, dropout, ...: the wrapped layer's
        if name == "layer":
            raise AttributeError(name)
        return getattr(self.layer, name)

    def build(self, g: "Builder", inp: Node, adds=()) -> Node:
        if inp.rank != 3:
            raise NetworkError(f"layer {len(g.layers) + 1} (TimeDistributed Dense {self.layer.units}) takes "
                               f"(batch, time, features) inputs; its input is {fmt_shape(inp.shape)}")
        g._sequences.add(inp)
        return self.layer.build(g, inp, adds)


@dataclass(frozen=True)
class Param:
    """A trainable parameter as every numeric stage reads it: initialisation, check points, verify,
    check-code and code generation take shape, fans and initialisation from here, not from a layer's
    fields or its name."""

    node: Node        # the leaf
    layer: int
    kind: str         # "weight" or "bias"
    fan_in: int
    fan_out: int
    init: str         # "he" (normal, std sqrt(2/fan_in)), "glorot" (uniform), "zeros", "ones" (γ), or "pytorch"
                      # (uniform on ±1/sqrt(fan_in), weights and biases: PyTorch's Linear and Conv default)

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def shape(self) -> tuple:
        return tuple(int(d) for d in self.node.shape)


@dataclass
class Model:
    """A built graph: what derivation, printing and lowering read."""

    convention: str
    X: Node
    Y: Node
    J: Node
    loss_name: str
    loss_fn: sp.Lambda
    layers: list
    params: list               # leaves, in printing order W1, b1, W2, b2, ...
    masks: list
    l2: float | None
    forward: list = field(default_factory=list)   # named nodes in evaluation order
    constants: dict = field(default_factory=dict)  # symbol -> value (lambda, ...)
    records: list = field(default_factory=list)   # Param, one per node of ``params``, same order
    l2_form: str = "lambda/(2m)"                  # the weight decay's form (L2_FORMS)
    vocab: int | None = None                      # the input holds indices into an embedding of this many rows
    reduction: str = "mean"                       # J averages over the batch ("mean"), or sums ("sum")

    @property
    def prediction(self) -> Node:
        return self.layers[-1].A

    @property
    def input_shape(self) -> tuple:
        """One example's input shape: (features,), or (length, channels), (height, width, channels)."""
        return tuple(int(d) for d in (self.X.shape[1:] if self.convention == "rows" else self.X.shape[:1]))

    @property
    def sizes(self) -> list:
        """The input size (its shape where it has several axes), then each layer's units or channels."""
        shape = self.input_shape
        return [shape[0] if len(shape) == 1 else shape] + [l.units for l in self.layers]

    @property
    def size_text(self) -> str:
        """The sizes as a spec writes them: 64-128-10, or 8x8x1-32-32-... for a shaped input."""
        return "-".join(_x(s) if isinstance(s, tuple) else str(s) for s in self.sizes)

    @property
    def short_size_text(self) -> str:
        """``size_text`` with a run of four or more equal sizes written once with its count, for messages:
        512 (x101)-10 for an input of 512, a hundred layers of 512 and one of 10."""
        sizes = [_x(s) if isinstance(s, tuple) else str(s) for s in self.sizes]
        runs = []
        for s in sizes:
            if runs and runs[-1][0] == s:
                runs[-1][1] += 1
            else:
                runs.append([s, 1])
        return "-".join(f"{s} (x{n})" if n >= 4 else "-".join([s] * n) for s, n in runs)

    def summary(self) -> list:
        """One row per layer, as Keras's model summary: (layer, output shape of one example, its parameters
        with their shapes, how many numbers they hold). Shared weights count where they first appear."""
        rows, seen = [], set()
        for layer in self.layers:
            shape = tuple(int(d) for d in (layer.A.shape[1:] if self.convention == "rows" else layer.A.shape[:-1]))
            own = [r for r in self.records if r.layer == layer.index and r.name not in seen]
            seen.update(r.name for r in own)
            what = layer.kind.replace("_", " ")
            if layer.activation not in (layer.kind, "identity", "maxpool", "embedding", "flatten", "concat", None):
                what += f" ({layer.activation})"
            names = [f"{r.name} {_x(r.shape)}" for r in own]
            text = ", ".join(names)
            if len(text) > 40:  # a recurrent cell's dozen arrays: the first and how many more
                text = ", ".join(names[:2]) + f", +{len(names) - 2} more"
            rows.append((f"{layer.index} {what}", shape, text, sum(math.prod(r.shape) for r in own)))
        return rows

    def summary_text(self) -> str:
        """The summary as a plain table, ending with the total number of parameters."""
        rows = [("layer", "output", "parameters", "count")] + [
            (a, _x(b) if b else "1", c or "-", f"{d:,}") for a, b, c, d in self.summary()]
        width = [max(len(r[k]) for r in rows) for k in range(4)]
        lines = ["  ".join(r[k].ljust(width[k]) if k < 3 else r[k].rjust(width[k]) for k in range(4)).rstrip()
                 for r in rows]
        total = sum(math.prod(r.shape) for r in self.records)
        return "\n".join(lines + [f"{total:,} parameters"])

    @property
    def reads_sequence(self) -> bool:
        """A (batch, time, features) input that no convolution or pooling reads: a recurrent layer's, or dense
        layers' at every step (TimeDistributed); a 1-D convolution's (batch, length, channels) is not."""
        return len(self.input_shape) == 2 and not any(l.kind in ("conv", "max_pool", "avg_pool") for l in self.layers)

    @property
    def is_dense(self) -> bool:
        """Every layer a Dense (or custom) one on flat inputs: the matrix form of the checks applies."""
        return len(self.input_shape) == 1 and all(l.kind in ("dense", "custom") for l in self.layers)


def _sized(spec, label: str):
    """``spec`` itself, once a SymPy expression given from Python is found within a formula's limits."""
    if isinstance(spec, sp.Basic):
        F.size_checked(spec, label)
    return spec


def _loss(spec):
    if isinstance(spec, str):
        text = spec.strip()
        if text in F.LOSSES or text.isidentifier() and text not in ("yhat", "y"):
            # an unknown name refused with the valid ones (a name past any loss's, by its start)
            return text, F.loss(text if len(text) <= SHOWN else clip(text))
        return text, parse_loss(text)
    plain_variables(spec, "the loss")
    fn = F.loss(_sized(spec, "the loss"))
    return str(fn.expr), fn


INITS = (None, "pytorch")

# Where an output activation is tried before ce or bce takes its log: a value there outside (0, 1) proves
# the loss can be undefined (the log of 0 or of a negative number) or meaningless (ce of an output above 1).
RANGE_POINTS = tuple(map(sp.Rational, ("-3", "-1", "-1/2", "0", "1/2", "1", "3")))


def _nonpositive(value) -> bool:
    v = sp.sympify(value).evalf(15)
    return bool(v.is_real and v <= 0)


def _log_loss_output(layers, loss_name, loss_fn=None) -> None:
    """Refuse ce or bce on an output that is no probability: they take log(ŷ) (bce log(1 − ŷ) too), so the
    last layer must give values in (0, 1) (softmax, sigmoid). The layer that decides is the last one with an
    activation; flatten and pooling pass its range on unchanged. An activation is refused only on evidence:
    a value outside (0, 1) at one of RANGE_POINTS (tanh(−1) < 0, relu(−1) = 0, softplus(1) > 1); a formula
    whose range this cannot decide is let through, and so is a layer of another kind (a custom or
    recurrent layer). Dropout on that layer is refused: it makes an output 0, or scales it past 1."""
    logs = []   # a loss written as a formula: the arguments of its logs that hold the prediction
    if loss_name not in ("ce", "bce"):
        if loss_fn is None:
            return
        p = loss_fn.variables[0]
        logs = [f.args[0] for f in loss_fn.expr.atoms(sp.log) if p in f.args[0].free_symbols]
        if not logs:
            return
    last = next((l for l in reversed(layers) if l.kind not in ("flatten", "max_pool", "avg_pool")), None)
    if last is None or last.kind not in ("dense", "conv", "batch_norm", "layer_norm", "attention") or last.Z is None:
        return
    if last.mask is not None:
        # Inverted dropout multiplies each output by 0 or 1/keep: 0 is outside the log's domain, and an output
        # of sigmoid scaled past 1 is outside log(1 − ŷ)'s: the loss is NaN or infinite from the first step.
        loss_text = loss_name if loss_name in ("ce", "bce") else str(loss_fn.expr)
        where = "the output layer" if last is layers[-1] else "the layer that gives the outputs"
        try:   # a log of 1 − ŷ (bce's), whose argument is 0 at ŷ = 1
            above = loss_name == "bce" or any(
                _nonpositive(arg.xreplace({loss_fn.variables[0]: 1, loss_fn.variables[1]: 0})) for arg in logs)
        except (TypeError, ValueError, ArithmeticError):
            above = False
        raise NetworkError(
            f"layer {last.index} ({last.kind.replace('_', ' ')}, {last.activation}): no dropout on {where} with the "
            f"loss {loss_text}: the loss takes the log of its outputs, which must stay in (0, 1), and dropout makes a "
            f"dropped output 0 (log 0 = −∞) and scales a kept one by 1/keep = {float(1 / last.keep):.3g}"
            + (" (past 1, where log(1 − ŷ) is undefined)" if above else "") + "; put the dropout on the layer before")
    if last.fn is None:   # softmax
        return
    var = last.fn.variables[0]
    for point in RANGE_POINTS:
        try:
            v = sp.sympify(last.fn.expr.xreplace({var: point})).evalf(15)
            if not (v.is_real and v.is_finite):
                continue
            bad = next((arg for arg in logs for t in (0, 1)
                        if _nonpositive(arg.xreplace({loss_fn.variables[0]: v, loss_fn.variables[1]: t}))), None)
            outside = bad is not None if logs else v <= 0 or v > 1 or (loss_name == "bce" and v >= 1)
        except (TypeError, ValueError, ArithmeticError):   # a value SymPy cannot compare: undecided
            continue
        if outside and logs:
            what = "no activation (identity)" if last.activation == "identity" else f"the activation {last.activation}"
            raise NetworkError(
                f"the loss {loss_fn.expr} takes log({bad}), which must be positive, but layer {last.index} "
                f"({last.kind.replace('_', ' ')}) has {what}: at z = {point} the output is {float(v):.3g}, "
                f"where log({bad}) is undefined. Use an output activation with values in (0, 1) (sigmoid, "
                "softmax), or a loss without the log")
        if outside:
            what = "no activation (identity)" if last.activation == "identity" else f"the activation {last.activation}"
            role = "the output layer" if last is layers[-1] else "whose values the output passes on"
            raise NetworkError(
                f"the loss {loss_name} takes the log of the network's output" + (" and of 1 minus it" if loss_name ==
                "bce" else "") + f", which must be a probability, but layer {last.index} ({last.kind.replace('_', ' ')}, "
                f"{role}) has {what}, whose values are not all in (0, 1): at z = {point} it gives {float(v):.3g}. Use "
                "softmax (with ce) or sigmoid (with bce) on the output layer, or the loss mse for outputs of any range")


def _inits(init, activation: str, where: str) -> tuple:
    """(weight init, bias init): He normal before relu-like activations, else Glorot uniform, zero
    biases; or ``"pytorch"``: both uniform on ±1/sqrt(fan_in), as PyTorch's Linear and Conv layers."""
    if init not in INITS:
        raise NetworkError((f"{where}: " if where else "")
                           + f"init must be None (He or Glorot by activation) or 'pytorch', not {init!r}")
    if init == "pytorch":
        return "pytorch", "pytorch"
    return ("he" if activation in HE_ACTIVATIONS else "glorot"), "zeros"


def _decay(l2):
    """The L2 weight decay as a float (None for none), or a NetworkError naming the value."""
    if l2 is None:
        return None
    import math
    try:
        ok = not isinstance(l2, (bool, str)) and math.isfinite(float(l2)) and float(l2) >= 0
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise NetworkError(f"l2 (the weight decay λ) must be a finite number >= 0, not {l2!r}")
    return float(l2) or None


def input_shape(n_inputs) -> tuple:
    """An input size (an int) or shape ((length, channels) or (height, width, channels)) as a tuple."""
    if isinstance(n_inputs, (tuple, list)):
        if not 1 <= len(n_inputs) <= 3:
            raise NetworkError(f"the input shape must be (features,), (length, channels) or (height, width, "
                               f"channels), not {tuple(n_inputs)!r}")
        return tuple(_positive_int(d, "each size of the input shape") for d in n_inputs)
    return (_positive_int(n_inputs, "the input size"),)


def _x(shape) -> str:
    return "x".join(map(str, shape))


class Builder:
    """Builds a Model node by node (the general graph form)."""

    def __init__(self, n_inputs, convention: str = "rows"):
        if convention not in CONVENTIONS:
            raise NetworkError(f"unknown convention {convention!r}; valid: {', '.join(CONVENTIONS)}")
        shape = input_shape(n_inputs)
        if len(shape) > 1 and convention != "rows":
            raise NetworkError(f"an input of shape {_x(shape)} is laid out as Keras lays it out, examples first "
                               "and channels last: build it in the rows convention")
        self.convention = convention
        self.rows = convention == "rows"
        self.X = leaf(Name("X"), (m, *shape) if self.rows else (shape[0], m), "input")
        self.layers: list = []
        self.forward: list = []
        self.records: list = []   # Param, in the order the parameters were made (W1, b1, W2, ...)
        self._layer_of = {self.X: 0}
        self._sequences: set = set()   # outputs with a time axis (batch, time, units): every state of a recurrence
        self.constants: dict = {}      # symbol -> value: a normalization's ε
        self.vocab: int | None = None  # the input holds indices into an embedding of this many rows

    def param(self, name: Name, shape, layer: int, kind: str, fans: tuple, init: str) -> Node:
        """The leaf of a trainable parameter, registered with its record (``Param``). A name given
        again is the same parameter: that is how weights are shared (every time step of an RNN). A name given as
        text (a custom layer's ``"W3"``) is read by the rules of ``Name``: it becomes a Python name in generated code."""
        try:
            name = as_name(name)
        except ValueError as exc:
            raise NetworkError(f"parameter {exc}") from None
        for r in self.records:
            if r.name == name:
                parts = lambda n: (getattr(n, "base", None), getattr(n, "layer", None))   # noqa: E731
                if parts(r.name) != parts(name) and None not in parts(r.name) + parts(name):
                    # two names spelled alike: gate f1 of layer 1 and gate f of layer 11 both make Wxf11
                    raise NetworkError(f"its parameter {name} is spelled as layer {r.layer}'s, another "
                                       "parameter: a name ending in digits runs into the layer's number; give the gate "
                                       "or part a name that ends in a letter")
                if r.node.shape != tuple(sp.sympify(d) for d in shape):
                    raise NetworkError(f"parameter {name} is shared with shape {fmt_shape(r.node.shape)}, "
                                       f"and asked for again with shape {fmt_shape(shape)}")
                return r.node
        node = leaf(name, shape, "param")
        self.records.append(Param(node, layer, kind, fans[0], fans[1], init))
        return node

    @property
    def next_layer(self) -> int:
        """The index the next layer will have."""
        return len(self.layers) + 1

    def add_layer(self, pre: Node, act, activation: str = "custom", W=None, b=None) -> Node:
        """Record a layer a custom layer built: ``pre`` is named Z_l, ``act(Z_l)`` A_l, both join the
        forward pass, and the layer is listed like a Dense one. Returns A_l."""
        l = self.next_layer
        if not isinstance(activation, str):
            raise NetworkError(f"layer {l} (custom): activation (the name printed for it) must be a str, "
                               f"not {activation!r}")
        self._own(pre, l, activation, "pre")
        if not callable(act):
            raise NetworkError(f"layer {l} ({activation}): act must be a function of the node Z_l that returns "
                               f"A_l, not {act!r}")
        Z = named(pre, Name("Z", l), "pre")
        try:
            out = act(Z)
        except (NetworkError, ShapeError) as exc:
            raise NetworkError(f"layer {l} ({activation}): {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the user's function failed: say so, keep its traceback
            raise NetworkError(f"layer {l} ({activation}): act raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(out, Node):
            raise NetworkError(f"layer {l} ({activation}): act returned {out!r:.60}, not a graph node (A_l, built "
                               "from Z_l)")
        self._own(out, l, activation, "what act returned")
        A = named(out, Name("A", l), "act")
        self.layers.append(Layer(l, int(self._units(A)), activation, None, Z, A, W, b, kind="custom"))
        self.forward += [Z, A]
        self._layer_of[A] = l
        return A

    def _units(self, node: Node):
        return node.shape[-1] if self.rows else node.shape[0]

    def _own(self, node, l: int, what: str, arg: str = "its input") -> Node:
        """Refuse what is no node of this builder's graph: a list or a number, or a node another Builder
        made (its input or its parameters are not this builder's, so the derivation would mix two graphs)."""
        if not isinstance(node, Node):
            raise NetworkError(f"layer {l} ({what}): {arg} must be a node of this Builder (its X, or what one of its "
                               f"methods returned), not {node!r}")
        mine = {r.node for r in self.records}
        for n in topo_order(node, stop=self._layer_of):
            if n in self._layer_of or n.op != "leaf":
                continue
            if (n.role == "input" and n is not self.X) or (n.role == "param" and n not in mine):
                raise NetworkError(f"layer {l} ({what}): {arg}, {node!r}, was made by another Builder (its "
                                   f"{'input' if n.role == 'input' else 'parameter'} {n!r} is not this one's): "
                                   "build each network from one Builder")
        return node

    def _adds(self, add, l: int, what: str) -> list:
        """``add``: the nodes a layer adds to its Z, each one of this builder's."""
        if isinstance(add, Node) or not isinstance(add, (list, tuple)):
            raise NetworkError(f"layer {l} ({what}): add must be a list of this Builder's nodes, not {add!r}")
        return [self._own(a, l, what, f"add[{k}]") for k, a in enumerate(add)]

    def _label(self, node: Node) -> str:
        k = self._layer_of.get(node)
        return "the input X" if k == 0 else f"layer {k}" if k else repr(node)

    def _takes(self, inp: Node, rank: int, what: str, l: int):
        """Refuse an input of the wrong rank, naming the layer, the input and the fix."""
        if inp.rank == rank:
            return
        layout = {2: "(batch, features)", 3: "(batch, length, channels)", 4: "(batch, height, width, channels)"}
        if what.split()[0] in RECURRENT_KINDS or what.startswith("Recurrent"):
            layout[3] = "(batch, time, features)"
            if inp is self.X and inp.rank == 2:
                raise NetworkError(f"layer {l} ({what}) takes (batch, time, features) inputs; the input X is "
                                   f"{fmt_shape(inp.shape)}: declare the input with its shape, e.g. Network((40, 1), "
                                   "...) or the spec 40x1-... (40 steps of one feature)")
            if inp.rank == 2:
                raise NetworkError(f"layer {l} ({what}) takes (batch, time, features) inputs; its input, "
                                   f"{self._label(inp)}, is {fmt_shape(inp.shape)}, one vector per example: a "
                                   "recurrent layer below it must give every state (sequences=True, :seq in a spec)")
        recurrent = what.split()[0] in RECURRENT_KINDS or what.startswith("Recurrent")
        shown = "x".join(str(d) for d in inp.shape[1:])
        fix = ("put a Flatten() before it" if rank == 2 and inp.rank > 2 else
               "declare the input with its shape, e.g. Network((8, 8, 1), ...) or the spec 8x8x1-..."
               if inp is self.X and inp.rank == 2 else "convolutions and pooling come before the Flatten"
               if inp.rank == 2 else
               f"a recurrent layer reads a sequence of vectors: declare the input as steps of features (a {shown} "
               f"image as {inp.shape[1]} steps of {'·'.join(str(d) for d in inp.shape[2:])} features, the spec "
               f"{inp.shape[1]}x{sp.Mul(*inp.shape[2:])}-...)" if recurrent else
               f"declare the input with its channels, {shown}x1 for one channel (the spec {shown}x1-...)"
               if inp is self.X and inp.rank == rank - 1 else
               f"this {rank - 2}-D layer needs a {rank - 2}-D input, and this one is {inp.rank - 2}-D (use the "
               f"{inp.rank - 2}-D layer: {'Conv1D, MaxPool1D' if inp.rank == 3 else 'Conv2D, MaxPool2D'})")
        raise NetworkError(f"layer {l} ({what}) takes {layout.get(rank, f'rank {rank}')} inputs; its input, "
                           f"{self._label(inp)}, is {fmt_shape(inp.shape)}: {fix}")

    def dense(self, inp: Node, units: int, act="identity", dropout=None, add=(), init=None, bias=True) -> Node:
        """Append layer l: Z_l = inp W_l + b_l (+ each node in ``add``), A_l = act(Z_l)."""
        l = len(self.layers) + 1
        units = _positive_int(units, f"layer {l}: the number of units")
        self._own(inp, l, f"Dense {units}")
        add = self._adds(add, l, f"Dense {units}")
        if not (inp.rank == 3 and inp in self._sequences):  # a sequence: the layer applies at every step
            self._takes(inp, 2, f"Dense {units}", l)
        n_in = self._units(inp)
        name, fn = _layer_activation(act, l, f"Dense {units}")
        if name == "softmax" and units == 1:
            raise NetworkError(f"layer {l}: softmax over 1 unit is the constant 1; use sigmoid")
        w_init, b_init = _inits(init, name, f"layer {l}")
        fans = (int(n_in), units)
        _flag(bias, f"layer {l}: use_bias")
        b = None
        if self.rows:
            W = self.param(Name("W", l), (n_in, units), l, "weight", fans, w_init)
            if bias:
                b = self.param(Name("b", l), (1, units), l, "bias", fans, b_init)
            lin = matmul(inp, W)
        else:
            W = self.param(Name("W", l), (units, n_in), l, "weight", fans, w_init)
            if bias:
                b = self.param(Name("b", l), (units, 1), l, "bias", fans, b_init)
            lin = matmul(W, inp)
        terms = [lin] + ([b] if b is not None else [])
        for extra in add:
            if extra.shape != lin.shape:
                raise NetworkError(
                    f"layer {l} ({units} units) cannot add the output of {self._label(extra)} "
                    f"({self._units(extra)} units): shapes {fmt_shape(lin.shape)} and {fmt_shape(extra.shape)}")
            terms.append(extra)
        expr = sp.Add(*[placeholder(i) for i in range(len(terms))])
        Z = Node("ew", terms, lin.shape, (("expr", expr),), name=Name("Z", l), role="pre")
        mask = keep = None
        if name == "softmax" and dropout:
            raise NetworkError(f"layer {l}: dropout on a softmax layer would break its outputs' sum of 1; "
                               "put the dropout on the layer before")
        if name == "softmax":
            A = Node("softmax", (Z,), Z.shape, (("axis", Z.rank - 1 if self.rows else 0),), name=Name("A", l),
                     role="act")
        elif dropout is not None and dropout is not False and dropout != 0:
            import numbers
            if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 < dropout < 1:
                raise NetworkError(f"layer {l}: dropout probability must be in (0, 1), not {dropout!r}")
            # Inverted dropout: the mask holds 0 or 1/(1-p), so the expected activation is unchanged.
            keep = 1 - dropout
            mask = leaf(Name("D", l), Z.shape, "mask", keep=keep)
            A = Node("ew", (Z, mask), Z.shape, (("expr", fn.expr.xreplace({fn.variables[0]: placeholder(0)})
                                                  * placeholder(1)),), name=Name("A", l), role="act")
        else:
            A = Node("ew", (Z,), Z.shape, (("expr", fn.expr.xreplace({fn.variables[0]: placeholder(0)})),),
                     name=Name("A", l), role="act")
        self.layers.append(Layer(l, units, name, fn, Z, A, W, b, mask, keep))
        self.forward += [Z, A]
        self._layer_of[A] = l
        if inp in self._sequences:
            self._sequences.add(A)
        return A

    def conv(self, inp: Node, filters: int, kernel, stride=1, padding="valid", act="identity", nd: int = 2,
             add=(), init=None, bias=True) -> Node:
        """Append a convolution layer l: Z_l = inp ∗ W_l + b_l (cross-correlation, channels last),
        A_l = act(Z_l). W_l is (*kernel, c_in, filters), b_l is (filters,)."""
        l = len(self.layers) + 1
        what = f"Conv{nd}D {filters}"
        filters = _positive_int(filters, f"layer {l} ({what}): the number of filters")
        if not self.rows:
            raise NetworkError(f"layer {l} ({what}): convolutions are built in the rows convention "
                               "(examples first, channels last)")
        self._own(inp, l, what)
        add = self._adds(add, l, what)
        self._takes(inp, nd + 2, what, l)
        kernel, stride, padding = _plain_ints(kernel), _plain_ints(stride), _plain_ints(padding)
        try:
            kernel = positive_ints(kernel, nd, "the kernel size")
            name, fn = _activation(_sized(act, "activation"))
            if fn is None:
                raise NetworkError("softmax belongs on the output Dense layer, not on a convolution")
            F.derivative(fn, 0, f"layer {l} activation")
            c_in = int(inp.shape[-1])
            size = 1
            for k in kernel:
                size *= k
            fans = (size * c_in, size * filters)
            w_init, b_init = _inits(init, name, None)
            _flag(bias, "use_bias")
            W = self.param(Name("W", l), (*kernel, c_in, filters), l, "weight", fans, w_init)
            b = self.param(Name("b", l), (filters,), l, "bias", fans, b_init) if bias else None
            lin = conv_op(inp, W, stride, padding)
        except (ShapeError, NetworkError) as exc:
            raise NetworkError(f"layer {l} ({what}): {exc}") from None
        terms = [lin] + ([b] if b is not None else [])
        for extra in add:
            if extra.shape != lin.shape:
                raise NetworkError(f"layer {l} ({what}) cannot add the output of {self._label(extra)}: shapes "
                                   f"{fmt_shape(lin.shape)} and {fmt_shape(extra.shape)}")
            terms.append(extra)
        expr = sp.Add(*[placeholder(i) for i in range(len(terms))])
        Z = Node("ew", terms, lin.shape, (("expr", expr),), name=Name("Z", l), role="pre")
        A = Node("ew", (Z,), Z.shape, (("expr", fn.expr.xreplace({fn.variables[0]: placeholder(0)})),),
                 name=Name("A", l), role="act")
        geometry = (("kernel", kernel), ("stride", lin.attrs["stride"] if lin.op == "conv" else stride),
                    ("padding", lin.attrs["padding"] if lin.op == "conv" else padding), ("padding_spec", padding))
        self.layers.append(Layer(l, filters, name, fn, Z, A, W, b, kind="conv", geometry=geometry))
        self.forward += [Z, A]
        self._layer_of[A] = l
        return A

    def pool(self, inp: Node, kind: str = "max", size=2, stride=None, nd: int = 2) -> Node:
        """Append a pooling layer l: A_l = maxpool(inp) or avgpool(inp), windows of ``size`` every
        ``stride`` entries (default: the size), no padding."""
        l = len(self.layers) + 1
        if not isinstance(kind, str) or kind not in POOL_KINDS:
            raise NetworkError(f"layer {l} (pooling): kind must be one of {', '.join(map(repr, POOL_KINDS))} "
                               f"(max or average pooling), not {kind!r}")
        size, stride = _plain_ints(size), _plain_ints(stride)
        what = f"{'Max' if kind == 'max' else 'Avg'}Pool{nd}D {size}"
        self._own(inp, l, what)
        self._takes(inp, nd + 2, what, l)
        try:
            out = (max_pool_op if kind == "max" else avg_pool_op)(inp, size, stride)
        except ShapeError as exc:
            raise NetworkError(f"layer {l} ({what}): {exc}") from None
        A = named(out, Name("A", l), "pool")
        geometry = (("window", out.attrs["window"]), ("stride", out.attrs["stride"]))
        self.layers.append(Layer(l, int(inp.shape[-1]), f"{kind}pool", None, None, A, None, None,
                                 kind=f"{kind}_pool", geometry=geometry))
        self.forward.append(A)
        self._layer_of[A] = l
        return A

    def flatten(self, inp: Node) -> Node:
        """Append a flatten layer l: A_l = flatten(inp), (batch, h, w, c) -> (batch, h·w·c), row-major
        over height, width and channels as Keras flattens."""
        l = len(self.layers) + 1
        self._own(inp, l, "Flatten")
        if inp.rank < 3:
            raise NetworkError(f"layer {l} (Flatten): its input, {self._label(inp)}, is {fmt_shape(inp.shape)}, "
                               "already flat")
        A = named(flatten_op(inp), Name("A", l), "flatten")
        self.layers.append(Layer(l, int(A.shape[1]), "flatten", None, None, A, None, None, kind="flatten"))
        self.forward.append(A)
        self._layer_of[A] = l
        return A

    def activation(self, spec, l: int):
        """(printed name, SymPy Lambda) of an activation inside layer l's cell, checked as a Dense one's."""
        name, fn = _activation(_sized(spec, "activation"))
        if fn is None:
            raise NetworkError(f"layer {l}: softmax belongs on the output Dense layer, not inside a recurrent cell")
        F.derivative(fn, 0, f"layer {l} activation")
        return name, fn

    def recurrent(self, inp: Node, units: int, step, kind: str = "Recurrent", activation: str = "custom",
                  sequences: bool = False, reverse: bool = False, init=None, state=("h",)) -> Node:
        """Append a recurrent layer l: H_l = (h_l⟨1⟩, …, h_l⟨T⟩) with h_l⟨t⟩ = step(h_l⟨t−1⟩, x⟨t⟩),
        h_l⟨0⟩ = 0; the layer gives H_l (``sequences``) or its last state A_l."""
        l = self.next_layer
        if not isinstance(kind, str) or not kind.strip():   # printed in the layout, the headers and every message
            raise NetworkError(f"layer {l} (Recurrent {units!r:.20}): name must be a word naming the layer (its "
                               f"default is 'Recurrent'), not {shown(kind, 60)}")
        hidden = hidden_character(kind)   # line breaks and tabs are printed as spaces, as in a network's name
        if hidden is not None:
            raise NetworkError(f"layer {l} (Recurrent {units!r:.20}): name {shown(kind, 60)} holds {hidden_said(hidden)}, "
                               "a character that is not shown as itself (it moves or hides the text around it): write "
                               "the name without it")
        what = f"{kind} {units}"
        if kind not in RECURRENT_KINDS and kind != "Recurrent":
            what = f"Recurrent {clip(kind, 60)} {units}"
        units = _positive_int(units, f"layer {l} ({kind}): the number of units")
        self._own(inp, l, what)
        self._takes(inp, 3, what, l)
        _flag(sequences, f"layer {l} ({what}): sequences")
        _flag(reverse, f"layer {l} ({what}): reverse")
        if init not in INITS:
            raise NetworkError(f"layer {l} ({what}): init must be None (Glorot weights, zero biases) or 'pytorch', "
                               f"not {init!r}")
        x_name = Name("x", None, 0) if inp is self.X else Name("x", l, 0)
        if isinstance(state, str) or not isinstance(state, (tuple, list)):
            raise NetworkError(f"layer {l} ({what}): state must be a tuple of the state's parts, ('h',) or "
                               f"('h', 'c'), not {state!r}")
        if not callable(step):
            raise NetworkError(f"layer {l} ({what}): step must be a function of a Step (s.h is h⟨t−1⟩, s.x is "
                               f"x⟨t⟩) that returns h⟨t⟩, not {step!r}")
        state = tuple(state)
        if not state or not all(isinstance(p, str) and p.isidentifier() and p.isalpha() for p in state) \
                or len(set(state)) < len(state) or (len(state) > 1 and "s" in state):
            raise NetworkError(f"layer {l} ({what}): state must name the parts of the state with distinct letters "
                               f"(('h',) or ('h', 'c')), not {state!r}")
        s = Step(self, l, units, int(inp.shape[2]), init, x_name, kind, state, reverse)
        try:
            new = step(s)
            if len(state) > 1:
                if not isinstance(new, (tuple, list)) or len(new) != len(state) or \
                        not all(isinstance(q, Node) for q in new):
                    raise NetworkError(f"the step function returned {new!r}; a state of parts {state} needs one "
                                       f"graph node per part, ({', '.join(p + '⟨t⟩' for p in state)})")
                new = named(concat_op([q if q.name == Name(p, l, 0) else named(renamable(q), Name(p, l, 0), "state_part")
                                       for p, q in zip(state, new)], 1), Name("s", l, 0), "state")
            elif not isinstance(new, Node):
                raise NetworkError(f"the step function returned {new!r}, not a graph node (h⟨t⟩)")
            else:
                new = named(renamable(new), Name(state[0], l, 0), "state")
            finite_constants([new])
            cell = make_cell(kind, l, s.carry, s.x, new, reverse, s.declared, state if len(state) > 1 else ())
            H = named(scan_op(inp, cell), Name("H" if len(state) == 1 else "S", l), "states")
        except NetworkError as exc:
            raise NetworkError(f"layer {l} ({what}): {exc}") from None
        except (ShapeError, ValueError) as exc:
            raise NetworkError(f"layer {l} ({what}): {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the user's step function failed: say so, keep its traceback
            raise NetworkError(f"layer {l} ({what}): the step function raised {type(exc).__name__}: {exc}") from exc
        every = H   # what the layer gives at every step
        if len(state) > 1:  # the first part of the state (an LSTM's h)
            every = named(slice_op(H, 2, 0, units), Name("H", l), "states_part")
        out = every
        if not sequences:  # the last state: t = T, or t = 1 for a layer that runs backward
            T = int(inp.shape[1])
            k = 0 if reverse else T - 1
            out = named(reshape_op(slice_op(every, 1, k, k + 1), (H.shape[0], units)), Name("A", l), "last")
        geometry = (("steps", int(inp.shape[1])), ("reverse", reverse), ("sequences", sequences))
        self.layers.append(Layer(l, units, activation, None, None, out, None, None, kind="recurrent",
                                 geometry=geometry, cell=cell))
        self.forward += list(dict.fromkeys([H, every, out]))   # each named node once, in order
        self._layer_of[out] = l
        if sequences:
            self._sequences.add(out)
        return out

    def norm(self, inp: Node, kind: str = "batch", act="identity", eps: float = 1e-5, variance: str = "biased",
             momentum: float = 0.1) -> Node:
        """Append a normalization layer l (``kind`` "batch" or "layer"): μ_l, σ²_l over the batch or the
        features, X̂_l = (inp − μ_l) ⊘ √(σ²_l + ε), Z_l = γ_l ⊙ X̂_l + β_l, A_l = act(Z_l)."""
        from derive.network.norm import NORM_KINDS, build_norm
        if not isinstance(kind, str) or kind not in NORM_KINDS:
            raise NetworkError(f"layer {self.next_layer} (normalization): kind must be one of "
                               f"{', '.join(map(repr, NORM_KINDS))} (batch or layer normalization), not {kind!r}")
        self._own(inp, self.next_layer, "LayerNorm" if kind == "layer" else "BatchNorm")
        return build_norm(self, inp, kind, act, eps, variance, momentum)

    def attention(self, inp: Node, heads: int = 1, causal: bool = True, key_size=None, add=()) -> Node:
        """Append an attention layer l over a sequence: Q, K, V, S = (1/√dₖ) Q Kᵀ, P = softmax(causal(S)),
        H = P V, Z_l = H Wo (+ ``add``), A_l = Z_l."""
        from derive.network.attention import build_attention
        self._own(inp, self.next_layer, "Attention")
        add = self._adds(add, self.next_layer, "Attention")
        return build_attention(self, inp, heads, causal, key_size, add)

    def embedding(self, inp: Node, vocab: int, dim: int, positions: bool = False) -> Node:
        """Append an embedding layer l: A_l = C_l[X], the rows of C_l (vocab, dim) the input's indices
        select (plus a learned row per position with ``positions``)."""
        from derive.network.embedding import build_embedding
        self._own(inp, self.next_layer, "Embedding")
        return build_embedding(self, inp, vocab, dim, positions)

    def concat(self, parts) -> Node:
        """Append a layer l: A_l = the outputs ``parts`` side by side along their last axis (units)."""
        l = self.next_layer
        if isinstance(parts, Node) or not isinstance(parts, (list, tuple)):
            raise NetworkError(f"layer {l} (concatenation): parts must be a list of this Builder's nodes, not {parts!r}")
        if not parts:
            raise NetworkError(f"layer {l} (concatenation): parts is empty: give the outputs to put side by side")
        parts = [self._own(q, l, "concatenation", f"part {k + 1}") for k, q in enumerate(parts)]
        try:
            A = named(concat_op(list(parts), -1), Name("A", l), "concat")
        except ShapeError as exc:
            raise NetworkError(f"layer {l} (concatenation): {exc}") from None
        self.layers.append(Layer(l, int(A.shape[-1]), "concat", None, None, A, None, None, kind="concat"))
        self.forward.append(A)
        self._layer_of[A] = l
        if all(q in self._sequences for q in parts):
            self._sequences.add(A)
        return A

    def output(self, pred: Node, loss="ce", l2=None, steps="sum", l2_form="lambda/(2m)", reduction="mean") -> Model:
        """Close the graph: J = (1/m) sum L(pred, Y) [+ lambda/(2m) sum ||W_l||^2]. With an output at every
        step, the sum runs over the steps too (``steps="sum"``, as char-rnn), or J is the mean over the
        steps as well as the batch (``steps="mean"``, as Keras and PyTorch average a sequence's loss)."""
        if reduction not in ("mean", "sum"):
            raise NetworkError(f"reduction must be 'mean' (J = (1/m) Σ over the batch) or 'sum' (J = Σ, as Bishop "
                               f"and CS229 write the error), not {reduction!r}")
        if steps not in ("sum", "mean"):
            raise NetworkError(f"steps must be 'sum' (the loss summed over the steps) or 'mean', not {steps!r}")
        if l2_form not in L2_FORMS:
            raise NetworkError(f"l2_form must be one of {', '.join(map(repr, L2_FORMS))} (the weight decay added to "
                               f"J: λ/(2m) ΣW² as Ng's course, (λ/2) ΣW² as d2l, λ ΣW² as CS231n), not {l2_form!r}")
        if not self.layers or pred is not self.layers[-1].A:
            raise NetworkError("the prediction must be the output of the last layer declared")
        if pred.rank != 2 and not (pred.rank == 3 and pred in self._sequences):
            raise NetworkError(f"the prediction must be (batch, outputs); the last layer's output is "
                               f"{fmt_shape(pred.shape)}: end the network with Flatten() and a Dense layer")
        if steps == "mean" and pred.rank != 3:
            last = self.layers[-1]
            raise NetworkError(f"steps='mean' averages the loss over the steps of an output at every step, but the last "
                               f"layer (layer {last.index}, {last.kind.replace('_', ' ')}) gives one output per example "
                               f"{fmt_shape(pred.shape)}: there are no steps to average over. Leave steps out, or give "
                               "the recurrent layer sequences=True for an output at every step")
        class_axis = pred.rank - 1 if self.rows else 0   # an output at every step: (batch, time, classes)
        if isinstance(loss, str) and loss.strip() == "svm":   # not entry by entry: each row's correct score
            if pred.shape[class_axis] == 1:
                raise NetworkError("the multiclass SVM loss compares each class's score with the correct one's: it "
                                   "needs 2 outputs or more, and the last layer has 1 (write 2 for two classes)")
            loss_name, loss_fn = "svm", F.SVM_ENTRY
            Y = leaf(Name("Y"), pred.shape, "target", one_hot_axis=class_axis)
            from derive.ops import reduce_sum
            correct = reduce_sum(Node("ew", (pred, Y), pred.shape, (("expr", placeholder(0) * placeholder(1)),)),
                                 class_axis)
            hinge = F.FUNCTIONS["relu"](placeholder(0) - placeholder(1) + 1) * (1 - placeholder(2))
            c, entries = sp.Integer(1), Node("ew", (pred, correct, Y), pred.shape, (("expr", hinge),),
                                             role="loss_entry")
        else:
            loss_name, loss_fn = _loss(loss)
            F.derivative(loss_fn, 0, "the loss")
            _log_loss_output(self.layers, loss_name, loss_fn)
            if loss_name == "ce" and pred.shape[class_axis] == 1:
                # −Σ y log ŷ over one output: an example of class 0 (y = 0) adds nothing, and ŷ → 1 minimizes J
                raise NetworkError("the cross-entropy loss (ce) −Σ y log ŷ sums over the classes, and the last layer "
                                   "has 1 output, so examples with y = 0 add nothing to it: for two classes write "
                                   "loss='bce' on one sigmoid output, or 2 softmax outputs with ce")
            one_hot = class_axis if loss_name == "ce" else None
            Y = leaf(Name("Y"), pred.shape, "target", one_hot_axis=one_hot)
            per_entry = loss_fn.expr.xreplace({loss_fn.variables[0]: placeholder(0),
                                               loss_fn.variables[1]: placeholder(1)})
            # A constant factor of the per-entry loss (the minus of cross-entropy) is printed outside the sum.
            c, per_entry = sp.factor_terms(per_entry).as_independent(placeholder(0), placeholder(1), as_Add=False)
            entries = Node("ew", (pred, Y), pred.shape, (("expr", per_entry),), role="loss_entry")
        total = Node("sum", (entries,), (1,) * pred.rank, (("axis", None),))
        if pred.rank > 2:  # a loss at every step: summed over the steps too, J stays (1, 1)
            total = reshape_op(total, (1, 1))
        per = (m if reduction == "mean" else 1) * (pred.shape[1] if pred.rank == 3 and steps == "mean" else 1)
        terms, args = [c * placeholder(0) / per], [total]
        constants = dict(self.constants)
        l2 = _decay(l2)
        if l2:
            constants[lam] = l2
            # every weight matrix: dense and convolution layers' W, a recurrent layer's and attention's; not
            # the biases, embedding tables or a normalization's scale and shift
            for W in (r.node for r in self.records if r.kind == "weight"):
                sq = Node("sum", (Node("ew", (W,), W.shape, (("expr", placeholder(0) ** 2),),
                                       role="decay"),), (1, 1), (("axis", None),))
                terms.append(L2_FORMS[l2_form] * placeholder(len(args)))
                args.append(sq)
        J = Node("ew", tuple(args), (1, 1), (("expr", sp.Add(*terms)),), name=Name("J"), role="loss")
        params = [r.node for r in self.records]
        masks = [layer.mask for layer in self.layers if layer.mask is not None]
        return Model(self.convention, self.X, Y, J, loss_name, loss_fn, self.layers, params, masks,
                     l2, self.forward + [J], constants, list(self.records), l2_form, self.vocab, reduction)


# Where a derive.Network is taken (a trainer, a check, a model file) and a Model is given: the way for a graph built
# node by node. A Model is the Builder's record of one convention, with no declaration to build again from.
MODEL_ROUTE = ("a Model (what Builder.output returns) is derived and printed with derive.derive(model); to train, verify "
               "or check its graph, or load it from a model file, make the graph a layer: an object whose method "
               "build(g, inp, adds) makes its nodes on the Builder g from the node inp (g.dense(inp, 3, 'tanh'), "
               "g.concat([a, b]), ...) and returns the output node, declared in derive.Network(inputs, [YourLayer(), "
               "...], loss=...)")


def _built(layer, i: int, g: Builder, outputs: list, adds: list) -> Node:
    """The output of declared layer i, ``layer.build(g, input, adds)``. A layer of derivax's own names itself in what it
    refuses; a custom layer's ``build`` is the user's code: what it raises, a ``build`` that cannot take (g, inp, adds),
    what it returns and every name it gave a node are said naming the layer, by its position and its class, as a
    recurrent layer's step function is."""
    if type(layer).__module__.split(".")[0] == "derive":
        return layer.build(g, outputs[-1], adds)
    import inspect
    from derive.formula.errors import FormulaError
    from derive.run.limits import TimeLimitExceeded
    cls = type(layer).__name__
    what = f"layer {i} ({cls if cls.isidentifier() and len(cls) <= 60 else shown(cls, 60)})"
    try:
        inspect.signature(layer.build).bind(g, outputs[-1], adds)
    except TypeError as exc:
        raise NetworkError(f"{what}: build must take (g, inp, adds), the Builder, the input node and the nodes "
                           f"added to its Z: {exc}") from None
    except ValueError:   # no signature to read (a builtin): the call says
        pass
    try:
        out = layer.build(g, outputs[-1], adds)
    except FormulaError as exc:
        if exc.message.startswith(what):
            raise
        raise FormulaError(exc.text, exc.col, f"{what}: {exc.message}") from None
    except (NetworkError, ShapeError) as exc:   # its kind kept (a DerivativeError stays one)
        if not str(exc).startswith(what):
            exc.args = (f"{what}: {exc}",)
        raise exc from None
    except TimeLimitExceeded:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's build failed: say so, keep its traceback
        raise NetworkError(f"{what}: build raised {type(exc).__name__}: {clip(str(exc))}") from exc
    if not isinstance(out, Node):
        raise NetworkError(f"{what}: build returned {shown(out, 60)}, not a graph node (its output, built on g from inp)")
    for n in topo_order(out, stop=set(outputs)):
        if n.name is not None and not isinstance(n.name, Name):
            try:
                as_name(n.name)
            except ValueError as exc:
                raise NetworkError(f"{what}: {exc}") from None
    return out


class Network:
    """A sequential network: input size, a list of layers (``Dense``, or any object with a
    ``build(builder, input, adds)`` method), a loss and optional L2 decay."""

    def __init__(self, n_inputs: int, layers, loss="ce", l2=None, name="net", steps="sum", l2_form="lambda/(2m)",
                 reduction="mean"):
        if not isinstance(layers, (list, tuple)):
            one = callable(getattr(layers, "build", None))
            raise NetworkError("layers is a list of layers" + (f": write [{type(layers).__name__}(...)] for a network "
                               "of one layer" if one else f", not {type(layers).__name__}"))
        if not layers:
            raise NetworkError("a network needs at least one layer")
        for k, layer in enumerate(layers, 1):
            if isinstance(layer, type):
                raise NetworkError(f"layer {k} is the class {layer.__name__}, not a layer: write {layer.__name__}(...) "
                                   "with its size (Dense(3, 'tanh'))")
            if not callable(getattr(layer, "build", None)):
                raise NetworkError(f"layer {k} is {type(layer).__name__} {layer!r:.40}, not a layer (Dense, Conv2D, "
                                   "SimpleRNN, ... or an object with a build(builder, input, adds) method)")
        if not isinstance(name, str):   # printed in headers, recorded in checkpoints and reports
            raise NetworkError(f"name must be a string (the network's name in printouts), not {name!r:.60} "
                               f"({type(name).__name__})")
        # a right-to-left override shows the text after it reversed, in code and reports; an escape (U+001B) would
        # command the terminal. Line breaks and tabs are white space wherever the name is printed.
        hidden = hidden_character(name)
        if hidden is not None:
            raise NetworkError(f"name {shown(name, 60)} holds {hidden_said(hidden)}, a character that is not shown as "
                               "itself (it moves or hides the text around it): write the name without it")
        self.n_inputs, self.layers, self.loss, self.l2, self.name = n_inputs, list(layers), loss, l2, name
        self.steps = steps   # an output at every step: the loss summed over the steps, or their mean
        self.l2_form = l2_form   # the weight decay's form: λ/(2m) ΣW², (λ/2) ΣW² or λ ΣW²
        self.reduction = reduction   # J = (1/m) Σ over the batch ("mean", the courses'), or Σ ("sum", Bishop's E)
        self.build("rows")  # fail early on a bad declaration

    def build(self, convention: str = "rows") -> Model:
        g = Builder(self.n_inputs, convention)
        outputs = self._build_layers(g)
        return g.output(outputs[-1], self.loss, self.l2, getattr(self, "steps", "sum"),
                        getattr(self, "l2_form", "lambda/(2m)"), getattr(self, "reduction", "mean"))

    def _build_layers(self, g: Builder, made=None) -> list:
        """Each declared layer built on ``g``, in order: the input X and every layer's output. ``made`` (a list)
        gets the kinds of the layers each declared layer was built as."""
        outputs = [g.X]
        for i, layer in enumerate(self.layers, 1):
            if not callable(getattr(layer, "build", None)):
                raise NetworkError(f"layer {i} is {layer!r}, not a layer (Dense, or an object with a "
                                   "build(builder, input, adds) method)")
            adds = []
            skips = getattr(layer, "skip_from", ())
            if not isinstance(skips, (tuple, list)):
                hint = f": write skip_from=({skips},) for one" if isinstance(skips, int) else ""
                raise NetworkError(f"layer {i}: skip_from is a tuple of earlier layers' numbers (0 = the input X), "
                                   f"not {skips!r}{hint}")
            seen = set()
            for k in skips:
                k = _plain_ints(k)
                if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < i:
                    raise NetworkError(f"layer {i}: skip_from={k!r} must name an earlier layer (0 to {i - 1})")
                if k in seen:
                    raise NetworkError(f"layer {i}: skip_from names layer {k} twice ({tuple(skips)!r}): its output "
                                       "would be added twice; name each layer once")
                seen.add(k)
                adds.append(outputs[k])
            before = len(g.layers)
            outputs.append(_built(layer, i, g, outputs, adds))
            if made is not None:
                made.append([l.kind for l in g.layers[before:]])
        return outputs

    def built_as(self) -> list:
        """(declared layer, the kinds of the layers it is built as) for each declared layer: a Dense is one dense
        layer; a Bidirectional GRU is two recurrent layers and their concat."""
        made: list = []
        self._build_layers(Builder(self.n_inputs), made)
        return list(zip(self.layers, made))

    def derive(self, convention: str = "rows"):
        return _derive(self.build(convention))

    @property
    def input_shape(self) -> tuple:
        return input_shape(self.n_inputs)

    def __repr__(self):
        body = ", ".join(f"Dense({l.units}, {l.activation!r})" if isinstance(l, Dense) else repr(l)
                         for l in self.layers)
        return f"Network({self.n_inputs}, [{body}], loss={self.loss!r})"

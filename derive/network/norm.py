"""Normalization layers: batch norm and layer norm, built from reductions and broadcasting.

Nothing here is a backward rule: a layer is the graph

    μ = (1/N) Σ A           (over the batch, or over the features)
    X̄ = A − μ               (centred: it sums to zero over those axes, a fact the simplifier uses)
    σ² = (1/N) Σ X̄²         (or 1/(N − 1) Σ X̄², Bessel's correction, as some courses write it)
    σ = √(σ² + ε)
    X̂ = X̄ ⊘ σ
    Z = γ ⊙ X̂ + β,  A = g(Z)

and reverse mode differentiates it through the sum's and the elementwise expressions' own rules. The
simplifier (linearity of a sum, Σᵢ X̄ = 0, writing X̄ ⊘ σ as X̂) brings the result to the form courses
print, dx = (1/(mσ)) (m dX̂ − Σᵢ dX̂ − X̂ ⊙ Σᵢ (dX̂ ⊙ X̂)) with dX̂ = γ ⊙ dy.

``BatchNorm`` normalizes each feature (channel) over the batch (and, after a convolution, over the
positions too), with the batch's statistics while training; a trainer keeps running averages of μ and σ²
(momentum, as PyTorch: r ← (1 − momentum) r + momentum · batch) and evaluates with them. ``LayerNorm``
normalizes each example over its features (the last axis): the same in training and evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.graph.names import Name
from derive.graph.node import ONE, Node, fmt_shape, named, placeholder as ph
from derive.graph.symbols import eps as eps_sym
from derive.network import functions as F
from derive.network import parts
from derive.network.functions import NetworkError
from derive.ops import reduce_sum

VARIANCES = ("biased", "unbiased")


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalization (Ioffe and Szegedy, 2015), then ``activation``. ``variance``: ``"biased"``
    (1/m, as frameworks normalize) or ``"unbiased"`` (1/(m − 1), Bessel's correction); ``eps`` is
    added to σ² (PyTorch's 1e-5; Keras uses 1e-3); ``momentum`` weighs each batch in the running
    averages used for evaluation."""

    activation: object = "identity"
    eps: float = 1e-5
    variance: str = "biased"
    momentum: float = 0.1
    kind = "batch"

    def build(self, g, inp, adds=()):
        return g.norm(inp, self.kind, self.activation, self.eps, self.variance, self.momentum)


@dataclass(frozen=True)
class LayerNorm(BatchNorm):
    """Layer normalization (Ba, Kiros and Hinton, 2016): each example over its features (the last
    axis), then ``activation``; the same statistics in training and evaluation."""

    kind = "layer"


def _number(value, what, low, high, where):
    import math
    import numbers
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or not low < value < high:
        raise NetworkError(f"{where}: {what} must be a number in ({low:g}, {high:g}), not {value!r}")
    return float(value)


NORM_KINDS = ("batch", "layer")


def build_norm(g, inp: Node, kind: str, act, eps: float, variance: str, momentum: float):
    """Append a normalization layer l to builder ``g``; returns A_l."""
    l = g.next_layer
    if not isinstance(kind, str) or kind not in NORM_KINDS:
        raise NetworkError(f"layer {l} (normalization): kind must be one of {', '.join(map(repr, NORM_KINDS))} "
                           f"(batch or layer normalization), not {kind!r}")
    what = f"{'BatchNorm' if kind == 'batch' else 'LayerNorm'}"
    where = f"layer {l} ({what})"
    if not g.rows:
        raise NetworkError(f"{where}: normalization layers are built in the rows convention (examples first)")
    if inp.rank < 2:
        raise NetworkError(f"{where}: its input, {g._label(inp)}, is {fmt_shape(inp.shape)}")
    eps = _number(eps, "eps", 0, 1, where)
    if variance not in VARIANCES:
        raise NetworkError(f"{where}: variance must be 'biased' (1/m, as frameworks normalize) or 'unbiased' "
                           f"(1/(m − 1), Bessel's correction), not {variance!r}")
    momentum = _number(momentum, "momentum", 0, 1, where) if kind == "batch" else None
    if isinstance(act, sp.Basic):   # a SymPy expression given from Python: a formula string's limits
        F.size_checked(act, f"{where}: activation")
    name, fn = parts._activation(act)
    if fn is None:
        raise NetworkError(f"{where}: softmax belongs on the output Dense layer, not on a normalization layer")
    F.derivative(fn, 0, f"layer {l} activation")
    known = g.constants.get(eps_sym)
    if known is not None and known != eps:
        raise NetworkError(f"{where}: eps = {eps:g}, but an earlier layer uses eps = {known:g}; ε is one "
                           "constant of the network")
    g.constants[eps_sym] = eps
    rank = inp.rank
    # batch norm: every axis but the features' (channels'): the batch, a sequence's steps, a convolution's
    # positions; layer norm: the features
    over = tuple(range(rank - 1)) if kind == "batch" else (rank - 1,)
    count = sp.Mul(*[inp.shape[k] for k in over])
    if variance == "unbiased" and count == 1:
        raise NetworkError(f"{where}: the unbiased variance divides by N − 1 = 0 over one feature")
    n = int(inp.shape[-1])
    features = (ONE,) * (rank - 1) + (inp.shape[-1],)
    gamma = g.param(Name("gamma", l), features, l, "scale", (n, n), "ones")
    beta = g.param(Name("beta", l), features, l, "shift", (n, n), "zeros")
    axis = over[0] if len(over) == 1 else over
    mu = named(Node("ew", (reduce_sum(inp, axis),), reduce_sum(inp, axis).shape, (("expr", ph(0) / count),)),
               Name("mu", l), "mean")
    centred = Node("ew", (inp, mu), inp.shape, (("centred", over), ("expr", ph(0) - ph(1))), name=Name("xc", l),
                   role="centred")
    squares = Node("ew", (centred,), inp.shape, (("expr", ph(0) ** 2),))
    divide = count - 1 if variance == "unbiased" else count
    var = named(Node("ew", (reduce_sum(squares, axis),), mu.shape, (("expr", ph(0) / divide),)), Name("var", l),
                "variance")
    sigma = Node("ew", (var,), var.shape, (("expr", sp.sqrt(ph(0) + eps_sym)),), name=Name("sigma", l), role="std")
    xhat = Node("ew", (centred, sigma), inp.shape, (("centred", over), ("expr", ph(0) / ph(1))),
                name=Name("xhat", l), role="normalized")
    Z = Node("ew", (gamma, xhat, beta), inp.shape, (("expr", ph(0) * ph(1) + ph(2)),), name=Name("Z", l), role="pre")
    A = Node("ew", (Z,), Z.shape, (("expr", fn.expr.xreplace({fn.variables[0]: ph(0)})),), name=Name("A", l),
             role="act")
    geometry = (("over", over), ("variance", variance), ("eps", eps)) + \
        ((("momentum", momentum),) if kind == "batch" else ())
    g.layers.append(parts.Layer(l, n, name, fn, Z, A, None, None, kind=f"{kind}_norm", geometry=geometry))
    g.forward += [mu, centred, var, sigma, xhat, Z, A]
    g._layer_of[A] = l
    if inp in g._sequences:
        g._sequences.add(A)
    return A


@dataclass(frozen=True)
class RunningStat:
    """A batch-norm layer's statistics as a trainer keeps their running averages: the nodes of μ and σ²,
    the centred node (its size over σ²'s gives the count N of a batch), the momentum, the variance's form."""

    layer: int
    mu: Node
    var: Node
    centred: Node
    momentum: float
    variance: str


def running_stats(model) -> list:
    """One RunningStat per batch-norm layer of ``model``, in order (layer norm keeps none)."""
    by_name = {n.name: n for n in model.forward if n.name is not None}
    out = []
    for layer in model.layers:
        if layer.kind == "batch_norm":
            geometry = dict(layer.geometry)
            l = layer.index
            out.append(RunningStat(l, by_name[Name("mu", l)], by_name[Name("var", l)], by_name[Name("xc", l)],
                                   geometry["momentum"], geometry["variance"]))
    return out

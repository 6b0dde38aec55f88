"""Scaled dot-product attention, multi-head, causal; and a pre-norm transformer block.

An attention layer l over a sequence A (batch, time, d) is the graph

    Q = A Wq,  K = A Wk,  V = A Wv                 (each head's part of the features)
    S = (1/√dₖ) Q Kᵀ                                (a product per example and head: batched)
    P = softmax(causal(S))                          (over the keys; a later key masked to −∞)
    H = P V,   Z = H Wo (+ what a residual adds),   A_l = Z

built from matmul, reshape, permute, the batched product, the causal mask and softmax: the backward
pass is theirs. Printed, ∂J/∂S comes out as courses write it, P ⊙ (∂J/∂P − Σₖ ∂J/∂P ⊙ P), the mask's
adjoint dropped where P is already 0. With several heads the features split into h parts of dₖ, laid out
(batch, head, time, dₖ) for the products and joined back before Wo.

``TransformerBlock`` is the pre-norm block of GPT-2: x + Attention(LayerNorm(x)), then that plus a
two-layer MLP of LayerNorm of it; five layers of the network.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.graph.names import Name
from derive.graph.node import Node, fmt_shape, named, placeholder as ph
from derive.network import functions as F
from derive.network import parts
from derive.network.functions import NetworkError
from derive.ops import batched, causal as causal_op, permute, reshape, softmax, swap_last


@dataclass(frozen=True)
class Attention:
    """``heads`` heads of scaled dot-product self-attention over a sequence, causal unless told not;
    ``key_size`` per head (default: the features divided by the heads); ``skip_from``: earlier layers'
    outputs added to Z (a residual connection)."""

    heads: int = 1
    causal: bool = True
    key_size: int | None = None
    skip_from: tuple = ()

    def build(self, g, inp, adds=()):
        return g.attention(inp, self.heads, self.causal, self.key_size, adds)


@dataclass(frozen=True)
class TransformerBlock:
    """GPT-2's pre-norm block: A = x + Attention(LayerNorm(x)), then A + Dense(d)(act(Dense(hidden)(LayerNorm(A))))."""

    heads: int = 1
    hidden: int | None = None     # the MLP's width; default 4 times the features
    activation: object = "relu"
    causal: bool = True

    def build(self, g, inp, adds=()):
        from derive.network.norm import build_norm
        if inp.rank != 3:
            raise NetworkError(f"layer {g.next_layer} (TransformerBlock): its input, {g._label(inp)}, is "
                               f"{fmt_shape(inp.shape)}, not a sequence (batch, time, features)")
        d = int(inp.shape[-1])
        width = 4 * d if self.hidden is None else parts._positive_int(
            self.hidden, f"layer {g.next_layer} (TransformerBlock): hidden (the MLP's width; None for 4 × {d})")
        heads = parts._positive_int(self.heads, f"layer {g.next_layer} (TransformerBlock): the number of heads")
        if d % heads:
            raise NetworkError(f"layer {g.next_layer} (TransformerBlock): its {d} features do not split into "
                               f"{heads} heads: take a whole number of heads that divides {d}")
        ln1 = build_norm(g, inp, "layer", "identity", 1e-5, "biased", 0.1)
        att = g.attention(ln1, heads, self.causal, None, [inp])
        ln2 = build_norm(g, att, "layer", "identity", 1e-5, "biased", 0.1)
        hidden = g.dense(ln2, width, self.activation)
        return g.dense(hidden, d, "identity", add=[att])


def build_attention(g, inp: Node, heads: int, causal: bool, key_size, adds=()):
    l = g.next_layer
    where = f"layer {l} (Attention)"
    heads = parts._positive_int(heads, f"{where}: the number of heads")
    parts._flag(causal, f"{where}: causal")
    if not g.rows:
        raise NetworkError(f"{where}: attention is built in the rows convention (examples first, then time)")
    if inp.rank != 3:
        raise NetworkError(f"{where}: attention takes a sequence (batch, time, features); its input, "
                           f"{g._label(inp)}, is {fmt_shape(inp.shape)}: put an Embedding (or a recurrent layer "
                           f"with sequences=True) before it")
    g._sequences.add(inp)   # its second axis is time, as a TimeDistributed layer reads any (batch, time, features)
    d, T = int(inp.shape[-1]), int(inp.shape[1])
    if key_size is None:
        if d % heads:
            raise NetworkError(f"{where}: {d} features do not split into {heads} heads: take a number of heads "
                               f"that divides {d}, or give key_size (Attention(heads, key_size=...) in Python)")
        key_size = d // heads
    dk = parts._positive_int(key_size, f"{where}: key_size")
    inner = heads * dk
    fans = (d, inner)
    Wq, Wk, Wv = (g.param(Name(w, l), (d, inner), l, "weight", fans, "glorot") for w in ("Wq", "Wk", "Wv"))
    Wo = g.param(Name("Wo", l), (inner, d), l, "weight", (inner, d), "glorot")
    m = inp.shape[0]

    def split(node):   # (batch, time, h·dₖ) -> (batch, h, time, dₖ); one head keeps (batch, time, dₖ)
        if heads == 1:
            return node
        return permute(reshape(node, (m, T, heads, dk)), (0, 2, 1, 3))

    Q = named(split(inp @ Wq), Name("Q", l), "query")
    K = named(split(inp @ Wk), Name("K", l), "key")
    V = named(split(inp @ Wv), Name("V", l), "value")
    S = named(Node("ew", (batched(Q, swap_last(K)),), (*Q.shape[:-1], T), (("expr", ph(0) / sp.sqrt(dk)),)),
              Name("S", l), "scores")
    P = named(softmax(causal_op(S) if causal else S, -1), Name("P", l), "weights")
    H = named(batched(P, V), Name("H", l), "heads")
    joined = H if heads == 1 else reshape(permute(H, (0, 2, 1, 3)), (m, T, inner))
    lin = joined @ Wo
    terms = [lin]
    for extra in adds:
        if extra.shape != lin.shape:
            raise NetworkError(f"{where} cannot add the output of {g._label(extra)}: shapes {fmt_shape(lin.shape)} "
                               f"and {fmt_shape(extra.shape)}")
        terms.append(extra)
    Z = Node("ew", terms, lin.shape, (("expr", sp.Add(*[ph(i) for i in range(len(terms))])),), name=Name("Z", l),
             role="pre")
    A = Node("ew", (Z,), Z.shape, (("expr", ph(0)),), name=Name("A", l), role="act")
    geometry = (("heads", heads), ("key_size", dk), ("causal", causal), ("steps", T))
    g.layers.append(parts.Layer(l, d, "identity", F.ACTIVATIONS.get("identity"), Z, A, None, None, kind="attention",
                            geometry=geometry))
    g.forward += [Q, K, V, S, P, H, Z, A]
    g._layer_of[A] = l
    g._sequences.add(A)
    return A

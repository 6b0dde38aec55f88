"""An embedding layer: each integer of the input selects a row of a learned table.

A_l = C_l[X]: the input X holds token indices (batch, positions), and the layer gives (batch, positions,
d), one row of C_l (vocabulary, d) per index, as onehot(X) C_l computes it without the one-hot matrix.
Its gradient is onehot(X)ᵀ G: every row of G added into the row of C_l it was read from, so an index
that occurs twice in a batch receives both (``derive.ops.gather``). The output is a sequence: a Dense
layer applies at every position, a recurrent layer runs over it, and Flatten() concatenates the
positions (Bengio et al. 2003's MLP over the previous k characters).
"""
from __future__ import annotations

from dataclasses import dataclass

from derive.graph.names import Name
from derive.graph.node import fmt_shape, named
from derive.network import parts
from derive.network.functions import NetworkError
from derive.ops import take


@dataclass(frozen=True)
class Embedding:
    """``vocab`` rows of ``dim`` numbers each, looked up by the input's integer indices."""

    vocab: int
    dim: int
    positions: bool = False   # also a learned row per position, added (GPT's position embedding)

    def build(self, g, inp, adds=()):
        return g.embedding(inp, self.vocab, self.dim, self.positions)


def build_embedding(g, inp, vocab: int, dim: int, positions: bool = False):
    l = g.next_layer
    where = f"layer {l} (Embedding)"
    vocab = parts._positive_int(vocab, f"{where}: the vocabulary size")
    dim = parts._positive_int(dim, f"{where}: the embedding size")
    if not g.rows:
        raise NetworkError(f"{where}: embeddings are built in the rows convention (examples first, then "
                           "positions)")
    if inp is not g.X:
        raise NetworkError(f"{where}: an embedding looks up the input's indices; its input is {g._label(inp)}, "
                           "not the input X: put the Embedding first")
    if inp.rank != 2:
        raise NetworkError(f"{where}: the input must be (batch, positions) of integer indices, not "
                           f"{fmt_shape(inp.shape)}: declare the input as the number of positions, e.g. "
                           "Network(3, [Embedding(27, 10), ...]) for three characters")
    if g.vocab is not None and g.vocab != vocab:
        raise NetworkError(f"{where}: the input's indices are already read by an embedding of {g.vocab} rows")
    g.vocab = vocab
    parts._flag(positions, f"{where}: positions")
    C = g.param(Name("C", l), (vocab, dim), l, "embedding", (vocab, dim), "normal")
    lookup = take(C, inp)
    if positions:   # A = C[X] + Cpos: row t of Cpos added at position t of every example
        T = int(inp.shape[1])
        Cpos = g.param(Name("Cpos", l), (T, dim), l, "embedding", (T, dim), "normal")
        lookup = lookup + Cpos
    A = named(lookup, Name("A", l), "embedding")
    g.layers.append(parts.Layer(l, dim, "embedding", None, None, A, None, None, kind="embedding",
                            geometry=(("vocab", vocab), ("positions", int(inp.shape[1])))))
    g.forward.append(A)
    g._layer_of[A] = l
    g._sequences.add(A)
    return A

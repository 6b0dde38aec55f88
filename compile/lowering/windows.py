"""Convolution and pooling in JAX, forward maps and their adjoints written out, for the compiled trainers.

Same names, signatures and semantics as the float64 NumPy reference ``derive.ops.windows`` (read its
docstring for the layout and the arithmetic): channels last, ``x`` (m, *spatial, C) with one or two
spatial dims, kernels (*k, c_in, c_out), convolution as cross-correlation (no flip), every shape
argument a tuple of Python ints (static under ``jax.jit``: pass them as static arguments).

The backward functions are written out, not derived by ``jax.grad``: they are what a trainer calls
instead of autodiff. Each convolution adjoint is one ``lax.conv_general_dilated``: the input's is the
adjoint ``g`` dilated by the stride and correlated with the kernel flipped in space (in/out channels
swapped by the dimension numbers); the kernel's correlates the padded input with ``g`` dilated by the
stride, the batch being the contracted feature dim. Pool adjoints loop over the window offsets (a
few), placing each offset's share at its strided positions with ``lax.pad`` (interior padding), a
dense op rather than a scatter.
"""
from __future__ import annotations

import itertools
import math

import jax.numpy as jnp
import numpy as np
from jax import lax

# (lhs, rhs, out) specs by the number of spatial dims: the forward conv, the input's adjoint (kernel
# read with in/out swapped) and the kernel's adjoint (input's batch and channels swapped: the batch is
# contracted, c_in becomes the "batch" of the result; g is the kernel, its batch the contracted dim).
_FORWARD = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC")}
_INPUT_GRAD = {1: ("NWC", "WOI", "NWC"), 2: ("NHWC", "HWOI", "NHWC")}
_WEIGHT_GRAD = {1: ("CWN", "IWO", "WNC"), 2: ("CHWN", "IHWO", "HWNC")}


def _out(n: int, k: int, s: int, lo: int = 0, hi: int = 0) -> int:
    if s < 1 or k < 1 or n + lo + hi < k:
        raise ValueError(f"a window of {k} with stride {s} does not fit in {n} entries padded by ({lo}, {hi})")
    return (n + lo + hi - k) // s + 1


def _nd(a, name: str) -> int:
    nd = a.ndim - 2
    if nd not in (1, 2):
        raise ValueError(f"{name} must be (batch, L, C) or (batch, H, W, C), got shape {a.shape}")
    return nd


def _pads(padding) -> tuple:
    return tuple((int(lo), int(hi)) for lo, hi in padding)


def conv(x, w, stride, padding):
    """Cross-correlation of ``x`` (m, *spatial, c_in) with ``w`` (*k, c_in, c_out), zero padding
    ``padding`` ((lo, hi) a dim) and ``stride``: (m, *out, c_out)."""
    nd = _nd(x, "x")
    return lax.conv_general_dilated(x, w, window_strides=tuple(stride), padding=_pads(padding),
                                    dimension_numbers=_FORWARD[nd])


def conv_input_grad(g, w, stride, padding, in_spatial):
    """The adjoint of conv's input, (m, *in_spatial, c_in), from ``g`` (m, *out, c_out): ``g`` dilated
    by the stride, correlated with ``w`` flipped in space, in/out channels swapped.

    Per dim the dilated ``g`` spans s*(o-1)+1 entries; padding it by (k-1-lo, k-1-hi+r), r = (n+lo+hi-k)
    % s, gives exactly n outputs: the lo padded rows are cut (negative padding when lo > k-1) and the r
    rows in no window get 0."""
    nd = _nd(g, "g")
    ks = w.shape[:nd]
    pads = _pads(padding)
    new = []
    for n, k, s, (lo, hi), o in zip(in_spatial, ks, stride, pads, g.shape[1:-1]):
        if _out(n, k, s, lo, hi) != o:
            raise ValueError(f"adjoint {g.shape} does not match conv's output for input {tuple(in_spatial)}")
        r = (n + lo + hi - k) % s
        new.append((k - 1 - lo, k - 1 - hi + r))
    flipped = lax.rev(w, tuple(range(nd)))
    return lax.conv_general_dilated(g, flipped, window_strides=(1,) * nd, padding=tuple(new),
                                    lhs_dilation=tuple(stride), dimension_numbers=_INPUT_GRAD[nd])


def conv_weight_grad(x, g, stride, padding, kernel_spatial):
    """The adjoint of conv's kernel, (*kernel_spatial, c_in, c_out): the padded ``x`` correlated with
    ``g`` (m, *out, c_out) dilated by the stride, summed over the batch (the contracted dim). The high
    padding loses the r = (n+lo+hi-k) % s rows that are in no window, so the result has k entries."""
    nd = _nd(x, "x")
    pads = _pads(padding)
    new = []
    for n, k, s, (lo, hi), o in zip(x.shape[1:-1], kernel_spatial, stride, pads, g.shape[1:-1]):
        if _out(n, k, s, lo, hi) != o:
            raise ValueError(f"adjoint {g.shape} does not match conv's output for input {x.shape}")
        new.append((lo, hi - (n + lo + hi - k) % s))
    return lax.conv_general_dilated(x, g, window_strides=(1,) * nd, padding=tuple(new),
                                    rhs_dilation=tuple(stride), dimension_numbers=_WEIGHT_GRAD[nd])


def _dims(x_spatial, window, stride) -> tuple:
    return tuple(_out(n, k, s) for n, k, s in zip(x_spatial, window, stride))


def _take(x, off, stride, out):
    """Each window's entry at offset ``off``: (m, *out, c), one strided slice."""
    start = (0,) + tuple(off) + (0,)
    limit = (x.shape[0],) + tuple(u + s * (o - 1) + 1 for u, s, o in zip(off, stride, out)) + (x.shape[-1],)
    return lax.slice(x, start, limit, (1,) + tuple(stride) + (1,))


def _place(v, off, stride, in_spatial):
    """``v`` (m, *out, c) set at the entries of offset ``off`` of a zero (m, *in_spatial, c): lax.pad
    with the stride's gaps as interior padding."""
    cfg = [(0, 0, 0)]
    for u, s, o, n in zip(off, stride, v.shape[1:-1], in_spatial):
        cfg.append((u, n - u - s * (o - 1) - 1, s - 1))
    cfg.append((0, 0, 0))
    return lax.pad(v, jnp.zeros((), v.dtype), cfg)


def _lowest(dtype):
    """The identity of max in ``dtype``, as a concrete NumPy scalar: a constant init value is what
    lets JAX see reduce_window as its max (sum) primitive, which is compiled well and differentiable."""
    dtype = np.dtype(dtype)
    return np.array(-np.inf if np.issubdtype(dtype, np.inexact) else np.iinfo(dtype).min, dtype)


def max_pool(x, window, stride):
    """The maximum of each window (valid pooling, no padding): (m, *out, c)."""
    _nd(x, "x")
    return lax.reduce_window(x, _lowest(x.dtype), lax.max, (1,) + tuple(window) + (1,),
                             (1,) + tuple(stride) + (1,), "VALID")


def _first_max(x, window, stride, out):
    """Each window's offset number (row-major) of its FIRST maximum: (m, *out, c) int32. Found by strict
    comparisons carried along the window, never by equality with a maximum computed elsewhere: under jit XLA
    may compute ``x`` again in each fusion that reads it, rounded differently, and an entry that no longer
    equals "the" maximum would leave its window's adjoint unrouted."""
    offsets = list(itertools.product(*(range(k) for k in window)))
    best = _take(x, offsets[0], stride, out)
    first = jnp.zeros(best.shape, dtype=jnp.int32)
    for k, off in enumerate(offsets[1:], 1):
        v = _take(x, off, stride, out)
        later = v > best   # a tie stays with the earlier entry
        best = jnp.where(later, v, best)
        first = jnp.where(later, jnp.int32(k), first)
    return offsets, first


def max_pool_grad(x, g, window, stride):
    """The adjoint of max_pool's input (the shape of ``x``) from ``g`` (m, *out, c).

    Tie convention: each window's adjoint goes whole to the window's FIRST maximum in row-major order
    of the window (the lowest row offset, then the lowest column offset); other entries equal to the
    maximum get nothing from that window. Overlapping windows (stride < window) accumulate."""
    _nd(x, "x")
    out = _dims(x.shape[1:-1], window, stride)
    offsets, first = _first_max(x, window, stride, out)
    dx = jnp.zeros(x.shape, dtype=jnp.result_type(x, g))
    zero = jnp.zeros((), dx.dtype)
    for k, off in enumerate(offsets):
        dx = dx + _place(jnp.where(first == k, g.astype(dx.dtype), zero), off, stride, x.shape[1:-1])
    return dx


def max_pool_pick(x, h, window, stride):
    """Of each window of ``x``, the entry of ``h`` (the shape of ``x``) at the window's first maximum:
    (m, *out, c). The transpose of max_pool_grad in its adjoint (the same tie convention)."""
    _nd(x, "x")
    out = _dims(x.shape[1:-1], window, stride)
    offsets, first = _first_max(x, window, stride, out)
    picked = jnp.zeros(first.shape, dtype=jnp.result_type(x, h))
    zero = jnp.zeros((), picked.dtype)
    for k, off in enumerate(offsets):
        picked = picked + jnp.where(first == k, _take(h, off, stride, out).astype(picked.dtype), zero)
    return picked


def avg_pool(x, window, stride):
    """The mean of each window (valid pooling, no padding): (m, *out, c)."""
    _nd(x, "x")
    total = lax.reduce_window(x, np.zeros((), x.dtype), lax.add, (1,) + tuple(window) + (1,),
                              (1,) + tuple(stride) + (1,), "VALID")
    return total / math.prod(window)


def avg_pool_grad(g, window, stride, in_spatial):
    """The adjoint of avg_pool's input, (m, *in_spatial, c), from ``g`` (m, *out, c): each window's
    adjoint spread equally (divided by the window size) over its entries; overlapping windows
    accumulate; entries in no window get 0."""
    _nd(g, "g")
    if _dims(in_spatial, window, stride) != tuple(g.shape[1:-1]):
        raise ValueError(f"adjoint {g.shape} does not match avg_pool's output for input {tuple(in_spatial)}")
    share = g / math.prod(window)
    dx = None
    for off in itertools.product(*(range(k) for k in window)):
        term = _place(share, off, stride, in_spatial)
        dx = term if dx is None else dx + term
    return dx

"""Numeric kernels of convolution and pooling in NumPy: the forward maps and their adjoints, written out.

These are the float64 reference of the checks (``compile.lowering.windows`` holds the same functions in
JAX for the trainers, with the same names, signatures and semantics). Nothing here imports JAX.

Layout is channels last, as Keras/TensorFlow: an input ``x`` is ``(batch, *spatial, channels)`` with one
or two spatial dims, ``(m, L, C)`` or ``(m, H, W, C)``; a kernel ``w`` is ``(*kernel_spatial, c_in,
c_out)``, ``(k, c_in, c_out)`` or ``(kh, kw, c_in, c_out)``. Every shape argument (``stride``,
``padding``, ``window``, ``in_spatial``, ``kernel_spatial``) is a tuple of Python ints, one entry per
spatial dim; ``padding`` is a tuple of ``(lo, hi)`` pairs.

Convolution is cross-correlation, as the frameworks compute it (the kernel is not flipped)::

    out[i, y, x, c] = sum_{u, v, c'} xpad[i, s0*y + u, s1*x + v, c'] * w[u, v, c', c]

with ``xpad`` the input zero-padded by ``padding``. Along a spatial dim of size ``n`` with padding
``(lo, hi)``, kernel size ``k`` and stride ``s`` the output has ``floor((n + lo + hi - k) / s) + 1``
entries; when ``(n + lo + hi - k) % s != 0`` the last rows of the padded input are in no window (they
get no gradient). Pooling is "valid" (no padding): ``floor((n - k) / s) + 1`` windows a dim.

Every function loops over the kernel (or window) offsets only, a few; each offset is one strided slice
and one ``np.tensordot`` (or elementwise op) over the whole batch. ``conv``, its two adjoints and the
average pool and its adjoint also run on object arrays of SymPy expressions.
"""
from __future__ import annotations

import itertools

import numpy as np


def _ints(name: str, t, nd: int) -> tuple:
    t = tuple(t)
    if len(t) != nd or not all(isinstance(v, (int, np.integer)) for v in t):
        raise ValueError(f"{name} must be a tuple of {nd} ints (one per spatial dim), got {t!r}")
    return tuple(int(v) for v in t)


def _pads(padding, nd: int) -> tuple:
    pads = tuple(tuple(p) for p in padding)
    if len(pads) != nd or any(len(p) != 2 or min(p) < 0 for p in pads):
        raise ValueError(f"padding must be {nd} pairs (lo, hi) of ints >= 0, got {padding!r}")
    return tuple((int(lo), int(hi)) for lo, hi in pads)


def _spatial(x, name: str) -> int:
    nd = np.ndim(x) - 2
    if nd not in (1, 2):
        raise ValueError(f"{name} must be (batch, L, C) or (batch, H, W, C), got shape {np.shape(x)}")
    return nd


def out_size(n: int, k: int, s: int, lo: int = 0, hi: int = 0) -> int:
    """Windows along one dim: floor((n + lo + hi - k) / s) + 1, which must be at least 1."""
    if s < 1 or k < 1:
        raise ValueError(f"stride and window sizes must be >= 1, got stride {s}, size {k}")
    if n + lo + hi < k:
        raise ValueError(f"a window of {k} does not fit in {n} entries padded by ({lo}, {hi})")
    return (n + lo + hi - k) // s + 1


def _window(offset, stride, out) -> tuple:
    """The index of one offset's entries over all windows: (:, u::s0 (o0 of them), ..., :)."""
    return ((slice(None),)
            + tuple(slice(u, u + s * (o - 1) + 1, s) for u, s, o in zip(offset, stride, out))
            + (slice(None),))


def _pad(x, pads):
    """x zero-padded along its spatial dims (also for object arrays: the zeros are the int 0)."""
    out = np.zeros((x.shape[0],) + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[1:-1], pads))
                   + (x.shape[-1],), dtype=x.dtype)
    out[(slice(None),) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[1:-1], pads))] = x
    return out


def _conv_dims(x_spatial, k_spatial, stride, padding):
    nd = len(x_spatial)
    stride = _ints("stride", stride, nd)
    pads = _pads(padding, nd)
    out = tuple(out_size(n, k, s, lo, hi) for n, k, s, (lo, hi) in zip(x_spatial, k_spatial, stride, pads))
    return stride, pads, out


def conv(x, w, stride, padding):
    """Cross-correlation of ``x`` (m, *spatial, c_in) with ``w`` (*k, c_in, c_out), zero padding
    ``padding`` ((lo, hi) a dim) and ``stride``: (m, *out, c_out)."""
    x, w = np.asarray(x), np.asarray(w)
    nd = _spatial(x, "x")
    if w.ndim != nd + 2 or w.shape[-2] != x.shape[-1]:
        raise ValueError(f"kernel {w.shape} does not fit input {x.shape}: it must be (*k, c_in, c_out) "
                         f"with {nd} spatial dims and c_in = {x.shape[-1]}")
    stride, pads, out = _conv_dims(x.shape[1:-1], w.shape[:nd], stride, padding)
    xp = _pad(x, pads)
    total = None
    for off in itertools.product(*(range(k) for k in w.shape[:nd])):
        term = np.tensordot(xp[_window(off, stride, out)], w[off], axes=([-1], [0]))
        total = term if total is None else total + term
    return total


def conv_input_grad(g, w, stride, padding, in_spatial):
    """The adjoint of conv's input: (m, *in_spatial, c_in) from ``g`` (m, *out, c_out), the adjoint
    of conv's output (a transposed convolution). Each offset's window entries collect ``g @ w[off]ᵀ``
    in the padded frame, which is then cropped to the input; padded rows and rows in no window
    (when (n + lo + hi - k) % s != 0) are dropped or stay 0."""
    g, w = np.asarray(g), np.asarray(w)
    nd = _spatial(g, "g")
    in_spatial = _ints("in_spatial", in_spatial, nd)
    if w.ndim != nd + 2 or w.shape[-1] != g.shape[-1]:
        raise ValueError(f"kernel {w.shape} does not fit the adjoint {g.shape}")
    stride, pads, out = _conv_dims(in_spatial, w.shape[:nd], stride, padding)
    if out != g.shape[1:-1]:
        raise ValueError(f"adjoint {g.shape} does not match conv's output {out} for input {in_spatial}")
    dxp = np.zeros((g.shape[0],) + tuple(n + lo + hi for n, (lo, hi) in zip(in_spatial, pads))
                   + (w.shape[-2],), dtype=np.result_type(g, w))
    for off in itertools.product(*(range(k) for k in w.shape[:nd])):
        dxp[_window(off, stride, out)] += np.tensordot(g, w[off], axes=([-1], [1]))
    return dxp[(slice(None),) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(in_spatial, pads))]


def conv_weight_grad(x, g, stride, padding, kernel_spatial):
    """The adjoint of conv's kernel: (*kernel_spatial, c_in, c_out), the correlation of the padded
    input ``x`` with ``g`` (m, *out, c_out), summed over the batch and the windows."""
    x, g = np.asarray(x), np.asarray(g)
    nd = _spatial(x, "x")
    kernel_spatial = _ints("kernel_spatial", kernel_spatial, nd)
    stride, pads, out = _conv_dims(x.shape[1:-1], kernel_spatial, stride, padding)
    if g.ndim != nd + 2 or g.shape[0] != x.shape[0] or g.shape[1:-1] != out:
        raise ValueError(f"adjoint {g.shape} does not match conv's output {(x.shape[0],) + out} "
                         f"for input {x.shape}")
    xp = _pad(x, pads)
    dw = np.zeros(kernel_spatial + (x.shape[-1], g.shape[-1]), dtype=np.result_type(x, g))
    batch_and_space = list(range(nd + 1))
    for off in itertools.product(*(range(k) for k in kernel_spatial)):
        dw[off] = np.tensordot(xp[_window(off, stride, out)], g, axes=(batch_and_space, batch_and_space))
    return dw


def _pool_dims(x_spatial, window, stride):
    nd = len(x_spatial)
    window = _ints("window", window, nd)
    stride = _ints("stride", stride, nd)
    return window, stride, tuple(out_size(n, k, s) for n, k, s in zip(x_spatial, window, stride))


def max_pool(x, window, stride):
    """The maximum of each window (valid pooling, no padding): (m, *out, c)."""
    x = np.asarray(x)
    _spatial(x, "x")
    window, stride, out = _pool_dims(x.shape[1:-1], window, stride)
    offsets = itertools.product(*(range(k) for k in window))
    best = x[_window(next(offsets), stride, out)]
    for off in offsets:
        best = np.maximum(best, x[_window(off, stride, out)])
    return best


def max_pool_grad(x, g, window, stride):
    """The adjoint of max_pool's input (the shape of ``x``) from ``g`` (m, *out, c).

    Tie convention: each window's adjoint goes whole to the window's FIRST maximum in row-major order
    of the window (the lowest row offset, then the lowest column offset); other entries equal to the
    maximum get nothing from that window. Overlapping windows (stride < window) accumulate."""
    x, g = np.asarray(x), np.asarray(g)
    _spatial(x, "x")
    window, stride, out = _pool_dims(x.shape[1:-1], window, stride)
    if g.shape != x.shape[:1] + out + x.shape[-1:]:
        raise ValueError(f"adjoint {g.shape} does not match max_pool's output {x.shape[:1] + out + x.shape[-1:]}")
    best = max_pool(x, window, stride)
    dx = np.zeros(x.shape, dtype=np.result_type(x, g))
    taken = np.zeros(best.shape, dtype=bool)  # windows whose maximum has been found already
    for off in itertools.product(*(range(k) for k in window)):
        idx = _window(off, stride, out)
        hit = (x[idx] == best) & ~taken
        dx[idx] += np.where(hit, g, 0)
        taken |= hit
    return dx


def max_pool_pick(x, h, window, stride):
    """Of each window of ``x``, the entry of ``h`` (the shape of ``x``) at the window's first maximum:
    (m, *out, c). The transpose of max_pool_grad in its adjoint (the same tie convention)."""
    x, h = np.asarray(x), np.asarray(h)
    _spatial(x, "x")
    window, stride, out = _pool_dims(x.shape[1:-1], window, stride)
    best = max_pool(x, window, stride)
    picked = np.zeros(best.shape, dtype=np.result_type(x, h))
    taken = np.zeros(best.shape, dtype=bool)
    for off in itertools.product(*(range(k) for k in window)):
        idx = _window(off, stride, out)
        hit = (x[idx] == best) & ~taken
        picked = picked + np.where(hit, h[idx], 0)
        taken |= hit
    return picked


def avg_pool(x, window, stride):
    """The mean of each window (valid pooling, no padding): (m, *out, c)."""
    x = np.asarray(x)
    _spatial(x, "x")
    window, stride, out = _pool_dims(x.shape[1:-1], window, stride)
    total = None
    for off in itertools.product(*(range(k) for k in window)):
        term = x[_window(off, stride, out)]
        total = term if total is None else total + term
    return total / int(np.prod(window))


def avg_pool_grad(g, window, stride, in_spatial):
    """The adjoint of avg_pool's input: (m, *in_spatial, c) from ``g`` (m, *out, c). Each window's
    adjoint is spread equally (divided by the window size) over its entries; overlapping windows
    accumulate; entries in no window get 0."""
    g = np.asarray(g)
    nd = _spatial(g, "g")
    in_spatial = _ints("in_spatial", in_spatial, nd)
    window, stride, out = _pool_dims(in_spatial, window, stride)
    if g.shape[1:-1] != out:
        raise ValueError(f"adjoint {g.shape} does not match avg_pool's output {out} for input {in_spatial}")
    share = g / int(np.prod(window))
    dx = np.zeros(g.shape[:1] + in_spatial + g.shape[-1:], dtype=share.dtype)
    for off in itertools.product(*(range(k) for k in window)):
        dx[_window(off, stride, out)] += share
    return dx

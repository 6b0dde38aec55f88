"""What a wrong gradient is, when the numbers show it: the right one times a constant, or transposed.

Shared by ``derivax check`` (a formula) and ``derivax check-code`` (a backward function); each words the
finding its own way. Every finding must hold at every point compared, and the points have different
batch sizes m, so a factor that follows m (a missing 1/m) is told apart from a constant one.
"""
from __future__ import annotations

import numpy as np

AGREE = 1e-6  # two ratios this close (relatively) are the same number


def close(u, r, rtol, atol) -> bool:
    return float(np.max(np.abs(u - r), initial=0.0)) <= rtol * float(np.max(np.abs(r), initial=0.0)) + atol


def factor(pairs):
    """pairs: [(yours, right, m, rtol, atol)]. Returns one of

    ("m", m) yours = m · right; ("1/m", m) yours = right / m; ("-m", m); ("-1", -1); ("c", c, m0) a constant
    c (m0 the batch size of the first point); or None when yours is not a multiple of right everywhere.
    """
    cs = []
    for u, r, m, rtol, atol in pairs:
        rr = float(np.sum(r * r))
        if rr == 0:
            return None
        c = float(np.sum(u * r)) / rr  # least squares: yours ≈ c · right
        if not close(u, c * r, rtol, atol):
            return None
        cs.append((c, m))

    def every(f):
        return all(abs(f(c, m)) <= AGREE for c, m in cs)

    several_m = len({m for _, m in cs}) > 1
    c0, m0 = cs[0]
    if several_m and every(lambda c, m: c / m - 1):
        return ("m", m0)
    if several_m and every(lambda c, m: c * m - 1):
        return ("1/m", m0)
    if several_m and every(lambda c, m: c / m + 1):
        return ("-m", m0)
    if c0 != 0 and every(lambda c, m: c / c0 - 1):
        return ("-1", -1.0) if abs(c0 + 1) <= AGREE else ("c", c0, m0)
    return None


def transposed(pairs) -> bool:
    """Yours equals the transpose of right at every point (square arrays only)."""
    return all(u.ndim == 2 and u.shape[0] == u.shape[1] and close(u.T, r, rtol, atol)
               for u, r, _, rtol, atol in pairs)

"""Ratios of interleaved timings, as every benchmark of derivax reports them: the median of the per-repeat
ratios, and the middle half of them beside it. The benchmarks of derivax bench (dense, CNN, RNN, language
model, fit) import these from here alone, so that none of them imports another for them."""
from __future__ import annotations

import statistics


def median_ratio(num, den) -> float:
    """The median of the per-repeat ratios num/den (paired repeats, one of each side)."""
    return statistics.median(n / d for n, d in zip(num, den))


def ratio_quartiles(num, den) -> tuple:
    """(first quartile, third quartile) of the per-repeat ratios num/den: the middle half of the repeats
    lies between them. A ratio whose quartiles straddle 1 is parity on this machine, whichever side
    of 1 its median falls (two jits of one jax.grad step read 0.97-1.03x against each other here)."""
    ratios = sorted(n / d for n, d in zip(num, den))
    if len(ratios) < 2:
        return (ratios[0], ratios[0]) if ratios else (float("nan"), float("nan"))
    q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return q1, q3


def spread(ratio, quartiles, sep=" ") -> str:
    """A ratio with the middle half of its repeats: '0.98x (0.95-1.01)'."""
    return f"{ratio:.2f}x{sep}({quartiles[0]:.2f}-{quartiles[1]:.2f})"

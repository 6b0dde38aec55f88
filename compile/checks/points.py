"""Random evaluation points for the checks: parameters, inputs, valid targets and dropout masks.

Every check (``verify``, ``check``, ``check-code``) compares two gradients at points drawn here, in
float64 NumPy, batch-first: x is (m, inputs), y is (m, outputs), masks D1, ... are (m, units).
Parameters have the shapes the derivation prints for its convention (W1 is (in, out) in ``rows``,
(out, in) in ``columns``).

Targets are drawn so that every loss is finite and its printed form holds: one-hot rows for
categorical cross-entropy (the derivation uses that they sum to one), values in (0.1, 0.9) for
binary cross-entropy, normal values otherwise.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

MAX_BATCH = 10_000  # examples at a check's point: a check needs a few; more only costs time

# Weights of standard deviation 0.7 keep tanh and sigmoid off their flat tails, where a finite
# difference would see nothing, while still reaching their curved parts.
WEIGHT_STD, BIAS_STD = 0.7, 0.3


@dataclass
class Point:
    params: dict   # name -> array, in the shapes the derivation prints
    x: np.ndarray  # (m, inputs)
    y: np.ndarray  # (m, outputs)
    masks: dict | None  # D1, ... -> (m, units), entries 0 or 1/keep; None without dropout


def target_kind(model) -> str:
    """'one-hot', 'probability' or 'real': what a valid target of the model's loss is."""
    if model.Y.attrs.get("one_hot_axis") is not None:
        return "one-hot"
    if model.loss_name == "bce":
        return "probability"
    return "real"


def draw_targets(model, rng, m) -> np.ndarray:
    """Targets for m examples: (m, outputs), or (m, steps, outputs) for an output at every step."""
    shape = target_shape(model)
    outputs = shape[-1]
    kind = target_kind(model)
    if kind == "one-hot":
        return np.eye(outputs)[rng.integers(0, outputs, (m, *shape[:-1]))]
    if kind == "probability":
        return rng.uniform(0.1, 0.9, (m, *shape))
    return rng.normal(size=(m, *shape))


def target_shape(model) -> tuple:
    """One example's target shape: (outputs,), or (steps, outputs) for an output at every step."""
    shape = model.Y.shape[1:] if model.convention == "rows" else model.Y.shape[:1]
    return tuple(int(d) for d in shape)


class TooLarge(MemoryError):
    """A network whose arrays would not fit in this machine's memory; the message gives both sizes."""


def available_bytes() -> int:
    """Memory this process can still take (MemAvailable), or the machine's total where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**62


def fits(model, m: int, what: str, itemsize: int = 8, copies: int = 20) -> None:
    """Raise TooLarge when ``what`` would need more than half the memory available: ``copies`` of
    the parameters (the point, gradients, references, perturbed copies, and what the lowering and XLA
    hold besides: a check of 3000-3000-3000 peaked at 17 float64 copies of its 18M weights, 2.5 GB) and
    the activations of m examples."""
    weights = sum(int(np.prod([int(d) for d in p.shape])) for p in model.params)
    units = per_example_entries(model)
    need = itemsize * (copies * weights + 4 * m * units)
    have = available_bytes()
    if need > have // 2:
        raise TooLarge(f"{what} of this network needs about {_gb(need)} ({weights:,} weights, layer widths "
                       f"{model.short_size_text}, batch {m}); this machine has {_gb(have)} "
                       f"available, and {what} takes at most half of it. Use smaller layers")


def per_example_entries(model) -> int:
    """The entries one example adds across the input and every named activation of the forward pass."""
    from derive.graph.symbols import m as m_sym
    total = 0
    for node in [model.X] + list(model.forward):
        total += int(np.prod([int(d) for d in node.shape if d != m_sym]))
    return total


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**28 else f"{n / 2**20:.0f} MB"


def random_point(model, seed: int = 0, m: int = 5, masks: bool = True) -> Point:
    """A point at which to compare gradients; the same seed gives the same point."""
    fits(model, m, "a check")
    rng = np.random.default_rng(seed)
    params = {}
    for p in model.records:
        std = BIAS_STD if p.kind == "bias" else WEIGHT_STD / max(1.0, np.sqrt(p.fan_in / 4))
        params[p.name] = rng.normal(0, std, p.shape) + (1.0 if p.init == "ones" else 0.0)
    x = rng.normal(size=(m, *model.input_shape))
    if getattr(model, "vocab", None):   # token indices, a few of them repeated (their gradients accumulate)
        x = rng.integers(0, min(model.vocab, max(2, m * int(np.prod(model.input_shape)) // 2)),
                         size=(m, *model.input_shape)).astype(float)
    y = draw_targets(model, rng, m)
    drop = None
    if masks and model.masks:
        drop = {}
        for mask in model.masks:  # batch-first, as x: (m, units) in either convention
            keep = mask.attrs["keep"]
            drop[mask.name] = (rng.random((m, *mask_dims(model, mask))) < keep) / keep
    return Point(params, x, y, drop)


def mask_dims(model, mask) -> tuple:
    """A dropout mask's shape past its batch axis, batch-first as x is: (units,), or (steps, units) for a layer
    applied at every step of a sequence."""
    return tuple(int(d) for d in (mask.shape[1:] if model.convention == "rows" else mask.shape[:-1][::-1]))

"""Convolution, pooling and flatten layers: each builds its nodes through the builder (the layer
protocol, ``build(builder, input, adds)``), as ``Dense`` does.

Layout as in Keras: inputs (batch, height, width, channels) in 2-D and (batch, length, channels) in
1-D; kernels (kh, kw, c_in, c_out) and (k, c_in, c_out); biases (c_out,). Convolution is
cross-correlation, as frameworks compute it. Padding: ``"valid"`` (none), ``"same"`` (as Keras pads:
ceil(n/s) outputs) or explicit (an int, or (before, after) pairs per axis). Pooling has no padding.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Conv2D:
    """``filters`` kernels of ``kernel`` (an int or (kh, kw)), then ``activation``."""

    filters: int
    kernel: object = 3
    stride: object = 1
    padding: object = "valid"
    activation: object = "identity"
    skip_from: tuple = ()
    init: str | None = None   # None: He or Glorot by activation, zero biases; "pytorch": PyTorch's default
    use_bias: bool = True     # False: Z = A ∗ W, no b
    nd = 2

    def build(self, g, inp, adds=()):
        return g.conv(inp, self.filters, self.kernel, self.stride, self.padding, self.activation, self.nd, adds,
                      init=self.init, bias=self.use_bias)


@dataclass(frozen=True)
class Conv1D(Conv2D):
    """``filters`` kernels of length ``kernel`` over (batch, length, channels) inputs."""

    nd = 1


@dataclass(frozen=True)
class MaxPool2D:
    """The maximum of each ``size`` window, every ``stride`` entries (default: ``size``)."""

    size: object = 2
    stride: object = None
    nd = 2
    kind = "max"

    def build(self, g, inp, adds=()):
        return g.pool(inp, self.kind, self.size, self.stride, self.nd)


@dataclass(frozen=True)
class MaxPool1D(MaxPool2D):
    nd = 1


@dataclass(frozen=True)
class AvgPool2D(MaxPool2D):
    """The mean of each ``size`` window, every ``stride`` entries (default: ``size``)."""

    kind = "avg"


@dataclass(frozen=True)
class AvgPool1D(AvgPool2D):
    nd = 1


@dataclass(frozen=True)
class Flatten:
    """(batch, h, w, c) -> (batch, h·w·c), row-major over height, width, channels (as Keras)."""

    def build(self, g, inp, adds=()):
        return g.flatten(inp)

"""Built-in example networks (from the seed articles) and resolving a MODEL argument.

MODEL is a built-in name, a Python file defining ``net`` (or ``file.py:name``), or an inline spec
``2-2:tanh-2:softmax`` where an activation may be a formula in z in parentheses:
``2-3:(z*sigmoid(z))-1:sigmoid``.
"""
from __future__ import annotations

import re
import runpy
from dataclasses import dataclass, field
from pathlib import Path

from ._formula import FormulaError
from ._functions import ACTIVATION_NAMES
from ._network import Dense, Network, NetworkError


@dataclass(frozen=True)
class Example:
    net: Network
    summary: str
    source: str
    # Training defaults from the seed: optimizer, learning rate, epochs, batch size.
    train: dict = field(default_factory=dict)


EXAMPLES = {
    "xor": Example(
        Network(2, [Dense(2, "tanh"), Dense(2, "softmax")], loss="ce", name="xor"),
        "XOR: 2 inputs, 2 tanh hidden units, 2 softmax outputs, cross-entropy (seed 000)",
        "000", {"optimizer": "sgd", "lr": 0.1, "epochs": 1000, "batch_size": 4, "seed": 3}),
    "linreg": Example(
        Network(1, [Dense(1, "identity"), Dense(1, "identity")], loss="mse", name="linreg"),
        "linear regression: Input(1) -> Dense(1) -> Dense(1), MSE, on X = y = [0, 1, 2, 3] (seed 004)",
        "004", {"optimizer": "sgd", "lr": 0.01, "epochs": 1000, "batch_size": 4}),
    "mlp": Example(
        Network(64, [Dense(128, "relu", dropout=0.2), Dense(10, "softmax")], loss="ce", name="mlp"),
        "digits MLP: Dense 128 relu, Dropout 0.2, Dense 10 softmax, Adam (seeds 001, 002)",
        "001, 002", {"optimizer": "adam", "lr": 0.001, "epochs": 30, "batch_size": 32}),
}


class ModelError(ValueError):
    """A MODEL argument that names nothing usable."""


def parse_spec(spec: str, loss=None) -> Network:
    """An inline spec: sizes separated by '-', each layer ``units[:activation]``."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(spec):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ModelError(_at(spec, i, "unbalanced ')'"))
        elif ch == "-" and depth == 0:
            parts.append((start, spec[start:i]))
            start = i + 1
    if depth:
        raise ModelError(_at(spec, len(spec) - 1, "unbalanced '('"))
    parts.append((start, spec[start:]))
    if len(parts) < 2:
        raise ModelError(_at(spec, 0, "a spec needs an input size and at least one layer, e.g. 2-2:tanh-1:sigmoid"))
    pos, first = parts[0]
    if not first.isdigit() or int(first) < 1:
        raise ModelError(_at(spec, pos, f"expected the input size (a positive integer), found {first!r}"))
    layers = []
    for pos, part in parts[1:]:
        units, _, act = part.partition(":")
        if not units.isdigit() or int(units) < 1:
            raise ModelError(_at(spec, pos, f"expected a layer size (a positive integer), found {units!r}"))
        act = act or "identity"
        if not (act.startswith("(") and act.endswith(")")) and act not in ACTIVATION_NAMES:
            raise ModelError(_at(spec, pos + len(units) + 1, f"unknown activation {act!r}; valid: "
                                 f"{', '.join(ACTIVATION_NAMES)}, or a formula in z in parentheses"))
        layers.append((pos + len(units) + 1, int(units), act))
    if loss is None:
        last = layers[-1][2]
        loss = "ce" if last == "softmax" else "bce" if last == "sigmoid" else "mse"
    dense = []
    for apos, units, act in layers:
        try:
            from ._network import _activation
            _activation(act)
        except FormulaError as exc:
            raise ModelError(_at(spec, apos + 1 + exc.col, f"activation formula: {exc.message}")) from None
        dense.append(Dense(units, act))
    return Network(int(first), dense, loss=loss, name=spec)


def _at(spec: str, pos: int, message: str) -> str:
    return f"{message} at position {pos + 1} of {spec!r}\n  {spec}\n  {' ' * pos}^"


def resolve(model: str, loss=None) -> tuple[str, Network]:
    """(name, network) for a MODEL argument."""
    if model in EXAMPLES:
        net = EXAMPLES[model].net
        if loss is not None:
            net = Network(net.n_inputs, net.layers, loss=loss, l2=net.l2, name=net.name)
        return model, net
    path, _, attr = model.partition(":") if model.count(":") == 1 and model.split(":")[0].endswith(".py") \
        else (model, "", "")
    if path.endswith(".py"):
        if not Path(path).is_file():
            raise ModelError(f"no such file: {path}")
        namespace = runpy.run_path(path)  # the user's own program, run as `python file.py` would
        attr = attr or "net"
        if attr not in namespace:
            raise ModelError(f"{path} defines no {attr!r}; define `{attr} = Network(...)`")
        net = namespace[attr]
        if not isinstance(net, Network):
            raise ModelError(f"{path}:{attr} is a {type(net).__name__}, not a derive.Network")
        if loss is not None:
            net = Network(net.n_inputs, net.layers, loss=loss, l2=net.l2, name=net.name)
        return attr, net
    if re.match(r"^\d", model):
        return model, parse_spec(model, loss)
    raise ModelError(f"unknown model {model!r}: not a built-in example ({', '.join(EXAMPLES)}), "
                     "a .py file, or an inline spec such as 2-2:tanh-2:softmax")


__all__ = ["EXAMPLES", "Example", "ModelError", "NetworkError", "parse_spec", "resolve"]

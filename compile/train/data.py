"""Training data: the built-in examples' data sets and MNIST files a user has, checked against a network.

``load(name_or_path, n_inputs, n_outputs)`` returns a :class:`Dataset` of batch-first float arrays:
x is (examples, features) for a whole number ``n_inputs``, or (examples, *n_inputs) for an input shape
such as (28, 28, 1) or (40, 1) (channels last, as Keras lays them out); y is (examples, outputs),
one-hot for classification. Every problem with the data raises :class:`DataError` with a message that
names what was expected and what was found, so the command line can print it as it is.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import math
import sys
import numbers
import os
import random
import re
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

BUILTINS = ("xor", "linreg", "mlp", "cnn", "cnn1d", "rnn", "gru", "charlm", "makemore", "gpt")
# Names of the data sets themselves, for the built-in of the example they serve: the digits (flat, as mlp
# takes them) and MNIST-1D (as cnn1d takes it).
ALIASES = {"digits": "mlp", "mnist1d": "cnn1d"}
BUILTIN_TEXT = ", ".join(BUILTINS) + "; digits is mlp's data, mnist1d cnn1d's"
# The shapes the convolutional and recurrent built-ins are served in when load is not given n_inputs:
# the 8x8 digits as one-channel images, MNIST-1D as one-channel signals of 40 samples (40 time steps
# of one feature for the recurrent networks).
BUILTIN_SHAPES = {"cnn": (8, 8, 1), "cnn1d": (40, 1), "rnn": (40, 1), "gru": (40, 1)}

# The digits split does not follow the training seed: a test set that moved with the seed would make
# test accuracies of two runs incomparable.
DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED = 0.2, 0
TEST_FRACTION = 0.2   # held out of a user's own data that has no test split
# How a data set's x was read, as a checkpoint records it so that predict reads new inputs alike: "pixels"
# (MNIST's arrays x_train, x_test or IDX files: 8-bit values divided by 255), "features" (as they are: a
# user's x, a .csv, a built-in data set's prepared values) or "tokens" (indices into an embedding).
INPUT_READINGS = ("pixels", "features", "tokens")


class DataError(ValueError):
    """Data that cannot train the network; the message says what was expected and what was found."""


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None   # None where there is no held-out split (xor, linreg)
    y_test: np.ndarray | None
    kind: str                   # "classification" or "regression"
    n_classes: int | None       # None for regression
    description: str
    baselines: dict = field(default_factory=dict)   # name -> loss on the test split of a model with no training
    inputs: str = "features"    # how x was read: one of INPUT_READINGS (see there)

    @property
    def input_shape(self) -> tuple:
        """One example's shape: (features,) for flat data, e.g. (8, 8, 1) for images."""
        return self.x_train.shape[1:]

    @property
    def n_inputs(self) -> int:
        """Values per example: the number of features of flat data, the product of
        ``input_shape`` for shaped data (64 for (8, 8, 1))."""
        return math.prod(self.x_train.shape[1:])

    @property
    def n_outputs(self) -> int:
        return self.y_train.shape[-1]


def check_data(x, y, n_inputs=None, n_outputs=None, kind="classification", what="data", names=("x", "y"),
               dtype=np.float32, item="images", steps=None, at=None):
    """Validate one split and return it as (x (N, n_inputs), y (N, n_outputs)) of ``dtype``.

    ``n_inputs`` is a whole number (x flattened to (N, n_inputs), as it always was), an input shape
    without the batch axis (a tuple such as (28, 28, 1): x comes back as (N, 28, 28, 1)), or None
    (unchecked, x flattened). An input shape takes x of that shape, flat x of as many values (reshaped
    row-major), or x that differs from it only in axes of size 1 ((N, 28, 28) gains its channel
    axis); ``item`` is what a message calls examples with more than one axis.

    For classification y may be integer labels (N,) or one-hot rows (N, classes); labels are turned
    into one-hot rows of width ``n_outputs`` (or max label + 1), or into a 0/1 column when the network
    has a single (sigmoid) output. For regression y is (N,) or (N, outputs). Messages begin with
    ``what`` and call the arrays ``names`` (a file's arrays by their names in the file).

    ``steps``: a network with an output at every step (a character-level language model) takes y of
    (N, steps) labels or (N, steps, classes) one-hot rows, and regression targets (N, steps, outputs).

    ``at``: how messages name a position in x and in y (a pair of :class:`_At`); by default an index into
    the array as it was given, whatever shape it is checked in (a .csv names its rows and columns instead).
    """
    xn, yn = names
    at_x, at_y = at or (_At(), _At())
    shape = _input_shape(n_inputs, what)
    x, y = _numeric(x, f"{what}: {xn}"), _numeric(y, f"{what}: {yn}")
    if steps is not None:
        if y.ndim < 2 or y.shape[1] != steps or y.ndim > 3:
            raise DataError(f"{what}: the network has an output at each of {steps} steps: expected {yn} of shape "
                            f"(examples, {steps}) labels or (examples, {steps}, outputs), found shape {y.shape}")
        flat = y.reshape(len(y) * steps, *y.shape[2:])
        at_flat = _Steps(at_y, steps)
        if kind == "regression":
            flat = flat.reshape(len(flat), -1)
            if n_outputs is not None and flat.shape[1] != n_outputs:
                raise DataError(f"{what}: the network has {n_outputs} outputs at each step, but {yn} has "
                                f"{flat.shape[1]} (shape {y.shape})")
            targets = flat
        else:
            targets = _one_hot(flat, n_outputs, f"{what}: {yn}", at_flat)
        x, _ = check_data(x, np.zeros(len(x)), n_inputs, None, "regression", what, names, dtype, item,
                          at=(at_x, at_y))
        if len(x) != len(y):
            raise DataError(f"{what}: {xn} and {yn} differ in length: {xn} has {len(x)} examples, "
                            f"{yn} has {len(y)}")
        targets = targets.reshape(len(y), steps, -1)
        return x, _cast(targets, dtype, f"{what}: {yn}", _Reshaped(at_y, y.shape[1:], targets.shape[1:]))
    given = x.shape   # as the caller's array (a file's) holds it: what a message reports
    stored_x, stored_y = x.shape[1:], y.shape[1:]
    if x.ndim == 1 and kind == "regression":
        x = x.reshape(-1, 1)
    if x.ndim < 2:
        raise DataError(f"{what}: expected {xn} of shape (examples, features), found shape {x.shape}")
    if y.ndim > 2:
        raise DataError(f"{what}: expected {yn} of shape (examples,) or (examples, outputs), found "
                        f"shape {y.shape}")
    stored = x.shape[1:]
    x = x.reshape(len(x), math.prod(x.shape[1:]))
    if len(x) != len(y):
        raise DataError(f"{what}: {xn} and {yn} differ in length: {xn} has {len(x)} examples, "
                        f"{yn} has {len(y)}")
    if len(x) == 0:
        raise DataError(f"{what}: expected at least one example, found none ({xn} shape {x.shape})")
    if y.size == 0:
        raise DataError(f"{what}: expected at least one column in {yn}, found shape {y.shape}")
    _finite(x, f"{what}: {xn}", _Reshaped(at_x, stored_x, x.shape[1:]))
    _finite(y, f"{what}: {yn}", at_y)
    if shape is not None:
        _check_layout(stored, shape, f"{what}: {xn}", item)
        x = x.reshape(len(x), *shape)
    elif n_inputs is not None and x.shape[1] != n_inputs:
        # Said in the shape the array was given in; images a whole number of inputs reads flat (as it always
        # did: MNIST's 28x28 for 784 inputs) are said as read, a row of pixels an example.
        k, shown = x.shape[1], given if item != "images" or len(given) < 3 else x.shape
        has = (f"has {k} feature{'s' if k != 1 else ''}" if len(shown) == 2 else f"has {k} values per example"
               if len(shown) > 2 else "is 1-D: one value per example")
        raise DataError(f"{what}: the network takes {n_inputs} inputs per example, but {xn} {has} ({xn} shape "
                        f"{shown})")
    if kind == "regression":
        y = y.reshape(len(y), -1)
        if n_outputs is not None and y.shape[1] != n_outputs:
            raise DataError(f"{what}: the network has {n_outputs} outputs, but {yn} has {y.shape[1]} "
                            f"columns ({yn} shape {y.shape})")
        return (_cast(x, dtype, f"{what}: {xn}", _Reshaped(at_x, stored_x, x.shape[1:])),
                _cast(y, dtype, f"{what}: {yn}", _Reshaped(at_y, stored_y, y.shape[1:])))
    if kind != "classification":
        raise DataError(f"{what}: kind must be 'classification' or 'regression', found {kind!r}")
    return (_cast(x, dtype, f"{what}: {xn}", _Reshaped(at_x, stored_x, x.shape[1:])),
            _cast(_one_hot(y, n_outputs, f"{what}: {yn}", at_y), dtype, f"{what}: {yn}"))


def _input_shape(n_inputs, what):
    """An input shape given as a tuple (or list) as a tuple of ints; None for a whole number or None."""
    if not isinstance(n_inputs, (tuple, list)):
        return None
    if not n_inputs or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0
                               for d in n_inputs):
        raise DataError(f"{what}: expected the network's input shape as positive whole numbers, such as "
                        f"(28, 28, 1), found {tuple(n_inputs)!r}")
    return tuple(int(d) for d in n_inputs)


def _dims(shape) -> str:
    return "x".join(str(d) for d in shape)


def _check_layout(stored, shape, what, item):
    """Refuse examples of shape ``stored`` that cannot be read as ``shape``: a different number of
    values, or as many values in another arrangement of axes (say channels first), which a reshape
    would silently scramble. Flat examples, and shapes that differ only in axes of size 1, fit."""
    n, m = math.prod(stored), math.prod(shape)
    holds = f"{stored[0]} values per example" if len(stored) == 1 else \
        f"{_dims(stored)} {item} ({n} values each)"
    takes = f"{m} values per example" if len(shape) == 1 else f"{_dims(shape)} ({m} values)"
    if n != m:
        raise DataError(f"{what} holds {holds}; the network takes {takes}")
    squeezed = [tuple(d for d in s if d != 1) for s in (stored, shape)]
    if len(squeezed[0]) > 1 and len(squeezed[1]) > 1 and squeezed[0] != squeezed[1]:
        raise DataError(f"{what} holds {holds}; the network takes {takes}: as many values, arranged "
                        f"differently; store the examples as {_dims(shape)} (channels last) or flat, "
                        "one row-major row each")


ALIGN = 64   # bytes: XLA's CPU client takes an array this aligned without copying it (jax.device_put)


def aligned_empty(shape, dtype):
    """An uninitialised array whose data starts on an ALIGN-byte boundary."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(size + ALIGN, np.uint8)
    start = (-raw.ctypes.data) % ALIGN
    return raw[start:start + size].view(dtype).reshape(shape)


def _cast(a, dtype, what, at=None):
    """``a`` as a ``dtype`` array: itself when it already is one (C-ordered), else a copy aligned so that
    moving it to the device costs no second copy; a DataError where finite values would round to inf,
    naming the place as ``at`` (an :class:`_At`) says."""
    at = at or _At()
    if a.dtype == np.dtype(dtype) and a.flags.c_contiguous:
        if not np.isfinite(a).all():
            i = tuple(int(k) for k in np.argwhere(~np.isfinite(a))[0])
            raise DataError(f"{what}: expected finite numbers, found {a[i].item()} at {at(i)}")
        return a
    out = aligned_empty(a.shape, dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        np.copyto(out, a, casting="unsafe")
    if not np.isfinite(out).all():
        i = tuple(int(k) for k in np.argwhere(~np.isfinite(out))[0])
        raise DataError(f"{what}: the value {a[i].item():g} at {at(i)} is too large for {np.dtype(dtype).name} "
                        f"(largest {np.finfo(dtype).max:.3g}), the precision training runs in")
    return out


def _numeric(a, what):
    """``a`` as a real numeric NumPy array (bool as 0/1), or a DataError naming its dtype."""
    try:
        a = np.asarray(a)
    except (ValueError, TypeError) as exc:  # ragged nested lists, among others
        raise DataError(f"{what}: expected a numeric array, found something NumPy cannot make one of: "
                        f"{_one_line(exc)}") from None
    if a.dtype == bool:
        a = a.astype(np.uint8)
    if np.issubdtype(a.dtype, np.complexfloating):
        # Casting to float would drop the imaginary part with only a warning.
        raise DataError(f"{what}: expected real numbers, found complex numbers (dtype {a.dtype})")
    if a.dtype.kind not in "iuf":  # timedelta64 is a NumPy number too, but no quantity to train on
        raise DataError(f"{what}: expected numbers, found dtype {a.dtype} (shape {a.shape})")
    if a.ndim == 0:
        raise DataError(f"{what}: expected an array with one entry per example, found a single value "
                        f"(shape ())")
    return a


def _one_line(exc) -> str:
    """An exception's message on one line, as every message of the command line is."""
    return " ".join(str(exc).split())


def _finite(a, what, at=None):
    bad = ~np.isfinite(a)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        at = at or _At()
        raise DataError(f"{what}: expected finite numbers, found {int(bad.sum())} NaN or inf "
                        f"value(s), the first at {at(first, whole=True)}")


class _At:
    """How a message names a place in an array: by its index in the array as the user's file holds it
    ("index 5", "index (18, 1)"). Checks look at arrays reshaped (flattened, one-hot, split into steps),
    and the wrappers below turn their indices back into the file's own before a message is written."""

    def __call__(self, index, whole=False) -> str:
        """``whole``: a full index is written as a tuple even for a 1-D array (as messages always did
        for NaN)."""
        index = tuple(int(k) for k in np.atleast_1d(index))
        return f"index {index if whole or len(index) > 1 else index[0]}"

    def row(self, r) -> str:
        return f"row {int(r)}"


class _CsvAt(_At):
    """Places in a .csv file: its row as the file numbers its lines, its column by name. ``lines[r]`` is
    the line of the array's row r, ``columns[c]`` the name of the array's column c (one for a 1-D array)."""

    def __init__(self, lines, columns):
        self.lines, self.columns = list(lines), list(columns)

    def __call__(self, index, whole=False) -> str:
        index = tuple(int(k) for k in np.atleast_1d(index))
        column = self.columns[index[1] if len(index) > 1 else 0]
        return f"row {self.lines[index[0]]}, column {column!r}"

    def row(self, r) -> str:
        return f"row {self.lines[int(r)]}"


class _Steps(_At):
    """Positions in y of (examples, steps, ...) read flattened to (examples * steps, ...)."""

    def __init__(self, at, steps):
        self.at, self.steps = at, steps

    def __call__(self, index, whole=False) -> str:
        index = tuple(int(k) for k in np.atleast_1d(index))
        return self.at((index[0] // self.steps, index[0] % self.steps, *index[1:]), whole)

    def row(self, r) -> str:
        return self.at((int(r) // self.steps, int(r) % self.steps))


class _Reshaped(_At):
    """Positions in an array whose examples were reshaped from ``stored`` to ``shape`` (flattened, or given
    the network's input shape): an index is written as the stored array has it."""

    def __init__(self, at, stored, shape):
        self.at, self.stored, self.shape = at, tuple(stored), tuple(shape)

    def __call__(self, index, whole=False) -> str:
        index = tuple(int(k) for k in np.atleast_1d(index))
        if self.stored != self.shape and math.prod(self.stored) == math.prod(self.shape) and len(index) > 1:
            flat = int(np.ravel_multi_index(index[1:], self.shape))
            index = (index[0], *(int(k) for k in np.unravel_index(flat, self.stored)))
        return self.at(index, whole)

    def row(self, r) -> str:
        return self.at.row(r)


def _one_hot(y, n_outputs, what, at=None):
    at = at or _At()
    if y.ndim == 2 and y.shape[1] > 1:
        # Already one-hot (or class probabilities): the width must match and each row sum to 1.
        whole = y.dtype.kind in "iub" or np.all(y == np.round(y))
        if n_outputs is not None and y.shape[1] != n_outputs:
            if whole and (y.max() > 1 or y.min() < 0):   # 0..2 in every column: labels, not one-hot rows
                raise DataError(f"{what}: y holds {y.shape[1]} columns of whole numbers {y.min()}..{y.max()} "
                                f"(shape {y.shape}): a classifier's targets are one label per example, shape "
                                f"({y.shape[0]},), or one-hot rows of {n_outputs} columns")
            raise DataError(f"{what}: the network has {n_outputs} outputs, but the one-hot labels have "
                            f"{y.shape[1]} columns (shape {y.shape})")
        sums = y.sum(axis=1)
        if y.min() < 0 or not np.allclose(sums, 1.0, atol=1e-6):
            row = int(np.argmax(np.abs(sums - 1.0)))
            raise DataError(f"{what}: expected one-hot label rows (non-negative, summing to 1), found "
                            f"{at.row(row)} = {y[row].tolist()}")
        return y.astype(np.float32)
    labels = y.reshape(-1)
    if not np.all(labels == np.round(labels)):
        i = int(np.argmax(labels != np.round(labels)))
        raise DataError(f"{what}: expected integer class labels, found {labels[i].item()!r} at {at((i,))}")
    binary = n_outputs == 1
    lo, hi = labels.min().item(), labels.max().item()
    classes = 2 if binary else n_outputs if n_outputs is not None else int(hi) + 1
    if lo < 0 or hi >= classes:
        bad = lo if lo < 0 else hi
        i = int(np.argmax(labels == bad))
        need = "0 or 1 for a network with one output" if binary else \
            f"in 0..{classes - 1} for a network with {classes} outputs"
        raise DataError(f"{what}: labels must be {need}, found label {_label(bad)} at {at((i,))} "
                        f"(labels span {_label(lo)}..{_label(hi)})")
    labels = labels.astype(np.int64)
    if binary:
        return labels.reshape(-1, 1).astype(np.float32)
    return np.eye(classes, dtype=np.float32)[labels]


def _label(v) -> str:
    """A whole-number label as written: 7, not 7.0; 1e+30, not its 31 digits."""
    return f"{v:.0f}" if abs(v) < 1e15 else f"{v:g}"


def load(name_or_path, n_inputs=None, n_outputs=None, seed=DIGITS_SPLIT_SEED, regression=False,
         steps=None, target=None, test_fraction=TEST_FRACTION, vocab=None) -> Dataset:
    """A built-in data set ('xor', 'linreg', 'mlp', 'cnn', 'cnn1d', 'rnn', 'gru') or MNIST from a path (.npz or IDX
    files), checked against a network with ``n_inputs`` inputs and ``n_outputs`` outputs (None:
    unchecked).

    ``n_inputs`` is a whole number (x comes back flat, (examples, n_inputs)) or the network's input
    shape without the batch axis, e.g. (28, 28, 1) or (40, 1): x comes back as (examples, *n_inputs)
    (see :func:`check_data` for the layouts that fit). Without it, x is flat, except for 'cnn' (8x8
    digits, (8, 8, 1)) and 'cnn1d' (MNIST-1D, (40, 1)), served in the shape they are made for.

    A file's y are class labels, unless ``regression`` (a network whose loss is no cross-entropy) and
    they cannot be labels of this network (see ``_regression_targets``): then they are targets.

    ``vocab``: the network starts with an embedding of that many rows, so x must hold token indices,
    whole numbers in 0..vocab-1 (see :func:`check_tokens`)."""
    name = str(name_or_path)
    name = ALIASES.get(name, name)
    builtin = name in BUILTINS  # a built-in name wins over a file of that name; ./mlp reaches the file
    if builtin and target is not None:   # its targets are its own: a target column would be ignored
        raise DataError(f"--target names a column of a .csv file; {str(name_or_path)!r} is a built-in data set, no "
                        ".csv file")
    if builtin:
        raw = {"xor": _xor, "linreg": _linreg, "mlp": lambda: _digits(seed),
               "cnn": lambda: _digits(seed, images=True), "cnn1d": _mnist1d, "rnn": _mnist1d,
               "gru": _mnist1d, "charlm": _characters, "makemore": _names, "gpt": _pydoc}[name]()
        if n_inputs is None:
            n_inputs = BUILTIN_SHAPES.get(name)
        if vocab is not None:
            for part in raw[:2]:
                if part is not None:
                    check_tokens(part.x, vocab, f"{name}: {part.what}")
    else:
        raw = _from_path(Path(name), target, test_fraction, vocab)
    train, test, kind, description = raw[:4]
    baselines = raw[4] if len(raw) > 4 else {}
    if not builtin and regression and _regression_targets(train.y, n_outputs):
        kind = "regression"
        description += " (y read as regression targets)"
    xtr, ytr = check_data(train.x, train.y, n_inputs, n_outputs, kind, train.what, train.names,
                          item=train.item, steps=steps, at=train.at)
    if vocab is not None and not builtin:   # token indices, once x's shape is known to be the network's
        check_tokens(_numeric(train.x, f"{train.what}: {train.names[0]}"), vocab, f"{train.what}: {train.names[0]}",
                     train.at[0] if train.at else None)
    xte = yte = None
    if train.held is not None:
        # Checked whole above, so that a message names the file's own array and position; split only now.
        order, cut = train.held
        xtr, xte = _take(xtr, order[:cut]), _take(xtr, order[cut:])
        ytr, yte = _take(ytr, order[:cut]), _take(ytr, order[cut:])
    if test is not None:
        # The test split must fit the same network and have as many outputs as the training split.
        fit = xtr.shape[1:] if isinstance(n_inputs, (tuple, list)) else xtr.shape[1]
        xte, yte = check_data(test.x, test.y, fit, n_outputs or ytr.shape[-1], kind, test.what,
                              test.names, item=test.item, steps=steps)
        if vocab is not None and not builtin:
            check_tokens(_numeric(test.x, f"{test.what}: {test.names[0]}"), vocab, f"{test.what}: {test.names[0]}")
    n_classes = None if kind == "regression" else (2 if ytr.shape[-1] == 1 else ytr.shape[-1])
    inputs = "tokens" if vocab is not None else "pixels" if train.pixels else "features"
    return Dataset(xtr, ytr, xte, yte, kind, n_classes, description, baselines, inputs)


def _take(a, rows):
    """Rows ``rows`` of a checked array, as a copy aligned as ``_cast`` aligns it."""
    out = aligned_empty((len(rows), *a.shape[1:]), a.dtype)
    np.take(a, rows, axis=0, out=out)
    return out


def read_inputs(name_or_path, n_inputs=None, drop=(), vocab=None, trained_on=None) -> tuple:
    """(x, description): examples to predict on, without targets, checked against a network's input
    (``n_inputs`` as in :func:`load`; ``vocab``: the input is token indices into an embedding of that many
    rows). A built-in data set gives its test split (else its training split); an .npy file is the examples
    themselves; an .npz file its array x (else x_test, else x_train; see ``_npz_inputs`` for which are
    MNIST's pixels, scaled as training scales them); a folder its x.npy; a .csv file every column but those
    named in ``drop`` (a target column, an id: never read, so they may hold anything).

    ``trained_on``: how the network's training read its x (one of INPUT_READINGS, as a checkpoint records
    it; None where unknown), or a function giving it, called only where a file leaves it open (an .npz
    holding x_test alone)."""
    name = str(name_or_path)
    path = Path(name)
    if drop and (name in BUILTINS or path.suffix.lower() != ".csv"):
        raise DataError(f"--drop names columns of a .csv file; {name!r} is no .csv file")
    twice = next((c for k, c in enumerate(drop) if c in drop[:k]), None)
    if twice is not None:   # a slip for another column, most likely: which one cannot be known
        raise DataError(f"--drop {twice} is given twice: name each column once")
    if name in BUILTINS:
        data = load(name, vocab=vocab)   # checked against the network below, as the split it gives
        split = "test" if data.x_test is not None else "training"
        what = f"{name}: the {split} split"
        x = data.x_test if data.x_test is not None else data.x_train
        x, _ = check_data(x, np.zeros(len(x)), n_inputs, None, "regression", what, item="examples")
        return x, f"{what}, {len(x)} examples"
    try:
        kind = "file" if path.is_file() else "folder" if path.is_dir() else None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {name!r}: {getattr(exc, 'strerror', None) or _one_line(exc)}") from None
    expected = f"a built-in data set ({BUILTIN_TEXT}), an .npy, .npz or .csv file, or a folder holding x.npy"
    special = _special(path) if kind is None else None
    if special:   # never opened: reading a FIFO waits for a writer
        raise DataError(f"{name!r} is {special}, neither a file nor a folder: expected {expected}")
    if kind is None:
        raise DataError(f"no such file or directory: {name!r} (expected {expected})")
    what, xname, pixels, at, decided = path.name, "x", False, None, False
    if kind == "folder":
        if not (path / "x.npy").is_file():
            raise DataError(f"{name}: a folder of inputs must hold x.npy")
        x, what = read_npy(path / "x.npy"), f"{path.name}/x.npy"
    elif path.suffix.lower() == ".csv":
        x, header, given, lines = _read_table(path, skip=drop)
        unknown = [c for c in drop if c not in header]
        if unknown and not given:
            raise DataError(f"{path.name}: the file has no header row (its first row is numbers), so --drop names a "
                            f"column by its number, 0 to {len(header) - 1}, not {unknown[0]!r}")
        if unknown:
            raise DataError(f"{path.name}: no column named {unknown[0]!r}; the columns are {', '.join(header)}")
        if not given:
            what += " (no header row: its columns numbered from 0)"
        elif given == PANDAS:
            what += f" ({PANDAS_SAID.format(len(header) - 1)})"
        keep = [j for j, h in enumerate(header) if h not in drop]
        if not keep:
            raise DataError(f"{path.name}: --drop leaves no column to read")
        x = x[:, keep]
        at = (_CsvAt(lines, [header[j] for j in keep]), _At())
    elif path.suffix.lower() == ".npy":
        x = read_npy(path)
    elif path.suffix.lower() == ".npz" or zipfile.is_zipfile(path):
        x, xname, pixels, why = _npz_inputs(path, n_inputs, trained_on)
        decided = xname == "x_test" and bool(why)   # x_test alone: read as the checkpoint says, and said
        if decided:
            what += (f" (x_test read as {'pixels, scaled as training scales them' if pixels else 'features, as they are'}"
                     f": {why})")
    else:
        raise DataError(f"{name}: expected an .npy, .npz or .csv file of inputs (or a folder holding x.npy)")
    if vocab is None and trained_on is not None and not decided:
        # however the file would be read alone, the inputs are read as the checkpoint's training read its x
        recorded = trained_on() if callable(trained_on) else trained_on
        if recorded in ("pixels", "features") and (recorded == "pixels") != pixels or recorded == "pixels":
            pixels = recorded == "pixels"
            what += (f" ({xname} read as {'pixels, scaled as training scales them' if pixels else 'features, as they are'}"
                     f": {_alone(n_inputs, recorded)[1]})")
    x = _numeric(x, f"{what}: {xname}")
    if vocab is not None:
        check_tokens(x, vocab, f"{what}: {xname}", at and at[0])
    elif pixels:
        x = _scale_pixels(x, f"{path.name}: {xname}")
    x, _ = check_data(x, np.zeros(len(x)), n_inputs, None, "regression", what, (xname, "y"), item="examples",
                      at=at)
    return x, f"{what}: {len(x)} examples"


def _npz_inputs(path: Path, n_inputs=None, trained_on=None):
    """(array, its name, whether it holds MNIST's pixels, why where x_test stands alone) of an .npz file,
    read without pickle: x, else x_test, else x_train. As ``train`` reads a file: x holds features as they
    are, x_train MNIST's pixels (scaled to [0, 1]), and x_test what its file's training array holds: pixels
    beside x_train, features beside x. Alone, x_test is read as the network's training data was read
    (``trained_on``, as in :func:`read_inputs`): pixels where that was MNIST's pixels, else features as they
    are. Where that is unknown (parameters a user saved), pixels for a network that takes images (an input
    of height, width and channels), features for any other: the array's dtype decides nothing, since
    ``train`` reads uint8 features (an x beside y) as they are."""
    with open_npz(path, "inputs x (or x_test, x_train)") as z:
        for k in ("x", "x_test", "x_train"):
            if k in z.files:
                a = npz_array(z, k, path)
                if k == "x_test" and "x_train" not in z.files:
                    pixels, why = _alone(n_inputs, trained_on() if callable(trained_on) else trained_on)
                    return a, k, pixels, why
                return a, k, k != "x", ""
        raise DataError(f"{path.name}: expected an array named x (or x_test, x_train) of inputs; found "
                        f"{', '.join(sorted(z.files)) or 'none'}")


def _alone(n_inputs, trained_on) -> tuple:
    """(whether x_test alone holds pixels, why) for a network with input ``n_inputs`` trained on x read as
    ``trained_on`` (one of INPUT_READINGS, or None where unknown)."""
    if trained_on == "pixels":
        return True, "the checkpoint's network was trained on MNIST's pixels"
    if trained_on in INPUT_READINGS:
        return False, f"the checkpoint's network was trained on {trained_on} read as they are"
    if isinstance(n_inputs, (tuple, list)) and len(n_inputs) == 3:
        return True, "the network takes images; how its training data was read is not recorded"
    return False, "how the network's training data was read is not recorded"


def check_tokens(x, vocab: int, what: str, at=None) -> None:
    """Inputs of a network that starts with an embedding are row indices into its table: whole numbers
    from 0 to ``vocab`` - 1, stored as integers or as floats that are whole. Anything else would be read
    wrong without a word (JAX's gather clamps an index out of range, a float is cut to an integer, a
    negative index counts from the end), so the first that is not is named, with its position."""
    a = np.asarray(x)
    if a.size == 0:
        return
    with np.errstate(invalid="ignore"):
        bad = (a < 0) | (a >= vocab)
        if a.dtype.kind == "f":
            bad |= ~np.isfinite(a) | (a != np.round(a))
    if not bad.any():
        return
    i = tuple(int(k) for k in np.argwhere(bad)[0])
    v = a[i].item()
    why = "not a whole number" if isinstance(v, float) and np.isfinite(v) and v != round(v) else \
        "not a number" if isinstance(v, float) and not np.isfinite(v) else "out of range"
    shown = _label(v) if isinstance(v, int) or (np.isfinite(v) and v == round(v)) else f"{v:g}"
    raise DataError(f"{what}: the network's embedding reads token indices, whole numbers in 0..{vocab - 1} (a "
                    f"vocabulary of {vocab}); found {shown} at {(at or _At())(i)} ({why}, "
                    f"{int(bad.sum())} such value{'s' if bad.sum() != 1 else ''} in all)")


def files_read(name_or_path) -> list:
    """The files that :func:`load` or :func:`read_inputs` would read for ``name_or_path``: the file itself,
    or a folder's x.npy, y.npy, x_test.npy, y_test.npy and IDX files; none for a built-in data set. A
    command checks its output paths against them, so that it never writes over what it reads."""
    name = str(name_or_path)
    if name in BUILTINS:
        return []
    path = Path(name)
    try:
        if path.is_dir():
            found = [path / f"{k}.npy" for k in ("x", "y", "x_test", "y_test") if (path / f"{k}.npy").is_file()]
        elif path.is_file():
            found = [path]
        else:
            return []
        if not path.is_file() or "idx" in path.name:
            found += list((find_idx(path) or {}).values())
    except (OSError, ValueError, DataError):   # an unreadable path: reading it says so
        return []
    return found


def _regression_targets(y, n_outputs) -> bool:
    """Whether y cannot be class labels of a network with ``n_outputs`` outputs: numbers that are not
    whole, rows that are not one-hot, or, for one output, values other than 0 and 1."""
    try:
        y = np.asarray(y, np.float64)
    except (ValueError, TypeError):
        return False  # not numbers: check_data says so in the terms of labels
    if y.size == 0 or not np.isfinite(y).all():
        return False
    if y.ndim == 2 and y.shape[1] > 1:
        return bool(y.min() < 0 or not np.allclose(y.sum(axis=1), 1.0, atol=1e-6))
    if n_outputs == 1:
        return not np.isin(y, (0, 1)).all()
    return not np.all(y == np.round(y))


@dataclass(frozen=True)
class _Split:
    """One split as read, before checking; ``what`` and ``names`` say where it came from."""
    x: object
    y: object
    what: str
    names: tuple = ("x", "y")
    item: str = "images"  # what a message calls one example with more than one axis
    at: tuple | None = None    # how messages name places in x and y (see _At); None: by index
    held: tuple | None = None  # (order, cut): the test split is held out of these examples after checking
    pixels: bool = False       # x was read as MNIST's pixels (scaled to [0, 1] as _scale_pixels scales them)


def _characters():
    """Next-character prediction on the Zen of Python: every window of CHAR_STEPS characters, one-hot,
    against the same window shifted by one; the last fifth of the text is the test split."""
    from derive.network.examples import CHAR_STEPS, char_vocabulary, zen_text
    text = zen_text()
    vocab = char_vocabulary(text)
    index = np.array([vocab.index(c) for c in text])
    starts = np.arange(len(text) - CHAR_STEPS)
    x = np.eye(len(vocab))[index[starts[:, None] + np.arange(CHAR_STEPS)]]
    y = index[starts[:, None] + np.arange(1, CHAR_STEPS + 1)]
    cut = int(len(starts) * 0.8) - CHAR_STEPS   # no test window overlaps a training one
    return (_Split(x[:cut], y[:cut], "training windows", item="windows"),
            _Split(x[cut + CHAR_STEPS:], y[cut + CHAR_STEPS:], "test windows", item="windows"), "classification",
            f"the Zen of Python ({len(text)} characters, {len(vocab)} distinct), windows of {CHAR_STEPS}")


def _names():
    """Next-character prediction on first names (Bengio et al. 2003's task, as makemore sets it): the
    5,000-odd distinct first names of the US census lists the ``names`` package ships, lower case, each
    ended by '.', every character predicted from the MAKEMORE_CONTEXT before it ('.' before the start).
    The names are shuffled with a fixed seed and split 80/10/10 as makemore splits them; the test split
    here is the 10% validation split. Baselines on it: the uniform guess and the bigram counts of the
    training split (add-one smoothed), the models to beat."""
    from derive.network.examples import MAKEMORE_CONTEXT, name_list
    words = name_list()
    chars = ["."] + sorted(set("".join(words)))
    index = {c: i for i, c in enumerate(chars)}
    order = np.random.default_rng(42).permutation(len(words))
    words = [words[i] for i in order]
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))

    def windows(part):
        xs, ys = [], []
        for w in part:
            context = [0] * MAKEMORE_CONTEXT
            for c in w + ".":
                xs.append(context)
                ys.append(index[c])
                context = context[1:] + [index[c]]
        return np.array(xs, np.float64), np.array(ys)
    (xtr, ytr), (xva, yva) = windows(words[:n1]), windows(words[n1:n2])
    counts = np.ones((len(chars), len(chars)))
    np.add.at(counts, (xtr[:, -1].astype(int), ytr), 1)
    probs = counts / counts.sum(1, keepdims=True)
    bigram = float(-np.mean(np.log(probs[xva[:, -1].astype(int), yva])))
    return (_Split(xtr, ytr, "training names", item="contexts"), _Split(xva, yva, "validation names", item="contexts"),
            "classification", f"{len(words)} first names from the US census lists of the `names` package, "
            f"{len(chars)} characters, contexts of {MAKEMORE_CONTEXT}; split 80/10/10 (validation: the test here)",
            {"uniform": float(np.log(len(chars))), "bigram": bigram})


def _pydoc():
    """Next-character prediction on the pydoc topics that ship with Python: the first 90% of the text
    cut into windows of GPT_CONTEXT characters (each against the same window shifted by one), the last
    10% likewise as the validation split. Baselines on it: the uniform guess, and the bigram counts of
    the training split (add-one smoothed)."""
    from derive.network.examples import GPT_CONTEXT, char_vocabulary, pydoc_text
    text = pydoc_text()
    vocab = char_vocabulary(text)
    index = {c: i for i, c in enumerate(vocab)}
    ids = np.array([index[c] for c in text])
    cut = int(0.9 * len(ids))

    def windows(part):
        starts = np.arange(0, len(part) - GPT_CONTEXT - 1, GPT_CONTEXT)
        return (part[starts[:, None] + np.arange(GPT_CONTEXT)].astype(np.float64),
                part[starts[:, None] + np.arange(1, GPT_CONTEXT + 1)])
    (xtr, ytr), (xva, yva) = windows(ids[:cut]), windows(ids[cut:])
    counts = np.ones((len(vocab), len(vocab)))
    np.add.at(counts, (ids[:cut - 1], ids[1:cut]), 1)
    probs = counts / counts.sum(1, keepdims=True)
    bigram = float(-np.mean(np.log(probs[xva.astype(int), yva])))
    return (_Split(xtr, ytr, "training windows", item="windows"), _Split(xva, yva, "validation windows", item="windows"),
            "classification", f"the pydoc topics of Python {sys.version_info.major}.{sys.version_info.minor} "
            f"({len(text)} characters, {len(vocab)} distinct), windows of {GPT_CONTEXT}; the last 10% is the "
            "validation split (the test here)", {"uniform": float(np.log(len(vocab))), "bigram": bigram})


def _xor():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    return (_Split(x, np.array([0, 1, 1, 0]), "training data"), None, "classification",
            "XOR truth table, 4 points")


def _linreg():
    x = np.arange(4, dtype=np.float32).reshape(4, 1)
    return _Split(x, x.copy(), "training data"), None, "regression", "X = y = [0, 1, 2, 3]"


def _digits(seed, images=False):
    """The 8x8 digits, pixels scaled to [0, 1]: flat rows of 64 for 'mlp', 8x8 images for 'cnn' (the
    same rows, which scikit-learn flattens row-major), in the same split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x / 16.0, y, test_size=DIGITS_TEST_FRACTION, stratify=y,
                                          random_state=seed)
    if images:
        xtr, xte = xtr.reshape(-1, 8, 8), xte.reshape(-1, 8, 8)
    return (_Split(xtr, ytr, "training data"), _Split(xte, yte, "test data"), "classification",
            f"scikit-learn 8x8 digits: {len(xtr)} train, {len(xte)} test (stratified, seed {seed})")


MNIST1D_ARRAYS = ("x", "y", "x_test", "y_test")
NEED_MNIST1D = "the cnn1d data set (MNIST-1D) is generated by the mnist1d package: pip install mnist1d"


def _mnist1d():
    """MNIST-1D as the mnist1d package generates it with its default arguments (4000 train, 1000
    test signals of 40 samples, 10 classes), generated here rather than downloaded, and cached."""
    arrays, version = _mnist1d_arrays()
    train = _Split(arrays["x"], arrays["y"], "training data", item="signals")
    test = _Split(arrays["x_test"], arrays["y_test"], "test data", item="signals")
    made = f"mnist1d {version}" if version else "mnist1d"
    return (train, test, "classification",
            f"MNIST-1D ({made}, default arguments): {len(train.x)} train, {len(test.x)} test")


def _mnist1d_arrays():
    """The arrays x, y, x_test, y_test of MNIST-1D and the mnist1d version that made them: read from
    the cache, or generated (some seconds) and cached for the next run."""
    import importlib.metadata
    try:
        version = importlib.metadata.version("mnist1d")
    except importlib.metadata.PackageNotFoundError:
        version = None  # generation says whether the package is there at all; nothing is cached
    path = None
    if version is not None and (folder := cache_dir()) is not None:
        path = folder / f"mnist1d-{version.replace(os.sep, '_')}.npz"
        arrays = _read_mnist1d_cache(path)
        if arrays is not None:
            return arrays, version
    arrays = _generate_mnist1d()
    if path is not None:
        _write_cache(path, arrays)
    return arrays, version


def cache_dir() -> Path | None:
    """derivax's folder in the user cache directory: $XDG_CACHE_HOME/derivax, or ~/.cache/derivax;
    None where there is no home directory to put it in."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # unset, empty or relative: the XDG specification says to ignore it
        try:
            base = Path.home() / ".cache"
        except (RuntimeError, KeyError):
            return None
    return Path(base) / "derivax"


def _generate_mnist1d() -> dict:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:
        raise DataError(f"{NEED_MNIST1D} (importing it failed: {_one_line(exc)})") from None
    # make_dataset seeds NumPy's and Python's global generators: the caller's streams are put back.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {k: np.asarray(data[k]) for k in MNIST1D_ARRAYS}


def _read_mnist1d_cache(path: Path):
    """The cached arrays, or None where there is no cache or it cannot be read or makes no sense
    (then the data is generated again and the cache rewritten)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in MNIST1D_ARRAYS}
    except Exception:  # missing, damaged, not an .npz, an array missing: all mean generate again
        return None
    x, y, xt, yt = (arrays[k] for k in MNIST1D_ARRAYS)
    if not (x.ndim == xt.ndim == 2 and y.ndim == yt.ndim == 1 and len(x) == len(y) > 0
            and len(xt) == len(yt) > 0 and x.shape[1] == xt.shape[1]
            and all(a.dtype.kind in "iuf" for a in (x, y, xt, yt))):
        return None
    return arrays


def _write_cache(path: Path, arrays: dict):
    """``arrays`` saved to ``path`` whole or not at all (a temporary file renamed into place), so a
    run reading the cache meanwhile never sees half a file; a folder that cannot be written to only
    means the data is generated again next time."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _from_path(path: Path, target=None, test_fraction=TEST_FRACTION, vocab=None):
    try:
        path.stat()  # a name too long, a folder on the way that cannot be searched: said here, once
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:  # ValueError: a NUL character in the name
        raise DataError(f"cannot read {str(path)!r}: {getattr(exc, 'strerror', None) or _one_line(exc)}") from None
    if not path.exists():
        raise DataError(f"no such file or directory: {str(path)!r} (expected a built-in data set "
                        f"({BUILTIN_TEXT}), an .npz file or a directory of IDX files)")
    if not (path.is_file() or path.is_dir()):  # a device or a pipe: reading it could block forever
        raise DataError(f"{str(path)!r} is neither a file nor a directory: expected an .npz file or a "
                        "directory of IDX files")
    if path.is_file() and path.suffix.lower() == ".csv":
        x, y, header, given, at = _read_csv(path, target)
        train, test, kind, what = _features(x, y, None, None, path.name, ("the feature columns",
                                            target or "the last column"), test_fraction, vocab, at)
        if header is None:   # said where the run says what it read: the first row was taken as data
            what += (f" (no header row: the columns are numbered 0 to {x.shape[1]}, the target is column "
                     f"{target or x.shape[1]})")
        elif given == PANDAS:   # and where it was taken as pandas' column names
            what += f" ({PANDAS_SAID.format(x.shape[1])})"
        return train, test, kind, what
    if target is not None:
        raise DataError(f"--target names a column of a .csv file; {str(path)!r} is no .csv file")
    if path.is_file() and path.suffix.lower() == ".npy":
        read_npy(path)   # says what the file is, if it is no .npy file at all
        raise DataError(f"{str(path)!r} is an .npy file, a single array: the data needs inputs and targets, as an "
                        f".npz file with arrays x, y (np.savez) or a folder holding x.npy and y.npy")
    if path.is_dir() and (path / "x.npy").exists():
        arrays = {k: _read_npy(path / f"{k}.npy") for k in ("x", "y", "x_test", "y_test")
                  if (path / f"{k}.npy").exists()}
        if "y" in arrays and ("x_test" in arrays) != ("y_test" in arrays):
            given, missing = ("x_test", "y_test") if "x_test" in arrays else ("y_test", "x_test")
            raise DataError(f"{path}: holds {given}.npy but no {missing}.npy: a test split is the pair x_test.npy, "
                            "y_test.npy (or neither, and derivax holds out a part of the training data)")
        if "y" not in arrays or ("x_test" in arrays) != ("y_test" in arrays):
            raise DataError(f"{path}: expected x.npy and y.npy (and optionally x_test.npy, y_test.npy), found "
                            f"{', '.join(sorted(f.name for f in path.glob('*.npy')))}")
        return _features(arrays["x"], arrays["y"], arrays.get("x_test"), arrays.get("y_test"), str(path),
                         ("x.npy", "y.npy"), test_fraction, vocab)
    if path.is_file() and (path.suffix == ".npz" or zipfile.is_zipfile(path)):
        arrays = _read_npz(path)
        if "x" in arrays:   # features as they are (standardised, any range), for classification or regression
            return _features(arrays["x"], arrays["y"], arrays.get("x_test"), arrays.get("y_test"), path.name,
                             ("x", "y"), test_fraction, vocab)
        train = _Split(arrays["x_train"], arrays["y_train"], path.name, ("x_train", "y_train"))
        test = _Split(arrays["x_test"], arrays["y_test"], path.name, ("x_test", "y_test")) \
            if "x_test" in arrays else None
        where = path.name
    else:
        files = find_idx(path)
        if files is None:
            raise DataError(f"unknown data format at {str(path)!r}: expected an .npz file with arrays "
                            f"x_train, y_train, x_test, y_test (MNIST) or x, y (your features), a folder of x.npy "
                            f"and y.npy, a .csv file, or IDX files named {', '.join(IDX_NAMES)} "
                            "(optionally .gz)")
        folder = str(files["train-images"].parent)

        def split(kind):
            xf, yf = files[f"{kind}-images"], files[f"{kind}-labels"]
            return _Split(read_idx(xf), read_idx(yf), folder, (xf.name, yf.name))
        train = split("train")
        test = split("t10k") if "t10k-images" in files else None
        where = f"IDX files in {folder}"
    if vocab is not None:   # token indices, not pixels: never scaled, checked once their shape is (by load)
        where += f": {len(train.x)} train" + (f", {len(test.x)} test" if test is not None else "")
        return train, test, "classification", where
    # Pixels scaled before the description is written: it counts examples, which needs arrays.
    train = replace(train, x=_scale_pixels(train.x, f"{train.what}: {train.names[0]}"), pixels=True)
    test = None if test is None else replace(test, x=_scale_pixels(test.x, f"{test.what}: {test.names[0]}"),
                                             pixels=True)
    where += f": {len(train.x)} train" + (f", {len(test.x)} test" if test is not None else "")
    if test is None and test_fraction and len(train.x) > 1:   # no test split: a part held out, as from x, y
        train = replace(train, held=_held_out(len(train.x), test_fraction, where))
        where += (f" ({len(train.x) - train.held[1]} of them, {test_fraction:.0%}, held out for testing: the data has "
                  "no test split)")
    return train, test, "classification", where


NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def _read_npz(path: Path, vocab=None) -> dict:
    """The arrays x_train, y_train and, when present, x_test, y_test of an .npz file, read without
    pickle: a data file must not be able to run code."""
    with open_npz(path, "arrays x_train, y_train (and optionally x_test, y_test)") as z:
        have = set(z.files)
        plain = {"x", "y"} <= have and not {"x_train", "y_train"} & have
        if {"x", "y"} <= have and {"x_train", "y_train"} & have:
            raise DataError(f"{path.name}: holds both x, y (features) and {', '.join(sorted({'x_train', 'y_train'} & have))}"
                            " (MNIST's pixels): which to train on is unclear; keep one pair in the file")
        if (plain or {"x_train", "y_train"} <= have) and ("x_test" in have) != ("y_test" in have):
            given, missing = ("x_test", "y_test") if "x_test" in have else ("y_test", "x_test")
            raise DataError(f"{path.name}: holds {given} but no {missing}: a test split is the pair x_test, y_test "
                            f"(or neither, and derivax holds out a part of the training data)")
        if not (plain or {"x_train", "y_train"} <= have) or ("x_test" in have) != ("y_test" in have):
            raise DataError(f"{path.name}: expected arrays x, y (features as they are) or x_train, y_train (MNIST's "
                            f"pixels), and optionally x_test, y_test; found {', '.join(sorted(z.files)) or 'none'}")
        return {k: npz_array(z, k, path) for k in (("x", "y", "x_test", "y_test") if plain else NPZ_ARRAYS)
                if k in z.files}


# ---- .npy and .npz files: one reader for data, inputs and checkpoints ----
#
# np.load reports a damaged file in its own terms (BadZipFile, EOFError, "pickled data", a TypeError when an
# .npy stands where an .npz was expected). A user needs to know what the file is instead: empty, an .npy
# file, a truncated archive, text. The first bytes tell: an .npy file starts with NPY_MAGIC, a zip archive
# (which is what an .npz is) with ZIP_MAGIC.

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")   # a local file header; the end record of an empty archive


def _head(path: Path, expected: str, role: str = "") -> bytes:
    """The first bytes of a file to read, or a DataError: missing, unreadable, a folder, empty. ``role``
    names the file in messages ("the checkpoint ")."""
    kind = _special(path)
    if kind:   # never opened: reading a FIFO waits for a writer, a device may never end
        raise DataError(f"{role}{str(path)!r} is {kind}, not a file: expected {expected}")
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except IsADirectoryError:
        raise DataError(f"{role}{str(path)!r} is a directory: expected {expected}") from None
    except FileNotFoundError:
        raise DataError(f"cannot read {role}{str(path)!r}: no such file") from None
    except (OSError, ValueError) as exc:   # ValueError: a NUL character in the name
        raise DataError(f"cannot read {role}{str(path)!r}: {getattr(exc, 'strerror', None) or _one_line(exc)}") \
            from None
    if not head:
        raise DataError(f"{role}{str(path)!r} is empty: expected {expected}")
    return head


def _special(path) -> str | None:
    """What ``path`` is where it exists but is neither a file nor a directory (a FIFO, a device, a socket);
    None otherwise."""
    try:
        if not os.path.exists(path) or os.path.isfile(path) or os.path.isdir(path):
            return None
    except (OSError, ValueError):   # ValueError: a NUL character in the name; opening it says so
        return None
    from derive.network.examples import file_kind
    return file_kind(path)


def _looks_like(head: bytes) -> str:
    """What a file that is not the expected kind seems to be, from its first bytes, for a message."""
    if head.startswith(NPY_MAGIC):
        return "an .npy file (a single array)"
    if head.startswith(ZIP_MAGIC):
        return "a zip archive"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    return "text" if text.isprintable() or set(text) <= set(text.strip() + " \t\r\n") else ""


def open_npz(path, holds: str = "named arrays", role: str = ""):
    """``np.load`` of an .npz archive, without pickle, as a context manager; a DataError that says what
    the file is instead: empty, an .npy file, a truncated archive, text or other bytes. ``role`` names the
    file in messages ("the checkpoint ")."""
    path = Path(path)
    expected = f"an .npz file (as np.savez writes) with {holds}"
    head = _head(path, expected, role)
    named = f"{role}{str(path)!r}"
    if head.startswith(NPY_MAGIC):
        raise DataError(f"{named} is not an .npz file but an .npy file (a single array, as np.save writes): "
                        f"expected an .npz archive (as np.savez writes) with {holds}")
    if not zipfile.is_zipfile(path):
        if head.startswith(ZIP_MAGIC):
            raise DataError(f"{named} is truncated or damaged: it starts as an .npz (zip) archive, but its "
                            "directory at the end is missing; write the file again")
        kind = _looks_like(head)
        raise DataError(f"{named} is not an .npz file: expected a zip archive of .npy arrays, as "
                        f"np.savez writes, found a file starting with bytes {head[:8].hex(' ')}"
                        + (f" ({kind})" if kind else ""))
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - zipfile and format errors: the archive is damaged
        raise DataError(f"{named} is a damaged .npz archive: {_one_line(exc)}") from None


def _declared(f, size: int):
    """(shape, dtype, bytes its data takes, bytes the file holds after the header) of the .npy file open as ``f``
    at its start (``size``: its length in bytes), from its header alone; None where the header is no .npy header
    derivax reads this way (np.load then says what is wrong). NumPy allocates the array the header declares
    before it reads the data: a header declaring more than the file holds is refused before that."""
    from numpy.lib import format as npy
    try:
        version = npy.read_magic(f)
        read = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(version)
        if read is None:
            return None
        shape, _, dtype = read(f)
        start = f.tell()
    except Exception:  # noqa: BLE001 - a damaged header: np.load reports it in its own words
        return None
    if dtype.hasobject or not all(isinstance(d, int) and d >= 0 for d in shape):
        return None
    return shape, dtype, math.prod(shape) * dtype.itemsize, size - start


def _overdeclared(declared) -> str:
    """What an .npy header (``_declared``) that declares more data than its file holds declares, and what the
    file holds; '' where it declares no more."""
    if declared is None or declared[2] <= declared[3]:
        return ""
    shape, dtype, need, held = declared
    return f"shape {shape} of {dtype.name}, {need:,} bytes of data; {max(held, 0):,} bytes follow the header"


def npz_array(z, key: str, path) -> np.ndarray:
    """The array ``key`` of an open .npz archive, or a DataError naming the file and the array: one that
    needs pickle (Python objects), a damaged or truncated member, a member that is not an .npy array, a
    member whose header declares more data than the archive holds for it."""
    name = Path(path).name
    try:
        member = f"{key}.npy" if f"{key}.npy" in z.zip.namelist() else key
        info = z.zip.getinfo(member)
        with z.zip.open(info) as f:
            problem = _overdeclared(_declared(f, info.file_size))
    except Exception:  # noqa: BLE001 - no such member, a damaged one: reading it says which
        problem = ""
    if problem:
        raise DataError(f"{name}: array {key} is truncated or damaged: its header promises more data than the "
                        f"archive holds for it ({problem})")
    try:
        a = z[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise DataError(f"{name}: array {key} holds Python objects (dtype object), which only pickle can "
                            "read, and derivax does not unpickle files: save numeric arrays instead") from None
        raise DataError(f"{name}: cannot read array {key}: {_one_line(exc)}") from None
    except (EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{name}: array {key} is truncated or damaged ({_one_line(exc) or type(exc).__name__})") \
            from None
    except Exception as exc:  # noqa: BLE001 - a damaged member: CRC or .npy header errors
        raise DataError(f"{name}: cannot read array {key}: {_one_line(exc)}") from None
    if not isinstance(a, np.ndarray):  # a zip member that is not a .npy file: np.load hands its bytes
        raise DataError(f"{name}: member {key} is not a .npy array")
    return a


def read_npy(path) -> np.ndarray:
    """One array from an .npy file, without pickle, or a DataError saying what the file is instead:
    empty, an .npz archive, text or other bytes, truncated, or an array of Python objects."""
    path = Path(path)
    head = _head(path, "an .npy file (as np.save writes)")
    if not head.startswith(NPY_MAGIC):
        kind = _looks_like(head)
        also = " (an .npz archive of several arrays)" if kind == "a zip archive" else f" ({kind})" if kind else ""
        raise DataError(f"{str(path)!r} is not an .npy file: expected an array as np.save writes it, found a file "
                        f"starting with bytes {head[:8].hex(' ')}{also}")
    try:
        with open(path, "rb") as f:
            problem = _overdeclared(_declared(f, os.fstat(f.fileno()).st_size))
    except OSError:   # np.load says why the file cannot be read
        problem = ""
    if problem:
        raise DataError(f"{str(path)!r} is truncated: its header promises more data than the file holds ({problem})")
    try:
        a = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise DataError(f"{path.name} holds Python objects (dtype object), which only pickle can read, and "
                            "derivax does not unpickle files: save numeric arrays instead") from None
        if any(w in str(exc) for w in ("Failed to read all data", "EOF", "cannot reshape")):
            raise DataError(f"{str(path)!r} is truncated: its header promises more data than the file holds") from None
        raise DataError(f"cannot read {str(path)!r} as .npy: {_one_line(exc)}") from None
    except EOFError:
        raise DataError(f"{str(path)!r} is truncated: its header promises more data than the file holds") from None
    except OSError as exc:
        raise DataError(f"cannot read {str(path)!r}: {exc.strerror or _one_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - a damaged header
        raise DataError(f"cannot read {str(path)!r} as .npy: {_one_line(exc)}") from None
    return a


def _features(x, y, x_test, y_test, where, names, test_fraction, vocab=None, at=None):
    """A user's own features and targets, taken as they are: a test split when the data has one, else
    ``test_fraction`` of the examples held out (shuffled with a fixed seed), and the description says so.
    The held-out split is made by ``load`` once the examples are checked whole, so that every message names
    the file's own array and position (``at``: how, for x and y; by index when None).
    The kind (classification or regression) is decided by ``load`` from the network's loss. ``vocab``:
    x holds token indices, checked here."""
    at = at or (_At(), _At())
    x = _numeric(x, f"{where}: {names[0]}")
    y = _numeric(y, f"{where}: {names[1]}")
    if len(x) != len(y):
        raise DataError(f"{where}: {len(x)} examples in {names[0]} but {len(y)} in {names[1]}")
    for a, name, place in ((x, names[0], at[0]), (y, names[1], at[1])):
        if np.issubdtype(a.dtype, np.floating):
            _finite(a, f"{where}: {name}", place)
    what, held = f"{where}: {len(x)} examples", None
    if x_test is None and test_fraction:
        held = _held_out(len(x), test_fraction, where)
        what += f", {len(x) - held[1]} ({test_fraction:.0%}) held out for testing"
    test = None if x_test is None else _Split(x_test, y_test, where, ("x_test", "y_test"), item="examples")
    return _Split(x, y, where, names, item="examples", at=at, held=held), test, "classification", what


def _held_out(n, test_fraction, where) -> tuple:
    """(order, cut): the examples shuffled with a fixed seed, the first ``cut`` to train on and the rest,
    ``test_fraction`` of them, held out for testing, for data that has no test split of its own."""
    if not 0 < test_fraction < 1:
        raise DataError(f"the test fraction must be in (0, 1) (or 0 for none), not {test_fraction!r}")
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(n)
    cut = n - max(1, int(round(test_fraction * n)))
    if cut < 1:
        raise DataError(f"{where}: {n} example(s) are too few to hold {test_fraction:.0%} out for testing")
    return order, cut


def _read_npy(path: Path):
    return read_npy(path)


def _read_csv(path: Path, target):
    """(x, y, header or None, given, at) of a .csv file: y is the column named ``target`` (default: the last),
    x the others; ``at`` names places in x and y by the file's rows and columns (see ``_CsvAt``). A file
    without a header row has its columns numbered from 0 (see ``_read_table``), and ``target`` is then a
    column's number."""
    values, header, given, lines = _read_table(path)
    if target is None:
        k = len(header) - 1
    elif target in header:
        k = header.index(target)
    elif not given:
        raise DataError(f"{path.name}: the file has no header row (its first row is numbers), so --target is a "
                        f"column's number, 0 to {len(header) - 1}, not {target!r}")
    else:
        raise DataError(f"{path.name}: no column named {target!r}; the columns are {', '.join(header)}")
    if len(header) < 2:
        raise DataError(f"{path.name}: one column only: a target and at least one feature are needed")
    at = (_CsvAt(lines, [h for j, h in enumerate(header) if j != k]), _CsvAt(lines, [header[k]]))
    return np.delete(values, k, axis=1), values[:, k], header if given else None, given, at


PANDAS = "pandas"   # a first row 0, 1, ..., n-1 taken as the header pandas writes
PANDAS_SAID = "its first row, 0 to {}, read as the header pandas writes for unnamed columns"
_WHOLE = re.compile(r"[+-]?\d+")


def _read_table(path: Path, skip=()):
    """(values (rows, columns), header, whether the file has a header row, each row's line in the file) of a
    .csv file. Every value must be a number; the first that is not is named by row and column (as the file
    numbers its lines). Columns named in ``skip`` are left unread (NaN): a column --drop leaves out may hold
    anything. A header that names two columns alike is refused: a name must pick one column.

    A first row of numbers alone is data, not a header (np.savetxt writes no header): the columns are then
    numbered 0, 1, ..., as a header of numbers would name them. The one exception is a first row that is
    exactly 0, 1, ..., n-1, the header pandas writes for unnamed columns (``to_csv(index=False)``), above rows
    written otherwise (1.5, 2.0e+00): over rows of whole numbers alone (0,1 then 1,0: XOR's inputs) it is data.
    ``given`` is then PANDAS, so that the caller says the row was taken as a header."""
    import csv
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader, kept, numbers = csv.reader(f), [], []
            for r in reader:   # each row with the file's line number (blank lines left out below)
                kept.append(r)
                numbers.append(reader.line_num)
            rows = kept
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {str(path)!r}: {getattr(exc, 'strerror', None) or _one_line(exc)}") from None
    except csv.Error as exc:  # a NUL byte, a field past the size limit
        raise DataError(f"{path.name}: not a readable .csv file: {_one_line(exc)}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    lines = [n for n, r in zip(numbers, kept) if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise DataError(f"{path.name}: expected a header row of column names and at least one row of numbers")
    header = [h.strip() for h in rows[0]]
    numbered = [str(j) for j in range(len(header))]
    given = not all(_is_number(h) for h in header)
    if header == numbered and any(not _WHOLE.fullmatch(cell.strip()) for r in rows[1:] for cell in r):
        given = PANDAS
    if not given:
        header = numbered
    else:
        for name in header:
            same = [j for j, h in enumerate(header) if h == name]
            if len(same) > 1:
                listed = ", ".join(str(j) for j in same[:-1]) + f" and {same[-1]}"
                raise DataError(f"{path.name}: the header row gives the name {name!r} to {len(same)} columns (columns "
                                f"{listed}, numbered from 0): each column needs a name of its own")
    body, at = (rows[1:], lines[1:]) if given else (rows, lines)
    values = np.empty((len(body), len(header)))
    unread = [j for j, h in enumerate(header) if h in skip]
    values[:, unread] = np.nan
    for k, (i, row) in enumerate(zip(at, body)):   # i: the row's line in the file
        if len(row) != len(header):
            raise DataError(f"{path.name}: row {i} has {len(row)} values, "
                            + (f"the header {len(header)} columns" if given else f"row {lines[0]} {len(header)}"))
        for j, cell in enumerate(row):
            if j in unread:
                continue
            try:
                values[k, j] = float(cell)
            except ValueError:
                raise DataError(f"{path.name}: row {i}, column {header[j]!r}: {cell.strip()[:30]!r} is not a "
                                "number") from None
            if not math.isfinite(values[k, j]):
                raise DataError(f"{path.name}: row {i}, column {header[j]!r}: {cell.strip()[:30]!r} is not a "
                                "finite number") from None
    return values, header, given, at


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return "_" not in text   # float() reads 1_0 as 10: a column name, not a number


def _scale_pixels(x, what):
    """Images in [0, 1], in the shape they have (check_data flattens or shapes them for the network):
    8-bit pixels are divided by 255, floats in [0, 1] kept, booleans taken as 0 and 1."""
    if np.asarray(x).dtype == bool:
        x = np.asarray(x, np.float32)
    x = _numeric(x, what)
    if x.ndim < 2:
        raise DataError(f"{what}: expected images of shape (examples, ...), found shape {x.shape}")
    if x.size and np.isfinite(x).all() and (np.issubdtype(x.dtype, np.integer) or x.max() > 1.0):
        if x.min() < 0 or x.max() > 255:
            raise DataError(f"{what}: expected pixels in 0..255 or 0..1, found {x.min()}..{x.max()}")
        return x.astype(np.float32) / 255.0
    return x


# IDX (LeCun's MNIST format): two zero bytes, a type code, the number of dimensions, then each
# dimension as a big-endian uint32, then the data, big-endian.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MAX_IDX_DIMS = 32  # NumPy's limit before 2.0; images and labels have 1 to 3
IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")


def read_idx(path) -> np.ndarray:
    """One IDX file (gzip-compressed when its name ends in .gz) as a NumPy array of its shape."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as exc:  # gzip raises all three for damaged files
        kind = "gzip-compressed IDX file" if path.suffix == ".gz" else "IDX file"
        raise DataError(f"cannot read {kind} {str(path)!r}: {_one_line(exc)}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise DataError(f"{path.name}: expected an IDX header (0x00 0x00, a type code in "
                        f"{sorted(IDX_TYPES)}, dimensions), found bytes {data[:4].hex(' ') or 'none'}")
    dtype, ndim = np.dtype(IDX_TYPES[data[2]]), data[3]
    if not 1 <= ndim <= MAX_IDX_DIMS:
        raise DataError(f"{path.name}: expected 1 to {MAX_IDX_DIMS} dimensions in the IDX header, found {ndim}")
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path.name}: header declares {ndim} dimensions but the file ends after "
                        f"{len(data)} bytes")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = len(data) - 4 - 4 * ndim
    need = math.prod(shape) * dtype.itemsize  # Python integers: no overflow however large the header
    if body != need:
        raise DataError(f"{path.name}: header says shape {shape} ({need} bytes of data), found "
                        f"{body} bytes")
    return np.frombuffer(data, dtype, offset=4 + 4 * ndim).reshape(shape).astype(dtype.newbyteorder("="))


def find_idx(path: Path):
    """The IDX files of a directory (or of the directory holding a given IDX file), keyed by
    'train-images', 'train-labels', 't10k-images', 't10k-labels'; None when there are no training
    files. Matches the usual spellings: train-images-idx3-ubyte, train-images.idx3-ubyte, with .gz."""
    folder = path if path.is_dir() else path.parent
    if path.is_file() and "idx" not in path.name:
        return None
    found = {}
    try:
        entries = sorted(folder.iterdir())
        for f in entries:
            for key in ("train-images", "train-labels", "t10k-images", "t10k-labels"):
                rank = "idx3" if key.endswith("images") else "idx1"
                if f.name.startswith(key) and rank in f.name and f.is_file():
                    found.setdefault(key, f)
    except OSError as exc:  # a folder that can be listed but not searched (no x permission)
        raise DataError(f"cannot list the directory {str(folder)!r}: {exc.strerror or _one_line(exc)}") from None
    if "train-images" not in found:
        return None
    # Half a split is refused rather than dropped: a test split that silently vanished would leave
    # the run without the test accuracy it was expected to report.
    for images, labels in (("train-images", "train-labels"), ("t10k-images", "t10k-labels")):
        if (images in found) != (labels in found):
            have, lack = (images, labels) if images in found else (labels, images)
            raise DataError(f"{folder}: found {found[have].name} but no {lack}-{'idx1' if 'labels' in lack else 'idx3'}"
                            "-ubyte[.gz] beside it")
    return found


__all__ = ["BUILTINS", "DataError", "Dataset", "check_data", "check_tokens", "load", "open_npz", "npz_array",
           "read_idx", "read_inputs", "read_npy"]

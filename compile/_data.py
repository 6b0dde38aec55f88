"""Training data: the built-in examples' data sets and MNIST files a user has, checked against a network.

``load(name_or_path, n_inputs, n_outputs)`` returns a :class:`Dataset` of batch-first float arrays:
x is (examples, features), y is (examples, outputs), one-hot for classification. Every problem with the
data raises :class:`DataError` with a message that names what was expected and what was found, so the
command line can print it as it is.
"""
from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BUILTINS = ("xor", "linreg", "mlp")
# The digits split does not follow the training seed: a test set that moved with the seed would make
# test accuracies of two runs incomparable.
DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED = 0.2, 0


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

    @property
    def n_inputs(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_outputs(self) -> int:
        return self.y_train.shape[1]


def check_data(x, y, n_inputs=None, n_outputs=None, kind="classification", what="data"):
    """Validate one split and return it as (x float32 (N, n_inputs), y float32 (N, n_outputs)).

    For classification y may be integer labels (N,) or one-hot rows (N, classes); labels are turned
    into one-hot rows of width ``n_outputs`` (or max label + 1), or into a 0/1 column when the network
    has a single (sigmoid) output. For regression y is (N,) or (N, outputs).
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 2:
        x = x.reshape(-1, 1) if kind == "regression" and x.ndim == 1 else x
    if x.ndim < 2:
        raise DataError(f"{what}: expected x of shape (examples, features), found shape {x.shape}")
    x = x.reshape(len(x), int(np.prod(x.shape[1:])))
    if len(x) != len(y):
        raise DataError(f"{what}: x and y differ in length: x has {len(x)} examples, y has {len(y)}")
    if len(x) == 0:
        raise DataError(f"{what}: expected at least one example, found none")
    if not np.issubdtype(x.dtype, np.number) or not np.issubdtype(y.dtype, np.number):
        raise DataError(f"{what}: expected numeric arrays, found x {x.dtype} and y {y.dtype}")
    _finite(x, f"{what}: x")
    _finite(y, f"{what}: y")
    if n_inputs is not None and x.shape[1] != n_inputs:
        raise DataError(f"{what}: the network takes {n_inputs} inputs per example, but x has "
                        f"{x.shape[1]} features (x shape {x.shape})")
    if kind == "regression":
        y = y.reshape(len(y), -1)
        if n_outputs is not None and y.shape[1] != n_outputs:
            raise DataError(f"{what}: the network has {n_outputs} outputs, but y has {y.shape[1]} "
                            f"columns (y shape {y.shape})")
        return x.astype(np.float32), y.astype(np.float32)
    if kind != "classification":
        raise DataError(f"{what}: kind must be 'classification' or 'regression', found {kind!r}")
    return x.astype(np.float32), _one_hot(y, n_outputs, what)


def _finite(a, what):
    bad = ~np.isfinite(a)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{what}: expected finite numbers, found {int(bad.sum())} NaN or inf "
                        f"value(s), the first at index {first}")


def _one_hot(y, n_outputs, what):
    if y.ndim == 2 and y.shape[1] > 1:
        # Already one-hot (or class probabilities): the width must match and each row sum to 1.
        if n_outputs is not None and y.shape[1] != n_outputs:
            raise DataError(f"{what}: the network has {n_outputs} outputs, but the one-hot labels have "
                            f"{y.shape[1]} columns (y shape {y.shape})")
        sums = y.sum(axis=1)
        if y.min() < 0 or not np.allclose(sums, 1.0, atol=1e-6):
            row = int(np.argmax(np.abs(sums - 1.0)))
            raise DataError(f"{what}: expected one-hot label rows (non-negative, summing to 1), found "
                            f"row {row} = {y[row].tolist()}")
        return y.astype(np.float32)
    labels = y.reshape(-1)
    if not np.all(labels == np.round(labels)):
        i = int(np.argmax(labels != np.round(labels)))
        raise DataError(f"{what}: expected integer class labels, found {labels[i].item()!r} at index {i}")
    labels = labels.astype(np.int64)
    binary = n_outputs == 1
    classes = 2 if binary else n_outputs if n_outputs is not None else int(labels.max()) + 1
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= classes:
        bad = lo if lo < 0 else hi
        i = int(np.argmax(labels == bad))
        need = "0 or 1 for a network with one output" if binary else \
            f"in 0..{classes - 1} for a network with {classes} outputs"
        raise DataError(f"{what}: labels must be {need}, found label {bad} at index {i} "
                        f"(labels span {lo}..{hi})")
    if binary:
        return labels.reshape(-1, 1).astype(np.float32)
    return np.eye(classes, dtype=np.float32)[labels]


def load(name_or_path, n_inputs=None, n_outputs=None, seed=DIGITS_SPLIT_SEED) -> Dataset:
    """A built-in data set ('xor', 'linreg', 'mlp') or MNIST from a path (.npz or IDX files),
    checked against a network with ``n_inputs`` inputs and ``n_outputs`` outputs (None: unchecked)."""
    name = str(name_or_path)
    if name in BUILTINS:  # a built-in name wins over a file of that name; ./mlp reaches the file
        raw = {"xor": _xor, "linreg": _linreg, "mlp": lambda: _digits(seed)}[name]()
    else:
        raw = _from_path(Path(name))
    xtr, ytr, xte, yte, kind, description = raw
    xtr, ytr = check_data(xtr, ytr, n_inputs, n_outputs, kind, "training data")
    if xte is not None:
        # The test split must fit the same network and have as many outputs as the training split.
        xte, yte = check_data(xte, yte, xtr.shape[1], n_outputs or ytr.shape[1], kind, "test data")
    n_classes = None if kind == "regression" else (2 if ytr.shape[1] == 1 else ytr.shape[1])
    return Dataset(xtr, ytr, xte, yte, kind, n_classes, description)


def _xor():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    return x, np.array([0, 1, 1, 0]), None, None, "classification", "XOR truth table, 4 points"


def _linreg():
    x = np.arange(4, dtype=np.float32).reshape(4, 1)
    return x, x.copy(), None, None, "regression", "X = y = [0, 1, 2, 3]"


def _digits(seed):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x / 16.0, y, test_size=DIGITS_TEST_FRACTION, stratify=y,
                                          random_state=seed)
    return (xtr, ytr, xte, yte, "classification",
            f"scikit-learn 8x8 digits: {len(xtr)} train, {len(xte)} test (stratified, seed {seed})")


def _from_path(path: Path):
    if not path.exists():
        raise DataError(f"no such file or directory: {str(path)!r} (expected a built-in data set "
                        f"({', '.join(BUILTINS)}), an .npz file or a directory of IDX files)")
    if path.is_file() and path.suffix == ".npz":
        xtr, ytr, xte, yte = _read_npz(path)
        desc = f"{path.name}: {len(xtr)} train" + (f", {len(xte)} test" if xte is not None else "")
    else:
        files = find_idx(path)
        if files is None:
            raise DataError(f"unknown data format at {str(path)!r}: expected an .npz file with arrays "
                            f"x_train, y_train, x_test, y_test, or IDX files named {', '.join(IDX_NAMES)} "
                            "(optionally .gz)")
        xtr, ytr = read_idx(files["train-images"]), read_idx(files["train-labels"])
        xte = yte = None
        if "t10k-images" in files and "t10k-labels" in files:
            xte, yte = read_idx(files["t10k-images"]), read_idx(files["t10k-labels"])
        desc = f"IDX files in {files['train-images'].parent}: {len(xtr)} train" + \
            (f", {len(xte)} test" if xte is not None else "")
    xtr = _scale_pixels(xtr, "x_train")
    xte = None if xte is None else _scale_pixels(xte, "x_test")
    return xtr, ytr, xte, yte, "classification", desc


def _read_npz(path: Path):
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile, pickle and value errors all mean the same thing to a user
        raise DataError(f"cannot read {str(path)!r} as .npz: {exc}") from None
    missing = [k for k in ("x_train", "y_train") if k not in arrays]
    if missing or (("x_test" in arrays) != ("y_test" in arrays)):
        raise DataError(f"{path.name}: expected arrays x_train, y_train (and optionally x_test, y_test), "
                        f"found {', '.join(sorted(arrays)) or 'none'}")
    return arrays["x_train"], arrays["y_train"], arrays.get("x_test"), arrays.get("y_test")


def _scale_pixels(x, what):
    """Images to (examples, pixels) in [0, 1]: 8-bit pixels are divided by 255, floats in [0, 1] kept."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise DataError(f"{what}: expected images of shape (examples, ...), found shape {x.shape}")
    x = x.reshape(len(x), int(np.prod(x.shape[1:])))
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{what}: expected numeric pixels, found dtype {x.dtype}")
    if x.size and np.isfinite(x).all() and (np.issubdtype(x.dtype, np.integer) or x.max() > 1.0):
        if x.min() < 0 or x.max() > 255:
            raise DataError(f"{what}: expected pixels in 0..255 or 0..1, found {x.min()}..{x.max()}")
        return x.astype(np.float32) / 255.0
    return x

# IDX (LeCun's MNIST format): two zero bytes, a type code, the number of dimensions, then each
# dimension as a big-endian uint32, then the data, big-endian.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")


def read_idx(path) -> np.ndarray:
    """One IDX file (gzip-compressed when its name ends in .gz) as a NumPy array of its shape."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read IDX file {str(path)!r}: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise DataError(f"{path.name}: expected an IDX header (0x00 0x00, a type code in "
                        f"{sorted(IDX_TYPES)}, dimensions), found bytes {data[:4].hex(' ') or 'none'}")
    dtype, ndim = np.dtype(IDX_TYPES[data[2]]), data[3]
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path.name}: header declares {ndim} dimensions but the file ends after "
                        f"{len(data)} bytes")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = len(data) - 4 - 4 * ndim
    need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
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
    for f in sorted(folder.iterdir()):
        for key in ("train-images", "train-labels", "t10k-images", "t10k-labels"):
            rank = "idx3" if key.endswith("images") else "idx1"
            if f.is_file() and f.name.startswith(key) and rank in f.name:
                found.setdefault(key, f)
    if "train-images" not in found:
        return None
    if "train-labels" not in found:
        raise DataError(f"{folder}: found {found['train-images'].name} but no train-labels-idx1-ubyte"
                        "[.gz] beside it")
    return found


__all__ = ["BUILTINS", "DataError", "Dataset", "check_data", "load", "read_idx"]

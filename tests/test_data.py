"""Data loading: the built-in sets, MNIST files round-tripped through files written here, every error."""
import gzip
import struct

import numpy as np
import pytest

from compile._data import DataError, check_data, load, read_idx


def write_idx(path, array, gz=False):
    """An IDX file written independently of the reader: header bytes by hand, data big-endian."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}
    code = codes[array.dtype]
    head = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    body = array.astype(array.dtype.newbyteorder(">")).tobytes()
    (gzip.open if gz else open)(path, "wb").write(head + body)


def fake_mnist(n, seed=0, side=4):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, side, side), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


# ---- built-in data sets ----

def test_xor_is_the_truth_table():
    d = load("xor")
    assert d.x_train.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert d.y_train.argmax(1).tolist() == [0, 1, 1, 0]
    assert d.x_test is None and d.y_test is None and d.kind == "classification" and d.n_classes == 2


def test_linreg():
    d = load("linreg", 1, 1)
    assert d.x_train.ravel().tolist() == d.y_train.ravel().tolist() == [0, 1, 2, 3]
    assert d.x_train.shape == (4, 1) and d.kind == "regression" and d.n_classes is None


def test_digits_split_sizes_and_stratification():
    from sklearn.datasets import load_digits
    d = load("mlp", 64, 10)
    assert d.x_train.shape == (1437, 64) and d.x_test.shape == (360, 64)
    assert d.y_train.shape == (1437, 10) and d.y_test.shape == (360, 10)
    assert 0.0 <= d.x_train.min() and d.x_train.max() == 1.0
    # Stratified: each class's share of the test split is its share of the whole set, within one example.
    whole = np.bincount(load_digits().target, minlength=10)
    assert np.all(np.abs(d.y_test.sum(0) - whole * 360 / 1797) <= 1)
    # Disjoint and complete: train + test rows are the 1797 digits, each once.
    rows = {r.tobytes() for r in np.vstack([d.x_train, d.x_test])}
    assert len(np.vstack([d.x_train, d.x_test])) == 1797 and len(rows) == len(
        {r.tobytes() for r in (load_digits().data / 16).astype(np.float32)})


def test_digits_split_is_fixed():
    a, b = load("mlp"), load("mlp")
    assert np.array_equal(a.x_test, b.x_test)


# ---- MNIST files ----

@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32])
def test_idx_round_trip(tmp_path, dtype):
    a = (np.arange(2 * 3 * 5) % 200).astype(dtype).reshape(2, 3, 5)
    write_idx(tmp_path / "a-idx3-ubyte", a)
    back = read_idx(tmp_path / "a-idx3-ubyte")
    assert back.dtype == a.dtype and back.shape == a.shape and np.array_equal(back, a)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_directory(tmp_path, gz):
    (xtr, ytr), (xte, yte) = fake_mnist(30), fake_mnist(10, seed=1)
    ext = ".gz" if gz else ""
    write_idx(tmp_path / f"train-images-idx3-ubyte{ext}", xtr, gz)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{ext}", ytr, gz)
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{ext}", xte, gz)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{ext}", yte, gz)
    for where in (tmp_path, tmp_path / f"train-images-idx3-ubyte{ext}"):
        d = load(where, 16, 10)
        assert np.allclose(d.x_train, xtr.reshape(30, 16) / 255.0) and np.allclose(d.x_test, xte.reshape(10, 16) / 255.0)
        assert d.y_train.argmax(1).tolist() == ytr.tolist() and d.y_test.argmax(1).tolist() == yte.tolist()


def test_npz_round_trip(tmp_path):
    (xtr, ytr), (xte, yte) = fake_mnist(20), fake_mnist(5, seed=1)
    np.savez(tmp_path / "mnist.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    d = load(tmp_path / "mnist.npz", 16, 10)
    assert d.x_train.shape == (20, 16) and d.x_train.dtype == np.float32
    assert np.allclose(d.x_train * 255, xtr.reshape(20, 16)) and np.array_equal(d.y_test.argmax(1), yte)
    assert d.kind == "classification" and d.n_classes == 10


# ---- every error names what was expected and what was found ----

def test_wrong_input_width():
    with pytest.raises(DataError, match=r"network takes 784 inputs per example, but x has 64 features"):
        load("mlp", n_inputs=784)


def test_labels_out_of_range():
    with pytest.raises(DataError, match=r"labels must be in 0\.\.2 for a network with 3 outputs, found label 7 at index 1"):
        check_data(np.zeros((3, 2)), [0, 7, 1], 2, 3)
    with pytest.raises(DataError, match=r"found label -1"):
        check_data(np.zeros((2, 2)), [0, -1], 2, 3)
    with pytest.raises(DataError, match=r"labels must be 0 or 1 for a network with one output, found label 2"):
        check_data(np.zeros((2, 2)), [0, 2], 2, 1)


def test_non_integer_labels_and_bad_one_hot():
    with pytest.raises(DataError, match=r"expected integer class labels, found 0\.5 at index 1"):
        check_data(np.zeros((2, 2)), [1, 0.5], 2, 2)
    with pytest.raises(DataError, match=r"network has 3 outputs, but the one-hot labels have 2 columns"):
        check_data(np.zeros((2, 2)), np.eye(2), 2, 3)
    with pytest.raises(DataError, match=r"expected one-hot label rows .* found row 1"):
        check_data(np.zeros((2, 2)), [[1, 0], [1, 1]], 2, 2)


@pytest.mark.parametrize("where", ["x", "y"])
def test_nan_and_inf(where):
    x, y = np.zeros((3, 2)), np.zeros((3, 1))
    (x if where == "x" else y)[2, 0] = np.nan if where == "x" else np.inf
    with pytest.raises(DataError, match=rf"data: {where}: expected finite numbers, found 1 NaN or inf value\(s\), the first at index \(2, 0\)"):
        check_data(x, y, 2, 1, "regression")


def test_mismatched_lengths():
    with pytest.raises(DataError, match=r"x and y differ in length: x has 4 examples, y has 3"):
        check_data(np.zeros((4, 2)), [0, 1, 0], 2, 2)


def test_regression_width_and_empty():
    with pytest.raises(DataError, match=r"network has 2 outputs, but y has 1 columns"):
        check_data(np.zeros((4, 1)), np.zeros(4), 1, 2, "regression")
    with pytest.raises(DataError, match=r"expected at least one example, found none"):
        check_data(np.zeros((0, 2)), np.zeros(0), 2, 2)


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(DataError, match=r"no such file or directory: 'nope\.npz' \(expected a built-in data set \(xor, linreg, mlp\)"):
        load("nope.npz")


def test_unknown_format(tmp_path):
    (tmp_path / "data.csv").write_text("1,2,3\n")
    with pytest.raises(DataError, match=r"unknown data format at .*data\.csv.*expected an \.npz file with arrays x_train"):
        load(tmp_path / "data.csv")
    with pytest.raises(DataError, match=r"unknown data format"):
        load(tmp_path)


def test_unreadable_npz(tmp_path):
    (tmp_path / "broken.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match=r"cannot read .*broken\.npz.* as \.npz"):
        load(tmp_path / "broken.npz")


def test_npz_missing_keys(tmp_path):
    np.savez(tmp_path / "m.npz", images=np.zeros((2, 4)), labels=np.zeros(2))
    with pytest.raises(DataError, match=r"expected arrays x_train, y_train .* found images, labels"):
        load(tmp_path / "m.npz")


def test_npz_test_split_checked(tmp_path):
    np.savez(tmp_path / "m.npz", x_train=np.zeros((2, 4), np.uint8), y_train=np.array([0, 1]),
             x_test=np.zeros((2, 5), np.uint8), y_test=np.array([0, 1]))
    with pytest.raises(DataError, match=r"test data: the network takes 4 inputs per example, but x has 5 features"):
        load(tmp_path / "m.npz")


def test_idx_bad_header_and_truncated(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x01\x02\x08\x03")
    with pytest.raises(DataError, match=r"expected an IDX header .* found bytes 01 02 08 03"):
        read_idx(tmp_path / "train-images-idx3-ubyte")
    head = bytes([0, 0, 0x08, 2]) + struct.pack(">II", 3, 4)
    (tmp_path / "t").write_bytes(head + bytes(5))
    with pytest.raises(DataError, match=r"header says shape \(3, 4\) \(12 bytes of data\), found 5 bytes"):
        read_idx(tmp_path / "t")
    (tmp_path / "z.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match=r"cannot read IDX file"):
        read_idx(tmp_path / "z.gz")


def test_idx_images_without_labels(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", fake_mnist(3)[0])
    with pytest.raises(DataError, match=r"found train-images-idx3-ubyte but no train-labels-idx1-ubyte"):
        load(tmp_path)


def test_pixels_out_of_range(tmp_path):
    np.savez(tmp_path / "m.npz", x_train=np.full((2, 4), 300.0), y_train=np.array([0, 1]))
    with pytest.raises(DataError, match=r"expected pixels in 0\.\.255 or 0\.\.1, found 300\.0\.\.300\.0"):
        load(tmp_path / "m.npz")

"""Data loading: the built-in sets, MNIST files round-tripped through files written here, every error."""
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from compile.train.data import DataError, check_data, load, read_idx


def write_idx(path, array, gz=False):
    """An IDX file written independently of the reader: header bytes by hand, data big-endian."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}
    code = codes[array.dtype]
    head = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    body = array.astype(array.dtype.newbyteorder(">")).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:  # closed here: gzip writes its trailer on close
        f.write(head + body)


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
    with pytest.raises(DataError, match=r"no such file or directory: 'nope\.npz' \(expected a built-in data set \(xor, linreg, mlp, cnn, cnn1d, rnn, gru, charlm, makemore, gpt; digits is mlp's data, mnist1d cnn1d's\)"):
        load("nope.npz")


def test_unknown_format(tmp_path):
    (tmp_path / "data.txt").write_text("1,2,3\n")
    with pytest.raises(DataError, match=r"unknown data format at .*data\.txt.*expected an \.npz file with arrays x_train"):
        load(tmp_path / "data.txt")
    (tmp_path / "data.csv").write_text("1,2,3\n")   # a .csv without a header row
    with pytest.raises(DataError, match=r"data\.csv: expected a header row of column names"):
        load(tmp_path / "data.csv")
    with pytest.raises(DataError, match=r"unknown data format"):
        load(tmp_path)


def test_unreadable_npz(tmp_path):
    (tmp_path / "broken.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match=r"broken\.npz' is not an \.npz file: expected a zip archive .* "
                                        r"found a file starting with bytes 6e 6f 74 20 61 20 7a 69"):
        load(tmp_path / "broken.npz")


def test_npz_missing_keys(tmp_path):
    np.savez(tmp_path / "m.npz", images=np.zeros((2, 4)), labels=np.zeros(2))
    with pytest.raises(DataError, match=r"expected arrays x, y .* or x_train, y_train .* found images, labels"):
        load(tmp_path / "m.npz")


def test_npz_test_split_checked(tmp_path):
    np.savez(tmp_path / "m.npz", x_train=np.zeros((2, 4), np.uint8), y_train=np.array([0, 1]),
             x_test=np.zeros((2, 5), np.uint8), y_test=np.array([0, 1]))
    with pytest.raises(DataError, match=r"m\.npz: the network takes 4 inputs per example, but x_test has 5 features"):
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
    with pytest.raises(DataError, match=r"cannot read gzip-compressed IDX file .*z\.gz'"):
        read_idx(tmp_path / "z.gz")


def test_idx_images_without_labels(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", fake_mnist(3)[0])
    with pytest.raises(DataError, match=r"found train-images-idx3-ubyte but no train-labels-idx1-ubyte"):
        load(tmp_path)


def test_pixels_out_of_range(tmp_path):
    np.savez(tmp_path / "m.npz", x_train=np.full((2, 4), 300.0), y_train=np.array([0, 1]))
    with pytest.raises(DataError, match=r"expected pixels in 0\.\.255 or 0\.\.1, found 300\.0\.\.300\.0"):
        load(tmp_path / "m.npz")


# ---- malformed files: each error names the file or array, what was expected and what was found ----

def idx_bytes(code, shape, body=b""):
    """IDX header written by hand: two zero bytes, the type code, the rank, each size big-endian."""
    return bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">I", n) for n in shape) + body


def test_npz_zero_d_arrays(tmp_path):
    np.savez(tmp_path / "x.npz", x_train=np.array(5.0), y_train=np.zeros(3))
    with pytest.raises(DataError, match=r"x\.npz: x_train: .*found a single value \(shape \(\)\)"):
        load(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", x_train=np.zeros((3, 4)), y_train=np.array(1))
    with pytest.raises(DataError, match=r"y\.npz: y_train: .*found a single value \(shape \(\)\)"):
        load(tmp_path / "y.npz", 4, 2)


@pytest.mark.parametrize("ndim", [0, 33, 255])
def test_idx_with_no_dimensions_or_more_than_arrays_have(tmp_path, ndim):
    # 255 dimensions of size 1 fit the file's one byte: only the count can refuse them.
    (tmp_path / "a-idx1-ubyte").write_bytes(idx_bytes(0x08, (1,) * ndim, b"\x07"))
    with pytest.raises(DataError, match=rf"a-idx1-ubyte: expected 1 to 32 dimensions in the IDX header, found {ndim}$"):
        read_idx(tmp_path / "a-idx1-ubyte")


def test_idx_dimensions_beyond_the_file(tmp_path):
    # Sizes whose product overflows 64 bits, and sizes that merely exceed the file: both are refused
    # with the size the header claims, computed here with Python's unbounded integers.
    huge = (2**32 - 1,) * 3
    (tmp_path / "h-idx3-ubyte").write_bytes(idx_bytes(0x08, huge, bytes(5)))
    with pytest.raises(DataError, match=rf"header says shape \({huge[0]}, {huge[0]}, {huge[0]}\) "
                                        rf"\({(2**32 - 1) ** 3} bytes of data\), found 5 bytes"):
        read_idx(tmp_path / "h-idx3-ubyte")
    (tmp_path / "b-idx3-ubyte").write_bytes(idx_bytes(0x0C, (1000, 28, 28), bytes(10)))
    with pytest.raises(DataError, match=r"b-idx3-ubyte: header says shape \(1000, 28, 28\) \(3136000 bytes of data\), found 10 bytes"):
        read_idx(tmp_path / "b-idx3-ubyte")


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_damaged_gzip_idx(tmp_path, damage):
    xtr, ytr = fake_mnist(30)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", xtr, gz=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", ytr, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = path.read_bytes()
    # Past gzip's 10-byte header, inside the deflate stream; or the file cut in half.
    path.write_bytes(raw[:20] + bytes(b ^ 0xFF for b in raw[20:60]) + raw[60:] if damage == "corrupt"
                     else raw[:len(raw) // 2])
    with pytest.raises(DataError, match=r"cannot read gzip-compressed IDX file .*train-images-idx3-ubyte\.gz'"):
        load(tmp_path, 16, 10)


def test_idx_half_a_test_split(tmp_path):
    xtr, ytr = fake_mnist(6)
    write_idx(tmp_path / "train-images-idx3-ubyte", xtr)
    write_idx(tmp_path / "train-labels-idx1-ubyte", ytr)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", xtr)
    with pytest.raises(DataError, match=r"found t10k-images-idx3-ubyte but no t10k-labels-idx1-ubyte"):
        load(tmp_path, 16, 10)


def test_idx_errors_name_the_file(tmp_path):
    xtr, _ = fake_mnist(6)
    write_idx(tmp_path / "train-images-idx3-ubyte", xtr)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([0, 1, 2, 3, 4, 11], np.uint8))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: labels must be in 0\.\.9 .* found label 11 at index 5"):
        load(tmp_path, 16, 10)


def test_three_dimensional_y():
    with pytest.raises(DataError, match=r"data: expected y of shape \(examples,\) or \(examples, outputs\), found shape \(2, 1, 1\)"):
        check_data(np.zeros((2, 2)), np.zeros((2, 1, 1)), 2, 2)
    with pytest.raises(DataError, match=r"found shape \(2, 1, 1\)"):
        check_data(np.zeros((2, 2)), np.zeros((2, 1, 1)), 2, 1, "regression")


def test_complex_data_is_refused_not_cut_to_its_real_part(tmp_path):
    with pytest.raises(DataError, match=r"data: x: expected real numbers, found complex numbers \(dtype complex128\)"):
        check_data(np.zeros((2, 2), complex), [0, 1], 2, 2)
    with pytest.raises(DataError, match=r"data: y: expected real numbers, found complex"):
        check_data(np.zeros((2, 2)), np.array([1, 0j]), 2, 1, "regression")
    np.savez(tmp_path / "c.npz", x_train=np.ones((2, 4), np.complex64), y_train=np.array([0, 1]))
    with pytest.raises(DataError, match=r"c\.npz: x_train: expected real numbers, found complex numbers \(dtype complex64\)"):
        load(tmp_path / "c.npz", 4, 2)


def test_object_and_string_arrays():
    with pytest.raises(DataError, match=r"data: x: expected numbers, found dtype object"):
        check_data(np.array([[1, "a"], [2, "b"]], dtype=object), [0, 1], 2, 2)
    with pytest.raises(DataError, match=r"data: y: expected numbers, found dtype <U3"):
        check_data(np.zeros((2, 2)), ["cat", "dog"], 2, 2)
    with pytest.raises(DataError, match=r"data: x: expected a numeric array, found something NumPy cannot make one of"):
        check_data([[1, 2], [3]], [0, 1], 2, 2)


def test_bool_arrays_are_zero_and_one(tmp_path):
    x, y = check_data(np.array([[True, False], [False, True]]), np.array([True, False]), 2, 2)
    assert x.tolist() == [[1, 0], [0, 1]] and y.tolist() == [[0, 1], [1, 0]]
    # Boolean pixels are 0 and 1, not 8-bit values to divide by 255.
    np.savez(tmp_path / "b.npz", x_train=np.array([[True, False], [False, False]]), y_train=np.array([1, 0]))
    d = load(tmp_path / "b.npz", 2, 2, test_fraction=0)
    assert d.x_train.tolist() == [[1, 0], [0, 0]]


def test_npz_needing_pickle_is_refused(tmp_path):
    np.savez(tmp_path / "o.npz", x_train=np.array([[1, None]], dtype=object), y_train=np.array([0]))
    with pytest.raises(DataError, match=r"o\.npz: array x_train holds Python objects \(dtype object\), which only pickle can read"):
        load(tmp_path / "o.npz")
    import pickle
    (tmp_path / "p.npz").write_bytes(pickle.dumps({"x_train": np.zeros((2, 2)), "y_train": [0, 1]}))
    with pytest.raises(DataError, match=r"p\.npz' is not an \.npz file: expected a zip archive .* found a file starting with bytes 80 "):
        load(tmp_path / "p.npz")


def test_npz_member_that_is_not_an_array(tmp_path):
    import zipfile
    with zipfile.ZipFile(tmp_path / "z.npz", "w") as z:
        z.writestr("x_train", "1,2,3")
        z.writestr("y_train.npy", "not npy")
    with pytest.raises(DataError, match=r"z\.npz: member x_train is not a \.npy array"):
        load(tmp_path / "z.npz")
    with zipfile.ZipFile(tmp_path / "w.npz", "w") as z:
        z.writestr("x_train.npy", b"\x93NUMPY\x01\x00" + b"a broken header")  # .npy magic, then junk
        z.writestr("y_train.npy", "not npy")
    with pytest.raises(DataError, match=r"w\.npz: cannot read array x_train: "):
        load(tmp_path / "w.npz")


def test_empty_file(tmp_path):
    (tmp_path / "e.npz").write_bytes(b"")
    with pytest.raises(DataError, match=r"e\.npz' is empty: expected an \.npz file"):
        load(tmp_path / "e.npz")
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: expected an IDX header .* found bytes none"):
        read_idx(tmp_path / "train-images-idx3-ubyte")


def test_directory_without_data(tmp_path):
    (tmp_path / "notes.txt").write_text("MNIST goes here\n")
    with pytest.raises(DataError, match=rf"unknown data format at '{tmp_path}': expected an \.npz file .* or IDX files named train-images-idx3-ubyte"):
        load(tmp_path)


def test_an_npz_by_another_name_is_read(tmp_path):
    xtr, ytr = fake_mnist(4)
    np.savez(tmp_path / "mnist.npz", x_train=xtr, y_train=ytr)
    (tmp_path / "mnist.npz").rename(tmp_path / "mnist.zip")
    d = load(tmp_path / "mnist.zip", 16, 10, test_fraction=0)
    assert np.allclose(d.x_train * 255, xtr.reshape(4, 16))


def test_huge_labels_are_named_as_they_are():
    with pytest.raises(DataError, match=r"found label 1e\+30 at index 1 \(labels span 0\.\.1e\+30\)"):
        check_data(np.zeros((2, 2)), np.array([0, 1e30]), 2, 3)
    with pytest.raises(DataError, match=r"found label 123456789 at index 0"):
        check_data(np.zeros((1, 2)), np.array([123456789]), 2, 3)


def test_y_without_columns():
    with pytest.raises(DataError, match=r"expected at least one column in y, found shape \(2, 0\)"):
        check_data(np.zeros((2, 2)), np.zeros((2, 0)), 2, 2)


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
def test_a_device_is_not_data():
    with pytest.raises(DataError, match=r"'/dev/null' is neither a file nor a directory"):
        load("/dev/null")


def test_timedelta_is_no_number_to_train_on():
    # NumPy counts timedelta64 as a signed integer; as data it is a unit, not a quantity.
    with pytest.raises(DataError, match=r"^data: x: expected numbers, found dtype timedelta64\[s\] \(shape \(3, 2\)\)$"):
        check_data(np.zeros((3, 2), "timedelta64[s]"), np.zeros(3, int))


def test_values_beyond_float32_are_named_not_called_nan():
    x = np.ones((3, 2))
    x[1, 0] = 1e300
    with pytest.raises(DataError, match=r"^data: x: the value 1e\+300 at index \(1, 0\) is too large for float32 "
                                        r"\(largest 3\.4e\+38\)"):
        check_data(x, np.zeros(3), kind="regression")
    assert check_data(x, np.zeros(3), kind="regression", dtype=np.float64)[0][1, 0] == 1e300


def test_no_examples_names_the_array(tmp_path):
    np.savez(tmp_path / "e.npz", x_train=np.zeros((0, 4), np.uint8), y_train=np.zeros(0, int))
    with pytest.raises(DataError, match=r"^e\.npz: expected at least one example, found none \(x_train shape \(0, 4\)\)$"):
        load(tmp_path / "e.npz")


def test_a_path_too_long_to_look_up(tmp_path):
    path = tmp_path / ("a" * 300 + ".npz")
    with pytest.raises(DataError, match=rf"^cannot read '{tmp_path}/a+\.npz': File name too long$"):
        load(path)


def test_an_idx_folder_that_cannot_be_searched(tmp_path, monkeypatch):
    # A folder with read but no search (x) permission lists its names but cannot stat them; root
    # is never refused, so the refusal is simulated.
    images, labels = fake_mnist(5)
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    real = Path.is_file

    def is_file(self):
        if self.parent == tmp_path:
            raise PermissionError(13, "Permission denied")
        return real(self)
    monkeypatch.setattr(Path, "is_file", is_file)
    with pytest.raises(DataError, match=rf"^cannot list the directory '{tmp_path}': Permission denied$"):
        load(tmp_path, 16, 10)


def test_a_file_is_read_as_regression_targets_only_where_they_cannot_be_labels(tmp_path):
    x = np.linspace(0, 1, 24).reshape(6, 4)
    cases = {"floats": (np.linspace(-1, 2, 6), 1, "regression"),
             "counts": (np.array([0, 1, 2, 3, 4, 5]), 1, "regression"),  # one output: not a class index
             "zero_one": (np.array([0, 1, 1, 0, 1, 0]), 1, "classification"),
             "labels": (np.array([0, 1, 2, 0, 1, 2]), 3, "classification"),
             "one_hot": (np.eye(3)[[0, 1, 2, 0, 1, 2]], 3, "classification"),
             "rows": (np.linspace(0, 1, 18).reshape(6, 3), 3, "regression")}
    for name, (y, outputs, kind) in cases.items():
        np.savez(tmp_path / f"{name}.npz", x_train=x, y_train=y)
        d = load(tmp_path / f"{name}.npz", 4, outputs, regression=True, test_fraction=0)
        assert d.kind == kind, name
        if kind == "regression":
            assert np.allclose(d.y_train, np.reshape(y, (6, -1))) and d.n_classes is None
            assert d.description.endswith("(y read as regression targets)")
    with pytest.raises(DataError, match=r"^floats\.npz: y_train: expected integer class labels, found -0\.4 at index 1$"):
        load(tmp_path / "floats.npz", 4, 1)  # a cross-entropy network: labels only
    with pytest.raises(DataError, match=r"^floats\.npz: the network has 3 outputs, but y_train has 1 columns"):
        load(tmp_path / "floats.npz", 4, 3, regression=True)


# ---- input shapes: (examples, *shape) for convolutional networks ----

def test_images_gain_a_channel_axis(tmp_path):
    (xtr, ytr), (xte, yte) = fake_mnist(6), fake_mnist(3, seed=1)
    np.savez(tmp_path / "m.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    d = load(tmp_path / "m.npz", (4, 4, 1), 10)
    assert d.x_train.shape == (6, 4, 4, 1) and d.x_test.shape == (3, 4, 4, 1)
    assert d.x_train.dtype == np.float32 and d.input_shape == (4, 4, 1) and d.n_inputs == 16
    assert np.allclose(d.x_train[..., 0] * 255, xtr) and np.allclose(d.x_test[..., 0] * 255, xte)
    assert d.y_train.argmax(1).tolist() == ytr.tolist()


def test_images_with_a_channel_axis_are_kept(tmp_path):
    xtr, ytr = fake_mnist(5)
    np.savez(tmp_path / "m.npz", x_train=xtr[..., None], y_train=ytr)
    d = load(tmp_path / "m.npz", (4, 4, 1), 10, test_fraction=0)
    assert d.x_train.shape == (5, 4, 4, 1) and np.allclose(d.x_train * 255, xtr[..., None])
    # A list is an input shape too, and channels first with one channel is the same row-major order.
    np.savez(tmp_path / "c.npz", x_train=xtr[:, None], y_train=ytr)
    assert np.array_equal(load(tmp_path / "c.npz", [4, 4, 1], 10, test_fraction=0).x_train, d.x_train)


def test_idx_images_take_a_shape(tmp_path):
    xtr, ytr = fake_mnist(7)
    write_idx(tmp_path / "train-images-idx3-ubyte", xtr)
    write_idx(tmp_path / "train-labels-idx1-ubyte", ytr)
    d = load(tmp_path, (4, 4, 1), 10, test_fraction=0)
    assert d.x_train.shape == (7, 4, 4, 1) and np.allclose(d.x_train[..., 0] * 255, xtr)


def test_flat_data_is_reshaped_row_major(tmp_path):
    flat = np.random.default_rng(0).integers(0, 256, (5, 24), dtype=np.uint8)
    np.savez(tmp_path / "f.npz", x_train=flat, y_train=np.arange(5) % 2)
    d = load(tmp_path / "f.npz", (2, 4, 3), 2, test_fraction=0)
    assert d.x_train.shape == (5, 2, 4, 3)
    # Row-major: the last axis (channels) varies fastest, then width, then height.
    for h in range(2):
        for w in range(4):
            for c in range(3):
                assert np.allclose(d.x_train[:, h, w, c] * 255, flat[:, 12 * h + 3 * w + c])


def test_int_n_inputs_still_flattens(tmp_path):
    xtr, ytr = fake_mnist(4)
    np.savez(tmp_path / "m.npz", x_train=xtr, y_train=ytr)
    for n_inputs in (16, None):
        d = load(tmp_path / "m.npz", n_inputs, 10, test_fraction=0)
        assert d.x_train.shape == (4, 16) and d.input_shape == (16,) and d.n_inputs == 16
        assert np.allclose(d.x_train * 255, xtr.reshape(4, 16))
    with pytest.raises(DataError, match=r"^m\.npz: the network takes 9 inputs per example, but x_train has 16 "
                                        r"features \(x_train shape \(4, 16\)\)$"):
        load(tmp_path / "m.npz", 9, 10)


def test_a_shape_of_another_size_names_both(tmp_path):
    images = np.zeros((3, 28, 28), np.uint8)
    np.savez(tmp_path / "data.npz", x_train=images, y_train=np.array([0, 1, 2]))
    with pytest.raises(DataError, match=r"^data\.npz: x_train holds 28x28 images \(784 values each\); "
                                        r"the network takes 8x8x1 \(64 values\)$"):
        load(tmp_path / "data.npz", (8, 8, 1), 10)
    np.savez(tmp_path / "flat.npz", x_train=np.zeros((3, 64), np.uint8), y_train=np.array([0, 1, 2]))
    with pytest.raises(DataError, match=r"^flat\.npz: x_train holds 64 values per example; "
                                        r"the network takes 28x28x1 \(784 values\)$"):
        load(tmp_path / "flat.npz", (28, 28, 1), 10)
    np.savez(tmp_path / "t.npz", x_train=np.zeros((2, 4, 4), np.uint8), y_train=np.array([0, 1]),
             x_test=np.zeros((2, 5, 5), np.uint8), y_test=np.array([0, 1]))
    with pytest.raises(DataError, match=r"^t\.npz: x_test holds 5x5 images \(25 values each\); "
                                        r"the network takes 4x4x1 \(16 values\)$"):
        load(tmp_path / "t.npz", (4, 4, 1), 2)


def test_as_many_values_in_another_layout_are_refused(tmp_path):
    # Channels first read as channels last would scramble every image: refused, not reshaped.
    np.savez(tmp_path / "cf.npz", x_train=np.zeros((2, 3, 4, 4), np.uint8), y_train=np.array([0, 1]))
    with pytest.raises(DataError, match=r"^cf\.npz: x_train holds 3x4x4 images \(48 values each\); the network "
                                        r"takes 4x4x3 \(48 values\): as many values, arranged differently"):
        load(tmp_path / "cf.npz", (4, 4, 3), 2)


def test_check_data_takes_a_shape():
    x, y = check_data(np.arange(12).reshape(2, 6), [0, 1], (2, 3, 1), 2)
    assert x.shape == (2, 2, 3, 1) and x[1, 1, 2, 0] == 11 and y.shape == (2, 2)
    for bad in [(8, 0, 1), (), (8.0, 8), (True, 8)]:
        with pytest.raises(DataError, match=r"expected the network's input shape as positive whole numbers"):
            check_data(np.zeros((2, 6)), [0, 1], bad, 2)


# ---- the convolutional built-ins ----

def test_cnn_digits_are_the_mlp_digits_as_images():
    from sklearn.datasets import load_digits
    cnn, mlp = load("cnn", (8, 8, 1), 10), load("mlp", 64, 10)
    assert cnn.x_train.shape == (1437, 8, 8, 1) and cnn.x_test.shape == (360, 8, 8, 1)
    assert cnn.input_shape == (8, 8, 1) and cnn.n_inputs == 64 and cnn.n_classes == 10
    assert np.array_equal(cnn.y_train, mlp.y_train) and np.array_equal(cnn.y_test, mlp.y_test)
    assert 0.0 <= cnn.x_train.min() and cnn.x_train.max() == 1.0
    # Pixel (row i, column j) of an image is feature 8 i + j of the flat digits.
    for i in range(8):
        for j in range(8):
            assert np.array_equal(cnn.x_train[:, i, j, 0], mlp.x_train[:, 8 * i + j])
            assert np.array_equal(cnn.x_test[:, i, j, 0], mlp.x_test[:, 8 * i + j])
    # Each image is one of scikit-learn's own 8x8 images, upright (not transposed).
    images = {(im / 16).astype(np.float32).tobytes() for im in load_digits().images}
    assert all(im[..., 0].tobytes() in images for im in cnn.x_train[:50])
    assert not all(im[..., 0].T.tobytes() in images for im in cnn.x_train[:50])
    # Unasked, the images come in their own shape; asked for 64 inputs, they are the mlp digits.
    assert load("cnn").x_train.shape == (1437, 8, 8, 1)
    assert np.array_equal(load("cnn", 64, 10).x_train, mlp.x_train)


@pytest.fixture(scope="module")
def mnist1d(tmp_path_factory):
    """MNIST-1D generated once for the module, cached in a folder of its own; the global random
    streams as they were before and after."""
    cache = tmp_path_factory.mktemp("cache")
    import random
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(cache))
        np.random.seed(123)
        random.seed(123)
        before = (np.random.get_state()[1].copy(), random.getstate())
        d = load("cnn1d", (40, 1), 10)
        after = (np.random.get_state()[1].copy(), random.getstate())
    return d, cache, before, after


def test_cnn1d_shapes_and_classes(mnist1d):
    d = mnist1d[0]
    assert d.x_train.shape == (4000, 40, 1) and d.x_test.shape == (1000, 40, 1)
    assert d.y_train.shape == (4000, 10) and d.y_test.shape == (1000, 10)
    assert d.input_shape == (40, 1) and d.n_inputs == 40 and d.n_classes == 10 and d.kind == "classification"
    assert np.all(d.y_train.sum(1) == 1) and np.all(np.bincount(d.y_train.argmax(1), minlength=10) > 300)
    assert abs(d.x_train.mean()) < 0.05 and 0.9 < d.x_train.std() < 1.1  # as mnist1d scales it
    assert d.x_train.dtype == np.float32 and d.description.startswith("MNIST-1D (mnist1d ")


def test_cnn1d_leaves_the_global_random_streams_alone(mnist1d):
    _, _, before, after = mnist1d
    assert np.array_equal(before[0], after[0]) and before[1] == after[1]


def test_cnn1d_is_read_from_the_cache(mnist1d, monkeypatch):
    import importlib.metadata
    import sys
    d, cache = mnist1d[:2]
    path = cache / "derivax" / f"mnist1d-{importlib.metadata.version('mnist1d')}.npz"
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    with np.load(path) as z:
        assert np.array_equal(z["x"].astype(np.float32), d.x_train[..., 0])
        assert np.array_equal(z["y_test"], d.y_test.argmax(1))
    # With mnist1d unimportable, only the cache can give the data.
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    again = load("cnn1d", (40, 1), 10)
    for a, b in ((again.x_train, d.x_train), (again.y_train, d.y_train), (again.x_test, d.x_test),
                 (again.y_test, d.y_test)):
        assert np.array_equal(a, b)
    flat = load("cnn1d", 40, 10)
    assert flat.x_train.shape == (4000, 40) and np.array_equal(flat.x_train, d.x_train[..., 0])
    assert load("cnn1d").x_train.shape == (4000, 40, 1)


def fake_mnist1d(calls):
    def generate():
        calls.append(1)
        rng = np.random.default_rng(len(calls))
        return {"x": rng.normal(size=(6, 40)), "y": np.arange(6) % 3, "x_test": rng.normal(size=(2, 40)),
                "y_test": np.array([0, 2])}
    return generate


def test_an_unreadable_cache_is_generated_again(tmp_path, monkeypatch):
    import importlib.metadata
    import compile.train.data as data
    calls = []
    monkeypatch.setattr(data, "_generate_mnist1d", fake_mnist1d(calls))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = tmp_path / "derivax" / f"mnist1d-{importlib.metadata.version('mnist1d')}.npz"
    path.parent.mkdir()
    np.savez(tmp_path / "wrong.npz", x=np.zeros((3, 40)), y=np.zeros(2), x_test=np.zeros((2, 40)),
             y_test=np.zeros(2))  # x and y disagree in length
    np.savez(tmp_path / "part.npz", x=np.zeros((3, 40)), y=np.zeros(3))  # no test split
    damaged = [b"not a zip file", b"", (tmp_path / "wrong.npz").read_bytes(), (tmp_path / "part.npz").read_bytes()]
    for n, damage in enumerate(damaged):
        path.write_bytes(damage)
        d = load("cnn1d", (40, 1), 3)
        assert len(calls) == n + 1 and d.x_train.shape == (6, 40, 1)
        # Rewritten: the next load reads it instead of generating.
        assert np.array_equal(load("cnn1d", (40, 1), 3).x_train, d.x_train) and len(calls) == n + 1


def test_a_cache_folder_that_cannot_be_written_is_skipped(tmp_path, monkeypatch):
    import compile.train.data as data
    calls = []
    monkeypatch.setattr(data, "_generate_mnist1d", fake_mnist1d(calls))
    (tmp_path / "file").write_text("a file where the cache folder would go\n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    assert load("cnn1d", 40, 3).x_train.shape == (6, 40)
    assert load("cnn1d", 40, 3).x_test.shape == (2, 40) and len(calls) == 2


def test_cnn1d_without_mnist1d_says_how_to_install_it(tmp_path, monkeypatch):
    import sys
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(DataError, match=r"^the cnn1d data set \(MNIST-1D\) is generated by the mnist1d package: "
                                        r"pip install mnist1d"):
        load("cnn1d", (40, 1), 10)


def test_mnist_arrays_without_a_test_split_hold_a_part_out_as_a_users_own_do(tmp_path):
    """x_train, y_train alone (or IDX files without the t10k ones): 20% held out for testing, said in the
    description, as from a user's x, y; the held-out examples are the file's own, scaled as pixels."""
    xtr, ytr = fake_mnist(10)
    np.savez(tmp_path / "m.npz", x_train=xtr, y_train=ytr)
    d = load(tmp_path / "m.npz", 16, 10)
    assert d.x_train.shape == (8, 16) and d.x_test.shape == (2, 16)
    assert "2 of them, 20%, held out for testing: the data has no test split" in d.description
    assert sorted(np.round(np.vstack([d.x_train, d.x_test]) * 255).astype(int).tolist()) \
        == sorted(xtr.reshape(10, 16).astype(int).tolist())
    np.savez(tmp_path / "t.npz", x_train=xtr, y_train=ytr, x_test=xtr[:3])
    with pytest.raises(DataError, match=r"t\.npz: holds x_test but no y_test"):
        load(tmp_path / "t.npz", 16, 10)


def test_integer_label_columns_are_not_called_one_hot(tmp_path):
    np.savez(tmp_path / "y2.npz", x=np.zeros((6, 4), np.float32), y=np.tile(np.arange(3), (6, 2))[:, :4])
    with pytest.raises(DataError, match=r"y holds 4 columns of whole numbers 0\.\.2 \(shape \(6, 4\)\): a "
                                        r"classifier's targets are one label per example"):
        load(tmp_path / "y2.npz", 4, 3)


def test_an_embeddings_data_of_another_width_is_named_by_its_shape_before_its_values(tmp_path):
    """Images given to a network that reads 3 token indices: the shape is what is wrong, not 0.637 as a token."""
    np.savez(tmp_path / "img.npz", x=np.random.default_rng(0).random((8, 6, 6, 1)), y=np.arange(8) % 3)
    with pytest.raises(DataError, match=r"the network takes 3 inputs per example, but x has 36 values per example"):
        load(tmp_path / "img.npz", 3, 3, vocab=5)
    np.savez(tmp_path / "wide.npz", x=np.full((8, 4), 9), y=np.arange(8) % 3)
    with pytest.raises(DataError, match=r"the network takes 3 inputs per example, but x has 4 features"):
        load(tmp_path / "wide.npz", 3, 3, vocab=5)
    np.savez(tmp_path / "oob.npz", x=np.full((8, 3), 9), y=np.arange(8) % 3)
    with pytest.raises(DataError, match=r"found 9 at index \(0, 0\) \(out of range"):
        load(tmp_path / "oob.npz", 3, 3, vocab=5)

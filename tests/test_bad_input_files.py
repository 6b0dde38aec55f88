"""Bad values in a user's data files are named where the file has them: the file's own array and index (a
.csv's row and column), never a position in the shuffled training or held-out split, nor an array the file
lacks. --drop leaves a .csv column unread, a header may not name two columns alike, predict reads x_test
alone as features (for a flat network whose checkpoint records no reading of its data), and --classes is refused for a network that is no classifier."""
import numpy as np
import pytest

from compile.cli.main import main
from compile.train.data import DataError, check_data, load

CLS = "4-8:tanh-3:softmax"
REG = "4-8:tanh-1"


def _good():
    rng = np.random.default_rng(0)
    return rng.normal(size=(60, 4)).astype("f4"), rng.integers(0, 3, 60)


def _bad_y(i, v):
    def change(x, y):
        y = y.astype(float)
        y[i] = v
        return x, y
    return change


def _bad_one_hot(x, y):
    y = np.eye(3)[y]
    y[30] = [0.5, 0.6, 0.0]
    return x, y


def _big_x(x, y):
    x = x.astype("f8")
    x[30, 1] = 1e300
    return x, y


@pytest.mark.parametrize("change, words", [
    (_bad_y(59, 9), r"y: labels must be in 0\.\.2 for a network with 3 outputs, found label 9 at index 59 "),
    (_bad_y(0, 9), r"y: labels must be in 0\.\.2 for a network with 3 outputs, found label 9 at index 0 "),
    (_bad_y(30, 1.5), r"y: expected integer class labels, found 1\.5 at index 30$"),
    (_bad_one_hot, r"y: expected one-hot label rows .*, found row 30 = \[0\.5, 0\.6, 0\.0\]$"),
    (_big_x, r"x: the value 1e\+300 at index \(30, 1\) is too large for float32"),
    (lambda x, y: (np.zeros((60, 5)), y), r"the network takes 4 inputs per example, but x has 5 features "
                                          r"\(x shape \(60, 5\)\)$")])
def test_a_bad_value_in_an_npz_without_a_test_split_is_named_at_its_index_in_the_file(tmp_path, change, words):
    x, y = change(*_good())
    np.savez(tmp_path / "d.npz", x=x, y=y)
    with pytest.raises(DataError, match=rf"^d\.npz: {words}") as caught:
        load(tmp_path / "d.npz", n_inputs=4, n_outputs=3)
    assert "y_test" not in str(caught.value) and "x_test" not in str(caught.value)


def test_a_folder_of_arrays_names_the_file_and_its_index(tmp_path):
    x, y = _good()
    y[45] = 7
    (tmp_path / "f").mkdir()
    np.save(tmp_path / "f" / "x.npy", x)
    np.save(tmp_path / "f" / "y.npy", y)
    with pytest.raises(DataError, match=r"y\.npy: labels must be in 0\.\.2 .* found label 7 at index 45 "):
        load(tmp_path / "f", n_inputs=4, n_outputs=3)


def test_train_says_where_a_bad_label_is_in_one_line(tmp_path, capsys):
    x, y = _good()
    y[59] = 9
    np.savez(tmp_path / "bad.npz", x=x, y=y)
    assert main(["train", CLS, "--data", str(tmp_path / "bad.npz"), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "bad.npz: y: labels must be in 0..2" in err and "found label 9 at index 59 " in err, err


def _csv(path, x, labels, header="a,b,c,d,label"):
    rows = ([header] if header else []) + [",".join([*(repr(float(v)) for v in r), str(l)]) for r, l in zip(x, labels)]
    path.write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize("header, row, column", [("a,b,c,d,label", 2, "label"), (None, 1, "4")])
def test_a_bad_csv_label_is_named_at_its_row_and_column(tmp_path, header, row, column):
    x, y = _good()
    labels = [str(v) for v in y]
    labels[0] = "-1"
    _csv(tmp_path / "d.csv", x, labels, header)
    with pytest.raises(DataError, match=rf"^d\.csv: .*found label -1 at row {row}, column '{column}' "):
        load(tmp_path / "d.csv", n_inputs=4, n_outputs=3)


def test_a_csv_value_too_large_for_float32_is_named_at_its_row_and_column(tmp_path):
    x, y = _good()
    x = x.astype("f8")
    x[30, 1] = 1e300
    _csv(tmp_path / "d.csv", x, y)
    with pytest.raises(DataError, match=r"^d\.csv: .*the value 1e\+300 at row 32, column 'b' is too large"):
        load(tmp_path / "d.csv", n_inputs=4, n_outputs=3)


def test_positions_in_reshaped_arrays_are_the_stored_arrays_own():
    x = np.zeros((3, 2, 2))
    x[2, 1, 0] = 1e300
    with pytest.raises(DataError, match=r"x: the value 1e\+300 at index \(2, 1, 0\)"):
        check_data(x, [0, 1, 0], 4, 2)
    labels = np.array([[0, 1, 2, 1], [0, 1, 2, 1], [0, 1, 7, 1]])
    with pytest.raises(DataError, match=r"found label 7 at index \(2, 2\) "):
        check_data(np.zeros((3, 4, 2)), labels, (4, 2), 3, steps=4)


def test_the_split_made_after_checking_is_the_split_made_before(tmp_path):
    """The held-out examples are the same ones, in the same order, as when the split came first."""
    x, y = _good()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    data = load(tmp_path / "d.npz", n_inputs=4, n_outputs=3)
    order = np.random.default_rng(0).permutation(60)
    np.testing.assert_array_equal(data.x_train, x[order[:48]])
    np.testing.assert_array_equal(data.x_test, x[order[48:]])
    np.testing.assert_array_equal(data.y_test.argmax(1), y[order[48:]])


@pytest.fixture
def checkpoints(tmp_path):
    """Parameters by name, as --load takes them: a classifier's and a regression's."""
    rng = np.random.default_rng(1)
    for name, k in (("cls.npz", 3), ("reg.npz", 1)):
        np.savez(tmp_path / name, W1=rng.normal(size=(4, 8)), b1=np.zeros(8), W2=rng.normal(size=(8, k)),
                 b2=np.zeros(k))
    return tmp_path


def test_predict_never_reads_a_dropped_column(checkpoints, tmp_path, capsys):
    x, _ = _good()
    _csv(tmp_path / "f.csv", x, ["emu"] + ["cat", "dog"] * 29 + ["cat"])
    np.save(tmp_path / "x.npy", x)
    ck = str(checkpoints / "cls.npz")
    assert main(["predict", CLS, "--load", ck, "-i", str(tmp_path / "f.csv"), "--drop", "label"]) == 0
    dropped = capsys.readouterr().out
    assert main(["predict", CLS, "--load", ck, "-i", str(tmp_path / "x.npy")]) == 0
    assert dropped == capsys.readouterr().out and len(dropped.splitlines()) == 61


@pytest.mark.parametrize("argv", [
    ["train", REG, "--data", "{f}", "--target", "a", "--epochs", "1"],
    ["train", CLS, "--data", "{f}", "--epochs", "1"],   # the duplicate is no target: still refused
    ["predict", CLS, "--load", "{ck}", "-i", "{f}", "--drop", "a"]])
def test_a_header_naming_two_columns_alike_is_refused(checkpoints, tmp_path, capsys, argv):
    x, y = _good()
    _csv(tmp_path / "f.csv", x, y, header="a,a,c,d,label")
    argv = [a.format(f=tmp_path / "f.csv", ck=checkpoints / "cls.npz") for a in argv]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert "f.csv: the header row gives the name 'a' to 2 columns (columns 0 and 1, numbered from 0)" in err, err


def test_predict_reads_x_test_alone_as_features_for_a_flat_network_whatever_its_dtype(checkpoints, tmp_path, capsys):
    """Parameters alone record no reading of the training data: a flat network's x_test is features as they are,
    uint8 too (train reads uint8 features beside y as they are)."""
    x, _ = _good()
    x = x * 300   # real values outside any pixel range
    np.savez(tmp_path / "t.npz", x_test=x)
    np.save(tmp_path / "x.npy", x)
    ck = str(checkpoints / "cls.npz")
    assert main(["predict", CLS, "--load", ck, "-i", str(tmp_path / "t.npz")]) == 0
    alone = capsys.readouterr()
    assert "x_test read as features, as they are" in alone.err
    assert main(["predict", CLS, "--load", ck, "-i", str(tmp_path / "x.npy")]) == 0
    assert alone.out == capsys.readouterr().out
    small = (np.arange(240) % 7).astype(np.uint8).reshape(60, 4)
    np.savez(tmp_path / "p.npz", x_test=small)
    np.save(tmp_path / "p.npy", small.astype(np.float32))
    assert main(["predict", CLS, "--load", ck, "-i", str(tmp_path / "p.npz")]) == 0
    unscaled = capsys.readouterr()
    assert "x_test read as features, as they are" in unscaled.err
    assert main(["predict", CLS, "--load", ck, "-i", str(tmp_path / "p.npy")]) == 0
    assert unscaled.out == capsys.readouterr().out


def test_predict_classes_is_refused_for_a_regression(checkpoints, tmp_path, capsys):
    x, _ = _good()
    np.save(tmp_path / "x.npy", x)
    assert main(["predict", REG, "--load", str(checkpoints / "reg.npz"), "-i", str(tmp_path / "x.npy"),
                 "--classes"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "--classes is for a classifier" in err and "mse" in err, err
    assert main(["predict", CLS, "--load", str(checkpoints / "cls.npz"), "-i", str(tmp_path / "x.npy"),
                 "--classes"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "class"

"""Users' own data: .npz with x, y (features as they are), a folder of x.npy and y.npy, .csv with a target
column by name; classification or regression; 20% held out when there is no test split; bad files named."""
import numpy as np
import pytest

from compile.train.data import DataError, load


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3)) * 4   # standardised-looking features, outside 0..255's pixel reading
    y = (x[:, 0] > 0).astype(int)
    np.savez(d / "cls.npz", x=x, y=y)
    np.savez(d / "split.npz", x=x[:40], y=y[:40], x_test=x[40:], y_test=y[40:])
    np.savez(d / "reg.npz", x=x, y=x @ [1.0, -1.0, 0.5])
    (d / "arrays").mkdir()
    np.save(d / "arrays" / "x.npy", x)
    np.save(d / "arrays" / "y.npy", y)
    rows = ["a,label,b,c"] + [f"{r[0]},{l},{r[1]},{r[2]}" for r, l in zip(x, y)]
    (d / "d.csv").write_text("\n".join(rows) + "\n")
    (d / "bad.csv").write_text("a,b\n1,2\n3,oops\n")
    (d / "ragged.csv").write_text("a,b\n1,2\n3\n")
    return d, x, y


def test_npz_with_x_and_y_keeps_the_features_and_holds_a_fifth_out(files):
    d, x, y = files
    data = load(d / "cls.npz", n_inputs=3, n_outputs=2)
    assert len(data.x_train) == 40 and len(data.x_test) == 10 and "10 (20%) held out for testing" in data.description
    both = np.concatenate([data.x_train, data.x_test])
    assert np.allclose(np.sort(both, axis=0), np.sort(x, axis=0), atol=1e-5)   # not scaled as pixels
    assert data.y_train.shape == (40, 2)


def test_a_given_test_split_is_used_and_none_is_held_out_on_request(files):
    d, x, y = files
    data = load(d / "split.npz", n_inputs=3, n_outputs=2)
    assert len(data.x_test) == 10 and "held out" not in data.description
    assert load(d / "cls.npz", n_inputs=3, n_outputs=2, test_fraction=0).x_test is None


def test_regression_targets_and_npy_folders(files):
    d, x, y = files
    reg = load(d / "reg.npz", n_inputs=3, n_outputs=1, regression=True)
    assert reg.kind == "regression" and reg.y_train.shape == (40, 1)
    assert load(d / "arrays", n_inputs=3, n_outputs=2).kind == "classification"


def test_csv_takes_the_target_column_by_name(files):
    d, x, y = files
    data = load(d / "d.csv", n_inputs=3, n_outputs=2, target="label", test_fraction=0)
    assert np.allclose(data.x_train, x, atol=1e-5) and np.array_equal(data.y_train.argmax(1), y)


@pytest.mark.parametrize("name, target, words", [
    ("d.csv", "nope", "no column named 'nope'; the columns are a, label, b, c"),
    ("bad.csv", None, "row 3, column 'b': 'oops' is not a number"),
    ("ragged.csv", None, "row 3 has 1 values, the header 2 columns"),
    ("cls.npz", "label", "--target names a column of a .csv file"),
])
def test_bad_user_data_is_named(files, name, target, words):
    d, _, _ = files
    with pytest.raises(DataError) as err:
        load(d / name, n_inputs=2, n_outputs=2, target=target)
    assert words in str(err.value)


def test_the_command_line_trains_on_a_csv(files, capsys):
    from compile.cli.main import main
    d, _, _ = files
    rc = main(["train", "3-4:tanh-2:softmax", "--data", str(d / "d.csv"), "--target", "label", "--epochs", "3",
               "--json"])
    out = capsys.readouterr().out
    assert rc == 0 and "d.csv: 50 examples, 10 (20%) held out for testing" in out and '"test_accuracy"' in out


# ---- a .csv without a header row ----

def test_a_csv_whose_first_row_is_numbers_has_no_header_and_numbered_columns(tmp_path):
    """np.savetxt writes no header: every row is an example (none taken for column names), the columns are
    numbered from 0, --target takes a number; a header of 0..n-1 (pandas' for unnamed columns) is a header."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(12, 3)), rng.integers(0, 2, 12)
    np.savetxt(tmp_path / "last.csv", np.column_stack([x, y]), delimiter=",")
    np.savetxt(tmp_path / "first.csv", np.column_stack([y, x]), delimiter=",")
    data = load(tmp_path / "last.csv", n_inputs=3, n_outputs=2, test_fraction=0)
    assert np.allclose(data.x_train, x, atol=1e-6) and np.array_equal(data.y_train.argmax(1), y)
    assert "12 examples (no header row: the columns are numbered 0 to 3, the target is column 3)" in data.description
    first = load(tmp_path / "first.csv", n_inputs=3, n_outputs=2, target="0", test_fraction=0)
    assert np.allclose(first.x_train, x, atol=1e-6) and np.array_equal(first.y_train.argmax(1), y)
    with pytest.raises(DataError, match=r"first\.csv: the file has no header row \(its first row is numbers\), so "
                                        r"--target is a column's number, 0 to 3, not 'label'"):
        load(tmp_path / "first.csv", n_inputs=3, n_outputs=2, target="label")
    (tmp_path / "pandas.csv").write_text("0,1,2,3\n" + (tmp_path / "last.csv").read_text())
    named = load(tmp_path / "pandas.csv", n_inputs=3, n_outputs=2, test_fraction=0)
    assert len(named.x_train) == 12 and "no header row" not in named.description
    from compile.train.data import read_inputs
    inputs, what = read_inputs(tmp_path / "first.csv", 3, drop=("0",))
    assert np.allclose(inputs, x, atol=1e-6) and "no header row" in what


# ---- .npy files that are no arrays ----

@pytest.mark.parametrize("content, words", [
    (b"", "is empty: expected an .npy file"),
    (b"hello, world", "is not an .npy file: expected an array as np.save writes it, found a file starting with "
                      "bytes 68 65 6c 6c 6f 2c 20 77 (text)"),
    (b"PK\x03\x04rest", "is not an .npy file: expected an array as np.save writes it, found a file starting with "
                        "bytes 50 4b 03 04 72 65 73 74 (an .npz archive of several arrays)"),
    ("truncated", "is truncated: its header promises more data than the file holds"),
], ids=["empty", "text", "npz", "truncated"])
def test_an_npy_file_that_is_no_array_says_what_it_is(tmp_path, capsys, content, words):
    """In a --data folder and as predict's --input, an .npy file of the wrong kind is named by what it is,
    not called an array of Python objects, and not an EOFError."""
    from compile.cli.main import main
    if content == "truncated":
        np.save(tmp_path / "full.npy", np.arange(50.0))
        content = (tmp_path / "full.npy").read_bytes()[:150]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.npy").write_bytes(content)
    np.save(tmp_path / "data" / "y.npy", np.zeros(4))
    (tmp_path / "in.npy").write_bytes(content)
    for argv in (["train", "2-2:tanh-2:softmax", "--data", str(tmp_path / "data")],
                 ["predict", "2-2:tanh-2:softmax", "--load", "none.npz", "--input", str(tmp_path / "in.npy")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err and "Python objects" not in err, err


# ---- an embedding's inputs are token indices ----

TOKENS = "2-emb2x1-att1-2:softmax"   # a vocabulary of 2, two positions, an output at each


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    """A checkpoint of TOKENS trained on good tokens, and the folder it lives in."""
    from compile.cli.main import main
    d = tmp_path_factory.mktemp("tokens")
    rng = np.random.default_rng(2)
    np.savez(d / "ok.npz", x=rng.integers(0, 2, (20, 2)), y=rng.integers(0, 2, (20, 2)))
    assert main(["train", TOKENS, "--data", str(d / "ok.npz"), "--epochs", "1", "--save", str(d / "ck.npz")]) == 0
    return d


@pytest.mark.parametrize("x, words", [
    ([[0, 1], [1, 5]], "found 5 at index (1, 1) (out of range, 5 such values in all)"),
    ([[0, -1], [1, 0]], "found -1 at index (0, 1) (out of range"),
    ([[0, 1.7], [1, 0]], "found 1.7 at index (0, 1) (not a whole number"),
    ([[0, 1], [np.nan, 0]], "found nan at index (1, 0) (not a number"),
], ids=["too-large", "negative", "fraction", "nan"])
def test_token_indices_outside_the_vocabulary_are_refused_wherever_they_enter(tokens, tmp_path, capsys, x, words):
    """predict (.npy, .npz, .csv, folder), evaluate and train all refuse them, naming the file, the first bad
    position and value and the vocabulary's range; none of them runs on them."""
    from compile.cli.main import main
    x = np.array(x, dtype=float if np.isnan(np.sum(x)) or np.any(np.array(x) % 1) else int)
    x = np.concatenate([x] * 5)
    y = np.zeros((len(x), 2), int)
    np.save(tmp_path / "in.npy", x)
    np.savez(tmp_path / "in.npz", x=x, y=y)
    (tmp_path / "in.csv").write_text("a,b\n" + "\n".join(f"{u},{v}" for u, v in x) + "\n")
    (tmp_path / "folder").mkdir()
    np.save(tmp_path / "folder" / "x.npy", x)
    np.save(tmp_path / "folder" / "y.npy", y)
    ck = str(tokens / "ck.npz")
    runs = [(["predict", TOKENS, "--load", ck, "--input", str(tmp_path / f)], f)
            for f in ("in.npy", "in.npz", "in.csv", "folder")]
    runs += [(["evaluate", TOKENS, "--load", ck, "--data", str(tmp_path / "in.npz")], "in.npz"),
             (["train", TOKENS, "--data", str(tmp_path / "folder"), "--epochs", "1"], "folder")]
    for argv, culprit in runs:
        rc = main(argv)
        out, err = capsys.readouterr()
        assert rc == 2 and out == "" and err.count("\n") == 1, (argv, out, err)
        if culprit == "in.csv" and "nan" in words:   # a .csv names a value that is no number at its line
            assert err == "derivax: in.csv: row 3, column 'a': 'nan' is not a finite number\n"
            continue
        if argv[0] in ("evaluate", "train") and "nan" in words:   # data checked as data first: no finite number
            assert culprit in err and "expected finite numbers, found 5 NaN or inf value(s), the first at index " \
                                      "(1, 0)" in err, err
            continue
        expect = words
        if culprit == "in.csv":   # a .csv's place is its row as the file numbers its lines, its column by name
            r, c = (int(k) for k in words.split("index (")[1].split(")")[0].split(", "))
            expect = words.replace(f"index ({r}, {c})", f"row {r + 2}, column {'ab'[c]!r}")
        assert culprit in err and "whole numbers in 0..1 (a vocabulary of 2)" in err and expect in err, err


def test_good_token_indices_stored_as_floats_predict_as_integers_do(tokens, tmp_path, capsys):
    from compile.cli.main import main
    x = np.array([[0, 1], [1, 1], [1, 0]])
    np.save(tmp_path / "i.npy", x)
    np.save(tmp_path / "f.npy", x.astype(float))
    tables = []
    for f in ("i.npy", "f.npy"):
        assert main(["predict", TOKENS, "--load", str(tokens / "ck.npz"), "--input", str(tmp_path / f),
                     "-o", str(tmp_path / f"p{f}")]) == 0
        tables.append(np.load(tmp_path / f"p{f}"))
    capsys.readouterr()
    np.testing.assert_array_equal(tables[0], tables[1])
    assert np.isfinite(tables[0]).all() and np.allclose(tables[0].sum(-1), 1, atol=1e-5)


@pytest.mark.parametrize("content, words", [
    ("a,b,c\n1,2,0\n\n\n3,4,1\n1,zz,0\n", "row 6, column 'b': 'zz' is not a number"),   # blank lines counted
    ("a,b,c\n1,2,0\n3,4,1\n5,inf,0\n", "row 4, column 'b': 'inf' is not a finite number"),
    ("a,b,c\n1,2,0\n3,nan,1\n", "row 3, column 'b': 'nan' is not a finite number")])
def test_a_csv_value_is_named_at_the_files_own_line(tmp_path, content, words):
    """Blank lines were dropped before the rows were numbered, and an inf was found after the shuffle, at a
    position of the shuffled copy or in the held-out part."""
    (tmp_path / "t.csv").write_text(content)
    with pytest.raises(DataError, match=f"^t.csv: {words}$"):
        load(tmp_path / "t.csv", n_inputs=2, n_outputs=2)


def test_a_nan_in_npz_features_is_named_at_its_place_in_the_file(tmp_path):
    x = np.random.default_rng(0).normal(size=(20, 4))
    x[1, 3] = np.nan
    np.savez(tmp_path / "n.npz", x=x, y=np.arange(20) % 3)
    with pytest.raises(DataError, match=r"^n.npz: x: expected finite numbers, found 1 NaN or inf value\(s\), the "
                                        r"first at index \(1, 3\)$"):
        load(tmp_path / "n.npz", n_inputs=4, n_outputs=3)


def test_an_npz_with_features_and_mnist_arrays_both_is_refused(tmp_path):
    x = np.random.default_rng(0).normal(size=(10, 4))
    np.savez(tmp_path / "b.npz", x=x, y=np.arange(10) % 3, x_train=np.zeros((10, 4)), y_train=np.arange(10) % 3)
    with pytest.raises(DataError, match=r"holds both x, y \(features\) and x_train, y_train .*keep one pair"):
        load(tmp_path / "b.npz", n_inputs=4, n_outputs=3)

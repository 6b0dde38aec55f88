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

"""check-code keeps the user's own errors the user's: a shape bug raised by code checked on a convolutional or
recurrent network is reported with its line, never replaced by derivax's refusal to build that network in the
columns convention; a FIFO, a device or a directory given as the code file is named for what it is, never opened."""
import json
import os
import textwrap

import pytest

from compile.checks.code import check_code
from compile.checks.sandbox import parse_spec
from compile.cli import main as cli
from derive.network.examples import resolve

# code written for a dense network: on a convolution's x (batch, 4, 4, 1) or a sequence's x (batch, 3, 2) its
# product with W1 stops on the shapes, as NumPy says
DENSE_CODE = """\
    import numpy as np


    def backward(params, x, y):
        h = np.ones((5, 3)) @ np.ones((4, 2))
        return {"W1": h, "b1": h}
    """
WHERE = '(line 5 of dense.py: h = np.ones((5, 3)) @ np.ones((4, 2)))'


@pytest.mark.parametrize("model, extra, params", [
    ("4x4x1-conv2k3-flatten-2:softmax", ["--convention", "rows"], ["W1", "b1", "W3", "b3"]),
    ("3x2-rnn2-2:softmax", [], ["Wxh1", "Whh1", "bh1", "W2", "b2"]),
])
def test_a_shape_bug_on_a_conv_or_recurrent_net_is_reported_as_the_codes_own(tmp_path, capsys, model, extra, params):
    path = tmp_path / "dense.py"
    path.write_text(textwrap.dedent(DENSE_CODE))
    rc = cli.main(["check-code", model, str(path), "--json", *extra])
    out, err = capsys.readouterr()
    assert rc == 2, (out, err)
    assert "Keras" not in err and "rows convention" not in err, err
    doc = json.loads(out.strip().splitlines()[-1])
    assert doc["stopped"] == "exception"
    assert doc["error"].startswith("at seed 0 (m=5): raised ValueError: ") and doc["error"].endswith(WHERE), doc
    assert list(doc["params"]) == params
    assert all(not p["ok"] and p["message"].endswith(WHERE) for p in doc["params"].values()), doc["params"]
    assert "not checked" in out and "the function failed (below)" in out


def test_a_callable_with_a_shape_bug_on_a_recurrent_net_gets_its_report():
    """Called in this process as well: the report, not the columns convention's NetworkError."""
    def backward(params, x, y):
        raise ValueError("shapes (5,3) and (4,2) not aligned: 3 (dim 1) != 4 (dim 0)")
    _, net = resolve("3x2-rnn2-2:softmax")
    report = check_code(net, backward, points=1)
    assert report.stopped == "exception"
    assert report.error.startswith("at seed 0 (m=5): raised ValueError: shapes (5,3) and (4,2) not aligned: "
                                   "3 (dim 1) != 4 (dim 0) (line "), report.error
    assert not any("convention" in n for n in report.notes if n.startswith("hint")), report.notes


@pytest.fixture
def fifo(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    path = tmp_path / "f.py"
    os.mkfifo(path)
    return str(path)


def test_a_fifo_is_named_a_fifo_and_never_opened(fifo, capsys):
    # opened to be read, the FIFO would wait for a writer that never comes: both calls return at once
    with pytest.raises(ValueError) as info:
        parse_spec(f"{fifo}:backward")
    assert str(info.value) == f"{fifo} is a FIFO (a named pipe), not a regular file: give the .py file that " \
                              "defines the function"
    assert cli.main(["check-code", "xor", fifo]) == 2
    assert capsys.readouterr().err == f"derivax: {fifo} is a FIFO (a named pipe), not a regular file: give the .py " \
                                      "file that defines the function\n"


@pytest.mark.parametrize("path, kind", [("/dev/null", "a character device"), (".", "a directory")])
def test_a_device_or_a_directory_is_named_for_what_it_is(path, kind):
    if not os.path.exists(path):
        pytest.skip(f"no {path} here")
    with pytest.raises(ValueError) as info:
        parse_spec(path)
    assert str(info.value) == f"{path} is {kind}, not a regular file: give the .py file that defines the function"


def test_a_missing_file_is_still_missing_and_a_file_still_parses(tmp_path):
    with pytest.raises(ValueError) as info:
        parse_spec(str(tmp_path / "nope.py"))
    assert str(info.value) == f"no such file: {tmp_path / 'nope.py'}"
    path = tmp_path / "grad.py"
    path.write_text("def g(params, x, y):\n    return {}\n")
    assert parse_spec(f"{path}:g") == (str(path), "g")

"""Bad input found by probing the command line and the Python API: counts an edited checkpoint records beyond what
the file holds (a loop of a billion steps) or beyond what a run takes, write errors and closed standard streams, a
FIFO or a device given as a file (never opened: reading a FIFO waits for a writer), options that were accepted and
ignored, messages that reported another shape or another number than the one given, and API arguments taken
without a check. Each is answered by one line naming the file, the field or the option, never a traceback."""
import errno
import io
import json
import os
import sys
import threading
import zipfile

import numpy as np
import pytest

from compile.cli.main import main
from compile.train.data import DataError

XOR_SPLIT = "xor: the training split"


@pytest.fixture(scope="module")
def xor_checkpoint(tmp_path_factory):
    """(trainer, path, arrays) of an Adam checkpoint of the built-in xor network, written through the API."""
    from compile.train.checkpoint import save_checkpoint
    from compile.train.train import compile_trainer
    from derive.network.examples import EXAMPLES
    trainer = compile_trainer(EXAMPLES["xor"].net, "adam", 0.1)
    params = trainer.init_params(0)
    path = tmp_path_factory.mktemp("ck") / "xor.npz"
    save_checkpoint(path, trainer, params, trainer.init_opt_state(params), 1)
    return trainer, path, dict(np.load(path))


def _edited(tmp_path, arrays, name="bad.npz", settings=None, drop=(), **facts):
    """A copy of a checkpoint's arrays whose metadata has ``facts`` (and ``settings``) changed, ``drop`` left out."""
    meta = json.loads(str(arrays["__derivax__"]))
    meta.update(facts)
    for key in drop:
        del meta[key]
    meta.setdefault("settings", {}).update(settings or {})
    path = tmp_path / name
    np.savez(path, **{**arrays, "__derivax__": np.array(json.dumps(meta))})
    return path


def _err(capsys) -> str:
    """The one line the command wrote to stderr, without a traceback."""
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


# ---- 1 and 2: a checkpoint's counts, bounded by what the file holds and what a run takes, named with the file ----

def test_a_state_array_count_beyond_the_files_arrays_is_refused_at_once(xor_checkpoint, tmp_path):
    from compile.train.checkpoint import load_checkpoint
    trainer, _, arrays = xor_checkpoint
    path = _edited(tmp_path, arrays, state_arrays=10**9)   # was a loop of 10**9 steps: train and evaluate hung
    with pytest.raises(DataError) as err:
        load_checkpoint(path, trainer)
    assert str(err.value) == (f"{path}: the checkpoint's metadata (__derivax__) is unreadable: state_arrays is "
                              "1000000000, more than the 14 arrays the file holds (9 of them under opt_state/)")


@pytest.mark.parametrize("facts, settings, drop, says", [
    ({"epochs_done": 10**30}, {}, (), "epochs_done is 1000000000... (31 digits), more epochs than a run counts (at "
                                      "most 2147483647)"),
    # a file written before epochs_done was recorded: its "epochs" are taken for the count
    ({"epochs": 2**31}, {}, ("epochs_done",), "epochs is 2147483648, more epochs than a run counts (at most "
                                              "2147483647)"),
    ({}, {"batch_size": 0}, (), "settings' batch_size is 0, where a batch size is from 1 up"),
    ({}, {"seed": 2**32}, (), "settings' seed is 4294967296, where a seed is from 0 to 4294967295"),
], ids=["epochs_done", "epochs", "batch_size", "seed"])
def test_a_recorded_count_out_of_a_runs_range_names_the_file_and_the_field(xor_checkpoint, tmp_path, capsys, facts,
                                                                           settings, drop, says):
    _, _, arrays = xor_checkpoint
    path = _edited(tmp_path, arrays, settings=settings, drop=drop, **facts)
    assert main(["train", "xor", "--epochs", "1", "--load", str(path)]) == 2
    assert _err(capsys) == f"derivax: {path}: the checkpoint's metadata (__derivax__) is unreadable: {says}"


def test_a_recorded_learning_rate_or_option_out_of_range_names_the_checkpoint(xor_checkpoint, tmp_path, capsys):
    _, _, arrays = xor_checkpoint
    path = _edited(tmp_path, arrays, settings={"lr": 1e-320})
    assert main(["train", "xor", "--epochs", "1", "--load", str(path)]) == 2
    assert _err(capsys) == (f"derivax: {path}: the checkpoint's settings' lr 1e-320 is outside float32's range "
                            "(1.18e-38 to 3.4e+38), the precision training runs in")
    path = _edited(tmp_path, arrays, "opts.npz", settings={"opts": {"b1": 5.0}})
    assert main(["train", "xor", "--epochs", "1", "--load", str(path)]) == 2
    assert _err(capsys) == f"derivax: {path}: the checkpoint's settings' opts: adam: b1 must be in [0, 1), not 5.0"


# ---- headers that declare more data than the file holds: refused before NumPy allocates it ----

def _npy(shape, descr="<f8", data=b"\0" * 16) -> bytes:
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (descr, shape)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + data


def test_an_array_header_declaring_more_than_the_file_holds_is_refused(tmp_path):
    from compile.train.data import load, read_npy
    with zipfile.ZipFile(tmp_path / "d.npz", "w") as z:
        z.writestr("x.npy", _npy((10**12, 2)))
        z.writestr("y.npy", _npy((10**12,), "<i8"))
    with pytest.raises(DataError) as err:
        load(tmp_path / "d.npz", 2, 2)
    assert str(err.value) == ("d.npz: array x is truncated or damaged: its header promises more data than the "
                              "archive holds for it (shape (1000000000000, 2) of float64, 16,000,000,000,000 bytes of "
                              "data; 16 bytes follow the header)")
    (tmp_path / "x.npy").write_bytes(_npy((10**9, 2)))
    with pytest.raises(DataError) as err:
        read_npy(tmp_path / "x.npy")
    assert str(err.value) == (f"{str(tmp_path / 'x.npy')!r} is truncated: its header promises more data than the "
                              "file holds (shape (1000000000, 2) of float64, 16,000,000,000 bytes of data; 16 bytes "
                              "follow the header)")


# ---- 3: write errors name what was being written; a closed stream is no AttributeError ----

@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("command, suffix", [("evaluate", ".npy"), ("predict", ".npy"), ("predict", ".csv"),
                                             ("codegen", ".py")])
def test_a_failed_output_file_is_named_with_the_reason(xor_checkpoint, tmp_path, capsys, command, suffix):
    _, path, _ = xor_checkpoint
    full = tmp_path / f"full{suffix}"
    full.symlink_to("/dev/full")
    load = ["--load", str(path)] if command != "codegen" else []
    assert main([command, "xor", *load, "-o", str(full)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"derivax: cannot write {full}: No space left on device", err


class _Full(io.StringIO):
    """A standard output on a full disk."""

    def write(self, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("argv", [["examples"], ["show", "2-1:sigmoid", "--format", "json"]])
def test_a_standard_output_that_cannot_be_written_is_named(monkeypatch, capsys, argv):
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", _Full())
    assert main(argv) == 1
    assert _err(capsys) == f"derivax: cannot write to standard output: {os.strerror(errno.ENOSPC)}"


def test_a_closed_standard_stream_keeps_the_commands_exit_status(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", None)
    assert main(["examples"]) == 0            # was an AttributeError: 'NoneType' object has no attribute ...
    monkeypatch.setattr(sys, "stderr", None)
    assert main(["show", "2-0"]) == 2          # a refusal is still 2 (was 1, from the error printing it)


# ---- 4: a FIFO or a device given as a file: said what it is, never opened ----

def _within(seconds, fn):
    """``fn()``'s exception (or None), failing the test where it does not return in ``seconds`` (it blocked)."""
    out = []

    def run():
        try:
            fn()
            out.append(None)
        except Exception as exc:   # noqa: BLE001 - returned to the test to compare
            out.append(exc)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert out, f"still blocked after {seconds} s"
    return out[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_or_a_device_is_named_as_what_it_is(tmp_path, capsys):
    from compile.cli.args import unwritable
    from compile.train.data import open_npz, read_inputs
    os.mkfifo(tmp_path / "m.py")
    os.mkfifo(tmp_path / "f.npz")
    assert main(["show", str(tmp_path / "m.py")]) == 2
    assert _err(capsys) == (f"derivax: {tmp_path / 'm.py'} is a FIFO (a named pipe), not a model file: name the .py "
                            "file that declares the network")
    fifo = str(tmp_path / "f.npz")
    said = str(_within(5, lambda: read_inputs(fifo, 2)))
    assert said.startswith(f"{fifo!r} is a FIFO (a named pipe), neither a file nor a folder: expected a built-in "), said
    said = str(_within(5, lambda: open_npz(fifo, "x", "the checkpoint ")))
    assert said == f"the checkpoint {fifo!r} is a FIFO (a named pipe), not a file: expected an .npz file (as " \
                   "np.savez writes) with x"
    assert unwritable("--output", fifo) == f"--output {fifo}: is a FIFO (a named pipe), not a file; give the name " \
                                           "of a file to write"
    if os.path.exists("/dev/zero"):
        said = str(_within(5, lambda: read_inputs("/dev/zero", 2)))
        assert said.startswith("'/dev/zero' is a character device, neither a file nor a folder"), said


# ---- 5: options that were accepted and ignored ----

def test_target_for_a_built_in_data_set_is_refused(capsys):
    assert main(["evaluate", "xor", "--load", "unread.npz", "--target", "zz"]) == 2
    assert _err(capsys) == ("derivax: --target names a column of a .csv file; 'xor' is a built-in data set, no .csv "
                            "file")


def test_a_column_dropped_twice_or_from_a_built_in_set_is_refused(tmp_path):
    from compile.train.data import read_inputs
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n3,4,1\n")
    with pytest.raises(DataError, match=r"^--drop label is given twice: name each column once$"):
        read_inputs(tmp_path / "d.csv", 2, drop=("label", "label"))
    with pytest.raises(DataError, match=r"^--drop names columns of a \.csv file; 'xor' is no \.csv file$"):
        read_inputs("xor", 2, drop=("a",))


@pytest.mark.parametrize("spec, says, column", [
    ("4-3:", "an empty option: nothing after the ':' in '3:'", 5),
    ("4-3::tanh", "an empty option: nothing between two ':' in '3::tanh'", 5),
    ("8x8x1-conv2k3:-flatten-2:softmax", "an empty option: nothing after the ':' in 'conv2k3'", 15),
])
def test_an_empty_layer_option_is_refused_at_its_position(spec, says, column):
    from derive.network.examples import ModelError, parse_spec
    with pytest.raises(ModelError) as err:
        parse_spec(spec)
    assert str(err.value).startswith(f"{says}; expected ") and f"at position {column} of {spec!r}" in str(err.value)


# ---- 6: the data and the numbers as given ----

@pytest.mark.parametrize("x, says", [
    (np.zeros((10, 2, 2)), "x has 4 values per example (x shape (10, 2, 2))"),
    (np.zeros(2), "x is 1-D: one value per example (x shape (2,))"),
    (np.zeros((10, 1)), "x has 1 feature (x shape (10, 1))"),
])
def test_inputs_of_another_size_are_reported_in_the_files_shape(tmp_path, x, says):
    from compile.train.data import read_inputs
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(DataError) as err:
        read_inputs(tmp_path / "x.npy", 2)
    assert str(err.value) == f"x.npy: the network takes 2 inputs per example, but {says}"


def test_data_of_another_size_is_reported_in_the_files_shape(tmp_path, capsys):
    np.savez(tmp_path / "x4.npz", x=np.zeros((10, 2, 2)), y=np.zeros(10, int))
    assert main(["evaluate", "xor", "--load", "unread.npz", "--data", str(tmp_path / "x4.npz")]) == 2
    assert _err(capsys) == ("derivax: x4.npz: the network takes 2 inputs per example, but x has 4 values per example "
                            "(x shape (10, 2, 2))")


def test_a_built_in_input_set_is_named_as_the_split_it_is():
    from compile.train.data import read_inputs
    with pytest.raises(DataError) as err:
        read_inputs("xor", 3)
    assert str(err.value) == f"{XOR_SPLIT}: the network takes 3 inputs per example, but x has 2 features (x shape (4, 2))"


def test_a_rate_outside_float32_is_echoed_as_the_number_given(capsys):
    assert main(["train", "xor", "--lr", "1e-320"]) == 2   # was echoed as 9.99989e-321
    assert _err(capsys) == ("derivax: --lr 1e-320 is outside float32's range (1.18e-38 to 3.4e+38), the precision "
                            "training runs in")
    assert main(["train", "xor", "--optimizer", "adam", "--opt", "b2=5e-324"]) == 2
    assert _err(capsys).startswith("derivax: --opt b2 5e-324 is outside float32's range")


# ---- 7: the Python API ----

def test_a_network_name_must_be_a_string():
    from derive import Dense, Network, NetworkError
    with pytest.raises(NetworkError, match=r"^name must be a string \(the network's name in printouts\), not 5 "
                                           r"\(int\)$"):
        Network(2, [Dense(1, "sigmoid")], loss="bce", name=5)


@pytest.mark.parametrize("make, says", [
    (lambda D, N: N(2, [D(10**12)]), "layer 1: the number of units 1000000000000 is too large (at most 1000000)"),
    (lambda D, N: N(10**6 + 1, [D(1)], loss="mse"), "the input size 1000001 is too large (at most 1000000)"),
])
def test_sizes_beyond_the_specs_limit_are_refused_at_build(make, says):
    from derive import Dense, Network, NetworkError
    with pytest.raises(NetworkError) as err:
        make(Dense, Network)
    assert str(err.value) == says


@pytest.mark.parametrize("fn, value, words", [
    ("parse_activation", 5, "activation must be a formula written as a string (such as z*sigmoid(z)), not 5 (int)"),
    ("parse_loss", None, "loss must be a formula written as a string (such as (yhat - y)**2), not None (NoneType)"),
])
def test_a_formula_that_is_no_string_is_named_by_its_type(fn, value, words):
    import derive.formula.parse as parse
    from derive import FormulaError
    with pytest.raises(FormulaError) as err:
        getattr(parse, fn)(value)
    assert str(err.value).startswith(words) and "empty" not in str(err.value)

"""Command-line cases: report never writes over its inputs (a link or a hard link to them either); verify calls a
finite difference that cannot tell a right gradient from a wrong one inconclusive, not a pass; a reader that goes
away early is no finding (exit 0)."""
import json
import os
import subprocess
import sys

import pytest

from compile.cli.main import main

MODEL = 'from derive import Dense, Network\nnet = Network(2, [Dense(3, "tanh"), Dense(2, "softmax")])\n'


@pytest.mark.parametrize("link", [os.symlink, os.link])
def test_report_refuses_an_output_that_is_its_model_file_under_another_name(tmp_path, capsys, link):
    model = tmp_path / "m.py"
    model.write_text(MODEL)
    out = tmp_path / "page.html"
    link(model, out)
    assert main(["report", str(model), "-o", str(out)]) == 2
    assert "is the model's own source; writing it would destroy it" in capsys.readouterr().err
    assert model.read_text() == MODEL


def test_a_finite_difference_drowned_in_the_losss_rounding_is_inconclusive(capsys):
    # J ≈ 4e307: a step of h moves J by far less than J's own rounding, so the difference says nothing
    assert main(["verify", "xor", "--l2", "1e308", "--batch-size", "3", "--json"]) == 0
    out = capsys.readouterr().out
    b2 = json.loads(out.strip().splitlines()[-1])["params"]["b2"]
    assert b2["finite_diff"]["ok"] is None and "rounds by about" in b2["finite_diff"]["inconclusive"]
    assert b2["jax_grad"]["ok"] is True and b2["finite_diff"]["max_rel_err"] > 0.5   # it could not have failed
    assert "PASS: every derived gradient agrees with every reference that can tell" in out
    assert "inconclusive" in out


def test_an_ordinary_point_is_never_inconclusive(capsys):
    assert main(["verify", "xor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert all(p["finite_diff"]["ok"] is True and "inconclusive" not in p["finite_diff"]
               for p in report["params"].values())


def test_verify_read_by_a_reader_that_leaves_early_exits_0():
    proc = subprocess.Popen([sys.executable, "-m", "compile.cli.main", "verify", "xor"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()   # as `| head -1` does
    assert proc.wait(120) == 0, proc.stderr.read().decode()[-500:]


def test_a_constant_past_the_bound_is_named_as_typed(capsys):
    assert main(["check", "xor", "--param", "W2", "--formula", "A1.T @ (A2 - Y) / m * 1e400"]) == 2
    assert "constant 1e400 is too large" in capsys.readouterr().err


def test_report_refuses_static_for_markdown(tmp_path, capsys):
    assert main(["report", "xor", "-o", str(tmp_path / "a.md"), "--static"]) == 2
    assert "--static is for an HTML report" in capsys.readouterr().err
    assert not (tmp_path / "a.md").exists()


def test_a_parameter_asked_twice_is_shown_once(capsys):
    assert main(["show", "xor", "--param", "W1", "--param", "W1"]) == 0
    assert capsys.readouterr().out.count("∂J/∂W₁ =") == 1


@pytest.mark.parametrize("model, at", [("2-2:\udcff-1", 5), ("\udcff.py", 1)])
def test_a_model_argument_that_is_not_utf8_names_the_byte(capsys, model, at):
    assert main(["show", model]) == 2
    assert f"the byte 0xff is not UTF-8 text (a Latin-1 no-break space or accent?): retype that character at " \
           f"position {at}" in capsys.readouterr().err


def test_bench_of_a_convolutional_network_keeps_no_torch_and_says_its_step_cap(monkeypatch, capsys):
    from compile.cli import bench_cnn
    asked = {}

    def run(net, name, batch, repeats, steps, peers=None, torch=True):   # records what the command asks for
        asked.update(steps=steps, torch=torch)
        return {}
    monkeypatch.setattr(bench_cnn, "run", run)
    monkeypatch.setattr(bench_cnn, "render", lambda result: None)
    assert main(["bench", "cnn", "--repeats", "1", "--steps", "80", "--batch-size", "2", "--no-torch"]) == 0
    assert asked == {"steps": 50, "torch": False}
    assert "--steps 80: a network with" in capsys.readouterr().err


def test_a_parameter_no_reference_could_tell_for_is_neither_passed_nor_said_to_disagree():
    # the NumPy engine leaves jax.grad out and scalar_limit=0 leaves sympy.diff out: only finite differences
    # remain, and at J ≈ 4e307 they cannot tell for b2
    import io

    from rich.console import Console

    from compile.checks.verify import verify
    from derive.network.examples import resolve
    _, net = resolve("xor", None, None, 1e308, None, None)
    report = verify(net, m=3, engine="numpy", scalar_limit=0)
    assert report.params["b2"].untold and not report.params["b2"].ok and not report.ok
    out = io.StringIO()
    report.render(Console(file=out, width=200))
    text = out.getvalue()
    assert "INCONCLUSIVE: no reference could tell for" in text and "b2" in text.splitlines()[-1]
    assert "FAIL" not in text and "PASS" not in text

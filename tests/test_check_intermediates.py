"""check-code on a backward pass written one tensor at a time (the makemore exercise): every returned
intermediate adjoint checked against the derivation, and each usual student bug named at the first
tensor it makes wrong, with the mistake that explains it."""
import runpy
from pathlib import Path

import numpy as np
import pytest

from compile.checks.code import check_code

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "makemore_backprop.py"
SOURCE = EXAMPLE.read_text()
NET = runpy.run_path(str(EXAMPLE))["net"]


def _function():
    return _exec(SOURCE)


def _exec(src):
    ns = {}
    exec(compile(src, "<bugged makemore backward>", "exec"), ns)
    return ns["backward"]


def test_the_exercise_solution_is_right_tensor_by_tensor():
    r = check_code(NET, _function(), labels="integer", timeout=None)
    assert r.ok, r.summary()
    assert list(r.intermediates) == ["dprobs", "dlogits", "dh", "dhpreact", "dbnraw", "dbnvar", "dbndiff", "dbnmeani",
                                     "dhprebn", "dembcat", "demb"]   # the order the backward pass forms them
    assert r.intermediates["dbnraw"].node == "xhat4" and r.first_wrong is None


@pytest.mark.parametrize("bug, first, why", [
    (("dbnvar_inv = (bndiff * dbnraw).sum(0, keepdims=True)", "dbnvar_inv = (bndiff * dbnraw)"),
     "dbnvar", "(not summed over the batch?)"),
    (("dhprebn += 1.0 / n * (np.ones_like(hprebn) * dbnmeani)", "pass"),
     "dhprebn", "the path through μ₄ is missing"),
    (("dbndiff2 = (1.0 / (n - 1)) * np.ones_like(bndiff2) * dbnvar", "dbndiff2 = (1.0 / n) * np.ones_like(bndiff2) * dbnvar"),
     "dbndiff", "the term through σ²₄ is off by (N − 1)/N"),
    (("dlogits = probs * (dprobs - (dprobs * probs).sum(1, keepdims=True))", "dlogits = probs * (1 - probs) * dprobs"),
     "dlogits", "softmax's Jacobian reduced to its diagonal"),
], ids=["variance-sum", "mean-path", "bessel", "softmax-diagonal"])
def test_each_student_bug_is_named_at_the_first_wrong_tensor(bug, first, why):
    bugged = SOURCE.replace(*bug)
    assert bugged != SOURCE
    r = check_code(NET, _exec(bugged), labels="integer", timeout=None)
    assert not r.ok
    assert r.first_wrong is not None and r.first_wrong.name == first, r.summary()
    assert why in r.first_wrong.message, r.first_wrong.message
    before = list(r.intermediates)[:list(r.intermediates).index(first)]
    assert all(r.intermediates[k].ok for k in before)   # the tensors before it are right
    assert f"the first wrong intermediate in backward order is {first}" in r.summary()


def test_an_embedding_gradient_assigned_instead_of_accumulated_is_named():
    r = check_code(NET, _exec(SOURCE.replace("np.add.at(dC, x, demb)", "dC[x] = demb")), labels="integer", timeout=None)
    assert not r.params["C1"].ok
    assert "assigned instead of accumulated" in r.params["C1"].message
    assert all(p.ok for n, p in r.params.items() if n != "C1")


def test_a_mapping_names_other_keys_and_refuses_unknown_nodes():
    def backward(params, x, y):
        full = _function()(params, x, y)
        return {**{k: v for k, v in full.items() if not k.startswith("dbn") and k not in ("dh", "dhpreact")},
                "grad_xhat": full["dbnraw"], "dbngain": full["dbngain"], "dbnbias": full["dbnbias"]}
    r = check_code(NET, backward, labels="integer", timeout=None, names={"grad_xhat": "xhat4"})
    assert r.ok and "grad_xhat" in r.intermediates
    with pytest.raises(ValueError, match="'dq' maps to 'Q9', which this network does not have"):
        check_code(NET, backward, labels="integer", timeout=None, names={"dq": "Q9"})


def test_integer_labels_and_indices_reach_the_function_as_integers():
    seen = {}

    def backward(params, x, y):
        seen["x"], seen["y"] = x.dtype, y.shape
        return _function()(params, x, y)
    check_code(NET, backward, labels="integer", timeout=None, points=1)
    assert np.issubdtype(seen["x"], np.integer) and len(seen["y"]) == 1


def test_the_command_line_runs_the_exercise_in_a_child_process(capsys):
    from compile.cli.main import main
    rc = main(["check-code", str(EXAMPLE), f"{EXAMPLE}:backward", "--labels", "integer", "--points", "2"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "OK: all 7 gradients and 11 intermediates right" in out

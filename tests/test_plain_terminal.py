"""A terminal whose encoding lacks the text view's symbols (PYTHONIOENCODING=ascii, a legacy code page): the
command prints whole, in ASCII, instead of failing at its first ∂ with a UnicodeEncodeError."""
import os
import subprocess
import sys

import pytest

from derive.printing.plain import lacks_symbols, spell


@pytest.mark.parametrize("typed, plain", [
    ("∂J/∂W₂ = (1/m) A₁ᵀ δ₂", "dJ/dW2 = (1/m) A1^T delta2"),
    ("δ₁ = (δ₂ W₂ᵀ) ⊙ (1 − A₁²)", "delta1 = (delta2 W2^T) * (1 - A1^2)"),
    ("J = −(1/m) Σ Y ⊙ log(A₂)", "J = -(1/m) sum Y * log(A2)"),
    ("∂J/∂b₁ = (1/m) Σᵢ δ₁⁽ⁱ⁾", "dJ/db1 = (1/m) sum_i delta1^(i)"),
    ("∂J/∂Whh₁ = Σₜ h₁⟨t−1⟩ᵀ δ₁⟨t⟩", "dJ/dWhh1 = sum_t h1<t-1>^T delta1<t>"),
    ("x̂₂ = γ₂ ⊘ σ₂", "xhat2 = gamma2 / sigma2"),
    ("W₁₀ A₁₂³", "W10 A12^3"),
])
def test_the_symbols_spelled_in_ascii(typed, plain):
    assert spell(typed) == plain


def test_only_a_stream_that_cannot_write_them_is_spelled():
    import io
    assert not lacks_symbols(io.StringIO())
    assert lacks_symbols(io.TextIOWrapper(io.BytesIO(), encoding="ascii"))
    assert not lacks_symbols(io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))


def derivax(*args):
    """The installed command, as a user runs it, on a terminal that takes ASCII alone."""
    code = "import sys; from compile.cli.main import console; sys.argv = ['derivax'] + sys.argv[1:]; console()"
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, env=env, timeout=300)
    return done.returncode, done.stdout.decode("ascii"), done.stderr.decode("ascii")


def test_show_prints_its_panels_whole_and_aligned_in_ascii():
    rc, out, err = derivax("show", "xor", "--steps")
    assert rc == 0, err
    lines = out.splitlines()
    assert "| delta1 = (delta2 W2^T) * (1 - A1^2)" in out and "| dJ/dW1 = (1/m) X^T delta1" in out
    panel = [line for line in lines if line.startswith(("|", "+"))]
    assert panel and len({len(line) for line in panel}) == 1, out   # every border in one column


def test_check_and_its_errors_print_in_ascii():
    rc, out, err = derivax("check", "xor", "--param", "W1", "--formula", "X.T @ delta1 / m")
    assert rc == 0 and out.startswith("EQUAL: dJ/dW1\n") and "where  delta1 = (delta2 W2^T) * (1 - A1^2)" in out
    rc, out, err = derivax("check", "xor", "--param", "W1", "--formula", "X.T @ delta9")
    assert rc == 2 and "unknown name 'delta9'" in err and "Traceback" not in err

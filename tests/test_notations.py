"""The printers' structure: one class per notation over one base, one table of sub/superscripts, and
no printing code that asks which notation it is in."""
import re
from pathlib import Path

import pytest

from derive.graph.names import Name
from derive.printing.notations import PRINTERS, TextPrinter
from derive.printing.printer import NotationPrinter
from derive.ops import leaf, matmul, transpose

ROOT = Path(__file__).resolve().parents[1] / "derive"
PRINTING = [*sorted((ROOT / "printing").glob("*.py")), ROOT / "scalar" / "render.py",
            *sorted((ROOT / "ops").glob("*.py"))]
# What the notation-specific pieces used to be: branches and per-notation dicts keyed by its name.
ASKS_THE_NOTATION = re.compile(r"style\s*[!=]=|\[(self\.)?style\]|get\((self\.)?style|\"formula\":")


@pytest.mark.parametrize("path", PRINTING, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_printing_code_branches_on_the_notation(path):
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if ASKS_THE_NOTATION.search(line)]
    # the table of printers and printer_for's pick from it are the one place a notation's name is read
    assert not [l for l in lines if not re.search(r"PRINTERS( = |\[style\])", l)], lines


def test_digits_are_translated_by_one_table():
    holders = [p.name for p in ROOT.rglob("*.py") if "maketrans" in p.read_text(encoding="utf-8")]
    assert holders == ["names.py"]


@pytest.mark.parametrize("style", list(PRINTERS))
def test_every_notation_is_a_printer_of_the_base(style):
    assert issubclass(PRINTERS[style], NotationPrinter)


def test_a_notation_may_print_one_op_its_own_way():
    class Primes(TextPrinter):
        def _print_op_T(self, node):
            s, _ = self.arg(node.args[0])
            return s + "′", self.ATOM

    a, b = leaf(Name("A", 1), (2, 3), "act"), leaf(Name("W", 2), (2, 3), "param")
    assert Primes().show(matmul(a, transpose(b))) == "A₁ W₂′"
    assert TextPrinter().show(matmul(a, transpose(b))) == "A₁ W₂ᵀ"

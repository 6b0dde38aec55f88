"""The error a formula that cannot be read raises, naming its position; shared by the parser
(``derive.formula.parse``) and the respelling of books' notation (``derive.formula.spelling``)."""
from __future__ import annotations

MAX_LENGTH = 2000   # characters of a formula: longer ones are refused before any parsing
# characters of a formula read in the parser's spelling (derive.formula.spelling: δ as delta, σ′ as sigmoid_prime,
# a product sign put between operands side by side): a formula of MAX_LENGTH characters grows at most about
# eightfold, and one that grows past this is refused (the limit on what is typed is MAX_LENGTH)
MAX_RESPELLED = 10 * MAX_LENGTH
MAX_DEPTH = 40       # operations nested in one another (calls, operators, attributes)
# Function calls nested in one another: SymPy evaluates tanh(tanh(...(z))) times a matrix in time that grows
# with each level's assumptions of the next (8 levels: 1.8 s, 10: a minute, on a 2-core x86 CPU).
MAX_CALL_DEPTH = 8

_UNDECODED = {c: "\ufffd" for c in range(0xDC80, 0xDD00)}


class FormulaError(ValueError):
    """A formula that does not parse or uses something outside the grammar; names the position.

    ``col`` is the offset in ``text``; a formula of several lines is located by line and column."""

    def __init__(self, text: str, col: int, message: str, width: int = 70):
        self.text, self.col, self.message = text, col, message
        # a byte of no UTF-8 character (as the command line hands it on) echoed as one mark, under the caret
        text = text.translate(_UNDECODED)
        if "\n" in text:
            start_of_line = text.rfind("\n", 0, col) + 1
            end = text.find("\n", col)
            line_text = text[start_of_line:end if end >= 0 else len(text)]
            line, column = text.count("\n", 0, col) + 1, col - start_of_line
            self.line, self.column = line, column + 1
            where = f"line {line}, column {column + 1} of the formula ({text.count(chr(10)) + 1} lines)"
            super().__init__(f"{message} at {where}\n  {line_text[:200]}\n  {' ' * column}^")
            return
        self.line, self.column = 1, col + 1
        # A long formula is echoed once, as a window of about ``width`` characters around the position.
        start = max(0, min(col - width // 2, len(text) - width))
        left, right = ("..." if start > 0 else ""), ("..." if start + width < len(text) else "")
        shown = repr(text) if len(text) <= width else f"the formula ({len(text)} characters)"
        super().__init__(f"{message} at position {col + 1} of {shown}\n  {left}{text[start:start + width]}{right}"
                         f"\n  {' ' * (col - start + len(left))}^")


class ShapeMismatch(FormulaError):
    """A formula that reads, but whose operands' shapes do not fit one of its operations (a product, an entrywise
    operator), as NumPy would refuse to compute it: a wrong formula rather than one that cannot be read.
    ``derivax check`` gives it as its verdict, NOT EQUAL (exit 1), as it gives a formula of the wrong shape;
    ``result`` is that verdict where the check has built it (``compile.checks.formula.check_formula``)."""

    result = None

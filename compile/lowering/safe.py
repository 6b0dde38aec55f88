"""What of a user's choosing may stand in generated code, and how: a node's name as a Python name, checked
(``identifier``), and any text in a comment or docstring on one line (``one_line``)."""
from __future__ import annotations

import keyword
import unicodedata

from derive.graph.names import shown as _shown


def identifier(name) -> str:
    """A node's name as the Python name the generated code gives its value. Every name is checked where it enters
    the graph (``derive.graph.names.Name``); this is the last check, at the one place a name becomes code: nothing
    but a plain Python name is ever written into the code as code."""
    text = str(name)
    if not (isinstance(name, str) and text.isascii() and text.isidentifier() and not keyword.iskeyword(text)):
        raise ValueError(f"cannot lower a node named {_shown(text)}: the generated code names a node's value by the "
                         "node's name, and this is no Python name")
    return text


def one_line(text) -> str:
    """Text (a formula, a name as printed) as it may stand in a ``#`` comment or a docstring of the generated code:
    one line (a line break would end the comment, and what follows would be code), no control or bidirectional
    formatting character (which would show the code otherwise than Python reads it), each such one a '?'."""
    text = " ".join(str(text).splitlines())
    if text.isprintable():
        return text
    return "".join("?" if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") else ch for ch in text)

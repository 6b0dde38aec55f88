"""Printing graph nodes in three notations: ``text`` (unicode), ``latex`` and ``formula``.

The printers are one class per notation (``derive.printing.notations``) over one shared base
(``derive.printing.printer``); these functions pick the notation's printer by its name.
"""
from __future__ import annotations

from derive.graph.build import Node
from derive.graph.node import SHOW
from derive.printing.notations import PRINTERS, FormulaPrinter, LatexPrinter, TextPrinter, printer_for
from derive.printing.printer import NotationPrinter

STYLES = tuple(PRINTERS)

__all__ = ["FormulaPrinter", "LatexPrinter", "NotationPrinter", "PRINTERS", "STYLES", "ScalarPrinter",
           "TextPrinter", "name", "printer_for", "show"]


def show(node: Node, style: str = "text", top: bool = True) -> str:
    """The formula of ``node``: named nodes print as their names, the rest structurally (``top``
    prints a named node's own definition)."""
    if not isinstance(node, Node):
        raise TypeError(f"show prints a node of a network's graph (derivation.grads['W1'], say), not "
                        f"{type(node).__name__} {node!r}"[:200] + "; a whole derivation prints with its .text() or "
                        ".print()")
    return printer_for(style).show(node, top)


SHOW["latex"] = lambda node: show(node, "latex")
SHOW["text"] = lambda node: show(node, "text")


def name(n: str, style: str) -> str:
    """W1 -> W₁ (text), W^{[1]} (latex), W1 (formula)."""
    return printer_for(style).name(n)


def ScalarPrinter(style: str, atoms: dict, precs: dict | None = None) -> NotationPrinter:  # noqa: N802
    """An elementwise expression's printer in a notation, ``atoms`` mapping placeholders to printed
    matrices (the name callers outside the printers use)."""
    return printer_for(style, atoms, precs)

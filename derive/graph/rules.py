"""The derivation's reasons as data: each step says which rule made it, as a ``Rule`` record.

A record names its kind (``product``, ``activation``, ``cancellation``, ...) and carries its values:
graph nodes (the product it differentiates through), structured names (the δ it names), ``Gradient`` (dJ/dZ2), words (a
function's name, a loss's title) or ``Math`` (a small identity written once per notation). Reverse mode and
the ops only build records; the printers word them, each in its own notation (``derive.printing.rules``).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Math:
    """A short formula in a rule's words, as text and as LaTeX (S ⊙ (G − Σₖ G ⊙ S))."""
    text: str
    latex: str


@dataclass(frozen=True)
class Gradient:
    """dJ/d<name> inside a rule's words."""
    name: object


@dataclass(frozen=True)
class Rule:
    kind: str
    values: tuple = ()   # (key, value) pairs

    def __getitem__(self, key):
        return dict(self.values)[key]

    @property
    def fields(self) -> dict:
        return dict(self.values)


def rule(kind: str, **values) -> Rule:
    return Rule(kind, tuple(values.items()))


CHAIN = rule("chain")    # the plain chain rule: said once, where nothing more specific applies
START = rule("start")    # dJ/dJ = 1

"""Printing: one printer per notation (``notations`` over ``printer``) and the derivation as a
document in text, LaTeX, Markdown or JSON (``document``)."""

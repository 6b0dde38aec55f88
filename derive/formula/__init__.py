"""Formulas a user types: whitelisted parsing (``parse``), the names a matrix formula may use, SymPy
matrix expressions as formulas, and the exact comparison with the derivation (``compare``)."""

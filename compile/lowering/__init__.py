"""Lowering: graph nodes to JAX (one lowering per op), to float64 NumPy for the checks, and to the
source of a standalone trainer module (``codegen``)."""

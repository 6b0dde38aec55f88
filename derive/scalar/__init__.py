"""The scalar tier: a network expanded entry by entry, its gradients by ``sympy.diff``, the exact
check of the matrix derivation against them, and its printing."""

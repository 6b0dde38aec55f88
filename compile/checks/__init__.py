"""The checks: ``verify`` (derived gradients against jax.grad, finite differences and sympy.diff),
``check`` of a user's formula, ``check-code`` of a user's backward function run in a sandbox, and
what they share (evaluation points, naming a constant-factor or transposed gradient)."""

"""Training: compiled trainers and ``fit``, the optimizers, and loading data."""

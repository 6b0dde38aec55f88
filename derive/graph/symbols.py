"""The symbols every stage shares: the batch size m and the weight-decay constant λ.

They live in a module of their own, below the graph, the declarations and the printers alike, so
that none of those has to import another to name them."""
import sympy as sp

m = sp.Symbol("m", positive=True, integer=True)
lam = sp.Symbol("lambda", positive=True)
eps = sp.Symbol("epsilon", positive=True)   # added to a normalization's variance

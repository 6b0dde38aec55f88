"""Running SymPy-heavy steps safely: time limits, and a forked worker that can be killed at its limit."""

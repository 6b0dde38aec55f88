"""Reverse mode: the derivation of every gradient from the graph, step by step, and its simplifier."""

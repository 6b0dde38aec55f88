"""Seed 002's notation: examples as columns, Z[l] = W[l] A[l-1] + b[l], printed as LaTeX and Markdown.

Run: python examples/columns_latex.py > derivation.md
"""
from derive import Dense, Network

net = Network(4, [Dense(3, "sigmoid"), Dense(3, "sigmoid"), Dense(2, "softmax")], loss="ce")
d = net.derive("columns")
print(d.markdown())
print("```latex")
print(d.latex())
print("```")

"""The expression graph: nodes and their shapes, structured names, shared symbols, the constructors
of every op (``build``) and the graph rewrites run before lowering (``stable``)."""

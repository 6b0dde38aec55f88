"""The JAX lowering of each graph operation: one entry per op of ``derive.ops``.

Each entry takes the function writer (``compile.lowering.lower.FunctionWriter``) and a node, and returns
``(code, atomic)``: the JAX expression computing the node from its operands' code, and whether it
needs no brackets as an operand. A completeness test checks that every registered op has an entry.
"""
from __future__ import annotations

from compile.lowering.recurrence import RECURRENCE_LOWERINGS
from compile.lowering.safe import identifier


def _bracket(code: str, atomic: bool) -> str:
    return code if atomic else f"({code})"


def _leaf(w, node):
    w.leaves += [node] if node not in w.leaves else []
    return identifier(node.name), True


def _matmul(w, node):
    left, right = node.args
    if left.op == "T" and left not in w.names:  # Aᵀ B: see compile.lowering.lower.TRANSPOSE_MATMUL
        w.uses_transpose_matmul = True
        return f"transpose_matmul({w.code(left.args[0])[0]}, {w.code(right)[0]})", True
    a, b = (_bracket(*w.code(x)) for x in node.args)
    return f"{a} @ {b}", False


def _step_sum(w, node):
    a, g = (w.code(x)[0] for x in node.args)
    return f"jnp.einsum('itk,itn->kn', {a}, {g})", True


def _transpose(w, node):
    return _bracket(*w.code(node.args[0])) + ".T", True


def _sum(w, node):
    axis = node.attrs["axis"]
    pair = _y_log_softmax(w, node.args[0]) if axis is None else None
    if pair is not None:  # Σ Y ⊙ log_softmax(Z): see compile.lowering.lower.LOG_SOFTMAX_SUM
        (y, z), lsm = pair
        w.uses_log_softmax_sum = True
        count = w.param_count()   # none in a graph that is not a network's: the plain form
        w.uses_m |= bool(count)
        work = f"m*{count}" if count else "0"
        return f"y_log_softmax_sum({w.code(y)[0]}, {w.code(z)[0]}, {lsm.attrs['axis']}, {work})", True
    keep = "" if axis is None else f", axis={axis}, keepdims=True"
    return f"jnp.sum({w.code(node.args[0])[0]}{keep})", True


def _y_log_softmax(w, node):
    """((Y, Z), the log_softmax node) when ``node`` is the product Y ⊙ log_softmax(Z) of two matrices
    written nowhere else, else None."""
    from derive.graph.build import placeholder
    if node.op != "ew" or node in w.names or len(node.args) != 2 or len(node.shape) != 2:
        return None
    if node.attrs["expr"] != placeholder(0) * placeholder(1):
        return None
    for i, lsm in enumerate(node.args):
        other = node.args[1 - i]
        if lsm.op == "log_softmax" and lsm not in w.names and tuple(other.shape) == tuple(lsm.shape):
            return (other, lsm.args[0]), lsm
    return None


def _softmax(w, node):
    return f"jax.nn.softmax({w.code(node.args[0])[0]}, axis={node.attrs['axis']})", True


def _log_softmax(w, node):
    return f"jax.nn.log_softmax({w.code(node.args[0])[0]}, axis={node.attrs['axis']})", True


def _reshape(w, node):
    a = node.args[0]
    if a.op == "sum" and a.attrs["axis"] is None:  # a total (a loss summed over every step) stays a scalar
        return w.code(a)
    return f"jnp.reshape({w.code(node.args[0])[0]}, {w.shape(node.shape)})", True


def _permute(w, node):
    return f"jnp.transpose({w.code(node.args[0])[0]}, {tuple(node.attrs['axes'])})", True


def _bmm(w, node):
    a, b = (w.code(x)[0] for x in node.args)
    return f"jnp.matmul({a}, {b})", True


def _causal(w, node):
    a = w.code(node.args[0])[0]
    n = int(node.shape[-1])
    fill = "-jnp.inf" if node.attrs["fill"] == "-inf" else "0.0"
    return f"jnp.where(jnp.tril(jnp.ones(({n}, {n}), bool)), {a}, {fill})", True


def _take(w, node):
    table, idx = (w.code(a)[0] for a in node.args)
    return f"jnp.take({table}, jnp.asarray({idx}).astype(jnp.int32), axis=0)", True


def _scatter_add(w, node):
    g, idx = (w.code(a)[0] for a in node.args)
    rows, cols = (int(d) for d in node.shape)
    return (f"jnp.zeros(({rows}, {cols}), DTYPE).at[jnp.asarray({idx}).astype(jnp.int32).reshape(-1)]"
            f".add(jnp.reshape({g}, (-1, {cols})))"), True


# Convolution and pooling call the functions of compile.lowering.windows (forward maps and their adjoints
# written out); a generated module that uses them carries that module's source (see
# compile.lowering.lower.windows_source), so a standalone trainer needs nothing from derivax.

def _window_call(fname, keys):
    def lower(w, node):
        w.uses_windows = True
        args = ", ".join(w.code(a)[0] for a in node.args)
        geometry = ", ".join(repr(tuple(node.attrs[k])) for k in keys)
        return f"{fname}({args}, {geometry})", True
    return lower


WINDOW_LOWERINGS = {
    "conv": _window_call("conv", ("stride", "padding")),
    "conv_input_grad": _window_call("conv_input_grad", ("stride", "padding", "in_spatial")),
    "conv_weight_grad": _window_call("conv_weight_grad", ("stride", "padding", "kernel")),
    "max_pool": _window_call("max_pool", ("window", "stride")),
    "max_pool_grad": _window_call("max_pool_grad", ("window", "stride")),
    "max_pool_pick": _window_call("max_pool_pick", ("window", "stride")),
    "avg_pool": _window_call("avg_pool", ("window", "stride")),
    "avg_pool_grad": _window_call("avg_pool_grad", ("window", "stride", "in_spatial")),
}

LOWERINGS = {**WINDOW_LOWERINGS, **RECURRENCE_LOWERINGS, "leaf": _leaf, "matmul": _matmul, "step_sum": _step_sum, "T": _transpose, "sum": _sum, "softmax": _softmax, "log_softmax": _log_softmax,
             "ew": lambda w, node: w.elementwise(node), "reshape": _reshape, "permute": _permute,
             "take": _take, "scatter_add": _scatter_add, "bmm": _bmm, "causal": _causal}

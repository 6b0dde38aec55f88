"""The JAX lowering of a recurrence and its backward pass (``derive.ops.scan``).

- ``scan``: the step's graph printed as a Python function, run by ``jax.lax.scan`` over the time axis;
  the states it gives are all the backward pass needs.
- ``bptt``: the backward recurrence as a reverse ``jax.lax.scan``: its carry is what step t+1 sends
  back to h⟨t⟩, and σ⟨t⟩ = G⟨t⟩ + carry. Only this part is sequential.
- ``time_sum`` and ``time_map``: what each step sends to the parameters and to its input, for every t at
  once (``jax.vmap`` over the time axis of one printed function), then summed over t for a parameter.

Every function printed here is the derived step's graph: no JAX autodiff is involved.
"""
from __future__ import annotations

from derive.ops.scan import cell_backward


def _swap(code: str) -> str:
    return f"jnp.swapaxes({code}, 0, 1)"


def _emit(sub, pairs) -> None:
    """Write ``pairs`` [(variable, node)] in ``sub``; a node already bound (an argument) is assigned."""
    sub.write([(var, node, None) for var, node in pairs if node not in sub.names])
    sub.lines += [f"{var} = {sub.names[node]}" for var, node in pairs if sub.names.get(node) not in (None, var)]


def _function(w, name: str, args: list, sub, returns: str) -> None:
    w.adopt(sub)
    w.lines += [f"def {name}({', '.join(args)}):", *(f"    {line}" for line in sub.lines), f"    return {returns}"]


def _adjoints(back) -> dict:
    """σ⟨t⟩ bound to the step's adjoint leaves: the whole of it, or each part of a state of several."""
    if len(back.adj_parts) == 1:
        return {back.adj_parts[0][0]: "sigma"}
    return {leaf: f"sigma[:, {a}:{b}]" for leaf, a, b in back.adj_parts}


def _previous(w, cell, states: str) -> str:
    """h⟨t−1⟩ for every t: the states shifted one step in the cell's direction, zeros at its start."""
    key = ("previous", states, cell.reverse)
    if key not in w.cache:
        var = w.fresh("previous")
        zeros = f"jnp.zeros_like({states}[:, :1])"
        shifted = (f"jnp.concatenate([{states}[:, 1:], {zeros}], axis=1)" if cell.reverse else
                   f"jnp.concatenate([{zeros}, {states}[:, :-1]], axis=1)")
        w.lines.append(f"{var} = {shifted}  # h⟨t−1⟩ at every t")
        w.cache[key] = var
    return w.cache[key]


def lower_scan(w, node):
    cell = node.attrs["cell"]
    xs = w.code(node.args[0])[0]
    name = w.fresh("step")
    sub = w.sub({cell.prev: "h_prev", cell.x: "x_t"})
    _emit(sub, [("h_t", cell.new)])
    _function(w, name, ["h_prev", "x_t"], sub, "h_t, h_t")
    h0 = f"jnp.zeros({w.shape(cell.prev.shape)}, DTYPE)"
    return _swap(f"jax.lax.scan({name}, {h0}, {_swap(xs)}, reverse={cell.reverse})[1]"), True


def lower_bptt(w, node):
    cell = node.attrs["cell"]
    back = cell_backward(cell)
    g, xs, states = (w.code(a)[0] for a in node.args[:3])
    previous = _previous(w, cell, w.code(node.args[2])[0])
    name = w.fresh("bptt")
    sub = w.sub({**_adjoints(back), cell.prev: "h_prev", cell.x: "x_t", cell.new: "h_t"})
    sub.lines.append("sigma = g_t + sent  # ∂J/∂h⟨t⟩: what the layers above send, and what step t+1 sends back")
    _emit(sub, [("send", back.d_prev)])
    sub.lines.insert(0, "g_t, h_prev, h_t, x_t = inputs")
    _function(w, name, ["sent", "inputs"], sub, "send, sigma")
    zero = f"jnp.zeros({w.shape(cell.prev.shape)}, DTYPE)"
    inputs = ", ".join(_swap(c) for c in (g, previous, states, xs))
    return _swap(f"jax.lax.scan({name}, {zero}, ({inputs}), reverse={not cell.reverse})[1]"), True


def _per_step(w, node) -> str:
    """The variable holding, for every t, what step t sends to each parameter and to its input (or,
    for a time_sum of another expression of the step, that expression)."""
    own = node.attrs.get("root")
    key = ("per_step", node.args[:3], own, node.op if own is not None else None)
    if key not in w.cache:
        cell = node.attrs["cell"]
        back = cell_backward(cell)
        sigma, xs, states = (w.code(a)[0] for a in node.args[:3])
        previous = _previous(w, cell, states)
        name = w.fresh("step_grads")
        sub = w.sub({**_adjoints(back), cell.prev: "h_prev", cell.x: "x_t", cell.new: "h_t"})
        roots = [own] if own is not None else [*back.d_params, back.d_x]
        names = [f"d{k}" for k in range(len(roots))]
        _emit(sub, list(zip(names, roots)))
        _function(w, name, ["sigma", "h_prev", "h_t", "x_t"], sub, "(" + ", ".join(names) + ",)")
        var = w.fresh("per_step")
        w.lines.append(f"{var} = jax.vmap({name}, in_axes=1)({sigma}, {previous}, {states}, {xs})")
        w.cache[key] = var
    return w.cache[key]


def lower_time_sum(w, node):
    return f"jnp.sum({_per_step(w, node)}[{node.attrs.get('wrt', 0)}], axis=0)", True


def lower_time_map(w, node):
    return _swap(f"{_per_step(w, node)}[{0 if 'root' in node.attrs else -1}]"), True


def lower_slice(w, node):
    axis = node.attrs["axis"]
    index = [":"] * axis + [f"{node.attrs['start']}:{node.attrs['stop']}"]
    return f"{w.code(node.args[0])[0]}[{', '.join(index)}]", True


def lower_pad(w, node):
    widths = [(0, 0)] * node.rank
    widths[node.attrs["axis"]] = (node.attrs["before"], node.attrs["after"])
    return f"jnp.pad({w.code(node.args[0])[0]}, {tuple(widths)})", True


def lower_concat(w, node):
    parts = ", ".join(w.code(a)[0] for a in node.args)
    return f"jnp.concatenate([{parts}], axis={node.attrs['axis']})", True


RECURRENCE_LOWERINGS = {"scan": lower_scan, "bptt": lower_bptt, "time_sum": lower_time_sum,
                        "time_map": lower_time_map, "slice": lower_slice, "pad": lower_pad, "concat": lower_concat}

"""What a matrix formula may name and call: the derivation's own names and matrix-aware functions.

A user's formula (``derivax check``) is evaluated into graph nodes by the whitelisted parser of
``derive.formula.parse``; the names resolve here to the nodes of the derivation (so ``A1`` in a formula is
the very node A1 of the network) and the functions build ``ew``, ``sum`` and ``softmax`` nodes.
"""
from __future__ import annotations

import sympy as sp

from derive.network.functions import ACTIVATIONS, FUNCTIONS, derivative
from derive.graph.build import Node, ew, flatten, fmt_shape, permute, placeholder, reduce_sum, reshape, softmax
from derive.ops import avg_pool, avg_pool_grad, conv, conv_input_grad, conv_weight_grad, max_pool, max_pool_grad
from derive.graph.symbols import eps, lam, m


def matrix_names(derivation) -> dict:
    """Name -> node (or scalar symbol) for every name the derivation prints."""
    model = derivation.model
    names = {"X": model.X, "Y": model.Y, "m": m}
    for n in model.forward:
        if n.name and n.name != "J":
            names[n.name] = n
    for layer in model.layers:
        for q in (layer.W, layer.b):  # pooling and flatten layers have no parameters, some layers no bias
            if q is not None:
                names[q.name] = q
        if layer.mask is not None:
            names[layer.mask.name] = layer.mask
    for p in model.params:   # every parameter: an embedding's C1, a norm's gamma2 and beta2, attention's Wq2
        names[p.name] = p
    for delta in derivation.deltas.values():
        names[delta.name] = delta
    forward = set(model.forward)
    for node, g in derivation.adjoints.items():   # ∂J/∂N of a named node N as dN: dA1, dxc2, dxhat2, dS3
        if node in forward and node.name and node is not model.J:
            names.setdefault("d" + str(node.name), g)
    if model.l2:   # the weight decay's λ, under the names the courses give it (CS231n's reg, Ng's lambd)
        for alias in ("lam", "reg", "lambd", "lmbda", "lambda_"):
            names.setdefault(alias, lam)
    if eps in model.constants:
        names["epsilon"] = eps
    names.setdefault("pi", sp.pi)   # gelu's √(2/π), as show prints it
    names.update(step_names(derivation))
    if has_steps(model):   # step t of each sequence, as show prints Σₜ A₄⟨t⟩ᵀ δ₅⟨t⟩: A4_t, delta5_t, H1_t
        from derive.formula.steps import position
        for key, node in list(names.items()):
            if isinstance(node, Node) and node.rank == 3 and node.shape[0] == m and node.shape[1].is_Integer \
                    and node.role != "position" and getattr(node.name, "step", None) is None:
                names.setdefault(f"{key}_t", position(node))
    return names


def has_steps(model) -> bool:
    """Whether a network holds sequences (batch, time, ...) whose steps a formula may name: a recurrent layer's,
    attention's, an embedding's, or an input read by dense layers at every step."""
    return model.reads_sequence or any(layer.kind in ("recurrent", "attention", "embedding") for layer in model.layers)


def course_reading(d):
    """``d`` with the adjoint of each named forward node as the courses write it: dZ_l is δ_l, and every
    other dN is ∂J/∂N without the constant factor the last layer's δ was named without (the 1/m of the
    mean), so that dA1 = W2ᵀ dZ2 as the notebooks compute it. None where there is no such factor."""
    import dataclasses
    model = d.model
    last = model.layers[-1]
    delta = d.deltas.get(last.index)
    adj = d.adjoints.get(last.Z) if last.Z is not None else None
    if delta is None or adj is None or adj.op != "ew" or adj.args != (delta,):
        return None, None
    c = sp.cancel(adj.attrs["expr"] / placeholder(0))   # c·ph0 / ph0: a cancellation, not a search
    if c == 1 or c.has(placeholder(0)):
        return None, None
    # The courses' dN is m ∂J/∂N: the 1/m of the mean left out, a loss's own factor kept (the 2 of a squared
    # error (ŷ − y)², so that dW2 = dZ2 A1ᵀ / m follows from dZ2 = 2 (A2 − Y)).
    k, per = c.as_independent(m, as_Add=False)
    c = per if per != 1 and per.has(m) else c
    course = {}
    for node, g in d.adjoints.items():
        own = d.deltas.get(getattr(node.name, "layer", None)) if node.role == "pre" else None
        if own is not None and c != per:
            course[node] = own
        elif own is not None:
            course[node] = own if k == 1 else ew(k * placeholder(0), [own])
        else:
            course[node] = ew(placeholder(0) / c, [g])
    return dataclasses.replace(d, adjoints=course), c


def step_names(derivation) -> dict:
    """A recurrent layer's names at step t, as the formula notation prints them: x_t, h1_tm1, z1_t,
    h1_t, a gate's r1_t, the error signals delta1_t, and ∂J/∂h1_t written dh1_t. They are only
    meaningful inside ``sum_t(...)``."""
    from derive.ops.scan import cell_backward
    from derive.graph.build import topo_order
    out = {}
    for layer in derivation.model.layers:
        if layer.kind != "recurrent":
            continue
        cell = layer.cell
        back = cell_backward(cell)
        for n in topo_order(cell.new):
            if n.name is not None and n.role != "param":
                out[str(n.name)] = n
        for _, delta in back.deltas:
            out[str(delta.name)] = delta
        for leaf, _, _ in back.adj_parts:
            of = leaf.attrs["of"]
            out["d" + str(of)] = leaf
        from derive.ops.scan import step_extras
        extras = step_extras(cell)   # δ⟨t+1⟩ (delta1_tp1) and (∂J/∂H)⟨t⟩ (dH1_t): the recurrence's two terms
        for leaf in [*extras.following.values(), *([extras.upstream] if extras.upstream is not None else [])]:
            out[str(leaf.name)] = leaf
        for key, node in shifted_names(cell).items():
            out.setdefault(key, node)
    return out


def fixed_step(derivation, name):
    """(node, layer's cell) of a recurrent layer's state at one fixed step k, as show's formula notation names it:
    ``h1_at40`` (h₁⟨40⟩, the last state a layer passes on), ``dh1_at40`` (∂J/∂h₁⟨40⟩), ``c1_at3`` (one part of an
    LSTM's state); None for any other name. ValueError for a step the layer does not run."""
    import re
    found = re.fullmatch(r"(d?)([A-Za-z]+)(\d+)_at(\d+)", name) if isinstance(name, str) else None
    if found is None:
        return None
    adjoint, base, layer, k = found.group(1) == "d", found.group(2), int(found.group(3)), int(found.group(4))
    for model_layer in derivation.model.layers:
        cell = getattr(model_layer, "cell", None)
        if model_layer.kind != "recurrent" or cell is None or cell.layer != layer:
            continue
        parts = list(cell.parts) if cell.parts else [cell.new.name.base]
        if base not in parts:
            continue
        ref = next((g for g in derivation.grads.values() if g.op == "time_sum" and g.attrs["cell"] is cell), None)
        T = int(dict(model_layer.geometry)["steps"])
        if ref is None:
            return None
        if not 1 <= k <= T:
            raise ValueError(f"{name}: layer {layer} runs steps 1 to {T}")
        from derive.ops import slice_
        seq = ref.args[0] if adjoint else ref.args[2]   # σ⟨t⟩ = ∂J/∂h⟨t⟩ at every t, or the states
        node = reshape(slice_(seq, 1, k - 1, k), (seq.shape[0], seq.shape[2]))
        if cell.parts:
            j, width = parts.index(base), cell.part_units
            node = slice_(node, 1, j * width, (j + 1) * width)
        return node, cell
    return None


def shifted_names(cell) -> dict:
    """The step's nodes at the step after t in the cell's direction, as the recurrence ∂J/∂h⟨t⟩ reads them
    (a GRU's u1_tp1, dh1_tp1; a reverse cell's u2_tm1): each gate, state and pre-activation of the step and
    its ∂J/∂h⟨t⟩, zero past the last step. The error signals there are the StepExtras' own (delta1_tp1)."""
    from derive.ops.scan import cell_backward
    from derive.graph.build import topo_order
    from derive.formula.steps import shifted
    back = cell_backward(cell)
    nodes = [n for n in topo_order(cell.new) if n.name is not None and n.op != "leaf"
             and n.role not in ("param", "carry_part")]
    out = {}
    for node in nodes:
        moved = shifted(node, cell)
        out[str(moved.name)] = moved
    for leaf, _, _ in back.adj_parts:
        moved = shifted(leaf, cell)
        out["d" + str(moved.attrs["of"])] = moved
    return out


def over_steps(derivation, x, what="sum_t"):
    """(bptt node, states node) of the one recurrent layer whose names at step t ``x`` is written in:
    what an expression of a step needs to be evaluated at every t."""
    from derive.graph.build import topo_order
    from derive.formula.steps import step_names_of
    cells = {}
    for layer in derivation.model.layers:
        if layer.kind == "recurrent":
            cells[layer.cell] = next(g for g in derivation.grads.values() if g.op == "time_sum"
                                     and g.attrs["cell"] is layer.cell)
    owners = {}   # a bidirectional layer's two cells read one x⟨t⟩: a node may be a step name of several
    for cell in cells:
        for n in step_names_of(derivation, cell):
            owners.setdefault(id(n), set()).add(cell)
    if not isinstance(x, Node):
        raise ValueError(f"{what} takes an expression of a recurrent layer's names at step t, such as "
                         "h1_tm1.T @ delta1_t")
    order = topo_order(x)
    if any(n.op in ("time_sum", "time_map") for n in order):
        raise ValueError(f"{what} takes an expression of one step, and this one holds a sum over t already")
    outside = next((n for n in reversed(order) if n.op != "leaf" and n.name is not None
                    and getattr(n.name, "step", None) is None), None) or \
        next((n for n in order if n.op == "leaf" and n.role in ("input", "target", "mask")), None)
    if outside is not None:
        raise ValueError(f"{what} takes an expression of one step: a recurrent layer's names at step t (h1_tm1, "
                         f"delta1_t, x_t, ...), its parameters and numbers; {outside.name} is none of those")
    found = [owners[id(n)] for n in order if id(n) in owners]
    common = set.intersection(*found) if found else set()
    if len(common) != 1:
        raise ValueError(f"{what} takes an expression of one recurrent layer's names at step t (h1_tm1, "
                         "delta1_t, x_t, ...), " + ("and this one has none" if not found else "and this one "
                                                    "mixes layers" if not common else "and this one names only "
                                                    "x_t, the input of several layers: name the layer's own too"))
    ref = cells[common.pop()]
    return ref.args[0], ref.args[2]


def _sum_t(derivation):
    """``sum_t(expr)``: the sum over t of an expression of one recurrent layer's names at step t, or of names
    at step t of any sequence (A4_t, merge(dQ3)[:, t]; ``derive.formula.steps``)."""
    def sum_t(x):
        from derive.formula.steps import step_atoms, sum_steps
        from derive.ops.scan import time_sum
        _no_maximum(x, "sum_t")
        atoms = step_atoms(derivation, x)
        if atoms is not None:
            return sum_steps(x, atoms)
        _no_step_named(derivation, x, "sum_t")
        sigmas, states = over_steps(derivation, x)
        return time_sum(sigmas, states, root=x)
    return sum_t


def _stack_t(derivation):
    """``stack_t(expr)``: an expression at step t at every t, stacked on the time axis (a recurrent layer's
    ∂J/∂X, what each step sends its input, as show prints it)."""
    def stack_t(x):
        from derive.formula.steps import stack_steps, step_atoms
        from derive.ops.scan import time_map
        _no_maximum(x, "stack_t")
        atoms = step_atoms(derivation, x)
        if atoms is not None:
            return stack_steps(x, atoms)
        _no_step_named(derivation, x, "stack_t")
        return time_map(*over_steps(derivation, x, "stack_t"), root=x)
    return stack_t


def _no_maximum(x, what):
    """An expression of step t holds no np.max without an axis (``max_of_all``): its value is computed from its
    array at a point, not at each step."""
    from derive.graph.build import topo_order
    found = next((n for n in topo_order(x) if n.op == "leaf" and n.role == "maximum"), None) \
        if isinstance(x, Node) else None
    if found is not None and found.attrs.get("axis") is None:
        raise ValueError(f"np.max without an axis is not read inside {what}(...): give its axis, as np.max(x, "
                         "axis=-1, keepdims=True), or take it outside")
    if found is not None:
        raise ValueError(f"np.max along axis {found.attrs['axis']} (the batch) is not read inside {what}(...): take "
                         "it along a layer's units, as np.max(x, axis=-1, keepdims=True), or outside")


def _no_step_named(derivation, x, what):
    """A network without a recurrent layer: a sum over t needs a name at step t of a sequence."""
    if any(layer.kind == "recurrent" for layer in derivation.model.layers):
        return
    raise ValueError(f"{what} takes an expression at step t of the network's sequences (A4_t.T @ delta5_t, "
                     "x[:, t] for step t of any sequence x), and this one has none")


def step_functions(derivation) -> dict:
    """sum_t and stack_t, for a network with sequences."""
    model = derivation.model
    if not has_steps(model):
        return {}
    return {"sum_t": _sum_t(derivation), "stack_t": _stack_t(derivation)}


def _elementwise(fn, name):
    def call(*args):
        if not any(isinstance(a, Node) for a in args):
            return fn(*args)
        nodes = [a for a in args if isinstance(a, Node)]
        slots = {id(a): placeholder(nodes.index(a)) for a in nodes}
        # Unevaluated: SymPy's own simplification of f(g(x)) (tanh of a tanh asks whether its argument is
        # real, through gcds) costs seconds a level and says nothing the comparison needs.
        with sp.evaluate(False):
            expr = fn(*[slots[id(a)] if isinstance(a, Node) else sp.sympify(a) for a in args])
            return ew(expr, nodes)
    call.__name__ = name
    return call


def _max(a, b):
    # max(a, b) = (a + b + |a - b|) / 2 holds entrywise; max(0, z) is relu(z).
    if isinstance(a, Node) or isinstance(b, Node):
        return (a + b + FUNCTIONS_M["abs"](a - b)) / 2
    return sp.Max(a, b)


def _axis(axis):
    if axis is None or getattr(axis, "is_Integer", False) or isinstance(axis, int) and not isinstance(axis, bool):
        return None if axis is None else int(axis)   # reduce_sum checks it against the tensor's rank (-1: the last)
    if isinstance(axis, tuple) and all(getattr(a, "is_Integer", False) for a in axis):
        return tuple(int(a) for a in axis)  # axes of a tensor: reduce_sum checks them against its rank
    raise ValueError(f"axis must be an axis (0, 1, ..., or -1), a tuple of axes or None, not {axis}")


def _sum(x, axis=None, keepdims=True):
    if not isinstance(x, Node):
        raise ValueError("sum(...) takes a matrix")
    return reduce_sum(x, _axis(axis))


def _softmax(x, axis=None):
    if not isinstance(x, Node):
        raise ValueError("softmax(...) takes a matrix")
    if axis is None:
        raise ValueError("softmax needs its axis: softmax(Z, 1) over the classes of each row")
    return softmax(x, _axis(axis))


def class_axis(x, convention, what):
    """The axis of ``x`` that holds the classes (a layer's units, the features), as the books leave it unwritten
    in softmax(Z) and Σₖ: the one that is not the batch's in a matrix (axis 1 in the rows convention, 0 in
    columns); in the rows convention the last axis of a tensor of examples ((m, T, units), (m, h, w, c)).
    A ValueError that says why where no axis is plainly that one."""
    if not isinstance(x, Node):
        raise ValueError(f"{what} takes an array, not a number")
    if x.rank == 2:
        batch = [k for k, d in enumerate(x.shape) if d == m]
        if len(batch) == 1:
            return 1 - batch[0]
        if not batch:
            return 1 if convention == "rows" else 0
    elif x.rank > 2 and convention == "rows" and x.shape[0] == m and m not in x.shape[1:]:
        return x.rank - 1
    raise ValueError(f"{what} of {x!r} {fmt_shape(x.shape)}: no one axis of it holds the classes (the units) beside "
                     f"the batch's, so the index is not plain: write the axis, as np.sum(x, axis=...) or "
                     f"softmax(x, axis)")


def _class_softmax(convention):
    """softmax(x, axis); without the axis over the classes (``class_axis``), as derivax prints A = softmax(Z)."""
    def softmax_(x, axis=None):
        if axis is None and isinstance(x, Node):
            axis = class_axis(x, convention, "softmax(...) without its axis")
        return _softmax(x, axis)
    softmax_.__name__ = "softmax"
    return softmax_


def _class_sum(convention):
    """sum_k(x): the sum over the class index k (``class_axis``), as derivax prints Σₖ (LaTeX's \\sum_{k}),
    keeping the summed axis as derivax's sum does."""
    def sum_k(x):
        return _sum(x, class_axis(x, convention, "Σₖ (\\sum_{k}, the sum over the classes)"))
    return sum_k


def _sum_ip(x):
    """sum_ip(x): the sum over the examples and every position or step of a tensor of examples, all its axes but the
    last (its channels or units), as derivax prints a convolution's bias gradient Σᵢ,ₚ δ₁ (LaTeX's \\sum_{i,p}) and a
    dense layer's at every step, Σᵢ,ₜ δ₃ (\\sum_{i,t})."""
    if not isinstance(x, Node) or x.rank < 3 or x.shape[0] != m:
        shape = fmt_shape(x.shape) if isinstance(x, Node) else "a number"
        raise ValueError(f"Σᵢ,ₚ (sum_ip) sums a tensor of examples (m, positions or steps ..., channels) over all its "
                         f"axes but the last, and this is {shape}: write np.sum(x, axis=...)")
    return _sum(x, tuple(sp.Integer(k) for k in range(x.rank - 1)))


FUNCTIONS_M = {k: _elementwise(f, k) for k, f in FUNCTIONS.items()}
# the reciprocal hyperbolic functions the books write tanh's derivative with (sech²(z) = 1 − tanh²(z)), as the
# reciprocals they are
RECIPROCALS = {"sech": _elementwise(lambda v: 1 / sp.cosh(v), "sech"),
               "csch": _elementwise(lambda v: 1 / sp.sinh(v), "csch"),
               "coth": _elementwise(lambda v: sp.cosh(v) / sp.sinh(v), "coth")}


def _prime(fn, name):
    """The derivative of a table activation as a function: tanh_prime(Z1) is 1 - tanh(Z1)**2."""
    d = derivative(fn, 0)
    return _elementwise(lambda v: d.xreplace({fn.variables[0]: v}), f"{name}_prime")


PRIMES = {f"{name}_prime": _prime(fn, name) for name, fn in ACTIVATIONS.items()}


def matrix_functions(model=None) -> dict:
    """The functions a matrix formula may call; with a ``model`` that has convolution or pooling
    layers, also those (their geometry is the network's: see ``window_functions``)."""
    out = {**FUNCTIONS_M, **RECIPROCALS, **PRIMES, "max": _max, "sum": _sum, "softmax": _softmax, "flatten": _flatten,
           "reshape": _reshape, "permute": _permute, "sum_ip": _sum_ip}
    if model is not None:
        out["softmax"] = _class_softmax(model.convention)
        out["sum_k"] = _class_sum(model.convention)
        out.update(window_functions(model))
        out.update(attention_functions(model))
        out.update(embedding_functions(model))
        for letter in GENERIC_ACTIVATIONS:   # g'(Z1), f'(Z1), h'(Z1), φ'(Z1): the layer's own activation's derivative
            out[f"{letter}_prime"] = _layer_prime(model, letter)
        out["sigmoidGradient"] = PRIMES["sigmoid_prime"]   # Ng's ex4 sigmoidGradient(z)
        from derive.graph.build import topo_order
        ops = {n.op for n in topo_order(model.J)}
        if "concat" in ops:
            out["concat"] = _concat
        if "causal" in ops:
            out["causal"] = _causal
    return out


def _concat(*parts):
    """concat(H1, H2): the parts side by side along their last axis, as show prints a bidirectional layer's
    two directions joined."""
    from derive.ops import concat
    if len(parts) < 2 or not all(isinstance(q, Node) for q in parts):
        raise ValueError("concat(a, b, ...) puts two or more tensors side by side along their last axis")
    return concat(parts, parts[0].rank - 1)


def _causal(x):
    """causal(S): attention's scores with −∞ where the key is later than the query, as show prints the mask."""
    from derive.ops import causal
    if not isinstance(x, Node):
        raise ValueError("causal(S) takes attention's scores, (…, queries, keys)")
    return causal(x)


def _permute(x, axes):
    """permute(x, (0, 2, 1, 3)): x's axes in that order, as show prints a permutation (NumPy's transpose(x, axes))."""
    if not isinstance(x, Node) or not isinstance(axes, tuple):
        raise ValueError("permute(x, axes) takes a tensor and an order of its axes such as (0, 2, 1, 3)")
    return permute(x, tuple(int(k) for k in axes))


def attention_functions(model) -> dict:
    """heads(x) and merge(x), as show prints attention's split of the features into its heads and their join:
    heads takes (batch, time, h·dₖ) to (batch, h, time, dₖ), merge takes it back; h and dₖ are those of the
    network's attention layer of these sizes."""
    layers = [dict(layer.geometry) for layer in model.layers if layer.kind == "attention"]
    if not layers:
        return {}

    def fitting(what, x, rank, test, said):
        if not isinstance(x, Node) or x.rank != rank:
            shape = fmt_shape(x.shape) if isinstance(x, Node) else "a number"
            raise ValueError(f"{what} takes {said}, not {shape}")
        fits = {(g["heads"], g["key_size"]) for g in layers if test(g)}
        if len(fits) != 1:
            sizes = "; ".join(f"{g['heads']} heads of {g['key_size']} over {g['steps']} steps" for g in layers)
            raise ValueError(f"{what}: {'no' if not fits else 'more than one'} attention layer of this network fits "
                             f"{fmt_shape(x.shape)} (its layers: {sizes})")
        return fits.pop()

    def heads(x):
        h, dk = fitting("heads", x, 3, lambda g: g["steps"] == x.shape[1] and g["heads"] * g["key_size"] == x.shape[2],
                        "a sequence (batch, time, h·dₖ)")
        return x if h == 1 else permute(reshape(x, (x.shape[0], x.shape[1], h, dk)), (0, 2, 1, 3))

    def merge(x):
        if isinstance(x, Node) and x.rank == 3:   # one head: nothing was split
            fitting("merge", x, 3, lambda g: g["heads"] == 1 and g["steps"] == x.shape[1]
                    and g["key_size"] == x.shape[2], "attention's heads (batch, h, time, dₖ)")
            return x
        h, dk = fitting("merge", x, 4, lambda g: g["heads"] == x.shape[1] and g["steps"] == x.shape[2]
                        and g["key_size"] == x.shape[3], "attention's heads (batch, h, time, dₖ)")
        return reshape(permute(x, (0, 2, 1, 3)), (x.shape[0], x.shape[2], h * dk))
    return {"heads": heads, "merge": merge}


def embedding_functions(model) -> dict:
    """take(C, X) (C[X], the rows of a table an embedding reads at the indices X) and scatter_add(G, X, V), its
    adjoint as show prints it: each row of G added into row X of a table of V rows, a repeated index
    accumulating. X is the indices an embedding of the network reads."""
    if not any(layer.kind == "embedding" for layer in model.layers):
        return {}
    from derive.graph.build import topo_order
    from derive.ops import scatter_add, take
    lookups = [n for n in topo_order(model.J) if n.op == "take"]
    indices = {n.args[1] for n in lookups}

    def index(idx, what):
        if not isinstance(idx, Node) or idx not in indices:
            raise ValueError(f"{what}: the indices are those an embedding reads "
                             f"({', '.join(sorted({str(i.name) for i in indices}))})")

    def take_(table, idx):
        index(idx, "take")
        if not isinstance(table, Node) or not any(n.args[0] is table and n.args[1] is idx for n in lookups):
            raise ValueError("take(C, X): C is a table an embedding of this network reads at X")
        return take(table, idx)

    def scatter_add_(g, idx, rows=None):
        index(idx, "scatter_add(G, X, V)")
        if not isinstance(g, Node):
            raise ValueError("scatter_add(G, X, V) takes an adjoint G, one row per index")
        sizes = sorted({int(n.args[0].shape[0]) for n in lookups if n.args[1] is idx})
        if rows is None and len(sizes) == 1:   # onehot(X)ᵀ G as show prints it: the one table read at X
            rows = sizes[0]
        if isinstance(rows, Node) or not getattr(sp.sympify(rows), "is_Integer", False) or int(rows) not in sizes:
            raise ValueError(f"scatter_add(G, X, V): V is the rows of the table, {' or '.join(map(str, sizes))} here")
        return scatter_add(g, idx, sp.Integer(int(rows)))
    def onehot(*args):
        raise ValueError("onehot(X)ᵀ G, each row of G added into the row of the table it was read from, is read as a "
                         "whole: write it so, or scatter_add(G, X)")
    return {"take": take_, "scatter_add": scatter_add_, "onehot": onehot}


# the letters the books name a layer's activation by, whatever it is: Ng's g, Bishop's h, Goodfellow's and UFLDL's f,
# φ (phi); primed and given a layer's Z, each is that layer's activation's derivative
GENERIC_ACTIVATIONS = ("g", "f", "h", "phi")


def _layer_prime(model, letter="g"):
    """``g_prime(Z2)``: Ng's g[2]′(Z[2]), the derivative of the activation of the layer whose Z it is given (f, h
    and φ alike: ``GENERIC_ACTIVATIONS``)."""
    called = f"{letter}_prime"

    def g_prime(x):
        layers = [l for l in model.layers if getattr(l, "Z", None) is not None]
        layer = next((l for l in layers if l.Z is x), None) if isinstance(x, Node) else None
        if layer is None:
            raise ValueError(f"{called}(Z) is the derivative of a layer's activation at its Z, as Ng's g[l]′(Z[l]): "
                             f"its argument is a layer's Z itself ({called}(Z1))")
        fn = getattr(layer, "fn", None)
        if not isinstance(fn, sp.Lambda) or len(fn.variables) != 1:
            raise ValueError(f"layer {layer.index}'s activation ({getattr(layer, 'activation', '?')}) has no "
                             f"entrywise derivative to write as {called}")
        return _prime(fn, str(getattr(layer, "activation", "g")))(x)
    g_prime.__name__ = called
    return g_prime


def indicator(op: str, left, right):
    """A comparison as the indicator a course's code writes, (A1 > 0): 1 where it holds, 0 elsewhere.
    Written with step, whose kink convention is derivax's: step(0) = 0, so (z > 0) is step(z) and
    (z >= 0) is 1 - step(-z)."""
    step = FUNCTIONS_M["step"]
    diff = left - right
    return {">": lambda: step(diff), "<": lambda: step(-diff), ">=": lambda: 1 - step(-diff),
            "<=": lambda: 1 - step(diff)}[op]()


def _kept(x, s, axis, keepdims):
    """A reduction ``s`` of ``x`` over ``axis`` as NumPy returns it: the reduced axes dropped unless
    ``keepdims``; over every axis, a 1 x 1 value."""
    if keepdims or axis is None:
        return s
    from derive.ops.reduce_sum import normal_axes, summed_axes
    gone = set(summed_axes(normal_axes(_axis(axis), x.rank), x.rank))
    if len(gone) == x.rank:
        return s
    return reshape(s, tuple(d for k, d in enumerate(x.shape) if k not in gone))


def _np_sum(x, axis=None, keepdims=False):
    """np.sum as NumPy computes it: without keepdims=True the summed axis is gone ((3, m) -> (3,))."""
    return _kept(x, _sum(x, axis), axis, keepdims)


def _np_mean(x, axis=None, keepdims=False):
    if not isinstance(x, Node):
        raise ValueError("mean(...) takes a matrix")
    from derive.ops.reduce_sum import normal_axes, summed_axes
    axes = summed_axes(normal_axes(None if axis is None else _axis(axis), x.rank), x.rank)
    count = sp.Mul(*(x.shape[k] for k in axes))
    return _kept(x, _sum(x, axis) / count, axis, keepdims)


MAX_REDUCED = 32   # the entries np.max compares along its axis, one by one


def _np_max(x, axis=None, keepdims=False, index=0):
    """np.max along one axis. Along an axis of a known size (the classes of a row, as a stable softmax subtracts
    it): the entrywise max of the axis's slices. Along the batch's, whose size a formula leaves open: the stand-in
    leaf of ``max_of_all`` over that axis, one maximum for each entry of the other axes (``index`` names it apart,
    as there)."""
    from derive.ops.slicing import slice_
    if not isinstance(x, Node):
        raise ValueError("max(...) takes a matrix")
    if axis is None or isinstance(_axis(axis), tuple) and len(_axis(axis)) != 1:
        raise ValueError("np.max takes one axis here, as in np.max(Z2, axis=1, keepdims=True)")
    k = _axis(axis)
    k = k[0] if isinstance(k, tuple) else k
    if not -x.rank <= k < x.rank:
        raise ValueError(f"axis {k} is not an axis of a rank-{x.rank} array")
    k %= x.rank
    n = x.shape[k]
    if not n.is_Integer:
        return _kept(x, max_of_all(x, index, axis=k), k, keepdims)
    if int(n) > MAX_REDUCED:
        raise ValueError(f"np.max along axis {k} compares {n} entries (at most {MAX_REDUCED} here)")
    out = slice_(x, k, 0, 1)
    for i in range(1, int(n)):
        out = _max(out, slice_(x, k, i, i + 1))
    return _kept(x, out, k, keepdims)


def over_the_batch(x, axis) -> bool:
    """Whether np.max(x, axis) runs along an axis of the batch's open size (m): what ``_np_max`` stands a leaf for."""
    if not isinstance(x, Node) or axis is None:
        return False
    try:
        k = _axis(axis)
    except ValueError:
        return False
    k = k[0] if isinstance(k, tuple) and len(k) == 1 else k
    return isinstance(k, int) and -x.rank <= k < x.rank and not x.shape[k % x.rank].is_Integer


def max_of_all(x, index: int = 0, axis=None):
    """np.max(x) without an axis, the largest of all of x's entries, as a 1 x 1 node: x itself where it has one
    entry; otherwise a leaf of role "maximum" that stands for it, named after x (maxZ2 for np.max(Z2); maxall,
    maxallb, ... by ``index`` for an expression), ``attrs["of"]`` the x it is taken over. The batch's size is
    left open in a formula, so no expression of the graph computes it: the numeric checks give the leaf its
    value from x's at each point, and the exact comparison leaves it free (a formula in which it cancels, as the
    stabilization exp(Z2 - np.max(Z2)) of a softmax, is equal whatever its value).

    With ``axis`` (the batch's, ``_np_max``): the maxima along that axis alone, x's shape with that axis 1 (np.max
    with keepdims=True), named batchmaxZ2 (batchmaxall, ...); ``attrs["axis"]`` the axis."""
    from derive.graph.build import topo_order
    from derive.graph.names import Name, parts
    if not isinstance(x, Node):
        raise ValueError("max(...) takes a matrix")
    if axis is None and all(d == 1 for d in x.shape):
        return reshape(x, (1, 1)) if tuple(x.shape) != (1, 1) else x
    stepped = next((n for n in topo_order(x) if getattr(n.name, "step", None) is not None
                    or n.role in ("carry", "step_input", "position")), None)
    if stepped is not None and axis is None:
        raise ValueError("np.max without an axis over a value at step t of a sequence has no one value: give its "
                         "axis, as np.max(x, axis=-1, keepdims=True)")
    if stepped is not None:
        raise ValueError(f"np.max along axis {axis} (the batch) of a value at step t of a sequence is not read: take "
                         "it along a layer's units, as np.max(x, axis=-1, keepdims=True)")
    prefix = "max" if axis is None else "batchmax"
    named = parts(x.name) if x.name is not None else None
    if named is not None and named[0]:
        name = Name(prefix + named[0], int(named[1]) if named[1] else None)
    else:
        name = Name(prefix + "all" + ("" if index == 0 else chr(ord("a") + index % 26)))
    if axis is None:
        return Node("leaf", (), (1, 1), (("of", x),), name=name, role="maximum")
    shape = tuple(1 if k == axis else d for k, d in enumerate(x.shape))
    return Node("leaf", (), shape, (("of", x), ("axis", int(axis))), name=name, role="maximum")


def maximum_said(leaf, of: str) -> str:
    """What a maximum's stand-in leaf (``max_of_all``) is, of ``of`` (its array as printed): "the largest entry of
    Z₂ (np.max without an axis)", "the largest entry of each column of Z₂, over the batch (np.max along axis 0)"."""
    axis = leaf.attrs.get("axis")
    if axis is None:
        return f"the largest entry of {of} (np.max without an axis)"
    x = leaf.attrs["of"]
    each = ({0: "each column of ", 1: "each row of "}.get(axis, "") if x.rank == 2 else "")
    return f"the largest entry of {each}{of}, over the batch (np.max along axis {axis})"


EINSUM_FORMS = ("'ij,jk->ik' (a matrix product), 'ji,jk->ik', 'ij->ji' (a transpose), 'ij->j' (a sum), "
                "'ij,ij->ij' (an entrywise product)")


def einsum_letters(subscripts: str):
    """(the operands' index letters, the output's) of np.einsum's subscripts, the output as NumPy infers it
    where no -> gives it (the letters written once, in alphabetical order). A ValueError names what is not
    read: an ellipsis, a character other than a letter, an index repeated within one operand (a diagonal or
    a trace) or in the output, an output index no operand has."""
    def refuse(why):
        raise ValueError(f"np.einsum({subscripts!r}, ...): {why}; np.einsum is read where its subscripts make a "
                         f"matrix product, a transpose, a sum or an entrywise product of one or two arrays of at most "
                         f"two axes: {EINSUM_FORMS}")
    text = "".join(subscripts.split())
    if "..." in text:
        refuse("an ellipsis (...) is not read")
    if text.count("->") > 1:
        refuse("-> is written more than once")
    left, arrow, out = text.partition("->")
    inputs = left.split(",")
    bad = next((ch for ch in left.replace(",", "") + out if not ("a" <= ch.lower() <= "z")), None)
    if bad is not None:
        refuse(f"{bad!r} is not an index (a letter)")
    if len(inputs) > 2:
        refuse(f"{len(inputs)} operands")
    for part in inputs:
        if len(set(part)) != len(part):
            refuse(f"'{part}' repeats an index (a diagonal or a trace)")
    if not arrow:
        written = "".join(inputs)
        out = "".join(sorted(ch for ch in set(written) if written.count(ch) == 1))
    if len(set(out)) != len(out):
        refuse(f"the output '{out}' repeats an index")
    stray = next((ch for ch in out if ch not in "".join(inputs)), None)
    if stray is not None:
        refuse(f"the output's index {stray!r} is no operand's")
    return inputs, out


def einsum(subscripts: str, *arrays):
    """np.einsum of one or two arrays of at most two axes, where its subscripts make a matrix product
    ('ij,jk->ik', 'ji,jk->ik', 'ij,kj->ik'), a transpose ('ij->ji'), a sum ('ij->j', 'ij->') or an entrywise
    product, summed or not ('ij,ij->ij', 'ij,ij->i', 'i,j->ij'), as those operations; any other is refused with
    its subscripts (``einsum_letters``)."""
    inputs, out = einsum_letters(subscripts)

    def refuse(why):
        raise ValueError(f"np.einsum({subscripts!r}, ...): {why}; read are subscripts that make a matrix product, "
                         f"a transpose, a sum or an entrywise product of one or two arrays of at most two axes: "
                         f"{EINSUM_FORMS}")
    if len(inputs) != len(arrays):
        refuse(f"the subscripts name {len(inputs)} operand{'s' if len(inputs) != 1 else ''}, and "
               f"{len(arrays)} {'are' if len(arrays) != 1 else 'is'} given")
    size = {}
    for k, (letters, a) in enumerate(zip(inputs, arrays)):
        if not isinstance(a, Node):
            refuse(f"operand {k + 1} is a number, not an array")
        if a.rank > 2:
            refuse(f"operand {k + 1}, {a!r} {fmt_shape(a.shape)}, has {a.rank} axes")
        if len(letters) != a.rank:
            refuse(f"'{letters}' names {len(letters)} ax{'es' if len(letters) != 1 else 'is'} of {a!r} "
                   f"{fmt_shape(a.shape)}, which has {a.rank}")
        for ch, d in zip(letters, a.shape):
            if ch in size and size[ch][0] != d:
                first = size[ch][1]
                raise ValueError(f"np.einsum({subscripts!r}, ...): index {ch!r} runs over {size[ch][0]} entries of "
                                 f"{first!r} {fmt_shape(first.shape)} and over {d} of {a!r} {fmt_shape(a.shape)}")
            size.setdefault(ch, (d, a))

    def summed(a, letters, keep):   # a summed over its indices not in ``keep``, those axes dropped
        gone = tuple(sp.Integer(k) for k, ch in enumerate(letters) if ch not in keep)
        if not gone:
            return a, letters
        a = _np_sum(a, gone if len(gone) > 1 else gone[0])
        return a, "".join(ch for ch in letters if ch in keep)

    def arranged(a, letters, order):   # a with its axes in ``order``, of length 1 where it has no such index
        if letters == order or not letters:
            return a
        if len(order) == 2 and letters == order[::-1]:
            return a.T
        if len(order) == 2 and len(letters) == 1:
            return reshape(a, (a.shape[0], 1) if letters == order[0] else (1, a.shape[0]))
        refuse("its indices do not line up as one of those operations")
    if len(arrays) == 1:
        a, letters = summed(arrays[0], inputs[0], out)
        return arranged(a, letters, out)
    (s, t), (a, b) = inputs, arrays
    a, s = summed(a, s, out + t)   # an index of one operand alone, not in the output: summed over first
    b, t = summed(b, t, out + s)
    union = out + "".join(dict.fromkeys(ch for ch in s + t if ch not in out))
    if len(union) <= 2:   # an entrywise product (each operand broadcast along the other's indices), summed
        product = arranged(a, s, union) * arranged(b, t, union)
        gone = tuple(sp.Integer(k) for k, ch in enumerate(union) if ch not in out)
        if not gone:
            return product
        return _np_sum(product, gone if len(gone) > 1 else gone[0])
    shared = [ch for ch in s if ch in t and ch not in out]
    if len(union) == 3 and len(shared) == 1 and len(s) == len(t) == 2 and len(out) == 2:
        c = shared[0]   # a matrix product over c: (x, c) @ (c, y)
        x, y = s.replace(c, ""), t.replace(c, "")
        left = a if s == x + c else a.T
        right = b if t == c + y else b.T
        product = left @ right
        return product if out == x + y else product.T
    refuse("they make no one of those operations")


def _np_maximum(a, b):
    return _max(a, b)


def _np_minimum(a, b):
    # min(a, b) = (a + b − |a − b|) / 2 entrywise
    if isinstance(a, Node) or isinstance(b, Node):
        return (a + b - FUNCTIONS_M["abs"](a - b)) / 2
    return sp.Min(a, b)


def _heaviside(x, h0):
    """np.heaviside(x, h0): 1 where x > 0, 0 where x < 0, h0 at 0."""
    step = FUNCTIONS_M["step"]
    return step(x) + h0 * (1 - step(x) - step(-x))


def _outer(a, b):
    """np.outer(a, b): every entry of a times every entry of b, each flattened first, as NumPy does ((n, 1) and
    (k, 1) columns, or (n,) and (k,) vectors, make (n, k))."""
    if not isinstance(a, Node) or not isinstance(b, Node):
        raise ValueError("np.outer(a, b) takes two arrays")
    column = reshape(a, (sp.Mul(*a.shape), 1))
    row = b.T if b.rank == 2 and b.shape[1] == 1 else reshape(b, (1, sp.Mul(*b.shape)))
    return column @ row


def _squeeze(x):
    """np.squeeze: the axes of length 1 dropped; a 1 x 1 value (a cost) stays one."""
    if not isinstance(x, Node):
        return x
    kept = tuple(d for d in x.shape if d != 1)
    return x if not kept or kept == tuple(x.shape) else reshape(x, kept)


def _transpose(x):
    if not isinstance(x, Node):
        raise ValueError("transpose(...) takes a matrix")
    return x if x.rank == 1 else x.T


def numpy_functions() -> dict:
    """NumPy's spellings of what a matrix formula can say (np.dot(A1.T, delta2), np.sum(x, axis=0,
    keepdims=True), np.multiply, np.power, np.tanh, ...), for ``np.``, ``numpy.`` and ``jnp.``. The
    reductions (sum, mean, max) drop the reduced axis unless keepdims=True, as NumPy does."""
    import operator
    out = {k: f for k, f in FUNCTIONS_M.items() if k in ("exp", "log", "tanh", "sqrt", "abs", "sin", "cos",
                                                          "sinh", "cosh", "sign")}
    out.update({"dot": operator.matmul, "matmul": operator.matmul, "multiply": operator.mul,
                "divide": operator.truediv, "add": operator.add, "subtract": operator.sub,
                "power": operator.pow, "square": lambda x: x ** 2, "sum": _np_sum, "mean": _np_mean,
                "max": _np_max, "amax": _np_max, "maximum": _np_maximum, "minimum": _np_minimum, "transpose": _transpose,
                "heaviside": _heaviside, "outer": _outer, "squeeze": _squeeze, "copy": _copy})
    return out


def array_methods() -> dict:
    """The methods of an array a formula may call (x.sum(0), x.mean(axis=1, keepdims=True), x.max(...),
    x.transpose(), x.reshape(...), x.astype(float), x.dot(y)); the parser reads the method's name from
    the parsed node and calls only these."""
    return {"sum": _np_sum, "mean": _np_mean, "max": _np_max, "transpose": _transpose, "reshape": _reshape,
            "astype": None, "dot": None}


def _copy(x):
    """np.copy(x): the same values (a line's definitions never change another's; x.copy() the parser reads so)."""
    return x


def _flatten(x):
    if not isinstance(x, Node):
        raise ValueError("flatten(...) takes a tensor")
    return flatten(x)


def _reshape(x, shape):
    if not isinstance(x, Node) or not isinstance(shape, tuple):
        raise ValueError("reshape(x, shape) takes a tensor and a shape such as (m, 2, 2, 64)")
    if sum(1 for d in shape if d == -1) > 1:
        raise ValueError("a shape infers at most one dimension (-1)")
    if any(d == -1 for d in shape):   # the one dimension left to infer, as NumPy does
        total, known = sp.Mul(*x.shape), sp.Mul(*(d for d in shape if d != -1))
        inferred = sp.cancel(total / known)
        if not (inferred.is_Integer and inferred > 0 or inferred.is_Symbol or inferred.is_Mul
                and sp.fraction(inferred)[1] == 1):
            from derive.graph.build import fmt_shape
            raise ValueError(f"cannot reshape {x!r} {fmt_shape(x.shape)} to {fmt_shape(shape)}: "
                             f"{total} entries do not divide into rows of {known}")
        shape = tuple(inferred if d == -1 else d for d in shape)
    return reshape(x, shape)


def _shapes_said(given, layers) -> str:
    """': yours are (m, 4, 4, 2) and (m, 2, 2, 2); layer 1 takes (m, 6, 6, 1) and (m, 4, 4, 2), ...'"""
    from derive.graph.build import fmt_shape
    if not given:
        return ""
    def both(nodes):
        return " and ".join(fmt_shape(n.shape) for n in nodes)
    out = f": yours {'are' if len(given) > 1 else 'is'} {both(given)}"
    if layers:
        out += "; " + ", ".join(f"layer {i} takes {both(nodes)}" for i, nodes in layers)
    return out


def window_functions(model) -> dict:
    """conv, conv_input_grad, conv_weight_grad, maxpool, avgpool, route and spread, as the formula
    notation prints them. Each takes the stride, padding and window of the network's layer whose
    shapes its operands have: conv(A2, W3) is layer 3's convolution; conv_weight_grad(A2, delta3)
    correlates layer 3's input with an adjoint of its output; route(A1, G) is the max-pooling layer
    on A1 routing G."""
    convs = [(l, [a for a in l.Z.args if a.op == "conv"][0]) for l in model.layers
             if l.kind == "conv" and any(a.op == "conv" for a in l.Z.args)]
    pools = [l for l in model.layers if l.kind in ("max_pool", "avg_pool")]

    def need(value, what):
        if not isinstance(value, Node):
            raise ValueError(f"{what} takes tensors, not {value!r}")

    def conv_of(what, test, given=(), expected=None, order=None):
        for layer, node in convs:
            if test(layer, node):
                return layer, node
        if order is not None and len(given) == 2:   # the two operands in the other order fit a layer
            a, b = given
            swapped = [(layer, node) for layer, node in convs
                       if tuple(x.shape[1:] for x in expected(node)) == (b.shape[1:], a.shape[1:])]
            if swapped:
                said = [str(x.name) if getattr(x, "name", None) else fmt_shape(x.shape) for x in (b, a)]
                raise ValueError(f"{what} takes {order}, and yours has its operands in the other order: layer "
                                 f"{swapped[0][0].index}'s is {what}({', '.join(said)})")
        from derive.graph.node import ShapeError   # operands whose shapes fit no layer: a wrong formula, NOT EQUAL
        raise ShapeError(f"{what}: no convolution layer of this network has operands of these shapes"
                         + _shapes_said(given, [(layer.index, expected(node)) for layer, node in convs]
                                        if expected else []))

    def conv_(a, w):
        need(a, "conv"), need(w, "conv")
        _, node = conv_of("conv", lambda l, n: n.args[1].shape == w.shape and n.args[0].shape[1:] == a.shape[1:],
                          (a, w), lambda n: (n.args[0], n.args[1]))
        return conv(a, w, node.attrs["stride"], node.attrs["padding"])

    def conv_input_grad_(g, w):
        need(g, "conv_input_grad"), need(w, "conv_input_grad")
        _, node = conv_of("conv_input_grad", lambda l, n: n.args[1].shape == w.shape and n.shape[1:] == g.shape[1:],
                          (g, w), lambda n: (n, n.args[1]))
        x = node.args[0]
        return conv_input_grad(g, w, node.attrs["stride"], node.attrs["padding"],
                               tuple(int(d) for d in x.shape[1:-1]))

    def conv_weight_grad_(a, g):
        need(a, "conv_weight_grad"), need(g, "conv_weight_grad")
        _, node = conv_of("conv_weight_grad", lambda l, n: n.args[0].shape[1:] == a.shape[1:]
                          and n.shape[1:] == g.shape[1:], (a, g), lambda n: (n.args[0], n),
                          "the layer's input first, then the adjoint of its output")
        kernel = tuple(int(d) for d in node.args[1].shape[:-2])
        return conv_weight_grad(a, g, node.attrs["stride"], node.attrs["padding"], kernel)

    def pool_of(what, kind, test, given=(), expected=None):
        for layer in pools:
            if layer.kind == kind and test(layer):
                return layer.A
        from derive.graph.node import ShapeError   # operands whose shapes fit no layer: a wrong formula, NOT EQUAL
        raise ShapeError(f"{what}: no {kind.replace('_', '-')}ing layer of this network fits these shapes"
                         + _shapes_said(given, [(layer.index, expected(layer)) for layer in pools
                                                if layer.kind == kind] if expected else []))

    def geometry(node):
        return node.attrs["window"], node.attrs["stride"]

    def maxpool_(a):
        need(a, "maxpool")
        node = pool_of("maxpool", "max_pool", lambda l: l.A.args[0].shape[1:] == a.shape[1:], (a,),
                       lambda l: (l.A.args[0],))
        return max_pool(a, *geometry(node))

    def avgpool_(a):
        need(a, "avgpool")
        node = pool_of("avgpool", "avg_pool", lambda l: l.A.args[0].shape[1:] == a.shape[1:], (a,),
                       lambda l: (l.A.args[0],))
        return avg_pool(a, *geometry(node))

    def route_(a, g):
        need(a, "route"), need(g, "route")
        node = pool_of("route", "max_pool", lambda l: l.A.args[0].shape[1:] == a.shape[1:]
                       and pooled(g, l.A).shape[1:] == l.A.shape[1:], (a, g), lambda l: (l.A.args[0], l.A))
        return max_pool_grad(a, pooled(g, node), *geometry(node))

    def spread_(g):
        need(g, "spread")
        node = pool_of("spread", "avg_pool", lambda l: pooled(g, l.A).shape[1:] == l.A.shape[1:], (g,),
                       lambda l: (l.A,))
        return avg_pool_grad(pooled(g, node), *geometry(node), tuple(int(d) for d in node.args[0].shape[1:-1]))

    if not convs and not pools:
        return {}
    out = {"conv": conv_, "conv_input_grad": conv_input_grad_, "conv_weight_grad": conv_weight_grad_,
           "maxpool": maxpool_, "avgpool": avgpool_, "route": route_, "spread": spread_}
    out.update(printed_window_functions(pools, convs, maxpool_, avgpool_))
    return out


def pooled(g, out):
    """An adjoint ``g`` of a pooling layer's output ``out`` as that output is shaped: a pooling to one position per
    channel, (m, 1, 1, c), is printed without the reshape its flatten undoes, its adjoint (m, c) written as it comes
    from the dense layer above; any other ``g`` as it is."""
    if isinstance(g, Node) and isinstance(out, Node) and g.rank == 2 and out.rank > 2 and g.shape[0] == out.shape[0] \
            and g.shape[1] == out.shape[-1] and all(d == 1 for d in out.shape[1:-1]):
        return reshape(g, out.shape)
    return g


def printed_window_functions(pools, convs, maxpool_, avgpool_) -> dict:
    """The pooling and convolution operators as the text and LaTeX views print them, their window or stride as a
    subscript: maxpool₂(A₁), avgpool₂(A₁) as maxpool and avgpool, up₂(G) (G repeated over each window, as an average
    pooling's gradient (1/4) up₂(G) writes it); mask₂(A₁), which stands before ⊙ up₂(G) for route(A1, G), and
    dilate₂(δ₂) and rot180(W₂), which stand inside a convolution (``derive.formula.spelling``), refused alone with
    what to write."""
    from derive.printing.printer import _label
    out = {}
    for layer in pools:
        label = _label(layer.A.attrs["window"])
        if not label.isdigit():
            continue
        out[f"maxpool{label}"], out[f"avgpool{label}"] = maxpool_, avgpool_

        def up(g, label=label):
            fits = [l for l in pools if _label(l.A.attrs["window"]) == label and isinstance(g, Node)
                    and pooled(g, l.A).shape[1:] == l.A.shape[1:]]
            if not fits:
                raise ValueError(f"up{label}(G) repeats an adjoint of a pooling layer's output over its windows: G "
                                 f"is {fmt_shape(g.shape) if isinstance(g, Node) else 'a number'}, which no pooling "
                                 f"layer of window {label} gives")
            node = fits[0].A
            size = 1
            for k in node.attrs["window"]:
                size *= int(k)
            spread = avg_pool_grad(pooled(g, node), node.attrs["window"], node.attrs["stride"],
                                   tuple(int(d) for d in node.args[0].shape[1:-1]))
            return ew(sp.Integer(size) * placeholder(0), [spread])

        def mask(*args, label=label):
            raise ValueError(f"mask{label}(A) ⊙ up{label}(G) is max pooling's gradient, read as one: write it so, or "
                             "route(A, G)")
        out[f"up{label}"], out[f"mask{label}"] = up, mask
    for _, node in convs:
        label = _label(node.attrs["stride"])
        if label != "1" and label.isdigit():
            def dilate(*args, label=label):
                raise ValueError(f"dilate{label}(G) stands inside a strided convolution's gradients, which dilate "
                                 "their adjoint themselves: write conv_input_grad(G, W) for G ∗ rot180(W) and "
                                 "conv_weight_grad(A, G) for A ⋆ G, G undilated")
            out[f"dilate{label}"] = dilate
    if convs:
        def rot180(*args):
            raise ValueError("rot180(W) stands in G ∗ rot180(W), a convolution's input gradient: write "
                             "conv_input_grad(G, W)")
        out["rot180"] = rot180
    return out

"""Every graph operation, under every evaluator, against independent references (a test table in the
manner of JAX's LAX_GRAD_OPS).

For each case a small graph applies one op to leaves of the given shapes (rank 1 to 3), and the
scalar J = Σ out ⊙ C weighs its output by a fixed random tensor C, so that every entry of the
adjoint differs. The op's backward rule (through ``derive.gradients``) is then checked against:

- central finite differences of J, both evaluated by the NumPy evaluator (each op's ``evaluate``);
- ``jax.grad`` of J lowered to JAX (each op's entry in ``compile.lowering.ops``), and the lowered
  values against the NumPy ones;
- ``sympy.diff`` of J expanded entry by entry (each op's ``expand``), at the same point.

A completeness test fails when an op lacks an entry anywhere, or has no case in this table.
"""
import numpy as np
import pytest
import sympy as sp

from compile.lowering.evaluate import evaluate
from compile.lowering.lower import lower_nodes
from compile.lowering.ops import LOWERINGS
from derive import gradients
from derive.graph.build import (OPS, ew, flatten, leaf, matmul, permute, placeholder, reduce_sum, reshape, softmax,
                           transpose)
from derive.ops import (avg_pool, avg_pool_grad, conv, conv_input_grad, conv_weight_grad, log_softmax, max_pool,
                        max_pool_grad, max_pool_pick)
from derive.ops import (bptt, causal, concat, make_cell, pad, scan, scatter_add, slice_, step_sum, swap_last, take,
                        time_map, time_sum)
from derive.graph.names import Name
from derive.graph.node import named
from derive.scalar.expand import Expander
from derive.network.scalar_functions import sigmoid

ph = placeholder


def _cell(W, U, b, gated=False, reverse=False):
    """A recurrence's step over the case's leaves: tanh(x W + h U + b), or a gated one
    g ⊙ h + (1 − g) ⊙ tanh(x W) with g = σ(h U + b), run backward in time."""
    h = leaf(Name("h", 9, -1), (2, int(U.shape[0])), "carry")
    x = leaf(Name("x", 9, 0), (2, int(W.shape[0])), "step_input")
    if gated:
        g = named(ew(sigmoid(ph(0)), [named(matmul(h, U) + b, Name("ag", 9, 0), "pre")]), Name("g", 9, 0), "gate")
        n = named(ew(sp.tanh(ph(0)), [named(matmul(x, W) + 0, Name("an", 9, 0), "pre")]), Name("n", 9, 0), "gate")
        new = named(g * h + (1 - g) * n, Name("h", 9, 0), "state")
    else:
        new = named(ew(sp.tanh(ph(0)), [named(matmul(x, W) + matmul(h, U) + b, Name("z", 9, 0), "pre")]),
                    Name("h", 9, 0), "state")
    return make_cell("test", 9, h, x, new, reverse)


RNN = [(2, 3, 2), (2, 3), (3, 3), (1, 3)]   # xs (batch 2, time 3, features 2), W, U, b


def _of_a_step(over, s, xs, W, U, b):
    """An expression of one step's nodes and its adjoint σ⟨t⟩ = ∂J/∂h⟨t⟩, over every t:
    Σₜ h⟨t−1⟩ᵀ (σ⟨t⟩ ⊙ h⟨t⟩), or (σ⟨t⟩ ⊙ h⟨t⟩²) stacked over t."""
    from derive.ops.scan import cell_backward
    states = scan(xs, _cell(W, U, b))
    cell = states.attrs["cell"]
    sigma = cell_backward(cell).adj_parts[0][0]
    if over is time_sum:
        return time_sum(s, states, root=matmul(transpose(cell.prev), ew(ph(0) * ph(1), [sigma, cell.new])))
    return time_map(s, states, root=ew(ph(0) * ph(1) ** 2, [sigma, cell.new]))

CASES = {  # id: (op, leaf shapes, graph of the leaves)
    "leaf": ("leaf", [(3, 2)], lambda a: a),
    "matmul": ("matmul", [(3, 2), (2, 4)], lambda a, b: matmul(a, b)),
    "T": ("T", [(3, 2)], transpose),
    "sum-0": ("sum", [(3, 4)], lambda a: reduce_sum(a, 0)),
    "sum-1": ("sum", [(3, 4)], lambda a: reduce_sum(a, 1)),
    "sum-all": ("sum", [(3, 4)], lambda a: reduce_sum(a, None)),
    "sum-axes-0-2": ("sum", [(2, 3, 4)], lambda a: reduce_sum(a, (0, 2))),
    "sum-last-rank-1": ("sum", [(5,)], lambda a: reduce_sum(a, -1)),
    "softmax-1": ("softmax", [(3, 4)], lambda a: softmax(a, 1)),
    "softmax-0": ("softmax", [(3, 4)], lambda a: softmax(a, 0)),
    "softmax-rank-3": ("softmax", [(2, 3, 4)], lambda a: softmax(a, 2)),
    "log_softmax-1": ("log_softmax", [(3, 4)], lambda a: log_softmax(a, 1)),
    "log_softmax-rank-3": ("log_softmax", [(2, 3, 4)], lambda a: log_softmax(a, 0)),
    "ew-tanh": ("ew", [(3, 4)], lambda a: ew(sp.tanh(ph(0)), [a])),
    "ew-bias-broadcast": ("ew", [(3, 4), (1, 4)], lambda a, b: ew(ph(0) * sigmoid(ph(1)), [a, b])),
    "ew-rank-3-vector": ("ew", [(2, 3, 4), (4,)], lambda a, b: ew(ph(0) * ph(1) + ph(1) ** 2, [a, b])),
    "ew-scalar-constant": ("ew", [(3, 4)], lambda a: 2 * a + 1),
    "reshape": ("reshape", [(2, 3, 4)], lambda a: reshape(a, (4, 6))),
    "flatten": ("reshape", [(2, 3, 2)], flatten),
    "permute": ("permute", [(2, 3, 4)], lambda a: permute(a, (2, 0, 1))),
    "conv-2d-same": ("conv", [(2, 4, 4, 2), (3, 3, 2, 2)], lambda x, w: conv(x, w, 1, "same")),
    "conv-2d-stride-2": ("conv", [(1, 5, 5, 1), (2, 2, 1, 2)], lambda x, w: conv(x, w, 2, "valid")),
    "conv-1d-stride-2-pad-1": ("conv", [(2, 7, 2), (3, 2, 3)], lambda x, w: conv(x, w, 2, 1)),
    "conv_input_grad": ("conv_input_grad", [(1, 3, 3, 2), (2, 2, 1, 2)],
                        lambda g, w: conv_input_grad(g, w, (2, 2), ((0, 1), (0, 1)), (5, 5))),
    "conv_weight_grad": ("conv_weight_grad", [(1, 5, 5, 1), (1, 3, 3, 2)],
                         lambda x, g: conv_weight_grad(x, g, (2, 2), ((0, 1), (0, 1)), (2, 2))),
    "max_pool-2d": ("max_pool", [(1, 4, 4, 2)], lambda a: max_pool(a, 2)),
    "max_pool-1d-overlap": ("max_pool", [(2, 7, 1)], lambda a: max_pool(a, 3, 2)),
    "max_pool_grad": ("max_pool_grad", [(1, 4, 4, 1), (1, 2, 2, 1)],
                      lambda a, g: max_pool_grad(a, g, (2, 2), (2, 2))),
    "max_pool_pick": ("max_pool_pick", [(1, 4, 4, 1), (1, 4, 4, 1)],
                      lambda a, h: max_pool_pick(a, h, (2, 2), (2, 2))),
    "avg_pool-2d": ("avg_pool", [(1, 4, 4, 2)], lambda a: avg_pool(a, 2)),
    "avg_pool-1d-overlap": ("avg_pool", [(2, 7, 1)], lambda a: avg_pool(a, 3, 2)),
    "avg_pool_grad": ("avg_pool_grad", [(1, 2, 2, 1)], lambda g: avg_pool_grad(g, (2, 2), (2, 2), (4, 4))),
    "matmul-sequence": ("matmul", [(2, 3, 4), (4, 2)], lambda a, b: matmul(a, b)),
    "step_sum": ("step_sum", [(2, 3, 4), (2, 3, 2)], lambda a, g: step_sum(a, g)),
    "slice": ("slice", [(2, 4, 3)], lambda a: slice_(a, 1, 1, 3)),
    "pad": ("pad", [(2, 2, 3)], lambda a: pad(a, 1, 1, 2)),
    "concat": ("concat", [(2, 3, 2), (2, 3, 1)], lambda a, b: concat([a, b], -1)),
    "scan-rnn": ("scan", RNN, lambda xs, W, U, b: scan(xs, _cell(W, U, b))),
    "scan-gated-reverse": ("scan", RNN, lambda xs, W, U, b: scan(xs, _cell(W, U, b, gated=True, reverse=True))),
    "bptt": ("bptt", [(2, 3, 3)] + RNN, lambda g, xs, W, U, b: bptt(g, scan(xs, _cell(W, U, b)))),
    "bptt-gated-reverse": ("bptt", [(2, 3, 3)] + RNN,
                           lambda g, xs, W, U, b: bptt(g, scan(xs, _cell(W, U, b, gated=True, reverse=True)))),
    "time_sum": ("time_sum", [(2, 3, 3)] + RNN, lambda s, xs, W, U, b: time_sum(s, scan(xs, _cell(W, U, b)), 1)),
    "time_map": ("time_map", [(2, 3, 3)] + RNN,
                 lambda s, xs, W, U, b: time_map(s, scan(xs, _cell(W, U, b, gated=True)))),
    # an expression of one step summed over t, or stacked over t (a formula `check` reads: sum_t(...))
    "time_sum-of-a-formula": ("time_sum", [(2, 3, 3)] + RNN, lambda s, xs, W, U, b: _of_a_step(time_sum, s, xs, W, U, b)),
    "time_map-of-a-formula": ("time_map", [(2, 3, 3)] + RNN, lambda s, xs, W, U, b: _of_a_step(time_map, s, xs, W, U, b)),
    # an embedding lookup and its adjoint; the indices repeat (rows 1 and 3 twice, row 0 never)
    "take": ("take", [(4, 3)], lambda C: take(C, _index((2, 3), [[1, 3, 1], [2, 3, 3]]))),
    "scatter_add": ("scatter_add", [(2, 3, 2)], lambda g: scatter_add(g, _index((2, 3), [[1, 3, 1], [2, 3, 3]]), 5)),
    # attention's pieces: a product per (batch, head), a causal mask before a softmax over the keys
    "bmm": ("bmm", [(2, 3, 4), (2, 4, 3)], lambda a, b: matmul(a, b)),
    "bmm-heads-transposed": ("bmm", [(2, 2, 3, 4), (2, 2, 3, 4)], lambda a, b: matmul(a, swap_last(b))),
    "causal-softmax": ("causal", [(2, 3, 3)], lambda a: softmax(causal(a), -1)),
    "causal-zero": ("causal", [(2, 3, 3)], lambda a: causal(a, "0")),
    # a sum that linearity splits: the factor constant along the axis comes out (Σᵢ c ⊙ a = c ⊙ Σᵢ a)
    "sum-linear": ("sum", [(3, 4), (1, 4)], lambda a, c: reduce_sum(ew(ph(0) * ph(1) + ph(1) ** 2, [a, c]), 0)),
}

INDEX_VALUES = {}


def _index(shape, values):
    """A leaf of integer indices (data: no gradient reaches it), with its fixed values."""
    node = leaf("I", shape, "input")
    INDEX_VALUES[node] = np.array(values, float)
    return node


def _inputs(leaves, C, out):
    """Every input of a case's graph: its leaves, the weights C, and any index leaf."""
    from derive.graph.node import topo_order
    return leaves + [C] + [n for n in topo_order(out) if n in INDEX_VALUES]


def _case(key, seed=0):
    op, shapes, build = CASES[key]
    leaves = [leaf(f"P{i}", s, "param") for i, s in enumerate(shapes)]
    out = build(*leaves)
    C = leaf("C", out.shape, "input")
    J = reduce_sum(ew(ph(0) * ph(1), [out, C]), None)
    rng = np.random.default_rng(seed)
    values = {n: rng.normal(size=tuple(int(d) for d in n.shape)) for n in leaves + [C]}
    values.update({n: INDEX_VALUES[n] for n in _inputs([], C, out)[1:]})
    if not OPS[op].differentiable:  # a recurrence's backward nodes: no second derivatives
        with pytest.raises(NotImplementedError, match="does not derive second derivatives through a recurrence"):
            gradients(J, leaves)
        return leaves, C, out, J, None, values
    return leaves, C, out, J, gradients(J, leaves), values


def _backward_cases():
    return [k for k, (op, _, _) in CASES.items() if OPS[op].differentiable]


def test_every_op_has_every_rule_a_lowering_and_a_case():
    for name, op in OPS.items():
        for rule in ("vjp", "show", "expand", "evaluate"):
            assert callable(getattr(op, rule)), f"{name} has no {rule}"
    assert set(LOWERINGS) == set(OPS), set(LOWERINGS) ^ set(OPS)
    assert {op for op, _, _ in CASES.values()} == set(OPS)


def test_the_completeness_test_would_see_a_missing_entry():
    assert set(LOWERINGS) - {"permute"} != set(OPS)


@pytest.mark.parametrize("key", _backward_cases())
def test_backward_rule_against_finite_differences_in_numpy(key):
    leaves, C, out, J, grads, values = _case(key)
    derived = evaluate([grads[x] for x in leaves], values, 1)
    rng = np.random.default_rng(1)
    for x, g in zip(leaves, derived):
        assert g.shape == values[x].shape
        for _ in range(3):
            u = rng.normal(size=g.shape)
            h = 1e-6
            hi = evaluate([J], {**values, x: values[x] + h * u}, 1)[0]
            lo = evaluate([J], {**values, x: values[x] - h * u}, 1)[0]
            fd = float(np.sum(hi - lo)) / (2 * h)
            assert abs(fd - float(np.sum(g * u))) <= 1e-6 * max(1.0, np.linalg.norm(g)), (key, x)


@pytest.mark.parametrize("key", list(CASES))
def test_lowering_against_numpy_and_jax_grad(key):
    import jax
    with jax.enable_x64(True):
        leaves, C, out, J, grads, values = _case(key)
        inputs = _inputs(leaves, C, out)
        fn, _ = lower_nodes({"J": J, "out": out, **{x.name: grads[x] for x in leaves if grads}}, inputs)
        args = [values[x] for x in inputs]
        got = fn(*args)
        want_out, want_J = evaluate([out, J], values, 1)
        np.testing.assert_allclose(np.asarray(got["out"]), want_out, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(float(got["J"]), float(np.sum(want_J)), rtol=1e-12)
        if grads is None:
            return
        auto = jax.grad(lambda *a: fn(*a)["J"], argnums=tuple(range(len(leaves))))(*args)
        for x, a in zip(leaves, auto):
            np.testing.assert_allclose(np.asarray(got[x.name]), np.asarray(a), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("key", list(CASES))
def test_scalar_expansion_against_numpy_and_sympy_diff(key):
    leaves, C, out, J, grads, values = _case(key)
    ex = Expander(None, 1, False)
    point = {}
    for x in _inputs(leaves, C, out)[len(leaves) + 1:]:   # indices select entries: they stay integers
        ex.memo[x] = values[x].astype(int).astype(object)
    for x in leaves + [C]:
        syms = np.asarray(ex.symbols(x).tolist() if x.rank == 2 else ex.symbols(x), dtype=object)
        ex.memo[x] = ex.symbols(x)
        point.update({s: v for s, v in zip(syms.ravel(), values[x].ravel())})
    expanded_out = np.asarray(sp.Matrix(ex(out)).tolist() if out.rank == 2 else ex(out), dtype=object)
    numeric = np.vectorize(lambda e: float(sp.sympify(e).xreplace(point)))(expanded_out)
    np.testing.assert_allclose(numeric.reshape(evaluate([out], values, 1)[0].shape),
                               evaluate([out], values, 1)[0], rtol=1e-10, atol=1e-12)
    if grads is None:
        return
    J_expanded = sp.sympify(np.asarray(ex(J)).ravel()[0] if out.rank != 2 else ex(J)[0, 0])
    for x in leaves:
        syms = np.asarray(ex.symbols(x).tolist() if x.rank == 2 else ex.symbols(x), dtype=object).ravel()
        g = np.asarray(ex(grads[x]).tolist() if x.rank == 2 else ex(grads[x]), dtype=object).ravel()
        for s, entry in zip(syms, g):
            by_diff = float(sp.diff(J_expanded, s).xreplace(point))
            assert abs(by_diff - float(sp.sympify(entry).xreplace(point))) <= 1e-10 * max(1.0, abs(by_diff)), (key, s)


@pytest.mark.parametrize("key", list(CASES))
def test_every_case_prints_in_every_notation(key):
    from derive import show
    leaves, C, out, J, grads, values = _case(key)
    for style in ("text", "latex", "formula"):
        assert show(out, style) and all(show(g, style) for g in (grads or {}).values())


def test_reshape_and_permute_printing():
    from derive import show
    a = leaf("A2", (2, 3, 4), "act")
    assert show(flatten(a), "text") == "flatten(A₂)"
    assert show(reshape(a, (4, 6)), "formula") == "reshape(A2, (4, 6))"
    assert show(permute(a, (2, 0, 1)), "text") == "permute(A₂, (2, 0, 1))"


def test_shape_errors_name_the_operands():
    from derive import ShapeError
    a = leaf("A", (2, 3, 4), "act")
    with pytest.raises(ShapeError, match=r"cannot reshape A \(2, 3, 4\) to \(5, 5\): 24 entries against 25"):
        reshape(a, (5, 5))
    with pytest.raises(ShapeError, match="permute needs an order of all 3 axes"):
        permute(a, (0, 1))
    with pytest.raises(ShapeError, match="a matrix product takes two matrices"):
        matmul(a, leaf("v", (4,), "act"))
    with pytest.raises(ShapeError, match=r"a batched matrix product takes \(\.\.\., i, k\) @ \(\.\.\., k, j\)"):
        matmul(a, a)
    with pytest.raises(ShapeError, match=r"axis must be None or axes of a rank-3 tensor"):
        reduce_sum(a, 3)


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
def test_the_stable_log_rewrite_keeps_the_value_and_survives_saturation(output):
    """log(A) of a softmax or sigmoid output becomes log_softmax(Z) / log_sigmoid(±Z): the same number
    where A is moderate, and finite where A has saturated to 0 or 1 (where log(A) is -inf)."""
    from derive.graph.stable import stable
    from derive.network.scalar_functions import sigmoid
    Z = leaf("Z", (2, 3), "pre")
    Y = leaf("Y", (2, 3), "target")
    if output == "softmax":  # categorical cross-entropy
        L = reduce_sum(ew(-ph(1) * sp.log(ph(0)), [softmax(Z, 1), Y]), None)
    else:  # binary cross-entropy
        A = ew(sigmoid(ph(0)), [Z])
        L = reduce_sum(ew(-(ph(1) * sp.log(ph(0)) + (1 - ph(1)) * sp.log(1 - ph(0))), [A, Y]), None)
    (rewritten,), origin = stable([L])
    assert rewritten is not L and origin[rewritten] is L
    y = np.array([[1.0, 0, 0], [0, 1, 0]])
    moderate = {Z: np.array([[0.3, -0.2, 0.1], [1.0, 0.5, -0.7]]), Y: y}
    plain = _unstable_value(L, moderate)
    assert abs(evaluate([L], moderate, 1)[0].item() - plain) <= 1e-12 * abs(plain)
    saturated = {Z: np.array([[800.0, -800, 0], [-900, 900, 0]]), Y: y}
    assert np.isfinite(evaluate([L], saturated, 1)[0]).all()
    import jax
    with jax.enable_x64(True):
        fn, source = lower_nodes({"L": L}, [Z, Y])
        assert np.isfinite(float(fn(saturated[Z], y)["L"]))
        assert ("log_softmax" if output == "softmax" else "log_sigmoid") in source


def _unstable_value(L, values):
    """L computed op by op with no rewrite: log of the formed activation."""
    from derive.graph.build import topo_order
    from derive.ops import lookup

    class Ev:
        subs = {}

        @staticmethod
        def concrete(shape):
            return tuple(int(d) for d in shape)
    memo = dict(values)
    for n in topo_order(L):
        if n not in memo:
            memo[n] = lookup(n.op).evaluate(n, [memo[a] for a in n.args], Ev)
    return float(np.sum(memo[L]))


def test_a_layer_is_anything_that_builds_and_shared_weights_get_one_gradient():
    """The layer protocol: a custom layer (a tied dense layer using W1ᵀ of an earlier layer, an
    autoencoder's decoder) builds its nodes; the shared weight is one parameter, and its derived
    gradient sums both uses (checked against finite differences and jax.grad by verify)."""
    import sympy as sp
    from compile import verify
    from derive import Dense, Network
    from derive.graph.names import Name

    class TiedDecoder:
        def build(self, g, inp, adds=()):
            l = g.next_layer
            W1 = g.param(Name("W", 1), (3, 2), l, "weight", (3, 2), "glorot")  # the encoder's, again
            b = g.param(Name("b", l), (1, 3), l, "bias", (2, 3), "zeros")
            return g.add_layer(inp @ W1.T + b, lambda Z: ew(sp.tanh(ph(0)), [Z]), "tanh")

    net = Network(3, [Dense(2, "tanh"), TiedDecoder()], loss="mse")
    model = net.build()
    assert [str(p) for p in model.params] == ["W1", "b1", "b2"]
    report = verify(net, engine="numpy", scalar_limit=20)
    assert report.ok and report.scalar == "used", report.to_json()


def test_softmax_axes_are_checked_by_name():
    from derive import ShapeError
    a = leaf("A", (2, 3), "act")
    for build, what in [(softmax, "softmax"), (log_softmax, "log_softmax")]:
        with pytest.raises(ShapeError, match=f"{what} axis must be an axis of A"):
            build(a, 2)
        assert build(a, -1).attrs["axis"] == 1

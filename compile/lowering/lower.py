"""Lowering a derivation to JAX source: a printer of the expression graph, then ``jax.jit``.

The derived graph is printed as Python, one assignment per named node (Z1, A1, delta2, ...) and per
anonymous node used more than once, so each is computed once and the backward pass reuses the forward
activations. Each assignment is preceded by the formula it computes. The gradient function is the
derived formulas themselves; no JAX autodiff is involved.

Interface of the generated functions, whatever the convention: x is (batch, inputs), y is (batch,
outputs), masks maps D1, ... to (batch, units) arrays (None: no dropout); in the ``columns`` convention
the functions transpose inside. Parameters keep the shapes the derivation prints (W1 is (in, out) in
``rows``, (out, in) in ``columns``).

Where the printed loss is unstable the lowering uses an equal, stable form: log(softmax(Z)) is
``log_softmax(Z)``, log(sigmoid(Z)) is ``log_sigmoid(Z)`` and log(1 - sigmoid(Z)) is ``log_sigmoid(-Z)``,
so saturated outputs give a large finite loss rather than ``0 * log(0) = nan``.

A product whose left operand is a transpose, Aᵀ B (every weight gradient of the ``rows`` convention,
a sum over the batch), is printed ``transpose_matmul(A, B)``: on XLA's CPU backend the product turned
or through a stored copy is faster than XLA's plain product with a transposed operand, (Bᵀ A)ᵀ for a
narrow B by 2-20x, a copy of Aᵀ for a small A by up to 2.5x (see ``TRANSPOSE_MATMUL``).

A cross-entropy Σ Y ⊙ log_softmax(Z) is printed ``y_log_softmax_sum(Y, Z, axis, work)``: on a CPU, for a
step of many multiply-adds, it sums the rows of Y apart, which lets XLA run the forward pass on its
worker pool rather than on the thread that dispatched the step (see ``LOG_SOFTMAX_SUM``).
"""
from __future__ import annotations

import re

import linecache
import math
from dataclasses import dataclass, field

import sympy as sp
from sympy.printing.numpy import JaxPrinter
from sympy.printing.precedence import PRECEDENCE, precedence

from derive.graph.build import is_placeholder, placeholder, topo_order
from derive.graph.symbols import eps, lam, m
from derive.network.norm import running_stats
from derive.printing.show import name as display_name
from derive.printing.show import show
from derive.network.scalar_functions import SCALAR_FUNCTIONS
from derive.graph.stable import stable

from derive.ops.elementwise import broadcast_shape

from compile.lowering.ops import LOWERINGS
from compile.lowering.safe import identifier, one_line  # noqa: F401 - one_line named here too

DTYPES = ("float32", "float64")
# Scalar constants of a model become module-level names (``lambda`` is a Python keyword).
CONSTANT_NAMES = {lam: "LAMBDA", eps: "EPSILON"}
# The JAX code of every scalar function, by SymPy class name, from derive's table ("{0}": the argument).
CALLS = {c.__name__: f.jax for f in SCALAR_FUNCTIONS for c in f.classes}


# Defined in every generated module that multiplies by a transposed left operand. Measured on a
# 2-core x86 CPU (one product and its SGD update per call, interleaved, medians):
# - Aᵀ B with a B of at most 32 columns (a weight gradient of a narrow layer: 10 classes, one output)
#   runs 2-20x faster as (Bᵀ A)ᵀ, the product stored before it is turned, in float32 and float64, from
#   an A of 2^13 numbers (A₁ᵀ δ₂ of 784-2048-10 at batch 512: 1.93 ms plain, 0.20 ms so; of 128x256 at
#   batch 256 and 10 columns: 53 us, 11 us). XLA then multiplies Bᵀ A with a transposed left operand
#   too, but into a wide product, which it does fast. A stored copy of Bᵀ as well made some of these
#   products faster alone (up to 2x), none faster in whole steps, and is one more kernel to compile
#   (10-20 ms of a first step). Below 2^13 numbers all the ways are alike.
# - With a batch of 64 or 256, Aᵀ B ran up to 2.5x faster through a copy of Aᵀ below about 2^25
#   multiply-adds and at most 128 columns (the 256x128 weight gradient at batch 256: 1.7x), and 0.85x
#   at 784x256 with batch 256, where XLA's transposed-operand product is the faster. 20 tanh layers of
#   256 at batch 128 (products of 256 columns) ran at 0.91-1.0x jax.grad's speed with a copy per
#   layer, 0.97-1.0x without. A copy of more than 1 MiB costs more than it saves (A₁ of 784-2048-10 at
#   batch 512, 4 MiB). Each copy is one more kernel to compile.
TRANSPOSE_MATMUL = '''def transpose_matmul(a, b):
    """aᵀ b. On CPU, XLA multiplies a transposed left operand into a tall product slowly. For a b of at
    most 32 columns and an a of 2^13 numbers or more, as (bᵀ a)ᵀ, the wide product bᵀ a stored before
    it is turned; for a b of at most 128 columns, an a of at most 1 MiB and below 2^25 multiply-adds,
    through a stored copy of aᵀ. The optimization barriers keep XLA from folding the transposes back
    into the product. The same product either way, summed in another order."""
    if jax.default_backend() == "cpu":
        if b.shape[1] <= 32 and a.size >= 2**13:
            return jax.lax.optimization_barrier(b.T @ a).T
        if (b.shape[1] <= 128 and a.size * a.dtype.itemsize <= 2**20
                and a.shape[0] * a.shape[1] * b.shape[1] <= 2**25):
            return jax.lax.optimization_barrier(a.T) @ b
    return a.T @ b
'''


# Defined in every generated module whose loss sums Y ⊙ log_softmax(Z). XLA's CPU executor runs a
# program whose operations all wait on one first operation (X W₁, when nothing else depends on the
# inputs alone) on the thread that dispatched it, and hands work to its worker pool only where two
# operations are ready at once. Parallel products run from that thread share the cores with one
# thread too many: on a 2-core x86 CPU, X W₁ of 784-2048-10 at batch 512 took 9.7 ms there against
# 7.8 ms on a worker, and the step ran at 0.82-0.85x the speed of jax.grad's, whose gradient of the
# loss starts from the rows of Y. Written Σ Y ⊙ Z − Σᵢ (Σₖ Yᵢₖ) lse(Zᵢ) (the same number: log_softmax(Z)
# = Z − lse(Z) row by row, for any Y), the row sums of Y depend on the batch alone, the step starts
# from two operations and runs at parity (0.997-1.0x, interleaved). In a small step the handover to
# the worker costs more than it saves (64-64-10 at batch 64: 0.96x against 1.08x), hence the size:
# ``work`` is the batch size times the parameter count, about the forward pass's multiply-adds.
# Defined in every generated module and called first by forward, loss and grads: a wrong shape would
# otherwise fail deep inside JAX ("dot_general requires contracting dimensions to have the same shape"),
# or worse, broadcast: a one-output network's (batch, 1) against labels of shape (batch,) makes a
# (batch, batch) loss without a word. Shapes are known while JAX traces, so under jit it runs once per
# shape and costs the step nothing.
CHECK_SHAPES = '''def check_shapes(x, y=None):
    """x (batch, *INPUT_SHAPE) and y (batch, *OUTPUT_SHAPE) (one-hot rows where ONE_HOT), or a ValueError
    saying which does not fit.
    One example of a flat input may come alone (x of INPUT_SHAPE, y of OUTPUT_SHAPE), and an input of
    one channel without its channel axis, (batch, length)."""
    def shape(s):
        return "(" + ", ".join(str(d) for d in s) + ("," if len(s) == 1 else "") + ")"
    xs = tuple(x.shape)
    if len(INPUT_SHAPE) == 1 and xs == INPUT_SHAPE:
        batch = None
    elif len(xs) >= 1 and (xs[1:] == INPUT_SHAPE or (len(INPUT_SHAPE) == 2 and INPUT_SHAPE[1] == 1
                                                    and xs[1:] == INPUT_SHAPE[:1])):
        batch = xs[0]
    else:
        raise ValueError(f"x has shape {shape(xs)}; this network takes x as (batch, "
                         + ", ".join(str(d) for d in INPUT_SHAPE) + ")")
    if y is None:
        return
    ys = tuple(y.shape)
    rows = 1 if batch is None else batch
    if ys == OUTPUT_SHAPE and batch is None or ys == (rows, *OUTPUT_SHAPE):
        return
    want = shape((rows, *OUTPUT_SHAPE))
    says = f"y has shape {shape(ys)}; with x of shape {shape(xs)} this network takes y as {want}"
    if ys[:1] == (batch,) and ys[1:] == OUTPUT_SHAPE[:-1] and ONE_HOT:
        says += (f": class labels? y is one-hot, one row of {OUTPUT_SHAPE[-1]} per example "
                 f"(jax.nn.one_hot(y, {OUTPUT_SHAPE[-1]}))")
    elif ys[:1] == (batch,) and ys[1:] == OUTPUT_SHAPE[:-1] and OUTPUT_SHAPE[-1] == 1:
        says += " (y.reshape(-1, 1))"
    elif batch is not None and ys[:1] != (batch,):
        says += f": x has {batch} examples, y {ys[0] if ys else 'none'}"
    raise ValueError(says)'''


CHECK_PARAMS = '''def check_params(params):
    """A ValueError unless params holds exactly the network's parameters, PARAM_NAMES, by name."""
    if not hasattr(params, "keys"):
        raise ValueError(f"params must be a dict with keys {', '.join(PARAM_NAMES)}, not {type(params).__name__}")
    names = list(params.keys())
    missing = [n for n in PARAM_NAMES if n not in names]
    extra = [repr(n) for n in names if n not in PARAM_NAMES]
    if missing or extra:
        raise ValueError(f"params must have the keys {', '.join(PARAM_NAMES)}: "
                         + "; ".join(([f"missing {', '.join(missing)}"] if missing else [])
                                     + ([f"unknown {', '.join(extra)}"] if extra else [])))'''


LOG_SOFTMAX_SUM = '''def y_log_softmax_sum(y, z, axis, work):
    """Σ y ⊙ log_softmax(z) along ``axis``. On CPU, from 2^27 multiply-adds a step (``work``), as
    Σ y ⊙ z − Σ (Σ y along axis) lse(z): the sums of y hang on the batch alone, and XLA then runs the
    forward pass on its worker pool, not on the dispatching thread. Same number either way. lse(z) is
    written as jax.nn.softmax computes its exponentials, so a step holding both computes them once."""
    top = jax.lax.stop_gradient(jnp.max(z, axis=axis, keepdims=True))
    lse = top + jnp.log(jnp.sum(jnp.exp(z - top), axis=axis, keepdims=True))
    if jax.default_backend() == "cpu" and work >= 2**27:
        return jnp.sum(y * z) - jnp.sum(jnp.sum(y, axis=axis, keepdims=True) * lse)
    return jnp.sum(y * (z - lse))
'''


# Printed elementwise expressions, keyed by (expression, its operands' placeholders, the compound ones), with
# a token \x00name\x00 where each operand's code goes.
_TEMPLATES: dict = {}
_TOKEN = re.compile("\x00([^\x00]+)\x00")


class ScalarJax(JaxPrinter):
    """Prints an elementwise SymPy expression as jnp code.

    ``atoms`` maps placeholder symbols to the code of their operands, ``compound`` holds those whose
    code is a product ``A @ B`` rather than a name or a call.
    """

    def __init__(self, atoms: dict, compound=(), order=None):
        super().__init__({"fully_qualified_modules": True, "strict": True, "order": order})
        self.atoms, self.compound, self.used = atoms, set(compound), set()

    def doprint(self, expr, assign_to=None):
        # CodePrinter.doprint's work for a bare expression, without its import of sympy.codegen (a few
        # ms the first time, of 20-40 for a whole module); anything unusual goes through it.
        if assign_to is not None or not isinstance(expr, sp.Basic):
            return super().doprint(expr, assign_to)
        self._not_supported, self._number_symbols = set(), set()
        lines = self._print(expr).splitlines()
        if self._not_supported or self._number_symbols:
            return super().doprint(expr, assign_to)
        return "\n".join(self._format_code(lines))

    def parenthesize(self, item, level, strict=False):
        # ``A @ B`` binds like a product in Python. SymPy brackets a sum's terms without calling this
        # method, so every call here is a factor or a power: bracket it always (and Z1 = X @ W1 + b1
        # stays as the formula reads).
        if item in self.compound:
            return f"({self._print(item)})"
        return super().parenthesize(item, level, strict)

    def _module_format(self, fqn, register=True):
        return "jnp." + fqn[len("jax.numpy."):] if fqn.startswith("jax.numpy.") else fqn

    def _print_Symbol(self, s):
        if s in self.atoms:
            return self.atoms[s]
        self.used.add(s)
        if s in CONSTANT_NAMES or s == m:
            return CONSTANT_NAMES.get(s, "m")
        raise ValueError(f"cannot lower the free symbol {s} (only operands, m, lambda and epsilon are known)")

    def _print_Pow(self, e, rational=False):
        base, exp = e.args
        if exp.is_Integer and exp < 0:  # 1/x**2 rather than x**(-2.0)
            return "1/" + self.parenthesize(sp.Pow(base, -exp), 1000)
        return super()._print_Pow(e, rational)

    def _print(self, expr, **kwargs):
        # Every function of the table prints from its row, ahead of JaxPrinter's own rules.
        if isinstance(expr, sp.Function) and type(expr).__name__ in CALLS:
            return self._print_call(expr)
        return super()._print(expr, **kwargs)

    def _print_call(self, e):
        (arg,) = e.args
        code = self._print(arg)
        atomic = arg not in self.compound and precedence(arg) >= PRECEDENCE["Func"]
        return _call(CALLS[type(e).__name__], code, code if atomic else f"({code})")


def _call(template: str, code: str, bracketed: str) -> str:
    """The JAX ``template`` with the argument at each ``{0}``: bare where it is a whole argument of a
    call (``jnp.exp({0})``), bracketed where an operator applies to it (``1/100*{0}``)."""
    parts = template.split("{0}")
    out = parts[0]
    for before, after in zip(parts, parts[1:]):
        whole = before.endswith(("(", ", ")) and after.startswith((")", ","))
        out += (code if whole else bracketed) + after
    return out


class FunctionWriter:
    """Writes the body of one generated function computing ``roots`` from the model's leaves."""

    def __init__(self, model, masks: str):
        # masks: "optional" (argument, None means no dropout) or "off" (inference: masks are 1).
        self.model, self.masks = model, masks
        self.given: set = set()    # nodes a ``stats`` argument may give (batch norm's μ and σ² in evaluation)
        self.rows = model.convention == "rows"
        self.lines: list = []
        self.names: dict = {}      # node -> variable name
        self.leaves: list = []     # leaves used, in order of first use
        self.uses_m = False
        self.uses_transpose_matmul = False
        self.uses_log_softmax_sum = False
        self.uses_windows = False  # convolution or pooling: the module carries compile.lowering.windows
        self.origin: dict = {}     # node -> the node of the derivation it stands for (after derive.graph.stable)
        self.cache: dict = {}      # lines written once and shared (a recurrence's shifted states, its per-step grads)
        # SymPy's printing of a formula and of a node's comment, shared by the writers of one module: the
        # module's functions (forward, loss, grads, loss_and_grads) print the same nodes again
        self.printed: dict = {}
        self._counter = [0]        # fresh names, shared with the writers of nested functions

    def fresh(self, prefix: str) -> str:
        self._counter[0] += 1
        return f"_{prefix}{self._counter[0]}"

    def sub(self, bound: dict) -> "FunctionWriter":
        """A writer for a nested function (a recurrence's step) whose arguments are ``bound``: node ->
        name. It reads the parameters and m of the function around it."""
        inner = FunctionWriter(self.model, self.masks)
        inner.names, inner._counter, inner.printed = dict(bound), self._counter, self.printed
        return inner

    def adopt(self, inner: "FunctionWriter") -> None:
        """What a nested function used becomes this function's to bind (parameters, m, helpers)."""
        self.leaves += [x for x in inner.leaves if x not in self.leaves]
        self.uses_m |= inner.uses_m
        self.uses_transpose_matmul |= inner.uses_transpose_matmul
        self.uses_log_softmax_sum |= inner.uses_log_softmax_sum
        self.uses_windows |= inner.uses_windows

    def write(self, roots: list) -> None:
        """roots: [(variable name or None, node, comment lhs)]."""
        order, count = [], {}
        if roots:   # one walk over every root's graph: the union once, not each root's graph again
            order = topo_order(roots[0][1], stop=self.names, more=[r for _, r, _ in roots[1:]])
        for node in order:
            for a in node.args:  # each edge counted once: shared nodes are the ones used twice
                count[a] = count.get(a, 0) + 1
        wanted: dict = {}  # hash-consing makes equal gradients (two zero ones, say) one node
        for var, root, lhs in roots:
            wanted.setdefault(root, []).append((var, lhs))
        for node in order:
            if node.op == "leaf" or node in self.names or (node.op == "ew" and not node.args and node not in wanted):
                continue
            var, lhs = wanted[node][0] if node in wanted else (None, None)
            if node.name:
                shown = display_name(node.name, "text") if "of" not in node.attrs else \
                    "∂J/∂" + display_name(node.attrs["of"], "text")   # a named adjoint: ∂J/∂X̂₄
                var, lhs = var or identifier(node.name), lhs or shown
            elif var is None and count.get(node, 0) > 1:
                var = f"t{len(self.names) + 1}"
            elif var is None:
                continue
            if lhs is not None:
                shown = self.origin.get(node, node)
                if ("show", shown) not in self.printed:
                    self.printed["show", shown] = show(shown, "text")
                self.lines.append(one_line(f"# {lhs} = {self.printed['show', shown]}{self.note(node)}"))
            if node in self.given:   # a batch-norm statistic: the running average where one is given
                self.lines.append(f'{var} = {self.code(node, top=True)[0]} if stats is None else stats[{str(node.name)!r}]')
            else:
                self.lines.append(f"{var} = {self.code(node, top=True)[0]}")
            self.names[node] = var
            self.lines += [f"{other} = {var}" for other, _ in wanted.get(node, [])[1:]]

    def param_count(self) -> int:
        """The number of the model's parameters (weights and biases)."""
        return sum(math.prod(int(d) for d in p.shape) for p in self.model.params)

    def note(self, node) -> str:
        if self.masks != "off" or node.op != "ew":
            return ""
        masks = [a for a in node.args if a.role == "mask"]
        return "".join(f", {display_name(a.name, 'text')} = 1 at inference" for a in masks)

    def shape(self, shape) -> str:
        if any(sp.sympify(d).has(m) for d in shape):
            self.uses_m = True
        dims = ["m" if d == m else str(int(d)) if sp.sympify(d).is_Integer else sp.pycode(d) for d in shape]
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"

    def code(self, node, top=False):
        """(code, atomic) of ``node``; ``atomic`` says it needs no brackets as an operand."""
        if not top and node in self.names:
            return self.names[node], True
        lowering = LOWERINGS.get(node.op)
        if lowering is None:
            raise ValueError(f"cannot lower operation {node.op!r} of node {node!r}: compile.lowering.ops has no entry")
        return lowering(self, node)

    def elementwise(self, node):
        expr, args = node.attrs["expr"], node.args
        if self.masks == "off":  # inference: every dropout mask is the constant 1
            expr = expr.xreplace({placeholder(i): sp.Integer(1) for i, a in enumerate(args) if a.role == "mask"})
        if not args or not any(is_placeholder(s) for s in expr.free_symbols):
            value = ScalarJax({}).doprint(expr)
            return f"jnp.full({self.shape(node.shape)}, {value}, dtype=DTYPE)", True
        atoms, compound = {}, []
        for i, a in enumerate(args):
            p = placeholder(i)
            if p not in expr.free_symbols:
                continue
            atoms[p], atomic = self.code(a)
            if not atomic:
                compound.append(p)
        key = (expr, tuple(atoms), tuple(compound))
        if key not in _TEMPLATES:   # printed once with a token per operand: identical layers share the printing
            printer = ScalarJax({p: f"\x00{p.name}\x00" for p in atoms}, compound)
            _TEMPLATES[key] = printer.doprint(expr), m in printer.used
        template, with_m = _TEMPLATES[key]
        names = {p.name: code for p, code in atoms.items()}
        text = _TOKEN.sub(lambda t: names[t.group(1)], template)
        self.uses_m |= with_m
        used = [a.shape for i, a in enumerate(args) if placeholder(i) in expr.free_symbols]
        if broadcast_shape(used) != tuple(node.shape):  # a node that only repeats its operand (a sum's adjoint)
            return f"jnp.broadcast_to({text}, {self.shape(node.shape)})", True
        return text, expr in atoms and expr not in compound

    def prologue(self, with_y: bool) -> list:
        """Bind the leaves this body used: parameters, X, Y, masks and the batch size m; x and y are
        checked against the network's shapes first (``CHECK_SHAPES``)."""
        out = ["X = jnp.asarray(x, DTYPE)"]
        if with_y:
            out += ["Y = jnp.asarray(y, DTYPE)", "check_shapes(X, Y)"]
        else:
            out.append("check_shapes(X)")
        if not self.rows:
            out.append("X, Y = X.T, Y.T" if with_y else "X = X.T")
        shape = getattr(self.model, "input_shape", ())
        if len(shape) == 2 and shape[1] == 1:  # a 1-D input of one channel may come as (batch, length)
            out.append(f"X = X.reshape(X.shape[0], {shape[0]}, 1) if X.ndim == 2 else X")
        out.append("check_params(params)")
        params = [p.name for p in self.model.params if p in self.leaves]
        if params:
            out.append(", ".join(map(identifier, params)) + " = " + ", ".join(f"params[{str(p)!r}]" for p in params))
        for mask in self.model.masks:
            if mask in self.leaves:
                t = "" if self.rows else ".T"
                out.append(f"{identifier(mask.name)} = 1.0 if masks is None else masks[{str(mask.name)!r}]{t}")
        if self.uses_m:
            out.append(f"m = X.shape[{0 if self.rows else 1}]  # batch size")
        return out


def function_sources(derivation) -> str:
    """Source of forward, loss, grads and loss_and_grads (needs DTYPE, jax, jnp and the constants)."""
    model = derivation.model
    gvar = gradient_variables(derivation)
    grads = [(gvar[p], g, f"∂J/∂{display_name(p, 'text')}") for p, g in derivation.grads.items()]
    back = "{" + ", ".join(f"{str(p)!r}: {gvar[p]}" for p in derivation.grads) + "}"
    pred = identifier(model.prediction.name) + ("" if model.convention == "rows" else ".T")
    loss_J = (None, model.J, "J")
    xy = "params, x, y" + (", masks=None" if model.masks else "")
    stats = running_stats(model)
    given = ", stats=None" if stats else ""
    note = (" With ``stats`` (running averages of each batch norm's μ and σ²), the layers normalize with "
            "them, as in evaluation; without, with the batch's own." if stats else "")
    table = [  # name, signature, docstring, masks, roots, returns
        ("forward", "params, x" + given, "Prediction for x (batch, inputs): (batch, outputs); no dropout." + note,
         "off", [(None, model.prediction, None)], pred),
        ("loss", xy + given, "The loss J, a scalar (mean over the batch)." + note, "optional", [loss_J], "J"),
        ("grads", xy, "dJ/dparam for every parameter, from the derived formulas.", "optional", grads, back),
        ("loss_and_grads", xy, "(J, grads), sharing the forward pass.", "optional", [loss_J] + grads,
         f"J, {back}")]
    if stats:
        table.append(("batch_stats", "params, x",
                      "Each batch norm's μ and σ² on the batch x, as running averages take them: σ² unbiased "
                      "(N/(N − 1) times the biased one, N the count it averages over), as PyTorch keeps it.",
                      "off", [(None, r.var, None) for r in stats] + [(None, r.centred, None) for r in stats],
                      "{" + ", ".join(_stats_entry(r) for r in stats) + "}"))
    parts, helper, windows, lsm = [], False, False, False
    printed: dict = {}
    rewritten: tuple = ({}, {})   # the stable rewrite of the nodes the functions share, made once
    for name, signature, doc, masks, roots, returns in table:
        w = FunctionWriter(model, masks)
        w.printed = printed
        if name in ("forward", "loss"):
            w.given = {n for r in stats for n in (r.mu, r.var)}
        nodes, w.origin = stable([node for _, node, _ in roots], rewritten)  # log(A) from Z: derive.graph.stable
        w.write([(var, node, lhs) for (var, _, lhs), node in zip(roots, nodes)])
        helper |= w.uses_transpose_matmul
        lsm |= w.uses_log_softmax_sum
        windows |= w.uses_windows
        body = [f'"""{doc}"""', *w.prologue(with_y=name not in ("forward", "batch_stats")), *w.lines,
                f"return {returns}"]
        parts.append(f"@jax.jit\ndef {name}({signature}):\n" + "".join(f"    {line}\n" for line in body))
    return "\n\n".join([shapes_source(model)] + ([windows_source()] if windows else [])
                       + ([TRANSPOSE_MATMUL] if helper else []) + ([LOG_SOFTMAX_SUM] if lsm else []) + parts)


def gradient_variables(derivation) -> dict:
    """param name -> the variable of its gradient: dW1 for W1, or _dW1 where a node of the graph is itself named
    dW1 (a custom layer's parameter may be), whose value dW1 holds."""
    roots = list(derivation.grads.values())
    taken = {str(n.name) for n in topo_order(derivation.model.J, more=roots) if n.name is not None}
    return {p: identifier(f"_d{p}" if f"d{p}" in taken else f"d{p}") for p in derivation.grads}


def _stats_entry(r) -> str:
    """A batch norm's μ and σ² in the dict batch_stats returns, σ² as running averages take it (unbiased)."""
    mu, var, centred = identifier(r.mu.name), identifier(r.var.name), identifier(r.centred.name)
    value = var if r.variance == "unbiased" else \
        f"{var} * ({centred}.size / {var}.size) / ({centred}.size / {var}.size - 1)"
    return f"{str(r.mu.name)!r}: {mu}, {str(r.var.name)!r}: {value}"


def batch_first_shapes(model) -> tuple:
    """(input shape, output shape) of one example, as the generated functions take x and y: batch-first
    whatever the convention (the columns convention's X and Y are the transposes of x and y)."""
    x = tuple(int(d) for d in model.input_shape)
    y = tuple(int(d) for d in model.Y.shape if d != m)
    return x, (y if model.convention == "rows" else y[::-1])


def shapes_source(model) -> str:
    """INPUT_SHAPE, OUTPUT_SHAPE and check_shapes: what every generated function checks x and y against."""
    x, y = batch_first_shapes(model)
    one_hot = model.Y.attrs.get("one_hot_axis") is not None
    return (f"# x (batch, *INPUT_SHAPE), y (batch, *OUTPUT_SHAPE){', one-hot' if one_hot else ''}\n"
            f"INPUT_SHAPE, OUTPUT_SHAPE, ONE_HOT = {x!r}, {y!r}, {one_hot!r}\n"
            f"PARAM_NAMES = {tuple(str(p.name) for p in model.params)!r}\n\n\n" + CHECK_SHAPES + "\n\n\n" + CHECK_PARAMS)


def windows_source() -> str:
    """The source of compile.lowering.windows without its docstring: convolution, pooling and their
    adjoints, for a generated module (which must not import derivax)."""
    import ast
    import inspect

    from compile.lowering import windows
    source = inspect.getsource(windows)
    tree = ast.parse(source)
    body = tree.body[1:] if ast.get_docstring(tree) else tree.body
    lines = source.splitlines()
    kept = [n for n in body if not (isinstance(n, ast.ImportFrom) and n.module == "__future__")]
    start = kept[0].lineno - 1 - len(getattr(kept[0], "decorator_list", []))
    return "# Convolution and pooling, forward and adjoint (from derivax's compile.lowering.windows)\n" + \
        "\n".join(lines[start:]).rstrip() + "\n"


def header(derivation, dtype: str, standalone: bool = False) -> str:
    """Imports, DTYPE and the model's constants (the L2 weight).

    A standalone float64 module turns on JAX's 64-bit mode as it is imported: without it every array
    would silently be float32. Inside derivax the caller sets the mode (``jax.enable_x64``)."""
    _known(dtype)
    lines = ["import jax", "import jax.numpy as jnp", "import numpy as np", ""]
    if dtype == "float64" and standalone:
        lines += ["# float64 needs JAX's 64-bit mode; without it jnp would silently compute in float32.",
                  'jax.config.update("jax_enable_x64", True)', ""]
    lines.append(f"DTYPE = jnp.{dtype}")
    for sym, value in derivation.model.constants.items():
        if not math.isfinite(float(value)):  # `LAM = inf` would not even import
            raise ValueError(f"the constant {sym} = {value} is not a finite number")
        lines.append(f"{identifier(CONSTANT_NAMES.get(sym, sym.name))} = {float(value)!r}  # {one_line(sym)}")
    return "\n".join(lines) + "\n"


def _known(dtype: str) -> None:
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")


def run_source(source: str, label: str) -> dict:
    """Execute generated source in a fresh namespace (its own imports bring jax and jnp).

    The source is ours: every name in it comes from the network (W1, Z2, ...), never from user text.
    It is registered with linecache so that tracebacks and ``inspect`` show the generated lines.
    """
    filename = f"<derivax {label}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"__name__": f"derivax_{label}"}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def check_dtype(dtype: str) -> None:
    """A dtype JAX can compute in now (float64 only in 64-bit mode)."""
    _known(dtype)
    import jax
    import numpy as np
    if dtype == "float64" and jax.dtypes.canonicalize_dtype(np.float64) != np.float64:
        raise ValueError("float64 needs JAX's 64-bit mode: jax.config.update('jax_enable_x64', True) "
                         "or `with jax.enable_x64(True):`")


@dataclass
class Lowered:
    """The jitted functions of a derivation (forward, loss, grads, loss_and_grads) and their source."""

    derivation: object
    dtype: str
    source: str
    namespace: dict = field(repr=False)

    def __getattr__(self, name):
        ns = self.__dict__.get("namespace", {})
        if name in ("forward", "loss", "grads", "loss_and_grads"):
            return ns[name]
        raise AttributeError(name)


def lower_nodes(outputs: dict, leaves, dtype: str = "float64"):
    """Any graph nodes as one jitted JAX function of the ``leaves`` (by name), returning a dict of
    ``outputs``: the lowering of a network's derivation, for graphs that are not a network (a custom
    layer's gradient, the per-op tests). Returns (function, source)."""
    from types import SimpleNamespace
    check_dtype(dtype)
    writer = FunctionWriter(SimpleNamespace(convention="rows", layers=[], params=[], masks=[]), "off")
    rewritten, writer.origin = stable(list(outputs.values()))  # log(A) from Z: derive.graph.stable
    outputs = dict(zip(outputs, rewritten))
    names = {node: f"out{k}" for k, node in enumerate(outputs.values())}
    writer.write([(names[node], node, None) for node in outputs.values() if node.op != "leaf"])
    names.update({node: identifier(node.name) for node in outputs.values() if node.op == "leaf"})  # returned as given
    args = [identifier(leaf.name) for leaf in leaves]
    if writer.uses_m:
        args.append("m")
    body = [f"    {line}" for line in writer.lines]
    ret = ", ".join(f"{key!r}: {names[node]}" for key, node in outputs.items())
    source = ("import jax\nimport jax.numpy as jnp\n\n" + f"DTYPE = jnp.{dtype}\n\n"
              + (TRANSPOSE_MATMUL + "\n\n" if writer.uses_transpose_matmul else "")
              + (LOG_SOFTMAX_SUM + "\n\n" if writer.uses_log_softmax_sum else "")
              + (windows_source() + "\n\n" if writer.uses_windows else "")
              + f"def graph({', '.join(args)}):\n" + "\n".join(body) + f"\n    return {{{ret}}}\n")
    import jax
    return jax.jit(run_source(source, "graph")["graph"]), source


def lower(derivation, dtype: str = "float32") -> Lowered:
    """Print ``derivation`` (a Derivation, or a Network or built Model, derived first) as JAX source, execute it and
    return the jitted functions."""
    from derive.reverse.derivation import as_derivation
    derivation = as_derivation(derivation, "lower")
    check_dtype(dtype)
    source = header(derivation, dtype) + "\n\n" + function_sources(derivation) + "\n"
    return Lowered(derivation, dtype, source, run_source(source, f"lowered {derivation.model.convention}"))

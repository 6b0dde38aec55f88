"""Reverse mode over the expression graph, with one backward rule per operation.

Each rule maps (node, adjoint of node) to the adjoints of its arguments; the loop visits nodes in
reverse topological order once, so the cost grows with the number of nodes (the depth), not with
the number of weights. The ``ew`` rule differentiates its SymPy expression with ``sympy.diff``: an
activation or loss nobody wrote a rule for derives through the same code as tanh does.

As it goes, the pass keeps a provenance record (``Step``): each adjoint it forms, each rewrite the
simplifier makes, and the rule that made it. The step-by-step view replays that record.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from derive.graph import build as G
from derive.graph.build import Node, constant_factor, ew, named, placeholder
from derive.network.functions import LOSS_TITLES, NetworkError
from derive.run.limits import TimeLimitExceeded
from derive.graph.names import Name, layer_of
from derive.graph.node import attr_items, renamable
from derive.graph.rules import CHAIN, START, Gradient, Math, Rule, rule
from derive.printing.show import show
from derive.ops import lookup
from derive.printing.document import print_rich, to_json, to_latex, to_markdown, to_text
from derive.run.worker import run

TIDY_SECONDS = 5.0     # per simplification; past it the expression stays as reverse mode formed it
TIDY_INLINE_OPS = 60   # expressions up to this many operations are simplified without a child process

ph = placeholder


@dataclass
class Step:
    """One line of the derivation: ``lhs = rhs`` because of ``rule``.

    ``lhs`` is ("grad", name) for dJ/d<name>, ("def", name) for a definition, or ("same", None) for a
    rewrite of the line above. ``rhs`` is a graph node, or a short text for a fact."""

    rule: tuple   # the Rule records (derive.graph.rules) that made the line, worded by the printers
    lhs: tuple
    rhs: object


@dataclass(frozen=True)
class Path:
    """One term of a node's adjoint: what its use by ``consumer`` sends back (``contribution``), from the
    consumer's own adjoint ``g``. A node used twice (X̄ by σ² and by X̂) sums two; a check of code that
    forgot one can name the path it left out."""

    consumer: Node
    g: Node
    contribution: Node


@dataclass
class Derivation:
    """Everything derived for one model: forward equations, loss, error signals, gradients, steps."""

    model: object
    deltas: dict = field(default_factory=dict)     # layer index -> named delta node
    grads: dict = field(default_factory=dict)      # param name -> gradient node
    steps: list = field(default_factory=list)
    adjoints: dict = field(default_factory=dict)   # named node -> its dJ/d node
    paths: dict = field(default_factory=dict)      # node -> [Path]: the terms its adjoint sums, one per use

    @property
    def forward(self):
        return self.model.forward

    @property
    def convention(self):
        return self.model.convention

    def __getitem__(self, name):
        if name not in self.grads:
            raise KeyError(f"no parameter {name!r}; the parameters are {', '.join(map(str, self.grads))}")
        return self.grads[name]

    def __contains__(self, name) -> bool:
        """Whether ``name`` is one of the parameters (what ``d[name]`` takes)."""
        try:
            return name in self.grads
        except TypeError:   # an unhashable value names no parameter
            return False

    def __iter__(self):
        """The parameters' names, in order (what ``d[name]`` takes)."""
        return iter(list(self.grads))

    @staticmethod
    def _flags(where: str, **flags) -> None:
        for key, value in flags.items():
            if not isinstance(value, bool):
                raise TypeError(f"{where}: {key} must be True or False, not {value!r}")

    def _params(self, params):
        if params is None:
            return None
        if not isinstance(params, str) and not hasattr(params, "__iter__"):
            raise TypeError(f"params must be a parameter's name or a list of names (of {', '.join(self.grads)}), "
                            f"not {params!r} ({type(params).__name__})")
        params = [params] if isinstance(params, str) else list(params)
        for p in params:
            if p not in self.grads:
                raise KeyError(f"no parameter {p!r}; the parameters are {', '.join(self.grads)}")
        return params

    def text(self, params=None, steps=False, width=100, unroll=False) -> str:
        """Plain text: one panel per section (forward, loss, error signals, gradients, steps);
        ``unroll`` adds each recurrent layer written out at every step."""
        self._flags("Derivation.text", steps=steps, unroll=unroll)
        return to_text(self, self._params(params), steps, width, unroll)

    def latex(self, params=None, steps=False, unroll=False) -> str:
        self._flags("Derivation.latex", steps=steps, unroll=unroll)
        return to_latex(self, self._params(params), steps, unroll)

    def markdown(self, params=None, steps=False, unroll=False) -> str:
        self._flags("Derivation.markdown", steps=steps, unroll=unroll)
        return to_markdown(self, self._params(params), steps, unroll)

    def json(self, params=None) -> str:
        return to_json(self, self._params(params))

    def print(self, params=None, steps=False, console=None, unroll=False):
        """Print to the terminal with rich."""
        self._flags("Derivation.print", steps=steps, unroll=unroll)
        print_rich(self, self._params(params), steps, console, unroll)

    def _repr_latex_(self):
        from derive.printing.document import to_jupyter_latex   # each section under its heading, long rows broken
        return to_jupyter_latex(self)

    def _repr_markdown_(self):
        return self.markdown()

    def _repr_pretty_(self, p, cycle):   # IPython's plain display: the text view, not a dump of the record
        p.text(repr(self) if cycle else self.text())

    def __repr__(self):
        m = self.model
        deltas = ", ".join(str(d.name) for _, d in sorted(self.deltas.items(), reverse=True))
        return (f"<Derivation of {m.size_text} ({m.convention}, loss {m.loss_name}): gradients "
                f"{', '.join(self.grads)}" + (f"; error signals {deltas}" if deltas else "") + ">")

    def __str__(self):
        return self.text()


def _layer_of(node: Node):
    return layer_of(node.name)


# ---- the record of each backward rule (the rules themselves are the ops', in derive.ops; their words
# are the printers', in derive.printing.rules) ----

def _ew_rule(node, arg, ctx):
    if node.role == "act":
        return rule("activation", function=ctx.fname(node), layer=_layer_of(node))
    if node.role == "loss_entry":
        return rule("loss_derivative", loss=LOSS_TITLES.get(ctx.model.loss_name, ctx.model.loss_name))
    if node.role == "pre" and arg.role == "param":
        if sp.diff(node.attrs["expr"], ph(node.args.index(arg))) != 1:   # γ of γ ⊙ X̂ + β
            return rule("scale_sum", param=arg.name)
        return rule("bias_sum_positions" if node.rank > 2 else "bias_sum", param=arg.name)
    if node.role == "pre":
        return rule("through", name=node.name)
    if node.role == "decay":
        return rule("decay", decay=DECAY_MATH[getattr(ctx.model, "l2_form", "lambda/(2m)")])
    if node.role == "loss":
        return rule("dJ")
    return CHAIN


DECAY_MATH = {"lambda/(2m)": Math("(λ/2m) Σ W²", r"\frac{\lambda}{2m} \sum W^2"),
              "lambda/2": Math("(λ/2) Σ W²", r"\frac{\lambda}{2} \sum W^2"),
              "lambda": Math("λ Σ W²", r"\lambda \sum W^2")}
SOFTMAX_IDENTITY = Math("S ⊙ (G − Σₖ G ⊙ S)", r"S \odot (G - \sum_k G \odot S)")
RULE_RECORDS = {
    "matmul": lambda node, arg, ctx: rule("product", product=node),
    "T": lambda node, arg, ctx: rule("transpose"),
    "sum": lambda node, arg, ctx: rule("sum"),
    "softmax": lambda node, arg, ctx: rule("softmax", layer=_layer_of(node), identity=SOFTMAX_IDENTITY),
    "ew": _ew_rule,
    "reshape": lambda node, arg, ctx: rule("reshape"),
    "permute": lambda node, arg, ctx: rule("permute"),
    "conv": lambda node, arg, ctx: rule("convolution", conv=node),
    "max_pool": lambda node, arg, ctx: rule("max_pool"),
    "avg_pool": lambda node, arg, ctx: rule("avg_pool"),
    "scan": lambda node, arg, ctx: rule("scan", layer=node.attrs["cell"].layer),
    "slice": lambda node, arg, ctx: rule("slice"),
    "pad": lambda node, arg, ctx: rule("pad"),
    "concat": lambda node, arg, ctx: rule("concat"),
    "take": lambda node, arg, ctx: rule("take"),
    "bmm": lambda node, arg, ctx: rule("product", product=node),
    "causal": lambda node, arg, ctx: rule("causal"),
    "scatter_add": lambda node, arg, ctx: rule("scatter_add"),
}


class _Context:
    def __init__(self, model, printer):
        self.model, self.steps, self._printer, self.rules_seen = model, [], printer, {}
        self.delta_factor = None   # the constant left out of the first error signal named (the output's)

    def show(self, node):
        if self._printer is None:
            self._printer = show
        return self._printer(node)

    def rule(self, kind, node, arg=None) -> Rule:
        """The record of the backward rule of ``kind`` at ``node`` (for the operand ``arg``)."""
        make = RULE_RECORDS.get(kind)
        return make(node, arg, self) if make else Rule(kind)

    def derivative_through(self, node, before, after):
        """Record that the derivative of ``node``'s function is written through ``node`` itself."""
        self.steps.append(Step((rule("written_through", function=self.fname(node), name=node.name),),
                               ("through", self.fname(node)), (before, after)))

    def derivative_of(self, node, derivative):
        """Record the derivative of ``node``'s function, in its argument alone (relu′(Z) = step(Z)); a function
        written as a formula in z has no name to prime, and its derivative shows in the chain rule's line."""
        if not str(self.fname(node)).isidentifier():
            return
        self.steps.append(Step((rule("derivative_of", function=self.fname(node)),), ("through", self.fname(node)),
                               (derivative, None)))

    def partial_through(self, node, arg, before, after):
        """Record that ∂node/∂arg is written through ``node`` itself (∂X̂₂/∂σ₂ = −X̂₂ ⊘ σ₂)."""
        self.steps.append(Step((rule("partial_through", name=node.name),), ("partial", (node.name, arg.name)),
                               (before, after)))

    def fname(self, node):
        if not hasattr(self, "_activations"):  # one lookup table, not a scan of the layers per node
            self._activations = {l.index: l.activation for l in self.model.layers}
        return self._activations.get(_layer_of(node), "the function")


def tidy(node: Node, steps: list, why: Rule) -> Node:
    """Simplify an anonymous ``ew`` node's expression: the shortest of it, cancel() and factor()."""
    if node.op != "ew" or node.name is not None or not node.args:
        return node
    expr = node.attrs["expr"]
    best = _SHORTEST.get(expr)
    if best is None:
        best = expr
        for candidate in _simplified(expr):
            if sp.count_ops(candidate) < sp.count_ops(best):
                best = candidate
        if expr in _SIMPLIFIED:   # kept only where the simplified forms were (not past a time limit)
            _SHORTEST[expr] = best
    if best == expr:
        return node
    after = ew(best, node.args, shape=node.shape)
    steps.append(Step((why,), ("same", None), after))
    return after


def through_candidates(model) -> list:
    """The named forward nodes that are a product of powers of two or more operands (X̂ = X̄ ⊘ σ): an
    adjoint that holds the same product is written through the node (X̄ ⊘ σ² as X̂ ⊘ σ)."""
    out = []
    for n in model.forward:
        if n.op == "ew" and n.name and len(n.args) >= 2:
            expr = n.attrs["expr"]
            factors = sp.Mul.make_args(expr)
            if all(f.is_Symbol or (f.is_Pow and f.base.is_Symbol and f.exp.is_Integer) for f in factors):
                out.append(n)
    return out


def write_through(node: Node, candidates, steps: list) -> Node:
    """``node`` (an anonymous elementwise adjoint) with each candidate's product written as its name.
    ``subs`` is algebraic and can be slow on a long expression: one longer than the simplifier takes
    inline (TIDY_INLINE_OPS) is left as it is, as tidy leaves it past its time limit."""
    if node.op != "ew" or node.name is not None or not node.args or not candidates:
        return node
    if sp.count_ops(node.attrs["expr"]) > TIDY_INLINE_OPS:
        return node
    for n in candidates:
        if not set(n.args) <= set(node.args):
            continue
        expr = node.attrs["expr"]
        pattern = n.attrs["expr"].xreplace({ph(i): ph(node.args.index(a)) for i, a in enumerate(n.args)})
        slot = ph(len(node.args))
        new = expr.subs(pattern, slot)
        if slot not in new.free_symbols or sp.count_ops(new) > sp.count_ops(expr):
            continue
        before = node
        node = ew(new, [*node.args, n], shape=node.shape)
        steps.append(Step((rule("written_as", name=n.name, definition=ew(n.attrs["expr"], n.args,
                                                                           shape=n.shape)),), ("same", None), node))
        del before
    return node


_SIMPLIFIED: dict = {}   # expression -> its simplified forms: the layers of a deep network repeat theirs
_SHORTEST: dict = {}     # expression -> the shortest of it and its simplified forms
_SIMPLIFIED_MAX = 4096


def _simplified(expr) -> list:
    """cancel(expr) and factor(expr). Both expand products of sums: on a long formula that can take
    minutes, so a long one is simplified in a child process (``derive.run.worker``) with a time limit,
    and past it stays as reverse mode formed it (as correct, only longer). A short one, every
    expression of a textbook network, is simplified here: a fork would cost more than the work.

    The forms are kept per expression (operands are placeholders, so every tanh layer's δ has the same
    one): 20 layers of one width simplify one formula, not 20 (a time limit's empty answer is not kept)."""
    if expr in _SIMPLIFIED:
        return list(_SIMPLIFIED[expr])
    short, sums = _sums_named(expr)
    if sp.count_ops(short) <= TIDY_INLINE_OPS:
        forms = _cancel_and_factor(short)
    else:
        try:
            forms = run(_cancel_and_factor, short, seconds=TIDY_SECONDS, what="simplifying")
        except TimeLimitExceeded:
            return []
    if sums:   # cancel()'s form has its numerator and denominator expanded: the sums too
        forms = [f.xreplace(sums) for f in forms]
        top, bottom = forms[0].as_numer_denom()
        forms[0] = sp.expand(top) / sp.expand(bottom)
    if len(_SIMPLIFIED) >= _SIMPLIFIED_MAX:
        _SIMPLIFIED.clear()
        _SHORTEST.clear()
    _SIMPLIFIED[expr] = tuple(forms)
    return list(forms)


def _cancel_and_factor(expr) -> list:
    return [sp.cancel(expr), sp.factor(expr)]


SUM_TERMS = 4   # a sum of this many operands or more, each times a constant, is one symbol to cancel() and factor()


def _sums_named(expr) -> tuple:
    """(``expr`` with each sum of SUM_TERMS or more operands, each times a constant, written as its common
    constant times one new symbol; {symbol: the sum}). The adjoint of a layer that many later layers read
    (dense skip connections) is such a sum, (2/m)(a₀ + a₁ + ... + aₙ), one operand per reader: cancel() and
    factor() of a polynomial in all of them took time growing faster than their number (a network of 40 such
    layers derived in 5.5 s, 0.9 s so), and as one symbol the sum costs what one operand does. A sum of operands has no
    factor of its own to find, so factor() finds the same factors; cancel()'s form is expanded again after."""
    sums: dict = {}    # symbol -> the sum it stands for
    names: dict = {}   # the sum -> its symbol: a sum met twice is one symbol

    def linear(term) -> bool:
        operands = [f for f in sp.Mul.make_args(term) if any(G.is_placeholder(x) for x in f.free_symbols)]
        return len(operands) == 1 and G.is_placeholder(operands[0])

    def walk(e):
        if e.is_Add:
            terms = [t for t in e.args if linear(t)]
            if len(terms) >= SUM_TERMS:   # the sum of those terms, the others as they are
                return sp.Add(name(sp.Add(*terms)), *[walk(t) for t in e.args if not linear(t)])
        if not e.args or e.is_Atom:
            return e
        args = [walk(a) for a in e.args]
        return e if all(a is b for a, b in zip(args, e.args)) else e.func(*args)

    def name(total):
        factors = []
        for f in sp.Mul.make_args(sp.factor_terms(total)):   # (2/m) a₀ + (2/m) a₁ + ... as (2/m)(a₀ + a₁ + ...)
            if f.is_Add:
                if f not in names:   # named as its first operand, so that it sorts where the sum would
                    first = next(x for x in f.as_ordered_terms()[0].free_symbols if G.is_placeholder(x))
                    names[f] = sp.Dummy(first.name)
                    sums[names[f]] = f
                f = names[f]
            factors.append(f)
        return sp.Mul(*factors)

    return walk(expr), sums


def _accumulate(contribs):
    nodes = [c for c, _ in contribs]
    if len(nodes) == 1:
        return nodes[0]
    return ew(sp.Add(*[ph(i) for i in range(len(nodes))]), nodes)


class _Plain:
    """Reverse mode's context where nothing is worded or recorded (``gradients``)."""

    def rule(self, kind, node, arg=None):
        return CHAIN

    def derivative_through(self, node, before, after):
        pass

    def partial_through(self, node, arg, before, after):
        pass


def gradients(J: Node, wrt=None, adjoint=None, ctx=None) -> dict:
    """dJ/dx for each leaf x of ``wrt``: plain reverse mode over any graph whose root J has one
    entry, through each operation's own backward rule. No names, no steps: the derivation of a
    network (``derive``) is this, plus the naming of error signals and the record of each step.
    ``adjoint(node, g)``, if given, sees each node's adjoint once formed and returns the one to use
    (a recurrence's step names its error signals there). ``ctx`` words the rules (default: none);
    one with a ``seen`` dict collects, per node, the rules of the contributions to its adjoint."""
    if not isinstance(J, Node):
        if _is_network(J) or _is_model(J):
            raise NetworkError(f"gradients: J must be the root Node of a graph (with one entry), not a "
                               f"{type(J).__name__}; for a network's gradients use derive(net)")
        raise NetworkError(f"gradients: J must be the root Node of a graph (with one entry), not {J!r}")
    if any(d != 1 for d in J.shape):
        raise NetworkError(f"gradients: J must have one entry, and {J!r} is {J.shape}")
    if isinstance(wrt, Node) or not hasattr(wrt, "__iter__"):
        raise NetworkError(f"gradients: wrt must be a list of the graph's Nodes, not {wrt!r}")
    wrt = list(wrt)
    for k, x in enumerate(wrt):
        if not isinstance(x, Node):
            raise NetworkError(f"gradients: wrt[{k}] must be a Node of the graph, not {x!r}")
    order = G.topo_order(J)
    needs = set(wrt)
    for node in order:
        if any(a in needs for a in node.args):
            needs.add(node)
    adj = {J: [ew(sp.Integer(1), [], shape=J.shape)]}
    ctx, out = ctx or _Plain(), {}
    seen = getattr(ctx, "seen", None)
    for node in reversed(order):
        if node not in adj or node not in needs:
            continue
        parts = adj.pop(node)
        g = parts[0] if len(parts) == 1 else ew(sp.Add(*[ph(i) for i in range(len(parts))]), parts)
        if adjoint is not None:
            g = adjoint(node, g)
        if node in wrt:
            out[node] = g
            continue
        for arg, contrib, why in lookup(node.op).vjp(node, g, ctx):
            if arg in needs:
                adj.setdefault(arg, []).append(contrib)
                if seen is not None:
                    seen.setdefault(arg, []).append(why)
    return {x: out.get(x, ew(sp.Integer(0), [], shape=x.shape)) for x in wrt}


def _is_network(value) -> bool:
    """A declared network (derive.network.network.Network, which imports this module: known by its type's name)."""
    return any(t.__name__ == "Network" and t.__module__ == "derive.network.network" for t in type(value).__mro__)


def _is_model(value) -> bool:
    """A built network (derive.network.network.Model)."""
    return any(t.__name__ == "Model" and t.__module__ == "derive.network.network" for t in type(value).__mro__)


def as_derivation(value, taker: str, arg: str = "its argument") -> Derivation:
    """The Derivation a function that reads one is given: a Derivation as it is, a Network or a built Model
    derived (a Network in the rows convention, as ``net.derive()``); anything else refused, naming the function."""
    if isinstance(value, Derivation):
        return value
    if _is_network(value) or _is_model(value):
        return derive(value)
    raise NetworkError(f"{taker}: {arg} must be a Network, a built Model (net.build()) or a Derivation "
                       f"(net.derive()), not {value!r}")


def derive(model, printer=None) -> Derivation:
    """Reverse mode from the loss J to every parameter of ``model``: a built Model (``net.build()``), or a
    Network (derived in the rows convention, as ``net.derive()``)."""
    if _is_network(model):
        model = model.build()
    if not _is_model(model):
        raise NetworkError(f"derive: its argument must be a Network or a built Model (net.build()), not {model!r}")
    ctx = _Context(model, printer)
    order = G.topo_order(model.J)
    params = set(model.params)
    needs = set(params)
    for node in order:  # the nodes on a path to some parameter: the only adjoints worth forming
        if any(a in needs for a in node.args):
            needs.add(node)
    adj = {model.J: [(ew(sp.Integer(1), [], shape=(1, 1)), START)]}
    result = Derivation(model)
    last = model.layers[-1].index
    through = through_candidates(model)
    G._RECORDERS.append([])
    try:
        for node in reversed(order):
            if node not in adj or node not in needs:
                continue
            g = _accumulate(adj.pop(node))
            rules = ()
            if node.name and node is not model.J:
                rules = _rules_for(node, ctx)
            if node.role == "pre":
                g = _name_delta(node, g, rules, ctx, result, last, through)
            elif node.name and node is not model.J:
                _flush_records(ctx)
                ctx.steps.append(Step(rules, ("grad", node.name), g))
                g = write_through(g, through, ctx.steps)
                if node.role in TIDIED:
                    g = tidy(g, ctx.steps, rule("simplify"))
                if node.role in NAMED_ADJOINTS:
                    g = _name_adjoint(node, g, ctx)
                result.adjoints[node] = g
            if node.role == "param":
                result.grads[node.name] = g
                continue
            for arg, contrib, why in lookup(node.op).vjp(node, g, ctx):
                if arg in needs:
                    adj.setdefault(arg, []).append((contrib, why))
                    ctx.rules_seen.setdefault(arg, []).append(why)
                    result.paths.setdefault(arg, []).append(Path(node, g, contrib))
    finally:
        _flush_records(ctx)
        G._RECORDERS.pop()
    result.steps = ctx.steps
    result.grads = {p.name: result.grads[p.name] for p in model.params if p.name in result.grads}
    missing = [p.name for p in model.params if p.name not in result.grads]
    for name in missing:  # a parameter J does not depend on: its gradient is zero
        p = next(q for q in model.params if q.name == name)
        result.grads[name] = ew(sp.Integer(0), [], shape=p.shape)
    return result


def _rules_for(node, ctx):
    seen = ctx.rules_seen.get(node, [])
    rules = tuple(r for r in dict.fromkeys(seen) if r not in (CHAIN, START))
    return rules or (CHAIN,)


def _flush_records(ctx):
    for why, fact in G._RECORDERS[-1]:
        ctx.steps.append(Step((why,), ("fact", None), fact))
    G._RECORDERS[-1].clear()


# Adjoints simplified once formed (a parameter's gradient; a centred node's, so that the sum over the
# batch its mean sends back finds Σᵢ X̂ = 0), and adjoints given a name of their own (∂J/∂X̂, as courses
# write dx̂ = γ ⊙ dy and reuse it).
TIDIED = frozenset({"param", "centred"})
NAMED_ADJOINTS = frozenset({"normalized", "weights", "scores", "query", "key", "value"})


def _name_adjoint(node, g, ctx):
    """∂J/∂``node`` as a node of its own, printed ∂J/∂X̂₂ and evaluated once."""
    _flush_records(ctx)
    inner = renamable(g)
    attrs = attr_items({**inner.attrs, "of": node.name})
    return Node(inner.op, inner.args, inner.shape, attrs, Name("d" + node.name.base, node.name.layer), "adjoint")


def _negated(node: Node):
    """−node with the sign taken into one of its factors (A − 1 becomes 1 − A) or its sum, so that the
    error signal keeps the sign of ∂J/∂Z; None where −1 has nowhere natural to go."""
    if node.op != "ew" or node.name is not None:
        return None
    expr = node.attrs["expr"]
    if expr.is_Add:
        return ew(-expr, node.args, shape=node.shape)
    if expr.is_Mul:
        factors = list(expr.args)
        # the factor that reads better negated: one with a negative constant (A − 1 → 1 − A), else one SymPy
        # itself would write with a leading minus
        for test in (lambda f: f.as_coeff_Add()[0].is_negative, lambda f: f.could_extract_minus_sign()):
            for k, f in enumerate(factors):
                if f.is_Add and test(f):
                    factors[k] = -f
                    return ew(sp.Mul(*factors), node.args, shape=node.shape)
    return None


def _scaled(node, k):
    """k ⊙ ``node``, the constant taken into an anonymous elementwise node's own expression."""
    if node.op == "ew" and node.name is None:
        return ew(k * node.attrs["expr"], node.args, shape=node.shape)
    return ew(k * ph(0), [node], shape=node.shape)


def _name_delta(node, g, rules, ctx, result, last, through=()):
    """Name the error signal delta_l = dJ/dZ_l without its constant factor (the 1/m of the mean)."""
    l = _layer_of(node)
    _flush_records(ctx)
    ctx.steps.append(Step(rules, ("grad", node.name), g))
    why = rule("simplify")
    if l == last and ctx.model.layers[-1].activation in ("softmax", "sigmoid") \
            and ctx.model.loss_name in ("ce", "bce"):
        why = rule("cancellation", activation=ctx.model.layers[-1].activation,
                   loss=LOSS_TITLES[ctx.model.loss_name])
    g = tidy(write_through(g, through, ctx.steps), ctx.steps, why)
    c, rest = constant_factor(g)
    if ctx.delta_factor is None:
        if c.could_extract_minus_sign():   # δ as textbooks write it: (A − Y) ⊙ A ⊙ (1 − A), not −A ⊙ (A − 1) ⊙ (A − Y)
            flipped = _negated(rest)
            if flipped is not None:
                c, rest = -c, flipped
        ctx.delta_factor = c
    else:
        # Every error signal leaves out the same constant as the output's (the 1/m of the mean, a loss's
        # own factor), so that δ₁ = (δ₂ W₂ᵀ) ⊙ f′(Z₁) holds as printed: a constant of an activation's
        # derivative (2 tanh(z), gelu's 1/2, LeCun's 1.7159 tanh(2z/3)) stays inside δ, where a student's
        # δ has it, not in the gradients.
        k = sp.cancel(c / ctx.delta_factor)   # two constants: a cancellation, no search
        if k != 1 and k.is_number and k.is_finite:
            rest = _scaled(rest, k)
            c = ctx.delta_factor
    delta = named(rest, Name("delta", l), "delta")
    ctx.steps.append(Step((rule("name_delta", delta=delta.name, gradient=Gradient(node.name)),),
                          ("def", delta.name), rest))
    result.deltas[l] = delta
    adj = ew(c * ph(0), [delta])
    result.adjoints[node] = adj
    return adj

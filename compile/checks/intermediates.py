"""Checking a backward pass tensor by tensor: the adjoints of named intermediate nodes, and why one is wrong.

A backward function may return, beside the parameter gradients, ∂J/∂N for named nodes N of the forward
pass: under ``d`` + the printed name (``dZ5``, ``dA4``, ``dxhat4``, ``dvar4``), under a name the user maps
to one (``{"dlogits": "Z5"}``), or in a course's own spelling (``course_names``: the makemore exercise's
dlogits, dprobs, dbnraw, dhpreact, dembcat, ...; ``bare_names``: the same under its tensors' names, logits, h). Each returned one is compared with the derived adjoint,
and the report names the first that departs, in the order the backward pass computes them: the ones
before it are right, so its mistake is its own.

Why it departs is read off the derivation (``Derivation.paths``): a node's adjoint sums one term per use
of the node, so code that matches the sum with one term left out forgot that path (the mean path of batch
norm, a node used twice); one whose term through an op matches a mistake people make with that op (a
softmax Jacobian reduced to its diagonal, an embedding's rows assigned instead of accumulated: each op's
``mistakes`` entry) made that mistake; a term off by N/(N − 1) mixed the variance's two forms.
"""
from __future__ import annotations

import numpy as np

from compile.checks.factor import close


def intermediate_nodes(d) -> dict:
    """{key: node} for every named forward node whose adjoint the derivation forms, keyed d<name>."""
    model = d.model
    out = {}
    for node in model.forward:
        if node.name is None or node is model.J or node not in d.adjoints:
            continue
        out["d" + str(node.name)] = node
    return out


def course_names(model) -> dict:
    """The makemore backprop exercise's names, {key: node name}, for a network of its shape: an
    embedding, a flatten, a dense layer, batch norm, and a dense softmax output; or of its MLP before batch
    norm came in (hpreact = embcat @ W1 + b1, h = tanh(hpreact), logits = h @ W2 + b2). Empty for any other."""
    kinds = [layer.kind for layer in model.layers]
    if kinds == ["embedding", "flatten", "dense", "dense"] and model.layers[2].activation != "identity":
        emb, cat, hidden, out = model.layers
        names = {"demb": emb.A.name, "dembcat": cat.A.name, "dhpreact": hidden.Z.name, "dh": hidden.A.name,
                 "dlogits": out.Z.name, "dprobs": out.A.name,
                 "dC": f"C{emb.index}", "dW1": hidden.W.name, "dW2": out.W.name}
        for key, layer in (("db1", hidden), ("db2", out)):
            if layer.b is not None:
                names[key] = layer.b.name
        return names
    if kinds != ["embedding", "flatten", "dense", "batch_norm", "dense"]:
        return {}
    emb, cat, lin, bn, out = model.layers
    l = bn.index
    names = {"demb": emb.A.name, "dembcat": cat.A.name, "dhprebn": lin.A.name, "dbnmeani": f"mu{l}",
             "dbndiff": f"xc{l}", "dbnvar": f"var{l}", "dbnraw": f"xhat{l}", "dhpreact": bn.Z.name, "dh": bn.A.name,
             "dlogits": out.Z.name, "dprobs": out.A.name,
             "dC": f"C{emb.index}", "dW1": lin.W.name, "dW2": out.W.name, "dbngain": f"gamma{l}", "dbnbias": f"beta{l}"}
    if lin.b is not None:
        names["db1"] = lin.b.name
    if out.b is not None:
        names["db2"] = out.b.name
    return names


# Names code gives a layer's parameters besides derivax's own: a batch norm's scale and shift as the
# makemore exercise and PyTorch call them, an embedding's table.
SYNONYMS = {"gamma": ("bngain", "gain", "scale"), "beta": ("bnbias", "shift"), "C": ("emb", "E")}


def param_aliases(model) -> dict:
    """{spelling: parameter name}: the names code reads the network's parameters under, besides derivax's.

    - letters alone, for a name no other parameter shares the letters of (Wxh for Wxh1, C for C1, gamma for
      gamma4), and their synonyms (bngain for gamma4);
    - counted among their kind (W1 for the first weight matrix, W3 after an embedding and a flatten; W2 for
      the second), where derivax has no parameter of that name;
    - a recurrent network's output layer as char-rnn names it (Why, by).
    Spellings that would name two parameters are left out, and so is a synonym that names one of the makemore
    exercise's tensors in a network of its shape (``course_names``): there emb = C[Xb] is the rows looked up, an
    intermediate, and C alone names the table."""
    import re
    names = [str(p.name) for p in model.params]
    tensors = {key[1:] for key, target in course_names(model).items() if str(target) not in names}
    groups = {}
    for n in names:
        match = re.fullmatch(r"([A-Za-z_]+?)(\d+)", n)
        if match:
            groups.setdefault(match.group(1), []).append(n)
    found = {}

    def add(key, name):
        if key not in names:
            found.setdefault(key, set()).add(name)
    for letters, members in groups.items():
        for spelling in (letters,) + tuple(other for other in SYNONYMS.get(letters, ()) if other not in tensors):
            if len(members) == 1:
                add(spelling, members[0])
            for k, n in enumerate(members, 1):
                add(f"{spelling}{k}", n)
    layers = list(model.layers)
    for layer in layers:   # CS231n's rnn_forward(x, h0, Wx, Wh, b): a simple recurrent layer's weights
        if layer.kind == "recurrent" and getattr(layer, "cell", None) is not None and layer.cell.kind == "SimpleRNN":
            for key, stem in (("Wx", "Wxh"), ("Wh", "Whh"), ("b", "bh")):
                mine = [n for n in names if n == f"{stem}{layer.index}"]
                if mine:
                    add(key, mine[0])
    for before, layer in zip(layers, layers[1:]):
        if before.kind == "recurrent" and layer.kind == "dense" and layer is layers[-1]:
            for key, node in (("Why", layer.W), ("Wy", layer.W), ("by", layer.b)):
                if node is not None:
                    add(key, str(node.name))
    return {k: next(iter(v)) for k, v in found.items() if len(v) == 1}


def aligned_aliases(model) -> dict:
    """{spelling: bias name}: bK read as the bias of the layer WK names (W counted among the weight matrices, as
    ``param_aliases`` counts them), where that differs from bK counted among the biases. Code for a network whose
    first layer has no bias names its biases so (the makemore exercise's C, W1, W2, b2, bngain, bnbias, b2 the
    output layer's), where counting would make b1 the output layer's. Spellings that are derivax's own names are
    left out. Which of the two readings a function takes is told by the names it reads
    (``compile.checks.readings.reads_biases_aligned``)."""
    import re
    names = [str(p.name) for p in model.params]
    weights = [n for n in names if re.fullmatch(r"W\d+", n)]
    biases = [n for n in names if re.fullmatch(r"b\d+", n)]
    bias_of = {str(layer.W.name): str(layer.b.name) for layer in model.layers
               if getattr(layer, "W", None) is not None and getattr(layer, "b", None) is not None}
    out = {}
    for k, w in enumerate(weights, 1):
        key = f"b{k}"
        counted = biases[k - 1] if k <= len(biases) else None
        if key in names or w not in bias_of or bias_of[w] == counted:
            continue
        out[key] = bias_of[w]
    return out


def bare_names(model) -> dict:
    """{key: node name}: the makemore exercise's intermediates under the names of its tensors (logits, h, hpreact,
    probs, bnraw, ...), as its cmp('logits', dlogits, logits) names each gradient by the tensor it is taken of, for a
    network of its shape: emb the rows the embedding looked up (emb = C[Xb]), its table named by C. A name that also
    spells a parameter is left out."""
    params = {str(p.name) for p in model.params}
    spelled = set(param_aliases(model))
    return {key[1:]: target for key, target in course_names(model).items()
            if str(target) not in params and key[1:] not in params and key[1:] not in spelled}


def resolve(d, mapping=None) -> tuple:
    """(intermediates {key: node}, parameter aliases {key: parameter name}): the d<name> keys, the course
    spellings of this network's shape (with or without their d: ``bare_names``), then ``mapping`` ({key: node or
    parameter name}, with or without the d), which wins. Raises ValueError naming a mapped name the network does
    not have."""
    nodes = intermediate_nodes(d)
    by_name = {str(n.name): n for n in nodes.values()}
    params = {str(p.name) for p in d.model.params}
    inter, aliases = dict(nodes), {}
    for key, name in param_aliases(d.model).items():   # grads["dW1"] or grads["W1"] for the first W
        for spelled in ("d" + key, key):
            if spelled not in inter and spelled not in params:
                aliases[spelled] = name
    for source in (course_names(d.model), bare_names(d.model), mapping or {}):
        for key, target in source.items():
            if not isinstance(key, str) or not isinstance(target, str):
                raise ValueError(f"names: map keys to node names (text), not {key!r}: {target!r}")
            name = target[1:] if target.startswith("d") and target[1:] in by_name.keys() | params else target
            if name in params:
                aliases[key] = name
            elif name in by_name:
                inter[key] = by_name[name]
            elif source is mapping:
                known = ", ".join(sorted(by_name) + sorted(params))
                raise ValueError(f"names: {key!r} maps to {target!r}, which this network does not have; its nodes "
                                 f"with adjoints and its parameters: {known}")
    return inter, aliases


def backward_order(d, nodes) -> list:
    """``nodes`` in the order the backward pass forms their adjoints: the last forward node first."""
    from derive.graph.node import topo_order
    rank = {n: k for k, n in enumerate(topo_order(d.model.J))}
    return sorted(nodes, key=lambda n: -rank.get(n, -1))


def references(d, nodes, values, m, dz_delta=False) -> dict:
    """node -> the value of its derived adjoint at ``values`` (NumPy, float64); with ``dz_delta`` each as the
    courses write it: a layer's Z takes its error signal δ (∂J/∂Z without its constant factor: the courses'
    dZ), and every other named node's adjoint loses that factor too (dA1 = W2ᵀ dZ2)."""
    from compile.lowering.evaluate import evaluate
    nodes = list(nodes)
    if dz_delta:   # every d-name as the courses compute it: dZ2 = δ2, dA1 = W2ᵀ dZ2 (no 1/m)
        from derive.formula.matrix_names import course_reading
        course = course_reading(d)[0]
        adjoints = course.adjoints if course is not None else d.adjoints
    else:
        adjoints = d.adjoints
    got = evaluate([adjoints[n] for n in nodes], values, m, d.model.constants)
    if dz_delta:   # the notebook's dA of a layer with dropout is taken after its mask: dA ⊙ D / keep_prob
        masked = {layer.A: layer.mask for layer in d.model.layers if getattr(layer, "mask", None) is not None}
        got = [g * values[masked[n]] if n in masked and masked[n] in values else g for n, g in zip(nodes, got)]
    return dict(zip(nodes, got))


def initial_state(d, values, m) -> tuple | None:
    """(the state's printed name, h1_at0; ∂J/∂h⟨0⟩ at ``values``, (m, units)) for the network's first recurrent
    layer, whose forward starts from h⟨0⟩ = 0: σ⟨1⟩ = ∂J/∂h⟨1⟩ from the derivation's backprop through time, sent back
    by the derived step's own backward (what step 1 sends the state before it), in NumPy. An LSTM's state (h, c):
    h's part. None where the network has no recurrence."""
    from compile.lowering.evaluate import evaluate
    from derive.ops.scan import cell_backward
    model = d.model
    layer = next((l for l in model.layers if l.kind == "recurrent" and getattr(l, "cell", None) is not None), None)
    if layer is None:
        return None
    cell = layer.cell
    sums = [d.grads.get(p.name) for p in model.params]
    bptt = next((g.args[0] for g in sums if g is not None and g.op == "time_sum" and g.args[0].op == "bptt"
                 and g.attrs.get("cell") is cell), None)
    if bptt is None:
        return None
    sigma, xs, states, *params = evaluate([bptt, *bptt.args[1:]], values, m, model.constants)
    first = xs.shape[1] - 1 if cell.reverse else 0   # the step the recurrence starts at
    back = cell_backward(cell)
    at = {**{leaf: sigma[:, first, a:b] for leaf, a, b in back.adj_parts},
          cell.prev: np.zeros((m, int(cell.prev.shape[1]))), cell.x: xs[:, first], cell.new: states[:, first],
          **dict(zip(cell.params, params))}
    sent = np.asarray(evaluate([back.d_prev], at, m, model.constants)[0], float)
    units = cell.part_units if cell.parts else cell.units
    part = cell.parts[0] if cell.parts else cell.new.name.base
    return f"{part}{layer.index}_at0", sent[:, :units]


def _delta_of(d, node):
    """The error signal δ_l named for Z_l, or None."""
    if node.role != "pre":
        return None
    return d.deltas.get(getattr(node.name, "layer", None))


# How many ops back a known mistake is looked for: from a weight W1 through X W1, Z1 = X W1 + b1 and
# A1 = f(Z1), where a wrong derivative of f sits.
DEPTH = 4
# How many ops back a later layer's mistake is looked for where none within DEPTH explains a weight's gradient: to
# the activation of the layer after the weight's own (W1 through Z1, A1, A1 W2 and Z2 to A2 = f(Z2)), and one further.
FURTHER = DEPTH + 3


def mistake_variants(d, node, values, m, depth=DEPTH) -> list:
    """[(words, value)]: the adjoint of ``node`` as code with one known mistake computes it (one path
    of several left out, one path's term off by N/(N − 1), one op's backward rule mistaken up to ``depth`` ops on)."""
    from compile.lowering.evaluate import evaluate
    paths = d.paths.get(node, [])
    out = []
    delta = _delta_of(d, node)
    if delta is not None:   # the courses' dZ is m ∂J/∂Z: δ, times a loss's own factor (a squared error's 2)
        from derive.formula.matrix_names import course_reading
        value = evaluate([delta], values, m, d.model.constants)[0]
        course = course_reading(d)[0]
        own = course.adjoints.get(node) if course is not None else None
        from derive.graph.build import placeholder
        k = own.attrs["expr"] / placeholder(0) if own is not None and own is not delta and own.op == "ew" else 1
        layer = getattr(node.name, 'layer', '')
        if k == 1:
            out.append((f"missing the loss's constant factor (1/m of the mean): yours is δ{layer}, ∂J/∂Z without "
                        "it, which is what the deeplearning.ai notebooks call dZ (--dz delta reads dZ so)", value))
        else:
            out.append((f"yours is δ{layer}, ∂J/∂Z without its constant factor, where the courses' dZ{layer} "
                        f"(m ∂J/∂Z) is {k} δ{layer}: the loss's own factor {k} is missing", value))
    if not paths:
        return out
    consts = d.model.constants
    bessel = any(layer.kind == "batch_norm" for layer in d.model.layers)   # N = m: the batch's count
    if node.role == "param" and not any(p.consumer.role == "decay" for p in paths):
        decayed = _decay_factor(d, values, m)   # a parameter the decay leaves alone, decayed as a weight is
        if decayed is not None:
            total = sum(_shaped(t, node, m) for t in evaluate([p.contribution for p in paths], values, m, consts))
            out.append(("the weight decay applied to it as to a weight (biases are not decayed)",
                        total + decayed * np.asarray(values[node], float).reshape(total.shape)))
    terms = [_shaped(t, node, m) for t in evaluate([p.contribution for p in paths], values, m, consts)]
    total = sum(terms)
    for k, p in enumerate(paths):
        via = path_name(d, p.consumer)
        rest = total - terms[k]
        if len(paths) > 1 and p.consumer.role == "decay":
            out.append(("the weight decay's term is missing (its gradient adds to the data term)", rest))
            forms = _decay_forms(d.model, m)
            for factor, words in ((0.5, "half"), (2.0, "twice")):   # λ/(2m)·W for λ/m·W; reg·W for 2·reg·W
                form = next((f for f, r in forms if abs(r - factor) < 1e-12), None)
                out.append((f"the weight decay's term is {words} the derived one (the derivative of λΣW² is 2λW, "
                            "of (λ/2)ΣW² λW)" + (_form_said(d.model, form) if form else ""),
                            rest + factor * terms[k]))
            for form, factor in forms:   # a course's form for the one declared: λ·W for λ/m·W, and so on
                if abs(factor - 0.5) > 1e-12 and abs(factor - 2.0) > 1e-12:
                    out.append((f"the weight decay's term is {_times(factor, m)} the derived one"
                                + _form_said(d.model, form), rest + factor * terms[k]))
            out.append(("the data term is m times the derived one (the weight decay's term is right): J is the sum "
                        "over the batch here (--reduction sum), with no 1/m" if getattr(d.model, "reduction", "mean")
                        == "sum" else "the data term is missing its 1/m (the weight decay's term is right)",
                        m * rest + terms[k]))
        elif len(paths) > 1:
            out.append((f"the path through {via} is missing (the adjoint sums one term per use of the node)", rest))
        for factor, words in ((m / (m - 1), "N/(N − 1)"), ((m - 1) / m, "(N − 1)/N")) if bessel else ():
            out.append((f"the term through {via} is off by {words}: the variance's 1/N and 1/(N − 1) mixed up",
                        rest + factor * terms[k]))
        for words, wrong in _op_mistakes(d, p.consumer, node, p.g, values, m, depth):
            out.append((words, rest + _shaped(wrong, node, m)))
        if bessel:   # the variance's factor one node further on, as a one-line batch-norm backward writes it
            for words, wrong in _factor_one_further(d, p.consumer, node, values, m):
                out.append((words, rest + _shaped(wrong, node, m)))
    return out


# The weight decay's forms (``--l2-form``), each with its term in a weight's gradient as a multiple of λW,
# and the course that writes it.
_FORMS = {"lambda/(2m)": (lambda m: 1 / m, "λ/(2m) ΣW² (Ng's course), whose gradient adds (λ/m) W"),
          "lambda/2": (lambda m: 1.0, "(λ/2) ΣW² (d2l, Goodfellow), whose gradient adds λW"),
          "lambda": (lambda m: 2.0, "λ ΣW² (CS231n's reg), whose gradient adds 2λW")}


def _decay_forms(model, m) -> list:
    """[(form, factor)]: each other form of the weight decay, with its term's ratio to the declared one's."""
    declared = getattr(model, "l2_form", "lambda/(2m)")
    if declared not in _FORMS:
        return []
    own = _FORMS[declared][0](m)
    return [(f, c(m) / own) for f, (c, _) in _FORMS.items() if f != declared]


def _form_said(model, form) -> str:
    declared = getattr(model, "l2_form", "lambda/(2m)")
    return (f": yours is the term of {_FORMS[form][1]}, and this network's J adds {_FORMS[declared][1]} "
            f"(--l2-form {form} declares yours)")


def _times(factor, m) -> str:
    for value, words in ((m, "m times"), (1 / m, "1/m times"), (2 * m, "2m times"), (1 / (2 * m), "1/(2m) times")):
        if abs(factor - value) < 1e-12 * max(1.0, abs(value)):
            return words
    return f"{factor:g} times"


def _decay_factor(d, values, m):
    """c where the weight decay adds c·W to a weight's gradient (λ/m, λ or 2λ by its form), or None."""
    from compile.lowering.evaluate import evaluate
    for p in d.model.params:
        for path in d.paths.get(p, []):
            if path.consumer.role == "decay":
                term = np.asarray(evaluate([path.contribution], values, m, d.model.constants)[0], float)
                w = np.asarray(values[p], float).reshape(term.shape)
                big = np.abs(w) > 1e-12
                return float(np.median(term[big] / w[big])) if big.any() else None
    return None


def _factor_one_further(d, consumer, node, values, m) -> list:
    """[(words, wrong term)]: what ``consumer`` sends ``node`` when one term of the consumer's own adjoint is
    off by N/(N − 1) or (N − 1)/N (the variance's 1/(N − 1) dropped inside a one-line batch-norm backward)."""
    from compile.lowering.evaluate import evaluate
    from derive.graph.node import Node
    from derive.ops import lookup
    from derive.reverse.derivation import _Plain
    consts = d.model.constants
    paths = d.paths.get(consumer, [])
    if consumer is d.model.J or not paths:
        return []
    G = Node("leaf", (), consumer.shape, name="_wrong_adjoint", role="input")
    sent = [c for a, c, _ in lookup(consumer.op).vjp(consumer, G, _Plain()) if a is node]
    if not sent:
        return []
    terms = evaluate([q.contribution for q in paths], values, m, consts)
    total = sum(terms)
    out = []
    for k, q in enumerate(paths):
        for factor, words in ((m / (m - 1), "N/(N − 1)"), ((m - 1) / m, "(N − 1)/N")):
            wrong = total - terms[k] + factor * terms[k]
            out.append((f"the term through {path_name(d, q.consumer)} is off by {words}: the variance's 1/N and "
                        "1/(N − 1) mixed up", sum(evaluate(sent, {**values, G: wrong}, m, consts))))
    return out


def _op_mistakes(d, consumer, node, g, values, m, depth=DEPTH) -> list:
    """[(words, wrong term)] for the term ``consumer`` sends ``node``: the consumer op's own known mistakes,
    and those of what consumes it (a softmax behind a causal mask, an activation behind Z1 = X W1 + b1),
    carried back through each backward rule on the way, up to ``depth`` ops."""
    from compile.lowering.evaluate import evaluate
    from derive.graph.node import Node
    from derive.ops import lookup
    from derive.reverse.derivation import _Plain
    consts = d.model.constants
    mistakes = lookup(consumer.op).mistakes
    out = []
    if mistakes is not None:
        import inspect
        from compile.lowering.evaluate import _Evaluation
        args = evaluate(list(consumer.args), values, m, consts)
        gv = evaluate([g], values, m, consts)[0]
        more = {"ev": _Evaluation({}, m, consts)} if "ev" in inspect.signature(mistakes).parameters else {}
        out += mistakes(consumer, consumer.args.index(node), args, gv, **more)
    if depth == 0 or consumer is d.model.J:
        return out
    paths = d.paths.get(consumer, [])
    terms_g = evaluate([q.contribution for q in paths], values, m, consts)
    G = Node("leaf", (), consumer.shape, name="_wrong_adjoint", role="input")
    terms = [c for a, c, _ in lookup(consumer.op).vjp(consumer, G, _Plain()) if a is node]
    if not terms:
        return out
    for k, q in enumerate(paths):
        wrongs = [(words, sum(terms_g) - terms_g[k] + wrong)   # the consumer's adjoint with that one term mistaken
                  for words, wrong in _op_mistakes(d, q.consumer, consumer, q.g, values, m, depth - 1)]
        if len(paths) > 1 and q.consumer.role != "decay":   # or that one term left out, further on
            wrongs.append((f"the path through {path_name(d, q.consumer)} is missing from ∂J/∂"
                           f"{path_name(d, consumer)} (an adjoint sums one term per use of its node)",
                           sum(terms_g) - terms_g[k]))
        for words, wrong_g in wrongs:
            out.append((words, sum(evaluate(terms, {**values, G: wrong_g}, m, consts))))
    return out


def _shaped(value, node, m):
    shape = tuple(m if str(d) == "m" else int(d) for d in node.shape)
    return np.broadcast_to(np.asarray(value, float), shape) if np.size(value) != np.prod(shape) else \
        np.asarray(value, float).reshape(shape)


def path_name(d, consumer) -> str:
    """The consumer of a path as a reader knows it: its name, or the first named node it feeds."""
    from derive.graph.node import topo_order
    from derive.printing.show import name
    if consumer.name is not None:
        return name(consumer.name, "text")
    users = {}
    for n in topo_order(d.model.J):
        for a in n.args:
            users.setdefault(a, []).append(n)
    frontier, seen = [consumer], set()
    while frontier:
        n = frontier.pop(0)
        for u in users.get(n, []):
            if u.name is not None:
                return name(u.name, "text")
            if u not in seen:
                seen.add(u)
                frontier.append(u)
    return "the loss"


def diagnose(d, node, pairs) -> str:
    """The mistake that explains the user's values at every point, or "". pairs: [(user, values, m, rtol, atol)].
    A weight of a dense network that no mistake within ``DEPTH`` ops explains is tried once more two layers' ops
    further on: the error a later layer sends back made without its own activation's derivative (Rashid's book sends
    who.T @ output_errors back to the hidden layer, without the output's σ′)."""
    found = _explained(d, node, pairs, DEPTH)
    layer = getattr(node.name, "layer", None)
    if found or node.role != "param" or not pairs or not all(l.kind == "dense" for l in d.model.layers) \
            or layer is None or layer >= len(d.model.layers):
        return found
    near = {w for w, _ in mistake_variants(d, node, pairs[0][1], pairs[0][2])}
    further = _explained(d, node, pairs, FURTHER, leave_out=near)
    if not further:
        return ""
    import re
    left_out = re.match(r"the activation's derivative left out at layer (\d+)", further)
    if left_out:
        return (f"the error sent back to layer {layer} lacks layer {left_out.group(1)}'s activation derivative: "
                f"{further}")
    return f"the error sent back to layer {layer} carries a later layer's slip: {further}"


def _explained(d, node, pairs, depth, leave_out=()) -> str:
    found = None
    for user, values, m, rtol, atol in pairs:
        here = [w for w, v in mistake_variants(d, node, values, m, depth)
                if w not in leave_out and v.shape == user.shape and close(user, v, rtol, atol)]
        found = here if found is None else [w for w in found if w in here]
        if not found:
            return ""
    return found[0] if found else ""

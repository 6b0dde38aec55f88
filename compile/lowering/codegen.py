"""`derivax codegen`: a standalone, readable trainer module that imports only jax and numpy.

The module is the lowered derivation (``compile.lowering.lower``) plus parameter shapes, initialisation,
dropout masks and the optimizer's update rule (``compile.train.optim``). The compiled trainer of
``compile.train.train`` executes this very source, so what the file says is what trains.

Interface of the module, batch-first (x: (batch, inputs), y: (batch, outputs), one-hot for
classification), parameters named as printed: PARAM_SHAPES, init_params(key), forward(params, x),
loss(params, x, y), grads(params, x, y), init_opt_state(params), train_step(params, opt_state, x, y)
-> (params, opt_state, loss).
"""
from __future__ import annotations

import re

from derive.network.norm import running_stats

from derive.network.functions import HE_ACTIVATIONS as _HE

from compile.lowering.lower import function_sources, header, one_line
from compile.train.optim import OptimizerError, make
from compile.checks.points import mask_dims

# He initialisation keeps the variance of relu-like layers (half the units are off); Glorot suits
# activations that are linear near 0 (tanh, sigmoid, softmax, identity, formulas). Each scalar
# function's row in derive's table says which it is (the named formulas, swish, gelu, mish, are relu-like),
# and each parameter's record (Param.init) carries it.
HE_ACTIVATIONS = tuple(sorted(_HE))


def _dims(shape) -> tuple:
    return tuple(int(d) for d in shape)


def init_source(model) -> str:
    """init_params(key): Glorot uniform or He normal weights by activation, zero biases."""
    rows = model.convention == "rows"
    # NumPy draws the numbers, seeded by the key's bits: the same key gives the same parameters, and
    # nothing is compiled (jax.random and jnp.zeros here compile per shape: seconds before the first
    # step on a small machine).
    doc = ('    """Weights drawn from ``key`` (Glorot uniform, or He normal before relu-like activations); '
           'biases zero."""')
    if any(p.init == "pytorch" for p in model.records):
        doc = '    """Parameters drawn from ``key``, each as the comment above it says."""'
    lines = ["def init_params(key):", doc,
             "    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)))",
             "    return {"]
    for p in model.records:
        shape, fan_in, fan_out = p.shape, p.fan_in, p.fan_out
        if p.init == "zeros":   # made in DTYPE: no float64 array of the same size first
            draw = f"np.zeros({shape}, DTYPE)"
        elif p.init == "ones":   # a normalization's scale γ
            draw = f"np.ones({shape}, DTYPE)"
        elif p.init == "normal":   # an embedding table, as PyTorch's nn.Embedding
            lines.append(f"        # {one_line(p.name)}: standard normal (PyTorch's nn.Embedding)")
            draw = f"rng.normal(0, 1, {shape})"
        elif p.init == "pytorch":
            lines.append(f"        # {one_line(p.name)}: uniform on ±1/√fan_in, fan_in = {fan_in} (PyTorch's default)")
            draw = f"rng.uniform(-1 / {fan_in} ** 0.5, 1 / {fan_in} ** 0.5, {shape})"
        elif p.init == "he":
            lines.append(f"        # {one_line(p.name)}: He normal, std = √(2 / fan_in), fan_in = {fan_in}")
            draw = f"rng.normal(0, (2 / {fan_in}) ** 0.5, {shape})"
        else:
            lines.append(f"        # {one_line(p.name)}: Glorot uniform on ±√(6 / (fan_in + fan_out)), "
                         f"fans {fan_in} and {fan_out}")
            lim = f"(6 / ({fan_in} + {fan_out})) ** 0.5"
            draw = f"rng.uniform(-{lim}, {lim}, {shape})"
        lines.append(f"        {str(p.name)!r}: jnp.asarray({draw}, DTYPE),")
    lines.append("    }")
    return "\n".join(lines) + "\n"


def masks_source(model) -> str:
    """dropout_masks(key, m): inverted dropout, entries 0 or 1/keep, batch-first like x."""
    lines = ["def dropout_masks(key, m):",
             '    """Inverted dropout masks for a batch of m: each entry is 1/keep with probability keep, '
             'else 0."""',
             f"    keys = jax.random.split(key, {len(model.masks)})",
             "    return {"]
    for i, mask in enumerate(model.masks):
        keep = float(mask.attrs["keep"])
        lines.append(f'        {str(mask.name)!r}: jax.random.bernoulli(keys[{i}], {keep!r}, (m, {", ".join(map(str, mask_dims(model, mask)))}))'
                     f".astype(DTYPE) / {keep!r},")
    lines.append("    }")
    return "\n".join(lines) + "\n"


def stats_source(model) -> str:
    """init_stats() and update_stats(stats, batch): the running averages of each batch norm's μ and σ²."""
    stats = running_stats(model)
    start = ", ".join(f"{str(r.mu.name)!r}: jnp.zeros({_dims(r.mu.shape)}, DTYPE), "
                      f"{str(r.var.name)!r}: jnp.ones({_dims(r.var.shape)}, DTYPE)" for r in stats)
    rates = ", ".join(f"{str(n.name)!r}: {r.momentum!r}" for r in stats for n in (r.mu, r.var))
    return (f"MOMENTUM = {{{rates}}}\n\n\n"
            "def init_stats():\n"
            '    """Running averages of each batch norm\'s μ and σ² before any step: μ = 0, σ² = 1."""\n'
            f"    return {{{start}}}\n\n\n"
            "def update_stats(stats, batch):\n"
            '    """r ← (1 − momentum) r + momentum · (the batch\'s value), for every statistic."""\n'
            "    return {k: (1 - MOMENTUM[k]) * stats[k] + MOMENTUM[k] * batch[k] for k in stats}\n")


def step_source(model, rule) -> str:
    lines = []
    if model.masks:
        lines.append("masks = None if key is None else dropout_masks(key, x.shape[0])")
    lines.append("J, g = loss_and_grads(params, x, y" + (", masks)" if model.masks else ")"))
    lines += rule.step_lines()
    if running_stats(model):
        lines.append('new_state["stats"] = update_stats(opt_state["stats"], batch_stats(params, x))')
    lines.append("return new_params, new_state, J")
    key = ", key=None" if model.masks else ""
    doc = (f'"""One {rule.name} step on the batch (x, y): (new params, new state, loss J before the step).'
           + (" With a key, dropout is on." if model.masks else "") + '"""')
    return (f"@jax.jit\ndef train_step(params, opt_state, x, y{key}):\n    {doc}\n"
            + "".join(f"    {line}\n" for line in lines))


def layout_text(model) -> str:
    """The arrays' layout, as a generated module's docstring states it."""
    shape = model.input_shape
    if len(shape) == 1:
        return "x is (batch, inputs), y is (batch, outputs)."
    if model.reads_sequence:
        steps = "every step's outputs (batch, time, outputs)" if model.Y.rank == 3 else "(batch, outputs)"
        each = any(l.kind == "dense" and l.A.rank == 3 for l in model.layers)
        return (f"Layout as in Keras: x is (batch, time, features), y is {steps}"
                + ("; a dense layer on a sequence applies at every step with the same W and b." if each else "."))
    conv = "(k, c_in, c_out)" if len(shape) == 2 else "(kh, kw, c_in, c_out)"
    x = "(batch, length, channels)" if len(shape) == 2 else "(batch, height, width, channels)"
    one = " or (batch, length) for one channel" if len(shape) == 2 and shape[1] == 1 else ""
    return (f"Layout as in Keras: x is {x}{one}, y is (batch, outputs); convolution kernels are "
            f"{conv}, biases (c_out,); convolution is cross-correlation (no kernel flip); flatten is "
            "row-major over the positions, then the channels.")


def _docstring_safe(text) -> str:
    """User-chosen text (a network's name, a loss formula) as it may stand inside the module's
    docstring: one line, no quote or backslash, so it cannot end the string and become code, and no
    control or bidirectional formatting character (U+202E would show the lines around it reversed)."""
    return re.sub(r"[\"\\]", "?", one_line(" ".join(str(text).split())))


def module_source(derivation, rule=None, dtype="float32", title="network", standalone=False) -> str:
    """The whole standalone module; without ``rule`` (an optax transformation trains) no optimizer part."""
    model = derivation.model
    sizes = model.size_text
    title, loss = _docstring_safe(title), _docstring_safe(model.loss_name)
    doc = [f'"""Trainer for {title} ({sizes}, loss {loss}, convention {model.convention}), '
           "written by `derivax codegen`.", "",
           "Every line of forward, loss and grads is a derived formula, named as `derivax show` prints it;",
           "grads uses no automatic differentiation. " + layout_text(model)]
    if rule is not None:
        doc += ["", f"Optimizer ({rule.name}):"] + ["    " + line for line in rule.text().splitlines()]
    parts = ["\n".join(doc) + '\n"""\n' + header(derivation, dtype, standalone)
             + "".join(line + "\n" for line in (rule.constants() if rule is not None else []))]
    shapes = ", ".join(f"{str(p.name)!r}: {_dims(p.shape)}" for p in model.params)
    parts[0] += f"\nPARAM_SHAPES = {{{shapes}}}\n"
    parts.append(init_source(model))
    if model.masks:
        parts.append(masks_source(model))
    parts.append(function_sources(derivation))
    if running_stats(model):
        parts.append(stats_source(model))
    if rule is not None:
        init = rule.init_source()
        if running_stats(model):   # the optimizer's state, and the running averages beside it
            init = init.replace("def init_opt_state(params):", "def _init_optimizer(params):") + (
                "\n\ndef init_opt_state(params):\n"
                '    """The optimizer\'s state, and under "stats" the running averages of the batch norms."""\n'
                '    return {**_init_optimizer(params), "stats": init_stats()}\n')
        parts.append(init)
        parts.append(step_source(model, rule))
        parts.append(DATA_PARALLEL)
    return "\n\n\n".join(p.rstrip("\n") for p in parts) + "\n"


# Every trainer module can run its step data parallel: jit partitions train_step by its inputs' shardings.
DATA_PARALLEL = '''def data_parallel(params, opt_state, devices=None):
    """params and opt_state replicated over a one-axis mesh of ``devices`` (every device by default, every
    host's after jax.distributed.initialize), and a function splitting a batch (x, y) over it along the
    batch axis: train_step then runs on every device on its share of the batch, XLA summing the gradients.
    The batch size must be a multiple of the number of devices.

        params, opt_state, split = data_parallel(params, opt_state)
        params, opt_state, J = train_step(params, opt_state, *split(x, y))
    """
    from jax.sharding import Mesh, NamedSharding, PartitionSpec
    mesh = Mesh(np.array(jax.devices() if devices is None else list(devices)), ("batch",))
    whole, rows = NamedSharding(mesh, PartitionSpec()), NamedSharding(mesh, PartitionSpec("batch"))

    def put(tree, sharding):
        return jax.tree_util.tree_map(lambda a: jax.device_put(a, sharding), tree)

    def split(x, y):
        return jax.device_put(jnp.asarray(x, DTYPE), rows), jax.device_put(jnp.asarray(y, DTYPE), rows)
    return put(params, whole), put(opt_state, whole), split
'''


def check_network(net, where: str) -> None:
    """A TypeError saying what ``where`` was given where it takes a derive.Network: a name (a built-in example,
    a model file, an inline spec) is made into one by derive.network.examples.resolve; a Derivation comes
    from one; a Builder's graph becomes one as a layer (``MODEL_ROUTE``)."""
    if callable(getattr(net, "derive", None)):
        return
    kind = type(net).__name__
    given = "None" if net is None else ("an " if kind[:1] in "aeiou" else "a ") + kind
    if isinstance(net, str):
        shown = net if len(net) <= 60 else net[:57] + "..."
        raise TypeError(f"{where}: net must be a derive.Network, not a str ({shown!r}); a built-in example, a model "
                        f"file or an inline spec is made into one by derive.network.examples.resolve({shown!r})[1]")
    from derive.network.network import MODEL_ROUTE, Model
    if isinstance(net, Model):
        raise TypeError(f"{where}: net must be a derive.Network, not a Model: {MODEL_ROUTE}")
    from derive.reverse.derivation import Derivation
    if isinstance(net, Derivation):
        raise TypeError(f"{where}: net must be a derive.Network, not a Derivation: pass the network it was "
                        "derived from")
    raise TypeError(f"{where}: net must be a derive.Network (derive.Network(inputs, [layers])), not {given}")


def check_parameters(model, name: str, where: str, what: str) -> None:
    """A ValueError where ``model`` has no parameters: there is nothing to ``what`` (check, train), and a check
    of no gradients would pass without having compared anything."""
    if model.params:
        return
    kinds = ", ".join(layer.kind.replace("_", " ") for layer in model.layers)
    raise ValueError(f"{where}: {name} has no parameters (its layers: {kinds}): there is nothing to {what}; add a "
                     "layer with weights, such as a Dense or a convolution")


def check_eps(model, dtype) -> None:
    """A normalization's ε within ``dtype``'s range: one that rounds to 0 there (1e-50 in float32) divides an
    example whose features are all alike (or a feature alike over the batch) by 0."""
    import numpy as np
    from derive.graph.symbols import eps
    from derive.network.functions import NetworkError
    value = (getattr(model, "constants", None) or {}).get(eps)
    info = np.finfo(dtype)
    if value is not None and float(value) < float(info.tiny):
        layers = [str(layer.index) for layer in model.layers if layer.kind in ("batch_norm", "layer_norm")]
        raise NetworkError(f"layer{'s' if len(layers) > 1 else ''} {', '.join(layers)} (normalization): eps {float(value):g} rounds to 0 in {dtype}, "
                           f"the precision the trainer computes in (its smallest normal number is {info.tiny:.3g}): "
                           "a feature alike in every entry would be divided by 0; take eps of 1e-5, the usual one")


def generate(net, optimizer="sgd", lr=0.1, convention="rows", dtype="float32", **opt_kwargs) -> str:
    """Source of a standalone trainer module for ``net``."""
    check_network(net, "generate")
    rule = make(optimizer, lr, **opt_kwargs)
    if not hasattr(rule, "step_lines"):
        raise OptimizerError("a standalone module needs a named optimizer (sgd, momentum, adam), "
                             "not an optax transformation")
    derivation = net.derive(convention)
    check_parameters(derivation.model, getattr(net, "name", "the network"), "generate", "train")
    check_eps(derivation.model, dtype)
    return module_source(derivation, rule, dtype, getattr(net, "name", "network"), standalone=True)

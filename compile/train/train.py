"""Compiled trainers: the generated trainer module executed and jitted; epochs in one ``lax.scan``.

``compile_trainer`` derives the network, writes the same standalone module ``derivax codegen`` writes
(``compile.lowering.codegen.module_source``), executes it and wraps its functions. ``Trainer.epoch`` runs a
whole shuffled epoch as one ``lax.scan`` over mini-batches, so there is one Python dispatch per epoch,
not per step. ``fit`` loops over epochs with a progress bar, and stops on a non-finite loss keeping the
last good parameters. Randomness (initialisation, shuffling, dropout) comes from one seed.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from compile.lowering.codegen import module_source
from compile.train.checkpoint import EPOCHS_DONE_MAX, SEED_MAX, _is_key
from compile.train.data import DataError
from compile.lowering.lower import check_dtype, run_source
from compile.train.optim import UpdateRule, make

CLASSIFICATION_LOSSES = ("ce", "bce", "svm")   # scored by accuracy; svm: the class of the largest score
# Steps per iteration of the epoch's scan loop. On a 2-core CPU, 64-64-10 with batch 64 (about 31 us
# of arithmetic a step), two steps an iteration measured 4-8% faster per epoch than one in interleaved
# runs; four were no faster than two. Each unrolled copy traces the step once more.
SCAN_UNROLL = 2
# A run has diverged when its final training loss is more than DIVERGED_RATIO times the loss it started
# from and above it by more than DIVERGED_MARGIN: the margin keeps a loss that started near zero and
# moved by rounding noise from counting as divergence.
DIVERGED_RATIO, DIVERGED_MARGIN = 10.0, 1e-3
TRAIN_SAMPLE = 5_000   # training examples the per-epoch training metrics are measured on (at most)
# XLA's CPU backend compiles each elementwise kernel of a step (activations, their derivatives, the
# updates, the stored transposes) with LLVM; the products are library calls (YNNPACK, Eigen) that it
# does not compile. At LLVM's -O1 those kernels compile faster and run as fast: 784-256-128-10 tanh at
# batch 256 compiled in 200 ms against 215 ms at the default -O3, 20 tanh layers of 256 in 214 against
# 238 ms (medians of 8, interleaved), and the steps ran at the same speed (interleaved, within ±2%:
# 1.14x jax.grad's at -O1, 1.145x at -O3; 784-2048-10 relu 1.083x, 1.086x; the digits CNN 1.38x,
# 1.12x). -O0 compiled in 131 ms and ran 30% slower. Not for a recurrence, whose step loop runs many
# small kernels: the MNIST-1D GRU stepped at 0.92x jax.grad's speed at -O1 and 1.15x at -O3, the
# built-in RNN at 1,274 steps/s and 1,441. Only on a CPU: a GPU's kernels are others.
CPU_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


@dataclass
class Trainer:
    """A derived, compiled trainer. Arrays are batch-first: x (batch, inputs), y (batch, outputs)."""

    net: object
    derivation: object
    optimizer: object          # an UpdateRule, or an optax GradientTransformation
    dtype: str
    source: str                # the standalone module the functions below were compiled from
    namespace: dict = field(repr=False)
    train_step: object = field(repr=False, default=None)  # (params, opt_state, x, y, key=None)
    epoch: object = field(repr=False, default=None)       # (params, opt_state, x, y, key, batch_size)
    # the optimizer by name, as a checkpoint records it: a derived rule's (SGD, momentum, Adam), optax's by the
    # name it was asked for (adamw, yogi); "optax" for a transformation passed in, which has no name
    optimizer_name: str = "optax"
    # the learning rate and the optimizer's options as compile_trainer was given them ({"lr": 0.1, "eta": 0.01}):
    # what a checkpoint records, and what a loss that stops being finite is traced back to
    options: dict = field(default_factory=dict, repr=False)

    def __getattr__(self, name):
        # forward, loss, grads, loss_and_grads, dropout_masks, PARAM_SHAPES: the module's own. Those that
        # take x check its token indices first where the network starts with an embedding (JAX's gather
        # would clamp an index out of range and cut a fraction without a word).
        ns = self.__dict__.get("namespace", {})
        if name in ns:
            derivation = self.__dict__.get("derivation")
            vocab = getattr(getattr(derivation, "model", None), "vocab", None)
            fn = ns[name]
            if vocab and name in TOKEN_READERS:
                fn = _token_checked(fn, vocab, name)
            model = getattr(derivation, "model", None)
            if name in TARGET_READERS and getattr(model, "Y", None) is not None \
                    and model.Y.attrs.get("one_hot_axis") is not None:
                fn = _targets_checked(fn, name, ns.get("check_shapes"))
            if name in BATCH_READERS and any(layer.kind == "batch_norm" for layer in getattr(model, "layers", ())):
                fn = _batch_checked(fn, model, name, ns.get("init_stats"))
            if name in INPUT_READERS:
                fn = _inputs_checked(fn, self, name)
            return fn
        raise AttributeError(name)

    @property
    def model(self):
        return self.derivation.model

    def init_params(self, key):
        """Parameters from a JAX key or an integer seed (0 to 2**32 - 1). A network whose parameters
        would not fit in memory is refused (compile.checks.points.TooLarge) before any is drawn."""
        import jax
        import numbers
        if isinstance(key, numbers.Integral) or not hasattr(key, "dtype"):
            _whole(key, "init_params: key", 0, 2**32 - 1)
            key = jax.random.key(int(key))
        # NumPy draws each array in float64 before it is cast: about three copies of the weights at most
        _fits(self.model, self.dtype, 0, "drawing the parameters", copies=3)
        return self.namespace["init_params"](key)

    def init_opt_state(self, params, seed=None):
        """The optimizer's state before the first step. ``seed`` (a whole number, 0 to 2**32 - 1: the run's)
        is folded into every random key the state holds (noisy_sgd's noise, any optax transformation's), so
        that the optimizer's draws follow the run's seed; without it they come from the optimizer's own key."""
        _params_fit(self, params)   # another network's parameters, or None: named, not an error from the optimizer
        if isinstance(self.optimizer, UpdateRule):
            return self.namespace["init_opt_state"](params)
        if "init_stats" in self.namespace:   # batch norm: the running averages beside optax's state
            state = {"optax": self.optimizer.init(params), "stats": self.namespace["init_stats"]()}
        else:
            state = self.optimizer.init(params)
        return state if seed is None else seeded_keys(state, seed)

    def stats(self, opt_state):
        """The running averages of the batch norms in a training state (None without batch norm):
        what ``forward`` and ``loss`` take as ``stats`` to evaluate as a trained network is used."""
        if "init_stats" not in self.namespace:
            return None
        if not isinstance(opt_state, dict) or "stats" not in opt_state:
            found = (f"a dict of {', '.join(map(str, opt_state))}" if isinstance(opt_state, dict)
                     else _a(opt_state))
            raise DataError(f"stats takes the optimizer state (opt_state), as init_opt_state and train_step return it, "
                            f"which holds the running averages under 'stats'; found {found}")
        return opt_state["stats"]


def seeded_keys(state, seed):
    """``state`` with every random key in it (a leaf of JAX's key dtype) folded with ``seed``: key i of the
    state becomes fold_in(key i, seed), of the same implementation and shape, so the step's jitted code
    takes it as it took the key it replaces. Other leaves are kept as they are."""
    import jax
    _whole(seed, "seed", 0, 2**32 - 1)
    leaves, tree = jax.tree_util.tree_flatten(state)
    keys = [i for i, leaf in enumerate(leaves) if _is_key(leaf)]
    if not keys:
        return state

    def fold(key):
        if key.ndim == 0:
            return jax.random.fold_in(key, int(seed))
        return jax.vmap(fold)(key)
    for i in keys:
        leaves[i] = fold(leaves[i])
    return jax.tree_util.tree_unflatten(tree, leaves)



def compile_trainer(net, optimizer="sgd", lr=0.1, dtype="float32", convention="rows", **opt_kwargs) -> Trainer:
    """Derive ``net``, lower it and the optimizer's update rule to JAX, and jit the train step."""
    from compile.lowering.codegen import check_network
    check_network(net, "compile_trainer")

    check_dtype(dtype)
    rule = make(optimizer, lr, **opt_kwargs)
    _in_precision(rule, lr, opt_kwargs, dtype, getattr(net, "l2", None))
    derivation = net.derive(convention)
    from compile.lowering.codegen import check_eps, check_parameters
    check_eps(derivation.model, dtype)
    check_parameters(derivation.model, getattr(net, "name", "the network"), "compile_trainer", "train")
    # parameters, gradients and up to two optimizer states, as `derivax train` counts them
    _fits(derivation.model, dtype, 1, "training")
    named = isinstance(rule, UpdateRule)
    source = module_source(derivation, rule if named else None, dtype, getattr(net, "name", "network"))
    ns = run_source(source, f"trainer {getattr(net, 'name', 'network')}")
    trainer = Trainer(net, derivation, rule, dtype, source, ns)
    trainer.optimizer_name = rule.name if named else optimizer if isinstance(optimizer, str) else "optax"
    trainer.options = {"lr": lr, **opt_kwargs}
    masks = bool(derivation.model.masks)
    inner = module_step(ns, masks) if named else _optax_step(rule, ns, masks)
    step = _top_level(inner, derivation.model, trainer)
    trainer.train_step = step
    # Convolutions run several times slower inside a lax.scan body on XLA's CPU backend (measured on
    # 2 cores: an MNIST-1D epoch of 40 steps took 145 ms scanned, 30 ms as 40 jitted steps), so an
    # epoch of a network with convolution or pooling is a loop of jitted steps.
    looped = any(l.kind in LOOPED_KINDS for l in derivation.model.layers)
    # Batch norm has no statistics over a batch of one example (its unbiased variance divides by 0): a
    # last batch of one is left out of that epoch (the next shuffle puts the example elsewhere).
    single = not any(l.kind == "batch_norm" for l in derivation.model.layers)
    trainer.epoch = _loop_epoch_fn(step, masks, single) if looped else _epoch_fn(step, masks, single=single)
    trainer._epoch_parts = (looped, step, masks, single)
    return trainer


# The names the update rules' symbols are given by (compile.train.optim's makers' keywords).
_HYPER_NAMES = {"alpha": "lr", "beta": "beta", "beta1": "b1", "beta2": "b2", "epsilon": "eps"}


def _in_precision(rule, lr, opt_kwargs, dtype, l2) -> None:
    """The learning rate, the optimizer's hyperparameters and the weight decay λ, each nonzero one within
    ``dtype``'s range: one that rounds to 0 there (an epsilon of 1e-50 in float32) or to inf (a rate of 1e300)
    would make the first step's parameters NaN or inf."""
    import numbers
    import numpy as np
    from compile.train.optim import OptimizerError
    info = np.finfo(dtype)

    def outside(v):
        return (isinstance(v, numbers.Real) and not isinstance(v, bool) and v != 0
                and not float(info.tiny) <= abs(float(v)) <= float(info.max))
    values = {"lr": lr, **opt_kwargs}
    if isinstance(rule, UpdateRule):
        values.update({_HYPER_NAMES.get(s.name, s.name): v for s, v in rule.hyper.items()})
    for key, value in values.items():
        if outside(value):
            raise OptimizerError(f"{key} {float(value):g} is outside {dtype}'s range ({info.tiny:.3g} to "
                                 f"{info.max:.3g}), the precision the trainer computes in")
    if outside(l2):
        from derive.network.functions import NetworkError
        raise NetworkError(f"l2 (the weight decay λ) {float(l2):g} is outside {dtype}'s range ({info.tiny:.3g} to "
                           f"{info.max:.3g}), the precision the trainer computes in")


def _mesh(devices):
    """A one-axis device mesh ("batch") over the first ``devices`` devices (an int, or "all"); None for
    one device. A DataError names what was asked and what there is."""
    import jax
    import numpy as np
    if devices is None:
        return None
    there = jax.devices()
    if devices == "all":
        devices = len(there)
    _whole(devices, "devices", 1)
    if devices > len(there):
        raise DataError(f"devices: {devices} asked for, {len(there)} {there[0].platform} device"
                        f"{'s' if len(there) > 1 else ''} here (on a CPU, XLA_FLAGS="
                        f"--xla_force_host_platform_device_count={devices} makes {devices}, set before JAX starts)")
    return None if devices == 1 else jax.sharding.Mesh(np.array(there[:devices]), ("batch",))


def _sharded_epoch(trainer, mesh):
    """The trainer's epoch with every full batch split over ``mesh``'s devices (data parallel: parameters
    and optimizer state replicated, XLA's partitioner sums the gradients across devices), made once per
    mesh."""
    cache = trainer.__dict__.setdefault("_sharded", {})
    key = tuple(d.id for d in mesh.devices.flat)
    if key not in cache:
        looped, step, masks, single = trainer._epoch_parts
        cache[key] = _loop_epoch_fn(step, masks, single, mesh) if looped else _epoch_fn(step, masks, single=single,
                                                                                         mesh=mesh)
    return cache[key]


# Layers whose networks train as a loop of jitted steps, not one lax.scan per epoch (see above).
LOOPED_KINDS = frozenset({"conv", "max_pool", "avg_pool", "recurrent"})


def jit(fn, model=None, **kwargs):
    """``jax.jit``, with CPU_COMPILER_OPTIONS on a CPU unless ``model`` has a recurrent layer."""
    import jax
    recurrent = model is not None and any(layer.kind == "recurrent" for layer in model.layers)
    if jax.default_backend() == "cpu" and not recurrent:
        kwargs.setdefault("compiler_options", CPU_COMPILER_OPTIONS)
    return jax.jit(fn, **kwargs)


def module_step(ns, masks: bool):
    """The generated module's train_step with the trainer's one signature, (params, opt_state, x, y,
    key=None): the key only matters with dropout."""
    if masks:
        return ns["train_step"]

    def train_step(params, opt_state, x, y, key=None, _step=ns["train_step"]):
        return _step(params, opt_state, x, y)
    return train_step


def _top_level(step, model, trainer=None):
    """``step`` jitted with CPU_COMPILER_OPTIONS where it is called with concrete arrays, and as
    ``jax.jit(step)`` where it is traced inside another function (an epoch's scan, a user's jit or
    grad): JAX takes compiler options on an outermost jit only. With ``trainer``, the parameters' names and the
    optimizer state's structure are checked first (a DataError naming what differs, not JAX's error from inside)."""
    import jax
    import numpy as np
    expected = []   # the structure of the trainer's optimizer state, found on the first trace

    def guarded(params, opt_state, x, y, key=None):
        # Run while JAX traces the step: once per structure of the arguments, never on a call that reuses a
        # compiled step, so the checks cost the step nothing.
        if trainer is not None:
            _step_params(trainer, params)
            _batch_inputs(x, y, "train_step")
            if any(layer.kind == "batch_norm" for layer in model.layers):
                batch_norm_batch(model, x, "train_step")
            if not expected:
                spec = {k: jax.ShapeDtypeStruct(tuple(int(d) for d in s), trainer.dtype)
                        for k, s in trainer.namespace["PARAM_SHAPES"].items()}
                state = jax.eval_shape(trainer.init_opt_state, spec)
                expected.extend((jax.tree.structure(state), spec, state))
            if jax.tree.structure(opt_state) != expected[0]:
                _opt_state(trainer, opt_state)   # says where it differs
            # each array's shape and kind of number, as the trace sees them (under vmap: one example's, the
            # batch axis set aside), against what init_params and init_opt_state make
            _same_leaves(params, expected[1], "params")
            _same_leaves(opt_state, expected[2], "opt_state")
        return step(params, opt_state, x, y, key)
    top, nested = jit(guarded, model), jax.jit(guarded)
    values = _host_values(model, trainer) if trainer is not None else None

    def train_step(params, opt_state, x, y, key=None):
        # The compiled step straight away: a call costs what a jitted function's call costs, and nothing
        # is looked at in Python first (on a 64-wide network a step is about 45 us, half of it JAX's own
        # per-call work); but for the values of NumPy arrays, which are on the host, looked at in a few us.
        if values is not None and (type(x) is np.ndarray or type(y) is np.ndarray):
            values(x, y)
        if key is not None and not hasattr(key, "dtype"):   # a seed, as init_params takes one
            _whole(key, "train_step: key (dropout's random key: a JAX key, or a whole number as its seed)",
                   0, 2**32 - 1)
            key = jax.random.key(int(key))
        try:
            return top(params, opt_state, x, y, key)
        except ValueError as e:
            # Traced inside another function (an epoch's scan, a user's jit or grad), where JAX refuses
            # compiler options on an inner jit: the plain jit of the same step. Any other error is the
            # caller's, raised as it is.
            if isinstance(e, DataError) or "compiler_options" not in str(e):
                raise
        except TypeError:
            # A list or a string where the parameters go: named, not JAX's error about pytrees or types.
            if trainer is not None:
                _step_params(trainer, params)
                _opt_state(trainer, opt_state)
            raise
        return nested(params, opt_state, x, y, key)
    train_step.top = top   # the compiled step itself (benchmarks time its phases)
    return train_step


def _host_values(model, trainer):
    """(x, y) -> None, raising the DataError forward, grads and fit raise for values the step's shapes cannot show:
    token indices out of an embedding's vocabulary (JAX's gather would clamp or wrap them), and the targets of a
    categorical cross-entropy that are no one-hot rows (the derived δ = A − Y takes each to sum to 1). For the
    values of NumPy arrays only: an array on the device is taken as it is (looking at it would wait for it, and
    copy it to the host from an accelerator). None where the network has neither."""
    import numpy as np
    from compile.train.data import check_tokens
    vocab = getattr(model, "vocab", None)
    one_hot = getattr(model, "Y", None) is not None and model.Y.attrs.get("one_hot_axis") is not None
    if not vocab and not one_hot:
        return None

    def values(x, y):
        if vocab and type(x) is np.ndarray and x.dtype.kind in "iuf":
            check_tokens(x, vocab, "train_step: x")
        if one_hot and type(y) is np.ndarray and y.dtype.kind in "iuf" and y.ndim >= 2:
            one_hot_rows(y, "train_step")
    return values


def _same_leaves(found, want, name) -> None:
    """A DataError naming the first array of ``found`` (params or opt_state, of ``want``'s structure) whose shape
    or kind of number (floating point, integer, bool, random key) differs from ``want``'s, with both shapes."""
    import jax
    spec = jax.tree_util.tree_flatten_with_path(want)[0]
    made = "trainer.init_params" if name == "params" else "trainer.init_opt_state"
    if name == "params":   # by name, whatever the values are (a nested list flattens into many leaves)
        for k, w in want.items():
            if not hasattr(found[k], "shape"):
                raise DataError(f"{name}[{k!r}]: expected an array of shape {tuple(w.shape)}, as {made} makes it, "
                                f"found {_a(found[k])}")
        leaves = [found[path[0].key] for path, _ in spec]
    else:
        leaves = jax.tree.leaves(found)
    for (path, w), leaf in zip(spec, leaves):
        where = name + jax.tree_util.keystr(path)
        mine, theirs = _number_kind(w.dtype), _number_kind(getattr(leaf, "dtype", None))
        if mine != theirs:
            raise DataError(f"{where}: holds {theirs} ({getattr(leaf, 'dtype', type(leaf).__name__)}), where "
                            f"{made} makes {mine} ({w.dtype})")
        shape = tuple(getattr(leaf, "shape", ()))
        if shape != tuple(w.shape):
            raise DataError(f"{where}: has shape {shape}, where {made} makes {tuple(w.shape)}")


def _params_fit(trainer, params) -> None:
    """A DataError unless ``params`` holds the network's parameters by name, each an array of the shape and kind of
    number trainer.init_params makes, as the train step checks them (``_step_params``, ``_same_leaves``). Shapes and
    dtypes only, so it holds inside a trace too; a call whose arrays fit costs a comparison per parameter."""
    _step_params(trainer, params)
    shapes = trainer.namespace["PARAM_SHAPES"]
    if all(tuple(getattr(params[k], "shape", (None,))) == tuple(s)
           and getattr(getattr(params[k], "dtype", None), "kind", None) == "f" for k, s in shapes.items()):
        return
    import jax
    _same_leaves(params, {k: jax.ShapeDtypeStruct(tuple(int(d) for d in s), trainer.dtype)
                          for k, s in shapes.items()}, "params")


def _batch_inputs(x, y, name, empty=False) -> None:
    """A DataError naming ``name`` where x or y holds complex numbers (the cast to the trainer's dtype would drop
    the imaginary part with only a warning), or, without ``empty`` (forward: no examples, no predictions), where x
    holds no examples (the loss is a mean over the batch: 0/0 over none, NaN). Dtypes and shapes only, so it holds
    inside a trace too."""
    import numpy as np
    for value, what in ((x, "x"), (y, "y")):
        dtype = getattr(value, "dtype", None)
        if dtype is None and isinstance(value, (list, tuple)):   # nested lists, read as NumPy reads them
            try:
                dtype = np.asarray(value).dtype
            except Exception:   # noqa: BLE001 - ragged lists, tracers: the function's own checks say what is wrong
                dtype = None
        if getattr(dtype, "kind", None) == "c":
            raise DataError(f"{name}: {what}: expected real numbers, found complex numbers (dtype {dtype})")
    shape = tuple(getattr(x, "shape", None) or ())
    if not empty and shape and shape[0] == 0:
        raise DataError(f"{name}: x: expected at least one example, found none (x shape {shape}): the loss is a "
                        "mean over the batch's examples")


def _number_kind(dtype) -> str:
    """The kind of number a dtype holds, as the step's checks compare them: float32 and float64 alike."""
    import numpy as np
    if dtype is None:
        return "no array"
    if _is_key(type("leaf", (), {"dtype": dtype})()):
        return "random keys"
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        return str(dtype)
    return {"f": "floating-point numbers", "i": "integers", "u": "integers", "b": "booleans",
            "c": "complex numbers"}.get(kind, str(dtype))


def _optax_step(tx, ns, masks):
    """A train step applying an optax transformation to the derived gradients (and, with batch norm,
    updating the running averages of its statistics)."""
    norm = "init_stats" in ns

    def train_step(params, opt_state, x, y, key=None):
        import jax
        m = None if key is None or not masks else ns["dropout_masks"](key, x.shape[0])
        J, g = ns["loss_and_grads"](params, x, y, m) if masks else ns["loss_and_grads"](params, x, y)
        result = tx.update(g, opt_state["optax"] if norm else opt_state, params)
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], dict)
                and set(result[0]) == set(params)):
            from compile.train.optim import OptimizerError
            got = (f"a dict of {', '.join(map(str, result[0]))}" if isinstance(result, tuple) and len(result) == 2
                   and isinstance(result[0], dict) else f"{type(result).__name__} {result!r:.60}")
            raise OptimizerError(f"the optimizer {type(tx).__name__}: its update(grads, state, params) must return "
                                 f"(updates, new state), the updates a dict of {', '.join(params)} as optax's "
                                 f"GradientTransformation returns them; it returned {got}")
        updates, inner = result
        new = jax.tree.map(lambda p, u: p + u.astype(p.dtype), params, updates)
        if norm:
            inner = {"optax": inner, "stats": ns["update_stats"](opt_state["stats"], ns["batch_stats"](params, x))}
        return new, inner, J
    return train_step


def shuffle_order(key, n: int):
    """A random permutation of range(n) determined by ``key``.

    Drawn by NumPy from the key's bits: jax.random.permutation sorts on the device, which on a 2-core
    CPU took about 9 ms for 12,800 examples, as long as the 200 steps (64-64-10, batch 64) of the
    epoch it shuffles; NumPy takes about 0.3 ms."""
    import jax
    import numpy as np
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    bits = np.asarray(jax.random.key_data(key) if typed else key)  # a raw uint32 key is its bits
    return np.random.default_rng(bits).permutation(n).astype(np.int32)


def _epoch_fn(step, masks, unroll=SCAN_UNROLL, single=True, mesh=None):
    import jax
    split = None
    if mesh is not None:   # each batch's examples split over the devices: (batches, batch, ...) on axis 1
        from jax.sharding import NamedSharding, PartitionSpec
        split = NamedSharding(mesh, PartitionSpec(None, "batch"))

    def run(params, opt_state, x, y, order, key, batch_size):
        n = x.shape[0]
        full, rest = divmod(n, batch_size)
        drop = jax.random.split(key, full + 1) if masks else None
        total = 0.0

        def body(carry, batch):
            p, s = carry
            xb, yb, kb = batch if masks else (*batch, None)
            p, s, J = step(p, s, xb, yb, kb)
            return (p, s), J

        # The shuffled copy, gathered once: cheaper on a CPU than a gather per batch inside the loop.
        # The order is a permutation, so every index is in bounds and unique.
        xs = x.at[order].get(mode="promise_in_bounds", unique_indices=True)
        ys = y.at[order].get(mode="promise_in_bounds", unique_indices=True)
        if full:
            used = full * batch_size
            batches = (xs[:used].reshape(full, batch_size, *x.shape[1:]), ys[:used].reshape(full, batch_size, *y.shape[1:]))
            if split is not None:
                batches = tuple(jax.lax.with_sharding_constraint(b, split) for b in batches)
            (params, opt_state), losses = jax.lax.scan(body, (params, opt_state),
                                                       (*batches, drop[:full]) if masks else batches,
                                                       unroll=unroll)
            total = losses.sum() * batch_size
        if rest and not (rest == 1 and not single):  # the last, smaller batch: every example is seen once per epoch
            params, opt_state, J = step(params, opt_state, xs[full * batch_size:], ys[full * batch_size:],
                                        drop[full] if masks else None)
            total = total + J * rest
        return params, opt_state, total / (n if rest != 1 or single else n - 1)

    run = jit(run, static_argnames=("batch_size",))

    def epoch(params, opt_state, x, y, key, batch_size, shuffle=True):
        """One pass over (x, y), shuffled unless ``shuffle`` is False, in one lax.scan:
        (params, opt_state, mean step loss)."""
        return run(params, opt_state, x, y, _order(key, x.shape[0], shuffle), key, batch_size=batch_size)
    return epoch


def _order(key, n: int, shuffle: bool):
    import numpy as np
    return shuffle_order(key, n) if shuffle else np.arange(n, dtype=np.int32)


def _loop_epoch_fn(step, masks, single=True, mesh=None):
    """One shuffled pass as a Python loop of jitted steps: (params, opt_state, mean step loss). The
    same batches, in the same order and with the same dropout keys, as the scanned epoch; with a
    ``mesh``, each full batch split over its devices."""
    import jax
    import jax.numpy as jnp
    take = jax.jit(lambda a, idx: a.at[idx].get(mode="promise_in_bounds", unique_indices=True))
    gather = take
    if mesh is not None:
        from jax.sharding import NamedSharding, PartitionSpec
        split, n_dev = NamedSharding(mesh, PartitionSpec("batch")), mesh.devices.size

        def gather(a, idx):
            out = take(a, idx)
            return jax.device_put(out, split) if len(idx) % n_dev == 0 else out

    def epoch(params, opt_state, x, y, key, batch_size, shuffle=True):
        n = x.shape[0]
        order = _order(key, n, shuffle)
        full, rest = divmod(n, batch_size)
        drop = jax.random.split(key, full + 1) if masks else None
        total = jnp.zeros((), x.dtype)
        for b in range(full + (1 if rest and (rest > 1 or single) else 0)):
            idx = order[b * batch_size:(b + 1) * batch_size]
            params, opt_state, J = step(params, opt_state, gather(x, idx), gather(y, idx),
                                        drop[b] if masks else None)
            total = total + J * len(idx)
        return params, opt_state, total / (n if rest != 1 or single else n - 1)
    return epoch


def _evaluate_fn(trainer, classify: bool):
    """The trainer's jitted (loss, accuracy) function, made once per trainer and kind: a fit after
    the first reuses its compiled code (building it anew cost about 140 ms a call)."""
    cache = trainer.__dict__.setdefault("_evaluate", {})
    if classify not in cache:
        cache[classify] = _make_evaluate(trainer, classify)
    return cache[classify]


def _make_evaluate(trainer, classify: bool):
    import jax
    import jax.numpy as jnp

    norm = "init_stats" in trainer.namespace

    def evaluate(params, x, y, stats=None):
        """(loss without dropout, accuracy or nan) on the whole of (x, y); with batch norm, normalized by
        the running averages ``stats``."""
        extra = {"stats": stats} if norm else {}
        J = trainer.namespace["loss"](params, x, y, **extra)
        if not classify:
            return J, jnp.nan
        pred = trainer.namespace["forward"](params, x, **extra)
        if pred.shape[-1] == 1:   # last axis: the classes, also at every step of a sequence's outputs
            hit = (pred[..., 0] > 0.5) == (y[..., 0] > 0.5)
        else:
            hit = jnp.argmax(pred, axis=-1) == jnp.argmax(y, axis=-1)
        return J, jnp.mean(hit.astype(jnp.float32))
    return jit(evaluate, trainer.model)


@dataclass
class History:
    params: dict
    opt_state: object
    step_loss: list = field(default_factory=list)       # mean loss of the steps, per epoch
    train_loss: list = field(default_factory=list)      # loss on the training data (or its sample) after each epoch
    train_accuracy: list = field(default_factory=list)  # None entries for regression
    test_accuracy: list = field(default_factory=list)   # empty without a test split
    test_loss: list = field(default_factory=list)       # loss on the test split after each epoch
    seconds: float = 0.0
    stopped: str | None = None                          # why training stopped early, if it did
    initial_loss: float | None = None                   # training loss before the first step
    train_sample: int | None = None                     # the training metrics' sample size; None: all of x
    epochs_before: int = 0                              # epochs the starting parameters had trained (fit's epochs_done)
    run: dict = field(default_factory=dict)             # seed, batch_size, shuffle: as fit was given them
    # where the loss stopped being finite or diverged: the option the evidence points at ("lr", "eta") and advice
    # naming it (see ``culprit``)
    culprit: str | None = None
    advice: str | None = None

    @property
    def epochs(self) -> int:
        """The epochs this run finished."""
        return len(self.train_loss)

    @property
    def epochs_total(self) -> int:
        """The epochs the parameters have trained in all: those before this run (a resumed run) and this run's."""
        return self.epochs_before + self.epochs

    @property
    def diverged(self) -> bool:
        """Whether the final loss ended far above where training started (see DIVERGED_RATIO).

        Only for losses that start at or above zero, as the built-in ones do: a ratio to a negative
        start says nothing."""
        if not self.train_loss or self.initial_loss is None or not 0 <= self.initial_loss < math.inf:
            return False
        start, end = self.initial_loss, self.train_loss[-1]
        return end > DIVERGED_RATIO * start and end - start > DIVERGED_MARGIN


def fit(trainer, x, y, epochs, batch_size, seed=0, x_test=None, y_test=None, classify=None,
        params=None, progress=True, console=None, shuffle=True, opt_state=None, on_epoch=None,
        devices=None, train_sample=TRAIN_SAMPLE, on_start=None, epochs_done=0) -> History:
    """Train for ``epochs`` epochs, shuffled unless ``shuffle`` is False (then every epoch takes the
    batches in the data's order); the same seed gives the same result.

    ``epochs_done``: the epochs the starting ``params`` have trained already (a resumed run: the checkpoint's
    ``facts["epochs_done"]``). Epoch k's shuffling and dropout are drawn from the seed and k, so a run resumed
    after epoch k with its parameters, optimizer state, seed and epochs_done=k trains epochs k + 1, ... as the
    uninterrupted run did: the two end with the same parameters (to float rounding).

    x is (examples, inputs); y is (examples, outputs), or class labels (examples,) for a ce loss (or a
    bce loss with one output). Bad arrays or settings (token indices outside an embedding's vocabulary, a
    batch norm's batch of one, starting ``params`` or ``opt_state`` that do not fit the trainer) raise
    compile.train.data.DataError (a ValueError) naming the argument, before anything is traced; a network
    whose arrays would not fit in memory raises compile.checks.points.TooLarge (a MemoryError). ``on_epoch``, when given, is called after every epoch
    with a dict of its figures (epoch, epochs, loss, accuracy, test_loss, test_accuracy; None where there is
    none), as the explorer page draws them; an exception it raises ends the training and is raised on, with the
    History of the epochs before it as its ``.history``. ``on_start``, when given, is called with no arguments
    once every check has passed and the loss at the starting parameters is finite, just before the first step:
    what a caller prints about a run that trains (its settings, the layer table) belongs there, so that a run
    refused before training (a loss not finite at the start, too many devices) shows the refusal alone.

    The training loss and accuracy after each epoch are measured on all of x, or, for more than
    ``train_sample`` examples (default ``TRAIN_SAMPLE``; None or 0: always all), on a fixed random sample of
    that many (``History.train_sample`` says so): a whole pass over a large training set each epoch would
    cost a third of the epoch again. The test split is always evaluated whole.

    ``devices`` (a number, or "all") trains data parallel over that many devices: each batch split over
    them, parameters and optimizer state replicated, the gradients summed across devices by XLA. The
    result equals one device's to float rounding; the batch size must be a multiple of the devices."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    if not isinstance(trainer, Trainer):
        raise TypeError(f"trainer must be a Trainer, as compile_trainer(net) makes it, not {_a(trainer)}")
    if classify is not None and not isinstance(classify, (bool, np.bool_)):
        raise DataError(f"classify must be True, False or None (decided by the loss), not {classify!r}")
    if classify is None:
        classify = trainer.model.loss_name in CLASSIFICATION_LOSSES
    classify = bool(classify)
    _whole(epochs, "epochs", 0)
    _whole(batch_size, "batch_size", 1)
    _whole(seed, "seed", 0, SEED_MAX)
    _whole(epochs_done, "epochs_done", 0, EPOCHS_DONE_MAX)
    if train_sample is not None:
        _whole(train_sample, "train_sample", 0)
    for flag, value in (("progress", progress), ("shuffle", shuffle)):
        if not isinstance(value, (bool, np.bool_)):
            raise DataError(f"{flag} must be True or False, not {value!r} ({_a(value)})")
    if console is not None:
        from rich.console import Console
        if not isinstance(console, Console):
            raise TypeError(f"fit: console must be a rich.console.Console (or None: the terminal's stderr), not "
                            f"{console!r:.60} ({_a(console)})")
    if on_epoch is not None and not callable(on_epoch):
        raise DataError(f"on_epoch must be a function of one dict (or None), not {on_epoch!r} ({_a(on_epoch)})")
    if on_start is not None and not callable(on_start):
        raise DataError(f"on_start must be a function of no arguments (or None), not {on_start!r} ({_a(on_start)})")
    x, y = _arrays(trainer, x, y, "training data", ("x", "y"))
    test = None
    if (x_test is None) != (y_test is None):
        raise DataError(f"test data: pass both x_test and y_test, or neither (found only "
                        f"{'x_test' if y_test is None else 'y_test'})")
    if x_test is not None:
        test = _arrays(trainer, x_test, y_test, "test data", ("x_test", "y_test"))
    check_batch_norm(trainer.model, batch_size, len(x))
    given = None if params is None else _params(trainer, params)
    if opt_state is not None:
        _opt_state(trainer, opt_state)
    _fits(trainer.model, trainer.dtype, min(batch_size, len(x), 100_000), "training")
    mesh = _mesh(devices)
    epoch_fn = trainer.epoch
    if mesh is not None:
        if min(batch_size, len(x)) % mesh.devices.size:
            raise DataError(f"batch_size: {min(batch_size, len(x))} examples do not split evenly over "
                            f"{mesh.devices.size} devices: use a multiple of {mesh.devices.size}")
        epoch_fn = _sharded_epoch(trainer, mesh)
    start = time.perf_counter()
    key = jax.random.key(seed)
    k_init, k_train = jax.random.split(key)
    params = trainer.init_params(k_init) if given is None else given
    # a fresh state's random keys (noisy_sgd's noise) follow the seed; a resumed state keeps its own
    hist = History(params, trainer.init_opt_state(params, seed) if opt_state is None else opt_state,
                   epochs_before=int(epochs_done), run={"seed": int(seed), "batch_size": int(batch_size),
                                                        "shuffle": bool(shuffle)})
    # the checked arrays are fresh copies of the user's, aligned: on a CPU the device takes them without a copy
    x, y = jax.device_put(x), jax.device_put(y)
    test = None if test is None else tuple(jax.device_put(a) for a in test)
    if mesh is not None:   # parameters, state and data on every device; each batch is split in the epoch
        from jax.sharding import NamedSharding, PartitionSpec
        every = NamedSharding(mesh, PartitionSpec())
        hist.params, hist.opt_state, x, y = jax.device_put((hist.params, hist.opt_state, x, y), every)
        params = hist.params
        test = None if test is None else jax.device_put(test, every)
    evaluate = _evaluate_fn(trainer, classify)
    batch_size = min(batch_size, x.shape[0])
    xe, ye = x, y   # what the training metrics are measured on: all of x, or a fixed sample of a large x
    if train_sample and x.shape[0] > train_sample:
        import numpy as np
        pick = np.sort(np.random.default_rng(seed).permutation(x.shape[0])[:train_sample])
        xe, ye = x[pick], y[pick]
        hist.train_sample = int(train_sample)
    hist.initial_loss = float(evaluate(params, xe, ye, trainer.stats(hist.opt_state))[0])
    if not math.isfinite(hist.initial_loss):   # no step can mend it, and no learning rate is to blame
        raise DataError(_not_finite_at_start(trainer, hist.initial_loss, params, xe, ye, x, y,
                                             trainer.stats(hist.opt_state), given is not None))
    if on_start is not None:
        on_start()
    first = (hist.params, hist.opt_state)   # where the run starts: what a stop or a divergence is traced back to
    with _progress(progress, console, epochs, before=int(epochs_done)) as bar:
        for e in range(1, epochs + 1):
            # epoch k of the whole training (resumed runs included) shuffles with key k
            p, s, step_loss = epoch_fn(hist.params, hist.opt_state, x, y,
                                       jax.random.fold_in(k_train, epochs_done + e), batch_size=batch_size,
                                       shuffle=bool(shuffle))
            J, acc = (float(v) for v in evaluate(p, xe, ye, trainer.stats(s)))
            if not (math.isfinite(J) and math.isfinite(float(step_loss))):
                hist.culprit, hist.advice = culprit(trainer, *first, x, y, batch_size)
                hist.stopped = (f"the loss became {J if not math.isfinite(J) else float(step_loss)} in epoch {e}: "
                                f"stopped, keeping the parameters from epoch {e - 1} ({hist.advice})")
                break
            hist.params, hist.opt_state = p, s
            hist.step_loss.append(float(step_loss))
            hist.train_loss.append(J)
            hist.train_accuracy.append(acc if classify else None)
            if test is not None:
                test_J, test_acc = (float(v) for v in evaluate(p, *test, trainer.stats(s)))
                hist.test_loss.append(test_J)
                if classify:
                    hist.test_accuracy.append(test_acc)
            figures = (J, acc if classify else None, hist.test_loss[-1] if hist.test_loss else None,
                       hist.test_accuracy[-1] if hist.test_accuracy else None)
            bar(e, *figures)
            if on_epoch is not None:
                try:
                    on_epoch(dict(zip(("loss", "accuracy", "test_loss", "test_accuracy"), figures), epoch=e,
                                  epochs=epochs))
                except Exception as exc:   # the caller's own: raised, with the training so far kept on it
                    hist.seconds = time.perf_counter() - start
                    hist.stopped = f"on_epoch raised {type(exc).__name__} after epoch {e}"
                    try:
                        exc.history = hist
                    except (AttributeError, TypeError):
                        raise
                    exc.add_note(f"fit: on_epoch raised after epoch {e}; the training so far (its parameters "
                                 "included) is this exception's .history")
                    raise
    if hist.diverged and hist.culprit is None:
        hist.culprit, hist.advice = culprit(trainer, *first, x, y, batch_size)
    hist.seconds = time.perf_counter() - start
    return hist


# Optimizers that add Gaussian noise to the gradient, by name: the names of the options of its variance
# eta / (1 + t)^gamma at step t (optax.noisy_sgd's add_noise; the step is the learning rate times gradient and noise).
NOISY = {"noisy_sgd": ("eta", "gamma")}


def noise_step(trainer, opt_state):
    """(the standard deviation of the noise a noisy optimizer's next step adds to each parameter, the noise scale
    eta, the learning rate at that step). The deviation is the learning rate times √(eta / (1 + t)^gamma), t the
    steps ``opt_state`` has counted. None for an optimizer that adds no noise (or one passed in as an object, whose
    options are not known)."""
    import inspect
    import jax
    import numpy as np
    names = NOISY.get(trainer.optimizer_name)
    if names is None:
        return None
    import optax
    defaults = inspect.signature(getattr(optax, trainer.optimizer_name)).parameters
    eta, gamma = (float(trainer.options.get(k, defaults[k].default)) for k in names)
    counts = [int(np.max(np.asarray(leaf))) for leaf in jax.tree.leaves(opt_state)
              if not _is_key(leaf) and np.asarray(leaf).dtype.kind in "iu" and np.size(leaf)]
    t = max(counts, default=0)
    lr = trainer.options.get("lr")
    lr = float(lr(t)) if callable(lr) else float(lr)
    return lr * math.sqrt(eta / (1 + t) ** gamma), eta, lr


def culprit(trainer, params, opt_state, x, y, batch_size) -> tuple:
    """(the option the evidence points at for a run whose loss stopped being finite or diverged, advice naming it),
    judged at the run's start (``params``, ``opt_state``). The learning rate ("lr"), unless the optimizer adds
    noise (noisy_sgd) and that noise moves the parameters by more than their own size (their largest magnitude,
    or 1) in one step while the gradient's step with the noise off (lr·|g| on the first batch) does not: then the
    noise scale ("eta")."""
    import jax
    import numpy as np
    blame_lr = ("lr", "try a smaller learning rate")
    wide = _wide_inputs(trainer, x)
    if wide:
        return "x", wide
    try:
        noise = noise_step(trainer, opt_state)
    except Exception:   # noqa: BLE001 - no evidence against the noise: the learning rate, as ever
        return blame_lr
    if noise is None:
        return blame_lr
    sigma, eta, lr = noise

    def largest(arrays):
        return max((float(np.max(np.abs(np.asarray(v, np.float64)))) for v in arrays if np.size(v)), default=0.0)
    scale = max(largest(params.values()), 1.0)
    if not sigma > scale:
        return blame_lr
    try:
        step = lr * largest(jax.jit(trainer.namespace["grads"])(params, x[:batch_size], y[:batch_size]).values())
    except Exception:   # noqa: BLE001 - no gradient to compare the noise with: the learning rate
        return blame_lr
    if not step <= scale:   # the gradient's own step is as large (or not finite): the learning rate
        return blame_lr
    return "eta", (f"try a smaller noise scale eta than {eta:g}: {trainer.optimizer_name}'s noise moves the "
                   f"parameters by about {sigma:.3g} a step (standard deviation lr·√(eta/(1+t)^gamma)), more than "
                   f"their own size ({scale:.3g}), while the gradient's step with the noise off (lr·|g|) is at "
                   f"most {step:.3g}")


WIDE_INPUTS = 100.0   # inputs reaching this size (8-bit pixels' 255) are named before the learning rate


def _wide_inputs(trainer, x) -> str:
    """Advice where the inputs are far from the unit scale the initial weights are drawn for (x reaching 0..255, as
    8-bit images read as they are), which makes the first steps' gradients as large: '' otherwise, and for token
    indices (an embedding's input), which are no sizes."""
    import numpy as np
    if getattr(trainer.model, "vocab", None):
        return ""
    try:
        sample = np.asarray(x[:10_000], dtype=np.float64)
        low, high = float(np.min(sample)), float(np.max(sample))
    except (TypeError, ValueError, IndexError):
        return ""
    if not max(abs(low), abs(high)) >= WIDE_INPUTS:
        return ""
    return (f"x ranges over {low:g}..{high:g}, far from the unit scale the initial weights are drawn for: scale it "
            f"(to [0, 1], as 8-bit images are divided by 255, or to mean 0 and deviation 1) before a smaller learning "
            f"rate (derivax divides 8-bit pixels by 255 only in MNIST's x_train and x_test and IDX files; a .npz's x "
            f"is read as it is)")


def _not_finite_at_start(trainer, J, params, xe, ye, x, y, stats, resumed) -> str:
    """Why the loss is not finite before the first step, as far as it can be told: the network's output already
    overflows (x too large), the targets' squares overflow the trainer's precision (y too large), or the loss is
    undefined for these predictions and targets. (xe, ye) is what the loss was measured on, (x, y) all the
    training data."""
    import numpy as np
    start = "the starting parameters" if resumed else "the initial parameters"
    head = (f"training data: the loss is {J} at {start}, before any step, so no learning rate would mend it: ")
    info = np.finfo(trainer.dtype)
    extra = {"stats": stats} if "init_stats" in trainer.namespace else {}
    pred = np.asarray(trainer.namespace["forward"](params, xe, **extra), np.float64)
    xs, ys = np.asarray(x, np.float64), np.asarray(y, np.float64)
    x_top = float(np.abs(xs).max()) if xs.size else 0.0
    y_top = float(np.abs(ys).max()) if ys.size else 0.0
    # the parameter of the largest magnitude (or one not finite): loaded weights can be the cause as well as x
    sizes = {k: float(np.nanmax(np.abs(np.where(np.isfinite(v), v, np.inf)))) if np.size(v) else 0.0
             for k, v in ((k, np.asarray(v, np.float64)) for k, v in params.items())}
    p_name = max(sizes, key=sizes.get) if sizes else None
    w_top = sizes.get(p_name, 0.0)
    if not np.isfinite(pred).all():
        where = "loaded from the checkpoint" if resumed else "drawn at the start"
        if p_name is not None and (not np.isfinite(w_top) or (w_top > 1e6 and x_top <= 1e3)):
            return head.replace("training data: ", "parameters: ", 1) + (
                f"the network's output is already not finite there: the parameters {where} are the cause, "
                f"{p_name} reaching {w_top:.3g} (x's largest magnitude is only {x_top:.3g})")
        return head + (f"the network's output is already not finite there (x's largest magnitude is {x_top:.3g}; "
                       "scale x down, e.g. to mean 0 and standard deviation 1)")
    top = float(info.max)
    if y_top ** 2 > top or float((np.asarray(ye, np.float64) ** 2).sum()) > top:   # one square, or their sum
        return head + (f"y's largest magnitude is {y_top:.3g}, and the squares of such targets overflow "
                       f"{trainer.dtype} (largest {top:.3g}), the precision training runs in; scale y down "
                       f"(e.g. divide it by its standard deviation, {float(ys.std()):.3g})")
    p_top = float(np.abs(pred).max()) if pred.size else 0.0
    if p_top ** 2 > top:
        return head + (f"the network's output reaches {p_top:.3g} there, and its square overflows {trainer.dtype} "
                       f"(largest {top:.3g}), the precision training runs in (x's largest magnitude is {x_top:.3g}; "
                       "scale x down, e.g. to mean 0 and standard deviation 1)")
    return head + (f"the loss {trainer.model.loss_name} is undefined for the network's (finite) predictions "
                   f"against these targets (y spans {float(ys.min()):.4g}..{float(ys.max()):.4g}, x's largest "
                   f"magnitude is {x_top:.3g})")


def _a(value) -> str:
    if value is None:
        return "None"
    name = type(value).__name__
    return ("an " if name[:1] in "aeiou" else "a ") + name


def _whole(value, name, low, high=None):
    """An integer setting of fit in [low, high], or a DataError naming it (bools and floats refused:
    1.5 epochs or a batch of True would be rounded silently)."""
    import numbers
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise DataError(f"{name} must be an integer, not {value!r}" + (f" ({_a(value)})" if value is not None else ""))
    if value < low or (high is not None and value > high):
        raise DataError(f"{name} must be from {low}" + (f" to {high}" if high is not None else " up")
                        + f", not {value}")


def _arrays(trainer, x, y, what, names):
    """(x, y) checked against the trainer's network and cast to its dtype; labels made one-hot."""
    import numpy as np
    from compile.train.data import _numeric, check_data, check_tokens
    model = trainer.model
    n_in, n_out = model.sizes[0], model.sizes[-1]
    loss = model.loss_name
    labels = loss == "ce" or (loss == "bce" and n_out == 1)
    for value, name in zip((x, y), names):
        if value is None:
            raise DataError(f"{what}: {name} is None, expected an array")
    steps = int(model.Y.shape[1]) if model.Y.rank == 3 else None   # an output at every step
    if getattr(model, "vocab", None):   # token indices, checked as the user laid them out, before any cast
        x = _numeric(x, f"{what}: {names[0]}")
        check_tokens(x, model.vocab, f"{what}: {names[0]}")
    x, y = check_data(x, y, n_in, n_out, "classification" if labels else "regression", what, names,
                      dtype=np.dtype(trainer.dtype), steps=steps)
    if loss in CLASSIFICATION_LOSSES and (y.min() < 0 or y.max() > 1):
        raise DataError(f"{what}: the loss {loss} takes targets in 0..1, but {names[1]} spans "
                        f"{y.min():g}..{y.max():g}")
    return x, y


def _step_params(trainer, params) -> None:
    """A DataError unless ``params`` is a dict holding exactly the network's parameters (by name)."""
    shapes = trainer.namespace["PARAM_SHAPES"]
    if not isinstance(params, dict):
        raise DataError(f"params: expected a dict with keys {', '.join(shapes)} (as trainer.init_params makes it), "
                        f"found {_a(params)}")
    if set(params) != set(shapes):
        missing = [k for k in shapes if k not in params]
        extra = [repr(k) for k in params if k not in shapes]
        raise DataError(f"params: expected a dict with keys {', '.join(shapes)}; "
                        + "; ".join(([f"missing {', '.join(missing)}"] if missing else [])
                                    + ([f"unknown {', '.join(extra)}"] if extra else [])))


def _params(trainer, params):
    """Starting parameters: a dict with the network's names and shapes, of finite real numbers."""
    import jax.numpy as jnp
    import numpy as np
    shapes = trainer.namespace["PARAM_SHAPES"]
    if not isinstance(params, dict) or set(params) != set(shapes):
        found = ", ".join(map(str, params)) if isinstance(params, dict) else _a(params)
        raise DataError(f"params: expected a dict with keys {', '.join(shapes)}, found {found or 'no keys'}")
    for k, shape in shapes.items():
        value = _real(params[k], f"params[{k!r}]")
        if tuple(value.shape) != tuple(shape):
            raise DataError(f"params[{k!r}]: expected shape {tuple(shape)}, found {tuple(value.shape)}")
        with np.errstate(over="ignore", invalid="ignore"):
            cast = value.astype(trainer.dtype)
        bad = ~np.isfinite(cast)
        if bad.any():   # a NaN would train into a NaN loss, and the stop would blame the learning rate
            i = tuple(int(j) for j in np.argwhere(bad)[0])
            v = value[i].item()
            raise DataError(f"params[{k!r}]: expected finite numbers, found {v} at index {i}"
                            + (f" (too large for {trainer.dtype})" if np.isfinite(v) else "")
                            + f" ({int(bad.sum())} such value{'s' if bad.sum() != 1 else ''} in all)")
    return {k: jnp.asarray(params[k], trainer.dtype) for k in shapes}


def _real(value, what):
    """``value`` as a NumPy array of real numbers (bool, int or float), or a DataError naming ``what``."""
    import numpy as np
    try:
        a = np.asarray(value)
    except Exception as exc:   # noqa: BLE001 - ragged lists, objects NumPy cannot take
        raise DataError(f"{what}: expected an array of numbers, found {_a(value)} NumPy cannot read "
                        f"({' '.join(str(exc).split())})") from None
    if a.dtype.kind not in "biuf":
        raise DataError(f"{what}: expected real numbers, found dtype {a.dtype} (shape {a.shape})")
    return a


def _opt_state(trainer, opt_state):
    """A given optimizer state (resumed training) checked against the state the trainer's optimizer makes:
    the same structure, each array of the same shape, real and finite."""
    import jax
    import numpy as np
    spec = {k: jax.ShapeDtypeStruct(tuple(int(d) for d in s), trainer.dtype)
            for k, s in trainer.namespace["PARAM_SHAPES"].items()}
    want = jax.eval_shape(trainer.init_opt_state, spec)   # shapes only: nothing is computed
    expected = jax.tree.structure(want)
    found = jax.tree.structure(opt_state)
    if found != expected:
        name = getattr(trainer.optimizer, "name", None) or type(trainer.optimizer).__name__
        where, want_part, found_part = "opt_state", want, opt_state
        while isinstance(want_part, dict) and isinstance(found_part, dict) and set(want_part) == set(found_part):
            # the same keys here: the difference is deeper, under the first key whose structures differ
            key = next(k for k in want_part
                       if jax.tree.structure(want_part[k]) != jax.tree.structure(found_part[k]))
            where, want_part, found_part = f"{where}[{key!r}]", want_part[key], found_part[key]
        found_text = _tree_text(found_part)
        if isinstance(want_part, dict) and isinstance(found_part, dict):
            missing = [repr(k) for k in want_part if k not in found_part]
            extra = [repr(k) for k in found_part if k not in want_part]
            found_text = "; ".join(([f"missing {', '.join(missing)}"] if missing else [])
                                   + ([f"unknown {', '.join(extra)}"] if extra else []))
        raise DataError(f"{where}: does not fit this trainer's optimizer ({name}), whose state "
                        f"trainer.init_opt_state(params) makes: expected {_tree_text(want_part)}, "
                        f"found {found_text}")
    paths = jax.tree_util.tree_flatten_with_path(want)[0]
    for (path, spec_leaf), leaf in zip(paths, jax.tree.leaves(opt_state)):
        where = "opt_state" + jax.tree_util.keystr(path)
        if _is_key(spec_leaf):   # a random key (noisy_sgd's noise): a key of the same kind and shape
            if not _is_key(leaf) or leaf.dtype != spec_leaf.dtype or tuple(leaf.shape) != tuple(spec_leaf.shape):
                found = f"dtype {leaf.dtype}, shape {tuple(leaf.shape)}" if hasattr(leaf, "dtype") else _a(leaf)
                raise DataError(f"{where}: expected a random key of dtype {spec_leaf.dtype} and shape "
                                f"{tuple(spec_leaf.shape)}, as jax.random.key makes it, found {found}")
            continue
        a = _real(leaf, where)
        if tuple(a.shape) != tuple(spec_leaf.shape):
            raise DataError(f"{where}: expected shape {tuple(spec_leaf.shape)}, found {tuple(a.shape)}")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            i = tuple(int(j) for j in np.argwhere(~np.isfinite(a))[0])
            raise DataError(f"{where}: expected finite numbers, found {a[i].item()} at index {i}")


def _tree_text(tree, limit=160) -> str:
    """A short account of a pytree: a dict by its keys, anything else by its type."""
    if isinstance(tree, dict):
        out = f"a dict with keys {', '.join(map(repr, tree))}" if tree else "an empty dict"
    else:
        out = _a(tree)
    return out if len(out) <= limit else out[:limit - 1] + "…"


def batch_norm_counts(model) -> list:
    """(layer, variance, values per example) for each batch norm of ``model``: how many values of one example
    each feature's mean and variance average over (1 after a Dense layer; the positions after a
    convolution, the steps of a sequence). A batch's count is that times its examples."""
    from derive.graph.symbols import m as m_sym
    from derive.network.norm import running_stats
    out = []
    for r in running_stats(model):
        per_example = 1
        for whole, reduced in zip(r.centred.shape, r.var.shape):
            if reduced == 1 and whole != 1 and whole != m_sym:
                per_example *= int(whole)
        out.append((r.layer, r.variance, per_example))
    return out


def check_batch_norm(model, batch_size, n, name="batch_size") -> None:
    """A DataError where a batch norm would average over a single value per feature, as it does after a Dense
    layer in a batch of one example: the running variance (and an unbiased one) divides by N − 1 = 0 and the
    loss becomes NaN. ``batch_size`` is the size asked for (called ``name``), ``n`` the training examples."""
    for layer, _variance, per_example in batch_norm_counts(model):
        if min(batch_size, n) * per_example >= 2:
            continue
        if n < 2:
            raise DataError(f"training data: layer {layer} (batch norm) normalizes each feature over the batch, "
                            f"which needs at least 2 examples; the data has {n}")
        raise DataError(f"{name}: layer {layer} (batch norm) normalizes each feature over the batch, "
                        f"which needs at least 2 examples in a batch, not {batch_size}")


def _fits(model, dtype, m, what, copies=5):
    """compile.checks.points.fits for a trainer's arrays in its dtype (parameters, gradients and up to two
    optimizer states, and m examples' activations), the largest array named where it fails."""
    import numpy as np
    from compile.checks.points import TooLarge, _gb, fits
    try:
        fits(model, m, what, itemsize=np.dtype(dtype).itemsize, copies=copies)
    except TooLarge as exc:
        big = max(model.records, key=lambda p: int(np.prod([int(d) for d in p.shape])))
        dims = "×".join(str(int(d)) for d in big.shape)
        size = int(np.prod([int(d) for d in big.shape])) * np.dtype(dtype).itemsize
        raise TooLarge(f"{exc} (the largest array, {big.name} of layer {big.layer}, is {dims}: {_gb(size)} "
                       f"in {dtype} alone)") from None


# The generated module's functions that read x: with an embedding first, their token indices are checked.
TOKEN_READERS = ("forward", "loss", "grads", "loss_and_grads")


# The functions whose gradient takes the targets of a categorical cross-entropy to be one-hot rows: the derived
# δ = A − Y is the gradient of −Σ Y ⊙ log softmax(Z) only where each example's Y sums to 1 over the classes (the
# derivation's own step, printed). The loss itself holds for any Y, and is not checked.
TARGET_READERS = ("grads", "loss_and_grads")


def _targets_checked(fn, name, shapes=None):
    """``fn`` checking that y's rows are one-hot (or class probabilities: non-negative, summing to 1 over the
    classes, the last axis) where it is given concrete values, after ``shapes`` (the module's check_shapes) has
    checked x's and y's shapes; inside a trace there is nothing to look at."""
    import functools
    import numpy as np
    from compile.train.data import _numeric

    @functools.wraps(fn)
    def checked(params, x, y, *args, **kwargs):
        from jax.core import Tracer
        if not isinstance(y, Tracer) and hasattr(y, "shape") and len(y.shape) >= 2:
            if shapes is not None:
                shapes(x, y)
            one_hot_rows(_numeric(y, f"{name}: y"), name)
        return fn(params, x, y, *args, **kwargs)
    return checked


def one_hot_rows(y, name) -> None:
    """A DataError naming the first row of ``y`` (classes on its last axis) that is no one-hot row, nor class
    probabilities: non-negative, summing to 1 over the classes (to 1e-4)."""
    import numpy as np
    t = np.asarray(y, dtype=np.float64)
    if not t.size or t.ndim < 2:
        return
    sums = t.sum(axis=-1)
    if t.min() >= 0 and np.all(np.abs(sums - 1.0) <= 1e-4):
        return
    at = tuple(int(i) for i in np.unravel_index(
        int(np.argmax(np.abs(sums - 1.0) + (t.min(axis=-1) < 0))), sums.shape))
    raise DataError(
        f"{name}: y[{', '.join(map(str, at))}] = {np.round(t[at], 6).tolist()} is not a one-hot row (non-negative, "
        f"summing to 1 over the classes; it sums to {sums[at]:.6g}): the derived gradient of the "
        f"categorical cross-entropy, δ = A − Y, takes each row of Y to sum to 1. Normalize the rows, "
        f"or declare the loss as the formula -y*log(yhat) for a gradient that holds for any y")


# The generated module's functions that take the parameters and x: the parameters' names, shapes and kinds of number,
# and x's (and y's) numbers, are checked as train_step checks them (``_inputs_checked``).
INPUT_READERS = ("forward", "loss", "grads", "loss_and_grads")


def _inputs_checked(fn, trainer, name):
    """``fn`` refusing another network's parameters (``_params_fit``), complex x or y, and, but for forward (whose
    prediction for no examples is none), a batch of no examples (``_batch_inputs``), with a DataError naming what
    differs, before the module casts and computes."""
    import functools

    @functools.wraps(fn)
    def checked(params, x, *args, **kwargs):
        _params_fit(trainer, params)
        _batch_inputs(x, args[0] if args and name != "forward" else kwargs.get("y"), name, empty=name == "forward")
        return fn(params, x, *args, **kwargs)
    return checked


# The functions that normalize with the batch's own statistics (forward and loss only without ``stats``).
BATCH_READERS = ("forward", "loss", "grads", "loss_and_grads", "batch_stats")


def _batch_checked(fn, model, name, init_stats=None):
    """``fn`` refusing a batch too small for a batch norm's statistics (compile.train.train.check_batch_norm's
    rule: a single value per feature, as one example after a Dense layer gives, makes the loss NaN), where it
    normalizes with the batch's own statistics. The check reads x's shape only, so it holds inside a trace too.
    Running averages given as ``stats`` are checked against what ``init_stats`` makes (``_stats_fit``)."""
    import functools

    @functools.wraps(fn)
    def checked(params, x, *args, **kwargs):
        at = 1 if name == "loss" else 0   # where stats stands among the arguments after x (forward, loss)
        stats = kwargs.get("stats", args[at] if name in ("forward", "loss") and len(args) > at else None)
        if stats is None:
            batch_norm_batch(model, x, name)
        elif init_stats is not None:
            _stats_fit(stats, init_stats(), name)
        return fn(params, x, *args, **kwargs)
    return checked


def _stats_fit(stats, want, name) -> None:
    """A DataError naming what differs between ``stats`` and the running averages ``want`` (init_stats()'s): the
    names (mu3, var3), each array's shape, and, for values that are there to look at, a variance below 0 or a value
    that is no finite number (each would make the output NaN)."""
    import numpy as np
    from jax.core import Tracer
    made = "trainer.stats(opt_state)"
    if not isinstance(stats, dict):
        raise DataError(f"{name}: stats are the running averages {made} gives, a dict of {', '.join(want)}; found "
                        f"{_a(stats)}")
    if set(stats) != set(want):
        missing, extra = sorted(set(want) - set(stats), key=str), sorted(set(stats) - set(want), key=str)
        raise DataError(f"{name}: stats are the running averages {made} gives, a dict of {', '.join(want)}"
                        + (f"; {', '.join(map(str, missing))} missing" if missing else "")
                        + (f"; {', '.join(map(repr, extra))} not among them" if extra else ""))
    for key, value in want.items():
        given = stats[key]
        if tuple(np.shape(given)) != tuple(np.shape(value)):
            raise DataError(f"{name}: stats[{key!r}] has shape {tuple(np.shape(given))}, where {made} makes "
                            f"{tuple(np.shape(value))}")
        if isinstance(given, Tracer):
            continue
        a = np.asarray(given, dtype=np.float64)
        if not np.all(np.isfinite(a)):
            raise DataError(f"{name}: stats[{key!r}] holds a value that is no finite number")
        if str(key).startswith("var") and a.size and a.min() < 0:
            raise DataError(f"{name}: stats[{key!r}] holds a variance below 0 ({a.min():g}): the running averages "
                            f"{made} gives are never negative")


def batch_norm_batch(model, x, name) -> None:
    """A DataError where x's batch is too small for a batch norm's statistics over it (check_batch_norm's rule: a
    single value per feature, as one example after a Dense layer gives, makes the loss NaN). Reads x's shape
    only, which a trace has too."""
    n = int(x.shape[0]) if getattr(x, "shape", ()) else None
    for layer, _variance, per_example in batch_norm_counts(model) if n is not None else ():
        if n * per_example < 2:
            raise DataError(
                f"{name}: layer {layer} (batch norm) normalizes each feature over the batch, which needs at "
                f"least 2 values of it; x holds {n} example{'s' if n != 1 else ''} (shape {tuple(x.shape)})"
                + (" (evaluate with the running averages: stats=trainer.stats(opt_state))"
                   if name in ("forward", "loss") else ""))


def _token_checked(fn, vocab, name):
    """``fn`` checking that x holds token indices in 0..vocab-1 (compile.train.data.check_tokens) where it
    is given concrete values; inside a trace (a user's jit or grad) there is nothing to look at."""
    import functools
    from compile.train.data import _numeric, check_tokens

    @functools.wraps(fn)
    def checked(params, x, *args, **kwargs):
        from jax.core import Tracer
        if not isinstance(x, Tracer):
            check_tokens(_numeric(x, f"{name}: x"), vocab, f"{name}: x")
        return fn(params, x, *args, **kwargs)
    return checked


PLAIN_LINES = 20   # at most about this many epoch lines when the output is no terminal


def _metrics(loss, acc, test_loss=None, test_acc=None) -> str:
    """loss 0.1234, accuracy 95.0%, test loss 0.2, test accuracy 93.1%: what an epoch reports."""
    out = f"loss {loss:.4g}" + ("" if acc is None else f", accuracy {acc:.1%}")
    if test_loss is not None:
        out += f", test loss {test_loss:.4g}" + ("" if test_acc is None else f", test accuracy {test_acc:.1%}")
    return out


def _duration(seconds) -> str:
    """12 s, 3 min 20 s, 1 h 5 min: a time to go, as a person says it."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s" if seconds % 60 else f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class _progress:
    """The training's feedback on stderr: a rich progress bar with the live metrics on a terminal, one plain
    line per epoch elsewhere (a file, a pipe, CI's log), as Keras prints; a no-op when ``enabled`` is false.
    The first epoch also compiles the step: the bar says so until it ends. Epochs are counted as the whole
    training counts them: a run resumed after ``before`` epochs shows epoch before + 1 first, of before + total."""

    def __init__(self, enabled, console, total, before=0):
        self.enabled, self.console, self.total, self.before = enabled, console, total, before

    def __enter__(self):
        if not self.enabled:
            return lambda *a: None
        import sys
        import time
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        console = self.console or Console(stderr=True)
        self.bar = None
        if not console.is_terminal:
            start, out = [time.perf_counter(), 0], console.file or sys.stderr
            every = max(1, self.total // PLAIN_LINES)   # a thousand epochs print every 50th
            first = []   # when the first epoch (compiling included) ended: the pace is measured from there

            def line(epoch, loss, acc, test_loss=None, test_acc=None):
                now = time.perf_counter()
                if epoch == 1:
                    first[:] = [now]
                if epoch not in (1, self.total) and epoch % every:
                    return
                span = f"{now - start[0]:.1f} s for {epoch - start[1]} epoch{'s' if epoch - start[1] > 1 else ''}"
                left = ""
                togo = (now - first[0]) / (epoch - 1) * (self.total - epoch) if 1 < epoch < self.total else 0
                if togo >= 1:   # the time still to go, at the pace of the epochs after compiling
                    left = f", about {_duration(togo)} left"
                print(f"epoch {self.before + epoch}/{self.before + self.total}: {_metrics(loss, acc, test_loss, test_acc)} "
                      f"({span}{', compiling included' if start[1] == 0 else ''}{left})", file=out, flush=True)
                start[:] = [now, epoch]
            return line
        self.bar = Progress(TextColumn("epoch"), MofNCompleteColumn(), BarColumn(),
                            TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(), TextColumn("left"),
                            TimeRemainingColumn(), console=console)
        self.bar.__enter__()
        task = self.bar.add_task("train", total=self.before + self.total, completed=self.before,
                                 metrics="compiling the train step (JAX)…")

        def update(epoch, loss, acc, test_loss=None, test_acc=None):
            self.bar.update(task, completed=self.before + epoch, metrics=_metrics(loss, acc, test_loss, test_acc))
        return update

    def __exit__(self, *exc):
        if self.enabled and self.bar is not None:
            self.bar.__exit__(*exc)
        return False

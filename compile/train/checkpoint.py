"""Checkpoints: a trainer's parameters and its optimizer state in one .npz, read back to resume or evaluate.

The parameters are stored under their own names (W1, b1, ...: the same file ``--save`` always wrote, which
NumPy reads as it is), the optimizer state's arrays under ``opt_state/0``, ``opt_state/1``, ... in the order
JAX flattens the state (batch norm's running averages are part of it), and a JSON line of facts under
``__derivax__``; batch norm's running averages also under ``stats/mu2``, ``stats/var2``. Nothing is pickled: a checkpoint cannot run code when it is read.

The parameters are stored in the layout of the convention they were trained in (W1 is (in, out) in rows,
(out, in) in columns), and the facts record it (``"convention"``); a reader in the other convention turns
each matrix, and its optimizer state with it. A file without that record (parameters a user saved) is read
as rows, the layout the rest of derivax prints first. A square W has the same shape either way, so only
the record can tell the two apart.

Every array is checked as it is read: real numbers, all finite, within the trainer's precision. A NaN in a
checkpoint would otherwise come out as a loss of NaN, or a resumed run that "diverges" at its first step.
"""
from __future__ import annotations

import json
import numbers

import numpy as np

from compile.train.data import INPUT_READINGS, DataError, npz_array, open_npz

META = "__derivax__"
STATE = "opt_state/"
STATS = "stats/"
CONVENTIONS = ("rows", "columns")
# the largest seed and count of epochs done that ``fit`` takes: a checkpoint that records more is refused by name
SEED_MAX = 2**32 - 1
EPOCHS_DONE_MAX = 2**31 - 1


def save_checkpoint(path, trainer, params, opt_state, epochs: int | None = None, inputs: str | None = None,
                    history=None) -> None:
    """Write ``params`` and ``opt_state`` of ``trainer`` to ``path`` (.npz). ``inputs``: how the training data's
    x was read (one of compile.train.data.INPUT_READINGS, as ``Dataset.inputs`` says), recorded so that
    ``predict`` reads a file that leaves it open (x_test alone) the same way; None: not recorded.

    ``history``: the ``fit`` History the parameters come from. With it the file records the epochs trained in all
    (``epochs_done``: a resumed run's included) and the run's seed, batch size and shuffling, so that a run
    resumed from the file continues the shuffling where it stopped (``fit(..., epochs_done=...)``); the learning
    rate, the optimizer's options and the loss's weight decay and reduction are recorded from ``trainer``. Without
    it, ``epochs`` (this run's epochs) is taken as the epochs trained in all."""
    import jax
    if inputs is not None and inputs not in INPUT_READINGS:
        raise ValueError(f"save_checkpoint: inputs must be one of {', '.join(INPUT_READINGS)} or None, not {inputs!r}")
    if history is not None and epochs is None:
        epochs = history.epochs
    leaves = jax.tree_util.tree_leaves(opt_state)
    meta = {"network": trainer.model.size_text, "optimizer": optimizer_name(trainer),
            "epochs": epochs, "state_arrays": len(leaves), "state_tree": str(jax.tree_util.tree_structure(opt_state)),
            "convention": trainer.model.convention, "layers": signature(trainer),
            "settings": run_settings(trainer, history)}
    done = history.epochs_total if history is not None else epochs
    if _count(done):
        meta["epochs_done"] = int(done)
    if inputs is not None:
        meta["inputs"] = inputs
    arrays = {k: np.asarray(v) for k, v in params.items()}
    # a random key (noisy_sgd's) as its bits: NumPy holds no key; read back as a key of the trainer's kind
    arrays.update({f"{STATE}{i}": np.asarray(jax.random.key_data(v) if _is_key(v) else v) for i, v in enumerate(leaves)})
    stats = trainer.stats(opt_state)   # batch norm's running averages, also by name: evaluation reads them
    if stats:
        arrays.update({f"{STATS}{k}": np.asarray(v) for k, v in stats.items()})
    arrays[META] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


def run_settings(trainer, history=None) -> dict:
    """The settings a checkpoint records of the run that wrote it (see SETTINGS): the learning rate and the
    optimizer's options as ``trainer`` was made with them (a number each: a schedule is not recorded), the loss's
    weight decay and reduction, and from ``history`` the seed, batch size and shuffling ``fit`` was given."""
    out = {}
    lr = getattr(trainer, "options", {}).get("lr")
    if _number(lr):
        out["lr"] = float(lr)
    opts = {k: v for k, v in getattr(trainer, "options", {}).items() if k != "lr"}
    if all(_number(v) or isinstance(v, bool) for v in opts.values()):
        out["opts"] = {k: v if isinstance(v, bool) else float(v) for k, v in opts.items()}
    model = trainer.model
    out.update(l2=float(model.l2 or 0.0), l2_form=model.l2_form, reduction=model.reduction)
    if history is not None:
        out.update({k: history.run[k] for k in ("seed", "batch_size", "shuffle") if k in history.run})
    return out


# What a checkpoint's "settings" may hold, and the kind of each: read back where a run resumes.
SETTINGS = {"lr": "number", "opts": "options", "l2": "number", "l2_form": "text", "reduction": "text",
            "seed": "count", "batch_size": "count", "shuffle": "switch"}


def _number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(float(v))


def _count(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0


def signature(trainer) -> list:
    """What a network computes, layer by layer, as text a checkpoint records: each layer's kind, its
    activation as the function it is (z*sigmoid(z) for swish written either way, its variable written z
    whatever the formula called it) and its geometry, then the loss. Parameters fit another network of the
    same shapes (elu's into a relu network): this tells them apart."""
    return ["".join(_layer_parts(layer)) for layer in trainer.model.layers] + [f"loss: {trainer.net.loss}"]


def _layer_parts(layer) -> tuple:
    """(the text before the activation, the activation, the text after it) of a layer's line in ``signature``."""
    fn = getattr(layer, "fn", None)
    act = str(_in_z(fn)) if fn is not None else str(layer.activation)
    geometry = ", ".join(f"{k} {v}" for k, v in layer.geometry if k != "padding_spec")
    return f"layer {layer.index}: {layer.kind}, ", act, f", {geometry}" if geometry else ""


def _in_z(fn):
    """A one-variable SymPy Lambda's expression with its variable renamed to a plain z (Lambda(x, tanh(x)),
    Lambda(z_real, tanh(z_real)) and identity's Lambda(_x, _x) all in z)."""
    import sympy as sp
    return fn.expr.xreplace({fn.variables[0]: sp.Symbol("z")})


def _function(text):
    """The SymPy expression in a plain z of an activation a checkpoint records as text: a registered name
    (tanh, swish) as its formula, a formula as written in whatever one variable it names (tanh(x), _x). Read
    by derivax's whitelisted formula parser, never evaluated as Python. None where the text is neither (a
    layer without an elementwise activation: softmax, maxpool, gru) or cannot be read."""
    import sympy as sp
    from derive.formula.parse import free_names, parse_scalar
    from derive.network.functions import ACTIVATIONS, FUNCTIONS
    text = text.strip()
    if text in ACTIVATIONS:
        return _canonical(_in_z(ACTIVATIONS[text]))
    constants = {"pi": sp.pi, "E": sp.E}
    names = free_names(text)
    variables = {n for n, _ in names or () if n not in FUNCTIONS and n not in constants}
    if len(variables) != 1:   # no formula of one variable
        return None
    try:
        return parse_scalar(text, {variables.pop(): sp.Symbol("z"), **constants}, "activation")
    except Exception:   # a text the parser refuses, whatever the reason, is no activation it can compare
        return None


def _canonical(expr):
    """``expr`` (in z) as the parser reads its printed form, so that an expression built in Python and the
    same one read back from a checkpoint's text (its numbers, its order of terms) compare equal; ``expr``
    itself where its printed form is no formula the parser reads."""
    import sympy as sp
    from derive.formula.parse import parse_scalar
    try:
        return parse_scalar(str(expr), {"z": sp.Symbol("z"), "pi": sp.pi, "E": sp.E}, "activation")
    except Exception:
        return expr


def _same_activation(there: str, layer) -> bool:
    """Whether the activation a checkpoint records as ``there`` is ``layer``'s: the same text, the same
    registered activation, or the same SymPy expression of its variable up to the variable's name."""
    fn = getattr(layer, "fn", None)
    here = _canonical(_in_z(fn)) if fn is not None else _function(str(layer.activation))
    if here is None:   # no elementwise function (softmax, a pooling, a recurrent cell by name): its name
        return there.strip() == str(layer.activation).strip()
    theirs = _function(there)
    return theirs is not None and (theirs == here or _equal_values(theirs, here))


# where two activations written differently are compared by value, and how closely they must agree there
SAMPLE_POINTS = (-3.7, -1.3, -0.41, -0.05, 0.0, 0.07, 0.29, 0.93, 1.6, 4.2)
SAMPLE_RTOL = 1e-12
# reading and comparing a checkpoint's activation text runs in a child process under this limit
ACTIVATION_SECONDS = 5.0


def _equal_values(a, b) -> bool:
    """Whether two expressions in z take the same values, to a relative 1e-12, at every one of SAMPLE_POINTS
    (tanh(z) and 2*sigmoid(2*z) - 1, z/(1 + exp(-z)) and swish): the same function written another way."""
    from derive.formula.compare import same_at_points
    return same_at_points(a, b, SAMPLE_POINTS, SAMPLE_RTOL, floor=1e-300)


def _same_activation_in_time(there: str, layer) -> bool:
    """``_same_activation`` in a child process under ACTIVATION_SECONDS (the text is the file's: SymPy reads
    it); not shown the same where it runs out of time."""
    from derive.run.limits import TimeLimitExceeded
    from derive.run.worker import run
    try:
        return bool(run(_same_activation, there, layer, seconds=ACTIVATION_SECONDS,
                        what="comparing the checkpoint's activation"))
    except TimeLimitExceeded:
        return False


def _same_layer(there: str, layer) -> bool:
    """Whether a checkpoint's line for a layer (see ``signature``) is ``layer``'s: the same kind and geometry
    as text, the same activation as a function (``_same_activation``)."""
    before, act, after = _layer_parts(layer)
    if there == before + act + after:
        return True
    if not (there.startswith(before) and there.endswith(after) and len(there) > len(before) + len(after)):
        return False
    return _same_activation_in_time(there[len(before):len(there) - len(after)], layer)


def _same_network(facts, trainer, path) -> None:
    """DataError where the checkpoint records another network than ``trainer``'s (its first difference)."""
    theirs = facts.get("layers")
    if not isinstance(theirs, list):
        return   # written before the record, or parameters a user saved: shapes are all there is to check
    mine = signature(trainer)
    layers = trainer.model.layers
    for k in range(max(len(theirs), len(mine))):
        there = theirs[k] if k < len(theirs) else "(none)"
        here = mine[k] if k < len(mine) else "(none)"
        if there == here:
            continue
        if k < len(layers) and isinstance(there, str) and _same_layer(there, layers[k]):
            continue
        raise DataError(f"{path}: the checkpoint was trained as another network: {there} there, {here} here "
                        f"(its parameters fit this network's shapes, but would compute something else)")


def load_checkpoint(path, trainer) -> tuple:
    """(params, opt_state or None, facts) from a checkpoint (or a parameters-only .npz) for ``trainer``.

    The parameters must be the network's, by name and shape, in the layout the file records (turned
    into the trainer's convention where it differs); the optimizer state is used where it has the shape of
    this trainer's optimizer's, and is None otherwise (a file of parameters only, another optimizer): the
    facts say why. Raises DataError naming the file and what does not fit.

    The facts also hold ``epochs_done`` (the epochs the parameters have trained in all: ``fit``'s epochs_done for
    the run that resumes), ``settings`` (the run's seed, batch size, learning rate, ...: see ``run_settings``;
    those a file records) and ``assumed`` (what was assumed of a file written before a fact was recorded)."""
    import jax
    import jax.numpy as jnp
    dtype = np.dtype(trainer.dtype)
    with open_npz(path, "the parameters by name, as derivax train --save writes", "the checkpoint ") as z:
        files = set(z.files)
        facts = _facts(z, path) if META in files else {}
        layout = facts.get("convention", "rows")
        turn = layout != trainer.model.convention
        shapes = trainer.namespace["PARAM_SHAPES"]
        missing = [k for k in shapes if k not in files]
        if missing:
            raise DataError(f"{path}: no array for {', '.join(missing)}: the checkpoint is not of this network "
                            f"(it holds {', '.join(sorted(f for f in files if '/' not in f and f != META)) or 'no parameters'})")
        params, narrow = {}, {}
        for k, shape in shapes.items():
            stored = _values(npz_array(z, k, path), path, k, dtype)
            if stored.dtype.kind == "f" and stored.dtype.itemsize < dtype.itemsize:
                narrow.setdefault(stored.dtype.name, []).append(k)
            a = stored.T if turn and stored.ndim == 2 else stored
            if tuple(a.shape) != tuple(shape):
                # A bias as (n,) or (1, n): the same numbers, whichever axes of size 1 the writer kept.
                if [d for d in a.shape if d != 1] != [d for d in shape if d != 1]:
                    # Said in the file's own layout, where the user can compare it with the file.
                    mine = tuple(reversed(shape)) if turn and len(shape) == 2 else tuple(shape)
                    where = "" if not turn else (f" in the {layout} layout the file records" if META in files else
                                                 " in the rows layout a file without derivax's record is read in")
                    raise DataError(f"{path}: {k} has shape {tuple(stored.shape)}, this network's {k} {mine}{where}")
                a = a.reshape(shape)
            params[k] = jnp.asarray(a, dtype)
        _same_network(facts, trainer, path)   # shapes that fit, of a network that computes otherwise
        recorded = META in files
        # a narrower float (float16) widens exactly: read, and said
        facts["notes"] = [f"{', '.join(ks)} stored in {kind}, read as {dtype.name} (exactly: every {kind} value is "
                          f"a {dtype.name} value)" for kind, ks in narrow.items()]
        facts["stats"] = _stats(z, files, path, trainer, dtype, turn)
        count = facts.get("state_arrays", 0)
        stored = {i: _values(npz_array(z, f"{STATE}{i}", path), path, f"{STATE}{i}", None)
                  for i in range(count) if f"{STATE}{i}" in files}
    fresh = trainer.init_opt_state(params)
    want, tree = jax.tree_util.tree_flatten(fresh)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(fresh)[0]]
    turned = f" (the file's {layout} layout turned into {trainer.model.convention})" if turn else ""
    mine = optimizer_name(trainer)
    ours, why = _whose_state(facts, trainer, tree, mine)
    _epochs_done(facts, recorded, ours)
    if not stored and not (ours and count):
        facts["state"] = "no optimizer state in the file: the optimizer starts afresh" + turned + _said(facts)
        return params, None, facts
    turns = _turns(fresh, shapes) if turn else [False] * len(want)
    # the shapes this trainer's state has, in the file's layout: what the file's arrays are compared with
    expected = [tuple(reversed(np.shape(b))) if t else tuple(np.shape(_stored_form(b))) for b, t in zip(want, turns)]
    problem = _state_misfit(stored, count, expected, paths)
    if problem and ours:   # this optimizer's own state, damaged: resuming from a part of it would be wrong
        raise DataError(f"{path}: the checkpoint's optimizer state ({mine}, this trainer's optimizer) is damaged: "
                        f"{problem}")
    if problem or not ours:
        # another optimizer's state is never taken for this one's, even where its arrays' shapes fit
        facts["state"] = ((why or f"the file's optimizer state does not fit this trainer's {mine} optimizer")
                          + (f" ({problem})" if problem else "") + ": the optimizer starts afresh" + turned
                          + _said(facts))
        return params, None, facts
    leaves = [stored[i] for i in range(count)]
    if turn:
        leaves = [a.T if t else a for a, t in zip(leaves, turns)]
    for i, (a, b) in enumerate(zip(leaves, want)):
        if _is_key(b):
            _key_bits(a, path, f"{STATE}{i}", paths[i])
            continue
        _values(a, path, f"{STATE}{i}", getattr(b, "dtype", None))
        _state_entry(a, path, f"{STATE}{i}", paths[i], _is_count(b))
    state = jax.tree_util.tree_unflatten(tree, [
        jax.random.wrap_key_data(jnp.asarray(a, np.uint32), impl=jax.random.key_impl(b)) if _is_key(b)
        else jnp.asarray(a, getattr(b, "dtype", None)) for a, b in zip(leaves, want)])
    facts["state"] = "optimizer state restored" + turned + _said(facts)
    return params, state, facts


def _epochs_done(facts, recorded, ours) -> None:
    """facts["epochs_done"]: the epochs after which a run resuming from the file goes on (its shuffling continues
    the count): the epochs its parameters have trained in all, where the file's optimizer is the trainer's (``ours``).
    With another optimizer, whose state starts afresh, the run is a new one from the file's parameters and counts
    from 0 (as from a file of parameters alone); facts["assumed"] says so. A file written before the count was
    recorded holds the epochs of the run that wrote it ("epochs"): they are taken for the count, and said."""
    facts.setdefault("assumed", [])
    if not recorded:
        facts["epochs_done"] = 0
        return
    if not ours:
        done = facts.get("epochs_done", facts.get("epochs"))
        facts["epochs_done"] = 0
        if _count(done) and done:
            were = "s were" if done != 1 else " was"
            facts["assumed"].append(f"the checkpoint's {done} epoch{were} another optimizer's "
                                    "(or its state does not fit): the run counts its epochs from 1, as a new run from "
                                    "the checkpoint's parameters")
        return
    if "epochs_done" in facts:
        return
    epochs = facts.get("epochs")
    facts["epochs_done"] = int(epochs) if _count(epochs) else 0
    facts["assumed"].append(
        "the checkpoint records no count of epochs across runs (written before derivax recorded it): "
        + (f"taken to be the {epochs} epoch{'s' if epochs != 1 else ''} of the run that wrote it" if _count(epochs)
           else "counted from 0"))


def optimizer_name(trainer) -> str:
    """The trainer's optimizer as a checkpoint records it: a derived rule's name (SGD, momentum, Adam), an optax
    optimizer's by the name it was made from (adamw, yogi), "optax" for a transformation passed in as an object."""
    name = trainer.__dict__.get("optimizer_name")
    return name if isinstance(name, str) and name else getattr(trainer.optimizer, "name", "optax")


def _named(name) -> bool:
    """Whether a recorded optimizer name names one optimizer ("optax" stands for any optax transformation)."""
    return isinstance(name, str) and bool(name) and name != "optax"


def _whose_state(facts, trainer, tree, mine) -> tuple:
    """(whether the file's optimizer state is this trainer's optimizer's, why not: '' where it is or where the
    file does not say). Both named: the names decide (adamw's and yogi's states have the same structure, so the
    structure cannot), then the recorded structure (the same optimizer made with other options). A file that
    records no name (written before the record, or by a trainer given an optax object) is this optimizer's only
    where its recorded structure is this trainer's and no other optax optimizer by name keeps that structure."""
    theirs = facts.get("optimizer")
    recorded = facts.get("state_tree")
    same_tree = recorded == str(tree)
    if _named(theirs) and _named(mine):
        if theirs != mine:
            return False, f"the file's optimizer state ({theirs}) is not this trainer's optimizer's ({mine})"
        if recorded is not None and not same_tree:
            return False, (f"the file's {theirs} state has another structure than this trainer's (the optimizer "
                           "made with other options)")
        return True, ""
    if recorded is None:   # no structure recorded: only a derived rule's own name identified a state
        return False, ""
    if not same_tree:
        return False, (f"the file's optimizer state ({theirs if _named(theirs) else 'of an unnamed optax optimizer'})"
                       f" has another structure than this trainer's {mine} optimizer's")
    if not _named(mine):   # an optax object here: its structure is all there is to compare
        return True, ""
    alike = [n for n in _optax_alike(trainer, recorded) if n != mine]
    if alike:
        return False, (f"the file records no optimizer's name, and its state's structure is that of {mine} and "
                       f"{', '.join(alike)} alike, so it cannot tell whose it is")
    return True, ""


def _optax_alike(trainer, recorded) -> list:
    """The optax optimizers by name (with their default options) whose state for this trainer's parameters has
    the structure ``recorded``: more than one, and the structure says nothing of whose a state is."""
    import jax
    from compile.train.optim import make
    from compile.train.optimizer_names import OPTAX_OPTIMIZERS
    spec = {k: jax.ShapeDtypeStruct(tuple(int(d) for d in s), trainer.dtype)
            for k, s in trainer.namespace["PARAM_SHAPES"].items()}
    norm = "init_stats" in trainer.namespace
    out = []
    for name in OPTAX_OPTIMIZERS:
        try:
            tx = make(name, 0.1)

            def init(p, tx=tx):
                state = tx.init(p)
                return {"optax": state, "stats": trainer.namespace["init_stats"]()} if norm else state
            if str(jax.tree_util.tree_structure(jax.eval_shape(init, spec))) == recorded:
                out.append(name)
        except Exception:   # an optimizer that cannot be made here (optax missing, another version): not alike
            continue
    return out


def _state_misfit(stored, count, expected, paths) -> str:
    """How the file's optimizer-state arrays (``stored``: index -> array, of ``count`` the file records) differ
    from the trainer's (``expected`` shapes, in the file's layout, at ``paths``): '' where they fit."""
    def named(i):
        return f"{STATE}{i}" + (f" (the optimizer state's {paths[i]})" if i < len(paths) else "")
    if count != len(expected):
        return (f"the file records {count} state array{'s' if count != 1 else ''}, where this trainer's optimizer "
                f"keeps {len(expected)}")
    missing = [i for i in range(count) if i not in stored]
    if missing:
        return (f"{named(missing[0])} is missing from the file" + (f" ({len(missing)} of the {count} state arrays "
                f"are: {', '.join(STATE + str(i) for i in missing)})" if len(missing) > 1 else ""))
    for i, shape in enumerate(expected):
        if tuple(stored[i].shape) != shape:
            return f"{named(i)} has shape {tuple(stored[i].shape)}, where {shape} is expected"
    return ""


def _is_key(leaf) -> bool:
    """Whether a state leaf is a typed JAX random key (optax keeps noisy_sgd's as one)."""
    import jax
    dtype = getattr(leaf, "dtype", None)
    try:
        return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)
    except TypeError:
        return False


def _stored_form(leaf):
    """A state leaf as the file holds it: a random key as its bits (uint32), any other leaf as it is."""
    import jax
    return jax.eval_shape(jax.random.key_data, leaf) if _is_key(leaf) else leaf


def _key_bits(a, path, key, where) -> None:
    """DataError where the array that stands for a random key holds anything but its bits: whole numbers
    in 0..2**32 - 1."""
    said = f"{key} (the optimizer state's {where})" if where else key
    top = int(np.iinfo(np.uint32).max)
    if a.dtype.kind not in "iu":
        raise DataError(f"{path}: {said} holds {a.dtype} values, where the bits of a random key (whole numbers in "
                        f"0..{top}) are expected; the checkpoint is damaged")
    bad = [int(v) for v in (a.min(), a.max()) if not 0 <= int(v) <= top] if a.size else []
    if bad:
        raise DataError(f"{path}: {said} holds {bad[0]}, where the bits of a random key are whole numbers in "
                        f"0..{top}; the checkpoint is damaged")


def _is_count(leaf) -> bool:
    """Whether an optimizer-state leaf of the trainer's is a count of steps (an integer array: Adam's t, optax's
    count)."""
    try:
        return np.dtype(getattr(leaf, "dtype", None)).kind in "iu"
    except TypeError:   # a random key's dtype (noisy_sgd's), no NumPy dtype
        return False


def _said(facts) -> str:
    return "".join(f"; {n}" for n in facts.get("notes", ()))


# the optimizer-state entries that are never negative, by the key they sit under: squared gradients' averages
# (Adam's and RMSprop's nu, Adagrad's sum_of_squares, Adadelta's e_g and e_x) and batch norm's variances
SQUARES = ("nu", "sum_of_squares", "e_g", "e_x")


def _state_entry(a, path, key, where, count=False) -> None:
    """DataError where one optimizer-state array holds what training never writes there: a step count (where
    ``count``, the trainer keeps one there, or an integer array) that is negative or no whole number, a negative
    average of squares or variance (Adam would divide by the root of it: the loss becomes nan)."""
    import re
    names = re.findall(r"\['([^']*)'\]|\.(\w+)", where)
    names = [n[0] or n[1] for n in names]
    said = f"{key} (the optimizer state's {where})" if where else key
    if count or a.dtype.kind in "iu":   # a count of steps taken (Adam's t, optax's count)
        if a.dtype.kind not in "iuf":
            raise DataError(f"{path}: {said} holds {a.dtype} values: a count of steps taken is a whole number; the "
                            "checkpoint is damaged")
        if a.dtype.kind == "f" and a.size and not np.all(a == np.round(a)):
            v = a.flat[int(np.argmax(a != np.round(a)))].item()
            raise DataError(f"{path}: {said} is {v:g}: a count of steps taken is a whole number; the checkpoint "
                            "is damaged")
        low = int(np.min(a)) if a.size else 0
        if low < 0:
            raise DataError(f"{path}: {said} is {low}: a count of steps taken is never negative; the checkpoint "
                            "is damaged")
        high = float(np.max(a)) if a.size else 0
        if high > np.iinfo(np.int32).max:
            raise DataError(f"{path}: {said} is {high:.0f}: more steps than a 32-bit count holds; the checkpoint "
                            "is damaged")
        return
    square = any(n in SQUARES for n in names) or (len(names) >= 2 and names[-2] == "stats"
                                                   and names[-1].startswith("var"))
    if square and a.dtype.kind == "f":
        bad = int(np.count_nonzero(a < 0))
        if bad:
            raise DataError(f"{path}: {said} has {bad} negative entr{'y' if bad == 1 else 'ies'} of {a.size}: an "
                            "average of squares (a variance) is never negative; the checkpoint is damaged")


def _stats(z, files, path, trainer, dtype, turn) -> dict:
    """Batch norm's running averages (stats/mu2, stats/var2), checked as the parameters are: this network's
    names and shapes, finite numbers, variances not negative. {} for a file without any (parameters alone)."""
    import jax.numpy as jnp
    stored = sorted(f for f in files if f.startswith(STATS))
    init = trainer.namespace.get("init_stats")
    want = {k: tuple(np.shape(v)) for k, v in (init() if init is not None else {}).items()}
    if not stored:
        return {}
    have = [f"{STATS}{k}" for k in want]
    extra = [f for f in stored if f[len(STATS):] not in want]
    if extra:
        raise DataError(f"{path}: {', '.join(extra)} {'is' if len(extra) == 1 else 'are'} no running average of this "
                        f"network (it keeps {', '.join(have) or 'none: it has no batch norm'})")
    missing = [f for f in have if f not in files]
    if missing:
        raise DataError(f"{path}: no array for {', '.join(missing)}: the checkpoint's batch norm averages are "
                        f"incomplete (it holds {', '.join(stored)})")
    out = {}
    for k, shape in want.items():
        f = f"{STATS}{k}"
        a = _values(npz_array(z, f, path), path, f, dtype)
        a = a.T if turn and a.ndim == 2 else a
        if tuple(a.shape) != shape:
            if [d for d in a.shape if d != 1] != [d for d in shape if d != 1]:
                mine = tuple(reversed(shape)) if turn and len(shape) == 2 else shape
                raise DataError(f"{path}: {f} has shape {tuple(npz_array(z, f, path).shape)}, this network's {k} "
                                f"{mine}")
            a = a.reshape(shape)
        if k.startswith("var") and a.dtype.kind == "f":
            bad = int(np.count_nonzero(a < 0))
            if bad:
                raise DataError(f"{path}: {f} has {bad} negative entr{'y' if bad == 1 else 'ies'} of {a.size}: a "
                                "variance is never negative; the checkpoint is damaged")
        out[k] = jnp.asarray(a, dtype)
    return out


def _facts(z, path) -> dict:
    """The JSON record under META, checked: an object whose entries have the types the reader relies on."""
    try:
        raw = npz_array(z, META, path)
        if raw.shape != () or raw.dtype.kind not in "US":
            raise ValueError(f"a {raw.dtype} array of shape {raw.shape}, not one string")
        try:
            facts = json.loads(str(raw))
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
        if not isinstance(facts, dict):
            raise ValueError(f"a JSON {type(facts).__name__}, not an object")
    except (ValueError, DataError) as exc:   # json.JSONDecodeError is a ValueError
        raise DataError(f"{path}: the checkpoint's metadata ({META}) is unreadable: {' '.join(str(exc).split())[:120]}"
                        ) from None
    count = facts.get("state_arrays", 0)
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 0:
        raise DataError(f"{path}: the checkpoint's metadata ({META}) is unreadable: state_arrays is {count!r}, "
                        "not a count")
    held = len(z.files)   # a file of n arrays holds fewer than n of the state: a larger count is no count of them
    if count > held:
        states = sum(f.startswith(STATE) for f in z.files)
        raise DataError(f"{path}: the checkpoint's metadata ({META}) is unreadable: state_arrays is {count}, more "
                        f"than the {held} array{'s' if held != 1 else ''} the file holds ({states} of them under "
                        f"{STATE})")
    if facts.get("convention", "rows") not in CONVENTIONS:
        raise DataError(f"{path}: the checkpoint's metadata ({META}) is unreadable: convention is "
                        f"{facts['convention']!r}, not rows or columns")
    if facts.get("inputs", INPUT_READINGS[0]) not in INPUT_READINGS:
        raise DataError(f"{path}: the checkpoint's metadata ({META}) is unreadable: inputs is {facts['inputs']!r}, "
                        f"not {', '.join(INPUT_READINGS[:-1])} or {INPUT_READINGS[-1]}")
    if "epochs_done" in facts and not _count(facts["epochs_done"]):
        raise DataError(f"{path}: the checkpoint's metadata ({META}) is unreadable: epochs_done is "
                        f"{facts['epochs_done']!r}, not a count of epochs")
    # a file without epochs_done counts the epochs of the run that wrote it ("epochs") as those done
    for key in ("epochs_done",) if "epochs_done" in facts else ("epochs",):
        if _count(facts.get(key)) and facts[key] > EPOCHS_DONE_MAX:
            raise DataError(f"{path}: the checkpoint's metadata ({META}) is unreadable: {key} is {_big(facts[key])}, "
                            f"more epochs than a run counts (at most {EPOCHS_DONE_MAX})")
    settings = facts.get("settings", {})
    if not isinstance(settings, dict):
        raise DataError(f"{path}: the checkpoint's metadata ({META}) is unreadable: settings is {settings!r:.60}, "
                        "not an object")
    for key, value in settings.items():
        kind = SETTINGS.get(key)
        fits = {"number": _number, "count": _count, "switch": lambda v: isinstance(v, bool),
                "text": lambda v: isinstance(v, str),
                "options": lambda v: isinstance(v, dict) and all(
                    isinstance(k, str) and (_number(o) or isinstance(o, bool)) for k, o in v.items()),
                None: lambda v: True}[kind]   # a setting a later version records: left to it
        if not fits(value):
            raise DataError(f"{path}: the checkpoint's metadata ({META}) is unreadable: settings' {key} is "
                            f"{value!r:.60}, not {_KINDS[kind]}")
        low, high = _RANGES.get(key, (None, None))
        if low is not None and not low <= value <= (high if high is not None else value):
            within = f"from {low} to {high}" if high is not None else f"from {low} up"
            raise DataError(f"{path}: the checkpoint's metadata ({META}) is unreadable: settings' {key} is "
                            f"{_big(value)}, where a {key.replace('_', ' ')} is {within}")
    return facts


# the ranges of the counts among the settings, as ``fit`` takes them
_RANGES = {"seed": (0, SEED_MAX), "batch_size": (1, None)}


def _big(n: int) -> str:
    """A whole number for a message: its digits, or for a long one its first digits and how many there are."""
    text = str(n)   # JSON's integers are below Python's limit of 4300 digits: json.loads refuses longer ones
    return text if len(text) <= 20 else f"{text[:10]}... ({len(text)} digits)"


_KINDS = {"number": "a finite number", "count": "a whole number >= 0", "switch": "true or false", "text": "a text",
          "options": "an object of options and their numbers"}


def recorded_facts(path) -> dict:
    """The facts the checkpoint at ``path`` records (its optimizer, its run's settings, ...), read before a trainer
    is made: {} for a file without them (parameters a user saved) or one that cannot be read (``load_checkpoint``
    says what is wrong with it)."""
    try:
        with open_npz(path, "the parameters by name, as derivax train --save writes", "the checkpoint ") as z:
            return _facts(z, path) if META in z.files else {}
    except DataError:
        return {}


def recorded_inputs(path) -> str | None:
    """How the training data of the checkpoint at ``path`` was read (one of INPUT_READINGS), as the file
    records it; None for a file without that record (parameters a user saved, an older checkpoint) or one
    that cannot be read (``load_checkpoint`` says what is wrong with it)."""
    try:
        with open_npz(path, "the parameters by name, as derivax train --save writes", "the checkpoint ") as z:
            return _facts(z, path).get("inputs") if META in z.files else None
    except DataError:
        return None


def _values(a, path, key, dtype):
    """``a`` if it holds real, finite numbers that ``dtype`` (the trainer's precision; None: the array's
    own) can hold; else a DataError naming the file, the array and how many entries are wrong."""
    if a.dtype.kind == "c":
        raise DataError(f"{path}: {key} holds complex numbers (dtype {a.dtype}); a checkpoint's arrays are real")
    if a.dtype.kind == "b":
        return a
    if a.dtype.kind not in "iuf":
        raise DataError(f"{path}: {key} holds {a.dtype} values, not numbers")
    if a.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(a)))
        if bad:
            nan = int(np.count_nonzero(np.isnan(a)))
            what = "NaN" if nan == bad else "infinite" if nan == 0 else "NaN or infinite"
            raise DataError(f"{path}: {key} has {bad} {what} entr{'y' if bad == 1 else 'ies'} of {a.size}: the "
                            "checkpoint is damaged, or was saved after training diverged")
        if dtype is not None and np.dtype(dtype).kind == "f" and a.size:
            top = float(np.finfo(dtype).max)
            # compared in float64: a float16 array against float32's largest would overflow in the cast
            big = int(np.count_nonzero(np.abs(a.astype(np.float64)) > top))
            if big:
                raise DataError(f"{path}: {key} has {big} entr{'y' if big == 1 else 'ies'} beyond {np.dtype(dtype).name}'s "
                                f"range (largest {top:.3g}), the precision the network runs in")
    return a


def _turns(fresh, shapes) -> list:
    """For each leaf of the optimizer state ``fresh``, whether it is turned with the parameters between the two
    layouts: a leaf is a parameter's when its path in the state holds the parameter's name (``m["W1"]``, optax's
    ``mu["W1"]``) and it is a matrix; counters and the like are left as they are."""
    import jax
    out = []
    for path, b in jax.tree_util.tree_flatten_with_path(fresh)[0]:
        keys = {getattr(k, "key", getattr(k, "name", None)) for k in path}
        out.append(np.ndim(b) == 2 and bool(keys & set(shapes)))
    return out

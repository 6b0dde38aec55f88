"""Checkpoints: a trainer's parameters and its optimizer state in one .npz, read back to resume or evaluate.

The parameters are stored under their own names (W1, b1, ...: the same file ``--save`` always wrote, which
NumPy reads as it is), the optimizer state's arrays under ``opt_state/0``, ``opt_state/1``, ... in the order
JAX flattens the state (batch norm's running averages are part of it), and a JSON line of facts under
``__derivax__``; batch norm's running averages also under ``stats/mu2``, ``stats/var2``. Nothing is pickled: a checkpoint cannot run code when it is read.
"""
from __future__ import annotations

import json

import numpy as np

from compile.train.data import DataError

META = "__derivax__"
STATE = "opt_state/"
STATS = "stats/"


def save_checkpoint(path, trainer, params, opt_state, epochs: int | None = None) -> None:
    """Write ``params`` and ``opt_state`` of ``trainer`` to ``path`` (.npz)."""
    import jax
    leaves = jax.tree_util.tree_leaves(opt_state)
    meta = {"network": trainer.model.size_text, "optimizer": getattr(trainer.optimizer, "name", "optax"),
            "epochs": epochs, "state_arrays": len(leaves)}
    arrays = {k: np.asarray(v) for k, v in params.items()}
    arrays.update({f"{STATE}{i}": np.asarray(v) for i, v in enumerate(leaves)})
    stats = trainer.stats(opt_state)   # batch norm's running averages, also by name: evaluation reads them
    if stats:
        arrays.update({f"{STATS}{k}": np.asarray(v) for k, v in stats.items()})
    arrays[META] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


def load_checkpoint(path, trainer) -> tuple:
    """(params, opt_state or None, facts) from a checkpoint (or a parameters-only .npz) for ``trainer``.

    The parameters must be the network's, by name and shape; the optimizer state is used where it has the
    shape of this trainer's optimizer's, and is None otherwise (a file of parameters only, another
    optimizer): the facts say why. Raises DataError naming what does not fit."""
    import jax
    import jax.numpy as jnp
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the checkpoint {str(path)!r}: {getattr(exc, 'strerror', None) or exc}") from None
    with z:
        files = set(z.files)
        shapes = trainer.namespace["PARAM_SHAPES"]
        missing = [k for k in shapes if k not in files]
        if missing:
            raise DataError(f"{path}: no array for {', '.join(missing)}: the checkpoint is not of this network "
                            f"(it holds {', '.join(sorted(f for f in files if '/' not in f and f != META))})")
        params = {}
        for k, shape in shapes.items():
            a = z[k]
            if tuple(a.shape) != tuple(shape):
                # A bias as (n,) or (1, n): the same numbers, whichever axes of size 1 the writer kept.
                if [d for d in a.shape if d != 1] != [d for d in shape if d != 1]:
                    raise DataError(f"{path}: {k} has shape {tuple(a.shape)}, this network's {k} {tuple(shape)}")
                a = a.reshape(shape)
            params[k] = jnp.asarray(a, trainer.dtype)
        facts = json.loads(str(z[META])) if META in files else {}
        facts["stats"] = {f[len(STATS):]: jnp.asarray(z[f], trainer.dtype) for f in files if f.startswith(STATS)}
        leaves = [z[f"{STATE}{i}"] for i in range(facts.get("state_arrays", 0)) if f"{STATE}{i}" in files]
    fresh = trainer.init_opt_state(params)
    want, tree = jax.tree_util.tree_flatten(fresh)
    if not leaves:
        facts["state"] = "no optimizer state in the file: the optimizer starts afresh"
        return params, None, facts
    if len(leaves) != len(want) or any(np.shape(a) != np.shape(b) for a, b in zip(leaves, want)):
        facts["state"] = (f"the file's optimizer state ({facts.get('optimizer')}) does not fit this trainer's "
                          f"({getattr(trainer.optimizer, 'name', 'optax')}): the optimizer starts afresh")
        return params, None, facts
    state = jax.tree_util.tree_unflatten(tree, [jnp.asarray(a, getattr(b, "dtype", None)) for a, b in zip(leaves, want)])
    facts["state"] = "optimizer state restored"
    return params, state, facts

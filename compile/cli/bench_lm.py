"""`derivax bench` for language models (embeddings, batch and layer norm, attention): the derived train
step against peers written here from the layers as declared, sharing nothing with derive/ but the
starting parameters:

- a hand-written JAX model (a gather, the norms' means and variances, the attention products and mask),
  differentiated by ``jax.grad``, jitted, SGD; batch norm's running averages updated in the same step,
  as the derived step updates them;
- PyTorch eager (``nn.Embedding``, ``F.batch_norm``, ``F.layer_norm``, attention written out), where torch
  is installed (never a dependency), SGD.

The timing loop is ``compile.cli.bench_cnn.run``'s (interleaved repeats, medians of ratios); the inputs
are token indices and the labels one class per position.
"""
from __future__ import annotations

from compile.cli.bench_cnn import LR, CnnBenchError

KINDS = ("embedding", "flatten", "dense", "batch_norm", "layer_norm", "attention")


def program(net) -> list:
    """The layers as steps the peers run: (kind, settings), names as the network's parameters."""
    model = net.build()
    out = []
    for layer in model.layers:
        l, g = layer.index, dict(layer.geometry)
        if layer.kind not in KINDS:
            raise CnnBenchError(f"layer {l}: the language-model peers run {', '.join(KINDS)} layers, found {layer.kind}")
        act = layer.activation
        if layer.kind in ("dense", "batch_norm", "layer_norm") and act not in ("identity", "tanh", "relu", "softmax"):
            raise CnnBenchError(f"layer {l}: the peers know identity, tanh, relu and softmax, found {act!r}")
        names = {str(r.name.base): str(r.name) for r in model.records if r.layer == l}
        adds = [] if layer.Z is None else [layer_index(model, a) for a in layer.Z.args[1:] if a.role != "param"]
        if layer.kind == "dense" and getattr(layer, "mask", None) is not None:
            raise CnnBenchError(f"layer {l}: the peers run no dropout")
        out.append((layer.kind, {"l": l, "act": act, "names": names, "adds": adds, **g}))
    if model.loss_name != "ce" or out[-1][1]["act"] != "softmax":
        raise CnnBenchError("the language-model benchmark compares softmax outputs with the ce loss")
    return out


def layer_index(model, node) -> int:
    """The layer whose output ``node`` is (0: the input)."""
    for layer in model.layers:
        if layer.A is node:
            return layer.index
    return 0


def _norm(a, kind, s, p, stats, training):
    import jax.numpy as jnp
    n = s["names"]
    axes = tuple(range(a.ndim - 1)) if kind == "batch_norm" else (a.ndim - 1,)
    count = 1
    for k in axes:
        count *= a.shape[k]
    mu = jnp.mean(a, axis=axes, keepdims=True)
    var = jnp.sum((a - mu) ** 2, axis=axes, keepdims=True) / (count - 1 if s["variance"] == "unbiased" else count)
    new = {}
    if kind == "batch_norm":
        l = s["l"]
        if training:   # running averages, σ² unbiased as PyTorch keeps it
            unbiased = var if s["variance"] == "unbiased" else var * count / (count - 1)
            mom = s["momentum"]
            new = {f"mu{l}": (1 - mom) * stats[f"mu{l}"] + mom * mu, f"var{l}": (1 - mom) * stats[f"var{l}"] + mom * unbiased}
        else:
            mu, var = stats[f"mu{l}"], stats[f"var{l}"]
    return p[n["gamma"]] * (a - mu) / jnp.sqrt(var + s["eps"]) + p[n["beta"]], new


def jax_forward(params, x, prog, stats, training=True):
    import jax
    import jax.numpy as jnp
    outs = {0: x}
    a, new = x, {}
    acts = {"identity": lambda z: z, "tanh": jnp.tanh, "relu": jax.nn.relu, "softmax": lambda z: z}
    for kind, s in prog:
        n = s["names"]
        if kind == "embedding":
            a = params[n["C"]][x.astype(jnp.int32)]
            if "Cpos" in n:
                a = a + params[n["Cpos"]]
        elif kind == "flatten":
            a = a.reshape(a.shape[0], -1)
        elif kind == "dense":
            z = a @ params[n["W"]] + (params[n["b"]] if "b" in n else 0)
            a = acts[s["act"]](z + sum(outs[k] for k in s["adds"]))
        elif kind in ("batch_norm", "layer_norm"):
            z, more = _norm(a, kind, s, params, stats, training)
            new.update(more)
            a = acts[s["act"]](z)
        else:   # attention
            m, T, d = a.shape
            h, dk = s["heads"], s["key_size"]

            def split(t):
                return t.reshape(m, T, h, dk).transpose(0, 2, 1, 3)
            q, k, v = (split(a @ params[n[w]]) for w in ("Wq", "Wk", "Wv"))
            sc = q @ k.transpose(0, 1, 3, 2) / jnp.sqrt(dk)
            if s["causal"]:
                sc = jnp.where(jnp.tril(jnp.ones((T, T), bool)), sc, -jnp.inf)
            o = (jax.nn.softmax(sc, -1) @ v).transpose(0, 2, 1, 3).reshape(m, T, h * dk)
            a = o @ params[n["Wo"]] + sum(outs[k] for k in s["adds"])
        outs[s["l"]] = a
    return a, new


def jax_step(prog, lr=LR):
    """A jitted SGD step through the hand-written model, differentiated by jax.grad; state (params, stats)."""
    import jax
    import jax.numpy as jnp

    def loss(params, x, y, stats):
        z, new = jax_forward(params, x, prog, stats)
        logp = jax.nn.log_softmax(z, -1)
        return -jnp.mean(jnp.sum(y * logp, -1)), new

    grad = jax.value_and_grad(loss, has_aux=True)

    def step(state, x, y):
        params, stats = state
        (value, new), g = grad(params, x, y, stats)
        return (jax.tree_util.tree_map(lambda p, d: p - lr * d, params, g), {**stats, **new}), value
    return jax.jit(step)


def torch_step(prog, params, lr=LR):
    """A PyTorch eager SGD step through the same layers holding ``params``, or None without torch."""
    try:
        import torch
        import torch.nn.functional as tf
    except ImportError:
        return None, None
    import numpy as np
    from compile.cli.torch_peer import place
    place(torch)
    tp = {k: torch.tensor(np.asarray(v, np.float32).reshape(np.shape(v)), requires_grad=True) for k, v in params.items()}
    running = {}
    for kind, s in prog:
        if kind == "batch_norm":
            width = np.shape(params[s["names"]["gamma"]])[-1]
            running[s["l"]] = (torch.zeros(width), torch.ones(width))
    acts = {"identity": lambda z: z, "tanh": torch.tanh, "relu": torch.relu, "softmax": lambda z: z}

    def step(x, labels):
        outs, a = {0: x}, x
        for kind, s in prog:
            n = s["names"]
            if kind == "embedding":
                a = tf.embedding(x, tp[n["C"]]) + (tp[n["Cpos"]] if "Cpos" in n else 0)
            elif kind == "flatten":
                a = a.reshape(a.shape[0], -1)
            elif kind == "dense":
                z = a @ tp[n["W"]] + (tp[n["b"]] if "b" in n else 0)
                a = acts[s["act"]](z + sum(outs[k] for k in s["adds"]))
            elif kind == "batch_norm":
                mean, var = running[s["l"]]
                flat = a.reshape(-1, a.shape[-1])
                z = tf.batch_norm(flat, mean, var, tp[n["gamma"]].reshape(-1), tp[n["beta"]].reshape(-1), True,
                                  s["momentum"], s["eps"]).reshape(a.shape)
                a = acts[s["act"]](z)
            elif kind == "layer_norm":
                z = tf.layer_norm(a, a.shape[-1:], tp[n["gamma"]].reshape(-1), tp[n["beta"]].reshape(-1), s["eps"])
                a = acts[s["act"]](z)
            else:
                m, T, _ = a.shape
                h, dk = s["heads"], s["key_size"]
                q, k, v = (((a @ tp[n[w]]).reshape(m, T, h, dk)).transpose(1, 2) for w in ("Wq", "Wk", "Wv"))
                sc = q @ k.transpose(-1, -2) / dk ** 0.5
                if s["causal"]:
                    sc = sc.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool)), float("-inf"))
                o = (torch.softmax(sc, -1) @ v).transpose(1, 2).reshape(m, T, h * dk)
                a = o @ tp[n["Wo"]] + sum(outs[k] for k in s["adds"])
            outs[s["l"]] = a
        loss = tf.cross_entropy(a.reshape(-1, a.shape[-1]), labels.reshape(-1))
        for q in tp.values():
            q.grad = None
        loss.backward()
        with torch.no_grad():
            for q in tp.values():
                q -= lr * q.grad
        return loss
    return step, torch


def torch_input(x):
    import torch
    return torch.tensor(x).long()


def batch_data(model, rng, nb, batch_size):
    """(xs, labels, ys): token indices, and one class per output position, one-hot."""
    import numpy as np
    shape = model.input_shape
    xs = rng.integers(0, model.vocab, (nb, batch_size, *shape)).astype(np.float32)
    classes = model.sizes[-1]
    out = tuple(int(d) for d in model.Y.shape[1:-1])
    labels = rng.integers(0, classes, (nb, batch_size, *out))
    return xs, labels, np.eye(classes, dtype=np.float32)[labels]


def peer_state(prog, params):
    import jax.numpy as jnp
    stats = {}
    for kind, s in prog:
        if kind == "batch_norm":
            width = params[s["names"]["gamma"]].shape
            stats[f"mu{s['l']}"], stats[f"var{s['l']}"] = jnp.zeros(width), jnp.ones(width)
    return (dict(params), stats)


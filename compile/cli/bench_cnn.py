"""`derivax bench` for networks with convolution or pooling: the derived train step against peers.

The peers are written here from the layers as declared (Conv1D/Conv2D, MaxPool/AvgPool, Flatten,
Dense), sharing nothing with derive/ but the starting parameters:

- a hand-written JAX model (``lax.conv_general_dilated``, ``lax.reduce_window``) differentiated by
  ``jax.grad``, jitted, SGD;
- PyTorch eager (``torch.nn.functional``), where torch is installed (never a dependency), SGD.

Timings are interleaved repeats of ``steps`` steps on the same batches; ratios are medians of the
per-repeat ratios (> 1: the derived step is faster).
"""
from __future__ import annotations

import math
import statistics
import time

from compile.cli.ratios import median_ratio, ratio_quartiles, spread

LR = 0.1


class CnnBenchError(ValueError):
    pass


def program(net) -> list:
    """The declared layers as steps the peers run: (kind, settings)."""
    from derive import AvgPool1D, AvgPool2D, Conv1D, Conv2D, Dense, Flatten, MaxPool1D, MaxPool2D
    acts = ("identity", "tanh", "sigmoid", "relu", "softplus", "softmax")
    out = []
    for i, layer in enumerate(net.layers, 1):
        act = getattr(layer, "activation", "identity")
        if not getattr(layer, "use_bias", True):
            raise CnnBenchError(f"layer {i}: the peers' layers have biases, found a layer without one")
        if not isinstance(act, str) or act not in acts:
            raise CnnBenchError(f"layer {i}: the hand-written peers know the activations {', '.join(acts)}, "
                                f"found {act!r}")
        if isinstance(layer, (Conv1D, Conv2D)):
            nd = layer.nd
            stride = (layer.stride,) * nd if isinstance(layer.stride, int) else tuple(layer.stride)
            pad = layer.padding
            pad = pad.upper() if isinstance(pad, str) else [(pad, pad)] * nd if isinstance(pad, int) else \
                [tuple(p) if isinstance(p, (tuple, list)) else (p, p) for p in pad]
            out.append(("conv", {"nd": nd, "stride": stride, "padding": pad, "act": act, "name": f"W{i}",
                                 "bias": f"b{i}"}))
        elif isinstance(layer, (MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D)):
            nd = layer.nd
            size = (layer.size,) * nd if isinstance(layer.size, int) else tuple(layer.size)
            stride = size if layer.stride is None else (layer.stride,) * nd if isinstance(layer.stride, int) \
                else tuple(layer.stride)
            out.append(("max" if layer.kind == "max" else "avg", {"window": size, "stride": stride}))
        elif isinstance(layer, Flatten):
            out.append(("flatten", {}))
        elif isinstance(layer, Dense) and not layer.dropout and not layer.skip_from:
            out.append(("dense", {"act": act, "name": f"W{i}", "bias": f"b{i}"}))
        else:
            raise CnnBenchError(f"layer {i}: the peers run Conv, pooling, Flatten and plain Dense layers, "
                                f"found {layer!r}")
    if net.loss != "ce" or out[-1][1].get("act") != "softmax":
        raise CnnBenchError("the convolutional benchmark compares softmax outputs with the ce loss")
    return out


def jax_loss(params, x, y, prog):
    import jax
    import jax.numpy as jnp
    from jax import lax
    fns = {"identity": lambda z: z, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu,
           "softplus": jax.nn.softplus}
    dims = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC")}
    a = x
    for kind, s in prog[:-1]:
        if kind == "conv":
            z = lax.conv_general_dilated(a, params[s["name"]], s["stride"], s["padding"],
                                         dimension_numbers=dims[s["nd"]]) + params[s["bias"]]
            a = fns[s["act"]](z)
        elif kind in ("max", "avg"):
            win, st = (1, *s["window"], 1), (1, *s["stride"], 1)
            if kind == "max":
                a = lax.reduce_window(a, -jnp.inf, lax.max, win, st, "VALID")
            else:
                a = lax.reduce_window(a, 0.0, lax.add, win, st, "VALID") / math.prod(s["window"])
        elif kind == "flatten":
            a = a.reshape(a.shape[0], -1)
        else:
            a = fns[s["act"]](a @ params[s["name"]] + params[s["bias"]])
    _, s = prog[-1]
    z = a @ params[s["name"]] + params[s["bias"]]
    return -jnp.sum(y * jax.nn.log_softmax(z, axis=1)) / x.shape[0]


def jax_step(prog, lr=LR, loss=None):
    """A jitted SGD step on ``loss`` (this module's ``jax_loss`` unless given), differentiated by jax.grad."""
    import jax
    grad = jax.value_and_grad(loss or jax_loss)

    def step(params, x, y):
        value, g = grad(params, x, y, prog)
        return jax.tree_util.tree_map(lambda p, d: p - lr * d, params, g), value
    return jax.jit(step)


def torch_step(prog, params, lr=LR):
    """A PyTorch eager SGD step on channels-first copies of ``params``, or None without torch."""
    try:
        import torch
        import torch.nn.functional as tf
    except ImportError:
        return None, None
    import numpy as np
    from compile.cli.torch_peer import place
    place(torch)
    acts = {"identity": lambda z: z, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
            "softplus": tf.softplus}
    tp = {}
    for kind, s in prog:
        if kind == "conv":  # (k..., c_in, c_out) -> (c_out, c_in, k...)
            w = np.asarray(params[s["name"]])
            tp[s["name"]] = torch.tensor(np.moveaxis(w, (-1, -2), (0, 1)).copy(), requires_grad=True)
            tp[s["bias"]] = torch.tensor(np.asarray(params[s["bias"]]).reshape(-1), requires_grad=True)
        elif kind == "dense":
            tp[s["name"]] = torch.tensor(np.asarray(params[s["name"]]), requires_grad=True)
            tp[s["bias"]] = torch.tensor(np.asarray(params[s["bias"]]).reshape(-1), requires_grad=True)

    def forward(x):
        a = x
        for kind, s in prog[:-1]:
            if kind == "conv":
                if isinstance(s["padding"], str) and s["padding"] == "SAME" and any(st != 1 for st in s["stride"]):
                    raise CnnBenchError("the PyTorch peer pads 'same' at stride 1 only")
                pad = s["padding"].lower() if isinstance(s["padding"], str) else [lo for lo, _ in s["padding"]]
                conv = tf.conv1d if s["nd"] == 1 else tf.conv2d
                a = acts[s["act"]](conv(a, tp[s["name"]], tp[s["bias"]], stride=s["stride"], padding=pad))
            elif kind in ("max", "avg"):
                pool = {("max", 1): tf.max_pool1d, ("max", 2): tf.max_pool2d, ("avg", 1): tf.avg_pool1d,
                        ("avg", 2): tf.avg_pool2d}[kind, len(s["window"])]
                a = pool(a, s["window"], s["stride"])
            elif kind == "flatten":  # channels last first: the same order as the JAX side
                a = a.movedim(1, -1).reshape(a.shape[0], -1)
            else:
                a = acts[s["act"]](a @ tp[s["name"]] + tp[s["bias"]])
        _, s = prog[-1]
        return a @ tp[s["name"]] + tp[s["bias"]]

    def step(x, labels):
        loss = tf.cross_entropy(forward(x), labels)
        for p in tp.values():
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in tp.values():
                p -= lr * p.grad
        return loss
    return step, torch


def torch_input(x):
    import numpy as np
    import torch
    return torch.tensor(np.moveaxis(x, -1, 1).copy())  # channels first


def run(net, name, batch_size=256, repeats=7, steps=50, seed=0, peers=None, torch=True) -> dict:
    """Interleaved timings of the derived train step and the peers; ``peers`` is the module that writes
    them (this one for convolutional networks, ``compile.cli.bench_rnn`` for recurrent ones). PyTorch's
    peer joins where torch is installed, unless ``torch`` is false."""
    import sys

    import jax
    import numpy as np
    from compile.train.train import compile_trainer
    kit = peers or sys.modules[__name__]
    prog = kit.program(net)
    trainer = compile_trainer(net, optimizer="sgd", lr=LR, dtype="float32")
    params = trainer.init_params(jax.random.PRNGKey(seed))
    model = trainer.model
    rng = np.random.default_rng(seed)
    nb = 4
    shape = model.input_shape
    classes = model.sizes[-1]
    if hasattr(kit, "batch_data"):   # token indices, a label per position (bench_lm)
        xs, labels, ys = kit.batch_data(model, rng, nb, batch_size)
    else:
        xs = rng.standard_normal((nb, batch_size, *shape), np.float32)
        labels = rng.integers(0, classes, (nb, batch_size))
        ys = np.eye(classes, dtype=np.float32)[labels]
    jx, jy = jax.device_put(list(xs)), jax.device_put(list(ys))
    state = {"d": (params, trainer.init_opt_state(params)),
             "p": kit.peer_state(prog, params) if hasattr(kit, "peer_state") else dict(params)}
    peer = kit.jax_step(prog)

    def run_derived():
        p, o = state["d"]
        for i in range(steps):
            p, o, _ = trainer.train_step(p, o, jx[i % nb], jy[i % nb])
        state["d"] = jax.block_until_ready((p, o))

    def run_peer():
        p = state["p"]
        for i in range(steps):
            p, _ = peer(p, jx[i % nb], jy[i % nb])
        state["p"] = jax.block_until_ready(p)

    sides = [("derived", run_derived), ("jax.grad", run_peer)]
    tstep, torch = kit.torch_step(prog, params) if torch else (None, None)
    from compile.cli.torch_peer import describe, sync
    if tstep is not None:
        tx = [kit.torch_input(x) for x in xs]  # in the layout PyTorch takes, once
        tl = [torch.tensor(l) for l in labels]

        def run_torch():
            for i in range(steps):
                tstep(tx[i % nb], tl[i % nb])
            sync(torch)
        sides.append(("pytorch", run_torch))
    for _, fn in sides:  # compile and warm every side before any timing
        fn()
    times = {label: [] for label, _ in sides}
    for r in range(repeats):
        order = sides if r % 2 == 0 else sides[::-1]
        for label, fn in order:
            t0 = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - t0)
    out = {"model": name, "batch_size": batch_size, "repeats": repeats, "steps_per_repeat": steps,
           "device": f"{jax.default_backend()} x{jax.device_count()}"}
    for label, ts in times.items():
        out[f"{label}_steps_per_s"] = steps / statistics.median(ts)
        if label != "derived":
            out[f"speedup_vs_{label}"] = median_ratio(ts, times["derived"])
            out[f"speedup_vs_{label}_quartiles"] = ratio_quartiles(ts, times["derived"])
    if tstep is not None:
        out["torch_threads"] = torch.get_num_threads()
        out["torch_on"] = describe(torch)
    return out


def render(r) -> None:
    import sys
    from rich.console import Console
    from rich.table import Table
    tab = Table(title=f"derivax bench: {r['model']}, batch {r['batch_size']}, float32 SGD, {r['device']}",
                caption="ratios are medians of interleaved repeats (the middle half of the repeats in brackets); "
                        "> 1: the derived step is faster")
    for col in ("train step", "steps/s", "speed ratio"):
        tab.add_column(col, justify="left" if col == "train step" else "right")
    tab.add_row("derived (derivax)", f"{r['derived_steps_per_s']:,.1f}", "")
    tab.add_row("hand-written JAX, jax.grad", f"{r['jax.grad_steps_per_s']:,.1f}",
                spread(r["speedup_vs_jax.grad"], r["speedup_vs_jax.grad_quartiles"], " "))
    if "pytorch_steps_per_s" in r:
        tab.add_row(f"PyTorch eager ({r.get('torch_on', str(r['torch_threads']) + ' threads')})", f"{r['pytorch_steps_per_s']:,.1f}",
                    spread(r["speedup_vs_pytorch"], r["speedup_vs_pytorch_quartiles"], " "))
    Console(file=sys.stdout).print(tab)

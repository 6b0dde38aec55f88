"""`derivax bench` for recurrent networks: the derived BPTT train step against peers written here
from the layers as declared (SimpleRNN, GRU, LSTM, Bidirectional, Flatten, Dense), sharing nothing with
derive/ but the starting parameters:

- a hand-written JAX model, the step under ``jax.lax.scan``, differentiated by ``jax.grad``, jitted;
- PyTorch eager (``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` modules loaded with the same parameters), where
  torch is installed (never a dependency).

The timing loop is ``compile.cli.bench_cnn.run``'s (interleaved repeats, medians of ratios).
"""
from __future__ import annotations

from compile.cli import bench_cnn
from compile.cli.bench_cnn import LR, CnnBenchError


def program(net) -> list:
    from derive import GRU, LSTM, Bidirectional, Dense, Flatten, SimpleRNN
    out, index = [], 1
    for layer in net.layers:
        bi = isinstance(layer, Bidirectional)
        inner = layer.layer if bi else layer
        if isinstance(inner, (SimpleRNN, GRU, LSTM)):
            act = getattr(inner, "activation", "tanh")
            if isinstance(inner, SimpleRNN) and act not in ("tanh", "relu"):
                raise CnnBenchError(f"layer {index}: the peers run SimpleRNN with tanh or relu, found {act!r}")
            dirs = [(index, inner.reverse)] + ([(index + 1, not inner.reverse)] if bi else [])
            kind = "gru" if isinstance(inner, GRU) else "lstm" if isinstance(inner, LSTM) else "rnn"
            out.append(("rnn", {"kind": kind, "act": act, "dirs": dirs,
                                "sequences": inner.sequences, "units": inner.units}))
            index += 3 if bi else 1
        elif isinstance(layer, Flatten):
            out.append(("flatten", {}))
            index += 1
        elif isinstance(layer, Dense) and not layer.dropout and not layer.skip_from and layer.use_bias and \
                layer.activation in ("identity", "tanh", "relu", "sigmoid", "softmax"):
            out.append(("dense", {"act": layer.activation, "name": f"W{index}", "bias": f"b{index}"}))
            index += 1
        else:
            raise CnnBenchError(f"layer {index}: the recurrent peers run SimpleRNN, GRU, LSTM, Bidirectional, Flatten "
                                f"and plain Dense layers, found {layer!r}")
    if net.loss != "ce" or out[-1][1].get("act") != "softmax":
        raise CnnBenchError("the recurrent benchmark compares softmax outputs with the ce loss")
    return out


def _cell(kind, act, p, l):
    import jax
    import jax.numpy as jnp
    f = jnp.tanh if act == "tanh" else jax.nn.relu
    if kind == "rnn":
        return lambda h, x: f(x @ p[f"Wxh{l}"] + h @ p[f"Whh{l}"] + p[f"bh{l}"])

    if kind == "lstm":  # the state is (h, c) side by side, as derivax carries it
        def lstm(s, x):
            H = s.shape[1] // 2
            h, c = s[:, :H], s[:, H:]
            gate = {k: x @ p[f"Wx{k}{l}"] + p[f"bx{k}{l}"] + h @ p[f"Wh{k}{l}"] + p[f"bh{k}{l}"] for k in "ifgo"}
            c = jax.nn.sigmoid(gate["f"]) * c + jax.nn.sigmoid(gate["i"]) * jnp.tanh(gate["g"])
            return jnp.concatenate([jax.nn.sigmoid(gate["o"]) * jnp.tanh(c), c], axis=1)
        return lstm

    def gru(h, x):
        r = jax.nn.sigmoid(x @ p[f"Wxr{l}"] + p[f"bxr{l}"] + h @ p[f"Whr{l}"] + p[f"bhr{l}"])
        u = jax.nn.sigmoid(x @ p[f"Wxu{l}"] + p[f"bxu{l}"] + h @ p[f"Whu{l}"] + p[f"bhu{l}"])
        n = jnp.tanh(x @ p[f"Wxn{l}"] + p[f"bxn{l}"] + r * (h @ p[f"Whn{l}"] + p[f"bhn{l}"]))
        return (1 - u) * n + u * h
    return gru


def jax_loss(params, x, y, prog):
    import jax
    import jax.numpy as jnp
    a = x
    for kind, s in prog[:-1]:
        if kind == "rnn":
            outs = []
            for l, reverse in s["dirs"]:
                step = _cell(s["kind"], s["act"], params, l)
                width = s["units"] * (2 if s["kind"] == "lstm" else 1)
                h0 = jnp.zeros((a.shape[0], width), a.dtype)
                _, hs = jax.lax.scan(lambda h, xt, step=step: (step(h, xt), step(h, xt)), h0,
                                     jnp.swapaxes(a, 0, 1), reverse=reverse)
                hs = jnp.swapaxes(hs, 0, 1)[:, :, :s["units"]]
                outs.append(hs if s["sequences"] else hs[:, 0 if reverse else -1])
            a = jnp.concatenate(outs, axis=-1)
        elif kind == "flatten":
            a = a.reshape(a.shape[0], -1)
        else:
            z = a @ params[s["name"]] + params[s["bias"]]
            a = {"identity": z, "tanh": jnp.tanh(z), "relu": jax.nn.relu(z), "sigmoid": jax.nn.sigmoid(z)}[s["act"]]
    _, s = prog[-1]
    z = a @ params[s["name"]] + params[s["bias"]]
    return -jnp.sum(y * jax.nn.log_softmax(z, axis=1)) / x.shape[0]


def jax_step(prog, lr=LR):
    return bench_cnn.jax_step(prog, lr, jax_loss)


def torch_input(x):
    import torch
    return torch.tensor(x)  # (batch, time, features), as batch_first modules take it


def torch_step(prog, params, lr=LR):
    """A PyTorch eager SGD step through nn.RNN / nn.GRU / nn.Linear holding ``params``, or None."""
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as tf
    except ImportError:
        return None, None
    import numpy as np
    from compile.cli.torch_peer import place
    place(torch)

    def t(a):
        return torch.tensor(np.asarray(a, np.float32))

    layers = []
    for kind, s in prog:
        if kind == "rnn":
            first, reverse0 = s["dirs"][0]
            if reverse0:
                raise CnnBenchError("the PyTorch peer runs a backward-only layer through nn.RNN's reverse "
                                    "direction only inside Bidirectional")
            F = int(np.asarray(params[f"Wx{dict(rnn='h', gru='r', lstm='i')[s['kind']]}{first}"]).shape[0])
            mod = dict(gru=nn.GRU, lstm=nn.LSTM, rnn=nn.RNN)[s["kind"]](
                F, s["units"], batch_first=True, bidirectional=len(s["dirs"]) == 2,
                **({"nonlinearity": s["act"]} if s["kind"] == "rnn" else {}))
            with torch.no_grad():
                for (l, _), suffix in zip(s["dirs"], ["", "_reverse"]):
                    p = {k: np.asarray(v) for k, v in params.items() if k.endswith(str(l))}
                    if s["kind"] == "rnn":
                        wi, wh, bi, bh = p[f"Wxh{l}"].T, p[f"Whh{l}"].T, p[f"bh{l}"].ravel(), 0 * p[f"bh{l}"].ravel()
                    elif s["kind"] == "lstm":  # PyTorch stacks the gates i, f, g, o
                        wi = np.concatenate([p[f"Wx{k}{l}"] for k in "ifgo"], 1).T
                        wh = np.concatenate([p[f"Wh{k}{l}"] for k in "ifgo"], 1).T
                        bi = np.concatenate([p[f"bx{k}{l}"] for k in "ifgo"], 1).ravel()
                        bh = np.concatenate([p[f"bh{k}{l}"] for k in "ifgo"], 1).ravel()
                    else:
                        wi = np.concatenate([p[f"Wxr{l}"], p[f"Wxu{l}"], p[f"Wxn{l}"]], 1).T
                        wh = np.concatenate([p[f"Whr{l}"], p[f"Whu{l}"], p[f"Whn{l}"]], 1).T
                        bi = np.concatenate([p[f"bxr{l}"], p[f"bxu{l}"], p[f"bxn{l}"]], 1).ravel()
                        bh = np.concatenate([p[f"bhr{l}"], p[f"bhu{l}"], p[f"bhn{l}"]], 1).ravel()
                    for name, v in [("weight_ih_l0", wi), ("weight_hh_l0", wh), ("bias_ih_l0", bi),
                                    ("bias_hh_l0", bh)]:
                        getattr(mod, name + suffix).copy_(t(v))
            layers.append(("rnn", mod, s))
        elif kind == "flatten":
            layers.append(("flatten", None, s))
        else:
            lin = nn.Linear(1, 1)
            lin.weight = nn.Parameter(t(np.asarray(params[s["name"]]).T))
            lin.bias = nn.Parameter(t(np.asarray(params[s["bias"]]).ravel()))
            layers.append(("dense", lin, s))
    acts = {"identity": lambda z: z, "tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid,
            "softmax": lambda z: z}
    tensors = [q for _, mod, _ in layers if mod is not None for q in mod.parameters()]

    def step(x, labels):
        a = x
        for kind, mod, s in layers:
            if kind == "rnn":
                out, _ = mod(a)
                if not s["sequences"]:
                    H = s["units"]
                    out = torch.cat([out[:, -1, :H]] + ([out[:, 0, H:]] if len(s["dirs"]) == 2 else []), dim=-1)
                a = out
            elif kind == "flatten":
                a = a.reshape(a.shape[0], -1)
            else:
                a = acts[s["act"]](mod(a))
        loss = tf.cross_entropy(a, labels)
        for q in tensors:
            q.grad = None
        loss.backward()
        with torch.no_grad():
            for q in tensors:
                q -= lr * q.grad
        return loss
    return step, torch

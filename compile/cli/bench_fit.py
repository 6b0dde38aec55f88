"""`compile.fit` against the training loop people write by hand: a Python loop of jitted `jax.grad` steps over
shuffled mini-batches, with the test set evaluated after each epoch (as Keras reports it), and, when torch is
installed, PyTorch's eager loop. Same network, data, batch size and optimizer (SGD); timed interleaved in one
process, medians of whole runs of ``--epochs`` epochs after a warm-up run that compiles everything.

Usage: python benchmarks/bench_fit.py (or python -m compile.cli.bench_fit) [--examples 60000] [--sizes 784 256 128 10] [--batch 128] [--epochs 2]
       [--repeats 3] [--torch] [--json]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np

from compile.cli.ratios import ratio_quartiles

LR = 0.05


def data(n, sizes, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, sizes[0])).astype(np.float32)
    w = rng.normal(size=(sizes[0], sizes[-1])).astype(np.float32)
    y = np.eye(sizes[-1], dtype=np.float32)[np.argmax(x @ w, 1)]
    cut = n * 5 // 6
    return x[:cut], y[:cut], x[cut:], y[cut:]


def derived(sizes, batch, epochs, x, y, xt, yt):
    from compile import compile_trainer, fit
    from derive import Dense, Network
    net = Network(sizes[0], [Dense(s, "tanh") for s in sizes[1:-1]] + [Dense(sizes[-1], "softmax")])
    trainer = compile_trainer(net, "sgd", LR)
    params = trainer.init_params(0)

    def go():
        h = fit(trainer, x, y, epochs, batch, x_test=xt, y_test=yt, progress=False, params=params)
        h.params["W1"].block_until_ready()
        return h.test_accuracy[-1]
    return go


def jax_loop(sizes, batch, epochs, x, y, xt, yt):
    """The loop a JAX user writes: jit(grad) step, NumPy shuffle, slices gathered per step, test metrics
    (loss and accuracy, jitted) after each epoch."""
    import jax
    import jax.numpy as jnp

    def forward(p, a):
        for k in range(len(sizes) - 2):
            a = jnp.tanh(a @ p[f"W{k + 1}"] + p[f"b{k + 1}"])
        return a @ p[f"W{len(sizes) - 1}"] + p[f"b{len(sizes) - 1}"]

    def loss(p, a, t):
        return -jnp.mean(jnp.sum(t * jax.nn.log_softmax(forward(p, a)), -1))

    @jax.jit
    def step(p, a, t):
        g = jax.grad(loss)(p, a, t)
        return jax.tree.map(lambda w, d: w - LR * d, p, g)

    @jax.jit
    def evaluate(p, a, t):
        return loss(p, a, t), jnp.mean(jnp.argmax(forward(p, a), -1) == jnp.argmax(t, -1))

    rng = np.random.default_rng(0)
    params0 = {}
    for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
        params0[f"W{k}"] = jnp.asarray(rng.normal(size=(i, o)).astype(np.float32) / np.sqrt(i))
        params0[f"b{k}"] = jnp.zeros((1, o), jnp.float32)
    xd, yd, xtd, ytd = (jnp.asarray(a) for a in (x, y, xt, yt))

    def go():
        p = params0
        acc = None
        for e in range(epochs):
            order = np.random.default_rng(e).permutation(len(x))
            for s in range(len(x) // batch):
                idx = order[s * batch:(s + 1) * batch]
                p = step(p, xd[idx], yd[idx])
            _, acc = evaluate(p, xtd, ytd)
        return float(acc)
    return go


def torch_loop(sizes, batch, epochs, x, y, xt, yt):
    import torch
    from compile.cli.torch_peer import place
    dev = place(torch)
    torch.manual_seed(0)
    layers = []
    for i, o in zip(sizes[:-2], sizes[1:-1]):
        layers += [torch.nn.Linear(i, o), torch.nn.Tanh()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(sizes[-2], sizes[-1]))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xd, yd = torch.from_numpy(x).to(dev), torch.from_numpy(y.argmax(1)).to(dev)
    xtd, ytd = torch.from_numpy(xt).to(dev), torch.from_numpy(yt.argmax(1)).to(dev)

    def go():
        for e in range(epochs):
            order = torch.from_numpy(np.random.default_rng(e).permutation(len(x))).to(dev)
            for s in range(len(x) // batch):
                idx = order[s * batch:(s + 1) * batch]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(xd[idx]), yd[idx]).backward()
                opt.step()
            with torch.no_grad():
                acc = (model(xtd).argmax(1) == ytd).float().mean().item()
        return acc
    return go


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(examples=60000, sizes=(784, 256, 128, 10), batch=128, epochs=2, repeats=3, torch=False) -> dict:
    """The figures as one dict: median seconds per run of each side, and fit's speed over each peer's."""
    sizes = list(sizes)
    x, y, xt, yt = data(examples, sizes)
    runs = {"derivax fit": derived(sizes, batch, epochs, x, y, xt, yt),
            "jax.grad loop": jax_loop(sizes, batch, epochs, x, y, xt, yt)}
    if torch:
        import torch as _torch
        _torch.set_num_threads(max(1, __import__("os").cpu_count() or 1))
        runs["torch loop"] = torch_loop(sizes, batch, epochs, x, y, xt, yt)
    for fn in runs.values():   # warm-up: every compile and allocation before the clock
        fn()
    times = {k: [] for k in runs}
    for r in range(repeats):   # interleaved, the order turned every other repeat
        for k, fn in (list(runs.items()) if r % 2 == 0 else list(runs.items())[::-1]):
            times[k].append(timed(fn))
    med = {k: statistics.median(v) for k, v in times.items()}
    out = {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, {platform.python_version()}",
           "net": "-".join(map(str, sizes)), "train_examples": len(x), "batch": batch, "epochs": epochs,
           "seconds": med, "fit_vs_jax_loop": med["jax.grad loop"] / med["derivax fit"],
           "fit_vs_jax_loop_quartiles": ratio_quartiles(times["jax.grad loop"], times["derivax fit"])}
    if "torch loop" in med:
        out["fit_vs_torch_loop"] = med["torch loop"] / med["derivax fit"]
        out["fit_vs_torch_loop_quartiles"] = ratio_quartiles(times["torch loop"], times["derivax fit"])
        from compile.cli.torch_peer import describe
        out["torch_on"] = describe(_torch)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=60000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[784, 256, 128, 10])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--torch", action="store_true", help="also PyTorch's eager loop (torch must be installed)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out = measure(args.examples, args.sizes, args.batch, args.epochs, args.repeats, args.torch)
    med, x_n = out["seconds"], out["train_examples"]
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{out['net']}, {x_n} training examples, batch {args.batch}, {args.epochs} epochs; {out['machine']}")
        for k, v in med.items():
            print(f"  {k:14s} {v:7.2f} s  ({args.epochs * (x_n // args.batch) / v:,.0f} steps/s)")
        print(f"  fit speed / jax.grad loop: {out['fit_vs_jax_loop']:.2f}x" +
              (f"; / torch loop: {out['fit_vs_torch_loop']:.2f}x" if "fit_vs_torch_loop" in out else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

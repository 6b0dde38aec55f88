"""Where the time to a first train step goes, derivax against a hand-written jax.grad step.

``derivax bench`` gives the ratio of the two totals; this splits each total into its phases, each side in
fresh processes (a process's first derivation and first compile are the ones a user waits for):

- derivax: derive (SymPy), write the module's source, execute it, then trace, lower, compile (XLA) and
  run the trainer's step once;
- jax.grad: trace, lower, compile and run ``compile.cli.bench.peer_step`` once.

Imports, parameter initialisation and a trivial jit that starts JAX's backend come before the clock on
both sides, as in ``derivax bench``.
Usage: python benchmarks/bench_first_step.py [MODEL] [--batch-size 256] [--repeats 3] [--json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

PHASES = {"derived": ("derive", "source", "exec", "trace", "lower", "compile", "run"),
          "peer": ("trace", "lower", "compile", "run")}


def phases(side: str, model: str, batch_size: int) -> dict:
    """Seconds of each phase of ``side``'s first step, in this process (meant to be a fresh one)."""
    import gc

    import jax
    from compile.cli.bench import _block, batches, peer_init, peer_spec, peer_step
    from compile.lowering.codegen import module_source
    from compile.lowering.lower import run_source
    from compile.train.optim import make
    from compile.train.train import _top_level, module_step
    from derive.network.examples import resolve
    jax.block_until_ready(jax.jit(lambda v: v + 1)(1.0))
    _, net = resolve(model)
    sizes, acts, loss, l2 = peer_spec(net)
    xs, ys = batches(0, 1, batch_size, sizes[0], sizes[-1], loss != "mse")
    x, y = xs[0], ys[0]
    key = jax.random.PRNGKey(0)
    out, clock = {}, time.perf_counter
    gc.collect()
    if side == "derived":
        t = clock()
        derivation = net.derive("rows")
        out["derive"] = clock() - t
        t = clock()
        source = module_source(derivation, make("sgd", 0.1), "float32", "bench")
        out["source"] = clock() - t
        t = clock()
        ns = run_source(source, "bench")
        out["exec"] = clock() - t
        params = _block(ns["init_params"](key))
        inner = module_step(ns, bool(derivation.model.masks))   # the step compile_trainer compiles
        step, args = _top_level(inner, derivation.model).top, (params, {}, x, y, None)
    else:
        params = _block(peer_init(key, sizes))
        step, args = peer_step(acts, loss, l2), (params, x, y)
    t = clock()
    traced = step.trace(*args)
    out["trace"] = clock() - t
    t = clock()
    lowered = traced.lower()
    out["lower"] = clock() - t
    t = clock()
    compiled = lowered.compile()
    out["compile"] = clock() - t
    t = clock()
    _block(compiled(*args))
    out["run"] = clock() - t
    return out


def in_child(side: str, model: str, batch_size: int) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {__file__.rsplit('/', 1)[0]!r}); "
            f"from bench_first_step import phases; print(json.dumps(phases({side!r}, {model!r}, {batch_size})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the {side} child failed: {(done.stderr.strip().splitlines() or ['no message'])[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def positive(text: str) -> int:
    """An argument that must be a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", nargs="?", default="784-256:tanh-128:tanh-10:softmax")
    ap.add_argument("--batch-size", type=positive, default=256)
    ap.add_argument("--repeats", type=positive, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    runs = {"derived": [], "peer": []}
    for r in range(args.repeats):   # interleaved, the order turned every other repeat
        for side in ("derived", "peer") if r % 2 == 0 else ("peer", "derived"):
            runs[side].append(in_child(side, args.model, args.batch_size))
    med = {side: {p: statistics.median(run[p] for run in runs[side]) for p in PHASES[side]} for side in runs}
    total = {side: sum(med[side].values()) for side in med}
    print(f"{args.model}, batch {args.batch_size}: medians of {args.repeats} fresh processes a side, ms")
    for side in ("derived", "peer"):
        print(f"  {side:8s}" + "".join(f"  {p} {1e3 * med[side][p]:6.1f}" for p in PHASES[side])
              + f"  total {1e3 * total[side]:6.1f}")
    print(f"  ratio of the totals: {total['derived'] / total['peer']:.2f}x")
    if args.json:
        print(json.dumps({"model": args.model, "batch_size": args.batch_size, "medians_s": med,
                          "ratio": total["derived"] / total["peer"]}))


if __name__ == "__main__":
    main()

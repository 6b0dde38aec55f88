"""The derived step against the hand-written jax.grad step with JAX's per-call dispatch taken out: each side runs as
many steps inside one jitted ``lax.scan`` (the same batches, SGD), so the time per step is what XLA's runtime spends on
the step's kernels. ``derivax bench`` times one call per step, as a Python loop makes them; on a small network about
half of that call is dispatch (parsing the arguments, allocating and wrapping the outputs), the same on both sides.
This script says how much of a per-call ratio near 1 is the programs and how much the dispatch both pay.

Usage: python benchmarks/bench_in_scan.py [MODEL ...] [--batch-size 64] [--repeats 9] [--json]
(default: the suite's float32 dense rows, each at its own batch size)
"""
from __future__ import annotations

import statistics
import sys

SCANS = 25   # scans of the 8 batches per timed call: 200 steps, so one call's dispatch is 0.5% of it or less


def in_scan(model: str, batch_size: int, repeats: int) -> dict:
    """Per-step seconds of both sides inside a scan, and their ratio (jax.grad's time over the derived step's)."""
    import time

    import jax
    from compile.cli.bench import batches, interleaved, peer_init, peer_loss, peer_spec, LR
    from compile.cli.ratios import median_ratio, ratio_quartiles
    from compile.train.train import compile_trainer, module_step
    from derive.network.examples import resolve
    _, net = resolve(model)
    sizes, acts, loss, l2 = peer_spec(net)
    xs, ys = batches(0, 8, batch_size, sizes[0], sizes[-1], loss != "mse")
    trainer = compile_trainer(net, optimizer="sgd", lr=LR)
    step = module_step(trainer.namespace, False)
    value_and_grad = jax.value_and_grad(peer_loss)

    @jax.jit
    def derived(params, state, xs, ys):
        def body(carry, batch):
            p, s, _ = step(*carry, *batch)
            return (p, s), None
        for _ in range(SCANS):
            (params, state), _ = jax.lax.scan(body, (params, state), (xs, ys))
        return params, state

    @jax.jit
    def peer(params, xs, ys):
        def body(p, batch):
            _, g = value_and_grad(p, *batch, acts, loss, l2)
            return jax.tree_util.tree_map(lambda a, d: a - LR * d, p, g), None
        for _ in range(SCANS):
            params, _ = jax.lax.scan(body, params, (xs, ys))
        return params

    params = trainer.init_params(0)
    state = {"d": (params, trainer.init_opt_state(params)), "p": peer_init(jax.random.PRNGKey(0), sizes)}

    def run_derived():
        state["d"] = jax.block_until_ready(derived(*state["d"], xs, ys))

    def run_peer():
        state["p"] = jax.block_until_ready(peer(state["p"], xs, ys))

    run_derived(), run_peer()   # compile both before any timing
    t0 = time.perf_counter()
    run_peer()
    calls = max(1, round(0.1 / (time.perf_counter() - t0)))   # each timed repeat at least about 0.1 s

    def times(f):
        def run():
            for _ in range(calls):
                f()
        return run
    t_d, t_p = interleaved(times(run_derived), times(run_peer), repeats)
    steps = calls * SCANS * len(xs)
    return {"model": model, "batch_size": batch_size, "repeats": repeats,
            "derived_step_us": statistics.median(t_d) / steps * 1e6, "jax_grad_step_us": statistics.median(t_p) / steps * 1e6,
            "ratio": median_ratio(t_p, t_d), "quartiles": list(ratio_quartiles(t_p, t_d))}


def main(argv=None) -> int:
    from rows import run_rows
    return run_rows(argv, "bench_in_scan.py", __doc__.splitlines()[0], in_scan,
                    lambda row, r: f"{row}  derived {r['derived_step_us']:9.1f} us/step, jax.grad "
                                   f"{r['jax_grad_step_us']:9.1f}: {r['ratio']:.2f}x "
                                   f"({r['quartiles'][0]:.2f}-{r['quartiles'][1]:.2f})",
                    batch_size=64, repeats=9)


if __name__ == "__main__":
    sys.exit(main())

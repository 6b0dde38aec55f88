"""How close a dense step is to its floor: the derived train step and the hand-written jax.grad step, each against a
program of the step's unavoidable matrix products alone (every layer's A W, the δ Wᵀ of every layer but the first, and
Aᵀ δ), run in the order the step depends on them and compiled as one function, with no elementwise work, no loss and
no update at all. The three are timed interleaved (repeats of at least MIN_REPEAT_SECONDS, the order turned every
repeat), medians.

A step that takes about the time of its products alone spends its time in them, and neither way of computing the
gradient can run faster than them but through faster products: where both steps read about 1.0x of the floor, their
ratio to each other is the machine's noise (``bench_noise.py``). The suite's "of the machine's limit" column times
each product alone, with a call's own cost in each; this program runs them as a step does.
Usage: python benchmarks/bench_floor.py [MODEL ...] [--batch-size 128] [--repeats 11] [--json]
(default: the suite's float32 dense rows, each at its own batch size)
"""
from __future__ import annotations

import math
import statistics
import sys

from rows import dense_setup   # the scripts' own module beside them (run as a script, or imported from here)


def products_program(sizes):
    """A jitted function of (weights, x) computing the products of a dense step of ``sizes`` in their order: the
    forward chain A_l = A_{l-1} W_l, then from the top, each layer's Aᵀ δ and, but for the first layer's, δ Wᵀ."""
    import jax

    @jax.jit
    def run(weights, x):
        acts = [x]
        for w in weights:
            acts.append(acts[-1] @ w)
        d, grads = acts[-1], []
        for l in reversed(range(len(weights))):
            grads.append(acts[l].T @ d)
            if l:
                d = d @ weights[l].T
        return grads
    return run


def floor_ratios(model: str, batch_size: int, repeats: int) -> dict:
    """Seconds per step of the derived step, the jax.grad step and the products alone, and each step's ratio to the
    products (the products' time over the step's: 1.0 at the floor)."""
    import time

    import jax
    import numpy as np
    from compile.cli.bench import LR, MAX_TIMED_STEPS, MIN_REPEAT_SECONDS, _block, peer_init, peer_step
    from compile.cli.ratios import median_ratio, ratio_quartiles
    from compile.train.train import compile_trainer
    nb = 8
    net, (sizes, acts, loss, l2), xs, ys = dense_setup(model, batch_size, nb)
    key = jax.random.PRNGKey(0)
    trainer = compile_trainer(net, optimizer="sgd", lr=LR)
    params = trainer.init_params(key)
    peer = peer_step(acts, loss, l2)
    rng = np.random.default_rng(0)
    # weights scaled so that the chain stays near the unit scale: no overflow, no subnormal numbers to slow it
    weights = [jax.device_put((rng.standard_normal((a, b)) / math.sqrt(a)).astype(np.float32))
               for a, b in zip(sizes, sizes[1:])]
    floor = products_program(sizes)
    state = {"d": (params, trainer.init_opt_state(params)), "p": peer_init(key, sizes)}
    count = {"n": 100}

    def derived():
        p, o = state["d"]
        for i in range(count["n"]):
            p, o, _ = trainer.train_step(p, o, xs[i % nb], ys[i % nb])
        state["d"] = _block((p, o))

    def hand():
        p = state["p"]
        for i in range(count["n"]):
            p, _ = peer(p, xs[i % nb], ys[i % nb])
        state["p"] = _block(p)

    def products():
        out = None
        for i in range(count["n"]):
            out = floor(weights, xs[i % nb])
        _block(out)

    for f in (derived, hand, products):
        f()
    t0 = time.perf_counter()
    derived()
    per_step = (time.perf_counter() - t0) / count["n"]
    count["n"] = max(100, min(MAX_TIMED_STEPS, math.ceil(MIN_REPEAT_SECONDS / per_step)))
    times = {"derived": [], "jax_grad": [], "products": []}
    runs = [("derived", derived), ("jax_grad", hand), ("products", products)]
    for r in range(repeats):
        for name, f in runs[r % 3:] + runs[:r % 3]:
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    out = {"model": model, "batch_size": batch_size, "repeats": repeats, "steps_per_repeat": count["n"]}
    for name in ("derived", "jax_grad", "products"):
        out[f"{name}_ms"] = statistics.median(times[name]) / count["n"] * 1e3
    for name in ("derived", "jax_grad"):
        out[f"{name}_of_floor"] = median_ratio(times["products"], times[name])
        out[f"{name}_quartiles"] = list(ratio_quartiles(times["products"], times[name]))
    return out


def main(argv=None) -> int:
    from rows import run_rows
    return run_rows(argv, "bench_floor.py", __doc__.splitlines()[0], floor_ratios,
                    lambda row, r: f"{row}  derived {r['derived_ms']:8.3f} ms, jax.grad {r['jax_grad_ms']:8.3f} ms, "
                                   f"products alone {r['products_ms']:8.3f} ms: of the floor, derived "
                                   f"{r['derived_of_floor']:.2f}x ({r['derived_quartiles'][0]:.2f}-"
                                   f"{r['derived_quartiles'][1]:.2f}), jax.grad {r['jax_grad_of_floor']:.2f}x "
                                   f"({r['jax_grad_quartiles'][0]:.2f}-{r['jax_grad_quartiles'][1]:.2f})",
                    batch_size=128, repeats=11)


if __name__ == "__main__":
    sys.exit(main())

"""How far a speed ratio moves when nothing differs: the hand-written jax.grad step against a second,
separately compiled copy of itself, timed exactly as ``derivax bench`` times the derived step against it
(interleaved repeats of at least MIN_REPEAT_SECONDS, the order turned every other repeat, medians of the
per-repeat ratios).

On a shared machine the two copies' ratio is not 1.00: what it reads here, and the middle half of its
repeats, is how far from 1 a suite row must be before its difference is the code's and not the
machine's.
Usage: python benchmarks/bench_noise.py [MODEL ...] [--batch-size 128] [--repeats 11] [--json]
(default: the suite's float32 dense rows, each at its own batch size)
"""
from __future__ import annotations

import math
import statistics
import sys

from rows import dense_setup   # the scripts' own module beside them (run as a script, or imported from here)


def null_ratio(model: str, batch_size: int, repeats: int) -> dict:
    """The jax.grad step of ``model`` against a second jit of itself: median ratio, quartiles, step time."""
    import time

    import jax
    from compile.cli.bench import MAX_TIMED_STEPS, MIN_REPEAT_SECONDS, _block, interleaved, peer_init, peer_step
    from compile.cli.ratios import median_ratio, ratio_quartiles
    nb = 8
    _, (sizes, acts, loss, l2), xs, ys = dense_setup(model, batch_size, nb)
    key = jax.random.PRNGKey(0)
    # Two jits of one function: two compilations, two executables, the same HLO.
    steps = {"a": peer_step(acts, loss, l2), "b": peer_step(acts, loss, l2)}
    state = {k: peer_init(key, sizes) for k in steps}
    count = {"n": 100}

    def runner(k):
        def run():
            p = state[k]
            for i in range(count["n"]):
                p, _ = steps[k](p, xs[i % nb], ys[i % nb])
            state[k] = _block(p)
        return run

    a, b = runner("a"), runner("b")
    a(), b()
    t0 = time.perf_counter()
    a()
    per_step = (time.perf_counter() - t0) / count["n"]
    count["n"] = max(100, min(MAX_TIMED_STEPS, math.ceil(MIN_REPEAT_SECONDS / per_step)))
    ta, tb = interleaved(a, b, repeats)
    q1, q3 = ratio_quartiles(tb, ta)
    return {"model": model, "batch_size": batch_size, "repeats": repeats, "steps_per_repeat": count["n"],
            "step_ms": statistics.median(ta + tb) / count["n"] * 1e3,
            "ratio": median_ratio(tb, ta), "quartiles": [q1, q3]}


def main(argv=None) -> int:
    from rows import run_rows
    return run_rows(argv, "bench_noise.py", __doc__.splitlines()[0], null_ratio,
                    lambda row, r: f"{row}  {r['step_ms']:8.3f} ms/step  jax.grad / jax.grad: "
                                   f"{r['ratio']:.2f}x ({r['quartiles'][0]:.2f}-{r['quartiles'][1]:.2f})",
                    batch_size=128, repeats=11)


if __name__ == "__main__":
    sys.exit(main())

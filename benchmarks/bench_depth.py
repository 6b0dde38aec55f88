"""How derivation time grows with depth: tanh layers of width 512, derive only (no JAX).

The design wants compile times that do not explode with depth (CasADi #3490): reverse mode walks the
graph once, so time should grow about linearly in the number of layers, and the 100/50 ratio should be
near 2. Usage: python benchmarks/bench_depth.py [--depths 10 20 50 100] [--repeats 3] [--json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

from derive import Dense, Network


def derive_seconds(depth: int, width: int = 512, repeats: int = 3) -> float:
    """Median seconds to declare and derive a depth-layer tanh network (a fresh network each time,
    so no cache inside derive/ can answer a repeat)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        Network(width, [Dense(width, "tanh")] * depth + [Dense(10, "softmax")]).derive()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depths", type=int, nargs="+", default=[10, 20, 50, 100])
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    args = p.parse_args(argv)
    seconds = {}
    for depth in args.depths:
        seconds[depth] = derive_seconds(depth, args.width, args.repeats)
        print(f"depth {depth:4d}: {seconds[depth]:8.3f} s  ({seconds[depth] / depth * 1e3:.2f} ms per layer)")
    result = {"width": args.width, "seconds": {str(k): v for k, v in seconds.items()}}
    if 50 in seconds and 100 in seconds:
        result["ratio_100_50"] = seconds[100] / seconds[50]
        print(f"ratio depth 100 / depth 50: {result['ratio_100_50']:.2f} (linear growth gives 2)")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

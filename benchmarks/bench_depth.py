"""How derivation time, and writing the trainer's source, grow with depth: tanh layers of width 512.

The design wants compile times that do not explode with depth (CasADi #3490): reverse mode walks the
graph once, so time should grow about linearly in the number of layers, and the 100/50 ratio should be
near 2. ``--source`` also times writing the trainer's JAX source from the derivation (what ``codegen`` and
``compile_trainer`` do before any compiling), which walks the union of the gradients' graphs once.
Usage: python benchmarks/bench_depth.py [--depths 10 20 50 100] [--repeats 3] [--source] [--json]
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


def source_seconds(depth: int, width: int = 512, repeats: int = 3) -> float:
    """Median seconds to write the JAX source of a depth-layer network's derivation."""
    from compile.lowering.lower import function_sources
    d = Network(width, [Dense(width, "tanh")] * depth + [Dense(10, "softmax")]).derive()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        function_sources(d)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depths", type=int, nargs="+", default=[10, 20, 50, 100])
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--source", action="store_true", help="also time writing the trainer's source")
    p.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    args = p.parse_args(argv)
    seconds, source = {}, {}
    for depth in args.depths:
        seconds[depth] = derive_seconds(depth, args.width, args.repeats)
        line = f"depth {depth:4d}: derive {seconds[depth]:8.3f} s  ({seconds[depth] / depth * 1e3:.2f} ms per layer)"
        if args.source:
            source[depth] = source_seconds(depth, args.width, args.repeats)
            line += f", source {source[depth]:8.3f} s ({source[depth] / depth * 1e3:.2f} ms per layer)"
        print(line)
    result = {"width": args.width, "seconds": {str(k): v for k, v in seconds.items()}}
    if source:
        result["source_seconds"] = {str(k): v for k, v in source.items()}
    if 50 in seconds and 100 in seconds:
        result["ratio_100_50"] = seconds[100] / seconds[50]
        print(f"ratio depth 100 / depth 50: {result['ratio_100_50']:.2f} (linear growth gives 2)")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The command line the dense-row benchmark scripts share (bench_noise.py, bench_in_scan.py): MODELs or the suite's
float32 rows, a batch size for MODELs given, interleaved repeats, --json; one measurement and one printed line a row."""
from __future__ import annotations

import argparse
import json
import sys


def dense_setup(model: str, batch_size: int, nb: int = 8):
    """(net, (sizes, acts, loss, l2), xs, ys) of a dense suite row: the network, what the peer step is written from,
    and ``nb`` device batches cycled through, as ``derivax bench`` makes them."""
    from compile.cli.bench import batches, peer_spec
    from derive.network.examples import resolve
    _, net = resolve(model)
    spec = peer_spec(net)
    xs, ys = batches(0, nb, batch_size, spec[0][0], spec[0][-1], spec[2] != "mse")
    return net, spec, list(xs), list(ys)


def run_rows(argv, script: str, description: str, measure, line, batch_size: int, repeats: int) -> int:
    """Parse ``argv``; for each row, ``measure(model, batch, repeats)`` -> dict and print ``line(name, batch, r)``.
    A network the peer cannot write is refused by name (exit 2)."""
    from compile.cli.args import SIZE_MAX, count
    from compile.cli.bench import MAX_REPEATS, SUITE, BenchError
    from derive.network.examples import ModelError
    ap = argparse.ArgumentParser(prog=script, description=description)
    ap.add_argument("models", nargs="*", metavar="MODEL", help="dense networks (default: the suite's float32 rows)")
    ap.add_argument("--batch-size", type=count(1, SIZE_MAX, "--batch-size"), default=batch_size,
                    help=f"examples per step for MODELs given (default {batch_size})")
    ap.add_argument("--repeats", type=count(1, MAX_REPEATS, "--repeats"), default=repeats,
                    help=f"interleaved repeats (default {repeats})")
    ap.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    args = ap.parse_args(argv)
    rows = [(m, args.batch_size) for m in args.models] or [(spec, batch) for _, spec, batch, dtype in SUITE
                                                           if dtype == "float32"]
    out = []
    for model, batch in rows:
        try:
            r = measure(model, batch, args.repeats)
        except (ModelError, BenchError) as exc:
            print(f"{script.removesuffix('.py')}: {model}: {exc}", file=sys.stderr)
            return 2
        out.append(r)
        name = model if len(model) <= 40 else model[:37] + "..."
        print(line(f"{name:40s} batch {batch:4d}", r), flush=True)
    if args.json:
        print(json.dumps(out))
    return 0

"""The explorer page's latency: the time from a click (a POST to /api/derive) to the updated derivation's
record, for each built-in example and for an edit of its activation, measured through the real server on a
free port (the worker process, the derivation, the record with its MathML, the JSON over HTTP). Each case is
asked ``--repeats`` times with an edit the cache has not seen (a fresh loss spelling is not possible for
every net, so the first call and the cached answer are reported apart).

Usage: python benchmarks/bench_explore.py [--examples xor mlp cnn] [--repeats 3] [--json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request


def post(base, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        raw = r.read()
    return json.loads(raw), len(raw)


def main(argv=None) -> int:
    from compile.explore.launch import start
    from derive.network.examples import EXAMPLES
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", nargs="+", default=list(EXAMPLES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    url, stop = start("xor", port=0)
    base = url.rstrip("/")
    post(base, "/api/derive", {"model": "xor"})   # the fork server's first worker
    rows = []
    try:
        for name in args.examples:
            fresh, sizes = [], []
            for k in range(args.repeats):   # a different convention or model spelling each time: no cache hit
                body = {"model": name + " " * k, "convention": "rows"}
                t = time.perf_counter()
                _, size = post(base, "/api/derive", body)
                fresh.append(time.perf_counter() - t)
                sizes.append(size)
            t = time.perf_counter()
            post(base, "/api/derive", {"model": name, "convention": "rows"})
            cached = time.perf_counter() - t
            record, _ = post(base, "/api/derive", {"model": name})
            layer = next((l["index"] for l in record["record"]["layers"] if l["editable"]), None)
            edit = None
            if layer is not None and len(record["record"]["network_layers"]) == len(record["record"]["layers"]):
                t = time.perf_counter()
                post(base, "/api/derive", {"model": name, "edits": [{"op": "activation", "layer": layer, "value": "tanh"}]})
                edit = time.perf_counter() - t
            rows.append({"example": name, "derive_s": statistics.median(fresh), "cached_s": cached, "edit_s": edit,
                         "record_kb": round(statistics.median(sizes) / 1024, 1)})
    finally:
        stop()
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"{'example':10s} {'click→record':>13s} {'cached':>8s} {'edit':>8s} {'record':>9s}")
        for r in rows:
            edit = f"{r['edit_s']:.2f} s" if r["edit_s"] is not None else "-"
            print(f"{r['example']:10s} {r['derive_s']:11.2f} s {r['cached_s'] * 1000:6.0f} ms {edit:>8s} "
                  f"{r['record_kb']:7.1f} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`derivax verify MODEL`: the derived gradients against jax.grad, finite differences and sympy.diff."""
from __future__ import annotations

import argparse
import json
import sys

from compile.cli import args as _args
from compile.checks.points import MAX_BATCH


def add_arguments(parser) -> None:
    _args.model_arguments(parser)
    parser.add_argument("--seed", type=_args.seed, default=0, help="seed of the random point (default 0)")
    parser.add_argument("--batch-size", type=_args.count(1, MAX_BATCH, "--batch-size"), default=2,
                        help=f"examples at the point (default 2, at most {MAX_BATCH})")
    parser.add_argument("--jit", action=argparse.BooleanOptionalAction, default=True,
                        help="check the jit-compiled functions, as training runs them (default); --no-jit runs them "
                             "op by op")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the results")


def main(args) -> int:
    from compile.checks.verify import verify
    from derive.network.examples import resolve
    name, net = resolve(args.model, args.loss, getattr(args, "input", None), getattr(args, "l2", None), getattr(args, "l2_form", None),
                     getattr(args, "reduction", None))
    if args.batch_size < 1:
        print(f"derivax: --batch-size must be at least 1, not {args.batch_size}", file=sys.stderr)
        return 2
    model = net.build(args.convention)
    empty = _args.no_parameters(model, name, "verify")
    if empty:
        print(f"derivax: {empty}", file=sys.stderr)
        return 2
    for layer in model.layers:   # Bessel's m − 1 over a batch of one divides by 0
        geometry = dict(layer.geometry or ())
        if layer.kind == "batch_norm" and geometry.get("variance") == "unbiased" and args.batch_size < 2 \
                and geometry.get("over") == (0,):
            print(f"derivax: layer {layer.index} (batch norm, unbiased variance) divides by m − 1 over the batch: "
                  f"--batch-size must be at least 2, not {args.batch_size}", file=sys.stderr)
            return 2
    report = verify(net, args.convention, args.seed, args.batch_size, name, args.jit)
    report.render()
    if args.json:
        print(_args.json_line(json.loads(report.to_json())))
    if report.problem:
        print(f"derivax: nothing was compared: {report.problem.split(':')[0]}", file=sys.stderr)
        return 2
    return 0 if report.ok else 1


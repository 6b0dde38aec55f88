"""`derivax codegen MODEL`: write a standalone trainer module."""
from __future__ import annotations

import sys

from compile.cli import args as _args
from pathlib import Path

from compile.train.optimizer_names import OPTIMIZERS


def add_arguments(parser) -> None:
    _args.model_arguments(parser)
    parser.add_argument("-o", "--output", type=_args.unmark, metavar="TRAINER.py",
                        help="the Python file to write, ending in .py (default: standard output)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, help="default: the example's, else sgd")
    parser.add_argument("--lr", type=_args.positive_float("--lr"),
                        help="learning rate, a finite number > 0 (default: the example's, else 0.1)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="float64 modules turn on JAX's 64-bit mode when imported")


def main(args) -> int:
    from compile.lowering.codegen import generate
    from compile.train.optim import OptimizerError
    from derive.network.examples import EXAMPLES, resolve
    if args.output is not None and not args.output.strip():
        print("derivax: -o needs a file name (leave -o out to write to standard output)", file=sys.stderr)
        return 2
    if args.output == "-":   # the usual spelling of standard output
        args.output = None
    problem = _args.unwritable("-o", args.output, ".py")
    if problem:
        print(f"derivax: {problem}", file=sys.stderr)
        return 2
    if args.output is not None and not args.output.endswith(".py"):
        # The module is Python source: any other ending is a slip (-o data.npz) that would write source
        # over a file of another kind, or a module that cannot be imported.
        print(f"derivax: -o {args.output}: the file name must end in .py, e.g. "
              f"{Path(args.output).with_suffix('.py')}", file=sys.stderr)
        return 2
    problem = _args.written_over_input("-o", args.output, [("the model's own source", _args.model_file(args.model))])
    if problem:
        print(f"derivax: {problem}", file=sys.stderr)
        return 2
    name, net = resolve(args.model, args.loss, getattr(args, "input", None), getattr(args, "l2", None), getattr(args, "l2_form", None),
                     getattr(args, "reduction", None))
    empty = _args.no_parameters(net.build(args.convention), name, "train")
    if empty:
        print(f"derivax: {empty}", file=sys.stderr)
        return 2
    defaults = EXAMPLES[name].train if name in EXAMPLES else {}
    optimizer = args.optimizer or defaults.get("optimizer", "sgd")
    lr = args.lr if args.lr is not None else defaults.get("lr", 0.1)
    # the module computes in its dtype: a number that rounds to 0 or to inf there is refused, as train refuses it
    from compile.cli.train import UsageError, check_l2, check_lr
    runs = f"a {args.dtype} module computes"
    try:
        check_lr(lr, args.dtype, runs)
        check_l2(net, args, args.dtype, runs)
    except UsageError as exc:
        print(f"derivax: {exc}", file=sys.stderr)
        return 2
    try:
        source = generate(net, optimizer, lr, args.convention, args.dtype)
    except OptimizerError as exc:
        print(f"derivax: {exc}", file=sys.stderr)
        return 2
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(source)
        except OSError as exc:
            print(f"derivax: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"wrote {args.output}: {name} trainer ({optimizer}, lr {lr:g}, {args.convention})", file=sys.stderr)
    else:
        sys.stdout.write(source)
    return 0

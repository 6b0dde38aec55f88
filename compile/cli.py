"""The `derivax` command line."""
from __future__ import annotations

import argparse
import json
import sys

EXIT_USAGE = 2


def _network(args):
    from derive._examples import resolve
    return resolve(args.model, getattr(args, "loss", None))


def cmd_examples(args) -> int:
    from derive._examples import EXAMPLES
    for name, ex in EXAMPLES.items():
        print(f"{name:8s} {ex.summary}")
    return 0


def cmd_show(args) -> int:
    from derive._scalar import ScalarTooLarge, scalar_view
    name, net = _network(args)
    d = net.derive(args.convention)
    params = args.param or None
    fmt = args.format
    view = None
    if args.scalar:
        try:
            view = scalar_view(d)
        except ScalarTooLarge as exc:
            print(f"derivax: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if fmt == "text":
        if sys.stdout.isatty():
            d.print(params, args.steps)
        else:
            sys.stdout.write(d.text(params, args.steps))
    elif fmt == "latex":
        sys.stdout.write(d.latex(params, args.steps))
    elif fmt == "markdown":
        sys.stdout.write(d.markdown(params, args.steps))
    else:
        doc = json.loads(d.json(params))
        if view is not None:
            doc["scalar"] = json.loads(view.render("json"))
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    if view is not None:
        if fmt != "json":
            sys.stdout.write(view.render(fmt))
        return 0 if view.ok else 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="derivax", description="Derive, print, compile and verify backprop.")
    sub = p.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("examples", help="list the built-in example networks")
    ex.set_defaults(func=cmd_examples)

    def model_arg(sp):
        sp.add_argument("model", help="built-in example, file.py[:name], or an inline spec like 2-2:tanh-2:softmax")
        sp.add_argument("--loss", help="ce, bce, mse, or a formula in yhat and y")
        sp.add_argument("--convention", choices=["rows", "columns"], default="rows")

    sh = sub.add_parser("show", help="print the derivation of a network")
    model_arg(sh)
    sh.add_argument("--format", choices=["text", "latex", "markdown", "json"], default="text")
    sh.add_argument("--scalar", action="store_true", help="per-weight view and matrix-versus-scalar check")
    sh.add_argument("--steps", action="store_true", help="step-by-step chain rule")
    sh.add_argument("--param", action="append", help="show only this parameter's gradient (repeatable)")
    sh.set_defaults(func=cmd_show)

    import importlib
    for name, module, helptext in [
            ("train", "compile._train_cli", "train a network with its derived gradients"),
            ("codegen", "compile._codegen", "write a standalone trainer module"),
            ("bench", "compile._bench", "benchmark the derived trainer against jax.grad"),
            ("verify", "compile._verify", "check derived gradients against jax.grad, finite differences "
                                          "and sympy.diff"),
            ("check", "compile._check", "check a gradient formula you wrote against the derivation"),
            ("check-code", "compile._check_code", "check a backward function you wrote")]:
        c = sub.add_parser(name, help=helptext)
        mod = importlib.import_module(module)  # these modules import JAX only inside functions
        mod.add_arguments(c)
        c.set_defaults(func=mod.main)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from derive import DerivativeError, FormulaError, NetworkError, ShapeError
    from derive._examples import ModelError
    try:
        return args.func(args) or 0
    except (ModelError, NetworkError, FormulaError, DerivativeError, ShapeError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) else str(exc)
        print(f"derivax: {msg}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

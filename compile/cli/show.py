"""`derivax show MODEL` and `derivax examples`: print a derivation, list the built-in networks.

Nothing numeric happens here (no JAX): the commands only format what derive/ derives."""
from __future__ import annotations

import json
import sys

from compile.cli import args as _args


def add_arguments(parser) -> None:
    _args.model_arguments(parser)
    parser.add_argument("--format", choices=["text", "latex", "markdown", "json"], default="text",
                        help="text (the terminal's panels), latex (align* blocks), markdown ($$ blocks, for notebooks "
                             "and GitHub), json (the formulas in derivax's formula syntax)")
    parser.add_argument("--standalone", action="store_true",
                        help="with --format latex: a whole document that pdflatex compiles, a section per part")
    parser.add_argument("--scalar", action="store_true", help="per-weight view and matrix-versus-scalar check")
    parser.add_argument("--steps", action="store_true", help="step-by-step chain rule")
    parser.add_argument("--param", action="append", help="show only this parameter's gradient (repeatable)")
    parser.add_argument("--unroll", action="store_true",
                        help=f"write each recurrent layer out at every step (at most {MAX_UNROLL} steps)")


MAX_UNROLL = 8   # steps: the unrolled view prints every line once per step


def main(args) -> int:
    from derive.network.examples import resolve
    from derive.scalar.expand import ScalarTooLarge, scalar_view
    if getattr(args, "standalone", False) and args.format != "latex":
        print("derivax: --standalone is for --format latex (a whole document that pdflatex compiles)", file=sys.stderr)
        return 2
    if args.steps and args.format == "json":
        print("derivax: --steps is for text, latex and markdown (json gives the formulas alone)", file=sys.stderr)
        return 2
    _, net = resolve(args.model, args.loss, getattr(args, "input", None), getattr(args, "l2", None), getattr(args, "l2_form", None),
                     getattr(args, "reduction", None))
    d = net.derive(args.convention)
    params = list(dict.fromkeys(args.param)) if args.param else None   # each once, in the order asked
    fmt = args.format
    unroll = bool(getattr(args, "unroll", False))
    if unroll:
        recurrent = [l for l in d.model.layers if l.kind == "recurrent"]
        if not recurrent:
            print("derivax: --unroll writes out a recurrent layer step by step; this network has none", file=sys.stderr)
            return 2
        long = max(dict(l.geometry)["steps"] for l in recurrent)
        if long > MAX_UNROLL:
            print(f"derivax: --unroll prints every line once per step: {long} steps is too many (at most {MAX_UNROLL}); "
                  f"declare the network with a shorter input, e.g. 3x1-...", file=sys.stderr)
            return 2
        if fmt == "json":
            print("derivax: --unroll is for text, latex and markdown", file=sys.stderr)
            return 2
    view = None
    if args.scalar:
        try:
            view = scalar_view(d, params=params)   # the parameters asked for alone, as the matrix view
        except ScalarTooLarge as exc:
            print(f"derivax: {exc}", file=sys.stderr)
            return 2
    width = text_width()
    if fmt == "text":
        from derive.printing.plain import lacks_symbols
        if sys.stdout.isatty():
            d.print(params, args.steps, unroll=unroll)
        elif lacks_symbols(sys.stdout):   # the panels measured in the ASCII they will be written in
            from rich.console import Console
            d.print(params, args.steps, unroll=unroll, console=Console(
                file=sys.stdout, width=width, force_terminal=False, force_jupyter=False, color_system=None,
                highlight=False))
        else:
            sys.stdout.write(d.text(params, args.steps, width, unroll=unroll))
    elif fmt == "latex" and getattr(args, "standalone", False):
        from derive.printing.document import to_latex_document
        sys.stdout.write(to_latex_document(d, d._params(params), args.steps, unroll, title=f"derivax: {args.model}",
                                           more=view.render("latex") if view is not None else ""))
    elif fmt == "latex":
        sys.stdout.write(d.latex(params, args.steps, unroll))
    elif fmt == "markdown":
        sys.stdout.write(d.markdown(params, args.steps, unroll))
    else:
        doc = json.loads(d.json(params))
        if view is not None:
            doc["scalar"] = json.loads(view.render("json"))
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    if view is not None:
        if fmt == "text":   # at the width of the panels above it, measured as the terminal will spell it
            from derive.scalar.render import scalar_text
            from derive.printing.plain import lacks_symbols, spell
            sys.stdout.write(scalar_text(view, width, spell if lacks_symbols(sys.stdout) else str))
        elif fmt != "json" and not (fmt == "latex" and getattr(args, "standalone", False)):   # inside it, above
            sys.stdout.write(view.render(fmt))
        return 0 if view.ok else 1
    return 0


def text_width() -> int:
    """The width, in characters, the text views are laid out in: on a terminal its width as rich's console
    reads it (COLUMNS where that is set), else COLUMNS where it is set to a whole number, else 100; always
    within the widths a text view takes."""
    import os
    from derive.printing.document import WIDTHS
    if sys.stdout.isatty():
        from rich.console import Console
        width = Console().width
    else:
        columns = os.environ.get("COLUMNS", "").strip()
        width = int(columns) if columns.isdigit() else 100
    return min(max(width, WIDTHS[0]), WIDTHS[1])


def examples(args) -> int:
    from derive.network.examples import EXAMPLES
    for name, ex in EXAMPLES.items():
        print(f"{name:8s} {ex.summary}")
    return 0

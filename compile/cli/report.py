"""`derivax report MODEL -o report.html`: one self-contained page with the network drawn, its derivation
(MathML, rendered by the browser with no CDN), the steps with their reasons, the verification table, and,
with --epochs, the training curves. By default the page is the explorer's (``derivax explore``), frozen:
its script inlined and the records embedded, a gradient clicked through as in the live page; the
script-free page (``--static``) is inside it for readers without JavaScript. A Markdown report (-o
report.md) has the same sections."""
from __future__ import annotations

import html
import sys

from compile.cli import args as _args


def add_arguments(parser) -> None:
    parser.description = ("Write a report of a network: its picture, its derivation and steps, the check of every "
                          "gradient against jax.grad and finite differences, and with --epochs its training curves. "
                          "Example: derivax report makemore --epochs 3 -o makemore.html")
    parser.add_argument("model", help="built-in example, file.py[:name], or an inline spec like 2-2:tanh-2:softmax")
    parser.add_argument("-o", "--output", required=True, type=_args.unmark, metavar="REPORT.html",
                        help="the file to write: .html (self-contained, MathML) or .md (Markdown with $$ math)")
    parser.add_argument("--epochs", type=_args.count(0, 10**6, "--epochs"), default=0,
                        help="train this many epochs on the example's data (or --data) and draw the curves "
                             "(default 0: no training)")
    parser.add_argument("--data", type=_args.unmark, help="as train's --data: what --epochs trains on (needs --epochs)")
    parser.add_argument("--no-steps", action="store_true", help="leave the step-by-step section out")
    parser.add_argument("--static", action="store_true",
                        help="an HTML page with no script at all (the derivation, steps, table and curves as they "
                             "print); by default the page is the explorer's (derivax explore), frozen: click a "
                             "gradient for its steps and path, with the script-free page inside for readers "
                             "without JavaScript")


def curves_svg(series: dict, ylabel: str, width=520, height=240) -> str:
    """Lines of ``series`` ({label: values per epoch}) as an SVG chart with its axes' ranges written."""
    values = [v for vs in series.values() for v in vs if v is not None]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    hi = hi if hi > lo else lo + 1.0
    n = max(len(vs) for vs in series.values())
    colors = ["#1f5fa8", "#c0762b", "#17702b", "#8a2be2"]
    pad = 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="system-ui" '
             'font-size="12">', f'<rect x="{pad}" y="10" width="{width - pad - 10}" height="{height - pad - 10}" '
             'fill="none" stroke="#999"/>',
             f'<text x="4" y="18">{hi:.4g}</text><text x="4" y="{height - pad}">{lo:.4g}</text>',
             f'<text x="{pad}" y="{height - 12}">epoch 1</text><text x="{width - 80}" y="{height - 12}">epoch {n}</text>',
             f'<text x="{width / 2 - 20}" y="{height - 12}">{html.escape(ylabel)}</text>']
    for k, (label, vs) in enumerate(series.items()):
        pts = [(pad + (width - pad - 10) * (i / max(1, n - 1)), 10 + (height - pad - 10) * (1 - (v - lo) / (hi - lo)))
               for i, v in enumerate(vs) if v is not None]
        if not pts:
            continue
        c = colors[k % len(colors)]
        parts.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="'
                     + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
        parts.append(f'<text x="{pad + 10 + 150 * k}" y="28" fill="{c}">{html.escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def main(args) -> int:
    from pathlib import Path
    from compile.checks.verify import verify
    from derive.network.examples import EXAMPLES, resolve
    from derive.printing.html import derivation_html, network_svg, page
    out = Path(args.output)
    problem = _args.unwritable("-o", args.output, ".html")
    if problem:
        print(f"derivax: {problem}", file=sys.stderr)
        return 2
    if out.suffix.lower() not in (".html", ".htm", ".md"):
        print(f"derivax: -o {args.output}: the report's name must end in .html or .md", file=sys.stderr)
        return 2
    from compile.train.data import files_read
    inputs = [("the model's own source", _args.model_file(args.model))]
    inputs += [("the --data file", f) for f in (files_read(args.data) if args.data is not None else [])]
    problem = _args.written_over_input("-o", args.output, inputs)   # a link or a hard link to an input too
    if problem:
        print(f"derivax: {problem}", file=sys.stderr)
        return 2
    if args.static and out.suffix.lower() == ".md":
        print(f"derivax: --static is for an HTML report (a page with no script); -o {args.output} writes Markdown, "
              "which has none", file=sys.stderr)
        return 2
    if args.data is not None and not args.epochs:
        print("derivax: --data is what --epochs trains on; give --epochs N to train on it and draw the curves",
              file=sys.stderr)
        return 2
    name, net = resolve(args.model)
    d = net.derive()
    model = d.model
    empty = _args.no_parameters(model, name, "verify")
    if empty:
        print(f"derivax: {empty}", file=sys.stderr)
        return 2
    report = verify(net, name=name, derivation=d, scalar_limit=None)
    rows = []
    for pname, r in report.params.items():
        for key, c in r.comparisons.items():
            rows.append((pname, key, c.max_rel_err, None if c.inconclusive else c.ok))   # None: cannot tell
    hist = None
    if args.epochs:
        from compile.train.data import BUILTINS, DataError, load
        from compile.train.train import compile_trainer, fit
        source = args.data or (args.model if args.model in BUILTINS else None)
        if source is None:
            print("derivax: --epochs needs --data: the model is no built-in example with data of its own", file=sys.stderr)
            return 2
        cfg = {"optimizer": "adam", "lr": 0.001, "batch_size": 32, **(EXAMPLES[args.model].train
                                                                     if args.model in EXAMPLES else {})}
        from compile.cli.train import output_size
        try:
            data = load(source, n_inputs=net.n_inputs, n_outputs=output_size(model),
                        regression=model.loss_name not in ("ce", "bce", "svm"),
                        steps=int(model.Y.shape[1]) if model.Y.rank == 3 else None, vocab=model.vocab)
        except DataError as exc:
            print(f"derivax: {exc}", file=sys.stderr)
            return 2
        trainer = compile_trainer(net, cfg["optimizer"], cfg["lr"])
        hist = fit(trainer, data.x_train, data.y_train, args.epochs, min(cfg["batch_size"], len(data.x_train)),
                   x_test=data.x_test, y_test=data.y_test, progress=False, classify=data.kind == "classification")
    title = f"derivax report: {name}"
    if out.suffix.lower() == ".md":
        text = _markdown(d, report, rows, hist, not args.no_steps, title)
    else:
        body = [f"<p>{html.escape(model.size_text)}, loss {html.escape(model.loss_name)}, "
                f"{html.escape(model.convention)} convention</p>", "<h2>The network</h2>", network_svg(model),
                derivation_html(d, steps=not args.no_steps),
                "<h2>Verification</h2><p>" + html.escape(f"every derived gradient at a random float64 point; "
                                                         f"sympy.diff: {report.scalar}") + "</p>"]
        if report.problem:
            body.append(f'<p class="bad">{html.escape(_not_checked(report))}</p>')
        body.append('<table class="num"><tr><th>parameter</th><th>reference</th><th>max rel err</th>'
                    '<th>verdict</th></tr>')
        for pname, key, err, ok in rows:
            body.append(f"<tr><td>{html.escape(pname)}</td><td>{html.escape(key)}</td><td>{err:.1e}</td>"
                        f'<td class="{_VERDICTS[ok][0]}">{_VERDICTS[ok][1]}</td></tr>')
        body.append("</table>")
        if hist is not None:
            body.append(f"<h2>Training ({hist.epochs} epochs, {hist.seconds:.1f} s)</h2>")
            body.append(curves_svg({"training loss": hist.train_loss, "test loss": hist.test_loss}, "loss"))
            if any(a is not None for a in hist.train_accuracy):
                body.append(curves_svg({"training accuracy": hist.train_accuracy, "test accuracy": hist.test_accuracy},
                                       "accuracy"))
        text = page(title, "\n".join(body))
        if not args.static:
            from compile.explore.pages import frozen_page
            from derive.printing.page import record
            verdict = {"ok": bool(report.ok), "note": f"sympy.diff: {report.scalar}",
                       "problem": report.problem or None,   # why nothing was compared: the page says it
                       "rows": [{"param": p, "reference": k, "max_rel_err": float(e), "ok": None if ok is None else bool(ok)}
                                for p, k, e, ok in rows]}
            curves = None if hist is None else {
                "train_loss": hist.train_loss, "test_loss": hist.test_loss,
                "train_accuracy": [a for a in hist.train_accuracy if a is not None], "test_accuracy": hist.test_accuracy}
            fallback = text.split("<body>", 1)[1].rsplit("</body>", 1)[0]
            text = frozen_page(record(d, name, steps=not args.no_steps), verdict, curves, fallback)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"derivax: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    checked = f"the verification of {len(report.params)} gradients" if not report.problem else "no verification"
    print(f"wrote {args.output}: the derivation{', the steps' if not args.no_steps else ''}, {checked}"
          + (f", {hist.epochs} epochs of training" if hist is not None else ""))
    if report.problem:   # as derivax verify: nothing could be compared, which is neither a pass nor a failure
        print(f"derivax: nothing was compared: {report.problem.split(':')[0]}", file=sys.stderr)
        return 2
    return 0 if report.ok else 1


def _not_checked(report) -> str:
    """The report's line for a verification that compared nothing (``verify``'s problem)."""
    return f"NOT CHECKED: {report.problem}"


# A verification row's verdict, by its ok: (class, word); None where the reference cannot tell (verify's inconclusive)
_VERDICTS = {True: ("ok", "agree"), False: ("bad", "DIFFER"), None: ("muted", "inconclusive")}


def _markdown(d, report, rows, hist, steps, title) -> str:
    parts = [f"# {title}", "", d.markdown(steps=steps), "### Verification", ""]
    if report.problem:
        parts += [_not_checked(report), ""]
    parts += ["| parameter | reference | max rel err | verdict |", "|---|---|---|---|"]
    parts += [f"| {p} | {k} | {e:.1e} | {_VERDICTS[ok][1]} |" for p, k, e, ok in rows]
    if hist is not None:
        parts += ["", f"### Training ({hist.epochs} epochs)", "", "| epoch | training loss | test loss |", "|---|---|---|"]
        parts += [f"| {e} | {l:.4g} | {hist.test_loss[e - 1]:.4g} |" if hist.test_loss else f"| {e} | {l:.4g} | |"
                  for e, l in enumerate(hist.train_loss, 1)]
    return "\n".join(parts) + "\n"

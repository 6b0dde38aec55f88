"""`derivax check-code MODEL file.py[:name]`: a backward function a user wrote, run in a sandbox."""
from __future__ import annotations

import sys

from compile.checks.sandbox import DEFAULT_TIMEOUT, MAX_TIMEOUT, LoadError, parse_spec
from compile.cli import args as _args
from pathlib import Path


def report_loss(net) -> str:
    """The loss a network declared without --loss takes, as said in a hint: bce, ce, mse."""
    return {"bce": "binary cross-entropy (bce)", "ce": "categorical cross-entropy (ce)"}.get(
        str(getattr(net, "loss", "")), str(getattr(net, "loss", "the default")))


def add_arguments(parser) -> None:
    parser.description = ("Check a backward function you wrote. It takes (params, x, y) in the rows (or --convention) "
                          "convention (W of shape (in, out), b of shape (out,), x (batch, in), y (batch, "
                          "out)), or what its parameters' names ask for (parameters, cache, X, Y, reg, lambd, ...), "
                          "and returns a dict of the gradients of the mean-over-batch loss (or (loss, grads)). It runs "
                          "in a child process, each call under a time limit. Exit status: 0 all gradients "
                          "right, 1 some wrong, 2 the function could not be checked or a bad argument. A convolutional "
                          "network takes its parameters as derivax show prints them: kernels (kh, kw, c_in, "
                          "c_out), biases (c_out,), x (batch, height, width, channels); CS231n's channels-first code "
                          "(conv_forward_naive, ThreeLayerConvNet) is handed x (N, C, H, W) and kernels (F, C, HH, WW), "
                          "and the report's reading line says which layout was handed. Code from the courses runs "
                          "as written, each reading named in the report: a class (file.py:TwoLayerNet, built by its "
                          "constructor), parameters under the code's names (params['W1'], bngain), weights in module "
                          "globals (min-char-rnn's lossFun), PyTorch code, a micrograd MLP (file.py:MLP), a layer's "
                          "backward(dout, cache) with its forward (file.py:affine_backward with MODEL 4-3), "
                          "softmax_loss(x, y) (MODEL 4-4:softmax), theta vectors, dropout masks (a keep_prob "
                          "argument); the loss a function returns is compared with J. Code that returns nothing is "
                          "read by what it leaves: weights it updated in place (Rashid's neuralNetwork.train, Trask's "
                          "syn1 += ...), each gradient (W before - W after) / lr (--lr), or the .g it set on each "
                          "parameter (fast.ai's lin_grad).")
    parser.add_argument("model", help="built-in example, file.py[:name], or an inline spec like 2-2:tanh-2:softmax")
    parser.add_argument("function", help="file.py[:name] defining the backward function (default name: backward), "
                                         "or file.py:Class.method (called on an instance whose self.params is the "
                                         "parameters' dict, self.weights and self.biases their lists)")
    parser.add_argument("--loss", help="ce, bce, mse, svm (the multiclass hinge), or a formula in yhat and y")
    _args.decay_arguments(parser)
    parser.add_argument("--convention", choices=["rows", "columns"], default=None,
                        help="rows: W (in, out), b (out,), x (batch, in); columns (the deeplearning.ai "
                             "notebooks, Nielsen): W (out, in), b (out, 1), x (in, batch), y (out, batch); default: "
                             "rows, or columns where the code stops on the rows' shapes and in columns returns every "
                             "gradient in its shape, one at least right (the report says so)")
    parser.add_argument("--seed", type=_args.seed, default=0, help="seed of the first random point (default 0)")
    parser.add_argument("--points", type=_args.count(1, 100, "--points"), default=3,
                        help="random points (default 3)")
    parser.add_argument("--timeout", type=_timeout, default=DEFAULT_TIMEOUT,
                        metavar="SECONDS", help="time limit for loading the file and for each call "
                                                f"(default {DEFAULT_TIMEOUT:g}, at most {MAX_TIMEOUT:g})")
    parser.add_argument("--labels", choices=["onehot", "integer"], default="onehot",
                        help="how y is handed: one-hot rows (default), or class indices (batch,) as "
                             "cross_entropy(logits, y) takes them")
    parser.add_argument("--names", type=_names, action="append", default=None, metavar="KEY=NODE,...",
                        help="the keys your function returns for intermediate adjoints, mapped to the nodes "
                             "derivax show prints (dlogits=Z5,dbnraw=xhat4); d<name> keys (dZ5) and the makemore "
                             "exercise's names need no mapping")
    parser.add_argument("--dz", choices=["auto", "adjoint", "delta"], default="auto",
                        help="what a returned dZ2 (dA1) is: ∂J/∂Z2 (adjoint), or δ2 = A2 − Y without the 1/m, as "
                             "the deeplearning.ai notebooks write dZ (delta); auto (default): adjoint, or delta "
                             "where only that reading makes every returned intermediate agree (the report says which)")
    parser.add_argument("--per-example", action="store_true",
                        help="call the function once per example (x one vector, or one column with --convention "
                             "columns, as Nielsen's backprop(x, y)) and average what it returns")
    parser.add_argument("--inputs", choices=["auto", "values", "indices"], default="auto",
                        help="how x is handed: real values, or one-hot inputs as the index of their 1 (indices, as "
                             "min-char-rnn's lossFun takes characters); auto (default): values, and indices where "
                             "the code fails indexing with values (the report says so)")
    parser.add_argument("--lr", type=_args.positive_float("--lr"), default=None,
                        help="for code that updates its weights in place and returns nothing (Rashid's train, "
                             "Trask's syn1 += ...): the learning rate the change is divided by, gradient = (W before "
                             "- W after) / lr (default: the code's own self.lr, learning_rate, alpha or eta, else 1); "
                             "handed to a constructor that takes one")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the results")


def _timeout(text: str) -> float:
    """--timeout: seconds > 0, at most MAX_TIMEOUT (a longer limit leaves a stuck function running for hours)."""
    import argparse
    v = _args.positive_float("--timeout")(text)
    if v > MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_TIMEOUT:g} seconds (a call that needs "
                                         f"longer is stuck), not {text.strip()[:40]}")
    return v


def _names(text: str) -> dict:
    """KEY=NODE pairs, comma-separated, into a dict; argparse reports a ValueError as a usage error."""
    import argparse
    out = {}
    for k, part in enumerate(text.split(",")):
        key, eq, node = (t.strip() for t in part.partition("="))
        if not eq or not key.isidentifier() or not node.isidentifier():
            raise argparse.ArgumentTypeError(f"expected KEY=NODE pairs like dlogits=Z5,dbnraw=xhat4; pair {k + 1} "
                                             f"is {part!r}")
        if out.get(key, node) != node:
            raise argparse.ArgumentTypeError(f"{key} is given twice, as {out[key]} and {node}: give it once")
        out[key] = node
    return out


def main(args) -> int:
    from compile.checks.code import CodeReport, check_code
    from derive.network.examples import EXAMPLES, resolve

    from compile.train.data import BUILTINS, DataError, load
    try:
        path, fname = parse_spec(args.function)
    except ValueError as exc:
        print(f"derivax: {exc}", file=sys.stderr)
        return 2
    label = f"{Path(path).name}:{fname}"
    if args.names:   # --names given more than once: one mapping, a key with two nodes refused
        from compile.cli.args import conflicting
        pairs = [pair for given in args.names for pair in given.items()]
        conflict = conflicting(pairs, "--names")
        if conflict:
            print(f"derivax: {conflict}", file=sys.stderr)
            return 2
        args.names = dict(pairs)
    name, net = resolve(args.model, args.loss, getattr(args, "input", None), getattr(args, "l2", None), getattr(args, "l2_form", None),
                     getattr(args, "reduction", None))
    data, notes = None, []
    if args.model in EXAMPLES and args.model in BUILTINS:
        try:
            from compile.cli.train import output_size
            # loaded as train loads it: targets at every step for a sequence
            model = net.build(args.convention or "rows")
            data = load(args.model, n_inputs=net.n_inputs, n_outputs=output_size(model),
                        regression=model.loss_name not in ("ce", "bce", "svm"),
                        steps=int(model.Y.shape[1]) if model.Y.rank == 3 else None, vocab=model.vocab)
        except (DataError, ImportError) as exc:
            notes.append(f"note: the {args.model} data was skipped: {exc}")
    try:
        report = check_code(net, f"{path}:{fname}", args.seed, args.points, data, model_name=name,
                            data_label=f"{name} data", timeout=args.timeout, convention=args.convention or "auto",
                            names=args.names, labels=args.labels, per_example=args.per_example,
                            dz=args.dz, inputs=args.inputs, lr=args.lr)
    except LoadError as exc:
        why = f"{path}: {exc}" if exc.stopped == "argument" else f"{path} did not load: {exc}"
        report = CodeReport(name, label, {}, [], error=why, stopped=exc.stopped)
        print(f"derivax: {report.error}", file=sys.stderr)
        if args.json:
            print(report.to_json())
        return 2
    except ValueError as exc:   # a --names entry the network does not have
        print(f"derivax: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the child is already stopped (check_code's with block)
        print("derivax: interrupted", file=sys.stderr)
        return 130
    report.function = label
    report.notes += notes
    if args.loss is None and any("the quadratic cost's δ" in (r.message or "") for r in report.params.values()):
        # the inline spec's default, cross-entropy for a sigmoid output, where the code computes a squared error
        report.notes.append(f"hint: no --loss was given, so the network's loss is {report_loss(net)}, its output's "
                            "default; if your code's loss is the squared error, declare it: --loss mse (J = (1/m) Σ "
                            "(A − Y)²) or --loss \"(yhat-y)**2/2\" (the ½ of the books' quadratic cost)")
    report.render()
    if args.json:
        print(report.to_json())
    return 2 if report.error else 0 if report.ok else 1

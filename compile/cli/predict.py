"""`derivax predict MODEL --load CHECKPOINT.npz --input INPUTS`: a trained network's outputs on new examples
(no targets needed), as evaluation computes them: no dropout, batch norm with the checkpoint's running
averages. A table on standard output (CSV), or a file: .csv or .npy."""
from __future__ import annotations

import sys

from compile.cli import args as _args

FORMATS = (".csv", ".npy")
CLASSIFIER_LOSSES = ("ce", "bce")   # a network whose outputs are class probabilities


def add_arguments(parser) -> None:
    parser.description = ("Predict with a trained network: its outputs on examples without targets, from a checkpoint "
                          "train --save wrote. A classifier's table has a column per class (its probability) and the "
                          "predicted class; a regression's a column per output. The table goes to standard output "
                          "as CSV unless --output names a .csv or .npy file; what was read goes to standard error.")
    parser.add_argument("model", help="built-in example, file.py[:name], or an inline spec like 2-2:tanh-2:softmax")
    parser.add_argument("--load", required=True, metavar="CHECKPOINT.npz", type=_args.unmark,
                        help="the checkpoint (or an .npz of parameters by name)")
    parser.add_argument("--input", "-i", metavar="INPUTS", type=_args.unmark,
                        help="the examples: an .npy array, an .npz with x (or x_test, x_train), a .csv (with a header "
                             "row, or without one: a first row of numbers is data, its columns numbered from 0), a "
                             "folder holding x.npy, or a built-in data set (its test split); default: the example's "
                             "own data")
    parser.add_argument("--drop", action="append", default=[], metavar="COLUMN", type=_args.unmark,
                        help="a .csv column that is no input (a target, an id), by name, or by number from 0 in a "
                             "file without a header row; repeat for several")
    parser.add_argument("--output", "-o", metavar="FILE", type=_args.unmark,
                        help="write the predictions to FILE.csv (the table) or FILE.npy (the outputs as an array)")
    parser.add_argument("--classes", action="store_true",
                        help="a classifier's predicted classes only, without the probabilities")


def main(args) -> int:
    import numpy as np
    from compile.cli.evaluate import data_source, inputs_of, restore
    from compile.train.checkpoint import recorded_inputs
    from compile.train.data import DataError, read_inputs
    from derive.network.examples import resolve
    name, net = resolve(args.model)
    source = data_source(args.model, args.input, "--input")
    if source is None:
        return 2
    suffix = None if args.output is None else next((f for f in FORMATS if str(args.output).lower().endswith(f)), "")
    if suffix == "":
        print(f"derivax: --output {args.output}: the file name must end in .csv or .npy", file=sys.stderr)
        return 2
    problem = _args.unwritable("--output", args.output, "") or \
        _args.written_over_input("--output", args.output, inputs_of(args, source))
    if problem:
        print(f"derivax: {problem}", file=sys.stderr)
        return 2
    model = net.build()
    if args.classes and model.loss_name not in CLASSIFIER_LOSSES:
        print(f"derivax: --classes is for a classifier (softmax or sigmoid outputs with a ce or bce loss); {name} "
              f"has the loss {model.loss_name}, so its outputs are values, not class probabilities", file=sys.stderr)
        return 2
    try:
        # x_test alone is read as the checkpoint's training data was (pixels or features), where it says
        x, what = read_inputs(source, net.n_inputs, drop=tuple(args.drop), vocab=model.vocab,
                              trained_on=lambda: recorded_inputs(args.load))
        trainer, params, extra = restore(net, args.load)
    except DataError as exc:
        print(f"derivax: {exc}", file=sys.stderr)
        return 2
    out = np.asarray(trainer.namespace["forward"](params, x, **extra), dtype=np.float64)
    if np.isnan(out).any():   # valid inputs and parameters, yet no number: not written as predictions
        row = int(np.argwhere(np.isnan(out))[0][0])
        print(f"derivax: the network's outputs are NaN for {int(np.isnan(out).any(axis=tuple(range(1, out.ndim))).sum())} "
              f"of {len(out)} examples, the first at row {row}: an overflow inside the network", file=sys.stderr)
        return 1
    classify = model.loss_name in CLASSIFIER_LOSSES
    classes = (out[..., 0] > 0.5).astype(int) if out.shape[-1] == 1 else out.argmax(-1)
    print(f"derivax: {name}: predicting on {what}", file=sys.stderr)
    if suffix == ".npy":
        try:
            np.save(args.output, classes if (classify and args.classes) else out)
        except OSError as exc:   # a full disk, a device that refuses: the file named
            print(f"derivax: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"wrote the {'classes' if classify and args.classes else 'outputs'} of shape "
              f"{(classes if classify and args.classes else out).shape} to {args.output}", file=sys.stderr)
        return 0
    if out.ndim != 2:
        print(f"derivax: the network has an output at every step (outputs of shape {out.shape}), which a table cannot "
              "hold: write them with --output FILE.npy", file=sys.stderr)
        return 2
    if classify:
        k = out.shape[1]
        header = ["class"] if args.classes else (["p", "class"] if k == 1 else [f"p{j}" for j in range(k)] + ["class"])
        rows = [[str(c)] if args.classes else [f"{v:.6g}" for v in row] + [str(c)] for row, c in zip(out, classes)]
    else:
        header = [f"y{j}" for j in range(out.shape[1])] if out.shape[1] > 1 else ["y"]
        rows = [[f"{v:.8g}" for v in row] for row in out]
    text = "\n".join(",".join(r) for r in [header, *rows]) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        with open(args.output, "w") as f:
            f.write(text)
    except OSError as exc:
        print(f"derivax: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(rows)} rows to {args.output}", file=sys.stderr)
    return 0

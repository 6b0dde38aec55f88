"""`derivax evaluate MODEL --load CHECKPOINT.npz`: a trained network's loss and accuracy on data, as
evaluation computes them (no dropout; batch norm with the running averages the checkpoint holds)."""
from __future__ import annotations

import sys

from compile.cli import args as _args


def add_arguments(parser) -> None:
    parser.description = ("Evaluate a trained network: its loss and accuracy on the training and test splits of "
                          "--data (default: the example's data), from a checkpoint train --save wrote. Example: "
                          "derivax train mlp --save mlp.npz && derivax evaluate mlp --load mlp.npz")
    parser.add_argument("model", help="built-in example, file.py[:name], or an inline spec like 2-2:tanh-2:softmax")
    parser.add_argument("--load", required=True, metavar="CHECKPOINT.npz", type=_args.unmark,
                        help="the checkpoint (or an .npz of parameters by name)")
    parser.add_argument("--data", type=_args.unmark, help="as train's --data (default: the example's)")
    parser.add_argument("--target", type=_args.unmark,
                        help="the target column of a .csv --data file, as train's --target (default: the last)")
    parser.add_argument("--output", "-o", metavar="PREDICTIONS.npy", type=_args.unmark,
                        help="also write the predictions on the test split (else the training split) to this .npy")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the figures")


def data_source(model, given, option):
    """The data a command reads: ``given``, else the built-in example's own; None, said on stderr, when
    there is neither."""
    from compile.train.data import BUILTINS
    source = given or (model if model in BUILTINS else None)
    if source is None:
        print(f"derivax: {option} is needed: the model is no built-in example with data of its own", file=sys.stderr)
    return source


def restore(net, path):
    """(trainer, params, extra keyword arguments of forward and loss) of the checkpoint at ``path``: the
    running averages of batch norms where the network has them. Raises DataError."""
    from compile.train.checkpoint import load_checkpoint
    from compile.train.train import compile_trainer
    trainer = compile_trainer(net, "sgd", 0.1)
    params, _, facts = load_checkpoint(path, trainer)
    stats = facts.get("stats") or None
    for note in facts.get("notes", ()):   # a float16 file read in float32
        print(f"derivax: note: {note}", file=sys.stderr)
    extra = {"stats": stats} if "init_stats" in trainer.namespace else {}
    if extra and stats is None:
        print("derivax: note: the checkpoint holds no running averages of the batch norms: each batch normalizes "
              "with its own statistics", file=sys.stderr)
    return trainer, params, extra


def inputs_of(args, source) -> list:
    """(what, path) of every file a command reads: its data's files, the checkpoint, the model's source."""
    from compile.train.data import files_read
    files = [(f"the {'--data' if getattr(args, 'data', None) else '--input'} file", f) for f in files_read(source)]
    return files + [("the --load checkpoint", args.load), ("the model's own source", _args.model_file(args.model))]


def main(args) -> int:
    import numpy as np
    from compile.cli.train import output_size
    from compile.train.data import DataError, load
    from derive.network.examples import resolve
    name, net = resolve(args.model)
    source = data_source(args.model, args.data, "--data")
    if source is None:
        return 2
    if args.output is not None and not str(args.output).endswith(".npy"):
        print(f"derivax: --output {args.output}: the file name must end in .npy", file=sys.stderr)
        return 2
    problem = _args.unwritable("--output", args.output, ".npy") or \
        _args.written_over_input("--output", args.output, inputs_of(args, source))
    if problem:
        print(f"derivax: {problem}", file=sys.stderr)
        return 2
    model = net.build()
    try:
        data = load(source, n_inputs=net.n_inputs, n_outputs=output_size(model), target=args.target,
                    regression=model.loss_name not in ("ce", "bce", "svm"),
                    steps=int(model.Y.shape[1]) if model.Y.rank == 3 else None, vocab=model.vocab)
        trainer, params, extra = restore(net, args.load)
    except DataError as exc:
        print(f"derivax: {exc}", file=sys.stderr)
        return 2
    out = {"model": name, "checkpoint": str(args.load)}
    classify = data.kind == "classification"
    for split, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
        if x is None:
            continue
        J = float(trainer.namespace["loss"](params, x, y, **extra))
        out[f"{split}_loss"] = J
        line = f"{split}: loss {J:.6g}"
        if classify:
            pred = np.asarray(trainer.namespace["forward"](params, x, **extra))
            hit = (pred[..., 0] > 0.5) == (y[..., 0] > 0.5) if pred.shape[-1] == 1 else pred.argmax(-1) == y.argmax(-1)
            out[f"{split}_accuracy"] = float(np.mean(hit))
            line += f", accuracy {out[f'{split}_accuracy']:.2%}"
        print(line)
    if args.output is not None:
        x = data.x_test if data.x_test is not None else data.x_train
        try:
            np.save(args.output, np.asarray(trainer.namespace["forward"](params, x, **extra)))
        except OSError as exc:   # a full disk, a device that refuses: the file named, the run's figures kept
            print(f"derivax: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"wrote the predictions for {len(x)} examples to {args.output}")
    if args.json:
        print(_args.json_line(out))
    undefined = [k for k, v in out.items() if isinstance(v, float) and v != v]
    if undefined:   # valid inputs, yet no number: said, and not passed off as a result
        print(f"derivax: {', '.join(undefined)} NaN: the network's outputs are undefined on this data (an overflow "
              "inside the network, or a loss outside its domain)", file=sys.stderr)
        return 1
    return 0

"""`derivax train`: train a network with its derived gradients, report, save, plot, show the result.

JAX, the data loader and the trainer are imported inside ``main``: the command line imports this
module at start-up for every command.

Exit status: 0 when everything asked for was done; 1 when training stopped on a non-finite loss or a
file asked for could not be written; 2 for bad input (options, paths, data), found before training.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from compile.cli import args as _args
from compile.train.optimizer_names import OPTAX_OPTIMIZERS, OPTIMIZERS

# Used where neither the command line nor the example says otherwise.
DEFAULTS = {"optimizer": "sgd", "lr": 0.1, "epochs": 100, "batch_size": 32, "seed": 0, "shuffle": True}
MAX_SCALAR_WEIGHTS = 64   # layers with more weights print as matrices, not per-unit equations
MAX_COUNT = 10**6         # most epochs, and most examples per batch, the command line takes


class UsageError(ValueError):
    """A bad option value; printed as one line, exit status 2."""


def add_arguments(parser) -> None:
    parser.add_argument("model", type=_args.unmark,
                        help="built-in example, file.py[:name], or an inline spec like 2-2:tanh-2:softmax")
    parser.add_argument("--epochs", type=_args.count(1, MAX_COUNT, "--epochs"),
                        help=f"passes over the training data, 1 to {MAX_COUNT} (default: the example's)")
    parser.add_argument("--batch-size", type=_args.count(1, MAX_COUNT, "--batch-size"),
                        help="examples per step (default: the example's); more than the training set "
                             "takes all of it in one step")
    parser.add_argument("--optimizer", choices=OPTIMIZERS + OPTAX_OPTIMIZERS,
                        help="default: the example's; sgd, momentum and adam are derivax's own update rules, printed "
                             "in the generated step; the others come from optax (pip install optax)")
    parser.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE", type=_hyper,
                        help="a hyper-parameter of the optimizer (repeatable): --opt b2=0.99, "
                             "--opt weight_decay=1e-4 for adamw")
    parser.add_argument("--lr", type=_args.positive_float("--lr"), help="learning rate > 0 (default: the example's)")
    parser.add_argument("--seed", type=_args.seed, help="seed of initialisation, shuffling and dropout, "
                        f"0 to {_args.SEED_MAX} (default: the example's, else 0)")
    parser.add_argument("--data", type=_args.unmark,
                        help="your data: an .npz with arrays x, y (and optionally x_test, y_test), a folder of x.npy "
                             "and y.npy, or a .csv (--target names the target column, default the last; a file "
                             "whose first row is all numbers has no header, and its columns are numbered from 0, "
                             "so --target 3 is the fourth); without a test split 20%% is held out (--test-fraction). MNIST as .npz "
                             "(x_train, y_train, x_test, y_test) or IDX files. Or a built-in data set "
                             "(xor, linreg, mlp, cnn, cnn1d, rnn, gru, charlm, makemore, gpt; digits is mlp's, mnist1d cnn1d's)")
    parser.add_argument("--target", type=_args.unmark, default=None,
                        help="the target column of a .csv --data file, by its name in the header row, or by its "
                             "number from 0 in a file without one (default: the last column)")
    parser.add_argument("--test-fraction", type=_args.fraction("--test-fraction"), default=None,
                        help="the share of your data held out for testing when it has no test split "
                             "(default 0.2; 0 for none)")
    parser.add_argument("--shuffle", action=argparse.BooleanOptionalAction, default=None,
                        help="shuffle the training set every epoch (default: the example's, else yes); "
                             "--no-shuffle takes the batches in the data's order, as some papers train")
    parser.add_argument("--loss", type=_args.unmark, help="ce, bce, mse, svm (the multiclass hinge), or a formula in yhat and y")
    parser.add_argument("--input", type=_args.input_shape, metavar="HxWxC",
                        help="the input shape of a built-in CNN (cnn): 28x28x1 gives the seed's MNIST network")
    parser.add_argument("--convention", choices=["rows", "columns"], default="rows")
    parser.add_argument("--save", metavar="CHECKPOINT.npz", type=_args.unmark,
                        help="write the trained parameters and the optimizer's state to this file (.npz; the "
                             "parameters under their names, as np.load reads them, in the layout of --convention, "
                             "which the file records); it may be the --load file, to resume and save in place")
    parser.add_argument("--load", metavar="CHECKPOINT.npz", type=_args.unmark,
                        help="start from a checkpoint --save wrote (or an .npz of parameters by name): training "
                             "resumes with its optimizer state where the optimizer is the same, continues its epoch "
                             "count, and takes its settings (optimizer, --lr, --opt, --batch-size, --seed, --shuffle) "
                             "where the command line leaves them out; one given that differs applies, and is said")
    parser.add_argument("--plot", metavar="LOSS.png", type=_args.unmark,
                        help="plot the loss per epoch to this file, in the format its ending names "
                             "(.png, .pdf, .svg, ...; needs matplotlib)")
    parser.add_argument("--show-trained", action="store_true",
                        help="print the network's equations with the learned numbers")
    parser.add_argument("--devices", type=_devices, default=None, metavar="N",
                        help="train data parallel over N devices (or 'all'): each batch split over them, the "
                             "gradients summed by XLA; the batch size must be a multiple of N. On a CPU, "
                             "XLA_FLAGS=--xla_force_host_platform_device_count=N makes N devices")
    parser.add_argument("--coordinator", metavar="HOST:PORT", type=_args.unmark,
                        help="train across several processes (hosts) with jax.distributed: the address of process "
                             "0, the same on every host, with --num-processes and --process-id; the batches are "
                             "split over every host's devices (--devices all) and only process 0 writes files")
    parser.add_argument("--num-processes", type=_positive, metavar="N", help="processes in the run (with --coordinator)")
    parser.add_argument("--process-id", type=_index, metavar="I", help="this process's index, 0 to N-1 (with --coordinator)")
    parser.add_argument("--distributed", action="store_true",
                        help="join a cluster JAX finds by itself (SLURM, Open MPI, Cloud TPU), as --coordinator does")
    parser.add_argument("--json", action="store_true",
                        help="end the output with one JSON line of results; test_loss is null without a test split, "
                             "and the string \"inf\" (or \"-inf\", \"nan\") where the loss on it is not finite")


def _positive(text: str) -> int:
    import argparse
    text = _args.unmark(text).strip()
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number, 1 or more, not {text!r}")
    return int(text)


def _index(text: str) -> int:
    import argparse
    text = _args.unmark(text).strip()
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, not {text!r}")
    return int(text)


def _devices(text: str):
    import argparse
    text = _args.unmark(text).strip()
    if text == "all":
        return "all"
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a number of devices (1 or more) or 'all', not {text!r}")
    return int(text)


def _optimizer_error():
    from compile.train.optim import OptimizerError
    return OptimizerError


def settings(args, name) -> dict:
    """The run's settings: command line first, then the example's defaults, then DEFAULTS."""
    from derive.network.examples import EXAMPLES
    out = {**DEFAULTS, **(EXAMPLES[name].train if name in EXAMPLES else {})}
    for key in ("optimizer", "lr", "epochs", "batch_size", "seed", "shuffle"):
        if getattr(args, key, None) is not None:
            out[key] = getattr(args, key)  # already checked by the argument types in compile.cli.args
    return out


def main(args) -> int:
    from derive.network.examples import EXAMPLES
    from compile.train.data import BUILTINS, DataError, load
    from compile.train.distributed import start
    conflict = _args.conflicting(getattr(args, "opt", None) or [], "--opt")
    if conflict:
        print(f"derivax: {conflict}", file=sys.stderr)
        return 2
    try:   # before anything starts JAX's backend
        rank = start(getattr(args, "coordinator", None), getattr(args, "num_processes", None),
                     getattr(args, "process_id", None), getattr(args, "distributed", False))
    except DataError as exc:
        print(f"derivax: {exc}", file=sys.stderr)
        return 2
    several = rank != 0 or getattr(args, "coordinator", None) is not None or getattr(args, "distributed", False)
    if several and getattr(args, "devices", None) is None:
        args.devices = "all"   # a run over several hosts splits its batches over all their devices
    try:
        name, net = _resolved(args)
        cfg = settings(args, name)
        opts = dict(getattr(args, "opt", None) or [])
        recorded = {}
        if getattr(args, "load", None) is not None:   # a resumed run continues the settings of the run it resumes
            from compile.train.checkpoint import recorded_facts
            recorded = recorded_facts(args.load)
        given = dict(opts)
        resumed = resumed_settings(args, cfg, opts, recorded)
        # a setting the checkpoint gave (the command line leaves it out) is refused naming the file
        theirs = (recorded.get("settings") or {}) if getattr(args, "lr", None) is None else {}
        check_lr(cfg["lr"], what=f"{args.load}: the checkpoint's settings' lr" if "lr" in theirs
                 and cfg["lr"] == theirs["lr"] else "--lr")
        check_l2(net, args)
        taken = {k: v for k, v in opts.items() if k not in given}
        if taken:
            try:
                check_opts(taken, cfg["optimizer"], cfg["lr"])
            except (UsageError, _optimizer_error()) as exc:
                raise UsageError(f"{args.load}: the checkpoint's settings' opts: {exc}") from None
        opts = check_opts(opts, cfg["optimizer"], cfg["lr"])
        if args.data is not None and not args.data.strip():
            raise UsageError(f"--data needs a path or a built-in data set ({', '.join(BUILTINS)}), not an empty name")
        source = args.data if args.data is not None else (name if name in EXAMPLES else None)
        if source is None:
            raise UsageError(f"{args.model} has no built-in data: pass --data PATH (MNIST as .npz or IDX files) "
                             f"or a built-in data set ({', '.join(BUILTINS)})")
        # Output paths are checked before the data is read and the network trained: a typo in a path
        # should cost seconds, not the training run.
        if args.save is not None:
            check_save_path(args.save)
        if args.plot is not None:
            check_plot_path(args.plot, name)
        for option, path in (("--save", args.save), ("--plot", args.plot)):
            if path is not None and args.data is not None and args.data not in BUILTINS:
                check_data_not_overwritten(args.data, option, path)
        # --save may name the --load file: resuming a run and saving it in place is what a checkpoint is for
        # (the file is read whole before training starts). A plot over it would destroy it.
        problem = _args.written_over_input("--plot", args.plot, [("the --load checkpoint", getattr(args, "load", None))])
        if problem:
            raise UsageError(problem)
        if (args.data is not None and args.data not in BUILTINS and getattr(args, "input", None) is None
                and name in EXAMPLES and EXAMPLES[name].for_input is not None):
            net = _net_for_images(EXAMPLES[name], net, args.data)
        from compile.checks.points import fits
        # float32 parameters, gradients and up to two optimizer states, and the batch's activations
        model = net.build(args.convention)
        empty = _args.no_parameters(model, name, "train")
        if empty:
            raise UsageError(empty)
        fits(model, min(cfg["batch_size"], 100_000), "training", itemsize=4, copies=5)
        steps = int(model.Y.shape[1]) if model.Y.rank == 3 else None   # an output at every step
        from compile.train.data import TEST_FRACTION
        try:
            data = load(source, n_inputs=net.n_inputs, n_outputs=output_size(model),
                        regression=model.loss_name not in ("ce", "bce", "svm"), steps=steps, target=args.target,
                        test_fraction=TEST_FRACTION if args.test_fraction is None else args.test_fraction,
                        vocab=model.vocab)
        except DataError as exc:   # a built-in set that does not fit the network: said as the set it is
            from compile.train.data import ALIASES
            if args.data is not None and args.data.strip() in (*BUILTINS, *ALIASES):
                raise DataError(f"--data {args.data.strip()}, a built-in data set: {exc}") from None
            raise
        from compile.train.train import compile_trainer, fit
        trainer = compile_trainer(net, cfg["optimizer"], cfg["lr"], convention=args.convention, **opts)
        check_targets(trainer.model.loss_name, data)
        from compile.train.train import check_batch_norm   # before the header: a run that cannot train says so alone
        check_batch_norm(trainer.model, cfg["batch_size"], len(data.x_train), "--batch-size")
        start = state = None
        facts = {}
        if getattr(args, "load", None) is not None:   # read before anything is printed: a bad file is one line
            from compile.train.checkpoint import load_checkpoint
            start, state, facts = load_checkpoint(args.load, trainer)
            state, resumed = resumed_state(trainer, state, facts, cfg, resumed)
    except (UsageError, DataError, _optimizer_error()) as exc:
        print(f"derivax: {exc}", file=sys.stderr)
        return 2
    classify = data.kind == "classification"
    n = len(data.x_train)
    batch = min(cfg["batch_size"], n)
    batch_text = f"batch {batch}"
    if cfg["batch_size"] > n:  # the header says what the run does, and why it differs from what was asked
        asked = f"; --batch-size {args.batch_size} asked for more" if args.batch_size is not None else ""
        batch_text += f" (all {n} training examples{asked})"

    def header():
        """The run's settings and the layer table: printed by fit once the run is sure to train, so that a run
        refused at the start (a loss not finite there, --devices) is one line on stderr and nothing else."""
        print(f"{name}: {trainer.model.size_text}, loss {trainer.model.loss_name}, "
              f"{getattr(trainer.optimizer, 'name', cfg['optimizer'])} lr {cfg['lr']:g}, {cfg['epochs']} epoch{'s' if cfg['epochs'] != 1 else ''}, {batch_text}, "
              f"seed {cfg['seed']}{'' if cfg['shuffle'] else ', batches in order'}; data: {data.description}")
        print(trainer.model.summary_text())
        if getattr(args, "load", None) is not None:
            print(f"loaded {args.load}: {facts['state']}")
            for note in resumed:
                print(note)
    devices = getattr(args, "devices", None)
    try:   # the batch size as asked (fit takes all the examples where it is more): the checkpoint records it
        hist = fit(trainer, data.x_train, data.y_train, cfg["epochs"], cfg["batch_size"], cfg["seed"],
                   data.x_test, data.y_test, classify=classify, shuffle=cfg["shuffle"], params=start,
                   opt_state=state, devices=devices, on_start=header, epochs_done=facts.get("epochs_done", 0))
    except DataError as exc:   # a loss not finite at the start; --devices: more than there are, or a batch that
        print(f"derivax: {exc}", file=sys.stderr)   # does not split over them: said before any header, alone
        return 2
    if devices not in (None, 1):
        import jax
        n = len(jax.devices()) if devices == "all" else devices
        print(f"data parallel over {n} {jax.devices()[0].platform} devices"
              + (f" on {jax.process_count()} processes (this is process {rank})" if jax.process_count() > 1 else "")
              + f": each batch of {batch} split into {n} of {batch // n}")
    if hist.stopped:
        print(f"derivax: {hist.stopped}", file=sys.stderr)
    final = hist.train_loss[-1] if hist.train_loss else None
    train_acc = hist.train_accuracy[-1] if hist.train_accuracy else None
    test_acc = hist.test_accuracy[-1] if hist.test_accuracy else None
    line = f"trained {hist.epochs} epoch{'s' if hist.epochs != 1 else ''} in {hist.seconds:.1f} s: loss {final:.6g}" if final is not None \
        else "no epoch finished"
    if train_acc is not None:
        line += f", train accuracy {train_acc:.2%}"
    if hist.train_sample:
        line += f" (training figures on a fixed sample of {hist.train_sample:,} of {n:,} examples)"
    test_loss = hist.test_loss[-1] if hist.test_loss else None
    if test_acc is not None:
        line += f", test accuracy {test_acc:.2%}"
    if data.baselines and test_loss is not None:   # a language model: its loss on held-out text, and what to beat
        line += f", test loss {test_loss:.4g} (" + ", ".join(f"{k} baseline {v:.4g}" for k, v in data.baselines.items()) + ")"
    elif test_loss is not None and not math.isfinite(test_loss):   # no number to read, but not absent: said
        line += f", test loss {test_loss}"
    print(line)
    if hist.diverged and not hist.stopped:  # a stop has said so already
        advice = hist.advice if hist.culprit not in (None, "lr") else f"try a smaller --lr than {cfg['lr']:g}"
        print(f"derivax: warning: the training loss rose from {hist.initial_loss:.4g} before training to "
              f"{final:.4g} after it: training diverged; {advice}", file=sys.stderr)
    written = True  # every file asked for was written
    if rank != 0:   # the other processes hold the same replicated parameters: process 0 writes the files
        args.save = args.plot = None
    if args.save is not None and not hist.train_loss:   # nothing trained: the file would hold the start
        print(f"derivax: did not write {args.save}: no epoch finished, so there are no trained parameters to save",
              file=sys.stderr)
        written = False
    elif args.save is not None:
        written &= _save(args.save, trainer, hist, data.inputs)
    if args.plot is not None:
        if hist.train_loss:
            written &= _plot(args.plot, hist, name)
        else:
            print(f"derivax: did not write {args.plot}: no epoch finished, so there is no loss to plot",
                  file=sys.stderr)
            written = False
    if args.show_trained:
        print(trained_equations(trainer.model, hist.params))
    if args.json:
        print(_args.json_line({"final_loss": final, "train_accuracy": train_acc, "test_accuracy": test_acc,
                          "test_loss": _json_loss(test_loss), "baselines": data.baselines or None,
                          "epochs": hist.epochs, "seconds": round(hist.seconds, 3),
                          "initial_loss": hist.initial_loss, "diverged": hist.diverged,
                          "stopped": hist.stopped, "batch_size": batch, "train_sample": hist.train_sample}))
    return 1 if hist.stopped or not written else 0


# The settings a resumed run continues from its checkpoint where the command line leaves them out (each by its
# key in the run's settings and on args), in the order they are said; --opt's options follow them.
RESUMED = ("optimizer", "lr", "batch_size", "seed", "shuffle")


def _setting(key, value) -> str:
    """lr 0.1, batch 8, seed 1, shuffled, eta=0.5: a setting as the notes of a resumed run write it."""
    if key == "shuffle":
        return "shuffled" if value else "batches in order"
    if key == "optimizer":
        return f"optimizer {value}"
    if key == "lr":
        return f"lr {value:g}"
    if key in ("batch_size", "seed"):
        return f"{'batch' if key == 'batch_size' else key} {value}"
    return f"--opt {key}={float(value):g}"


def resumed_settings(args, cfg, opts, facts) -> list:
    """A run resumed from a checkpoint continues the run that wrote it: each setting the command line leaves out
    (the optimizer, the learning rate and --opt options where the optimizer is the same, the batch size, the seed,
    the shuffling) is taken from the checkpoint where it records it; one the command line gives that differs from
    the checkpoint's applies from here on. ``cfg`` and ``opts`` are updated; returns the lines that say both."""
    from compile.train.optimizer_names import OPTAX_OPTIMIZERS, OPTIMIZERS
    if not facts:   # no checkpoint, or a file of parameters alone: nothing to continue
        return []
    if "settings" not in facts:
        return ["the checkpoint records none of its run's settings (written before derivax recorded them): this "
                "run's are used, as given or by default"]
    rec = dict(facts.get("settings") or {})
    theirs = str(facts.get("optimizer", "")).lower()   # a derived rule's name (SGD, Adam) or optax's (adamw)
    if theirs in OPTIMIZERS + OPTAX_OPTIMIZERS:
        rec["optimizer"] = theirs
    taken, changed = [], []
    for key in RESUMED:
        if key not in rec:
            continue
        if key == "lr" and rec.get("optimizer", cfg["optimizer"]) != cfg["optimizer"]:
            continue   # another optimizer's learning rate is not this one's
        if getattr(args, key, None) is None:
            if cfg[key] != rec[key]:
                taken.append(_setting(key, rec[key]))
            cfg[key] = rec[key]
        elif cfg[key] != rec[key] and key != "seed":   # a seed of its own is said below, with what it changes
            changed.append(f"{_setting(key, cfg[key])} (the checkpoint's: {_setting(key, rec[key])})")
    if "opts" in rec and rec.get("optimizer", cfg["optimizer"]) == cfg["optimizer"]:
        for key, value in rec["opts"].items():
            if key not in opts:
                opts[key] = value
                taken.append(_setting(key, value))
            elif float(opts[key]) != float(value):
                changed.append(f"{_setting(key, opts[key])} (the checkpoint's: {float(value):g})")
        changed += [f"{_setting(k, v)} (the checkpoint's: {cfg['optimizer']}'s default)" for k, v in opts.items()
                    if k not in rec["opts"]]
    lines = []
    if taken:
        lines.append(f"continuing the checkpoint's settings (those the command line leaves out): {', '.join(taken)}")
    if changed:
        lines.append(f"changed from the checkpoint's settings, from here on: {', '.join(changed)}")
    if "seed" in rec and cfg["seed"] != rec["seed"]:
        lines.append(f"seed {cfg['seed']} is not the checkpoint's {rec['seed']}: the epochs to come shuffle and drop "
                     f"out by seed {cfg['seed']}, so the run does not go on as the seed-{rec['seed']} run would have")
    return lines


def resumed_state(trainer, state, facts, cfg, lines) -> tuple:
    """(the optimizer state a resumed run starts from, the lines that say how it resumes). The state's random keys
    (noisy_sgd's noise) continue from the checkpoint's; under a --seed other than the checkpoint's they are folded
    with it (``seeded_keys``), so that the seed given takes effect on the noise as on the shuffling. Also said: the
    epoch the run resumes after (and how that count was found), a loss whose weight decay or reduction differs
    from the checkpoint's."""
    import jax
    from compile.train.train import _is_key, seeded_keys
    rec = facts.get("settings") or {}
    lines = list(lines)
    keys = state is not None and any(_is_key(leaf) for leaf in jax.tree_util.tree_leaves(state))
    if keys and "seed" in rec and rec["seed"] != cfg["seed"]:
        state = seeded_keys(state, cfg["seed"])
        said = next(i for i, line in enumerate(lines) if line.startswith(f"seed {cfg['seed']} is not"))
        lines[said] += f"; {trainer.optimizer_name}'s noise is drawn by seed {cfg['seed']} too"
    elif keys and "seed" not in rec:
        lines.append(f"{trainer.optimizer_name}'s noise continues from the checkpoint's random key, whatever --seed "
                     "says (the checkpoint records no seed to compare it with)")
    model = trainer.model
    loss = (("l2", "weight decay λ", float(model.l2 or 0.0)), ("l2_form", "weight decay's form", model.l2_form),
            ("reduction", "reduction over the batch", model.reduction))
    for key, said, mine in loss:   # the model's own (its file, its example): applied, and said
        if key in rec and rec[key] != mine:
            here, there = (f"{v:g}" if isinstance(v, float) else v for v in (mine, rec[key]))
            lines.append(f"the loss's {said} is {here} here, {there} in the checkpoint: this run's applies from "
                         "here on")
    done, assumed = facts.get("epochs_done", 0), list(facts.get("assumed", ()))
    if done:
        last = done + cfg["epochs"]
        span = f"epoch {last}" if last == done + 1 else f"epochs {done + 1} to {last}"
        assumed.insert(0, f"resuming after epoch {done}: this run trains {span} (the shuffling counts on from there)")
    if assumed:
        lines.insert(0, "; ".join(assumed))
    return state, lines


def _json_loss(value):
    """A loss for the JSON line: a number, or where it is not finite the string "inf", "-inf" or "nan" (JSON has
    no such numbers; null stays "no test split")."""
    if value is None or math.isfinite(value):
        return value
    return "nan" if value != value else "inf" if value > 0 else "-inf"


def _hyper(text: str) -> tuple:
    """--opt KEY=VALUE: a hyper-parameter's name and its number."""
    import argparse
    key, eq, value = (t.strip() for t in _args.unmark(text).partition("="))
    if not eq or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, such as b2=0.99 or weight_decay=1e-4, not {text!r}")
    try:
        return key, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{key}: expected a number, not {value!r}") from None


def _resolved(args):
    """(name, network) of the command line's model; a built-in CNN that --input rebuilds for images its layers do
    not fit is refused naming --input (and the smallest size it takes), not one of its layers."""
    from derive.network.examples import EXAMPLES, resolve
    from derive.network.functions import NetworkError
    shape = getattr(args, "input", None)
    try:
        return resolve(args.model, args.loss, shape, getattr(args, "l2", None), getattr(args, "l2_form", None),
                       getattr(args, "reduction", None))
    except NetworkError as exc:
        example = EXAMPLES.get(args.model.strip()) if isinstance(args.model, str) else None
        if shape is None or example is None or example.for_input is None:
            raise
        side = shape[0] if len(shape) == 3 and shape[0] == shape[1] and shape[2] == 1 else None
        text = "x".join(map(str, shape))
        raise UsageError(f"--input {text}: the built-in {example.net.name}'s layers do not fit {text} images "
                         f"({exc})" + (_smallest(example, side) if side else "") + f"; {_takes(example.net)}") from None


def _net_for_images(example, net, source):
    """A built-in CNN made for the images of ``source`` (square, one channel: MNIST's 28x28 gives the
    seed's network); ``net`` where they are already its input."""
    import math
    from compile.train.data import load
    from derive.network.functions import NetworkError
    flat = load(source, test_fraction=0).x_train   # all of x, as the file holds it: its shape is said below
    n = int(math.prod(flat.shape[1:]))
    side = math.isqrt(n)
    if n == math.prod(net.input_shape) or side * side != n:
        return net  # load says what does not fit
    try:
        return example.network((side, side, 1))
    except NetworkError:   # images too small for its layers: said here, of the data, not of a pooling layer
        raise UsageError(f"--data {source}: x has shape {tuple(flat.shape)}, {n} values an example, read as "
                         f"{side}x{side}x1 images, which the built-in {net.name}'s layers do not fit"
                         f"{_smallest(example, side)}; {_takes(net)}") from None


def _takes(net) -> str:
    """What a built-in CNN takes, and how to make it take another size."""
    import math
    shape = "x".join(map(str, net.input_shape))
    return (f"it takes {shape} images ({int(math.prod(net.input_shape))} values an example), and --input HxWxC "
            "rebuilds it for another image size")


def _smallest(example, side, most=64) -> str:
    """', the smallest it takes being NxNx1' (square images of one channel), where one up to ``most`` is found."""
    from derive.network.functions import NetworkError
    for s in range(side + 1, most + 1):
        try:
            example.network((s, s, 1))
        except NetworkError:
            continue
        return f" (the smallest square images it takes are {s}x{s}x1)"
    return ""


def check_lr(lr: float, dtype="float32", runs="training runs", what="--lr") -> None:
    """Training runs in float32: a rate that rounds to 0 there would train nothing, one that rounds
    to inf would end in NaN at the first step. ``what``: where the rate comes from, for the message."""
    check_precision(lr, what, dtype, runs)


def check_precision(value: float, what: str, dtype="float32", runs="training runs") -> None:
    """A UsageError where a nonzero ``value`` (``what``: the option) rounds to 0 or to inf in ``dtype``."""
    import numpy as np
    info = np.finfo(dtype)
    if value and not float(info.tiny) <= abs(value) <= float(info.max):
        raise UsageError(f"{what} {_args.number_text(value)} is outside {np.dtype(dtype).name}'s range "
                         f"({info.tiny:.3g} to {info.max:.3g}), the precision {runs} in")


def check_l2(net, args, dtype="float32", runs="training runs") -> None:
    """The weight decay λ (--l2, or the model's own) within the precision the loss is computed in."""
    l2 = getattr(net, "l2", None)
    if l2:
        given = getattr(args, "l2", None) is not None
        check_precision(float(l2), "--l2" if given else f"{getattr(net, 'name', 'the model')}'s l2 (its weight "
                        "decay λ)", dtype, runs)


def check_opts(opts: dict, optimizer: str, lr) -> dict:
    """--opt's hyperparameters for ``optimizer``: none of them a setting with its own option (--opt lr=0.5 is
    --lr 0.5), each one the optimizer takes and within its range (compile.train.optim.make says which)."""
    from compile.train.optim import make, options
    try:
        takes = options(optimizer)
    except ImportError:   # an optax optimizer without optax: make says so
        takes = {}
    own = _option_names()
    for key, value in opts.items():
        if key in takes:
            continue
        if key in ("lr", "learning_rate", "alpha"):
            raise UsageError(f"--opt {key}={value:g}: the learning rate has its own option: --lr {value:g}")
        if key in own:
            raise UsageError(f"--opt {key}={value:g}: {key} is no hyperparameter of {optimizer}; it is set by "
                             f"its own option, {own[key]}")
    make(optimizer, lr, **opts)   # an unknown key or a value out of its range: an OptimizerError naming it
    for key, value in opts.items():
        check_precision(value, f"--opt {key}")
    return opts


def _option_names() -> dict:
    """train's settings with an option of their own, by name: {"batch_size": "--batch-size", ...}."""
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    return {a.dest: a.option_strings[0] for a in parser._actions if a.option_strings and a.dest != "opt"}


def check_targets(loss_name, data) -> None:
    """Cross-entropy losses take probabilities: regression targets outside 0..1 would train a
    meaningless (even negative) loss."""
    from compile.train.data import DataError
    if loss_name not in ("ce", "bce", "svm") or data.kind != "regression":
        return
    for what, y in (("training data", data.y_train), ("test data", data.y_test)):
        if y is not None and (y.min() < 0 or y.max() > 1):
            raise DataError(f"{what}: the loss {loss_name} takes targets in 0..1, but y spans "
                            f"{y.min():g}..{y.max():g}: for regression targets use --loss mse")


def check_output_path(path: str, option: str, example: str) -> Path:
    """A file that can be written: not a directory, in a directory that exists and is writable."""
    p = Path(path)
    if path.endswith(("/", os.sep)) and path.rstrip("/" + os.sep) and not os.path.isdir(path):   # Path drops it
        raise UsageError(f"{option} {path}: names a folder (it ends in /); name a file, e.g. "
                         f"{path.rstrip('/' + os.sep)}")
    if os.path.basename(path) in ("", ".", ".."):
        raise UsageError(f"{option} {path}: needs a file name, e.g. {Path(path) / example}")
    try:
        if p.is_dir():
            raise UsageError(f"{option} {path}: is a directory; name a file in it, e.g. {p / example}")
        folder = p.parent
        if p.is_symlink() and not p.exists():
            raise UsageError(f"{option} {path}: a symbolic link to {os.readlink(p)}, which does not exist")
        if not folder.exists():
            raise UsageError(f"{option} {path}: the directory {folder} does not exist")
        if not folder.is_dir():
            raise UsageError(f"{option} {path}: {folder} is not a directory")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise UsageError(f"{option} {path}: the directory {folder} is not writable")
        if p.exists() and not (p.is_file() and os.access(p, os.W_OK)):
            # a pipe or a device would block or swallow the file; a read-only file would fail after training
            raise UsageError(f"{option} {path}: the file exists and is not "
                             + ("writable" if p.is_file() else "a regular file"))
    except OSError as exc:  # a name too long, a folder on the way that cannot be searched
        raise UsageError(f"{option} {path}: {exc.strerror or exc}") from None
    if "\0" in path:  # Path's checks read such a name as missing; the write would fail after training
        raise UsageError(f"{option} {path!r}: a file name cannot hold a NUL character")
    return p


def output_size(model) -> int:
    """The network's outputs per example (per step, for an output at every step), from its built graph: the
    last layer may be any layer (a Flatten, a batch norm), not only a Dense with units."""
    return int(model.Y.shape[-1] if model.convention == "rows" else model.Y.shape[0])


def check_data_not_overwritten(data, option, path) -> None:
    """A file written must not be the --data file, nor a file of a --data folder: the run would destroy its
    own training data."""
    from compile.train.data import files_read
    for f in files_read(data) or [data]:
        try:
            same = os.path.exists(path) and os.path.samefile(path, f)
        except (OSError, ValueError):
            continue  # no such data file: load says so
        if same:
            where = "the --data file" if Path(f) == Path(data) else f"{Path(f).name} of the --data folder"
            raise UsageError(f"{option} {path}: is {where}; writing it would destroy the training data")


def check_save_path(path: str) -> None:
    # np.savez appends .npz to any other name: refusing such names means the file written is always
    # the file named.
    p = check_output_path(path, "--save", "params.npz")
    if p.suffix != ".npz":
        raise UsageError(f"--save {path}: the file name must end in .npz, e.g. {p.with_suffix('.npz')}")


def check_plot_path(path: str, name: str) -> None:
    """A path matplotlib can write, in a format it writes here: a small figure like the real one is
    drawn in memory, so that a missing LaTeX (for .pgf) shows before training, not after."""
    import io
    p = check_output_path(path, "--plot", "loss.png")
    _need_matplotlib()
    import matplotlib
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt
    from matplotlib.backend_bases import FigureCanvasBase
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    fmt = p.suffix[1:].lower()
    if fmt not in formats:
        raise UsageError(f"--plot {path}: expected a file name ending in a format matplotlib writes "
                         f"({', '.join('.' + f for f in formats)}), found {'.' + fmt if fmt else 'no ending'}")
    fig = None
    try:
        fig = _loss_figure([1.0, 0.5], name)
        fig.savefig(io.BytesIO(), format=fmt)
    except Exception as exc:  # a backend's own requirement (a TeX program, a Pillow plugin)
        raise UsageError(f"--plot {path}: matplotlib cannot write .{fmt} here: {' '.join(str(exc).split())}") from None
    finally:
        if fig is not None:
            plt.close(fig)


def _need_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install matplotlib") from None


def _save(path, trainer, hist, inputs=None) -> bool:
    from compile.train.checkpoint import save_checkpoint
    try:
        save_checkpoint(path, trainer, hist.params, hist.opt_state, hist.epochs, inputs, history=hist)
    except OSError as exc:
        print(f"derivax: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return False
    print(f"saved {', '.join(hist.params)} and the optimizer's state to {path}")
    return True


def _loss_figure(losses, name, test_losses=None, train_acc=None, test_acc=None):
    """The loss per epoch (training, and test where there is a test split); beside it the accuracies of a
    classifier."""
    import matplotlib.pyplot as plt
    accuracy = bool(train_acc) and any(a is not None for a in train_acc)
    fig, axes = plt.subplots(1, 2 if accuracy else 1, figsize=(11 if accuracy else 6, 4))
    ax = axes[0] if accuracy else axes
    epochs = range(1, len(losses) + 1)
    ax.plot(epochs, losses, label="training loss")
    if test_losses:
        ax.plot(range(1, len(test_losses) + 1), test_losses, label="test loss")
    ax.set(xlabel="epoch", ylabel="loss J", title=f"derivax train {name}")
    if min(losses + list(test_losses or [])) > 0:
        ax.set_yscale("log")
    ax.legend()
    if accuracy:
        axes[1].plot(epochs, train_acc, label="training accuracy")
        if test_acc:
            axes[1].plot(range(1, len(test_acc) + 1), test_acc, label="test accuracy")
        axes[1].set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
        axes[1].legend()
    fig.tight_layout()
    return fig


def _plot(path, hist, name) -> bool:
    import matplotlib.pyplot as plt
    fig = _loss_figure(hist.train_loss, name, hist.test_loss, hist.train_accuracy, hist.test_accuracy)
    try:
        fig.savefig(path)
    except Exception as exc:  # OSError, or a backend's error: the run is over, say so in one line
        print(f"derivax: cannot write {path}: {getattr(exc, 'strerror', None) or ' '.join(str(exc).split())}",
              file=sys.stderr)
        return False
    finally:
        plt.close(fig)
    print(f"plotted the loss to {path}")
    return True


def _statistics(name, v, digits) -> str:
    """  W₁ 3×4: mean ..., std ..., min ..., max ...: a parameter's numbers where they are not printed one by one."""
    import numpy as np
    v = np.asarray(v, dtype=float)
    return (f"  {name} {'×'.join(map(str, np.shape(v)))}: mean {v.mean():.{digits}g}, std {v.std():.{digits}g}, "
            f"min {v.min():.{digits}g}, max {v.max():.{digits}g}")


def trained_equations(model, params, digits=4) -> str:
    """The forward equations with the learned numbers: per unit for small layers, else as matrices.

    The round trip of the derivation: learned values go back into SymPy expressions and print."""
    import numpy as np
    import sympy as sp
    from derive.graph.names import subscript, superscript
    from derive.printing.show import name as display, show

    rows = model.convention == "rows"
    num = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    flat_input = len(model.input_shape) == 1
    inputs = [sp.Symbol(f"x{subscript(i + 1)}") for i in range(model.input_shape[0])] if flat_input else None
    outputs = {0: inputs}
    lines = []
    for layer in model.layers:
        l = layer.index
        if layer.kind != "dense" or layer.W is None:
            # convolution, pooling, flatten or a custom layer: its equations as derived, and for a
            # convolution its kernel's and bias's statistics; no per-unit view
            eqs = [n for n in (layer.Z, layer.A) if n is not None]
            lines.append(";  ".join(f"{display(n.name, 'text')} = {show(n, 'text')}" for n in eqs)
                         + ("  (a custom layer)" if layer.kind == "custom" else ""))
            own = [r.node for r in getattr(model, "records", ()) if r.layer == l] or \
                [q for q in (layer.W, layer.b) if q is not None]
            for q in own:   # every parameter of the layer (a kernel, a recurrent layer's Wxh, γ, β, a table C)
                if q.name in num:
                    lines.append(_statistics(display(q.name, "text"), num[q.name], digits))
            outputs[l] = None
            continue
        W = num[layer.W.name] if rows else num[layer.W.name].T     # (in, out) either way
        b = num[layer.b.name].reshape(-1) if layer.b is not None else np.zeros(layer.units)
        lines.append(f"{display(layer.Z.name, 'text')} = {show(layer.Z, 'text')};  "
                     f"{display(layer.A.name, 'text')} = {show(layer.A, 'text')}")
        if W.size > MAX_SCALAR_WEIGHTS:
            for p, v in ((layer.W.name, W if rows else W.T),) + (((layer.b.name, b),) if layer.b is not None else ()):
                lines.append(f"  {display(p, 'text')} {'×'.join(map(str, np.shape(v)))}: mean {v.mean():.{digits}g}, "
                             f"std {v.std():.{digits}g}, min {v.min():.{digits}g}, max {v.max():.{digits}g}")
            outputs[l] = None
            continue
        prev = outputs.get(l - 1)
        if prev is None:   # the layer below printed no units (wide, or no dense layer): its numbers as statistics
            for p, v in ((layer.W.name, W if rows else W.T),) + (((layer.b.name, b),) if layer.b is not None else ()):
                lines.append(_statistics(display(p, "text"), v, digits))
            outputs[l] = None
            continue
        zs = [sum((sp.Float(W[i, j], digits) * a for i, a in enumerate(prev)), sp.Float(b[j], digits))
              + _skips(model, layer, outputs, j) for j in range(layer.units)]
        names = [sp.Symbol(f"a{superscript(l)}{subscript(j + 1)}") for j in range(layer.units)]
        if layer.fn is None:  # softmax
            zn = [sp.Symbol(f"z{superscript(l)}{subscript(j + 1)}") for j in range(layer.units)]
            lines += [f"  {zn[j]} = {sp.sstr(zs[j])}" for j in range(layer.units)]
            lines += [f"  {names[j]} = exp({zn[j]}) / ({' + '.join(f'exp({z})' for z in zn)})"
                      for j in range(layer.units)]
        else:
            var = layer.fn.variables[0]
            lines += [f"  {names[j]} = {sp.sstr(layer.fn.expr.xreplace({var: zs[j]}))}" for j in range(layer.units)]
        outputs[l] = names
    return "\n".join(lines)


def _skips(model, layer, outputs, j):
    """Skip connections add the j-th output of earlier layers to unit j."""
    total = 0
    for extra in layer.Z.args[2:]:
        k = 0 if extra is model.X else next(l.index for l in model.layers if l.A is extra)
        if outputs.get(k):
            total += outputs[k][j]
    return total

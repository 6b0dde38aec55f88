"""`derivax train`: train a network with its derived gradients, report, save, plot, show the result.

JAX, the data loader and the trainer are imported inside ``main``: the command line imports this
module at start-up for every command.
"""
from __future__ import annotations

import json
import math
import sys

# Used where neither the command line nor the example says otherwise.
DEFAULTS = {"optimizer": "sgd", "lr": 0.1, "epochs": 100, "batch_size": 32, "seed": 0}
MAX_SCALAR_WEIGHTS = 64   # layers with more weights print as matrices, not per-unit equations


class UsageError(ValueError):
    """A bad option value; printed as one line, exit status 2."""


def add_arguments(parser) -> None:
    parser.add_argument("model", help="built-in example, file.py[:name], or an inline spec like 2-2:tanh-2:softmax")
    parser.add_argument("--epochs", type=int, help="passes over the training data (default: the example's)")
    parser.add_argument("--batch-size", type=int, help="examples per step (default: the example's)")
    parser.add_argument("--optimizer", choices=["sgd", "momentum", "adam"], help="default: the example's")
    parser.add_argument("--lr", type=float, help="learning rate > 0 (default: the example's)")
    parser.add_argument("--seed", type=int, help="seed of initialisation, shuffling and dropout "
                        "(default: the example's, else 0)")
    parser.add_argument("--data", help="MNIST as .npz or IDX files, or a built-in data set (xor, linreg, mlp)")
    parser.add_argument("--loss", help="ce, bce, mse, or a formula in yhat and y")
    parser.add_argument("--convention", choices=["rows", "columns"], default="rows")
    parser.add_argument("--save", metavar="PARAMS.npz", help="write the trained parameters")
    parser.add_argument("--plot", metavar="LOSS.png", help="plot the loss per epoch (needs matplotlib)")
    parser.add_argument("--show-trained", action="store_true",
                        help="print the network's equations with the learned numbers")
    parser.add_argument("--json", action="store_true", help="end the output with one JSON line of results")


def settings(args, name) -> dict:
    """The run's settings: command line first, then the example's defaults, then DEFAULTS."""
    from derive._examples import EXAMPLES
    out = {**DEFAULTS, **(EXAMPLES[name].train if name in EXAMPLES else {})}
    for key in ("optimizer", "lr", "epochs", "batch_size", "seed"):
        if getattr(args, key, None) is not None:
            out[key] = getattr(args, key)
    if not (isinstance(out["lr"], (int, float)) and math.isfinite(out["lr"]) and out["lr"] > 0):
        raise UsageError(f"--lr must be a number > 0, not {out['lr']!r}")
    if out["epochs"] < 1:
        raise UsageError(f"--epochs must be at least 1, not {out['epochs']}")
    if out["batch_size"] < 1:
        raise UsageError(f"--batch-size must be at least 1, not {out['batch_size']}")
    if out["seed"] < 0:
        raise UsageError(f"--seed must be >= 0, not {out['seed']}")
    return out


def main(args) -> int:
    from derive._examples import EXAMPLES, resolve
    from ._data import DataError, load
    try:
        name, net = resolve(args.model, args.loss)
        cfg = settings(args, name)
        source = args.data or (name if name in EXAMPLES else None)
        if source is None:
            raise UsageError(f"{args.model} has no built-in data: pass --data PATH (MNIST as .npz or IDX files) "
                             "or a built-in data set (xor, linreg, mlp)")
        if args.plot:
            _need_matplotlib()
        data = load(source, n_inputs=net.n_inputs, n_outputs=net.layers[-1].units)
    except (UsageError, DataError) as exc:
        print(f"derivax: {exc}", file=sys.stderr)
        return 2
    from ._train import compile_trainer, fit
    trainer = compile_trainer(net, cfg["optimizer"], cfg["lr"], convention=args.convention)
    classify = data.kind == "classification"
    print(f"{name}: {'-'.join(map(str, trainer.model.sizes))}, loss {trainer.model.loss_name}, "
          f"{trainer.optimizer.name} lr {cfg['lr']:g}, {cfg['epochs']} epochs, batch {cfg['batch_size']}, "
          f"seed {cfg['seed']}; data: {data.description}")
    hist = fit(trainer, data.x_train, data.y_train, cfg["epochs"], cfg["batch_size"], cfg["seed"],
               data.x_test, data.y_test, classify=classify)
    if hist.stopped:
        print(f"derivax: {hist.stopped}", file=sys.stderr)
    final = hist.train_loss[-1] if hist.train_loss else None
    train_acc = hist.train_accuracy[-1] if hist.train_accuracy else None
    test_acc = hist.test_accuracy[-1] if hist.test_accuracy else None
    line = f"trained {hist.epochs} epochs in {hist.seconds:.1f} s: loss {final:.6g}" if final is not None \
        else "no epoch finished"
    if train_acc is not None:
        line += f", train accuracy {train_acc:.2%}"
    if test_acc is not None:
        line += f", test accuracy {test_acc:.2%}"
    print(line)
    if args.save:
        _save(args.save, hist.params)
    if args.plot and hist.train_loss:
        _plot(args.plot, hist, name)
    if args.show_trained:
        print(trained_equations(trainer.model, hist.params))
    if args.json:
        print(json.dumps({"final_loss": final, "train_accuracy": train_acc, "test_accuracy": test_acc,
                          "epochs": hist.epochs, "seconds": round(hist.seconds, 3)}))
    return 1 if hist.stopped else 0


def _need_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install matplotlib") from None


def _save(path, params):
    import numpy as np
    try:
        np.savez(path, **{k: np.asarray(v) for k, v in params.items()})
    except OSError as exc:
        print(f"derivax: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return
    print(f"saved {', '.join(params)} to {path}")


def _plot(path, hist, name):
    import matplotlib
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = range(1, hist.epochs + 1)
    ax.plot(epochs, hist.train_loss, label="training loss")
    ax.set(xlabel="epoch", ylabel="loss J", title=f"derivax train {name}")
    if min(hist.train_loss) > 0:
        ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as exc:
        print(f"derivax: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return
    finally:
        plt.close(fig)
    print(f"plotted the loss to {path}")


def trained_equations(model, params, digits=4) -> str:
    """The forward equations with the learned numbers: per unit for small layers, else as matrices.

    The round trip of the derivation: learned values go back into SymPy expressions and print."""
    import numpy as np
    import sympy as sp
    from derive._printing import name as display, show

    rows = model.convention == "rows"
    num = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    inputs = [sp.Symbol(f"x{_sub(i + 1)}") for i in range(model.sizes[0])]
    outputs = {0: inputs}
    lines = []
    for layer in model.layers:
        l = layer.index
        W = num[layer.W.name] if rows else num[layer.W.name].T     # (in, out) either way
        b = num[layer.b.name].reshape(-1)
        lines.append(f"{display(layer.Z.name, 'text')} = {show(layer.Z, 'text')};  "
                     f"{display(layer.A.name, 'text')} = {show(layer.A, 'text')}")
        if W.size > MAX_SCALAR_WEIGHTS:
            for p, v in ((layer.W.name, W if rows else W.T), (layer.b.name, b)):
                lines.append(f"  {display(p, 'text')} {'×'.join(map(str, np.shape(v)))}: mean {v.mean():.{digits}g}, "
                             f"std {v.std():.{digits}g}, min {v.min():.{digits}g}, max {v.max():.{digits}g}")
            outputs[l] = None
            continue
        prev = outputs.get(l - 1)
        if prev is None:
            lines.append("  (its inputs are too wide to print per unit)")
            outputs[l] = None
            continue
        zs = [sum((sp.Float(W[i, j], digits) * a for i, a in enumerate(prev)), sp.Float(b[j], digits))
              + _skips(model, layer, outputs, j) for j in range(layer.units)]
        names = [sp.Symbol(f"a{_sup(l)}{_sub(j + 1)}") for j in range(layer.units)]
        if layer.fn is None:  # softmax
            zn = [sp.Symbol(f"z{_sup(l)}{_sub(j + 1)}") for j in range(layer.units)]
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


def _sub(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def _sup(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))

"""The `derivax` command line."""
from __future__ import annotations

import argparse
import re
import sys

from compile.cli import show as _show

EXIT_USAGE = 2


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("derivax")
    except PackageNotFoundError:
        return "(not installed)"


# What each command's --help ends with: commands to copy.
EXAMPLES = {
    "show": ["derivax show xor", "derivax show 2-3:tanh-1:sigmoid --steps", "derivax show makemore --format latex --standalone",
             "derivax show 2-2:tanh-1:sigmoid --scalar"],
    "train": ["derivax train xor", "derivax train mlp --epochs 10 --plot loss.png --save mlp.npz",
              "derivax train 4-8:tanh-3:softmax --data my.csv --target label"],
    "evaluate": ["derivax evaluate mlp --load mlp.npz", "derivax evaluate 4-8:tanh-1 --load ck.npz --data my.npz -o pred.npy"],
    "predict": ["derivax predict mlp --load mlp.npz --classes", "derivax predict 4-8:tanh-3:softmax --load ck.npz --input new.csv -o pred.csv",
                "derivax predict 4-8:tanh-1 --load ck.npz --input x.npy -o y.npy"],
    "examples": ["derivax examples"],
    "explore": ["derivax explore xor", "derivax explore 2-3:tanh-1:sigmoid --port 0 --no-browser"],
    "report": ["derivax report xor -o xor.html", "derivax report makemore --epochs 3 -o makemore.html"],
    "codegen": ["derivax codegen xor -o trainer.py", "derivax codegen mlp --optimizer adam --lr 1e-3 -o mlp_trainer.py"],
    "bench": ["derivax bench", "derivax bench gpt --batch-size 32"],
    "verify": ["derivax verify xor", "derivax verify 3-4:relu-2:softmax --json"],
    "check": ['derivax check xor --param W2 --formula "A1.T @ (A2 - Y) / m"',
              'derivax check makemore --param dA3 --formula "dxc4 - sum(dxc4, 0)/m"'],
    "check-code": ["derivax check-code xor my_backward.py:backward",
                   "derivax check-code examples/makemore_backprop.py examples/makemore_backprop.py:backward --labels integer"],
}


def build_parser() -> argparse.ArgumentParser:
    from compile.cli.args import given_once
    p = _Parser(prog="derivax", description="Derive, print, compile and verify backprop.")
    p.add_argument("--version", action="version", version=f"derivax {_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("examples", help="list the built-in example networks",
                        description="The built-in example networks: each is a MODEL for every command, with data of "
                                    "its own that needs no download.",
                        epilog="examples:\n" + "\n".join(f"  {e}" for e in EXAMPLES["examples"]),
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ex.set_defaults(func=_show.examples)
    import importlib
    for name, module, helptext in [  # one module per command, each with add_arguments and main
            ("show", "compile.cli.show", "print the derivation of a network"),
            ("train", "compile.cli.train", "train a network with its derived gradients"),
            ("evaluate", "compile.cli.evaluate", "a trained network's loss and accuracy (and predictions) from a "
                                              "checkpoint"),
            ("predict", "compile.cli.predict", "a trained network's predictions on new examples, from a checkpoint"),
            ("explore", "compile.cli.explore", "a local web page to click through, edit, check, verify and train "
                                             "a derivation"),
            ("report", "compile.cli.report", "write an HTML (or Markdown) report: picture, derivation, steps, "
                                          "verification, training curves"),
            ("codegen", "compile.cli.codegen", "write a standalone trainer module"),
            ("bench", "compile.cli.bench", "benchmark the derived trainer against jax.grad"),
            ("verify", "compile.cli.verify", "check derived gradients against jax.grad, finite differences "
                                          "and sympy.diff"),
            ("check", "compile.cli.check", "check a gradient formula you wrote against the derivation"),
            ("check-code", "compile.cli.check_code", "check a backward function you wrote")]:
        c = sub.add_parser(name, help=helptext, epilog="examples:\n" + "\n".join(f"  {e}" for e in EXAMPLES[name]),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod = importlib.import_module(module)  # these modules import JAX only inside functions
        mod.add_arguments(c)
        c.set_defaults(func=mod.main)
        given_once(c)
    return p


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line: ``derivax show: argument --seed: ...`` and a pointer to
    --help, instead of the whole usage block."""

    def error(self, message):
        from compile.cli.args import MARK
        message = message.replace(MARK, "").replace(repr(MARK)[1:-1], "")
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _mark_values(argv: list, parser) -> list:
    """Mark arguments that begin with '-' but are no option (a loss ``-y*log(yhat)``, a spec ``-2-1``),
    so that argparse reads them as values; ``compile.cli.args.unmark`` takes the mark off."""
    from compile.cli.args import MARK
    options = set()
    for action in parser._actions:
        options.update(action.option_strings)
        for sub in getattr(action, "choices", None) or {}:
            if isinstance(action.choices, dict):
                for a in action.choices[sub]._actions:
                    options.update(a.option_strings)
    out = []
    for tok in argv:
        opt = tok.split("=", 1)[0]
        negative_number = re.fullmatch(r"-\d+|-\d*\.\d+", tok)  # argparse takes these as values itself
        if tok.startswith("-") and tok not in ("-", "--") and not negative_number and opt not in options \
                and not any(o.startswith(opt) and opt.startswith("--") and len(opt) > 2 for o in options):
            tok = MARK + tok
        out.append(tok)
    return out


def _unmark(args) -> None:
    from compile.cli.args import unmark
    for key, value in vars(args).items():
        if isinstance(value, str):
            setattr(args, key, unmark(value))
        elif isinstance(value, list):
            setattr(args, key, [unmark(v) for v in value])


class OutputError(OSError):
    """Standard output could not be written (a full disk, /dev/full, a device's error): said in one line, exit 1."""


class _Stream:
    """A standard stream as the commands write it: ``print``, ``sys.stdout.write`` and rich's consoles all write
    through it. Standard output's write errors are raised as OutputError, which says what was being written;
    standard error's are dropped, as there is nowhere left to say them (the exit status still tells). A reader
    that went away (BrokenPipeError) is left to ``main``, which ends quietly."""

    def __init__(self, stream, name: str):
        self.stream, self.name = stream, name

    def _guarded(self, call, *args):
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            if self.name == "standard error":
                return None
            raise OutputError(exc.errno, f"cannot write to {self.name}: {exc.strerror or exc}") from None

    def write(self, text):
        return self._guarded(self.stream.write, text)

    def writelines(self, lines):
        return self._guarded(self.stream.writelines, lines)

    def flush(self):
        return self._guarded(self.stream.flush)

    def __getattr__(self, name):   # isatty, fileno, encoding, ...: the stream's own
        return getattr(self.stream, name)


def _closed_streams() -> None:
    """A standard stream the shell closed (derivax show >&-) is None in Python, and printing to it an
    AttributeError: it becomes os.devnull, so that the command runs and ends with the status it would have
    had. Where its descriptor is closed too, os.devnull takes that number, so that no file opened later takes
    it (and gets what a library or a child process writes there)."""
    import os
    for fd, name in ((1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is not None:
            continue
        try:
            os.fstat(fd)
            closed = False
        except OSError:
            closed = True
        if closed:
            null = os.open(os.devnull, os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, open(fd, "w", closefd=False))
        else:
            setattr(sys, name, open(os.devnull, "w"))


def _discard_output() -> None:
    """What standard output still holds, dropped (its descriptor pointed at os.devnull): Python's last flush at
    exit would fail on it again, and say so in a traceback."""
    import os
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):   # no descriptor (a buffer in a test): nothing to flush at exit
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def main(argv=None) -> int:
    _closed_streams()
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Stream(sys.stdout, "standard output"), _Stream(sys.stderr, "standard error")
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = streams


def _main(argv=None) -> int:
    import contextlib
    import io
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    from compile.cli.args import GivenTwice, given_options
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            try:
                args = parser.parse_args(_mark_values(argv, parser))
            except GivenTwice as exc:   # --lr 0.1 --lr 0.2: which one is meant cannot be known
                print(f"derivax: {exc}", file=sys.stderr)
                raise SystemExit(EXIT_USAGE) from None
    except SystemExit as exc:  # --help, or a bad argument already reported in one line
        sys.stderr.write(said.getvalue())
        code = exc.code if isinstance(exc.code, int) else EXIT_USAGE
        if code == EXIT_USAGE and "--json" in argv:   # a script reading the last line still gets one
            import json
            lines = [line for line in said.getvalue().splitlines() if line.strip()]
            print(json.dumps({"ok": False, "error": lines[-1] if lines else "bad arguments"}, ensure_ascii=False))
        return code
    sys.stderr.write(said.getvalue())
    given_options(args)
    _unmark(args)
    from derive import DerivativeError, FormulaError, NetworkError, ShapeError
    from derive.network.examples import ModelError
    from derive.run.limits import TimeLimitExceeded

    from compile.checks.points import TooLarge
    try:
        code = args.func(args) or 0
        try:
            sys.stdout.flush()   # what is still buffered: a write error said here, not at exit
        except OutputError as exc:
            print(f"derivax: {exc.strerror}", file=sys.stderr)
            _discard_output()
            return code or 1
        return code
    except OutputError as exc:   # before BrokenPipeError's handler: an OSError too, but no reader that left
        print(f"derivax: {exc.strerror}", file=sys.stderr)
        _discard_output()
        return 1
    except (ModelError, NetworkError, FormulaError, DerivativeError, ShapeError, TimeLimitExceeded) as exc:
        print(f"derivax: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyError as exc:  # a name asked for that does not exist (--param W9): the message says which
        print(f"derivax: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_USAGE
    except TooLarge as exc:
        print(f"derivax: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError as exc:
        print(f"derivax: out of memory ({exc or 'the arrays asked for do not fit'}); use smaller layers "
              "or a smaller batch", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("derivax: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (derivax show | head): nothing more to say
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except SystemExit as exc:
        # rich's console leaves with exit 1 where its reader went away (derivax verify | head), stdout already
        # pointed at /dev/null; the reader's leaving is no finding: 0, as for the text written directly
        if exc.code == 1 and isinstance(exc.__context__, BrokenPipeError):
            return 0
        raise
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback from inside SymPy or JAX
        import os
        if os.environ.get("DERIVAX_DEBUG"):
            raise
        where = f"derivax {args.command}"
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"derivax: {where} failed: {type(exc).__name__}{': ' + text[:300] if text else ''} "
              "(set DERIVAX_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())


def console() -> None:
    """The ``derivax`` command: ``main``, then the process ends with its status, even where a model file left
    a thread or a child process of its own running (Python would wait for a thread, and multiprocessing for its
    processes, after the command is done: a hang; a process started otherwise would outlive derivax): each is
    named and stopped. On a terminal whose encoding lacks the text view's symbols (∂, ₂, ⊙), they are written in
    ASCII (derive.printing.plain)."""
    from derive.printing.plain import install
    for stream in (sys.stdout, sys.stderr):
        install(stream)
    code = main()
    from derive.network.examples import STRAY_THREADS, end_stray_processes
    running = [(path, t) for path, t in STRAY_THREADS if t.is_alive()]
    processes = end_stray_processes()
    if running:
        path, t = running[0]
        print(f"derivax: {path} started a thread ({t.name}) that is still running; it was stopped with derivax",
              file=sys.stderr)
    if processes:
        path = processes[0][0]
        ids = ", ".join(str(pid) for _, pid in processes)
        what = f"a process (pid {ids}) that is" if len(processes) == 1 else f"processes (pids {ids}) that are"
        print(f"derivax: {path} started {what} still running; {'it was' if len(processes) == 1 else 'they were'} "
              "stopped with derivax", file=sys.stderr)
    if running or processes:
        import os
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code if isinstance(code, int) else 1)
    sys.exit(code)

"""Argument types shared by every command: each refuses a bad value with one line that names the
limit and the value asked for (argparse prints it as ``derivax CMD: argument --seed: ...``, exit 2).

Values that begin with ``-`` but are no option (``--loss '-y*log(yhat)'``, a spec ``-2-1``) reach
the parser marked with ``MARK`` (see ``compile.cli.main``) so that argparse does not take them for flags;
the types here and ``unmark`` take the mark off again.
"""
from __future__ import annotations

import re

import argparse
import math

MARK = "\x00"
SEED_MAX = 2**32 - 1       # NumPy and JAX both take seeds below 2^32 without wrapping
SIZE_MAX = 10**6           # examples per batch, points, repeats: far beyond any check on one machine


def _subject(what: str) -> str:
    """The subject of a message: argparse already names the option (``argument --lr: ...``)."""
    return "" if what.startswith("-") else what + " "


def unmark(text: str) -> str:
    return text[len(MARK):] if isinstance(text, str) and text.startswith(MARK) else text


def _int(text: str, what: str) -> int:
    text = unmark(text).strip()
    if len(text) > 40:
        raise argparse.ArgumentTypeError(f"{_subject(what)}must be an integer, not {text[:20]}... "
                                         f"({len(text)} characters)")
    try:
        if "_" in text or not text.lstrip("+-").isascii():  # int() reads 1_0 as 10: nobody means that
            raise ValueError
        return int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{_subject(what)}must be an integer, not {text!r}") from None


def seed(text: str) -> int:
    """A seed: an integer from 0 to 2^32 - 1."""
    v = _int(text, "a seed")
    if not 0 <= v <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"a seed must be from 0 to {SEED_MAX}, not {v}")
    return v


def count(low: int = 1, high: int = SIZE_MAX, what: str = "a count"):
    """An integer in [low, high]."""
    def parse(text: str) -> int:
        v = _int(text, what)
        if not low <= v <= high:
            raise argparse.ArgumentTypeError(f"{_subject(what)}must be from {low} to {high}, not {v}")
        return v
    parse.__name__ = what  # argparse names the type in its own messages
    return parse


def fraction(what: str = "a fraction"):
    """A number from 0 up to (not including) 1: a share of the examples."""
    inner = _finite(what, strict=False)

    def parse(text: str) -> float:
        v = inner(text)
        if v >= 1:
            raise argparse.ArgumentTypeError(f"{_subject(what)}must be from 0 up to 1 (not included), not {v:g}")
        return v
    parse.__name__ = what
    return parse


def number_text(value) -> str:
    """A number for a message, as %g writes it where that is the same number in no more characters than the
    fewest digits that are, else in those digits: 1e-320, not %g's 9.99989e-321 (the same float, as a denormal
    keeps few digits, but read as another number); 1e+300 and 0.1 as %g writes them."""
    short, exact = f"{value:g}", repr(float(value))
    return short if float(short) == value and len(short) <= len(exact) else exact


def positive_float(what: str = "a number"):
    """A finite number > 0 (a learning rate, a tolerance)."""
    return _finite(what, strict=True)


def _finite(what: str, strict: bool):
    bound = "> 0" if strict else ">= 0"

    def parse(text: str) -> float:
        raw = unmark(text).strip()
        try:
            if "_" in raw:  # float() reads 1_0 as 10.0: nobody means that
                raise ValueError
            v = float(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{_subject(what)}must be a number, not {raw[:40]!r}") from None
        if not math.isfinite(v) or v < 0 or strict and v == 0:
            raise argparse.ArgumentTypeError(f"{_subject(what)}must be a finite number {bound}, not {raw[:40]}")
        return v
    parse.__name__ = what
    return parse


MODEL_HELP = "built-in example, file.py[:name], or an inline spec like 2-2:tanh-2:softmax"


INPUT_SIZE_MAX = 99_999    # each size of --input: an image side, a length, channels


def conflicting(pairs, option: str) -> str | None:
    """Why KEY=VALUE pairs given to ``option`` cannot make one dict: a key given twice with two values
    (the same value twice is one setting); None where they can."""
    seen = {}
    for key, value in pairs:
        if key in seen and seen[key] != value:
            return f"{option} {key} is given twice, as {seen[key]} and {value}: give it once"
        seen[key] = value
    return None


class GivenTwice(Exception):
    """A single-valued option given twice with two values: which one is meant cannot be known."""


def _shown(value) -> str:
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        return "x".join(map(str, value))   # an input shape, as it is written
    if isinstance(value, (list, tuple)):
        return " ".join(_shown(v) for v in value)
    if isinstance(value, float):
        return number_text(value)
    return str(unmark(value)) if isinstance(value, str) else str(value)


def _same(a, b) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return unmark(a) == unmark(b) if isinstance(a, str) and isinstance(b, str) else a == b


class _Once(argparse.Action):
    """Mixed into an option's action: a second occurrence with another value raises GivenTwice (the same
    value twice is one setting). What was given is kept on the namespace for the parse it belongs to."""

    SEEN = "_derivax_given"

    def __call__(self, parser, namespace, values, option_string=None):
        given = namespace.__dict__.setdefault(self.SEEN, {})
        name = next((o for o in self.option_strings if o.startswith("--")), self.option_strings[0])
        value = values if self.nargs != 0 else option_string   # --shuffle / --no-shuffle: the flag is the value
        if self.dest in given and not _same(given[self.dest][1], value):
            first_string, first = given[self.dest]
            if self.nargs == 0:
                raise GivenTwice(f"{first_string} and {option_string} are both given: give one")
            raise GivenTwice(f"{name} is given twice, as {_shown(first)} and {_shown(value)}: give it once")
        given[self.dest] = (option_string, value)
        super().__call__(parser, namespace, values, option_string)


def given_once(parser) -> None:
    """Every option of ``parser`` that holds one value (a plain store, a flag, --x/--no-x) refuses to be
    given twice with two values: argparse would keep the last silently. Options that gather their
    occurrences (append: --opt, --names, --param) and positionals are left as they are."""
    for action in parser._actions:
        if not action.option_strings or isinstance(action, _Once):
            continue
        kind = type(action)
        if kind in (argparse._StoreAction, argparse._StoreConstAction, argparse._StoreTrueAction,
                    argparse._StoreFalseAction, argparse.BooleanOptionalAction):
            action.__class__ = type(f"Once{kind.__name__}", (_Once, kind), {})


def given_options(args) -> None:
    """Take the record given_once keeps off the parsed namespace."""
    vars(args).pop(_Once.SEEN, None)


def input_shape(text: str) -> tuple:
    """An input shape as a spec writes it: 28x28x1, 40x1."""
    text = unmark(text)
    parts = text.split("x")
    if not 2 <= len(parts) <= 3 or not all(re.fullmatch(r"[0-9]+", p) and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"an input shape is 2 or 3 positive sizes joined by 'x' (28x28x1, 40x1), "
                                         f"not {text[:40]!r}")
    for p in parts:
        if len(p) > len(str(INPUT_SIZE_MAX)) or int(p) > INPUT_SIZE_MAX:
            shown = p if len(p) <= 12 else f"{p[:6]}... ({len(p)} digits)"
            raise argparse.ArgumentTypeError(f"each size of an input shape must be at most {INPUT_SIZE_MAX}; "
                                             f"{shown} is too large (in {text[:40]!r})")
    return tuple(int(p) for p in parts)


def json_line(record) -> str:
    """``record`` as one line of standard JSON: a number that is not finite (a NaN loss, an infinite
    error) is written null, as JSON has no NaN or Infinity and json.dumps would write tokens that strict
    parsers refuse."""
    import json

    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v
    return json.dumps(clean(record), allow_nan=False)


def model_file(model: str):
    """The .py file a MODEL argument names (``file.py`` or ``file.py:name``), or None."""
    from derive.network.examples import model_path
    path = model_path(model)[0] if isinstance(model, str) else model
    return path if isinstance(path, str) and path.endswith(".py") else None


def unwritable(option: str, out, suffix: str = "") -> str | None:
    """Why ``out`` cannot be written, found before any work is done (a run of minutes would otherwise end
    at its last step on a missing folder): a name with nothing before its extension, an existing folder, a
    folder that does not exist or cannot be written in. None where it can (or there is none)."""
    import os
    if out is None:
        return None
    path = str(out)
    base = os.path.basename(path)
    if not base or base in (".", "..") or (suffix and base.lower() == suffix):
        return f"{option} {path}: needs a file name (such as out{suffix})"
    if os.path.isdir(path):
        return f"{option} {path}: is a folder; give a file name in it"
    from derive.network.examples import file_kind
    kind = file_kind(path)
    if kind in ("a FIFO (a named pipe)", "a socket"):   # opening it to write would wait for a reader, or fail
        return f"{option} {path}: is {kind}, not a file; give the name of a file to write"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"{option} {path}: the folder {folder} does not exist"
    if not os.access(folder, os.W_OK):
        return f"{option} {path}: cannot write in the folder {folder} (permission denied)"
    return None


def written_over_input(option: str, out, inputs) -> str | None:
    """Why writing ``out`` would destroy a file the command reads, or None. ``inputs`` are (what, path)
    pairs: the --data file (or the files of a --data folder), the checkpoint, the model's own source.
    Paths are compared as files (os.path.samefile), so a link or another spelling of the path is caught."""
    import os
    try:
        if out is None or not os.path.exists(out):
            return None
        for what, path in inputs:
            if path is not None and os.path.exists(path) and os.path.samefile(out, path):
                return f"{option} {out}: is {what}; writing it would destroy it (choose another file name)"
    except (OSError, ValueError):
        return None   # a path that cannot be looked up: writing or reading it says so
    return None


def no_parameters(model, name: str, what: str) -> str | None:
    """Why a network cannot be ``what`` (verified, trained): it has no parameters. None when it has some."""
    if model.params:
        return None
    kinds = ", ".join(layer.kind.replace("_", " ") for layer in model.layers)
    return (f"{name} has no parameters (its layers: {kinds}): there is nothing to {what}; add a layer with weights, "
            "such as a Dense or a convolution")


def decay_arguments(parser) -> None:
    """--l2 and --l2-form: weight decay added to a model's loss, in the form a course writes it."""
    parser.add_argument("--l2", type=float, metavar="LAMBDA",
                        help="weight decay λ added to the loss (biases are not decayed)")
    parser.add_argument("--l2-form", choices=["lambda/(2m)", "lambda/2", "lambda"],
                        help="how the decay is written: λ/(2m) ΣW² (default, Ng's course), (λ/2) ΣW² (d2l), "
                             "λ ΣW² (CS231n's reg)")
    parser.add_argument("--reduction", choices=["mean", "sum"],
                        help="J over the batch: the mean (default, J = (1/m) Σ) or the sum (J = Σ, as Bishop's E "
                             "and CS229 write it)")


def model_arguments(parser, convention: bool = True) -> None:
    """MODEL, --loss and (where the command has a choice) --convention: declared once for every command."""
    parser.add_argument("model", help=MODEL_HELP)
    parser.add_argument("--loss", help="ce, bce, mse, svm (the multiclass hinge), or a formula in yhat and y (write --loss=-y*log(yhat) "
                                       "or --loss '-y*log(yhat)' for one that begins with a minus)")
    parser.add_argument("--input", type=input_shape, metavar="HxWxC",
                        help="the input shape of a built-in CNN (cnn): 28x28x1 gives the seed's MNIST network")
    decay_arguments(parser)
    if convention:
        parser.add_argument("--convention", choices=["rows", "columns"], default="rows",
                            help="rows: X is (m, n), Z = X W + b; columns: X is (n, m), Z = W A + b")

"""The explorer's JSON API as plain functions: each takes the request's JSON (already checked for types by
``compile.explore.server``) and returns what the page shows, as JSON-able values. They run in a worker
process (``compile.explore.jobs``), never in the server's: a slow SymPy step or a training run is killed
there without harm, and the server keeps answering.

Every field is checked for its type and length first (``check_fields``), by the server for a request and by
these functions for a call from Python.

A request names its network by *model fields*: ``model`` (a built-in example, an inline spec, or the model
file the server was started with), ``loss`` (a name or a formula in yhat and y, or None), ``edits`` (an
ordered list of changes: a layer's activation, a dense layer inserted or removed) and ``convention``
(rows or columns). Text a user typed is only ever parsed by derivax's own whitelisted parser.

A request that cannot be answered raises :class:`ApiError`, whose ``field`` says which input is at fault
(model, loss, edit:N, param, formula) and ``position`` where in that input's text.
"""
from __future__ import annotations

import dataclasses

MAX_EDITS = 50
MAX_UNITS = 4096
MAX_EPOCHS = 10_000
MAX_TEXT = 2000          # characters in any one text field
# The fields a request may hold, each with its type(s).
FIELDS = {"model": str, "loss": (str, type(None)), "edits": list, "convention": str, "param": str,
          "formula": str, "kind": str, "epochs": int, "data": (str, type(None))}
_TYPE_NAMES = {str: "a text", type(None): "null", list: "a list", int: "a whole number"}


class ApiError(ValueError):
    """A request the page can correct: ``field`` names the input, ``position`` the 0-based character."""

    def __init__(self, message: str, field: str | None = None, position: int | None = None, status: int = 400):
        super().__init__(message)
        self.message, self.field, self.position, self.status = message, field, position, status

    def to_json(self) -> dict:
        return {"message": self.message, "field": self.field, "position": self.position}


def check_fields(fields) -> dict:
    """``fields`` if it is a dict of the known FIELDS, each of its type (or None, as if it were not given) and at
    most MAX_TEXT characters, with every edit an object of texts and whole numbers and a model named; else an
    ApiError naming the field."""
    if not isinstance(fields, dict):
        raise ApiError(f"the request must be an object (a dict) of fields, not {type(fields).__name__}")
    for key, value in fields.items():
        shown = str(key)[:40]
        want = FIELDS.get(key)
        if want is None:   # the name as a field escapes what UTF-8 cannot hold (a lone surrogate), as repr does
            raise ApiError(f"unknown field {shown!r}; the fields are {', '.join(FIELDS)}",
                           shown.encode("utf-8", "backslashreplace").decode("utf-8"))
        if value is not None and (not isinstance(value, want) or isinstance(value, bool)):
            kinds = " or ".join(_TYPE_NAMES[t] for t in (want if isinstance(want, tuple) else (want,)))
            raise ApiError(f"{key} has the wrong type ({type(value).__name__}): it must be {kinds}", key)
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise ApiError(f"{key} is {len(value)} characters long; at most {MAX_TEXT}", key)
    for k, edit in enumerate(fields.get("edits") or []):
        if not isinstance(edit, dict) or not all(isinstance(v, (str, int, type(None))) and not isinstance(v, bool)
                                                 for v in edit.values()):
            given = "one holding other values" if isinstance(edit, dict) else \
                "None" if edit is None else f"a {type(edit).__name__}"
            raise ApiError(f"each edit is an object of texts and whole numbers (op, layer, value, ...), not {given}",
                           f"edit:{k}")
        if any(isinstance(v, str) and len(v) > MAX_TEXT for v in edit.values()):
            raise ApiError(f"edit {k} holds a text longer than {MAX_TEXT} characters", f"edit:{k}")
    if not isinstance(fields.get("model"), str) or not fields["model"].strip():
        raise ApiError("name a model: a built-in example (xor, mlp, cnn, ...) or an inline spec such as "
                       "2-3:tanh-1:sigmoid", "model")
    return fields


def _user_error(exc, field):
    """An ApiError for ``exc`` raised while reading ``field``: a formula's position where it names one."""
    from derive.formula.parse import FormulaError
    from derive.network.examples import ModelError
    if isinstance(exc, FormulaError):
        return ApiError(" ".join(exc.message.split()), field, exc.col)
    if isinstance(exc, ModelError) and exc.position is not None:
        return ApiError(" ".join(exc.message.split()), field, exc.position)
    return ApiError(" ".join(str(exc).split()), field)


USER_ERRORS = ()   # filled on first use: the exception classes a bad declaration raises


def _user_errors() -> tuple:
    global USER_ERRORS
    if not USER_ERRORS:
        from derive import DerivativeError, FormulaError, NetworkError, ShapeError
        from derive.network.examples import ModelError
        USER_ERRORS = (ModelError, NetworkError, FormulaError, DerivativeError, ShapeError, ValueError, TypeError)
    return USER_ERRORS


def network(fields: dict, files=()) -> tuple:
    """(name, Network, convention) for the model fields, with each edit applied in order. ``files`` are the
    model files that may be opened (the one the server was started with), or a dict of networks by name
    (handed to ``explore`` from Python): a request naming any other .py file is refused, since opening one
    runs it."""
    from derive.network.examples import resolve
    from derive.network.network import Dense, Network
    check_fields(fields)
    model = fields["model"]
    given = files if isinstance(files, dict) else {}   # networks handed to explore() from Python, by name
    if model in given:
        name, net = model, given[model]
    else:
        if ".py" in model and not _allowed_file(model, files):
            raise ApiError("a model file is opened from the command line (derivax explore FILE.py), not from the "
                           "page: name a built-in example or type an inline spec such as 2-3:tanh-1:sigmoid", "model")
        try:
            name, net = resolve(model)
        except _user_errors() as exc:
            raise _user_error(exc, "model") from None
    layers = list(net.layers)
    edits = fields.get("edits") or []
    if len(edits) > MAX_EDITS:
        raise ApiError(f"at most {MAX_EDITS} edits", "edits")
    several = [(i, layer, kinds) for i, (layer, kinds) in enumerate(net.built_as() if edits else [], 1)
               if len(kinds) != 1]
    if several:
        i, layer, kinds = several[0]
        raise ApiError(f"{name}'s layer {i} ({type(layer).__name__}) is built as {len(kinds)} layers "
                       f"({', '.join(k.replace('_', ' ') for k in kinds)}), which the page cannot edit one by one: "
                       "edit its layers in a model file", "edit:0")
    for k, edit in enumerate(edits):
        field = f"edit:{k}"
        op = edit.get("op")
        try:
            if op == "activation":
                i = _layer(edit.get("layer"), layers, field)
                layer = layers[i]
                if "activation" not in {f.name for f in dataclasses.fields(layer)}:
                    raise ApiError(f"layer {i + 1} ({type(layer).__name__}) has no activation to change", field)
                layers[i] = dataclasses.replace(layer, activation=_text(edit.get("value"), "the activation", field))
            elif op == "insert":
                after = edit.get("after")
                if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= len(layers):
                    raise ApiError(f"insert after layer 0 (the input) to {len(layers)}, not {after!r}", field)
                units = edit.get("units")
                if not isinstance(units, int) or isinstance(units, bool) or not 1 <= units <= MAX_UNITS:
                    raise ApiError(f"a dense layer's units must be a whole number from 1 to {MAX_UNITS}, not {units!r}",
                                   field)
                layers.insert(after, Dense(units, _text(edit.get("activation") or "identity", "the activation", field)))
            elif op == "remove":
                i = _layer(edit.get("layer"), layers, field)
                if len(layers) == 1:
                    raise ApiError("the network's only layer cannot be removed", field)
                del layers[i]
            else:
                raise ApiError(f"unknown edit {op!r}: activation, insert or remove", field)
            # With a loss asked for, the edited layers are checked under mse, which takes any output: whether the
            # output suits a log loss (ce, bce) is the asked loss's question, checked below with its field.
            net = Network(net.n_inputs, layers, loss=net.loss if fields.get("loss") in (None, "") else "mse", l2=net.l2,
                          name=net.name, steps=net.steps, l2_form=net.l2_form)
        except ApiError:
            raise
        except _user_errors() as exc:
            raise _user_error(exc, field) from None
    loss = fields.get("loss")
    if loss not in (None, ""):
        try:
            net = Network(net.n_inputs, layers, loss=loss, l2=net.l2, name=net.name, steps=net.steps,
                          l2_form=net.l2_form)
        except _user_errors() as exc:
            raise _user_error(exc, "loss") from None
    convention = fields.get("convention") or "rows"
    if convention not in ("rows", "columns"):
        raise ApiError(f"the convention is rows or columns, not {convention!r}", "convention")
    edited = bool(edits) or loss not in (None, "")
    return (f"{name} (edited)" if edited else name), net, convention


def _allowed_file(model: str, files) -> bool:
    """Whether the file ``model`` names, as ``resolve`` reads it (``derive.network.examples.model_path``), is
    one of ``files``, compared by resolved path: what a request names is run only if it is that very file."""
    from pathlib import Path

    from derive.network.examples import model_path

    def where(text):
        try:
            return Path(model_path(text.strip())[0]).resolve()
        except (OSError, ValueError, RuntimeError):
            return None
    wanted = where(model)
    allowed = {where(f) for f in (() if isinstance(files, dict) else files) if isinstance(f, str)}
    return wanted is not None and wanted in allowed


def check_job(kind: str, fields: dict) -> None:
    """ApiError naming the field when a job's own fields are out of range: a train job's ``epochs`` (1 to
    MAX_EPOCHS) and ``data`` (a built-in data set, or None for the one that fits)."""
    if kind != "train":
        return
    epochs = fields.get("epochs")
    if epochs is not None and (not isinstance(epochs, int) or isinstance(epochs, bool)
                               or not 1 <= epochs <= MAX_EPOCHS):
        shown = f"{epochs!r}" if len(str(epochs)) <= 40 else f"a number of {len(str(epochs))} digits"
        raise ApiError(f"epochs: a whole number from 1 to {MAX_EPOCHS}, not {shown}", "epochs")
    data = fields.get("data")
    if data not in (None, ""):
        from compile.train.data import BUILTINS
        if data not in BUILTINS:
            raise ApiError(f"the page trains on a built-in data set ({', '.join(BUILTINS)}), not {data[:40]!r}",
                           "data")


def _layer(value, layers, field) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= len(layers):
        raise ApiError(f"no layer {value!r}: the layers are 1 to {len(layers)}", field)
    return value - 1


def _text(value, what, field) -> str:
    if value is not None and not isinstance(value, str):
        raise ApiError(f"{what} must be a text, a name (tanh, relu, ...) or a formula in z, not {value!r}", field)
    if not value or not value.strip():
        raise ApiError(f"{what} is empty: type a name (tanh, relu, ...) or a formula in z", field)
    return value.strip()


def derive_page(fields: dict, files=()) -> dict:
    """POST /api/derive: the derivation's record (``derive.printing.page``), its long equations broken for the
    page's column (``compile.explore.pages.with_breaks``), and the fields as applied."""
    from compile.explore.pages import with_breaks
    from derive.printing.page import record
    name, net, convention = network(fields, files)
    try:
        d = net.derive(convention)
        rec = with_breaks(record(d, name))
    except _user_errors() as exc:
        raise _user_error(exc, "model") from None
    rec["network_layers"] = [repr(l) for l in net.layers]
    return {"record": rec, "network": {k: fields.get(k) for k in ("model", "loss", "edits", "convention")}}


def check(fields: dict, files=()) -> dict:
    """POST /api/check: ``check``'s verdict on a formula the user typed for ``param``."""
    from compile.checks.formula import CheckError, check_formula
    _, net, convention = network(fields, files)
    param, formula = fields.get("param"), fields.get("formula")
    if not isinstance(param, str) or not param.strip():
        raise ApiError("name what the formula computes: W1, b1, delta2, dZ1, ...", "param")
    if not isinstance(formula, str) or not formula.strip():
        raise ApiError("type a formula, e.g. A1.T @ (A2 - Y) / m", "formula")
    try:
        result = check_formula(net, param.strip(), formula, convention)
    except CheckError as exc:
        raise ApiError(" ".join(str(exc).split()), "param") from None
    except KeyError as exc:
        raise ApiError(str(exc.args[0] if exc.args else exc), "param") from None
    except _user_errors() as exc:
        raise _user_error(exc, "formula") from None
    return {"ok": bool(result.ok), "text": result.render()}


def verify(fields: dict, files=(), emit=None) -> dict:
    """A verify job: every derived gradient against jax.grad, finite differences and, for a small network,
    sympy.diff of the per-weight expansion. ``problem`` says why nothing could be compared (no rows then)."""
    from compile.checks.verify import verify as run_verify
    name, net, convention = network(fields, files)
    if emit:
        emit({"note": "comparing every gradient with jax.grad, finite differences and sympy.diff"})
    report = run_verify(net, convention, name=name)
    rows = [{"param": p, "reference": key, "max_rel_err": float(c.max_rel_err),
             "ok": None if c.inconclusive else bool(c.ok)}   # None: the reference cannot tell here
            for p, r in report.params.items() for key, c in r.comparisons.items()]
    # problem: why nothing could be compared (values that overflow float64), as `derivax verify` says it; else None
    return {"ok": bool(report.ok), "rows": rows, "note": f"sympy.diff: {report.scalar}",
            "problem": report.problem or None}


def train(fields: dict, files=(), emit=None) -> dict:
    """A train job: ``epochs`` epochs on ``data`` (default: the example's own, else the built-in data set
    whose inputs fit), each epoch's figures emitted as it ends."""
    from compile.train.data import BUILTINS, DataError, load
    from compile.train.train import compile_trainer, fit
    from derive.network.examples import EXAMPLES
    name, net, convention = network(fields, files)
    check_job("train", fields)
    epochs = fields.get("epochs") or 5
    model = net.build(convention)
    source = fields.get("data") or (fields.get("model") if fields.get("model") in BUILTINS else None)
    if source is None:
        source = next((b for b in ("xor", "mlp", "cnn", "cnn1d") if _fits(b, net, model)), None)
        if source is None:
            raise ApiError(f"no built-in data set fits {model.size_text}: training from the page uses a built-in "
                           f"data set ({', '.join(BUILTINS)})", "data")
    if source not in BUILTINS:
        raise ApiError(f"the page trains on a built-in data set ({', '.join(BUILTINS)}), not {source!r}", "data")
    try:
        data = load(source, n_inputs=net.n_inputs, n_outputs=model.sizes[-1],
                    regression=model.loss_name not in ("ce", "bce", "svm"),
                    steps=int(model.Y.shape[1]) if model.Y.rank == 3 else None)
    except DataError as exc:
        raise ApiError(" ".join(str(exc).split()), "data") from None
    base = fields.get("model")
    cfg = {"optimizer": "adam", "lr": 0.01, "batch_size": 32, **(EXAMPLES[base].train if base in EXAMPLES else {})}
    if emit:
        emit({"note": f"compiling the train step; data: {data.description}"})
    trainer = compile_trainer(net, cfg["optimizer"], cfg["lr"], convention=convention)
    hist = fit(trainer, data.x_train, data.y_train, epochs, min(cfg["batch_size"], len(data.x_train)),
               x_test=data.x_test, y_test=data.y_test, progress=False, classify=data.kind == "classification",
               on_epoch=emit)
    return {"epochs": hist.epochs, "seconds": round(hist.seconds, 3), "data": data.description,
            "final_loss": hist.train_loss[-1] if hist.train_loss else None,
            "test_accuracy": hist.test_accuracy[-1] if hist.test_accuracy else None, "stopped": hist.stopped}


def scalar(fields: dict, files=(), emit=None) -> dict:
    """A scalar job: the per-neuron equations of one example, the per-weight gradients and the exact check
    (matrix form expanded against sympy.diff), for a network small enough to expand weight by weight; its long
    equations broken for the page's column as the derivation's are."""
    from compile.explore.pages import breaks
    from derive.printing.page import equation
    from derive.scalar.expand import ScalarTooLarge, scalar_view
    from derive.scalar.render import rows, verdict_lines
    _, net, convention = network(fields, files)
    if emit:
        emit({"note": "expanding every weight and checking against sympy.diff"})
    try:
        view = scalar_view(net.derive(convention))
    except ScalarTooLarge as exc:
        raise ApiError(" ".join(str(exc).split()), "model") from None
    sections = []
    for (title, eqs), (_, feqs) in zip(rows(view, "latex"), rows(view, "formula")):
        sections.append({"title": title, "lines": [
            {**equation(l, r, "", f"{fl} = {fr}"), "id": f"scalar-{len(sections)}-{k}", "click": None}
            for k, ((l, r), (fl, fr)) in enumerate(zip(eqs, feqs))]})
    return {"ok": bool(view.ok), "sections": sections, "verdict": verdict_lines(view),
            "breaks": breaks(line for sec in sections for line in sec["lines"])}


def _fits(builtin, net, model) -> bool:
    from compile.train.data import BUILTIN_SHAPES
    shape = {"xor": (2,), "mlp": (64,)}.get(builtin) or BUILTIN_SHAPES.get(builtin)
    outputs = {"xor": 2, "mlp": 10, "cnn": 10, "cnn1d": 10}[builtin]
    return tuple(model.input_shape) == tuple(shape) and model.sizes[-1] in (outputs, 1 if builtin == "xor" else -1)


def examples() -> dict:
    """GET /api/examples."""
    from derive.network.examples import EXAMPLES
    return {"examples": [{"name": k, "summary": e.summary} for k, e in EXAMPLES.items()]}


CALLS = {"derive": derive_page, "check": check, "verify": verify, "train": train, "scalar": scalar}
STREAMING = {"verify", "train", "scalar"}   # these take ``emit``

"""Running a user's backward function so that nothing it does can stop or fool the check.

A function in a file runs in a child Python process (POSIX), started as ``python -P _sandbox.py``:
it imports NumPy, never JAX or derivax, and serves every call of one check. Once it has started,
loading the file and each call run under a time limit; whatever happens (an exception,
``sys.exit``, ``os._exit``, a signal, a hang, a memory blow-up) becomes a reply, or the parent sees
the child end or time out and says so. The child's stdin is empty and its stdout goes to stderr, so
a print, however large, can neither block on a pipe nobody reads nor mix with the report. The data
it may allocate is limited (``RLIMIT_DATA``: it counts what is allocated, not the address space
that NumPy, OpenBLAS or a GPU runtime only reserve, which ``RLIMIT_AS`` would count and fail on).
The child leads a session of its own, and the code may signal only the processes of that session:
os.kill or os.killpg aimed at another process or group (derivax, whose pid is os.getppid() there)
raises PermissionError with a sentence the report shows, as does looking up libc's kill through
ctypes; on Linux a seccomp filter, inherited by whatever the code starts, also makes the kernel
refuse (EPERM) a signal to derivax's process or group, or to every process, however it is sent (a
``kill`` command run through os.system, a raw system call).

Requests and replies travel on two pipes of their own: a frame is its length, a JSON header, then
the raw float64 bytes of the arrays the header points to. The child turns what the function returned
into that plain form (names -> float64 arrays, or a sentence saying what is wrong with the value),
so the parent never unpickles or calls anything the user defined.

A callable given from Python runs in this process (``InProcess``): its exceptions, ``SystemExit`` and
``KeyboardInterrupt`` are caught and a time limit applies (``derive.run.limits``, on any thread), but
``os._exit``, a crash in native code or a loop in C code cannot be stopped there.
"""
from __future__ import annotations

import errno
import functools
import inspect
import json
import os
import select
import signal
import struct
import subprocess
import sys
import time
import traceback
from pathlib import Path

DEFAULT_TIMEOUT = 10.0    # seconds per call (and for loading the file)
MAX_TIMEOUT = 600.0       # the longest time limit taken: a backward pass that needs ten minutes a call is stuck
MAX_VALUES = 10**6        # a returned array larger than this is not sent back: no gradient here is
MAX_FRAME = 2**30         # bytes in one reply: more is a broken child, not a gradient
MAX_TEXT = 300            # characters of an exception message kept
STARTUP_LIMIT = 60.0      # seconds for the child's Python and NumPy to start, before any user code
LONGEST = 10**8           # seconds: a longer --timeout is this one (timers take no larger values)
_FRAME_LEN = 8
# The status of a child whose channel broke under it (the user's code closed its pipes, or replaced
# what it answers with): the parent says so instead of blaming an exit. A user's os._exit(125) reads
# the same, as any status could.
CHANNEL_BROKEN = 125
# The channel's own references, taken when this module is imported, before any user code runs: a
# file that sets os.write = None, json.dumps = None or sys.modules["numpy"] = None cannot break them.
_write, _read, _dumps, _loads, _exit = os.write, os.read, json.dumps, json.loads, os._exit
# and those the guard on signals asks (``refusal``): a file that replaces os.getsid cannot fool it
_getpid, _getpgid, _getsid, _Signals = os.getpid, os.getpgid, os.getsid, signal.Signals
_np = None


def _readings():
    """compile/checks/readings.py, loaded from its path: the child imports nothing of the package by name."""
    module = sys.modules.get("_derivax_readings")
    if module is None:
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            "_derivax_readings", os.path.join(os.path.dirname(os.path.abspath(__file__)), "readings.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules["_derivax_readings"] = module
        spec.loader.exec_module(module)
    return module


def _numpy():
    global _np
    if _np is None:
        import numpy
        _np = numpy
    return _np


def memory_limit() -> int:
    """Bytes of data the child may allocate: half of this machine's memory, at most 8 GiB."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = 8 * 2**30
    return min(total // 2, 8 * 2**30)


class LoadError(ValueError):
    """The file did not load, or does not define the function; ``stopped`` says what stopped it."""

    def __init__(self, message: str, stopped: str):
        super().__init__(message)
        self.stopped = stopped


class ProtocolError(Exception):
    """A frame that is not what the other side sends."""


# ---- frames: length, JSON header, float64 (or int64) bytes ----

def encode(doc) -> bytes:
    np = _numpy()
    blobs, offset = [], 0

    def plain(v):
        nonlocal offset
        if isinstance(v, np.ndarray):
            whole = v.dtype.kind in "iu"   # integers (an embedding's indices, class labels) stay integers
            a = np.ascontiguousarray(v, dtype="<i8" if whole else "<f8")
            blobs.append(a.tobytes())
            ref = {"__array__": offset, "shape": list(a.shape)}
            if whole:
                ref["dtype"] = "i8"
            offset += a.nbytes
            return ref
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v
    head = _dumps(plain(doc)).encode()
    body = len(head).to_bytes(_FRAME_LEN, "little") + head + b"".join(blobs)
    return len(body).to_bytes(_FRAME_LEN, "little") + body


def decode(body: bytes):
    np = _numpy()
    try:
        n = int.from_bytes(body[:_FRAME_LEN], "little")
        head = _loads(body[_FRAME_LEN:_FRAME_LEN + n])
        data = memoryview(body)[_FRAME_LEN + n:]

        def arrays(v):
            if isinstance(v, dict) and "__array__" in v:
                shape = tuple(int(d) for d in v["shape"])
                count = int(np.prod(shape, dtype=np.int64))
                start = int(v["__array__"])
                if min(shape, default=0) < 0 or start < 0 or start + 8 * count > len(data):
                    raise ProtocolError("an array outside the frame")
                kind = "<i8" if v.get("dtype") == "i8" else "<f8"
                return np.frombuffer(data, kind, count, start).reshape(shape).copy()
            if isinstance(v, dict):
                return {k: arrays(x) for k, x in v.items()}
            if isinstance(v, list):
                return [arrays(x) for x in v]
            return v
        return arrays(head)
    except (ValueError, TypeError, KeyError, RecursionError, ProtocolError) as exc:
        raise ProtocolError(f"a malformed frame ({type(exc).__name__})") from None


def write_frame(fd: int, doc) -> None:
    view = memoryview(encode(doc))
    while view:
        view = view[_write(fd, view):]


def read_frame(fd: int, deadline: float | None = None):
    """The next frame from ``fd``; TimeoutError after ``deadline`` (time.monotonic), EOFError at end."""
    size = int.from_bytes(_read_exact(fd, _FRAME_LEN, deadline), "little")
    if size > MAX_FRAME:
        raise ProtocolError(f"a frame of {size} bytes")
    return decode(_read_exact(fd, size, deadline))


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            if not select.select([fd], [], [], min(left, 3600))[0]:
                continue  # waits longer than an hour go round again: select takes no huge timeouts
        chunk = _read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


# ---- what the function did, as plain data (run in the child, or in process for a callable) ----

def one_line(text, limit: int = MAX_TEXT) -> str:
    try:
        text = str(text)
    except Exception as exc:  # noqa: BLE001 - a user's exception whose __str__ raises
        text = f"<its str() raised {type(exc).__name__}>"
    text = " ".join(text.split())
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # no lone surrogates
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _a(type_name: str) -> str:
    return ("an " if type_name[:1].lower() in "aeiou" else "a ") + type_name


def _where(exc: BaseException, user_file: str | None) -> str:
    """' (line N of file.py: source)' for the last frame of the user's file in exc's traceback."""
    if isinstance(exc, SyntaxError) and exc.lineno:
        text = f": {exc.text.strip()}" if exc.text and exc.text.strip() else ""
        return f" (line {exc.lineno} of {Path(exc.filename or '?').name}{text})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    if user_file is None and frames:
        user_file = frames[0].filename  # the function's own file: the first frame past this module's
    mine = [f for f in frames if user_file and _same_file(f.filename, user_file)]
    if not mine:
        return ""
    f = mine[-1]
    line = f.line.strip() if f.line else ""
    return f" (line {f.lineno} of {Path(f.filename).name}" + (f": {one_line(line, 160)})" if line else ")")


def _index_names(line: str) -> set:
    """The names the indices of a line's subscripts are made of (``y`` in ``d[range(N), y.astype(int)]``)."""
    import ast
    import re
    try:
        tree = ast.parse(line.strip().rstrip("\\").rstrip(":") or "pass")
    except SyntaxError:   # part of a longer statement: the names inside its brackets
        return {name for part in re.findall(r"\[([^\[\]]*)\]", line) for name in re.findall(r"[A-Za-z_]\w*", part)}
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            out |= {n.id for n in ast.walk(node.slice) if isinstance(n, ast.Name)}
    return out


def _is_data(value, data) -> bool:
    """Whether ``value`` is one of the arrays in ``data`` (x and y as handed), a view of one, or one of them cast
    (y.astype(int))."""
    np = _numpy()
    for d in data:
        if value is d:
            return True
        if not isinstance(value, np.ndarray) or not isinstance(d, np.ndarray):
            continue
        try:
            if np.shares_memory(value, d):
                return True
            if value.shape == d.shape and value.dtype != object and (
                    np.array_equal(value, d) or np.array_equal(value, d.astype(value.dtype))):
                return True
        except (TypeError, ValueError, MemoryError):
            continue
    return False


def indexes_data(exc: BaseException, user_file: str | None, data) -> bool:
    """Whether an exception raised indexing (IndexError, KeyError, TypeError) came from an index made of the
    inputs or targets the code was handed: a name in the failing line's subscripts, in the user's last frame,
    that holds x or y (or a view or a cast of one). A mask of the wrong shape (dA1[Z2 <= 0]) or a key the code
    spelled wrong (grads["dA" + str(L - 1)]) is no such error."""
    if not isinstance(exc, (IndexError, KeyError, TypeError)) or isinstance(exc, _readings().UnknownParameter):
        return False
    tb, frame, lineno, other = exc.__traceback__, None, None, None
    ours = {__file__, getattr(_readings(), "__file__", None)}
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if user_file is not None and _same_file(name, user_file):
            frame, lineno = tb.tb_frame, tb.tb_lineno
        elif name not in ours and "site-packages" not in name and not name.startswith("<"):
            other = (tb.tb_frame, tb.tb_lineno)   # a module of the user's beside the file (a package's layers.py)
        tb = tb.tb_next
    if frame is None and other is not None:
        frame, lineno = other
    if frame is None:
        return False
    import linecache
    names = _index_names(linecache.getline(frame.f_code.co_filename, lineno, frame.f_globals))
    for name in names:
        value = frame.f_locals.get(name, frame.f_globals.get(name))
        if value is not None and _is_data(value, data):
            return True
    return False


def _unpacked_keys(exc: BaseException, names) -> str | None:
    """The sentence for code that unpacked the parameters' dict into its keys (W1, b1, W2, b2 = params, where params
    is the dict derivax hands: a dict unpacks into its keys), read off the frames the exception passed through: one
    whose local names hold every parameter's name as a string, as unpacking the dict leaves them. None where no
    frame does."""
    tb, hit = exc.__traceback__, None
    ours = {__file__, getattr(_readings(), "__file__", None)}
    while tb is not None and names:
        frame = tb.tb_frame
        if frame.f_code.co_filename not in ours:
            held = [(k, v) for k, v in list(frame.f_locals.items()) if isinstance(v, str) and v in names]
            if {v for _, v in held} == set(names):
                hit = (frame, tb.tb_lineno, held)
        tb = tb.tb_next
    if hit is None:
        return None
    frame, lineno, held = hit
    shown = ", ".join(f"{k} = {v!r}" for k, v in held[:6])
    return (f"; the parameters' dict was unpacked into its keys: in {frame.f_code.co_name} (line {lineno} of "
            f"{Path(frame.f_code.co_filename).name}) {shown}, strings where the arrays belong (a dict unpacks into its "
            f"keys). Index it by name (params[{names[0]!r}]), or unpack it (a, b, ... = params) in the function "
            f"derivax calls, or in one it hands params to unchanged, which is then handed the list [{', '.join(names)}] "
            "in the declared order")


def _same_file(a: str, b: str) -> bool:
    try:
        return a == b or Path(a).resolve() == Path(b).resolve()
    except (OSError, ValueError):
        return False


def stopped_by(exc: BaseException, user_file: str | None, doing: str = "", nowhere: str = "") -> dict:
    """The reply for an exception that ended the function: what stopped it, and a sentence (ending in
    ``nowhere`` when no line of the user's file is in the traceback)."""
    where = _where(exc, user_file) or nowhere
    if isinstance(exc, SystemExit):
        code = exc.code
        status = (f"status {code}" if isinstance(code, int) else "status 0" if code is None
                  else f"status 1 and the message {one_line(code, 80)!r}")
        return {"status": "stopped", "stopped": "exit",
                "message": f"{doing}exited with {status} through sys.exit{where}"}
    kind = ("KeyboardInterrupt" if isinstance(exc, KeyboardInterrupt)
            else "MemoryError" if isinstance(exc, MemoryError) else "exception")
    message = one_line(exc.msg if isinstance(exc, SyntaxError) else exc)  # its place is in `where`
    text = f"{doing}raised {getattr(exc, 'shown_as', type(exc).__name__)}" + (f": {message}" if message else "") + where
    return {"status": "stopped", "stopped": kind, "message": text}


def _plain_array(value):
    """(float64 array, narrow) or (None, sentence): one returned gradient as plain data."""
    np = _numpy()
    if isinstance(value, _readings().Misshapen):   # matched to its parameter, in a shape the code cannot update it with
        return None, value.message
    if value is None or isinstance(value, (str, bytes)):
        return None, f"{'None' if value is None else _a(type(value).__name__)}, not an array of numbers"
    try:
        arr = np.asarray(_readings().plain(value))
    except Exception as exc:  # noqa: BLE001 - whatever is not array-like is the user's value
        return None, f"not an array ({type(exc).__name__}: {one_line(exc, 120)})"
    if arr.dtype.kind == "c":
        return None, f"complex values (dtype {arr.dtype}): the gradient of a real loss is real"
    if arr.dtype.kind == "O" and arr.ndim == 0:
        return None, f"{_a(type(value).__name__)}, not an array of numbers"
    if arr.dtype.kind == "b":
        return None, ("booleans (dtype bool), not numbers: a comparison's True/False came back where the gradient's "
                      "values belong")
    if arr.dtype.kind not in "fiu":
        return None, f"not an array of real numbers (dtype {arr.dtype})"
    if arr.size > MAX_VALUES:
        return None, f"wrong shape: found {arr.shape}, {arr.size} values"
    # the float dtype a narrow result came back in (float32, float16): compared at that dtype's precision
    narrow = str(arr.dtype) if arr.dtype.kind == "f" and arr.dtype.itemsize < 8 else ""
    return np.array(arr, dtype=np.float64), narrow


def _key_text(key) -> str:
    if isinstance(key, str):
        return one_line(key, 60)
    try:
        shown = one_line(repr(key), 60)
    except Exception:  # noqa: BLE001 - a key whose repr fails is still a key that is no parameter
        shown = "?"
    return f"{shown} ({_a(type(key).__name__)}, not a str)"


def plain_result(out, names, stage: list, optional=(), read=None) -> dict:
    """The reply for a value the function returned; ``stage[0]`` says which step is running, so that
    an exception raised by the value's own methods can be told. ``read`` ({key: name}) holds the keys the code
    read the parameters under where they are not derivax's names (params["w1"] for W1): a gradient returned
    under a key that spells its parameter only loosely is read as that parameter's where the code spelled the
    parameter so itself, and is a wrong key otherwise (``_loose_key_problem``)."""
    if not isinstance(out, dict):
        shown = "None" if out is None else _a(type(out).__name__)
        if inspect.iscoroutine(out):
            out.close()  # never awaited: closed here, so that Python does not warn about it
            shown += " (an async def function: it must return the dict itself)"
        expected = ", ".join(repr(n) + ": ..." for n in names)
        return {"status": "stopped", "stopped": "result",
                "message": f"returned {shown}, not a dict of gradients ({{{expected}}})"}
    values, narrow, problems, spelled, spelled_for = {}, {}, {}, [], {}
    loose, misspelled = None, []
    for name in names:
        stage[0] = f"{name!r} in result"
        key = name
        if name not in out:
            for key in key_spellings(name, names):
                stage[0] = f"{key!r} in result"
                if key in out:
                    break
            else:
                if loose is None:
                    stage[0] = "result.keys()"
                    loose = _loose_keys(list(out.keys()), names)
                if name not in loose:
                    continue
                key = loose[name]
                wrong = _loose_key_problem(key, name, read or {})
                if wrong is not None:   # said at its parameter: the code's own update would not find it
                    problems[name] = wrong
                    misspelled.append(key)
                    continue
            spelled.append(key)
            spelled_for[key] = name
        values, narrow, problems = _take(out, name, key, stage, values, narrow, problems)
    for name in optional:   # intermediate adjoints (dZ2, dxhat2, ...): checked when returned
        stage[0] = f"{name!r} in result"
        if name in out:
            values, narrow, problems = _take(out, name, name, stage, values, narrow, problems)
    stage[0] = "result.keys()"
    extra, extra_shapes = [], {}
    for key in out.keys():
        if not (isinstance(key, str) and (key in names or key in spelled or key in misspelled or key in optional)):
            extra.append(_key_text(key))
            if isinstance(key, str):   # its shape, to tell which parameter's gradient it may hold
                stage[0] = f"result[{key!r}]'s shape"
                extra_shapes[extra[-1]] = _shape_of(out[key])
            if len(extra) >= 20:
                break
    half = [n for n, dtype in narrow.items() if _numpy().dtype(dtype).itemsize < 4]
    return {"status": "returned", "values": values, "narrow": list(narrow), "half": half,
            "dtypes": sorted(set(narrow.values())), "problems": problems, "extra": extra,
            "extra_shapes": {k: v for k, v in extra_shapes.items() if v is not None},
            "spelled": spelled, "spelled_for": spelled_for}


def _shape_of(value):
    """The shape of an array-like value as a list of ints, or None (a value without one, or one that fails)."""
    try:
        shape = _numpy().shape(_readings().plain(value))
        return [int(d) for d in shape] if isinstance(value, (list, tuple)) or hasattr(value, "shape") else None
    except Exception:  # noqa: BLE001 - whatever cannot tell its shape is named as a key alone
        return None


def _plain_key(key: str) -> str:
    return key.replace("_", "").lower()


def _loose_keys(keys, names) -> dict:
    """{parameter name: the returned key} for keys that spell a name, or d + a name, differently only in
    case and underscores (w1, dw_1, dW_1 for W1), where the key fits that one name and the name that one key."""
    claims = {}
    for key in keys:
        if not isinstance(key, str):
            continue
        fits = [n for n in names if _plain_key(key) in (_plain_key(n), "d" + _plain_key(n))]
        if len(fits) == 1:
            claims.setdefault(fits[0], []).append(key)
    return {n: ks[0] for n, ks in claims.items() if len(ks) == 1}


def _loose_key_problem(key: str, name: str, read: dict):
    """None where ``key``, a returned key that spells parameter ``name``'s gradient only loosely (w1, dw1, dW_1 for
    W1), is the code's own spelling of the parameter, read as params[k] (``read``: {k: name}) and returned as k or
    d + k; else the sentence naming the key and the one the course's update reads (params['b2'] -= lr *
    grads['db2'] finds no 'dB2': keys are case-sensitive)."""
    own = [k for k, n in read.items() if n == name and isinstance(k, str)]
    if any(key in (k, "d" + k) for k in own):
        return None
    spelled = own[0] if len(own) == 1 else name
    want = "d" + spelled if _plain_key(key) == "d" + _plain_key(name) else spelled
    how = ("only in case" if key.lower() == want.lower() else "only in underscores" if key.replace("_", "") ==
           want.replace("_", "") else "only in case and underscores")
    return (f"wrong key: returned as {key!r}, which differs from {want!r} {how}; the update params[{spelled!r}] -= "
            f"lr * grads[{want!r}] would not find it (a dict's keys match exactly): return it as {want!r}")


def _take(out, name, key, stage, values, narrow, problems):
    """result[key] as a float64 array under ``name``, or the problem with it."""
    stage[0] = f"result[{key!r}]"
    value = out[key]
    stage[0] = f"result[{name!r}] as an array"
    arr, flag = _plain_array(value)
    if arr is None:
        problems[name] = flag
    else:
        values[name] = arr
        if flag:
            narrow[name] = flag
    return values, narrow, problems


def clip_level(arr):
    """(c, how many entries reach it) when the largest |entry| of a gradient is a round number c (code that
    clips its gradients, as a char-rnn's np.clip(dparam, -5, 5)); None otherwise."""
    import math
    try:
        flat = [abs(float(v)) for v in _numpy().asarray(arr, dtype=float).reshape(-1).tolist()]
    except Exception:  # noqa: BLE001 - what cannot be read so is no clipped gradient
        return None
    if len(flat) < 2 or not all(math.isfinite(v) for v in flat):
        return None
    c = max(flat)
    # np.clip's bounds are small round numbers (1, 5, 100); a huge float is "round" to two places by the spacing
    # of doubles alone (1e300 · g for any g), and no clip
    return (c, flat.count(c)) if 0.01 <= c <= CLIP_MAX and c == round(c, 2) else None


CLIP_MAX = 1e6   # the largest bound a clip is read at


def key_spellings(name: str, names) -> list:
    """Other keys a gradient may come under: the courses' dW1 for W1, and, for a name whose letters no
    other parameter shares, those letters alone as char-rnn writes them (Wxh or dWxh for Wxh1)."""
    import re
    out = ["d" + name]
    match = re.fullmatch(r"([A-Za-z]+?)(\d+)", name)
    if match and sum(1 for n in names if re.fullmatch(re.escape(match.group(1)) + r"\d+", n)) == 1:
        out += [match.group(1), "d" + match.group(1)]
    return out


# What a parameter of the user's function is, by its name (lower case): the names the courses and textbooks
# give them. Anything else makes the call positional, fn(params, x, y), as before.
ROLES = {
    "params": {"params", "parameters", "param", "model", "p", "net", "weights_dict", "nn_params"},
    "theta": {"theta", "thetas", "nn_theta"},
    "x": {"x", "inputs", "input", "data", "x_batch", "xb", "xs", "features", "a0", "x_train", "inp",
          "inputs_list", "input_list"},   # Rashid's train(inputs_list, targets_list)
    "y": {"y", "labels", "label", "targets", "target", "t", "y_batch", "yb", "ys", "y_true", "y_train", "targ",
          "targets_list", "target_list", "all_y_trues", "y_trues"},   # Zhou's train(data, all_y_trues)
    "reg": {"reg", "lambd", "lam", "lmbda", "lambda_", "l2", "weight_decay", "wd", "l2_reg", "reg_strength",
            "weight_regularizer_l2",   # nnfs's Layer_Dense: λ ΣW² (--l2-form lambda)
            "lamda", "lambda_reg", "reg_lambda", "regularization",
            "lambda",   # Welch Labs' Neural_Network(Lambda=0): a name read in lower case
            "weight_decay_lambda"},   # Saito's MultiLayerNet
    "cache": {"cache", "forward", "activations", "acts", "fwd"},
    "caches": {"caches"},
    "keep": {"keep_prob", "keep", "p_keep", "keep_probability", "keepprob"},
    "output": {"al", "a_l", "a_last", "yhat", "y_hat"},
    "state": {"hprev", "h_prev", "h0", "hidden", "state", "initial_state", "init_state", "h_init", "hinit"},
    # Nielsen's network.py keeps them as lists, one array a layer: a function of its own may take them so
    "weights": {"weights", "ws", "weight_list"},
    "biases": {"biases", "bs", "bias_list"},
}


class Cache(dict):
    """The forward pass's values handed to a backward(parameters, cache, X, Y): by name (cache["A1"], as the
    deeplearning.ai planar notebook reads it) and, unpacked as a tuple, in that course's order (Z1, A1, W1,
    b1, Z2, A2, W2, b2, ...), as its regularization notebook reads it."""

    def __init__(self, values, order):
        super().__init__(values)
        self.order = list(order)

    def __iter__(self):
        return iter([self[k] for k in self.order])

    def __len__(self):
        return len(self.order)


class Method:
    """``Class.method`` of the user's file, called on an instance made for each call: its attributes are
    the parameters as the courses keep them (``self.params``, a dict, as CS231n's nets; ``self.weights``
    and ``self.biases``, lists, as Nielsen's Network; ``self.reg``, ``self.num_layers``, ``self.sizes``)."""

    def __init__(self, cls, name):
        self.cls, self.name = cls, name
        self.__name__ = f"{cls.__name__}.{name}"

    def bound(self, params, names, context):
        weights = [params[n] for n in names if n.startswith("W")]
        biases = [params[n] for n in names if n.startswith("b")]
        obj = _constructed(self.cls, context or {})
        facts = {"params": params, "weights": weights, "biases": biases, "reg": (context or {}).get("reg") or 0.0}
        if obj is None:   # built without its constructor: what the courses' methods read, set here
            obj = self.cls.__new__(self.cls)
            facts["num_layers"] = len(weights) + 1
            if (context or {}).get("sizes"):
                facts["sizes"] = list(context["sizes"])
        elif getattr(obj, "dtype", None) is not None:   # CS231n casts to self.dtype: the check runs in float64
            facts["dtype"] = _numpy().float64
        rename, first = _own_keys(obj, params, context or {})
        cnn = (context or {}).get("cnn") or {}
        if first and context is not None:
            context["_channels_first"] = True
        if rename:   # self.params under the keys its constructor made (gamma1, W2 for derivax's gamma2, W3)
            facts["params"] = {theirs: _channels_first(params[ours], ours, cnn) if first else params[ours]
                               for theirs, ours in rename.items()}
        held = _written_into_own(obj, facts["params"])
        if held is not None:   # the constructor's own arrays, which its layers hold too, now hold the values
            facts["params"] = held
            if context is not None and context.get("_built"):
                context["_built"] += "; the values written into the arrays of its own self.params"
        for key, value in facts.items():
            try:
                setattr(obj, key, value)
            except Exception:  # noqa: BLE001 - a property or __slots__: the method does without it
                pass
        method = getattr(obj, self.name)
        if not rename:
            # weights kept as the object's own arrays (Rashid's self.wih, self.who): set from the parameters each call
            held = _readings().ObjectReading.of(obj, method, params, (context or {}).get("aliases"))
            if isinstance(held, str):
                raise _readings().ReadingError(held)
            if held is not None:
                held.lr_given = (context or {}).get("lr")
                return held.bound_to(params)
            return method

        def images(v):   # x (batch, height, width, channels) as a channels-first net takes it, (N, C, H, W)
            np = _numpy()
            if first and isinstance(v, np.ndarray) and v.ndim == 4 and v.shape[1:] == tuple(cnn["input"]):
                return np.ascontiguousarray(v.transpose(0, 3, 1, 2))
            return v

        @functools.wraps(method)
        def renamed(*args, **kwargs):   # its gradients back under derivax's names (and layout)
            out = method(*[images(a) for a in args], **{k: images(v) for k, v in kwargs.items()})
            return _renamed(out, rename, cnn if first else None)
        return renamed


def _written_into_own(obj, values):
    """The dict ``obj.params`` its constructor made, with ``values`` written into its arrays in place; None where it
    has no such dict, or its keys, shapes or dtype (float64, writable) are not those of ``values``. The layers a
    constructor builds may hold its arrays themselves (Saito's ``Affine(self.params['W1'], self.params['b1'])``): a new
    dict set in its place would leave them computing at the constructor's own values, not at the point checked."""
    np = _numpy()
    own = getattr(obj, "params", None) if obj is not None else None
    if not isinstance(own, dict) or set(own) != set(values) or own is values:
        return None
    for key, value in values.items():
        mine = own[key]
        if not (isinstance(mine, np.ndarray) and mine.dtype == np.float64 and mine.flags.writeable
                and mine.shape == np.shape(value)):
            return None
        if any(mine is own[other] for other in own if other != key):   # one array under two keys: not theirs alone
            return None
    for key, value in values.items():
        own[key][...] = value
    return own


def _channels_first(value, name, cnn):
    """derivax's parameter ``name`` in CS231n's channels-first layout: a kernel (kh, kw, c_in, c_out) as
    (F, C, HH, WW); the weight after the flatten with its rows in (C, H, W) order, not (H, W, C)."""
    np = _numpy()
    value = np.asarray(value)
    if value.ndim == 4:
        return np.ascontiguousarray(value.transpose(3, 2, 0, 1))
    if name == cnn.get("flat_weight") and value.ndim == 2:
        h, w, c = cnn["maps"]
        return np.ascontiguousarray(value.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1))
    return value


def _channels_last(value, name, cnn):
    """The inverse of _channels_first, for a gradient that came back in CS231n's layout."""
    np = _numpy()
    given = value
    try:
        value = np.asarray(_readings().plain(value))
    except Exception:  # noqa: BLE001 - what is no array is named at its parameter as it is
        return given
    if value.dtype.kind not in "biuf":   # None, a string, complex: named at its parameter as it came
        return given
    if value.ndim == 4:
        return np.ascontiguousarray(value.transpose(2, 3, 1, 0))
    if name == cnn.get("flat_weight") and value.ndim == 2:
        h, w, c = cnn["maps"]
        if value.shape[0] == h * w * c:
            return np.ascontiguousarray(value.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(h * w * c, -1))
    return given


def _own_keys(obj, params, context) -> tuple:
    """{the constructed self.params' key: derivax's name} where the constructor made a dict of parameters under
    other names than derivax's, as many, of the same shapes in the same order (CS231n's FullyConnectedNet with
    batch norm: W1, b1, gamma1, beta1, W2, b2 for derivax's W1, b1, gamma2, beta2, W3, b3); else {}. The reading
    is said in the report."""
    np = _numpy()
    own = getattr(obj, "params", None) if obj is not None else None
    ours = [k for k in dict.keys(params) if isinstance(k, str)]
    if not isinstance(own, dict) or len(own) != len(ours):
        return {}, False
    theirs = list(own)
    if not all(isinstance(t, str) for t in theirs):
        return {}, False
    shapes = [(np.shape(own[t]), np.shape(params[o])) for t, o in zip(theirs, ours)]
    # channels first (CS231n's ThreeLayerConvNet): its kernels (F, C, HH, WW) where derivax's are (kh, kw, C, F)
    first = bool(context.get("cnn")) and any(len(b) == 4 and a != b and a == (b[3], b[2], b[0], b[1])
                                             for a, b in shapes)
    if not first and set(own) == set(ours):
        return {}, False
    if any(a != b and not (first and len(b) == 4 and a == (b[3], b[2], b[0], b[1])) for a, b in shapes):
        return {}, False
    rename = dict(zip(theirs, ours))
    differ = [f"{t} for {o}" for t, o in rename.items() if t != o]
    if context.get("_built") and differ:
        context["_built"] += "; self.params read under the keys its constructor made, in order: " + ", ".join(differ)
    if context.get("_built") and first:
        context["_built"] += ("; channels first, as its constructor made them: x handed (N, C, H, W), kernels "
                              "(F, C, HH, WW), and the rows of the weight after the flatten in (C, H, W) order; its "
                              "gradients read back in derivax's layout")
    return rename, first


def _renamed(out, rename, cnn=None):
    """A method's result with the dicts in it (grads, or (loss, grads)) keyed by derivax's names (and, from a
    channels-first net, in derivax's layout)."""
    if isinstance(out, dict):
        keyed = {rename.get(k, k) if isinstance(k, str) else k: v for k, v in out.items()}
        return {k: _channels_last(v, k, cnn) for k, v in keyed.items()} if cnn else keyed
    if isinstance(out, tuple):
        return tuple(_renamed(v, rename, cnn) if isinstance(v, dict) else v for v in out)
    if isinstance(out, list):
        return [_renamed(v, rename, cnn) if isinstance(v, dict) else v for v in out]
    return out


# A constructor's parameters derivax can give, by name: the layer sizes as the courses pass them.
def _constructor_value(name, context):
    np = _numpy()
    sizes = context.get("sizes")
    name = name.lower()
    cnn = context.get("cnn")
    if cnn and name in ("input_dim", "num_filters", "filter_size", "num_classes", "hidden_dim") \
            and cnn.get(name) is not None:   # CS231n's ThreeLayerConvNet: input_dim (C, H, W), as it takes images
        return tuple(cnn[name]) if name == "input_dim" else cnn[name]
    # Saito's SimpleConvNet: conv_param as a dict, hidden_size and output_size
    if cnn and name == "conv_param" and cnn.get("conv_param") is not None:
        return dict(cnn["conv_param"])
    if cnn and name in ("hidden_size", "output_size") and cnn.get("hidden_dim" if name == "hidden_size" else "num_classes"):
        return cnn["hidden_dim" if name == "hidden_size" else "num_classes"]
    if sizes:
        if name in ("sizes", "layer_sizes", "layers_dims", "layer_dims", "dims"):
            return list(sizes)
        if name in ("hidden_dims", "hidden_sizes", "hidden_layers", "hidden_size_list", "hidden_layer_sizes"):
            return list(sizes[1:-1])
        if name in ("hidden_dim", "hidden_size", "n_hidden", "num_hidden") and len(sizes) == 3:
            return sizes[1]
        if name in ("hiddennodes", "hidden_nodes") and len(sizes) == 3:   # Rashid's neuralNetwork
            return sizes[1]
        if name in ("input_dim", "input_size", "n_input", "n_inputs", "nin", "in_features", "num_inputs",
                    "inputnodes", "input_nodes", "num_features", "n_features"):   # Raschka's NeuralNetMLP
            return sizes[0]
        if name in ("n_neurons", "neurons", "units", "n_units") and len(sizes) == 2:   # nnfs's Layer_Dense
            return sizes[1]
        if name in ("num_classes", "output_size", "output_dim", "n_output", "n_outputs", "nout", "n_classes",
                    "num_outputs", "out_features", "outputnodes", "output_nodes"):
            return sizes[-1]
    if name in ROLES["reg"]:
        return context.get("reg") or 0.0
    if name in LEARNING_RATES:   # Rashid's learningrate: --lr, or one said in the report (read back from the object)
        return context.get("lr") or DEFAULT_LR
    if name == "dtype":
        return np.float64
    if name in ("normalization", "norm"):
        return "batchnorm" if context.get("batch_norm") else "layernorm" if context.get("layer_norm") else None
    if name == "use_batchnorm":
        return bool(context.get("batch_norm"))
    drop = context.get("dropout")
    if name == "dropout_keep_ratio":   # CS231n's FullyConnectedNet: the keep probability, and the seed it hands
        return drop["p"] if drop else 1   # dropout_forward (derivax draws its own masks from the same seed)
    if name == "seed" and drop:
        return drop["seed"]
    return _MISSING


_MISSING = object()
# A constructor's learning rate, by its name; what it is handed without --lr (an update in place is divided by the
# object's own, read back after the constructor, whatever it is)
LEARNING_RATES = ("learningrate", "learning_rate", "lr", "eta", "lrate", "l_rate")
DEFAULT_LR = 0.1


def _constructed(cls, context):
    """An instance of ``cls`` built by its own constructor, with the sizes (and λ, dtype, normalization)
    its parameters' names ask for and the defaults of the rest; None where a required one is unknown or
    the constructor fails (the instance is then made without it)."""
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return None
    kwargs = {}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        value = _constructor_value(p.name, context)
        if p.name.lower() in LEARNING_RATES and context.get("lr") is None and p.default is not p.empty:
            continue   # a learning rate of its own, no --lr given: its default stays
        if value is _MISSING:
            if p.default is p.empty:
                context["_unbuilt"] = (f"{cls.__name__} was made without its constructor, whose {p.name!r} is "
                                       "nothing derivax can give (it gives the layer sizes, λ and dtype by their "
                                       "usual names): what __init__ sets is not there")
                return None
            continue
        kwargs[p.name] = value
    try:
        obj = cls(**kwargs)
    except Exception as exc:  # noqa: BLE001 - a constructor that needs more than derivax knows: built without it
        context["_unbuilt"] = (f"{cls.__name__} was made without its constructor, which raised "
                               f"{type(exc).__name__} when called as {cls.__name__}({', '.join(kwargs)}): what "
                               "__init__ sets is not there")
        return None
    # the seed differs from point to point: said once, as s
    shown = ", ".join(f"{k}={'s' if k == 'seed' and context.get('dropout') else getattr(v, '__name__', v)!s}"
                      for k, v in kwargs.items())
    context["_built"] = f"{cls.__name__}({shown}) built by its own constructor" + (
        "" if context.get("_parameterless") else ", its parameters then set")
    return obj


def arguments(fn, params, x, y, context=None):
    """(args, how, passed, handed): what to call ``fn`` with, read from its parameters' names (``ROLES``; a
    parameter named as one of the network's, W1 or W for the only W, is that array), the call as a sentence
    for the report, the parameters handed one by one (their gradients may come back in that order), and
    whether the parameters were handed at all. (params, x, y) when a name is not known, as every function
    was called."""
    context = context or {}
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return (params, x, y), "", [], True
    values = {"params": params, "x": x, "y": y, "reg": context.get("reg") or 0.0,
              "weights": [dict.__getitem__(params, k) for k in dict.keys(params) if k.startswith("W")],
              "biases": [dict.__getitem__(params, k) for k in dict.keys(params) if k.startswith("b")]}
    if context.get("keep") is not None:
        values["keep"] = context["keep"]
    forward = context.get("forward")
    if forward is not None:
        values["cache"] = Cache(forward, context.get("order", ()))
        if context.get("chain"):   # deeplearning.ai's L_model_backward(AL, Y, caches): ((A_prev, W, b), Z) per layer
            values["caches"] = [((forward[a], forward[w], forward[b] if b else None), forward[z])
                                for a, w, b, z in context["chain"]]
        if context.get("last") in forward:
            values["output"] = forward[context["last"]]
    if context.get("state"):
        values["state"] = _state(context, x)
    theta = context.get("theta")
    if theta and any(p.name.lower() in ROLES["theta"] for p in sig.parameters.values()):
        # Ng's course: one vector theta, the intercept first, X with a column of ones before it, y a vector
        np = _numpy()
        w, b = theta
        values["theta"] = np.concatenate(([np.asarray(params[b]).reshape(-1)] if b else [])
                                         + [np.asarray(params[w]).reshape(-1)])
        values["x"] = np.hstack([np.ones((len(x), 1)), x]) if b else x
        values["y"] = np.asarray(y).reshape(-1)
    elif "theta" in values:
        del values["theta"]
    args, shown, roles, passed = [], [], set(), []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        role = next((r for r, spelled in ROLES.items() if p.name.lower() in spelled), None)
        size = _size_argument(p.name, context) if role is None else None
        if size is not None:   # UFLDL's softmax_cost(theta, num_classes, input_size, ...): the layer sizes
            args.append(size)
            shown.append(f"{p.name}={size}")
            continue
        if _takes_unrolled(p.name, role, values, sig, context):
            # Ng's ex4 nnCostFunction(nn_params, input_layer_size, ...): every layer's Θ = [b | Wᵀ], unrolled
            args.append(_unrolled(params, p.name, fn, context))
            passed.append(UNROLLED)
            roles.add("params")
            shown.append(f"{p.name}=[{', '.join(f'Θ{k}' for k in range(1, len(context['unrolled']) + 1))}] unrolled")
            continue
        if role == "theta" and "theta" in values:
            args.append(values["theta"])
            passed.append(THETA)
            shown.append(f"{p.name}=[{theta[1]}, {theta[0]}]" if theta[1] else f"{p.name}={theta[0]}")
            roles.add("params")
            continue
        own = _own_parameter(p.name, params) if role is None else None
        if own is not None:
            args.append(params[own])
            passed.append(own)
            shown.append(f"{p.name}={own}")
            continue
        column = _weight_column(p.name, params, context) if role is None else None
        if column is not None:   # deeplearning.ai's propagate(w, b, X, Y): one unit's weights as a column (n_x, 1)
            args.append(_numpy().asarray(params[column]).T)
            passed.append(column)
            shown.append(f"{p.name}={column}ᵀ (a column)")
            context["_column"] = column
            continue
        if role is None or role not in values:
            if p.default is not p.empty:
                break   # an optional parameter derivax has nothing for: left to its default
            return (params, x, y), "", [], True
        if role == "params" and _unpacks(fn, p.name) == len(dict.keys(params)):
            # makemore's C, W1, b1, W2, b2 = parameters: the arrays as a list, in the network's order
            args.append([dict.__getitem__(params, k) for k in dict.keys(params)])
            passed.extend(dict.keys(params))
            roles.add(role)
            shown.append(f"{p.name}=[{', '.join(dict.keys(params))}]")
            continue
        args.append(values[role])
        roles.add(role)
        shown.append(f"{p.name}={_ROLE_WORDS.get(role, role)}")
    if not roles & {"x", "output", "caches"}:   # no recognised input: the old positional call
        return (params, x, y), "", [], True
    if roles & {"weights", "biases"}:
        roles.add("params")
    name = getattr(fn, "__qualname__", getattr(fn, "__name__", "fn"))
    how = f"called as {name}({', '.join(shown)})"
    if "reg" in roles:
        how += f" with λ = {values['reg']:g}"
    if "state" in roles:
        how += f", the state h⟨0⟩ zeros of shape {tuple(values['state'].shape)}"
    if THETA in passed and theta[1]:
        how += ", X with a first column of ones for the intercept, y a vector"
    if UNROLLED in passed:
        columns = context.get("layout") == "columns"
        how += (f", its weights unrolled as Ng's ex4 keeps them: Θl = [bl | {'Wl' if columns else 'Wlᵀ'}] of shape "
                "(units, inputs + 1), the bias in column 0, each flattened in row-major order, one after the other; "
                "its gradient vector read back the same way")
    return tuple(args), how, passed, "params" in roles or bool(passed)


UNROLLED = "__unrolled__"   # what an unrolled gradient vector (Ng's ex4 grad) is keyed under until it is rolled back
UNROLLED_NAMES = ("nn_params", "nnparams")


def _takes_unrolled(arg, role, values, sig, context) -> bool:
    """Whether argument ``arg`` is every layer's weights unrolled into one vector, as Ng's ex4 nnCostFunction takes
    nn_params: named so, or a theta of a function that takes the layer sizes (input_layer_size, hidden_layer_size,
    num_labels) where the network is no one-layer model a theta of Ng's earlier exercises holds."""
    if arg.lower() in UNROLLED_NAMES:
        return True
    return role == "theta" and "theta" not in values and any(
        _size_argument(q.name, context) is not None for q in sig.parameters.values())


def _unrolled(params, arg, fn, context):
    """The network's parameters as Ng's ex4 unrolls them: for each dense layer Θ = [b | Wᵀ] (units, inputs + 1) in
    rows ([b | W] in columns), flattened row-major, the layers one after the other. Raises ReadingError naming the
    convention where the network is not dense layers each with a bias."""
    np = _numpy()
    layers = context.get("unrolled")
    if not layers:
        name = getattr(fn, "__qualname__", getattr(fn, "__name__", "the function"))
        raise _readings().ReadingError(
            f"{name} takes {arg}, the weights unrolled as Ng's ex4 keeps them (for each layer Θ of shape (units, "
            "inputs + 1), its bias in column 0, flattened row-major, one layer after the other): derivax builds it for "
            "a network of dense layers on a vector input, each with a bias, and this network is not one; write a "
            "function that takes params (a dict of W1, b1, ...) instead")
    columns = context.get("layout") == "columns"
    parts = []
    for w, b in layers:
        W = np.asarray(_readings().plain(dict.__getitem__(params, w)), dtype=float)
        bias = np.asarray(_readings().plain(dict.__getitem__(params, b)), dtype=float).reshape(-1, 1)
        parts.append(np.hstack([bias, W if columns else W.T]).reshape(-1))
    vector = np.concatenate(parts)
    return _readings().torch_of(vector) if context.get("torch") else vector


def _rolled_back(out, params, context):
    """A result's unrolled gradient vector split as ``_unrolled`` built nn_params: each layer's Θ gradient, its
    column 0 the bias's, the rest the weights' (transposed back in rows); the wrong size said at every parameter."""
    np = _numpy()
    R = _readings()
    columns = context.get("layout") == "columns"
    layers = context["unrolled"]
    value = out.pop(UNROLLED)
    shapes = []
    for w, _ in layers:
        shape = np.shape(dict.__getitem__(params, w))
        shapes.append((shape[0], shape[1] + 1) if columns else (shape[1], shape[0] + 1))
    total = sum(h * k for h, k in shapes)
    try:
        vector = np.asarray(R.plain(value), dtype=float).reshape(-1)
    except Exception:  # noqa: BLE001 - what is no vector of numbers is named at the parameters as it came
        vector = None
    if vector is None or vector.size != total:
        said = R.Misshapen(value, f"wrong size: the unrolled gradient has {'no' if vector is None else vector.size} "
                                  f"values where nn_params has {total} (Θ of shapes "
                                  f"{', '.join(str(s) for s in shapes)}, unrolled)")
        return {**out, **{n: said for pair in layers for n in pair}}
    at = 0
    for (w, b), (h, k) in zip(layers, shapes):
        theta = vector[at:at + h * k].reshape(h, k)
        at += h * k
        out[b] = theta[:, 0].reshape(np.shape(dict.__getitem__(params, b)))
        out[w] = theta[:, 1:] if columns else theta[:, 1:].T.copy()
    return out


def _takes_data_only(fn) -> bool:
    """Whether every argument ``fn`` requires is the data, x or y by its name (``ROLES``): grads(X, y), fast.ai's
    forward_and_backward(inp, targ)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    required = [p.name.lower() for p in sig.parameters.values()
                if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.default is p.empty]
    return bool(required) and all(n in ROLES["x"] | ROLES["y"] for n in required)


def _unpacks(fn, name, depth=3):
    """n where ``fn``'s code unpacks its argument ``name`` into n names (a, b, c = name), or hands it on unchanged, as
    the same positional argument or keyword, to a function of its module that does (d2l's backward_dict(params, X, y)
    calling backward(params, X, y), which unpacks W1, b1, W2, b2 = params); else None."""
    import dis
    code = getattr(fn, "__code__", None) or getattr(getattr(fn, "__func__", None), "__code__", None)
    if code is None:
        return None
    try:
        instructions = list(dis.get_instructions(code))
    except Exception:  # noqa: BLE001 - code dis cannot read: no unpacking found
        return None
    for first, second in zip(instructions, instructions[1:]):
        if first.opname.startswith("LOAD_FAST") and first.argval == name and second.opname == "UNPACK_SEQUENCE":
            return second.arg
    if depth <= 0 or not any(i.opname.startswith("LOAD_FAST") and i.argval == name for i in instructions):
        return None
    for callee, taken in _handed_on(fn, code, name):
        n = _unpacks(callee, taken, depth - 1)
        if n is not None:
            return n
    return None


def _handed_on(fn, code, name) -> list:
    """[(a function of fn's module, the name of its parameter)] for each call in ``fn``'s source that hands its
    argument ``name`` on as it is: f(..., name, ...) at a position before any *args, or f(key=name)."""
    import ast
    import textwrap
    space = getattr(fn, "__globals__", None) or getattr(getattr(fn, "__func__", None), "__globals__", None)
    if not isinstance(space, dict):
        return []
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(code)))
    except (OSError, TypeError, SyntaxError, IndentationError, ValueError):
        return []
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        callee = space.get(node.func.id)
        if not inspect.isfunction(callee) or callee.__globals__ is not space or callee.__code__ is code:
            continue
        try:
            params = [p for p in inspect.signature(callee).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            continue
        for k, arg in enumerate(node.args):
            if isinstance(arg, ast.Starred):
                break
            if isinstance(arg, ast.Name) and arg.id == name and k < len(params):
                out.append((callee, params[k].name))
        out += [(callee, kw.arg) for kw in node.keywords if kw.arg and isinstance(kw.value, ast.Name)
                and kw.value.id == name and any(p.name == kw.arg for p in params)]
    return out


def _size_argument(name, context):
    """A layer size a function takes by name (num_classes, input_size, hidden_size, ...), or None."""
    sizes = context.get("sizes")
    if not sizes:
        return None
    name = name.lower()
    if name in ("num_classes", "n_classes", "numclasses", "output_size", "num_labels", "n_outputs", "k"):
        return sizes[-1]
    if name in ("input_size", "input_layer_size", "visible_size", "inputsize", "n_inputs", "num_inputs"):
        return sizes[0]
    if name in ("hidden_size", "hidden_layer_size", "n_hidden") and len(sizes) == 3:
        return sizes[1]
    return None


THETA = "__theta__"   # what a theta-taking function's gradient vector is keyed under until it is split

_ROLE_WORDS = {"reg": "λ", "cache": "the forward values", "state": "h⟨0⟩",
               "caches": "each layer's ((A_prev, W, b), Z)", "output": "the network's output",
               "keep": "the dropout's keep probability", "weights": "[W1, W2, ...]", "biases": "[b1, b2, ...]"}


def _state(context, x):
    """Zeros for a recurrent layer's initial state: (units, 1) for one example in columns, (units, batch)
    for a batch in columns, (units,) for one example in rows, (batch, units) for a batch in rows."""
    np = _numpy()
    units, columns, one = int(context["state"]), context.get("layout") == "columns", context.get("one_example")
    if columns:
        shape = (units, 1) if one else (units, int(np.shape(x)[-1]))
    else:
        shape = (units,) if one else (int(np.shape(x)[0]), units)
    zeros = np.zeros(shape)
    return _readings().torch_of(zeros) if context.get("torch") else zeros


def _own_parameter(arg, params):
    """The network's parameter a function's argument is named after: W1 itself, or W for the only W."""
    if arg in dict.keys(params):
        return arg
    same = [n for n in params if n.rstrip("0123456789") == arg and n != arg]
    return same[0] if len(same) == 1 else None


def _logistic_signature(fn) -> bool:
    """Whether ``fn`` takes (w, b, X, Y) first, as deeplearning.ai's logistic regression's propagate does."""
    import inspect
    try:
        names = list(inspect.signature(fn).parameters)[:4]
    except (TypeError, ValueError):
        return False
    return [n.lower() for n in names] == ["w", "b", "x", "y"] and names[0] == "w"


def _weight_column(arg, params, context):
    """The network's only weight matrix where ``arg`` is a lower-case w and, in the columns convention, that matrix is
    one unit's (1, n_x): deeplearning.ai's logistic regression keeps it as the column w (n_x, 1), Wᵀ. Else None."""
    if arg != "w" or context.get("layout") != "columns":
        return None
    weights = [n for n in dict.keys(params) if n.rstrip("0123456789") == "W"]
    if len(weights) != 1 or len(_numpy().shape(params[weights[0]])) != 2 or _numpy().shape(params[weights[0]])[0] != 1:
        return None
    return weights[0]


def _column_back(out, name, shape):
    """A result's dw, the gradient of the column (n_x, 1) a function was handed its weights as, back in the network's
    (1, n_x) under the weights' name."""
    np = _numpy()
    if isinstance(out, dict):
        key = next((k for k in ("dw", "grad_w") if k in out and name not in out), None)
        if key is None:
            return out
        value = _readings().plain(out[key])
        column = (shape[1], shape[0])
        got, grown = None, None
        if isinstance(value, (np.ndarray, np.generic, int, float, list)):   # else: named as it is, at the weights
            try:
                got = tuple(np.shape(value))
                grown = np.broadcast_shapes(got, column)
            except (ValueError, TypeError):
                grown = None
        if got == column or (got is not None and grown == column and int(np.prod(got)) == int(np.prod(column))):
            value = np.asarray(value, dtype=float).reshape(column).T   # the column's gradient, as W's row
        elif got is not None and got != () and column[0] != column[1] and got == tuple(shape):
            value = _readings().Misshapen(value, _readings().transposed_text(got, "w", column))
        elif got is not None:
            value = _readings().Misshapen(value, f"wrong shape: found {got} where w is {column}" + (
                f": the update w - lr * {key} would be {tuple(grown)}" if grown not in (None, column) else ""))
        return {**{k: v for k, v in out.items() if k != key}, name: value}
    if isinstance(out, tuple):
        return tuple(_column_back(v, name, shape) if isinstance(v, dict) else v for v in out)
    return out


def call(fn, params, x, y, names, user_file, let_through=(), optional=(), per_example=None, context=None) -> dict:
    """Call the user's function with the arguments its parameters' names ask for (``arguments``: params, x,
    y, λ, the forward pass's values, a recurrent state) and turn the outcome into a reply; only
    ``let_through`` escapes. With ``per_example`` ("rows" or "columns"), fn is called once per example (x as
    a vector (n,), or a column (n, 1) in the columns convention) and what it returns is averaged over the
    examples. The readings of ``compile.checks.readings`` apply: parameters under the code's own names,
    weights kept in module globals, PyTorch code, models of scalar values."""
    stage = [None]
    how = ""
    R = _readings()
    context = dict(context or {})
    told, seen, passed = [], {}, ()
    context["_seen"] = seen
    target = out = None
    try:
        if isinstance(fn, type):   # a class handed from Python: as a class named in a file
            fn = class_target(fn)
            if isinstance(fn, str):
                return {"status": "stopped", "stopped": "argument", "message": fn}
        aligned = context.get("aligned") or {}
        if aligned and R.reads_biases_aligned(R.strings_read(fn), context.get("aliases") or {}, aligned):
            # bK the bias of WK's layer, as the code's own names say (makemore's b2 beside W2, with no b1)
            context["aliases"] = R.realigned(context.get("aliases") or {}, aligned)
            context["_aligned"] = True
        params = R.Params(params, context.get("aliases"))
        if R.uses_jax(fn):   # JAX code: Params a pytree as a dict is
            R.jax_ready()
        if R.uses_torch(fn):
            params, x, y = R.torch_of(params), R.torch_of(x), R.torch_of(y)
            if context.get("forward") is not None:
                context["forward"] = R.torch_of(context["forward"])
            context["torch"] = True
            told.append("handed as torch tensors (float64; integer inputs as int64), since its module imports torch")
        if list(names) == ["dx"]:   # a layer without parameters (relu_forward(x), nnfs's Activation_ReLU): dx alone
            context["_parameterless"] = True
        target = fn.bound(params, names, context) if isinstance(fn, (Method, R.ValueModel, R.LayerPair, R.LossLayer)) \
            else fn
        if isinstance(fn, R.ValueModel):
            told.append(fn.sentence(context))
        if isinstance(fn, (R.LayerPair, R.LossLayer)):
            told.append(fn.sentence(parameterless=True) if context.get("_parameterless")
                        and type(fn) in (R.LayerPair, R.ObjectLayer) else fn.sentence())
        if context.get("_built"):
            told.append(context["_built"])
        elif not isinstance(fn, (Method, R.LayerPair, R.LossLayer)):
            handed = arguments(target, params, x, y, context)[3]
            found = None if handed else R.GlobalsReading.of(target, params, context.get("aliases"))
            if isinstance(found, str):
                return {"status": "stopped", "stopped": "argument", "message": found}
            unset = None if handed or context.get("_parameterless") else R.GlobalsReading.unset(
                target, params, found.found if found else [], names, _takes_data_only(target))
            if unset is not None:   # gradients at weights derivax did not choose: no verdict
                return {"status": "stopped", "stopped": "argument", "message": unset}
            if found is not None:
                target = found.bound_to(params)
                target.lr_given = context.get("lr")
                context["layout"] = found.layout
                told.append(found.sentence())
        if isinstance(target, R.ObjectReading):
            told.append(target.sentence())
            differs = target.forward_differs(x, context.get("output"), context.get("layout"))
            if differs:
                told.append(differs)
        if isinstance(target, R.GlobalsReading):
            target.seen = seen
        if per_example is None:
            args, how, passed, _ = arguments(target, params, x, y, context)
            # a plain function handed the parameters' dict: what it leaves there where it returns nothing is read
            left = R.DictUpdate(target, params) if target is fn and inspect.isfunction(fn) and any(
                a is params for a in args) else None
            out = _unwrapped(target(*args), passed, seen)
            if left is not None and (out is None or R._is_scalar(out)):
                got = left.read(out, context.get("lr"))
                if got is not None:
                    if out is not None:   # its loss beside the update: compared with J
                        seen.setdefault("losses", []).append(float(R.plain(out)))
                    target, out = left, got
            if UNROLLED in passed and isinstance(out, dict) and UNROLLED in out:   # Ng's grad, rolled back
                out = _rolled_back(out, params, context)
            if context.get("_column"):   # the weights handed as a column: their gradient read back as the row
                out = _column_back(out, context["_column"], _numpy().shape(params[context["_column"]]))
            if THETA in passed and isinstance(out, dict) and THETA in out:   # the intercept first, then W
                vector = _numpy().asarray(_readings().plain(out.pop(THETA)), dtype=float).reshape(-1)
                w, b = context["theta"]
                size = int(_numpy().size(params[w]))
                if vector.size == size + (1 if b else 0):
                    out.update({**({b: vector[:1]} if b else {}), w: vector[-size:].reshape(_numpy().shape(params[w]))})
                else:
                    out[w] = vector
        else:
            out = _averaged(target, params, x, y, names, per_example, stage, context)
            how = context.get("_how", "")
        stage[0] = "result"
        if context.get("_built") and context["_built"] not in told:   # built inside the call (a layer class)
            told.append(context["_built"])
        reply = plain_result(_named(out, names), names, stage, optional, getattr(params, "used", None))
        if out is None and getattr(target, "nothing", None):   # nor did it update its weights, nor set their .g
            reply["message"] = target.nothing
        if getattr(target, "said", None):   # what it left behind (.g, or the weights it updated in place) was read
            told.append(target.said)
        if reply.get("status") == "returned":
            if getattr(target, "update_lr", None) is not None:
                reply["update"] = float(target.update_lr)
            # the parameters' gradients alone: an intermediate may be round by itself (the makemore exercise's
            # dlogprobs, −1/n at every target)
            levels = context.get("_clipped") or [clip_level(v) for k, v in reply["values"].items() if k in names]
            hits = {}
            for level in filter(None, levels):
                hits[level[0]] = hits.get(level[0], 0) + level[1]
            # a whole number is what np.clip's bounds are: one entry at it is a clip; a value rounded to two
            # places could be chance once, not twice
            clipped = [c for c, n in hits.items() if n >= 2 or (c >= 1 and c == int(c))]
            if clipped:
                reply["clipped"] = max(clipped)
            handed = _handed_shapes(fn, target, params, names, context, passed)
            if context.get("_aligned"):
                reply["aligned"] = True
            if getattr(fn, "first", False) is True or context.get("_channels_first"):
                reply["channels_first"] = True   # x (N, C, H, W) and kernels (F, C, HH, WW), as CS231n's code takes them
            if handed:
                reply["handed"] = handed
            if how and not isinstance(fn, (R.ValueModel, R.LayerPair, R.LossLayer)):
                reply["calling"] = how
            if params.used:
                told.append("the parameters read under the code's names: " + ", ".join(
                    f"{k} as {v}" for k, v in params.used.items()))
            reply["readings"] = told
            losses = seen.get("losses", [])
            if losses:   # the loss returned: the mean over the calls (a nan or inf among them stays, to be named)
                # (one example a call, J the sum over the batch: the sum)
                summed = per_example is not None and context.get("reduction") == "sum"
                reply["loss"] = sum(losses) / (1 if summed else len(losses))
            if isinstance(fn, R.ValueModel):
                found = R.value_findings(target.value_class)
                reply["findings"], reply["findings_said"] = [f[0] for f in found], [f[1] for f in found]
        return reply
    except let_through:
        raise
    except BaseException as exc:  # noqa: BLE001 - every way the user's code ends is the report
        if isinstance(exc, R.ReadingError):
            return {"status": "stopped", "stopped": "argument", "message": one_line(exc, 400)}
        if isinstance(exc, AttributeError) and context.get("_unbuilt"):   # self.hidden_dim, never set
            reply = stopped_by(exc, user_file, nowhere=f" (when {how or 'called as fn(params, x, y)'})")
            reply["message"] += f"; {context['_unbuilt']}"
            return reply
        if stage[0] is None:
            reply = stopped_by(exc, user_file, nowhere=f" (when {how or 'called as fn(params, x, y)'})")
            plain = reply["message"]
            if isinstance(exc, TypeError) and context.get("layout") != "columns" and _logistic_signature(fn):
                reply["message"] += ("; a function of (w, b, X, Y), deeplearning.ai's propagate, takes the columns "
                                     "layout: add --convention columns")
            refused = R.attribute_refused(exc, getattr(target, "fn", target) or fn)
            if refused:
                reply["message"] += refused
            if not how and isinstance(exc, (TypeError, KeyError, IndexError)) and reply["message"] == plain:
                reply["message"] += _unread_signature(fn)   # where nothing more particular was said
            if isinstance(exc, TypeError) and isinstance(fn, Method):   # Raschka's NeuralNetMLP.backward(x, a_h, ...)
                held = target if isinstance(target, R.ObjectReading) else None
                reply["message"] += R.held_arrays_hint(held.obj if held else getattr(target, "__self__", None),
                                                       params, fn.name)
            try:
                keys = _unpacked_keys(exc, list(dict.keys(params)))
            except Exception:  # noqa: BLE001 - a frame that cannot be read tells nothing
                keys = None
            if keys:
                reply["message"] += keys
            try:
                if indexes_data(exc, user_file, (x, y)):
                    reply["indexes_data"] = True
            except Exception:  # noqa: BLE001 - a frame that cannot be read tells nothing
                pass
            return _with_readings(reply, told, how)
        return _with_readings(stopped_by(exc, user_file, f"returned {_a(type(out).__name__)}, and {stage[0]} "),
                              told, how)


def _unread_signature(fn) -> str:
    """'; ...': for a function called as fn(params, x, y) because none of its parameters' names is one derivax reads
    (Brownlee's backward_propagate_error(network, expected)), what derivax reads and what a wrapper is to do; '' for
    one whose names were read, or whose signature cannot be read."""
    names = takes(fn)
    known = set().union(*ROLES.values())
    unread = [n for n in names if n.lower() not in known]
    if not unread:
        return ""
    shown = getattr(fn, "__name__", "the function")
    which = "none of them a name" if len(unread) == len(names) else \
        f"{', '.join(unread)} {'is no name' if len(unread) == 1 else 'are no names'}"
    return (f"; {shown} takes ({', '.join(names)}), {which} derivax reads (params or parameters, x or X or "
            f"inputs, y or labels or targets, and the course's names for λ, the forward pass's values and a state), so "
            f"it was called as fn(params, x, y): wrap it in a function backward(params, x, y) that makes what it "
            f"takes from the parameters (W1, b1, ... as derivax names them), x (batch, inputs) and y, calls it, and "
            f"returns the gradients in a dict under those names")


def _with_readings(reply, told, how):
    """A reply for code that raised, with how it was called and read (its constructor's arguments, the names its
    arrays were read under): what the error is to be read against."""
    if told:
        reply["readings"] = [t for t in told if isinstance(t, str)]
    if how:
        reply["calling"] = how
    return reply


def _handed_shapes(fn, target, params, names, context, passed=()) -> dict:
    """{parameter: the shape the code was handed it in}, where the code holds it so: the arrays of a dict (or
    of self.params, self.biases) as derivax handed them, or the module's globals of a GlobalsReading in the
    file's own shapes. Empty for the readings that hand the parameters in shapes of their own (a layer's
    functions, a loss, a model of scalar values, Ng's theta)."""
    R = _readings()
    if isinstance(fn, (R.ValueModel, R.LayerPair, R.LossLayer)) or THETA in passed or UNROLLED in passed:
        return {}
    np = _numpy()
    if isinstance(target, R.GlobalsReading):
        space = target.space
        return {name: [int(d) for d in np.shape(space[key])] for key, name in target.found
                if name in names and hasattr(space.get(key), "shape")}
    out = {}
    for name in names:
        if name == context.get("_column") or not dict.__contains__(params, name):
            continue
        try:
            out[name] = [int(d) for d in np.shape(dict.__getitem__(params, name))]
        except Exception:  # noqa: BLE001 - a value without a shape: nothing to compare an update with
            continue
    return out


def _unwrapped(out, passed=(), seen=None):
    """The gradients of what a function returned: CS231n's loss() returns (loss, grads); a function handed
    W (and b) one by one returns (loss, dW[, db]) or dW alone, in the order it took them. The loss it
    returned beside them goes to ``seen["loss"]`` (the check compares it with the network's J)."""
    if isinstance(out, tuple) and len(out) == 2 and sum(isinstance(v, dict) for v in out) == 1 \
            and not any(isinstance(v, list) for v in out):
        _seen_loss(seen, next(v for v in out if not isinstance(v, dict)))
        return next(v for v in out if isinstance(v, dict))
    if passed and isinstance(out, tuple) and len(out) == 2 and _is_number(_readings().plain(out[0])) \
            and isinstance(out[1], (list, tuple)) and len(out[1]) == len(passed) and len(passed) > 1:
        _seen_loss(seen, out[0])   # makemore's (loss, [dC, dW1, ...]) in the order the parameters came
        return dict(zip(passed, out[1]))
    flat_list = isinstance(out, list) and not any(isinstance(v, (list, tuple, dict)) for v in out)
    # a list of arrays (d2l's [dW1, db1, ...]) read as a tuple is
    if passed and (flat_list or not isinstance(out, (dict, list))):
        parts = list(out) if isinstance(out, (tuple, list)) else [out]
        if len(parts) == len(passed) + 1 and _is_number(parts[0]):
            _seen_loss(seen, parts[0])
            parts = parts[1:]
        if len(parts) == len(passed):
            return dict(zip(passed, parts))
    return out


def _seen_loss(seen, value) -> None:
    """A returned loss, kept as a float where it is one number (a torch or NumPy scalar too)."""
    if seen is None:
        return
    try:
        value = _readings().plain(value)
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return
    seen.setdefault("losses", []).append(number)


def _is_number(v) -> bool:
    np = _numpy()
    return isinstance(v, (int, float)) or (isinstance(v, np.ndarray) and v.ndim == 0) or isinstance(v, np.generic)


def _named(out, names):
    """Nielsen's (nabla_b, nabla_w), lists of one array per layer, as a dict keyed b1, ..., W1, ...;
    anything else as it is."""
    if isinstance(out, tuple) and len(out) == 2 and all(isinstance(part, list) for part in out):
        weights = [n for n in names if n.startswith("W")]
        biases = [n for n in names if n.startswith("b")]
        if len(out[0]) == len(biases) and len(out[1]) == len(weights):
            # (nabla_b, nabla_w) as Nielsen returns them, or (weights', biases') where the first list holds
            # the matrices (a bias is a vector: one of its axes is 1)
            first_matrices = sum(min(_numpy().shape(a) or (1,)) > 1 for a in out[0]) > \
                sum(min(_numpy().shape(a) or (1,)) > 1 for a in out[1])
            if first_matrices and len(weights) == len(biases):
                return {**dict(zip(weights, out[0])), **dict(zip(biases, out[1]))}
            return {**dict(zip(biases, out[0])), **dict(zip(weights, out[1]))}
    return out


def _averaged(fn, params, x, y, names, layout, stage, context=None):
    """The mean over the examples of fn(params, x_i, y_i): one example at a time, as Nielsen's backprop."""
    np = _numpy()
    m = x.shape[1] if layout == "columns" else x.shape[0]
    total = None
    odd = _readings().Misshapen   # a shape said wrong at its parameter: kept as it is, not summed
    for i in range(m):
        xi = x[:, i:i + 1] if layout == "columns" else x[i]
        yi = y[:, i:i + 1] if layout == "columns" else y[i]
        args, how, passed, _ = arguments(fn, params, xi, yi, {**(context or {}), "forward": None, "one_example": True})
        if context is not None and how:
            context.setdefault("_how", how)
        out = _named(_unwrapped(fn(*args), passed, (context or {}).get("_seen")), names)
        stage[0] = f"the result for example {i + 1}"
        if not isinstance(out, dict):
            return out   # plain_result says what is wrong with it
        arrays = {k: v if isinstance(v, odd) else np.asarray(_readings().plain(v), dtype=float) for k, v in out.items()}
        if context is not None:
            context.setdefault("_clipped", []).extend(clip_level(v) for v in arrays.values() if not isinstance(v, odd))
        total = arrays if total is None else {
            k: total[k] if isinstance(total[k], odd) else v if isinstance(v, odd) else total[k] + v
            for k, v in arrays.items() if k in total}
    if (context or {}).get("reduction") == "sum":   # J = Σ over the batch: the examples' results summed
        return total
    return {k: v if isinstance(v, odd) else v / m for k, v in total.items()}


# ---- signals: the checked code may signal its own processes, never derivax ----

# C functions that signal a process named by its number, as ctypes looks them up (libc.kill): refused
# by name, as os.kill is when aimed at a process not the code's own. What reaches the kernel another
# way (a `kill` command the code runs, a raw system call) meets the seccomp filter (``signal_filter``).
SIGNALLING_C = frozenset({"kill", "killpg", "sigqueue", "tkill", "tgkill", "pidfd_open", "pidfd_send_signal"})
_AUDITED = frozenset({"os.kill", "os.killpg", "ctypes.dlsym", "ctypes.dlsym/handle"})


def _signal_text(number) -> str:
    try:
        return _Signals(number).name
    except (ValueError, TypeError):
        return f"signal {number}"


def refusal(event: str, args: tuple, session: int, parent: int) -> str | None:
    """The sentence that refuses the audited call ``event(*args)`` of the checked code, or None where it
    may go on. The code's own processes are those of ``session``, the one the child leads (what the code
    starts stays in it, unless it starts a session of its own); ``parent`` is derivax's pid. A signal to
    a process or a process group of another session, or to every process (os.kill(-1, ...)), is refused;
    signal 0, which only asks whether a process exists, is not."""
    if event in ("ctypes.dlsym", "ctypes.dlsym/handle"):
        name = args[1] if len(args) > 1 else None
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        if name in SIGNALLING_C:
            return (f"the code looked up the C function {name} through ctypes, which can signal processes "
                    "not its own (derivax among them): check-code refuses that; os.kill signals the code's "
                    "own processes")
        return None
    if event not in ("os.kill", "os.killpg") or len(args) != 2 or args[1] == 0:
        return None
    target, number = args
    killpg = event == "os.killpg"
    sends = f"{event}({target}, {_signal_text(number)}) would send {_signal_text(number)} to"
    if target == -1 and not killpg:
        return f"{sends} every process it may signal, derivax among them: check-code refuses that"
    if target == 0 or (killpg and target < 0):
        return None   # the caller's own group, in the code's session; killpg of a negative number fails
    group, pid = killpg or target < 0, abs(target)
    if pid == (_getpgid(0) if group else _getpid()):
        return None
    try:
        if _getsid(pid) == session:
            return None
    except ProcessLookupError:   # no such process: os.kill says so; a group whose leader has ended
        if not group:            # may be anyone's
            return None
    except OSError:
        pass
    try:
        derivax = pid == (_getpgid(parent) if group else parent)
    except OSError:
        derivax = False
    if group:
        whose = "process group {}, derivax's own," if derivax else "process group {},"
        return f"{sends} {whose.format(pid)} not a group of the checked code: check-code refuses that"
    whose = "process {}, derivax itself (it runs the check)," if derivax else "process {},"
    return f"{sends} {whose.format(pid)} not a process of the checked code: check-code refuses that"


# The system calls that signal a process named by its first argument, kill's first (its argument may also
# be -1, every process, or -group): kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo, and
# pidfd_open, which opens the process for pidfd_send_signal; by machine, then by the audit architecture
# of the call (an x86_64 machine also runs i386 code).
SIGNAL_CALLS = {
    "x86_64": {0xC000003E: (62, 200, 234, 129, 297, 434), 0x40000003: (37, 238, 270, 178, 335, 434)},
    "aarch64": {0xC00000B7: (129, 130, 131, 138, 240, 434)},
}


def signal_filter(calls: dict, parent: int, group: int) -> bytes:
    """A seccomp program (classic BPF) under which the system calls ``calls`` ({audit architecture:
    numbers, kill's first}) fail with EPERM when aimed at ``parent``, and kill also when aimed at the
    process group ``group`` or at every process, unless it sends signal 0 (which only asks whether they
    exist, as ``refusal`` lets it); every other call goes on."""
    ld, jeq, and_, ret = 0x20, 0x15, 0x54, 0x06     # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_ALU|AND|K, BPF_RET|K
    allow, deny = 0x7FFF0000, 0x00050000 | errno.EPERM
    # offsets in struct seccomp_data; of an argument, its low 32 bits (a pid_t, an int)
    arch, nr, arg0, arg1 = 4, 0, 16, 24
    lines = []   # (code, label jumped to if equal, label if not, k), None the next; a str marks a place
    for n, (audit_arch, (kill, *others)) in enumerate(calls.items()):
        lines += [(ld, None, None, arch), (jeq, None, f"arch{n + 1}", audit_arch),
                  (ld, None, None, nr), (and_, None, None, 0xBFFFFFFF),   # an x32 call as its x86_64 one
                  (jeq, f"kill{n}", None, kill), *[(jeq, f"pid{n}", None, c) for c in others],
                  (ret, None, None, allow),
                  f"kill{n}", (ld, None, None, arg1), (jeq, "allow", None, 0), (ld, None, None, arg0),
                  (jeq, "deny", None, 0xFFFFFFFF), (jeq, "deny", None, -group & 0xFFFFFFFF),
                  f"pid{n}", (ld, None, None, arg0), (jeq, "deny", None, parent & 0xFFFFFFFF),
                  (ret, None, None, allow), f"arch{n + 1}"]
    lines += ["allow", (ret, None, None, allow), "deny", (ret, None, None, deny)]
    at, k = {}, 0
    for line in lines:
        if isinstance(line, str):
            at[line] = k
        else:
            k += 1
    program = []
    for code, if_equal, if_not, value in (line for line in lines if not isinstance(line, str)):
        here = len(program) + 1   # a jump counts from the next instruction
        program.append(struct.pack("=HBBI", code, at[if_equal] - here if if_equal else 0,
                                   at[if_not] - here if if_not else 0, value))
    return b"".join(program)


def _filter_signals(parent: int, group: int) -> bool:
    """Install ``signal_filter`` in this process, and so in whatever it starts; False where there is none
    (not Linux, another processor, a kernel without seccomp)."""
    calls = SIGNAL_CALLS.get(os.uname().machine) if sys.platform.startswith("linux") else None
    if not calls:
        return False
    try:
        import ctypes
        program = signal_filter(calls, parent, group)

        class Program(ctypes.Structure):   # struct sock_fprog
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
        fprog = Program(len(program) // 8, program)
        libc, word = ctypes.CDLL(None, use_errno=True), ctypes.c_ulong
        # PR_SET_NO_NEW_PRIVS (38), which a filter set without privileges requires, then PR_SET_SECCOMP (22)
        # with SECCOMP_MODE_FILTER (2)
        return (libc.prctl(38, word(1), word(0), word(0), word(0)) == 0
                and libc.prctl(22, word(2), word(ctypes.addressof(fprog)), word(0), word(0)) == 0)
    except (OSError, AttributeError, ImportError):
        return False


def _guard_signals() -> None:
    """Before the user's code runs in the child: the kernel's filter, then the audit hook that raises
    PermissionError (``refusal``'s sentence) for a signal the code may not send. InChild starts the child
    leading a session of its own, which is what the code's own processes are read from."""
    parent = os.getppid()
    try:
        group = os.getpgid(parent)
    except OSError:
        group = parent
    _filter_signals(parent, group)
    session = _getsid(0)

    def hook(event, args):
        if event in _AUDITED:
            why = refusal(event, args, session, parent)
            if why is not None:
                raise PermissionError(why)
    sys.addaudithook(hook)


# ---- the child ----

def _child_main(path: str, name: str, requests: int, replies: int, memory: int, timeout: float) -> None:
    import resource
    for limit, value in ((resource.RLIMIT_DATA, memory), (resource.RLIMIT_CORE, 0)):
        try:
            hard = resource.getrlimit(limit)[1]
            resource.setrlimit(limit, (value if hard == resource.RLIM_INFINITY else min(value, hard), hard))
        except (ValueError, OSError):
            pass  # a platform without it: run as it is
    # A child whose parent was killed is not waited for: SIGALRM (default action: end the process)
    # ends it well after the parent would have.
    orphan_limit = int(min(timeout, LONGEST)) + 60
    path = os.path.abspath(path)
    sys.path.insert(0, os.path.dirname(path))  # as `python file.py` would: its neighbours import
    sys.argv = [path]
    import runpy

    _numpy()  # the frames need it, and a call's time should not pay for it
    _readings()  # and the readings: loaded before the user's code can replace what they import
    _guard_signals()  # derivax's process is out of the code's reach
    _reply(replies, {"status": "started"})  # the user's code runs from here: its time limit starts
    signal.alarm(orphan_limit)
    me = os.getpid()
    package = _package_of(path)
    try:
        if package is None:
            namespace = runpy.run_path(path)
        else:   # a module of a package that imports its neighbours relatively (CS231n's layer_utils.py, fc_net.py)
            sys.path.insert(0, package[0])
            namespace = runpy.run_module(package[1])
    except BaseException as exc:  # noqa: BLE001 - a file that does not load is the report
        _only_the_child(me)
        _reply(replies, stopped_by(exc, path))
        return
    _only_the_child(me)
    first, _, method = name.partition(".")
    if first not in namespace:
        found = sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("_")
                       and getattr(v, "__module__", None) == namespace.get("__name__"))
        _reply(replies, {"status": "stopped", "stopped": "argument", "message": f"defines no {first!r}"
                         + (f"; functions there: {', '.join(found)}" if found else "")})
        return
    fn = namespace[first]
    if _readings().ObjectLayer.fits(fn) and method in ("", "backward"):   # nnfs's Layer_Dense, Activation_ReLU
        fn = _readings().ObjectLayer(fn, first)
        fn = fn.foreign() or fn   # a layer that keeps its parameters otherwise (MIT 6.036's Linear): said why
    elif _readings().ObjectLoss.fits(fn) and method in ("", "backward"):   # nnfs's loss classes
        fn = _readings().ObjectLoss(fn, first)
    elif not method and isinstance(fn, type):   # a class named alone
        fn = class_target(fn, first)
    elif method:
        fn = _method(fn, first, method)
    elif callable(fn):   # CS231n's layer_backward(dout, cache), checked through its layer_forward
        fn = _readings().LayerPair.of(fn, namespace, first) or _readings().LossLayer.of(fn, first) or fn
    if isinstance(fn, str):
        _reply(replies, {"status": "stopped", "stopped": "argument", "message": fn})
        return
    if not callable(fn) and not isinstance(fn, (Method, _readings().ValueModel, _readings().LayerPair,
                                                _readings().LossLayer, _readings().ObjectLoss)):
        _reply(replies, {"status": "stopped", "stopped": "argument",
                         "message": f"{name} is {_a(type(fn).__name__)}, not a function"})
        return
    pair = isinstance(fn, (_readings().LayerPair, _readings().LossLayer, _readings().ObjectLoss))
    forward = getattr(fn, "forward", None) if pair else None
    _reply(replies, {"status": "loaded", "takes": takes(fn), "forward": _readings().arg_names(forward) or [] if forward
                     else [],
                     # a class's constructor's parameters (FullyConnectedNet's dropout_keep_ratio, seed)
                     "init": _readings().arg_names(fn.cls) or [] if isinstance(fn, Method) else [],
                     # a loss's: "loss" (its dx is ∂J/∂Z), "prediction" (a loss alone: ∂J/∂A)
                     "layer": (getattr(fn, "kind", None) or ("parameters" if fn.takes_parameters() else "none"))
                     if pair else ""})
    while True:
        signal.alarm(0)  # waiting for the parent costs nothing; its end closes the pipe
        try:
            req = read_frame(requests)
        except (EOFError, ProtocolError):  # the parent is gone, or wrote what it never writes
            return
        signal.alarm(orphan_limit)
        reply = call(fn, req["params"], req["x"], req["y"], req["names"], path, optional=req.get("optional", ()),
                     per_example=req.get("per_example"), context=req.get("context"))
        _only_the_child(me)
        _reply(replies, reply)


def _package_of(path: str):
    """(the folder that holds the top package, the file's dotted module name) for a file in a package (its folder
    has an __init__.py) that imports relatively (``from .layers import *``, ``from ..layer_utils import *``, as
    CS231n's assignments do), so that it loads as a module of its package; None for any other file, which runs as
    ``python file.py`` would."""
    import re
    folder, name = os.path.split(path)
    stem, ext = os.path.splitext(name)
    if ext != ".py" or not os.path.isfile(os.path.join(folder, "__init__.py")):
        return None
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    if not re.search(r"^[ \t]*from[ \t]+\.", text, re.MULTILINE):
        return None
    parts = [stem]
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        folder, package = os.path.split(folder)
        if not package:
            break
        parts.insert(0, package)
    if not all(p.isidentifier() for p in parts) or len(parts) < 2:
        return None
    return folder, ".".join(parts)


# The methods a class named alone is checked by, first found first: Saito's nets (whose loss is a number, gradient
# the gradients), CS231n's nets, Nielsen's Network.
CLASS_METHODS = ("gradient", "gradients", "loss", "backward", "backprop", "grads")
# then a method that updates the weights in place (Rashid's train), where the class's own module defines it (not
# torch's Module.train)
UPDATE_METHODS = ("train", "train_step")


def takes(fn) -> list:
    """The names of the parameters ``fn`` (a function, a Class.method, a class named alone) takes."""
    target = fn
    if isinstance(fn, type):
        target = class_target(fn)
        if isinstance(target, str):
            return []
    if isinstance(target, Method):
        target = getattr(target.cls, target.name, None)
    if isinstance(target, _readings().LayerPair):
        target = target.backward
    if isinstance(target, _readings().LossLayer):
        target = target.fn
    try:
        return [p.name for p in inspect.signature(target).parameters.values() if p.name != "self"]
    except (TypeError, ValueError):
        return []


def class_target(cls, cls_name=None):
    """What a class named alone is checked by: its backward method, as the courses name it (a Method), or,
    for a model of scalar values with parameters() (micrograd's MLP), a ValueModel; else the sentence
    saying why neither."""
    cls_name = cls_name or cls.__name__
    found = [m for m in CLASS_METHODS if callable(getattr(cls, m, None))]

    def takes_data(m):   # a getter of what a backward stored (numpy-ml's gradients(self)) takes nothing
        try:
            return any(p.name != "self" for p in inspect.signature(getattr(cls, m)).parameters.values())
        except (TypeError, ValueError):
            return True
    method = next((m for m in found if takes_data(m)), found[0] if found else "") or next(
        (m for m in UPDATE_METHODS if _readings()._own_method(cls, m)), "")
    if method:
        return _method(cls, cls_name, method)
    if _readings().ValueModel.fits(cls):
        return _readings().ValueModel(cls)
    return (f"{cls_name} is a class with none of the methods {', '.join(CLASS_METHODS + UPDATE_METHODS)}, and no model "
            f"of scalar values (parameters() and __call__): name one, as {cls_name}.method")


def _method(cls, cls_name, method):
    """A Method for ``cls.method``, or the sentence saying why there is none."""
    if not isinstance(cls, type):
        return f"{cls_name} is {_a(type(cls).__name__)}, not a class: name a function, or Class.method"
    raw = inspect.getattr_static(cls, method, None)
    if raw is None:
        found = sorted(k for k, v in vars(cls).items() if callable(v) and not k.startswith("_"))
        return f"{cls_name} has no method {method!r}" + (f"; its methods: {', '.join(found)}" if found else "")
    if isinstance(raw, (staticmethod, classmethod)):
        return getattr(cls, method)
    return Method(cls, method)


def _only_the_child(pid: int) -> None:
    """A process the user's code forked ends here: one process answers, so that replies do not
    interleave on the channel, and no copy lingers to read the parent's next request."""
    if os.getpid() != pid:
        _exit(0)


def _reply(fd: int, doc) -> None:
    for stream in (sys.stdout, sys.stderr):  # the user's prints come before the verdict
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a stream the user replaced or closed
            pass
    write_frame(fd, doc)


# ---- the parent ----

class InChild:
    """A function in ``path`` named ``name``, loaded and called in a child process.

    Use as a context manager: the child starts at once (its loading overlaps the caller's work),
    ``wait_loaded`` raises LoadError if it did not load, and leaving the block kills the child and
    anything it started. After the child stopped, every call returns the reply that said so."""

    def __init__(self, path, name: str, timeout: float = DEFAULT_TIMEOUT, memory: int | None = None):
        self.path, self.name, self.timeout = str(path), name, timeout
        self.memory = memory_limit() if memory is None else memory
        self.ended = None
        req_r, self._requests = os.pipe()
        self._replies, rep_w = os.pipe()
        try:
            # -P: the child's imports do not see this package's folder; stdout=2: prints go to stderr;
            # a session of its own: a Ctrl-C reaches the parent only, and the child's group can be killed
            argv = [self.path, name, str(req_r), str(rep_w), str(self.memory), str(timeout)]
            self.proc = subprocess.Popen([sys.executable, "-P", os.path.abspath(__file__), *argv],
                                         stdin=subprocess.DEVNULL, stdout=2, pass_fds=(req_r, rep_w),
                                         start_new_session=True)
        except BaseException:
            self._close_pipes()
            raise
        finally:
            os.close(req_r)
            os.close(rep_w)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self) -> None:
        if self.proc.returncode is None:
            try:  # before reaping the child, so that its group id cannot have been reused
                os.killpg(self.proc.pid, signal.SIGKILL)  # the child and whatever it started
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for fd in (self._requests, self._replies):
            try:
                os.close(fd)
            except OSError:
                pass
        self._requests = self._replies = -1

    def wait_loaded(self) -> None:
        """Return once the function is loaded, or raise LoadError. The time limit counts from when the
        child is ready to run the file: Python's own start-up is not the user's code."""
        reply = self._receive(time.monotonic() + STARTUP_LIMIT, STARTUP_LIMIT)
        if reply["status"] == "started":
            reply = self._receive(time.monotonic() + self.timeout)
        if reply["status"] != "loaded":
            raise LoadError(reply["message"], reply["stopped"])
        self.takes = [t for t in reply.get("takes", []) if isinstance(t, str)]
        self.forward_takes = [t for t in reply.get("forward", []) if isinstance(t, str)]   # a layer pair's forward
        self.init_takes = [t for t in reply.get("init", []) if isinstance(t, str)]   # a class's constructor
        self.layer = reply.get("layer") if reply.get("layer") in ("parameters", "none", "loss", "prediction") else ""

    def __call__(self, params, x, y, names, optional=(), per_example=None, context=None) -> dict:
        if self.ended is not None:
            return self.ended
        try:
            write_frame(self._requests, {"params": params, "x": x, "y": y, "names": list(names),
                                         "optional": list(optional), "per_example": per_example,
                                         "context": context})
        except OSError:  # the child is gone (BrokenPipeError): its exit status says how
            return self._stop(*self._how_it_ended())
        return self._receive(time.monotonic() + self.timeout)

    def _receive(self, deadline: float, limit: float | None = None) -> dict:
        try:
            reply = read_frame(self._replies, deadline)
            if not _well_formed(reply):
                raise ProtocolError("a reply of no known form")
            return reply
        except TimeoutError:
            if limit is not None:
                return self._stop("timeout", f"did not start within {limit:g} s")
            return self._stop("timeout", f"ran past the time limit of {self.timeout:g} s "
                                         "(--timeout to change it)")
        except (EOFError, OSError):
            return self._stop(*self._how_it_ended())
        except ProtocolError as exc:
            return self._stop("crash", f"broke the check's channel: it sent {exc}")

    def _stop(self, stopped: str, message: str) -> dict:
        self.close()
        self.ended = {"status": "stopped", "stopped": stopped, "message": message}
        return self.ended

    def _how_it_ended(self) -> tuple:
        """(stopped, sentence) for a child that closed its end of the channel."""
        code = self._exit_status()
        if code is None:
            return "crash", "closed the check's channel"
        if code < 0:
            return "signal", f"was killed by signal {_signal_name(-code)}"
        if code == CHANNEL_BROKEN:
            return "crash", ("broke the check's channel: the child could not answer (its code closed the "
                             "channel's pipes, or replaced what the child answers with)")
        return "exit", (f"exited with status {code} without returning or raising "
                        "(os._exit, or a crash below Python)")

    def _exit_status(self) -> int | None:
        """The child's exit status (-N: killed by signal N), or None if it still runs after 2 s."""
        if not hasattr(os, "waitid"):  # kill first: a child that has ended keeps its status
            self.close()
            return self.proc.returncode
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            # WNOWAIT: look without reaping, so that close() can still kill the child's group
            ended = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if ended is not None and ended.si_pid:
                return ended.si_status if ended.si_code == os.CLD_EXITED else -ended.si_status
            time.sleep(0.005)
        return None


def _well_formed(reply) -> bool:
    """A reply as the child writes it: the parent reads nothing else (a user's code can reach the pipe)."""
    np = _numpy()

    def texts(v):
        return isinstance(v, list) and all(isinstance(t, str) for t in v)
    if not isinstance(reply, dict):
        return False
    status = reply.get("status")
    if status == "returned":
        values, problems = reply.get("values"), reply.get("problems")
        return (isinstance(values, dict) and all(isinstance(v, np.ndarray) for v in values.values())
                and isinstance(problems, dict) and texts(list(problems.values()))
                and texts(reply.get("narrow")) and texts(reply.get("extra")) and texts(reply.get("spelled", []))
                and texts(reply.get("half", [])) and texts(reply.get("dtypes", []))
                and texts(reply.get("readings", [])) and texts(reply.get("findings", []))
                and texts(reply.get("findings_said", []))
                and isinstance(reply.get("clipped", 0.0), (int, float)) and isinstance(reply.get("loss", 0.0), float)
                and reply.get("aligned", True) is True and reply.get("channels_first", True) is True
                and all(isinstance(reply.get(part, {}), dict) and all(
                    isinstance(k, str) and isinstance(v, list) and all(isinstance(d, int) for d in v)
                    for k, v in reply.get(part, {}).items()) for part in ("handed", "extra_shapes"))
                and texts([reply.get("calling", "")]) and isinstance(reply.get("update", 1.0), float))
    if status == "stopped":
        return isinstance(reply.get("stopped"), str) and isinstance(reply.get("message"), str) \
            and reply.get("indexes_data", True) is True
    return status in ("started", "loaded") and texts(reply.get("takes", [])) and texts([reply.get("layer", "")])


def _signal_name(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        return str(number)
    desc = signal.strsignal(number) if hasattr(signal, "strsignal") else None
    return f"{name} ({desc})" if desc else name


class InProcess:
    """A callable, called in this process under ``derive.run.limits.time_limit`` (on any thread)."""

    def __init__(self, fn, timeout: float | None = DEFAULT_TIMEOUT):
        self.fn, self.timeout = fn, timeout
        code = getattr(fn, "__code__", None)
        self.user_file = code.co_filename if code else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def wait_loaded(self) -> None:
        self.takes, self.layer = takes(self.fn), ""

    def __call__(self, params, x, y, names, optional=(), per_example=None, context=None) -> dict:
        from derive.run.limits import OutOfTime, time_limit  # the parent's side: derive is importable here

        def work():
            return call(self.fn, params, x, y, names, self.user_file, let_through=OutOfTime, optional=optional,
                        per_example=per_example, context=context)
        if not self.timeout:
            return work()
        result = None
        with time_limit(min(self.timeout, LONGEST)) as limit:
            result = work()
        if limit.expired:
            return {"status": "stopped", "stopped": "timeout",
                    "message": f"ran past the time limit of {self.timeout:g} s (timeout= to change it)"}
        return result


def open_function(fn, timeout: float | None = DEFAULT_TIMEOUT):
    """InChild for "file.py[:name]" (a str or a path), InProcess for a callable."""
    if callable(fn):
        return InProcess(fn, timeout)
    path, name = parse_spec(str(fn))
    return InChild(path, name, timeout or DEFAULT_TIMEOUT)


def parse_spec(spec: str) -> tuple:
    """(path, name) from file.py[:name] (default name: backward; a name may be Class.method); ValueError if
    there is no such file, or it is no regular file (a directory, a FIFO, a device: never opened)."""
    path, sep, name = spec.rpartition(":")
    if not sep or not all(part.isidentifier() for part in name.split(".")) or name.count(".") > 1:
        # no name given (or a drive letter's colon); a name is a function or Class.method
        path, name = spec, "backward"
    if not Path(path).is_file():
        from derive.network.examples import file_kind
        kind = file_kind(path)   # looked up without opening it: a FIFO opened to be read waits for a writer
        if kind is not None:
            raise ValueError(f"{path} is {kind}, not a regular file: give the .py file that defines the function")
        raise ValueError(f"no such file: {path}")
    return path, name


if __name__ == "__main__":
    try:
        _child_main(*sys.argv[1:3], *map(int, sys.argv[3:6]), float(sys.argv[6]))
    except BaseException:  # noqa: BLE001 - the parent is gone, or the user's code broke the channel
        _exit(CHANNEL_BROKEN)  # no traceback of this module: the parent's report says what happened

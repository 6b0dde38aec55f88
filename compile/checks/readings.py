"""How a user's backward code is handed the network when it does not take ``(params, x, y)`` as derivax
writes them: the readings that let code from the courses run as it was written.

- ``Params``: the parameters under the names the code reads (``params["W1"]`` for the network's first
  weight W3, ``params["bngain"]`` for gamma4, ``params["C"]`` for C1), each spelling it used recorded.
- ``GlobalsReading``: a function that reads its weights from module globals (min-char-rnn's ``lossFun``
  reads ``Wxh, Whh, Why, bh, by``): they are set before each call, in the layout the file gives them
  (its own arrays' shapes say rows or columns), and a returned tuple of gradients is read in the order
  the file defines them.
- ``torch_of``: code written with PyTorch gets torch tensors (float64; integer inputs as long).
- ``ValueModel``: a model of scalar autograd values (micrograd's ``MLP``): built, its values set from the
  network's W and b, the loss built from its own operations and ``backward()`` run; ``value_findings``
  tests each operation's backward rule of its Value class on its own, so that a wrong rule is named.

This module runs in the check's child process: it imports only the standard library and NumPy.
"""
from __future__ import annotations

import inspect
import math

import numpy as np


class Misshapen:
    """A returned gradient matched to its parameter by name whose shape is not the one the code was handed the
    parameter in, the sentence saying so: reported at that parameter (never as a gradient not returned)."""

    def __init__(self, value, message: str):
        self.value, self.message = value, message


def broadcast_problem(arr, name, handed):
    """A message where a bias's gradient of the same entries would broadcast against the parameter as the code
    was handed it into a bigger array (deeplearning.ai's db1 of (4,) for b1 of (4, 1): the course's own update
    b1 - lr * db1 is (4, 4)); None where the update keeps the parameter's shape, or the shape handed is unknown."""
    if handed is None:
        return None
    handed = tuple(int(d) for d in handed)
    try:
        grown = np.broadcast_shapes(arr.shape, handed)
    except ValueError:
        return None   # no update at all: named by the shapes' own check
    if int(np.prod(grown, dtype=np.int64)) <= int(np.prod(handed, dtype=np.int64)):
        return None
    shown = name or "the parameter"
    grad = f"d{name}" if name else "its gradient"
    why = ""
    if len(handed) == 2 and handed[1] == 1 and arr.ndim == 1:
        why = " (summed without keepdims=True: np.sum(..., axis=1, keepdims=True) keeps the column)"
    elif len(handed) == 1 and arr.ndim == 2 and arr.shape[1] == 1:
        why = f" (a column where {shown} is a vector: no reshape to a column)"
    elif len(handed) == 2 and handed[1] == 1 and arr.ndim == 2 and arr.shape[0] == 1:
        why = f" (a row where {shown} is a column)"
    return (f"wrong shape: found {arr.shape} where {shown} is {handed}: the update {shown} - lr * {grad} would be "
            f"{tuple(int(d) for d in grown)}, not {handed}{why}")


def transposed_text(found, where, shape) -> str:
    return f"wrong shape: found {tuple(found)} where {where} is {tuple(shape)}: transposed"


class Params(dict):
    """The parameters by derivax's names, also readable under ``aliases`` ({spelling: name}); the spellings
    read are kept in ``used`` (the report says how the code's names were read). Named dict to the code it
    is handed to, as its messages should name it ('dict' and 'float', not a class of derivax's)."""

    def __init__(self, values, aliases=None):
        super().__init__(values)
        self.aliases = dict(aliases or {})
        self.used = {}

    def _name(self, key):
        """derivax's name for ``key``: an alias, or a spelling that differs from one only in case and
        underscores (w1, W_1 for W1; wxh for Wxh1's Wxh) where it fits one parameter alone; else None."""
        if not isinstance(key, str):
            return None
        name = self.aliases.get(key)
        if name is not None and dict.__contains__(self, name):
            return name
        plain = key.replace("_", "").lower()
        fits = {n for n in [*dict.keys(self), *self.aliases] if isinstance(n, str)
                and n.replace("_", "").lower() == plain}
        names = {n if dict.__contains__(self, n) else self.aliases[n] for n in fits}
        names = {n for n in names if dict.__contains__(self, n)}
        return names.pop() if len(names) == 1 else None

    def __missing__(self, key):
        name = self._name(key)
        if name is None:
            raise UnknownParameter(key, list(dict.keys(self)))
        self.used[key] = name
        return dict.__getitem__(self, name)

    def __contains__(self, key):
        return dict.__contains__(self, key) or self._name(key) is not None

    def __reduce__(self):   # pickled (or sent to another process) as the plain dict it stands for
        return dict, (dict(self),)

    def __copy__(self):
        out = Params(self, self.aliases)
        out.used = self.used
        return out

    def __deepcopy__(self, memo):
        import copy
        out = Params({k: copy.deepcopy(v, memo) for k, v in dict.items(self)}, self.aliases)
        out.used = self.used   # the spellings read through a copy are the code's too
        return out


class UnknownParameter(KeyError):
    """A key the parameters are read under that names none of them: says which names there are, and how
    to map the code's own spelling. Still a KeyError, for code that catches one."""
    shown_as = "KeyError"

    def __init__(self, key, names):
        super().__init__(key)
        self.key, self.names = key, names

    def __str__(self):
        key = repr(self.key)
        spelled = f" (--names {self.key}=NAME reads it as one of them)" if isinstance(self.key, str) and \
            self.key.isidentifier() else ""
        return f"{key}: the parameters are {', '.join(self.names)}{spelled}"

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default


Params.__name__ = Params.__qualname__ = "dict"


# ---- PyTorch code ----

def _module_space(fn) -> dict:
    """The globals of the module ``fn`` (a function, a bound method, a class or what wraps one) was defined in."""
    for obj in (fn, getattr(fn, "__func__", None), getattr(fn, "fn", None)):
        space = getattr(obj, "__globals__", None)
        if isinstance(space, dict):
            return space
    cls = getattr(fn, "cls", None) or (fn if isinstance(fn, type) else None)
    for value in vars(cls).values() if cls is not None else ():
        value = getattr(value, "__func__", value)
        space = getattr(value, "__globals__", None)
        if isinstance(space, dict):
            return space
    return {}


def uses_torch(fn) -> bool:
    """Whether ``fn``'s module imported torch (``import torch``, ``import torch.nn.functional as F``)."""
    return any(inspect.ismodule(v) and (v.__name__ == "torch" or v.__name__.startswith("torch."))
               for v in list(_module_space(fn).values()))


def uses_jax(fn) -> bool:
    """Whether ``fn``'s module imported JAX (``import jax``, ``import jax.numpy as jnp``)."""
    return any(inspect.ismodule(v) and (v.__name__ == "jax" or v.__name__.startswith("jax."))
               for v in list(_module_space(fn).values()))


_PYTREE = []


def jax_ready() -> None:
    """Params as a JAX pytree (a dict of its arrays, by derivax's names), so that jax.grad and
    jax.tree_util take it as they take a dict: registered once, where the user's code imports JAX."""
    if _PYTREE:
        return
    import sys
    tree_util = getattr(sys.modules.get("jax"), "tree_util", None)
    if tree_util is None:
        return

    def flatten(p):
        keys = sorted(dict.keys(p))
        return [dict.__getitem__(p, k) for k in keys], (tuple(keys), tuple(sorted(p.aliases.items())))

    def unflatten(aux, children):
        keys, aliases = aux
        return Params(dict(zip(keys, children)), dict(aliases))
    tree_util.register_pytree_node(Params, flatten, unflatten)
    _PYTREE.append(True)


def torch_of(value):
    """``value`` with its arrays as torch tensors (float64; integers as long), containers kept."""
    import torch
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iu":
            return torch.from_numpy(value.astype(np.int64))
        return torch.from_numpy(np.array(value, dtype=np.float64))
    if isinstance(value, Params):
        out = Params({k: torch_of(v) for k, v in dict.items(value)}, value.aliases)
        out.used = value.used
        return out
    if isinstance(value, dict):
        return type(value)({k: torch_of(v) for k, v in value.items()}) if type(value) is dict else \
            _same_kind(value, {k: torch_of(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return type(value)(torch_of(v) for v in value)
    return value


def _same_kind(value, items):
    try:
        out = type(value).__new__(type(value))
        dict.__init__(out, items)
        out.__dict__.update(getattr(value, "__dict__", {}))
        return out
    except Exception:  # noqa: BLE001 - a mapping that cannot be rebuilt: a plain dict of the same values
        return dict(items)


def plain(value):
    """A returned torch tensor as a NumPy array (detached, on the CPU); anything else as it is."""
    kind = type(value).__module__ or ""
    if kind.startswith("torch") and hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return value


# ---- weights kept in module globals ----

def _names_read(code, space=None, seen=None) -> set:
    """The global names a function's code reads: its own, those of the functions defined inside it, and
    those of the module's functions it calls (d2l's grads() calls net(), which reads b)."""
    seen = set() if seen is None else seen
    if id(code) in seen:
        return set()
    seen.add(id(code))
    out = set(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            out |= _names_read(const, space, seen)
    for name in list(out):
        called = (space or {}).get(name)
        if inspect.isfunction(called) and called.__globals__ is space:
            out |= _names_read(called.__code__, space, seen)
    return out


def _strings_in(code, space, seen) -> set:
    """The text constants of a function's code, of the functions defined inside it and of the module's functions
    it calls: the keys it may read its parameters under."""
    if id(code) in seen:
        return set()
    seen.add(id(code))
    out = set()
    for const in code.co_consts:
        if isinstance(const, str):
            out.add(const)
        elif isinstance(const, tuple):
            out |= {c for c in const if isinstance(c, str)}
        elif inspect.iscode(const):
            out |= _strings_in(const, space, seen)
    for name in code.co_names:
        called = (space or {}).get(name)
        if inspect.isfunction(called) and called.__globals__ is space:
            out |= _strings_in(called.__code__, space, seen)
    return out


def strings_read(fn) -> set:
    """The text constants ``fn`` (a function, a bound method, or a class's method as the check calls it: every
    method of its class) and the module's functions it calls hold."""
    space = _module_space(fn)
    codes = [getattr(obj, "__code__", None) for obj in (fn, getattr(fn, "__func__", None), getattr(fn, "fn", None))]
    cls = getattr(fn, "cls", None) or (fn if isinstance(fn, type) else None)
    if isinstance(cls, type):
        codes += [getattr(getattr(v, "__func__", v), "__code__", None) for v in vars(cls).values()]
    out, seen = set(), set()
    for code in codes:
        if inspect.iscode(code):
            out |= _strings_in(code, space, seen)
    return out


def reads_biases_aligned(strings, aliases, aligned) -> bool:
    """Whether the names a function reads (``strings``) say that its bK is the bias of the layer its WK names
    (``aligned``, from ``compile.checks.intermediates.aligned_aliases``) rather than the K-th bias counted
    (``aliases``): every bK it reads has a bias in the first reading and not every one in the second (the
    makemore exercise reads b2 and no b1, its first layer having none), or both readings fit and it reads
    each WK beside its bK."""
    import re
    counted = {k: v for k, v in aliases.items() if re.fullmatch(r"b\d+", k)}
    read = {k for k in set(counted) | set(aligned) if k in strings}
    if not read or all(counted.get(k) == aligned.get(k) for k in read):
        return False
    if not all(k in aligned for k in read):
        return False
    if not all(k in counted for k in read):
        return True
    return all(f"W{k[1:]}" in strings for k in read)


def realigned(aliases, aligned) -> dict:
    """``aliases`` (spellings with and without the d of a gradient) with bK and dbK read as ``aligned`` says, and the
    counting reading's spellings of those biases dropped."""
    import re
    spelled = {**aligned, **{"d" + k: v for k, v in aligned.items()}}
    claimed = set(spelled.values())
    out = {k: v for k, v in aliases.items()
           if not (re.fullmatch(r"d?b\d+", k) and v in claimed and k not in spelled)}
    out.update(spelled)
    return out


class GlobalsReading:
    """``fn`` reading the network's parameters from module globals named as they are (or as ``aliases``
    spell them). Each call sets them from the parameters it is handed, in the file's own layout, and
    restores them after; the result is returned keyed by derivax's names, in derivax's layout.

    ``layout`` is "rows" or "columns": read off the file's own arrays (a global whose shape is the
    transpose of the parameter's); a square weight takes the layout of the others."""

    owner = ""          # what the keys of ``space`` are written after: "" for globals, "self." for attributes
    lr_given = None     # --lr: the learning rate an update in place is divided by
    said = None         # the sentence for what a call left behind instead of a result (.g, or weights it updated)
    nothing = None      # the sentence for a call that returned None and left nothing behind either
    update_lr = None    # the learning rate an update in place was read with

    def __init__(self, fn, found, layout):
        self.fn, self.found, self.layout = fn, found, layout   # found: [(global name, parameter name)]
        self.space = getattr(fn, "__globals__", None)   # where the arrays are kept and set
        try:
            self.__signature__ = inspect.signature(fn)
        except (TypeError, ValueError):
            pass
        self.__name__ = getattr(fn, "__name__", "fn")
        self.__qualname__ = getattr(fn, "__qualname__", self.__name__)

    @classmethod
    def of(cls, fn, params, aliases):
        """The reading for ``fn``, None when it reads no parameter from its globals, or a sentence when
        its globals cannot take the network's parameters (a shape that fits no layout)."""
        space, code = getattr(fn, "__globals__", None), getattr(fn, "__code__", None)
        if space is None or code is None:
            return None
        read = _names_read(code, space)
        named = _globals_named(space, read, params, aliases)
        # in the order the file defines them
        found = [(key, named[key]) for key in list(space) if key in named]
        if not found:
            return None
        layout = _layout_of(space, found, params)
        if layout not in ("rows", "columns"):
            return "its module's globals do not fit the network's parameters in one layout: " + layout
        return cls(fn, found, layout)

    @staticmethod
    def unset(fn, params, found, names, data_only=False):
        """None where every parameter of ``names`` reaches ``fn`` through a global derivax sets (``found``: [(global,
        parameter)]), or where ``fn`` reads no array of its module's that derivax did not set; else the sentence that
        refuses to judge gradients taken at the file's own values: the arrays it reads that were not set, with their
        shapes, and the ``--names`` that would map them to the parameters their shapes fit. ``data_only``: ``fn`` takes
        the data alone (x, y), so that with no parameter set and no array read its weights come from nowhere derivax
        hands them (an object, a closure, its own body): refused too."""
        space, code = getattr(fn, "__globals__", None), getattr(fn, "__code__", None)
        if space is None or code is None:
            return None
        set_keys = {k for k, _ in found}
        set_names = {n for _, n in found}
        missing = [n for n in names if n in dict.keys(params) and n not in set_names]
        if not missing:
            return None
        read = _names_read(code, space)
        arrays, held = [], []
        for key, value in list(space.items()):   # in the order the file defines them
            if key not in read or key in set_keys or key.startswith("__"):
                continue
            shape = _array_shape(value)
            if shape is not None:
                arrays.append((key, shape))
            elif not (inspect.ismodule(value) or inspect.isclass(value) or callable(value)):
                held += [(f"{key}{attr}", s) for attr, s in _held_arrays(value)]
        name = getattr(fn, "__qualname__", getattr(fn, "__name__", "the function"))
        if not arrays and not held:
            if found or not data_only:
                return None
            return (f"{name} takes the data alone and reads none of the parameters ({', '.join(missing)}) from its "
                    "module's globals: its gradients would be taken at weights derivax did not choose, so none is "
                    "judged; take params as an argument, or keep the weights as module arrays named as the parameters "
                    "or mapped to them with --names GLOBAL=PARAMETER")
        fits, left = {}, list(missing)
        for key, shape in arrays:
            param = next((n for n in left if _shape_fits(shape, np.shape(params[n]))), None)
            if param is not None:
                fits[key] = param
                left.remove(param)
        shown = ", ".join(f"{k} {tuple(s)}" for k, s in arrays + held)
        text = ""
        if found:
            text = (f"the parameters {', '.join(n for _, n in found)} were set as the module's globals "
                    f"{', '.join(k for k, _ in found)}, but ")
        text += (f"{name} reads arrays of its module that derivax did not set: {shown}; "
                 f"{', '.join(missing)} reach{'es' if len(missing) == 1 else ''} it through no global derivax set, "
                 "so its gradients would be taken at the file's own values, not at derivax's points: none is judged")
        if held:
            owners = list(dict.fromkeys(k.partition('.')[0].partition('[')[0] for k, _ in held))
            text += (f"; {', '.join(k for k, _ in held)} {'is' if len(held) == 1 else 'are'} held inside the module's "
                     f"{', '.join(owners)}, which derivax cannot set (it sets module globals that are arrays): keep the "
                     "weights as arrays, or take them as an argument (params)")
        if fits:
            text += (f"; derivax sets a module global named as a parameter ({', '.join(dict.keys(params))}) or mapped "
                     f"to one: --names {','.join(f'{k}={n}' for k, n in fits.items())} maps "
                     f"{'it' if len(fits) == 1 else 'them'} (by {'its shape' if len(fits) == 1 else 'their shapes'})")
        elif arrays:
            text += (f"; derivax sets a module global named as a parameter ({', '.join(dict.keys(params))}) or mapped "
                     "to one with --names GLOBAL=PARAMETER")
        return text

    def _shape_of(self, key):
        return tuple(self.space[key].shape)

    def __call__(self, *args, **kwargs):
        space = self.space
        params = getattr(self, "params", {})
        saved = {key: space[key] for key, _ in self.found}
        shapes = {key: tuple(space[key].shape) for key, _ in self.found}
        handed, after = {}, {}
        try:
            for key, name in self.found:
                space[key] = handed[key] = self._to_file(np.asarray(params[name]), shapes[key], saved[key])
            # what was handed, as it was: code that updates its weights in place changes these very arrays
            before = {key: np.array(plain(v), dtype=float) for key, v in handed.items()}
            kind = self._attribute_kind(saved)
            if kind is not None:   # fast.ai's inp.g = ...: the data of the class of arrays its globals are
                args = tuple(a.view(kind) if type(a) is np.ndarray else a for a in args)
                kwargs = {k: v.view(kind) if type(v) is np.ndarray else v for k, v in kwargs.items()}
            out = self.fn(*args, **kwargs)
            after = {key: space.get(key) for key, _ in self.found}
        finally:
            space.update(saved)
        if out is None or _is_scalar(out):
            got = self._left_behind(out, handed, before, after, shapes)
            if got is not None:
                return got
        return self._read(out, shapes)

    def _attribute_kind(self, saved):
        """The class of the file's own arrays where it is a subclass of NumPy's array whose instances take
        attributes (``class Tensor(np.ndarray): pass``) and the code sets an attribute (``w.g = ...``): the data is
        handed in it too, as fast.ai's lin_grad sets inp.g on its input. None otherwise."""
        kinds = {type(v) for v in saved.values() if _takes_attributes(type(v))}
        if len(kinds) != 1 or not _attributes_set(self.fn):
            return None
        return kinds.pop()

    def _left_behind(self, out, handed, before, after, shapes):
        """The gradients a call that returned nothing (or its loss alone) left behind: the ``.g`` it set on the
        parameters' arrays (fast.ai's from-the-foundations lin_grad(inp, out, w, b) sets w.g, b.g), or the change of
        the arrays it updated in place (Rashid's self.who += self.lr * ..., Trask's syn1 += ...): gradient = (W before
        - W after) / lr. None where it left neither (the result is then said to be no dict)."""
        names = dict(self.found)
        where = "object" if self.owner else "module"
        returned = "None" if out is None else "a number"
        who = self.__qualname__
        for attr in GRAD_ATTRIBUTES:
            marks = {key: getattr(handed[key], attr, None) for key in handed}
            if all(v is None for v in marks.values()):   # a global rebound to an array of its own, its .g set there
                marks = {key: getattr(after.get(key), attr, None) for key in handed}
            if all(v is None for v in marks.values()):
                continue
            got = {}
            for key, name in self.found:
                got[name] = Misshapen(None, f"no gradient: the call set no {self.owner}{key}.{attr}") \
                    if marks[key] is None else self._from_file(marks[key], name, key, shapes.get(key))
            set_on = ", ".join(self.owner + k for k in handed if marks[k] is not None)
            self.said = (f"{who} returned {returned} and set .{attr} on {set_on}: each gradient read from its "
                         f"parameter's .{attr}, as " + ("fast.ai's from-the-foundations code leaves it" if attr == "g"
                                                        else "PyTorch's backward() leaves it"))
            self._keep_loss(out)
            return got
        changed = [key for key in before if not _same_array(before[key], after.get(key))]
        if not changed:
            keys = ", ".join(self.owner + k for k, _ in self.found)
            self.nothing = (f"returned {returned} and left nothing behind either: it changed none of the arrays "
                            f"derivax set ({keys}) and set no .g on them; return the gradients (a dict keyed by the "
                            "parameters' names), set each parameter's .g, or update the weights in place")
            return None
        missing = [n for n in dict.keys(self.params) if n not in names.values()]
        if missing:
            biases = all(n.startswith("b") for n in missing)
            raise ReadingError(
                f"{who} updates {', '.join(self.owner + k for k in changed)} in place, but {', '.join(missing)} "
                f"{'has' if len(missing) == 1 else 'have'} no array in its {where} that derivax sets: "
                + ("the network it trains has no biases: declare it so, nobias among each dense layer's "
                   "options (as 3-4:sigmoid:nobias-1:sigmoid:nobias) or Dense(..., use_bias=False)" if biases else
                   "keep each parameter as an array there, named as it is or mapped with --names KEY=PARAMETER"))
        lr, source = learning_rate(self.space, self._reads(), self.owner, self.lr_given)
        got = {}
        for key, name in self.found:
            now = after.get(key)
            try:
                arr = np.asarray(plain(now), dtype=float)
            except (TypeError, ValueError):
                arr = None
            if arr is None or arr.shape != before[key].shape:
                left = f"of shape {arr.shape}" if arr is not None else f"as {type(now).__name__}"
                got[name] = Misshapen(now, f"the update left {self.owner}{key} {left} where it was {before[key].shape}")
            else:
                got[name] = self._from_file((before[key] - arr) / lr, name, key, shapes.get(key))
        self.update_lr = lr
        self.said = (f"{who} returned {returned} and updated {', '.join(self.owner + k for k in changed)} in place: "
                     f"each gradient read as (W before − W after) / lr, {source}; an update that descends J leaves "
                     "W − lr·∂J/∂W")
        self._keep_loss(out)
        return got

    def _keep_loss(self, out):
        seen = getattr(self, "seen", None)
        if out is not None and seen is not None:
            try:
                seen.setdefault("losses", []).append(float(plain(out)))
            except (TypeError, ValueError):
                pass

    def _reads(self) -> set:
        code = getattr(self.fn, "__code__", None)
        return _names_read(code, self.space) if code is not None else set()

    def _to_file(self, value, shape, like):
        if value.ndim == 2 and len(shape) == 2 and value.shape != shape and value.shape[::-1] == shape:
            value = value.T
        elif value.ndim == 2 and len(shape) == 2 and self.layout == "columns" and value.shape[0] == value.shape[1]:
            value = value.T
        value = np.array(value.reshape(shape))
        if type(like).__module__.startswith("torch"):   # with the file's own requires_grad (code that calls backward())
            tensor = torch_of(value)
            return tensor.requires_grad_(True) if getattr(like, "requires_grad", False) else tensor
        value = value.astype(getattr(like, "dtype", value.dtype), copy=False) if isinstance(like, np.ndarray) \
            and like.dtype.kind == "f" else value
        # the file's own class of arrays that take attributes (fast.ai's w.g = ... in NumPy): the same class
        return value.view(type(like)) if _takes_attributes(type(like)) else value

    def _from_file(self, value, name, key=None, shape=None):
        value = plain(value)
        arr = np.asarray(value) if hasattr(value, "shape") else None
        if arr is None or arr.ndim != 2:
            return value
        if shape is not None and len(shape) == 2 and min(shape) > 1 and shape[0] != shape[1] \
                and arr.shape == tuple(shape)[::-1]:   # the global's gradient in the other layout than the global's
            return Misshapen(arr, transposed_text(arr.shape, key, shape))
        want = tuple(np.shape(self.params[name]))
        if arr.shape != want and arr.shape[::-1] == want:
            return arr.T
        if arr.shape == want and self.layout == "columns" and want[0] == want[1] and len(want) == 2:
            return arr.T
        return arr

    def _read(self, out, shapes):
        """The gradients keyed by derivax's names: a dict keyed as the globals (or dW-spelled), or a
        tuple (loss, dWxh, dWhh, ...[, something else]) in the order the file defines the globals."""
        names = dict(self.found)
        if isinstance(out, dict):
            got = {}
            for key, value in out.items():
                base = key[1:] if isinstance(key, str) and key.startswith("d") and key[1:] in names else key
                got[names.get(base, key)] = self._from_file(value, names[base], base, shapes.get(base)) \
                    if base in names else value
            return got
        if not isinstance(out, (tuple, list)):
            return out
        parts = list(out)
        if parts and _is_scalar(parts[0]) and len(parts) > len(self.found):
            seen = getattr(self, "seen", None)
            if seen is not None:
                try:
                    seen.setdefault("losses", []).append(float(plain(parts[0])))
                except (TypeError, ValueError):
                    pass
            parts = parts[1:]
        n = len(self.found)
        fits = all(hasattr(parts[k], "shape") and int(np.prod(np.shape(plain(parts[k])))) == int(np.prod(shapes[key]))
                   for k, (key, _) in enumerate(self.found[:len(parts)]))
        # one gradient per global, in order (a wrong shape is then named at its parameter); one more at the
        # end (min-char-rnn's last state) only where every gradient has its global's size
        if len(parts) == n or (len(parts) == n + 1 and fits):
            return {name: self._from_file(parts[k], name, key, shapes.get(key)) for k, (key, name) in enumerate(self.found)}
        return out

    def bound_to(self, params):
        self.params = params
        return self

    def sentence(self) -> str:
        keys = ", ".join(k for k, _ in self.found)
        how = "transposed, as columns: W (out, in)" if self.layout == "columns" else "as rows: W (in, out)"
        named = ", ".join(f"{k} as {n}" for k, n in self.found if k != n)
        return (f"the parameters set as the module's globals {keys} before each call ({how}, read off the "
                f"shapes of the file's own arrays), gradients read back in the order the file defines them"
                + (f"; the code's names read: {named}" if named else ""))


class ObjectReading(GlobalsReading):
    """A class's method that reads the network's weights from array attributes of its object, as Rashid's
    neuralNetwork keeps wih (hidden, inputs) and who (outputs, hidden), which its train(inputs_list, targets_list)
    updates in place. Each call sets them from the parameters it is handed, in the layout the arrays its constructor
    made say, and restores them after; the attributes are matched to the parameters by name (W1, w1, or as --names
    maps them), else by shape in the order the constructor made them. What the call returns, or leaves behind, is read
    as a GlobalsReading reads it."""
    owner = "self."

    def __init__(self, fn, found, layout, obj, by_shape=()):
        super().__init__(fn, found, layout)
        self.space, self.obj, self.by_shape = vars(obj), obj, list(by_shape)

    @classmethod
    def of(cls, obj, method, params, aliases):
        """The reading for ``method`` bound to ``obj``: None where the method reads no array attribute of the object
        that fits a parameter, or a sentence where those arrays fit no one layout."""
        space, func = getattr(obj, "__dict__", None), getattr(method, "__func__", None)
        if not isinstance(space, dict) or func is None:
            return None
        read = _method_reads(type(obj), func)
        arrays = {k: v for k, v in list(space.items()) if isinstance(k, str) and k in read
                  and _array_shape(v) is not None}
        if not arrays:
            return None
        named = _globals_named(arrays, set(arrays), params, aliases)
        left = [n for n in dict.keys(params) if n not in named.values()]
        found, by_shape = [], []
        for key, value in arrays.items():   # in the order its constructor made them
            name = named.get(key)
            if name is None:
                # a bias by its name (bh, b_o, bias1) for a bias, any other for a weight, where one fits
                kind = [n for n in left if _bias_name(n) == _bias_name(key)] or left
                name = next((n for n in kind if _shape_fits(_array_shape(value), np.shape(params[n]))), None)
                if name is None:
                    continue
                left.remove(name)
                by_shape.append(key)
            found.append((key, name))
        if not found:
            return None
        layout = _layout_of(space, found, params)
        if layout not in ("rows", "columns"):
            return f"{type(obj).__name__}'s arrays do not fit the network's parameters in one layout: " + layout
        return cls(method, found, layout, obj, by_shape)

    def _reads(self) -> set:
        return _method_reads(type(self.obj), self.fn.__func__)

    def sentence(self) -> str:
        keys = ", ".join(f"self.{k} as {n}" for k, n in self.found)
        how = "transposed, as columns: W (out, in)" if self.layout == "columns" else "as rows: W (in, out)"
        matched = "" if not self.by_shape else (
            f"; {', '.join('self.' + k for k in self.by_shape)} matched by shape, in the order its constructor made "
            "them (--names KEY=PARAMETER maps them otherwise)")
        return (f"the parameters set as its object's attributes {keys} before each call ({how}, read off the shapes "
                f"of the arrays its constructor made){matched}")

    def forward_differs(self, x, output, layout):
        """A sentence where the object's own forward pass (Rashid's query(inputs_list), a predict(x) or forward(x) of
        its class), run on the batch ``x`` at the parameters handed, is not the declared network's ``output``: the
        network the code trains is another one. None where it agrees, or where there is no such method to run."""
        if output is None or x is None:
            return None
        name = next((m for m in FORWARD_METHODS if _own_method(type(self.obj), m)), None)
        if name is None:
            return None
        method = getattr(self.obj, name)
        try:
            if len([p for p in inspect.signature(method).parameters.values() if p.default is p.empty
                    and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]) != 1:
                return None
        except (TypeError, ValueError):
            return None
        space, params = self.space, getattr(self, "params", {})
        saved = {key: space[key] for key, _ in self.found}
        try:
            for key, name_ in self.found:
                space[key] = self._to_file(np.asarray(params[name_]), tuple(saved[key].shape), saved[key])
            got = np.asarray(plain(method(x)), dtype=float)
        except Exception:  # noqa: BLE001 - a forward that does not run on the batch tells nothing
            return None
        finally:
            space.update(saved)
        want = np.asarray(plain(output), dtype=float)
        if layout == "columns":
            want = want.T
        for candidate in (got, got.T):
            if candidate.shape == want.shape and np.allclose(candidate, want, rtol=1e-6, atol=1e-9):
                return None
        if got.size != want.size:   # no output of this batch (one of its own values, one example's): nothing said
            return None
        return (f"its {name}(x) is not the declared network's output at the same weights: the network it computes "
                "is another one (its activations, biases or layers), so its updates are gradients of another J; "
                "declare the network it computes")


FORWARD_METHODS = ("query", "predict", "forward", "feedforward", "feed_forward")
# A learning rate's usual names, as an attribute of the object or a module global the code reads
LR_NAMES = ("lr", "learning_rate", "learningrate", "alpha", "eta", "step_size", "lrate", "l_rate")
GRAD_ATTRIBUTES = ("g", "grad")   # where code that returns nothing leaves a parameter's gradient


def _bias_name(key: str) -> bool:
    """Whether a name is a bias's: derivax's b1, or a code's bh, b_o, bias_hidden."""
    key = key.lower()
    return key.startswith("b") or "bias" in key


def _own_method(cls, name) -> bool:
    """Whether ``name`` is a method defined by ``cls`` or a class of the same module among its bases (not one a
    library's base class brings, as torch's Module.train)."""
    module = getattr(cls, "__module__", None)
    return any(name in vars(k) and callable(vars(k)[name]) and k.__module__ == module
               for k in getattr(cls, "__mro__", ()))


def _method_reads(cls, func) -> set:
    """The names ``func``'s code reads (attributes among them), and those of the methods of ``cls`` it reaches."""
    space = getattr(func, "__globals__", None) or {}
    read, done, todo = set(), set(), [func]
    while todo:
        code = getattr(todo.pop(), "__code__", None)
        if code is None or id(code) in done:
            continue
        done.add(id(code))
        names = _names_read(code, space)
        read |= names
        for n in names:
            other = inspect.getattr_static(cls, n, None)
            other = getattr(other, "__func__", other)
            if inspect.isfunction(other):
                todo.append(other)
    return read


def _attributes_set(fn) -> set:
    """The attribute names ``fn``'s code assigns (``w.g = ...``), with those of the functions defined inside it and
    of the module's functions it calls."""
    import dis
    code = getattr(fn, "__code__", None) or getattr(getattr(fn, "__func__", None), "__code__", None)
    space = _module_space(fn)
    out, done, todo = set(), set(), [code] if code is not None else []
    while todo:
        code = todo.pop()
        if id(code) in done:
            continue
        done.add(id(code))
        try:
            out |= {i.argval for i in dis.get_instructions(code) if i.opname == "STORE_ATTR"}
        except Exception:  # noqa: BLE001 - code dis cannot read: no attribute found
            pass
        todo += [c for c in code.co_consts if inspect.iscode(c)]
        todo += [f.__code__ for f in (space.get(n) for n in code.co_names)
                 if inspect.isfunction(f) and f.__globals__ is space]
    return out


def _takes_attributes(kind) -> bool:
    """Whether ``kind`` is a user's subclass of NumPy's array (``class Tensor(np.ndarray): pass``), whose instances
    take attributes; not one of NumPy's own (matrix, masked arrays, memmap), whose arithmetic differs."""
    return isinstance(kind, type) and issubclass(kind, np.ndarray) and kind is not np.ndarray \
        and not (getattr(kind, "__module__", "") or "").startswith("numpy")


def _same_array(before, now) -> bool:
    try:
        arr = np.asarray(plain(now), dtype=float)
    except (TypeError, ValueError):
        return False
    return arr.shape == before.shape and bool(np.array_equal(arr, before, equal_nan=True))


def learning_rate(space, read, owner="", given=None) -> tuple:
    """(lr, the sentence saying where it came from) for code that updates its weights in place: ``given`` (--lr)
    where there is one; else the code's own, a number under a learning rate's usual name that the code reads (an
    attribute of its object, ``owner`` "self.", or a module global); else 1, as Trask's loop has none. Raises
    ReadingError where the code holds two different ones and no --lr says which."""
    own = []
    for key in LR_NAMES:
        value = space.get(key) if key in read else None
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
                and math.isfinite(float(value)) and float(value) > 0:
            own.append((key, float(value)))
    if given is not None:
        other = [f"{owner}{k} = {v:g}" for k, v in own if v != given]
        return float(given), f"lr = {given:g} as --lr gives it" + (
            f" (the code's own {', '.join(other)} is not what the change is divided by)" if other else "")
    if len({v for _, v in own}) > 1:
        raise ReadingError("the code updates its weights in place and holds more than one learning rate ("
                           + ", ".join(f"{owner}{k} = {v:g}" for k, v in own) + "): give the one its update takes "
                                                                                  "with --lr")
    if own:
        key, value = own[0]
        return value, f"lr = {value:g} read from {owner}{key}" + (" after its constructor" if owner else "")
    return 1.0, ("lr = 1, as the code holds no learning rate under a usual name (" + ", ".join(LR_NAMES[:5])
                 + ", ...): --lr gives the one its update takes")


class DictUpdate:
    """What a function left in the parameters' dict it was handed, where it returned nothing (or its loss alone)
    and updated the dict's arrays in place (``params["W1"] -= lr * dW1``, or ``params["W1"] = params["W1"] - ...``):
    each gradient (W before − W after) / lr, as ``GlobalsReading`` reads an update of module globals. lr is
    ``given`` (--lr), else the code's own (a default of one of its arguments, or a module global it reads, under a
    learning rate's usual name), else 1."""

    def __init__(self, fn, params):
        self.fn, self.params = fn, params
        self.before = {k: np.array(plain(v), dtype=float) for k, v in dict.items(params) if _is_array(v)}
        self.said = self.update_lr = None

    def read(self, out, given=None):
        """The gradients keyed by the parameters' names, or None where the call changed none of the dict's arrays."""
        params = self.params
        after = {k: dict.get(params, k) for k in self.before}
        for key in list(dict.keys(params)):   # a key the code wrote under its own spelling (w1 for W1)
            name = params._name(key) if isinstance(params, Params) and key not in self.before else None
            if name in self.before:
                after[name] = dict.__getitem__(params, key)
        changed = [k for k in self.before if not _same_array(self.before[k], after[k])]
        if not changed:
            return None
        space = dict(getattr(self.fn, "__globals__", None) or {})
        code = getattr(self.fn, "__code__", None)
        read = _names_read(code, space) if code is not None else set()
        try:
            defaults = {p.name: p.default for p in inspect.signature(self.fn).parameters.values()
                        if p.default is not p.empty}
        except (TypeError, ValueError):
            defaults = {}
        lr, source = learning_rate({**space, **defaults}, read | set(defaults), "", given)
        if given is None and any(source.endswith(f"read from {k}") for k in defaults):
            source += ", its argument's default"
        got = {}
        for k, before in self.before.items():
            try:
                arr = np.asarray(plain(after[k]), dtype=float)
            except (TypeError, ValueError):
                arr = None
            if arr is None or arr.shape != before.shape:
                left = f"of shape {arr.shape}" if arr is not None else f"as {type(after[k]).__name__}"
                got[k] = Misshapen(after[k], f"the update left params[{k!r}] {left} where it was {before.shape}")
            else:
                got[k] = (before - arr) / lr
        who = getattr(self.fn, "__qualname__", getattr(self.fn, "__name__", "the function"))
        returned = "None" if out is None else "a number"
        self.update_lr = lr
        self.said = (f"{who} returned {returned} and updated " + ", ".join(f"params[{k!r}]" for k in changed)
                     + f" in place: each gradient read as (W before − W after) / lr, {source}; an update that "
                     "descends J leaves W − lr·∂J/∂W")
        return got


def _is_array(value) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def attribute_refused(exc, fn):
    """The sentence for code that set a gradient's attribute on a NumPy array (fast.ai's w.g = ... on arrays that are
    no torch tensors): NumPy's arrays take no attributes. None for any other error."""
    import re
    if not isinstance(exc, AttributeError):
        return None
    obj, name = getattr(exc, "obj", None), getattr(exc, "name", None)
    text = str(exc)
    if type(obj) is not np.ndarray and "'numpy.ndarray' object has no attribute" not in text:
        return None
    if not isinstance(name, str):
        match = re.search(r"has no attribute '(\w+)'", text)
        name = match.group(1) if match else None
    if name not in GRAD_ATTRIBUTES or name not in _attributes_set(fn):
        return None
    return (f"; NumPy's arrays take no attributes, so its .{name} = ... cannot be set on one. fast.ai's "
            f"from-the-foundations code keeps its tensors in PyTorch, where w.{name} = ... works (a module that "
            f"imports torch is handed torch tensors, and each parameter's .{name} is read back); in NumPy, make the "
            "module's arrays of a subclass that takes attributes (class Tensor(np.ndarray): pass, then w1 = "
            "np.random.randn(3, 4).view(Tensor)): derivax then sets the parameters and hands x and y in that class, "
            f"and reads each parameter's .{name}")


def _layout_of(space, found, params) -> str:
    """"rows" or "columns": the layout the arrays of ``space`` (module globals, or an object's attributes) hold the
    parameters they were matched to in (``found``: [(key, parameter)]), read off their shapes (a weight kept as the
    transpose of the parameter's is in columns; a vector kept as a row or a column tells where no weight does); else
    the sentence naming the arrays that fit no one layout."""
    votes, problems, bias_votes = set(), [], set()
    for key, name in found:
        want, have = tuple(np.shape(params[name])), tuple(space[key].shape)
        if len(want) == 2 and len(have) == 2 and want[0] != want[1] and min(want) > 1:
            if have == want:
                votes.add("rows")
            elif have == want[::-1]:
                votes.add("columns")
            else:
                problems.append(f"{key} {have} for {name} {want}")
        elif len(have) == 2 and 1 in have and max(have) > 1 and int(np.prod(have)) == int(np.prod(want)):
            # a vector kept as a column (n, 1) or a row (1, n), a bias mostly: all a network of square
            # weights (min-char-rnn's with as many units as characters) has to tell its layout by
            row = have == want if len(want) == 2 else have[0] == 1
            bias_votes.add("rows" if row else "columns")
        elif int(np.prod(have)) != int(np.prod(want)):
            problems.append(f"{key} {have} for {name} {want}")
    if problems or len(votes) > 1:
        return ", ".join(problems or [f"{k} {tuple(space[k].shape)}" for k, _ in found])
    return votes.pop() if votes else bias_votes.pop() if len(bias_votes) == 1 else "rows"


def _globals_named(space, read, params, aliases) -> dict:
    """{global: parameter} for the module's arrays ``read`` that name a parameter: as derivax names it, as ``aliases``
    spell it, or, where no other array read names that parameter so, differently only in case and underscores (w1,
    b1 for W1, b1; B1 for b1), each such spelling fitting one parameter alone and claimed by one global alone."""
    exact, loose = {}, {}
    aliases = aliases or {}
    # a gradient's spellings (dW1) are no parameter's: a global dw1 is an accumulator, never set as W1
    loose_reader = Params(dict(dict.items(params)), {k: v for k, v in aliases.items() if not (
        k.startswith("d") and (k[1:] in aliases or k[1:] in dict.keys(params)))})
    for key, value in list(space.items()):
        if key not in read or not hasattr(value, "shape") or not isinstance(key, str):
            continue
        name = key if key in dict.keys(params) else aliases.get(key)
        if name is not None and name in dict.keys(params):
            exact[key] = name
        else:
            name = loose_reader._name(key)
            if name is not None:
                loose.setdefault(name, []).append(key)
    taken = set(exact.values())
    for name, keys in loose.items():
        if len(keys) == 1 and name not in taken:
            exact[keys[0]] = name
    return exact


def _array_shape(value):
    """The shape of a module-level array (NumPy, PyTorch, JAX) of one axis or more, else None."""
    if inspect.ismodule(value) or inspect.isclass(value) or not hasattr(value, "shape") or not hasattr(value, "ndim"):
        return None
    try:
        shape = tuple(int(d) for d in value.shape)
    except (TypeError, ValueError):
        return None
    return shape if shape else None


def _held_arrays(value) -> list:
    """[(attribute or [key], shape)] for the arrays an object of the module keeps as its own attributes (an object
    whose .v holds a weight), or a dict of the module under its keys (params = {"W1": ...} read as params["W1"])."""
    if isinstance(value, dict):
        entries = [(f"[{k!r}]", v) for k, v in list(value.items())[:20] if isinstance(k, (str, int))]
    else:
        try:
            attrs = vars(value)
        except TypeError:
            return []
        if not isinstance(attrs, dict):
            return []
        entries = [(f".{k}", v) for k, v in list(attrs.items())[:20] if isinstance(k, str)]
    out = []
    for attr, v in entries:
        shape = _array_shape(v)
        if shape is not None:
            out.append((attr, shape))
    return out


def _shape_fits(have, want) -> bool:
    """Whether a global of shape ``have`` can hold a parameter of shape ``want``: the same, transposed (the columns
    layout), or a vector's entries as a row or a column."""
    have, want = tuple(have), tuple(want)
    if not have:   # a number (a loss returned beside the gradients) holds no parameter
        return False
    if have == want or (len(have) == 2 and have[::-1] == want):
        return True
    return int(np.prod(have)) == int(np.prod(want)) and sum(d > 1 for d in have) <= 1 and sum(d > 1 for d in want) <= 1


def held_arrays_hint(obj, params, method) -> str:
    """The sentence for a method that stopped on its call where its object keeps its weights as arrays of its own
    (Raschka's NeuralNetMLP: self.weight_h, self.bias_h, self.weight_out, self.bias_out from its constructor, and
    backward(x, a_h, a_out, y) taking the forward pass's values besides x and y): the arrays, the parameters their
    shapes fit, and the wrapper that would call it; "" where it keeps none."""
    if obj is None:
        return ""
    arrays = [(k, tuple(np.shape(v))) for k, v in vars(obj).items()
              if isinstance(v, np.ndarray) and v.ndim >= 1 and k not in ("params", "weights", "biases")]
    if not arrays:
        return ""
    shapes = dict(arrays)
    left, found = [k for k in dict.keys(params) if isinstance(k, str)], []
    for key, shape in arrays:   # in the order its constructor made them
        name = next((n for n in left if _shape_fits(shape, np.shape(params[n]))), None)
        if name is not None:
            left.remove(name)
            found.append((key, name))
    fits = [f"{key} = {name}" + ("ᵀ" if len(shapes.get(key, ())) == 2 and shapes[key] != tuple(np.shape(params[name]))
                                  and shapes[key][0] != shapes[key][1] else "") for key, name in found]
    cls = type(obj).__name__
    try:
        taken = [p.name for p in inspect.signature(getattr(obj, method)).parameters.values()]
    except (AttributeError, TypeError, ValueError):
        taken = []
    return (f"; {cls} keeps its weights on the object, as its constructor made them ("
            + ", ".join(f"self.{k} {s}" for k, s in arrays) + ")"
            + (f", the parameters by their shapes ({', '.join(fits)})" if fits else "")
            + (f", and {cls}.{method}({', '.join(taken)}) takes more than derivax hands a method (params, x, y, or "
               "what its parameters' names ask for: the forward pass's own values are none of them)" if taken else "")
            + ": wrap it in a function backward(params, X, Y) that builds it, sets its arrays from params"
            + (" as above" if fits else "") + ", runs its forward and backward, and returns the gradients keyed "
            "W1, b1, ... (turned back the same way)")


def _is_scalar(v) -> bool:
    v = plain(v)
    return isinstance(v, (int, float)) or (hasattr(v, "ndim") and getattr(v, "ndim") == 0) \
        or isinstance(v, np.generic)


# ---- models of scalar autograd values (micrograd) ----

class ReadingError(ValueError):
    """Code that none of the readings can call as the network needs: the sentence says why."""


class ValueMismatch(ReadingError):
    """A Value model whose forward pass is not the network's: its gradients would say nothing."""


class ValueModel:
    """A class such as micrograd's ``MLP(nin, nouts)``: a model of scalar values with ``parameters()``,
    called on one example's inputs. Built at the network's sizes, its values are set from W and b (each
    neuron's weights, then its bias, as ``parameters()`` lists them), the network's loss is built from the
    values' own + and *, and ``backward()`` leaves the gradients in ``.grad``."""

    def __init__(self, cls):
        self.cls = cls
        self.__name__ = cls.__name__
        self.__qualname__ = cls.__name__

    @staticmethod
    def fits(cls) -> bool:
        """A class whose instances are called on an example: defines __call__ itself (a framework's module,
        torch's nn.Module, is no model of scalar values)."""
        return isinstance(cls, type) and any("__call__" in vars(k) for k in cls.__mro__ if k is not object) \
            and not any((getattr(k, "__module__", "") or "").split(".")[0] in ("torch", "jax", "flax", "keras",
                                                                                 "tensorflow", "equinox")
                        for k in cls.__mro__)

    def bound(self, params, names, context):
        context = context or {}
        sizes = context.get("sizes")
        if context.get("layout") == "columns":
            raise ReadingError(f"{self.cls.__name__}: a model of scalar values is checked in the rows convention")
        if not sizes:
            raise ReadingError(f"{self.cls.__name__}: a model of scalar values is checked on a dense network only")
        if context.get("loss") != "mse":
            raise ReadingError(f"{self.cls.__name__}: a model of scalar values is checked under the mse loss, built from "
                             f"its values' + and *; this network's loss is {context.get('loss')} (--loss mse)")
        try:
            model = self.cls(sizes[0], list(sizes[1:]))
        except TypeError as exc:
            raise ReadingError(f"{self.cls.__name__}({sizes[0]}, {list(sizes[1:])}) could not be built ({exc}): a model "
                               "of scalar values is built as MLP(nin, nouts), micrograd's signature") from None
        values = _values_of(model)
        if not values:
            raise ReadingError(f"{self.cls.__name__}({sizes[0]}, {list(sizes[1:])}) holds no values with .data and "
                             ".grad (no parameters(), and none among its attributes)")
        want = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
        if len(values) != want:
            raise ReadingError(f"{self.cls.__name__}({sizes[0]}, {list(sizes[1:])}).parameters() lists {len(values)} "
                             f"values; the network has {want} weights and biases")
        for v in values[:1]:
            if not (hasattr(v, "data") and hasattr(v, "grad")):
                raise ReadingError(f"{self.cls.__name__}.parameters() lists {type(v).__name__} objects, with no "
                                 ".data and .grad")
        layers = [(n, "b" + n[1:]) for n in names if n.startswith("W")]
        output = context.get("output")

        def run(params, x, y):
            slots = []
            k = 0
            for (w, b), n_in, n_out in zip(layers, sizes, sizes[1:]):
                for j in range(n_out):
                    for i in range(n_in):
                        slots.append((w, (i, j)))
                    slots.append((b, (j,)))
            for value, (name, at) in zip(values, slots):
                arr = np.asarray(params[name])
                value.data = float(arr.reshape(-1)[at[-1]] if arr.ndim == 1 or name.startswith("b") else arr[at])
                value.grad = 0.0
            m = len(x)
            total = None
            for i in range(m):
                out = model([float(v) for v in np.asarray(x[i]).reshape(-1)])
                outs = list(out) if isinstance(out, (list, tuple)) else [out]
                got = [float(o.data) for o in outs]
                if output is not None:
                    ref = np.asarray(output)[i].reshape(-1)
                    if len(got) != len(ref) or not np.allclose(got, ref, rtol=1e-6, atol=1e-9):
                        raise ValueMismatch(
                            f"{self.cls.__name__}'s output on example {i + 1} is {np.round(got, 6).tolist()}, the "
                            f"network's is {np.round(ref, 6).tolist()}: its layers or activations are not the "
                            f"network's")
                for o, target in zip(outs, np.asarray(y[i]).reshape(-1)):
                    diff = o + (-float(target))
                    term = diff * diff
                    total = term if total is None else total + term
            loss = total * (1.0 / m)
            loss.backward()
            grads = {}
            for name in names:
                grads[name] = np.zeros(np.shape(params[name]))
            for value, (name, at) in zip(values, slots):
                arr = grads[name]
                if arr.ndim == 1 or name.startswith("b"):
                    arr.reshape(-1)[at[-1]] = float(value.grad)
                else:
                    arr[at] = float(value.grad)
            return grads
        run.__qualname__ = run.__name__ = f"{self.cls.__name__}"
        run.value_class = type(values[0])
        return run

    def sentence(self, context) -> str:
        sizes = (context or {}).get("sizes") or []
        return (f"{self.cls.__name__}({sizes[0] if sizes else '?'}, {list(sizes[1:])}) built, its values set from "
                "the network's W and b (each neuron's weights, then its bias), the mean squared error built from "
                "its values' + and *, then loss.backward(); gradients read from .grad")


def _is_value(v) -> bool:
    return hasattr(v, "data") and hasattr(v, "grad") and callable(getattr(v, "backward", None)) \
        and not isinstance(v, np.ndarray)


def _values_of(model) -> list:
    """The model's scalar values in order: its parameters(), or, without one, those its attributes hold
    (layers, then neurons, then each neuron's weights and bias), as parameters() would list them."""
    if callable(getattr(model, "parameters", None)):
        return list(model.parameters())
    out, seen = [], set()

    def walk(obj, depth):
        if id(obj) in seen or depth > 6:
            return
        seen.add(id(obj))
        if _is_value(obj):
            out.append(obj)
        elif isinstance(obj, (list, tuple)):
            for item in obj:
                walk(item, depth + 1)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            for item in vars(obj).values():
                walk(item, depth + 1)
    walk(model, 0)
    return out


TRAVERSAL = "backward() visits"   # how the finding of a wrong traversal reads, among the rules' findings


# where a Value keeps the values it was made from, and its own backward step (micrograd's _prev and _backward)
PARENTS = ("_prev", "_parents", "_children", "prev", "parents", "children")
STEPS = ("_backward", "_back", "_backward_fn", "backward_fn", "_grad_fn")


def _walk(result, order):
    """result's gradient seeded with 1 and each node's own backward step run, in reversed topological order
    ("reversed") or in topological order ("forward"), as micrograd's backward() visits them."""
    parents = next(a for a in PARENTS if hasattr(result, a))
    step = next(a for a in STEPS if callable(getattr(result, a, None)))
    topo, seen = [], set()

    def build(v):
        if id(v) not in seen:
            seen.add(id(v))
            for child in getattr(v, parents, ()):
                build(child)
            topo.append(v)
    build(result)
    result.grad = 1.0
    for v in (reversed(topo) if order == "reversed" else topo):
        getattr(v, step)()


def _visits(V, a0, b0, probes):
    """(short, sentence) where the Value class's backward() is what is wrong, not its rules: some probe comes out
    wrong through backward(), while every probe is exact when each node's own _backward runs in reversed
    topological order; None otherwise, or where the class keeps no _prev and _backward (not micrograd's)."""
    def grads(build, how):
        a, b = V(a0), V(b0)
        result = build(a, b)
        if not (hasattr(result, "backward") and any(callable(getattr(result, a, None)) for a in STEPS)
                and any(hasattr(result, a) for a in PARENTS)):
            raise AttributeError("not micrograd's Value")
        result.backward() if how == "backward" else _walk(result, how)
        return float(result.grad), float(a.grad), float(b.grad)

    def right(got, want):
        return all(w is None or math.isclose(g, w, rel_tol=1e-6, abs_tol=1e-9) for g, w in zip(got, want))
    wrong, forward_matches, seeded = 0, True, True
    for what, build, (da, db), _ in probes:
        try:
            through = grads(build, "backward")
            own = grads(build, "reversed")
            forward = grads(build, "forward")
        except Exception:  # noqa: BLE001 - an operation this class does not have, or not micrograd's kind
            continue
        if not right(own[1:], (da, db)):
            return None   # a rule of its own is wrong: said rule by rule
        if not right(through[1:], (da, db)):
            wrong += 1
            seeded &= math.isclose(through[0], 1.0)
            forward_matches &= right(through[1:], forward[1:])
    if not wrong:
        return None
    if not seeded:
        short = (f"{V.__name__}.{TRAVERSAL} its nodes with the output's gradient not set to 1 (self.grad = 1 "
                 "before the loop): every backward rule is right on its own")
    elif forward_matches:
        short = (f"{V.__name__}.{TRAVERSAL} the nodes in topological order, not reversed (for v in reversed(topo)): "
                 "every backward rule is right on its own")
    else:
        short = (f"{V.__name__}.{TRAVERSAL} the nodes in the wrong order, not reversed topological order (each "
                 "node's _backward after every use of it has added to its gradient): every backward rule is right "
                 "on its own")
    return short, (f"{short} (a node's _backward ran before every use of it had added to its gradient; each rule, run node by node in reversed topological order, gives the exact derivative "
                   f"on every expression tried, while {V.__name__}.backward() gives wrong ones on {wrong} of them)")


def value_findings(V) -> list:
    """Each of the Value class ``V``'s operations, differentiated by its own backward rule on a tiny
    expression and compared with the exact derivative: [(short, sentence)] for each rule that is wrong."""
    a0, b0 = 0.7, -1.3
    probes = [
        ("a + b", lambda a, b: a + b, (1.0, 1.0), None),
        ("a * b", lambda a, b: a * b, (b0, a0), None),
        ("a + a, one value used twice", lambda a, b: a + a, (2.0, None),
         "the gradient is assigned (=), not accumulated (+=), in __add__'s backward"),
        ("a * a, one value used twice", lambda a, b: a * a, (2 * a0, None),
         "the gradient is assigned (=), not accumulated (+=), in __mul__'s backward"),
        ("a * b + a, one value used by two operations", lambda a, b: a * b + a, (b0 + 1.0, a0), None),
        ("-a", lambda a, b: -a, (-1.0, None), None),
        ("a - b", lambda a, b: a - b, (1.0, -1.0), None),
        ("a ** 3", lambda a, b: a ** 3, (3 * a0 ** 2, None), None),
        ("a / b", lambda a, b: a / b, (1 / b0, -a0 / b0 ** 2), None),
        ("tanh(a)", lambda a, b: a.tanh(), (1 - math.tanh(a0) ** 2, None), None),
        ("exp(a)", lambda a, b: a.exp(), (math.exp(a0), None), None),
        ("relu(a)", lambda a, b: a.relu(), (1.0, None), None),
        ("relu(b)", lambda a, b: b.relu(), (None, 0.0), None),
    ]
    out = []
    visits = _visits(V, a0, b0, probes)
    if visits is not None:
        return [visits]
    for what, build, (da, db), reason in probes:
        try:
            a, b = V(a0), V(b0)
            result = build(a, b)
            if not hasattr(result, "backward"):
                continue
            result.backward()
        except (AttributeError, TypeError, NotImplementedError):
            continue   # an operation this Value class does not have
        except Exception:  # noqa: BLE001 - the class's own failure on a tiny expression is no finding
            continue
        wrong = []
        for label, value, want in (("a", a, da), ("b", b, db)):
            if want is None:
                continue
            try:
                got = float(value.grad)
            except (TypeError, ValueError, AttributeError):
                continue
            if not math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9):
                wrong.append((label, got, want))
        if not wrong:
            continue
        label, got, want = wrong[0]
        why = reason if reason and "twice" in what and math.isclose(got, want / 2, rel_tol=1e-6) else None
        if what == "tanh(a)":
            t = math.tanh(a0)
            for guess, text in ((1 - t, "1 − t"), (t, "t"), (1 - t ** 2, None), (1 + t ** 2, "1 + t²"),
                                (1 - a0 ** 2, "1 − a²")):
                if text and math.isclose(got, guess, rel_tol=1e-6):
                    why = f"its backward multiplies by {text}, not 1 − t² (t = tanh(a))"
        if what == "exp(a)" and math.isclose(got, a0, rel_tol=1e-6):
            why = "its backward multiplies by a, not exp(a)"
        if "two operations" in what and label == "a" and any(math.isclose(got, part, rel_tol=1e-6)
                                                               for part in (b0, 1.0)):
            why = "the gradient from one use overwrites the other's: assigned (=), not accumulated (+=)"
        out.append((f"{V.__name__}'s backward for {what}" + (f": {why}" if why else " is wrong"),
                    f"{V.__name__}'s backward rule for {what}: at a = {a0:g}, b = {b0:g} it gives {label}.grad = "
                    f"{got:.6g}, the exact derivative is {want:.6g}" + (f" ({why})" if why else "")))
    return out


# ---- a layer's backward function, checked through its forward partner (CS231n's layers.py) ----

def arg_names(fn) -> list | None:
    """The names ``fn`` takes, lower-cased; None where Python cannot tell (a builtin)."""
    try:
        return [p.name.lower() for p in inspect.signature(fn).parameters.values()]
    except (TypeError, ValueError):
        return None


def required_names(fn) -> list | None:
    """The names ``fn`` takes that have no default, lower-cased (leaky_relu_backward(dout, cache, alpha=0.01)
    takes dout and cache, its alpha its own); None where Python cannot tell."""
    try:
        return [p.name.lower() for p in inspect.signature(fn).parameters.values() if p.default is p.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    except (TypeError, ValueError):
        return None


UPSTREAM = {"dout", "dy", "dupstream", "grad_output", "upstream", "dz", "da", "dh", "g", "dnext_h", "dh_next", "dnext",
            "da_next"}


class LayerPair:
    """``stem_backward(dout, cache)`` with its partner ``stem_forward(x, w, b)`` (or ``(x, gamma, beta,
    bn_param)``): the forward runs at the point for its cache, its output must be the network's (the layer
    as declared: 4-3 for an affine layer, 4-3:relu, 4-bn), and the backward gets dout = Y/m, the gradient of
    J = (1/m) Σ out ⊙ Y (the check's linear loss). Its result (dx, dw, db) is read in that order: dx, then
    the forward's parameters in the order it takes them."""

    def __init__(self, backward, forward, stem):
        self.backward, self.forward, self.stem = backward, forward, stem
        self.__name__ = self.__qualname__ = getattr(backward, "__name__", stem + "_backward")

    @staticmethod
    def of(fn, namespace, name):
        """The pair for ``fn`` named ``name``, or None where it takes no (dout, cache) or has no partner."""
        taken = required_names(fn)
        if taken is None:
            return None
        # (dout, cache); an LSTM cell's (da_next, dc_next, cache);
        # deeplearning.ai's linear_activation_backward(dA, cache, activation): the activation named last
        named_activation = len(taken) == 3 and taken[1] in ("cache", "caches") and taken[2] == "activation"
        if named_activation:
            taken = taken[:2]
        if len(taken) < 2 or taken[0] not in UPSTREAM or taken[-1] not in ("cache", "caches") or "backward" not in name \
                or len(taken) > 3 or (len(taken) == 3 and taken[1] not in ("dc_next", "dnext_c", "dc")):
            return None
        partner = name.replace("backward", "forward")   # conv_backward_naive: conv_forward_naive
        forward = namespace.get(partner)
        while not callable(forward) and "_" in partner.partition("forward")[2]:
            # a variant of the backward alone (batchnorm_backward_alt): the forward without its suffix
            partner = partner.rsplit("_", 1)[0]
            forward = namespace.get(partner)
        stem = partner.replace("_forward", "", 1) if partner.count("_forward") else partner
        pair = None
        if callable(forward):
            kind = (DlaiRecurrent if DlaiRecurrent.fits(forward) else StackedLstm if StackedLstm.fits(forward, partner)
                    else StepPair if StepPair.fits(forward) else LayerPair)
            pair = kind(fn, forward, stem)
            pair.forward_name, pair.backward_name = partner, name
        return pair

    def takes_parameters(self) -> bool:
        """Whether the forward takes any of a layer's parameters (w, b, gamma, beta): relu_forward(x) takes
        none, and is checked on a square layer whose weights are the identity."""
        taken = arg_names(self.forward)
        if taken is None:
            return True
        return any(t in ("w", "b", "gamma", "beta") for t in taken)

    def _arguments(self, params, names, x, state=None):
        # an embedding's table C is the W of CS231n's word_embedding_forward(x, W)
        weights = [n for n in names if n.startswith("W")] or [n for n in names if n.startswith("C")]
        biases = [n for n in names if n.startswith("b") and not n.startswith("beta")]
        scales = [n for n in names if n.startswith("gamma")]
        shifts = [n for n in names if n.startswith("beta")]
        aliases = getattr(params, "aliases", {})
        args, order = [], []
        for p in inspect.signature(self.forward).parameters.values():
            key = p.name.lower()
            pick = {"w": weights, "b": biases, "gamma": scales, "beta": shifts}.get(key)
            named = p.name if p.name in names else aliases.get(p.name)
            if key in ("x", "xt", "x_t", "a", "a_prev", "inputs", "input"):
                args.append(x)
            elif key in ("h0", "h_init") + STEP_STATES and state:
                args.append(np.zeros((len(x), state)))   # the recurrence starts from h⟨0⟩ = 0
                order.append("dh0")                      # its gradient comes back in this place: not checked
            elif named in names and not pick:
                args.append(np.asarray(params[named]).reshape(-1) if named.startswith("b") and not self.columns
                            else np.asarray(params[named]))
                order.append(named)
            elif key == "w" and pick and self.first and np.ndim(params[pick[0]]) == 4:   # (F, C, HH, WW)
                args.append(np.asarray(params[pick[0]]).transpose(3, 2, 0, 1))
                order.append(pick[0])
            elif key == "b" and pick and self.geometry and np.ndim(x) == 4 and not self.first:
                # a 2-D convolution's bias as deeplearning.ai keeps it, (1, 1, 1, channels)
                args.append(np.asarray(params[pick[0]]).reshape(1, 1, 1, -1))
                order.append(pick[0])
            elif pick:   # in the columns convention a bias stays a column (n, 1), as deeplearning.ai keeps it
                args.append(np.asarray(params[pick[0]]).reshape(-1) if key != "w" and not self.columns
                            else np.asarray(params[pick[0]]))
                order.append(pick[0])
            elif key == "activation" and self.activation:
                args.append(self.activation)
            elif key in ("bn_param", "bn_params", "ln_param", "ln_params", "norm_param"):
                args.append({"mode": "train", "eps": 1e-5})
            elif key in ("dropout_param", "dropout_params") and self.dropout:
                args.append(dict(self.dropout))   # p (the keep probability), mode "train", the point's seed
            elif key in ("hparameters", "hparams", "conv_param", "conv_params") and self.geometry \
                    and "pad" in self.geometry:
                # conv_forward(A_prev, W, b, hparameters), conv_forward_naive(x, w, b, conv_param): the declared
                # layer's stride and pad
                args.append({"stride": self.geometry["stride"], "pad": self.geometry["pad"]})
            elif key in ("pool_param", "pool_params", "hparameters", "hparams") and self.geometry \
                    and ("window" in self.geometry or (self.pool and key.startswith("pool"))):
                # a pooling layer's own, or the pooling after the convolution (conv_relu_pool_forward)
                pool = self.geometry if "window" in self.geometry else self.pool
                size = pool["window"]
                args.append({"pool_height": size, "pool_width": size, "stride": pool["stride"], "f": size})
            elif key == "mode" and self.geometry and "mode" in self.geometry:
                args.append(self.geometry["mode"])   # pool_forward(A_prev, hparameters, mode): the declared pooling's
            elif p.default is not p.empty:
                break
            elif key in ("g", "groups", "num_groups", "gn_param", "gn_params"):
                raise ReadingError(f"{self.forward_name} takes {p.name!r}: it normalizes over groups of channels (group "
                                   "norm), a layer derivax does not declare, so its backward cannot be checked against "
                                   "a derivation (batch norm, bn, and layer norm, ln, can be)")
            else:
                raise ReadingError(f"{self.forward_name} takes {p.name!r}, which the network declared has no "
                                   "counterpart for (its parameters: " + ", ".join(names) + ")")
        return args, order

    geometry = None
    pool = None   # the pooling layer after a first convolution: {"window", "stride"}
    dropout = None   # CS231n's dropout_param at this point: {"p": keep, "mode": "train", "seed": s}
    # the columns convention: deeplearning.ai's layer functions, x (inputs, batch), b (n, 1), dA without the 1/m
    columns = False
    activation = None   # the declared layer's activation, for a function that takes it by name
    by_name = False
    forward_name = backward_name = ""
    first = False   # CS231n's layout, channels first: x (N, C, H, W), w (F, C, HH, WW)

    def bound(self, params, names, context):
        output = context.get("output")
        self.geometry = context.get("conv")
        self.pool = context.get("pool")
        self.dropout = context.get("dropout")
        taken = arg_names(self.forward) or []
        # CS231n's spatial_batchnorm_forward(x, gamma, beta, bn_param) on a convolution's maps: channels first too
        spatial = self.forward_name.startswith("spatial_") and context.get("maps")
        self.first = (bool(self.geometry) and any(t in ("conv_param", "pool_param") for t in taken)) or bool(spatial)
        self.columns = context.get("layout") == "columns"
        self.activation = context.get("activation")
        by_name = self.by_name = (required_names(self.backward) or [])[-1:] == ["activation"]

        def run(params, x, y):
            m = np.shape(x)[1] if self.columns else len(x)
            if self.first and np.ndim(x) == 4:
                x = np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2))
            args, order = self._arguments(params, [n for n in names if n != "dx"], x, context.get("state"))
            result = self.forward(*args)
            if not (isinstance(result, tuple) and len(result) == 2):
                raise ReadingError(f"{self.forward_name} returned {type(result).__name__}, not (out, cache)")
            out, cache = result
            if output is not None:
                got, ref = np.asarray(plain(out), float), np.asarray(output, float)
                if self.first and got.ndim == 4:   # back to channels last, as the network computes
                    got = got.transpose(0, 2, 3, 1)
                if got.shape != ref.shape and got.size == ref.size:   # a conv's maps, the network flattened
                    got = got.reshape(ref.shape)
                if context.get("state") and got.ndim == 3 and ref.ndim == 2:
                    raise ValueMismatch(f"{self.forward_name} gives every state, {got.shape[1]} steps of {got.shape[2]}: "
                                        "declare the recurrent layer with every state out, as 3x2-rnn4:seq")
                if got.shape != ref.shape or not np.allclose(got, ref, rtol=1e-6, atol=1e-9):
                    if self.dropout:
                        raise ValueMismatch(
                            f"{self.forward_name}'s output is not the declared network's: it was handed dropout_param "
                            f"{self.dropout}, p the probability of keeping a unit (as CS231n defines it), and derivax "
                            "drew the mask as np.random.seed(seed); np.random.rand(*x.shape) < p, scaled by 1/p: a "
                            "forward that draws otherwise, or reads p as the probability of dropping, gives other masks")
                    raise ValueMismatch(f"{self.forward_name}'s output is not the declared network's: declare the layer "
                                        "as it computes (4-3 for an affine layer, 4-3:relu for affine then relu, 4-bn "
                                        "for batch norm" + (", 4x4x2-pool2-flatten for max pooling, "
                                                            "4x4x2-avgpool2-flatten for average pooling"
                                                            if self.geometry and "window" in self.geometry else "") + ")")
            # deeplearning.ai's dA carries no 1/m (its linear_backward applies it): dA = Y, and its dA_prev
            # is m ∂J/∂A_prev
            dout = np.asarray(y, float) if self.columns else np.asarray(y, float) / m
            shape = np.shape(plain(out))
            if self.first and len(shape) == 4:   # the layer's channels-first maps
                dout = np.ascontiguousarray(dout.reshape(shape[0], shape[2], shape[3], shape[1]).transpose(0, 3, 1, 2))
            elif dout.shape != shape and dout.size == int(np.prod(shape)):   # back in the layer's own shape
                dout = dout.reshape(shape)
            if by_name and not self.activation:
                raise ReadingError(f"{self.backward_name} takes the activation by name, and the layer declared has "
                                   "none: declare it with one (4-3:relu, 4-3:sigmoid)")
            mode = {"mode": self.geometry["mode"]} if self.geometry and "mode" in self.geometry and "mode" in (
                arg_names(self.backward) or []) else {}   # pool_backward(dA, cache, mode): the same pooling
            back = self.backward(dout, cache, self.activation) if by_name else self.backward(dout, cache, **mode)
            parts = list(back) if isinstance(back, (tuple, list)) else [back]
            # one value per parameter and no dx: a layer on integer inputs (word_embedding_backward returns dW)
            if "dh0" in order and "dx" in names and len(parts) == len(order):   # (dx, dWx, dWh, db): no dh0
                order = [k for k in order if k != "dh0"]
            got = dict(zip(order if len(parts) == len(order) and "dx" not in names else ["dx"] + order, parts))
            if self.columns and got.get("dx") is not None and np.ndim(plain(got["dx"])) == 2:
                got["dx"] = np.asarray(plain(got["dx"]), float).T / m   # compared in the rows layout
            if context.get("initial") != "dh0":   # a step's dprev_h at the first step: its own steps check it
                got.pop("dh0", None)
            if self.first:   # dx (N, C, H, W) and dw (F, C, HH, WW) back to derivax's layout
                if np.ndim(plain(got.get("dx"))) == 4:
                    got["dx"] = np.asarray(plain(got["dx"])).transpose(0, 2, 3, 1)
                for k in order:
                    if k.startswith("W") and np.ndim(plain(got.get(k))) == 4:
                        got[k] = np.asarray(plain(got[k])).transpose(2, 3, 1, 0)
            return got
        run.__name__ = run.__qualname__ = self.__name__
        return run

    def sentence(self, parameterless=False) -> str:
        """How the pair was run, as the report says it; ``parameterless``: a layer with no weights (relu_forward),
        of which only the input gradient is compared."""
        loss = "J = (1/m) Σ out ⊙ Y"
        if parameterless and self.columns:
            return (f"{self.forward_name} run at each point for its cache (x (inputs, batch)), then {self.backward_name}"
                    f"(dA, cache{', activation' if self.by_name else ''}) with dA = Y, deeplearning.ai's dA of the "
                    f"check's linear loss {loss}, without the 1/m its linear_backward applies; a layer without "
                    "parameters: the gradient of its input it returns, divided by m, compared with jax.grad of the "
                    "lowered forward pass")
        if parameterless:
            return (f"{self.forward_name} run at each point for its cache, then {self.backward_name}(dout, cache) with "
                    f"dout = Y/m, the gradient of the check's linear loss {loss}; a layer without parameters: its dx "
                    "compared with jax.grad of the lowered forward pass")
        if self.columns:
            return (f"{self.forward_name} run at each point for its cache (x (inputs, batch), b (n, 1)), then "
                    f"{self.backward_name}(dA, cache{', activation' if self.by_name else ''}) with dA = Y, "
                    "deeplearning.ai's dA of the check's linear loss J = (1/m) Σ out ⊙ Y, without the 1/m its "
                    "linear_backward applies; its dW, db compared with the derived gradients, its dA_prev divided "
                    "by m with jax.grad of the lowered forward pass")
        return (f"{self.forward_name} run at each point for its cache, then {self.backward_name}(dout, cache) with "
                "dout = Y/m, the gradient of the check's linear loss J = (1/m) Σ out ⊙ Y; its (dx, d-parameters) "
                "compared with the derived gradients, dx with jax.grad of the lowered forward pass")


DRAWN_MASK = "dropout mask drawn"   # the key the mask a layer class's forward drew comes back under
# a dropout layer's constructor argument: the probability of dropping a unit (nnfs's Layer_Dropout(rate)) or of keeping one
DROP_RATES = ("rate", "dropout_rate", "drop_rate", "dropout", "p_drop", "drop_prob")
KEEP_RATES = ("keep_prob", "keep", "p_keep", "keep_probability", "keep_ratio")


def _dropout_built(cls, keep, context):
    """``cls`` built with the declared dropout, where its constructor takes one rate (nnfs's Layer_Dropout(rate),
    the probability of dropping); None where it takes anything else."""
    taken = required_names(cls)
    if taken is None or len(taken) != 1 or taken[0] not in DROP_RATES + KEEP_RATES:
        return None
    value = round(1 - keep, 12) if taken[0] in DROP_RATES else keep
    obj = cls(value)
    what = "the probability of dropping a unit" if taken[0] in DROP_RATES else "the probability of keeping one"
    context["_built"] = f"{cls.__name__}({taken[0]}={value:g}) built by its own constructor ({what})"
    return obj


class ObjectLayer(LayerPair):
    """A layer as a class whose methods keep their results on the object, as Neural Networks from Scratch
    (nnfs) writes them: ``forward(inputs)`` sets ``self.output``; ``backward(dvalues)`` sets
    ``self.dinputs`` and, for a layer with parameters, ``self.dweights`` and ``self.dbiases`` from
    ``self.weights`` (inputs, units) and ``self.biases`` (1, units). Built by its own constructor where the
    layer sizes its parameters name can be given (Layer_Dense(n_inputs, n_neurons)), its parameters then
    set to the point's; checked as a layer pair is, with dvalues = Y/m."""

    OUTPUT, DINPUTS = "output", "dinputs"
    GRADS = {"weights": "dweights", "biases": "dbiases"}

    @staticmethod
    def fits(cls) -> bool:
        if not isinstance(cls, type):
            return False
        forward, backward = getattr(cls, "forward", None), getattr(cls, "backward", None)
        if not (callable(forward) and callable(backward)):
            return False
        f, b = required_names(forward), required_names(backward)
        return f is not None and b is not None and len(f) == 2 and len(b) == 2 and f[0] == b[0] == "self"

    def __init__(self, cls, name):
        super().__init__(cls.backward, cls.forward, name)
        self.cls = cls
        self.forward_name, self.backward_name = f"{name}.forward", f"{name}.backward"

    def takes_parameters(self) -> bool:
        import dis
        code = getattr(self.cls.backward, "__code__", None)
        wrote = {i.argval for i in dis.get_instructions(code)} if code is not None else set()
        return bool(wrote & set(self.GRADS.values()))

    def foreign(self) -> str | None:
        """Why the class is no layer derivax can run as nnfs's, where it keeps its parameters under other names
        (MIT 6.036's Linear: self.W (in, out) and self.W0 (out, 1) from Linear(m, n), Z = WᵀA + W0 on data in
        columns, its backward setting self.dLdW, self.dLdW0) or runs modules it is handed (its Sequential(modules,
        loss)); None for a class that keeps them as nnfs does, or keeps none."""
        name = self.cls.__name__
        made = _attributes_of(getattr(self.cls, "__init__", None), "STORE_ATTR")
        read = _attributes_of(self.cls.forward, "LOAD_ATTR")
        sent = _attributes_of(self.cls.backward, "STORE_ATTR")
        try:
            init = [p.name for p in inspect.signature(self.cls).parameters.values()
                    if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        except (TypeError, ValueError):
            init = []
        call = built = f"{name}({', '.join(init)})"
        from compile.checks.sandbox import _MISSING, _constructor_value
        try:
            required = [p.name for p in inspect.signature(self.cls).parameters.values()
                        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        except (TypeError, ValueError):
            required = []
        unknown = [a for a in required if _constructor_value(a, {"sizes": [2, 2]}) is _MISSING]
        if unknown:   # Linear(m, n): sizes under names derivax does not give
            built += (f", whose {', '.join(unknown)} derivax does not give (it gives a constructor the layer sizes, λ "
                      "and dtype under their usual names)")
        wrap = ("wrap it in a function backward(params, X, Y) that builds it, sets its arrays from params, runs its "
                "forward and backward, and returns the gradients keyed as the parameters (W1, b1, ...)")
        held = [a for a in ("modules", "layers", "net", "model") if a in made and a in read]
        if held and not (made & {"weights", "biases"}):
            return (f"{call} runs the modules it is handed (self.{held[0]}), which derivax cannot build: their "
                    f"parameters are theirs, set by their own constructors; {wrap}")
        own = sorted((made & read) - {"weights", "biases", "output", "inputs"} - held_names(self.cls))
        grads = sorted(a for a in sent if a.startswith("d") and a not in ("dinputs", "dweights", "dbiases"))
        if not own or not grads or made & {"weights", "biases"}:
            return None
        columns = "T" in read   # its forward takes a weight's transpose: Z = WᵀA + W0, data in columns
        return (f"{name} keeps its parameters as {', '.join('self.' + a for a in own)}, made by its constructor "
                f"{built}, and its backward sets {', '.join('self.' + a for a in grads)}: derivax runs a layer class "
                "that keeps them as nnfs does (self.weights (inputs, units), self.biases (1, units), its backward "
                "setting self.dinputs, self.dweights, self.dbiases), so these are neither set nor read"
                + ("; its forward takes the weights' transpose, as MIT 6.036's modules compute Z = WᵀA + W0 on data "
                   "in columns (features, batch) with W (in, out), a layout that is neither of derivax's conventions "
                   "(rows: Z = X W + b; columns: Z = W X + b, W (out, in)): in rows derivax's W1 (in, out) is its W, "
                   "b1 as a column its W0, and X.T its A" if columns else "")
                + f"; {wrap}")

    drawn = None   # the declared dropout's keep probability, for a layer whose forward draws its own mask

    def bound(self, params, names, context):
        from compile.checks.sandbox import _constructed
        output = context.get("output")
        weights = [n for n in names if n.startswith("W")]
        biases = [n for n in names if n.startswith("b")]
        drawn = context.get("drawn") or {}
        keep = self.drawn = drawn.get("keep")

        def run(params, x, y):
            m = len(x)
            taken = required_names(self.cls) or []
            if keep is None and len(taken) == 1 and taken[0] in DROP_RATES + KEEP_RATES:
                raise ReadingError(f"{self.cls.__name__}({taken[0]}) is a dropout layer: declare the dropout on a square "
                                   "layer, as 4-4:drop0.1 (each unit dropped with probability 0.1); derivax builds it "
                                   "with the declared rate and compares its backward through the mask its forward draws")
            obj = (_dropout_built(self.cls, keep, context) if keep is not None else None) \
                or _constructed(self.cls, context) or self.cls.__new__(self.cls)
            if weights:
                obj.weights = np.array(params[weights[0]], dtype=float)
            if biases:
                obj.biases = np.array(params[biases[0]], dtype=float).reshape(1, -1)
            inputs = np.array(x, dtype=float)
            if keep is not None:   # a mask drawn from NumPy's global generator: seeded, so that a check repeats
                np.random.seed(drawn["seed"])
            obj.forward(inputs.copy())
            if not hasattr(obj, self.OUTPUT):
                raise ReadingError(f"{self.forward_name}(inputs) set no self.{self.OUTPUT}")
            got = np.asarray(plain(obj.output), float)
            mask = None
            if keep is not None:   # the mask it drew, read back from the inputs it zeroed
                mask = (got != 0) / keep
                if got.shape != inputs.shape or not np.allclose(got, inputs * mask, rtol=1e-6, atol=1e-9):
                    raise ValueMismatch(
                        f"{self.forward_name}'s output is not its inputs times a mask of 0 and 1/{keep:g}: the declared "
                        f"dropout keeps a unit with probability {keep:g} and scales the kept ones by 1/{keep:g} (inverted "
                        "dropout, as nnfs's Layer_Dropout(rate) does with rate the probability of dropping); a layer "
                        "that computes otherwise is declared as it computes, without :drop")
            elif output is not None and (got.shape != np.shape(output) or not np.allclose(got, output, rtol=1e-6,
                                                                                           atol=1e-9)):
                raise ValueMismatch(f"{self.forward_name}'s output is not the declared network's: declare the layer "
                                    "as it computes (4-3 for Layer_Dense, 4-4:relu for Activation_ReLU)")
            obj.backward(np.asarray(y, float) / m)
            out = {"dx": getattr(obj, self.DINPUTS, None)}
            if mask is not None:
                out[DRAWN_MASK] = mask
            for attr, grad in self.GRADS.items():
                pick = weights if attr == "weights" else biases
                if pick and hasattr(obj, grad):
                    out[pick[0]] = getattr(obj, grad)
            if out["dx"] is None:
                raise ReadingError(f"{self.backward_name}(dvalues) set no self.{self.DINPUTS}")
            return out
        run.__name__ = run.__qualname__ = self.__name__
        return run

    def sentence(self, parameterless=False) -> str:
        """How the class was run, as the report says it; ``parameterless``: a layer with no weights (nnfs's
        Activation_ReLU), of which only dinputs is compared."""
        if parameterless and self.drawn is None:
            return (f"{self.cls.__name__} built, {self.forward_name}(inputs) run, then {self.backward_name}(dvalues) "
                    "with dvalues = Y/m, the gradient of the check's linear loss J = (1/m) Σ output ⊙ Y; a layer "
                    "without parameters: its dinputs compared with jax.grad of the lowered forward pass")
        if self.drawn is not None:
            return (f"{self.forward_name}(inputs) run, drawing its own dropout mask, then {self.backward_name}(dvalues) "
                    "with dvalues = Y/m, the gradient of the check's linear loss J = (1/m) Σ output ⊙ Y; its dinputs "
                    "compared with jax.grad of the declared layer through the mask it drew")
        return (f"{self.cls.__name__} built, its weights and biases set to the point's, {self.forward_name}(inputs) "
                f"run, then {self.backward_name}(dvalues) with dvalues = Y/m, the gradient of the check's linear loss "
                "J = (1/m) Σ output ⊙ Y; its dweights, dbiases compared with the derived gradients, its dinputs "
                "with jax.grad of the lowered forward pass")


def _attributes_of(func, opname) -> set:
    """The attribute names ``func``'s code (and that of the functions defined inside it) stores (STORE_ATTR) or
    loads (LOAD_ATTR)."""
    import dis
    code = getattr(func, "__code__", None)
    out, todo = set(), [code] if code is not None else []
    while todo:
        code = todo.pop()
        try:
            out |= {i.argval for i in dis.get_instructions(code) if i.opname == opname and isinstance(i.argval, str)}
        except Exception:  # noqa: BLE001 - code dis cannot read: no attribute found
            pass
        todo += [c for c in code.co_consts if inspect.iscode(c)]
    return out


def held_names(cls) -> set:
    """The attributes a layer class's constructor sets that are no arrays of parameters: sizes and settings (m, n)."""
    import re
    return {a for a in _attributes_of(getattr(cls, "__init__", None), "STORE_ATTR") if re.fullmatch(r"[mn]|n_\w+", a)}


def steps_forward(T: int, step, start):
    """A step function run over T steps as the courses' sequence functions run it: ``step(t, carry)`` ->
    (state, carry, cache), from ``start``: (the states stacked on axis 1, every step's cache)."""
    carry, states, caches = start, [], []
    for t in range(T):
        state, carry, cache = step(t, carry)
        states.append(state)
        caches.append(cache)
    return np.stack(states, axis=1), caches


def steps_backward(T: int, step, start):
    """Its backward pass, from the last step down: ``step(t, carry)`` -> (dx⟨t⟩, carry for step t−1, the
    parameters' gradients at t), from ``start``: (dx⟨t⟩ in time order, the last carry, gradients summed over t)."""
    carry, dxs, sums = start, [None] * T, None
    for t in reversed(range(T)):
        dxs[t], carry, grads = step(t, carry)
        sums = list(grads) if sums is None else [a + g for a, g in zip(sums, grads)]
    return dxs, carry, sums or []


# A step function's previous state, as CS231n's rnn_step_forward(x, prev_h, Wx, Wh, b) names it.
STEP_STATES = ("prev_h", "h_prev", "hprev", "prev_state", "h_tm1")


class StepPair(LayerPair):
    """One step of a recurrence, ``stem_step_forward(x, prev_h, Wx, Wh, b)`` -> (next_h, cache) and
    ``stem_step_backward(dnext_h, cache)`` -> (dx, dprev_h, dWx, dWh, db), driven over the declared
    sequence as CS231n's rnn_forward and rnn_backward drive it: forward from h⟨0⟩ = 0 over t = 1..T,
    keeping each step's cache; backward from t = T down, each step given its own dout plus the dprev_h
    the step after it returned, the parameters' gradients summed over t. The whole is then checked as
    the layer pair of the sequence (every state out, the declared layer with :seq)."""

    @staticmethod
    def fits(forward) -> bool:
        taken = arg_names(forward)
        if taken is None:
            return False
        return any(t in STEP_STATES for t in taken) and any(t in ("x", "xt", "x_t", "input", "inputs") for t in taken)

    def __init__(self, backward, forward, stem):
        super().__init__(backward, forward, stem)
        self.step_forward, self.step_backward = forward, backward
        signature = inspect.signature(forward)
        taken = [p.name.lower() for p in signature.parameters.values()]
        ix = next(i for i, t in enumerate(taken) if t in ("x", "xt", "x_t", "input", "inputs"))
        ih = next(i for i, t in enumerate(taken) if t in STEP_STATES)

        state_at = ih - 1 if ih > ix else ih   # dprev_h's place after dx: the forward's order, x left out

        def sequence_forward(*args):
            x = np.asarray(args[ix])

            def step(t, h):
                call = list(args)
                call[ix], call[ih] = x[:, t], h
                out = forward(*call)
                if not (isinstance(out, tuple) and len(out) == 2):
                    raise ReadingError(f"{self.forward_name} returned {type(out).__name__}, not (next_h, cache)")
                return np.asarray(plain(out[0]), float), out[0], out[1]
            return steps_forward(x.shape[1], step, args[ih])

        def sequence_backward(dh, caches):
            def step(t, carry):
                back = backward(dh[:, t] + carry, caches[t])
                if back is None:
                    raise ReadingError(f"{self.backward_name} returned None: expected dx, then dprev_h and the "
                                       "parameters' gradients in the order the forward takes them")
                parts = [np.asarray(plain(v), float) for v in (back if isinstance(back, (tuple, list)) else [back])]
                rest = parts[1:]   # one gradient per argument after x in the forward's order, dprev_h among them
                if len(rest) <= state_at:
                    raise ReadingError(f"{self.backward_name} returned {len(parts)} values: expected dx, then dprev_h and "
                                       "the parameters' gradients in the order the forward takes them")
                return parts[0], rest[state_at], [g for i, g in enumerate(rest) if i != state_at]
            dxs, carry, grads = steps_backward(len(caches), step, 0.0)
            grads.insert(state_at, carry)
            return (np.stack(dxs, axis=1), *grads)
        sequence_forward.__signature__ = signature
        self.forward, self.backward = sequence_forward, sequence_backward

    def bound(self, params, names, context):
        if not context.get("state"):
            raise ReadingError(f"{self.forward_name} is one step of a recurrence: declare the recurrent layer it is a "
                               "step of, every state out (3x2-rnn4:seq for a sequence of 3 steps of 2 features into "
                               "4 tanh units), and it is run over that sequence")
        return super().bound(params, names, context)

    def sentence(self) -> str:
        return (f"{self.forward_name} run over the sequence from h⟨0⟩ = 0, each step's cache kept, then "
                f"{self.backward_name}(dnext_h, cache) from the last step down with dnext_h = dout⟨t⟩ + the dprev_h of "
                "step t+1 and the parameters' gradients summed over t (as CS231n's rnn_backward drives it), with "
                "dout = Y/m, the gradient of the check's linear loss J = (1/m) Σ out ⊙ Y; its (dx, d-parameters) "
                "compared with the derived gradients, dx with jax.grad of the lowered forward pass")


def _as_bias(value, shape):
    """A column bias gradient (n, 1) in derivax's shape; one of another size as it came, turned to the rows
    layout, for the check to say its shape is wrong (np.sum over the wrong axis gives (1, m))."""
    arr = np.asarray(value, float)
    return arr.reshape(shape) if arr.size == int(np.prod(shape)) else arr.T


class DlaiRecurrent(LayerPair):
    """deeplearning.ai's recurrent layer functions (simple RNN and LSTM), in its columns layout with a
    ``parameters`` dict:
    ``rnn_cell_forward(xt, a_prev, parameters)`` -> (a_next, yt_pred, cache) with
    ``rnn_cell_backward(da_next, cache)`` -> {dxt, da_prev, dWax, dWaa, dba}, driven over the declared sequence
    (as its rnn_backward drives it: da_next = da⟨t⟩ + the next step's da_prev, gradients summed over t); and
    ``rnn_forward(x, a0, parameters)`` -> (a, y_pred, caches) with ``rnn_backward(da, caches)`` -> {dx, da0, dWax,
    dWaa, dba}, x (n_x, m, T_x). Wax (n_a, n_x) and Waa are the declared layer's Wxh and Whh turned, ba (n_a, 1);
    Wya and by, which the forward computes ŷ with and the backward does not use, are a following dense layer's
    where the network has one, zeros otherwise."""

    @staticmethod
    def fits(forward) -> bool:
        taken = arg_names(forward)
        if taken is None:
            return False
        return ("parameters" in taken and any(t in ("xt", "x") for t in taken)
                and any(t in ("a_prev", "a0") for t in taken))   # lstm_cell_forward takes c_prev too

    def takes_parameters(self) -> bool:
        return True

    def bound(self, params, names, context):
        units = context.get("state")
        if not units:
            raise ReadingError(f"{self.forward_name} is a recurrent layer's: declare the recurrent layer, every state out "
                               "(3x2-rnn4:seq for a sequence of 3 steps of 2 features into 4 tanh units)")
        taken = arg_names(self.forward) or []
        cell = "a_prev" in taken
        output = context.get("output")

        lstm = any(n.startswith("Wxf") for n in names)
        gates = (("f", "f"), ("i", "i"), ("c", "g"), ("o", "o"))   # deeplearning.ai's gate letter, derivax's

        def pick(prefix):
            found = [n for n in names if n.startswith(prefix)]
            if not found:
                raise ReadingError(f"{self.forward_name} takes a recurrent layer's weights; the network declared has "
                                   f"no {prefix}… (declare it as 3x2-rnn4:seq or 3x2-lstm4:seq)")
            return found[0]

        def call(fn, size, *args):
            out = fn(*args)
            if not (isinstance(out, tuple) and len(out) == size):
                what = "(a, c, y_pred, cache)" if lstm else "(a, y_pred, cache)"
                raise ReadingError(f"{self.forward_name} returned {type(out).__name__}, not {what}")
            return out

        def grads(back, *keys):
            if not isinstance(back, dict):
                raise ReadingError(f"{self.backward_name} returned {type(back).__name__}, not a dict of gradients")
            got = {k.lower(): v for k, v in back.items()}
            missing = [k for k in keys if k.lower() not in got]
            if missing:
                raise ReadingError(f"{self.backward_name}'s gradients have no {', '.join(missing)}")
            return [np.asarray(plain(got[k.lower()]), float) for k in keys]

        def run(params, x, y):
            x = np.asarray(x, float)
            m, T = x.shape[0], x.shape[1]
            P = {k: np.asarray(params[k], float) for k in names if k != "dx"}
            if lstm:
                owned = {f"{side}{g}": pick(f"{side}{g}") for _, g in gates for side in ("Wx", "Wh", "bx", "bh")}
                parameters = {}
                for d, g in gates:
                    parameters["W" + d] = np.concatenate([P[owned["Wh" + g]].T, P[owned["Wx" + g]].T], axis=1)
                    parameters["b" + d] = (P[owned["bx" + g]] + P[owned["bh" + g]]).reshape(-1, 1)
                keys = [f"d{w}{d}" for d, _ in gates for w in ("W", "b")]
            else:
                owned = {"Wx": pick("Wxh"), "Wh": pick("Whh"), "b": pick("bh")}
                parameters = {"Wax": P[owned["Wx"]].T.copy(), "Waa": P[owned["Wh"]].T.copy(),
                              "ba": P[owned["b"]].reshape(-1, 1).copy()}
                keys = ["dWax", "dWaa", "dba"]
            recurrent = set(owned.values())
            dense = [n for n in names if n.startswith("W") and n not in recurrent]
            following = [n for n in names if n.startswith("b") and n not in recurrent]
            wy = P[dense[0]].T.copy() if dense else np.zeros((1, units))
            by = P[following[0]].reshape(-1, 1).copy() if dense and following else np.zeros((len(wy), 1))
            parameters.update({"Wya": wy, "Wy": wy, "by": by})   # ŷ's weights, as each notebook names them
            dout = np.asarray(y, float).reshape(m, T, units) / m          # (m, T, n_a): the check's linear loss
            zeros = np.zeros((units, m))
            initial = None   # rnn_backward's da0, where the check asks for it
            if cell:
                def forward_step(t, carry):
                    a, c = carry
                    if lstm:
                        a, c, _, cache = call(self.forward, 4, x[:, t].T.copy(), a, c, parameters)
                    else:
                        a, _, cache = call(self.forward, 3, x[:, t].T.copy(), a, parameters)
                    return np.asarray(plain(a), float).T, (a, c), cache
                hs, caches = steps_forward(T, forward_step, (zeros, zeros))

                def backward_step(t, carry):
                    da, dc = carry
                    if lstm:
                        dxt, da, dc, *g = grads(self.backward(dout[:, t].T + da, dc, caches[t]),
                                                "dxt", "da_prev", "dc_prev", *keys)
                    else:
                        dxt, da, *g = grads(self.backward(dout[:, t].T + da, caches[t]), "dxt", "da_prev", *keys)
                    return dxt.T, (da, dc), g
                dxs, _, sums = steps_backward(T, backward_step, (zeros, zeros))
                dx = np.stack(dxs, axis=1)
            else:
                out = call(self.forward, 4 if lstm else 3, x.transpose(2, 0, 1).copy(), zeros, parameters)
                hs = np.asarray(plain(out[0]), float).transpose(1, 2, 0)
                back = self.backward(dout.transpose(2, 0, 1).copy(), out[-1])
                dxc, *sums = grads(back, "dx", *keys)
                dx = dxc.transpose(1, 2, 0)
                if isinstance(back, dict) and context.get("initial") in back:   # da0 (n_a, m): the rows' (m, n_a)
                    da0 = np.asarray(plain(back[context["initial"]]), float)
                    initial = da0.T if da0.ndim == 2 else da0
            if output is not None and (hs.shape != np.shape(output) or not np.allclose(hs, output, rtol=1e-6, atol=1e-9)):
                raise ValueMismatch(f"{self.forward_name}'s states are not the declared network's: declare the recurrent "
                                    "layer with every state out, as 3x2-rnn4:seq (tanh) or 3x2-lstm4:seq")
            got = dict(zip(keys, sums))
            result = {"dx": dx}
            if initial is not None:
                result[context["initial"]] = initial
            def bias(db, code_name, shape):   # a (n_a,) for the column (n_a, 1) handed: the course's update grows
                problem = broadcast_problem(db, code_name, parameters[code_name].shape) \
                    if db.size == parameters[code_name].size else None
                return Misshapen(db, problem) if problem else _as_bias(db, shape)
            if lstm:
                for d, g in gates:
                    dW, db = got[f"dW{d}"], got[f"db{d}"]
                    result[owned["Wh" + g]], result[owned["Wx" + g]] = dW[:, :units].T, dW[:, units:].T
                    result[owned["bx" + g]] = result[owned["bh" + g]] = bias(db, "b" + d, P[owned["bx" + g]].shape)
            else:
                result.update({owned["Wx"]: got["dWax"].T, owned["Wh"]: got["dWaa"].T,
                               owned["b"]: bias(got["dba"], "ba", P[owned["b"]].shape)})
            return result
        run.__name__ = run.__qualname__ = self.__name__
        return run

    def sentence(self) -> str:
        taken = arg_names(self.forward) or []
        how = (f"run step by step over the sequence from a⟨0⟩ = 0, then {self.backward_name}(da_next, cache) from the last "
               "step down with da_next = da⟨t⟩ + the da_prev of step t+1, the gradients summed over t (as its "
               "rnn_backward drives it)" if "a_prev" in taken else
               f"run on x (n_x, m, T_x) from a0 = 0, then {self.backward_name}(da, caches)")
        lstm = "c_prev" in taken or self.forward_name.startswith("lstm")
        weights = ("each gate's W (Wf, Wi, Wc, Wo) = [Whᵀ | Wxᵀ] of derivax's gate (f, i, g, o) on [a_prev; xt] and its "
                   "b = (bx + bh)ᵀ" if lstm else "Wax = Wxhᵀ, Waa = Whhᵀ, ba = bhᵀ")
        return (f"deeplearning.ai's columns layout: {self.forward_name} {how}, with parameters {weights}, and da = the "
                "gradient of the check's linear loss J = (1/m) Σ a ⊙ Y; its dx and weight gradients (turned back) "
                "compared with the derived gradients, dx with jax.grad of the lowered forward pass")


class StackedLstm(LayerPair):
    """CS231n's LSTM layer functions, the four gates' weights side by side in the order i, f, o, g:
    ``lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)`` -> (next_h, next_c, cache) with
    ``lstm_step_backward(dnext_h, dnext_c, cache)`` -> (dx, dprev_h, dprev_c, dWx, dWh, db), driven over the
    declared sequence (dnext_h = dout⟨t⟩ + the next step's dprev_h, dnext_c the next step's dprev_c, gradients
    summed over t); and ``lstm_forward(x, h0, Wx, Wh, b)`` -> (h, cache) with ``lstm_backward(dh, cache)`` ->
    (dx, dh0, dWx, dWh, db). Wx (D, 4H) is the declared LSTM's Wxi, Wxf, Wxo, Wxg side by side, Wh likewise, and
    b (4H,) each gate's two biases added; the gradients are split back the same way (a gate's db is the gradient
    of both its biases)."""

    GATES = "ifog"

    @staticmethod
    def fits(forward, name="") -> bool:
        taken = arg_names(forward)
        return bool(taken) and "lstm" in name.lower() and {"wx", "wh", "b"} <= set(taken)

    def bound(self, params, names, context):
        units = context.get("state")
        owned = {f"{side}{g}": next((n for n in names if n.startswith(f"{side}{g}")), None)
                 for g in self.GATES for side in ("Wx", "Wh", "bx", "bh")}
        if not units or None in owned.values():
            raise ReadingError(f"{self.forward_name} is an LSTM layer's: declare the LSTM, every state out "
                               "(3x2-lstm4:seq for a sequence of 3 steps of 2 features into 4 units)")
        taken = arg_names(self.forward) or []
        step = "prev_c" in taken
        output = context.get("output")

        def run(params, x, y):
            x = np.asarray(x, float)
            m, T = x.shape[0], x.shape[1]
            P = {k: np.asarray(params[k], float) for k in owned.values()}
            Wx = np.concatenate([P[owned["Wx" + g]] for g in self.GATES], axis=1)
            Wh = np.concatenate([P[owned["Wh" + g]] for g in self.GATES], axis=1)
            b = np.concatenate([(P[owned["bx" + g]] + P[owned["bh" + g]]).reshape(-1) for g in self.GATES])
            dout = np.asarray(y, float).reshape(m, T, units) / m
            zeros = np.zeros((m, units))

            def unpack(out, size, what):
                if not (isinstance(out, (tuple, list)) and len(out) == size):
                    raise ReadingError(f"{what} returned {type(out).__name__}, not {size} values")
                return [np.asarray(plain(v), float) if i < size - 1 or what == self.backward_name else v
                        for i, v in enumerate(out)]
            if step:
                def forward_step(t, carry):
                    h, c, cache = unpack(self.forward(x[:, t], *carry, Wx, Wh, b), 3, self.forward_name)
                    return h, (h, c), cache
                hs, caches = steps_forward(T, forward_step, (zeros, zeros))

                def backward_step(t, carry):
                    dh, dc = carry
                    dxt, dh, dc, *g = unpack(self.backward(dout[:, t] + dh, dc, caches[t]), 6, self.backward_name)
                    return dxt, (dh, dc), g
                dxs, _, (dWx, dWh, db) = steps_backward(T, backward_step, (zeros, zeros))
                dx = np.stack(dxs, axis=1)
            else:
                hs, cache = unpack(self.forward(x, zeros, Wx, Wh, b), 2, self.forward_name)
                dx, dh0, dWx, dWh, db = unpack(self.backward(dout, cache), 5, self.backward_name)
            if output is not None and (np.shape(hs) != np.shape(output)
                                       or not np.allclose(hs, output, rtol=1e-6, atol=1e-9)):
                raise ValueMismatch(f"{self.forward_name}'s states are not the declared network's: declare the LSTM "
                                    "with every state out, as 3x2-lstm4:seq")
            result = {"dx": dx}
            if not step and context.get("initial") == "dh0":
                result["dh0"] = dh0
            db = np.asarray(db).reshape(-1)
            for k, g in enumerate(self.GATES):
                cols = slice(k * units, (k + 1) * units)
                result[owned["Wx" + g]], result[owned["Wh" + g]] = np.asarray(dWx)[:, cols], np.asarray(dWh)[:, cols]
                result[owned["bx" + g]] = result[owned["bh" + g]] = db[cols].reshape(P[owned["bx" + g]].shape)
            return result
        run.__name__ = run.__qualname__ = self.__name__
        return run

    def sentence(self) -> str:
        taken = arg_names(self.forward) or []
        how = (f"run over the sequence from h⟨0⟩ = c⟨0⟩ = 0, then {self.backward_name}(dnext_h, dnext_c, cache) from the "
               "last step down with dnext_h = dout⟨t⟩ + the dprev_h of step t+1 and dnext_c its dprev_c, the gradients "
               "summed over t" if "prev_c" in taken else
               f"run on x (N, T, D) from h0 = 0, then {self.backward_name}(dh, cache)")
        return (f"{self.forward_name} {how}; Wx and Wh are the declared LSTM's gate weights side by side in the order i, "
                "f, o, g and b each gate's two biases added, dout = Y/m, the gradient of the check's linear loss "
                "J = (1/m) Σ h ⊙ Y; the gradients split back the same way (a gate's db for both its biases) and "
                "compared with the derived ones, dx with jax.grad of the lowered forward pass")


class LossLayer:
    """``name_loss(x, y)`` returning ``(loss, dx)`` (CS231n's softmax_loss and svm_loss): x is the scores, the
    pre-activation of a square output layer whose weights the check sets to the identity (declare it as
    10-10:softmax, with --loss svm for svm_loss), so that ∂J/∂x is the network's ∂J/∂Z and the loss is J."""

    def __init__(self, fn, name):
        self.fn, self.name = fn, name
        self.__name__ = self.__qualname__ = name

    @staticmethod
    def of(fn, name):
        taken = arg_names(fn)
        if taken is None:
            return None
        # CS231n's temporal_softmax_loss(x, y, mask) too: every step counted (mask of ones)
        return LossLayer(fn, name) if name.endswith("_loss") and taken[:2] == ["x", "y"] and \
            taken[2:3] in ([], ["mask"]) else None

    kind = "loss"

    @staticmethod
    def takes_parameters() -> bool:
        return False

    def bound(self, params, names, context):
        seen = context.get("_seen")

        masked = (arg_names(self.fn) or [])[2:3] == ["mask"]
        given = context.get("mask")
        self.real_mask = given is not None

        def run(params, x, y):
            mask = np.asarray(given, dtype=bool) if given is not None else np.ones(np.shape(y)[:2], dtype=bool)
            out = self.fn(x, y, mask) if masked else self.fn(x, y)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise ReadingError(f"{self.name} returned {type(out).__name__}, not (loss, dx)")
            if seen is not None:
                try:
                    seen.setdefault("losses", []).append(float(plain(out[0])))
                except (TypeError, ValueError):
                    pass
            return {"dx": out[1]}
        run.__name__ = run.__qualname__ = self.name
        return run

    real_mask = False

    def sentence(self) -> str:
        masked = (arg_names(self.fn) or [])[2:3] == ["mask"]
        return (f"{self.name}(x, y{', mask' if masked else ''}) called with x the scores, the output layer's Z (its W "
                "set to the identity)" + ((", the mask a real one (each sequence counted for its first steps alone, "
                                          "the labels of the rest 0), and J the loss over the counted steps"
                                          if self.real_mask else ", the mask all ones (every step counted)")
                                         if masked else "")
                + ", its (loss, dx) compared with J and with ∂J/∂Z by jax.grad")


class ObjectLoss(LossLayer):
    """A loss as a class, as Neural Networks from Scratch (nnfs) writes them: ``backward(dvalues, y_true)`` sets
    ``self.dinputs``, with y_true integer labels or one-hot rows. Two kinds:

    - the softmax and its cross-entropy in one (Activation_Softmax_Loss_CategoricalCrossentropy), with or without
      ``forward(inputs, y_true)``: dvalues is the softmax's output, and dinputs is ∂J/∂Z of the scores Z, the
      pre-activation of a square softmax output layer whose W the check sets to the identity (declare 4-4:softmax);
    - a loss alone (Loss_CategoricalCrossentropy, Loss_BinaryCrossentropy, Loss_MeanSquaredError), whose
      ``forward(y_pred, y_true)`` gives each example's loss: dvalues is the prediction, the square output layer's
      A (W the identity again: declare 4-4:softmax, 4-4:sigmoid --loss bce, 4-4 --loss mse), and dinputs is ∂J/∂A.

    The loss, where forward gives it, is the mean of what forward returns, as nnfs's Loss.calculate takes it."""

    PREDICTIONS = ("y_pred", "ypred", "yhat", "y_hat", "output", "outputs", "predictions", "prediction", "pred", "preds")
    LABELS = ("y_true", "y", "ytrue", "targets", "target", "labels", "label", "y_train")

    def __init__(self, cls, name):
        self.cls, self.name = cls, name
        self.fn = cls.backward
        self.__name__ = self.__qualname__ = name
        forward = getattr(cls, "forward", None)
        taken = required_names(forward) if callable(forward) else None
        self.has_forward = taken is not None and len(taken) == 3
        self.combined = not (self.has_forward and taken[1] in self.PREDICTIONS)
        self.kind = "loss" if self.combined else "prediction"

    @classmethod
    def fits(cls, target) -> bool:
        if not isinstance(target, type) or not callable(getattr(target, "backward", None)):
            return False
        back = required_names(target.backward)
        # backward(self, dvalues, y_true): what flows back first (a network's own backward(self, X, y) is no loss's)
        if back is None or len(back) != 3 or back[0] != "self" or back[2] not in cls.LABELS or \
                back[1] not in UPSTREAM | {"dvalues", "dvalue", "doutput", "dinputs", "d_out", "grad"}:
            return False
        forward = getattr(target, "forward", None)
        taken = required_names(forward) if callable(forward) else None
        if taken is not None and len(taken) == 3 and taken[2] in cls.LABELS:
            return True
        lowered = target.__name__.lower()   # a combined class without forward (nnfs's later chapters)
        return taken is None and "softmax" in lowered and ("loss" in lowered or "crossentropy" in lowered)

    @staticmethod
    def takes_parameters() -> bool:
        return False

    def bound(self, params, names, context):
        from compile.checks.sandbox import _constructed
        output, seen = context.get("output"), context.get("_seen")

        def run(params, x, y):
            obj = _constructed(self.cls, context) or self.cls.__new__(self.cls)
            prediction = np.array(output, dtype=float)   # the layer's A: softmax (sigmoid, ...) of the scores x
            value = None
            if self.has_forward:
                value = obj.forward(np.array(x, dtype=float) if self.combined else prediction, y)
                if self.combined and hasattr(obj, "output"):
                    got = np.asarray(plain(obj.output), float)
                    if got.shape != prediction.shape or not np.allclose(got, prediction, rtol=1e-6, atol=1e-9):
                        raise ValueMismatch(f"{self.name}.forward's output is not the declared network's: declare "
                                            "the softmax output layer it computes, square (4-4:softmax)")
                    prediction = got
            if value is not None and seen is not None:
                try:
                    seen.setdefault("losses", []).append(float(np.mean(np.asarray(plain(value), float))))
                except (TypeError, ValueError):
                    pass
            obj.backward(prediction.copy(), y)
            if getattr(obj, "dinputs", None) is None:
                raise ReadingError(f"{self.name}.backward(dvalues, y_true) set no self.dinputs")
            return {"dx": obj.dinputs}
        run.__name__ = run.__qualname__ = self.name
        return run

    def sentence(self) -> str:
        what = "the softmax output" if self.combined else "the prediction, the output layer's A"
        return (f"{self.name} built" + (f", {self.name}.forward({'inputs' if self.combined else 'y_pred'}, y_true) run"
                                       if self.has_forward else "")
                + f", then {self.name}.backward(dvalues, y_true) with dvalues {what} (its W set to the identity, x the "
                "scores); its dinputs compared with " + ("∂J/∂Z, by jax.grad" if self.combined else
                                                         "∂J/∂A, the derived adjoint of the network's output")
                + (", and the mean of what forward returns with J" if self.has_forward else ""))

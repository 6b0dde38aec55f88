"""SymPy-heavy steps in a child process, under a time limit that can never leave this process broken.

SymPy's automatic evaluation can run for minutes on some expressions (``log(cosh(...))`` asks whether
its argument is positive, which factors polynomials), and nothing about an expression tells in
advance that it will. Cutting such a step off from inside (an alarm signal, an asynchronous
exception) raises in whatever library code happens to be running, half-way through a cache update or
a class's construction, and can leave SymPy unusable for the rest of the process. So a step that
hands a large expression to SymPy runs in a forked child: the child inherits every object it needs
(nothing is pickled on the way in), sends its results back through a pipe, and is killed when its
time is up, while this process waits, untouched, on any thread.

``stream(gen, *args, seconds=...)`` runs a generator in the child and returns the items it produced
before the limit (and whether it finished); ``run(fn, *args, seconds=...)`` runs one function and
raises ``TimeLimitExceeded`` at the limit. An exception in the child is raised again here. Where
there is no ``fork`` (Windows), the step runs in this process without a limit.
"""
from __future__ import annotations

import gc
import os
import pickle
import select
import signal
import struct
import time
import warnings

from derive.run.limits import TimeLimitExceeded

HEADER = struct.Struct("!Q")
# How a child leaves, taken when this module is imported: a model file's run replaces os._exit in this process for
# its duration (derive.network.examples), and a child forked meanwhile must still end without a word.
_exit = os._exit


def available() -> bool:
    return hasattr(os, "fork")


def run(fn, *args, seconds: float, what: str = "this step"):
    """``fn(*args)`` in a child process; TimeLimitExceeded after ``seconds``."""
    return start(fn, *args, seconds=seconds, what=what).result()


class Started:
    """A step running in a child process while this one does other work: ``result()`` waits for it (at most its
    ``seconds``, counted from the start) and returns its value, or raises its exception or TimeLimitExceeded;
    ``cancel()`` stops it unread. Where there is no fork the step ran when it was started."""

    def __init__(self, fn, args, seconds, what):
        self.seconds, self.what, self.deadline = seconds, what, time.monotonic() + seconds
        self.pid = self.read = self.child = None
        self.value = self.error = None
        if not available():
            try:
                self.value = fn(*args)
            except Exception as exc:   # noqa: BLE001 - raised again by result(), as a child's would be
                self.error = exc
            return
        self.read, self.pid = _spawn(_once, fn, *args)
        self.child = self.pid   # kept after it is read or cancelled

    def result(self):
        if self.pid is None:
            if self.error is not None:
                raise self.error
            return self.value
        try:
            items, finished = _collect(self.read, self.pid, max(self.deadline - time.monotonic(), 0.0))
        finally:
            os.close(self.read)
            self.pid = None
        if not finished:
            raise TimeLimitExceeded(f"{self.what} took longer than {self.seconds:g} s and was stopped")
        return items[0]

    def cancel(self) -> None:
        if self.pid is not None:
            _end(self.pid)
            os.close(self.read)
            self.pid = None


def start(fn, *args, seconds: float, what: str = "this step") -> Started:
    """``fn(*args)`` started in a child process now, its result read later (``Started.result``)."""
    return Started(fn, args, seconds, what)


def _once(fn, *args):
    yield fn(*args)


def stream(gen, *args, seconds: float, first: float = 0.0) -> tuple:
    """(items ``gen(*args)`` yielded within ``seconds``, whether it finished); ``first``: the first item is
    waited for this long where it has not come within ``seconds`` (what the later items only add to)."""
    if not available():
        return list(gen(*args)), True
    read, pid = _spawn(gen, *args)
    try:
        return _collect(read, pid, seconds, first)
    finally:
        os.close(read)


def _spawn(gen, *args) -> tuple:
    """(the read end of its pipe, its pid) of a child running ``gen(*args)`` and sending what it yields."""
    read, write = os.pipe()
    pid = fork()
    if pid == 0:  # the child: compute, send, and leave without running this process's exit handlers
        os.close(read)
        code = 0
        try:
            for item in gen(*args):
                _send(write, ("item", item))
            _send(write, ("done", None))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, raised there
            try:
                _send(write, ("error", exc))
            except BaseException:  # noqa: BLE001 - an exception that cannot be pickled
                _send(write, ("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
            code = 1
        finally:
            _exit(code)
    os.close(write)
    return read, pid


def fork() -> int:
    """``os.fork()`` for a child that touches nothing of the parent's but Python objects and pipes.

    The objects the child inherits are never collected there (``gc.freeze`` before the collector can
    run): among them may be JAX arrays in a GPU's memory, and freeing one in a forked child calls into
    a CUDA context that does not exist there, which aborts the child (seen on an NVIDIA GPU: a verify
    after a training run). The child's own objects are collected as usual.

    JAX (RuntimeWarning) and Python 3.12+ (DeprecationWarning) warn at a fork of a process with
    threads: a child could deadlock on a lock another thread held. These children take none of those
    locks: they run SymPy on objects they already have, or wait on a pipe, and leave by ``os._exit``."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except BaseException:
        if enabled:
            gc.enable()
        raise
    if pid == 0:
        gc.freeze()
    if enabled:
        gc.enable()
    return pid


def _send(fd: int, message) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _collect(fd: int, pid: int, seconds: float, first: float = 0.0) -> tuple:
    now = time.monotonic()
    deadline, first_deadline = now + seconds, now + max(seconds, first)
    buffer, items = b"", []
    try:
        while True:
            left = (deadline if items else first_deadline) - time.monotonic()
            if left <= 0:
                return items, False
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return items, False
            chunk = os.read(fd, 1 << 20)
            if not chunk:  # the child ended without saying done: it crashed
                raise RuntimeError("the child process computing a SymPy step ended without a result")
            buffer += chunk
            while len(buffer) >= HEADER.size:
                (size,) = HEADER.unpack_from(buffer)
                if len(buffer) < HEADER.size + size:
                    break
                kind, value = pickle.loads(buffer[HEADER.size:HEADER.size + size])
                buffer = buffer[HEADER.size + size:]
                if kind == "item":
                    items.append(value)
                elif kind == "done":
                    return items, True
                else:
                    raise value
    finally:
        _end(pid)


def _end(pid: int) -> None:
    """Kill the child if it is still running, and reap it."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass

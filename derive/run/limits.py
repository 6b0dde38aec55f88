"""An in-process time limit, for code that must run in this process: a user's backward function
given to ``check_code`` as a callable. A block that runs too long is cut off and says so::

    with time_limit(5.0) as limit:
        value = work()
    if limit.expired:
        ...  # report it

The cut-off is an exception raised inside whatever code is running: on the main thread from a
SIGALRM handler, on any other thread by ``PyThreadState_SetAsyncExc`` from a timer thread. That can
land half-way through a library's own bookkeeping, so derivax's SymPy-heavy steps do not use it:
they run in a child process (``derive.run.worker``), which can be killed without harm. The exception
derives from ``BaseException`` so that a library's ``except Exception`` cannot swallow it, and it
re-fires every quarter second until the block is left (a signal that lands in a garbage-collector
callback is reported as unraisable and lost). Limits nest: each block owns its exception, and an
outer limit that expires inside an inner block passes through the inner one. ``TimeLimitExceeded``
is what a step with no fallback raises, here and in ``derive.run.worker``.
"""
from __future__ import annotations

import ctypes
import signal
import threading
import time

REFIRE = 0.25


class OutOfTime(BaseException):
    """Raised inside a block whose time limit passed; ``owner`` is that block's limit."""

    def __init__(self, owner=None):
        super().__init__("time limit reached")
        self.owner = owner


class TimeLimitExceeded(RuntimeError):
    """A step that ran past its limit and has no fallback; the message says which step and the limit."""


_local = threading.local()


def _stack() -> list:
    if not hasattr(_local, "limits"):
        _local.limits = []
    return _local.limits


class time_limit:
    """Cut off the block after ``seconds`` (``None`` or 0: no limit). ``.expired`` tells afterwards."""

    def __init__(self, seconds, what: str = "this step"):
        import math
        import numbers
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, numbers.Real)
                                    or not math.isfinite(seconds) or seconds < 0):
            raise ValueError(f"time_limit: seconds must be a finite number >= 0 (0 or None: no limit), "
                             f"not {seconds!r}")
        if not isinstance(what, str):
            raise ValueError(f"time_limit: what must be a string naming the step, not {what!r}")
        self.seconds, self.what = seconds, what
        self.expired = False

    # ---- main thread: SIGALRM ----
    @staticmethod
    def _arm_signal():
        """Time the alarm for the nearest deadline of the limits still open. One already past has its
        cut-off on the way up the stack (or swallowed): the re-fire interval is soon enough."""
        stack = _stack()
        left = min(l.deadline for l in stack) - time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, left if left > 0 else REFIRE)

    @staticmethod
    def _on_alarm(signum, frame):
        stack = _stack()
        now = time.monotonic()
        due = [l for l in stack if l.deadline <= now + 1e-3]
        if not due:  # an outer deadline is still ahead (an inner block just left): wait for it
            if stack:
                signal.setitimer(signal.ITIMER_REAL, max(min(l.deadline for l in stack) - now, 1e-3))
            return
        signal.setitimer(signal.ITIMER_REAL, REFIRE)  # again, in case this one is swallowed
        raise OutOfTime(due[0])  # the outermost due limit: it unwinds every inner block

    # ---- other threads: an asynchronous exception from a timer thread ----
    def _arm_thread(self):
        ident = threading.get_ident()
        self._stop = threading.Event()

        def fire():
            if self._stop.wait(self.seconds):
                return
            while True:
                _set_async(ident, OutOfTime)
                if self._stop.wait(REFIRE):
                    return
        self._timer = threading.Thread(target=fire, daemon=True, name="derivax-time-limit")
        self._timer.start()

    def __enter__(self):
        self.active = bool(self.seconds) and self.seconds > 0
        if not self.active:
            return self
        self.deadline = time.monotonic() + float(self.seconds)
        self.main = threading.current_thread() is threading.main_thread()
        stack = _stack()
        if self.main:
            with _alarm_blocked():  # no alarm may land between the handler, the stack and the timer
                if not stack:
                    self._previous = signal.signal(signal.SIGALRM, self._on_alarm)
                stack.append(self)
                self._arm_signal()
        else:
            stack.append(self)
            self._arm_thread()
        return self

    def __exit__(self, kind, exc, tb):
        if not self.active:
            return False
        stack = _stack()
        if self.main:
            with _alarm_blocked() as pending:
                stack.remove(self)
                if stack:
                    self._arm_signal()
                else:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    pending.discard()  # an alarm already due is ours: it must not reach the old handler
                    signal.signal(signal.SIGALRM, self._previous)
        else:
            self._stop.set()
            self._timer.join()
            stack.remove(self)
            _set_async(threading.get_ident(), None)  # one still pending is cancelled
        cut = _cut_off(exc)
        if cut is not None:
            owner = getattr(cut, "owner", None)
            mine = owner is self or (owner is None and not self.main and time.monotonic() >= self.deadline)
            if mine:
                self.expired = True
                from sympy.core.cache import clear_cache
                clear_cache()
                return True
        return False

    def check(self):
        """Raise TimeLimitExceeded if the block was cut off (for steps without a fallback)."""
        if self.expired:
            raise TimeLimitExceeded(f"{self.what} took longer than {self.seconds:g} s and was stopped")


class _alarm_blocked:
    """SIGALRM held back for the block (it stays pending and arrives after it), so that the limits'
    own bookkeeping is never cut in half. ``discard()`` drops one that is pending. Where the platform
    cannot mask signals, the block runs unprotected."""

    def __enter__(self):
        self.masked = hasattr(signal, "pthread_sigmask")
        if self.masked:
            self.before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        return self

    def discard(self):
        if self.masked and signal.SIGALRM in signal.sigpending():
            signal.sigwait({signal.SIGALRM})

    def __exit__(self, *exc):
        if self.masked:
            signal.pthread_sigmask(signal.SIG_SETMASK, self.before)
        return False


def _cut_off(exc):
    """The OutOfTime behind ``exc``, or None. Raised inside Python code that C code called (a
    ``__hash__`` under the C ``lru_cache``, a NumPy ufunc's callback), it can reach us wrapped in a
    SystemError, as that error's cause or context."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OutOfTime):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _set_async(ident: int, exc) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident),
                                               ctypes.py_object(exc) if exc is not None else None)

"""The explorer's work, each request in a worker process of its own: a derivation, a check, a verification,
a training run. The server never runs SymPy or JAX itself, so a slow step cannot stall it, and a time limit
or a Stop is a kill of the worker, which cannot leave anything half-done in the server (an alarm signal
would work only on the main thread, and an exception raised into library code can break it).

Workers start from a fork server (``multiprocessing``'s forkserver, spawn where there is none) that has
imported derivax's symbolic side once, so a worker starts in milliseconds with nothing of the server's
threads or sockets. A worker gets the request's JSON, calls ``compile.explore.api``, and sends back events
(a training run's epochs) and then its result or its error, through a pipe a thread of the server reads.
"""
from __future__ import annotations

import itertools
import multiprocessing
import threading
import time

LIMITS = {"derive": 60.0, "check": 90.0, "verify": 180.0, "train": 600.0, "scalar": 150.0}   # seconds
QUICK = ("derive", "check")   # what the page waits for to show a derivation: never queued behind a long job
MAX_RUNNING = 4     # long jobs' (verify, train, scalar) workers at once; more wait for one to end
MAX_WAITING = 8     # long jobs waiting for a worker; past it a new one is refused until one ends or is stopped
MAX_QUICK = 2       # derivations' and checks' workers at once, in slots of their own
MAX_QUICK_WAITING = 16
KEEP = 64           # finished jobs remembered for their pages to read


def _context():
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        ctx.set_forkserver_preload(["compile.explore.api", "derive", "derive.printing.page"])
    return ctx


def _worker(kind, fields, files, conn):
    """The worker process: run one API call, send its events, then ("done", result) or ("error", ...)."""
    import compile.explore.api as api

    def emit(event):
        conn.send(("event", event))
    try:
        fn = api.CALLS[kind]
        result = fn(fields, files, emit) if kind in api.STREAMING else fn(fields, files)
        conn.send(("done", result))
    except api.ApiError as exc:
        conn.send(("error", {**exc.to_json(), "status": exc.status}))
    except BaseException as exc:  # noqa: BLE001 - reported on the page as one line, never a traceback
        from compile.checks.points import TooLarge
        from derive.run.limits import TimeLimitExceeded
        if isinstance(exc, TooLarge):   # the network is too large for this machine: the model is at fault
            conn.send(("error", {"message": " ".join(str(exc).split())[:500], "field": "model", "position": None,
                                 "status": 413}))
            return
        status = 408 if isinstance(exc, TimeLimitExceeded) else 500
        text = " ".join(str(exc).split())[:500]
        conn.send(("error", {"message": f"{type(exc).__name__}: {text}" if status == 500 else text,
                             "field": None, "position": None, "status": status}))
    finally:
        conn.close()


class Busy(Exception):
    """A job refused before it is queued: too many of its kind wait already (429), or the server is stopping
    (503). ``message`` says which, and what to do."""

    def __init__(self, message: str, status: int = 429):
        super().__init__(message)
        self.message, self.status = message, status


class Job:
    """One request's work: its state (queued, running, done, error, cancelled), events, result or error."""

    def __init__(self, jid, kind, fields, limit):
        self.id, self.kind, self.fields, self.limit = jid, kind, fields, limit
        self.submitted = time.monotonic()
        self.state, self.events, self.result, self.error = "queued", [], None, None
        self.process = None
        self.started = self.ended = None
        self.finished = threading.Event()
        self.cancel_asked = False

    def view(self, since=0) -> dict:
        since = max(0, min(int(since), len(self.events)))
        return {"id": self.id, "kind": self.kind, "state": self.state, "events": self.events[since:],
                "next": len(self.events), "result": self.result if self.state == "done" else None,
                "error": self.error, "seconds": round((self.ended or time.monotonic()) - self.started, 3)
                if self.started else 0.0,
                # the time it waited for a worker, apart from its own ("seconds"): still growing while it is queued
                "waited": round((self.started or self.ended or time.monotonic()) - self.submitted, 3)}


class Jobs:
    """The server's jobs: started, watched, cancelled and forgotten here.

    Derivations and checks (QUICK) run in ``max_quick`` slots of their own, so the page answers while every
    long job's slot is taken; their time limit counts from the request, the wait for a slot included. Long jobs
    (verify, train, scalar) run in ``max_running`` slots, at most ``max_waiting`` more waiting for one (each
    for at most its time limit); a job past either queue's bound is refused (Busy)."""

    def __init__(self, files=(), limits=None, max_running=MAX_RUNNING, max_waiting=MAX_WAITING,
                 max_quick=MAX_QUICK, max_quick_waiting=MAX_QUICK_WAITING):
        self.files = dict(files) if isinstance(files, dict) else tuple(files)
        self.limits = {**LIMITS, **(limits or {})}
        self.ctx = _context()
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.slots = threading.Semaphore(max_running)
        self.quick_slots = threading.Semaphore(max_quick)
        self.max_running, self.max_waiting = max_running, max_waiting
        self.max_quick_waiting = max_quick_waiting
        self.closed = False
        self.ids = itertools.count(1)

    def start(self, kind: str, fields: dict) -> Job:
        """The job, queued for a worker; Busy when its queue is full or the server is stopping."""
        with self.lock:
            if self.closed:
                raise Busy("the server is stopping", status=503)
            self._refuse_when_full(kind)
            job = Job(f"{kind}-{next(self.ids)}", kind, fields, self.limits[kind])
            self.jobs[job.id] = job
            done = [j for j in self.jobs.values() if j.finished.is_set()]
            for old in done[:max(0, len(done) - KEEP)]:
                del self.jobs[old.id]
        threading.Thread(target=self._run, args=(job,), daemon=True, name=f"derivax {job.id}").start()
        return job

    def _refuse_when_full(self, kind: str) -> None:
        live = [j for j in self.jobs.values() if not j.finished.is_set() and (j.kind in QUICK) == (kind in QUICK)]
        waiting = sum(j.state == "queued" for j in live)
        running = len(live) - waiting
        if kind in QUICK and waiting >= self.max_quick_waiting:
            raise Busy(f"{waiting} derivations and checks are waiting for a worker already: try again once they "
                       "are answered")
        if kind not in QUICK and waiting >= self.max_waiting:
            raise Busy(f"{running} verify, train and scalar jobs are running and {waiting} waiting (at most "
                       f"{self.max_running} at once and {self.max_waiting} waiting): stop one first, or wait for "
                       "one to end")

    def get(self, jid: str):
        return self.jobs.get(jid)

    def cancel(self, jid: str):
        job = self.jobs.get(jid)
        if job is None:
            return None
        job.cancel_asked = True
        with self.lock:
            if job.state == "queued" and job.process is None:   # waiting for a slot: cancelled now, never started
                self._end(job, "cancelled")
                job.finished.set()
                return job
        if job.process is not None and job.process.is_alive():
            job.process.kill()
        return job

    def close(self, wait: float = 0.0):
        """The server is stopping: no job starts from now on, every queued one is cancelled and every worker
        killed; then up to ``wait`` seconds for their threads to see them gone."""
        with self.lock:
            self.closed = True
        for job in list(self.jobs.values()):
            if not job.finished.is_set():
                self.cancel(job.id)
        end = time.monotonic() + wait
        for job in list(self.jobs.values()):
            job.finished.wait(max(0.0, end - time.monotonic()))

    def _run(self, job: Job):
        try:
            self._work(job)
        finally:   # said only once the worker is gone
            if job.state in ("queued", "running"):
                self._end(job, "error", {"message": "the job ended without a result", "status": 500})
            job.finished.set()

    def _work(self, job: Job):
        slots = self.quick_slots if job.kind in QUICK else self.slots
        # A quick request's limit counts from when it was asked; a long job waits for a slot at most its limit.
        deadline = job.submitted + job.limit
        while not slots.acquire(timeout=max(0.0, min(0.1, deadline - time.monotonic()))):
            if job.cancel_asked or self.closed or time.monotonic() >= deadline:
                with self.lock:
                    if job.finished.is_set():   # cancelled while queued
                        return None
                    if job.cancel_asked or self.closed:
                        return self._end(job, "cancelled")
                    return self._end(job, "error", {
                        "message": f"{job.kind} waited {job.limit:g} s for a worker, all busy, and was dropped: "
                                   "stop a long job (verify, train) or try again later", "status": 503})
        try:
            self._spawn(job, slots is self.quick_slots)
        finally:
            slots.release()

    def _spawn(self, job: Job, quick: bool):
        """Job's worker, in the slot it holds: started, read until it ends, killed at its time limit."""
        with self.lock:
            if job.cancel_asked or self.closed:
                return None if job.finished.is_set() else self._end(job, "cancelled")
            job.state = "running"
        read, write = self.ctx.Pipe(duplex=False)
        job.process = self.ctx.Process(target=_worker, args=(job.kind, job.fields, self.files, write),
                                       daemon=True, name=f"derivax {job.id}")
        job.started = time.monotonic()
        job.state = "running"
        try:
            job.process.start()
        except Exception as exc:  # noqa: BLE001 - no process could be started: say so
            read.close()
            return self._end(job, "error", {"message": f"cannot start a worker: {exc}", "status": 500})
        finally:
            write.close()
        deadline = (job.submitted if quick else job.started) + job.limit
        try:
            while True:
                if job.cancel_asked:
                    return self._end(job, "cancelled")
                left = deadline - time.monotonic()
                if left <= 0:
                    job.process.kill()
                    return self._end(job, "error", {
                        "message": f"{job.kind} took longer than {job.limit:g} s"
                                   f"{' (counted from the request)' if quick else ''} and was stopped",
                        "status": 408})
                if not read.poll(min(0.1, left)):
                    continue
                try:
                    kind, value = read.recv()
                except (EOFError, OSError):
                    if job.cancel_asked:
                        return self._end(job, "cancelled")
                    return self._end(job, "error", {"message": "the worker ended without a result (out of "
                                                    "memory, or killed)", "status": 500})
                if kind == "event":
                    job.events.append(value)
                elif kind == "done":
                    job.result = value
                    return self._end(job, "done")
                else:
                    return self._end(job, "error", value)
        finally:
            read.close()
            if job.process.is_alive():
                job.process.kill()
            job.process.join(5)

    @staticmethod
    def _end(job: Job, state: str, error=None):
        job.state, job.ended = state, time.monotonic()
        if error is not None:
            job.error = {"field": None, "position": None, **error}
        if job.started is None:
            job.started = job.ended

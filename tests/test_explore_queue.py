"""The explorer's queue of work: a derivation answered while every long job's slot is taken, the long jobs'
queue bounded (a 429 in the API's error shape past it), a request's time limit counted from when it was asked,
a request whose client has gone dropped before it runs, and a server that ends within seconds of the first
Ctrl-C, its queued jobs never started and its workers gone.

The workers here are stand-ins that sleep for the seconds their model's name gives (``sleep:30``) and answer
with the fields they got, forked from the test's process, so that slots are held for as long as a test needs
without any derivation or training being run."""
import http.client
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from conftest import serve_in_thread

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

# The forked stand-ins only sleep and write to a pipe: JAX's warning about forking a threaded process is moot.
pytestmark = pytest.mark.filterwarnings("ignore:os.fork")

NETWORK = {"model": "xor", "loss": None, "edits": [], "convention": "rows"}


def _sleeper(kind, fields, files, conn):
    """A stand-in worker: sleeps for the seconds after ``sleep:`` in the model's name, then answers."""
    time.sleep(float(fields["model"].split(":")[1]))
    conn.send(("done", {"kind": kind, "model": fields["model"]}))
    conn.close()


@pytest.fixture
def fake_jobs(monkeypatch):
    """Jobs(...) whose workers are stand-ins (``_sleeper``), forked here."""
    import compile.explore.jobs as jobs_module
    monkeypatch.setattr(jobs_module, "_worker", _sleeper)
    made = []

    def make(**kwargs):
        jobs = jobs_module.Jobs(**kwargs)
        jobs.ctx = multiprocessing.get_context("fork")
        made.append(jobs)
        return jobs
    yield make
    for jobs in made:
        jobs.close(wait=5.0)


@pytest.fixture
def serve_jobs():
    """A server in a thread of this process for the Jobs given: its (host, port)."""
    from compile.explore.server import create_app
    running = []

    def start(jobs):
        srv, thread, sock = serve_in_thread(create_app(NETWORK, jobs=jobs))
        running.append((srv, thread, sock))
        return "127.0.0.1", sock.getsockname()[1]
    yield start
    for srv, thread, sock in running:
        srv.should_exit = True
        thread.join(10)
        sock.close()


def call(where, method, path, body=None, timeout=30):
    host, port = where
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    data = None if body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
    r = conn.getresponse()
    status, text = r.status, r.read()
    conn.close()
    return status, json.loads(text)


def until(test, seconds=5.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if test():
            return True
        time.sleep(0.02)
    return test()


def test_a_derive_is_answered_while_every_long_slot_is_busy_and_the_long_queue_is_bounded(fake_jobs, serve_jobs):
    jobs = fake_jobs(max_running=2, max_waiting=2)
    where = serve_jobs(jobs)
    ids = []
    for _ in range(4):   # 2 running, 2 waiting
        status, out = call(where, "POST", "/api/jobs", {"model": "sleep:30", "kind": "train", "epochs": 10})
        assert status == 202, out
        ids.append(out["id"])
    assert until(lambda: [jobs.get(j).state for j in ids] == ["running", "running", "queued", "queued"])

    t = time.perf_counter()
    status, out = call(where, "POST", "/api/derive", {"model": "sleep:0"})
    assert (status, out) == (200, {"kind": "derive", "model": "sleep:0"})
    assert time.perf_counter() - t < 3.0
    status, out = call(where, "POST", "/api/check", {"model": "sleep:0", "param": "W1", "formula": "X"})
    assert status == 200 and out["kind"] == "check"

    status, out = call(where, "POST", "/api/jobs", {"model": "sleep:0", "kind": "verify"})
    assert status == 429, out
    # the API's error shape, marked busy: nothing in the request was wrong (the page says "try again shortly")
    assert set(out) == {"error"} and set(out["error"]) == {"message", "field", "position", "busy"}
    assert out["error"]["busy"] is True
    assert "2 verify, train and scalar jobs are running and 2 waiting" in out["error"]["message"]
    assert "stop one first" in out["error"]["message"]
    assert len(jobs.jobs) == 6   # the refused one was never queued

    # a queued job's view counts its wait apart from its own time, which has not begun
    time.sleep(0.3)
    view = call(where, "GET", f"/api/jobs/{ids[2]}")[1]
    assert view["state"] == "queued" and view["seconds"] == 0.0 and view["waited"] >= 0.3, view
    assert call(where, "DELETE", f"/api/jobs/{ids[3]}")[1]["state"] == "cancelled"
    status, out = call(where, "POST", "/api/jobs", {"model": "sleep:0", "kind": "verify"})
    assert status == 202 and out["state"] == "queued", out


def test_a_quick_requests_limit_counts_from_when_it_was_asked(fake_jobs):
    jobs = fake_jobs(max_quick=1, limits={"derive": 0.5})
    t = time.monotonic()
    first = jobs.start("derive", {"model": "sleep:30"})     # holds the only slot until its limit
    second = jobs.start("derive", {"model": "sleep:0"})     # waits for it: half a second in all, not a second
    assert second.finished.wait(10) and first.finished.wait(10)
    assert time.monotonic() - t < 2.0
    assert first.state == "error" and first.error["status"] == 408, first.error
    # the second's time is up when the first's is, give or take the moment between the two requests: it is
    # dropped, or it got the slot within that moment and (sleeping 0 s) was done
    assert second.state == "done" or second.state == "error" and second.error["status"] in (408, 503), second.error
    assert "0.5 s" in second.error["message"]


def test_a_long_job_waits_for_a_slot_at_most_its_limit(fake_jobs):
    jobs = fake_jobs(max_running=0, limits={"verify": 0.3})
    job = jobs.start("verify", {"model": "sleep:0"})
    assert job.finished.wait(5)
    assert job.state == "error" and job.error["status"] == 503 and job.process is None
    assert "waited 0.3 s for a worker" in job.error["message"]


def test_a_request_whose_client_has_gone_is_dropped_not_run(fake_jobs, serve_jobs):
    jobs = fake_jobs(max_quick=1)
    where = serve_jobs(jobs)
    holder = threading.Thread(target=lambda: call(where, "POST", "/api/derive", {"model": "sleep:30"}), daemon=True)
    holder.start()
    assert until(lambda: any(j.state == "running" for j in jobs.jobs.values()))
    body = json.dumps({"model": "sleep:0"}).encode()
    with socket.create_connection(where) as client:   # asks, then hangs up before the answer
        client.sendall(b"POST /api/derive HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n%s" % (where[0].encode(), where[1], len(body), body))
        assert until(lambda: len(jobs.jobs) == 2)
    left = [j for j in jobs.jobs.values() if j.fields["model"] == "sleep:0"][0]
    assert until(lambda: left.finished.is_set(), 3.0), left.state
    assert left.state == "cancelled" and left.process is None
    for job in list(jobs.jobs.values()):
        jobs.cancel(job.id)


def test_a_stopped_jobs_refuses_new_ones(fake_jobs):
    from compile.explore.jobs import Busy
    jobs = fake_jobs(max_running=0)
    queued = jobs.start("train", {"model": "sleep:0"})
    jobs.close()
    assert queued.finished.is_set() and queued.state == "cancelled"
    with pytest.raises(Busy) as info:
        jobs.start("derive", {"model": "sleep:0"})
    assert info.value.status == 503 and info.value.message == "the server is stopping"


SERVER = textwrap.dedent("""
    import multiprocessing, os, sys, time
    import compile.explore.jobs as jobs

    MARKS = sys.argv[1]

    def worker(kind, fields, files, conn):
        open(os.path.join(MARKS, f"{kind}-{os.getpid()}"), "w").close()
        time.sleep(float(fields["model"].split(":")[1]))
        conn.send(("done", {}))

    jobs._worker = worker
    jobs._context = lambda: multiprocessing.get_context("fork")
    sys.argv[1:] = ["explore", "xor", "--port", "0", "--no-browser"]
    from compile.cli.main import console
    console()
""")


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_first_ctrl_c_ends_the_server_within_seconds(tmp_path):
    from compile.explore.launch import _first_line
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    marks = tmp_path / "workers"
    marks.mkdir()
    proc = subprocess.Popen([sys.executable, str(script), str(marks)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        line = _first_line(proc, 60)
        assert "http://" in line, line
        host, port = line.split("http://", 1)[1].split("/", 1)[0].rsplit(":", 1)
        where = host, int(port)
        for _ in range(6):   # 4 running, 2 waiting
            assert call(where, "POST", "/api/jobs", {"model": "sleep:60", "kind": "train"})[0] == 202
        answers = []
        waiting = threading.Thread(target=lambda: answers.append(
            call(where, "POST", "/api/derive", {"model": "sleep:60"})), daemon=True)
        waiting.start()   # a request in flight when Ctrl-C comes
        assert until(lambda: len([n for n in os.listdir(marks) if n.startswith("train")]) == 4, 20)
        derived = until(lambda: len(os.listdir(marks)) == 5)   # the derive runs beside the 4 trains
        pids = [int(name.split("-")[1]) for name in os.listdir(marks)]

        os.kill(proc.pid, signal.SIGINT)
        t = time.monotonic()
        out, _ = proc.communicate(timeout=15)
        took = time.monotonic() - t
        assert took < 4.0, f"the server took {took:.1f} s to stop"
        assert proc.returncode == 0 and "derivax explore: stopped" in out, out
        assert derived and len(os.listdir(marks)) == 5, os.listdir(marks)   # no queued job started after Ctrl-C
        assert not [p for p in pids if _alive(p)], "a worker outlived the server"
        waiting.join(5)
        assert answers and answers[0][0] == 503, answers
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

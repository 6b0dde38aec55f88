"""The explorer's server at the HTTP level: the model-file gate, cross-site requests and DNS rebinding, bodies
and query strings that must be a 4xx not a 500, a network too large for the machine, cancelling a queued job
without stalling the server, JSON errors for unknown addresses and methods, and a train job's fields checked
before it starts. Each answer is compared with the status and the JSON a client is owed."""
import http.client
import json
import threading
import time
import urllib.parse

import pytest
from conftest import serve_in_thread

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def evil(tmp_path_factory):
    """A model file to serve, a folder named like it with ':x' after it, and a second file the gate must keep
    out: run, it would write the canary."""
    root = tmp_path_factory.mktemp("gate")
    (root / "evil.py").write_text("from derive import Dense, Network\nnet = Network(2, [Dense(1, 'sigmoid')], loss='bce')\n")
    (root / "evil.py:x").mkdir()
    canary = root / "canary.txt"
    (root / "other.py").write_text(f"open({str(canary)!r}, 'w').write('ran')\n"
                                   "from derive import Dense, Network\nnet = Network(2, [Dense(1, 'sigmoid')], loss='bce')\n")
    return root, canary


@pytest.fixture(scope="module")
def server(evil):
    from compile.explore.launch import start
    url, stop = start(str(evil[0] / "evil.py"), port=0)
    parts = urllib.parse.urlsplit(url)
    yield parts.hostname, parts.port
    stop()


def call(where, method, path, body=None, headers=None, raw=None):
    """(status, JSON) of one request; ``headers`` added to (or replacing) Host and Content-Type."""
    host, port = where
    conn = http.client.HTTPConnection(host, port, timeout=120)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    sent = {"Host": f"{host}:{port}", **({"Content-Type": "application/json"} if data is not None else {}),
            **(headers or {})}
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for k, v in sent.items():
        conn.putheader(k, v)
    if data is not None:
        conn.putheader("Content-Length", str(len(data)))
    conn.endheaders(data)
    r = conn.getresponse()
    status, text = r.status, r.read()
    conn.close()
    return status, json.loads(text)


def finish(where, jid, seconds=120):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        view = call(where, "GET", f"/api/jobs/{jid}")[1]
        if view["state"] not in ("queued", "running"):
            return view
        time.sleep(0.1)
    raise AssertionError(f"job {jid} did not end in {seconds} s")


def error_shape(out, field):
    assert set(out) == {"error"} and set(out["error"]) == {"message", "field", "position"}, out
    assert out["error"]["field"] == field and out["error"]["message"], out


def test_only_the_served_model_file_is_run(server, evil):
    root, canary = evil
    status, out = call(server, "POST", "/api/derive", {"model": f"{root}/evil.py:x/../other.py:net"})
    assert status == 400, out
    error_shape(out, "model")
    assert "opened from the command line" in out["error"]["message"]
    assert not canary.exists()
    status, out = call(server, "POST", "/api/derive", {"model": f"{root}/evil.py:net"})   # the file served
    assert status == 200, out


@pytest.mark.parametrize("headers", [
    {"Content-Type": "text/plain; x=json"},
    {"Content-Type": "application/jsonx"},
    {"Content-Type": "text/json"},
])
def test_a_body_must_be_sent_as_application_json(server, headers):
    status, out = call(server, "POST", "/api/derive", {"model": "xor"}, headers)
    assert status == 415, out
    error_shape(out, None)


def test_a_charset_is_allowed(server):
    assert call(server, "POST", "/api/derive", {"model": "xor"},
                {"Content-Type": "Application/JSON; charset=utf-8"})[0] == 200


@pytest.mark.parametrize("headers", [
    {"Host": "evil.example"},
    {"Host": "evil.example:{port}"},
    {"Host": "127.0.0.1:1"},
    {"Origin": "http://evil.example"},
    {"Origin": "http://127.0.0.1:1"},
    {"Origin": "null"},
])
def test_another_host_or_origin_is_refused(server, headers):
    headers = {k: v.format(port=server[1]) for k, v in headers.items()}
    for method, path, body in (("POST", "/api/derive", {"model": "xor"}), ("GET", "/api/examples", None),
                               ("GET", "/", None)):
        status, out = call(server, method, path, body, headers)
        assert status == 403, (headers, path, out)
        error_shape(out, None)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST", "192.168.1.20"])
def test_this_servers_own_host_and_origin_pass(server, host):
    # an address (the machine's LAN one, served on 0.0.0.0) cannot be another site's name pointed here
    own = f"{host}:{server[1]}"
    status, out = call(server, "GET", "/api/examples", headers={"Host": own, "Origin": f"http://{own}"})
    assert status == 200 and "examples" in out


def test_a_number_too_long_to_read_is_a_400_with_its_position(server):
    raw = b'{"model": "xor", "epochs": ' + b"9" * 5000 + b"}"
    status, out = call(server, "POST", "/api/derive", raw=raw)
    assert status == 400, out
    error_shape(out, None)
    assert out["error"]["position"] == 27 and "not valid JSON" in out["error"]["message"]
    assert "position 27" in out["error"]["message"]


@pytest.mark.parametrize("since", ["%C2%B2", "9" * 5000, "abc"])
def test_a_bad_since_is_a_400_naming_it(server, since):
    jid = call(server, "POST", "/api/jobs", {"model": "2-1:sigmoid", "kind": "verify"})[1]["id"]
    status, out = call(server, "GET", f"/api/jobs/{jid}?since={since}")
    assert status == 400, out
    error_shape(out, "since")
    status, out = call(server, "GET", f"/api/jobs/{jid}?since=-5")   # as before: from the first event
    assert status == 200 and out["id"] == jid


def test_a_lone_surrogate_in_a_field_name_is_escaped(server):
    status, out = call(server, "POST", "/api/derive", raw=b'{"model":"xor","\\ud800":1}')
    assert status == 400, out
    error_shape(out, "\\ud800")
    assert "unknown field '\\ud800'" in out["error"]["message"]


def test_a_network_too_large_for_the_machine_is_a_413_naming_the_model(server):
    status, out = call(server, "POST", "/api/jobs", {"model": "2-100000:tanh-100000:tanh-1:sigmoid", "kind": "verify"})
    assert status == 202, out
    view = finish(server, out["id"])
    assert view["state"] == "error", view
    error = view["error"]
    assert error["status"] == 413 and error["field"] == "model", error
    assert error["message"].startswith("a check of this network needs about"), error


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/api/derive", 405), ("PUT", "/api/jobs", 405), ("POST", "/api/examples", 405),
    ("GET", "/api/nothing", 404), ("POST", "/api/nothing", 404),
])
def test_wrong_methods_and_addresses_answer_json(server, method, path, status):
    got, out = call(server, method, path, {"model": "xor"} if method != "GET" else None)
    assert got == status, out
    error_shape(out, None)


@pytest.mark.parametrize("fields, field", [
    ({"epochs": 0}, "epochs"), ({"epochs": -5}, "epochs"), ({"epochs": 10**30}, "epochs"),
    ({"data": "nosuchdata"}, "data"), ({"data": "../../etc/passwd"}, "data"),
])
def test_train_fields_are_checked_before_the_job_starts(server, fields, field):
    status, out = call(server, "POST", "/api/jobs", {"model": "xor", "kind": "train", **fields})
    assert status == 400, out
    error_shape(out, field)


@pytest.fixture(scope="module")
def stalled():
    """A server in this process whose jobs never get a slot (max_running=0): every job stays queued."""
    from compile.explore.jobs import Jobs
    from compile.explore.server import create_app
    jobs = Jobs(max_running=0)
    srv, thread, sock = serve_in_thread(create_app({"model": "xor", "loss": None, "edits": [], "convention": "rows"},
                                                   jobs=jobs))
    yield ("127.0.0.1", sock.getsockname()[1]), jobs
    srv.should_exit = True
    thread.join(10)
    sock.close()


def test_cancelling_a_queued_job_is_at_once(stalled):
    stalled, _ = stalled
    status, out = call(stalled, "POST", "/api/jobs", {"model": "xor", "kind": "verify"})
    assert status == 202 and out["state"] == "queued", out
    t = time.perf_counter()
    status, view = call(stalled, "DELETE", f"/api/jobs/{out['id']}")
    assert time.perf_counter() - t < 1.0
    assert status == 200 and view["state"] == "cancelled", view
    assert call(stalled, "GET", f"/api/jobs/{out['id']}")[1]["state"] == "cancelled"


def test_the_server_answers_while_a_cancel_waits(stalled, monkeypatch):
    """A job whose worker takes its time to end: others are answered while DELETE waits for it."""
    stalled, jobs = stalled
    status, out = call(stalled, "POST", "/api/jobs", {"model": "xor", "kind": "verify"})
    # The job is made to look as if its worker were slow to die: DELETE then waits for it, up to 5 s.
    job = jobs.jobs[out["id"]]
    job.state, job.process = "running", object()
    monkeypatch.setattr(jobs, "cancel", lambda jid: jobs.jobs.get(jid))
    done = []
    waiter = threading.Thread(target=lambda: done.append(call(stalled, "DELETE", f"/api/jobs/{out['id']}")))
    waiter.start()
    time.sleep(0.2)
    t = time.perf_counter()
    assert call(stalled, "GET", "/api/examples")[0] == 200
    assert time.perf_counter() - t < 1.0, "the server stalled while a cancel waited"
    job.state = "cancelled"
    job.finished.set()
    waiter.join(10)
    assert done and done[0][1]["state"] == "cancelled"


def test_served_on_every_interface_the_machines_own_name_passes_and_another_does_not(monkeypatch):
    # served on 0.0.0.0, the page may be opened from another machine by this one's name (mDNS's name.local too);
    # a name chosen by another site is still refused, and on 127.0.0.1 the machine's name is not taken at all
    import socket

    from compile.explore.server import _own_names, _refused
    monkeypatch.setattr(socket, "gethostname", lambda: "Lab-PC")
    monkeypatch.setattr(socket, "getfqdn", lambda name="": "lab-pc.cs.example.edu")
    names = _own_names("0.0.0.0")
    assert names == {"lab-pc", "lab-pc.local", "lab-pc.cs.example.edu"}
    assert _own_names("::") == names and _own_names("127.0.0.1") == set() and _own_names(None) == set()

    def scope(host, origin=None):
        headers = [(b"host", host.encode())] + ([(b"origin", origin.encode())] if origin else [])
        return {"type": "http", "headers": headers, "server": ("0.0.0.0", 8765), "scheme": "http"}
    hosts = {"127.0.0.1", "localhost", "::1", "0.0.0.0"} | names
    for host in ("lab-pc:8765", "LAB-PC.local:8765", "lab-pc.cs.example.edu:8765"):
        assert _refused(scope(host, f"http://{host}"), hosts) is None, host
    assert "Host" in _refused(scope("evil.example:8765"), hosts)
    assert "another site" in _refused(scope("lab-pc:8765", "http://evil.example:8765"), hosts)

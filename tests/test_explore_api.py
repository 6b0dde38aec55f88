"""The explorer's server, driven through its JSON API on a free port: derivations (and their cache), edits,
checks, verification and training jobs, cancelling, time limits, two clients at once, and bad requests of
every kind answered with a 4xx naming the field, never a crash. What the server answers is compared with
what the library derives and checks by itself."""
import json
import threading
import time
import urllib.error
import urllib.request

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def server():
    from compile.explore.launch import start
    url, stop = start("xor", port=0)
    yield url.rstrip("/")
    stop()


def call(base, path, body=None, method=None, raw=None, headers=None, timeout=180):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method or ("POST" if data is not None else "GET"),
                                 headers=headers or {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, _json(r.read())
    except urllib.error.HTTPError as e:
        return e.code, _json(e.read())


def _json(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode()


def finish(base, jid, seconds=180):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        status, view = call(base, f"/api/jobs/{jid}")
        if view["state"] not in ("queued", "running"):
            return view
        time.sleep(0.1)
    raise AssertionError(f"job {jid} did not end in {seconds} s")


def test_the_page_and_its_files(server):
    with urllib.request.urlopen(server + "/") as r:
        page = r.read().decode()
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    boot = page.split('id="derivax-boot" type="application/json">')[1].split("</script>")[0]
    assert json.loads(boot) == {"mode": "live", "network": {"model": "xor", "loss": None, "edits": [],
                                                            "convention": "rows"}}
    assert call(server, "/static/nothing.js")[0] == 404
    assert call(server, "/static/..%2Fserver.py")[0] == 404
    names = [e["name"] for e in call(server, "/api/examples")[1]["examples"]]
    assert {"xor", "mlp", "cnn", "gru", "makemore", "gpt"} <= set(names)


def test_derive_returns_the_record_the_library_makes(server):
    from derive.network.examples import resolve
    from derive.printing.page import record
    status, out = call(server, "/api/derive", {"model": "xor"})
    assert status == 200
    here = record(resolve("xor")[1].derive(), "xor")
    assert out["record"]["sections"] == here["sections"] and out["record"]["targets"] == here["targets"]
    t = time.perf_counter()
    assert call(server, "/api/derive", {"model": "xor"})[1] == out   # cached
    assert time.perf_counter() - t < 1.0


def test_edits_change_the_derivation_as_a_declaration_would(server):
    from derive import Dense, Network
    edits = [{"op": "activation", "layer": 1, "value": "z*sigmoid(z)"},
             {"op": "insert", "after": 1, "units": 4, "activation": "relu"}]
    status, out = call(server, "/api/derive", {"model": "2-3:tanh-1:sigmoid", "edits": edits, "loss": "mse"})
    assert status == 200, out
    same = Network(2, [Dense(3, "z*sigmoid(z)"), Dense(4, "relu"), Dense(1, "sigmoid")], loss="mse").derive()
    from derive.printing.page import record
    assert out["record"]["sections"] == record(same)["sections"]
    status, out = call(server, "/api/derive", {"model": "2-3:tanh-4:relu-1:sigmoid",
                                               "edits": [{"op": "remove", "layer": 2}]})
    assert out["record"]["size_text"] == "2-3-1"
    status, out = call(server, "/api/derive", {"model": "xor", "convention": "columns"})
    assert out["record"]["convention"] == "columns"
    status, out = call(server, "/api/derive", {"model": "4x1-rnn3-2:softmax"})   # short enough to unroll
    titles = [sec["title"] for sec in out["record"]["sections"]]
    assert "Layer 1 unrolled over its 4 steps" in titles
    assert next(n for n in out["record"]["graph"]["nodes"] if n["id"] == "L1")["steps"] == 4


@pytest.mark.parametrize("body, status, field, words", [
    ({"model": "xor", "edits": [{"op": "activation", "layer": 1, "value": "z*sigmoid(z"}]}, 400, "edit:0", "never closed"),
    ({"model": "xor", "edits": [{"op": "activation", "layer": 1, "value": "x*sigmoid(x)"}]}, 400, "edit:0", "unknown name 'x'"),
    ({"model": "xor", "edits": [{"op": "activation", "layer": 7, "value": "relu"}]}, 400, "edit:0", "no layer 7"),
    ({"model": "xor", "edits": [{"op": "insert", "after": 1, "units": 0}]}, 400, "edit:0", "units must be"),
    ({"model": "xor", "edits": [{"op": "explode"}]}, 400, "edit:0", "unknown edit 'explode'"),
    ({"model": "xor", "loss": "yhat**"}, 400, "loss", "syntax error"),
    ({"model": "nosuchnet"}, 400, "model", "nosuchnet"),
    ({"model": "examples/custom_layer.py"}, 400, "model", "opened from the command line"),
    ({"model": "__import__('os').system('true')"}, 400, "model", ""),
    ({"model": "xor", "convention": "diagonal"}, 400, "convention", "rows or columns"),
    ({"model": 3}, 400, "model", "wrong type"),
    ({"model": "xor", "colour": "red"}, 400, "colour", "unknown field"),
    ({"model": "xor", "loss": "y" * 3000}, 400, "loss", "at most 2000"),
    ({"model": ""}, 400, "model", "name a model"),
    ([1, 2], 400, None, "JSON object"),
])
def test_bad_requests_name_the_field(server, body, status, field, words):
    got, out = call(server, "/api/derive", body)
    assert got == status and out["error"]["field"] == field and words in out["error"]["message"], out


def test_a_formula_error_gives_its_position(server):
    status, out = call(server, "/api/derive", {"model": "xor", "edits": [
        {"op": "activation", "layer": 1, "value": "z*sigmoid(z"}]})
    assert out["error"]["position"] == 9   # the "(" never closed, as the parser says


def test_malformed_and_oversized_requests(server):
    assert call(server, "/api/derive", raw=b"{not json")[0] == 400
    assert call(server, "/api/derive", raw=b'{"model": "xor"}', headers={"Content-Type": "text/plain"})[0] == 415
    assert call(server, "/api/derive", raw=b"[" * 100_000)[0] == 413
    assert call(server, "/api/derive", raw=b"[" * 50_000)[0] == 400     # deep nesting: no RecursionError escapes
    assert call(server, "/api/derive", raw=json.dumps({"model": "xor", "edits": [{"op": True}]}).encode())[0] == 400
    assert call(server, "/api/jobs", {"model": "xor", "kind": "rm -rf"})[1]["error"]["field"] == "kind"
    assert call(server, "/api/jobs/none-1")[0] == 404
    assert call(server, "/api/nothing")[0] == 404


def test_check_agrees_with_the_library(server):
    from compile.checks.formula import check_formula
    from derive.network.examples import resolve
    net = resolve("xor")[1]
    for formula in ("A1.T @ (A2 - Y) / m", "A1.T @ (A2 - Y)"):
        status, out = call(server, "/api/check", {"model": "xor", "param": "W2", "formula": formula})
        here = check_formula(net, "W2", formula)
        assert status == 200 and out == {"ok": here.ok, "text": here.render()}
    status, out = call(server, "/api/check", {"model": "xor", "param": "W2", "formula": "A1.T @ (A2 - Y"})
    assert status == 400 and out["error"]["field"] == "formula" and out["error"]["position"] == 7
    status, out = call(server, "/api/check", {"model": "xor", "param": "W9", "formula": "A1"})
    assert status == 400 and out["error"]["field"] == "param"


def test_verify_and_train_jobs_report_and_stop(server):
    status, out = call(server, "/api/jobs", {"model": "xor", "kind": "verify"})
    assert status == 202
    view = finish(server, out["id"])
    assert view["state"] == "done" and view["result"]["ok"]
    assert {r["param"] for r in view["result"]["rows"]} == {"W1", "b1", "W2", "b2"}
    # a long run, stopped after its first epochs; a derivation is answered meanwhile (two tabs at once)
    status, out = call(server, "/api/jobs", {"model": "mlp", "kind": "train", "epochs": 5000})
    jid = out["id"]
    end = time.monotonic() + 120
    while time.monotonic() < end:
        view = call(server, f"/api/jobs/{jid}?since=0")[1]
        if any("epoch" in e for e in view["events"]):
            break
        time.sleep(0.2)
    epochs = [e for e in view["events"] if "epoch" in e]
    assert epochs and epochs[0]["epoch"] == 1 and 0 <= epochs[0]["accuracy"] <= 1 and epochs[0]["test_loss"] > 0
    t = time.perf_counter()
    assert call(server, "/api/derive", {"model": "2-5:tanh-2:softmax"})[0] == 200
    assert time.perf_counter() - t < 20
    view = call(server, f"/api/jobs/{jid}", method="DELETE")[1]
    assert view["state"] == "cancelled"
    later = call(server, f"/api/jobs/{jid}?since={view['next']}")[1]
    assert later["events"] == [] and later["state"] == "cancelled"


def test_the_scalar_view_job_expands_and_checks_a_small_network(server):
    status, out = call(server, "/api/jobs", {"model": "2-2:tanh-1:sigmoid", "kind": "scalar"})
    view = finish(server, out["id"])
    assert view["state"] == "done" and view["result"]["ok"] and view["result"]["verdict"][-1].startswith("PASS")
    grads = view["result"]["sections"][3]["lines"]
    assert len(grads) == 9 and all("<math" in line["rhs_ml"] for line in grads)   # 2·2 + 2 + 2 + 1 weights
    status, out = call(server, "/api/jobs", {"model": "mlp", "kind": "scalar"})
    view = finish(server, out["id"])
    assert view["state"] == "error" and view["error"]["field"] == "model" and "weights" in view["error"]["message"]


def test_a_step_past_its_time_limit_is_stopped_and_the_server_goes_on():
    from compile.explore.jobs import Jobs
    jobs = Jobs(limits={"derive": 0.01})
    job = jobs.start("derive", {"model": "gpt"})
    assert job.finished.wait(60)
    assert job.state == "error" and job.error["status"] == 408 and "longer than 0.01 s" in job.error["message"]
    assert job.process.exitcode is not None   # the worker is gone
    ok = Jobs().start("derive", {"model": "xor"})
    assert ok.finished.wait(60) and ok.state == "done"


def test_concurrent_requests_are_all_answered(server):
    results = []

    def one(k):
        results.append(call(server, "/api/derive", {"model": f"2-{k}:tanh-1:sigmoid"})[0])
    threads = [threading.Thread(target=one, args=(k,)) for k in range(2, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == [200] * 5


def test_a_network_object_from_a_script_without_a_main_guard(tmp_path):
    """start(net) from a plain script: the server runs in a process of its own, so its workers never run
    the script again, and the Network object is what the page derives."""
    import subprocess
    import sys
    script = tmp_path / "mine.py"
    script.write_text(
        "import json, urllib.request\n"
        "from compile.explore.launch import start\n"
        "from derive import Dense, Network\n"
        "print('script ran', flush=True)\n"
        "net = Network(2, [Dense(3, 'z*sigmoid(z)'), Dense(1, 'sigmoid')], loss='bce', name='swish')\n"
        "url, stop = start(net)\n"
        "req = urllib.request.Request(url + 'api/derive', data=json.dumps({'model': 'swish'}).encode(),\n"
        "                             headers={'Content-Type': 'application/json'})\n"
        "print(json.loads(urllib.request.urlopen(req, timeout=120).read())['record']['sections'][0]['lines'][1]['formula'])\n"
        "stop()\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["script ran", "A1 = Z1*sigmoid(Z1)"]


def test_a_port_already_taken_is_named(capsys):
    import socket
    from compile.cli.main import main
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert main(["explore", "xor", "--no-browser", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port 0" in err


@pytest.mark.parametrize("host", ["", " ", "local host"])
def test_an_empty_host_is_refused_before_any_server_starts(capsys, host):
    """An empty host bound every interface and printed http://:8765/."""
    from compile.cli.main import main
    assert main(["explore", "xor", "--no-browser", "--host", host]) == 2
    assert capsys.readouterr().err == (f"derivax: --host {host!r}: not a host name; 127.0.0.1 (this machine only, "
                                       "the default) or 0.0.0.0 (every interface)\n")


def test_start_raises_the_commands_own_message_for_what_it_refuses(tmp_path):
    """A model file holding a Model (not a Network), or an unknown model, is refused by the server's command: start()
    raises a ValueError with that message as the command line prints it, not one wrapped in "did not start"."""
    from compile.explore.launch import start
    path = tmp_path / "holds_a_model.py"
    path.write_text("from derive import Dense, Network\n"
                    "net = Network(2, [Dense(3, 'tanh'), Dense(1, 'sigmoid')], loss='bce').build()\n")
    with pytest.raises(ValueError) as err:
        start(str(path))
    assert str(err.value).startswith(f"{path}:net is a Model, not a derive.Network"), err.value
    with pytest.raises(ValueError) as err:
        start("no-such-model")
    assert str(err.value).startswith("unknown model 'no-such-model'") and "did not start" not in str(err.value)

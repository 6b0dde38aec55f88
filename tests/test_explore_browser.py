"""The explorer page in a headless Chromium against the real server (`derivax explore xor`): the derivation
and the graph render, a click opens a gradient's steps and lights its path, edits re-derive (and a bad one
is shown under its field with the last good derivation kept), check, verify and train answer, other models
render, and the frozen report page works from a file with its server-only controls disabled.

Skipped where Playwright, a chromium executable or the server's extra (starlette, uvicorn) is missing.
One server and one browser serve the whole module."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import headless_chromium

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright")
pytest.importorskip("starlette", reason="the explorer's server needs starlette")
pytest.importorskip("uvicorn", reason="the explorer's server needs uvicorn")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no chromium or chromium-browser executable on PATH", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "compile" / "explore" / "static"
WAIT = 60_000   # ms: the server derives in a worker process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`derivax explore xor` on a free port, until the module's tests end; its address."""
    port = _free_port()
    log = tmp_path_factory.mktemp("explore") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "compile.cli.main", "explore", "xor", "--no-browser",
                                 "--port", str(port)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "api/examples", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer within 60 s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        _stop(proc)


def _stop(proc):
    """The server and its workers (its own process group) stopped: politely, then by force."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    try:   # workers left in the group once the server is gone
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@pytest.fixture(scope="module")
def browser():
    yield from headless_chromium()


@pytest.fixture
def page(browser, server):
    """A fresh tab on the live page for xor, its derivation shown."""
    pg = browser.new_page(viewport={"width": 1440, "height": 900})
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server)
    pg.wait_for_selector("#sections [data-line]", timeout=WAIT)
    _ready(pg)
    yield pg
    pg.close()
    assert not errors, errors


def _ready(pg):
    pg.wait_for_selector("#status:text-is('ready')", timeout=WAIT)


def _derive_model(pg, model):
    pg.fill("#model", model)
    pg.press("#model", "Enter")
    pg.wait_for_selector(f"#title:text-is('{model}')", timeout=WAIT)
    _ready(pg)


def test_page_shows_derivation_and_graph(page):
    text = page.inner_text("#sections")
    assert "Forward pass" in text and "Gradients" in text and "Error signals" in text
    assert page.locator("#sections math").count() > 10
    for node in ("X", "L1", "L2", "P:W1", "P:b2", "J"):
        assert page.locator(f'#graph [data-node="{node}"]').count() == 1, node
    assert page.locator("#layers tbody tr[data-layer]").count() == 2
    assert page.input_value('#layers [data-layer="1"] .activation') == "tanh"
    assert page.locator("#check-param option").all_inner_texts() == ["W1", "b1", "W2", "b2"]
    page.wait_for_selector("#examples option[value='cnn']", state="attached", timeout=WAIT)


def test_click_gradient_opens_steps_and_lights_path(page):
    page.click('#sections [data-click="P:W1"]')
    page.wait_for_selector("#panel .step", timeout=WAIT)
    assert page.is_visible("#panel")
    assert page.text_content("#panel-title") == "∂J/∂W1"
    assert page.locator("#panel .step").count() >= 3
    rules = page.locator("#panel .step .rule").all_inner_texts()
    assert any("chain rule" in r for r in rules), rules
    for node in ("P:W1", "L1", "L2", "J"):
        assert "on-path" in page.get_attribute(f'#graph [data-node="{node}"]', "class"), node
    for node in ("X", "P:W2"):
        assert "on-path" not in page.get_attribute(f'#graph [data-node="{node}"]', "class"), node
    assert "selected" in page.get_attribute('#sections [data-click="P:W1"]', "class")
    # copy buttons carry what they copied
    row = page.locator('#sections [data-click="P:W1"]')
    row.locator(".copy-formula").click()
    assert row.locator(".copy-formula").get_attribute("data-copied").startswith("dJ/dW1 = ")
    row.locator(".copy-latex").click()
    latex = row.locator(".copy-latex").get_attribute("data-copied")
    assert latex.startswith("\\frac{\\partial J}{\\partial W^{[1]}} = ")
    # a graph node opens its layer; Escape closes the panel
    page.click('#graph [data-node="L2"]')
    page.wait_for_selector("#panel-title:text-is('layer 2')")
    assert "Forward" in page.text_content("#panel-body")
    page.keyboard.press("Escape")
    assert page.is_hidden("#panel")


def test_edit_activation_and_bad_formula(page):
    delta1 = page.inner_text('#sections [data-line="error-signals-1"]')
    page.click('#sections [data-click="P:W1"]')
    act = page.locator('#layers [data-layer="1"] .activation')
    act.fill("relu")
    act.press("Enter")
    page.wait_for_function("() => document.querySelector('[data-line=\"forward-pass-1\"]').textContent.includes('relu')",
                           timeout=WAIT)
    _ready(page)
    assert page.inner_text('#sections [data-line="error-signals-1"]') != delta1
    assert page.text_content("#panel-title") == "∂J/∂W1"   # the open panel stays open
    shown = page.inner_text("#sections")
    act = page.locator('#layers [data-layer="1"] .activation')
    act.fill("z*sigmoid(z")
    act.press("Enter")
    page.wait_for_selector("#error-edit:not([hidden])", timeout=WAIT)
    error = page.inner_text("#error-edit")
    assert "^" in error and re.search(r"character \d+", error), error
    assert act.input_value() == "z*sigmoid(z"            # the input is kept
    assert page.inner_text("#sections") == shown         # and the last good derivation
    assert page.text_content("#status") == "error"
    # a bad loss formula: under the loss field, with its caret
    page.fill("#loss", "yhat*(y")
    page.press("#loss", "Enter")
    page.wait_for_selector("#error-loss:not([hidden])", timeout=WAIT)
    assert "yhat*(y\n" in page.inner_text("#error-loss")


def test_check_formula(page):
    page.select_option("#check-param", "W2")
    page.fill("#check-formula", "A1.T @ (A2 - Y) / m")
    page.click("#check-run")
    page.wait_for_selector("#check-result .verdict.ok", timeout=WAIT)
    page.fill("#check-formula", "A1.T @ (A2 - Y)")
    page.press("#check-formula", "Enter")
    page.wait_for_selector("#check-result .verdict.bad", timeout=WAIT)
    assert re.search(r"factor|1/m", page.inner_text("#check-result pre")), page.inner_text("#check-result pre")
    page.fill("#check-formula", "A1.T @ (A2 - Y")
    page.press("#check-formula", "Enter")
    page.wait_for_selector("#error-formula:not([hidden])", timeout=WAIT)
    assert "^" in page.inner_text("#error-formula")


@pytest.mark.parametrize("model, layers", [("cnn", 7), ("gru", 5)])
def test_other_models(page, model, layers):
    _derive_model(page, model)
    assert "Gradients" in page.inner_text("#sections")
    for k in range(1, layers + 1):
        assert page.locator(f'#graph [data-node="L{k}"]').count() == 1, k
    assert page.locator("#layers tbody tr[data-layer]").count() == layers
    if model == "gru":   # both directions feed the concatenation: one edge drawn as an arc on the side
        assert page.locator("#graph .edge.residual").count() >= 1


def test_verify(page):
    page.click("#verify-run")
    page.wait_for_selector("#verify-result table", timeout=120_000)
    assert "every gradient agrees" in page.inner_text("#verify-result")
    assert page.locator("#verify-result tbody tr").count() >= 8


def test_the_weight_by_weight_view(page):
    _derive_model(page, "2-2:tanh-1:sigmoid")
    page.click("#scalar-run")
    page.wait_for_selector("#scalar-result table", timeout=120_000)
    text = page.inner_text("#scalar-result")
    assert "Per-weight gradients" in text and "PASS" in text
    assert page.locator("#scalar-result tr[data-line]").count() >= 9 + 6   # 9 weights, 6 neuron equations


def test_train_and_stop(page):
    page.fill("#train-epochs", "300")
    page.click("#train-run")
    try:
        page.wait_for_selector("#curves circle", timeout=120_000)
    except sync_api.TimeoutError:   # what the page said instead: the job's state, its error or its last note
        pytest.fail(f"no point on the curves after 120 s; the page's train status: "
                    f"{page.inner_text('#train-status')!r}, its error: {page.inner_text('#error-train')!r}")
    # checked and clicked in one step in the page: a run that ends between a check and a click disables the button,
    # and a click then waits for it in vain
    page.evaluate("() => { const b = document.querySelector('#train-stop'); if (!b.disabled) b.click(); }")
    page.wait_for_selector("#train-status:text-matches('stopped|done')", timeout=WAIT)
    assert page.locator("#curves polyline").count() >= 1
    assert page.is_enabled("#train-run")


def _frozen_page(tmp_path) -> Path:
    """The page `derivax report` writes: the explorer frozen, with verification and 4 epochs of curves."""
    from compile.cli.main import main
    out = tmp_path / "xor.html"
    assert main(["report", "xor", "--epochs", "4", "-o", str(out)]) == 0
    return out


def test_frozen_page(browser, tmp_path):
    path = _frozen_page(tmp_path)
    pg = browser.new_page(viewport={"width": 1280, "height": 900})
    requests, errors = [], []
    pg.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        pg.goto(path.as_uri())
        pg.wait_for_selector("#sections [data-line]", timeout=WAIT)
        assert "Gradients" in pg.inner_text("#sections")
        pg.click('#sections [data-click="P:W2"]')
        pg.wait_for_selector("#panel .step")
        assert pg.locator("#panel .step").count() >= 3
        assert "on-path" in pg.get_attribute('#graph [data-node="P:W2"]', "class")
        for sel in ("#model", "#loss", "#convention", "#derive", "#check-formula", "#check-run", "#verify-run",
                    "#train-run", "#train-epochs", "#add-layer", '#layers [data-layer="1"] .activation',
                    '#layers [data-layer="1"] .remove'):
            assert pg.is_disabled(sel), sel
        assert "derivax explore" in pg.inner_text("#frozen-note")
        assert pg.locator("#curves polyline").count() >= 2      # loss and accuracy, train and test
        assert "every gradient agrees" in pg.inner_text("#verify-result")
        assert pg.is_disabled("#scalar-run")
        assert not requests, requests
        assert not errors, errors
    finally:
        pg.close()

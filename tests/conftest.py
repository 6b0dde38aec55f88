"""Shared test setup: 64-bit JAX where a test compares to 1e-9, one tolerance helper.

Hypothesis keeps nothing between runs (no example database, its files in a temporary folder, not in
the checkout): every run draws afresh from its seed, and no test can come to depend on a file left
by an earlier one."""
import atexit
import os
import re
import shutil
import subprocess
import tempfile

# Full float32 products in every test and in the processes the tests start. On an NVIDIA GPU JAX's default
# rounds float32 products to TensorFloat-32 (10 bits of mantissa), which the float32 comparisons against
# NumPy here are too tight for; on a CPU this changes nothing. Set before JAX is imported.
os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")
# The suite compiles some thousands of small XLA programs, and most of its time went into LLVM's optimisation of their
# machine code, which for arrays of a few dozen numbers saves nothing. XLA's own passes (fusion, layouts, the program
# that runs) are a user's; only the machine code is left unoptimised: about a fifth less time in the recurrent and
# verify tests. Processes the tests start inherit it (tests/test_devices.py adds its device count to it).
TEST_XLA_FLAGS = "--xla_backend_optimization_level=0"
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {TEST_XLA_FLAGS}".strip()
# One compilation cache for the run, on disk: a program one worker compiled, the other worker, a process a test starts
# (derivax train, verify, a benchmark script) and the worker itself after it dropped its compiled functions
# (``_memory_bounded``) load instead of compiling again. Made by the first process of the run, inherited by the others,
# removed when that one ends. Only the two workers write to it, each entry whole (``_cache_written_whole``): JAX writes
# an entry in place, and a process reading it meanwhile would find it cut short. The processes the tests start only
# read it (their least compile time to be cached is out of reach).
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="derivax-xla-")
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], True)
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "1e9"
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# The text views are laid out at the terminal's width, or COLUMNS off a terminal: the tests pin them at the
# default 100 whatever the shell that starts them has set.
os.environ.pop("COLUMNS", None)

import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

_HOME = tempfile.mkdtemp(prefix="derivax-hypothesis-")
atexit.register(shutil.rmtree, _HOME, True)   # removed when the run ends: nothing is left behind
set_hypothesis_home_dir(_HOME)
settings.register_profile("derivax", database=None)
settings.load_profile("derivax")


@pytest.fixture(autouse=True)
def _x64_left_as_found():
    """A generated float64 module, imported in this process, turns JAX's 64-bit mode on for the whole
    process (as a standalone module must). Each test leaves the mode as it found it, so that no test
    depends on the ones a worker happened to run before it."""
    import jax
    from jax._src import config
    before = config.enable_x64.get_global()
    yield
    if config.enable_x64.get_global() != before:
        jax.config.update("jax_enable_x64", before)


# A worker's resident memory past which the compiled functions are dropped after a test file (they are shared
# within it, and loaded again from the run's compilation cache, above, by a later file that needs them). Every SymPy
# step under a limit forks the worker, and a fork copies the page tables of all its memory, which the child unmaps
# as it leaves: at 3 GB, the compiled functions of a worker that ran many files, a fork cost some 0.1 s of CPU,
# eight times as much as at 400 MB, and the suite forks some 3,000 times.
MEMORY_MB = 600


def _resident_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except (OSError, ValueError, IndexError):
        return 0.0


@pytest.fixture(autouse=True, scope="session")
def _cache_written_whole():
    """This worker writes every program it compiles to the run's compilation cache, each entry to a file of its own
    first and then renamed into place, so that no process ever reads one half written. Where JAX's cache is not
    as expected here, nothing is written (the processes only read)."""
    import jax
    try:
        from jax._src import lru_cache
        suffix, put = lru_cache._CACHE_SUFFIX, lru_cache.LRUCache.put
    except (ImportError, AttributeError):
        yield
        return

    def whole(self, key, value):
        if getattr(self, "eviction_enabled", True):
            return put(self, key, value)
        path = self.path / f"{key}{suffix}"
        if path.exists():
            return None
        part = self.path / f".{key}.{os.getpid()}.part"
        part.write_bytes(value)
        os.replace(part, path)
        return None
    lru_cache.LRUCache.put = whole
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    yield


@pytest.fixture(autouse=True, scope="module")
def _memory_bounded():
    yield
    if _resident_mb() > MEMORY_MB:
        import ctypes
        import jax
        jax.clear_caches()
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)   # the freed memory given back, not kept mapped
        except (OSError, AttributeError):
            pass


@pytest.fixture(scope="module")
def x64():
    """JAX in 64-bit mode for the tests of one module (exact comparisons need float64)."""
    import jax
    with jax.enable_x64(True):
        yield


def numeric_gradients(loss, params, eps=1e-6):
    """Central finite differences of loss(params) in every entry of every array of params (NumPy arrays, moved
    in place and put back)."""
    import numpy as np
    out = {}
    for k, v in params.items():
        g = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            old = v[i]
            v[i] = old + eps
            up = loss(params)
            v[i] = old - eps
            down = loss(params)
            v[i] = old
            g[i] = (up - down) / (2 * eps)
        out[k] = g
    return out


def headless_chromium():
    """A headless Chromium (the distribution's executable, driven by Playwright) for a module's browser tests, as a
    generator for a fixture to yield from; the test is skipped where Playwright or a working chromium is missing."""
    import shutil

    import pytest
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no chromium or chromium-browser executable on PATH")
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        except Exception as exc:   # noqa: BLE001 - a stub that is no browser (a snap wrapper) counts as none
            pytest.skip(f"{executable} does not start as a browser: {str(exc).splitlines()[0][:200]}")
        yield b
        b.close()


def makemore_point():
    """A makemore-style MLP's point (the table C, W1, b1, W2, b2 for a vocabulary of 6, blocks of 3, embeddings of
    2, 4 hidden units; 5 examples) and its mean cross-entropy of logits: (params, x, y, ce)."""
    import numpy as np
    rng = np.random.default_rng(2)
    p = {"C": rng.normal(size=(6, 2)), "W1": rng.normal(size=(6, 4)), "b1": rng.normal(size=4),
         "W2": rng.normal(size=(4, 6)), "b2": rng.normal(size=6)}
    x, y = rng.integers(0, 6, size=(5, 3)), rng.integers(0, 6, size=5)

    def ce(logits):
        z = logits - logits.max(1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]))
    return p, x, y, ce


def serve_in_thread(app):
    """Run the explorer's ``app`` on a free local port in a thread of this process: (server, thread, socket), the
    server started (stop it with ``server.should_exit = True`` and join the thread)."""
    import threading
    import time

    import uvicorn

    from compile.explore.server import bind
    sock, _ = bind("127.0.0.1", 0)
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not srv.started and time.monotonic() < end:
        time.sleep(0.02)
    return srv, thread, sock


def tree_allclose(a, b, rtol=1e-9, atol=1e-12):
    """Two dicts (or nested dicts) of arrays with the same keys, equal to tolerance."""
    import numpy as np
    if isinstance(a, dict):
        return set(a) == set(b) and all(tree_allclose(a[k], b[k], rtol, atol) for k in a)
    return np.allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


_DERIVED = {}   # (id of the network, convention) -> (the network, its derivation): each derived once per run


def formula_checker(default_convention):
    """``check(net, target, formula, convention=default_convention, **kw)``: compile.checks.formula.check_formula
    on a derivation made once per network and convention, for the test files of ``derivax check``."""
    def check(net, target, formula, convention=default_convention, **kw):
        from compile.checks.formula import check_formula
        key = (id(net), convention)
        if key not in _DERIVED:   # the network kept beside its derivation: its id is never another's
            _DERIVED[key] = (net, net.derive(convention))
        return check_formula(net, target, formula, convention, derivation=_DERIVED[key][1], **kw)
    return check


@pytest.fixture
def pdflatex(tmp_path):
    """compile(tex) -> (pdflatex's log, the widths in pt of its overfull lines), after pdflatex has compiled the
    document without an error in a folder of its own; the test is skipped where there is no pdflatex (CI)."""
    engine = shutil.which("pdflatex")
    if engine is None:
        pytest.skip("no pdflatex on this machine")

    def compile_(tex: str):
        (tmp_path / "doc.tex").write_text(tex)
        done = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:]
        log = (tmp_path / "doc.log").read_text(errors="replace")
        return log, [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    return compile_

"""`derivax check-code` outlives a checked function that signals it: os.kill(os.getppid(), ...) in the child
aims at derivax, os.killpg(0, ...) at the child's own group (derivax is not in it). A refused signal is a
PermissionError the report names, with exit status 2; what the audit hook cannot see (a `kill` command, a
raw system call) the kernel refuses. derivax runs here in a process of its own, in a session of its own,
under a time limit: a signal that got through would end or stop that process, never pytest."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from compile.checks.sandbox import SIGNAL_CALLS, refusal

SPEC = "2-3:tanh-2:softmax"
ROOT = Path(__file__).resolve().parents[1]

# The right gradients of SPEC (tests/test_check_code.py's FULL), after ``{body}``, a line of the
# function's own.
SOURCE = '''import ctypes
import os
import signal
import subprocess
import sys

import numpy as np


def backward(params, x, y):
    {body}
    z1 = np.dot(x, params["W1"]) + params["b1"]
    a1 = np.tanh(z1)
    z2 = np.dot(a1, params["W2"]) + params["b2"]
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    a2 = e / e.sum(axis=1, keepdims=True)
    m = x.shape[0]
    dZ2 = a2 - y
    dZ1 = np.dot(dZ2, params["W2"].T) * (1 - np.power(a1, 2))
    return {{"W1": np.dot(x.T, dZ1) / m, "b1": np.sum(dZ1, axis=0) / m,
            "W2": np.dot(a1.T, dZ2) / m, "b2": np.sum(dZ2, axis=0) / m}}
'''

BODY_LINE = SOURCE.splitlines().index("    {body}") + 1
SECCOMP = (sys.platform.startswith("linux") and os.uname().machine in SIGNAL_CALLS
           and "Seccomp:" in Path("/proc/self/status").read_text())
SYS_KILL = {"x86_64": 62, "aarch64": 129}.get(os.uname().machine)   # kill's number as a raw system call


def check(tmp_path, body):
    """(exit status, the JSON report or None, stdout, stderr) of `derivax check-code --json` on a function
    that runs ``body`` first. A derivax that was stopped instead of answering ends the test at the time
    limit (subprocess.TimeoutExpired)."""
    path = tmp_path / "user_backward.py"
    path.write_text(SOURCE.format(body=body))
    done = subprocess.run([sys.executable, "-m", "compile.cli.main", "check-code", SPEC, f"{path}:backward", "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, start_new_session=True)
    lines = done.stdout.strip().splitlines()
    doc = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    return done.returncode, doc, done.stdout, done.stderr


def assert_refused(rc, doc, out, *needles):
    assert rc == 2, (rc, out)   # a negative status: derivax itself was killed
    assert doc["ok"] is False and doc["stopped"] == "exception"
    assert "raised PermissionError: " in doc["error"] and "check-code refuses that" in doc["error"]
    for needle in needles:
        assert needle in doc["error"], (needle, doc["error"])
    assert f"line {BODY_LINE} of user_backward.py" in doc["error"]
    assert out.strip().splitlines()[-2].startswith("ERROR: ") and "Traceback" not in out


@pytest.mark.parametrize("signame", ["SIGKILL", "SIGSTOP", "SIGTERM"])
def test_a_signal_to_derivax_is_refused_and_named(tmp_path, signame):
    rc, doc, out, _ = check(tmp_path, f"os.kill(os.getppid(), signal.{signame})")
    assert_refused(rc, doc, out, f"would send {signame} to process ", "derivax itself")


@pytest.mark.parametrize("body", ["os.killpg(os.getpgid(os.getppid()), signal.SIGTERM)",
                                  "os.kill(-os.getpgid(os.getppid()), signal.SIGINT)"], ids=["killpg", "kill"])
def test_a_signal_to_derivaxs_group_is_refused_and_named(tmp_path, body):
    rc, doc, out, _ = check(tmp_path, body)
    assert_refused(rc, doc, out, "to process group ", "derivax's own")


def test_killpg_of_its_own_group_ends_only_the_child(tmp_path):
    """The child leads a session, and so a group, of its own: its group's end is its own."""
    rc, doc, out, _ = check(tmp_path, "os.killpg(0, signal.SIGTERM)")
    assert rc == 2, (rc, out)
    assert doc["stopped"] == "signal" and "killed by signal SIGTERM" in doc["error"]


def test_libc_kill_through_ctypes_is_refused(tmp_path):
    rc, doc, out, _ = check(tmp_path, "ctypes.CDLL(None).kill(os.getppid(), signal.SIGKILL)")
    assert_refused(rc, doc, out, "the C function kill through ctypes")


@pytest.mark.skipif(not SECCOMP, reason="the kernel's filter is installed on Linux (x86_64, aarch64) only")
@pytest.mark.parametrize("body", [
    'os.system(f"kill -KILL {os.getppid()}")',   # a command: no audit hook runs in it
    'subprocess.run([sys.executable, "-c", f"import os; os.kill({os.getppid()}, 9)"])',
    f"ctypes.CDLL(None).syscall({SYS_KILL}, os.getppid(), signal.SIGKILL)"],   # the lookup of syscall is not refused
    ids=["kill-command", "python-command", "system-call"])
def test_a_signal_to_derivax_the_hook_cannot_see_is_refused_by_the_kernel(tmp_path, body):
    """The function goes on after the failed signal and returns its gradients: derivax checks them."""
    rc, doc, out, err = check(tmp_path, body)
    assert rc == 0 and doc["ok"] is True, (rc, out, err)


def test_a_well_behaved_function_still_checks_ok(tmp_path):
    """NumPy, ctypes and signals to the function's own processes are not refused: its helper process, its
    group, itself (signal 0), and whether derivax exists (signal 0 too)."""
    body = ("helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "os.kill(helper.pid, signal.SIGTERM); helper.wait(); os.killpg(0, 0); os.kill(os.getpid(), 0); "
            "os.kill(os.getppid(), 0); ctypes.CDLL(None).getpid(); np.linalg.inv(np.eye(3))")
    rc, doc, out, err = check(tmp_path, body)
    assert rc == 0 and doc["ok"] is True and doc["stopped"] is None, (rc, out, err)


def test_the_rule_refuses_every_process_and_other_sessions(tmp_path):
    """``refusal`` alone, here, with no signal sent: a stand-in for derivax in a session of its own, and a
    helper in this process's session (as a process the checked code started is in the child's)."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        session = os.getsid(0)

        def rule(event, *args):
            return refusal(event, args, session, other.pid)
        assert "to every process it may signal" in rule("os.kill", -1, signal.SIGKILL)
        assert f"to process {other.pid}, derivax itself" in rule("os.kill", other.pid, signal.SIGTERM)
        assert f"to process group {other.pid}, derivax's own" in rule("os.killpg", other.pid, signal.SIGTERM)
        assert f"to process group {other.pid}, derivax's own" in rule("os.kill", -other.pid, signal.SIGINT)
        assert "the C function tgkill through ctypes" in rule("ctypes.dlsym", None, "tgkill")
        for event, *args in [("os.kill", os.getpid(), signal.SIGTERM), ("os.kill", 0, signal.SIGTERM),
                             ("os.kill", helper.pid, signal.SIGKILL), ("os.kill", other.pid, 0),
                             ("os.killpg", 0, signal.SIGTERM), ("os.killpg", os.getpgid(0), signal.SIGTERM),
                             ("ctypes.dlsym", None, "getpid"), ("os.system", b"true")]:
            assert rule(event, *args) is None, (event, args)
    finally:
        for p in (other, helper):
            p.kill()
            p.wait()

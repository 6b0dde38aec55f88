"""Starting the explorer from Python and Jupyter: ``explore(model)`` serves until Ctrl-C (inline below the
cell in a notebook), ``start(model)`` serves in the background and returns (address, stop).

Both run the server as a process of its own (``derivax explore``), not in the caller's: the server's worker
processes start from a fork server, which re-imports the ``__main__`` module of the process that made it,
and a user's script (or a notebook's kernel) must not be run again once per worker. A Network object is
handed over as a pickle in a private temporary folder.
"""
from __future__ import annotations

import os
import subprocess
import sys


def explore(model="xor", port=8765, host="127.0.0.1", open_browser=True, loss=None, convention="rows"):
    """Serve the explorer page for ``model`` (a built-in example's name, an inline spec, a model file's
    path, or a ``derive.Network``). From a script: until Ctrl-C, then returns the address it served. Inside
    Jupyter: in the background, the page shown inline below the cell (and linked); returns (address, stop)."""
    if _in_notebook():
        from IPython.display import HTML, IFrame, display
        url, stop = start(model, 0 if port == 8765 else port, host, loss, convention)
        display(HTML(f'<a href="{url}" target="_blank">derivax explorer: {url}</a>'), IFrame(url, "100%", 720))
        return url, stop
    url, stop = start(model, port, host, loss, convention, open_browser=open_browser)
    print(f"derivax explore: {url} (Ctrl-C stops it)", flush=True)
    try:
        stop.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
    return url


def _in_notebook() -> bool:
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and hasattr(shell, "kernel")


class _Stop:
    """Stops the server process (and its workers, its process group) and removes the handed-over pickle."""

    def __init__(self, process, folder):
        self.process, self.folder = process, folder

    def __call__(self):
        import shutil
        import signal
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(10)
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def start(model="xor", port=0, host="127.0.0.1", loss=None, convention="rows", open_browser=False,
          timeout=120.0):
    """The server for ``model`` in a process of its own: (address, stop). ``port=0`` takes a free port. The
    page is shown in a notebook with IPython's ``IFrame(address, "100%", 720)``. ValueError, with the command's own
    message, when it refuses what it was given (a model file holding no Network, a bad host); RuntimeError, with
    what the server said, when it does not start otherwise."""
    import tempfile
    if not isinstance(model, (str, os.PathLike)):
        refuse_models({"explore: model": model})
    folder = None
    argv = [sys.executable, "-m", "compile.cli.main", "explore", "--port", str(port), "--host", host,
            "--convention", convention]
    if not open_browser:
        argv.append("--no-browser")
    if loss is not None:
        argv += ["--loss", str(loss)]
    if callable(getattr(model, "derive", None)):   # a Network object: pickled for the server to read back
        import pickle
        folder = tempfile.mkdtemp(prefix="derivax-explore-")
        path = os.path.join(folder, "network.pickle")
        with open(path, "wb") as f:
            pickle.dump(model, f)
        argv += ["--network", path, _name(model)]
    else:
        argv.append(str(model))
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                               text=True, start_new_session=os.name == "posix")
    stop = _Stop(process, folder)
    line = _first_line(process, timeout)
    if "http://" not in line:
        stop()
        err = process.stderr.read() if process.stderr else ""
        said = [t[len("derivax: "):] for t in err.splitlines() if t.startswith("derivax: ")]
        if process.returncode == 2 and said:   # the command refused what it was given (a model, a host, a port)
            raise ValueError(said[-1])
        raise RuntimeError(f"the explorer did not start: {(line + ' ' + err).strip()[-800:]}")
    url = line.split("derivax explore: ", 1)[-1].split(" ", 1)[0]
    return url, stop


def _first_line(process, timeout) -> str:
    """The server's first line of output (its address), or '' when it ends or says nothing in time."""
    import threading
    out = []
    reader = threading.Thread(target=lambda: out.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return out[0].strip() if out else ""


def _network(model, loss, convention) -> dict:
    return {"model": _name(model), "loss": loss, "edits": [], "convention": convention}


def _name(model) -> str:
    """A Network object is served under its name (or "net"); anything else is a MODEL text."""
    if callable(getattr(model, "derive", None)):
        return str(getattr(model, "name", None) or "net")
    return str(model)


def refuse_models(files) -> None:
    """ModelError for a Builder Model among ``files`` (name -> a network handed over from Python), said as
    ``derivax explore FILE.py`` says it of a model file that holds one (derive.network.examples.resolve): the
    explorer rebuilds, edits and trains a derive.Network from its declaration, which a Model lacks."""
    from derive.network.examples import ModelError
    from derive.network.network import MODEL_ROUTE, Model
    for name, net in files.items() if isinstance(files, dict) else ():
        if isinstance(net, Model):
            raise ModelError(f"{name} is a Model, not a derive.Network: {MODEL_ROUTE}")


def _files(model):
    """What requests may name beyond the built-in examples and specs: the model file given, or the Network
    object given (workers receive it pickled)."""
    if callable(getattr(model, "derive", None)):
        return {_name(model): model}
    text = str(model)
    return (text.split(":")[0], text) if ".py" in text else ()

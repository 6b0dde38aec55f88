"""Starting the explorer from Python and Jupyter: ``explore(model)`` serves until Ctrl-C (inline in a
notebook), ``start(model)`` serves from a background thread and returns (address, stop)."""
from __future__ import annotations


def explore(model="xor", port=8765, host="127.0.0.1", open_browser=True, loss=None, convention="rows"):
    """Serve the explorer page for ``model`` (a built-in example's name, an inline spec, or a model file's
    path). From a script: until Ctrl-C, then returns the address it served. Inside Jupyter: in the
    background, the page shown inline below the cell (and linked); returns (address, stop)."""
    if _in_notebook():
        from IPython.display import HTML, IFrame, display
        url, stop = start(model, 0 if port == 8765 else port, host, loss, convention)
        display(HTML(f'<a href="{url}" target="_blank">derivax explorer: {url}</a>'), IFrame(url, "100%", 720))
        return url, stop
    from compile.explore.server import serve
    return serve(_network(model, loss, convention), host, port, files=_files(model), open_browser=open_browser)


def _in_notebook() -> bool:
    import sys
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and hasattr(shell, "kernel")


def start(model="xor", port=0, host="127.0.0.1", loss=None, convention="rows"):
    """A server in a background thread of this process (for Jupyter): returns (address, stop). The page is
    shown inline by IPython's IFrame where a notebook front end is present: ``IFrame(address, "100%", 700)``."""
    import threading
    import time

    from compile.explore.server import bind, create_app
    import uvicorn
    sock, url = bind(host, port)
    app = create_app(_network(model, loss, convention), _files(model))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="derivax explore")
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.02)

    def stop():
        server.should_exit = True
        thread.join(10)
        app.state.jobs.close()
    return url, stop


def _network(model, loss, convention) -> dict:
    return {"model": str(model), "loss": loss, "edits": [], "convention": convention}


def _files(model) -> tuple:
    text = str(model)
    return (text.split(":")[0], text) if ".py" in text else ()

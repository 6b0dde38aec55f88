"""The explorer's web server: a Starlette application, served by uvicorn on 127.0.0.1.

Routes (JSON in and out; what each returns is in ``compile.explore.api``):

- ``GET /``: the page, with the network to open embedded; ``GET /static/...``: its script and style.
- ``GET /api/examples``: the built-in examples.
- ``POST /api/derive``: model fields -> the derivation's record. ``POST /api/check``: model fields, param,
  formula -> check's verdict. Both wait for their worker (a derivation is cached by its fields).
- ``POST /api/jobs``: model fields and ``kind`` (verify, train or scalar; train takes epochs and data) -> 202 and
  the job's id; ``GET /api/jobs/{id}?since=N``: its state, the events from N on, its result or error;
  ``DELETE /api/jobs/{id}``: cancel it.

Every request is checked before any work: its size (at most ``MAX_BODY`` bytes), that it is JSON, that each
field has its type and a bounded length. Errors come back as ``{"error": {"message", "field", "position"}}``
with a 4xx status; nothing a request holds is run as code.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict

from compile.explore.pages import boot_page, static_text

MAX_BODY = 64 * 1024
CACHE = 32               # derivations remembered by their fields


class BadRequest(Exception):
    def __init__(self, message, field=None, status=400):
        super().__init__(message)
        self.message, self.field, self.status = message, field, status


def _error(message, field=None, position=None, status=400):
    from starlette.responses import JSONResponse
    return JSONResponse({"error": {"message": message, "field": field, "position": position}}, status_code=status)


async def _body(request) -> dict:
    """The request's JSON object, its fields checked for type and length; BadRequest otherwise."""
    size = request.headers.get("content-length")
    if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
        raise BadRequest(f"the request is larger than {MAX_BODY // 1024} KiB", status=413)
    if "json" not in request.headers.get("content-type", ""):
        raise BadRequest("send JSON (Content-Type: application/json)", status=415)
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise BadRequest(f"the request is larger than {MAX_BODY // 1024} KiB", status=413)
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadRequest(f"the request is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the request must be a JSON object of fields")
    from compile.explore.api import ApiError, check_fields
    try:
        check_fields(body)
    except ApiError as exc:
        raise BadRequest(exc.message, exc.field) from None
    return body


def create_app(network: dict, files=(), jobs=None):
    """The application for a page that opens on ``network`` (model fields); ``files``: the model files
    requests may name (the one given on the command line)."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    import compile.explore.api as api
    from compile.explore.jobs import Jobs
    from compile.explore.launch import refuse_models
    refuse_models(files)   # before any worker starts: a Model handed over cannot be rebuilt, edited or trained
    jobs = jobs or Jobs(files)
    cache: OrderedDict = OrderedDict()

    async def index(request):
        return HTMLResponse(boot_page({"mode": "live", "network": network}),
                            headers={"Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                                                "img-src 'self' data:"})

    async def static(request):
        name = request.path_params["name"]
        kinds = {"explore.js": "text/javascript", "explore.css": "text/css"}
        if name not in kinds:
            return _error(f"no such file: {name[:60]}", status=404)
        return Response(static_text(name), media_type=kinds[name])

    async def examples(request):
        return JSONResponse(api.examples())

    async def wait(kind, body):
        job = jobs.start(kind, body)
        while not job.finished.is_set():
            await asyncio.sleep(0.02)
        if job.state == "done":
            return job.result, None
        error = job.error or {"message": f"{kind} was cancelled", "status": 499}
        return None, _error(error.get("message"), error.get("field"), error.get("position"), error.get("status", 400))

    async def derive(request):
        try:
            body = await _body(request)
        except BadRequest as exc:
            return _error(exc.message, exc.field, status=exc.status)
        fields = {k: body.get(k) for k in ("model", "loss", "edits", "convention")}
        key = json.dumps(fields, sort_keys=True)
        if key in cache:
            cache.move_to_end(key)
            return JSONResponse(cache[key])
        result, error = await wait("derive", fields)
        if error is not None:
            return error
        cache[key] = result
        while len(cache) > CACHE:
            cache.popitem(last=False)
        return JSONResponse(result)

    async def check(request):
        try:
            body = await _body(request)
        except BadRequest as exc:
            return _error(exc.message, exc.field, status=exc.status)
        result, error = await wait("check", body)
        return error if error is not None else JSONResponse(result)

    async def start_job(request):
        try:
            body = await _body(request)
        except BadRequest as exc:
            return _error(exc.message, exc.field, status=exc.status)
        kind = body.pop("kind", None)
        if kind not in ("verify", "train", "scalar"):
            return _error(f"kind is verify, train or scalar, not {str(kind)[:40]!r}", "kind")
        job = jobs.start(kind, body)
        return JSONResponse({"id": job.id, "state": job.state}, status_code=202)

    async def job_view(request):
        job = jobs.get(request.path_params["jid"])
        if job is None:
            return _error("no such job (it ended long ago, or the server restarted)", status=404)
        since = request.query_params.get("since", "0")
        return JSONResponse(job.view(int(since) if since.isdigit() else 0))

    async def job_cancel(request):
        job = jobs.cancel(request.path_params["jid"])
        if job is None:
            return _error("no such job", status=404)
        job.finished.wait(5)
        return JSONResponse(job.view(len(job.events)))

    routes = [Route("/", index), Route("/static/{name}", static), Route("/api/examples", examples),
              Route("/api/derive", derive, methods=["POST"]), Route("/api/check", check, methods=["POST"]),
              Route("/api/jobs", start_job, methods=["POST"]),
              Route("/api/jobs/{jid}", job_view, methods=["GET"]),
              Route("/api/jobs/{jid}", job_cancel, methods=["DELETE"])]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        jobs.close()   # the server is stopping: no worker outlives it

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.jobs = jobs
    return app


def bind(host: str, port: int):
    """(a listening socket on host:port, the page's address); port 0 takes a free one. OSError when the
    port is taken or the host is not this machine's."""
    import socket
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    port = sock.getsockname()[1]
    return sock, f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


def serve(network: dict, host="127.0.0.1", port=8765, files=(), open_browser=True, announce=print, bound=None):
    """Serve the page until Ctrl-C. ``port=0`` takes a free port. Says where, and opens the browser. ``bound``:
    what ``bind(host, port)`` returned, where the caller bound the socket first (to refuse a host that is not
    this machine's before saying anything about where the page is)."""
    import uvicorn
    app = create_app(network, files)
    sock, url = bound or bind(host, port)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    announce(url)
    if open_browser:
        import threading
        import webbrowser
        threading.Timer(0.5, lambda: webbrowser.open(url)).start()
    try:
        server.run(sockets=[sock])
    finally:
        app.state.jobs.close()
    return url

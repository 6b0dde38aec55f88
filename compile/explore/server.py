"""The explorer's web server: a Starlette application, served by uvicorn on 127.0.0.1.

Routes (JSON in and out; what each returns is in ``compile.explore.api``):

- ``GET /``: the page, with the network to open embedded; ``GET /static/...``: its script and style.
- ``GET /api/examples``: the built-in examples.
- ``POST /api/derive``: model fields -> the derivation's record. ``POST /api/check``: model fields, param,
  formula -> check's verdict. Both wait for their worker (a derivation is cached by its fields), in slots of their
  own: never behind a long job. A request whose client has gone is dropped.
- ``POST /api/jobs``: model fields and ``kind`` (verify, train or scalar; train takes epochs and data) -> 202 and
  the job's id, or 429 when as many long jobs wait already as may (``compile.explore.jobs.MAX_WAITING``);
  ``GET /api/jobs/{id}?since=N``: its state, the events from N on, its result or error;
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
GRACE = 3                # seconds a stopping server waits for requests still open before it drops them


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class BadRequest(Exception):
    def __init__(self, message, field=None, status=400, position=None):
        super().__init__(message)
        self.message, self.field, self.status, self.position = message, field, status, position


def _printable(text):
    """``text`` with any character UTF-8 cannot hold (a lone surrogate a request sent) escaped as \\udXXX."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(text, str) else text


RETRY_AFTER = 5   # seconds a client refused for a full queue (429) or a stopping server (503) is asked to wait


def _error(message, field=None, position=None, status=400):
    from starlette.responses import JSONResponse
    busy = status in (429, 503)
    return JSONResponse({"error": {"message": _printable(message), "field": _printable(field), "position": position,
                                   **({"busy": True} if busy else {})}},
                        status_code=status, headers={"Retry-After": str(RETRY_AFTER)} if busy else None)


def _host_port(text: str):
    """(host, port) of a Host header's value (``127.0.0.1:8765``, ``[::1]:8765``, ``localhost``); port None
    where it names none, ("", None) where it cannot be read."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return "", None
        port = rest[1:] or None
    else:
        host, sep, port = text.rpartition(":") if text.count(":") == 1 else (text, "", None)
        host, port = (host, port or None) if sep else (text, None)
    if port is not None and not (port.isascii() and port.isdigit() and len(port) <= 5):
        return "", None
    return host.lower(), None if port is None else int(port)


def _known(host: str, hosts) -> bool:
    """``host`` is this server's: one of ``hosts``, or an address written as one (a page served on 0.0.0.0 and
    opened at the machine's LAN address). Only a name can be pointed here by another site (DNS rebinding)."""
    import ipaddress
    if host in hosts:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _own_names(host) -> set:
    """The machine's own names, where the page is served on every interface (0.0.0.0 or ::) and so may be opened by
    the machine's name from another one: its host name, its fully qualified name and the name mDNS gives it
    (``name.local``). A name another site chose (DNS rebinding) is none of them."""
    import ipaddress
    import socket
    try:
        if host is None or not ipaddress.ip_address(host.strip("[]")).is_unspecified:
            return set()
    except ValueError:
        return set()
    names = set()
    for name in (socket.gethostname(), socket.getfqdn()):
        name = name.lower().rstrip(".")
        if name and name != "localhost":
            names |= {name, name.split(".")[0] + ".local"}
    return names


def _refused(scope, hosts) -> str | None:
    """Why a request must be refused before anything is done for it, or None: its Host is not this server's
    address (a page elsewhere reaching it through a name that points here, DNS rebinding), or its Origin, when
    it has one, is not this server's own page (a request sent cross-site)."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
    server = scope.get("server") or (None, None)
    own_port = server[1]
    scheme_port = 443 if scope.get("scheme") == "https" else 80
    host, port = _host_port(headers.get("host", "").strip())
    if not _known(host, hosts) or (port or scheme_port) != own_port:
        return "the request's Host is not this server's address: open the page at the address derivax explore gave"
    origin = headers.get("origin")
    if origin is not None:
        scheme, sep, rest = origin.strip().partition("://")
        o_host, o_port = _host_port(rest) if sep and scheme == "http" and "/" not in rest else ("", None)
        if not _known(o_host, hosts) or (o_port or 80) != own_port:
            return "requests from another site's page are refused: use the page derivax explore serves"
    return None


async def _body(request) -> dict:
    """The request's JSON object, its fields checked for type and length; BadRequest otherwise."""
    size = request.headers.get("content-length")
    if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
        raise BadRequest(f"the request is larger than {MAX_BODY // 1024} KiB", status=413)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise BadRequest("send JSON (Content-Type: application/json)", status=415)
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise BadRequest(f"the request is larger than {MAX_BODY // 1024} KiB", status=413)
    try:
        body = json.loads(raw.decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the request is not valid JSON: {exc}", position=exc.pos) from None
    except (UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest(f"the request is not valid JSON: {exc}") from None
    except ValueError:   # a whole number longer than Python reads (sys.get_int_max_str_digits)
        import re
        import sys
        limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 4300
        long = re.search(r"[0-9]{%d,}" % (limit + 1), raw.decode("utf-8"))
        at = long.start() if long else None
        raise BadRequest(f"the request is not valid JSON: a number of more than {limit} digits"
                         + (f" at position {at}" if at is not None else ""), position=at) from None
    if not isinstance(body, dict):
        raise BadRequest("the request must be a JSON object of fields")
    from compile.explore.api import ApiError, check_fields
    try:
        check_fields(body)
    except ApiError as exc:
        raise BadRequest(exc.message, exc.field) from None
    return body


class _Guard:
    """ASGI middleware: every HTTP request whose Host or Origin is not this server's (``_refused``) gets a 403
    before any route sees it."""

    def __init__(self, app, hosts):
        self.app, self.hosts = app, hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            why = _refused(scope, self.hosts)
            if why is not None:
                return await _error(why, status=403)(scope, receive, send)
        return await self.app(scope, receive, send)


def create_app(network: dict, files=(), jobs=None, host=None):
    """The application for a page that opens on ``network`` (model fields); ``files``: the model files
    requests may name (the one given on the command line); ``host``: the address it listens on, which with
    127.0.0.1, localhost and ::1 is what a request's Host may name."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    import compile.explore.api as api
    from compile.explore.jobs import Busy, Jobs
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

    async def wait(kind, body, request):
        try:
            job = jobs.start(kind, body)
        except Busy as exc:
            return None, _error(exc.message, status=exc.status)
        ticks = 0
        while not job.finished.is_set():
            await asyncio.sleep(0.02)
            ticks += 1
            if ticks % 5 == 0 and await request.is_disconnected():   # the client has gone: its job is dropped
                jobs.cancel(job.id)
                return None, _error(f"{kind} was abandoned by its client", status=499)
        if job.state == "done":
            return job.result, None
        error = job.error or ({"message": "the server is stopping", "status": 503} if jobs.closed else
                              {"message": f"{kind} was cancelled", "status": 499})
        return None, _error(error.get("message"), error.get("field"), error.get("position"), error.get("status", 400))

    async def derive(request):
        try:
            body = await _body(request)
        except BadRequest as exc:
            return _error(exc.message, exc.field, exc.position, status=exc.status)
        fields = {k: body.get(k) for k in ("model", "loss", "edits", "convention")}
        key = json.dumps(fields, sort_keys=True)
        if key in cache:
            cache.move_to_end(key)
            return JSONResponse(cache[key])
        result, error = await wait("derive", fields, request)
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
            return _error(exc.message, exc.field, exc.position, status=exc.status)
        result, error = await wait("check", body, request)
        return error if error is not None else JSONResponse(result)

    async def start_job(request):
        try:
            body = await _body(request)
        except BadRequest as exc:
            return _error(exc.message, exc.field, exc.position, status=exc.status)
        kind = body.pop("kind", None)
        if kind not in ("verify", "train", "scalar"):
            return _error(f"kind is verify, train or scalar, not {str(kind)[:40]!r}", "kind")
        try:
            api.check_job(kind, body)
        except api.ApiError as exc:
            return _error(exc.message, exc.field, exc.position, status=exc.status)
        try:
            job = jobs.start(kind, body)
        except Busy as exc:
            return _error(exc.message, status=exc.status)
        return JSONResponse({"id": job.id, "state": job.state}, status_code=202)

    async def job_view(request):
        job = jobs.get(request.path_params["jid"])
        if job is None:
            return _error("no such job (it ended long ago, or the server restarted)", status=404)
        since = request.query_params.get("since", "0").strip()
        digits = since[1:] if since.startswith("-") else since
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 18):
            return _error(f"since is the number of events already read (0, 1, ...), not {since[:40]!r}", "since")
        return JSONResponse(job.view(max(0, int(since))))

    async def job_cancel(request):
        job = jobs.cancel(request.path_params["jid"])
        if job is None:
            return _error("no such job", status=404)
        for _ in range(250):   # up to 5 s for its worker to be killed, the server answering others meanwhile
            if job.finished.is_set():
                break
            await asyncio.sleep(0.02)
        return JSONResponse(job.view(len(job.events)))

    async def http_error(request, exc):
        words = {404: f"no such address: {request.url.path[:80]}",
                 405: f"{request.url.path[:80]} does not take {request.method[:10]}"}
        return _error(words.get(exc.status_code, str(exc.detail)), status=exc.status_code)

    routes = [Route("/", index), Route("/static/{name}", static), Route("/api/examples", examples),
              Route("/api/derive", derive, methods=["POST"]), Route("/api/check", check, methods=["POST"]),
              Route("/api/jobs", start_job, methods=["POST"]),
              Route("/api/jobs/{jid}", job_view, methods=["GET"]),
              Route("/api/jobs/{jid}", job_cancel, methods=["DELETE"])]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        jobs.close(wait=2.0)   # the server is stopping: no worker outlives it

    hosts = set(LOCAL_HOSTS) | ({host.strip("[]").lower()} if host else set()) | _own_names(host)
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(_Guard, hosts=hosts)],
                    exception_handlers={HTTPException: http_error})
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
    this machine's before saying anything about where the page is). The first Ctrl-C (or SIGTERM) cancels the
    queued jobs and kills the workers at once, so the server ends within a few seconds."""
    import threading

    import uvicorn
    app = create_app(network, files, host=host)
    sock, url = bound or bind(host, port)

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            # In a thread: the signal may have come while this one held the jobs' lock. The requests waiting
            # on their jobs are then answered at once, and uvicorn has no connection left to wait for.
            threading.Thread(target=app.state.jobs.close, daemon=True, name="derivax stop").start()
            super().handle_exit(sig, frame)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=GRACE)
    server = Server(config)
    announce(url)
    if open_browser:
        import webbrowser
        threading.Timer(0.5, lambda: webbrowser.open(url)).start()
    try:
        server.run(sockets=[sock])
    finally:
        app.state.jobs.close(wait=2.0)
    return url

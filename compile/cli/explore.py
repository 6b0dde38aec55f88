"""`derivax explore MODEL`: the explorer page on a local server (``compile.explore``)."""
from __future__ import annotations

import argparse
import sys

from compile.cli import args as _args

LOCAL = ("127.0.0.1", "localhost", "::1")


def add_arguments(parser) -> None:
    parser.description = ("Open a local web page where the derivation of MODEL is clicked through (each gradient's "
                          "steps and the path of its error signal), edited (activations, loss, layers), checked "
                          "against formulas you type, verified and trained. Needs the explore extra: "
                          "pip install 'derivax[explore]'. Ctrl-C stops the server.")
    parser.add_argument("model", nargs="?", default="xor",
                        help="built-in example, file.py[:name], or an inline spec like 2-2:tanh-2:softmax (default xor)")
    parser.add_argument("--port", type=_args.count(0, 65535, "--port"), default=8765,
                        help="the port (default 8765; 0 takes a free one)")
    parser.add_argument("--host", default="127.0.0.1", type=_args.unmark,
                        help="the address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser; only print the address")
    parser.add_argument("--loss", type=_args.unmark, default=None, help="a loss name or formula in yhat and y")
    parser.add_argument("--convention", choices=["rows", "columns"], default="rows",
                        help="rows (X is examples x features, as frameworks) or columns (as Ng's courses)")
    # compile.explore.launch hands a Network object over as a pickle it wrote itself, served as MODEL
    parser.add_argument("--network", metavar="PICKLE", type=_args.unmark, help=argparse.SUPPRESS)


def main(args) -> int:
    if not args.host.strip() or any(c.isspace() for c in args.host):
        print(f"derivax: --host {args.host!r}: not a host name; 127.0.0.1 (this machine only, the default) or "
              "0.0.0.0 (every interface)", file=sys.stderr)
        return 2
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        print("derivax: explore needs its extra: pip install 'derivax[explore]' (starlette and uvicorn)", file=sys.stderr)
        return 2
    from derive.network.examples import resolve
    from compile.explore.launch import _files, _network
    from compile.explore.server import bind, serve
    if args.network is not None:   # written by compile.explore.launch.start in a private folder
        import pickle
        with open(args.network, "rb") as f:
            given = pickle.load(f)
        files = {args.model: given}
    else:
        resolve(args.model, args.loss)   # a model that cannot be built is said here, before any server starts
        files = _files(args.model)
    try:   # the host and port taken first: nothing is said about where the page is until it can be there
        bound = bind(args.host, args.port)
    except OSError as exc:
        return _unbound(args, exc)
    if args.host not in LOCAL:
        print(f"derivax: note: listening on {args.host}, not on this machine only: anyone who can reach it can "
              "use the page (it runs no code they send, but derives, verifies and trains)", file=sys.stderr)
    try:
        serve(_network(args.model, args.loss, args.convention), args.host, args.port, files=files,
              open_browser=not args.no_browser,
              announce=lambda url: print(f"derivax explore: {url} (Ctrl-C stops it)", flush=True), bound=bound)
    except OSError as exc:
        return _unbound(args, exc)
    except KeyboardInterrupt:
        pass
    print("derivax explore: stopped")
    return 0


def _unbound(args, exc) -> int:
    """Says why the server cannot listen where asked (a host that is no address, one that is not this machine's,
    a port taken): 2."""
    import errno
    import socket
    if isinstance(exc, socket.gaierror):   # 999.1.1.1, no-such-host: neither an address nor a name that resolves
        print(f"derivax: --host {args.host}: not an address or a host name that resolves ({exc.strerror or exc}); "
              "127.0.0.1 (this machine only, the default) or 0.0.0.0 (every interface)", file=sys.stderr)
    else:
        why = {errno.EADDRINUSE: " (the port is taken: try --port 0)",
               errno.EADDRNOTAVAIL: " (--host is not an address of this machine)"}.get(getattr(exc, "errno", None), "")
        print(f"derivax: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}{why}", file=sys.stderr)
    return 2

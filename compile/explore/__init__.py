"""The explorer: a local web page where a derivation is clicked through, edited, checked, verified and
trained. ``derivax explore MODEL`` from the command line; ``compile.explore.launch.explore`` (exported as
``compile.explore``'s ``explore`` and ``start``) from Python and Jupyter. The server is in ``server``, its
JSON API in ``api``, its worker processes in ``jobs``, the page in ``static/``."""
from importlib import import_module


def __getattr__(name):
    if name in ("explore", "start"):
        return getattr(import_module(f"{__name__}.launch"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

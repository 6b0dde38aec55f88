"""The explorer's page as text: index.html with its boot data embedded, and, for ``derivax report``, the
same page frozen into one self-contained file (its script and style inlined, the derivation, verification
and training curves embedded, and a script-free copy of the derivation for readers without JavaScript)."""
from __future__ import annotations

import json
from importlib import resources


def static_text(name: str) -> str:
    return resources.files("compile.explore").joinpath("static", name).read_text(encoding="utf-8")


def boot_page(boot: dict, inline: bool = False) -> str:
    """index.html with ``boot`` embedded (JSON, with "<" escaped so no text in it can end the script);
    ``inline`` puts the style and script into the page itself (the frozen report: one file)."""
    page = static_text("index.html")
    data = json.dumps(boot, ensure_ascii=False).replace("<", "\\u003c").replace("\u2028", "\\u2028") \
        .replace("\u2029", "\\u2029")
    page = page.replace("__DERIVAX_BOOT__", data, 1)
    if inline:
        css = static_text("explore.css").replace("</style", "<\\/style")
        js = static_text("explore.js").replace("</script", "<\\/script")
        page = page.replace('<link rel="stylesheet" href="/static/explore.css">', f"<style>{css}</style>", 1)
        page = page.replace('<script src="/static/explore.js"></script>', f"<script>{js}</script>", 1)
    return page


def frozen_page(record: dict, verify=None, curves=None, fallback: str = "") -> str:
    """The explorer page as one file that needs no server: ``record`` (derive.printing.page), the verify
    job's result and the training curves embedded; ``fallback`` (HTML) is shown where scripts do not run."""
    page = boot_page({"mode": "frozen", "record": record, "verify": verify, "curves": curves}, inline=True)
    if fallback:   # first in the body: a reader without JavaScript sees it before the page's empty frame
        page = page.replace("<body>", f"<body>\n<noscript>{fallback}</noscript>", 1)
    return page

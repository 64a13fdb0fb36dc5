"""Which access-log requests were page views, and why the others are left out.

A page view is a ``GET`` answered 2xx or 304 (a page the browser had cached)
for a path whose last segment has no extension or a page's extension (``.html``,
``.php``...). Left out, each counted under its reason: other methods (``HEAD``,
``POST``...), redirects (3xx but 304), errors (4xx, 5xx), assets (any other
extension: ``.css``, ``.js``, images, fonts, ``.txt``, ``.xml``...), crumby's own
tracking paths (``/cmb.js``, ``/<n>.gif``, ``/collect``) and targets that are not
a path (``*``, ``CONNECT`` hosts). Bots are kept: the ETL flags them as it does
tracked hits.
"""

from __future__ import annotations

import re

from .formats import Request

PAGE_EXTENSIONS = frozenset(("", "html", "htm", "xhtml", "shtml", "php", "asp", "aspx", "jsp", "cgi", "pl"))
TRACKER_PATH = re.compile(r"/(?:[0-9]{1,12}\.gif|collect|cmb\.js|health)")
LEFT_OUT_REASONS = ("method", "redirect", "error", "asset", "tracker", "not a path")


def left_out(request: Request) -> str | None:
    """Why ``request`` is not a page view (one of :data:`LEFT_OUT_REASONS`), or None when it is one."""
    if request.method != "GET":
        return "method"
    status = request.status
    if not (200 <= status < 300 or status == 304):
        return "redirect" if 300 <= status < 400 else "error"
    path = request.target.split("?", 1)[0]
    if not path.startswith("/"):
        return "not a path"
    if TRACKER_PATH.fullmatch(path):
        return "tracker"
    last = path[path.rfind("/") + 1 :]
    dot = last.rfind(".")
    if dot >= 0 and last[dot + 1 :].lower() not in PAGE_EXTENSIONS:
        return "asset"
    return None

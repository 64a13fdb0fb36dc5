"""The collection endpoint: validate a hit, append it to the raw log, answer.

A bare WSGI callable rather than a Flask view: it runs for every page view
of every tracked site, so it does only what contract 2 asks (no enrichment,
no database) and imports only the standard library, :mod:`crumby.hits` and
:mod:`crumby.config`.  Any other path is passed to the ``fallback`` app (the
Flask report server) when there is one.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import itertools
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from typing import Any

from .. import hits
from ..config import ensure_folder, load_settings
from ..hits import parse_query, site_allowed
from .hitlog import HitLog, LogWriteError

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
GIF_PATH = re.compile(r"/[0-9]{1,12}\.gif")
JSON_TYPES = ("application/json", "text/plain")  # text/plain: what sendBeacon sends for a string
MIN_FREE_BYTES = 1 << 20

NO_CACHE = [
    ("Cache-Control", "no-cache, no-store, must-revalidate, max-age=0"),
    ("Pragma", "no-cache"),
    ("Expires", "0"),
]
STATUS = {
    200: "200 OK",
    204: "204 No Content",
    400: "400 Bad Request",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    413: "413 Content Too Large",
    414: "414 URI Too Long",
    415: "415 Unsupported Media Type",
    431: "431 Request Header Fields Too Large",
    503: "503 Service Unavailable",
}


class HitStamps:
    """Hit ids and UTC timestamps, made cheaply for every hit.

    An id is a random 64-bit prefix drawn once per process (again after a
    fork) followed by a counter: unique across workers and restarts without
    paying for a UUID per hit.  The timestamp's text up to the second is
    kept until the second changes.
    """

    def __init__(self) -> None:
        self._second = -1
        self._second_text = ""
        self._new_prefix()
        os.register_at_fork(after_in_child=self._new_prefix)

    def _new_prefix(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count()

    def new_id(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"

    def timestamp(self, now: float) -> str:
        """``now`` (seconds since the epoch) as 2026-11-27T21:00:00.123Z."""
        second = int(now)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
            self._second = second
        return f"{self._second_text}{int((now - second) * 1000):03d}Z"


# What hits.serialise writes, with the encoder made once instead of per hit.
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


class Rejected(Exception):
    """A request answered with an error status and nothing written."""

    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = list(headers)


def client_ip(environ: Mapping[str, Any], proxy_count: int) -> str:
    """The client address ``proxy_count`` trusted hops back in X-Forwarded-For."""
    forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
    return hits.forwarded_client(environ.get("REMOTE_ADDR", ""), forwarded, proxy_count)


def strip_js_comment_lines(source: str) -> str:
    """Drop whole-line ``//`` comments, blank lines and indentation from cmb.js.

    The tracker is written readable and shipped small. Only whole lines are
    touched, so code is never rewritten; this is safe for a script with no
    multi-line strings or template literals, which cmb.js keeps to.
    """
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//")) + "\n"


def load_tracker(settings: Mapping[str, Any]) -> bytes:
    """cmb.js with this server's options filled in and its comment lines dropped."""
    source = resources.files("crumby.serve").joinpath("static/cmb.js").read_text(encoding="utf-8")
    source = strip_js_comment_lines(source)
    domain = settings.get("DOMAIN") or ""
    options = {
        "endpoint": f"//{domain}" if domain and "//" not in domain else domain,
        "dnt": bool(settings.get("RESPECT_DNT", True)),
        "cookieless": bool(settings.get("COOKIELESS", False)),
    }
    return source.replace("{/*CRUMBY_OPTIONS*/}", json.dumps(options, separators=(",", ":"))).encode()


class Collector:
    """WSGI app for ``/<n>.gif``, ``/collect``, ``/cmb.js`` and ``/health``."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        fallback: WSGIApp | None = None,
        log: HitLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.clock = clock  # the server's clock; `crumby demo` replays made-up traffic at its own moments
        self.fallback = fallback
        self.proxy_count = int(settings.get("PROXY_COUNT", 0))
        self.sites = tuple(site.lower() for site in settings.get("SITES", ()))
        self.require_cid = not settings.get("COOKIELESS", False)
        self.origin = settings.get("CROSSDOMAIN_ORIGIN") or ""
        self.log = log or HitLog(ensure_folder(settings, "LOG_DIR"), fsync=bool(settings.get("LOG_FSYNC")))
        self.cors = [("Access-Control-Allow-Origin", self.origin)] if self.origin else []
        if self.origin and self.origin != "*":
            self.cors.append(("Vary", "Origin"))
        self.stamps = HitStamps()
        self.gif_headers = [("Content-Type", "image/gif"), ("Content-Length", str(len(PIXEL)))]
        self.gif_headers += NO_CACHE + self.cors
        self.post_headers = NO_CACHE + self.cors
        tracker = load_tracker(settings)
        self.tracker = tracker
        self.tracker_gz = gzip.compress(tracker, 9, mtime=0)
        self.tracker_etag = '"' + hashlib.sha256(tracker).hexdigest()[:20] + '"'

    # -- WSGI ---------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if path == "/collect":
                if method == "POST":
                    return self.collect_post(environ, start_response)
                if method == "OPTIONS":
                    return self.preflight(start_response)
                raise Rejected(405, "POST the hit to /collect as JSON", (("Allow", "POST, OPTIONS"),))
            if GIF_PATH.fullmatch(path):
                if method not in ("GET", "HEAD"):
                    raise Rejected(
                        405,
                        "request the GIF with GET, or POST the hit to /collect",
                        (("Allow", "GET, HEAD"),),
                    )
                return self.collect_gif(environ, start_response)
            if path == "/cmb.js" and method in ("GET", "HEAD"):
                return self.serve_tracker(environ, start_response)
            if path == "/health" and method in ("GET", "HEAD"):
                return self.health(start_response)
        except Rejected as exc:
            return self.error(start_response, exc.status, exc.message, exc.headers)
        if self.fallback is not None:
            return self.fallback(environ, start_response)
        return self.error(start_response, 404, "not found")

    # -- endpoints ----------------------------------------------------------

    def collect_gif(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        if len(query) > hits.MAX_QUERY_BYTES:
            raise Rejected(414, f"query string longer than {hits.MAX_QUERY_BYTES} bytes")
        self.record(parse_query(query), environ)
        start_response(STATUS[200], self.gif_headers)
        return [PIXEL]

    def collect_post(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        content_type = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        if content_type not in JSON_TYPES:
            raise Rejected(415 if content_type else 400, "send the hit as application/json")
        body = self.read_body(environ)
        try:
            params = json.loads(body)
        except ValueError:
            raise Rejected(400, "body is not valid JSON") from None
        except RecursionError:
            raise Rejected(400, f"body is not a hit: {hits.NESTED_TOO_DEEP}") from None
        if not isinstance(params, dict):
            raise Rejected(400, "body must be a JSON object")
        self.record(params, environ)
        start_response(STATUS[204], self.post_headers)
        return []

    def preflight(self, start_response: Callable) -> Iterable[bytes]:
        headers = self.cors + [
            ("Access-Control-Allow-Methods", "POST, GET, OPTIONS"),
            ("Access-Control-Allow-Headers", "Content-Type"),
            ("Access-Control-Max-Age", "86400"),
        ]
        start_response(STATUS[204], headers)
        return []

    def serve_tracker(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self.tracker_etag in environ.get("HTTP_IF_NONE_MATCH", ""):  # also W/"…" and lists
            start_response("304 Not Modified", [("ETag", self.tracker_etag)])
            return []
        gzip_ok = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
        body = self.tracker_gz if gzip_ok else self.tracker
        headers = [
            ("Content-Type", "text/javascript; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "public, max-age=900"),
            ("ETag", self.tracker_etag),
            ("Vary", "Accept-Encoding"),
            ("Access-Control-Allow-Origin", "*"),
        ]
        if gzip_ok:
            headers.append(("Content-Encoding", "gzip"))
        start_response(STATUS[200], headers)
        return [body]

    def health(self, start_response: Callable) -> Iterable[bytes]:
        ok = self.log.writable() and free_bytes(self.log.folder) >= MIN_FREE_BYTES
        body = json.dumps({"status": "ok" if ok else "log folder not writable"}).encode()
        start_response(
            STATUS[200 if ok else 503],
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))] + NO_CACHE,
        )
        return [body]

    # -- the hit ------------------------------------------------------------

    def read_body(self, environ: dict) -> bytes:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise Rejected(400, "bad Content-Length") from None
        if length > hits.MAX_BODY_BYTES:
            raise Rejected(413, f"body larger than {hits.MAX_BODY_BYTES} bytes")
        stream = environ["wsgi.input"]
        body = stream.read(length) if length else stream.read(hits.MAX_BODY_BYTES + 1)
        if len(body) > hits.MAX_BODY_BYTES:
            raise Rejected(413, f"body larger than {hits.MAX_BODY_BYTES} bytes")
        return body

    def record(self, params: Mapping[str, Any], environ: Mapping[str, Any]) -> None:
        """Check the hit and append it; raises :class:`Rejected` when it must not be written."""
        limit = hits.MAX_HEADER_BYTES
        for key, value in environ.items():
            if key[:5] == "HTTP_" and len(value) > limit:
                raise Rejected(431, f"header {key[5:].replace('_', '-').title()} longer than {limit} bytes")
        try:
            fields = hits.client_fields(params, require_cid=self.require_cid)
        except hits.HitError as exc:
            raise Rejected(400, str(exc)) from None
        if self.sites and not site_allowed(fields["dl"], self.sites):
            raise Rejected(403, "this site is not tracked here; add its host to SITES to accept its hits")
        now = self.clock()
        hit = hits.make_hit(
            fields,
            ip=client_ip(environ, self.proxy_count),
            ua=environ.get("HTTP_USER_AGENT", ""),
            referer=environ.get("HTTP_REFERER", ""),
            lang=environ.get("HTTP_ACCEPT_LANGUAGE", ""),
            hit_id=self.stamps.new_id(),
            ts=self.stamps.timestamp(now),
            ch_mobile=environ.get("HTTP_SEC_CH_UA_MOBILE", ""),
            ch_platform=environ.get("HTTP_SEC_CH_UA_PLATFORM", ""),
        )
        # A lone surrogate (possible in JSON) cannot be UTF-8: it is stored as "?" rather than failing.
        line = (_encode_json(hit) + "\n").encode("utf-8", "replace")
        try:
            self.log.append(line, now)
        except LogWriteError:
            raise Rejected(503, "the hit could not be stored; try again later") from None

    def error(
        self, start_response: Callable, status: int, message: str, extra: list | None = None
    ) -> Iterable[bytes]:
        body = json.dumps({"error": message}).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        headers += extra or []
        if status == 503:
            headers.append(("Retry-After", "30"))
        start_response(STATUS[status], headers + NO_CACHE + self.cors)
        return [body]


def free_bytes(folder: os.PathLike) -> int:
    """Bytes an unprivileged writer may still use on the folder's filesystem."""
    try:
        stats = os.statvfs(folder)
    except OSError:
        return 0
    return stats.f_bavail * stats.f_frsize


def create_collector(settings: Mapping[str, Any] | None = None) -> Collector:
    """The collector alone, for gunicorn: ``gunicorn 'crumby.serve.collect:create_collector()'``."""
    return Collector(settings if settings is not None else load_settings())

"""The benchmark's baseline: the least a WSGI callable can do to log a GIF hit.

It builds the same kind of line as the collector (format version, hit id, UTC
time, the query's fields, ip, ua, referer, lang) and appends it with one
``os.write`` on an ``O_APPEND`` descriptor, but checks and caps nothing.  The
collector's cost over this is what its validation, limits and bookkeeping
add.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from urllib.parse import parse_qsl

PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x01D\x00;"
)
HEADERS = [
    ("Content-Type", "image/gif"),
    ("Content-Length", str(len(PIXEL))),
    ("Cache-Control", "no-cache, no-store, must-revalidate, max-age=0"),
]


class BaselineApp:
    """Append one JSON line per request to ``<folder>/baseline-<pid>.jsonl`` and answer the pixel."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.fd: int | None = None
        self.pid = -1

    def __call__(self, environ, start_response):
        if self.pid != os.getpid():  # opened after the fork, one file per worker
            self.pid = os.getpid()
            path = os.path.join(self.folder, f"baseline-{self.pid}.jsonl")
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        now = time.time()
        hit = {
            "v": 1,
            "id": uuid.uuid4().hex,
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z",
        }
        hit.update(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        hit["ip"] = environ.get("REMOTE_ADDR", "")
        hit["ua"] = environ.get("HTTP_USER_AGENT", "")
        hit["referer"] = environ.get("HTTP_REFERER", "")
        hit["lang"] = environ.get("HTTP_ACCEPT_LANGUAGE", "")
        os.write(self.fd, (json.dumps(hit, ensure_ascii=False, separators=(",", ":")) + "\n").encode())
        start_response("200 OK", HEADERS)
        return [PIXEL]


def create_baseline() -> BaselineApp:
    """Gunicorn factory: ``gunicorn 'baseline:create_baseline()'`` with BENCH_LOG_DIR set."""
    return BaselineApp(os.environ["BENCH_LOG_DIR"])

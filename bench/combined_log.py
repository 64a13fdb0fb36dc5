"""The corpus's hits as one combined access log, the format a web server writes and GoAccess reads.

Each hit becomes the request a server would have logged for the page it
was made on: the client address, the hit's time, ``GET`` of the page's path
and query, the document's referrer and the User-Agent. Written once next to
the corpus and reused.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit


def combined_line(hit: dict) -> str:
    """One hit as an Apache/nginx combined log line."""
    when = datetime.fromisoformat(hit["ts"].replace("Z", "+00:00"))
    page = urlsplit(hit.get("dl") or "/")
    request = (page.path or "/") + (f"?{page.query}" if page.query else "")
    return (
        f'{hit.get("ip") or "-"} - - [{when:%d/%b/%Y:%H:%M:%S} +0000] "GET {_quoted(request)} HTTP/1.1" '
        f'200 43 "{_quoted(hit.get("dr") or "-")}" "{_quoted(hit.get("ua") or "-")}"\n'
    )


def _quoted(text: str) -> str:
    """Text safe inside a quoted field of the log (servers escape these the same way)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def combined_log(folder: Path, target: Path) -> Path:
    """The hits of ``folder``'s raw log files, in file order, as the combined log ``target`` (made once)."""
    if target.is_file():
        return target
    partial = target.with_name(f"{target.name}.partial")
    with open(partial, "w", encoding="utf-8") as out:
        for path in sorted(folder.glob("hits-*.jsonl")):
            with open(path, encoding="utf-8") as lines:
                out.writelines(combined_line(json.loads(line)) for line in lines)
    partial.rename(target)
    return target

"""The nginx variant of a raw hit line, and how the ETL turns it into the collector's hit.

When nginx collects (``crumby nginx-config``), it cannot parse a query string
or a JSON body, so it logs the request as it came, one JSON object per line
made by ``log_format ... escape=json``::

    {"v":1,"src":"nginx","kind":"gif","id":"<$request_id>","msec":"<$msec>","q":"<$args>",
     "ip":"…","xff":"…","ua":"…","referer":"…","lang":"…","cookieless":false,"proxies":0,"sites":""}

(``"kind":"post"`` lines carry ``ct`` and ``body`` instead of ``q``). The last
three fields are the install's settings, written into the log format, so a
line is judged by the settings it was collected under. :func:`hit_from_nginx`
applies the Python collector's rules (:mod:`crumby.hits`) and gives the same
hit, or raises :class:`~crumby.hits.HitError` with the reason the collector
would have answered with.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from . import hits

SOURCE = "nginx"
# Lines that may be nginx's: only those are read one by one and converted.
MARK = b'"src":"nginx"'
JSON_TYPES = ("application/json", "text/plain")
# The request headers nginx logs, and their names for the reason of a reject.
LOGGED_HEADERS = {
    "ua": "User-Agent",
    "referer": "Referer",
    "lang": "Accept-Language",
    "xff": "X-Forwarded-For",
}


def client_params(entry: dict[str, Any]) -> dict[str, Any]:
    """The hit's fields as the client sent them (query string or JSON body), checked as the collector does."""
    kind = entry.get("kind")
    if kind == "gif":
        query = _text(entry, "q")
        # counted as the body is: a lone surrogate (a \ud800 escape; nginx writes none) is left to the ETL's
        # check of the text it stores (a strict encode here raised UnicodeEncodeError: every load stopped)
        if len(query.encode("utf-8", "surrogatepass")) > hits.MAX_QUERY_BYTES:
            raise hits.HitError(f"query string longer than {hits.MAX_QUERY_BYTES} bytes")
        return hits.parse_query(query)
    if kind == "post":
        content_type = _text(entry, "ct").split(";", 1)[0].strip().lower()
        if content_type not in JSON_TYPES:
            raise hits.HitError("send the hit as application/json")
        body = _text(entry, "body").encode("utf-8", "surrogatepass")
        if len(body) > hits.MAX_BODY_BYTES:
            raise hits.HitError(f"body larger than {hits.MAX_BODY_BYTES} bytes")
        try:
            params = json.loads(body)
        except ValueError:
            raise hits.HitError("body is not valid JSON") from None
        except RecursionError:
            raise hits.HitError(hits.NESTED_TOO_DEEP) from None
        if not isinstance(params, dict):
            raise hits.HitError("body must be a JSON object")
        return params
    raise hits.HitError(f"unknown kind of nginx line {kind!r}")


def hit_from_nginx(entry: dict[str, Any]) -> dict[str, Any]:
    """The hit the Python collector would have written for this nginx line; raises HitError."""
    params = client_params(entry)
    for name, header in LOGGED_HEADERS.items():
        if len(_text(entry, name).encode("utf-8", "surrogatepass")) > hits.MAX_HEADER_BYTES:  # as sent
            raise hits.HitError(f"header {header} longer than {hits.MAX_HEADER_BYTES} bytes")
    fields = hits.client_fields(params, require_cid=entry.get("cookieless") is not True)
    sites = tuple(_text(entry, "sites").lower().split())
    if sites and not hits.site_allowed(fields["dl"], sites):
        raise hits.HitError("this site is not tracked here; add its host to SITES to accept its hits")
    try:
        when = datetime.fromtimestamp(float(_text(entry, "msec")), timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise hits.HitError("msec is not a time in seconds") from None
    proxies = entry.get("proxies")
    return hits.make_hit(
        fields,
        ip=hits.forwarded_client(
            _text(entry, "ip"), _text(entry, "xff"), proxies if isinstance(proxies, int) else 0
        ),
        ua=_text(entry, "ua"),
        referer=_text(entry, "referer"),
        lang=_text(entry, "lang"),
        hit_id=_text(entry, "id") or None,
        ts=hits.utc_timestamp(when),
    )


def parse_any_line(line: bytes) -> dict[str, Any]:
    """A raw line of either writer as a checked hit: nginx's converted, the collector's as it is."""
    if len(line) > hits.MAX_LINE_BYTES:
        raise hits.HitError(f"line longer than {hits.MAX_LINE_BYTES} bytes")
    try:
        entry = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise hits.HitError("not valid UTF-8") from None
    except ValueError:
        raise hits.HitError("not valid JSON") from None
    except RecursionError:
        raise hits.HitError(hits.NESTED_TOO_DEEP) from None
    if isinstance(entry, dict) and entry.get("src") == SOURCE:
        if not isinstance(entry.get("id"), str) or not entry["id"]:
            raise hits.HitError("id missing or not a string")
        entry = hit_from_nginx(entry)
    hits.check_hit(entry)
    return entry


def _text(entry: dict[str, Any], name: str) -> str:
    value = entry.get(name)
    return value if isinstance(value, str) else ""

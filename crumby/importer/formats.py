"""Access-log line formats: one line in, one :class:`Request` out (or :class:`LineError`).

- ``combined``: NCSA combined, nginx's default and Apache's ``combined``:
  ``%h %l %u [%t] "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`` (fields after these are ignored).
- ``common``: the Common Log Format, the same without Referer and User-Agent.
- ``apache``: Apache's ``vhost_combined``: ``%v:%p`` (the site's host and port) before ``combined``.
- ``nginx-json``: one JSON object per line, as a ``log_format ... escape=json`` writes it, with
  nginx's variable names as keys: ``time_iso8601`` (or ``time_local``, ``msec``), ``remote_addr``,
  ``request`` (or ``request_method`` and ``request_uri``), ``status``, ``http_referer``,
  ``http_user_agent`` and ``host`` (or ``http_host``, ``server_name``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

MONTHS = {
    name: number
    for number, name in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_QUOTED = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
_CLF = r"(\S+) \S+ \S+ \[([^\]]+)\] " + _QUOTED + r" (\d{3}) \S+"
PATTERNS = {
    "common": re.compile(_CLF),
    "combined": re.compile(_CLF + " " + _QUOTED + " " + _QUOTED),
    "apache": re.compile(r"(\S+?)(?::\d+)? " + _CLF + " " + _QUOTED + " " + _QUOTED),
}
CLF_TIME = re.compile(r"(\d\d)/(\w{3})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")
FORMATS = ("combined", "common", "nginx-json", "apache")
_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})|\\(.)")


class LineError(ValueError):
    """A line that is not in the format; the message says why."""


@dataclass
class Request:
    """What a page view needs from one access-log line."""

    time: str  # as logged: CLF (10/Oct/2000:13:55:36 -0700) when ``clf``, else already a raw hit's ts
    ip: str
    method: str
    target: str  # path and query, as requested
    status: int
    referer: str = ""
    ua: str = ""
    host: str = ""
    clf: bool = False


class HitTime:
    """A request's time as a raw hit's ``ts`` (UTC, ISO 8601, milliseconds); made only for page views."""

    def __init__(self) -> None:
        self.clf = ClfTime()

    def __call__(self, request: Request) -> str:
        return self.clf(request.time) if request.clf else request.time


class ClfTime:
    """``10/Oct/2000:13:55:36 -0700`` as ``2000-10-10T20:55:36.000Z``, cached: a log repeats each second."""

    def __init__(self) -> None:
        self._cache: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        found = self._cache.get(text)
        if found is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            found = self._cache[text] = clf_time(text)
        return found


def clf_time(text: str) -> str:
    if text[20:] == " +0000" and text[3:6] in MONTHS and len(text) == 26:  # UTC already: reorder the text
        return f"{text[7:11]}-{MONTHS[text[3:6]]:02d}-{text[0:2]}T{text[12:20]}.000Z"
    try:
        when = datetime(
            int(text[7:11]),
            MONTHS[text[3:6]],
            int(text[0:2]),
            int(text[12:14]),
            int(text[15:17]),
            int(text[18:20]),
        )
        sign = -1 if text[21] == "-" else 1
        offset = timedelta(hours=int(text[22:24]), minutes=int(text[24:26])) * sign
    except (KeyError, ValueError, IndexError):
        raise LineError(f"time {text!r} is not in the form 10/Oct/2000:13:55:36 -0700") from None
    try:
        when -= offset
    except OverflowError:  # year 1 less an offset, year 9999 plus one
        raise LineError(f"time {text!r} is out of range") from None
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def unescape(text: str) -> str:
    r"""A quoted field as the server meant it: ``\xHH`` bytes (nginx, Apache) and ``\"`` undone."""
    if "\\" not in text:
        return text
    raw = text.encode("utf-8", "surrogateescape")
    raw = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]) if m.group(1) else m.group(2), raw)
    return raw.decode("utf-8", "replace")


def split_request(request: str) -> tuple[str, str]:
    """``GET /path?q HTTP/1.1`` as method and target; anything else as ("", "")."""
    parts = request.split(" ")
    if len(parts) == 3 and parts[2].startswith("HTTP/"):
        return parts[0], parts[1]
    if len(parts) == 2:  # HTTP/0.9
        return parts[0], parts[1]
    return "", ""


def text_parser(name: str) -> Callable[[str], Request]:
    """The parser of one of the text formats (``combined``, ``common``, ``apache``)."""
    pattern = PATTERNS[name]
    with_host = name == "apache"

    def parse(line: str) -> Request:
        match = pattern.match(line)
        if match is None:
            raise LineError(f"not a {name} log line")
        fields = match.groups()
        host = ""
        if with_host:
            host, fields = fields[0], fields[1:]
        method, target = split_request(unescape(fields[2]))
        request = Request(fields[1], fields[0], method, target, int(fields[3]), host=host, clf=True)
        if len(fields) > 4:
            request.referer = "" if fields[4] == "-" else unescape(fields[4])
            request.ua = "" if fields[5] == "-" else unescape(fields[5])
        return request

    return parse


def _first(entry: dict, *names: str) -> str:
    for name in names:
        value = entry.get(name)
        if value not in (None, "", "-"):
            return str(value)
    return ""


def json_time(entry: dict) -> tuple[str, bool]:
    """The entry's time: as a raw hit's ts, or (when only ``time_local`` is there) as logged, in CLF."""
    if entry.get("msec"):
        try:
            when = datetime.fromtimestamp(float(entry["msec"]), timezone.utc)
        except (TypeError, ValueError, OverflowError, OSError):
            raise LineError("msec is not a time in seconds") from None
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z", False
    text = _first(entry, "time_iso8601", "@timestamp", "time")
    if text:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise LineError(f"time {text!r} is not ISO 8601") from None
        if when.tzinfo is None:
            raise LineError(f"time {text!r} has no time zone")
        try:
            when = when.astimezone(timezone.utc)
        except OverflowError:  # year 1 less an offset, year 9999 plus one
            raise LineError(f"time {text!r} is out of range") from None
        return when.strftime("%Y-%m-%dT%H:%M:%S.000Z"), False
    if entry.get("time_local"):
        return str(entry["time_local"]), True
    raise LineError("no time (time_iso8601, time_local or msec)")


def nginx_json_parser() -> Callable[[str], Request]:
    def parse(line: str) -> Request:
        try:
            entry = json.loads(line)
        except ValueError:
            raise LineError("not valid JSON") from None
        if not isinstance(entry, dict):
            raise LineError("not a JSON object")
        if entry.get("request_method"):
            method, target = str(entry["request_method"]), _first(entry, "request_uri", "uri")
        else:
            method, target = split_request(_first(entry, "request"))
        try:
            status = int(entry.get("status"))
        except (TypeError, ValueError, OverflowError):  # OverflowError: 1e400 is read as infinity
            raise LineError("no status") from None
        when, clf = json_time(entry)
        return Request(
            when,
            _first(entry, "remote_addr", "client_ip", "ip"),
            method,
            target,
            status,
            referer=_first(entry, "http_referer", "referer"),
            ua=_first(entry, "http_user_agent", "user_agent", "ua"),
            host=_first(entry, "host", "http_host", "server_name"),
            clf=clf,
        )

    return parse


def line_parser(name: str) -> Callable[[str], Request]:
    """A function that turns one line (without its newline) of format ``name`` into a Request."""
    if name == "nginx-json":
        return nginx_json_parser()
    if name in PATTERNS:
        return text_parser(name)
    raise ValueError(f"unknown access-log format {name!r}: use one of {', '.join(FORMATS)}")

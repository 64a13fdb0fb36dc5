"""The raw hit: what the collector writes and the ETL reads (contracts 1 and 2).

Standard library only: the collector imports this on every request and the
ETL uses the same names and limits to check what it reads back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote_plus, urlsplit

FORMAT_VERSION = 1
HIT_TYPES = ("visit", "event")

# Client fields of the tracking protocol (the original cmb.js's names) and the
# longest value kept for each; longer values are cut to the cap.
CLIENT_FIELD_CAPS: dict[str, int] = {
    "t": 16,  # hit type: visit or event
    "cid": 64,  # client id (the cid cookie)
    "ul": 64,  # user language
    "sd": 16,  # screen colour depth, e.g. 24-bit
    "sr": 32,  # screen resolution, e.g. 1920x1080
    "vp": 32,  # viewport size
    "de": 32,  # document encoding
    "dl": 2048,  # document location (URL)
    "dt": 512,  # document title
    "dr": 2048,  # document referrer
    "en": 128,  # event name
    "ev": 512,  # event value
}
PROPS_MAX_KEYS = 20
PROPS_KEY_CAP = 64
PROPS_VALUE_CAP = 256

# The tracking protocol's own version (the client's ``v``) is kept as ``pv``,
# since ``v`` on a log line is the log format's version.
PROTOCOL_VERSION_CAP = 8

# Request facts added by the collector, and their caps. ch_mobile and ch_platform are the client
# hints Sec-CH-UA-Mobile and Sec-CH-UA-Platform, which Chromium browsers send with every request.
SERVER_FIELD_CAPS: dict[str, int] = {
    "ip": 64,
    "ua": 1024,
    "referer": 2048,
    "lang": 256,
    "ch_mobile": 8,
    "ch_platform": 64,
}

# Request size limits; above them the collector answers 413/414/431 and writes nothing.
MAX_QUERY_BYTES = 8192
MAX_BODY_BYTES = 16384
MAX_HEADER_BYTES = 8192

# A line longer than this cannot have come from the collector: the ETL rejects it.
MAX_LINE_BYTES = 65536

FIELD_CAPS: dict[str, int] = {**CLIENT_FIELD_CAPS, "pv": PROTOCOL_VERSION_CAP, **SERVER_FIELD_CAPS}

REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {"visit": ("dl",), "event": ("dl", "en")}


NESTED_TOO_DEEP = "JSON nested too deep"


class HitError(ValueError):
    """A hit (from a client, or a line read back) that breaks the format; the message says how."""


FAILURE_TEXT_CAP = 200  # characters of an unexpected error's text kept in a reject's reason


def failure_reason(exc: Exception, doing: str = "convert") -> str:
    """A reject's reason for a line whose reading raised ``exc``, not HitError (a bug of crumby's): one
    line of text (rejects files are tab separated), whatever the error's message holds."""
    message = " ".join(str(exc).split())
    if len(message) > FAILURE_TEXT_CAP:
        message = message[: FAILURE_TEXT_CAP - 1] + "…"
    what = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    what = what.encode("utf-8", "backslashreplace").decode("utf-8")  # a lone surrogate is not written
    return f"crumby could not {doing} this line ({what}): please report it; the line is kept here"


def cap(value: Any, limit: int) -> str:
    """A client value as a string of at most ``limit`` characters."""
    text = value if isinstance(value, str) else str(value)
    return text[:limit] if len(text) > limit else text


def clean_props(props: Any) -> dict[str, str]:
    """Validate the optional flat ``props`` object and cap its keys and values."""
    if props is None:
        return {}
    if not isinstance(props, dict):
        raise HitError("props must be an object of string values")
    if len(props) > PROPS_MAX_KEYS:
        raise HitError(f"props may have at most {PROPS_MAX_KEYS} keys")
    cleaned = {}
    for key, value in props.items():
        if isinstance(value, (dict, list)):
            raise HitError("props values must be strings, numbers or booleans")
        cleaned[cap(key, PROPS_KEY_CAP)] = "" if value is None else cap(value, PROPS_VALUE_CAP)
    return cleaned


def client_fields(params: Mapping[str, Any], require_cid: bool = True) -> dict[str, Any]:
    """Check a hit as the client sent it and return its capped protocol fields.

    Unknown keys are dropped; a missing type, cid or URL, or an unknown type,
    raises :class:`HitError`.
    """
    hit_type = params.get("t")
    if hit_type not in HIT_TYPES:
        raise HitError(f"t must be one of {', '.join(HIT_TYPES)}")
    fields: dict[str, Any] = {}
    for name, limit in CLIENT_FIELD_CAPS.items():
        value = params.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, (dict, list)):
            raise HitError(f"{name} must be a string")
        fields[name] = cap(value, limit)
    version = params.get("v")
    fields["pv"] = (
        cap(version, PROTOCOL_VERSION_CAP) if isinstance(version, (str, int)) and version != "" else "1"
    )
    if require_cid and "cid" not in fields:
        raise HitError("cid is required")
    for name in REQUIRED_FIELDS[hit_type]:
        if name not in fields:
            raise HitError(f"{name} is required for a {hit_type} hit")
    props = clean_props(params.get("props"))
    if props:
        fields["props"] = props
    return fields


def parse_query(query: str) -> dict[str, str]:
    """The query's fields as ``dict(parse_qsl(query, keep_blank_values=True))`` gives them.

    Written out because it runs on every GIF hit, and on every nginx line the ETL reads: a value
    without escapes (most of them) is taken as it is instead of going through ``unquote``.
    """
    params = {}
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            if "%" in name or "+" in name:
                name = unquote_plus(name)
            if "%" in value or "+" in value:
                value = unquote_plus(value)
            params[name] = value
    return params


def forwarded_client(remote: str, forwarded_for: str, proxy_count: int) -> str:
    """The client address ``proxy_count`` trusted hops back in X-Forwarded-For.

    Each trusted proxy appends the address it received from; only the
    entries those proxies added can be believed, so the client is the one
    ``proxy_count`` places from the right end of the chain. A count below one trusts
    no proxy (an nginx line written with a negative count must not stop a load).
    """
    if proxy_count < 1:
        return remote
    route = [a.strip() for a in forwarded_for.split(",") if a.strip()] + [remote]
    return route[max(0, len(route) - 1 - proxy_count)]


def site_allowed(url: str, sites: tuple[str, ...]) -> bool:
    """Whether the page's host is in the allowlist (a listed domain admits its subdomains).

    A page whose URL has no host to read ("https://[::1/") is in no site: urlsplit's ValueError
    would have stopped every ETL run at an nginx line carrying one.
    """
    if not sites:
        return True
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return any(host == site or host.endswith("." + site) for site in sites)


def new_hit_id() -> str:
    """A unique hit id, made at collection; every later load is idempotent on it."""
    return uuid.uuid4().hex


def utc_timestamp(now: datetime | None = None) -> str:
    """The server's UTC time in ISO 8601 with milliseconds, e.g. 2026-11-27T21:00:00.123Z."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def make_hit(
    fields: Mapping[str, Any],
    *,
    ip: str,
    ua: str,
    referer: str,
    lang: str,
    hit_id: str | None = None,
    ts: str | None = None,
    ch_mobile: str = "",
    ch_platform: str = "",
) -> dict[str, Any]:
    """One raw hit: format version, id, time, the client's fields and the request facts."""
    hit: dict[str, Any] = {"v": FORMAT_VERSION, "id": hit_id or new_hit_id(), "ts": ts or utc_timestamp()}
    hit.update(fields)
    facts = (("ip", ip), ("ua", ua), ("referer", referer), ("lang", lang))
    for name, value in facts + (("ch_mobile", ch_mobile), ("ch_platform", ch_platform)):
        if value:
            hit[name] = cap(value, SERVER_FIELD_CAPS[name])
    return hit


def serialise(hit: Mapping[str, Any]) -> bytes:
    """One log line: compact UTF-8 JSON and a newline (JSON escapes any newline inside)."""
    return (json.dumps(hit, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def parse_line(line: bytes) -> dict[str, Any]:
    """Read one log line back, checking the format; raises :class:`HitError` with the reason."""
    if len(line) > MAX_LINE_BYTES:
        raise HitError(f"line longer than {MAX_LINE_BYTES} bytes")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise HitError("not valid UTF-8") from None
    try:
        hit = json.loads(text)
    except ValueError:
        raise HitError("not valid JSON") from None
    except RecursionError:
        raise HitError(NESTED_TOO_DEEP) from None
    check_hit(hit)
    return hit


def check_hit(hit: Any) -> None:
    """Check the shape of a parsed hit; raises :class:`HitError` with the reason."""
    if not isinstance(hit, dict):
        raise HitError("not a JSON object")
    if hit.get("v") != FORMAT_VERSION:
        raise HitError(f"unknown format version {hit.get('v')!r}")
    for name in ("id", "ts"):
        if not isinstance(hit.get(name), str) or not hit[name]:
            raise HitError(f"{name} missing or not a string")
    if len(hit["id"]) > 64:
        raise HitError("id longer than 64 characters")
    if hit.get("t") not in HIT_TYPES:
        raise HitError(f"t must be one of {', '.join(HIT_TYPES)}")
    for name, limit in FIELD_CAPS.items():
        value = hit.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise HitError(f"{name} is not a string of at most {limit} characters")
    props = hit.get("props")
    if props is not None and (
        not isinstance(props, dict)
        or len(props) > PROPS_MAX_KEYS
        or not all(isinstance(v, str) for v in props.values())
    ):
        raise HitError("props is not a flat object of strings")
    try:
        datetime.fromisoformat(hit["ts"].replace("Z", "+00:00"))
    except ValueError:
        raise HitError("ts is not an ISO 8601 time") from None

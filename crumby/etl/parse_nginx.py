"""nginx's lines of the tracker's beacons turned into the collector's hits, column by column.

Where nginx collects, each hit is a line of :mod:`crumby.nginx_hits`'s form,
and the tracker sends nearly all of them as a POST with a JSON body (the
beacon). Converted one line at a time (:func:`crumby.nginx_hits.parse_any_line`),
a million such lines loaded at 21,000 hits/s where the same hits as the
collector writes them loaded at 54,000 (bench/nginx.py). Here pyarrow reads
the lines, then the bodies they carry, and the collector's rules
(``client_fields``, ``make_hit``) run as vectorised compute: 39,000 hits/s.

Only the usual line takes this way: a beacon whose body is one JSON object
of text fields (the protocol version a number, an event's value maybe a whole
number), without line breaks and little nested. Its ``props``, when it has
some, whether the install's ``SITES`` admit its page, and its client's address
behind proxies are answered by the exact way's own functions (the last two
once per distinct value); a value one of them raises on (a bug of ours) leaves
its lines to the exact way. Every other line (a GIF, a body with other numbers, a
reject) is converted the exact way, which also gives a bad line its reason;
tests/test_etl_parse_nginx.py checks that both ways give the same hits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from ..hits import (
    CLIENT_FIELD_CAPS,
    HIT_TYPES,
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    PROTOCOL_VERSION_CAP,
    REQUIRED_FIELDS,
    SERVER_FIELD_CAPS,
    forwarded_client,
    site_allowed,
)
from ..nginx_hits import LOGGED_HEADERS, SOURCE

_TEXT = ("src", "kind", "id", "msec", "ct", "body", "ip", "xff", "ua", "referer", "lang", "sites")
LINE_SCHEMA = pa.schema(
    [(name, pa.string()) for name in _TEXT] + [("cookieless", pa.bool_()), ("proxies", pa.int64())]
)
BODY_SCHEMA = pa.schema(
    [("v", pa.int64()), ("props", pa.struct([]))] + [(name, pa.string()) for name in CLIENT_FIELD_CAPS]
)
_READ = pj.ReadOptions(block_size=1 << 20, use_threads=True)
_LINES = pj.ParseOptions(explicit_schema=LINE_SCHEMA, unexpected_field_behavior="ignore")
_BODIES = pj.ParseOptions(explicit_schema=BODY_SCHEMA, unexpected_field_behavior="ignore")
BEACON_TYPES = r"^(text/plain|application/json)(;[^\x00-\x1f]*)?$"
# Seconds with milliseconds, as nginx's $msec writes them. The exact way reads a float of it, which for
# times before 2242 (2^33 s) datetime.fromtimestamp rounds to the same millisecond; later times any way
# are refused as after tomorrow.
MSEC = r"^[1-8]?[0-9]{9}\.[0-9]{3}$"
# A body nested deeper may be too deep for Python's json (which refuses it): read the exact way. One
# shorter than SHALLOW_BYTES nests too little to be, and is not counted.
MAX_OPENINGS = 16
SHALLOW_BYTES = 512
# An event's value given as a whole number: the collector keeps str() of it, which is its JSON text.
WHOLE_EVENT_VALUE = r'"ev":(-?[1-9][0-9]*|0)([,}])'


def convert(block: pa.Buffer, count: int) -> tuple[dict[str, pa.Array], np.ndarray] | None:
    """The hit columns of ``count`` nginx lines and a mask of the lines converted here; None when
    pyarrow refuses the lines. A line outside the mask has nulls in every column.

    ``props`` is left to the caller: the column ``body`` holds the body of each converted line
    whose body has props (null for the others), from which the exact way's functions make it."""
    try:
        lines = pj.read_json(pa.BufferReader(block), read_options=_READ, parse_options=_LINES)
        lines.validate(full=True)
    except (pa.ArrowInvalid, UnicodeDecodeError, ValueError):
        return None
    if lines.num_rows != count:  # the reader skips blank lines: rows would slip off their lines
        return None
    rows = np.flatnonzero(_usual_beacon(lines))
    body = lines.column("body")
    bodies, read = _read_bodies(body if len(rows) == count else body.take(pa.array(rows)))
    rows = rows[read]
    if len(rows) < count:
        lines = lines.take(pa.array(rows))
    fields = {name: _client_value(bodies.column(name), limit) for name, limit in CLIENT_FIELD_CAPS.items()}
    usual = _follows_the_protocol(bodies, fields, lines.column("cookieless"))
    usual &= _site_allowed(fields["dl"], lines.column("sites"))
    addresses, found = _client_address(lines)
    usual &= found
    seconds, millis = _msec(lines.column("msec"))
    when = pa.array(seconds * 1000 + millis, pa.timestamp("ms", tz="UTC"))
    version = pc.utf8_slice_codeunits(pc.cast(bodies.column("v"), pa.string()), 0, PROTOCOL_VERSION_CAP)
    columns = {
        "id": lines.column("id"),
        "ts": _iso_text(when),
        **fields,
        "pv": pc.fill_null(version, "1"),
        "ip": _server_value(addresses, "ip"),
        **{name: _server_value(lines.column(name), name) for name in ("ua", "referer", "lang")},
        "datetime": pc.cast(when, pa.timestamp("us")),
        "body": pc.if_else(
            pc.is_valid(bodies.column("props")), lines.column("body"), pa.scalar(None, pa.string())
        ),
    }
    converted = np.zeros(count, bool)
    converted[rows[usual]] = True
    positions = np.full(count, -1)
    positions[rows[usual]] = np.flatnonzero(usual)
    spread = pa.array(positions, mask=positions < 0)
    return {name: _spread(column, spread) for name, column in columns.items()}, converted


def _usual_beacon(lines: pa.Table) -> np.ndarray:
    """Lines of a beacon whose body the bodies' read may take."""
    body = lines.column("body")
    usual = pc.and_kleene(pc.equal(lines.column("src"), SOURCE), pc.equal(lines.column("kind"), "post"))
    checks = [
        pc.match_substring_regex(lines.column("ct"), BEACON_TYPES),
        pc.greater(pc.binary_length(lines.column("id")), 0),
        pc.less_equal(pc.binary_length(body), MAX_BODY_BYTES),
        # one object, as JSON.stringify writes it: each body is then at least one row of the bodies' read,
        # and exactly one if it has no line break
        pc.starts_with(body, "{"),
        pc.ends_with(body, "}"),
        pc.invert(pc.match_substring_regex(body, "[\n\r]")),
        _shallow(body),
        pc.greater_equal(pc.fill_null(lines.column("proxies"), 0), 0),
        pc.match_substring_regex(lines.column("msec"), MSEC),
        *[
            pc.less_equal(pc.fill_null(pc.binary_length(lines.column(name)), 0), MAX_HEADER_BYTES)
            for name in LOGGED_HEADERS
        ],
    ]
    for check in checks:
        usual = pc.and_kleene(usual, check)
    return pc.fill_null(usual, False).to_numpy(zero_copy_only=False)


def _shallow(body: pa.ChunkedArray) -> pa.ChunkedArray:
    """Bodies that Python's json can read without going too deep: short ones, or with few brackets."""
    short = pc.less(pc.binary_length(body), SHALLOW_BYTES)
    if pc.all(short).as_py():
        return short
    return pc.or_kleene(short, pc.less_equal(pc.count_substring_regex(body, r"[\[{]"), MAX_OPENINGS))


def _read_bodies(bodies: pa.Array) -> tuple[pa.Table, np.ndarray]:
    """The bodies read against BODY_SCHEMA, and a mask of those read.

    A part pyarrow refuses (a field that is a number, say) is halved, down to
    single bodies, until as many parts were refused as one in 16 bodies: the
    rest is left to the exact way, which is then no slower than before.
    """
    if isinstance(bodies, pa.ChunkedArray):
        bodies = bodies.combine_chunks()
    valued = pc.match_substring(bodies, '"ev":')  # the rest are not looked at by the slower regex
    if pc.any(valued).as_py():
        quoted = pc.replace_substring_regex(bodies.filter(valued), WHOLE_EVENT_VALUE, r'"ev":"\1"\2')
        bodies = pc.replace_with_mask(bodies, valued, quoted)
    read = np.zeros(len(bodies), bool)
    parts: list[pa.Table] = []
    refusals = [len(bodies) // 16 + 16]

    def attempt(low: int, high: int) -> None:
        if low >= high or refusals[0] <= 0:
            return
        try:
            text = pa.BufferReader(_one_per_line(bodies.slice(low, high - low)))
            table = pj.read_json(text, read_options=_READ, parse_options=_BODIES)
            table.validate(full=True)
            if table.num_rows == high - low:
                parts.append(table)
                read[low:high] = True
                return
        except (pa.ArrowInvalid, UnicodeDecodeError, ValueError):
            pass
        refusals[0] -= 1
        if high - low > 1:
            middle = (low + high) // 2
            attempt(low, middle)
            attempt(middle, high)

    attempt(0, len(bodies))
    table = pa.concat_tables(parts) if parts else BODY_SCHEMA.empty_table()
    return table, read


def _one_per_line(texts: pa.Array) -> pa.Buffer:
    """``texts`` (none null) back to back, each ended by a newline, as one buffer."""
    ended = pc.binary_join_element_wise(texts, "\n", "")
    width = np.int64 if pa.types.is_large_string(ended.type) else np.int32
    offsets = np.frombuffer(
        ended.buffers()[1], width, len(ended) + 1, ended.offset * np.dtype(width).itemsize
    )
    return ended.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def _client_value(values: pa.ChunkedArray, limit: int) -> pa.Array:
    """A client field as ``client_fields`` keeps it: missing when empty, cut to its cap."""
    values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    return pc.utf8_slice_codeunits(values, 0, limit)


def _follows_the_protocol(bodies: pa.Table, fields: dict[str, pa.Array], cookieless: pa.ChunkedArray):
    """A mask of the bodies ``client_fields`` takes: a known type, its required fields, a cid unless
    cookieless."""
    hit_type = fields["t"]
    usual = pc.is_in(hit_type, pa.array(HIT_TYPES))
    needs_cid = pc.invert(pc.fill_null(pc.equal(cookieless, True), False))
    usual = pc.and_kleene(usual, pc.or_kleene(pc.invert(needs_cid), pc.is_valid(fields["cid"])))
    for kind, required in REQUIRED_FIELDS.items():
        for name in required:
            usual = pc.and_kleene(
                usual, pc.or_kleene(pc.not_equal(hit_type, kind), pc.is_valid(fields[name]))
            )
    return pc.fill_null(usual, False).to_numpy(zero_copy_only=False)


def _site_allowed(pages: pa.Array, sites: pa.ChunkedArray) -> np.ndarray:
    """A mask of the pages that the allowlist their line was collected under admits: ``site_allowed``
    itself, once per distinct page and allowlist."""
    sites = pc.fill_null(sites, "")
    if not pc.any(pc.not_equal(sites, "")).as_py():
        return np.ones(len(pages), bool)
    # one key per pair: the allowlist has no NUL (it would have come as \u0000, read the exact way)
    encoded = pc.dictionary_encode(pc.binary_join_element_wise(sites, pc.fill_null(pages, ""), "\x00"))
    encoded = _whole(encoded)
    answers = []
    for pair in encoded.dictionary.to_pylist():
        allowlist, _, page = pair.partition("\x00")
        hosts = tuple(allowlist.lower().split())
        answers.append(not hosts or _answer(site_allowed, page, hosts) is True)  # raised: the exact way
    return np.array(answers, bool)[encoded.indices.to_numpy(zero_copy_only=False)]


def _msec(msec: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Whole seconds and milliseconds of $msec values (every one of MSEC's form)."""
    parts = pc.split_pattern(msec, ".", max_splits=1)
    return tuple(
        pc.cast(pc.list_element(parts, n), pa.int64()).to_numpy(zero_copy_only=False) for n in (0, 1)
    )


def _iso_text(when: pa.Array) -> pa.Array:
    """Times (milliseconds, UTC) as ``utc_timestamp`` writes them: 2026-11-27T21:00:00.123Z."""
    text = pc.cast(
        pc.cast(when, pa.timestamp("ms")), pa.string()
    )  # 2026-11-27 21:00:00.123, 40x strftime's speed
    return pc.binary_join_element_wise(pc.replace_substring(text, " ", "T", max_replacements=1), "Z", "")


def _client_address(lines: pa.Table) -> tuple[pa.Array, np.ndarray]:
    """The client's address: nginx's own peer, or behind proxies ``forwarded_client`` itself, once per
    distinct peer, X-Forwarded-For and proxy count; and a mask of the lines it was found for."""
    proxies = pc.fill_null(lines.column("proxies"), 0)
    if not pc.any(pc.greater(proxies, 0)).as_py():
        return lines.column("ip"), np.ones(lines.num_rows, bool)
    # one key per triple: the addresses hold no NUL (it would have come as \u0000, read the exact way)
    parts = [
        pc.cast(proxies, pa.string()),
        pc.fill_null(lines.column("ip"), ""),
        pc.fill_null(lines.column("xff"), ""),
    ]
    encoded = _whole(pc.dictionary_encode(pc.binary_join_element_wise(*parts, "\x00")))
    answers = []
    for key in encoded.dictionary.to_pylist():
        count, remote, forwarded = key.split("\x00", 2)
        answers.append(_answer(forwarded_client, remote, forwarded, int(count)))
    found = np.array([answer is not None for answer in answers], bool)
    return (
        pa.array(answers, pa.string()).take(encoded.indices),
        found[encoded.indices.to_numpy(zero_copy_only=False)],
    )


def _answer(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)``, or None when it raises (a bug of ours, as an IndexError once was): the lines
    asking then go the exact way, which sets them aside with what was raised instead of stopping the
    whole batch here."""
    try:
        return function(*args)
    except MemoryError:
        raise
    except Exception:
        return None


def _server_value(values: pa.Array | pa.ChunkedArray, name: str) -> pa.Array:
    """A request fact as ``make_hit`` keeps it: only when not empty, cut to its cap."""
    values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    return pc.utf8_slice_codeunits(values, 0, SERVER_FIELD_CAPS[name])


def _whole(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _spread(column: pa.Array | pa.ChunkedArray, positions: pa.Array) -> pa.Array:
    column = _whole(column)
    if not len(column):
        return pa.nulls(len(positions), column.type)
    return column.take(positions)

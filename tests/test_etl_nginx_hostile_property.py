"""No nginx line can stop a load: hostile values in every field of nginx's form.

nginx writes the raw log as it got the request (:mod:`crumby.nginx_hits`); the ETL converts each
line, and a line it cannot convert must become a reject with a reason, never an error that stops
the run at that line for good. Two properties:

- one line at a time, the exact way: a line of nginx's form with any field missing, repeated,
  of the wrong JSON type, too long, or holding odd text (a query string with broken escapes,
  a body of any JSON or none, a time that is no time, a proxy count that is no count, any
  allowlist) gives :func:`~crumby.nginx_hits.parse_any_line` a hit that passes
  :func:`~crumby.hits.check_hit` (and a row the stores take, or a HitError), or a HitError;
- a raw log file of such lines, loaded twice by the real ETL into DuckDB: the run ends without an
  error, each line is stored once or rejected once with a reason (the exact way's, when it
  refuses the line), and the second run adds nothing.

``CRUMBY_HYPOTHESIS_EXAMPLES`` scales the examples; ``-m slow`` runs many more.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crumby.etl.enrich import Enricher
from crumby.etl.parse import SURROGATE_REASON, _hit_row
from crumby.etl.pipeline import run
from crumby.hits import (
    CLIENT_FIELD_CAPS,
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    MAX_LINE_BYTES,
    MAX_QUERY_BYTES,
    PROPS_MAX_KEYS,
    HitError,
    check_hit,
)
from crumby.nginx_hits import parse_any_line
from tests.conftest import make_settings
from tests.test_etl_hostile_property import (
    HOUR,
    LONE_SURROGATES,
    NESTED,
    SPECIAL_TEXT,
    Tally,
    _made,
    _rejects,
    _stored_ids,
    json_values,
    load_property,
)
from tests.test_etl_parse_nginx import MSEC, TEXT, VALUE, _beacon, _both_ways, body, usual_body

EXAMPLES = int(os.environ.get("CRUMBY_HYPOTHESIS_EXAMPLES", "10")) * 30
SLOW_EXAMPLES = int(os.environ.get("CRUMBY_HYPOTHESIS_SLOW_EXAMPLES", "150")) * 20
LOAD_EXAMPLES = max(1, EXAMPLES // 60)
SLOW_LOAD_EXAMPLES = max(1, SLOW_EXAMPLES // 75)
LATEST = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(days=1)

# -- values ---------------------------------------------------------------------------------

HUGE_NUMBERS = st.sampled_from(
    [10**30, -(10**30), 2**63, -(2**63) - 1, 2**64, 1e308, -1e308, float("inf"), float("-inf"), float("nan")]
)
# Anything but a string where nginx writes one: numbers, booleans, null, lists, objects.
NOT_TEXT = st.one_of(
    json_values.filter(lambda v: not isinstance(v, str)),
    HUGE_NUMBERS,
    st.lists(st.text(max_size=3), min_size=1, max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), min_size=1, max_size=2),
)
HOSTILE_TEXT = st.one_of(
    TEXT,
    st.sampled_from(SPECIAL_TEXT + LONE_SURROGATES),
    st.text(max_size=30),
)


class Picker:
    """Draws each field of a line: good, or bad when the line has it among its bad fields.

    Most lines have a field or two wrong, so that each wrong value goes as far as it can; some have
    none, some have many."""

    def __init__(self, draw, names: tuple[str, ...]) -> None:
        self.draw = draw
        many = draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3, len(names)]))
        self.bad = set(draw(st.permutations(names))[:many])

    def __call__(self, name: str, good: st.SearchStrategy, bad: st.SearchStrategy):
        return self.draw(bad if name in self.bad else good)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# $msec as nginx writes it, and text a float() may or may not take.
ODD_MSEC = [
    "",
    "nan",
    "NaN",
    "-nan",
    "inf",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1.7723232e9",
    "1772323200.344e0",
    "-1.000",
    "0.000",
    "-62135596800.000",
    "-62135596801.000",
    "253402300799.999",
    "253402300800.000",
    "9" * 400,
    "1_772_323_200.344",
    " 1772323200.344 ",
    "0x10",
    "\u0661\u0667\u0667\u0662\u0663\u0662\u0663\u0662\u0660\u0660",  # Arabic-Indic digits: float() reads them
    "1772323200.344\x00",
    "1772323200.344\ud800",
]
MSEC_TEXT = st.one_of(
    st.sampled_from(ODD_MSEC),
    st.floats().map(repr),
    st.integers().map(str),
    st.text(alphabet="0123456789.-+eE", max_size=14),
    HOSTILE_TEXT,
)

# Query strings: the tracker's fields, escapes broken in each way, repeated keys, NUL, surrogates.
QUERY_KEYS = st.one_of(
    st.sampled_from([*CLIENT_FIELD_CAPS, "v", "props", "", "%74", "t%00", "%", "T", "t ", "cid+"]),
    st.text(max_size=4),
)
QUERY_VALUES = st.one_of(
    st.sampled_from(
        [
            "visit",
            "event",
            "https%3A%2F%2Fexample.com%2F",
            "%",
            "%z",
            "%zz",
            "%0",
            "%00",
            "%ED%A0%80",
            "%FF%FE",
            "%C3",
            "+",
            "%2B",
            "\x00",
            "x" * 3000,
            "%" * 3000,
        ]
    ),
    st.sampled_from(LONE_SURROGATES),
    st.text(alphabet="%+&=0aAfFzZ\x00\ud800\udfffé🫖", max_size=10),
    HOSTILE_TEXT,
)
QUERY_PART = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", QUERY_KEYS, QUERY_VALUES),
    QUERY_KEYS,
    st.sampled_from(["t=visit", "t=event", "cid=c1", "dl=https%3A%2F%2Fexample.com%2F", "en=e", "=", "&"]),
)
GOOD_QUERY = "t=visit&cid=c1&dl=https%3A%2F%2Fexample.com%2Fa&dt=A%20page&v=1"
QUERY = st.one_of(
    st.lists(QUERY_PART, max_size=8).map("&".join),
    st.lists(QUERY_PART, max_size=6).map(lambda parts: "&".join([GOOD_QUERY, *parts])),
    st.sampled_from(
        [
            "x" * (MAX_QUERY_BYTES + 1),
            GOOD_QUERY + "&dt=" + "é" * (MAX_QUERY_BYTES // 2),  # under the cap in characters, not bytes
            GOOD_QUERY + "&t=visit&t=event&t=",
        ]
    ),
    HOSTILE_TEXT,
)

GOOD_BODY = st.builds(
    lambda t, title, props: json.dumps(
        {"v": 1, "t": t, "cid": "c1", "dl": "https://example.com/a", "en": "signup", "dt": title, **props},
        ensure_ascii=False,
        separators=(",", ":"),
    ),
    st.sampled_from(["visit", "event"]),
    TEXT,
    st.sampled_from([{}, {}, {"props": {"plan": "pro", "seats": 3}}]),
)
CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "text/plain;charset=UTF-8",
            "application/json",
            "Application/JSON ; charset=latin-1",
            "text/plain;",
            ";",
            "text/html",
            "",
            "text/plain\x00",
            "application/json\ud800",
        ]
    ),
    HOSTILE_TEXT,
)

# props of every kind: none, flat, too many keys, nested, of the wrong type, odd keys and numbers.
PROPS = st.one_of(
    st.none(),
    st.dictionaries(HOSTILE_TEXT, st.one_of(HOSTILE_TEXT, VALUE, HUGE_NUMBERS), max_size=4),
    st.dictionaries(st.text(max_size=3), json_values, min_size=1, max_size=3),
    st.just({str(n): "v" for n in range(PROPS_MAX_KEYS + 1)}),
    st.just({"deep": json.loads(_nested(50))}),
    json_values,
    HUGE_NUMBERS,
)


@st.composite
def tracker_fields(draw) -> dict:
    """A beacon's fields: the tracker's, some of another type, past their cap, odd or missing."""
    pick = Picker(draw, ("v", *CLIENT_FIELD_CAPS, "props", "missing"))
    fields = {
        "v": pick("v", st.just(1), st.one_of(json_values, HUGE_NUMBERS)),
        "t": pick("t", st.sampled_from(["visit", "event"]), st.one_of(HOSTILE_TEXT, NOT_TEXT)),
        "cid": "c1",
        "dl": "https://example.com/a",
        "en": "signup",
    }
    for name in CLIENT_FIELD_CAPS:
        if name in pick.bad:
            fields[name] = draw(
                st.one_of(
                    HOSTILE_TEXT, NOT_TEXT, VALUE, st.just("z" * (CLIENT_FIELD_CAPS[name] + 1)), st.none()
                )
            )
    if "props" in pick.bad or draw(st.integers(0, 3)) == 0:
        fields["props"] = pick("props", st.dictionaries(TEXT, TEXT, max_size=3), PROPS)
    if "missing" in pick.bad:
        fields.pop(draw(st.sampled_from(sorted(fields))))
    return fields


@st.composite
def hostile_body(draw) -> str:
    """A POST body: the tracker's with hostile fields, JSON of any shape, or no JSON at all."""
    shape = draw(st.integers(0, 9))
    if shape <= 3:
        fields = draw(tracker_fields())
        text = json.dumps(fields, ensure_ascii=draw(st.booleans()), separators=(",", ":"))
        if draw(st.integers(0, 4)) == 0:  # a duplicate key: the last one counts
            text = text[:-1] + "," + json.dumps(draw(st.sampled_from(["t", "cid", "props", "v"])))
            text += ":" + json.dumps(draw(st.one_of(HOSTILE_TEXT, NOT_TEXT, PROPS))) + "}"
        return text
    if shape == 4:
        return draw(body())
    if shape == 5:
        return draw(usual_body())
    if shape == 6:
        return json.dumps(draw(st.one_of(json_values, HUGE_NUMBERS, PROPS)))
    if shape == 7:  # nested: a little, near Python's limit, past it; as the body or as a field's value
        depth = draw(st.sampled_from([30, 200, 900, 990, 1100, 5000]))
        if draw(st.booleans()):
            return _nested(depth)
        name = draw(st.sampled_from(["t", "dl", "v", "props", "x"]))
        return '{"t":"visit","cid":"c","dl":"https://example.com/",' + f'"{name}":{_nested(depth)}}}'
    if shape == 8:  # too large, or huge numbers JSON can write
        return draw(
            st.sampled_from(
                [
                    '{"t":"visit","cid":"c","dl":"https://example.com/","dt":"' + "x" * MAX_BODY_BYTES + '"}',
                    '{"t":"visit","cid":"c","dl":"https://example.com/","v":' + "9" * 5000 + "}",
                    '{"t":"visit","cid":"c","dl":"https://example.com/","ev":1e999,"sd":-0.0}',
                    '{"t":"visit","cid":"c","dl":"https://example.com/","ev":NaN,"sr":Infinity}',
                    '{"t":"event","cid":"c","dl":"https://example.com/","en":"e","ev":' + "1" * 4400 + "}",
                ]
            )
        )
    return draw(HOSTILE_TEXT)


# -- lines ----------------------------------------------------------------------------------

NGINX_FIELDS = ("v", "src", "kind", "id", "msec", "q", "ct", "body", "ip", "xff", "ua", "referer", "lang")


@st.composite
def hostile_entry(draw, msec: float = MSEC) -> dict:
    """nginx's fields for one line, some of them hostile (``msec``: the time of a good one)."""
    # the fields the exact way reads with more than a look, twice as often
    twice = ("msec", "proxies", "sites")
    pick = Picker(draw, (*NGINX_FIELDS, *twice, "ct", "cookieless", "missing", "extra"))
    kind = pick(
        "kind",
        st.sampled_from(["post", "gif"]),
        st.one_of(st.sampled_from(["GIF", "Post", "gif ", "", "other"]), HOSTILE_TEXT, NOT_TEXT),
    )
    entry = {
        "v": pick("v", st.just(1), st.one_of(json_values, HUGE_NUMBERS)),
        "src": pick("src", st.just("nginx"), st.sampled_from(["nginx", "nginx", "python", "NGINX", 1])),
        "kind": kind,
        "id": pick(
            "id",
            st.text("0123456789abcdef", min_size=32, max_size=32),
            st.one_of(st.sampled_from(["", "x" * 64, "x" * 65]), HOSTILE_TEXT, NOT_TEXT),
        ),
        "msec": pick(
            "msec",
            st.integers(0, 3_600_000).map(lambda ms: f"{msec + ms / 1000:.3f}"),
            st.one_of(MSEC_TEXT, NOT_TEXT),
        ),
    }
    # the client's payload is odd more often than the rest: it is where the client has a say
    if draw(st.booleans()):
        pick.bad.update(("q", "body"))
    if kind == "gif" or "q" in pick.bad:
        entry["q"] = pick("q", st.just(GOOD_QUERY), st.one_of(QUERY, QUERY, NOT_TEXT))
    if kind != "gif" or "ct" in pick.bad or "body" in pick.bad:
        entry["ct"] = pick("ct", st.just("text/plain;charset=UTF-8"), st.one_of(CONTENT_TYPES, NOT_TEXT))
        entry["body"] = pick("body", GOOD_BODY, st.one_of(hostile_body(), hostile_body(), NOT_TEXT))
    for name in ("ip", "xff", "ua", "referer", "lang"):
        entry[name] = pick(
            name,
            st.sampled_from(["", f"ok {name}", "203.0.113.9"]),
            st.one_of(
                HOSTILE_TEXT,
                NOT_TEXT,
                st.just("y" * (MAX_HEADER_BYTES + 1)),
                st.just("é" * (MAX_HEADER_BYTES // 2 + 1)),  # past the cap in bytes, not characters
                st.sampled_from(["198.51.100.1, 203.0.113.5", " , ,", ",", "a,b,,c, ", "unknown"]),
            ),
        )
    entry["cookieless"] = pick(
        "cookieless",
        st.booleans(),
        st.one_of(st.sampled_from([None, "true", 1, 0, "yes", [True]]), json_values),
    )
    entry["proxies"] = pick(
        "proxies",
        st.sampled_from([0, 0, 1, 2]),
        st.one_of(
            st.sampled_from([-1, -(10**30), 10**30, 2**63, True, False, "1", "-1", 1.0, 1.5, -0.0, None]),
            st.integers(),
            HUGE_NUMBERS,
            json_values,
        ),
    )
    entry["sites"] = pick(
        "sites",
        st.sampled_from(["", "", "example.com", " Example.COM  other.org "]),
        st.one_of(
            st.sampled_from(
                [
                    "https://[::1/",
                    "[::1",
                    "example.com:8080",
                    ".",
                    "..",
                    "\u2003",
                    "exa\x00mple.com",
                    "EXAMPLE.COM\ud800",
                    "\u0130",  # "İ": lower() makes it two characters
                    "%zz",
                    "//example.com",
                ]
            ),
            HOSTILE_TEXT,
            NOT_TEXT,
        ),
    )
    if "missing" in pick.bad:
        for name in draw(st.lists(st.sampled_from(sorted(entry)), min_size=1, max_size=3)):
            entry.pop(name, None)
    if "extra" in pick.bad:
        entry[draw(st.text(max_size=4))] = draw(json_values)  # a field nginx's form does not have
    return entry


@st.composite
def hostile_line(draw, msec: float = MSEC, unique: str | None = None) -> bytes:
    """One line of nginx's form, without its newline; ``unique`` ends a string id, so no two lines
    of a file share one."""
    entry = draw(hostile_entry(msec))
    if unique is not None and isinstance(entry.get("id"), str):
        entry["id"] = entry["id"][:40] + unique
    ascii_only = draw(st.booleans())  # a lone surrogate as \ud800, or as bytes no UTF-8 has
    texts = [name for name, value in entry.items() if isinstance(value, str)]
    surrogate = draw(st.sampled_from([None, None, "\ud800", "\udc00"]))
    if texts and surrogate:  # text that is not text, in any field: the client's payload most often
        name = draw(st.sampled_from([n for n in ("q", "body") if n in texts] * 3 + texts))
        at = draw(st.integers(0, len(entry[name])))
        entry[name] = entry[name][:at] + surrogate + entry[name][at:]
        ascii_only = True  # written as the escape \ud800: as raw bytes it is only invalid UTF-8
    text = json.dumps(entry, ensure_ascii=ascii_only, separators=(",", ":"))
    if draw(st.integers(0, 9)) == 0:  # a field twice: json keeps the last, so may the ETL
        name = draw(st.sampled_from([n for n in NGINX_FIELDS if unique is None or n != "id"]))
        value = draw(st.one_of(HOSTILE_TEXT, NOT_TEXT, st.just(entry.get(name))))
        text = text[:-1] + "," + json.dumps(name) + ":" + json.dumps(value, ensure_ascii=ascii_only) + "}"
    shape = draw(st.sampled_from(["plain"] * 20 + ["deep", "bom", "two", "long"]))
    if shape == "deep":  # nested too deep for Python's json, or nearly so
        text = text[:-1] + ',"x":' + draw(st.sampled_from([NESTED, _nested(990)])) + "}"
    elif shape == "bom":
        text = "\ufeff" + text
    elif shape == "two":
        text = text + " " + text
    elif shape == "long":
        text = text[:-1] + ',"pad":"' + "p" * MAX_LINE_BYTES + '"}'
    return text.encode("utf-8", "surrogatepass")


# -- one line, the exact way -----------------------------------------------------------------


def _reason(exc: HitError) -> str:
    """The reject's reason, which must fit in one field of a line of the rejects file."""
    reason = str(exc)
    assert reason.strip(), "a reject needs a reason"
    assert not set(reason) & {"\t", "\n", "\r"}, reason
    reason.encode("utf-8")  # the rejects file is UTF-8: a lone surrogate would stop the run there
    return reason


def check_line(line: bytes) -> str:
    """The line's outcome: "hit" (a checked hit and a stored row), or the HitError's reason."""
    try:
        hit = parse_any_line(line)
    except HitError as exc:
        return _reason(exc)
    assert isinstance(hit, dict)
    check_hit(hit)
    try:
        _hit_row(hit, LATEST)  # what the ETL stores of it, as parse_one makes it
    except HitError as exc:
        return _reason(exc)
    return "hit"


def _each_line(examples: int):
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(line=hostile_line())
    def test(line):
        check_line(line)

    return test


test_any_nginx_line_gives_a_checked_hit_or_a_hit_error = _each_line(EXAMPLES)
test_many_more_nginx_lines_give_a_checked_hit_or_a_hit_error = pytest.mark.slow(_each_line(SLOW_EXAMPLES))


# -- a file of them, loaded --------------------------------------------------------------------


@st.composite
def hostile_log(draw) -> list[bytes]:
    """Lines for one hour's log: times in that hour when good, ids unique."""
    prefix = uuid.uuid4().hex[:8]
    count = draw(st.integers(20, 40))
    return [draw(hostile_line(HOUR.timestamp(), unique=f"-{prefix}-{n}")) for n in range(count)]


def _stored_id(line: bytes) -> str | None:
    """The hit id the line's hit would be stored with, as nginx's line gives it."""
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        return None
    return entry["id"].replace("\x00", "")


def _without_value(reason: str) -> str:
    """A reason without the value it quotes, so that the tally counts such rejects together."""
    for quoting in ("unknown kind of nginx line", "unknown format version"):
        if reason.startswith(quoting):
            return quoting
    return reason


def check_load(tmp_path: Path, url: str, enricher: Enricher, lines: list[bytes], tally: Tally) -> None:
    folder = tmp_path / uuid.uuid4().hex
    logs, rejects = folder / "logs", folder / "rejects"
    logs.mkdir(parents=True)
    path = logs / f"hits-{HOUR:%Y%m%d%H}-nginx_{folder.name[:8]}.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    os.utime(path, (HOUR.timestamp(), HOUR.timestamp()))
    site = make_settings(tmp_path, LOG_DIR=logs, REJECTS_DIR=rejects, SQLALCHEMY_DATABASE_URI=url)
    before, _ = _stored_ids(url)

    first = run(site, enricher=enricher)  # raises on any failure: the run must end well

    stored, load_count = _stored_ids(url)
    reasons = dict(_rejects(rejects))
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    assert len(reasons) == len(_rejects(rejects)), "a line rejected twice"
    assert set(reasons) <= set(offsets[:-1]), "a reject at no line's start"
    kept = [
        _stored_id(line) for offset, line in zip(offsets[:-1], lines, strict=True) if offset not in reasons
    ]
    assert stored - before == Counter(kept), "each line not rejected is stored once, under its id"
    assert (first.hits, first.rejected) == (len(kept), len(reasons))
    assert all(reason.strip() for reason in reasons.values())
    for offset, line in zip(offsets[:-1], lines, strict=True):
        try:
            parse_any_line(line)
        except HitError as exc:  # a line the exact way refuses: rejected, with its reason
            assert reasons.get(offset) == str(exc), line

    second = run(site, enricher=enricher)
    assert (second.hits, second.rejected, second.load_id) == (0, 0, None)
    assert _stored_ids(url) == (stored, load_count)
    assert len(_rejects(rejects)) == len(reasons)
    tally.add(len(kept), [_without_value(reason) for reason in reasons.values()])


def _loads(examples: int):
    return load_property(examples, hostile_log(), check_load)


def test_hostile_nginx_lines_never_stop_a_load(tmp_path, enricher):
    tally = Tally()
    _loads(LOAD_EXAMPLES)(tmp_path, _made(f"duckdb:///{tmp_path / 'store.duckdb'}"), enricher, tally)
    tally.print("duckdb")
    assert tally.outcomes["loaded"] and len(tally.outcomes) > 3  # both kinds of line were tried


@pytest.mark.slow
def test_many_more_hostile_nginx_lines_never_stop_a_load(tmp_path, enricher):
    tally = Tally()
    _loads(SLOW_LOAD_EXAMPLES)(tmp_path, _made(f"duckdb:///{tmp_path / 'store.duckdb'}"), enricher, tally)
    tally.print("duckdb")


# -- what the properties found -----------------------------------------------------------------


def _gif_line(n: int, query: str) -> bytes:
    """A GIF hit's line as nginx writes it, with the query given (any \\ud800 as JSON writes it)."""
    entry = json.loads(_beacon(n))
    del entry["ct"], entry["body"]
    entry.update(kind="gif", q=query)
    return json.dumps(entry, separators=(",", ":")).encode() + b"\n"


def test_a_lone_surrogate_in_a_gif_query_is_refused_as_not_text_and_does_not_stop_the_load(
    tmp_path, monkeypatch
):
    """A \\ud800 escape in "q" (nginx writes none; a line made by hand) raised UnicodeEncodeError
    when the query's bytes were counted: every run stopped at that line. It is counted as a body's
    is; a page that is not text is refused as such, and one the hit drops does not matter."""
    page = "dl=https%3A%2F%2Fexample.com%2F"
    with pytest.raises(HitError, match="^t must be one of visit, event$"):
        parse_any_line(_gif_line(1, "\ud800").rstrip(b"\n"))
    lines = [
        _gif_line(1, f"t=visit&cid=c1&{page}\ud800"),
        _gif_line(2, f"t=visit&cid=c2&{page}&x=\ud800"),
        _beacon(3),
    ]
    columns, exact = _both_ways(tmp_path, lines, monkeypatch)
    assert columns == exact
    hits, rejects = columns
    assert [hit["id"] for hit in hits] == [f"{2:032x}", f"{3:032x}"]
    assert [reason for _, reason in rejects] == [SURROGATE_REASON]

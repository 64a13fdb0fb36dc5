"""nginx's lines read column by column give the hits that the exact way gives, line by line.

Each Hypothesis example is a chunk of nginx lines (beacons and GIFs, good and bad: bodies with
numbers, props, nesting, control characters or duplicate keys, fields past their caps, missing
cid, odd content types and times, proxies and allowlists). It is parsed as the ETL parses it, and
again with the column-wise conversion refused, so that every line takes the exact way
(:func:`crumby.nginx_hits.parse_any_line`): the hits, their order and the rejects with their
reasons must be the same. ``CRUMBY_HYPOTHESIS_EXAMPLES`` scales the examples; ``-m slow`` runs more.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crumby.etl import parse as parse_module
from crumby.etl.extract import iter_chunks, iter_log_files
from crumby.etl.parse import parse_chunks
from crumby.etl.parse_nginx import convert
from crumby.hits import CLIENT_FIELD_CAPS

EXAMPLES = int(os.environ.get("CRUMBY_HYPOTHESIS_EXAMPLES", "10")) * 10
SLOW_EXAMPLES = int(os.environ.get("CRUMBY_HYPOTHESIS_SLOW_EXAMPLES", "150")) * 10
MSEC = 1772323200.344  # 2026-03-01, inside the times any store takes

TEXT = st.one_of(
    st.sampled_from(
        ["", "a", "visit", "event", "https://example.com/a?b=c", "Un billet — été 🫖", "x" * 3000]
    ),
    st.sampled_from(
        ["https://www.example.com/", "http://user@EXAMPLE.com:8080/x", "https://notexample.com/"]
    ),
    st.sampled_from(
        [
            "https://other.org.evil/",
            "//example.com/",
            "https://[::1]/",
            "https://[::1/",
            "https://sub.other.org/p",
        ]
    ),
    st.text(max_size=20),
    st.text(alphabet="ab\t\x00\\\"'{}[]%+é🫖", max_size=12),
)
VALUE = st.one_of(TEXT, st.integers(-5, 10**20), st.floats(allow_nan=False), st.booleans(), st.none())


@st.composite
def body(draw) -> str:
    """A beacon's body: mostly the tracker's, sometimes anything."""
    fields = {"v": draw(st.sampled_from([1, 1, 1, 2, "1", None, 1.5, True]))}
    fields["t"] = draw(st.sampled_from(["visit", "visit", "event", "pageview", ""]))
    for name in CLIENT_FIELD_CAPS:
        if name != "t" and draw(st.integers(0, 3)):
            fields[name] = draw(VALUE if draw(st.integers(0, 12)) == 0 else TEXT)
    if draw(st.integers(0, 5)) == 0:
        fields["props"] = draw(st.one_of(st.none(), st.dictionaries(TEXT, TEXT, max_size=3), VALUE))
    if draw(st.integers(0, 5)) == 0:
        fields[draw(TEXT)] = draw(st.one_of(VALUE, st.lists(VALUE, max_size=2)))
    text = json.dumps(fields, ensure_ascii=draw(st.booleans()), separators=(",", ":"))
    shape = draw(st.integers(0, 12))
    if shape == 0:
        text = json.dumps(fields, indent=1)  # newlines inside
    elif shape == 1:
        text = text[:-1] + ',"t":"event"}'  # a duplicate key
    elif shape == 2:
        text = text + " x"
    elif shape == 3:
        text = (
            "[" * 40 + "]" * 40
            if draw(st.booleans())
            else text.replace("{", '{"n":' + "[" * 30 + "]" * 30 + ",", 1)
        )
    elif shape == 4:
        text = draw(TEXT)
    elif shape == 6:
        text = draw(st.sampled_from(["\ufeff", " ", "", "{} "])) + text  # a BOM, space, two objects
    elif shape == 7:
        text = ""
    elif shape == 5:
        text = text.replace('":"', '":"\t', 1).replace('":"', '":"\n', 1)  # raw control characters
    return text


@st.composite
def usual_body(draw) -> str:
    """What the tracker sends: text fields (any text, past its cap or empty), sometimes a whole-number
    event value."""
    fields = {"v": 1, "t": draw(st.sampled_from(["visit", "event"]))}
    for name in CLIENT_FIELD_CAPS:
        if name != "t" and draw(st.integers(0, 3)):
            fields[name] = draw(TEXT)
    if draw(st.integers(0, 4)) == 0:
        fields["ev"] = draw(st.integers(-(10**20), 10**20))
    if draw(st.integers(0, 3)) == 0:
        fields["props"] = draw(
            st.dictionaries(TEXT, st.one_of(TEXT, VALUE, st.lists(TEXT, max_size=1)), max_size=22)
        )
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


@st.composite
def nginx_line(draw) -> bytes:
    """Half the time the usual beacon; else anything nginx's form allows, and some it does not."""
    if draw(st.booleans()):
        entry = {
            "v": 1,
            "src": "nginx",
            "kind": "post",
            "id": draw(st.text("0123456789abcdef", min_size=32, max_size=32)),
        }
        entry["msec"] = f"{MSEC + draw(st.integers(0, 86_400_000)) / 1000:.3f}"
        entry["ct"] = draw(st.sampled_from(["text/plain;charset=UTF-8", "application/json"]))
        entry["body"] = draw(usual_body())
        for name in ("ip", "xff", "ua", "referer", "lang"):
            entry[name] = draw(st.one_of(st.just(""), TEXT))
        sites = draw(st.sampled_from(["", "", "example.com", " Example.COM  other.org ", "\u2003"]))
        if draw(st.booleans()):
            entry["xff"] = draw(st.sampled_from(["198.51.100.1, 203.0.113.5", " 192.0.2.9 ,,", "unknown"]))
        entry.update(cookieless=draw(st.booleans()), proxies=draw(st.sampled_from([0, 0, 1, 2])), sites=sites)
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        return line.encode("utf-8", "surrogatepass") + b"\n"
    kind = draw(st.sampled_from(["post", "post", "post", "gif", "other"]))
    entry = {"v": 1, "src": draw(st.sampled_from(["nginx", "nginx", "nginx", "python"])), "kind": kind}
    entry["id"] = draw(
        st.sampled_from([draw(st.text("0123456789abcdef", min_size=32, max_size=32)), "", "x" * 70])
    )
    seconds = draw(st.sampled_from([MSEC, MSEC + 0.0005, 946684799.999, 8589934591.5, 4102444800.0, 1e11]))
    entry["msec"] = draw(
        st.sampled_from(
            [f"{seconds + draw(st.integers(0, 86_400)):.3f}", "", "1772323200", "-1.000", "x.y", "0.000"]
        )
    )
    if kind == "gif":
        entry["q"] = draw(st.sampled_from(["t=visit&cid=1&dl=https%3A%2F%2Fexample.com%2F", "t=visit", ""]))
    else:
        entry["ct"] = draw(
            st.sampled_from(
                [
                    "text/plain;charset=UTF-8",
                    "application/json",
                    "text/plain; charset=utf-8",
                    "text/html",
                    "",
                    "Text/Plain",
                ]
            )
        )
        entry["body"] = draw(body())
    for name in ("ip", "xff", "ua", "referer", "lang"):
        entry[name] = draw(
            st.one_of(TEXT, st.just("y" * 9000)) if draw(st.integers(0, 4)) == 0 else st.just("ok " + name)
        )
    entry["cookieless"] = draw(st.sampled_from([False, False, True, None, "yes"]))
    entry["proxies"] = draw(st.sampled_from([0, 0, 0, 1, 3, -1, None, True, "1"]))
    entry["sites"] = draw(st.sampled_from(["", "", "", "example.com", None]))
    if draw(st.integers(0, 20)) == 0:
        entry.pop(draw(st.sampled_from(sorted(entry))))
    line = json.dumps(entry, ensure_ascii=draw(st.integers(0, 9)) == 0, separators=(",", ":"))
    return line.encode("utf-8", "surrogatepass") + b"\n"


def _parsed(folder: Path):
    chunks = [chunk for f in iter_log_files(folder) for chunk in iter_chunks(f, 0, 1 << 20)]
    parsed = parse_chunks(chunks)
    return parsed.hits.to_pylist(), [(r.offset, r.reason) for r in parsed.rejects]


def _both_ways(tmp_path: Path, lines: list[bytes], monkeypatch):
    folder = tmp_path / "logs"
    folder.mkdir(exist_ok=True)
    (folder / "hits-2026030100-w1.jsonl").write_bytes(b"".join(lines))
    columns = _parsed(folder)
    with monkeypatch.context() as patched:
        patched.setattr(parse_module, "convert", lambda block, count: None)
        exact = _parsed(folder)
    return columns, exact


def _check(tmp_path, lines, monkeypatch):
    columns, exact = _both_ways(tmp_path, lines, monkeypatch)
    assert columns[1] == exact[1]
    assert columns[0] == exact[0]


def _equal_both_ways(examples: int, most_lines: int):
    """A property test: chunks of up to ``most_lines`` lines parse alike both ways."""

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(lines=st.lists(nginx_line(), min_size=1, max_size=most_lines))
    def test(tmp_path_factory, lines):
        tmp_path = tmp_path_factory.mktemp("nginx")
        with pytest.MonkeyPatch.context() as monkeypatch:
            _check(tmp_path, lines, monkeypatch)

    return test


test_nginx_lines_read_by_column_equal_the_exact_way = _equal_both_ways(EXAMPLES, 40)
test_many_nginx_lines_read_by_column_equal_the_exact_way = pytest.mark.slow(
    _equal_both_ways(SLOW_EXAMPLES, 80)
)


def _beacon(n: int, sites: str = "", **fields) -> bytes:
    body = {"v": 1, "t": "visit", "cid": f"c{n}", "dl": f"https://example.com/{n}", "dt": "Été 🫖", **fields}
    entry = {
        "v": 1,
        "src": "nginx",
        "kind": "post",
        "id": f"{n:032x}",
        "msec": f"{MSEC + n:.3f}",
        "ct": "text/plain;charset=UTF-8",
        "body": json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        "ip": "203.0.113.9",
        "xff": "",
        "ua": "Mozilla/5.0",
        "referer": "https://example.com/",
        "lang": "fr",
        "cookieless": False,
        "proxies": 0,
        "sites": sites,
    }
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def test_the_trackers_beacons_are_read_by_column(tmp_path, monkeypatch):
    lines = [_beacon(n) for n in range(200)] + [_beacon(200, t="event", en="signup", ev="6")]
    lines.append(_beacon(201, t="event", en="signup", ev=-12))  # a whole number, as cmb.event sends one
    block = pa.py_buffer(b"".join(lines))
    columns, converted = convert(block, len(lines))
    assert converted.all()
    assert columns["ts"][0].as_py() == "2026-03-01T00:00:00.344Z"
    assert columns["pv"].to_pylist() == ["1"] * len(lines)
    assert columns["en"][-1].as_py() == "signup"
    assert columns["ev"][-2:].to_pylist() == ["6", "-12"]
    _check(tmp_path, lines, monkeypatch)


def test_a_body_with_other_numbers_goes_the_exact_way_and_loads_the_same(tmp_path, monkeypatch):
    lines = [_beacon(n) for n in range(100)]
    lines[7] = _beacon(7, t="event", en="buy", ev=12.5)
    lines[50] = _beacon(50, sd=24)
    _, converted = convert(pa.py_buffer(b"".join(lines)), len(lines))
    assert not converted[7] and not converted[50]
    assert np.delete(converted, [7, 50]).all(), "a refused body does not hold back the rest"
    _check(tmp_path, lines, monkeypatch)


def test_props_are_stored_as_the_exact_way_stores_them(tmp_path, monkeypatch):
    lines = [_beacon(n) for n in range(4)]
    lines[1] = _beacon(1, t="event", en="buy", ev=12, props={"plan": "pro", "seats": 3, "x" * 70: None})
    lines[2] = _beacon(2, t="event", en="buy", props={"plan": {"nested": "no"}})  # refused: its reason
    _, converted = convert(pa.py_buffer(b"".join(lines)), len(lines))
    assert converted.all(), "the props are the caller's to make"
    columns, exact = _both_ways(tmp_path, lines, monkeypatch)
    assert columns == exact
    hits, rejects = columns
    assert [hit["props"] for hit in hits] == [None, '{"plan":"pro","seats":"3","' + "x" * 64 + '":""}', None]
    assert [reason for _, reason in rejects] == ["props values must be strings, numbers or booleans"]
    # made beside the columns, not by sending the line the exact way
    bodies = pa.array([None, *(json.loads(line)["body"] for line in lines[1:3]), None])
    made_here = np.ones(4, bool)
    texts = parse_module._Collector._nginx_props(bodies, made_here)
    assert made_here.tolist() == [True, True, False, True]
    assert texts[1].as_py() == hits[1]["props"]


def test_a_body_of_two_objects_beside_an_empty_one_does_not_shift_the_rows(tmp_path, monkeypatch):
    """pyarrow reads two rows from the one and none from the other: the counts agree, the rows not."""
    lines = [_beacon(n) for n in range(6)]
    two = json.loads(_beacon(1))
    two["body"] = two["body"] + " " + two["body"]
    empty = json.loads(_beacon(4))
    empty["body"] = ""
    lines[1] = json.dumps(two, ensure_ascii=False).encode() + b"\n"
    lines[4] = json.dumps(empty, ensure_ascii=False).encode() + b"\n"
    _, converted = convert(pa.py_buffer(b"".join(lines)), len(lines))
    assert converted.tolist() == [True, False, True, True, False, True]
    _check(tmp_path, lines, monkeypatch)


def test_hits_keep_their_lines_order_beside_lines_read_for_an_escape(tmp_path):
    """A chunk of nothing but nginx's lines and lines with a \\u escape: the hits in line order."""
    escaped = {"v": 1, "id": "a1", "ts": "2026-03-01T00:00:00.000Z", "t": "visit", "cid": "c"}
    escaped["dl"] = "https://example.com/\u00e9t\u00e9"
    folder = tmp_path / "logs"
    folder.mkdir()
    lines = [json.dumps(escaped).encode() + b"\n", _beacon(1), _beacon(2)]
    (folder / "hits-2026030100-w1.jsonl").write_bytes(b"".join(lines))
    hits, rejects = _parsed(folder)
    assert rejects == []
    assert [hit["id"] for hit in hits] == ["a1", f"{1:032x}", f"{2:032x}"]


def test_an_install_with_sites_keeps_its_beacons_by_column(tmp_path, monkeypatch):
    lines = [_beacon(n, sites="shop.example.net Example.com") for n in range(3)]
    lines.append(_beacon(3, sites="shop.example.net", dl="https://example.com/"))
    _, converted = convert(pa.py_buffer(b"".join(lines)), len(lines))
    assert converted.tolist() == [True, True, True, False]
    columns, exact = _both_ways(tmp_path, lines, monkeypatch)
    assert columns == exact
    assert [reason for _, reason in columns[1]] == [
        "this site is not tracked here; add its host to SITES to accept its hits"
    ]


def test_a_negative_proxy_count_trusts_no_proxy_and_does_not_stop_the_load(tmp_path):
    """Such a line (a hand-edited log format) raised IndexError on the exact way: every run stopped there."""
    entry = json.loads(_beacon(1))
    entry.update(proxies=-1, xff="198.51.100.7")
    folder = tmp_path / "logs"
    folder.mkdir()
    line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    (folder / "hits-2026030100-w1.jsonl").write_bytes(line + _beacon(2))
    hits, rejects = _parsed(folder)
    assert rejects == []
    assert [hit["ip"] for hit in hits] == ["203.0.113.9", "203.0.113.9"]


def test_beacons_behind_proxies_keep_the_column_path_and_their_clients_address(tmp_path, monkeypatch):
    lines = []
    for n, (proxies, forwarded) in enumerate(
        [(1, "198.51.100.1"), (2, "198.51.100.1, 203.0.113.5"), (1, "")]
    ):
        entry = json.loads(_beacon(n))
        entry.update(proxies=proxies, xff=forwarded)
        lines.append(json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
    columns, converted = convert(pa.py_buffer(b"".join(lines)), len(lines))
    assert converted.all()
    assert columns["ip"].to_pylist() == ["198.51.100.1", "198.51.100.1", "203.0.113.9"]
    _check(tmp_path, lines, monkeypatch)


def test_a_page_without_a_readable_host_is_refused_under_sites_and_does_not_stop_the_load(tmp_path):
    """urlsplit raises on "https://[::1/": with SITES set, such a beacon stopped every run there."""
    folder = tmp_path / "logs"
    folder.mkdir()
    lines = [_beacon(1, sites="example.com", dl="https://[::1/"), _beacon(2, sites="example.com")]
    (folder / "hits-2026030100-w1.jsonl").write_bytes(b"".join(lines))
    hits, rejects = _parsed(folder)
    assert [hit["id"] for hit in hits] == [f"{2:032x}"]
    assert [reason for _, reason in rejects] == [
        "this site is not tracked here; add its host to SITES to accept its hits"
    ]


def test_a_header_is_measured_in_bytes_as_the_collector_measures_it(tmp_path, monkeypatch):
    """The collector answers 431 past 8,192 bytes of a header; nginx's line holds the header as text,
    and 4,097 two-byte characters are past it too."""
    lines = [
        _beacon(n).replace(b'"ua":"Mozilla/5.0"', f'"ua":"{"é" * length}"'.encode())
        for n, length in ((1, 4096), (2, 4097))
    ]
    columns, exact = _both_ways(tmp_path, lines, monkeypatch)
    assert columns == exact
    hits, rejects = columns
    assert [hit["id"] for hit in hits] == [f"{1:032x}"]
    assert [reason for _, reason in rejects] == ["header User-Agent longer than 8192 bytes"]

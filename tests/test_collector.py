"""The collection endpoint: what it answers, what it writes, and what it refuses to write.

Requests go through werkzeug's test client against the bare collector, and over real
HTTP (the ``live_server`` fixture) against the full app; every check of what was
stored reads the raw log files back with :func:`crumby.hits.parse_line`.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import string
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode

import pytest
from conftest import make_settings
from werkzeug.test import Client

from crumby import hits
from crumby.serve.collect import PIXEL, Collector, HitStamps, client_ip, parse_query
from crumby.serve.hitlog import HitLog, log_file_name

PAGE = "https://www.example.com/blog/post?id=7"
VISIT = {
    "v": "1",
    "t": "visit",
    "cid": "6f1c2a9e-0d3b-4c55",
    "ul": "fr-FR",
    "sd": "24-bit",
    "sr": "1920x1080",
    "vp": "1536x864",
    "de": "UTF-8",
    "dl": PAGE,
    "dt": "Un billet — été",
    "dr": "https://www.google.com/",
}
EVENT = {"t": "event", "cid": "abc", "dl": PAGE, "en": "signup", "ev": "pro plan"}
BROWSER = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0",
    "Referer": PAGE,
    "Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5",
}


def read_hits(log_dir: Path) -> list[dict]:
    """Every line of every raw log file, checked by the format's own parser."""
    return [
        hits.parse_line(line)
        for path in sorted(Path(log_dir).glob("hits-*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


def log_bytes(log_dir: Path) -> int:
    return sum(path.stat().st_size for path in Path(log_dir).glob("*"))


def collector(tmp_path: Path, **overrides) -> tuple[Client, Path]:
    settings = make_settings(tmp_path, **overrides)
    return Client(Collector(settings)), settings["LOG_DIR"]


def gif(client: Client, params: dict, headers: dict | None = None, remote: str = "203.0.113.9"):
    return client.get(
        "/1.gif?" + urlencode(params), headers=headers or {}, environ_base={"REMOTE_ADDR": remote}
    )


def post(client: Client, body, content_type: str = "application/json", headers: dict | None = None):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/collect", data=data, content_type=content_type, headers=headers or {})


# -- answers --------------------------------------------------------------------------


def test_gif_answers_a_1x1_gif_that_is_never_cached(tmp_path):
    client, _ = collector(tmp_path)
    answer = gif(client, VISIT)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "image/gif"
    assert answer.data == PIXEL
    assert answer.data[:6] == b"GIF89a"
    assert int.from_bytes(answer.data[6:8], "little") == 1
    assert int.from_bytes(answer.data[8:10], "little") == 1
    assert "no-store" in answer.headers["Cache-Control"]
    assert "no-cache" in answer.headers["Cache-Control"]
    assert answer.headers["Expires"] == "0"
    assert answer.headers["Pragma"] == "no-cache"


@pytest.mark.parametrize("content_type", ["application/json", "text/plain;charset=UTF-8"])
def test_post_collect_answers_204_and_writes_the_hit(tmp_path, content_type):
    client, log_dir = collector(tmp_path)
    answer = post(client, {**EVENT, "props": {"plan": "pro", "seats": 3}}, content_type)
    assert answer.status_code == 204
    assert answer.data == b""
    (hit,) = read_hits(log_dir)
    assert hit["en"] == "signup"
    assert hit["props"] == {"plan": "pro", "seats": "3"}


def test_cors_allows_any_origin_by_default(tmp_path):
    client, _ = collector(tmp_path)
    assert gif(client, VISIT).headers["Access-Control-Allow-Origin"] == "*"
    assert post(client, EVENT).headers["Access-Control-Allow-Origin"] == "*"


def test_cors_names_the_configured_origin_and_varies_on_it(tmp_path):
    client, _ = collector(tmp_path, CROSSDOMAIN_ORIGIN="https://www.example.com")
    answer = post(client, EVENT)
    assert answer.headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    assert answer.headers["Vary"] == "Origin"


def test_cors_headers_are_absent_when_the_origin_is_empty(tmp_path):
    client, _ = collector(tmp_path, CROSSDOMAIN_ORIGIN="")
    assert "Access-Control-Allow-Origin" not in post(client, EVENT).headers


def test_preflight_allows_a_json_post_and_writes_nothing(tmp_path):
    client, log_dir = collector(tmp_path, CROSSDOMAIN_ORIGIN="https://www.example.com")
    answer = client.options(
        "/collect",
        headers={
            "Origin": "https://www.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    assert answer.headers["Access-Control-Allow-Headers"].lower() == "content-type"
    assert int(answer.headers["Access-Control-Max-Age"]) > 0
    assert read_hits(log_dir) == []


# -- the line ---------------------------------------------------------------------------


def test_a_gif_hit_line_carries_the_clients_fields_and_the_request_facts(tmp_path):
    client, log_dir = collector(tmp_path)
    before = datetime.now(timezone.utc)
    gif(client, {**VISIT, "unknown": "dropped"}, BROWSER)
    after = datetime.now(timezone.utc)
    (hit,) = read_hits(log_dir)
    assert hit["v"] == hits.FORMAT_VERSION
    assert re.fullmatch(r"[0-9a-f]{32}", hit["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", hit["ts"])
    ts = datetime.fromisoformat(hit["ts"].replace("Z", "+00:00"))
    assert before - timedelta(milliseconds=1) <= ts <= after
    for name in ("t", "cid", "ul", "sd", "sr", "vp", "de", "dl", "dt", "dr"):
        assert hit[name] == VISIT[name], name
    assert hit["pv"] == "1"
    assert "unknown" not in hit
    assert hit["ip"] == "203.0.113.9"
    assert hit["ua"] == BROWSER["User-Agent"]
    assert hit["referer"] == BROWSER["Referer"]
    assert hit["lang"] == BROWSER["Accept-Language"]


def test_client_hints_are_kept_when_sent_and_absent_otherwise(tmp_path):
    """Chromium sends Sec-CH-UA-Mobile and Sec-CH-UA-Platform with every request: the device type's
    best witness on reduced user agents. Other browsers send neither, and the line stays as it was."""
    client, log_dir = collector(tmp_path)
    hints = {"Sec-CH-UA-Mobile": "?0", "Sec-CH-UA-Platform": '"Android"'}
    gif(client, VISIT, {**BROWSER, **hints})
    gif(client, VISIT, BROWSER)
    hinted, plain = read_hits(log_dir)
    assert (hinted["ch_mobile"], hinted["ch_platform"]) == ("?0", '"Android"')
    assert "ch_mobile" not in plain
    assert "ch_platform" not in plain


def test_an_event_line_carries_its_name_and_value(tmp_path):
    client, log_dir = collector(tmp_path)
    assert gif(client, EVENT).status_code == 200
    assert post(client, {**EVENT, "ev": "from a beacon"}).status_code == 204
    first, second = read_hits(log_dir)
    assert (first["t"], first["en"], first["ev"]) == ("event", "signup", "pro plan")
    assert second["ev"] == "from a beacon"


def test_hit_ids_are_unique(tmp_path):
    client, log_dir = collector(tmp_path)
    for number in range(300):
        gif(client, {**VISIT, "cid": str(number)})
    ids = [hit["id"] for hit in read_hits(log_dir)]
    assert len(ids) == 300
    assert len(set(ids)) == 300


def test_hit_ids_differ_between_a_parent_and_its_forked_child():
    stamps = HitStamps()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its first id and leave at once
        os.write(write_end, stamps.new_id().encode())
        os._exit(0)
    os.close(write_end)
    child_id = os.read(read_end, 100).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    parent_id = stamps.new_id()
    assert len(child_id) == len(parent_id) == 32
    assert child_id[:16] != parent_id[:16]


@pytest.mark.parametrize("now", [0.0, 1_764_277_200.0, 1_764_277_200.9996, 1_764_280_799.123456])
def test_timestamps_are_utc_iso_8601_with_milliseconds(now):
    expected = datetime.fromtimestamp(now, timezone.utc)
    text = HitStamps().timestamp(now)
    assert text.endswith("Z")
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed == expected.replace(microsecond=expected.microsecond // 1000 * 1000)


@pytest.mark.parametrize(
    ("proxy_count", "forwarded", "expected"),
    [
        (0, "198.51.100.1", "10.0.0.2"),  # no trusted proxy: X-Forwarded-For is ignored
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # a client-forged entry is skipped
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.1", "198.51.100.1"),
        (3, "198.51.100.1", "198.51.100.1"),  # fewer hops than proxies: the farthest one known
        (1, "", "10.0.0.2"),
    ],
)
def test_ip_is_taken_proxy_count_hops_back(tmp_path, proxy_count, forwarded, expected):
    client, log_dir = collector(tmp_path, PROXY_COUNT=proxy_count)
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    assert gif(client, VISIT, headers, remote="10.0.0.2").status_code == 200
    assert read_hits(log_dir)[0]["ip"] == expected


def test_client_ip_reads_only_the_environ():
    environ = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": " 198.51.100.1 ,10.0.0.1"}
    assert client_ip(environ, 2) == "198.51.100.1"
    assert client_ip({}, 0) == ""


def test_long_values_are_cut_to_their_caps(tmp_path):
    client, log_dir = collector(tmp_path)
    long_url = "https://www.example.com/" + "a" * 3000  # the query stays under its own cap
    params = {**VISIT, "dl": long_url, "dt": "é" * 600, "cid": "c" * 100}
    headers = {"User-Agent": "u" * 3000, "Accept-Language": "l" * 500, "Referer": long_url}
    assert gif(client, params, headers).status_code == 200
    props = {f"k{n:02}" + "x" * 70: "v" * 300 for n in range(hits.PROPS_MAX_KEYS)}
    assert post(client, {**EVENT, "en": "n" * 500, "ev": "v" * 900, "props": props}).status_code == 204
    visit, event = read_hits(log_dir)
    assert visit["dl"] == long_url[: hits.CLIENT_FIELD_CAPS["dl"]]
    assert visit["dt"] == "é" * hits.CLIENT_FIELD_CAPS["dt"]
    assert len(visit["cid"]) == hits.CLIENT_FIELD_CAPS["cid"]
    assert len(visit["ua"]) == hits.SERVER_FIELD_CAPS["ua"]
    assert len(visit["lang"]) == hits.SERVER_FIELD_CAPS["lang"]
    assert len(visit["referer"]) == hits.SERVER_FIELD_CAPS["referer"]
    assert len(event["en"]) == hits.CLIENT_FIELD_CAPS["en"]
    assert len(event["ev"]) == hits.CLIENT_FIELD_CAPS["ev"]
    assert all(len(key) == hits.PROPS_KEY_CAP for key in event["props"])
    assert all(len(value) == hits.PROPS_VALUE_CAP for value in event["props"].values())


def test_a_lone_surrogate_in_json_is_stored_not_refused(tmp_path):
    client, log_dir = collector(tmp_path)
    body = '{"t": "visit", "cid": "a", "dl": "https://www.example.com/", "dt": "x\\ud800y"}'
    assert post(client, body).status_code == 204
    assert read_hits(log_dir)[0]["dt"] == "x?y"


def test_log_files_are_named_by_hour_and_writer(tmp_path):
    log = HitLog(tmp_path)
    hour = 1_764_277_200  # 2025-11-27 21:00 UTC
    log.append(b'{"a":1}\n', now=hour + 10)
    log.append(b'{"a":2}\n', now=hour + 3599)
    log.append(b'{"a":3}\n', now=hour + 3600)
    log.append(b'{"a":4}\n', now=hour + 3599)  # stamped late: goes on in the newer file
    log.close()
    writer = re.escape(f"-{os.getpid()}.") + r"[0-9a-f]{6}"
    names = sorted(path.name for path in tmp_path.iterdir())
    assert len(names) == 2
    assert re.fullmatch(rf"hits-2025112721-[\w.]+{writer}\.jsonl", names[0])
    assert re.fullmatch(rf"hits-2025112722-[\w.]+{writer}\.jsonl", names[1])
    assert (tmp_path / names[0]).read_bytes() == b'{"a":1}\n{"a":2}\n'
    assert (tmp_path / names[1]).read_bytes() == b'{"a":3}\n{"a":4}\n'
    assert log_file_name(hour, "w") == "hits-2025112721-w.jsonl"


def test_the_collector_writes_this_hours_file_for_this_process(tmp_path):
    client, log_dir = collector(tmp_path)
    gif(client, VISIT)
    (path,) = Path(log_dir).iterdir()
    stamp = time.strftime("%Y%m%d%H", time.gmtime())
    assert path.name.startswith(f"hits-{stamp}-")
    assert re.search(rf"-{os.getpid()}\.[0-9a-f]{{6}}\.jsonl$", path.name)


def test_parse_query_reads_what_parse_qsl_reads():
    alphabet = string.ascii_letters + "%+&=;é 0123456789ABCDEF"
    rng = random.Random(7)
    samples = ["", "&", "a", "a=", "=b", "a=1&a=2", "t=%E2%80%94+x", "%74=visit", "x=%zz%4", "a=%C3"]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    for query in samples:
        assert parse_query(query) == dict(parse_qsl(query, keep_blank_values=True)), query


# -- bad input: refused, nothing written ---------------------------------------------------


def no_event_name():
    return {k: v for k, v in EVENT.items() if k != "en"}


BAD_REQUESTS = [
    ("unknown type", "gif", {**VISIT, "t": "pageview"}, "application/json", 400),
    ("no type", "gif", {k: v for k, v in VISIT.items() if k != "t"}, "application/json", 400),
    ("missing cid", "gif", {k: v for k, v in VISIT.items() if k != "cid"}, "application/json", 400),
    ("empty cid", "post", {**VISIT, "cid": ""}, "application/json", 400),
    ("missing dl", "gif", {k: v for k, v in VISIT.items() if k != "dl"}, "application/json", 400),
    ("missing dl (post)", "post", {k: v for k, v in EVENT.items() if k != "dl"}, "application/json", 400),
    ("event without en", "gif", no_event_name(), "application/json", 400),
    ("event without en (post)", "post", no_event_name(), "application/json", 400),
    ("invalid JSON", "post", b'{"t": "visit", ', "application/json", 400),
    ("not UTF-8", "post", b'{"t": "\xff"}', "application/json", 400),
    ("JSON list", "post", b"[1, 2]", "application/json", 400),
    ("JSON string", "post", b'"visit"', "application/json", 400),
    ("nested value", "post", {**VISIT, "dt": {"a": 1}}, "application/json", 400),
    ("props not an object", "post", {**EVENT, "props": ["a"]}, "application/json", 400),
    ("nested props", "post", {**EVENT, "props": {"a": {"b": 1}}}, "application/json", 400),
    ("JSON nested 5,000 deep", "post", b"[" * 5000 + b"]" * 5000, "application/json", 400),
    (
        "a field nested 5,000 deep",
        "post",
        b'{"t": "visit", "dt": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "text/plain",
        400,
    ),
    (
        "props nested 5,000 deep",
        "post",
        b'{"props": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
        "application/json",
        400,
    ),
    ("form body", "post", urlencode(VISIT), "application/x-www-form-urlencoded", 415),
    ("XML body", "post", b"<hit/>", "application/xml", 415),
    ("no content type", "post", json.dumps(VISIT), "", 400),
]


@pytest.mark.parametrize(
    ("kind", "payload", "content_type", "status"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_input_is_refused_and_nothing_is_written(tmp_path, kind, payload, content_type, status):
    client, log_dir = collector(tmp_path)
    if kind == "gif":
        answer = gif(client, payload)
    elif content_type:
        answer = post(client, payload, content_type)
    else:
        answer = client.post("/collect", data=payload)
    assert answer.status_code == status
    assert "error" in answer.get_json()
    assert log_bytes(log_dir) == 0


def test_errors_say_what_is_wrong(tmp_path):
    client, _ = collector(tmp_path)
    assert "cid" in gif(client, {**VISIT, "cid": ""}).get_json()["error"]
    assert "en" in post(client, no_event_name()).get_json()["error"]
    assert "application/json" in post(client, b"<hit/>", "application/xml").get_json()["error"]


def test_cookieless_mode_accepts_a_hit_without_cid(tmp_path):
    client, log_dir = collector(tmp_path, COOKIELESS=True)
    assert gif(client, {k: v for k, v in VISIT.items() if k != "cid"}).status_code == 200
    (hit,) = read_hits(log_dir)
    assert "cid" not in hit
    assert hit["dl"] == PAGE


def test_wrong_methods_are_refused(tmp_path):
    client, log_dir = collector(tmp_path)
    answer = client.get("/collect?" + urlencode(VISIT))
    assert (answer.status_code, answer.headers["Allow"]) == (405, "POST, OPTIONS")
    answer = client.post("/1.gif?" + urlencode(VISIT))
    assert (answer.status_code, answer.headers["Allow"]) == (405, "GET, HEAD")
    assert "/collect" in answer.get_json()["error"]
    assert log_bytes(log_dir) == 0


def test_an_overlong_query_string_is_refused_with_414(tmp_path):
    client, log_dir = collector(tmp_path)
    answer = gif(client, {**VISIT, "dt": "x" * hits.MAX_QUERY_BYTES})
    assert answer.status_code == 414
    assert str(hits.MAX_QUERY_BYTES) in answer.get_json()["error"]
    assert log_bytes(log_dir) == 0


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_overlong_body_is_refused_with_413(tmp_path, chunked):
    client, log_dir = collector(tmp_path)
    body = json.dumps({**VISIT, "dt": "x" * hits.MAX_BODY_BYTES}).encode()
    if chunked:
        answer = client.post(
            "/collect",
            input_stream=__import__("io").BytesIO(body),
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        )
    else:
        answer = post(client, body)
    assert answer.status_code == 413
    assert log_bytes(log_dir) == 0


def test_an_overlong_header_is_refused_with_431(tmp_path):
    client, log_dir = collector(tmp_path)
    answer = gif(client, VISIT, {"X-Padding": "p" * (hits.MAX_HEADER_BYTES + 1)})
    assert answer.status_code == 431
    assert "X-Padding" in answer.get_json()["error"]
    answer = post(client, EVENT, headers={"User-Agent": "u" * (hits.MAX_HEADER_BYTES + 1)})
    assert answer.status_code == 431
    assert log_bytes(log_dir) == 0


def test_values_at_the_limits_are_accepted(tmp_path):
    client, log_dir = collector(tmp_path)
    header = {"User-Agent": "u" * hits.MAX_HEADER_BYTES}
    assert gif(client, VISIT, header).status_code == 200
    assert len(read_hits(log_dir)) == 1


def test_sites_not_in_the_allowlist_are_refused_with_403(tmp_path):
    client, log_dir = collector(tmp_path, SITES="Example.com,shop.example.org")
    for url in ("https://evil.example.net/", "https://example.com.evil.net/", "https://notexample.com/"):
        answer = gif(client, {**VISIT, "dl": url})
        assert answer.status_code == 403, url
        assert "SITES" in answer.get_json()["error"]
    assert post(client, {**EVENT, "dl": "https://example.org/"}).status_code == 403
    assert log_bytes(log_dir) == 0
    for url in ("https://example.com/", "https://WWW.EXAMPLE.COM/a", "https://shop.example.org:8443/"):
        assert gif(client, {**VISIT, "dl": url}).status_code == 200, url
    assert len(read_hits(log_dir)) == 3


# -- health and tracker ------------------------------------------------------------------


def test_health_is_200_when_the_log_folder_is_writable_and_503_when_not(tmp_path):
    client, log_dir = collector(tmp_path)
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok"}
    Path(log_dir).rmdir()
    Path(log_dir).write_text("a file where the folder was")
    answer = client.get("/health")
    assert answer.status_code == 503
    assert "not writable" in answer.get_json()["status"]
    assert gif(client, VISIT).status_code == 503


def test_cmb_js_is_served_gzipped_with_an_etag(tmp_path):
    client, _ = collector(tmp_path, DOMAIN="stats.example.com")
    plain = client.get("/cmb.js")
    assert plain.status_code == 200
    assert plain.headers["Content-Type"].startswith("text/javascript")
    assert "Content-Encoding" not in plain.headers
    assert b'"endpoint":"//stats.example.com"' in plain.data
    zipped = client.get("/cmb.js", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(zipped.data) == plain.data
    assert len(zipped.data) < len(plain.data)
    etag = plain.headers["ETag"]
    assert zipped.headers["ETag"] == etag
    again = client.get("/cmb.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert client.get("/cmb.js", headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert client.get("/cmb.js", headers={"If-None-Match": '"other"'}).status_code == 200


# -- over real HTTP, through the full app --------------------------------------------------


def fetch(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_live_server_collects_serves_and_falls_through_to_the_app(live_server, settings):
    base = live_server.url
    status, headers, body = fetch(f"{base}/42.gif?{urlencode(VISIT)}", headers=BROWSER)
    assert (status, headers["Content-Type"], body) == (200, "image/gif", PIXEL)
    status, _, body = fetch(
        f"{base}/collect", json.dumps(EVENT).encode(), {"Content-Type": "text/plain;charset=UTF-8"}
    )
    assert (status, body) == (204, b"")
    status, _, body = fetch(f"{base}/collect", b"{oops", {"Content-Type": "application/json"})
    assert status == 400
    assert "JSON" in json.loads(body)["error"]
    status, _, _ = fetch(f"{base}/1.gif?t=visit&cid=a&dl={quote(PAGE)}&dt=" + "x" * 9000)
    assert status == 414
    status, _, body = fetch(f"{base}/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, headers, _ = fetch(f"{base}/cmb.js", headers={"Accept-Encoding": "gzip"})
    assert (status, headers["Content-Encoding"]) == (200, "gzip")
    status, _, _ = fetch(f"{base}/")
    assert status == 200
    visit, event = read_hits(settings["LOG_DIR"])
    assert visit["dt"] == VISIT["dt"]
    assert visit["ip"] == "127.0.0.1"
    assert visit["ua"] == BROWSER["User-Agent"]
    assert event["en"] == "signup"


def test_each_process_writes_its_own_file_even_with_a_reused_pid(tmp_path):
    """A new process never appends to a file an earlier process (maybe killed mid-line) wrote."""
    import multiprocessing

    from crumby.serve import hitlog

    def name_in_child(queue):
        queue.put(hitlog.writer_name())

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [context.Process(target=name_in_child, args=(queue,)) for _ in range(2)]
    for child in children:
        child.start()
        child.join(10)
    names = {queue.get(timeout=5) for _ in children} | {hitlog.writer_name()}
    assert len(names) == 3
    assert hitlog.writer_name() == hitlog.writer_name()  # stable within one process
    assert all(name.split("-")[-1].split(".")[0].isdigit() for name in names)  # host-pid.token

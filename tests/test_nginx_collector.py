"""nginx as the collector, run for real: what it logs loads as the Python collector's hits would.

The same requests go to a real nginx running `crumby nginx-config`'s configuration and to the
Python collector; the ETL's parser reads both logs. A hit the collector accepts loads the same
from either; one it refuses is set aside from nginx's log with the collector's own reason.
"""

from __future__ import annotations

import gzip
import http.client
import json
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
from conftest import make_settings
from werkzeug.test import Client

from crumby import hits
from crumby.etl.extract import iter_chunks, iter_log_files
from crumby.etl.parse import parse_chunks
from crumby.etl.pipeline import run
from crumby.nginx_hits import hit_from_nginx, parse_any_line
from crumby.serve.collect import Collector
from crumby.serve.nginx_config import render_collector_conf

pytest_plugins = ["nginx_collector"]

ROOT = Path(__file__).resolve().parent.parent
PAGE = "https://www.example.com/blog/post?id=7"
VISIT = {
    "v": "1",
    "t": "visit",
    "cid": "6f1c2a9e",
    "ul": "fr-FR",
    "sr": "1920x1080",
    "dl": PAGE,
    "dt": "Un billet — été 🫖",
    "dr": "https://www.google.com/",
}
EVENT = {
    "t": "event",
    "cid": "abc",
    "dl": PAGE,
    "en": "signup",
    "ev": "pro",
    "props": {"plan": "pro", "n": 2},
}
BROWSER = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0",
    "Referer": PAGE,
    "Accept-Language": "fr",
}
JSON = "application/json"


def gif(params: dict, **headers) -> tuple:
    return ("GET", "/1.gif?" + urlencode(params), None, None, {**BROWSER, **headers})


def post(body, content_type: str = JSON, **headers) -> tuple:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return (
        "POST",
        "/collect",
        data.encode() if isinstance(data, str) else data,
        content_type,
        {**BROWSER, **headers},
    )


# Requests a tracker (or an attacker) may send, good and bad.
CASES = {
    "visit": gif(VISIT),
    "visit by HEAD": ("HEAD", "/7.gif?" + urlencode(VISIT), None, None, BROWSER),
    "event by POST with props": post(EVENT),
    "sendBeacon's text/plain": post(EVENT, "text/plain;charset=UTF-8"),
    "JSON with a charset": post(VISIT, "application/json; charset=utf-8"),
    "field over its cap": gif({**VISIT, "dt": "é" * 600, "sr": "9" * 40}),
    "unknown fields dropped": gif({**VISIT, "zz": "1", "props": "x"}),
    "no cid": gif({k: v for k, v in VISIT.items() if k != "cid"}),
    "unknown type": gif({**VISIT, "t": "pageview"}),
    "event without a name": post({k: v for k, v in EVENT.items() if k != "en"}),
    "no page URL": post({"t": "visit", "cid": "1"}),
    "site not tracked": gif({**VISIT, "dl": "https://elsewhere.org/"}),
    "subdomain of a tracked site": gif({**VISIT, "dl": "https://blog.example.com/x"}),
    "form body": post("t=visit&cid=1", "application/x-www-form-urlencoded"),
    "no content type": post(VISIT, ""),
    "body not JSON": post("{t: visit"),
    "body a JSON array": post([VISIT]),
    "nested props": post({**EVENT, "props": {"a": {"b": "c"}}}),
    "too many props": post({**EVENT, "props": {f"k{i}": "v" for i in range(21)}}),
    "props not an object": post({**EVENT, "props": ["a"]}),
    "a field as an object": post({**VISIT, "dt": {"x": 1}}),
    "NUL in a field": post({**VISIT, "dt": "a\u0000b"}),
    "body too large": post({**VISIT, "dt": "x" * 17000}),
    "User-Agent too long": gif(VISIT, **{"User-Agent": "u" * 9000}),
    "query string too long": gif({**VISIT, "dt": "q" * 9000}),
    "pixel by POST": ("POST", "/1.gif", b"{}", JSON, BROWSER),
    "collect by GET": ("GET", "/collect", None, None, BROWSER),
}


def send(port: int, method: str, path: str, body, content_type, headers) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    sent = dict(headers)
    if content_type:
        sent["Content-Type"] = content_type
    conn.request(method, path, body=body, headers=sent)
    status = conn.getresponse().status
    conn.close()
    return status


def send_to_collector(client: Client, method, path, body, content_type, headers) -> tuple[int, str | None]:
    path, _, query = path.partition("?")
    answer = client.open(
        path,
        method=method,
        query_string=query,
        data=body,
        content_type=content_type or None,
        headers=headers,
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    message = answer.get_json(silent=True) if answer.status_code >= 400 else None
    return answer.status_code, message and message.get("error")


def loaded(log_dir: Path) -> list:
    """Each line of the log, in order, as the ETL reads it: a dict of the row, or the reject's reason."""
    chunks = [chunk for f in iter_log_files(log_dir) for chunk in iter_chunks(f, 0, 1 << 20)]
    parsed = parse_chunks(chunks)
    rows = iter(parsed.hits.to_pylist())
    rejects = {r.offset: r.reason for r in parsed.rejects}
    lines = b"".join(chunk.data for chunk in chunks).splitlines(keepends=True)
    out, offset = [], 0
    for line in lines:
        out.append(rejects[offset] if offset in rejects else next(rows))
        offset += len(line)
    return out


def comparable(row):
    if isinstance(row, str):
        return row
    return {k: v for k, v in row.items() if k not in ("id", "ts", "datetime") and v is not None}


@pytest.mark.parametrize("cookieless", [False, True], ids=["cookies", "cookieless"])
def test_nginx_lines_load_as_the_collectors_hits_or_are_refused_for_its_reasons(
    tmp_path, nginx_collector, cookieless
):
    settings = make_settings(tmp_path, SITES="example.com", COOKIELESS=cookieless)
    python_settings = make_settings(tmp_path / "py", SITES="example.com", COOKIELESS=cookieless)
    nginx = nginx_collector(settings)
    client = Client(Collector(python_settings))
    answers = {}
    for name, request in CASES.items():
        answers[name] = (send(nginx.port, *request), *send_to_collector(client, *request))
    nginx_lines = iter(loaded(settings["LOG_DIR"]))
    python_lines = iter(loaded(python_settings["LOG_DIR"]))
    refused_by_nginx = set()
    for name, (nginx_status, python_status, message) in answers.items():
        if nginx_status >= 300:  # nginx refused it itself: the collector refused it too
            assert python_status >= 400, name
            refused_by_nginx.add(name)
            continue
        nginx_line = comparable(next(nginx_lines))
        if python_status < 300:
            assert nginx_line == comparable(next(python_lines)), name
        else:
            assert nginx_line == message, name
    assert next(nginx_lines, None) is None
    # The limits nginx enforces itself, and the methods it does not take.
    assert refused_by_nginx == {
        "body too large",
        "User-Agent too long",
        "query string too long",
        "pixel by POST",
        "collect by GET",
    }
    assert answers["NUL in a field"][0] == 204
    kept = {name for name, (status, *_) in answers.items() if status < 300}
    assert {"visit", "event by POST with props", "site not tracked", "nested props"} <= kept


def test_nginx_line_faults_the_collector_never_writes_are_rejected():
    line = {
        "v": 1,
        "src": "nginx",
        "kind": "gif",
        "id": "abc",
        "msec": "1700000000.5",
        "q": "t=visit&cid=1&dl=x",
    }
    assert hit_from_nginx(line)["ts"] == "2023-11-14T22:13:20.500Z"
    # Behind one trusted proxy the visitor is its X-Forwarded-For's last entry, not what a client claims.
    proxied = {**line, "ip": "10.0.0.2", "xff": "6.6.6.6, 198.51.100.1", "proxies": 1}
    assert (hit_from_nginx(proxied)["ip"], hit_from_nginx({**proxied, "proxies": 0})["ip"]) == (
        "198.51.100.1",
        "10.0.0.2",
    )
    for broken, reason in (
        ({"msec": "soon"}, "msec is not a time in seconds"),
        ({"kind": "put"}, "unknown kind of nginx line 'put'"),
        ({"q": "t=visit&cid=1&dl=" + "x" * 9000}, "query string longer than 8192 bytes"),
        ({"ua": "u" * 9000}, "header User-Agent longer than 8192 bytes"),
    ):
        with pytest.raises(hits.HitError, match=reason):
            hit_from_nginx({**line, **broken})


def test_a_nul_in_an_nginx_line_is_dropped_like_the_collectors(tmp_path):
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    body = json.dumps({**VISIT, "dt": "a\u0000b"})
    line = {
        "v": 1,
        "src": "nginx",
        "kind": "post",
        "id": "n1",
        "msec": "1700000000",
        "ct": JSON,
        "body": body,
    }
    good = {**line, "id": "n2", "body": json.dumps(VISIT)}
    text = "".join(
        json.dumps(entry, separators=(",", ":")) + "\n" for entry in (line, good)
    )  # as nginx writes
    (log_dir / "hits-2023111422-nginx_test.jsonl").write_text(text)
    rows = loaded(log_dir)
    assert [r if isinstance(r, str) else r["id"] for r in rows] == ["n1", "n2"]
    assert rows[0]["dt"] == "ab"


def test_shipped_collector_conf_is_what_nginx_config_prints_for_the_recipe(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CRUMBY_DATA_DIR": "/var/lib/crumby",
        "CRUMBY_LOG_DIR": "/var/lib/crumby/logs",
    }
    printed = subprocess.run(
        [sys.executable, "-m", "crumby", "nginx-config", "--server-name", "stats.example.com"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed == (ROOT / "deployment" / "nginx" / "collector.conf").read_text()


def test_settings_that_nginx_cannot_hold_are_refused(tmp_path):
    with pytest.raises(ValueError, match="not a host name"):
        render_collector_conf(make_settings(tmp_path, SITES="ex'ample.com"), js_dir=tmp_path)


def test_nginx_config_writes_the_tracker_for_this_installs_domain(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CRUMBY_DATA_DIR": str(tmp_path / "data"),
        "CRUMBY_DOMAIN": "stats.example.com:8443",
        "CRUMBY_COOKIELESS": "true",
        "CRUMBY_SITES": "example.com",
    }
    result = subprocess.run(
        [sys.executable, "-m", "crumby", "nginx-config", "--write-js", "--js-dir", str(tmp_path / "js")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    tracker = (tmp_path / "js" / "cmb.js").read_text()
    assert '"endpoint":"//stats.example.com:8443"' in tracker and '"cookieless":true' in tracker
    assert gzip.decompress((tmp_path / "js" / "cmb.js.gz").read_bytes()).decode() == tracker
    assert "server_name stats.example.com;" in result.stdout
    assert f"root {tmp_path / 'js'};" in result.stdout
    assert '"cookieless":true,"proxies":0,"sites":"example.com"' in result.stdout


def test_two_workers_append_whole_lines_longer_than_a_pipe_buffer(tmp_path, nginx_collector):
    settings = make_settings(tmp_path)
    nginx = nginx_collector(settings, workers=2)
    threads, per_thread = 6, 60

    def client(number: int) -> list[int]:
        conn = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=30)
        statuses = []
        for i in range(per_thread):
            # Lines of 1 to 12 KB, well past PIPE_BUF (4 KB), from both workers at once.
            props = {f"k{k}": f"{number}-{i}-" + 'é"' * (i % 20) * 8 for k in range(20)}
            body = json.dumps({**EVENT, "ev": f"{number}-{i}", "props": props}, ensure_ascii=False)
            conn.request("POST", "/collect", body=body.encode(), headers={"Content-Type": JSON})
            answer = conn.getresponse()
            answer.read()
            statuses.append(answer.status)
        conn.close()
        return statuses

    with ThreadPoolExecutor(threads) as pool:
        statuses = [s for batch in pool.map(client, range(threads)) for s in batch]
    assert statuses == [204] * threads * per_thread
    lines = [
        line for path in settings["LOG_DIR"].glob("hits-*.jsonl") for line in path.read_bytes().splitlines()
    ]
    assert max(len(line) for line in lines) > 4096
    loaded_hits = [parse_any_line(line) for line in lines]  # each line whole: no reject
    assert sorted(hit["ev"] for hit in loaded_hits) == sorted(
        f"{n}-{i}" for n in range(threads) for i in range(per_thread)
    )
    assert len({hit["id"] for hit in loaded_hits}) == threads * per_thread


def random_value(rng: random.Random):
    """A value a client may send for a field: mostly text, sometimes long, empty or of another type."""
    kind = rng.random()
    if kind < 0.85:
        return "".join(rng.choice("aé€ 🫖&=%+?/x") for _ in range(rng.choice([0, 1, 5, 40, 700])))
    if kind < 0.92:
        return rng.randrange(-5, 10**6)
    if kind < 0.97:
        return rng.choice([None, True, 1.5])
    return rng.choice([{"a": rng.choice(["b", 1, {"c": "d"}])}, ["x"]])


@pytest.mark.parametrize("cookieless", [False, True], ids=["cookies", "cookieless"])
def test_random_hits_get_the_collectors_verdict_from_nginx_lines(tmp_path, cookieless):
    """Many made-up hits: each converted nginx line is the collector's hit, or refused for its reason."""
    rng = random.Random(22 + cookieless)
    settings = make_settings(tmp_path, SITES="example.com", COOKIELESS=cookieless)
    client = Client(Collector(settings))
    names = [*hits.CLIENT_FIELD_CAPS, "v", "props", "zz"]
    compared = {"accepted": 0, "refused": 0}
    for number in range(400):
        params = {name: random_value(rng) for name in rng.sample(names, rng.randrange(5))}
        if rng.random() < 0.8:
            params["cid"] = f"c{number}"
        params["t"] = rng.choice(["visit", "event", "visit", "x"]) if rng.random() < 0.9 else params.get("t")
        params["dl"] = rng.choice([PAGE, "https://elsewhere.org/", "https://a.example.com/p"])
        if rng.random() < 0.5:
            params["props"] = {f"k{i}": random_value(rng) for i in range(rng.choice([0, 2, 21]))}
        as_gif = rng.random() < 0.4
        if as_gif:
            query = urlencode({k: v for k, v in params.items() if isinstance(v, (str, int))})
            request = ("GET", f"/1.gif?{query}", None, None, BROWSER)
            entry = {"kind": "gif", "q": query}
        else:
            body = json.dumps(params, ensure_ascii=False)
            request = ("POST", "/collect", body.encode(), JSON, BROWSER)
            entry = {"kind": "post", "ct": JSON, "body": body}
        status, message = send_to_collector(client, *request)
        entry.update(
            v=1, src="nginx", id=f"n{number}", msec="1700000000.25", ip="127.0.0.1", ua=BROWSER["User-Agent"]
        )
        entry.update(referer=PAGE, lang="fr", cookieless=cookieless, proxies=0, sites="example.com")
        try:
            hit = hit_from_nginx(entry)
        except hits.HitError as exc:
            assert status >= 400 and str(exc) == message, (params, status, message, str(exc))
            compared["refused"] += 1
            continue
        assert status < 300, (params, status, message)
        written = json.loads(max(settings["LOG_DIR"].glob("hits-*.jsonl")).read_bytes().splitlines()[-1])
        assert {k: v for k, v in hit.items() if k not in ("id", "ts")} == {
            k: v for k, v in written.items() if k not in ("id", "ts")
        }
        compared["accepted"] += 1
    assert min(compared.values()) > 50, compared


def nginx_line(n: int, **overrides) -> bytes:
    entry = {
        "v": 1,
        "src": "nginx",
        "kind": "gif",
        "id": f"n{n:08d}",
        "msec": f"{1772445600 + n}.123",
        "q": urlencode({**VISIT, "dl": f"https://www.example.com/p{n % 5}"}),
        "ip": f"81.2.69.{n % 200}",
        "xff": "",
        "ua": BROWSER["User-Agent"],
        "referer": "",
        "lang": "en",
        "cookieless": False,
        "proxies": 0,
        "sites": "",
        **overrides,
    }
    return (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def test_the_etls_poison_lines_in_nginx_form_are_rejected_and_the_rest_loads(tmp_path):
    good = [nginx_line(n) for n in range(500)]
    poison = [
        nginx_line(900)[:60] + b"\n",  # torn
        nginx_line(901).replace(b'"lang":"en"', b'"lang":"\xff\xfe"'),  # not UTF-8
        nginx_line(902, ua="u" * 70000),  # longer than any line
        nginx_line(903).replace(b'"id":"n00000903"', b'"id":42'),
        nginx_line(904, kind="post", ct=JSON, body=json.dumps({**EVENT, "props": {"a": [1]}})),
        nginx_line(905, kind="post", ct=JSON, body=json.dumps({**VISIT, "props": {"a": {"b": {}}}})),
        nginx_line(906, kind="post", ct=JSON, body="{not json"),
    ]
    lines = list(good)
    for n, bad in enumerate(poison):
        lines.insert(70 * n + 7, bad)
    settings = make_settings(tmp_path)
    settings["LOG_DIR"].mkdir(parents=True)
    path = settings["LOG_DIR"] / "hits-2026030210-nginx_test.jsonl"
    path.write_bytes(b"".join(lines))
    report = run(settings, batch_bytes=16384)
    assert (report.rejected, report.hits) == (len(poison), len(good))
    text = next((tmp_path / "data" / "rejects").glob("rejects-*.txt")).read_bytes().splitlines()
    reasons = [line.split(b"\t")[1].decode() for line in text]
    assert reasons == [
        "not valid JSON",
        "not valid UTF-8",
        "line longer than 65536 bytes",
        "id missing or not a string",
        "props values must be strings, numbers or booleans",
        "props values must be strings, numbers or booleans",
        "body is not valid JSON",
    ]
    offsets = [int(line.split(b"\t")[0].rsplit(b":", 1)[1]) for line in text]
    data = path.read_bytes()
    assert all(data[o - 1 : o] == b"\n" and data[o:].startswith(b'{"v":1,"src":"nginx"') for o in offsets)
    assert run(settings).rejected == 0

"""Hits and lines meant to hurt: each is cleaned or set aside with a reason, and the rest loads, on
every backend the ETL writes. Hits go through the real collector wherever a client could send them.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from werkzeug.test import Client

from crumby.etl.pipeline import run
from crumby.hits import make_hit, serialise
from crumby.serve.collect import Collector
from crumby.store.engine import backend_name, create_engine
from crumby.store.migrations import ensure_schema
from tests.conftest import make_settings
from tests.etl_corpus import etl_env, query, run_etl

AGENT = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"}


def _site(tmp_path: Path, url: str) -> dict:
    return make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=url)


def _rejects(site: dict) -> list[list[bytes]]:
    """Each line of the rejects files as (file:offset, reason, raw line)."""
    data = b"".join(p.read_bytes() for p in Path(site["REJECTS_DIR"]).glob("rejects-*.txt"))
    return [line.split(b"\t", 2) for line in data.split(b"\n")[:-1]]


def _texts(url: str, table: str = "visits") -> list[str]:
    """Every text value of every row of ``table``."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(f"SELECT * FROM {table}")).all()
    finally:
        engine.dispose()
    return [value for row in rows for value in row if isinstance(value, str)]


def test_a_percent_encoded_nul_never_reaches_the_store(tmp_path, store_url):
    site = _site(tmp_path, store_url)
    client = Client(Collector(site))
    page = "https%3A%2F%2Fexample.com%2F%3Futm_source%3D%2500%26utm_medium%3Da%2500b%26gclid%3D%2500"
    referrer = "https%3A%2F%2Fref.example%2F%3Futm_source%3D%2500%26fbclid%3D%2500"
    answer = client.get(f"/1.gif?v=1&t=visit&cid=b&dl={page}&dr={referrer}", headers=AGENT)
    assert answer.status_code == 200
    answer = client.get(f"/1.gif?v=1&t=event&cid=b&en=x&ev=%2500&dl={page}", headers=AGENT)
    assert answer.status_code == 200

    report = run(site)

    assert (report.hits, report.rejected) == (2, 0)
    texts = _texts(store_url) + _texts(store_url, "events")
    assert texts and not any("\x00" in text for text in texts)
    assert query(store_url, "SELECT utm_medium FROM visits") == [("ab",)]
    assert run(site).hits == 0


def test_absurd_lines_are_rejected_with_a_reason_and_the_rest_loads(tmp_path, store_url):
    site = _site(tmp_path, store_url)
    hour = datetime.now(timezone.utc) - timedelta(hours=3)
    ts = hour.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def line(n: int, **fields) -> bytes:
        hit = {"v": 1, "id": f"h{n}", "ts": ts, "t": "visit", "cid": "c", "dl": "https://example.com/"}
        return json.dumps({**hit, **fields}).encode()

    deep = "[" * 5000 + "]" * 5000
    absurd = {
        b"nested too deep": line(1, dt="@").replace(b'"@"', deep.encode()),
        b"nested too deep ": line(2, props={"a": "@"}).replace(b'"@"', deep.encode()),
        b"lone surrogate": line(3, dt="\ud800"),
        b"lone surrogate ": line(4, props={"k": "a\udfffb"}),
        b"ts 9999-12-31": line(5, ts="9999-12-31T23:59:59Z"),
        b"ts 0001-01-01": line(6, ts="0001-01-01T00:00:00+01:00"),
        b"ts 0001-01-01 ": line(7, ts="0001-01-01T00:00:00Z"),
    }
    good = [line(100 + n, dt=f"Page {n}") for n in range(200)]
    lines = list(good)
    for n, bad in enumerate(absurd.values()):
        lines.insert(25 * n + 3, bad)
    logs = Path(site["LOG_DIR"])
    logs.mkdir(parents=True)
    (logs / f"hits-{hour:%Y%m%d%H}-w1.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    report = run(site, batch_bytes=8192)

    assert (report.hits, report.rejected) == (len(good), len(absurd))
    assert query(store_url, "SELECT COUNT(*) FROM visits") == [(len(good),)]
    found = _rejects(site)
    assert [raw for _, _, raw in found] == [bad.replace(b"\n", b"\\n") for bad in absurd.values()]
    for (_, reason, _), expected in zip(found, absurd, strict=True):
        assert expected.strip().split(b" ")[0] in reason, reason
    assert run(site).rejected == 0


def _loads(url: str) -> int:
    return query(url, "SELECT COUNT(*) FROM _crumby_loads")[0][0]


def test_a_torn_last_line_of_a_finished_file_is_rejected_once(tmp_path, store_url):
    site = _site(tmp_path, store_url)
    hour = datetime.now(timezone.utc) - timedelta(hours=3)
    whole = [
        serialise(
            make_hit(
                {"t": "visit", "cid": "c", "dl": "https://example.com/"},
                ip="",
                ua="",
                referer="",
                lang="",
                ts=hour.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            )
        )
        for _ in range(3)
    ]
    logs = Path(site["LOG_DIR"])
    logs.mkdir(parents=True)
    path = logs / f"hits-{hour:%Y%m%d%H}-w1.jsonl"
    path.write_bytes(b"".join(whole) + whole[0][:40])  # a worker killed in the middle of a write
    os.utime(path, (hour.timestamp(), hour.timestamp()))

    first = run(site)
    assert (first.hits, first.rejected) == (3, 1)
    loads_after_first = _loads(store_url)
    for _ in range(3):
        again = run(site)
        assert (again.hits, again.rejected, again.load_id) == (0, 0, None)
    assert _loads(store_url) == loads_after_first  # no new load: the reports' ETag stays
    found = _rejects(site)
    assert len(found) == 1 and b"torn line" in found[0][1]


def test_a_title_quoting_a_nul_escape_loads_without_the_nul(tmp_path, store_url):
    site = _site(tmp_path, store_url)
    client = Client(Collector(site))
    title = "JSON strings: \u0000 ends a C string"
    hit = {
        "t": "visit",
        "cid": "c",
        "dl": "https://example.com/json",
        "dt": title,
        "props": {"k": "a\u0000b"},
    }
    assert client.post("/collect", json=hit, headers=AGENT).status_code == 204
    assert (
        client.get(
            "/1.gif?v=1&t=visit&cid=c&dl=https%3A%2F%2Fexample.com%2F&dt=%00x", headers=AGENT
        ).status_code
        == 200
    )
    assert b"\\u0000" in next(Path(site["LOG_DIR"]).glob("hits-*.jsonl")).read_bytes()

    report = run(site)

    assert (report.hits, report.rejected) == (2, 0)
    titles = sorted(row[0] for row in query(store_url, "SELECT doc_title FROM visits"))
    assert titles == sorted(["JSON strings:  ends a C string", "x"])


def _make_screen_depth_numeric(url: str) -> None:
    """A store that refuses some values: screen_depth takes digits only (another tool's schema change)."""
    engine = create_engine(url)
    try:
        ensure_schema(engine)
        with engine.begin() as conn:
            backend = backend_name(url)
            if backend == "duckdb":
                conn.exec_driver_sql("ALTER TABLE visits ALTER COLUMN screen_depth TYPE INTEGER")
            elif backend == "postgresql":
                conn.exec_driver_sql(
                    "ALTER TABLE visits ALTER COLUMN screen_depth TYPE integer USING screen_depth::integer"
                )
            elif backend == "mysql":
                conn.exec_driver_sql("ALTER TABLE visits MODIFY screen_depth INT")
            else:
                conn.exec_driver_sql(
                    "CREATE TRIGGER digits_only BEFORE INSERT ON visits "
                    "WHEN NEW.screen_depth GLOB '*[^0-9]*' "
                    "BEGIN SELECT RAISE(ABORT, 'screen_depth takes digits only'); END"
                )
    finally:
        engine.dispose()


def test_rows_the_store_refuses_are_set_aside_and_the_rest_loads(tmp_path, store_url):
    _make_screen_depth_numeric(store_url)
    site = _site(tmp_path, store_url)
    client = Client(Collector(site))
    refused = {}
    for n in range(400):
        depth = "deep" if n % 97 == 5 else "24"
        answer = client.get(
            f"/1.gif?v=1&t=visit&cid=c{n % 7}&sd={depth}&dl=https%3A%2F%2Fexample.com%2Fp{n}", headers=AGENT
        )
        assert answer.status_code == 200
        if depth == "deep":
            refused[f"/p{n}"] = n

    report = run(site, batch_bytes=8192)  # many batches, several transactions

    assert (report.hits, report.rejected) == (400 - len(refused), len(refused))
    assert report.rejects_file and Path(report.rejects_file).is_file()
    stored = {row[0] for row in query(store_url, "SELECT page_path FROM visits")}
    assert len(stored) == 400 - len(refused) and not stored & set(refused)
    found = _rejects(site)
    assert len(found) == len(refused)
    assert all(b"refused by the store" in reason for _, reason, _ in found)
    assert {json.loads(raw)["dl"].rsplit("/", 1)[1] for _, _, raw in found} == {p[1:] for p in refused}
    again = run(site)
    assert (again.hits, again.rejected) == (0, 0)
    assert len(_rejects(site)) == len(refused)


def test_a_dry_run_writes_nothing_and_says_what_it_would_load(tmp_path, store_url):
    logs = tmp_path / "logs"
    site = _site(tmp_path, store_url)
    client = Client(Collector({**site, "LOG_DIR": logs}))
    for n in range(3):
        assert client.get(f"/1.gif?v=1&t=visit&cid=c&dl=https%3A%2F%2Fexample.com%2F{n}").status_code == 200
    env = etl_env(tmp_path, store_url, logs)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    process = run_etl(env, "--dry-run")

    assert process.returncode == 0, process.stderr
    assert "3 hits would load" in process.stdout
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    if backend_name(store_url) in ("postgresql", "mysql"):
        engine = create_engine(store_url)
        try:
            assert sa.inspect(engine).get_table_names() == []
        finally:
            engine.dispose()

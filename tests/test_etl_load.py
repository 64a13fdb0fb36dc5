"""crumby etl on every backend: exactly once, rejects, sessions across runs, cookieless visitors, calendar."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from crumby.etl.lock import EtlLocked, RunLock
from crumby.etl.pipeline import run
from crumby.hits import make_hit, serialise
from crumby.store.engine import create_engine
from tests.conftest import BACKENDS, make_settings

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


def hit_line(n: int, *, when: datetime, cid: str | None = "c1", kind: str = "visit", **extra) -> bytes:
    fields = {"t": kind, "dl": f"https://example.com/p{n % 5}", "dt": "Page", "pv": "1", **extra}
    if cid:
        fields["cid"] = cid
    if kind == "event":
        fields.setdefault("en", "click")
    ts = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return serialise(
        make_hit(fields, ip=f"81.2.69.{n % 200}", ua=UA, referer="", lang="en", hit_id=f"h{n:08d}", ts=ts)
    )


def write_log(folder: Path, lines: list[bytes], hour: datetime = T0, writer: str = "w1") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"hits-{hour:%Y%m%d%H}-{writer}.jsonl"
    with open(path, "ab") as handle:
        handle.write(b"".join(lines))
    return path


def count(url: str, sql: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).all()
    finally:
        engine.dispose()


@pytest.fixture
def etl(tmp_path, store_url):
    def make(**overrides):
        return make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store_url, **overrides)

    return make


@pytest.fixture(params=[*BACKENDS, "clickhouse"])
def session_store(request, tmp_path):
    """A fresh store on every backend, ClickHouse too: sessions mean the same on each."""
    if request.param in ("duckdb", "sqlite"):
        return f"{request.param}:///{tmp_path / 'store'}.{request.param}"
    return request.getfixturevalue({"postgresql": "postgres_url"}.get(request.param, f"{request.param}_url"))


@pytest.fixture
def session_etl(tmp_path, session_store):
    def make(**overrides):
        return make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=session_store, **overrides)

    return make


def test_rerun_adds_nothing_and_every_row_has_a_load(tmp_path, store_url, etl):
    lines = [hit_line(n, when=T0 + timedelta(seconds=n)) for n in range(300)]
    lines += [hit_line(n, when=T0 + timedelta(seconds=n), kind="event") for n in range(300, 340)]
    write_log(tmp_path / "logs", lines)
    first = run(etl(), batch_bytes=8192)
    assert (first.visits, first.events, first.rejected) == (300, 40, 0)
    again = run(etl())
    assert again.hits == 0
    assert count(store_url, "SELECT COUNT(*), COUNT(DISTINCT hit_id) FROM visits")[0] == (300, 300)
    loads = count(store_url, "SELECT id, status, provenance FROM _crumby_loads")
    assert len(loads) == 1 and loads[0][1] == "done" and "geoip" in json.loads(loads[0][2])
    assert count(store_url, f"SELECT COUNT(*) FROM events WHERE load_id = {loads[0][0]}")[0][0] == 40
    # IPs are stored anonymised by default
    assert {row[0] for row in count(store_url, "SELECT DISTINCT ip FROM visits")} == {"81.2.69.0"}


def test_a_replayed_line_in_another_file_loads_once(tmp_path, store_url, etl):
    line = hit_line(1, when=T0)
    write_log(tmp_path / "logs", [line], writer="a")
    write_log(tmp_path / "logs", [line], writer="b")
    report = run(etl())
    assert report.hits == 1 and report.duplicates == 1
    assert count(store_url, "SELECT COUNT(*) FROM visits")[0][0] == 1


def test_poison_lines_are_rejected_counted_and_the_rest_loads(tmp_path, store_url, etl):
    good = [hit_line(n, when=T0 + timedelta(seconds=n)) for n in range(500)]
    poison = [
        b'{"v":1,"id":"torn","ts":"2026-03-02T10:00:00Z","t":"vis\n',
        b'{"v":1,"id":"bad\xff\xfe","ts":"2026-03-02T10:00:00Z","t":"visit","dl":"x"}\n',
        b'{"v":1,"id":"huge","ts":"2026-03-02T10:00:00Z","t":"visit","dl":"' + b"x" * 70000 + b'"}\n',
        b'{"v":1,"id":42,"ts":"2026-03-02T10:00:00Z","t":"visit"}\n',
        b'{"v":1,"id":"p1","ts":"2026-03-02T10:00:00Z","t":"event","en":"e","props":{"a":[1]}}\n',
    ]
    # A NUL is dropped, not the hit: the collector acknowledged it (a title may quote "\u0000").
    nul = b'{"v":1,"id":"nul","ts":"2026-03-02T10:00:00Z","t":"visit","dt":"a\\u0000b"}\n'
    lines = [*good, nul]
    for n, bad in enumerate(poison):  # about 1% of the lines, spread out
        lines.insert(100 * n + 7, bad)
    path = write_log(tmp_path / "logs", lines)
    report = run(etl(), batch_bytes=16384)
    assert report.rejected == len(poison)
    assert report.hits == len(good) + 1
    assert count(store_url, "SELECT COUNT(*) FROM visits")[0][0] == len(good) + 1
    assert count(store_url, "SELECT doc_title FROM visits WHERE hit_id = 'nul'") == [("ab",)]
    rejects = list((tmp_path / "data" / "rejects").glob("rejects-*.txt"))
    text = rejects[0].read_bytes().splitlines()
    assert len(text) == len(poison)
    offsets = {int(line.split(b"\t")[0].rsplit(b":", 1)[1]) for line in text}
    data = path.read_bytes()
    assert all(data[o - 1 : o] in (b"\n", b"") and data[o:].startswith(b'{"v":1,"id":') for o in offsets)
    assert run(etl()).rejected == 0  # rejects are not read twice


def test_a_half_written_last_line_waits_for_the_next_run(tmp_path, store_url, etl):
    now = datetime.now(timezone.utc)
    whole = hit_line(1, when=now)
    path = write_log(tmp_path / "logs", [whole, hit_line(2, when=now)[:30]], hour=now)
    assert run(etl()).hits == 1
    with open(path, "ab") as handle:
        handle.write(hit_line(2, when=now)[30:])
    second = run(etl())
    assert (second.hits, second.rejected) == (1, 0)


def test_new_files_and_growing_files_are_picked_up(tmp_path, store_url, etl):
    write_log(tmp_path / "logs", [hit_line(n, when=T0) for n in range(10)])
    assert run(etl()).hits == 10
    write_log(tmp_path / "logs", [hit_line(n, when=T0) for n in range(10, 15)])
    nxt = T0 + timedelta(hours=1)
    write_log(tmp_path / "logs", [hit_line(n, when=nxt) for n in range(15, 30)], hour=nxt)
    assert run(etl()).hits == 20
    assert count(store_url, "SELECT COUNT(*) FROM visits")[0][0] == 30


def test_a_session_spanning_two_runs_is_one_session(tmp_path, session_store, session_etl):
    write_log(tmp_path / "logs", [hit_line(1, when=T0), hit_line(2, when=T0 + timedelta(minutes=20))])
    run(session_etl())
    later = T0 + timedelta(hours=1)
    write_log(
        tmp_path / "logs",
        [hit_line(3, when=T0 + timedelta(minutes=45)), hit_line(4, when=T0 + timedelta(minutes=120))],
        hour=later,
    )
    run(session_etl())
    rows = count(session_store, "SELECT hit_id, session_id FROM visits ORDER BY datetime")
    assert [r[1] for r in rows] == ["h00000001"] * 3 + ["h00000004"]


def test_an_event_keeps_a_visit_going_into_the_next_run(tmp_path, session_store, session_etl):
    # the visitor's last hit of the first run is an event: the next page view comes 25 minutes after it
    write_log(
        tmp_path / "logs", [hit_line(1, when=T0), hit_line(2, when=T0 + timedelta(minutes=20), kind="event")]
    )
    run(session_etl())
    later = T0 + timedelta(hours=1)
    write_log(tmp_path / "logs", [hit_line(3, when=T0 + timedelta(minutes=45))], hour=later)
    run(session_etl())
    assert count(session_store, "SELECT session_id FROM visits WHERE hit_id = 'h00000003'") == [
        ("h00000001",)
    ]
    assert count(session_store, "SELECT COUNT(*) FROM sessions") == [(1,)]


def test_visitors_whose_ids_differ_in_case_or_trailing_blanks_keep_their_own_visits(
    tmp_path, session_store, session_etl
):
    # MySQL's collations take such ids as one: the last sessions must be found by exact id
    cids = ("Ab", "ab", "ab ")
    write_log(
        tmp_path / "logs", [hit_line(n, when=T0 + timedelta(minutes=n), cid=c) for n, c in enumerate(cids)]
    )
    run(session_etl())
    later = T0 + timedelta(hours=1)
    lines = [hit_line(10 + n, when=T0 + timedelta(minutes=20 + n), cid=c) for n, c in enumerate(cids)]
    write_log(tmp_path / "logs", lines, hour=later)
    run(session_etl())
    rows = count(session_store, "SELECT hit_id, session_id FROM visits")
    assert sorted(rows) == sorted(
        [(f"h{n:08d}", f"h{n:08d}") for n in range(3)] + [(f"h{10 + n:08d}", f"h{n:08d}") for n in range(3)]
    )


def test_a_late_file_joins_the_visit_its_hits_fall_in(tmp_path, session_store, session_etl):
    later = T0 + timedelta(hours=2)
    write_log(tmp_path / "logs", [hit_line(1, when=T0)])
    write_log(tmp_path / "logs", [hit_line(2, when=later), hit_line(5, when=later, cid="c2")], hour=later)
    run(session_etl())
    # another writer's file of the first hour, read a run later: its hit is 10 minutes into the
    # first visit, though the visitor's last hit so far is the later one; in the same batch another
    # visitor goes on with a later visit (two time spans looked up, not the hours between)
    write_log(tmp_path / "logs", [hit_line(3, when=T0 + timedelta(minutes=10))], writer="w2")
    write_log(tmp_path / "logs", [hit_line(4, when=later + timedelta(minutes=10), cid="c2")], hour=later)
    run(session_etl())
    rows = count(session_store, "SELECT hit_id, session_id FROM visits ORDER BY datetime, hit_id")
    assert rows == [
        ("h00000001", "h00000001"),
        ("h00000003", "h00000001"),
        ("h00000002", "h00000002"),
        ("h00000005", "h00000005"),
        ("h00000004", "h00000005"),
    ]
    visits = count(session_store, "SELECT session_id, pageviews FROM sessions ORDER BY session_id")
    assert visits == [("h00000001", 2), ("h00000002", 1), ("h00000005", 2)]


def test_late_hits_inside_a_long_visit_join_it(tmp_path, session_store, session_etl):
    # a visit of an hour, a page view every 20 minutes; a file read a run later holds two hits of it,
    # 5 and 50 minutes in (45 minutes apart, past the timeout, but the visit runs between them), and
    # another visitor's; the visit's last hit is 55 minutes after the first late one
    write_log(tmp_path / "logs", [hit_line(n, when=T0 + timedelta(minutes=20 * n)) for n in range(4)])
    run(session_etl())
    late = [
        hit_line(10, when=T0 + timedelta(minutes=5)),
        hit_line(11, when=T0 + timedelta(minutes=50)),
        hit_line(12, when=T0 + timedelta(minutes=50), cid="c2"),
    ]
    write_log(tmp_path / "logs", late, writer="w2")
    run(session_etl())
    rows = dict(count(session_store, "SELECT hit_id, session_id FROM visits"))
    assert rows == {**{f"h{n:08d}": "h00000000" for n in (0, 1, 2, 3, 10, 11)}, "h00000012": "h00000012"}
    visits = count(session_store, "SELECT session_id, pageviews FROM sessions ORDER BY session_id")
    assert visits == [("h00000000", 6), ("h00000012", 1)]


def test_time_spans_hold_every_time_with_its_reach_and_skip_what_lies_between():
    from crumby.etl.load import time_spans

    t0 = datetime(2026, 3, 2, 10, 0)
    times = pa.array([t0 + timedelta(minutes=40), t0, None, t0 + timedelta(days=5 * 365), t0])
    reach = timedelta(minutes=30)
    assert time_spans(times, reach, gap=2 * reach) == [
        (t0 - reach, t0 + timedelta(minutes=70)),
        (t0 + timedelta(days=5 * 365) - reach, t0 + timedelta(days=5 * 365) + reach),
    ]
    # 61 minutes apart: two spans; no reach by default (the stored ids of a batch's own times)
    assert time_spans(pa.array([t0, t0 + timedelta(minutes=61)])) == [
        (t0, t0),
        (t0 + timedelta(minutes=61), t0 + timedelta(minutes=61)),
    ]
    assert time_spans(pa.array([], pa.timestamp("us"))) == []


def test_cookieless_visitors_are_salted_hashes_of_site_ip_and_agent(tmp_path, store_url, etl):
    lines = [hit_line(n, when=T0 + timedelta(minutes=n), cid=None) for n in (1, 201, 2)]
    write_log(tmp_path / "logs", lines)
    run(etl(COOKIELESS=True))
    rows = dict(count(store_url, "SELECT hit_id, visitor_id FROM visits"))
    assert rows["h00000001"] == rows["h00000201"] != rows["h00000002"]  # same IP (n % 200) and agent
    assert len(rows["h00000001"]) == 32 and "81.2" not in rows["h00000001"]
    salts = count(store_url, "SELECT day FROM _crumby_salts")
    assert len(salts) == 1


def test_calendar_covers_every_day_with_data_through_today(tmp_path, store_url, etl):
    write_log(tmp_path / "logs", [hit_line(1, when=T0)])
    run(etl())
    days = [r[0] for r in count(store_url, "SELECT datetime FROM calendar ORDER BY datetime")]
    as_dates = [d.date() if isinstance(d, datetime) else date.fromisoformat(str(d)[:10]) for d in days]
    today = datetime.now(timezone.utc).date()
    assert as_dates[0] == T0.date() and as_dates[-1] == today
    assert len(as_dates) == (today - T0.date()).days + 1 == len(set(as_dates))


def test_a_second_run_waits_for_the_lock(tmp_path, store_url, etl):
    settings = etl()
    settings["DATA_DIR"].mkdir(parents=True, exist_ok=True)
    with RunLock(settings["DATA_DIR"] / "etl.lock"), pytest.raises(EtlLocked):
        run(settings)


def test_dry_run_writes_nothing(tmp_path, store_url, etl):
    write_log(tmp_path / "logs", [hit_line(n, when=T0) for n in range(5)])
    report = run(etl(), dry_run=True)
    assert report.hits == 5 and report.dry_run
    assert run(etl()).hits == 5


def test_hit_times_keep_their_milliseconds(tmp_path, store_url, etl):
    when = T0 + timedelta(milliseconds=123)
    write_log(tmp_path / "logs", [hit_line(1, when=when), hit_line(2, when=when, kind="event")])
    run(etl())
    for table in ("visits", "events"):
        (stored,) = count(store_url, f"SELECT datetime FROM {table}")[0]
        if isinstance(stored, str):  # SQLite hands back text
            stored = datetime.fromisoformat(stored)
        assert stored.microsecond == 123000, (table, stored)


def test_a_late_file_in_a_batch_reads_back_only_the_ids_of_its_own_times(tmp_path, postgres_url):
    """A late file for an old hour, read in one batch with the current hour: the ids looked up for
    duplicates are those stored around the batch's own times, not every id stored in the days between."""
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=postgres_url)
    logs = tmp_path / "logs"
    write_log(logs, [hit_line(0, when=T0)])
    for n in range(1, 201):  # two days of hits, one every fifteen minutes, stored by the first run
        when = T0 + timedelta(minutes=15 * n)
        write_log(logs, [hit_line(n, when=when)], hour=when.replace(minute=0))
    assert run(settings).hits == 201
    now = T0 + timedelta(hours=60)
    write_log(logs, [hit_line(0, when=T0), hit_line(500, when=T0 + timedelta(minutes=5))], writer="late")
    write_log(logs, [hit_line(501, when=now)], hour=now)
    engine_rows: list[int] = []

    def count_rows(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith(("SELECT visits.hit_id", "SELECT events.hit_id")) and "datetime" in statement:
            engine_rows.append(cursor.rowcount)

    sa.event.listen(sa.engine.Engine, "after_cursor_execute", count_rows)
    try:
        report = run(settings)
    finally:
        sa.event.remove(sa.engine.Engine, "after_cursor_execute", count_rows)
    assert (report.hits, report.duplicates) == (2, 1)
    assert count(postgres_url, "SELECT COUNT(*), COUNT(DISTINCT hit_id) FROM visits")[0] == (203, 203)
    assert engine_rows and sum(engine_rows) <= 2, engine_rows  # 10:00 to 10:05 on the first day only

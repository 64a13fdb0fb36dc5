"""Retention: old raw logs compressed (IPs scrubbed) or deleted once loaded, old rejects too, old rows."""

from __future__ import annotations

import gzip
import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from clickhouse_driver import Client

from crumby.etl.pipeline import run
from crumby.etl.reprocess import reprocess
from crumby.etl.retention import apply_retention
from crumby.store.engine import create_engine
from tests.conftest import make_settings
from tests.etl_corpus import (
    SMALL_BATCH,
    append_hits,
    checkpoints,
    corpus,
    log_path,
    over_three_runs,
    query,
    recent_start,
    table_rows,
)

OLD = recent_start(days_ago=40)
NEW = recent_start(days_ago=2)
BATCH = 1 << 17


def age(folder: Path, days: int = 40) -> None:
    """Give the folder's files the modification time of long ago, as old logs have."""
    when = time.time() - days * 86400
    for path in Path(folder).iterdir():
        os.utime(path, (when, when))


def old_and_new_logs(logs: Path) -> tuple[list, list]:
    old, new = corpus(400, OLD, seed=1, step_seconds=10), corpus(300, NEW, seed=2)
    append_hits(logs, old)
    age(logs)
    append_hits(logs, new)
    return old, new


@pytest.fixture
def settings_for(tmp_path):
    def make(url: str = "", **overrides):
        url = url or f"duckdb:///{tmp_path / 'store.duckdb'}"
        return make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=url, **overrides)

    return make


def test_loaded_old_logs_are_gzipped_with_ips_cut_and_keep_their_checkpoint(tmp_path, settings_for):
    logs = tmp_path / "logs"
    old, _ = old_and_new_logs(logs)
    settings = settings_for()
    assert run(settings, dry_run=True).retention is None  # a dry run expires nothing
    assert len(list(logs.glob("*.gz"))) == 0
    report = run(settings, batch_bytes=BATCH)
    assert report.hits == 700
    assert report.retention.compressed == 2 and "2 raw logs compressed" in report.summary()

    old_files = sorted({log_path(logs, when).name for when, _ in old})
    for name in old_files:
        assert not (logs / name).exists()
        content = gzip.decompress((logs / (name + ".gz")).read_bytes())
        ips = {json.loads(line)["ip"] for line in content.splitlines()}
        assert ips and all(ip.endswith(".0") or ip.endswith("::") for ip in ips), ips
    new_file = log_path(logs, NEW)
    assert new_file.exists() and b'"ip":"81.2.69.142"' in new_file.read_bytes()
    marks = checkpoints(settings["SQLALCHEMY_DATABASE_URI"])
    assert {name for name, mark in marks.items() if mark[3] == "compressed"} == set(old_files)
    assert all(not name.endswith(".gz") for name in marks)

    again = run(settings, batch_bytes=BATCH)
    assert again.hits == 0 and again.retention.compressed == 0
    assert (
        query(settings["SQLALCHEMY_DATABASE_URI"], "SELECT COUNT(*) FROM visits")[0][0]
        + query(settings["SQLALCHEMY_DATABASE_URI"], "SELECT COUNT(*) FROM events")[0][0]
        == 700
    )


def test_expiry_delete_removes_loaded_old_logs_and_nothing_loads_twice(tmp_path, settings_for):
    logs = tmp_path / "logs"
    old_and_new_logs(logs)
    settings = settings_for(RAW_LOG_EXPIRY="delete")
    report = run(settings, batch_bytes=BATCH)
    assert report.retention.deleted == 2 and report.retention.compressed == 0
    assert sorted(p.name for p in logs.iterdir()) == [log_path(logs, NEW).name]
    assert sorted(mark[3] or "" for mark in checkpoints(settings["SQLALCHEMY_DATABASE_URI"]).values()) == [
        "",
        "deleted",
        "deleted",
    ]
    assert run(settings).hits == 0


def test_a_file_not_wholly_loaded_or_never_loaded_is_kept(tmp_path, settings_for):
    logs = tmp_path / "logs"
    old_and_new_logs(logs)
    settings = settings_for(RAW_LOG_RETENTION_DAYS=0)  # load only, expire nothing yet
    run(settings, batch_bytes=BATCH)
    grown = log_path(logs, OLD)
    append_hits(logs, corpus(3, OLD + timedelta(minutes=50), seed=3))  # lines no run has loaded
    stranger = log_path(logs, OLD, writer="late")
    stranger.write_bytes(corpus(2, OLD, seed=4)[0][1])  # a file no run has seen
    age(logs)
    engine = create_engine(settings["SQLALCHEMY_DATABASE_URI"])
    try:
        report = apply_retention({**settings, "RAW_LOG_RETENTION_DAYS": 30}, engine)
    finally:
        engine.dispose()
    assert grown.exists() and stranger.exists()
    assert {grown.name, stranger.name} <= set(report.skipped)
    assert report.compressed == 1  # the other old hour, wholly loaded
    # The next run loads what was missing, then the files expire.
    final = run({**settings, "RAW_LOG_RETENTION_DAYS": 30})
    assert final.hits == 4 and final.retention.compressed == 2
    assert not grown.exists() and Path(str(grown) + ".gz").exists()


def test_an_old_file_still_being_written_is_kept(tmp_path, settings_for):
    logs = tmp_path / "logs"
    old_and_new_logs(logs)
    settings = settings_for(RAW_LOG_RETENTION_DAYS=0)
    run(settings, batch_bytes=BATCH)
    touched = log_path(logs, OLD)
    os.utime(touched)  # written a moment ago (a replay of old hits, say): its writer may not be done
    engine = create_engine(settings["SQLALCHEMY_DATABASE_URI"])
    try:
        report = apply_retention({**settings, "RAW_LOG_RETENTION_DAYS": 30}, engine)
    finally:
        engine.dispose()
    assert touched.exists() and report.skipped == [touched.name] and report.compressed == 1


def test_an_interrupted_compression_is_finished_by_the_next_run(tmp_path, settings_for):
    logs = tmp_path / "logs"
    old_and_new_logs(logs)
    settings = settings_for()
    run(settings, batch_bytes=BATCH)
    # As if the run had died after its checkpoint said compressed, before removing the plain file.
    old_file = log_path(logs, OLD)
    old_file.write_bytes(gzip.decompress(Path(str(old_file) + ".gz").read_bytes()))
    age(logs)
    report = run(settings)
    assert report.hits == 0 and not old_file.exists() and Path(str(old_file) + ".gz").exists()


def test_old_rejects_files_are_scrubbed_or_deleted(tmp_path, settings_for):
    rejects = tmp_path / "data" / "rejects"
    rejects.mkdir(parents=True)
    old_day = (datetime.now(timezone.utc).date() - timedelta(days=45)).strftime("%Y%m%d")
    old = rejects / f"rejects-{old_day}.txt"
    old.write_bytes(b'hits-x.jsonl:0\tnot valid JSON\t{"id":"a","ip":"81.2.69.142","ts":\n')
    recent = rejects / f"rejects-{datetime.now(timezone.utc):%Y%m%d}.txt"
    recent.write_bytes(b'hits-y.jsonl:0\tnot valid JSON\t{"ip":"81.2.69.142"\n')
    engine = create_engine(f"duckdb:///{tmp_path / 'store.duckdb'}")
    try:
        report = apply_retention(settings_for(), engine)
        assert report.rejects == 1 and not old.exists() and recent.exists()
        assert b'"ip":"81.2.69.0"' in gzip.decompress(Path(str(old) + ".gz").read_bytes())
        report = apply_retention(settings_for(RAW_LOG_EXPIRY="delete"), engine)
    finally:
        engine.dispose()
    assert report.rejects == 1 and sorted(p.name for p in rejects.iterdir()) == [recent.name]


def test_rows_past_row_retention_leave_the_store_and_the_calendar_follows(tmp_path, store_url, settings_for):
    old_and_new_logs(tmp_path / "logs")
    settings = settings_for(store_url, ROW_RETENTION_DAYS=10, RAW_LOG_RETENTION_DAYS=0)
    report = run(settings, batch_bytes=BATCH)
    assert report.hits == 700 and report.retention.rows == 400
    assert "400 rows past retention deleted" in report.summary()
    cutoff = datetime.combine(datetime.now(timezone.utc).date() - timedelta(days=10), datetime.min.time())
    for table in ("visits", "events"):
        first = query(store_url, f"SELECT MIN(datetime) FROM {table}")[0][0]
        assert str(first)[:10] >= str(NEW.date())
    days = [row[0] for row in table_rows(store_url, "calendar")]
    assert str(days[0])[:10] == str(cutoff.date())
    assert str(days[-1])[:10] == str(datetime.now(timezone.utc).date())
    assert len(days) == 11
    # The deletion is a load of its own, so the reports' ETag moves past the rows that went.
    kinds = "SELECT kind FROM _crumby_loads WHERE status = 'done' ORDER BY id"
    assert [row[0] for row in query(store_url, kinds)] == ["etl", "retention"]
    # Raw logs are kept (RAW_LOG_RETENTION_DAYS=0), and their rows do not come back.
    assert run(settings).hits == 0
    assert [row[0] for row in query(store_url, kinds)] == ["etl", "retention"]


def test_a_compressed_log_can_still_be_reprocessed(tmp_path, store_url, settings_for):
    logs = tmp_path / "logs"
    old_and_new_logs(logs)
    settings = settings_for(store_url)
    run(settings, batch_bytes=BATCH)
    assert Path(str(log_path(logs, OLD)) + ".gz").exists() and not log_path(logs, OLD).exists()
    before = {
        row[0]: row for row in query(store_url, "SELECT hit_id, id, session_id, load_id, ip FROM visits")
    }
    report = reprocess({**settings, "IP_PRIVACY": "none"}, OLD.date(), OLD.date())
    assert report.hits == 400
    after = {
        row[0]: row for row in query(store_url, "SELECT hit_id, id, session_id, load_id, ip FROM visits")
    }
    assert after.keys() == before.keys()
    for hit_id, row in after.items():
        if hit_id.startswith("k01"):  # the old day's hits, read back from the .gz
            assert row[1:3] == before[hit_id][1:3] and row[3] == report.load_id and row[4] is None
        else:
            assert row == before[hit_id]


def test_rows_past_row_retention_leave_a_clickhouse_store(tmp_path, clickhouse_url, settings_for):
    """Deleted there by whole months and ALTER TABLE ... DELETE, visits whole, as on the other stores."""
    test_rows_past_row_retention_leave_the_store_and_the_calendar_follows(
        tmp_path, clickhouse_url, settings_for
    )
    # The visits' rows are partitioned by the month they began in: months before the cutoff are
    # dropped whole, and a DELETE rewrites the cutoff's month only, not every visit ever stored.
    cutoff = datetime.now(timezone.utc).date() - timedelta(days=10)
    parts = "SELECT DISTINCT partition FROM system.parts WHERE active AND database = currentDatabase() AND "
    months = [row[0] for row in query(clickhouse_url, parts + "table = '_crumby_session_rows'")]
    assert months and all(m.isdigit() and int(m) >= cutoff.year * 100 + cutoff.month for m in months)
    assert (
        query(
            clickhouse_url, f"SELECT count() FROM _crumby_session_rows WHERE started < '{cutoff} 00:00:00'"
        )[0][0]
        == 0
    )


def test_retention_takes_the_superseded_versions_of_the_visits_it_deletes(
    tmp_path, clickhouse_url, settings_for
):
    """A visit continued by a later batch lists its older versions in _crumby_superseded: they go with
    the visit's rows, so the table does not grow for ever; those of the visits kept stay."""
    for hits in over_three_runs(OLD, NEW):  # each day's visits go on from one run into the next
        append_hits(tmp_path / "logs", hits)
        run(
            settings_for(clickhouse_url, ROW_RETENTION_DAYS=0, RAW_LOG_RETENTION_DAYS=0),
            batch_bytes=SMALL_BATCH,
        )
    cutoff = datetime.combine(datetime.now(timezone.utc).date() - timedelta(days=10), datetime.min.time())
    listed = (
        "SELECT countIf(started < %(cutoff)s), countIf(started >= %(cutoff)s) FROM _crumby_superseded "
        "ANY INNER JOIN (SELECT DISTINCT session_id, started FROM _crumby_session_rows) USING session_id"
    )
    database, port = clickhouse_url.rsplit("/", 1)[1], int(clickhouse_url.split(":")[-1].split("/")[0])
    client = Client("127.0.0.1", port=port, database=database)
    ((old, kept),) = client.execute(listed, {"cutoff": cutoff})
    assert old > 0 and kept > 0, "visits of both days went on from one run into the next"
    report = run(settings_for(clickhouse_url, ROW_RETENTION_DAYS=10, RAW_LOG_RETENTION_DAYS=0))
    assert report.retention.rows == 400
    without_rows = (
        "SELECT count() FROM _crumby_superseded "
        "WHERE session_id NOT IN (SELECT session_id FROM _crumby_session_rows)"
    )
    assert client.execute(without_rows) == [(0,)]
    assert client.execute(listed, {"cutoff": cutoff}) == [(0, kept)]
    ((visits, distinct),) = client.execute("SELECT count(), uniqExact(session_id) FROM sessions")
    assert visits == distinct > 0, "each kept visit is seen once"


def test_a_compressed_log_can_still_be_reprocessed_into_clickhouse(tmp_path, clickhouse_url, settings_for):
    test_a_compressed_log_can_still_be_reprocessed(tmp_path, clickhouse_url, settings_for)
    # each hit once: the reprocessed row replaced the old one under its key
    ((rows, hits),) = query(clickhouse_url, "SELECT count(), uniqExact(hit_id) FROM visits")
    assert rows == hits > 400

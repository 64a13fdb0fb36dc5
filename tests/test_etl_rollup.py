"""The aggregated store (``sessions``): kept by the ETL batch after batch, it equals one built from the rows.

Each test loads hits with small batches, over several runs, with two writers'
files per hour (a later batch then holds earlier hits of a visit), so visits
span batches and runs; the ``sessions`` rows the ETL kept must equal those
rebuilt afterwards from the stored page views, on every backend, and add up
to the page views.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

import pyarrow as pa
import pytest

from crumby.etl.keys import id_keys
from crumby.etl.pipeline import run
from crumby.etl.reprocess import reprocess
from crumby.etl.retention import delete_old_rows
from crumby.etl.rollup import backfill
from crumby.store.engine import create_engine
from tests.etl_corpus import (
    SMALL_BATCH,
    in_transaction,
    load_between_writers,
    query,
    recent_start,
    table_rows,
)


def _sessions(url: str) -> list[tuple]:
    return table_rows(url, "sessions")


def _rebuild(url: str) -> None:
    in_transaction(url, backfill)


@pytest.fixture
def loaded(tmp_path, store_url):
    return load_between_writers(tmp_path, store_url)


def test_visits_kept_batch_by_batch_equal_a_build_from_the_rows(loaded, store_url):
    kept = _sessions(store_url)
    assert kept, "the load made visits"
    _rebuild(store_url)
    assert _sessions(store_url) == kept
    # A store whose rows came before the table: the next run builds it from them.
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM sessions")
    finally:
        engine.dispose()
    run(loaded, batch_bytes=SMALL_BATCH)
    assert _sessions(store_url) == kept

    (visits, sessions_in_rows, visitors) = query(
        store_url, "SELECT COUNT(*), COUNT(DISTINCT session_id), COUNT(DISTINCT visitor_id) FROM visits"
    )[0]
    (rows, pageviews, keys, spanning) = query(
        store_url,
        "SELECT COUNT(*), SUM(pageviews), COUNT(DISTINCT visitor_key), "
        "SUM(CASE WHEN pageviews > 1 THEN 1 ELSE 0 END) FROM sessions",
    )[0]
    assert (rows, int(pageviews), keys) == (sessions_in_rows, visits, visitors)
    assert spanning > rows // 4, "many visits have more than one page view"
    entry = query(
        store_url,
        "SELECT s.entry_page, s.exit_page, s.started, s.ended, s.duration FROM sessions s "
        "WHERE s.pageviews > 2 ORDER BY s.session_id",
    )[0]
    assert entry[2] < entry[3] and entry[4] >= 0


def test_a_replayed_file_adds_no_visit(loaded, store_url, tmp_path):
    before = _sessions(store_url)
    logs = tmp_path / "logs"
    original = sorted(logs.glob("*-w1.jsonl"))[0]
    shutil.copy(original, logs / original.name.replace("-w1", "-w9"))  # the same hits under another name
    visits = query(store_url, "SELECT COUNT(*) FROM visits")
    report = run(loaded, batch_bytes=SMALL_BATCH)
    assert report.hits == 0 and report.duplicates > 0, report.summary()
    assert query(store_url, "SELECT COUNT(*) FROM visits") == visits
    assert _sessions(store_url) == before


def test_a_batch_of_stored_and_new_page_views_folds_in_the_new_ones_alone(loaded, store_url, tmp_path):
    """A file that replays stored hits beside new ones of the same visits: only the page views the
    batch inserted count in the visits they continue, as a build from the stored rows says."""
    logs = tmp_path / "logs"
    original = sorted(logs.glob("*-w1.jsonl"))[0]
    replayed = original.read_bytes().splitlines(keepends=True)
    new = [line.replace(b'"id":"', b'"id":"again-', 1) for line in replayed if b'"t":"visit"' in line]
    (logs / original.name.replace("-w1", "-w9")).write_bytes(b"".join(replayed + new))
    before = query(store_url, "SELECT SUM(pageviews) FROM sessions")[0][0]

    report = run(loaded, batch_bytes=SMALL_BATCH)
    assert (report.hits, report.duplicates) == (len(new), len(replayed)), report.summary()
    kept = _sessions(store_url)
    assert query(store_url, "SELECT SUM(pageviews) FROM sessions")[0][0] == before + len(new)
    _rebuild(store_url)
    assert _sessions(store_url) == kept


def test_reprocess_and_retention_keep_the_visits_in_step(loaded, store_url):
    day = recent_start()
    report = reprocess(loaded, day.date(), day.date(), batch_bytes=SMALL_BATCH)
    assert report.hits > 0
    loads = {row[0] for row in query(store_url, "SELECT DISTINCT load_id FROM sessions")}
    assert report.load_id in loads, "the rebuilt visits carry the reprocess's load"
    reprocessed = _sessions(store_url)
    _rebuild(store_url)
    assert _sessions(store_url) == reprocessed

    cutoff = day + timedelta(hours=12)
    engine = create_engine(store_url)
    try:
        delete_old_rows(engine, cutoff.date() + timedelta(days=1))
    finally:
        engine.dispose()
    assert query(store_url, "SELECT COUNT(*) FROM sessions")[0][0] == 0
    assert query(store_url, "SELECT COUNT(*) FROM visits")[0][0] == 0


def test_id_keys_are_stable_64_bit_integers():
    keys = id_keys(pa.array(["a", "b", "a", None]))
    values = keys.to_pylist()
    assert values[0] == values[2] != values[1] and values[3] is None
    assert all(-(2**63) <= v < 2**63 for v in values[:3])
    assert values[0] == id_keys(pa.array(["a"])).to_pylist()[0]


def test_a_continued_visit_marks_its_end_days_and_its_start_days_only_when_the_start_moved(tmp_path):
    """A visit stored from day 3 to day 4 goes on to day 5: days 4 and 5 are marked, its start day 3 is
    not. Another, stored on day 2, gains page views of day 1 from a file read late: days 1 and 2."""
    from datetime import datetime

    from crumby.etl.rollup import mark_changed_days
    from crumby.store import stale_days
    from crumby.store.migrations import ensure_schema

    day = [datetime(2026, 3, n, 12) for n in range(1, 6)]

    def visits(*rows):
        ids, started, ended = zip(*rows, strict=True)
        return pa.table({"session_id": list(ids), "started": list(started), "ended": list(ended)})

    before = visits(("goes-on", day[2], day[3]), ("begun-earlier", day[1], day[1]))
    after = visits(("begun-earlier", day[0], day[1]), ("goes-on", day[2], day[4]))
    engine = create_engine(f"duckdb:///{tmp_path / 'store.duckdb'}")
    ensure_schema(engine)
    with engine.begin() as conn:
        mark_changed_days(conn, before, after)
        marked = stale_days.stale(conn)
    engine.dispose()
    assert marked == [day[0].date(), day[1].date(), day[3].date(), day[4].date()]

"""Every built-in report returns the same rows on DuckDB, SQLite, PostgreSQL and MariaDB.

DuckDB's answers are first checked against sums made in Python from the
fixture's rows, then each other backend must match them exactly.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter, defaultdict
from datetime import datetime

import pytest
from report_fixture import ESCAPED, LATE_RANGE, RANGE, build_rows, load_fixture

from crumby.queries import find_templates
from crumby.queries.run import run_report
from crumby.store.readonly import close_readers

# A range that cuts into its first and last days: the daily figures cannot answer it.
CUT_RANGE = {"t0": "2024-03-01T06:30:00", "t1": "2024-04-29T18:00:00"}

CASES: list[tuple[str, dict]] = [
    *[(f"{t.visibility}/{t.name}", dict(RANGE)) for t in find_templates() if t.name != "event_props"],
    ("public/summary", dict(LATE_RANGE)),
    ("public/summary", {**LATE_RANGE, "site": "blog.example.com"}),
    ("public/timeseries", {**LATE_RANGE, "granularity": "hour"}),
    ("public/pages", {**RANGE, "site": "example.com", "limit": "5"}),
    ("public/pages", dict(CUT_RANGE)),
    ("public/pages", {**CUT_RANGE, "path": "/about"}),
    ("public/documents", dict(CUT_RANGE)),
    ("public/channels", dict(CUT_RANGE)),
    ("public/browsers", dict(CUT_RANGE)),
    ("public/entry_pages", dict(CUT_RANGE)),
    ("public/campaigns", dict(CUT_RANGE)),
    ("public/timeseries", dict(CUT_RANGE)),
    ("private/events", dict(CUT_RANGE)),
    ("private/event_names", dict(CUT_RANGE)),
    ("private/origins", dict(CUT_RANGE)),
    ("private/origins", {**RANGE, "path": "/about"}),
    ("private/event_values", {**CUT_RANGE, "event": "play"}),
    ("public/entry_pages", {**RANGE, "path": "/about"}),
    ("public/sources", {**LATE_RANGE, "site": "shop.example.org"}),
    ("private/event_props", {**RANGE, "prop": "plan"}),
    ("private/event_props", {**RANGE, "prop": "from", "event": "signup"}),
    ("private/event_values", {**RANGE, "event": "play"}),
]


def run_all(url: str) -> dict[int, list[list]]:
    templates = {f"{t.visibility}/{t.name}": t for t in find_templates()}
    settings = {"SQLALCHEMY_DATABASE_URI": url}
    try:
        return {n: run_report(templates[key], params, settings).rows for n, (key, params) in enumerate(CASES)}
    finally:
        close_readers()


@pytest.fixture(scope="module")
def duckdb_results(tmp_path_factory):
    url = load_fixture(f"duckdb:///{tmp_path_factory.mktemp('reports') / 'store.duckdb'}")
    return run_all(url)


def test_every_builtin_report_is_compared():
    covered = {key for key, _ in CASES}
    assert covered == {f"{t.visibility}/{t.name}" for t in find_templates()}
    assert len(covered) == 27


def _python_summary(start: datetime, end: datetime, site: str | None = None) -> list:
    """The summary's current-period row, computed from the fixture rows.

    As the aggregated store counts them: a visit belongs to the range its first
    page view falls in, with all its page views, and takes that view's site.
    The visitors are those of every visit under way in the range, begun in it
    or before it, so that no other report counts more of them.
    """
    by_session = defaultdict(list)
    for r in sorted(build_rows()[0], key=lambda r: (r["datetime"], r["hit_id"])):
        by_session[r["session_id"]].append(r)
    kept = {
        key: views
        for key, views in by_session.items()
        if start <= views[0]["datetime"] < end
        and not views[0]["is_bot"]
        and (site is None or views[0]["site"] == site)
    }
    rows = [r for views in kept.values() for r in views]
    present = {
        views[0]["visitor_id"]
        for views in by_session.values()
        if views[0]["datetime"] < end
        and views[-1]["datetime"] >= start
        and not views[0]["is_bot"]
        and (site is None or views[0]["site"] == site)
    }
    sessions = {key: [r["datetime"] for r in views] for key, views in kept.items()}
    visits = len(sessions)
    pageviews = len(rows)
    bounces = sum(1 for times in sessions.values() if len(times) == 1)
    whole = [
        (max(t).replace(microsecond=0) - min(t).replace(microsecond=0)).total_seconds()
        for t in sessions.values()
    ]
    duration = int(sum(whole))
    return [
        "current",
        len(present),
        visits,
        pageviews,
        math.floor(pageviews * 100 / visits + 0.5) / 100,
        math.floor(bounces * 1000 / visits + 0.5) / 10,
        (2 * duration + visits) // (2 * visits),
    ]


def test_duckdb_answers_match_the_fixture(duckdb_results):
    late = (datetime(2024, 4, 1), datetime(2024, 4, 30))
    summary_late = duckdb_results[CASES.index(("public/summary", dict(LATE_RANGE)))]
    assert summary_late[0] == _python_summary(*late)
    previous = _python_summary(datetime(2024, 3, 3), datetime(2024, 4, 1))
    assert summary_late[1] == ["previous", *previous[1:]]
    blog = CASES.index(("public/summary", {**LATE_RANGE, "site": "blog.example.com"}))
    assert duckdb_results[blog][0] == _python_summary(*late, site="blog.example.com")

    human = [r for r in build_rows()[0] if not r["is_bot"]]
    pages = duckdb_results[CASES.index(("public/pages", dict(RANGE)))]
    views = Counter((r["site"], r["page_path"]) for r in human)
    assert {(row[0], row[1]): row[4] for row in pages} == dict(views)
    assert ("example.com", "/About") in views and ("example.com", "/about") in views  # case kept apart
    # a page's visitors and visits: distinct over the whole range
    assert {(row[0], row[1]): row[2] for row in pages} == _distinct(human, "visitor_id")
    assert {(row[0], row[1]): row[3] for row in pages} == _distinct(human, "session_id")
    assert any(n > 1 for n in Counter(r["visitor_id"] for r in human).values())  # visitors come back
    came_back = Counter((r["site"], r["page_path"], r["visitor_id"]) for r in human)
    assert sum(1 for n in came_back.values() if n > 1) > 10  # on a page too: each counts once

    # a range cut inside its days is counted the same way
    low, high = datetime(2024, 3, 1, 6, 30), datetime(2024, 4, 29, 18)
    cut = [r for r in human if low <= r["datetime"] < high]
    cut_pages = duckdb_results[CASES.index(("public/pages", dict(CUT_RANGE)))]
    assert {(row[0], row[1]): row[2] for row in cut_pages} == _distinct(cut, "visitor_id")
    assert {(row[0], row[1]): row[4] for row in cut_pages} == dict(
        Counter((r["site"], r["page_path"]) for r in cut)
    )
    documents = duckdb_results[CASES.index(("public/documents", dict(RANGE)))]
    cut_documents = duckdb_results[CASES.index(("public/documents", dict(CUT_RANGE)))]
    assert sum(row[2] for row in documents) == len(human)
    assert sum(row[2] for row in cut_documents) == len(cut) < len(human)

    first_hits = {}
    for r in sorted(human, key=lambda r: (r["datetime"], r["id"])):
        first_hits.setdefault(r["session_id"], r)
    channels = duckdb_results[CASES.index(("public/channels", dict(RANGE)))]
    assert {row[0]: row[2] for row in channels} == dict(Counter(r["channel"] for r in first_hits.values()))
    # a channel's visitors: distinct over the whole range (a visit counts on the day it began)
    channel_visitors = Counter(
        channel for channel, _ in {(r["channel"], r["visitor_id"]) for r in first_hits.values()}
    )
    assert {row[0]: row[1] for row in channels} == dict(channel_visitors)
    assert len(first_hits) > len({(r["channel"], r["visitor_id"]) for r in first_hits.values()})  # returns
    # a range cut inside its days counts visitors exactly, from the visits themselves
    cut_firsts = [r for r in first_hits.values() if low <= r["datetime"] < high]
    cut_channels = duckdb_results[CASES.index(("public/channels", dict(CUT_RANGE)))]
    assert {row[0]: row[2] for row in cut_channels} == dict(Counter(r["channel"] for r in cut_firsts))
    assert {row[0]: row[1] for row in cut_channels} == dict(
        Counter(channel for channel, _ in {(r["channel"], r["visitor_id"]) for r in cut_firsts})
    )

    series = duckdb_results[CASES.index(("public/timeseries", {**LATE_RANGE, "granularity": "hour"}))]
    assert (
        len(series) == 29 * 24 and series[0][0] == "2024-04-01 00:00" and series[-1][0] == "2024-04-29 23:00"
    )
    assert sum(row[3] for row in series) == _python_summary(*late)[3]
    assert all(row[0] for row in duckdb_results[CASES.index(("private/events", dict(RANGE)))])  # titles

    # an event's visitors: distinct over the whole range, whole days or cut
    human_events = [r for r in build_rows()[1] if not r["is_bot"]]
    names = duckdb_results[CASES.index(("private/event_names", dict(RANGE)))]
    assert {row[0]: (row[1], row[2]) for row in names} == {
        name: (
            sum(1 for r in human_events if r["name"] == name),
            len({r["visitor_id"] for r in human_events if r["name"] == name}),
        )
        for name in {r["name"] for r in human_events}
    }
    cut_events = [r for r in human_events if low <= r["datetime"] < high]
    cut_names = duckdb_results[CASES.index(("private/event_names", dict(CUT_RANGE)))]
    assert {row[0]: (row[1], row[2], row[3]) for row in cut_names} == {
        name: (
            sum(1 for r in cut_events if r["name"] == name),
            len({r["visitor_id"] for r in cut_events if r["name"] == name}),
            sum(1 for r in cut_events if r["name"] == name and r["value"]),
        )
        for name in {r["name"] for r in cut_events}
    }
    assert sum(row[3] for row in names) == sum(1 for r in human_events if r["value"])

    # events by a property's value, unescaped from the stored JSON text
    plans = duckdb_results[CASES.index(("private/event_props", {**RANGE, "prop": "plan"}))]
    assert {(row[0], row[1]): row[2] for row in plans} == dict(
        Counter((r["name"], json.loads(r["props"] or "{}").get("plan", "")) for r in human_events)
    )
    assert any(row[1] == ESCAPED for row in plans)

    # page views per referring address, links from the site itself left out
    def origins_of(rows):
        referred = [r for r in rows if r["referrer"] and (r["channel"] or "") != "internal"]
        return Counter(r["referrer"].split("://", 1)[-1] for r in referred)

    origins = duckdb_results[CASES.index(("private/origins", dict(RANGE)))]
    assert {row[0]: row[1] for row in origins} == dict(origins_of(human))
    cut_origins = duckdb_results[CASES.index(("private/origins", dict(CUT_RANGE)))]
    assert {row[0]: row[1] for row in cut_origins} == dict(origins_of(cut))


def _distinct(rows: list[dict], key: str) -> dict[tuple, int]:
    """Distinct ``key`` values per site and page of ``rows``."""
    return dict(
        Counter((site, path) for site, path, _ in {(r["site"], r["page_path"], r[key]) for r in rows})
    )


def _assert_same(expected: dict, actual: dict, backend: str) -> None:
    for n, (key, params) in enumerate(CASES):
        for line, (want, got) in enumerate(itertools.zip_longest(expected[n], actual[n])):
            assert got == want, f"{backend}: {key} {params} row {line}: {got} != DuckDB's {want}"


def test_sqlite_matches_duckdb(duckdb_results, tmp_path):
    _assert_same(duckdb_results, run_all(load_fixture(f"sqlite:///{tmp_path / 'store.sqlite'}")), "SQLite")


def test_postgresql_matches_duckdb(duckdb_results, postgres_url):
    _assert_same(duckdb_results, run_all(load_fixture(postgres_url)), "PostgreSQL")


def test_mariadb_matches_duckdb(duckdb_results, mariadb_url):
    _assert_same(duckdb_results, run_all(load_fixture(mariadb_url)), "MariaDB")


def test_current_clickhouse_matches_duckdb(duckdb_results, tmp_path):
    """Every report's SQL, as rendered for ClickHouse, on a current release (chDB) over the same rows."""
    from chdb_store import ChdbStore
    from report_fixture import clickhouse_fixture_rows

    from crumby.queries.run import plain_value, prepare

    store = ChdbStore(tmp_path / "chdb")
    try:
        assert store.version >= (24, 1)
        for name, rows in clickhouse_fixture_rows().items():
            store.insert(name, rows)
        templates = {f"{t.visibility}/{t.name}": t for t in find_templates()}
        answers = {
            n: [
                [plain_value(v) for v in row]
                for row in store.run(prepare(templates[key], params, "clickhouse"))
            ]
            for n, (key, params) in enumerate(CASES)
        }
    finally:
        store.close()
    _assert_same(duckdb_results, answers, "ClickHouse (chDB)")


def test_clickhouse_server_matches_duckdb(duckdb_results, clickhouse_url):
    """Every report, every case, on the test's real server (18.16): no window functions there (a
    visit's first page view is picked with argMin) and no JSONExtract functions (event_props reads
    the props with visitParamExtractString, see crumby/queries/clickhouse_shape.py)."""
    from report_fixture import load_clickhouse_fixture

    from crumby.store import clickhouse
    from crumby.store.engine import create_engine

    url = load_clickhouse_fixture(clickhouse_url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:  # the old server this test is about
            assert clickhouse.server(conn).version < (19,)
            has = "SELECT count() FROM system.functions WHERE name = 'JSONExtractString'"
            assert clickhouse.query(conn, has)[0][0] == 0
    finally:
        engine.dispose()
    _assert_same(duckdb_results, run_all(url), "ClickHouse 18.16 server")

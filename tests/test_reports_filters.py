"""Filters (``f=DIMENSION:OPERATOR:VALUE``) on every store: right on DuckDB, the same everywhere else.

DuckDB's filtered answers are checked against counts made in Python from the
fixture's rows, for each operator and each kind of dimension (a visit's own,
the browser's, a page, an event); then SQLite, PostgreSQL and MariaDB must
return the very same rows for every case, hostile values included.
"""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from report_fixture import LATE_RANGE, RANGE, build_rows, load_fixture

from crumby.auth import Goal
from crumby.queries import ParameterError, TemplateError, find_templates
from crumby.queries.filters import DIMENSIONS
from crumby.queries.run import prepare, run_report
from crumby.queries.templates import parse_template
from crumby.store.readonly import close_readers

GOALS = (
    Goal("signup", "event", "signup"),
    Goal("docs", "page", "/docs/*"),
    Goal("ünïcode", "page", "*ünï*"),
    Goal("literal", "page", "/a_b%[?]\\*"),
)
HOSTILE = ("'; DROP TABLE visits; --", "x' OR '1'='1", "%_\\", "ü😀\u202e:t0 $1", "a" * 1000)

CASES: list[tuple[str, list[str]]] = [
    ("public/pages", ["country:is:DE"]),
    ("public/pages", ["country:is_not:DE"]),
    ("public/pages", ["page:contains:/docs"]),
    ("public/pages", ["page:not_contains:/docs"]),
    ("public/pages", ["page:contains:ünï"]),
    ("public/pages", ["source:is:Google"]),
    ("public/pages", ["country:is:"]),
    ("public/summary", ["event:is:signup"]),
    ("public/summary", ["event:is_not:signup"]),
    ("public/summary", ["source:is:Google", "device:is:desktop"]),
    ("public/sources", ["browser:is_not:Chrome", "page:contains:/docs"]),
    ("public/countries", ["source:contains:oo"]),
    ("public/timeseries", ["channel:not_contains:s"]),
    ("public/entry_pages", ["exit_page:is:/"]),
    ("public/browsers", ["page:is_not:/"]),
    ("public/campaigns", ["event:is_not:signup"]),
    ("public/documents", ["language:is:de-DE"]),
    ("public/cities", ["utm_campaign:is:spring-sale"]),
    ("public/visits", ["screen:is:1920x1080"]),
    ("private/event_names", ["country:is:DE"]),
    ("private/event_values", ["page:is:/pricing", "region:contains:a"]),
    ("private/events", ["event:contains:Ünï"]),
    ("private/origins", ["os:is:iOS"]),
    ("private/locations", ["entry_page:is_not:/about"]),
    ("private/goals", []),
    ("private/goals", ["country:is:DE", "page:not_contains:/docs/api"]),
    *[
        ("public/pages", [f"{d}:is:{v}", f"{d}:contains:{v}"])
        for d, v in zip(DIMENSIONS, itertools.cycle(HOSTILE))
    ],
]


def run_cases(url: str) -> list[list[list]]:
    templates = {f"{t.visibility}/{t.name}": t for t in find_templates()}
    settings = {"SQLALCHEMY_DATABASE_URI": url}
    try:
        return [
            run_report(templates[key], {**RANGE, "f": filters}, settings, goals=GOALS).rows
            for key, filters in CASES
        ]
    finally:
        close_readers()


@pytest.fixture(scope="module")
def duckdb_results(tmp_path_factory):
    return run_cases(load_fixture(f"duckdb:///{tmp_path_factory.mktemp('filters') / 'store.duckdb'}"))


def _rows(key: str, filters: list[str], results):
    return results[CASES.index((key, filters))]


def _human():
    visits, events, _ = build_rows()
    return [r for r in visits if not r["is_bot"]], events


def _entries(visits):
    """Each session's first page view (the visit's own attributes)."""
    first = {}
    for row in sorted(visits, key=lambda r: (r["datetime"], r["id"])):
        first.setdefault(row["session_id"], row)
    return first


def _pageviews(rows) -> dict:
    return dict(Counter((r["site"], r["page_path"]) for r in rows))


def test_each_operator_on_duckdb_matches_the_fixture(duckdb_results):
    human, events = _human()

    def views(key, filters):
        return {(row[0], row[1]): row[4] for row in _rows(key, filters, duckdb_results)}

    assert views("public/pages", ["country:is:DE"]) == _pageviews(r for r in human if r["country"] == "DE")
    assert views("public/pages", ["country:is_not:DE"]) == _pageviews(
        r for r in human if r["country"] != "DE"
    )
    assert views("public/pages", ["country:is:"]) == _pageviews(r for r in human if not r["country"])
    docs = views("public/pages", ["page:contains:/docs"])
    assert docs == _pageviews(r for r in human if "/docs" in r["page_path"]) and docs
    assert views("public/pages", ["page:not_contains:/docs"]) == _pageviews(
        r for r in human if "/docs" not in r["page_path"]
    )
    assert set(views("public/pages", ["page:contains:ünï"])) == {
        (s, "/blog/ünïcode") for s, p in _pageviews(human) if p == "/blog/ünïcode"
    }
    # a visit's own attribute reaches its page views through the visit
    entries = _entries(human)
    google = {sid for sid, row in entries.items() if row["referrer_source"] == "Google"}
    assert views("public/pages", ["source:is:Google"]) == _pageviews(
        r for r in human if r["session_id"] in google
    )

    # an event reaches visits through the visits that sent it; "is not": visits that sent none
    signed_up = {e["session_id"] for e in events if e["name"] == "signup"}
    with_signup = _rows("public/summary", ["event:is:signup"], duckdb_results)[0]
    without = _rows("public/summary", ["event:is_not:signup"], duckdb_results)[0]
    assert with_signup[2] == len(set(entries) & signed_up) > 0
    assert without[2] == len(set(entries) - signed_up) > 0

    both = _rows("public/summary", ["source:is:Google", "device:is:desktop"], duckdb_results)[0]
    assert both[2] == sum(1 for sid in google if entries[sid]["device"] == "desktop") > 0


@pytest.mark.parametrize(
    "window",
    [
        LATE_RANGE,
        {"from": "2024-04-07", "to": "2024-04-20"},  # a visit from 6 April 23:59 goes on into it
        {"t0": "2024-03-01T06:30:00", "t1": "2024-04-29T18:00:00"},
        {"t0": "2024-04-10T12:00:00", "t1": "2024-04-20T00:00:00"},
    ],
)
def test_a_filter_that_keeps_every_visit_changes_no_figure(tmp_path, window):
    """One meaning of each figure: filtered or not, a visit counts in the part it began in, with all
    its page views, and the visitors are those of every visit under way in the part (whole days or
    not, and a visit going on across the parts' boundary included)."""
    settings = {"SQLALCHEMY_DATABASE_URI": load_fixture(f"duckdb:///{tmp_path / 'store.duckdb'}")}
    summary = {f"{t.visibility}/{t.name}": t for t in find_templates()}["public/summary"]
    try:
        unfiltered = run_report(summary, dict(window), settings).rows
        kept = run_report(summary, {**window, "f": ["source:is_not:Nowhere"]}, settings).rows
    finally:
        close_readers()
    assert kept == unfiltered
    assert unfiltered[0][2] > 0 and unfiltered[1][2] > 0  # visits in both parts


def test_goals_count_their_pages_and_events(duckdb_results):
    rows = {row[0]: row[1:] for row in _rows("private/goals", [], duckdb_results)}
    human, _ = _human()
    unicode_views = [r for r in human if "ünï" in r["page_path"]]
    assert (
        rows["ünïcode"][:2] == [len({r["visitor_id"] for r in unicode_views}), len(unicode_views)] != [0, 0]
    )
    assert rows["literal"] == [0, 0, 0.0] and rows["signup"][0] > 0


def test_hostile_values_are_only_values(duckdb_results):
    for key, filters in CASES:
        if filters and filters[0].split(":", 2)[2] in HOSTILE:
            assert _rows(key, filters, duckdb_results) == []


def _assert_same(expected, actual, backend: str) -> None:
    for n, (key, filters) in enumerate(CASES):
        assert actual[n] == expected[n], (
            f"{backend}: {key} {filters}: {actual[n][:3]} != DuckDB's {expected[n][:3]}"
        )


def test_sqlite_matches_duckdb(duckdb_results, tmp_path):
    _assert_same(duckdb_results, run_cases(load_fixture(f"sqlite:///{tmp_path / 'store.sqlite'}")), "SQLite")


def test_postgresql_matches_duckdb(duckdb_results, postgres_url):
    _assert_same(duckdb_results, run_cases(load_fixture(postgres_url)), "PostgreSQL")


def test_mariadb_matches_duckdb(duckdb_results, mariadb_url):
    _assert_same(duckdb_results, run_cases(load_fixture(mariadb_url)), "MariaDB")


def test_bad_filters_are_refused_by_name():
    pages = next(t for t in find_templates() if t.name == "pages")
    for bad in ("country", "country:is", "nope:is:x", "country:maybe:x", "page:contains:", "city:is:a\x00b"):
        with pytest.raises(ParameterError, match="'f'"):
            prepare(pages, {"f": [bad]}, "duckdb")
    with pytest.raises(ParameterError, match="at most"):
        prepare(pages, {"f": ["country:is:DE"] * 21}, "duckdb")


def test_a_template_of_ones_own_declares_its_filters(tmp_path):
    folder = tmp_path / "public"
    folder.mkdir()
    own = folder / "mine.sql"
    own.write_text(
        "-- title: Mine\n-- filters: country, page\n"
        "SELECT COUNT(*) AS n FROM visits v WHERE {{ hit_filter('v') }}\n"
    )
    template = parse_template(own, "public", builtin=False)
    assert template.filters == ("country", "page")
    query = prepare(template, {"f": ["country:is:DE"]}, "postgresql")
    assert "v.country = :filter_0" in query.sql and query.values["filter_0"] == "DE"
    with pytest.raises(ParameterError, match="cannot be filtered by that"):
        prepare(template, {"f": ["browser:is:Chrome"]}, "postgresql")

    # declared but not applied: the filter would be ignored, so the template is refused
    own.write_text(
        "-- title: Mine\n-- filters: *\nSELECT COUNT(*) AS n FROM visits v WHERE v.datetime >= :t0\n"
    )
    with pytest.raises(TemplateError, match="would be ignored"):
        prepare(parse_template(own, "public", builtin=False), {"f": ["country:is:DE"]}, "duckdb")
    # no declaration: no filters
    own.write_text("-- title: Mine\nSELECT COUNT(*) AS n FROM visits v WHERE {{ hit_filter('v') }}\n")
    with pytest.raises(ParameterError, match="takes no filters"):
        prepare(parse_template(own, "public", builtin=False), {"f": ["country:is:DE"]}, "duckdb")


def test_current_clickhouse_matches_duckdb(duckdb_results, tmp_path):
    """The same filtered reports, rendered for ClickHouse, on a current release (chDB)."""
    from chdb_store import ChdbStore
    from report_fixture import clickhouse_fixture_rows

    from crumby.queries.run import plain_value

    store = ChdbStore(tmp_path / "chdb")
    try:
        for name, rows in clickhouse_fixture_rows().items():
            store.insert(name, rows)
        templates = {f"{t.visibility}/{t.name}": t for t in find_templates()}
        answers = [
            [
                [plain_value(v) for v in row]
                for row in store.run(
                    prepare(templates[key], {**RANGE, "f": filters}, "clickhouse", goals=GOALS)
                )
            ]
            for key, filters in CASES
        ]
    finally:
        store.close()
    _assert_same(duckdb_results, answers, "ClickHouse (chDB)")


def test_clickhouse_server_matches_duckdb(duckdb_results, clickhouse_url):
    """The same filtered reports on the test's real server (18.16), through the report runner."""
    from report_fixture import load_clickhouse_fixture

    answers = run_cases(load_clickhouse_fixture(clickhouse_url))
    _assert_same(duckdb_results, answers, "ClickHouse 18.16 server")

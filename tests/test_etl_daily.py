"""The daily figures (document and origin days, visitor days) the ETL keeps equal sums of the rows.

The hits span midnight and arrive over several runs in small batches, with two
writers' files per hour, so a day is changed by many batches and runs, and
visits that began before midnight go on after it; after each run the figures
must equal sums made afresh from the stored page views and visits, on every
backend, and no day may stay marked.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from crumby.etl import daily, pipeline
from crumby.etl.daily import DAILY_TABLES, rebuild_all
from crumby.etl.pipeline import run
from crumby.etl.reprocess import reprocess
from crumby.etl.retention import delete_old_rows
from crumby.etl.visitor_days import rebuild_from as rebuild_visitor_days
from crumby.store import stale_days
from crumby.store.days import as_day
from crumby.store.engine import SUMMING_WORK_MEM_MB, create_engine
from crumby.store.migrations import ensure_schema
from tests.conftest import make_settings
from tests.etl_corpus import (
    SMALL_BATCH,
    append_hits,
    corpus,
    in_transaction,
    query,
    recent_start,
    split_between_writers,
    table_rows,
)

DAILY = (*(table.name for table in DAILY_TABLES), "visitor_days", "page_visitor_days")
# Retention may leave two rows of a page's day whose earlier days both went (both NULL now): the same sums.
PAGE_FIGURES = (
    "SELECT day, site, page_path, is_bot, prev_day, SUM(visitors), SUM(views), SUM(visits), SUM(revisits) "
    "FROM page_day_figures GROUP BY day, site, page_path, is_bot, prev_day"
)


def _daily(url: str) -> dict[str, list[tuple]]:
    kept = {table: table_rows(url, table) for table in DAILY}
    kept["page_day_figures"] = sorted(
        (tuple(int(v) if isinstance(v, Decimal) else v for v in row) for row in query(url, PAGE_FIGURES)),
        key=lambda row: [(v is not None, str(v)) for v in row],
    )
    return kept


def _summed_afresh(url: str) -> dict[str, list[tuple]]:
    in_transaction(url, rebuild_all)
    return _daily(url)


def on_day(url: str, sql: str, day) -> list[tuple]:
    """``sql``'s rows with ``:low`` and ``:high`` the start and end of ``day``."""
    return query(url, sql, low=day, high=day + timedelta(days=1))


def _stale(url: str) -> list[tuple]:
    return query(url, "SELECT day FROM _crumby_stale_days")


@pytest.fixture
def first_day():
    return recent_start(days_ago=3)


@pytest.fixture
def loaded(tmp_path, store_url, first_day):
    """900 hits from 20:00 on ``first_day``, two minutes apart: thirty hours, over two midnights.

    Beside them, one visitor comes every ten minutes from 23:30 to 00:30: a visit
    that begins on the first day and goes on after midnight, on one page.
    """
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store_url)
    lines = corpus(900, first_day + timedelta(hours=20), step_seconds=120)
    night = corpus(7, first_day + timedelta(hours=23, minutes=30), seed=11, step_seconds=600, visitors=1)
    lines += [(when, re.sub(rb"example\.com/p\d+", b"example.com/p7", line)) for when, line in night]
    lines.sort(key=lambda line: line[0])
    for _ in split_between_writers(lines, tmp_path / "logs"):
        run(settings, batch_bytes=SMALL_BATCH)
        assert not _stale(store_url), "the run summed every day it changed"
        kept = _daily(store_url)
        assert kept["document_days"], "the run made daily figures"
        assert _summed_afresh(store_url) == kept
    return settings


def test_daily_figures_kept_run_by_run_equal_sums_of_the_rows(loaded, store_url, first_day):
    days = query(store_url, "SELECT COUNT(DISTINCT day) FROM document_days")[0][0]
    assert days == 3
    (views,) = query(store_url, "SELECT COUNT(*) FROM visits")[0]
    assert query(store_url, "SELECT SUM(views) FROM document_days")[0][0] == views
    second = first_day + timedelta(days=1)
    per_page = on_day(
        store_url,
        "SELECT site, page_path, is_bot, COUNT(*) FROM visits "
        "WHERE datetime >= :low AND datetime < :high GROUP BY site, page_path, is_bot",
        second,
    )
    kept = on_day(
        store_url,
        "SELECT site, page_path, is_bot, SUM(views) FROM document_days WHERE day >= :low AND day < :high "
        "GROUP BY site, page_path, is_bot",
        second,
    )
    assert sorted((*row[:3], int(row[3])) for row in kept) == sorted(per_page)


def _visitors_both_ways(url: str, low, high, site: str | None) -> tuple[int, int]:
    """Visitors of the days [low, high): from visitor_days, and counted distinct over the visits."""
    values = {"low": low, "high": high, **({"site": site} if site is not None else {})}
    kept = (
        "SELECT COUNT(*) FROM visitor_days WHERE day >= :low AND day < :high "
        f"AND {'site = :site' if site is not None else 'site IS NULL'} "
        "AND (prev_day IS NULL OR prev_day < :low)"
    )
    distinct = (  # the visits under way on those days
        "SELECT COUNT(DISTINCT visitor_key) FROM sessions WHERE started < :high AND ended >= :low "
        f"AND NOT is_bot {'AND site = :site' if site is not None else ''}"
    )
    return int(query(url, kept, **values)[0][0]), int(query(url, distinct, **values)[0][0])


def _page_figures_both_ways(url: str, low, high) -> tuple[dict, dict]:
    """Per page of the days [low, high): (visitors, visits, views) from page_day_figures, and counted
    distinct over the page views (visitors by their visit's key, as the figures count them)."""
    values = {"low": low, "high": high, "after": low + timedelta(days=1)}  # days after low: from `after`
    kept = (
        "SELECT site, page_path, "
        "SUM(CASE WHEN prev_day IS NULL OR prev_day < :low THEN visitors ELSE 0 END), "
        "SUM(visits) - SUM(CASE WHEN day >= :after THEN revisits ELSE 0 END), SUM(views) "
        "FROM page_day_figures WHERE day >= :low AND day < :high AND NOT is_bot GROUP BY site, page_path"
    )
    distinct = (
        "SELECT v.site, v.page_path, COUNT(DISTINCT s.visitor_key), COUNT(DISTINCT v.session_id), COUNT(*) "
        "FROM visits v JOIN sessions s ON s.session_id = v.session_id "
        "WHERE v.datetime >= :low AND v.datetime < :high AND NOT v.is_bot GROUP BY v.site, v.page_path"
    )

    def by_page(rows):
        return {(site, path): tuple(int(n) for n in figures) for site, path, *figures in rows}

    return by_page(query(url, kept, **values)), by_page(query(url, distinct, **values))


def test_page_figures_give_the_distinct_visitors_and_visits_of_any_whole_days(loaded, store_url, first_day):
    days = [first_day + timedelta(days=n) for n in range(4)]
    again = "SELECT COUNT(*) FROM page_visitor_days WHERE prev_day IS NOT NULL AND NOT is_bot"
    assert query(store_url, again)[0][0] > 0, "some visitors viewed a page again on a later day"
    across = "SELECT COUNT(*) FROM page_visitor_days WHERE revisits > 0 AND NOT is_bot"
    assert query(store_url, across)[0][0] > 0, "a visit viewed a page before and after midnight"
    for start in range(3):
        for end in range(start + 1, 4):
            kept, distinct = _page_figures_both_ways(store_url, days[start], days[end])
            assert kept == distinct and distinct, (start, end)


def test_visitor_days_give_the_distinct_visitors_of_any_whole_days(loaded, store_url, first_day):
    days = [first_day + timedelta(days=n) for n in range(4)]
    returning = query(store_url, "SELECT COUNT(*) FROM visitor_days WHERE prev_day IS NOT NULL")[0][0]
    assert returning > 0, "some visitors came back on a later day"
    spans = query(store_url, "SELECT started, ended FROM sessions")
    assert any(str(started)[:10] != str(ended)[:10] for started, ended in spans), "a visit across midnight"
    for start in range(3):
        for end in range(start + 1, 4):
            for site in (None, "example.com"):
                kept, distinct = _visitors_both_ways(store_url, days[start], days[end], site)
                assert kept == distinct > 0, (start, end, site)


@pytest.fixture
def summed(monkeypatch) -> list[list]:
    """The days each run sums, run by run."""
    days: list[list] = []
    real = pipeline.refresh_daily_figures

    def recording(engine):
        with engine.connect() as conn:
            days.append(stale_days.stale(conn))
        return real(engine)

    monkeypatch.setattr(pipeline, "refresh_daily_figures", recording)
    return days


def test_a_visit_that_never_pauses_has_each_run_sum_only_its_old_and_new_end_days(
    tmp_path, store_url, first_day, summed
):
    """One visitor comes every 20 minutes for three days: one visit, loaded a day per run.

    Each run changes the visit's end, so the days its visitor is on move from
    the old end day to the new one; the day it began stays. The second run
    must sum the second day alone (the visitor stays on the first, where the
    visit began), the third run the second and third days, not every day
    since the visit began (which made a cron run's cost grow with the age of
    such a visit), and the figures must still equal sums made afresh.
    """
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store_url)
    steady = [
        (when, line.replace(b"cid0000", b"steady1"))
        for when, line in corpus(3 * 72, first_day, seed=13, step_seconds=1200, visitors=1)
    ]
    others = corpus(400, first_day + timedelta(hours=6), step_seconds=540, visitors=40)
    lines = sorted(steady + others, key=lambda line: line[0])
    days = [as_day(first_day + timedelta(days=n)) for n in range(3)]
    for day in days:
        append_hits(tmp_path / "logs", [line for line in lines if as_day(line[0]) == day])
        run(settings)
        assert not _stale(store_url)
        assert _summed_afresh(store_url) == _daily(store_url)
    spans = [
        (as_day(started), as_day(ended))
        for started, ended in query(store_url, "SELECT started, ended FROM sessions")
    ]
    assert [span for span in spans if span[1] > span[0] + timedelta(days=1)] == [(days[0], days[2])]
    assert summed == [days[:1], days[1:2], days[1:]]


def test_a_visitor_of_two_sites_counts_once_over_every_site(tmp_path, store_url, first_day):
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store_url)
    start = first_day + timedelta(hours=12)
    shop = [
        (when, line.replace(b"https://example.com/", b"https://shop.example.com/"))
        for when, line in corpus(300, start, seed=5, step_seconds=300, visitors=40)
    ]
    append_hits(tmp_path / "logs", sorted(corpus(300, start, step_seconds=300, visitors=40) + shop))
    run(settings, batch_bytes=SMALL_BATCH)
    sites = {
        site for (site,) in query(store_url, "SELECT DISTINCT site FROM visitor_days WHERE site IS NOT NULL")
    }
    assert sites == {"example.com", "shop.example.com"}
    days = [first_day + timedelta(days=n) for n in range(3)]
    for low, high in ((days[0], days[1]), (days[1], days[2]), (days[0], days[2])):
        counts = {site: _visitors_both_ways(store_url, low, high, site) for site in (None, *sites)}
        assert all(kept == distinct for kept, distinct in counts.values()), counts
        assert counts[None][0] < counts["example.com"][0] + counts["shop.example.com"][0]


def test_the_last_day_is_brought_in_step_in_place(loaded, store_url):
    """A run that changed only the last day adds its missing rows and deletes the vanished ones."""
    last = query(store_url, "SELECT MAX(day) FROM visitor_days")[0][0]
    on_last = "SELECT visitor_key FROM visitor_days WHERE day = :last AND site IS NULL"
    returning = query(store_url, f"{on_last} AND prev_day IS NOT NULL ORDER BY visitor_key", last=last)
    gone, missing = returning[0][0], returning[1][0]  # their rows before the day stay

    def change(conn):
        by_key = "WHERE visitor_key = :v AND {} >= :t"
        conn.execute(sa.text("DELETE FROM sessions " + by_key.format("started")), {"v": gone, "t": last})
        conn.execute(sa.text("DELETE FROM visitor_days " + by_key.format("day")), {"v": missing, "t": last})
        assert rebuild_visitor_days(conn, as_day(last)) == 1

    in_transaction(store_url, change)
    kept = table_rows(store_url, "visitor_days")
    rows_of = "SELECT COUNT(*) FROM visitor_days WHERE visitor_key = :v AND day = :last"
    assert query(store_url, rows_of, v=gone, last=last) == [(0,)]
    assert query(store_url, rows_of, v=missing, last=last)[0][0] >= 2  # for its site and for every site
    assert _summed_afresh(store_url)["visitor_days"] == kept


def test_a_day_read_late_links_the_visitors_of_the_days_after_it(tmp_path, store_url, first_day):
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store_url)
    second = first_day + timedelta(days=1)
    lines = corpus(900, first_day + timedelta(hours=20), step_seconds=120)
    append_hits(tmp_path / "logs", [line for line in lines if line[0] >= second])
    run(settings, batch_bytes=SMALL_BATCH)
    assert query(store_url, "SELECT COUNT(*) FROM visitor_days WHERE prev_day < :second", second=second) == [
        (0,)
    ]
    append_hits(tmp_path / "logs", [line for line in lines if line[0] < second])  # a writer's file, late
    run(settings, batch_bytes=SMALL_BATCH)
    assert not _stale(store_url)
    linked = query(
        store_url,
        "SELECT COUNT(*) FROM visitor_days WHERE day >= :second AND prev_day < :second",
        second=second,
    )
    assert linked[0][0] > 0, "visitors of the late day are no longer new the day after"
    kept = table_rows(store_url, "visitor_days")
    assert _summed_afresh(store_url)["visitor_days"] == kept
    for end in (second, second + timedelta(days=1)):
        kept_count, distinct = _visitors_both_ways(store_url, first_day, end + timedelta(days=1), None)
        assert kept_count == distinct


def test_a_visit_continued_after_midnight_by_a_later_run_puts_its_visitor_on_both_days(
    tmp_path, store_url, first_day
):
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store_url)
    midnight = first_day + timedelta(days=1)
    late = first_day + timedelta(hours=23, minutes=30)
    night = [
        line for line in corpus(7, late, seed=11, step_seconds=600, visitors=1) if b'"t":"visit"' in line[1]
    ]
    assert any(when < midnight for when, _ in night) and any(when >= midnight for when, _ in night)
    append_hits(tmp_path / "logs", [line for line in night if line[0] < midnight])
    run(settings, batch_bytes=SMALL_BATCH)
    append_hits(tmp_path / "logs", [line for line in night if line[0] >= midnight])
    run(settings, batch_bytes=SMALL_BATCH)
    assert not _stale(store_url)
    assert query(store_url, "SELECT COUNT(*) FROM sessions")[0][0] == 1
    assert query(store_url, "SELECT SUM(pageviews) FROM sessions")[0][0] == len(night)
    days = query(store_url, "SELECT day, prev_day FROM visitor_days WHERE site IS NULL ORDER BY day")
    assert [(str(day)[:10], prev and str(prev)[:10]) for day, prev in days] == [
        (str(first_day.date()), None),
        (str(midnight.date()), str(first_day.date())),
    ]
    assert _summed_afresh(store_url)["visitor_days"] == table_rows(store_url, "visitor_days")


def test_visits_continued_past_midnight_have_the_next_run_sum_the_new_day_alone(
    tmp_path, store_url, first_day, summed
):
    """A daily cron run after midnight: the visits that went on past it began the day before and stay
    on it, so that day is not summed again (nor ``visitor_days`` made anew from it on)."""
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store_url)
    midnight = first_day + timedelta(days=1)
    lines = corpus(120, first_day + timedelta(hours=23), step_seconds=60, visitors=12)
    assert sum(when >= midnight for when, _ in lines) > 20
    append_hits(tmp_path / "logs", [line for line in lines if line[0] < midnight])
    run(settings)
    append_hits(tmp_path / "logs", [line for line in lines if line[0] >= midnight])
    run(settings)
    bridging = "SELECT COUNT(*) FROM sessions WHERE started < :low AND ended >= :low"
    assert query(store_url, bridging, low=midnight.replace(tzinfo=None))[0][0] > 0
    assert summed == [[as_day(first_day)], [as_day(midnight)]]
    assert not _stale(store_url)
    assert _summed_afresh(store_url) == _daily(store_url)


def test_a_day_left_marked_by_a_stopped_run_is_summed_by_the_next(loaded, store_url):
    before = _daily(store_url)
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:  # as a run stopped between its last batch and its sums leaves it
            day = conn.execute(sa.text("SELECT MIN(day) FROM document_days")).scalar()
            for table in DAILY:
                conn.execute(sa.text(f"DELETE FROM {table} WHERE day = :day"), {"day": day})
            conn.execute(sa.text("INSERT INTO _crumby_stale_days (day) VALUES (:day)"), {"day": day})
    finally:
        engine.dispose()
    assert _daily(store_url) != before
    finished = _finished_loads(store_url)
    report = run(loaded, batch_bytes=SMALL_BATCH)
    assert report.hits == 0
    assert _daily(store_url) == before
    assert not _stale(store_url)
    # The figures changed, so a new finished load moves the ETag; an idle run moves nothing.
    assert len(_finished_loads(store_url)) == len(finished) + 1
    assert run(loaded, batch_bytes=SMALL_BATCH).hits == 0
    assert len(_finished_loads(store_url)) == len(finished) + 1


def test_a_run_after_one_that_died_before_marking_its_load_moves_the_etag(loaded, store_url):
    engine = create_engine(store_url)
    try:  # as a run killed after its sums, before it marked its load done, leaves the store
        with engine.begin() as conn:
            newest = conn.execute(sa.text("SELECT MAX(id) FROM _crumby_loads")).scalar()
            again = sa.text("UPDATE _crumby_loads SET status = 'running' WHERE id = :id")
            conn.execute(again, {"id": newest})
    finally:
        engine.dispose()
    assert run(loaded, batch_bytes=SMALL_BATCH).hits == 0
    statuses = dict(query(store_url, "SELECT id, status FROM _crumby_loads"))
    assert statuses[newest] == "abandoned"
    assert max(i for i, status in statuses.items() if status == "done") > newest


def _finished_loads(url: str) -> list[tuple]:
    return query(url, "SELECT id FROM _crumby_loads WHERE status = 'done'")


def test_a_load_is_marked_done_only_after_its_days_are_summed(tmp_path, store_url, first_day, monkeypatch):
    """A finished load moves the reports' ETag: an answer cached under it must not miss its figures."""
    from crumby.etl import pipeline

    seen_when_done = []
    mark_done = pipeline._Run._finish

    def finish(self):
        seen_when_done.append(_stale(store_url))
        mark_done(self)

    monkeypatch.setattr(pipeline._Run, "_finish", finish)
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store_url)
    append_hits(tmp_path / "logs", corpus(200, first_day + timedelta(hours=20), step_seconds=300))
    assert run(settings, batch_bytes=SMALL_BATCH).hits == 200
    second = (first_day + timedelta(days=1)).date()
    assert reprocess(settings, second, second, batch_bytes=SMALL_BATCH).hits > 0
    assert seen_when_done == [[], []]


def test_reprocess_and_retention_keep_the_daily_figures_in_step(loaded, store_url, first_day):
    second = (first_day + timedelta(days=1)).date()
    report = reprocess(loaded, second, second, batch_bytes=SMALL_BATCH)
    assert report.hits > 0
    assert not _stale(store_url)
    kept = _daily(store_url)
    assert _summed_afresh(store_url) == kept

    engine = create_engine(store_url)
    try:
        delete_old_rows(engine, second)
    finally:
        engine.dispose()
    remaining = query(store_url, "SELECT MIN(day), COUNT(DISTINCT day) FROM document_days")[0]
    assert str(remaining[0])[:10] == str(second) and remaining[1] == 2
    # the visit begun at 23:30 before the cutoff goes whole: no page view is left without its visit
    orphans = (
        "SELECT COUNT(*) FROM visits v "
        "WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = v.session_id)"
    )
    assert query(store_url, orphans)[0][0] == 0
    kept = _daily(store_url)
    assert _summed_afresh(store_url) == kept


def test_days_summed_one_after_another_let_go_of_the_connection_after_the_hold(
    loaded, store_url, monkeypatch
):
    before = _daily(store_url)
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            days = [row[0] for row in conn.execute(sa.text("SELECT DISTINCT day FROM document_days"))]
            for table in DAILY:
                conn.execute(sa.text(f"DELETE FROM {table}"))
            for day in days:
                conn.execute(sa.text("INSERT INTO _crumby_stale_days (day) VALUES (:day)"), {"day": day})
        opened = []
        sa.event.listen(engine, "checkout", lambda *_: opened.append(1))
        monkeypatch.setattr(daily, "HOLD_SECONDS", 0.0)
        assert daily.refresh(engine) == len(days) == 3
    finally:
        engine.dispose()
    assert _daily(store_url) == before
    assert not _stale(store_url)
    if engine.dialect.name in daily.PARALLEL_BACKENDS:
        # side by side: the list, the two visitor tables, one connection a day, then the marks cleared
        assert len(opened) == 1 + 2 + len(days) + 1
    else:
        assert len(opened) == 1 + len(days)  # the list of stale days, then one connection a day


def test_days_summed_side_by_side_keep_every_mark_when_one_part_fails(postgres_url, monkeypatch):
    """On PostgreSQL the parts are transactions of their own: the days summed before a failure in
    another part stay marked, so the next run sums them with the part that failed."""
    engine = create_engine(postgres_url)
    ensure_schema(engine)
    day = date(2026, 3, 2)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO _crumby_stale_days (day) VALUES (:day)"), {"day": day})

        def fails(conn, days):
            raise RuntimeError("the server went away")

        monkeypatch.setattr(daily.page_visitors, "rebuild_days", fails)
        with pytest.raises(RuntimeError):
            daily.refresh(engine)
    finally:
        engine.dispose()
    assert [as_day(row[0]) for row in _stale(postgres_url)] == [day]


def test_a_day_is_summed_with_room_for_sorts_on_postgresql(postgres_url):
    """Whatever the path (one stale day, several, a rebuild), sums sort in memory; more room is kept."""
    engine = create_engine(postgres_url)
    ensure_schema(engine)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET work_mem = '4MB'")  # PostgreSQL's default, whatever this server's is
            conn.commit()
            with conn.begin():
                daily.sum_day(conn, date(2026, 3, 2))
                assert conn.exec_driver_sql("SHOW work_mem").scalar() == f"{SUMMING_WORK_MEM_MB}MB"
            assert conn.exec_driver_sql("SHOW work_mem").scalar() == "4MB"  # for that transaction only
            conn.exec_driver_sql("SET work_mem = '200MB'")  # a role's or server's larger setting
            conn.commit()
            with conn.begin():
                daily.sum_day(conn, date(2026, 3, 2))
                assert conn.exec_driver_sql("SHOW work_mem").scalar() == "200MB"
    finally:
        engine.dispose()


def test_retention_takes_a_visit_begun_before_the_cutoff_off_the_day_after(tmp_path, store_url, first_day):
    """The visit goes whole, so its visitor, on the cutoff day by it alone, is no longer counted there."""
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store_url)
    midnight = first_day + timedelta(days=1)
    night = [
        (when, line.replace(b"cid0000", b"night000"))
        for when, line in corpus(
            7, first_day + timedelta(hours=23, minutes=30), seed=11, step_seconds=600, visitors=1
        )
        if b'"t":"visit"' in line
    ]
    day = corpus(60, midnight + timedelta(hours=10), step_seconds=60, visitors=5)
    append_hits(tmp_path / "logs", sorted(night + day))
    run(settings, batch_bytes=SMALL_BATCH)
    on_cutoff = "SELECT COUNT(*) FROM visitor_days WHERE day >= :low AND day < :high AND site IS NULL"
    (present,) = on_day(store_url, on_cutoff, midnight)[0]
    night_visits = "SELECT COUNT(*) FROM sessions WHERE visitor_id = 'night000'"
    assert query(store_url, night_visits) == [(1,)]
    assert present > 1
    engine = create_engine(store_url)
    try:
        delete_old_rows(engine, midnight.date())
    finally:
        engine.dispose()
    assert query(store_url, night_visits) == [(0,)]
    assert on_day(store_url, on_cutoff, midnight) == [(present - 1,)]  # the night's visitor is gone
    kept = table_rows(store_url, "visitor_days")
    assert _summed_afresh(store_url)["visitor_days"] == kept


def test_summing_afresh_leaves_no_page_figures_of_a_day_without_page_views(loaded, store_url, first_day):
    """rebuild_all is what the other tests compare the kept figures with: it must make them all anew."""
    before = first_day - timedelta(days=5)
    stray = (
        "INSERT INTO {table} (day, site, page_path, is_bot, prev_day, {counts}) "
        "VALUES (:day, 'example.com', '/gone', :no, NULL, {ones})"
    )

    def add_stray_rows(conn):
        for table, counts in (
            ("page_visitor_days", ("visitor_key", "views", "visits", "revisits")),
            ("page_day_figures", ("visitors", "views", "visits", "revisits")),
        ):
            sql = stray.format(table=table, counts=", ".join(counts), ones=", ".join("1" for _ in counts))
            conn.execute(sa.text(sql), {"day": before, "no": False})

    kept = _daily(store_url)
    in_transaction(store_url, add_stray_rows)
    assert _summed_afresh(store_url) == kept


def test_late_days_make_only_themselves_and_the_day_after_again(tmp_path, store_url, monkeypatch):
    """Hits of two days read late (days 2 and 3 of ten) make days 2 to 4 again, not every day after
    day 2; the later rows their visitors' new days reach are mended in place. The page figures are
    those a whole rebuild makes."""
    from crumby.etl import page_visitors

    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store_url)
    start = recent_start(days_ago=10)
    days = [start + timedelta(days=n) for n in range(10)]
    lines = {
        n: corpus(80, day + timedelta(hours=10), seed=20 + n, step_seconds=120, visitors=6)
        for n, day in enumerate(days)
    }
    append_hits(
        tmp_path / "logs",
        sorted(line for n, day_lines in lines.items() if n not in (2, 3) for line in day_lines),
    )
    run(settings, batch_bytes=SMALL_BATCH)
    made = []
    add_day = page_visitors.add_day
    monkeypatch.setattr(page_visitors, "add_day", lambda conn, day: made.append(day) or add_day(conn, day))
    append_hits(tmp_path / "logs", sorted(lines[2] + lines[3]))
    run(settings, batch_bytes=SMALL_BATCH)
    assert not _stale(store_url)
    assert sorted(made) == [day.date() for day in days[2:5]]
    reached = "SELECT COUNT(*) FROM page_visitor_days WHERE day >= :d5 AND prev_day >= :d2 AND prev_day < :d4"
    late = {f"d{n}": days[n] for n in (2, 4, 5)}
    assert query(store_url, reached, **late)[0][0] > 0, "visitors of the late days came back after them"
    kept = _daily(store_url)
    assert _summed_afresh(store_url) == kept
    for low, high in ((days[0], days[9]), (days[3], days[9]), (days[5], days[9])):
        figures, distinct = _page_figures_both_ways(store_url, low, high)
        assert figures == distinct and distinct

"""The aggregated store's ``page_visitor_days``: top pages' distinct visitors and visits, no distinct count.

Top pages counts, per page, the distinct visitors and visits of its range's
page views. Counted from the page views, that is two distinct counts over a
month of text ids on every request (near two seconds on DuckDB for 10M hits,
four on PostgreSQL). Here each visitor has one row per day and page they
viewed, naming the day they last viewed that page before (``prev_day``), as
``visitor_days`` does for the summary: over whole days ``[d0, d1)`` a page's
visitors are its rows whose ``prev_day`` is before ``d0`` (or none), a
filtered row count. A row also holds the day's page views and visits of the
page, and how many of those visits had viewed the page the day before (a
visit across midnight): the range's visits are the sum less those of the days
after ``d0``. That is exact for every visit shorter than a day, which a
visit of 30-minute gaps that views the page again on a later day without
viewing it on the day between cannot be.

A row's ``prev_day`` depends on the days before it, and its ``revisits`` on
the day before, so a changed day can change rows after it, but only little:
the day after it (its revisits), and on later days the next row of each
visitor and page whose row on the changed day came or went (its
``prev_day``); every other later row stays as it is. The ETL therefore makes
the stale days and the day after each again, then mends just those next rows
(:func:`rebuild_days`), before the stale days are summed and their marks
cleared (:func:`crumby.etl.daily.refresh`). A cron run's usual case is today
alone; a late hit a month back costs two days, not thirty.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import sqlalchemy as sa

from ..store.days import as_day, midnight
from ..store.engine import equal_text, exact_text
from ..store.schema import page_day_figures, page_visitor_days, visits

ROW_COLUMNS = ["day", "site", "page_path", "is_bot", "visitor_key", "prev_day", "views", "visits", "revisits"]
FIGURE_COLUMNS = ["day", "site", "page_path", "is_bot", "prev_day", "visitors", "views", "visits", "revisits"]
TABLES = (page_visitor_days, page_day_figures)


def rebuild_from(conn: sa.Connection, first: date) -> int:
    """Make the rows of ``first`` and of every later day with page views again; returns the days made.

    A whole rebuild (:func:`crumby.etl.daily.rebuild_all`); the ETL's runs use :func:`rebuild_days`.
    """
    for table in TABLES:
        conn.execute(table.delete().where(table.c.day >= midnight(first)))
    last = conn.execute(sa.select(sa.func.max(visits.c.datetime))).scalar()
    if last is None or as_day(last) < first:
        return 0
    day = first
    while day <= as_day(last):
        add_day(conn, day)
        day += timedelta(days=1)
    return (as_day(last) - first).days + 1


KEY_COLUMNS = (page_visitor_days.c.site, page_visitor_days.c.page_path, page_visitor_days.c.is_bot)
VISITORS_PER_QUERY = 500  # visitor keys in one IN list while mending


def rebuild_days(conn: sa.Connection, days: Iterable[date]) -> int:
    """Bring the rows in step after ``days`` changed (their page views or visits); returns the days made.

    Each changed day and the day after it are made again, oldest first; a
    later row is mended only where a visitor's row on a page came or went on
    a day made: their next row's ``prev_day`` (see the module's docstring).
    When few days would be left as they are, every day from the first changed
    is made instead. Rows after the last day with page views go.
    """
    wanted = sorted({as_day(day) for day in days})
    if not wanted:
        return 0
    last = conn.execute(sa.select(sa.func.max(visits.c.datetime))).scalar()
    last_day = as_day(last) if last is not None else wanted[0] - timedelta(days=1)
    after_last = midnight(max(wanted[0], last_day + timedelta(days=1)))
    for table in TABLES:
        conn.execute(table.delete().where(table.c.day >= after_last))
    made = sorted({d for day in wanted for d in (day, day + timedelta(days=1)) if d <= last_day})
    if not made:
        return 0
    kept = (last_day - made[0]).days + 1 - len(made)  # days after the first made, not made again
    if kept <= len(made):  # comparing a made day's rows before and after costs about what making it does
        made, kept = [made[0] + timedelta(days=n) for n in range((last_day - made[0]).days + 1)], 0
    later_kept = kept > 0
    changed: set[tuple] = set()
    for day in made:
        before = _visitor_rows_of(conn, day) if later_kept else set()
        for table in TABLES:
            conn.execute(table.delete().where(table.c.day == midnight(day)))
        add_day(conn, day)
        if later_kept:
            changed |= before ^ _visitor_rows_of(conn, day)
    for day in sorted(_mend_next_rows(conn, changed, set(made))):
        _sum_day(conn, midnight(day))
    return len(made)


def _visitor_rows_of(conn: sa.Connection, day: date) -> set[tuple]:
    """(site, page_path, is_bot, visitor_key) of the day's rows that have a visitor."""
    t = page_visitor_days
    found = conn.execute(
        sa.select(*KEY_COLUMNS, t.c.visitor_key).where(t.c.day == midnight(day), t.c.visitor_key.is_not(None))
    )
    return {(site, path, bool(is_bot), key) for site, path, is_bot, key in found}


def _mend_next_rows(conn: sa.Connection, changed: set[tuple], made: set[date]) -> set[date]:
    """``prev_day`` made right on the rows of ``changed`` visitors and pages, days ``made`` aside.

    Reads those visitors' rows (a few), works out each row's earlier day in
    Python, and writes only the rows that differ; returns their days.
    """
    t = page_visitor_days
    text = exact_text(conn)
    visitors = sorted({key for *_, key in changed})
    rows: dict[tuple, list[tuple[date, date | None]]] = {}
    for start in range(0, len(visitors), VISITORS_PER_QUERY):
        found = conn.execute(
            sa.select(*KEY_COLUMNS, t.c.visitor_key, t.c.day, t.c.prev_day).where(
                t.c.visitor_key.in_(visitors[start : start + VISITORS_PER_QUERY])
            )
        )
        for site, path, is_bot, key, day, prev_day in found:
            page = (site, path, bool(is_bot), key)
            if page in changed:
                rows.setdefault(page, []).append((as_day(day), prev_day and as_day(prev_day)))
    mended = set()
    for (site, path, is_bot, key), days in rows.items():
        days.sort()
        for earlier, (day, prev_day) in zip([None, *(d for d, _ in days)], days, strict=False):
            if day in made or prev_day == earlier:
                continue
            conn.execute(
                t.update()
                .where(
                    t.c.day == midnight(day),
                    text(t.c.site) == site,
                    text(t.c.page_path) == path,
                    t.c.is_bot == is_bot,
                    t.c.visitor_key == key,
                )
                .values(prev_day=earlier and midnight(earlier))
            )
            mended.add(day)
    return mended


def add_day(conn: sa.Connection, day: date) -> None:
    """``day``'s rows, each with its visitor's last earlier day on the page: the days before are in place."""
    low, high = midnight(day), midnight(day + timedelta(days=1))
    text = exact_text(conn)
    site = text(sa.func.coalesce(visits.c.site, ""))
    path = text(sa.func.coalesce(visits.c.page_path, ""))
    # each visit's page views of each page on the day, with its visitor (a visit has one)
    viewed = (
        sa.select(
            site.label("site"),
            path.label("page_path"),
            visits.c.is_bot,
            visits.c.visit_key,
            visits.c.visitor_key,
            sa.func.count().label("views"),
        )
        .where(visits.c.datetime >= low, visits.c.datetime < high)
        # the keys first: where grouping sorts, integers set the order (every row has the same site)
        .group_by(visits.c.visit_key, visits.c.visitor_key, visits.c.is_bot, site, path)
        .subquery("viewed")
    )
    # each visit's pages viewed the day before: joined, not looked up row by row (a correlated
    # EXISTS had PostgreSQL scan the whole day before for each of the day's rows)
    before = visits.alias("before")
    before_site = text(sa.func.coalesce(before.c.site, ""))
    before_path = text(sa.func.coalesce(before.c.page_path, ""))
    seen_before = (
        sa.select(
            before.c.visit_key,
            before_site.label("site"),
            before_path.label("page_path"),
            before.c.is_bot,
        )
        .where(before.c.datetime >= midnight(day - timedelta(days=1)), before.c.datetime < low)
        .group_by(before.c.visit_key, before_site, before_path, before.c.is_bot)
        .subquery("seen_before")
    )
    per_visit = (
        sa.select(
            viewed.c.site,
            viewed.c.page_path,
            viewed.c.is_bot,
            viewed.c.visitor_key,
            viewed.c.views,
            sa.case((seen_before.c.visit_key.is_not(None), 1), else_=0).label("revisit"),
        )
        .select_from(
            viewed.outerjoin(
                seen_before,
                sa.and_(
                    seen_before.c.visit_key == viewed.c.visit_key,
                    seen_before.c.site == viewed.c.site,
                    seen_before.c.page_path == viewed.c.page_path,
                    seen_before.c.is_bot == viewed.c.is_bot,
                ),
            )
        )
        .subquery("per_visit")
    )
    fresh = (
        sa.select(
            per_visit.c.site,
            per_visit.c.page_path,
            per_visit.c.is_bot,
            per_visit.c.visitor_key,
            sa.func.sum(per_visit.c.views).label("views"),
            sa.func.count().label("visits"),
            sa.func.sum(per_visit.c.revisit).label("revisits"),
        )
        .group_by(per_visit.c.visitor_key, per_visit.c.is_bot, per_visit.c.site, per_visit.c.page_path)
        .subquery("fresh")
    )
    earlier = page_visitor_days.alias("earlier")
    equal = equal_text(conn)
    prev_day = (
        sa.select(sa.func.max(earlier.c.day))
        .where(
            earlier.c.visitor_key == fresh.c.visitor_key,
            equal(earlier.c.site, fresh.c.site),
            equal(earlier.c.page_path, fresh.c.page_path),
            earlier.c.is_bot == fresh.c.is_bot,
            earlier.c.day < low,
        )
        .scalar_subquery()
    )
    rows = sa.select(
        sa.literal(low, sa.DateTime()),
        fresh.c.site,
        fresh.c.page_path,
        fresh.c.is_bot,
        fresh.c.visitor_key,
        prev_day,
        fresh.c.views,
        fresh.c.visits,
        fresh.c.revisits,
    )
    conn.execute(page_visitor_days.insert().from_select(ROW_COLUMNS, rows))
    _sum_day(conn, low)


def _sum_day(conn: sa.Connection, low) -> None:
    """``page_day_figures`` of the day at ``low``: ``page_visitor_days`` summed by page and earlier day."""
    t = page_visitor_days
    text = exact_text(conn)
    key = (text(t.c.site), text(t.c.page_path), t.c.is_bot, t.c.prev_day)
    conn.execute(page_day_figures.delete().where(page_day_figures.c.day == low))
    conn.execute(
        page_day_figures.insert().from_select(
            FIGURE_COLUMNS,
            sa.select(
                t.c.day,
                *key,
                sa.func.count(t.c.visitor_key),
                sa.func.sum(t.c.views),
                sa.func.sum(t.c.visits),
                sa.func.sum(t.c.revisits),
            )
            .where(t.c.day == low)
            .group_by(t.c.day, *key),
        )
    )


def forget_before(conn: sa.Connection, start, changed: set[date] = frozenset()) -> None:
    """Retention: rows before ``start`` go, and a later row's earlier day no longer counts.

    ``changed``: days from ``start`` on whose page views retention deleted
    (the rest of visits begun before it). The day of ``start`` is made again
    in place (no day before it is left, so no row of it has an earlier day),
    and a later row whose earlier day was a row of it that went has none now;
    a later changed day (a visit longer than a day) is made again with the
    days after it.
    """
    for table in TABLES:
        conn.execute(table.delete().where(table.c.day < start))
        conn.execute(table.update().where(table.c.prev_day < start).values(prev_day=None))
    first = as_day(start)
    if first in changed:
        conn.execute(page_visitor_days.delete().where(page_visitor_days.c.day == start))
        add_day(conn, first)
        for day in _forget_gone_rows_of(conn, start):
            _sum_day(conn, midnight(as_day(day)))
    rebuild_days(conn, {day for day in changed if day > first})


def _forget_gone_rows_of(conn: sa.Connection, start) -> set:
    """Later rows whose earlier day is ``start``, where their visitor no longer viewed the page: none now.

    Returns the days of the rows changed.
    """
    t = page_visitor_days
    text = exact_text(conn)
    kept = t.alias("kept")
    on_start = sa.exists().where(
        kept.c.day == start,
        kept.c.visitor_key == t.c.visitor_key,
        text(kept.c.site) == t.c.site,
        text(kept.c.page_path) == t.c.page_path,
        kept.c.is_bot == t.c.is_bot,
    )
    key = (t.c.site, t.c.page_path, t.c.is_bot, t.c.visitor_key)
    gone = conn.execute(  # read first: MySQL cannot update a table that a subquery of the update reads
        sa.select(t.c.day, *key).where(t.c.prev_day == start, ~on_start)
    ).all()
    for _, site, page_path, is_bot, visitor_key in gone:
        conn.execute(
            t.update()
            .where(
                t.c.prev_day == start,
                text(t.c.site) == site,
                text(t.c.page_path) == page_path,
                t.c.is_bot == is_bot,
                t.c.visitor_key == visitor_key,
            )
            .values(prev_day=None)
        )
    return {day for day, *_ in gone}

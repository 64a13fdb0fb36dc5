"""The aggregated store's daily figures: page views per document and per referring address.

Documents and origins count page views; over a month that is millions of
rows to group on every request. Summed once per day here, a report reads a
few rows per value and day and adds the days up, which gives the same count
as the rows themselves (a sum of counts; no distinct count is summed here:
a report's visitors are always distinct over its whole range).

A day is summed whole from its stored page views, so the figures are exact
whatever order or batches its rows came in: a batch marks stale the days of
its page views and of the visits it writes in its own transaction
(:func:`crumby.store.stale_days.mark_stale`), and the end of the run sums each
stale day again and clears its mark in one transaction. A run killed in
between leaves the marks for the next run. The summary's ``visitor_days`` and top pages'
``page_visitor_days`` are brought in step first: the former from the earliest stale day on,
the latter on the stale days and the rows their change reaches.

On PostgreSQL the stale days are summed side by side, on a few connections:
``visitor_days``, ``page_visitor_days`` and each day's sums are transactions
of their own, touching only their own rows, and the database server's cores
do the grouping; the marks are cleared in one transaction after them all.
Elsewhere one at a time: DuckDB and SQLite have one writer, and MySQL's gap
locks would make neighbouring days wait on each other.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import sqlalchemy as sa

from ..store import stale_days
from ..store.days import midnight
from ..store.engine import backend_name, exact_text, room_to_sum
from ..store.schema import document_days, origin_days, visitor_days, visits
from . import page_visitors
from .visitor_days import rebuild_from as rebuild_visitor_days

PARALLEL_BACKENDS = ("postgresql",)
PARALLEL_DAYS = 4  # connections summing days at once (a database server has a few cores)
HOLD_SECONDS = 1.0  # elsewhere, how long one connection sums day after day before it lets go


def refresh(engine: sa.Engine) -> int:
    """Sum every stale day again, each in its own transaction; returns how many days were summed."""
    if backend_name(engine) in PARALLEL_BACKENDS:
        return _refresh_side_by_side(engine)
    with engine.begin() as conn:
        days = stale_days.stale(conn)
        if days:  # before the marks are cleared: a run killed after this rebuilds again
            room_to_sum(conn)
            rebuild_visitor_days(conn, days[0])
            page_visitors.rebuild_days(conn, days)
    _sum_one_after_another(engine, days)
    return len(days)


def _refresh_side_by_side(engine: sa.Engine) -> int:
    """The stale days' figures on a few connections at once; the marks cleared when all are in.

    ``visitor_days``, ``page_visitor_days`` and each day's sums touch rows of
    their own, so each is its own transaction and the server's cores share
    them; a run killed before the last transaction, which clears the marks,
    leaves every mark for the next run to sum again.
    """
    with engine.connect() as conn:
        days = stale_days.stale(conn)
    if not days:
        return 0
    jobs = [
        lambda conn: page_visitors.rebuild_days(conn, days),  # the longest first
        lambda conn: rebuild_visitor_days(conn, days[0]),
        *[lambda conn, day=day: sum_day(conn, day, clear=False) for day in days],
    ]
    with ThreadPoolExecutor(
        max_workers=min(PARALLEL_DAYS, len(jobs)), thread_name_prefix="crumby-daily"
    ) as pool:
        for _ in pool.map(lambda job: _in_own_transaction(engine, job), jobs):
            pass  # a failure is raised here, with every mark left
    with engine.begin() as conn:
        for day in days:
            stale_days.clear(conn, day)
    return len(days)


def _in_own_transaction(engine: sa.Engine, job) -> None:
    with engine.begin() as conn:
        room_to_sum(conn)
        job(conn)


def _sum_one_after_another(engine: sa.Engine, days: list[date]) -> None:
    """Each day in its own transaction, on a connection kept for up to :data:`HOLD_SECONDS`.

    Opening a DuckDB file and letting go of it cost about as much as summing
    a small day; letting go now and then gives the report server its turn.
    """
    pending = list(days)
    while pending:
        with engine.connect() as conn:
            held_since = time.monotonic()
            while True:  # at least one day per connection
                with conn.begin():
                    sum_day(conn, pending[0])
                pending.pop(0)
                if not pending or time.monotonic() - held_since >= HOLD_SECONDS:
                    break


def rebuild_all(conn: sa.Connection) -> int:
    """Sum every day that has page views (a store loaded by other means than the ETL, or a test's)."""
    for table in DAILY_TABLES:
        conn.execute(table.delete())
    days = stale_days.days_with_page_views(conn)
    for day in days:
        sum_day(conn, day)
    conn.execute(visitor_days.delete())
    for table in page_visitors.TABLES:  # a day before the first with page views keeps no rows either
        conn.execute(table.delete())
    if days:
        rebuild_visitor_days(conn, days[0])
        page_visitors.rebuild_from(conn, days[0])
    return len(days)


DAILY_TABLES = (document_days, origin_days)


def sum_day(conn: sa.Connection, day: date, *, clear: bool = True) -> None:
    """Replace ``day``'s rows in the daily tables with sums of its stored rows, and clear its mark
    (unless ``clear`` is false: the caller clears it once the rest of the day's figures are in)."""
    room_to_sum(conn)
    low, high = midnight(day), midnight(day + timedelta(days=1))
    for table in DAILY_TABLES:
        conn.execute(table.delete().where(table.c.day == low))
    in_day = sa.and_(visits.c.datetime >= low, visits.c.datetime < high)
    text = exact_text(conn)
    site = text(sa.func.coalesce(visits.c.site, ""))
    path = text(sa.func.coalesce(visits.c.page_path, ""))
    when = sa.literal(low, sa.DateTime())
    title = text(sa.func.coalesce(visits.c.doc_title, ""))
    conn.execute(
        document_days.insert().from_select(
            ["day", "site", "page_path", "doc_title", "is_bot", "views"],
            sa.select(when, site, path, title, visits.c.is_bot, sa.func.count())
            .where(in_day)
            .group_by(site, path, title, visits.c.is_bot),
        )
    )
    _sum_origins(conn, low, high)
    if clear:
        stale_days.clear(conn, day)


def _sum_origins(conn: sa.Connection, low, high) -> None:
    """``origin_days``: page views per referring address without its scheme; internal links left out."""
    text = exact_text(conn)
    referrer = visits.c.referrer
    origin = text(
        sa.case(
            (referrer.like("https://%"), sa.func.substr(referrer, 9)),
            (referrer.like("http://%"), sa.func.substr(referrer, 8)),
            else_=referrer,
        )
    )
    site = text(sa.func.coalesce(visits.c.site, ""))
    conn.execute(
        origin_days.insert().from_select(
            ["day", "site", "is_bot", "origin", "views"],
            sa.select(sa.literal(low, sa.DateTime()), site, visits.c.is_bot, origin, sa.func.count())
            .where(
                visits.c.datetime >= low,
                visits.c.datetime < high,
                referrer.is_not(None),
                referrer != "",
                sa.func.coalesce(visits.c.channel, "") != "internal",
            )
            .group_by(site, visits.c.is_bot, origin),
        )
    )

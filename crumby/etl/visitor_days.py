"""The aggregated store's ``visitor_days``: distinct visitors over a range without a distinct count.

The summary counts each visitor of its range once. Counting distinct visitor
keys over a month of visits costs a hash table of every visitor, on every
request (about 100 ms per month of 10M hits on DuckDB, most of a second on
PostgreSQL). Instead each visitor has one row per day they were on the site,
naming the day they last came before it (``prev_day``). A visit puts its
visitor on the day it began and on the day it ended: a visit across midnight
counts its visitor on both days, as its page views there count in top pages. Over whole days ``[d0, d1)``
a visitor's first day in the range is the one row whose ``prev_day`` is
before ``d0`` (or none), so the range's visitors are a filtered row count.

Rows are kept per site, and once more with ``site`` NULL for every site
together (a visitor seen on two sites counts once there). Bots are left out,
as the reports leave them out.

A row's ``prev_day`` depends on the days before it, so a day that changes
can change the rows after it. The ETL therefore rebuilds the rows from the
earliest stale day through the last visit (only that day's missing and
vanished rows when it is the last), in one transaction, before the stale
days are summed and their marks cleared (:func:`crumby.etl.daily.refresh`):
a run killed in between leaves the marks, and the next run rebuilds again.
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from ..store.days import as_day, day_start, midnight
from ..store.engine import backend_name, equal_text, exact_text
from ..store.schema import sessions, visitor_days


def rebuild_from(conn: sa.Connection, first: date) -> int:
    """Bring the rows of ``first`` and every later day in step; returns how many days were rebuilt.

    When ``first`` is the last day with visits (a cron run's usual case:
    today changed, and no day after it exists), its rows are brought in step
    in place: the visitors new to it are added, those no longer on it
    removed; the others keep their ``prev_day``, which only the days before
    decide. Otherwise every day from ``first`` on is made anew.
    """
    low = midnight(first)
    last = conn.execute(sa.select(sa.func.max(sessions.c.ended))).scalar()
    if last is None or as_day(last) < first:
        conn.execute(visitor_days.delete().where(visitor_days.c.day >= low))
        return 0
    if as_day(last) == first:
        conn.execute(visitor_days.delete().where(visitor_days.c.day > low))
        _add_day(conn, first, in_place=True)
        return 1
    conn.execute(visitor_days.delete().where(visitor_days.c.day >= low))
    _add_days_from(conn, low)
    return (as_day(last) - first).days + 1


def _add_days_from(conn: sa.Connection, low) -> None:
    """The rows of every day from ``low`` on, in one statement per scope (each site, every site).

    Each visitor's days from ``low`` on, and their last day before it, in day
    order: a row's ``prev_day`` is the day before it in that order. One pass,
    where adding day after day would look every visitor up again each day.
    """
    visited = sa.and_(
        sessions.c.ended >= low, sa.not_(sessions.c.is_bot), sessions.c.visitor_key.is_not(None)
    )
    last_before = sa.func.max(visitor_days.c.day).label("day")
    before = sa.and_(
        visitor_days.c.day < low,
        visitor_days.c.visitor_key.in_(sa.select(sessions.c.visitor_key).where(visited)),
    )
    site = exact_text(conn)(sa.func.coalesce(sessions.c.site, "")).label("site")
    per_site = (
        _on_days(sa.select(site, sessions.c.visitor_key).where(visited)),
        sa.select(last_before, visitor_days.c.site, visitor_days.c.visitor_key)
        .where(before, visitor_days.c.site.is_not(None))
        .group_by(visitor_days.c.site, visitor_days.c.visitor_key),
    )
    every_site = (  # site NULL
        _on_days(sa.select(sa.null().label("site"), sessions.c.visitor_key).where(visited)),
        sa.select(last_before, sa.null(), visitor_days.c.visitor_key)
        .where(before, visitor_days.c.site.is_(None))
        .group_by(visitor_days.c.visitor_key),
    )
    for fresh, earlier in (per_site, every_site):
        days = sa.union_all(fresh, earlier).subquery()
        # partitioned by key first: PostgreSQL sorts in the order written, and with the site (the same
        # on every row) first each comparison read it before a key told rows apart (476 -> 83 ms)
        previous = sa.func.lag(days.c.day).over(
            partition_by=[days.c.visitor_key, days.c.site], order_by=days.c.day
        )
        rows = sa.select(days.c.day, days.c.site, days.c.visitor_key, previous.label("prev_day")).subquery()
        conn.execute(
            visitor_days.insert().from_select(
                ["day", "site", "visitor_key", "prev_day"], sa.select(rows).where(rows.c.day >= low)
            )
        )


def _on_days(visitors: sa.Select) -> sa.Select:
    """``visitors`` (site, visitor_key of some visits) on the days their visits began and ended, once each."""
    began = visitors.add_columns(day_start(sessions.c.started).label("day"))
    ended = visitors.add_columns(day_start(sessions.c.ended).label("day"))
    both = sa.union(began, ended).subquery()
    return sa.select(both.c.day, both.c.site, both.c.visitor_key)


def _add_day(conn: sa.Connection, day: date, *, in_place: bool = False) -> None:
    """``day``'s rows, each with its visitor's last day before it: the days before are in place.

    ``in_place``: the day may have rows already; only the missing ones are
    added, and rows of visitors no longer on the day are deleted.
    """
    low = midnight(day)
    visited, site = _visited_on(conn, day)
    per_site = sa.select(site.label("site"), sessions.c.visitor_key).where(visited).distinct().subquery()
    every_site = sa.select(sessions.c.visitor_key).where(visited).distinct().subquery()
    equal = equal_text(conn)  # the site on the index of earlier rows: each visitor's rows of that site alone
    for fresh, same_site in (
        (per_site, lambda rows: equal(rows.c.site, per_site.c.site)),
        (every_site, lambda rows: rows.c.site.is_(None)),
    ):
        earlier = visitor_days.alias("earlier")
        prev_day = (
            sa.select(sa.func.max(earlier.c.day))
            .where(earlier.c.visitor_key == fresh.c.visitor_key, same_site(earlier), earlier.c.day < low)
            .scalar_subquery()
        )
        site_value = fresh.c.site if "site" in fresh.c else sa.null()
        rows = sa.select(sa.literal(low, sa.DateTime()), site_value, fresh.c.visitor_key, prev_day)
        if in_place:
            kept = visitor_days.alias("kept")
            rows = rows.where(
                ~sa.exists().where(
                    kept.c.day == low, kept.c.visitor_key == fresh.c.visitor_key, same_site(kept)
                )
            )
        conn.execute(visitor_days.insert().from_select(["day", "site", "visitor_key", "prev_day"], rows))
    if in_place:
        _delete_absent(conn, low, visited, site)


def _visited_on(conn: sa.Connection, day: date):
    """(condition, site) of the visits that put their visitor on ``day``: begun or ended on it, no bots."""
    low, high = midnight(day), midnight(day + timedelta(days=1))
    visited = sa.and_(
        sa.or_(
            sa.and_(sessions.c.started >= low, sessions.c.started < high),
            sa.and_(sessions.c.ended >= low, sessions.c.ended < high),
        ),
        sa.not_(sessions.c.is_bot),
        sessions.c.visitor_key.is_not(None),
    )
    return visited, exact_text(conn)(sa.func.coalesce(sessions.c.site, ""))


def _delete_absent(conn: sa.Connection, low, visited, site) -> None:
    """The rows of the day at ``low`` whose visitor has no visit on it any more (for the site, or at all).

    Found as a set difference, then deleted by key. As an anti-join, right after
    a load (when the server's statistics have not seen the day's rows) PostgreSQL
    looked up the day's visits again for each of its rows: 460 s for one day of
    35,000 visitors. MySQL and MariaDB, some of which lack EXCEPT, keep it.
    """
    on_day = visitor_days.c.day == low
    if backend_name(conn.engine) == "mysql":
        same_visitor = sessions.c.visitor_key == visitor_days.c.visitor_key
        for_site = sa.exists().where(visited, same_visitor, site == visitor_days.c.site)
        at_all = sa.exists().where(visited, same_visitor)
        conn.execute(visitor_days.delete().where(on_day, visitor_days.c.site.is_not(None), ~for_site))
        conn.execute(visitor_days.delete().where(on_day, visitor_days.c.site.is_(None), ~at_all))
        return
    per_site = sa.except_(
        sa.select(visitor_days.c.visitor_key, visitor_days.c.site).where(
            on_day, visitor_days.c.site.is_not(None)
        ),
        sa.select(sessions.c.visitor_key, site).where(visited),
    )
    every_site = sa.except_(
        sa.select(visitor_days.c.visitor_key).where(on_day, visitor_days.c.site.is_(None)),
        sa.select(sessions.c.visitor_key).where(visited),
    )
    absent: dict[str | None, list[int]] = {}
    for key, *scope in [*conn.execute(per_site), *conn.execute(every_site)]:
        absent.setdefault(scope[0] if scope else None, []).append(key)
    for scope, keys in absent.items():
        same_scope = visitor_days.c.site.is_(None) if scope is None else visitor_days.c.site == scope
        for start in range(0, len(keys), VISITORS_PER_DELETE):
            chunk = keys[start : start + VISITORS_PER_DELETE]
            conn.execute(
                visitor_days.delete().where(on_day, same_scope, visitor_days.c.visitor_key.in_(chunk))
            )


VISITORS_PER_DELETE = 500


def forget_before(conn: sa.Connection, start) -> None:
    """Retention: rows before ``start`` go, and a later row's earlier day no longer counts as a visit.

    A visit begun before ``start`` goes whole: a visitor it alone put on the
    day of ``start`` is no longer on it, and their next day becomes their first.
    """
    conn.execute(visitor_days.delete().where(visitor_days.c.day < start))
    _delete_absent(conn, start, *_visited_on(conn, as_day(start)))
    conn.execute(visitor_days.update().where(visitor_days.c.prev_day < start).values(prev_day=None))
    kept = visitor_days.alias("kept")
    same_site = sa.or_(
        kept.c.site == visitor_days.c.site, sa.and_(kept.c.site.is_(None), visitor_days.c.site.is_(None))
    )
    on_start = sa.exists().where(
        kept.c.day == start, kept.c.visitor_key == visitor_days.c.visitor_key, same_site
    )
    gone = conn.execute(  # read first: MySQL cannot update a table that a subquery of the update reads
        sa.select(visitor_days.c.site, visitor_days.c.visitor_key).where(
            visitor_days.c.prev_day == start, ~on_start
        )
    ).all()
    for site, key in gone:
        scope = visitor_days.c.site.is_(None) if site is None else visitor_days.c.site == site
        conn.execute(
            visitor_days.update()
            .where(visitor_days.c.prev_day == start, visitor_days.c.visitor_key == key, scope)
            .values(prev_day=None)
        )

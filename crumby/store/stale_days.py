"""Which days' daily figures (``document_days``, ``origin_days``, ``visitor_days``) must be made again.

A day is marked in the transaction that adds, replaces or deletes its page
views or changes a visit that started on it, and cleared in the transaction
that sums it anew, so a run killed in between leaves the mark for the next run.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import sqlalchemy as sa

from .bookkeeping import stale_days
from .days import as_day, midnight
from .engine import backend_name
from .schema import visits


def mark_stale(conn: sa.Connection, days: Iterable[date]) -> int:
    """Mark ``days`` (those not marked yet); returns how many were added."""
    wanted = {as_day(day) for day in days}
    if not wanted or backend_name(conn.engine) == "clickhouse":  # no daily figures kept there
        return 0
    marked = {
        as_day(value)
        for value in conn.execute(
            sa.select(stale_days.c.day).where(
                stale_days.c.day.between(midnight(min(wanted)), midnight(max(wanted)))
            )
        ).scalars()
    }
    missing = sorted(wanted - marked)
    if missing:
        conn.execute(stale_days.insert(), [{"day": midnight(day)} for day in missing])
    return len(missing)


def days_with_page_views(conn: sa.Connection) -> list[date]:
    """Every day from the first stored page view through the last."""
    low, high = conn.execute(sa.select(sa.func.min(visits.c.datetime), sa.func.max(visits.c.datetime))).all()[
        0
    ]
    if low is None:
        return []
    first, last = as_day(low), as_day(high)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def stale(conn: sa.Connection) -> list[date]:
    """The marked days, oldest first."""
    return sorted(as_day(value) for value in conn.execute(sa.select(stale_days.c.day)).scalars())


def clear(conn: sa.Connection, day: date) -> None:
    conn.execute(stale_days.delete().where(stale_days.c.day == midnight(day)))

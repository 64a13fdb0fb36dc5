"""Days as the store gives them back (a datetime, a date or SQLite's text, read as a date), and in SQL."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import DateTime
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


def as_day(value: object) -> date:
    """A stored time or day (a datetime, a date, or SQLite's text) as a date."""
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value.date() if isinstance(value, datetime) else value


def utcnow() -> datetime:
    """Naive UTC, as the DateTime columns store it on every backend."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def midnight(day: date) -> datetime:
    """The start of ``day`` (UTC), as day columns and ranges hold it."""
    return datetime.combine(day, datetime.min.time())


class day_start(FunctionElement):  # lower case, as SQL functions are
    """SQL: the midnight that starts the day of a stored time, as the day columns hold it."""

    type = DateTime()
    inherit_cache = True


@compiles(day_start)
def _day_start(element, compiler, **kw):
    return f"CAST(date_trunc('day', {compiler.process(element.clauses, **kw)}) AS TIMESTAMP)"


@compiles(day_start, "mysql")
@compiles(day_start, "mariadb")
def _day_start_mysql(element, compiler, **kw):
    return f"CAST(DATE({compiler.process(element.clauses, **kw)}) AS DATETIME)"


@compiles(day_start, "sqlite")
def _day_start_sqlite(element, compiler, **kw):
    # the text SQLAlchemy stores a DateTime as on SQLite, so that it compares and reads back as one
    return f"strftime('%Y-%m-%d 00:00:00.000000', {compiler.process(element.clauses, **kw)})"

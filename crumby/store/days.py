"""Days as the store gives them back: a datetime, a date, or SQLite's text, all read as a date."""

from __future__ import annotations

from datetime import date, datetime


def as_day(value: object) -> date:
    """A stored time or day (a datetime, a date, or SQLite's text) as a date."""
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value.date() if isinstance(value, datetime) else value


def midnight(day: date) -> datetime:
    """The start of ``day`` (UTC), as day columns and ranges hold it."""
    return datetime.combine(day, datetime.min.time())

"""Every day (or hour) of a report's range as rows, so that a time series has no gaps.

The store's ``calendar`` only covers the days since the first load, so a
site's first week would show one point. ``{{ periods('day') }}`` writes a
SELECT of the range's labels instead, made from a cross join of digits: the
same rows on every backend, and nothing of the request in the SQL text but
the bound ``:t0`` and a count the server works out from the checked range.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

_ADD = {
    "duckdb": {"day": "{0} + to_days(CAST({1} AS INTEGER))", "hour": "{0} + to_hours(CAST({1} AS INTEGER))"},
    "sqlite": {
        "day": "datetime({0}, '+' || {1} || ' days')",
        "hour": "datetime({0}, '+' || {1} || ' hours')",
    },
    "postgresql": {"day": "{0} + {1} * INTERVAL '1 day'", "hour": "{0} + {1} * INTERVAL '1 hour'"},
    "mysql": {"day": "DATE_ADD({0}, INTERVAL {1} DAY)", "hour": "DATE_ADD({0}, INTERVAL {1} HOUR)"},
    "clickhouse": {"day": "addDays({0}, {1})", "hour": "addHours({0}, {1})"},
}
_DIGITS = "(" + " UNION ALL ".join(f"SELECT {d} AS n" for d in range(10)) + ")"


def period_count(t0: datetime, t1: datetime, granularity: str) -> int:
    """How many days (hours) the range ``[t0, t1)`` touches."""
    last = t1 - timedelta(microseconds=1)
    if granularity == "hour":
        start = t0.replace(minute=0, second=0, microsecond=0)
        return int((last - start) // timedelta(hours=1)) + 1
    return (last.date() - t0.date()).days + 1


def periods_function(values: Mapping[str, Any], dialect: str, functions: Mapping[str, Callable]):
    def periods(granularity: str = "day") -> str:
        """A SELECT of one ``period`` label per day (or hour) of the range, as ``day()``/``hour()`` write."""
        # (granularity may be a bound parameter: it compares by its value)
        kind = "hour" if granularity == "hour" else "day" if granularity == "day" else None
        if kind is None:
            raise ValueError("periods takes 'day' or 'hour'")
        count = period_count(values["t0"], values["t1"], kind)
        numbers = _numbers(max(1, len(str(count - 1))))
        # ClickHouse takes a bound time for a text until told: toDateTime() reads either
        start = functions[f"{kind}_key"]("toDateTime(:t0)" if dialect == "clickhouse" else ":t0")
        label = functions[kind](_ADD[dialect][kind].format(start, "k.n"))
        return f"SELECT {label} AS period FROM {numbers} k WHERE k.n < {int(count)}"

    return periods


def _numbers(levels: int) -> str:
    """A subquery of the numbers 0 to 10**levels - 1 as ``n``: one join of two tables per SELECT
    (as old ClickHouse releases require), nested."""
    if levels == 1:
        return _DIGITS
    return f"(SELECT d0.n + 10 * d1.n AS n FROM {_DIGITS} d0 CROSS JOIN {_numbers(levels - 1)} d1)"

"""Running a report: parameters checked, template rendered, SQL run read-only, rows capped.

The same function serves the report API, ``crumby query`` and
:func:`crumby.queries.dataframe`, so all three see the same rows.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ..store.bookkeeping import loads
from ..store.engine import StoreEmpty, StoreError, backend_name
from ..store.readonly import QueryTimeout, StoreBusy, read_only_connection
from .clickhouse_shape import JSON_TEXT, without_json_functions
from .dialects import goal_pattern
from .filters import FILTER_PARAM, filter_query_values, parse_filters
from .params import resolve_params
from .render import RenderedQuery, render
from .templates import Template

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_ROWS = 10_000


class QueryFailed(Exception):
    """The database refused or failed the query; the message is safe to show (no SQL text)."""


class NotModified(Exception):
    """The caller already holds this answer: the store has not been loaded since (an HTTP 304)."""

    def __init__(self, etag: str, last_modified: datetime | None) -> None:
        super().__init__(etag)
        self.etag = etag
        self.last_modified = last_modified


@dataclass
class ReportResult:
    """A report's rows, with what a caller needs to show or cache them."""

    name: str
    visibility: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    elapsed: float  # seconds spent in the database, connection included
    t0: datetime
    t1: datetime
    etag: str | None = None
    last_modified: datetime | None = None  # when the ETL last finished a load, if the store says

    def as_dict(self) -> dict[str, Any]:
        """The API's JSON shape (contract 5): columns and data, with the range and timing beside them."""
        return {
            "columns": self.columns,
            "data": self.rows,
            "range": {"t0": self.t0.isoformat(), "t1": self.t1.isoformat()},
            "timing": {"ms": round(self.elapsed * 1000, 1)},
            "truncated": self.truncated,
            "rows": len(self.rows),
        }


def plain_value(value: Any) -> Any:
    """A database value as every backend should have returned it: numbers, text, ISO times."""
    if isinstance(value, Decimal):
        return (
            int(value)
            if value == value.to_integral_value() and value.as_tuple().exponent >= 0
            else float(value)
        )
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return value


def store_url(settings: Mapping[str, Any]) -> str:
    return str(settings["SQLALCHEMY_DATABASE_URI"])


def prepare(
    template: Template,
    raw: Mapping[str, Any],
    dialect: str,
    *,
    now: datetime | None = None,
    goals: Sequence[Any] = (),
) -> RenderedQuery:
    """Check the request values and filters (``f``) against the template; its SQL for ``dialect``."""
    rest = dict(raw)
    filters = parse_filters(rest.pop(FILTER_PARAM, None), template.filters)
    values = resolve_params(template.params, rest, now=now)
    if filters:
        values.update(filter_query_values(filters), filters=filters)
    if template.goals:
        values.update(goal_values(goals, dialect))
    return render(template, values, dialect)


def goal_values(goals: Sequence[Any], dialect: str) -> dict[str, Any]:
    """The goals (each with name, kind and pattern) as bound values: ``goal_0_name``, ``goal_0_match``..."""
    values: dict[str, Any] = {"goals": tuple("event" if g.kind == "event" else "page" for g in goals)}
    for n, goal in enumerate(goals):
        values[f"goal_{n}_name"] = str(goal.name)
        values[f"goal_{n}_match"] = (
            goal.pattern if goal.kind == "event" else goal_pattern(goal.pattern, dialect)
        )
    return values


_stores_with_loads: set[str] = set()


def _has_table(conn: sa.Connection, name: str) -> bool:
    if conn.dialect.name == "sqlite":  # the inspector's PRAGMA is refused on a read-only connection
        found = conn.execute(
            sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"), {"name": name}
        ).first()
        return found is not None
    return sa.inspect(conn).has_table(name)


def _require_tables(conn: sa.Connection, url: str) -> None:
    """StoreEmpty unless the ETL has made the store's tables (their bookkeeping table stands for them)."""
    if url not in _stores_with_loads:
        if not _has_table(conn, loads.name):
            raise StoreEmpty()
        _stores_with_loads.add(url)


def _load_stamp(conn: sa.Connection, url: str) -> tuple[str, datetime | None]:
    """Which ETL load the store is at: the cache validator of every answer drawn from it."""
    _require_tables(conn, url)
    # The newest finished load, found from the end of the key: the table gains a row per run
    # (some hundred thousand a year under a five-minute cron), and every request asks.
    row = conn.execute(
        sa.select(loads.c.id, loads.c.finished_at)
        .where(loads.c.status == "done")
        .order_by(loads.c.id.desc())
        .limit(1)
    ).first()
    load_id, finished = row if row is not None else (None, None)
    if isinstance(finished, str):  # SQLite hands back text
        finished = datetime.fromisoformat(finished)
    return f"{load_id}:{finished}", finished


def _names_a_missing_file(exc: Exception, url: str) -> bool:
    """SQLite's answer when the read-only store's file does not exist yet."""
    database = sa.engine.make_url(url).database
    return (
        "unable to open database file" in str(getattr(exc, "orig", exc))
        and bool(database)
        and not os.path.exists(database)
    )


def etag_for(stamp: str, salt: str) -> str:
    """A validator that changes with the store's last load and with the question asked."""
    return hashlib.sha256(f"{stamp}|{salt}".encode()).hexdigest()[:32]


# Per store URL: whether its ClickHouse server has the JSONExtract functions (18.16 has not).
_json_functions: dict[str, bool] = {}


def _for_clickhouse_server(query: RenderedQuery, conn: sa.Connection, url: str) -> RenderedQuery:
    """``query`` as the store's ClickHouse server reads it: ``json_text``'s function is swapped for
    its stand-in where the server predates the JSONExtract functions (see clickhouse_shape)."""
    if JSON_TEXT not in query.sql:
        return query
    known = _json_functions.get(url)
    if known is None:
        found = conn.execute(
            sa.text("SELECT count() FROM system.functions WHERE name = :name"), {"name": JSON_TEXT}
        ).scalar()
        known = _json_functions[url] = bool(found)
    if known:
        return query
    return RenderedQuery(sql=without_json_functions(query.sql), values=query.values, template=query.template)


def execute(
    query: RenderedQuery,
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_rows: int = DEFAULT_MAX_ROWS,
    etag_salt: str | None = None,
    if_none_match: Collection[str] = (),
) -> ReportResult:
    """Run a rendered query on a read-only connection; at most ``max_rows`` rows (``truncated`` says so).

    With ``etag_salt`` the result carries an ETag tied to the last ETL load;
    when it is among ``if_none_match`` the query is not run: NotModified.
    """
    started = time.perf_counter()
    etag = last_modified = None
    try:
        with read_only_connection(url, timeout, max_rows) as conn:
            if etag_salt is None:
                _require_tables(conn, url)
            else:
                stamp, last_modified = _load_stamp(conn, url)
                etag = etag_for(stamp, etag_salt)
                if etag in if_none_match:
                    raise NotModified(etag, last_modified)
            if conn.dialect.name == "clickhouse":
                query = _for_clickhouse_server(query, conn, url)
            result = conn.execute(query.clause(), query.bound_values())
            columns = list(result.keys())
            fetched = result.fetchmany(max_rows + 1)
    except (QueryTimeout, StoreBusy, StoreError, NotModified):
        raise
    except sa.exc.SQLAlchemyError as exc:
        if _names_a_missing_file(exc, url):
            raise StoreEmpty() from None
        template = query.template
        log.warning("report %s/%s failed: %s", template.visibility, template.name, getattr(exc, "orig", exc))
        raise QueryFailed(
            f"the report {template.name!r} failed on the database ({exc.__class__.__name__}); "
            "the server log has the details"
        ) from None
    elapsed = time.perf_counter() - started
    rows = [[plain_value(v) for v in row] for row in fetched[:max_rows]]
    return ReportResult(
        name=query.template.name,
        visibility=query.template.visibility,
        columns=columns,
        rows=rows,
        truncated=len(fetched) > max_rows,
        elapsed=elapsed,
        t0=query.values["t0"],
        t1=query.values["t1"],
        etag=etag,
        last_modified=last_modified,
    )


def run_prepared(
    query: RenderedQuery,
    settings: Mapping[str, Any],
    *,
    etag_salt: str | None = None,
    if_none_match: Collection[str] = (),
) -> ReportResult:
    """``execute`` under the limits the settings give (REPORT_TIMEOUT, REPORT_MAX_ROWS)."""
    return execute(
        query,
        store_url(settings),
        timeout=float(settings.get("REPORT_TIMEOUT", DEFAULT_TIMEOUT)),
        max_rows=int(settings.get("REPORT_MAX_ROWS", DEFAULT_MAX_ROWS)),
        etag_salt=etag_salt,
        if_none_match=if_none_match,
    )


def run_report(
    template: Template,
    raw: Mapping[str, Any],
    settings: Mapping[str, Any],
    *,
    now: datetime | None = None,
    goals: Sequence[Any] = (),
) -> ReportResult:
    """Run ``template`` with request values ``raw`` against the configured store, under its limits."""
    query = prepare(template, raw, backend_name(store_url(settings)), now=now, goals=goals)
    return run_prepared(query, settings)

"""Write a batch into the store: its rows, its checkpoints and the ETL's state, in the same transaction.

Every backend takes the rows in bulk: DuckDB straight from Arrow, PostgreSQL
through COPY into a temporary table, SQLite and MySQL/MariaDB by batched
``executemany``. A hit id already in the store is skipped, never loaded
twice: it is looked for among the rows of the batch's time window, since
a replayed line carries the same time (on DuckDB by an anti-join, on
PostgreSQL before the COPY; elsewhere the unique key refuses it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from .. import __version__
from ..store.bookkeeping import files as checkpoints
from ..store.bookkeeping import loads
from ..store.days import as_day, midnight, utcnow
from ..store.engine import backend_name, raw_duckdb
from ..store.schema import calendar
from .pg_copy import copy_into

ROWS_PER_STATEMENT = 2000
EPOCH = datetime(1970, 1, 1)


def arrow_type(column: sa.Column) -> pa.DataType:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return pa.bool_()
    if isinstance(kind, (sa.BigInteger, sa.Integer)):
        return pa.int64()
    if isinstance(kind, sa.Float):
        return pa.float64()
    if isinstance(kind, sa.DateTime):
        return pa.timestamp("us")
    if isinstance(kind, sa.Date):
        return pa.date32()
    return pa.string()


def to_arrow(table: sa.Table, frame: Mapping[str, object], length: int) -> pa.Table:
    """The columns of ``table`` from ``frame`` (Series, arrays or scalars), typed for the store."""
    arrays = [column_array(frame.get(column.name), arrow_type(column), length) for column in table.columns]
    return pa.Table.from_arrays(arrays, names=[c.name for c in table.columns])


def column_array(value: object, kind: pa.DataType, length: int) -> pa.Array | pa.ChunkedArray:
    """``value`` as an Arrow column of ``kind``; Arrow-backed pandas columns are taken without a copy."""
    if value is None:
        return pa.nulls(length, kind)
    if isinstance(value, pd.Series):
        value = value.array
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        array = value
    elif hasattr(value, "__arrow_array__"):  # pandas "str" and other Arrow-backed arrays
        array = pa.array(value)
    else:
        array = pa.array(value, type=kind, from_pandas=True)
    if array.type == kind or (_is_text(kind) and _is_text(array.type)):
        return array  # large_string stays: every store takes it, and casting would copy
    return array.cast(kind)


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def next_id(conn: sa.Connection, table: sa.Table) -> int:
    """The first free row id of ``table`` (ids are given by the ETL, in load order)."""
    # .all() reads the result to its end: DuckDB refuses new work while a result is open
    return (conn.execute(sa.select(sa.func.max(table.c.id))).all()[0][0] or 0) + 1


def record_load(conn: sa.Connection, kind: str, status: str, **values) -> int:
    """A new row of ``_crumby_loads`` (etl, reprocess or retention); returns its id, the rows' load_id.

    A finished one moves the reports' ETag, so whatever changes the answers records one.
    """
    load_id = next_id(conn, loads)
    values = {"started_at": utcnow(), **values}
    conn.execute(
        loads.insert().values(id=load_id, kind=kind, status=status, crumby_version=__version__, **values)
    )
    return load_id


def insert_hits(conn: sa.Connection, table: sa.Table, rows: pa.Table, kind: str | None = None) -> int:
    """Insert ``rows`` whose hit id is new; returns how many were inserted.

    ``rows`` may carry more columns than ``table`` (those are left out) and,
    with ``kind``, hits of both types (only those whose ``t`` is ``kind`` go in).
    """
    names = [column.name for column in table.columns]
    if backend_name(conn.engine) == "duckdb":
        return _insert_duckdb(conn, table, rows, names, kind) if rows.num_rows else 0
    if kind is not None:
        rows = rows.filter(pc.equal(rows.column("t"), kind))
    rows = rows.select(names)
    if not rows.num_rows:
        return 0
    if backend_name(conn.engine) == "postgresql":
        return _insert_postgresql(conn, table, rows)
    return _insert_many(conn, table, rows, backend_name(conn.engine))


def _quoted_columns(conn: sa.Connection, names: Iterable[str]) -> str:
    quote = conn.dialect.identifier_preparer.quote
    return ", ".join(quote(n) for n in names)


def _insert_duckdb(
    conn: sa.Connection, table: sa.Table, rows: pa.Table, names: list[str], kind: str | None
) -> int:
    """Straight from Arrow: DuckDB reads the batch in place, picks the hit type and skips stored ids."""
    columns = _quoted_columns(conn, names)
    times = rows.column("datetime")
    low, high = pc.min(times).as_py(), pc.max(times).as_py()
    inserted = execute_over(
        raw_duckdb(conn),
        rows,
        f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM _crumby_rows b "
        f"WHERE {'b.t = ? AND ' if kind else ''}NOT EXISTS (SELECT 1 FROM {table.name} x "
        f"WHERE x.datetime BETWEEN ? AND ? AND x.hit_id = b.hit_id)",
        [kind, low, high] if kind else [low, high],
    ).fetchone()[0]
    return int(inserted)


def execute_over(raw, rows: pa.Table, sql: str, parameters: list | None = None):
    """Run ``sql`` on DuckDB with ``rows`` as the table ``_crumby_rows``, read in place.

    DuckDB finds the name among this function's variables. A registered view
    would do the same, but one dropped inside a transaction holds on to its
    rows until the commit, and a transaction spans several batches.
    """
    _crumby_rows = rows  # read by DuckDB, by name
    return raw.execute(sql, parameters or [])


def _insert_postgresql(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> int:
    """COPY straight into the table, after leaving out the hit ids it already holds.

    Those are found among the ids stored in the batch's time window (a replayed
    line carries its time), matched here: the table has no index on hit_id
    (migration 16), and the window of a new batch holds few rows or none. The
    window leaves out the whole hours between its times: a late file for an
    old hour read with the current one would bring back every id stored in
    the days between.
    """
    stored = conn.execute(
        sa.select(table.c.hit_id).where(_windows_of(table, rows.column("datetime")))
    ).scalars()
    stored = pa.array(stored.all(), pa.string())
    if len(stored):
        rows = rows.filter(pc.invert(pc.is_in(rows.column("hit_id"), stored)))
    if rows.num_rows:
        copy_into(conn, table.name, _quoted_columns(conn, rows.column_names), rows)
    return rows.num_rows


def _windows_of(table: sa.Table, times: pa.ChunkedArray) -> sa.ColumnElement[bool]:
    """``table``'s rows between the first and last of ``times``, less the hours between that none is in."""
    spans = time_spans(times)
    return sa.or_(*(table.c.datetime.between(low, high) for low, high in spans)) if spans else sa.false()


def time_spans(
    times: pa.Array | pa.ChunkedArray, reach: timedelta = timedelta(0), gap: timedelta = timedelta(hours=1)
) -> list[tuple[datetime, datetime]]:
    """Time ranges that hold each of ``times`` give or take ``reach``, split where two of them lie
    more than ``gap`` apart: a batch that holds a late file's old hour beside the current one (or a
    made-up time) must not make a query read every stored hit of the days between."""
    micros = np.unique(pc.cast(pc.cast(times.drop_null(), pa.timestamp("us")), pa.int64()).to_numpy())
    if not len(micros):
        return []
    widen = reach // timedelta(microseconds=1)
    parts = np.split(micros, np.flatnonzero(np.diff(micros) > gap // timedelta(microseconds=1)) + 1)
    return [(_naive(part[0] - widen), _naive(part[-1] + widen)) for part in parts]


def _naive(micros) -> datetime:
    return EPOCH + timedelta(microseconds=int(micros))


def row_tuples(rows: pa.Table) -> list[tuple]:
    return list(zip(*(column.to_pylist() for column in rows.columns), strict=True))


def _insert_many(conn: sa.Connection, table: sa.Table, rows: pa.Table, backend: str) -> int:
    columns = _quoted_columns(conn, rows.column_names)
    if backend == "sqlite":
        marks = ", ".join("?" for _ in rows.column_names)
        sql = f"INSERT INTO {table.name} ({columns}) VALUES ({marks}) ON CONFLICT (hit_id) DO NOTHING"
    else:
        marks = ", ".join("%s" for _ in rows.column_names)
        sql = f"INSERT INTO {table.name} ({columns}) VALUES ({marks}) ON DUPLICATE KEY UPDATE id = id"
    cursor = conn.connection.driver_connection.cursor()
    inserted = 0
    for start in range(0, rows.num_rows, ROWS_PER_STATEMENT):
        part = rows.slice(start, ROWS_PER_STATEMENT)
        cursor.executemany(sql, row_tuples(part))
        if backend == "sqlite":
            inserted += max(cursor.rowcount, 0)
        else:  # MySQL's rowcount (found rows) counts a skipped duplicate too: count the ids that are in
            ids = part.column("id").to_pylist()
            inserted += conn.execute(sa.select(sa.func.count()).where(table.c.id.in_(ids))).scalar_one()
    cursor.close()
    return inserted


def replace_hits(
    conn: sa.Connection, table: sa.Table, hit_ids: list[str], within: tuple[datetime, datetime] | None = None
) -> None:
    """Delete the rows of ``hit_ids``, whose times are ``within`` if given (a reprocess writes them anew
    in the same transaction; PostgreSQL finds them by time, having no index on hit_id)."""
    if backend_name(conn.engine) == "duckdb":  # no index on hit_id there: one pass over the table
        replaced = pa.table({"hit_id": pa.array(hit_ids, pa.string())})
        sql = f"DELETE FROM {table.name} WHERE hit_id IN (SELECT hit_id FROM _crumby_rows)"
        execute_over(raw_duckdb(conn), replaced, sql)
        return
    condition = sa.true() if within is None else table.c.datetime.between(*within)
    for start in range(0, len(hit_ids), ROWS_PER_STATEMENT):
        ids = hit_ids[start : start + ROWS_PER_STATEMENT]
        conn.execute(table.delete().where(condition, table.c.hit_id.in_(ids)))


def save_checkpoints(conn: sa.Connection, rows: list[dict]) -> None:
    """Record how far each file is loaded (same transaction as its rows: that is the exactly-once)."""
    if not rows:
        return
    if backend_name(conn.engine) != "clickhouse":  # where a checkpoint's new row replaces the old
        conn.execute(checkpoints.delete().where(checkpoints.c.name.in_([r["name"] for r in rows])))
    conn.execute(checkpoints.insert(), rows)


def load_checkpoints(conn: sa.Connection) -> dict[str, dict]:
    query = sa.select(checkpoints)
    if backend_name(conn.engine) == "clickhouse":  # each file's newest row
        query = sa.text(f"SELECT * FROM {checkpoints.name} FINAL")
    return {row.name: row._asdict() for row in conn.execute(query)}


def extend_calendar(conn: sa.Connection, first: date, last: date | None = None) -> int:
    """Add the days from ``first`` through ``last`` (default today, UTC) that ``calendar`` lacks."""
    today = datetime.now(timezone.utc).date()
    last = max(last or today, today)
    low, high = midnight(first), midnight(last)
    present = {
        as_day(value)
        for value in conn.execute(
            sa.select(calendar.c.datetime).where(calendar.c.datetime.between(low, high))
        ).scalars()
    }
    missing = []
    day = first
    while day <= last:
        if day not in present:
            missing.append({"datetime": midnight(day)})
        day += timedelta(days=1)
    if missing:
        conn.execute(calendar.insert(), missing)
    return len(missing)

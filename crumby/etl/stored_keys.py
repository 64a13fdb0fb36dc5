"""Give stored rows the integer keys of their visitor and visit ids (a store made before they existed).

The schema step that adds the key columns leaves them empty; the ETL's
next run fills them here, before it loads anything, a slice of distinct ids
at a time, each in its own transaction: a run stopped half way leaves rows
without keys, which the next run finds and fills (nothing is filled twice).
"""

from __future__ import annotations

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from ..store.engine import backend_name, raw_duckdb
from ..store.schema import events, sessions, visits
from .keys import KEY_OF, id_keys
from .load import execute_over
from .pg_copy import copy_into

IDS_PER_SLICE = 500_000
# (table, key column, the id column it is made from); sessions.visitor_key came with its table
KEYED = (
    *[(table, key, made_from) for table in (visits, events) for key, made_from in KEY_OF.items()],
    (sessions, "visit_key", KEY_OF["visit_key"]),
)
_stage = sa.Table(
    "_crumby_keys",
    sa.MetaData(),
    # an id of 64 characters is up to 256 bytes of UTF-8
    sa.Column("i", sa.String(64).with_variant(mysql.VARBINARY(256), "mysql", "mariadb"), primary_key=True),
    sa.Column("k", sa.BigInteger, nullable=False),
    prefixes=["TEMPORARY"],
)


def fill_stored_keys(engine: sa.Engine, ids_per_slice: int = IDS_PER_SLICE) -> int:
    """Fill every empty key whose id is known; returns how many distinct ids were keyed."""
    if backend_name(engine) == "clickhouse":
        return 0
    keyed = 0
    for table, key, made_from in KEYED:
        while True:
            with engine.begin() as conn:
                ids = _unkeyed_ids(conn, table.c[key], table.c[made_from], ids_per_slice)
                if not ids:
                    break
                _set_keys(conn, table, key, made_from, ids)
            keyed += len(ids)
    return keyed


def _bytes(conn: sa.Connection):
    """Ids compared as their bytes: MySQL's collations take "Ab", "ab" and "ab " for one id, and the
    keys the ETL gives them differ; the other stores compare text byte for byte already."""
    if backend_name(conn.engine) == "mysql":
        return lambda expr: sa.cast(expr, sa.LargeBinary())
    return lambda expr: expr


def unkeyed_query(conn: sa.Connection, key: sa.Column, made_from: sa.Column, limit: int) -> sa.Select:
    """Up to ``limit`` distinct ids of rows without their key (on PostgreSQL, read from partial
    indexes of such rows alone: see the schema's step 23)."""
    ids = _bytes(conn)(made_from)
    return sa.select(ids).where(key.is_(None), made_from.is_not(None)).distinct().limit(limit)


def _unkeyed_ids(conn: sa.Connection, key: sa.Column, made_from: sa.Column, limit: int) -> list[str]:
    query = unkeyed_query(conn, key, made_from, limit)
    return [i.decode() if isinstance(i, bytes) else i for i in conn.execute(query).scalars().all()]


def _set_keys(conn: sa.Connection, table: sa.Table, key: str, made_from: str, ids: list[str]) -> None:
    """``table.key`` of the rows whose ``made_from`` is one of ``ids``, by one UPDATE joined to their keys."""
    staged = pa.table({"i": pa.array(ids, pa.string()), "k": id_keys(pa.array(ids, pa.string()))})
    if backend_name(conn.engine) == "duckdb":
        sql = (
            f'UPDATE {table.name} SET "{key}" = r.k FROM _crumby_rows r '
            f'WHERE {table.name}."{made_from}" = r.i AND {table.name}."{key}" IS NULL'
        )
        execute_over(raw_duckdb(conn), staged, sql)
        return
    _stage.create(conn, checkfirst=True)
    backend = backend_name(conn.engine)
    if backend == "postgresql":
        copy_into(conn, _stage.name, "i, k", staged)
    else:
        rows = staged.to_pylist()
        if backend == "mysql":
            rows = [{"i": row["i"].encode(), "k": row["k"]} for row in rows]
        conn.execute(_stage.insert(), rows)
    conn.execute(
        sa.update(table)
        .values({key: _stage.c.k})
        .where(_bytes(conn)(table.c[made_from]) == _stage.c.i, table.c[key].is_(None))
    )
    _stage.drop(conn)

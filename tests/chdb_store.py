"""A current ClickHouse in the test process (chDB): the SQL crumby sends must run on today's releases too.

The test server is Debian's 18.16; production servers are current. chDB is
ClickHouse's engine as a Python module, so the same DDL and the same rendered
report SQL run on a current release here, without a second server.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa

from crumby.queries.render import RenderedQuery
from crumby.store.clickhouse import COMPUTED_KEYS, Server, table_statements


class ChdbStore:
    """A chDB session in ``folder`` holding crumby's ClickHouse tables."""

    def __init__(self, folder: Path) -> None:
        from chdb import session

        self.session = session.Session(str(folder))
        text = self.query_rows("SELECT version()")[0][0]
        self.version = tuple(int(part) for part in re.findall(r"\d+", text)[:3])
        for statement in table_statements(Server(self.version)):
            self.session.query(statement)

    def insert(self, table: str, rows: pa.Table) -> None:
        """Rows into ``table``, read by ClickHouse straight from Arrow (its computed keys are not written)."""
        rows = rows.drop_columns([name for name in rows.column_names if name in COMPUTED_KEYS.get(table, {})])
        _crumby_rows = rows  # read by chDB, by name
        names = ", ".join(f"`{name}`" for name in rows.column_names)
        self.session.query(f"INSERT INTO `{table}` ({names}) SELECT {names} FROM Python(_crumby_rows)")

    def query_rows(self, sql: str) -> list[list]:
        table = self.session.query(sql, "ArrowTable")
        return [list(row.values()) for row in table.to_pylist()]

    def run(self, query: RenderedQuery) -> list[list]:
        """A rendered report, its values written in as ClickHouse literals (a test's own values only)."""
        names = sorted(query.bound_values(), key=len, reverse=True)
        # one pass, so that a value holding ":t0" is not written into again
        pattern = re.compile(":(" + "|".join(map(re.escape, names)) + r")\b") if names else None
        sql = pattern.sub(lambda m: literal(query.values[m.group(1)]), query.sql) if pattern else query.sql
        return self.query_rows(sql)

    def close(self) -> None:
        self.session.close()


def literal(value) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return f"'{value:%Y-%m-%d %H:%M:%S}'"
    if isinstance(value, date):
        return f"'{value:%Y-%m-%d}'"
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"

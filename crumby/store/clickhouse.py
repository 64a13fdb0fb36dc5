"""ClickHouse as the store: contract 3's tables in MergeTree engines, made for the server's version.

ClickHouse has no multi-statement transactions, so the ETL keeps its
exactly-once promise by idempotence (see crumby/etl/clickhouse.py): every
table that the ETL writes again on a replay is a ``ReplacingMergeTree`` keyed
by what makes a row the same row (the hit id, the session id, the file name),
and the checkpoint is written only after its rows. The visits and events are
ordered by site and time and partitioned by month; the visits' rows
(``_crumby_session_rows``) by the month they began in, so that retention drops
whole months of them, as of the page views, instead of rewriting every visit
ever stored each day, and a report's range reads its months only (a visit's
versions share their start, so they still merge). A visit continued by a
later batch is written again as a new version of its row, and the versions it
replaces are listed in ``_crumby_superseded`` (a few in a hundred visits;
retention takes a visit's entries with its rows); ``sessions`` is a view of
the rows not listed there, looked up by visit key and version. Reading through ``FINAL``
instead would merge every visit's versions at each report, ten times the
time of the report itself.

Features follow the server: ``LowCardinality`` text from 19.9 (repetitive
columns: browser, country, channel...), milliseconds (``DateTime64``) from
20.1; older servers (Debian's 18.16) keep whole seconds and plain text.

On a cluster (``CLICKHOUSE_CLUSTER``, or ``?cluster=`` in the URL) each table
is made on every host as a local table (``<name>_local``), with a
``Distributed`` table of the contract's name over them, sharded by visitor so
that a visit lives on one shard. The bookkeeping tables are small: their
Distributed tables send every row to the first shard.
"""

from __future__ import annotations

import dataclasses
import re
import time
import weakref
from dataclasses import dataclass

import pyarrow as pa
import sqlalchemy as sa

from . import clickhouse_blocks as blocks
from .bookkeeping import files, loads, salts, schema_versions
from .bookkeeping import sessions as session_state
from .days import utcnow
from .engine import StoreError
from .schema import calendar, events, sessions, visits

# Text columns with few distinct values: LowCardinality where the server has it.
REPETITIVE = frozenset(
    [
        "site",
        "doc_enc",
        "platform",
        "browser",
        "version",
        "screen_res",
        "screen_depth",
        "continent",
        "country",
        "subdivision_1",
        "subdivision_2",
        "city",
        "time_zone",
        "lang",
        "os",
        "os_version",
        "device",
        "referrer_domain",
        "referrer_source",
        "channel",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "click_id_type",
        "name",
        "kind",
        "status",
    ]
)
# Columns never NULL in ClickHouse (keys); the others are Nullable as in contract 3.
NOT_NULL = {
    "visits": {"id", "hit_id", "datetime", "is_bot"},
    "events": {"id", "hit_id", "datetime", "is_bot"},
    "calendar": {"datetime"},
    "_crumby_session_rows": {"session_id", "started", "ended", "duration", "pageviews", "is_bot", "version"},
    "_crumby_schema": {"version"},
    "_crumby_loads": {"id"},
    "_crumby_files": {"name"},
    "_crumby_sessions": {"site", "visitor_id"},
    "_crumby_salts": {"day"},
}
SESSION_ROWS = "_crumby_session_rows"
SUPERSEDED = "_crumby_superseded"
# The rows of SESSION_ROWS that a report sees: each visit's newest version.
# Matched on the visit's key, not its text id: the look-up then reads 16 bytes a row, not some 50, which
# on 18.16 took 75 of the 160 ms a month's visitors took to count (crumby's keys, docs/scaling.md).
CURRENT_VERSIONS = f"(visit_key, version) GLOBAL NOT IN (SELECT visit_key, version FROM {SUPERSEDED})"
# The integer keys other stores keep of the visitor and visit ids (crumby/etl/keys.py) are, here,
# made by the server from the ids (MATERIALIZED: stored, never sent; computed when read from parts
# written before them): the same SQL counts and joins on them, and a distinct count over 64-bit keys
# takes a third of the time it takes over the text ids. Their values are ClickHouse's own hash, not
# crumby's, so they are compared only with each other (sessions.visitor_key is crumby's, as written).
COMPUTED_KEYS = {
    "visits": {"visitor_key": "visitor_id", "visit_key": "session_id"},
    "events": {"visitor_key": "visitor_id", "visit_key": "session_id"},
    SESSION_ROWS: {"visit_key": "session_id"},
    SUPERSEDED: {"visit_key": "session_id"},
}
# (table, ORDER BY, partition) for each table crumby writes; all are ReplacingMergeTree.
LAYOUT = (
    (visits, "(ifNull(site, ''), datetime, hit_id)", "toYYYYMM(datetime)"),
    (events, "(ifNull(site, ''), datetime, hit_id)", "toYYYYMM(datetime)"),
    (calendar, "datetime", None),
    (schema_versions, "version", None),
    (loads, "id", None),
    (files, "name", None),
    (session_state, "(site, visitor_id)", None),
    (salts, "day", None),
)
# How a table is spread over a cluster's shards: by visitor for the rows, whole on one shard otherwise.
SHARD_KEY = {"visits": "cityHash64(ifNull(visitor_id, ''))", "events": "cityHash64(ifNull(visitor_id, ''))"}
SESSION_SHARD_KEY = "cityHash64(ifNull(visitor_id, ''))"


@dataclass(frozen=True)
class Server:
    """What the server can do, from its version."""

    version: tuple[int, ...]
    cluster: str = ""

    @property
    def low_cardinality(self) -> bool:
        return self.version >= (19, 9)

    @property
    def milliseconds(self) -> bool:
        return self.version >= (20, 1)

    @property
    def ttl(self) -> bool:
        return self.version >= (19, 6)

    def time_type(self) -> str:
        return "DateTime64(3, 'UTC')" if self.milliseconds else "DateTime('UTC')"


def quote(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


_servers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def server(conn: sa.Connection) -> Server:
    """The server's features (its version asked once per engine)."""
    engine = conn.engine
    known = _servers.get(engine)
    if known is None:
        text = query(conn, "SELECT version()")[0][0] or "0"
        version = tuple(int(part) for part in re.findall(r"\d+", text)[:3])
        known = Server(version)
        _servers[engine] = known
    return known


def column_type(table: str, column: sa.Column, features: Server) -> str:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        base = "UInt8"
    elif isinstance(kind, sa.BigInteger):
        base = "Int64"
    elif isinstance(kind, sa.Integer):
        base = "Int32"
    elif isinstance(kind, sa.Float):
        base = "Float64"
    elif isinstance(kind, sa.DateTime):
        base = features.time_type()
    elif isinstance(kind, sa.Date):
        base = "Date"
    else:
        base = "String"
    nullable = column.name not in NOT_NULL.get(table, ()) and not (
        table != "visits" and table != "events" and column.primary_key
    )
    typed = f"Nullable({base})" if nullable else base
    if base == "String" and column.name in REPETITIVE and features.low_cardinality:
        typed = f"LowCardinality({typed})"
    return typed


def _columns(name: str, table: sa.Table, features: Server, extra: str = "") -> str:
    parts = [_column(name, table, c.name, features) for c in table.columns]
    return "(" + ", ".join(parts) + extra + ")"


def _column(name: str, table: sa.Table, column: str, features: Server, distributed: bool = False) -> str:
    """A column's definition: its name and type, or for a key, how the server makes it.

    A ``Distributed`` table has its keys as ALIAS columns: 18.16 would send a MATERIALIZED one on to
    the shards' tables, which refuse it; a shard's own table keeps them MATERIALIZED.
    """
    source = COMPUTED_KEYS.get(name, {}).get(column)
    if source is None:
        return f"{quote(column)} {column_type(name, table.c[column], features)}"
    nullable = column_type(name, table.c[source], features).startswith("Nullable")
    kind = "Nullable(UInt64)" if nullable else "UInt64"
    return f"{quote(column)} {kind} {'ALIAS' if distributed else 'MATERIALIZED'} sipHash64({quote(source)})"


def key_upgrades(features: Server, present: dict[str, set[str]]) -> list[str]:
    """ALTER statements giving a store made before the keys their columns (``present``: the columns
    of each table now); its sessions view is dropped, to be made again with them."""
    statements = []
    for table, _, _ in (*LAYOUT, (_session_rows_table(), None, None), (_superseded_table(), None, None)):
        names = [table.name, f"{table.name}_local"] if features.cluster else [table.name]
        for column in COMPUTED_KEYS.get(table.name, {}):
            for name in names:
                if name in present and column not in present[name]:
                    distributed = features.cluster and name == table.name
                    definition = _column(table.name, table, column, features, distributed)
                    statements.append(f"ALTER TABLE {quote(name)} ADD COLUMN {definition}")
    view_inputs = ("sessions", SUPERSEDED)
    if "sessions" in present and any(t in present and "visit_key" not in present[t] for t in view_inputs):
        statements.append("DROP TABLE sessions")  # made again after these
    return statements


def _merge_tree(order_by: str, partition: str | None, version: str = "") -> str:
    engine = f"ENGINE = ReplacingMergeTree({version})"
    if partition:
        engine += f" PARTITION BY {partition}"
    return f"{engine} ORDER BY {order_by}"


def table_statements(
    features: Server, database: str = "", present: dict[str, set[str]] | None = None
) -> list[str]:
    """CREATE statements for every table and view of a ClickHouse store (idempotent).

    On a cluster (``features.cluster``), for each host: the local tables (``<name>_local``) and,
    under the contract's names, ``Distributed`` tables over every shard's local tables. With the
    columns ``present`` in the tables now, the ALTER statements that bring an older store's up to
    date come before the view that reads them.
    """
    return [
        *_create_tables(features, database),
        *key_upgrades(features, present or {}),
        _sessions_view(),
    ]


def _create_tables(features: Server, database: str) -> list[str]:
    statements = []
    layout = [*LAYOUT, (_session_rows_table(), "session_id", "toYYYYMM(started)")]
    for table, order_by, partition in layout:
        version = "version" if table.name == SESSION_ROWS else ""
        local = f"{table.name}_local" if features.cluster else table.name
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {quote(local)} "
            f"{_columns(table.name, table, features)} {_merge_tree(order_by, partition, version)}"
        )
        if features.cluster:
            key = SHARD_KEY.get(table.name) or (SESSION_SHARD_KEY if table.name == SESSION_ROWS else "0")
            columns = (
                "("
                + ", ".join(_column(table.name, table, c.name, features, True) for c in table.columns)
                + ")"
            )
            statements.append(
                f"CREATE TABLE IF NOT EXISTS {quote(table.name)} {columns} ENGINE = Distributed("
                f"{quote(features.cluster)}, {quote(database)}, {quote(local)}, {key})"
            )
    superseded = _superseded_table()
    local = f"{SUPERSEDED}_local" if features.cluster else SUPERSEDED
    statements.append(
        f"CREATE TABLE IF NOT EXISTS {quote(local)} {_columns(SUPERSEDED, superseded, features)} "
        "ENGINE = ReplacingMergeTree ORDER BY (session_id, version)"
    )
    if features.cluster:
        columns = ", ".join(
            _column(SUPERSEDED, superseded, c.name, features, True) for c in superseded.columns
        )
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {SUPERSEDED} ({columns}) ENGINE = Distributed("
            f"{quote(features.cluster)}, {quote(database)}, {quote(local)}, 0)"
        )
    return statements


def _sessions_view() -> str:
    columns = ", ".join(quote(c.name) for c in sessions.columns)
    return (
        f"CREATE VIEW IF NOT EXISTS sessions AS SELECT {columns} FROM {SESSION_ROWS} WHERE {CURRENT_VERSIONS}"
    )


def _superseded_table() -> sa.Table:
    """The versions of visits that a later version replaced: the sessions view leaves them out."""
    return sa.Table(
        SUPERSEDED,
        sa.MetaData(),
        sa.Column("session_id", sa.String, primary_key=True),
        sa.Column("version", sa.BigInteger, primary_key=True),
        sa.Column("visit_key", sa.BigInteger),
    )


def _session_rows_table() -> sa.Table:
    """``sessions``' columns and a version: the newest row of a visit is the one a report sees."""
    return sa.Table(
        SESSION_ROWS,
        sa.MetaData(),
        *[sa.Column(c.name, c.type, primary_key=c.primary_key) for c in sessions.columns],
        sa.Column("version", sa.BigInteger, nullable=False),
    )


# (version, description): one step makes every table; later steps append here.
MIGRATIONS = (
    (1, "ClickHouse: contract 3 tables, the visits' rows and ETL bookkeeping"),
    (2, "ClickHouse: the visitor and visit keys, made by the server from their ids"),
    (3, "ClickHouse: superseded visit versions looked up by visit key"),
    (4, "ClickHouse: each visitor's last session read from the hits, the kept state emptied"),
)


def ensure_schema(engine: sa.Engine, cluster: str = "") -> int:
    """Create the store's tables on ClickHouse when missing; returns the schema version.

    ``cluster`` (or the URL's ``?cluster=``) names a cluster of the server's
    ``remote_servers``: the tables are then made on each of its hosts, so no
    distributed DDL (and no Keeper) is needed for it.
    """
    cluster = getattr(engine, "crumby_cluster", "") or cluster
    with engine.connect() as conn:
        features = dataclasses.replace(server(conn), cluster=cluster)
        if cluster:
            database = engine.url.database or "default"
            for host in cluster_hosts(conn, engine, cluster):
                host.execute(f"CREATE DATABASE IF NOT EXISTS {quote(database)}")
                host.disconnect()
                host.connection.database = database
                for statement in table_statements(features, database, _present_columns(host.execute)):
                    host.execute(statement)
                host.disconnect()
        else:
            present = _present_columns(lambda sql: query(conn, sql))
            for statement in table_statements(features, present=present):
                query(conn, statement)
        applied = query(conn, "SELECT max(version) FROM _crumby_schema")[0][0] or 0
        for number, description in MIGRATIONS:
            if number > applied:
                if number == 4:
                    _empty_session_state(conn)
                insert_rows(
                    conn,
                    schema_versions.name,
                    ["version", "description", "applied_at"],
                    [(number, description, utcnow())],
                )
                applied = number
        return applied


def _empty_session_state(conn: sa.Connection) -> None:
    """``_crumby_sessions`` is no longer read nor written (crumby/etl/clickhouse.py): its rows go."""
    for host, suffix in writers(conn):
        host.execute(f"TRUNCATE TABLE IF EXISTS {quote(session_state.name + suffix)}")


def _present_columns(execute) -> dict[str, set[str]]:
    """The columns of each table of the current database, by ``execute``'s answer."""
    present: dict[str, set[str]] = {}
    for table, column in execute("SELECT table, name FROM system.columns WHERE database = currentDatabase()"):
        present.setdefault(table, set()).add(column)
    return present


def cluster_hosts(conn: sa.Connection, engine: sa.Engine, cluster: str) -> list:
    """A client on each host (every replica of every shard) of ``cluster``, as the server lists them."""
    from clickhouse_driver import Client

    hosts = query(
        conn, "SELECT host_address, port FROM system.clusters WHERE cluster = %(name)s", {"name": cluster}
    )
    if not hosts:
        raise StoreError(
            f"the ClickHouse server knows no cluster {cluster!r}: name one of its remote_servers "
            "in CLICKHOUSE_CLUSTER (or the URL's ?cluster=)"
        )
    url = engine.url
    return [
        Client(
            host, port=port, user=url.username or "default", password=url.password or "", database="default"
        )
        for host, port in hosts
    ]


def writers(conn: sa.Connection) -> list[tuple[object, str]]:
    """(client, table name suffix) for each host whose tables an ALTER must change: the one
    server, or on a cluster every host's local tables."""
    engine = conn.engine
    cluster = getattr(engine, "crumby_cluster", "")
    if not cluster:
        return [(client(engine), "")]
    hosts = cluster_hosts(conn, engine, cluster)
    for host in hosts:
        host.connection.database = engine.url.database or "default"
    return [(host, "_local") for host in hosts]


def wait_for_mutations(host, seconds: float = 600) -> None:
    """Until the server has applied every ALTER ... DELETE of this database (they run in the background)."""
    deadline = time.monotonic() + seconds
    while host.execute(
        "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND NOT is_done"
    )[0][0]:
        if time.monotonic() > deadline:
            raise StoreError("ClickHouse has not finished deleting old rows; look at system.mutations")
        time.sleep(0.1)


def client(engine: sa.Engine):
    """The native-protocol client of ``engine``'s server, made once: bulk blocks and external tables."""
    made = _clients.get(engine)
    if made is None:
        from clickhouse_driver import Client

        url = engine.url.set(drivername="clickhouse").difference_update_query(["cluster"])
        made = Client.from_url(url.render_as_string(hide_password=False))
        _clients[engine] = made
    return made


_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def query(
    conn: sa.Connection,
    sql: str,
    params: dict | None = None,
    *,
    external: tuple[str, list, list] | None = None,
    columnar: bool = False,
    settings: dict | None = None,
) -> list:
    """Rows of ``sql`` (``%(name)s`` parameters); ``external`` = (name, structure, rows) sent beside it."""
    tables = [{"name": external[0], "structure": external[1], "data": external[2]}] if external else None
    return client(conn.engine).execute(
        sql,
        params,
        external_tables=tables,
        columnar=columnar,
        settings={**WRITE_SETTINGS, **(settings or {})},
    )


def insert_rows(conn: sa.Connection, table: str, names: list[str], rows: list[tuple]) -> None:
    """One native INSERT block of ``rows`` (tuples in the order of ``names``)."""
    if rows:
        client(conn.engine).execute(
            f"INSERT INTO {quote(table)} ({', '.join(quote(n) for n in names)}) VALUES",
            rows,
            settings=WRITE_SETTINGS,
        )


def insert_arrow(conn: sa.Connection, table: str, rows: pa.Table) -> None:
    """One native INSERT block of ``rows``, encoded from Arrow's buffers (see clickhouse_blocks)."""
    computed = COMPUTED_KEYS.get(table, {})
    rows = rows.drop_columns([name for name in rows.column_names if name in computed])
    if rows.num_rows:
        statement = f"INSERT INTO {quote(table)} ({', '.join(quote(n) for n in rows.column_names)}) VALUES"
        blocks.insert(client(conn.engine), statement, rows, WRITE_SETTINGS)


# A write through a Distributed table reaches its shards before the INSERT returns: the checkpoint
# written after it must not get ahead of the rows.
# On a cluster, the sessions view's look-up of superseded rows reads every shard (GLOBAL).
WRITE_SETTINGS = {"insert_distributed_sync": 1, "distributed_product_mode": "global"}

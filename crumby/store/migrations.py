"""Versioned schema: create the store's tables, or bring an older store up to date.

Each migration has a number; the numbers applied are recorded in
``_crumby_schema``, so ``ensure_schema`` is cheap to call on every run and
applies only what a store lacks. A store made by the original Crumby (its
four tables, none of crumby's columns) is upgraded in place.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from .bookkeeping import bookkeeping_metadata, schema_versions
from .bookkeeping import sessions as session_state
from .days import utcnow
from .engine import StoreError, backend_name
from .schema import (
    document_days,
    events,
    metadata,
    origin_days,
    page_day_figures,
    page_visitor_days,
    sessions,
    users,
    visitor_days,
    visits,
)
from .stale_days import days_with_page_views, mark_stale

# DuckDB has no SERIAL: users.id draws from a sequence so `crumby adduser`
# (or a plain INSERT) can leave the id out on every backend.
DUCKDB_USERS_DDL = (
    "CREATE SEQUENCE IF NOT EXISTS users_id_seq",
    "CREATE TABLE IF NOT EXISTS users ("
    " id INTEGER PRIMARY KEY DEFAULT nextval('users_id_seq'),"
    " username VARCHAR(64) NOT NULL UNIQUE,"
    " password VARCHAR(255) NOT NULL)",
)


def _create_tables(conn: sa.Connection) -> None:
    """Contract 3 tables and the ETL's bookkeeping; columns an older store lacks are added."""
    if backend_name(conn.engine) == "duckdb":
        for statement in DUCKDB_USERS_DDL:
            conn.exec_driver_sql(statement)
    inspector = sa.inspect(conn)
    existing = set(inspector.get_table_names())
    for table in metadata.sorted_tables:
        if table.name in existing:
            _add_missing_columns(conn, table, _column_names(conn, table))
    metadata.create_all(conn, checkfirst=True)
    bookkeeping_metadata.create_all(conn, checkfirst=True)


def _column_names(conn: sa.Connection, table: sa.Table) -> set[str]:
    """Columns the store's table has now (the inspector's column query fails on DuckDB)."""
    quoted = conn.dialect.identifier_preparer.format_table(table)
    return set(conn.exec_driver_sql(f"SELECT * FROM {quoted} WHERE 1 = 0").keys())


def _add_missing_columns(conn: sa.Connection, table: sa.Table, present: set[str]) -> None:
    """ALTER TABLE ADD COLUMN for each column of ``table`` the store lacks (nullable: old rows have none)."""
    preparer = conn.dialect.identifier_preparer
    for column in table.columns:
        if column.name in present:
            continue
        kind = column.type.compile(dialect=conn.dialect)
        conn.exec_driver_sql(
            f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {preparer.quote(column.name)} {kind}"
        )
        if column.unique:
            # On a stand-in table: an Index made on the shared Table would join the module's
            # metadata, and every later create_all would try to make it a second time.
            stand_in = sa.Table(table.name, sa.MetaData(), sa.Column(column.name, column.type))
            index = sa.Index(f"ux_{table.name}_{column.name}", stand_in.c[column.name], unique=True)
            index.create(conn, checkfirst=True)


def _fit_original_rows(conn: sa.Connection) -> None:
    """Make a store the original Crumby wrote hold crumby's rows and count its own.

    Its text columns were narrow (``cid`` 10 characters, ``_lang`` 10, ...):
    on PostgreSQL and MySQL/MariaDB, which enforce lengths, they are widened
    to contract 3's sizes. Its rows get what the reports group and filter on:
    the visitor is the ``cid``, and nothing it recorded was flagged a bot.
    """
    backend = backend_name(conn.engine)
    if backend in ("postgresql", "mysql"):
        _widen_text_columns(conn, backend)
    for table in (visits, events):
        conn.execute(sa.update(table).where(table.c.is_bot.is_(None)).values(is_bot=sa.false()))
        conn.execute(sa.update(table).where(table.c.visitor_id.is_(None)).values(visitor_id=table.c.cid))


def _widen_text_columns(conn: sa.Connection, backend: str) -> None:
    inspector = sa.inspect(conn)
    preparer = conn.dialect.identifier_preparer
    for table in (visits, events, users):
        current = {c["name"]: c["type"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            wanted = getattr(column.type, "length", None)
            have = current.get(column.name)
            if not wanted or not isinstance(have, sa.String) or not have.length or have.length >= wanted:
                continue
            kind = column.type.compile(dialect=conn.dialect)
            name = preparer.quote(column.name)
            change = (
                f"ALTER COLUMN {name} TYPE {kind}" if backend == "postgresql" else f"MODIFY {name} {kind}"
            )
            conn.exec_driver_sql(f"ALTER TABLE {preparer.format_table(table)} {change}")


def _duckdb_hit_tables_unindexed(conn: sa.Connection) -> None:
    """On DuckDB, visits and events keep their primary key and no other index.

    Reports read time ranges, which DuckDB's zone maps serve without an index;
    keeping its ART indexes up to date cost more than the rest of a bulk load
    (the unique index on hit_id alone about 2 s per million hits). A hit id
    still loads once: the loader keeps the first of an id within a batch and
    skips ids already stored in the batch's time window (a replayed line
    carries its time). Other backends keep the unique key.
    """
    if backend_name(conn.engine) != "duckdb":
        return
    for table in (visits, events):
        for name in [index.name for index in table.indexes] + [f"ux_{table.name}_hit_id"]:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
        unique = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM duckdb_constraints() WHERE table_name = ? AND constraint_type = 'UNIQUE'",
            (table.name,),
        ).scalar()
        if unique:
            _rebuild(conn, table)


def _duckdb_session_state_unindexed(conn: sa.Connection) -> None:
    """On DuckDB, the kept session state has no primary key.

    Each batch rewrites the state of all its visitors (some hundred thousand
    rows in a large load); keeping an ART index on (site, visitor_id) up to
    date and writing it at each commit cost more than the batch's own rows.
    The loader deletes a visitor's old row before it inserts the new one.
    """
    if backend_name(conn.engine) != "duckdb":
        return
    keyed = conn.exec_driver_sql(
        "SELECT COUNT(*) FROM duckdb_constraints() "
        "WHERE table_name = '_crumby_sessions' AND constraint_type = 'PRIMARY KEY'"
    ).scalar()
    if keyed:
        _rebuild(conn, session_state, primary_key=False)


def _rebuild(conn: sa.Connection, table: sa.Table, *, primary_key: bool = True) -> None:
    """DuckDB cannot drop a table's UNIQUE constraint or key: copy the rows into a table made without.

    A column stays nullable where the store's is (one added to an older store's rows).
    """
    present = _column_names(conn, table)
    not_null = {
        row[0]
        for row in conn.exec_driver_sql(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND NOT is_nullable", (table.name,)
        )
    }
    rebuilt = sa.Table(
        f"_crumby_rebuilt_{table.name}",
        sa.MetaData(),
        *[
            sa.Column(
                c.name,
                c.type,
                primary_key=primary_key and c.primary_key,
                nullable=c.nullable or c.name not in not_null,
                autoincrement=False,
            )
            for c in table.columns
        ],
    )
    rebuilt.create(conn)
    names = ", ".join(f'"{c.name}"' for c in table.columns if c.name in present)
    conn.exec_driver_sql(f"INSERT INTO {rebuilt.name} ({names}) SELECT {names} FROM {table.name}")
    conn.exec_driver_sql(f"DROP TABLE {table.name}")
    conn.exec_driver_sql(f"ALTER TABLE {rebuilt.name} RENAME TO {table.name}")


def _duckdb_hit_tables_unkeyed(conn: sa.Connection) -> None:
    """On DuckDB, visits and events lose their primary key too.

    Nothing looks a row up by its id there: the loader numbers rows on from
    the largest id and skips hit ids already stored by an anti-join over the
    batch's time window, and reports read time ranges. Keeping the key's ART
    index and writing it at every commit cost as much as the rows' own
    columns (measured on bench/etl.py: insert and commit CPU about halved).
    """
    if backend_name(conn.engine) != "duckdb":
        return
    for table in (visits, events):
        keyed = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM duckdb_constraints() "
            "WHERE table_name = ? AND constraint_type = 'PRIMARY KEY'",
            (table.name,),
        ).scalar()
        if keyed:
            _rebuild(conn, table, primary_key=False)


def _mysql_hit_times_to_the_millisecond(conn: sa.Connection) -> None:
    """On MySQL/MariaDB, visits.datetime and events.datetime keep milliseconds like the other backends."""
    if backend_name(conn.engine) != "mysql":
        return
    for table in (visits, events):
        conn.exec_driver_sql(f"ALTER TABLE {table.name} MODIFY datetime DATETIME(3) NOT NULL")


def _sessions_rollup(conn: sa.Connection) -> None:
    """The aggregated store ``sessions`` (the ETL fills it from the stored rows on its next run).

    On DuckDB without a primary key (the ETL deletes a continued visit's row
    before it writes the merged one).
    """
    sessions.create(conn, checkfirst=True)
    if backend_name(conn.engine) == "duckdb":
        for index in sessions.indexes:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {index.name}")
        _rebuild(conn, sessions, primary_key=False)


def _daily_figures(*tables: sa.Table) -> Callable[[sa.Connection], None]:
    def create(conn: sa.Connection) -> None:
        """Tables of daily figures; every day with page views is marked for the ETL to sum."""
        for table in tables:
            table.create(conn, checkfirst=True)
            if backend_name(conn.engine) == "duckdb":  # zone maps serve its day ranges; no index to keep
                for index in table.indexes:
                    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {index.name}")
        bookkeeping_metadata.create_all(conn, checkfirst=True)
        mark_stale(conn, days_with_page_views(conn))

    return create


def _visitor_figures(conn: sa.Connection) -> None:
    """``visitor_days`` (and, before, bounces and durations in the retired ``visit_days``)."""
    _daily_figures(visitor_days)(conn)


def _retired(conn: sa.Connection) -> None:
    """A step whose tables a later one drops: a new store skips it."""


# Daily figures that summed each day's distinct visitors, so that a visitor who came on three days
# counted three times; reports now count visitors distinct over their whole range.
RETIRED_TABLES = frozenset(("page_days", "visit_days", "event_days"))


def _visitors_over_the_range(conn: sa.Connection) -> None:
    """Drop the daily tables of summed visitors; ``visitor_days`` is made anew with visits' end days."""
    for name in RETIRED_TABLES:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {conn.dialect.identifier_preparer.quote(name)}")
    conn.execute(visitor_days.delete())
    bookkeeping_metadata.create_all(conn, checkfirst=True)
    mark_stale(conn, days_with_page_views(conn))


def _page_visitor_figures(conn: sa.Connection) -> None:
    """``page_visitor_days`` and its sums: top pages' visitors and visits over whole days."""
    _daily_figures(page_visitor_days, page_day_figures)(conn)


# PostgreSQL: the B-trees on visits and events that a bulk load paid for and no report needs. Their
# keys are random (hit and session ids) or spread over sites, so each COPY wrote all over them; the
# B-trees on time (appended at their right edge, as the rows come in time order) cost next to nothing.
POSTGRESQL_UNUSED_INDEXES = ("ix_visits_site_datetime", "ix_visits_session", "ix_events_site_datetime")
POSTGRESQL_DROPPED = (
    "ALTER TABLE visits DROP CONSTRAINT IF EXISTS visits_hit_id_key",
    "ALTER TABLE events DROP CONSTRAINT IF EXISTS events_hit_id_key",
    *(f"DROP INDEX IF EXISTS {name}" for name in POSTGRESQL_UNUSED_INDEXES),
)


def _postgresql_hit_tables_by_time(conn: sa.Connection) -> None:
    """On PostgreSQL, visits and events keep their primary key and their index on time, no other.

    With the unique hit id, the session id and the (site, time) B-trees, a
    COPY of a load's visits was about twice as slow, and the server, not
    crumby, set the ETL's pace. Reports read time ranges; a hit id still
    loads once, as on DuckDB (:func:`crumby.etl.load.insert_hits`). A BRIN
    index on time was no cheaper to keep than the B-tree, and it finds only
    the block ranges a vacuum has summed up, which a fresh load's are not.
    """
    if backend_name(conn.engine) != "postgresql":
        return
    for statement in POSTGRESQL_DROPPED:
        conn.exec_driver_sql(statement)


def _original_hit_tables_indexed(conn: sa.Connection) -> None:
    """A store the original Crumby made gets the indexes on visits and events that a new store has.

    Its tables were there before crumby's first step, which therefore made
    none of their indexes: without the one on time every report and every
    batch's look for stored hit ids read the whole table. On PostgreSQL the
    unique index that step gave the added ``hit_id`` goes too, as step 16
    took a new store's.
    """
    backend = backend_name(conn.engine)
    if backend == "duckdb":  # zone maps serve its time ranges (step 3)
        return
    wanted = [index for table in (visits, events) for index in table.indexes]
    if backend == "postgresql":
        for table in (visits, events):
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS ux_{table.name}_hit_id")
        wanted = [index for index in wanted if index.name not in POSTGRESQL_UNUSED_INDEXES]
    for index in wanted:
        index.create(conn, checkfirst=True)


def _integer_keys(conn: sa.Connection) -> None:
    """Integer keys of the visitor and visit ids on visits, events and sessions.

    Empty here: the ETL's next run fills them from the ids before it loads
    (:mod:`crumby.etl.stored_keys`), as it builds ``sessions`` for a store
    made before that table.
    """
    for table in (visits, events, sessions):
        _add_missing_columns(conn, table, _column_names(conn, table))


def _postgresql_sessions_by_end(conn: sa.Connection) -> None:
    """On PostgreSQL, a BRIN index on when each visit ended.

    A filter on a visit's source, campaign or entry page matches the visits
    under way in the range: begun before its end and ended after its start.
    The rows lie in about the order the visits ended, so the block ranges of
    visits ended before the range can be skipped: a filtered top pages over
    the last 30 of 90 days read sessions in 130 ms instead of 200. Block
    ranges a vacuum has not summed up yet (the latest loads') are always
    read, which is where the range's visits are; a B-tree on ``ended`` read
    the same rows no faster. Summing up is left to autovacuum: asked for at
    each filled range (``autosummarize``), a load's requests overflowed its
    queue and filled the server's log.
    """
    if backend_name(conn.engine) != "postgresql":
        return
    conn.exec_driver_sql(
        "CREATE INDEX IF NOT EXISTS ix_sessions_ended ON sessions USING brin (ended)"
        " WITH (pages_per_range = 32)"
    )


# (table, integer key, the id it is made from): crumby.etl.stored_keys fills the empty ones. The
# step's own list, not stored_keys.KEYED: a step is history and does not change with later code
# (the store package does not import the ETL's either); tests/test_etl_keys.py checks that every
# key the ETL fills is found on one of these indexes.
UNFILLED_KEYS = (
    ("visits", "visitor_key", "visitor_id"),
    ("visits", "visit_key", "session_id"),
    ("events", "visitor_key", "visitor_id"),
    ("events", "visit_key", "session_id"),
    ("sessions", "visit_key", "session_id"),
)


def _postgresql_unfilled_keys_indexed(conn: sa.Connection) -> None:
    """On PostgreSQL, partial indexes of the rows whose integer keys are still empty.

    Before it loads, each ETL run looks for stored rows without their keys
    (:mod:`crumby.etl.stored_keys`): a store upgraded from before the keys
    has them until a run fills them, one the ETL wrote has none. The look
    read every row of visits, events and sessions on each run: 0.48 s for a
    store of 800,000 hits, growing with the store. These indexes hold only
    the rows without a key, so they are empty, cost an insert nothing but a
    test of the condition, and the look reads nothing (0.003 s). Other
    stores: DuckDB skips row groups without nulls (0.1 s for 1M hits); MySQL
    has no partial indexes.
    """
    if backend_name(conn.engine) != "postgresql":
        return
    for table, key, made_from in UNFILLED_KEYS:
        name = f"ix_{table}_{key}_unfilled"
        conn.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({made_from}) WHERE {key} IS NULL"
        )


def _session_state_from_the_hits(conn: sa.Connection) -> None:
    """The kept session state emptied: the ETL now finds a batch's visits among the stored hits
    (crumby/etl/sessions.py), so its rows would only grow stale. ClickHouse empties its own (its
    schema step 4)."""
    conn.execute(session_state.delete())


def _postgresql_sessions_without_site_index(conn: sa.Connection) -> None:
    """On PostgreSQL, ``sessions`` without its B-tree on (site, start), as visits and events (step 16).

    Its key is spread over sites, so each COPY of a load's sessions rows wrote
    all over it: about a fifth of the server's time for that COPY (1.4 of 6.2 CPU
    seconds for 457,000 rows). Reports did not pay it back. Over a 10M-hit
    store of three sites, every report of the smallest site's last 30 days
    (and seven of them over 2 days) read the index on start instead: a site's
    visits lie on every page, so its own index reads as many. The one that
    took it, the summary filtered by source too, answered in 2.07 s without
    it against 2.01 s with it (``crumby query``, medians of 5).
    """
    if backend_name(conn.engine) == "postgresql":
        conn.exec_driver_sql("DROP INDEX IF EXISTS ix_sessions_site_started")


# (version, description, step). Append new steps; never change an applied one.
MIGRATIONS: tuple[tuple[int, str, Callable[[sa.Connection], None]], ...] = (
    (1, "contract 3 tables (visits, events, users, calendar) and ETL bookkeeping", _create_tables),
    (2, "rows and column widths of a store the original Crumby made", _fit_original_rows),
    (3, "DuckDB: visits and events without indexes but the primary key", _duckdb_hit_tables_unindexed),
    (4, "MySQL/MariaDB: hit times to the millisecond", _mysql_hit_times_to_the_millisecond),
    (5, "DuckDB: the kept session state without a primary key", _duckdb_session_state_unindexed),
    (6, "the aggregated store: one row per visit in sessions", _sessions_rollup),
    (
        7,
        "the aggregated store: daily page figures in page_days and document_days",
        _daily_figures(document_days),
    ),
    (8, "the aggregated store: daily visit figures in visit_days", _retired),
    (9, "the aggregated store: daily event figures in event_days", _retired),
    (10, "the aggregated store: daily referring addresses in origin_days", _daily_figures(origin_days)),
    (11, "the aggregated store: visitor_days, and bounces and durations in visit_days", _visitor_figures),
    (12, "indexes by grouping and day on visit_days and event_days", _retired),
    (
        13,
        "visitors distinct over a report's range: page_days, visit_days and event_days dropped",
        _visitors_over_the_range,
    ),
    (
        14,
        "the aggregated store: top pages' visitors and visits per day in page_visitor_days",
        _page_visitor_figures,
    ),
    (
        16,
        "PostgreSQL: visits and events without their hit id, session and site indexes",
        _postgresql_hit_tables_by_time,
    ),
    (18, "DuckDB: visits and events without a primary key", _duckdb_hit_tables_unkeyed),
    (19, "the original Crumby's visits and events get a new store's indexes", _original_hit_tables_indexed),
    (20, "integer keys of the visitor and visit ids on visits, events and sessions", _integer_keys),
    (21, "PostgreSQL: a BRIN index on sessions' end time", _postgresql_sessions_by_end),
    (
        22,
        "each visitor's last session read from the hits: the kept session state emptied",
        _session_state_from_the_hits,
    ),
    (
        23,
        "PostgreSQL: partial indexes of the rows whose integer keys are empty",
        _postgresql_unfilled_keys_indexed,
    ),
    (24, "PostgreSQL: sessions without the index on site and start", _postgresql_sessions_without_site_index),
)
SCHEMA_VERSION = max(number for number, _, _ in MIGRATIONS)


def current_version(conn: sa.Connection) -> int:
    """The highest migration applied to the store, 0 for an empty one."""
    return max(applied_versions(conn), default=0)


def applied_versions(conn: sa.Connection) -> set[int]:
    """The migrations applied to the store. Numbers may have gaps (steps written side by side are
    numbered apart), so a step is applied when its own number is missing, not when it is above the
    highest."""
    if not sa.inspect(conn).has_table(schema_versions.name):
        return set()
    return set(conn.execute(sa.select(schema_versions.c.version)).scalars())


def ensure_schema(engine: sa.Engine) -> int:
    """Create or upgrade the store's tables; returns the schema version now in place."""
    if backend_name(engine) == "clickhouse":
        from . import clickhouse

        return clickhouse.ensure_schema(engine)
    try:
        with engine.begin() as conn:
            applied = applied_versions(conn)
            version = max(applied, default=0)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the store has schema version {version}, newer than this crumby knows "
                    f"({SCHEMA_VERSION}); upgrade crumby"
                )
            for number, description, step in MIGRATIONS:
                if number in applied:
                    continue
                step(conn)
                conn.execute(
                    schema_versions.insert().values(
                        version=number,
                        description=description,
                        applied_at=utcnow(),
                    )
                )
                version = max(version, number)
            return version
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(
            f"cannot create or upgrade the store's tables at "
            f"{engine.url.render_as_string(hide_password=True)}: {exc.__class__.__name__}: "
            f"{getattr(exc, 'orig', exc)}; check that the database is up and this user may create tables"
        ) from None


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "current_version", "ensure_schema", "users"]

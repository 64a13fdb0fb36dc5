"""Read-only, time-limited connections to the store, one recipe per backend.

Reports run here and nowhere else, so that no template, however written,
can change the store or outlive its time limit:

- DuckDB: the file opened ``read_only`` with external access (files, network,
  extensions) disabled and the configuration locked; the time limit by
  ``interrupt()``. DuckDB admits one writing process *or* many reading ones:
  the process keeps its read-only instance open between queries (warm, no file
  to open), lets go of it when the ETL signals that it wants to write, and
  waits for the ETL's batch instead of failing (handoff.py).
- SQLite: ``mode=ro``, an authorizer that allows reading and nothing else, and
  a progress handler that stops the query at the time limit.
- PostgreSQL: a read-only transaction with ``statement_timeout``. A superuser
  is refused (:class:`PowerfulUser`): whatever role it drops to, a query can
  take its power back (``set_config('role', ...)``, ``RESET ROLE``, or SQL
  run as text by ``query_to_xml``), and with it read server files.
- MySQL/MariaDB: a read-only transaction with ``max_statement_time``
  (``max_execution_time`` on MySQL). A user with the FILE privilege is
  refused: ``LOAD_FILE`` reads server files inside a read-only transaction.
- ClickHouse: every query sent with ``readonly=1`` (after the other settings,
  which it then locks: a template's own ``SETTINGS`` cannot lift the limits),
  ``max_execution_time`` and a cap on the rows returned.
"""

from __future__ import annotations

import contextlib
import math
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from .engine import (
    StoreEmpty,
    StoreError,
    backend_name,
    create_engine,
    normalise_url,
    raw_duckdb,
)
from .handoff import ReaderHold, is_lock_conflict

DUCKDB_READER_CONFIG = {"enable_external_access": False, "lock_configuration": True}
# PostgreSQL's planner costs of parallel work for a report (its defaults are 1000 and 0.1): with them,
# a report's sort of a range's visits is split among the server's parallel workers
# (max_parallel_workers_per_gather, 2 by default), about a third faster on a store of ten million hits.
# work_mem stays the server's: sorts in runs of its default 4 MB beat one sort in memory (64 MB)
# under every report's distinct counts, by up to a third.
REPORT_PARALLEL_COSTS = {"parallel_setup_cost": "100", "parallel_tuple_cost": "0.01"}
# The least work_mem a report gets (a larger one of the server or role stays): room for a month's page
# views grouped by page and title in each process, so that documents groups by hashing in the parallel
# workers instead of sorting on disk (1,100 to 900 ms, 10M hits). Each sort or hash of a plan may take
# this much, in each of its processes.
REPORT_WORK_MEM = "32MB"


class QueryTimeout(Exception):
    """The query ran past the time limit and was stopped."""


class StoreBusy(Exception):
    """The DuckDB file stayed locked by a writer for the whole time limit."""


class PowerfulUser(StoreError):
    """The store's user may read the server's files (a PostgreSQL superuser, a MySQL/MariaDB user with
    FILE): reports are not run as that user."""


POSTGRESQL_READER_HINT = (
    "create a user that may only read, e.g. CREATE ROLE crumby_reports LOGIN PASSWORD '...'; "
    "GRANT pg_read_all_data TO crumby_reports; and run the report server with its URL in "
    "SQLALCHEMY_DATABASE_URI (the ETL needs no superuser either: the database's owner will do)"
)
MYSQL_READER_HINT = (
    "create a user without FILE, e.g. CREATE USER 'crumby_reports'@'%' IDENTIFIED BY '...'; "
    "GRANT SELECT ON crumby.* TO 'crumby_reports'@'%'; and run the report server with its URL in "
    "SQLALCHEMY_DATABASE_URI"
)


@dataclass
class _Reader:
    engine: sa.Engine
    backend: str
    flavour: str = (
        ""  # "mariadb" or "mysql"; "plain" on PostgreSQL once the user is known not to be superuser
    )
    hold: ReaderHold | None = None  # DuckDB: the instance kept open between queries


_readers: dict[str, _Reader] = {}
_readers_lock = threading.Lock()


def _sqlite_path(url: URL) -> str:
    if not url.database or url.database == ":memory:":
        raise StoreError("a SQLite store must be a file for read-only reports; set SQLALCHEMY_DATABASE_URI")
    return url.database


def _deny_all_but_reads(action: int, *_args) -> int:
    allowed = (
        sqlite3.SQLITE_SELECT,
        sqlite3.SQLITE_READ,
        sqlite3.SQLITE_FUNCTION,
        sqlite3.SQLITE_RECURSIVE,
        sqlite3.SQLITE_TRANSACTION,
    )
    return sqlite3.SQLITE_OK if action in allowed else sqlite3.SQLITE_DENY


def _sqlite_reader(url: URL) -> sa.Engine:
    path = _sqlite_path(url)

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5, check_same_thread=False)
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        return conn

    return sa.create_engine("sqlite://", creator=connect, poolclass=NullPool)


def reader_for(url: str | URL) -> _Reader:
    """The read-only engine for the store at ``url``, made once per process."""
    key = normalise_url(url).render_as_string(hide_password=False)
    with _readers_lock:
        reader = _readers.get(key)
        if reader is None:
            parsed = normalise_url(url)
            backend = backend_name(parsed)
            if backend == "duckdb":
                engine = sa.create_engine(
                    parsed,
                    poolclass=NullPool,
                    connect_args={"read_only": True, "config": dict(DUCKDB_READER_CONFIG)},
                )
                reader = _Reader(engine, backend, hold=ReaderHold(parsed.database, engine.raw_connection))
            elif backend == "sqlite":
                reader = _Reader(_sqlite_reader(parsed), backend)
            else:
                reader = _Reader(create_engine(parsed), backend)
            _readers[key] = reader
    return reader


def _busy() -> StoreBusy:
    return StoreBusy("the store is being written by the ETL; try again in a moment")


def _connect(reader: _Reader, deadline: float) -> sa.Connection:
    """A connection; on DuckDB, after any writer waiting for the file, retried while a writer holds it."""
    pause = 0.01
    while True:
        if reader.hold is not None and not reader.hold.wait_for_turn(deadline):
            raise _busy()
        try:
            if reader.hold is not None:
                reader.hold.hold()
            return reader.engine.connect()
        except Exception as exc:  # the kept connection's errors come unwrapped, as the driver raised them
            if reader.backend != "duckdb":
                raise
            if is_lock_conflict(exc):
                if time.monotonic() + pause > deadline:
                    raise _busy() from None
                time.sleep(pause * (0.5 + random.random()))
                pause = min(pause * 2, 0.2)
                continue
            if "does not exist" in str(getattr(exc, "orig", exc)).lower():
                raise StoreEmpty() from None
            raise


def _prepare_postgresql(reader: _Reader, conn: sa.Connection, timeout: float) -> None:
    if not reader.flavour:
        # The session user: a role set later cannot take away what the login may take back.
        superuser = conn.exec_driver_sql(
            "SELECT rolsuper FROM pg_roles WHERE rolname = session_user"
        ).scalar()
        conn.rollback()
        if superuser:
            user = conn.engine.url.username or "the login"
            raise PowerfulUser(
                f"reports are not run as the PostgreSQL superuser {user}: {POSTGRESQL_READER_HINT}"
            )
        reader.flavour = "plain"
    settings = [
        "SET TRANSACTION READ ONLY",
        f"SET LOCAL statement_timeout = {max(int(timeout * 1000), 1)}",
        # No JIT: a report's scan is over before the 50 to 100 ms of compiling would pay for themselves.
        "SET LOCAL jit = off",
        *(f"SET LOCAL {name} = {value}" for name, value in REPORT_PARALLEL_COSTS.items()),
        # at least REPORT_WORK_MEM; more where the server or the role gives more
        "SELECT set_config('work_mem', CASE WHEN pg_size_bytes(current_setting('work_mem'))"
        f" < pg_size_bytes('{REPORT_WORK_MEM}') THEN '{REPORT_WORK_MEM}'"
        " ELSE current_setting('work_mem') END, true)",
    ]
    conn.exec_driver_sql("; ".join(settings))  # one round trip: every report request pays it


def _prepare_clickhouse(conn: sa.Connection, timeout: float, max_rows: int | None) -> None:
    """The limits go with every query of the connection (the native protocol keeps no session)."""
    settings: dict = {
        "max_execution_time": max(math.ceil(timeout), 1),
        "join_use_nulls": 1,  # a row a LEFT JOIN did not find is NULL, as on the other databases
        "distributed_product_mode": "global",  # on a cluster, a JOIN or IN of two sharded tables
        # A report's conditions reach inside the sessions view (later releases do so by default): on
        # 18.16 the view otherwise checks every visit ever stored against the superseded list.
        "enable_optimize_predicate_expression": 1,
    }
    if max_rows:
        settings.update(max_result_rows=max_rows + 1, result_overflow_mode="break")
    settings["readonly"] = 1  # last: the server refuses any setting after it
    conn.execution_options(settings=settings)


def _prepare_mysql(reader: _Reader, conn: sa.Connection, timeout: float) -> None:
    if not reader.flavour:
        version = conn.exec_driver_sql("SELECT VERSION()").scalar() or ""
        may_read_files = any("FILE" in grant or "ALL PRIVILEGES" in grant for grant in _global_grants(conn))
        conn.rollback()
        if may_read_files:
            user = conn.engine.url.username or "the login"
            raise PowerfulUser(
                f"reports are not run as {user}, who has the FILE privilege: {MYSQL_READER_HINT}"
            )
        reader.flavour = "mariadb" if "mariadb" in version.lower() else "mysql"
    if reader.flavour == "mariadb":
        conn.exec_driver_sql(f"SET SESSION max_statement_time = {float(timeout):.3f}")
    else:
        conn.exec_driver_sql(f"SET SESSION max_execution_time = {int(timeout * 1000)}")
    # The session default too: DDL commits the current transaction implicitly, and the next one must
    # still be read-only (with only START TRANSACTION READ ONLY, MariaDB would run CREATE TABLE).
    conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
    conn.exec_driver_sql("START TRANSACTION READ ONLY")


def _global_grants(conn: sa.Connection) -> list[str]:
    """The privileges the MySQL/MariaDB user (and its active roles) holds on every database (``ON *.*``)."""
    grants = [row[0] for row in conn.exec_driver_sql("SHOW GRANTS").all()]
    return [grant.upper().split(" ON *.* ")[0] for grant in grants if " ON *.* " in grant.upper()]


@contextlib.contextmanager
def read_only_connection(
    url: str | URL, timeout: float, max_rows: int | None = None
) -> Iterator[sa.Connection]:
    """A connection that can only read, whose statements stop after ``timeout`` seconds.

    ``max_rows`` lets a server that can stop early (ClickHouse) send no more than one row beyond it.

    Raises QueryTimeout when a statement is stopped, StoreBusy when a DuckDB
    writer keeps the file for the whole time limit. Nothing is ever committed.
    """
    reader = reader_for(url)
    started = time.monotonic()
    deadline = started + timeout
    conn = _connect(reader, deadline)
    timer: threading.Timer | None = None
    expired = threading.Event()
    try:
        remaining = max(deadline - time.monotonic(), 0.05)
        if reader.backend == "duckdb":
            raw = raw_duckdb(conn)

            def stop() -> None:
                expired.set()
                raw.interrupt()

            timer = threading.Timer(remaining, stop)
            timer.daemon = True
            timer.start()
        elif reader.backend == "sqlite":
            raw = conn.connection.driver_connection

            def over_time() -> int:
                if time.monotonic() > deadline:
                    expired.set()
                    return 1
                return 0

            raw.set_progress_handler(over_time, 10_000)
            raw.set_authorizer(_deny_all_but_reads)  # after the driver's own set-up statements
        elif reader.backend == "postgresql":
            _prepare_postgresql(reader, conn, remaining)
        elif reader.backend == "mysql":
            _prepare_mysql(reader, conn, remaining)
        elif reader.backend == "clickhouse":
            _prepare_clickhouse(conn, remaining, max_rows)
        try:
            try:
                yield conn
            except _unwrapped_errors(reader.backend) as exc:  # ClickHouse's dialect raises its own
                raise sa.exc.DBAPIError(None, None, getattr(exc, "orig", exc)) from None
        except sa.exc.DBAPIError as exc:
            if expired.is_set() or _is_timeout(reader.backend, exc):
                raise QueryTimeout(f"the query was stopped after {timeout:g} s") from None
            raise
    finally:
        if timer is not None:
            timer.cancel()
        with contextlib.suppress(Exception):
            conn.rollback()
        with contextlib.suppress(Exception):
            conn.close()


def _unwrapped_errors(backend: str) -> tuple[type[Exception], ...]:
    """Errors a dialect raises as they are, not as SQLAlchemy's (clickhouse-sqlalchemy's)."""
    if backend != "clickhouse":
        return ()
    from clickhouse_driver.errors import Error
    from clickhouse_sqlalchemy.exceptions import DatabaseException

    return (DatabaseException, Error)


def _is_timeout(backend: str, exc: sa.exc.DBAPIError) -> bool:
    text = str(exc.orig).lower()
    if backend == "postgresql":
        return "statement timeout" in text
    if backend == "mysql":
        return "max_statement_time" in text or "maximum statement execution time" in text
    if backend == "clickhouse":
        return "timeout exceeded" in text
    return "interrupt" in text


def close_readers() -> None:
    """Close every pooled reader connection (tests dropping a database; a server shutting down)."""
    with _readers_lock:
        for reader in _readers.values():
            if reader.hold is not None:
                reader.hold.release()
            reader.engine.dispose()
        _readers.clear()

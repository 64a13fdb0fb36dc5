"""One way to reach the store on every backend: DuckDB, SQLite, PostgreSQL, MySQL/MariaDB, ClickHouse.

Plain ``postgresql://``, ``mysql://`` and ``clickhouse://`` URLs are mapped to
the drivers crumby ships with (psycopg 3, PyMySQL, clickhouse-driver's native
protocol; ``clickhouse+http://`` speaks HTTP). DuckDB allows one writer *or* many readers
across processes, so its engine keeps no pool: every ``connect()`` opens the
file and closing the connection releases it, which lets the report server read
between two ETL batches. A writing DuckDB engine first asks the report
server's readers to let go of the file and waits for them (see handoff.py).
Its cache of the file is capped (:data:`WRITER_MEMORY_LIMIT`): by default
DuckDB would keep up to 80% of the machine's memory, and the ETL shares a
small server with the collector and the report server.
"""

from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from . import handoff

DRIVER_FOR = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "mariadb+pymysql": "mysql+pymysql",
    "clickhouse": "clickhouse+native",
}

# The backends crumby stores in (SQLAlchemy's backend names, after DRIVER_FOR), each with an example
# URL for the message that turns any other away.
SUPPORTED_BACKENDS = {
    "duckdb": "duckdb:////var/lib/crumby/crumby.duckdb",
    "sqlite": "sqlite:////var/lib/crumby/crumby.sqlite",
    "postgresql": "postgresql://user:password@host/database",
    "mysql": "mysql://user:password@host/database (MariaDB too)",
    "clickhouse": "clickhouse://user:password@host:9000/database",
}


# DuckDB's memory for a writing connection; beyond it, DuckDB evicts cached blocks and spills to a
# temporary folder beside the store. The 1M-hit bench then peaked 70 to 120 MiB lower, no slower.
WRITER_MEMORY_LIMIT = "512MB"


class StoreError(Exception):
    """The store cannot be reached or written (down, full, permission); the message says what to do."""


class StoreEmpty(StoreError):
    """Nothing was ever loaded: no store file, or no tables yet. Reports then have no rows, not an error."""

    def __init__(self) -> None:
        super().__init__("the store has no data yet; run `crumby etl` first")


def normalise_url(url: str | URL) -> URL:
    """The URL with crumby's driver for the backend filled in; StoreError for one crumby cannot use."""
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise StoreError(
            f"the store URL {_masked(url)!r} cannot be read; set SQLALCHEMY_DATABASE_URI to one like "
            f"{SUPPORTED_BACKENDS['duckdb']} or {SUPPORTED_BACKENDS['postgresql']}"
        ) from None
    driver = DRIVER_FOR.get(parsed.drivername)
    if driver:
        parsed = parsed.set(drivername=driver)
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        examples = "; ".join(SUPPORTED_BACKENDS.values())
        raise StoreError(
            f"crumby does not support the {parsed.get_backend_name()!r} backend (SQLALCHEMY_DATABASE_URI); "
            f"use one of: {examples}"
        )
    if parsed.get_backend_name() in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


def _masked(url: str | URL) -> str:
    """A URL as text without its password (as far as it can be read)."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    text = str(url)
    scheme, sep, rest = text.partition("://")
    credentials, at, host = rest.rpartition("@")
    if sep and at and ":" in credentials:
        return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
    return text


def backend_name(engine_or_url: sa.Engine | str | URL) -> str:
    """``duckdb``, ``sqlite``, ``postgresql``, ``mysql`` (MariaDB included) or ``clickhouse``."""
    url = engine_or_url.url if isinstance(engine_or_url, sa.Engine) else normalise_url(engine_or_url)
    name = url.get_backend_name()
    return "mysql" if name == "mariadb" else name


# Text compared byte for byte: MySQL/MariaDB would merge ``/About`` and ``/about``, and PostgreSQL's
# locale order makes grouping and distinct counts of ids two to three times slower. The others
# compare bytes already.
EXACT_COLLATIONS = {"mysql": "utf8mb4_bin", "postgresql": "C"}


def exact_text(conn: sa.Connection):
    """A function that makes a SQLAlchemy text expression compare byte for byte (EXACT_COLLATIONS)."""
    backend = backend_name(conn.engine)
    if backend in EXACT_COLLATIONS:
        return lambda expr: expr.collate(EXACT_COLLATIONS[backend])
    return lambda expr: expr


def equal_text(conn: sa.Connection):
    """A function making ``a = b`` compare byte for byte as the index on column ``a`` can serve it.

    Only MySQL/MariaDB need a collation for that (their default ignores case);
    PostgreSQL's equality is byte for byte in every deterministic collation,
    and "C" would keep it off the index: ``b`` may carry "C" from
    :func:`exact_text` (a GROUP BY's), so it gets the column's own.
    """
    backend = backend_name(conn.engine)
    if backend == "mysql":
        text = exact_text(conn)
        return lambda a, b: text(a) == b
    if backend == "postgresql":
        return lambda a, b: a == b.collate("default")
    return lambda a, b: a == b


# work_mem for each sort or hash of a summing transaction on PostgreSQL (the server's default is
# 4 MB): a day's 100k visits grouped with their distinct visitors take about 12 MB, and sort in
# memory instead of in temporary files. Four such transactions run at once (crumby.etl.daily).
SUMMING_WORK_MEM_MB = 64


def work_mem_at_least(megabytes: int) -> str:
    """PostgreSQL SQL: work_mem of ``megabytes`` for the transaction, unless the server or role gives more."""
    return (
        f"SELECT set_config('work_mem', '{megabytes}MB', true) "
        f"WHERE pg_size_bytes(current_setting('work_mem')) < {megabytes << 20}"
    )


def room_to_sum(conn: sa.Connection) -> None:
    """Give this transaction's sorts room on PostgreSQL (see SUMMING_WORK_MEM_MB)."""
    if backend_name(conn.engine) == "postgresql":
        conn.exec_driver_sql(work_mem_at_least(SUMMING_WORK_MEM_MB))


def create_engine(url: str | URL, *, echo: bool = False) -> sa.Engine:
    """A SQLAlchemy engine for the store at ``url``."""
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict = {"echo": echo}
    if backend == "duckdb":
        kwargs["poolclass"] = NullPool
    elif backend == "sqlite":
        kwargs["poolclass"] = NullPool
        kwargs["connect_args"] = {"timeout": 30}
    elif backend in ("mysql", "mariadb"):
        kwargs["pool_pre_ping"] = True
        kwargs["pool_recycle"] = 3600
    else:
        kwargs["pool_pre_ping"] = True
    if backend == "postgresql":
        # No JIT: crumby's statements sum a few days or read a range once, and compiling one of them
        # (0.1 to 0.4 s) cost more than it saved; a day of top pages' figures took 1.9 s instead of 2.4.
        # Given as a connect argument, which takes the place of the URL's own options: the URL that
        # messages show stays the one the user wrote.
        options = parsed.query.get("options", "")
        options = " ".join(options) if isinstance(options, tuple) else options
        kwargs["connect_args"] = {"options": f"{options} -c jit=off".strip()}
    cluster = ""
    if backend == "clickhouse":
        # ``?cluster=`` names the store's cluster (crumby's, not a server setting); writes through its
        # Distributed tables reach the shards before they return, so no checkpoint gets ahead of rows.
        cluster = parsed.query.get("cluster") or ""
        parsed = parsed.difference_update_query(["cluster"])
        if cluster:
            parsed = parsed.update_query_dict({"insert_distributed_sync": "1"})
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (ImportError, sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise StoreError(
            f"cannot use the store URL {parsed.render_as_string(hide_password=True)}: {exc}; "
            "check SQLALCHEMY_DATABASE_URI"
        ) from None
    if backend == "duckdb" and parsed.database and parsed.database != ":memory:":
        _take_turns_with_readers(engine, parsed.database)
    engine.crumby_cluster = cluster
    return engine


def _take_turns_with_readers(engine: sa.Engine, database: str) -> None:
    """Each connection of this (writing) engine raises the writer's signal while it is open."""
    open_ids: set[int] = set()

    @sa.event.listens_for(engine, "do_connect")
    def connect(dialect, _record, cargs, cparams):
        try:
            connection = handoff.connect_writer(database, lambda: dialect.connect(*cargs, **cparams))
        except handoff.StoreHeld as exc:
            raise StoreError(str(exc)) from None
        except OSError as exc:  # the signal file beside the store cannot be made
            raise StoreError(folder_problem(database, exc)) from None
        open_ids.add(id(connection))
        connection.execute(f"SET memory_limit = '{WRITER_MEMORY_LIMIT}'")
        return connection

    def closed(dbapi_connection, _record=None) -> None:
        if id(dbapi_connection) in open_ids:
            open_ids.discard(id(dbapi_connection))
            handoff.lower_signal(database)

    sa.event.listen(engine, "close", closed)
    sa.event.listen(engine, "close_detached", closed)


def folder_problem(database: str, exc: OSError) -> str:
    """What to do when the DuckDB store's folder is missing or not writable, in one line."""
    folder = Path(database).absolute().parent
    if not folder.is_dir():
        fix = f"create its folder (mkdir -p {folder})"
    else:
        fix = f"let crumby write to its folder {folder} (DuckDB writes a log file beside the store)"
    reason = exc.strerror or exc
    return f"cannot open the DuckDB store {database}: {reason}; {fix}, or set SQLALCHEMY_DATABASE_URI"


def driver_errors(engine: sa.Engine) -> tuple[type[Exception], ...]:
    """The driver's own error class: bulk paths that use its cursor directly raise it unwrapped."""
    dbapi = getattr(engine.dialect, "loaded_dbapi", None) or getattr(engine.dialect, "dbapi", None)
    error = getattr(dbapi, "Error", None)
    return (error,) if isinstance(error, type) and issubclass(error, Exception) else ()


# MySQL/MariaDB errors about a value that PyMySQL does not file under DataError (1366: incorrect
# string value, 1292: incorrect datetime value, 1300: invalid utf8mb4 string).
MYSQL_DATA_ERROR_CODES = frozenset({1292, 1300, 1366, 1367})


def data_errors(engine: sa.Engine) -> tuple[type[Exception], ...]:
    """The errors a store raises for a value in the rows (the DB-API's DataError and IntegrityError),
    and a driver's refusal to send one (a lone surrogate cannot be encoded); a store that is down,
    full or forbidden raises others."""
    dbapi = getattr(engine.dialect, "loaded_dbapi", None) or getattr(engine.dialect, "dbapi", None)
    # duckdb_engine's module names only Error: the others live beside that class, in the driver's module
    modules = [dbapi, *(sys.modules.get(error.__module__) for error in driver_errors(engine))]
    found: list[type[Exception]] = [sa.exc.DataError, sa.exc.IntegrityError, UnicodeEncodeError]
    for module in modules:
        for name in ("DataError", "IntegrityError"):
            error = getattr(module, name, None)
            if isinstance(error, type) and issubclass(error, Exception) and error not in found:
                found.append(error)
    return tuple(found)


def is_data_error(engine: sa.Engine, exc: BaseException) -> bool:
    """Whether ``exc`` (as raised, or wrapped by SQLAlchemy) lies in the data, not in the store."""
    if isinstance(exc, data_errors(engine)):
        return True
    reason = getattr(exc, "orig", None) or exc
    if isinstance(reason, data_errors(engine)):
        return True
    code = reason.args[0] if backend_name(engine) == "mysql" and reason.args else None
    return code in MYSQL_DATA_ERROR_CODES


def raw_duckdb(connection: sa.Connection):
    """The ``duckdb.DuckDBPyConnection`` behind a SQLAlchemy connection, for Arrow bulk inserts.

    It shares the SQLAlchemy connection's transaction, so rows written through
    it commit (or roll back) together with everything else on ``connection``.
    """
    import duckdb

    wrapper = connection.connection.driver_connection
    inner = getattr(wrapper, "_ConnectionWrapper__c", wrapper)
    if not isinstance(inner, duckdb.DuckDBPyConnection):
        raise TypeError("raw_duckdb needs a connection of a duckdb:// engine")
    return inner

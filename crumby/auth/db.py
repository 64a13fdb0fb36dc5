"""Where auth state lives, and its tables: ``users`` and the ``_crumby_`` tables for logins.

AUTH_DATABASE_URI names the database. Empty means the store itself, except
a DuckDB store (the report server opens DuckDB read-only) or a ClickHouse one
(no transactions, no unique keys): logins and tokens then live in a SQLite
file (WAL mode) in DATA_DIR.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table

from ..store.engine import backend_name, create_engine
from ..store.schema import users

auth_metadata = MetaData()

tokens = Table(
    "_crumby_tokens",
    auth_metadata,
    Column("key_id", String(32), primary_key=True),  # the public part of the token, for lookup
    Column("name", String(128), nullable=False),
    Column("token_hash", String(128), nullable=False),  # sha256 of the secret part, hex
    Column("created", DateTime, nullable=False),  # UTC
    Column("last_used", DateTime),
    Column("revoked", DateTime),
)

login_attempts = Table(
    "_crumby_login_attempts",
    auth_metadata,
    Column("kind", String(8), nullable=False),  # "ip" or "account"
    Column("subject", String(255), nullable=False),  # the address, or the lower-cased user name
    Column("at", DateTime, nullable=False),  # UTC time of a failed login
)
Index(
    "ix_crumby_login_attempts_subject", login_attempts.c.kind, login_attempts.c.subject, login_attempts.c.at
)

sessions = Table(
    "_crumby_login_sessions",
    auth_metadata,
    Column("sid_hash", String(64), primary_key=True),  # sha256 of the id in the signed cookie
    Column("user_id", Integer, nullable=False),
    Column("created", DateTime, nullable=False),  # UTC
    Column("ended", DateTime),  # set by logout: a copy of the cookie is then worthless
)

goals = Table(
    "_crumby_goals",
    auth_metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(8), nullable=False),  # "page" or "event"
    Column("pattern", String(1000), nullable=False),  # a page path (* for any text) or an event name
    Column("created", DateTime, nullable=False),  # UTC
)

AUTH_TABLES = (users, tokens, login_attempts, sessions, goals)


def auth_database_url(settings: Mapping[str, Any]) -> str:
    """The URL of the database that holds users, tokens and failed logins."""
    explicit = str(settings.get("AUTH_DATABASE_URI") or "").strip()
    if explicit:
        return explicit
    store = str(settings["SQLALCHEMY_DATABASE_URI"])
    if backend_name(store) in ("duckdb", "clickhouse"):
        return f"sqlite:///{Path(settings['DATA_DIR']) / 'auth.sqlite'}"
    return store


class AuthStore:
    """An engine on the auth database whose tables are known to exist."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.backend = backend_name(engine)
        if self.backend == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_wal)
        self.ensure_tables()

    def ensure_tables(self) -> None:
        """Create any missing auth table; safe when several processes start at once."""
        for table in AUTH_TABLES:
            try:
                table.create(self.engine, checkfirst=True)
            except sa.exc.DBAPIError:  # another process created it between the check and ours
                if not sa.inspect(self.engine).has_table(table.name):
                    raise

    def begin(self) -> Any:
        return self.engine.begin()

    def connect(self) -> Any:
        return self.engine.connect()

    def close(self) -> None:
        """Release pooled connections (a test database can then be dropped)."""
        self.engine.dispose()


def _sqlite_wal(dbapi_connection, _record) -> None:
    """WAL lets report workers read while another process records a failed login."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def open_auth_store(settings: Mapping[str, Any]) -> AuthStore:
    """Open the auth store for ``settings``, creating its tables (and the SQLite file's folder) if needed."""
    url = auth_database_url(settings)
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    return AuthStore(create_engine(url))

"""Fixtures shared by the suite: isolated settings, a live server, fresh databases on every backend.

Servers the tests need (PostgreSQL, MariaDB, Chromium) are required, never
skipped: a missing one fails the test with a message saying what to start.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from crumby.config import load_settings

PG_ADMIN_URL = os.environ.get("CRUMBY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_ADMIN_URL = os.environ.get("CRUMBY_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
BACKENDS = ("duckdb", "sqlite", "postgresql", "mariadb")


def make_settings(tmp_path: Path, **overrides) -> dict:
    """Settings rooted in ``tmp_path``, blind to the developer's own environment and files."""
    base = {"DATA_DIR": tmp_path / "data", "LOG_DIR": tmp_path / "logs", "SECRET_KEY": "test-secret"}
    base.update(overrides)
    return load_settings(environ={}, overrides=base)


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


@pytest.fixture
def enricher(settings):
    """An enricher of ``settings``, closed afterwards (a test file may define its own)."""
    from crumby.etl.enrich import Enricher

    with Enricher(settings) as made:
        yield made


class LiveServer:
    """A WSGI app served on 127.0.0.1 from a background thread."""

    def __init__(self, app) -> None:
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def live_server(settings):
    """The full crumby web app on a free port; yields the LiveServer (``.url``)."""
    from crumby.serve.app import create_app

    server = LiveServer(create_app(settings))
    yield server
    server.stop()


def _server_database(admin_url: str, what: str, start_hint: str):
    """Create a uniquely named database on a real server; yield its URL; drop it after."""
    name = f"crumby_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.fail(f"{what} is not reachable at {admin_url} ({exc.orig}); start it with: {start_hint}")
    url = sa.engine.make_url(admin_url).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        from crumby.store.readonly import close_readers

        close_readers()  # the report side keeps one pooled reader per store and process
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
            if admin.dialect.name == "postgresql":
                conn.exec_driver_sql(f"DROP ROLE IF EXISTS {name}_reader")
            else:
                conn.execute(sa.text(f"DROP USER IF EXISTS '{name}_reader'@'%'"))
        admin.dispose()


def reader_url(url: str) -> str:
    """For a test database on a server, the URL of a user that may only read it (made once, dropped
    with the database): reports refuse a superuser, or a MariaDB user with FILE. Files stay as they are."""
    parsed = sa.engine.make_url(url)
    if not parsed.get_backend_name().startswith(("postgresql", "mysql", "mariadb")):
        return url
    user = f"{parsed.database}_reader"
    admin = sa.create_engine(parsed, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if admin.dialect.name == "postgresql":
                if not conn.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{user}'").first():
                    conn.exec_driver_sql(f"CREATE ROLE {user} LOGIN")
                    conn.exec_driver_sql(f"GRANT pg_read_all_data TO {user}")
            else:
                conn.execute(sa.text(f"CREATE USER IF NOT EXISTS '{user}'@'%'"))
                conn.execute(sa.text(f"GRANT SELECT ON {parsed.database}.* TO '{user}'@'%'"))
    finally:
        admin.dispose()
    return parsed.set(username=user, password=None).render_as_string(hide_password=False)


@pytest.fixture
def postgres_url():
    yield from _server_database(
        PG_ADMIN_URL, "PostgreSQL", "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
    )


@pytest.fixture
def mariadb_url():
    yield from _server_database(
        MYSQL_ADMIN_URL,
        "MariaDB",
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
    )


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path):
    """A fresh, empty store on each supported backend in turn."""
    backend = request.param
    if backend == "duckdb":
        yield f"duckdb:///{tmp_path / 'store.duckdb'}"
    elif backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
    elif backend == "postgresql":
        yield request.getfixturevalue("postgres_url")
    else:
        yield request.getfixturevalue("mariadb_url")


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory):
    """A real ClickHouse server of our own (clickhouse-server must be installed: the test fails if not)."""
    from tests.clickhouse_server import start

    (server,) = start([tmp_path_factory.mktemp("clickhouse")])
    yield server
    server.stop()


def _clickhouse_database(server) -> str:
    from clickhouse_driver import Client

    name = f"crumby_test_{uuid.uuid4().hex[:10]}"
    Client("127.0.0.1", port=server.tcp_port).execute(f"CREATE DATABASE {name}")
    return name


@pytest.fixture
def clickhouse_url(clickhouse_server):
    """A fresh, empty database on the test's ClickHouse server."""
    from crumby.store.readonly import close_readers

    yield clickhouse_server.url(_clickhouse_database(clickhouse_server))
    close_readers()


@pytest.fixture(scope="session")
def clickhouse_cluster(tmp_path_factory):
    """Two ClickHouse servers of our own, the two shards of the cluster ``crumby_test``."""
    from tests.clickhouse_server import start

    folder = tmp_path_factory.mktemp("clickhouse-cluster")
    servers = start([folder / "shard1", folder / "shard2"])
    yield servers
    for server in servers:
        server.stop()

"""A store that refuses or is gone stops `crumby etl` with one line, checkpoints kept; later all loads once.

PostgreSQL and MariaDB: the ETL's database user loses the right to insert
into ``events``, so the run loads its first transactions (visits only) and is
refused in the middle. DuckDB and SQLite: the store file is made read-only to
the ETL (run without root's power to ignore file modes).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crumby.store.engine import backend_name, create_engine
from crumby.store.migrations import ensure_schema
from tests.etl_corpus import (
    another_store,
    append_hits,
    checkpoints,
    corpus,
    etl_env,
    query,
    recent_start,
    run_etl,
    table_rows,
)

BATCH = ("--batch-bytes", "65536")
START = recent_start()
# The tests run as root, whom file modes do not stop: the ETL runs without the capabilities that
# override them, as an ordinary user would.
AS_PLAIN_USER = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner")


def visits_then_events() -> list:
    """Hours of visits only, then half an hour with events: the events come a few transactions in
    (each of BATCHES_PER_TRANSACTION batches)."""
    hits = corpus(2700, START, seed=31, step_seconds=4)
    return [
        (when, line)
        for when, line in hits
        if b'"t":"visit"' in line or when >= START + timedelta(hours=2, minutes=30)
    ]


def assert_one_line_failure(process) -> str:
    assert process.returncode == 1, (process.stdout, process.stderr)
    message = process.stderr.strip()
    assert "Traceback" not in message and len(message.splitlines()) == 1, message
    assert message.startswith("Error: ") and "store" in message, message
    return message


def assert_checkpoints_match_rows(url: str) -> None:
    """Every line the checkpoints count is a row in the store, and no row is beyond them."""
    marks = checkpoints(url)
    rows = query(url, "SELECT COUNT(*) FROM visits")[0][0] + query(url, "SELECT COUNT(*) FROM events")[0][0]
    assert sum(mark[1] for mark in marks.values()) == rows


def assert_equals_clean_load(url: str, logs: Path, folder: Path) -> None:
    with another_store(url, folder) as clean_url:
        clean = run_etl(etl_env(folder / "clean", clean_url, logs), *BATCH)
        assert clean.returncode == 0, clean.stderr
        for table in ("visits", "events"):
            assert table_rows(url, table) == table_rows(clean_url, table), table
        days, clean_days = table_rows(url, "calendar"), table_rows(clean_url, "calendar")
        assert days == clean_days[: len(days)] and len(clean_days) - len(days) <= 1  # midnight may pass


def _limited_user_url(url: str, user: str) -> str:
    return sa.engine.make_url(url).set(username=user, password=None).render_as_string(hide_password=False)


def _grant_all_but_insert_into_events(url: str, user: str) -> None:
    """A database user for the ETL that may do everything it needs except insert into events."""
    admin = create_engine(url)
    try:
        ensure_schema(admin)
        with admin.begin() as conn:
            tables = sa.inspect(conn).get_table_names()
            if backend_name(url) == "postgresql":
                conn.exec_driver_sql(f"CREATE ROLE {user} LOGIN")
                conn.exec_driver_sql(
                    f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {user}"
                )
                conn.exec_driver_sql(f"REVOKE INSERT ON events FROM {user}")
            else:
                conn.execute(sa.text(f"CREATE USER '{user}'@'%'"))
                database = admin.url.database
                for table in tables:
                    rights = (
                        "SELECT, UPDATE, DELETE" if table == "events" else "SELECT, INSERT, UPDATE, DELETE"
                    )
                    conn.execute(sa.text(f"GRANT {rights} ON {database}.{table} TO '{user}'@'%'"))
    finally:
        admin.dispose()


def _give_back_insert(url: str, user: str) -> None:
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            if backend_name(url) == "postgresql":
                conn.exec_driver_sql(f"GRANT INSERT ON events TO {user}")
            else:
                conn.execute(sa.text(f"GRANT INSERT ON {admin.url.database}.events TO '{user}'@'%'"))
    finally:
        admin.dispose()


def _drop_user(url: str, user: str) -> None:
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            if backend_name(url) == "postgresql":
                conn.exec_driver_sql(f"DROP OWNED BY {user}")
                conn.exec_driver_sql(f"DROP ROLE IF EXISTS {user}")
            else:
                conn.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'%'"))
    finally:
        admin.dispose()


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_a_refused_insert_mid_run_stops_with_one_line_and_keeps_the_checkpoints(request, tmp_path, server):
    url = request.getfixturevalue(f"{server}_url" if server == "mariadb" else "postgres_url")
    user = f"crumby_etl_{uuid.uuid4().hex[:8]}"
    logs = tmp_path / "logs"
    append_hits(logs, visits_then_events())
    _grant_all_but_insert_into_events(url, user)
    try:
        env = etl_env(tmp_path, _limited_user_url(url, user), logs)
        failed = run_etl(env, *BATCH)
        message = assert_one_line_failure(failed)
        assert "checkpoints are where they were" in message and "run crumby etl again" in message
        # Some transactions of visits went in before the refusal; the refused one left no trace.
        loaded = query(url, "SELECT COUNT(*) FROM visits")[0][0]
        assert loaded > 0 and query(url, "SELECT COUNT(*) FROM events")[0][0] == 0
        assert_checkpoints_match_rows(url)
        marks = checkpoints(url)
        assert sum(mark[0] for mark in marks.values()) < sum(p.stat().st_size for p in logs.iterdir())

        _give_back_insert(url, user)
        again = run_etl(env, *BATCH)
        assert again.returncode == 0, again.stderr
        assert_checkpoints_match_rows(url)
        assert_equals_clean_load(url, logs, tmp_path)
        statuses = dict(query(url, "SELECT status, COUNT(*) FROM _crumby_loads GROUP BY status"))
        assert statuses == {"abandoned": 1, "done": 1}
    finally:
        _drop_user(url, user)


@pytest.mark.parametrize("backend", ["duckdb", "sqlite"])
def test_a_read_only_store_file_stops_with_one_line_and_keeps_the_checkpoints(tmp_path, backend):
    logs = tmp_path / "logs"
    hits = visits_then_events()
    append_hits(logs, hits[: len(hits) // 2])
    store_file = tmp_path / f"store.{backend}"
    url = f"{backend}:///{store_file}"
    env = etl_env(tmp_path, url, logs)
    first = run_etl(env, *BATCH, wrapper=AS_PLAIN_USER)
    assert first.returncode == 0, first.stderr
    before = checkpoints(url)
    assert before

    store_file.chmod(0o444)
    append_hits(logs, hits[len(hits) // 2 :])
    try:
        failed = run_etl(env, *BATCH, wrapper=AS_PLAIN_USER)
    finally:
        store_file.chmod(0o644)
    message = assert_one_line_failure(failed)
    assert "readonly" in message or "Permission denied" in message, message
    assert checkpoints(url) == before
    assert_checkpoints_match_rows(url)

    again = run_etl(env, *BATCH, wrapper=AS_PLAIN_USER)
    assert again.returncode == 0, again.stderr
    assert_checkpoints_match_rows(url)
    assert_equals_clean_load(url, logs, tmp_path)


@pytest.mark.parametrize(
    "url",
    ["postgresql://postgres@127.0.0.1:9/crumby", "mysql://root@127.0.0.1:9/crumby"],
    ids=["postgresql", "mariadb"],
)
def test_a_store_that_is_not_there_is_one_line(tmp_path, url):
    logs = tmp_path / "logs"
    append_hits(logs, corpus(20, START, seed=32))
    failed = run_etl(etl_env(tmp_path, url, logs))
    message = assert_one_line_failure(failed)
    assert "127.0.0.1" in message

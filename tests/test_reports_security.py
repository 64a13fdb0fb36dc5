"""Hostile input and hostile templates: request values never become SQL, templates cannot write or escape.

- every template rendered with hostile values: none of them is in the SQL text;
- planted templates that INSERT, COPY TO a file, read a server file, ATTACH, SET, or run
  forever, on every backend: each is refused or stopped at the time limit, the store unchanged;
- the read-only connection alone (no template check) stops the same attacks where the
  database can: everything on DuckDB and SQLite, writes and server files on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from conftest import make_settings
from report_fixture import RANGE, load_fixture, store_counts

from crumby.cli import cli
from crumby.queries import find_templates
from crumby.queries.dialects import DIALECTS
from crumby.queries.filters import OPERATORS
from crumby.queries.run import prepare
from crumby.serve.app import create_app
from crumby.store.engine import create_engine
from crumby.store.readonly import (
    REPORT_PARALLEL_COSTS,
    REPORT_WORK_MEM,
    QueryTimeout,
    close_readers,
    read_only_connection,
)

HOSTILE_TEXT = (
    "'; DROP TABLE visits; --",
    "x' OR '1'='1",
    "\"; SELECT pg_read_file('/etc/passwd') --",
    "ü😀\u202e:t0 $1 ? %s %(t0)s {{ 7*7 }} {% raw %}",
    "\\'; LOAD_FILE('/etc/passwd') #",
)


@pytest.fixture(autouse=True)
def _close_readers():
    yield
    close_readers()


def _hostile_request(template, text: str) -> dict[str, str]:
    """A valid request whose every text parameter carries ``text``; other types get odd but valid values."""
    raw = {"t0": "1999-12-31T23:59:58", "t1": "2000-01-02T00:00:01"}
    for spec in template.params:
        if spec.kind == "text":
            raw[spec.name] = text
        elif spec.kind == "key":
            raw[spec.name] = "zz_hostile_key_77"
        elif spec.kind == "int":
            raw[spec.name] = str(spec.maximum - 3 if spec.maximum else 987654)
    if template.filters:  # a filter on every dimension it takes, each operator in turn
        raw["f"] = [f"{d}:{OPERATORS[n % len(OPERATORS)]}:{text}" for n, d in enumerate(template.filters)]
    return raw


def test_a_question_asked_again_is_kept_and_a_changed_template_is_rendered_afresh():
    template = next(t for t in find_templates() if t.name == "pages")
    first = prepare(template, dict(RANGE), "postgresql")
    assert prepare(template, dict(RANGE), "postgresql") is first
    assert prepare(template, {**RANGE, "limit": "3"}, "postgresql") is not first
    assert prepare(template, dict(RANGE), "mysql").sql != first.sql
    source = template.source.replace("LIMIT :limit", "LIMIT :limit -- v2")
    edited = dataclasses.replace(template, source=source)
    again = prepare(edited, dict(RANGE), "postgresql")
    assert "-- v2" in again.sql and "-- v2" not in first.sql


@pytest.mark.parametrize("dialect", DIALECTS)
def test_hostile_values_never_appear_in_the_sql_text(dialect):
    for template in find_templates():
        for text in HOSTILE_TEXT:
            raw = _hostile_request(template, text)
            query = prepare(template, raw, dialect)
            for name, value in raw.items():
                written = value if name not in ("t0", "t1") else value[:4]
                if name == "f":
                    assert len(query.values["filters"]) == len(template.filters) > 0, template.name
                    assert text not in query.sql, (template.name, dialect, "filters")
                    continue
                assert written not in query.sql, (template.name, dialect, name)
            for spec in template.params:
                if spec.kind == "text":
                    assert query.values[spec.name] == text
            assert ":t0" in query.sql or ":p0" in query.sql, template.name


# Planted templates: one file per attack, written for each database's own dialect.
PLANTED = {
    "insert": """
{% if dialect == 'postgresql' %}WITH x AS (INSERT INTO calendar (datetime) VALUES ('2030-01-01') RETURNING 1)
SELECT * FROM x
{% else %}INSERT INTO calendar (datetime) VALUES ('2030-01-01'){% endif %}
""",
    "copy_to": """
{% if dialect == 'mysql' %}SELECT * FROM visits INTO OUTFILE '{OUT}'
{% elif dialect == 'sqlite' %}SELECT writefile('{OUT}', 'x')
{% else %}COPY (SELECT * FROM visits) TO '{OUT}'{% endif %}
""",
    "read_file": """
{% if dialect == 'duckdb' %}SELECT * FROM read_csv('/etc/passwd')
{% elif dialect == 'postgresql' %}SELECT pg_read_file('/etc/passwd') AS content
{% elif dialect == 'mysql' %}SELECT LOAD_FILE('/etc/passwd') AS content
{% else %}SELECT readfile('/etc/passwd') AS content{% endif %}
""",
    "attach": """
{% if dialect in ('duckdb', 'sqlite') %}ATTACH '{ATTACHED}' AS other
{% elif dialect == 'postgresql' %}SELECT * FROM dblink('dbname=test', 'SELECT 1') AS t(x int)
{% else %}SELECT * FROM other_db.visits{% endif %}
""",
    "set": """
{% if dialect == 'duckdb' %}SET enable_external_access = true
{% elif dialect == 'postgresql' %}SELECT set_config('statement_timeout', '0', false)
{% elif dialect == 'mysql' %}SET SESSION max_statement_time = 0
{% else %}PRAGMA query_only = 0{% endif %}
""",
    "forever": """
SELECT COUNT(*) AS n FROM visits a CROSS JOIN visits b CROSS JOIN visits c CROSS JOIN visits d
WHERE a.id + b.id + c.id + d.id > 3
""",
}


def _plant(folder: Path, out: Path, attached: Path) -> None:
    public = folder / "public"
    public.mkdir(parents=True)
    for name, sql in PLANTED.items():
        text = sql.replace("{OUT}", str(out)).replace("{ATTACHED}", str(attached))
        (public / f"{name}.sql").write_text(f"-- title: planted {name}\n{text.strip()}\n")


def _store_for(backend: str, tmp_path: Path, request) -> str:
    if backend == "duckdb":
        return f"duckdb:///{tmp_path / 'store.duckdb'}"
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return request.getfixturevalue("postgres_url" if backend == "postgresql" else "mariadb_url")


@pytest.mark.parametrize("backend", ["duckdb", "sqlite", "postgresql", "mariadb"])
def test_planted_templates_are_refused_or_stopped(backend, tmp_path, request):
    url = load_fixture(_store_for(backend, tmp_path, request))
    before = store_counts(url)
    out, attached = tmp_path / "stolen.csv", tmp_path / "attached.db"
    _plant(tmp_path / "mine", out, attached)
    settings = make_settings(
        tmp_path, SQLALCHEMY_DATABASE_URI=url, QUERIES_PATH=str(tmp_path / "mine"), REPORT_TIMEOUT=1
    )
    client = create_app(settings).test_client()
    for name in PLANTED:
        answer = client.get(f"/api/public/{name}", query_string=RANGE)
        text = answer.get_data(as_text=True)
        expected = 503 if name == "forever" else 500
        assert answer.status_code == expected, (backend, name, text)
        assert "root:" not in text and "select" not in text.lower(), (backend, name, text)
    assert not out.exists() and not attached.exists()
    # A report still works afterwards: nothing the attacks did lingers on a pooled connection.
    assert client.get("/api/public/summary", query_string=RANGE).status_code == 200
    close_readers()
    assert store_counts(url) == before


def _raw_attempts(backend: str, tmp_path: Path) -> dict[str, str]:
    """The attacks as plain SQL, sent without the template check: the connection alone must stop them."""
    out, attached = tmp_path / "stolen.csv", tmp_path / "attached.db"
    if backend == "duckdb":
        return {
            "insert": "INSERT INTO calendar VALUES ('2030-01-01')",
            "copy_to": f"COPY visits TO '{out}'",
            "read_file": "SELECT * FROM read_csv('/etc/passwd')",
            "attach": f"ATTACH '{attached}' AS other",
            "set": "SET enable_external_access = true",
        }
    if backend == "sqlite":
        return {
            "insert": "INSERT INTO calendar VALUES ('2030-01-01')",
            "attach": f"ATTACH '{attached}' AS other",
            "set": "PRAGMA query_only = 0",
            "drop": "DROP TABLE calendar",
        }
    if backend == "postgresql":
        return {
            "insert": "INSERT INTO calendar VALUES ('2030-01-01')",
            "copy_to": f"COPY (SELECT 1) TO '{out}'",
            "read_file": "SELECT pg_read_file('/etc/passwd')",
            "create": "CREATE TABLE stolen (x int)",
        }
    return {"insert": "INSERT INTO calendar VALUES ('2030-01-01')", "create": "CREATE TABLE stolen (x int)"}


@pytest.mark.parametrize("backend", ["duckdb", "sqlite", "postgresql", "mariadb"])
def test_the_read_only_connection_alone_stops_writes_and_escapes(backend, tmp_path, request):
    url = load_fixture(_store_for(backend, tmp_path, request))
    before = store_counts(url)
    for name, sql in _raw_attempts(backend, tmp_path).items():
        with pytest.raises(sa.exc.DBAPIError), read_only_connection(url, 5) as conn:
            conn.exec_driver_sql(sql).fetchall()
            pytest.fail(f"{backend}: {name} was allowed")
    with pytest.raises(QueryTimeout), read_only_connection(url, 1) as conn:
        conn.exec_driver_sql(PLANTED["forever"]).fetchall()
    close_readers()
    assert store_counts(url) == before
    assert not (tmp_path / "stolen.csv").exists() and not (tmp_path / "attached.db").exists()


@pytest.mark.parametrize(("own_work_mem", "report_work_mem"), [("7MB", REPORT_WORK_MEM), ("96MB", "96MB")])
def test_postgresql_reports_share_their_sorts_among_workers_with_room_to_hash(
    postgres_url, own_work_mem, report_work_mem
):
    url = load_fixture(postgres_url)
    with read_only_connection(url, 5) as conn:
        conn.rollback()
        own = conn.exec_driver_sql("SELECT current_setting('parallel_tuple_cost')").scalar()
        conn.exec_driver_sql(
            f"SET work_mem = '{own_work_mem}'"
        )  # the session's own, as a role or server gives it
        conn.commit()
    with read_only_connection(url, 5) as conn:
        settings = conn.exec_driver_sql("SELECT current_setting('work_mem'), current_setting('jit')").one()
        assert settings == (report_work_mem, "off")  # at least REPORT_WORK_MEM; a larger one stays
        for name, value in REPORT_PARALLEL_COSTS.items():  # its sorts split among parallel workers
            assert conn.exec_driver_sql(f"SELECT current_setting('{name}')").scalar() == value
    with read_only_connection(url, 5) as conn:  # the pooled connection is back to its own settings
        conn.rollback()
        assert conn.exec_driver_sql("SELECT current_setting('parallel_tuple_cost')").scalar() == own
        assert conn.exec_driver_sql("SELECT current_setting('work_mem')").scalar() == own_work_mem
        conn.exec_driver_sql("RESET work_mem")
        conn.commit()


# Templates that pass the template check (a quoted function name, SQL hidden in a string) and would
# read a server file as a superuser or a MariaDB user with FILE: only the database user stops them.
ESCAPES = {
    "postgresql": {
        "set_role": "SELECT \"set_config\"('role', 'postgres', true) AS r, "
        "query_to_xml('select pg_read_file(''/etc/passwd'')', true, false, '')::text AS f",
        "query_to_xml": "SELECT query_to_xml('select pg_read_file(''/etc/passwd'')', true, false, '')::text",
        "nested_role": "SELECT query_to_xml('select set_config(''role'', ''postgres'', true), "
        "pg_read_file(''/etc/passwd'')', true, false, '')::text AS f",
    },
    "mariadb": {
        "load_file": "SELECT `load_file`('/etc/passwd') AS f",
        "load_file_cast": "SELECT CAST(`LOAD_FILE`('/etc/passwd') AS CHAR) AS f",
    },
}


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_reports_refuse_a_user_who_may_read_server_files(backend, tmp_path, request):
    powerful = request.getfixturevalue("postgres_url" if backend == "postgresql" else "mariadb_url")
    load_fixture(powerful)
    public = tmp_path / "mine" / "public"
    public.mkdir(parents=True)
    for name, sql in ESCAPES[backend].items():
        (public / f"{name}.sql").write_text(f"-- title: escape {name}\n{sql}\n")
    engine = create_engine(powerful)
    try:
        with engine.connect() as conn:  # as this user, each template would read the file
            for sql in ESCAPES[backend].values():
                assert "root:" in str(conn.exec_driver_sql(sql.replace("%", "%%")).all()), sql
    finally:
        engine.dispose()
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=powerful, QUERIES_PATH=str(tmp_path / "mine"))
    client = create_app(settings).test_client()
    for name in [*ESCAPES[backend], "summary"]:
        answer = client.get(f"/api/public/{name}", query_string=RANGE)
        text = answer.get_data(as_text=True)
        assert answer.status_code == 503 and "root:" not in text, (name, text)
        assert "read the server's files" in answer.get_json()["error"]
    result = CliRunner().invoke(
        cli,
        ["query", "summary"],
        env={"CRUMBY_SQLALCHEMY_DATABASE_URI": powerful, "CRUMBY_DATA_DIR": str(tmp_path / "data")},
    )
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert ("superuser" if backend == "postgresql" else "FILE privilege") in result.output
    assert ("CREATE ROLE" if backend == "postgresql" else "CREATE USER") in result.output


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_a_read_only_user_cannot_escape_through_a_template(backend, tmp_path, request):
    url = load_fixture(request.getfixturevalue("postgres_url" if backend == "postgresql" else "mariadb_url"))
    public = tmp_path / "mine" / "public"
    public.mkdir(parents=True)
    for name, sql in ESCAPES[backend].items():
        (public / f"{name}.sql").write_text(f"-- title: escape {name}\n{sql}\n")
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=url, QUERIES_PATH=str(tmp_path / "mine"))
    client = create_app(settings).test_client()
    for name in ESCAPES[backend]:
        answer = client.get(f"/api/public/{name}", query_string=RANGE)
        text = answer.get_data(as_text=True)
        assert answer.status_code in (200, 500) and "root:" not in text, (name, text)
        assert "select" not in text.lower(), text
    assert client.get("/api/public/summary", query_string=RANGE).status_code == 200

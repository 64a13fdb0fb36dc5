"""ClickHouse as the store, on a real server: loads exactly once, sessions span runs, reports read only.

The same logs loaded into DuckDB are the reference: ClickHouse must hold the
same hits with the same visitors and sessions, and the same visits.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from clickhouse_driver import Client

from crumby.etl import clickhouse as clickhouse_etl
from crumby.etl.pipeline import run
from crumby.queries.params import TemplateError
from crumby.queries.render import render
from crumby.queries.run import QueryFailed, execute
from crumby.queries.templates import Template
from crumby.store import clickhouse as ch_store
from crumby.store.engine import create_engine
from crumby.store.readonly import QueryTimeout, read_only_connection
from crumby.store.schema import sessions as ch_sessions
from tests.conftest import make_settings
from tests.etl_corpus import append_hits, corpus, over_three_runs, recent_start, table_rows

HIT_COLUMNS = "hit_id, site, page_path, visitor_id, session_id, is_bot, datetime"
SESSION_COLUMNS = (
    "session_id, site, visitor_id, visitor_key, pageviews, duration, entry_page, exit_page, is_bot"
)


def clickhouse_rows(url: str, sql: str) -> list[tuple]:
    """Rows of ``sql`` on the store at ``url``, sorted; times to the second (18.16 keeps no more)."""
    database = url.rsplit("/", 1)[1]
    port = int(url.split(":")[-1].split("/")[0])
    rows = Client("127.0.0.1", port=port, database=database).execute(sql)
    return sorted(tuple(_second(v) for v in row) for row in rows)


def _second(value):
    if hasattr(value, "tzinfo") and hasattr(value, "microsecond"):
        return value.replace(microsecond=0, tzinfo=None)
    return int(value) if isinstance(value, bool) else value


def duckdb_rows(url: str, table: str, columns: str) -> list[tuple]:
    names = [c.strip() for c in columns.split(",")]
    every = table_rows(url, f"(SELECT {columns} FROM {table}) t", leave_out=())
    return sorted(tuple(_second(v) for v in row) for row in every if len(row) == len(names))


@pytest.fixture
def logs(tmp_path):
    folder = tmp_path / "logs"
    append_hits(folder, corpus(2500, recent_start()))
    return folder


def _load(tmp_path, url, logs, name="run"):
    return run(make_settings(tmp_path / name, LOG_DIR=logs, SQLALCHEMY_DATABASE_URI=url))


def test_etl_loads_the_same_hits_and_visits_as_duckdb(tmp_path, logs, clickhouse_url):
    report = _load(tmp_path, clickhouse_url, logs)
    assert report.hits == 2500 and report.rejected == 0
    duck = f"duckdb:///{tmp_path / 'ref.duckdb'}"
    assert _load(tmp_path, duck, logs, "ref").hits == 2500
    for table in ("visits", "events"):
        got = clickhouse_rows(clickhouse_url, f"SELECT {HIT_COLUMNS} FROM {table}")
        assert got == duckdb_rows(duck, table, HIT_COLUMNS)
    got = clickhouse_rows(clickhouse_url, f"SELECT {SESSION_COLUMNS} FROM sessions")
    assert got == duckdb_rows(duck, "sessions", SESSION_COLUMNS)
    assert len(got) > 100

    again = _load(tmp_path, clickhouse_url, logs)  # nothing new: nothing written
    assert again.hits == 0
    assert clickhouse_rows(clickhouse_url, "SELECT count() FROM visits")[0][0] == report.visits


def test_batches_are_written_at_the_commit_in_large_blocks_before_their_checkpoints(
    tmp_path, logs, clickhouse_url, monkeypatch
):
    """Batches' rows are held back and written when the transaction holds BLOCK_ROWS page views:
    one INSERT per table, each before the checkpoints of its batches; visits spanning batches and
    blocks come out as from one DuckDB load."""
    monkeypatch.setattr(clickhouse_etl, "BLOCK_ROWS", 600)
    written: list[tuple[str, int]] = []
    inserting, saving = clickhouse_etl.write_arrow, clickhouse_etl.save_checkpoints

    def insert(conn, table, rows):
        written.append((table, rows.num_rows))
        inserting(conn, table, rows)

    def save(conn, rows):
        written.append(("checkpoints", len(rows)))
        saving(conn, rows)

    monkeypatch.setattr(clickhouse_etl, "write_arrow", insert)
    monkeypatch.setattr(clickhouse_etl, "save_checkpoints", save)
    settings = make_settings(tmp_path / "run", LOG_DIR=logs, SQLALCHEMY_DATABASE_URI=clickhouse_url)
    report = run(settings, batch_bytes=16384)  # batches of some 30 hits
    assert report.hits == 2500 and report.duplicates == 0

    blocks = [rows for table, rows in written if table == "visits"]
    assert len(blocks) >= 3 and min(blocks[:-1]) >= 600 and sum(blocks) == report.visits
    commits = [i for i, (table, _) in enumerate(written) if table == "checkpoints"]
    assert len(commits) == len(blocks)  # one commit per block, not one per batch (some 40 batches)
    starts = [0, *[i + 1 for i in commits[:-1]]]
    for start, end in zip(starts, commits, strict=True):
        assert [table for table, _ in written[start:end]][:2] == ["visits", "events"]  # rows first

    duck = f"duckdb:///{tmp_path / 'ref.duckdb'}"
    assert _load(tmp_path, duck, logs, "ref").hits == 2500
    got = clickhouse_rows(clickhouse_url, f"SELECT {SESSION_COLUMNS} FROM sessions")
    assert got == duckdb_rows(duck, "sessions", SESSION_COLUMNS)
    ids = clickhouse_rows(clickhouse_url, "SELECT id FROM visits")
    assert [row[0] for row in ids] == list(range(1, report.visits + 1))  # counted on across held batches


def test_a_replayed_batch_adds_nothing_and_sessions_stay_whole(tmp_path, logs, clickhouse_url):
    """A run that died after its rows but before its checkpoints: the next run writes the same again."""
    _load(tmp_path, clickhouse_url, logs)
    before = {
        table: clickhouse_rows(clickhouse_url, f"SELECT {columns} FROM {table}")
        for table, columns in (
            ("visits", HIT_COLUMNS),
            ("events", HIT_COLUMNS),
            ("sessions", SESSION_COLUMNS),
        )
    }
    database, port = clickhouse_url.rsplit("/", 1)[1], int(clickhouse_url.split(":")[-1].split("/")[0])
    Client("127.0.0.1", port=port, database=database).execute("TRUNCATE TABLE _crumby_files")
    replay = _load(tmp_path, clickhouse_url, logs)
    assert replay.hits == 0 and replay.duplicates == 2500
    for table, rows in before.items():
        columns = SESSION_COLUMNS if table == "sessions" else HIT_COLUMNS
        assert clickhouse_rows(clickhouse_url, f"SELECT {columns} FROM {table}") == rows


def test_sessions_that_span_runs_stay_one(tmp_path, clickhouse_url):
    hits = corpus(2000, recent_start())
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    append_hits(whole, hits)
    duck = f"duckdb:///{tmp_path / 'ref.duckdb'}"
    _load(tmp_path, duck, whole, "ref")
    for start in range(0, len(hits), 400):  # five runs, each with the next slice of the logs
        append_hits(parts, hits[start : start + 400])
        _load(tmp_path, clickhouse_url, parts)
    got = clickhouse_rows(clickhouse_url, f"SELECT {SESSION_COLUMNS} FROM sessions")
    assert got == duckdb_rows(duck, "sessions", SESSION_COLUMNS)
    continued = clickhouse_rows(clickhouse_url, "SELECT count() FROM _crumby_session_rows")[0][0]
    assert continued > len(got)  # some visits were written again by a later run: still one row each


def _template(tmp_path, sql: str) -> Template:
    path = tmp_path / "mine.sql"
    path.write_text(sql)
    return Template(
        name="mine", visibility="private", path=path, source=sql, title="", description="", chart="table"
    )


def test_reports_run_read_only_with_a_time_limit_and_a_row_cap(clickhouse_url, tmp_path, logs):
    _load(tmp_path, clickhouse_url, logs)
    with read_only_connection(clickhouse_url, 5) as conn:
        assert conn.execute(sa.text("SELECT count() FROM visits")).scalar() > 0
    for statement in (
        "INSERT INTO calendar VALUES ('2020-01-01 00:00:00')",
        "CREATE TABLE x (a UInt8) ENGINE = Memory",
        "SELECT 1 SETTINGS readonly = 0",  # the limits cannot be lifted
    ):
        with pytest.raises(sa.exc.DBAPIError) as refused, read_only_connection(clickhouse_url, 5) as conn:
            conn.execute(sa.text(statement))
        assert "readonly" in str(refused.value).lower()
    with pytest.raises(QueryTimeout), read_only_connection(clickhouse_url, 1) as conn:
        conn.execute(sa.text("SELECT count() FROM system.numbers WHERE number % 7 = 8")).all()
    with read_only_connection(clickhouse_url, 5, max_rows=10) as conn:
        rows = conn.execute(sa.text("SELECT number FROM system.numbers LIMIT 1000000")).all()
    assert 10 < len(rows) < 1_000_000


def test_a_failed_report_says_so_without_sql(clickhouse_url, tmp_path):
    from crumby.queries.params import resolve_params

    sql = "SELECT no_such_column FROM visits v WHERE v.datetime >= :t0 AND v.datetime < :t1"
    template = _template(tmp_path, sql)
    query = render(template, resolve_params((), {}), "clickhouse")
    _load(tmp_path, clickhouse_url, tmp_path / "empty")
    with pytest.raises(QueryFailed) as failed:
        execute(query, clickhouse_url)
    assert "SELECT" not in str(failed.value) and "no_such_column" not in str(failed.value)
    with pytest.raises(TemplateError):
        render(_template(tmp_path, "INSERT INTO calendar SELECT now()"), {}, "clickhouse")


def test_a_store_whose_superseded_list_predates_its_key_gets_it(tmp_path, clickhouse_url):
    """Schema step 3: the superseded versions gain the visit's key, and the sessions view, made again,
    looks them up by it; the visits it shows stay the same, each once, none of the superseded."""
    logs = tmp_path / "logs"
    for number, hits in enumerate(over_three_runs(recent_start(days_ago=3), recent_start(days_ago=2))):
        append_hits(logs, hits)
        _load(tmp_path, clickhouse_url, logs, name=f"run{number}")
    database = clickhouse_url.rsplit("/", 1)[1]
    port = int(clickhouse_url.split(":")[-1].split("/")[0])
    client = Client("127.0.0.1", port=port, database=database)
    view = "SELECT create_table_query FROM system.tables WHERE database = %(db)s AND name = 'sessions'"
    shown = "SELECT session_id, pageviews, ended FROM sessions"
    newest = (
        f"SELECT session_id, argMax(pageviews, version), argMax(ended, version) FROM {ch_store.SESSION_ROWS} "
        "GROUP BY session_id"
    )
    assert "(visit_key, version) GLOBAL NOT IN" in client.execute(view, {"db": database})[0][0]
    visits = clickhouse_rows(clickhouse_url, shown)
    superseded = clickhouse_rows(clickhouse_url, f"SELECT session_id, version FROM {ch_store.SUPERSEDED}")
    assert superseded and len(visits) == len({v[0] for v in visits}) > len(superseded)
    assert visits == clickhouse_rows(clickhouse_url, newest), "each visit once, as its newest version"
    # as step 2 made them: the list without the key, the view looking versions up by text id
    client.execute(f"ALTER TABLE {ch_store.SUPERSEDED} DROP COLUMN visit_key")
    client.execute("DROP TABLE sessions")
    columns = ", ".join(c.name for c in ch_sessions.columns)
    client.execute(
        f"CREATE VIEW sessions AS SELECT {columns} FROM {ch_store.SESSION_ROWS} "
        f"WHERE (session_id, version) GLOBAL NOT IN (SELECT session_id, version FROM {ch_store.SUPERSEDED})"
    )
    assert clickhouse_rows(clickhouse_url, shown) == visits

    _load(tmp_path, clickhouse_url, logs, name="again")  # the next run upgrades the store
    assert "(visit_key, version) GLOBAL NOT IN" in client.execute(view, {"db": database})[0][0]
    keyed = f"SELECT countIf(visit_key = sipHash64(session_id)), count() FROM {ch_store.SUPERSEDED}"
    assert client.execute(keyed) == [(len(superseded), len(superseded))]
    assert clickhouse_rows(clickhouse_url, shown) == visits


def test_every_statement_the_etl_sends_runs_on_a_current_release(tmp_path, logs, clickhouse_url, monkeypatch):
    """What the ETL sends the 18.16 server (load, replay, retention) also runs on ClickHouse 26 (chDB).

    Each statement is recorded as sent, values written in; on chDB it runs for real against the same
    tables (the id look-ups' external table stood in for by a table of that name), and an INSERT
    without its block of rows is parsed.
    """
    from chdb_store import ChdbStore
    from clickhouse_driver import Client as DriverClient

    sent: list[str] = []
    execute = DriverClient.execute

    def recording(self, query, params=None, *args, **kwargs):
        values = isinstance(params, dict) and params  # an INSERT's params are its rows
        sent.append(self.substitute_params(query, params, self.connection.context) if values else query)
        return execute(self, query, params, *args, **kwargs)

    monkeypatch.setattr(DriverClient, "execute", recording)
    _load(tmp_path, clickhouse_url, logs)
    database, port = clickhouse_url.rsplit("/", 1)[1], int(clickhouse_url.split(":")[-1].split("/")[0])
    execute(Client("127.0.0.1", port=port, database=database), "TRUNCATE TABLE _crumby_files")
    _load(tmp_path, clickhouse_url, logs)  # a replay: the look-ups find every hit
    run(
        make_settings(
            tmp_path / "run", LOG_DIR=logs, SQLALCHEMY_DATABASE_URI=clickhouse_url, ROW_RETENTION_DAYS=1
        )
    )
    monkeypatch.undo()
    assert any("ALTER TABLE" in s for s in sent) and any("GLOBAL IN" in s for s in sent)
    assert any(s.startswith("ALTER TABLE `_crumby_superseded` DELETE") for s in sent), "old versions go"

    store = ChdbStore(tmp_path / "chdb")
    try:
        store.session.query("CREATE TABLE _crumby_batch (hit_id String, session_id String) ENGINE = Memory")
        for statement in dict.fromkeys(sent):
            if statement.lstrip().upper().startswith("INSERT"):
                store.session.query(f"EXPLAIN AST {statement}")
            else:
                store.session.query(statement)
    finally:
        store.close()


def test_a_store_made_before_the_keys_gets_them(tmp_path, logs, clickhouse_url):
    """The visitor and visit keys (made by the server from the ids here) are added to a store that
    lacks them, and the sessions view is made again with them; the rows stay as they are."""
    _load(tmp_path, clickhouse_url, logs)
    database = clickhouse_url.rsplit("/", 1)[1]
    port = int(clickhouse_url.split(":")[-1].split("/")[0])
    client = Client("127.0.0.1", port=port, database=database)
    columns = "SELECT table, name FROM system.columns WHERE database = currentDatabase()"
    made = set(client.execute(columns))
    assert {("visits", "visit_key"), ("events", "visitor_key"), ("sessions", "visit_key")} <= made
    keyed = "SELECT visit_key, visitor_key, sipHash64(session_id), sipHash64(visitor_id) FROM visits"
    rows = clickhouse_rows(clickhouse_url, keyed)
    assert rows and all(row[:2] == row[2:] and None not in row for row in rows)
    # as an earlier crumby made them
    for table, keys in ch_store.COMPUTED_KEYS.items():
        for name in keys:
            client.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
    client.execute("DROP TABLE sessions")
    old_view = ", ".join(c.name for c in ch_sessions.columns if c.name != "visit_key")
    client.execute(f"CREATE VIEW sessions AS SELECT {old_view} FROM {ch_store.SESSION_ROWS}")
    dropped = {(t, c) for t, keys in ch_store.COMPUTED_KEYS.items() for c in keys} | {
        ("sessions", "visit_key")
    }
    assert set(client.execute(columns)) == made - dropped

    _load(tmp_path, clickhouse_url, logs, name="again")  # the next run upgrades the store
    assert set(client.execute(columns)) == made
    assert clickhouse_rows(clickhouse_url, keyed) == rows
    visits = clickhouse_rows(
        clickhouse_url, "SELECT countIf(visit_key = sipHash64(session_id)), count() FROM sessions"
    )
    assert visits[0][0] == visits[0][1] > 100


def test_the_kept_session_state_of_an_older_store_is_emptied_and_left_alone(tmp_path, logs, clickhouse_url):
    """Each visitor's last session is read from the hits now: the rows an older crumby kept in
    ``_crumby_sessions`` go once, and no load writes there again."""
    database = clickhouse_url.rsplit("/", 1)[1]
    port = int(clickhouse_url.split(":")[-1].split("/")[0])
    client = Client("127.0.0.1", port=port, database=database)
    engine = create_engine(clickhouse_url)
    try:
        ch_store.ensure_schema(engine)
    finally:
        engine.dispose()
    # as an earlier crumby left it: a state row, and its schema three steps along
    client.execute(
        "INSERT INTO _crumby_sessions (site, visitor_id, session_id, last_seen) VALUES",
        [("example.com", "old-visitor", "old-visit", recent_start())],
    )
    client.execute("TRUNCATE TABLE _crumby_schema")
    client.execute(
        "INSERT INTO _crumby_schema (version, description, applied_at) VALUES",
        [(n, d, recent_start()) for n, d in ch_store.MIGRATIONS if n <= 3],
    )
    _load(tmp_path, clickhouse_url, logs)
    assert client.execute("SELECT count() FROM _crumby_sessions") == [(0,)]
    assert client.execute("SELECT max(version) FROM _crumby_schema") == [(len(ch_store.MIGRATIONS),)]
    assert clickhouse_rows(clickhouse_url, "SELECT count() FROM visits")[0][0] > 0

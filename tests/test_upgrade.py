"""Moving from the original Crumby: its store, as its models made it, is upgraded by `crumby etl`
without losing a row, its users still sign in, and the reports read old and new rows alike."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from crumby.auth.db import open_auth_store
from crumby.auth.users import authenticate
from crumby.etl.pipeline import run as run_etl
from crumby.hits import make_hit, serialise
from crumby.queries import run as run_report
from crumby.store.engine import create_engine
from crumby.store.migrations import ensure_schema
from crumby.store.readonly import close_readers
from tests.conftest import make_settings, reader_url
from tests.etl_corpus import another_store

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LONG_LANGUAGE = "en-GB,en;q=0.9,de-DE;q=0.8,de;q=0.7,fr-FR;q=0.6,fr;q=0.5"


def _original_hit_columns() -> list[sa.Column]:
    """The columns the original's visits and events tables began with."""
    return [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ip", sa.String(39)),
        sa.Column("cid", sa.String(10)),
        sa.Column("datetime", sa.DateTime),
        sa.Column("doc_title", sa.Text),
        sa.Column("doc_uri", sa.Text),
    ]


def original_metadata() -> sa.MetaData:
    """The original Crumby's four tables, column for column, as its SQLAlchemy models declared them."""
    meta = sa.MetaData()
    sa.Table("calendar", meta, sa.Column("datetime", sa.DateTime, primary_key=True))
    sa.Table(
        "visits",
        meta,
        *_original_hit_columns(),
        sa.Column("doc_enc", sa.String(25)),
        sa.Column("referrer", sa.Text),
        sa.Column("_referrer", sa.Text),
        sa.Column("platform", sa.String(25)),
        sa.Column("browser", sa.String(25)),
        sa.Column("version", sa.String(25)),
        sa.Column("screen_res", sa.String(25)),
        sa.Column("screen_depth", sa.String(10)),
        sa.Column("continent", sa.String(3)),
        sa.Column("country", sa.String(3)),
        sa.Column("subdivision_1", sa.String(75)),
        sa.Column("subdivision_2", sa.String(75)),
        sa.Column("city", sa.String(75)),
        sa.Column("latitude", sa.Float),
        sa.Column("longitude", sa.Float),
        sa.Column("accuracy_radius", sa.Integer),
        sa.Column("time_zone", sa.String(50)),
        sa.Column("lang", sa.String(10)),
        sa.Column("_lang", sa.String(10)),
    )
    sa.Table(
        "events",
        meta,
        *_original_hit_columns(),
        sa.Column("name", sa.Text),
        sa.Column("value", sa.Text),
    )
    sa.Table(
        "users",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), unique=True),
        sa.Column("password", sa.String(128)),
    )
    return meta


def werkzeug_pbkdf2(password: str, salt: str = "Xy12", iterations: int = 50000) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations).hex()
    return f"pbkdf2:sha256:{iterations}${salt}${digest}"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_an_original_crumby_store_moves_over_without_loss(backend, tmp_path, request):
    url = (
        f"sqlite:///{tmp_path / 'crumby.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url" if backend == "postgresql" else "mariadb_url")
    )
    old_day = datetime(2017, 5, 1, 10, 0)
    engine = create_engine(url)
    meta = original_metadata()
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(meta.tables["calendar"].insert(), [{"datetime": old_day.replace(hour=0)}])
        conn.execute(
            meta.tables["visits"].insert(),
            [
                {
                    "ip": "81.2.69.142",
                    "cid": "1234567",
                    "datetime": old_day,
                    "doc_title": "Old home",
                    "doc_uri": "http://example.com/",
                    "platform": "windows",
                    "browser": "chrome",
                    "country": "GB",
                    "city": "London",
                    "lang": "en-GB",
                    "_lang": "en-GB",
                }
            ],
        )
        conn.execute(
            meta.tables["events"].insert(),
            [
                {
                    "ip": "81.2.69.142",
                    "cid": "1234567",
                    "datetime": old_day,
                    "doc_uri": "http://example.com/",
                    "name": "signup",
                    "value": "free",
                }
            ],
        )
        conn.execute(
            meta.tables["users"].insert(), [{"username": "alice", "password": werkzeug_pbkdf2("s3cret!pw")}]
        )
    engine.dispose()

    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=url)
    now = datetime.now(timezone.utc) - timedelta(hours=2)
    logs = settings["LOG_DIR"]
    logs.mkdir(parents=True)
    ts = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    hit = make_hit(
        {
            "t": "visit",
            "cid": "98765432109876543210",
            "dl": "https://example.com/new",
            "dt": "New",
            "ul": "en-GB",
            "sr": "1920x1080",
            "pv": "1",
        },
        ip="81.2.69.142",
        ua="Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        referer="",
        lang=LONG_LANGUAGE,
        hit_id="new-hit-1",
        ts=ts,
    )
    (logs / f"hits-{now:%Y%m%d%H}-w1.jsonl").write_bytes(serialise(hit))

    report = run_etl(settings)
    assert report.hits == 1 and report.rejected == 0

    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, cid, doc_title, _lang FROM visits ORDER BY datetime")).all()
        events = conn.execute(sa.text("SELECT name, value FROM events")).all()
    engine.dispose()
    assert [(r.cid, r.doc_title) for r in rows] == [("1234567", "Old home"), ("98765432109876543210", "New")]
    assert rows[1]._lang == LONG_LANGUAGE, "a value wider than the original's column is kept whole"
    assert len({r.id for r in rows}) == 2
    assert [tuple(e) for e in events] == [("signup", "free")]

    store = open_auth_store(settings)
    try:
        assert authenticate(store, "alice", "s3cret!pw") is not None
        with store.connect() as conn:
            upgraded = conn.execute(sa.text("SELECT password FROM users WHERE username = 'alice'")).scalar()
        assert upgraded.startswith("$argon2id$")
    finally:
        store.close()

    try:
        reports = {**settings, "SQLALCHEMY_DATABASE_URI": reader_url(url)}  # reports refuse a superuser
        old = run_report("visits", reports, **{"from": "2017-05-01", "to": "2017-05-01"})
    finally:
        close_readers()
    assert [list(row)[1:] for row in old.rows] == [[1, 1]]

    with another_store(url, tmp_path) as new_url:
        fresh = create_engine(new_url)
        ensure_schema(fresh)
        fresh.dispose()  # before the new database is dropped
        assert _hit_table_indexes(url) == _hit_table_indexes(new_url), "the indexes a new store has"


def _hit_table_indexes(url: str) -> dict[str, set[tuple[tuple[str, ...], bool]]]:
    """Each of visits' and events' indexes and unique keys: its columns and whether it is unique."""
    engine = create_engine(url)
    try:
        inspector = sa.inspect(engine)
        found = {}
        for table in ("visits", "events"):
            keys = {(tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)}
            keys |= {(tuple(u["column_names"]), True) for u in inspector.get_unique_constraints(table)}
            found[table] = keys
        return found
    finally:
        engine.dispose()


def test_a_template_written_for_the_original_crumby_still_runs(tmp_path):
    """The original's templates pasted "{{t0}}" into quotes; crumby binds it instead."""
    url = f"sqlite:///{tmp_path / 'crumby.db'}"
    engine = create_engine(url)
    meta = original_metadata()
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            meta.tables["visits"].insert(),
            [
                {"cid": "1", "datetime": datetime(2017, 5, 1, 9), "doc_uri": "http://example.com/"},
                {"cid": "1", "datetime": datetime(2017, 5, 1, 10), "doc_uri": "http://example.com/a"},
                {"cid": "2", "datetime": datetime(2017, 5, 2, 11), "doc_uri": "http://example.com/"},
            ],
        )
    engine.dispose()
    folder = tmp_path / "reports" / "public"
    folder.mkdir(parents=True)
    (folder / "daily.sql").write_text(
        "select date(datetime) as day, count(distinct cid) as users, count(id) as views\n"
        "from visits\n"
        "where datetime between \"{{t0}}\" and '{{ t1 }}'\n"
        "group by day order by day\n"
    )
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=url, QUERIES_PATH=str(tmp_path / "reports"))
    from crumby.store.migrations import ensure_schema

    ensure_schema(create_engine(url))
    try:
        result = run_report("daily", settings, **{"from": "2017-05-01", "to": "2017-05-02"})
    finally:
        close_readers()
    assert [list(row) for row in result.rows] == [["2017-05-01", 1, 2], ["2017-05-02", 1, 1]]


@pytest.mark.parametrize("backend", ["sqlite", "duckdb"])
def test_a_store_from_crumbys_first_release_is_upgraded_without_loss(backend, tmp_path):
    """tests/fixtures/store-0.1.0.* were made by the first release; today's ETL must carry them on."""
    import gzip
    import shutil

    from crumby.store.migrations import SCHEMA_VERSION
    from tests.fixtures.make_release_stores import release_lines

    store = tmp_path / f"store.{backend}"
    with gzip.open(FIXTURES / f"store-0.1.0.{backend}.gz", "rb") as packed, open(store, "wb") as raw:
        shutil.copyfileobj(packed, raw)
    url = f"{backend}:///{store}"
    columns = "hit_id, cid, datetime, doc_uri, visitor_id, session_id, country, browser"
    before = _rows(url, f"SELECT {columns} FROM visits ORDER BY hit_id")
    events_before = _rows(url, "SELECT hit_id, name, value FROM events ORDER BY hit_id")
    assert len(before) == 108 and len(events_before) == 12

    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=url)
    logs = settings["LOG_DIR"]
    logs.mkdir(parents=True)
    # The release's own lines come round again (a restored backup), with one new hit.
    now = datetime.now(timezone.utc) - timedelta(hours=1)
    ts = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    new = make_hit(
        {"t": "visit", "cid": "n1", "dl": "https://example.com/new", "pv": "1"},
        ip="81.2.69.142",
        ua="curl-free browser",
        referer="",
        lang="en",
        hit_id="after-upgrade",
        ts=ts,
    )
    (logs / "hits-2026110208-restored.jsonl").write_bytes(b"".join(release_lines()))
    (logs / f"hits-{now:%Y%m%d%H}-w1.jsonl").write_bytes(serialise(new))
    report = run_etl(settings)
    assert report.rejected == 0

    after = _rows(url, f"SELECT {columns} FROM visits WHERE hit_id <> 'after-upgrade' ORDER BY hit_id")
    assert after == before, "no row of the release's store changed or doubled"
    assert _rows(url, "SELECT hit_id, name, value FROM events ORDER BY hit_id") == events_before
    assert _rows(url, "SELECT COUNT(*) FROM visits WHERE hit_id = 'after-upgrade'") == [(1,)]
    assert _rows(url, "SELECT MAX(version) FROM _crumby_schema") == [(SCHEMA_VERSION,)]
    # the aggregated tables the release lacked are filled from its rows
    assert _rows(url, "SELECT SUM(views) FROM document_days") == [(len(before) + 1,)]
    assert _rows(url, "SELECT SUM(pageviews) FROM sessions") == [(len(before) + 1,)]
    assert _rows(url, "SELECT COUNT(*) FROM visitor_days")[0][0] > 0
    assert _rows(url, "SELECT COUNT(*) FROM _crumby_stale_days") == [(0,)]


def test_the_daily_tables_of_summed_visitors_leave_a_store_that_had_them(store_url):
    """A store of schema 12 kept page_days, visit_days and event_days: they go, visitor_days is made anew."""
    from crumby.etl.daily import refresh
    from crumby.store.migrations import RETIRED_TABLES, SCHEMA_VERSION, ensure_schema
    from tests.report_fixture import load_fixture

    load_fixture(store_url)
    kept = _rows(store_url, "SELECT day, site, visitor_key, prev_day FROM visitor_days ORDER BY 1, 2, 3")
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:  # as crumby left it before: the tables, and visitor_days by start day
            for name in RETIRED_TABLES:
                conn.execute(sa.text(f"CREATE TABLE {name} (day TIMESTAMP, visitors BIGINT)"))
            conn.execute(sa.text("DELETE FROM _crumby_schema WHERE version > 12"))
            conn.execute(sa.text("DELETE FROM visitor_days WHERE prev_day IS NOT NULL"))
        assert ensure_schema(engine) == SCHEMA_VERSION
        assert not RETIRED_TABLES & set(sa.inspect(engine).get_table_names())
        assert _rows(store_url, "SELECT COUNT(*) FROM visitor_days") == [(0,)]
        assert refresh(engine) > 0
        assert _rows(store_url, "SELECT COUNT(*) FROM _crumby_stale_days") == [(0,)]
        assert (
            _rows(store_url, "SELECT day, site, visitor_key, prev_day FROM visitor_days ORDER BY 1, 2, 3")
            == kept
        )
    finally:
        engine.dispose()


def _rows(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()

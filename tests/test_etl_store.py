"""The store's engine and migrations on every backend."""

from __future__ import annotations

import sqlalchemy as sa

from crumby.store.engine import backend_name, create_engine, normalise_url
from crumby.store.migrations import SCHEMA_VERSION, current_version, ensure_schema
from crumby.store.schema import READ_FIRST, users, visits

TABLES = {"visits", "events", "users", "calendar", "_crumby_schema", "_crumby_loads", "_crumby_files"}


def test_plain_urls_get_crumbys_drivers():
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    mysql = normalise_url("mysql://u@h/db")
    assert mysql.drivername == "mysql+pymysql" and mysql.query["charset"] == "utf8mb4"
    assert backend_name("mariadb://u@h/db") == "mysql"


def test_schema_is_created_once_and_users_get_ids(store_url):
    engine = create_engine(store_url)
    assert ensure_schema(engine) == SCHEMA_VERSION
    assert ensure_schema(engine) == SCHEMA_VERSION
    with engine.begin() as conn:
        assert set(sa.inspect(conn).get_table_names()) >= TABLES
        assert current_version(conn) == SCHEMA_VERSION
        conn.execute(users.insert().values(username="ann", password="hash"))
        conn.execute(sa.text("INSERT INTO users (username, password) VALUES ('bob', 'hash')"))
        ids = conn.execute(sa.select(users.c.id).order_by(users.c.id)).scalars().all()
    assert len(set(ids)) == 2 and all(i is not None for i in ids)
    engine.dispose()


def test_a_new_stores_hit_tables_begin_with_what_reports_read(store_url):
    """On a row store a report pays for every column before the last it reads (schema.READ_FIRST)."""
    engine = create_engine(store_url)
    ensure_schema(engine)
    with engine.begin() as conn:
        for table in ("visits", "events"):
            names = [c["name"] for c in sa.inspect(conn).get_columns(table)]
            wanted = [n for n in READ_FIRST if n in names]
            assert names[: len(wanted)] == wanted, table
            assert {"visit_key", "visitor_key", "site", "page_path"} <= set(wanted)
    engine.dispose()


def test_an_original_crumby_store_is_upgraded_in_place(store_url):
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE visits (id BIGINT PRIMARY KEY, ip VARCHAR(64), cid VARCHAR(64), "
            "datetime TIMESTAMP NOT NULL, doc_uri TEXT)"
        )
        conn.exec_driver_sql(
            "INSERT INTO visits (id, ip, cid, datetime, doc_uri) "
            "VALUES (1, '1.2.3.4', 'c1', '2017-05-01 10:00:00', 'http://a/')"
        )
    ensure_schema(engine)
    with engine.begin() as conn:
        row = conn.execute(sa.select(visits.c.cid, visits.c.hit_id, visits.c.site)).one()
    assert tuple(row) == ("c1", None, None)
    engine.dispose()


def test_a_step_numbered_below_one_applied_before_it_is_still_applied(tmp_path, monkeypatch):
    """Steps written side by side get numbers apart: a store that has a later one still gets an earlier."""
    from crumby.store import migrations

    engine = create_engine(f"duckdb:///{tmp_path / 'store.duckdb'}")
    ran = []
    later = (SCHEMA_VERSION + 2, "a later step", lambda conn: ran.append("later"))
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, later))
    assert migrations.ensure_schema(engine) == SCHEMA_VERSION + 2
    between = (SCHEMA_VERSION + 1, "a step merged afterwards", lambda conn: ran.append("between"))
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS[:-1], between, later))
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", SCHEMA_VERSION + 2)
    assert migrations.ensure_schema(engine) == SCHEMA_VERSION + 2
    assert migrations.ensure_schema(engine) == SCHEMA_VERSION + 2
    assert ran == ["later", "between"]
    engine.dispose()


def test_postgresql_finds_the_visits_under_way_by_their_end(postgres_url):
    """A filter on a visit's source reads the sessions ended in the range: a BRIN index skips the rest."""
    engine = create_engine(postgres_url)
    ensure_schema(engine)
    with engine.begin() as conn:
        method = conn.exec_driver_sql(
            "SELECT am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_am am ON am.oid = c.relam WHERE c.relname = 'ix_sessions_ended'"
            " AND i.indrelid = 'sessions'::regclass"
        ).scalar()
    engine.dispose()
    assert method == "brin"


def test_postgresql_sessions_keep_the_index_on_start_alone(postgres_url):
    """The B-tree on (site, start) cost a load's COPY into sessions a fifth of its time and no report
    needed it: a new store has none, and an older store's goes at its upgrade."""
    from crumby.store.bookkeeping import schema_versions

    engine = create_engine(postgres_url)

    def indexes() -> set[str]:
        with engine.begin() as conn:
            found = conn.exec_driver_sql("SELECT indexname FROM pg_indexes WHERE tablename = 'sessions'")
            return set(found.scalars())

    ensure_schema(engine)
    assert "ix_sessions_started" in indexes()
    assert "ix_sessions_site_started" not in indexes()
    with engine.begin() as conn:  # a store of the step before
        conn.exec_driver_sql("CREATE INDEX ix_sessions_site_started ON sessions (site, started)")
        conn.execute(schema_versions.delete().where(schema_versions.c.version == 24))
    assert "ix_sessions_site_started" in indexes()
    assert ensure_schema(engine) == SCHEMA_VERSION
    assert "ix_sessions_site_started" not in indexes()
    assert "ix_sessions_started" in indexes()
    engine.dispose()


def test_postgresql_connections_compile_nothing_and_keep_the_urls_options(postgres_url):
    """JIT compiling cost crumby's statements more than it saved; a URL's own ``options`` still apply."""
    with_options = sa.engine.make_url(postgres_url).update_query_dict({"options": "-c work_mem=5MB"})
    for url, work_mem in ((postgres_url, None), (with_options, "5MB")):
        engine = create_engine(url)
        assert "jit" not in engine.url.render_as_string()  # messages show the URL as the user wrote it
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
            if work_mem:
                assert conn.exec_driver_sql("SHOW work_mem").scalar() == work_mem
        engine.dispose()

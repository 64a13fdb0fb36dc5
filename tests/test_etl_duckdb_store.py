"""DuckDB's hit tables and the session state keep no index nor key; older stores are rebuilt, rows
kept."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from crumby.store import migrations
from crumby.store.engine import create_engine
from crumby.store.schema import visits


def constraints_and_indexes(engine: sa.Engine) -> tuple[set, set]:
    with engine.connect() as conn:
        constraints = conn.exec_driver_sql(
            "SELECT table_name, constraint_type FROM duckdb_constraints() "
            "WHERE table_name IN ('visits', 'events', '_crumby_sessions') AND constraint_type <> 'NOT NULL'"
        ).all()
        indexes = conn.exec_driver_sql(
            "SELECT index_name FROM duckdb_indexes() "
            "WHERE table_name IN ('visits', 'events', '_crumby_sessions')"
        ).all()
    return set(constraints), {row[0] for row in indexes}


def test_a_new_store_has_no_keys_nor_indexes(tmp_path):
    engine = create_engine(f"duckdb:///{tmp_path / 'store.duckdb'}")
    try:
        migrations.ensure_schema(engine)
        assert constraints_and_indexes(engine) == (set(), set())
    finally:
        engine.dispose()


def test_an_indexed_store_is_rebuilt_with_its_rows(tmp_path, monkeypatch):
    engine = create_engine(f"duckdb:///{tmp_path / 'store.duckdb'}")
    try:
        monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:2])
        migrations.ensure_schema(engine)
        constraints, indexes = constraints_and_indexes(engine)
        assert ("visits", "UNIQUE") in constraints and "ix_visits_datetime" in indexes
        assert ("_crumby_sessions", "PRIMARY KEY") in constraints
        with engine.begin() as conn:
            conn.execute(
                visits.insert(),
                [
                    {"id": n, "hit_id": f"h{n}", "datetime": datetime(2026, 3, 2, 10, n), "is_bot": False}
                    for n in (1, 2)
                ],
            )
        monkeypatch.undo()
        assert migrations.ensure_schema(engine) == migrations.SCHEMA_VERSION
        assert constraints_and_indexes(engine) == (set(), set())
        with engine.connect() as conn:
            rows = conn.execute(sa.select(visits.c.id, visits.c.hit_id).order_by(visits.c.id)).all()
        assert rows == [(1, "h1"), (2, "h2")]
    finally:
        engine.dispose()

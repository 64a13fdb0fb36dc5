"""The integer keys of the visitor and visit ids: written with every row, the same in every table,
and given by the next run to the rows of a store made before them.
"""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crumby.etl import stored_keys
from crumby.etl.keys import id_key, id_keys
from crumby.etl.stored_keys import fill_stored_keys
from crumby.queries import find_templates
from crumby.queries.run import run_report
from crumby.store.engine import create_engine
from crumby.store.migrations import ensure_schema
from crumby.store.readonly import close_readers
from tests.conftest import reader_url
from tests.etl_corpus import in_transaction, load_between_writers, query, recent_start

# (table, key, the id it is made from)
KEYED = (
    ("visits", "visit_key", "session_id"),
    ("visits", "visitor_key", "visitor_id"),
    ("events", "visit_key", "session_id"),
    ("events", "visitor_key", "visitor_id"),
    ("sessions", "visit_key", "session_id"),
    ("sessions", "visitor_key", "visitor_id"),
)
REPORTS = ("public/pages", "public/summary", "public/sources", "public/entry_pages", "private/event_names")


@given(st.lists(st.one_of(st.none(), st.text(max_size=70)), max_size=40))
def test_id_keys_are_each_ids_own_key(ids):
    keys = id_keys(pa.array(ids, pa.string())).to_pylist()
    assert keys == [None if i is None else id_key(i) for i in ids]
    assert all(k is None or -(2**63) <= k < 2**63 for k in keys)


def _wrong_keys(url: str) -> dict[str, int]:
    """Per table and key: rows whose key is not their id's key (a missing key counts as wrong)."""
    wrong = {}
    for table, key, made_from in KEYED:
        rows = query(url, f"SELECT {made_from}, {key} FROM {table}")
        assert rows, f"the load wrote {table}"
        wrong[f"{table}.{key}"] = sum(
            1 for made, value in rows if (made is None) != (value is None) or (made and value != id_key(made))
        )
    return wrong


def _answers(url: str) -> list[list]:
    templates = {f"{t.visibility}/{t.name}": t for t in find_templates()}
    day = recent_start().date()
    values = {"from": f"{day - timedelta(days=1)}", "to": f"{day + timedelta(days=1)}"}
    try:
        return [
            run_report(
                templates[name], {**values, **extra}, {"SQLALCHEMY_DATABASE_URI": reader_url(url)}
            ).rows
            for name in REPORTS
            for extra in ({}, {"f": ["source:is:Google"]}, {"f": ["page:contains:/docs"]})
        ]
    finally:
        close_readers()


@pytest.fixture
def loaded(tmp_path, store_url):
    load_between_writers(tmp_path, store_url)
    return store_url


def test_every_row_gets_its_ids_keys_and_a_store_without_them_gets_them_back(loaded):
    assert set(_wrong_keys(loaded).values()) == {0}
    before = _answers(loaded)
    assert any(rows for rows in before), "the reports found the load"

    # A store from before the keys: every key empty, as the schema step leaves them.
    # (sessions.visitor_key came before them, with the table.)
    forgotten = [(table, key) for table, key, _ in KEYED if (table, key) != ("sessions", "visitor_key")]

    def forget(conn):
        for table, key in forgotten:
            conn.exec_driver_sql(f"UPDATE {table} SET {key} = NULL")

    in_transaction(loaded, forget)
    wrong = _wrong_keys(loaded)
    assert all(wrong[f"{table}.{key}"] > 0 for table, key in forgotten)
    engine = create_engine(loaded)
    try:
        keyed = fill_stored_keys(engine, ids_per_slice=97)  # many slices
        assert keyed > 97
        assert fill_stored_keys(engine) == 0  # nothing left to fill
    finally:
        engine.dispose()
    assert set(_wrong_keys(loaded).values()) == {0}
    assert _answers(loaded) == before


def test_ids_that_differ_in_case_or_trailing_blanks_keep_their_own_keys(store_url):
    """MySQL's default collation takes "Ab", "ab" and "ab " for one text: each still gets its own key."""
    from datetime import datetime

    from crumby.store.migrations import ensure_schema
    from crumby.store.schema import visits

    ids = ["Ab", "ab", "ab ", "AB"]
    engine = create_engine(store_url)
    try:
        ensure_schema(engine)
        with engine.begin() as conn:
            conn.execute(
                visits.insert(),
                [
                    {
                        "id": n + 1,
                        "hit_id": f"h{n}",
                        "datetime": datetime(2026, 1, 1, 12, n),
                        "visitor_id": value,
                        "session_id": value,
                        "is_bot": False,
                    }
                    for n, value in enumerate(ids)
                ],
            )
        assert fill_stored_keys(engine) == 2 * len(ids)
    finally:
        engine.dispose()
    stored = query(store_url, "SELECT hit_id, visitor_key, visit_key FROM visits")
    assert sorted(stored) == sorted((f"h{n}", id_key(v), id_key(v)) for n, v in enumerate(ids))


def test_postgresql_looks_for_rows_without_keys_among_those_rows_alone(postgres_url):
    """Each run looks for stored rows without their keys before it loads. On PostgreSQL partial
    indexes hold just those rows (none, once filled), so the look does not read every row of the
    store on every run (0.48 s for 800,000 hits, growing with the store)."""
    engine = create_engine(postgres_url)
    ensure_schema(engine)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # can an index serve it at all?
            for table, key, made_from in stored_keys.KEYED:
                query = stored_keys.unkeyed_query(conn, table.c[key], table.c[made_from], 500)
                sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
                plan = "\n".join(conn.exec_driver_sql(f"EXPLAIN {sql}").scalars())
                assert f"ix_{table.name}_{key}_unfilled" in plan, plan
    finally:
        engine.dispose()

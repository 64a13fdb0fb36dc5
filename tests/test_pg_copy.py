"""COPY into PostgreSQL in binary: the same rows as CSV, and the same refusals, on the real server."""

from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crumby.etl import pg_copy
from crumby.store.engine import create_engine, is_data_error

TABLE = (
    "CREATE TABLE copied (n integer, big bigint, small smallint, flag boolean, ratio double precision, "
    "low real, at timestamp without time zone, day date, label varchar(8), body text)"
)
COLUMNS = ["n", "big", "small", "flag", "ratio", "low", "at", "day", "label", "body"]
QUOTED = ", ".join(COLUMNS)


def _rows(**columns) -> pa.Table:
    """A table of the test's columns typed as the ETL's rows are (64-bit numbers, text, UTC times)."""
    kinds = {
        "n": pa.int64(),
        "big": pa.int64(),
        "small": pa.int64(),
        "flag": pa.bool_(),
        "ratio": pa.float64(),
        "low": pa.float64(),
        "at": pa.timestamp("us", tz="UTC"),
        "day": pa.date32(),
        "label": pa.string(),
        "body": pa.string(),
    }
    length = len(next(iter(columns.values())))
    return pa.table({name: pa.array(columns.get(name, [None] * length), kinds[name]) for name in COLUMNS})


@pytest.fixture
def engine(postgres_url):
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(TABLE)
    yield engine
    engine.dispose()


@pytest.fixture
def counted(monkeypatch):
    """The schemas pgpq's encoder was made for: which way the rows went (binary or CSV)."""
    real, made = pg_copy.ArrowToPostgresBinaryEncoder, []

    def counting(schema):
        made.append(schema)
        return real(schema)

    monkeypatch.setattr(pg_copy, "ArrowToPostgresBinaryEncoder", counting)
    return made


def _copied(engine, rows: pa.Table, binary: bool) -> list[tuple]:
    """The rows as the table holds them after a COPY in binary (checked to be so) or as CSV."""
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE copied")
        if binary:
            real, made = pg_copy.ArrowToPostgresBinaryEncoder, []
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(
                    pg_copy, "ArrowToPostgresBinaryEncoder", lambda schema: made.append(1) or real(schema)
                )
                pg_copy.copy_into(conn, "copied", QUOTED, rows)
            assert made == [1], "the rows went in binary"
        else:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(pg_copy, "ArrowToPostgresBinaryEncoder", None)
                pg_copy.copy_into(conn, "copied", QUOTED, rows)
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT {QUOTED} FROM copied ORDER BY n").all()]


def test_binary_rows_are_the_csv_rows(engine, counted):
    rows = _rows(
        n=[1, 2, 3],
        big=[-(2**63), 2**63 - 1, None],
        small=[-32768, 32767, 0],
        flag=[True, False, None],
        ratio=[0.1, -1e300, None],
        low=[0.5, None, -2.25],
        at=[datetime(2024, 2, 29, 23, 59, 59, 999999), datetime(1970, 1, 1), None],
        day=[date(2024, 2, 29), None, date(1, 1, 1)],
        label=["", None, "ünï 😀"],
        body=['a "b" \\ c,\n\r\t', "", None],
    )
    binary = _copied(engine, rows, binary=True)
    assert len(counted) == 1
    assert binary == _copied(engine, rows, binary=False)
    assert binary[0][6] == datetime(2024, 2, 29, 23, 59, 59, 999999) and binary[0][8] == ""
    assert binary[1][8] is None and binary[1][9] == "" and binary[2][9] is None


def test_a_value_out_of_a_column_range_goes_as_csv_and_is_refused_as_data(engine, counted):
    rows = _rows(n=[1, 2], small=[1, 40000])
    with pytest.raises(Exception) as refused, engine.begin() as conn:
        pg_copy.copy_into(conn, "copied", QUOTED, rows)
    assert not counted, "CSV: the server judges the value, as before"
    assert is_data_error(engine, refused.value)


@pytest.mark.parametrize(
    "bad", [{"label": ["123456789"]}, {"body": ["nul \x00 inside"]}], ids=["too long", "NUL"]
)
def test_what_the_server_refuses_in_binary_is_a_data_error(engine, counted, bad):
    rows = _rows(n=[1], **bad)
    with pytest.raises(Exception) as refused, engine.begin() as conn:
        pg_copy.copy_into(conn, "copied", QUOTED, rows)
    assert len(counted) == 1
    assert is_data_error(engine, refused.value), refused.value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.none() | st.integers(-(2**31), 2**31 - 1),
            st.none() | st.text(alphabet=st.characters(blacklist_characters="\x00", codec="utf-8")),
            st.none() | st.floats(allow_nan=False),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_any_rows_copy_alike_either_way(engine, values):
    rows = _rows(
        n=list(range(len(values))),
        big=[v[0] for v in values],
        body=[v[1] for v in values],
        ratio=[v[2] for v in values],
    )
    assert _copied(engine, rows, binary=True) == _copied(engine, rows, binary=False)

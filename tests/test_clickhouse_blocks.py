"""Arrow columns encoded as native blocks: the server stores what the driver's own encoder would."""

from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa
from clickhouse_driver import Client

from crumby.store import clickhouse as ch
from crumby.store.clickhouse_blocks import encode
from crumby.store.engine import create_engine

COLUMNS = (
    "s Nullable(String), k String, i Int64, n Nullable(Int32), u UInt8, f Nullable(Float64), "
    "t DateTime('UTC'), nt Nullable(DateTime('UTC')), d Nullable(Date)"
)
TEXTS = ["", "a", "é" * 70, "日本語 ü", "x" * 127, "y" * 128, "z" * 16_384, "w" * 2_100_000, None, "end"]


def sample() -> pa.Table:
    count = len(TEXTS)
    return pa.table(
        {
            "s": pa.array(TEXTS, pa.string()),
            "k": pa.array([t or "" for t in TEXTS], pa.large_string()),
            "i": pa.array([-(2**40) + n for n in range(count)], pa.int64()),
            "n": pa.array([None if n % 3 else n for n in range(count)], pa.int32()),
            "u": pa.array([n % 2 == 0 for n in range(count)], pa.bool_()),
            "f": pa.array([None if n == 4 else n / 3 for n in range(count)], pa.float64()),
            "t": pa.array([datetime(2024, 3, 1, 12, 0, n, 999_000) for n in range(count)]),
            "nt": pa.array([None if n % 2 else datetime(1999, 12, 31, 23, 59, n) for n in range(count)]),
            "d": pa.array([None if n == 1 else date(2024, 2, 28 + n % 2) for n in range(count)]),
        }
    )


def test_arrow_blocks_store_what_the_driver_would(clickhouse_url):
    engine = create_engine(clickhouse_url)
    database = clickhouse_url.rsplit("/", 1)[1]
    port = int(clickhouse_url.split(":")[-1].split("/")[0])
    client = Client("127.0.0.1", port=port, database=database)
    rows = sample()
    for table in ("by_arrow", "by_driver"):
        client.execute(f"CREATE TABLE {table} ({COLUMNS}) ENGINE = MergeTree ORDER BY i")
    with engine.connect() as conn:
        ch.insert_arrow(conn, "by_arrow", rows.slice(2))  # a slice: its buffers start past 0
        ch.insert_arrow(conn, "by_arrow", rows.slice(0, 2))
    client.execute(
        f"INSERT INTO by_driver ({', '.join(rows.column_names)}) VALUES",
        [[_driver_value(v) for v in rows.column(name).to_pylist()] for name in rows.column_names],
        columnar=True,
    )
    stored = client.execute("SELECT * FROM by_arrow ORDER BY i")
    assert stored == client.execute("SELECT * FROM by_driver ORDER BY i")
    assert [row[0] for row in stored] == TEXTS
    assert stored[0][6].replace(tzinfo=None) == datetime(2024, 3, 1, 12, 0, 0)  # whole seconds, rounded down
    engine.dispose()


def _driver_value(value):
    return int(value) if isinstance(value, bool) else value


def test_a_type_not_encoded_here_is_left_to_the_driver():
    assert encode(pa.array(["a"]), "LowCardinality(Nullable(String))") is None
    assert encode(pa.array([[1]]), "Array(Int64)") is None

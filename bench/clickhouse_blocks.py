"""Benchmark: stored rows into ClickHouse, the driver's own encoder beside crumby's Arrow blocks.

    python bench/clickhouse_blocks.py --store /tmp/crumby-bench-clickhouse/store-10000000.duckdb

The same page views (the first --rows of a store bench/clickhouse.py built)
are written into a ClickHouse server of the bench's own, in ETL-sized
blocks, --rounds times each way, interleaved: once as clickhouse-driver takes
them (a list of Python values per column, as crumby sent them before), once
as ``crumby.store.clickhouse.insert_arrow`` sends them. Prints the rows/s and
the CPU seconds of the writer and of the server, with their medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from clickhouse_driver import Client  # noqa: E402

from crumby.store import clickhouse as ch  # noqa: E402
from crumby.store.engine import create_engine  # noqa: E402
from crumby.store.migrations import ensure_schema  # noqa: E402
from tests.clickhouse_server import start  # noqa: E402

BATCH_ROWS = 60_000  # about one ETL batch


def driver_values(column: pa.ChunkedArray) -> list:
    """A column as crumby gave it to the driver before: Python values, times as whole seconds."""
    if pa.types.is_boolean(column.type):
        return pc.cast(column, pa.uint8()).to_pylist()
    if pa.types.is_timestamp(column.type):
        micros = pc.cast(pc.cast(column, pa.timestamp("us")), pa.int64())
        floored = pc.subtract(micros, pc.if_else(pc.less(micros, 0), 999_999, 0))
        return pc.divide(floored, 1_000_000).to_pylist()
    return column.to_pylist()


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write(way: str, store, rows: pa.Table, server_pid: int) -> tuple[float, float, float]:
    """``rows`` into ``visits`` in ETL-sized blocks; (rows/s, writer CPU s, server CPU s)."""
    names = rows.column_names
    statement = f"INSERT INTO visits ({', '.join(ch.quote(n) for n in names)}) VALUES"
    served, started, used = server_cpu(server_pid), time.perf_counter(), time.process_time()
    for offset in range(0, rows.num_rows, BATCH_ROWS):
        batch = rows.slice(offset, BATCH_ROWS)
        if way == "driver":
            values = [driver_values(batch.column(name)) for name in names]
            ch.client(store.engine).execute(statement, values, columnar=True, settings=ch.WRITE_SETTINGS)
        else:
            ch.insert_arrow(store, "visits", batch)
    seconds = time.perf_counter() - started
    return rows.num_rows / seconds, time.process_time() - used, server_cpu(server_pid) - served


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="a store bench/clickhouse.py built")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/crumby-bench-clickhouse"))
    args = parser.parse_args()
    conn = duckdb.connect(str(args.store), read_only=True)
    rows = conn.sql(f"SELECT * FROM visits LIMIT {args.rows}").arrow()
    rows = rows.read_all() if hasattr(rows, "read_all") else rows
    conn.close()
    (server,) = start([args.workdir / f"blocks-{time.time_ns()}"])
    results: dict[str, list[tuple[float, float, float]]] = {"driver": [], "arrow": []}
    try:
        for n in range(args.rounds):
            for way in results:
                database = f"bench_{way}_{n}"
                Client("127.0.0.1", port=server.tcp_port).execute(f"CREATE DATABASE {database}")
                engine = create_engine(server.url(database))
                ensure_schema(engine)
                with engine.connect() as store:
                    result = write(way, store, rows, server.process.pid)
                engine.dispose()
                results[way].append(result)
                print(f"{way:<7} {result[0]:>9,.0f} rows/s  writer CPU {result[1]:5.2f} s  ", end="")
                print(f"server CPU {result[2]:5.2f} s")
        print(f"\nmedians over {args.rounds} rounds of {rows.num_rows:,} page views:")
        for way, runs in results.items():
            rate, writer, cpu = (statistics.median(r[i] for r in runs) for i in range(3))
            print(
                f"{way:<7} {rate:>9,.0f} rows/s  writer CPU {writer:5.2f} s  server CPU {cpu:5.2f} s  "
                f"{rows.num_rows / (writer + cpu):>9,.0f} rows per CPU second (writer + server)"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()

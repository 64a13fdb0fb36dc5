"""Benchmark: where the time of writing stored rows into ClickHouse goes.

    python bench/clickhouse_write.py --hits 2000000 --runs 5

The rows of a HITS-hit store (built as bench/queries.py builds it, once, in
--workdir) are read into memory as Arrow batches, then written into a fresh
database of a ClickHouse server of our own (the machine's clickhouse-server)
by the ETL's writer, once per run and variant, the variants interleaved so
that the machine's load falls on each alike. For each: the wall time, the
client's CPU seconds (this process), the server's (from /proc of its
process, background merges during the write included), and the client's
encoding alone (the same blocks made without a server). Medians of the runs.

A variant is the rows per INSERT (``60k``: an ETL batch), and optionally a
setting sent with it: ``-nodedup`` (``insert_deduplicate = 0``), ``-nosquash``
(``min_insert_block_size_rows`` and ``_bytes`` = 0).
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

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "tests")]

from clickhouse_driver import Client  # noqa: E402
from queries import build_duckdb  # noqa: E402

from crumby.store import clickhouse as ch  # noqa: E402
from crumby.store.clickhouse_blocks import encode  # noqa: E402
from crumby.store.engine import create_engine  # noqa: E402
from tests.clickhouse_server import start  # noqa: E402

COPIED = ("visits", "events", "calendar")
TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu(pid: int) -> float:
    """CPU seconds (user and system) of process ``pid`` and its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def read_store(store: Path, batch_rows: int) -> list[tuple[str, pa.Table]]:
    conn = duckdb.connect(str(store), read_only=True)
    try:
        batches = []
        for table in COPIED:
            whole = conn.sql(f"SELECT * FROM {table}").to_arrow_table()
            for start in range(0, whole.num_rows, batch_rows):
                batches.append((table, whole.slice(start, batch_rows)))
        return batches
    finally:
        conn.close()


def column_types(client: Client, table: str) -> dict[str, str]:
    return dict(
        client.execute(
            f"SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = '{table}'"
        )
    )


def encode_only(batches, types) -> float:
    """CPU seconds of making every block's bytes, no server."""
    used = time.process_time()
    for table, rows in batches:
        for name in rows.column_names:
            encode(rows.column(name), types[table][name])
    return time.process_time() - used


def write(server, batches, name: str, settings: dict) -> tuple[float, ...]:
    """Every batch written into a fresh database; (wall, client CPU, server CPU, server CPU until
    the merges it started are done) seconds."""
    admin = Client("127.0.0.1", port=server.tcp_port)
    admin.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.execute(f"CREATE DATABASE {name}")
    engine = create_engine(server.url(name))
    ch.ensure_schema(engine)
    saved = dict(ch.WRITE_SETTINGS)
    ch.WRITE_SETTINGS.update(settings)
    try:
        with engine.connect() as conn:
            ch.query(conn, "SELECT 1")  # connected before the clock starts
            wall, used, served = time.perf_counter(), time.process_time(), server_cpu(server.process.pid)
            for table, rows in batches:
                ch.insert_arrow(conn, table, rows)
            result = (
                time.perf_counter() - wall,
                time.process_time() - used,
                server_cpu(server.process.pid) - served,
            )
            quiet = time.monotonic() + 120  # the merges the write started, run to their end
            while admin.execute("SELECT count() FROM system.merges")[0][0] and time.monotonic() < quiet:
                time.sleep(0.2)
            result += (server_cpu(server.process.pid) - served,)
    finally:
        ch.WRITE_SETTINGS.clear()
        ch.WRITE_SETTINGS.update(saved)
        engine.dispose()
    admin.execute(f"DROP DATABASE {name}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/crumby-bench-clickhouse"))
    parser.add_argument(
        "--variants",
        default="60k,120k,240k,60k-nodedup",
        help="rows per block (60k: an ETL batch), with -nodedup for insert_deduplicate = 0",
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    store = args.workdir / f"store-{args.hits}.duckdb"
    if not store.exists():
        print(f"building a {args.hits:,}-hit DuckDB store (once) ...", flush=True)
        build_duckdb(store.with_suffix(".partial"), args.hits)
        store.with_suffix(".partial").rename(store)
    extra = {
        "nodedup": {"insert_deduplicate": 0},
        "nosquash": {"min_insert_block_size_rows": 0, "min_insert_block_size_bytes": 0},
    }
    variants = {}
    for variant in args.variants.split(","):
        size, _, setting = variant.partition("-")
        variants[variant] = (int(float(size.rstrip("k")) * 1000), extra.get(setting, {}))
    batches = {size: read_store(store, size) for size in {size for size, _ in variants.values()}}
    hits = sum(
        rows.num_rows
        for table, rows in batches[60_000 if 60_000 in batches else min(batches)]
        if table != "calendar"
    )
    (server,) = start([args.workdir / f"write-server-{time.time_ns()}"])
    try:
        admin = Client("127.0.0.1", port=server.tcp_port)
        admin.execute("CREATE DATABASE IF NOT EXISTS crumby_bench_types")
        ch.ensure_schema(create_engine(server.url("crumby_bench_types")))
        types_client = Client("127.0.0.1", port=server.tcp_port, database="crumby_bench_types")
        types = {table: column_types(types_client, table) for table in COPIED}
        print(
            f"server {admin.execute('SELECT version()')[0][0]}, {hits:,} hits "
            f"(+ events' and calendar's rows), {args.runs} runs each, medians",
            flush=True,
        )
        samples = {variant: [] for variant in variants}
        encodes = {variant: [] for variant in variants}
        for run in range(args.runs):
            for variant, (size, settings) in variants.items():
                name = f"crumby_bench_write_{run}"
                samples[variant].append(write(server, batches[size], name, settings))
                encodes[variant].append(encode_only(batches[size], types))
                wall, client, served, merged = samples[variant][-1]
                print(
                    f"  run {run} {variant:<12} wall {wall:5.1f} s client {client:5.1f} s "
                    f"server {served:5.1f} s ({merged:5.1f} s with the merges after)",
                    flush=True,
                )
        print(
            f"\n{'variant':<14}{'hits/s':>10}{'wall s':>8}{'client s':>10}{'encode s':>10}"
            f"{'server s':>10}{'+merges':>9}{'server %':>10}{'hits/client CPU s':>19}"
        )
        for variant in variants:
            wall, client, served, merged = (
                statistics.median(s[i] for s in samples[variant]) for i in range(4)
            )
            coded = statistics.median(encodes[variant])
            print(
                f"{variant:<14}{hits / wall:>10,.0f}{wall:>8.1f}{client:>10.1f}{coded:>10.1f}"
                f"{served:>10.1f}{merged:>9.1f}{100 * served / (served + client):>9.0f}%"
                f"{hits / client:>19,.0f}"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()

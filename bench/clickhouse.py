"""Benchmark: ClickHouse as the store, beside DuckDB, in the same run.

    python bench/clickhouse.py --hits 10000000 --etl-hits 200000

Starts a ClickHouse server of its own (the machine's clickhouse-server, in
--workdir, on free ports) and measures:

- etl:     ``crumby etl`` end to end over the same raw-log corpus, into DuckDB and
           into ClickHouse (hits/s and CPU seconds of the run);
- stored:  the rows of a HITS-hit store (built as bench/queries.py builds it)
           written into ClickHouse by the ETL's own writer (crumby.etl.clickhouse:
           native blocks of an ETL batch's size), the ETL's Python work aside (hits/s);
- reports: each built-in report over the store's last 30 days, p50 of --runs
           runs: DuckDB, the ClickHouse server (as the report API runs it:
           read-only connection, limits), and a current ClickHouse release in
           process (chDB) over the same rows, exact and with approximate
           distinct counts (``count_distinct_implementation = uniq``). A report
           the server's SQL cannot parse (Debian's 18.16 is old) shows as "-",
           one stopped after --timeout seconds as "inf".
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "tests")]

from chdb_store import ChdbStore  # noqa: E402
from clickhouse_driver import Client  # noqa: E402
from etl import corpus, etl  # noqa: E402
from queries import DAYS, START, build_duckdb  # noqa: E402

from crumby.etl.clickhouse import write_arrow  # noqa: E402
from crumby.queries import find_templates  # noqa: E402
from crumby.queries.run import QueryFailed, execute, prepare  # noqa: E402
from crumby.store.clickhouse import SESSION_ROWS  # noqa: E402
from crumby.store.engine import create_engine  # noqa: E402
from crumby.store.migrations import ensure_schema  # noqa: E402
from crumby.store.readonly import QueryTimeout, close_readers  # noqa: E402
from tests.clickhouse_server import start  # noqa: E402

BATCH_ROWS = 60_000  # about one ETL batch (32 MB of raw lines)
COPIED = ("visits", "events", "calendar")


def database(server, name: str) -> str:
    Client("127.0.0.1", port=server.tcp_port).execute(f"DROP DATABASE IF EXISTS {name}")
    Client("127.0.0.1", port=server.tcp_port).execute(f"CREATE DATABASE {name}")
    return server.url(name)


def arrow_batches(source: Path, sql: str):
    conn = duckdb.connect(str(source), read_only=True)
    try:
        relation = conn.sql(sql)
        reader = getattr(relation, "to_arrow_reader", None) or relation.record_batch  # DuckDB 2 or 1
        yield from reader(BATCH_ROWS)
    finally:
        conn.close()


def server_cpu(server) -> float:
    """CPU seconds (user and system, every thread) the server process has used so far."""
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def copy_store(source: Path, url: str, chdb: ChdbStore, server) -> tuple[int, float, float, float]:
    """The DuckDB store's rows into ClickHouse (timed: the ETL's writer), then into chDB.

    Returns the hits, the writer's wall seconds, its own CPU seconds and the server's over the
    same time (its background merges included). chDB is filled after, not between the writes:
    it runs in this process, and its threads would take the cores from the writes and count in
    the writer's CPU time.
    """
    engine = create_engine(url)
    ensure_schema(engine)
    hits, seconds, cpu, served = 0, 0.0, 0.0, 0.0
    with engine.connect() as conn:
        for table in COPIED:
            for batch in arrow_batches(source, f"SELECT * FROM {table}"):
                rows = pa.Table.from_batches([batch])
                started, used, busy = time.perf_counter(), time.process_time(), server_cpu(server)
                write_arrow(conn, table, rows)
                seconds += time.perf_counter() - started
                cpu += time.process_time() - used
                served += server_cpu(server) - busy
                hits += rows.num_rows if table != "calendar" else 0
        for batch in arrow_batches(source, "SELECT *, CAST(1 AS BIGINT) AS version FROM sessions"):
            write_arrow(conn, SESSION_ROWS, pa.Table.from_batches([batch]))
    engine.dispose()
    for table in COPIED:
        for batch in arrow_batches(source, f"SELECT * FROM {table}"):
            chdb.insert(table, pa.Table.from_batches([batch]))
    for batch in arrow_batches(source, "SELECT *, CAST(1 AS BIGINT) AS version FROM sessions"):
        chdb.insert(SESSION_ROWS, pa.Table.from_batches([batch]))
    return hits, seconds, cpu, served


def approximate(query):
    """The report with its distinct counts approximate (``uniq``), as a server profile may set them."""
    return dataclasses.replace(query, sql=query.sql + "\nSETTINGS count_distinct_implementation = 'uniq'")


def p50_ms(action, runs: int) -> float | None:
    """The median wall time of ``runs`` runs; None when the server cannot run it, inf when it times out."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        try:
            action()
        except QueryFailed:
            return None
        except QueryTimeout:
            return float("inf")
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=10_000_000, help="page views in the report store")
    parser.add_argument("--etl-hits", type=int, default=200_000, help="hits of the ETL corpus")
    parser.add_argument("--runs", type=int, default=9, help="runs of each report")
    parser.add_argument("--timeout", type=float, default=60, help="seconds a report may take")
    parser.add_argument("--no-etl", action="store_true", help="skip the end-to-end ETL runs")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/crumby-bench-clickhouse"))
    args = parser.parse_args()
    logging.getLogger("crumby.queries.run").setLevel(logging.ERROR)  # 18.16's refusals, shown as "-"
    args.workdir.mkdir(parents=True, exist_ok=True)
    (server,) = start([args.workdir / f"server-{time.time_ns()}"])
    try:
        folder = corpus(args.workdir, args.etl_hits, 7) if not args.no_etl else None
        for name, url in (
            ("DuckDB", f"duckdb:///{args.workdir / 'etl.duckdb'}"),
            ("ClickHouse", database(server, "crumby_bench_etl")),
        )[: 0 if args.no_etl else 2]:
            (args.workdir / "etl.duckdb").unlink(missing_ok=True)
            measure = etl(folder, args.workdir, url)
            print(
                f"etl  {name:<10} {measure.hits:>9,} hits {measure.seconds:6.1f} s "
                f"{measure.hits / measure.seconds:>9,.0f} hits/s  cpu {measure.cpu_seconds:6.1f} s",
                flush=True,
            )

        store = args.workdir / f"store-{args.hits}.duckdb"
        if not store.exists():
            print(f"building a {args.hits:,}-hit DuckDB store (once) ...", flush=True)
            build_duckdb(store.with_suffix(".partial"), args.hits)
            store.with_suffix(".partial").rename(store)
        chdb = ChdbStore(args.workdir / f"chdb-{time.time_ns()}")
        url = database(server, "crumby_bench_reports")
        hits, seconds, cpu, served = copy_store(store, url, chdb, server)
        print(
            f"stored rows into ClickHouse: {hits:,} hits in {seconds:.1f} s, {hits / seconds:,.0f} hits/s "
            f"(the writer's CPU {cpu:.1f} s: {hits / cpu:,.0f} hits per CPU second; the server's "
            f"{served:.1f} s, {100 * served / (served + cpu):.0f}% of the two)"
        )
        on_disk = Client("127.0.0.1", port=server.tcp_port).execute(
            "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = 'crumby_bench_reports'"
        )[0][0]
        duck_bytes = store.stat().st_size
        print(
            f"bytes per hit: ClickHouse {on_disk / hits:.0f} (merged so far), "
            f"DuckDB {duck_bytes / hits:.0f} (with its daily figures)"
        )

        duck_url = f"duckdb:///{store}"
        window = {
            "t0": (START + timedelta(days=DAYS - 30)).isoformat(),
            "t1": (START + timedelta(days=DAYS)).isoformat(),
        }
        print(f"\nreport p50 over 30 days of {args.hits:,} hits, ms ({args.runs} runs each)")
        current = "CH " + ".".join(map(str, chdb.version))
        print(f"{'report':<28}{'DuckDB':>9}{'CH 18.16':>10}{current:>12}{current + ' uniq':>16}")
        for template in find_templates():
            raw = {**window, **({"prop": "plan"} if template.name == "event_props" else {})}
            duck_query, ch_query = prepare(template, raw, "duckdb"), prepare(template, raw, "clickhouse")
            rough_query = approximate(ch_query)
            times = [
                p50_ms(lambda q=duck_query: execute(q, duck_url, timeout=args.timeout), args.runs),
                p50_ms(lambda q=ch_query: execute(q, url, timeout=args.timeout), args.runs),
                p50_ms(lambda q=ch_query: chdb.run(q), args.runs),
                p50_ms(lambda q=rough_query: chdb.run(q), args.runs),
            ]
            cells = "".join(
                f"{t:>{w}.0f}" if t is not None else f"{'-':>{w}}"
                for t, w in zip(times, (9, 10, 12, 16), strict=True)
            )
            print(f"{template.visibility + '/' + template.name:<28}{cells}", flush=True)
        close_readers()
        chdb.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()

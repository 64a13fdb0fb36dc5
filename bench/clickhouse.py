"""Benchmark: ClickHouse as the store, beside DuckDB, in the same run.

    python bench/clickhouse.py --hits 10000000 --etl-hits 200000
    python bench/clickhouse.py --hits 2000000 --no-etl --no-reports --rows 60000,250000 --rounds 3
    python bench/clickhouse.py --etl-hits 1000000 --no-stored --etl-rounds 3 --etl-before DIR
    python bench/clickhouse.py --no-etl --filter source:is:Google

Starts a ClickHouse server of its own (the machine's clickhouse-server, in
--workdir, on free ports) and measures:

- etl:     ``crumby etl`` end to end over the same raw-log corpus, into DuckDB and
           into ClickHouse with each --etl-batch-bytes (and with an older crumby,
           --etl-before), in turns over --etl-rounds rounds (hits/s, CPU seconds of
           the run and of the server, peak RSS);
- stored:  the rows of a HITS-hit store (built as bench/queries.py builds it)
           written into ClickHouse by the ETL's own writer (crumby.etl.clickhouse:
           native blocks of --rows rows, by default the ETL's: BLOCK_ROWS), the ETL's
           Python work aside (hits/s); several --rows (60000: one ETL batch, as the
           ETL wrote them before) take turns over --rounds rounds, each into a fresh
           database, and their medians are shown;
- reports: each built-in report over the store's last 30 days, p50 of --runs
           runs: DuckDB, the ClickHouse server (as the report API runs it:
           read-only connection, limits), and a current ClickHouse release in
           process (chDB) over the same rows, exact and with approximate
           distinct counts (``count_distinct_implementation = uniq``). A report
           the server's SQL cannot parse (Debian's 18.16 is old) shows as "-",
           one stopped after --timeout seconds as "inf". With --filter, the reports
           that take filters run filtered so on every engine.
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

from crumby.etl.clickhouse import BLOCK_ROWS, write_arrow  # noqa: E402
from crumby.queries import find_templates  # noqa: E402
from crumby.queries.run import QueryFailed, execute, prepare  # noqa: E402
from crumby.store.clickhouse import SESSION_ROWS  # noqa: E402
from crumby.store.engine import create_engine  # noqa: E402
from crumby.store.migrations import ensure_schema  # noqa: E402
from crumby.store.readonly import QueryTimeout, close_readers  # noqa: E402
from tests.clickhouse_server import start  # noqa: E402

BATCH_ROWS = 60_000  # how the store is read for chDB
COPIED = ("visits", "events", "calendar")


def database(server, name: str) -> str:
    Client("127.0.0.1", port=server.tcp_port).execute(f"DROP DATABASE IF EXISTS {name}")
    Client("127.0.0.1", port=server.tcp_port).execute(f"CREATE DATABASE {name}")
    return server.url(name)


def arrow_batches(source: Path, sql: str, rows: int = BATCH_ROWS):
    """The query's rows as Arrow tables of ``rows`` rows (the last one shorter)."""
    conn = duckdb.connect(str(source), read_only=True)
    try:
        relation = conn.sql(sql)
        reader = getattr(relation, "to_arrow_reader", None) or relation.record_batch  # DuckDB 2 or 1
        pending, held = [], 0
        for batch in reader(min(rows, BATCH_ROWS)):
            pending.append(batch)
            held += batch.num_rows
            if held >= rows:
                whole = pa.Table.from_batches(pending)
                yield whole.slice(0, rows)
                rest = whole.slice(rows)
                pending, held = rest.to_batches(), rest.num_rows
        if held:
            yield pa.Table.from_batches(pending)
    finally:
        conn.close()


def server_cpu(server) -> float:
    """CPU seconds (user and system, every thread) the server process has used so far."""
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class Stored:
    """One write of the store's rows: hits, the writer's wall and CPU seconds, the server's CPU seconds."""

    hits: int
    seconds: float
    cpu: float
    served: float


def copy_store(source: Path, url: str, server, rows_per_insert: int) -> Stored:
    """The DuckDB store's rows into ClickHouse, timed: the ETL's writer, ``rows_per_insert`` a block.

    The server's CPU seconds are over the same time (its background merges included).
    """
    engine = create_engine(url)
    ensure_schema(engine)
    hits, seconds, cpu, served = 0, 0.0, 0.0, 0.0
    with engine.connect() as conn:
        for table in COPIED:
            for rows in arrow_batches(source, f"SELECT * FROM {table}", rows_per_insert):
                started, used, busy = time.perf_counter(), time.process_time(), server_cpu(server)
                write_arrow(conn, table, rows)
                seconds += time.perf_counter() - started
                cpu += time.process_time() - used
                served += server_cpu(server) - busy
                hits += rows.num_rows if table != "calendar" else 0
        for rows in arrow_batches(source, "SELECT *, CAST(1 AS BIGINT) AS version FROM sessions"):
            write_arrow(conn, SESSION_ROWS, rows)
    engine.dispose()
    return Stored(hits, seconds, cpu, served)


def fill_chdb(source: Path, chdb: ChdbStore) -> None:
    """The store's rows into chDB: after the timed writes, whose CPU time its threads would join."""
    for table in COPIED:
        for rows in arrow_batches(source, f"SELECT * FROM {table}"):
            chdb.insert(table, rows)
    for rows in arrow_batches(source, "SELECT *, CAST(1 AS BIGINT) AS version FROM sessions"):
        chdb.insert(SESSION_ROWS, rows)


def show_stored(rows_per_insert: int, writes: list[Stored]) -> None:
    """Medians (and the range of hits/s) of the writes of one block size."""
    rates = sorted(w.hits / w.seconds for w in writes)
    hits = writes[0].hits
    cpu, served = statistics.median(w.cpu for w in writes), statistics.median(w.served for w in writes)
    print(
        f"stored rows into ClickHouse, {rows_per_insert:,} rows per INSERT: {hits:,} hits, "
        f"median {statistics.median(rates):,.0f} hits/s ({rates[0]:,.0f} to {rates[-1]:,.0f}, "
        f"{len(writes)} runs); the writer's CPU {cpu:.1f} s ({hits / cpu:,.0f} hits per CPU second), "
        f"the server's {served:.1f} s ({100 * served / (served + cpu):.0f}% of the two); "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def measure_etl(args, server) -> None:
    """``crumby etl`` end to end into DuckDB, then into ClickHouse with each --etl-batch-bytes, in turns."""
    folder = corpus(args.workdir, args.etl_hits, 7)
    sizes = [int(size) for size in args.etl_batch_bytes.split(",")]
    runs: dict[str, list] = {}
    for _ in range(args.etl_rounds):
        variants = [("DuckDB", 0, None)] + [("ClickHouse", size, None) for size in sizes]
        if args.etl_before:
            variants.append(("ClickHouse, --etl-before", 0, args.etl_before))
        for name, size, code in variants:
            (args.workdir / "etl.duckdb").unlink(missing_ok=True)
            duck = f"duckdb:///{args.workdir / 'etl.duckdb'}"
            url = duck if name == "DuckDB" else database(server, "crumby_etl")
            label = name + (f", batches of {size >> 20} MiB" if size else "")
            busy = server_cpu(server)
            measure = etl(folder, args.workdir, url, ("--batch-bytes", str(size)) if size else (), code)
            served = server_cpu(server) - busy
            runs.setdefault(label, []).append((measure, served))
            print(
                f"etl  {label:<32} {measure.hits:>9,} hits {measure.seconds:6.1f} s "
                f"{measure.hits / measure.seconds:>9,.0f} hits/s  cpu {measure.cpu_seconds:6.1f} s  "
                f"server cpu {served:5.1f} s  peak RSS {measure.peak_rss_mib:5.0f} MiB  "
                f"load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    for label, measures in runs.items():
        rates = sorted(m.hits / m.seconds for m, _ in measures)
        cpu = statistics.median(m.cpu_seconds for m, _ in measures)
        print(
            f"etl  {label:<32} median {statistics.median(rates):,.0f} hits/s "
            f"({rates[0]:,.0f} to {rates[-1]:,.0f}), cpu {cpu:.1f} s, "
            f"server cpu {statistics.median(s for _, s in measures):.1f} s, "
            f"peak RSS up to {max(m.peak_rss_mib for m, _ in measures):.0f} MiB",
            flush=True,
        )


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
    parser.add_argument("--no-reports", action="store_true", help="skip the reports (and chDB)")
    parser.add_argument(
        "--etl-batch-bytes",
        default="0",
        help="raw bytes of the ETL's batches into ClickHouse (0: its default), or several taking turns",
    )
    parser.add_argument("--etl-rounds", type=int, default=1, help="ETL runs per store and batch size")
    parser.add_argument(
        "--etl-before",
        type=Path,
        help="also load into ClickHouse with the crumby package in this folder (git archive COMMIT crumby)",
    )
    parser.add_argument("--no-stored", action="store_true", help="skip the stored rows (and reports)")
    parser.add_argument(
        "--rows",
        default=f"{BLOCK_ROWS}",
        help="rows per INSERT of the stored rows, or several (comma-separated) taking turns",
    )
    parser.add_argument("--rounds", type=int, default=1, help="writes of the stored rows per --rows")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/crumby-bench-clickhouse"))
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="DIMENSION:OPERATOR:VALUE",
        help="run every report that takes filters filtered so (repeat for several), e.g. source:is:Google",
    )
    args = parser.parse_args()
    logging.getLogger("crumby.queries.run").setLevel(logging.ERROR)  # 18.16's refusals, shown as "-"
    args.workdir.mkdir(parents=True, exist_ok=True)
    (server,) = start([args.workdir / f"server-{time.time_ns()}"])
    try:
        if not args.no_etl:
            measure_etl(args, server)
        if args.no_stored:
            return
        store = args.workdir / f"store-{args.hits}.duckdb"
        if not store.exists():
            print(f"building a {args.hits:,}-hit DuckDB store (once) ...", flush=True)
            build_duckdb(store.with_suffix(".partial"), args.hits)
            store.with_suffix(".partial").rename(store)
        sizes = [int(size) for size in args.rows.split(",")]
        writes: dict[int, list[Stored]] = {size: [] for size in sizes}
        for _ in range(args.rounds):
            for size in sizes:
                url = database(server, "crumby_bench_reports")
                writes[size].append(copy_store(store, url, server, size))
                print(f"  {size:,} rows per INSERT: {writes[size][-1]}", flush=True)
        for size in sizes:
            show_stored(size, writes[size])
        hits = writes[sizes[-1]][-1].hits
        on_disk = Client("127.0.0.1", port=server.tcp_port).execute(
            "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = 'crumby_bench_reports'"
        )[0][0]
        duck_bytes = store.stat().st_size
        print(
            f"bytes per hit: ClickHouse {on_disk / hits:.0f} (merged so far), "
            f"DuckDB {duck_bytes / hits:.0f} (with its daily figures)"
        )

        if args.no_reports:
            return
        chdb = ChdbStore(args.workdir / f"chdb-{time.time_ns()}")
        fill_chdb(store, chdb)
        duck_url = f"duckdb:///{store}"
        window = {
            "t0": (START + timedelta(days=DAYS - 30)).isoformat(),
            "t1": (START + timedelta(days=DAYS)).isoformat(),
        }
        filtered = f", filtered by {' and '.join(args.filter)}" if args.filter else ""
        print(f"\nreport p50 over 30 days of {args.hits:,} hits{filtered}, ms ({args.runs} runs each)")
        current = "CH " + ".".join(map(str, chdb.version))
        print(f"{'report':<28}{'DuckDB':>9}{'CH 18.16':>10}{current:>12}{current + ' uniq':>16}")
        for template in find_templates():
            raw = {**window, **({"prop": "plan"} if template.name == "event_props" else {})}
            if args.filter and template.filters:
                raw["f"] = list(args.filter)
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

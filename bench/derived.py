"""Benchmark: what each derived table costs the ETL, and what it buys the reports.

    python bench/derived.py --backend duckdb                      # the ETL's share of each table
    python bench/derived.py --backend postgresql
    python bench/derived.py --reports /tmp/crumby-bench-queries/store-10000000.duckdb

**Costs.** bench/etl.py's corpus (1M hits by default) is loaded in this
process into a fresh store by the ETL itself, with a timer around each
derived table's step: the ``sessions`` rollup of each batch (on the writer's
thread, beside the next batch's preparing), then after the load the daily
tables, each step timed alone: ``document_days`` and ``origin_days``
(:func:`crumby.etl.daily.sum_day`, every day), ``visitor_days``, and
``page_visitor_days`` with ``page_day_figures``. After the load each daily step is
also run again ``--rounds`` times on every day (the days marked stale, each step
alone in its own transaction, rolled back), for medians of wall time, this
process's CPU and, on PostgreSQL, the server's (all its processes: the
steps run on a few connections there).

**What they buy.** ``--reports STORE`` (a DuckDB file or a PostgreSQL URL;
bench/queries.py builds a 10M-hit one) runs every report that reads a daily
table over its last 30 whole days, as rendered (the daily tables) and with
the daily tables left out (the rows they are summed from, as a range of part
days or a filtered report reads): p50 of ``--repeat`` fresh read-only runs of
each, interleaved.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

from etl import corpus, drop_postgres, fresh_postgres

from crumby.config import load_settings
from crumby.etl import daily, page_visitors, pipeline
from crumby.store import stale_days
from crumby.store.engine import backend_name, create_engine, room_to_sum

DAILY_STEPS = {
    "document_days + origin_days": lambda conn, days: [daily.sum_day(conn, d, clear=False) for d in days],
    "visitor_days": lambda conn, days: daily.rebuild_visitor_days(conn, days[0]),
    "page_visitor_days + page_day_figures": lambda conn, days: page_visitors.rebuild_days(conn, days),
}
# the reports that read a daily table over whole days, and the tables they read
REPORTS = {
    "summary": "visitor_days",
    "pages": "page_day_figures",
    "documents": "document_days",
    "origins": "origin_days",
}


def server_cpu() -> float:
    """CPU seconds of every PostgreSQL server process so far (0 where there is none)."""
    import psutil

    total = 0.0
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] and proc.info["name"].startswith("postgres"):
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
    return total


def own_cpu() -> float:
    return time.process_time()


class Timers:
    """Wall and CPU seconds per step; the CPU of the calling thread, or of the process."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.lock = threading.Lock()

    def wrap(self, name: str, function, per_thread: bool = False):
        clock = time.thread_time if per_thread else time.process_time

        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), clock()
            try:
                return function(*args, **kwargs)
            finally:
                with self.lock:
                    self.wall[name] += time.perf_counter() - wall
                    self.cpu[name] += clock() - cpu

        return timed


def load(folder: Path, url: str, data: Path) -> tuple[float, float, float, Timers]:
    """The ETL of ``folder`` into ``url`` in this process: (wall, CPU, server CPU, step timers)."""
    timers = Timers()
    settings = load_settings(
        environ={},
        overrides={
            "LOG_DIR": str(folder),
            "DATA_DIR": str(data),
            "SQLALCHEMY_DATABASE_URI": url,
            "RAW_LOG_RETENTION_DAYS": 0,
        },
    )
    patches = [
        mock.patch.object(
            pipeline, "update_rollup", timers.wrap("sessions", pipeline.update_rollup, per_thread=True)
        ),
        mock.patch.object(daily, "sum_day", timers.wrap("document_days + origin_days", daily.sum_day)),
        mock.patch.object(
            daily, "rebuild_visitor_days", timers.wrap("visitor_days", daily.rebuild_visitor_days)
        ),
        mock.patch.object(
            page_visitors,
            "rebuild_days",
            timers.wrap("page_visitor_days + page_day_figures", page_visitors.rebuild_days),
        ),
        mock.patch.object(
            pipeline._Run, "_sum_days", timers.wrap("daily sums, in all", pipeline._Run._sum_days)
        ),
    ]
    for patch in patches:
        patch.start()
    try:
        wall, cpu, server = time.perf_counter(), own_cpu(), server_cpu()
        report = pipeline.run(settings)
        wall, cpu, server = time.perf_counter() - wall, own_cpu() - cpu, server_cpu() - server
    finally:
        for patch in patches:
            patch.stop()
    print(f"loaded: {report.summary()}")
    return wall, cpu, server, timers


def steps_alone(url: str, rounds: int) -> dict[str, list[tuple[float, float, float]]]:
    """Each daily step on every day of the store, alone, ``rounds`` times in turns, rolled back."""
    engine = create_engine(url)
    with engine.connect() as conn:
        days = stale_days.days_with_page_views(conn)
    measured: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for _ in range(rounds):
        for name, step in DAILY_STEPS.items():
            with engine.connect() as conn:
                transaction = conn.begin()
                room_to_sum(conn)
                stale_days.mark_stale(conn, days)
                wall, cpu, server = time.perf_counter(), own_cpu(), server_cpu()
                step(conn, days)
                measured[name].append((time.perf_counter() - wall, own_cpu() - cpu, server_cpu() - server))
                transaction.rollback()
    engine.dispose()
    return measured


def costs(args) -> None:
    folder = corpus(args.cache, args.hits, args.seed)
    with tempfile.TemporaryDirectory(prefix="crumby-derived-") as work:
        work = Path(work)
        url = fresh_postgres() if args.backend == "postgresql" else f"duckdb:///{work / 'store.duckdb'}"
        try:
            wall, cpu, server, timers = load(folder, url, work / "data")
            print(f"\n{args.backend}: {args.hits:,} hits, a fresh store, the ETL in this process")
            print(
                f"  the whole ETL: {wall:.2f} s wall, {cpu:.1f} s CPU (this process),"
                f" {server:.1f} s server CPU"
            )
            print(f"  {'step (during the load)':40} {'wall':>8} {'share':>6} {'CPU':>7}")
            for name in ["sessions", *DAILY_STEPS, "daily sums, in all"]:
                clock = "thread CPU" if name == "sessions" else "CPU"
                print(
                    f"  {name:40} {timers.wall[name]:>7.2f}s {timers.wall[name] / wall:>6.1%} "
                    f"{timers.cpu[name]:>6.1f}s ({clock})"
                )
            measured = steps_alone(url, args.rounds)
            print(
                f"\n  {'each daily step alone, every day':40} {'wall':>8} {'CPU':>7} {'server':>7}"
                f"  (medians of {args.rounds})"
            )
            for name, runs in measured.items():
                wall_s, cpu_s, server_s = (statistics.median(r[n] for r in runs) for n in range(3))
                print(f"  {name:40} {wall_s:>7.2f}s {cpu_s:>6.1f}s {server_s:>6.1f}s")
        finally:
            if args.backend == "postgresql":
                drop_postgres()


def reports(args) -> None:
    from queries import DAYS, START, Direct

    from crumby.queries import find_templates
    from crumby.queries import render as rendering
    from crumby.queries.run import prepare

    store = args.reports
    url = store if "://" in store else f"duckdb:///{store}"
    backend = backend_name(create_engine(url))
    last_day = START + timedelta(days=DAYS - 1)
    window = {"from": f"{last_day - timedelta(days=29):%Y-%m-%d}", "to": f"{last_day:%Y-%m-%d}"}
    direct = Direct(url, backend)
    templates = {t.name: t for t in find_templates()}
    print(f"\n{backend}: {store}, window {window['from']}..{window['to']} (p50 of {args.repeat}, ms)")
    print(f"  {'report':12} {'reads':18} {'with it':>9} {'without':>9} {'ratio':>7}")
    try:
        for name, table in REPORTS.items():
            with_table = prepare(templates[name], window, backend)
            with (
                mock.patch.object(rendering, "_whole_days", lambda values: False),
                mock.patch.dict(rendering._rendered, clear=True),  # rendered anew, not from memory
            ):
                without = prepare(templates[name], window, backend)
            if str(without.clause()) == str(with_table.clause()):
                raise SystemExit(f"{name}: the same SQL without the daily tables")
            fast, slow = [], []
            for _ in range(args.repeat):
                for query, samples in ((with_table, fast), (without, slow)):
                    started = time.perf_counter()
                    direct.run(query, fresh=True)
                    samples.append(time.perf_counter() - started)
            fast_ms, slow_ms = statistics.median(fast) * 1000, statistics.median(slow) * 1000
            print(f"  {name:12} {table:18} {fast_ms:>9.1f} {slow_ms:>9.1f} {slow_ms / fast_ms:>6.1f}x")
    finally:
        if direct.warm is not None:
            direct.warm.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("duckdb", "postgresql"), default="duckdb")
    parser.add_argument("--hits", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each daily step alone")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "crumby-bench")
    parser.add_argument("--reports", metavar="STORE", help="only the reports' side, on this store")
    parser.add_argument("--repeat", type=int, default=7, help="runs of each report and way")
    args = parser.parse_args(argv)
    if args.reports:
        reports(args)
    else:
        costs(args)


if __name__ == "__main__":
    main()

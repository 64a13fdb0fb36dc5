"""Time `crumby etl` against a bare `duckdb read_json` of the same raw logs, and its load into PostgreSQL.

The corpus (bench/corpus.py: 1M hits by default, over 20k distinct user
agents with crawlers, over 100k distinct IPs, UTM-tagged pages with click ids,
referrers, events with props) is written once into a cache folder outside the
repository and reused. Every measured step runs as a child process: the ETL
into a fresh DuckDB file, then a bare ``read_json`` of the same files into a
table of a fresh DuckDB file, in alternating order over a few rounds, so that
noise from other work on the machine falls on both alike; the figures are
medians. Peak RSS is the child's own (``wait4``).

GoAccess (Debian's ``goaccess``, C) is the peer: the same hits written once as
a combined access log (bench/combined_log.py), read with the GeoLite2 City
database that crumby itself uses, into an HTML report file, in the same rounds
as the ETL, interleaved with it. Its wall and CPU time and peak RSS stand
beside crumby's, with the ratio crumby ETL / GoAccess.

A third child times the store alone storing the rows the ETL made (visits,
events, sessions, read back from the first round's DuckDB store as Arrow)
into a fresh store, in the ETL's statement and transaction sizes: DuckDB by
INSERT from Arrow, PostgreSQL by COPY, as the ETL writes them. That is the
part of the ETL's time the store's own writing takes, whatever the ETL does
around it.

With ``--cron-day``, each backend also loads the corpus's days but the last
into a fresh store (untimed), then times the run that loads the last day onto
it: what cron does every day to a store that already holds days (keeping the
data folder between the two, as cron's runs do). ``--before DIR`` times the
same with another version of the ``crumby`` package in turns with this one.

    python bench/etl.py [--hits 1000000] [--rounds 3] [--backend duckdb|postgresql|all]
                                       [--growth] [--cron-day [--before DIR]] [--cache /tmp/crumby-bench]
                                       [--postgres-database crumby_bench_etl]

Targets: ETL time <= 3.5x the bare read (wall and CPU) and <= 0.7x GoAccess's, peak RSS <= 1 GiB
and not growing with the backlog (``--growth`` loads twice the hits once and
compares), PostgreSQL load >= 50k hits/s (a fresh database of that name on
127.0.0.1:5432, user postgres, dropped and made anew each round).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from combined_log import combined_log  # noqa: E402
from corpus import VERSION, write_corpus  # noqa: E402

TARGET_RATIO = 3.5
TARGET_GOACCESS_RATIO = 0.7
TARGET_RSS_MIB = 1024
TARGET_POSTGRES_HITS_PER_S = 50_000
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_BENCH_DB = "crumby_bench_etl"  # --postgres-database
READ_JSON = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("SET enable_progress_bar = false")
con.execute("CREATE TABLE hits AS SELECT * FROM read_json(?, format = 'newline_delimited')", [sys.argv[2]])
print(con.execute("SELECT COUNT(*) FROM hits").fetchone()[0])
con.close()
"""
STORE_ALONE = """
import sys, time, duckdb
from crumby.etl.pg_copy import copy_into
from crumby.etl.pipeline import BATCHES_PER_TRANSACTION
from crumby.store.engine import create_engine
from crumby.store.migrations import ensure_schema
source, target, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = {}
with duckdb.connect(source, read_only=True) as con:
    for table, order in (("visits", "id"), ("events", "id"), ("sessions", "started")):
        relation = con.sql(f"SELECT * FROM {table} ORDER BY {order}")
        rows[table] = (getattr(relation, "to_arrow_table", None) or relation.arrow)()
engine = create_engine(target)
ensure_schema(engine)
duck = engine.url.get_backend_name() == "duckdb"
if duck:
    engine.dispose()
spent = dict.fromkeys([*rows, "commits"], 0.0)
started, cpu = time.perf_counter(), time.process_time()
for first in range(0, batches, BATCHES_PER_TRANSACTION):
    # a connection per transaction, as the ETL's writer has
    con = duckdb.connect(engine.url.database) if duck else engine.connect()
    con.execute("BEGIN") if duck else con.begin()
    for batch in range(first, min(first + BATCHES_PER_TRANSACTION, batches)):
        for table, all_rows in rows.items():
            low, high = all_rows.num_rows * batch // batches, all_rows.num_rows * (batch + 1) // batches
            _r = all_rows.slice(low, high - low)
            at = time.perf_counter()
            if duck:
                con.execute(f"INSERT INTO {table} SELECT * FROM _r")
            else:
                copy_into(con, table, ", ".join(f'"{name}"' for name in _r.column_names), _r)
            spent[table] += time.perf_counter() - at
    at = time.perf_counter()
    con.execute("COMMIT") if duck else con.commit()
    con.close()
    spent["commits"] += time.perf_counter() - at
print(", ".join(f"{name} {seconds:.2f} s" for name, seconds in spent.items()))
print(time.perf_counter() - started, time.process_time() - cpu, sum(t.num_rows for t in rows.values()))
"""
SUMMARY = re.compile(r"(\d+) hits loaded.*?, (\d+) rejected")


@dataclass
class Measure:
    seconds: float
    peak_rss_mib: float
    hits: int
    cpu_seconds: float = 0.0  # user + system: less moved by other work on the machine than wall time
    parts: str = ""  # where the time went, when the child says


def corpus(cache: Path, hits: int, seed: int) -> Path:
    """The folder of the corpus's raw log files, written on first use."""
    folder = cache / f"hits-{hits}-seed-{seed}-v{VERSION}"
    if folder.is_dir() and all(p.suffix == ".jsonl" for p in folder.iterdir()):
        return folder
    shutil.rmtree(folder, ignore_errors=True)  # changed by a run with retention on: made anew
    print(f"writing a {hits:,}-hit corpus into {folder} (once) ...", flush=True)
    partial = cache / f"{folder.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    write_corpus(partial, hits, seed=seed)
    partial.rename(folder)
    return folder


def warm(folder: Path) -> int:
    """Read every file once, so that all contenders start from the page cache; returns bytes."""
    return sum(warm_file(path) for path in folder.glob("hits-*.jsonl"))


def warm_file(path: Path) -> int:
    total = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(16 << 20):
            total += len(chunk)
    return total


def run_child(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """Wall seconds, peak RSS (MiB), CPU seconds and stdout of one child process; stops on failure."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        # no standard input: GoAccess would read a pipe as more log lines
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if child.returncode != 0:
        sys.exit(f"{' '.join(command[:4])} ... failed ({child.returncode}):\n{stderr}{stdout}")
    return seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, stdout


def duckdb_read(folder: Path, workdir: Path) -> Measure:
    target = workdir / "read.duckdb"
    target.unlink(missing_ok=True)
    seconds, rss, cpu, stdout = run_child(
        [sys.executable, "-c", READ_JSON, str(target), str(folder / "hits-*.jsonl")]
    )
    target.unlink()
    return Measure(seconds, rss, int(stdout.split()[-1]), cpu)


def goaccess(log: Path, workdir: Path, hits: int) -> Measure:
    """GoAccess over the combined log, with the GeoLite2 City database crumby uses, into an HTML file.

    ``hits`` is what the Measure carries (the log's lines are the ETL's hits: set from its figure).
    """
    from crumby.etl.enrich.geo import bundled_database

    report = workdir / "goaccess.html"
    command = [
        "goaccess",
        str(log),
        "--log-format=COMBINED",
        f"--geoip-database={bundled_database()}",
        f"--output={report}",
        "--no-global-config",
        "--no-progress",
    ]
    seconds, rss, cpu, _ = run_child(command)
    if not report.is_file():
        sys.exit("GoAccess wrote no report")
    report.unlink()
    return Measure(seconds, rss, hits, cpu)


def etl(
    folder: Path,
    workdir: Path,
    store_url: str,
    options: tuple[str, ...] = (),
    code: Path | None = None,
    fresh_data: bool = True,
) -> Measure:
    """`crumby etl -v` (and ``options``) from a fresh data folder into ``store_url`` (which must be empty).

    ``code``: a folder holding another version of the ``crumby`` package (``git archive COMMIT crumby``
    unpacked there), run instead of this one. ``fresh_data=False`` keeps the data folder of the run
    before, as cron's runs do (and with it the user agents' answers that run kept).
    """
    data = workdir / "data"
    if fresh_data:
        shutil.rmtree(data, ignore_errors=True)
    env = {
        **os.environ,
        "CRUMBY_LOG_DIR": str(folder),
        "CRUMBY_DATA_DIR": str(data),
        "CRUMBY_SQLALCHEMY_DATABASE_URI": store_url,
        # the cached corpus has fixed dates, long past: retention would compress it after one run
        "CRUMBY_RAW_LOG_RETENTION_DAYS": "0",
    }
    crumby = ["-m", "crumby"]
    if code is not None:
        start = f"import runpy, sys; sys.path.insert(0, {str(code)!r}); "
        start += "runpy.run_module('crumby', run_name='__main__')"
        crumby = ["-c", start]
    seconds, rss, cpu, stdout = run_child([sys.executable, *crumby, "etl", "-v", *options], env)
    found = SUMMARY.search(stdout)
    if not found:
        sys.exit(f"cannot read the ETL's summary line: {stdout!r}")
    return Measure(seconds, rss, int(found.group(1)), cpu)


def etl_duckdb(folder: Path, workdir: Path, keep: Path | None = None) -> Measure:
    """The ETL into a fresh DuckDB file, which is moved to ``keep`` if given (else deleted)."""
    target = workdir / "etl.duckdb"
    target.unlink(missing_ok=True)
    try:
        measure = etl(folder, workdir, f"duckdb:///{target}")
        if keep is not None:
            target.rename(keep)
        return measure
    finally:
        target.unlink(missing_ok=True)


def store_alone(source: Path, workdir: Path, batches: int, postgres: bool = False) -> Measure:
    """The rows of the ETL's DuckDB store ``source`` stored anew, ``batches`` statements per table.

    Into a fresh DuckDB file, or with ``postgres`` a fresh PostgreSQL database (by COPY, as the ETL).
    """
    target = workdir / "alone.duckdb"
    target.unlink(missing_ok=True)
    url = fresh_postgres() if postgres else f"duckdb:///{target}"
    try:
        _, rss, _, stdout = run_child([sys.executable, "-c", STORE_ALONE, str(source), url, str(batches)])
    finally:
        target.unlink(missing_ok=True)
        if postgres:
            drop_postgres()
    parts, total = stdout.strip().splitlines()[-2:]
    seconds, cpu, rows = total.split()  # the storing's own, not the child's set-up
    return Measure(float(seconds), rss, int(rows), float(cpu), parts)


def fresh_postgres() -> str:
    """An empty database for the benchmark (dropped and made anew); its URL."""
    import psycopg

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", POSTGRES_BENCH_DB):
        sys.exit(f"--postgres-database {POSTGRES_BENCH_DB!r}: lower-case letters, digits and _ only")
    try:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {POSTGRES_BENCH_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {POSTGRES_BENCH_DB}")
    except psycopg.OperationalError as exc:
        sys.exit(f"PostgreSQL at 127.0.0.1:5432 (user postgres) is needed for --backend postgresql: {exc}")
    return f"postgresql://postgres@127.0.0.1:5432/{POSTGRES_BENCH_DB}"


def drop_postgres() -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {POSTGRES_BENCH_DB} WITH (FORCE)")


def etl_postgres(folder: Path, workdir: Path) -> Measure:
    try:
        return etl(folder, workdir, fresh_postgres())
    finally:
        drop_postgres()


def median(measures: list[Measure], what: str) -> float:
    return statistics.median(getattr(m, what) for m in measures)


def show(name: str, measures: list[Measure]) -> None:
    seconds = median(measures, "seconds")
    hits = measures[0].hits
    rounds = ", ".join(f"{m.seconds:.1f}" for m in measures)
    print(
        f"{name:<22} {seconds:7.2f} s  {hits / seconds:>9,.0f} hits/s  "
        f"CPU {median(measures, 'cpu_seconds'):5.1f} s  "
        f"peak RSS {median(measures, 'peak_rss_mib'):6.0f} MiB  (rounds: {rounds} s)"
    )


def against_goaccess(name: str, loads: list[Measure], peers: list[Measure]) -> None:
    """crumby's ETL beside GoAccess over the same hits: time ratios and both peak RSS figures."""
    show("goaccess (with GeoIP)", peers)
    wall = median(loads, "seconds") / median(peers, "seconds")
    cpu = median(loads, "cpu_seconds") / median(peers, "cpu_seconds")
    per_round = ", ".join(f"{e.seconds / g.seconds:.2f}" for g, e in zip(peers, loads, strict=True))
    print(
        f"ratio {name} / GoAccess: wall {wall:.2f}, CPU {cpu:.2f} (target <= {TARGET_GOACCESS_RATIO}; "
        f"per round: {per_round}); peak RSS {max(m.peak_rss_mib for m in loads):.0f} MiB "
        f"vs GoAccess {max(m.peak_rss_mib for m in peers):.0f} MiB"
    )


def bench_duckdb(folder: Path, workdir: Path, rounds: int, stored: Path, batches: int, log: Path) -> float:
    """Read, ETL, GoAccess and storing alone, alternated; the first ETL's store is kept at ``stored``."""
    reads: list[Measure] = []
    loads: list[Measure] = []
    peers: list[Measure] = []
    alone: list[Measure] = []
    for n in range(rounds):
        order = (reads, loads, peers) if n % 2 == 0 else (peers, loads, reads)
        for measures in order:
            if measures is reads:
                measures.append(duckdb_read(folder, workdir))
            elif measures is peers:
                measures.append(goaccess(log, workdir, 0))
            else:
                measures.append(etl_duckdb(folder, workdir, keep=None if stored.exists() else stored))
        alone.append(store_alone(stored, workdir, batches))
        print(
            f"  round {n + 1}: read {reads[-1].seconds:.1f} s, etl {loads[-1].seconds:.1f} s, "
            f"goaccess {peers[-1].seconds:.1f} s, "
            f"storing alone {alone[-1].seconds:.1f} s ({alone[-1].parts})",
            flush=True,
        )
    for measure in peers:
        measure.hits = loads[0].hits
    show("duckdb read_json", reads)
    show("crumby etl (duckdb)", loads)
    ratio = median(loads, "seconds") / median(reads, "seconds")
    print(
        f"DuckDB storing the ETL's {alone[0].hits:,} rows alone (visits, events, sessions; in the ETL's "
        f"statement and transaction sizes): {median(alone, 'seconds'):.2f} s, "
        f"{median(alone, 'seconds') / median(reads, 'seconds'):.2f}x the read; "
        f"CPU {median(alone, 'cpu_seconds'):.1f} s"
    )
    per_round = ", ".join(f"{e.seconds / r.seconds:.2f}" for r, e in zip(reads, loads, strict=True))
    rss = max(m.peak_rss_mib for m in loads)
    print(f"ratio etl / read: {ratio:.2f} (target <= {TARGET_RATIO}; per round: {per_round})")
    print(f"ETL peak RSS: {rss:.0f} MiB (target <= {TARGET_RSS_MIB})")
    if reads[0].hits != loads[0].hits:
        print(f"note: the read made {reads[0].hits} rows, the ETL loaded {loads[0].hits} hits")
    against_goaccess("crumby etl (duckdb)", loads, peers)
    return rss


def bench_postgres(folder: Path, workdir: Path, rounds: int, stored: Path, batches: int, log: Path) -> None:
    """The ETL into PostgreSQL beside GoAccess, and the same rows stored alone by COPY (from ``stored``)."""
    if not stored.exists():
        etl_duckdb(folder, workdir, keep=stored)
    loads: list[Measure] = []
    peers: list[Measure] = []
    alone = []
    for n in range(rounds):
        if n % 2:
            peers.append(goaccess(log, workdir, 0))
        loads.append(etl_postgres(folder, workdir))
        if not n % 2:
            peers.append(goaccess(log, workdir, 0))
        alone.append(store_alone(stored, workdir, batches, postgres=True))
        print(
            f"  round {n + 1}: etl into PostgreSQL {loads[-1].seconds:.1f} s, "
            f"goaccess {peers[-1].seconds:.1f} s, "
            f"storing alone {alone[-1].seconds:.1f} s ({alone[-1].parts})",
            flush=True,
        )
    for measure in peers:
        measure.hits = loads[0].hits
    show("crumby etl (postgresql)", loads)
    rate = loads[0].hits / median(loads, "seconds")
    print(f"PostgreSQL load: {rate:,.0f} hits/s (target >= {TARGET_POSTGRES_HITS_PER_S:,})")
    seconds = median(alone, "seconds")
    print(
        f"PostgreSQL storing the ETL's {alone[0].hits:,} rows alone (COPY into visits, events, sessions "
        f"with their indexes, in the ETL's sizes): {seconds:.2f} s, {loads[0].hits / seconds:,.0f} hits/s"
    )
    against_goaccess("crumby etl (postgresql)", loads, peers)


def cron_day(
    folder: Path, workdir: Path, store_url: str, code: Path | None = None
) -> tuple[Measure, Measure]:
    """The corpus's days but the last loaded into the store at ``store_url``, then the last day alone.

    The second run is what cron does each day to a store that already holds
    days: it is timed on its own. A fresh store cannot show what that costs
    (statistics not yet aware of the day just loaded, a day's figures beside
    the days before), and that is where a run of 646 s once hid. The day's
    run keeps the data folder of the run before, as cron's runs do. ``code``:
    as for :func:`etl`.
    """
    staged = workdir / "cron-logs"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir()
    files = sorted(folder.glob("hits-*"))
    last_day = max(_day_of(path) for path in files)
    for path in files:
        if _day_of(path) != last_day:
            _stage(path, staged)
    try:
        earlier = etl(staged, workdir, store_url, code=code)
        for path in files:
            if _day_of(path) == last_day:
                _stage(path, staged)
        return earlier, etl(staged, workdir, store_url, code=code, fresh_data=False)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _day_of(path: Path) -> str:
    """YYYYMMDD of a raw log file named ``hits-YYYYMMDDHH-WRITER.jsonl``."""
    return path.name.removeprefix("hits-")[:8]


def _stage(path: Path, folder: Path) -> None:
    """``path`` into ``folder``: a hard link, or a copy where the two lie on different file systems."""
    try:
        os.link(path, folder / path.name)
    except OSError:
        shutil.copyfile(path, folder / path.name)


def bench_cron_day(
    folder: Path, workdir: Path, rounds: int, backends: tuple[str, ...], before: Path | None = None
) -> None:
    """A cron run of one day onto a store holding the days before, on each of ``backends``; with
    ``before`` (a folder as ``code`` of :func:`etl`), that version's too, in turns with this one."""
    versions = {"": None, **({" before": before} if before else {})}
    for backend in backends:
        days: dict[str, list[Measure]] = {name: [] for name in versions}
        for _ in range(rounds):
            for name, code in versions.items():
                earlier, day = _cron_day_on(backend, folder, workdir, code)
                days[name].append(day)
                print(
                    f"  {backend}{name}: the days before ({earlier.hits:,} hits) {earlier.seconds:.1f} s; "
                    f"the last day's cron run {day.seconds:.1f} s",
                    flush=True,
                )
        for name, measures in days.items():
            show(f"cron day ({backend}){name}", measures)
        if before:
            now, then = (median(days[name], "seconds") for name in versions)
            cpu_now, cpu_then = (median(days[name], "cpu_seconds") for name in versions)
            print(f"cron day ({backend}) now / before: wall {now / then:.2f}, CPU {cpu_now / cpu_then:.2f}")


def _cron_day_on(backend: str, folder: Path, workdir: Path, code: Path | None) -> tuple[Measure, Measure]:
    with fresh_store(workdir, backend, "cron.duckdb") as url:
        return cron_day(folder, workdir, url, code=code)


@contextlib.contextmanager
def fresh_store(workdir: Path, backend: str = "duckdb", name: str = "etl.duckdb") -> Iterator[str]:
    """The URL of an empty store, gone afterwards: a DuckDB file ``name`` in ``workdir``, or a fresh
    PostgreSQL database."""
    if backend == "postgresql":
        try:
            yield fresh_postgres()
        finally:
            drop_postgres()
        return
    target = workdir / name
    target.unlink(missing_ok=True)
    try:
        yield f"duckdb:///{target}"
    finally:
        target.unlink(missing_ok=True)


def bench_growth(cache: Path, workdir: Path, hits: int, seed: int, rss: float | None) -> None:
    """Peak RSS of one ETL of twice the backlog, beside the figure for ``hits``."""
    if rss is None:
        rss = etl_duckdb(corpus(cache, hits, seed), workdir).peak_rss_mib
    bigger = corpus(cache, 2 * hits, seed)
    warm(bigger)
    measure = etl_duckdb(bigger, workdir)
    print(
        f"peak RSS for {hits:,} hits: {rss:.0f} MiB; for {2 * hits:,} hits: {measure.peak_rss_mib:.0f} MiB "
        f"({measure.seconds:.1f} s, {measure.hits / measure.seconds:,.0f} hits/s)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", choices=("duckdb", "postgresql", "all"), default="all")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--growth", action="store_true", help="also load twice the hits once: peak RSS")
    parser.add_argument(
        "--cron-day",
        action="store_true",
        help="also time a run of the corpus's last day onto a store holding the days before",
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="with --cron-day: also time the crumby package in this folder (`git archive COMMIT crumby`)",
    )
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "crumby-bench")
    parser.add_argument(
        "--postgres-database", default="crumby_bench_etl", help="made anew and dropped: not one in use"
    )
    args = parser.parse_args(argv)
    global POSTGRES_BENCH_DB
    POSTGRES_BENCH_DB = args.postgres_database
    args.cache.mkdir(parents=True, exist_ok=True)
    folder = corpus(args.cache, args.hits, args.seed)
    size = warm(folder)
    print(f"corpus: {args.hits:,} hits, {size / 1e6:,.0f} MB in {len(list(folder.glob('hits-*')))} files")
    log = combined_log(folder, args.cache / f"{folder.name}.access.log")
    warm_file(log)
    from crumby.etl.pipeline import DEFAULT_BATCH_BYTES

    batches = max(round(size / DEFAULT_BATCH_BYTES), 1)  # the ETL's batches, as statements per table
    with tempfile.TemporaryDirectory(prefix="crumby-bench-etl-") as work:
        workdir = Path(work)
        stored = workdir / "stored.duckdb"  # the first ETL's store: the rows to store alone
        rss = None
        if args.backend in ("duckdb", "all"):
            rss = bench_duckdb(folder, workdir, args.rounds, stored, batches, log)
        if args.backend in ("postgresql", "all"):
            bench_postgres(folder, workdir, args.rounds, stored, batches, log)
        if args.growth:
            bench_growth(args.cache, workdir, args.hits, args.seed, rss)
        if args.cron_day:
            backends = ("duckdb", "postgresql") if args.backend == "all" else (args.backend,)
            bench_cron_day(folder, workdir, args.rounds, backends, args.before)


if __name__ == "__main__":
    main()

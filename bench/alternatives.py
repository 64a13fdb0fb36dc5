"""Two other designs for the parts of a fresh DuckDB load, each timed alone against the ETL's own way.

Reading: the ETL reads a batch's raw lines with pyarrow's JSON reader,
against an explicit schema (crumby/etl/parse.py). The other way is DuckDB's
``read_json`` with explicit column types (``props`` as JSON text), to Arrow.
Both read the corpus's files, pyarrow each file as the ETL reads a chunk,
DuckDB a batch's worth of files at a time, and do no check: this compares
the readers alone.

Storing: the ETL writes each batch's rows with one INSERT per table, four
batches to a transaction (crumby/etl/pipeline.py). The other way holds a
transaction's rows and writes them with one INSERT per table at its commit,
with DuckDB free to reorder them (``preserve_insertion_order = false``, which
lets it write row groups on several threads) or not. Each stores the rows the
ETL made (read back from its store) into a fresh DuckDB file.

Every variant runs in a child process, in turns with the others, ``--rounds``
times; the figures are medians of wall and CPU seconds (the child's own, from
its first read to its last write) and, for storing, the store file's size.

    python bench/alternatives.py [--hits 1000000] [--rounds 3] [--cache /tmp/crumby-bench]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from etl import corpus, etl_duckdb, run_child, warm  # noqa: E402

READ = """
import resource, sys, time
from pathlib import Path
way, folder, per_batch = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
files = sorted(folder.glob("hits-*.jsonl"))
groups = [files[n : n + per_batch] for n in range(0, len(files), per_batch)]
if way == "pyarrow":
    import pyarrow as pa, pyarrow.json as pj
    from crumby.etl.parse import PARSE_OPTIONS, READ_OPTIONS
else:
    import duckdb
    from crumby.etl.parse import STRING_FIELDS
    con = duckdb.connect()
    texts = [f"'{name}': 'VARCHAR'" for name in STRING_FIELDS]
    columns = ", ".join([*texts, "'v': 'BIGINT'", "'props': 'JSON'"])
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
started, spent, rows = time.perf_counter(), cpu(), 0
for group in groups:
    if way == "pyarrow":  # a reader per file, as the ETL has one per chunk (a file's new lines)
        for path in group:
            data = pa.BufferReader(path.read_bytes())
            rows += pj.read_json(data, read_options=READ_OPTIONS, parse_options=PARSE_OPTIONS).num_rows
    else:
        relation = con.sql(
            f"SELECT * FROM read_json(?, format = 'newline_delimited', columns = {{{columns}}})",
            params=[[str(path) for path in group]],
        )
        rows += relation.to_arrow_table().num_rows
print(time.perf_counter() - started, cpu() - spent, rows)
"""

STORE = """
import os, resource, sys, time
import duckdb
from crumby.etl.pipeline import BATCHES_PER_TRANSACTION
from crumby.store.engine import create_engine
from crumby.store.migrations import ensure_schema
way, source, target, batches = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rows = {}
with duckdb.connect(source, read_only=True) as con:
    for table, order in (("visits", "id"), ("events", "id"), ("sessions", "started")):
        rows[table] = con.sql(f"SELECT * FROM {table} ORDER BY {order}").to_arrow_table()
engine = create_engine(f"duckdb:///{target}")
ensure_schema(engine)
engine.dispose()
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
def part(all_rows, first, last):
    low, high = all_rows.num_rows * first // batches, all_rows.num_rows * last // batches
    return all_rows.slice(low, high - low)
started, spent = time.perf_counter(), cpu()
for first in range(0, batches, BATCHES_PER_TRANSACTION):
    last = min(first + BATCHES_PER_TRANSACTION, batches)
    con = duckdb.connect(target)  # a connection per transaction, as the ETL's writer has
    con.execute("BEGIN")
    for table, all_rows in rows.items():
        if way == "per-batch":
            for batch in range(first, last):
                _r = part(all_rows, batch, batch + 1)
                con.execute(f"INSERT INTO {table} SELECT * FROM _r")
        else:
            if way == "per-transaction, any order":
                con.execute("SET preserve_insertion_order = false")
            _r = part(all_rows, first, last)
            con.execute(f"INSERT INTO {table} SELECT * FROM _r")
    con.execute("COMMIT")
    con.close()
print(time.perf_counter() - started, cpu() - spent, os.path.getsize(target))
"""

READ_WAYS = ("pyarrow", "duckdb")
STORE_WAYS = ("per-batch", "per-transaction, any order", "per-transaction, in order")


def read_once(way: str, folder: Path, per_batch: int) -> tuple[float, float, int]:
    _, _, _, stdout = run_child([sys.executable, "-c", READ, way, str(folder), str(per_batch)])
    seconds, cpu, rows = stdout.split()[-3:]
    return float(seconds), float(cpu), int(rows)


def store_once(way: str, source: Path, workdir: Path, batches: int) -> tuple[float, float, int]:
    target = workdir / "alternative.duckdb"
    target.unlink(missing_ok=True)
    try:
        _, _, _, stdout = run_child(
            [sys.executable, "-c", STORE, way, str(source), str(target), str(batches)]
        )
    finally:
        target.unlink(missing_ok=True)
    seconds, cpu, size = stdout.split()[-3:]  # after anything the schema's making printed
    return float(seconds), float(cpu), int(size)


def in_turns(ways: tuple[str, ...], rounds: int, once) -> dict[str, list[tuple]]:
    """``once(way)`` for each way, ``rounds`` times, the order turned each round."""
    found: dict[str, list[tuple]] = {way: [] for way in ways}
    for n in range(rounds):
        for way in ways[n % len(ways) :] + ways[: n % len(ways)]:
            found[way].append(once(way))
    return found


def report(title: str, found: dict[str, list[tuple]], third: str | None = None) -> None:
    print(title)
    first = None
    for way, measures in found.items():
        wall = statistics.median(m[0] for m in measures)
        cpu = statistics.median(m[1] for m in measures)
        first = first or (wall, cpu)
        extra = f", {third} {statistics.median(m[2] for m in measures) / 1e6:,.0f} MB" if third else ""
        print(
            f"  {way:<28} wall {wall:6.2f} s  CPU {cpu:6.2f} s  ({wall / first[0]:.2f}x and "
            f"{cpu / first[1]:.2f}x the first way's{extra}; rounds: "
            f"{', '.join(f'{m[0]:.2f}' for m in measures)} s)"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "crumby-bench")
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    folder = corpus(args.cache, args.hits, args.seed)
    size = warm(folder)
    files = len(list(folder.glob("hits-*.jsonl")))
    from crumby.etl.pipeline import DEFAULT_BATCH_BYTES

    batches = max(round(size / DEFAULT_BATCH_BYTES), 1)  # the ETL's batches
    per_batch = max(files // batches, 1)
    print(f"corpus: {args.hits:,} hits, {size / 1e6:,.0f} MB in {files} files; {batches} batches")
    found = in_turns(READ_WAYS, args.rounds, lambda way: read_once(way, folder, per_batch))
    report(f"reading the raw lines, {per_batch} files at a time:", found)
    with tempfile.TemporaryDirectory(prefix="crumby-bench-alternatives-") as work:
        workdir = Path(work)
        source = workdir / "stored.duckdb"  # the ETL writes etl.duckdb, then moves it here
        etl_duckdb(folder, workdir, keep=source)
        found = in_turns(STORE_WAYS, args.rounds, lambda way: store_once(way, source, workdir, batches))
        report(f"storing the ETL's rows (visits, events, sessions), {batches} batches:", found, "file")


if __name__ == "__main__":
    main()

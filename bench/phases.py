"""Where a `crumby etl` run's time goes, step by step: wall time and the calling thread's own CPU.

A sampling profiler (py-spy) shows where Python waits, but on this ETL it
overstates the native steps: it gave compiling the device lists 3.2 s of a
load whose timer around the same calls says 1.4 s. This bench instead runs
`crumby etl -v` in a child process with a timer around each named step (wall
time, and ``time.thread_time()`` of the thread that called it: the main thread
prepares batches, the writer thread stores them, and DuckDB's and pyarrow's
own threads are in neither), onto a fresh DuckDB file or a copy of a store
given. A step called inside another of the same name is counted once.

    python bench/phases.py [--hits 1000000] [--cache /tmp/crumby-bench] [--runs 1]
                           [--code DIR] [--timeline] [--logs DIR --store FILE --data DIR]

``--code DIR`` runs another version of the ``crumby`` package (``git archive
COMMIT crumby`` unpacked in DIR) in turns with this one. ``--timeline`` also
prints when each batch was prepared and stored. ``--logs`` (with ``--store``
and ``--data``, copied first) times a run onto a store that already holds
days, such as cron's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from etl import corpus, run_child, warm  # noqa: E402

# (label, module, attribute): a function, or Class.method
STEPS = (
    ("prepare a batch (main thread)", "crumby.etl.pipeline", "_Run._prepare"),
    ("  parse", "crumby.etl.parse", "parse_chunks"),
    ("  enrich", "crumby.etl.enrich", "Enricher.enrich"),
    ("    user agents", "crumby.etl.enrich.agent", "AgentParser.describe_series"),
    ("    GeoIP", "crumby.etl.enrich.geo", "GeoLocator.locate_series"),
    ("    pages", "crumby.etl.enrich", "describe_locations"),
    ("store a batch (writer thread)", "crumby.etl.pipeline", "_Run._store"),
    ("  visitors and visits", "crumby.etl.pipeline", "_Run._assign"),
    ("  insert", "crumby.etl.load", "insert_hits"),
    ("  sessions rollup", "crumby.etl.rollup", "update_rollup"),
    ("  commit", "crumby.etl.pipeline", "_Transaction.commit"),
    ("ready the store", "crumby.etl.pipeline", "_Run._ready_store"),
    ("daily sums", "crumby.etl.pipeline", "_Run._sum_days"),
    ("retention", "crumby.etl.pipeline", "apply_retention"),
)
TIMELINE_STEPS = ("_Run._prepare", "_Run._store")

CHILD = r"""
import importlib, json, sys, threading, time
steps, out = json.loads(sys.argv[1]), sys.argv[2]
started = time.perf_counter()
spent, timeline, inside = {}, [], threading.local()

def timed(label, function):
    def step(*args, **kwargs):
        held = inside.__dict__.setdefault("labels", set())
        if label in held:
            return function(*args, **kwargs)
        held.add(label)
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            held.discard(label)
            end = time.perf_counter()
            total = spent.setdefault(label, [0.0, 0.0, 0])
            total[0] += end - wall
            total[1] += time.thread_time() - cpu
            total[2] += 1
            timeline.append((label, wall - started, end - started))
    return step

import crumby.etl.pipeline
for label, module_name, attribute in steps:
    module = importlib.import_module(module_name)
    if "." in attribute:
        owner, name = attribute.split(".")
        cls = getattr(module, owner)
        setattr(cls, name, timed(label, getattr(cls, name)))
        continue
    original = getattr(module, attribute)
    for loaded in list(sys.modules.values()):  # every module that imported it by name
        ours = getattr(loaded, "__name__", "").startswith("crumby")
        if ours and getattr(loaded, attribute, None) is original:
            setattr(loaded, attribute, timed(label, original))

from crumby.cli import main
sys.argv = ["crumby", "etl", "-v"]
try:
    main()
except SystemExit as exc:
    if exc.code:
        raise
with open(out, "w") as handle:
    json.dump({"spent": spent, "timeline": timeline}, handle)
"""


def run_once(logs: Path, workdir: Path, code: Path | None, store: Path | None, data: Path | None) -> dict:
    """One timed `crumby etl` in a child process: its steps, its timeline, its wall and CPU time."""
    target = workdir / "phases.duckdb"
    scratch_data = workdir / "data"
    for path in (target, Path(f"{target}.wal")):
        path.unlink(missing_ok=True)
    shutil.rmtree(scratch_data, ignore_errors=True)
    if store is not None:
        shutil.copyfile(store, target)
    if data is not None:
        shutil.copytree(data, scratch_data)
    out = workdir / "phases.json"
    env = {
        **os.environ,
        "CRUMBY_LOG_DIR": str(logs),
        "CRUMBY_DATA_DIR": str(scratch_data),
        "CRUMBY_SQLALCHEMY_DATABASE_URI": f"duckdb:///{target}",
        "CRUMBY_RAW_LOG_RETENTION_DAYS": "0",  # the cached corpus's dates are long past
    }
    if code is not None:
        env["PYTHONPATH"] = f"{code}{os.pathsep}{env.get('PYTHONPATH', '')}"
    steps = [(label, module, attribute) for label, module, attribute in STEPS]
    seconds, rss, cpu, stdout = run_child([sys.executable, "-c", CHILD, json.dumps(steps), str(out)], env)
    found = json.loads(out.read_text())
    return {**found, "seconds": seconds, "cpu": cpu, "rss": rss, "summary": stdout.strip().splitlines()[-1]}


def show(name: str, runs: list[dict]) -> None:
    print(f"\n{name}: {runs[0]['summary']}")
    wall = statistics.median(r["seconds"] for r in runs)
    cpu = statistics.median(r["cpu"] for r in runs)
    rss = max(r["rss"] for r in runs)
    print(f"  whole run: wall {wall:.2f} s, CPU {cpu:.2f} s, peak RSS {rss:.0f} MiB (medians of {len(runs)})")
    print(f"  {'step':34} {'calls':>5} {'wall s':>8} {'own CPU s':>10}")
    for label, _, _ in STEPS:
        values = [r["spent"].get(label) for r in runs]
        if not all(values):
            continue
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        print(f"  {label:34} {values[0][2]:>5} {wall:>8.2f} {cpu:>10.2f}")


def show_timeline(name: str, run: dict) -> None:
    print(f"\n{name}, when each batch was prepared and stored (s from the start):")
    for label, start, end in sorted(run["timeline"], key=lambda entry: entry[1]):
        if label.startswith(("prepare a batch", "store a batch")):
            side = "prepare" if label.startswith("prepare") else "  store"
            print(f"  {side} {start:7.2f} to {end:7.2f}  ({end - start:5.2f} s)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "crumby-bench")
    parser.add_argument("--runs", type=int, default=1, help="of each version, in turns")
    parser.add_argument("--code", type=Path, help="another crumby package's folder, run in turns")
    parser.add_argument("--timeline", action="store_true")
    parser.add_argument("--logs", type=Path, help="LOG_DIR instead of bench/etl.py's corpus")
    parser.add_argument("--store", type=Path, help="a DuckDB store to copy and load onto")
    parser.add_argument("--data", type=Path, help="a DATA_DIR to copy (its user agents' answers)")
    args = parser.parse_args(argv)
    if args.logs is None:
        args.cache.mkdir(parents=True, exist_ok=True)
        logs = corpus(args.cache, args.hits, args.seed)
    else:
        logs = args.logs
    warm(logs)
    versions = {"this crumby": None, **({f"crumby in {args.code}": args.code} if args.code else {})}
    runs: dict[str, list[dict]] = {name: [] for name in versions}
    with tempfile.TemporaryDirectory(prefix="crumby-bench-phases-") as work:
        for n in range(args.runs):
            for name in list(versions) if n % 2 == 0 else list(versions)[::-1]:
                runs[name].append(run_once(logs, Path(work), versions[name], args.store, args.data))
                print(f"  run {n + 1}, {name}: {runs[name][-1]['seconds']:.1f} s", flush=True)
    for name, measured in runs.items():
        show(name, measured)
        if args.timeline:
            show_timeline(name, measured[0])


if __name__ == "__main__":
    main()

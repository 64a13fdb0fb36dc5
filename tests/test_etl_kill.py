"""SIGKILL `crumby etl` at random moments, again and again: the store ends as one clean load would.

Each round appends new lines, starts `python -m crumby etl` with small
batches and kills it: mostly inside its batches (a random moment within the
time the lines left would take, from when it has opened its GeoIP database),
sometimes while it sets up under the lock or while Python is still starting. A last run then
finishes, and visits, events, the aggregated tables, calendar and checkpoints must equal a single
uninterrupted load of the same logs into a fresh store. CRUMBY_KILL_ROUNDS
sets the rounds per backend (default 20).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

from crumby.etl.daily import DAILY_TABLES
from crumby.store.engine import backend_name
from tests.etl_corpus import (
    another_store,
    append_hits,
    checkpoints,
    corpus,
    etl_command,
    etl_env,
    query,
    recent_start,
    run_etl,
    summary_numbers,
    table_rows,
)

ROUNDS = int(os.environ.get("CRUMBY_KILL_ROUNDS", "20"))
BATCH = ("--batch-bytes", "65536")  # the smallest batch the ETL takes (two maximal lines): ~280 hits
HITS = 6000
COMPARED = ("visits", "events", "sessions", *(table.name for table in DAILY_TABLES), "visitor_days")
FIRST = 1500  # on disk before the first round; the rest is appended round by round
# Seconds a run spends after mapping the GeoIP file (made when the first batch is read) besides its
# batches' own time: its load row, the commits, the daily figures. A run is "done" only after them.
RUN_OVERHEAD = 0.1


def _pending(logs: Path, url: str) -> int:
    """Bytes on disk not yet loaded (all of them before the store has its tables)."""
    on_disk = sum(path.stat().st_size for path in logs.iterdir())
    try:
        return on_disk - sum(mark[0] for mark in checkpoints(url).values())
    except Exception:  # no tables yet: a kill landed before the first batch
        return on_disk


def _lock_holder(lock: Path) -> str:
    try:
        return lock.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return ""


def _geoip_mapped(pid: int) -> bool:
    """Whether the run has opened its GeoIP database, the last step before its first batch."""
    try:
        return ".mmdb" in Path(f"/proc/{pid}/maps").read_text(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return False


def _kill_at_random(env: dict, lock: Path, rng: random.Random, load_seconds: float) -> str:
    """Start a run and SIGKILL it; returns where the kill was aimed, or "after the end"."""
    process = subprocess.Popen(
        etl_command(*BATCH), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        draw = rng.random()
        if draw < 0.15:  # while Python still imports
            aim, ready, delay = "starting", lambda: True, rng.uniform(0.0, 1.0)
        elif draw < 0.3:  # once it holds the lock: schema, checkpoints, its load row
            aim, ready, delay = (
                "setting up",
                lambda: _lock_holder(lock) == str(process.pid),
                rng.uniform(0, 0.3),
            )
        else:  # inside its batches
            aim, ready = "loading", lambda: _geoip_mapped(process.pid)
            delay = rng.uniform(0, load_seconds + RUN_OVERHEAD)
        deadline = time.monotonic() + 60
        while not ready() and process.poll() is None:
            assert time.monotonic() < deadline, "crumby etl never got going"
            time.sleep(0.002)
        time.sleep(delay)
        if process.poll() is not None:
            assert process.returncode == 0, process.stderr.read().decode()
            return "after the end"
        process.send_signal(signal.SIGKILL)
        status = process.wait(timeout=30)
        if status == 0:  # it ended on its own between the look above and the kill
            return "after the end"
        assert status == -signal.SIGKILL, process.stderr.read().decode()
        return aim
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


def test_killed_runs_leave_the_store_as_one_clean_load_would(tmp_path, store_url):
    _kill_again_and_again(tmp_path, store_url, COMPARED)


def test_killed_runs_leave_a_clickhouse_store_as_one_clean_load_would(tmp_path, clickhouse_url):
    """No transactions there: the rows are written again to the same end, the checkpoint after them."""
    _kill_again_and_again(tmp_path, clickhouse_url, ("visits", "events", "sessions"))


def _kill_again_and_again(tmp_path, store_url: str, compared: tuple[str, ...]) -> None:
    clickhouse = backend_name(store_url) == "clickhouse"
    rng = random.Random(os.environ.get("CRUMBY_KILL_SEED") or time.time_ns())
    hits = corpus(HITS, recent_start())
    whole_logs, logs = tmp_path / "whole", tmp_path / "logs"
    append_hits(whole_logs, hits)

    # The clean load: every line at once into a fresh store; it also times a run's load.
    with another_store(store_url, tmp_path) as clean_url:
        clean = run_etl(etl_env(tmp_path / "clean", clean_url, whole_logs), "-v", *BATCH)
        assert clean.returncode == 0, clean.stderr
        numbers = summary_numbers(clean.stdout)
        assert numbers["hits"] == HITS, clean.stdout
        expected = {table: table_rows(clean_url, table) for table in compared}
        bytes_per_second = sum(len(line) for _, line in hits) / numbers["s"]
        expected_calendar = table_rows(clean_url, "calendar")
        expected_marks = {name: mark for name, mark in checkpoints(clean_url).items()}

    env = etl_env(tmp_path, store_url, logs)
    lock = tmp_path / "data" / "etl.lock"
    reserve = hits[FIRST:]
    append_hits(logs, hits[:FIRST])
    moments: dict[str, int] = {}
    for round_number in range(ROUNDS):
        share = reserve[round_number * len(reserve) // ROUNDS : (round_number + 1) * len(reserve) // ROUNDS]
        append_hits(logs, share)
        # Aim inside the batches of what is left to load.
        moment = _kill_at_random(env, lock, rng, _pending(logs, store_url) / bytes_per_second)
        moments[moment] = moments.get(moment, 0) + 1

    final = run_etl(env, "-v", *BATCH)
    assert final.returncode == 0, final.stderr
    newest = "_crumby_loads FINAL" if clickhouse else "_crumby_loads"  # each load's newest row there
    statuses = query(store_url, f"SELECT status, COUNT(*) FROM {newest} GROUP BY status")
    print(f"{ROUNDS} kills: {moments}; loads by status: {sorted(statuses)}")

    for table in compared:
        got = table_rows(store_url, table)
        assert len(got) == len(expected[table]) and got == expected[table], table
    if not clickhouse:  # which keeps no daily figures
        assert not query(store_url, "SELECT day FROM _crumby_stale_days"), "every changed day is summed again"
    calendar = table_rows(store_url, "calendar")  # through today: a day longer if midnight passed
    assert (
        calendar[: len(expected_calendar)] == expected_calendar
        and len(calendar) - len(expected_calendar) <= 1
    )
    marks = checkpoints(store_url)
    assert marks == expected_marks
    # A killed run's load is closed by the next run; none is left "running".
    assert {status for status, _ in statuses} <= {"done", "abandoned"}
    assert dict(statuses).get("abandoned", 0) >= 1, statuses

"""The report server and a writing ETL share one DuckDB file, in two processes, without a lock error.

DuckDB lets one process write *or* several read. The writer here is the ETL's
store engine (open the file for a batch, write, commit, close; signal the
readers first and retry while they let go) while a separate server process,
which keeps the file open between requests, answers report requests from three
client threads. Every answer must be a 200 with the rows of a whole number of
batches, every batch must land, and the writer is never starved: each of its
connections gets the file after a bounded number of retries.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request

from report_fixture import LATE_RANGE, load_fixture

from crumby.store import handoff

WRITER = r"""
import json, sys, time
from datetime import datetime
import sqlalchemy as sa
from crumby.store import handoff
from crumby.store.engine import create_engine, raw_duckdb

path, batches, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
engine = create_engine(f"duckdb:///{path}")
for batch in range(batches):
    first = 1_000_000 + batch * size
    with engine.begin() as conn:  # as the ETL does: one connection and transaction per batch
        raw_duckdb(conn).executemany(
            "INSERT INTO visits (id, hit_id, datetime, site, page_path, visitor_id, session_id, is_bot) "
            "VALUES (?, ?, ?, 'example.com', '/batch', ?, ?, false)",
            [
                (
                    first + n,
                    f"w{first + n}",
                    datetime(2024, 4, 15, 12, 0, n % 60),
                    f"wv{batch}",
                    f"ws{batch}-{n}",
                )
                for n in range(size)
            ],
        )
    time.sleep(0.02)
stats = handoff.writer_stats(path)
print(json.dumps({"batches": batches, "connects": stats.connects, "most_retries": stats.most_retries}))
"""

SERVER = r"""
import sys
from pathlib import Path
from werkzeug.serving import make_server
from crumby.config import load_settings
from crumby.serve.app import create_app

url, data_dir = sys.argv[1], Path(sys.argv[2])
settings = load_settings(environ={}, overrides={
    "SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": data_dir, "LOG_DIR": data_dir / "logs", "SECRET_KEY": "x",
})
server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""

BATCHES, BATCH_SIZE = 30, 50
MOST_RETRIES = 30  # about 2.5 s of backoff; a writer waiting for readers that never let go gives up at 60 s


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_reports_are_served_while_an_etl_writes_the_same_duckdb_file(tmp_path):
    store = tmp_path / "store.duckdb"
    load_fixture(f"duckdb:///{store}")
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, f"duckdb:///{store}", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline())
        base = f"http://127.0.0.1:{port}/api/public/"
        query = "&".join(f"{k}={v}" for k, v in LATE_RANGE.items())
        # top pages over whole days reads the daily figures, which this writer does not keep (the ETL
        # sums them at the end of its run): a range that starts at 00:00:01 reads the page views
        queries = {name: query for name in ("summary", "timeseries")}
        queries["pages"] = "t0=2024-04-01T00:00:01&t1=2024-04-30T00:00:00"
        status, body = _get(f"{base}pages?{queries['pages']}&path=/batch")
        assert status == 200 and json.loads(body)["data"] == []

        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(store), str(BATCHES), str(BATCH_SIZE)],
            stdout=subprocess.PIPE,
            text=True,
        )
        answers: list[tuple[int, str]] = []
        stop = threading.Event()

        def ask(report: str) -> None:
            while not stop.is_set():
                answers.append(_get(f"{base}{report}?{queries[report]}&path=/batch"))
                time.sleep(0.01)

        clients = [threading.Thread(target=ask, args=(name,)) for name in ("pages", "summary", "timeseries")]
        for client in clients:
            client.start()
        written = json.loads(writer.communicate(timeout=120)[0])
        time.sleep(0.2)
        stop.set()
        for client in clients:
            client.join(timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=10)

    assert writer.returncode == 0 and written["batches"] == BATCHES
    assert written["connects"] == BATCHES
    # Readers let go within a watcher tick or a report's run: a handful of retries, far from the patience.
    assert written["most_retries"] <= MOST_RETRIES, written
    assert not handoff.signal_path(store).exists()  # the last writer connection took its signal down
    bad = [(status, body[:200]) for status, body in answers if status != 200]
    assert not bad, bad[:3]
    assert len(answers) >= 30
    assert not any("lock" in body.lower() for _, body in answers)
    seen = [json.loads(body)["data"] for _, body in answers]
    pageview_counts = {rows[0][4] for rows in seen if rows and len(rows[0]) == 5}
    assert all(count % BATCH_SIZE == 0 for count in pageview_counts)  # whole batches, never half of one
    assert max(pageview_counts) == BATCHES * BATCH_SIZE

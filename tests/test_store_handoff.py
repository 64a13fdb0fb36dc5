"""The ETL and the report server take turns on a DuckDB file (crumby/store/handoff.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import duckdb
import pytest
import sqlalchemy as sa

from crumby.store import handoff
from crumby.store.engine import StoreError, create_engine
from crumby.store.readonly import close_readers, read_only_connection

HOLD_WITHOUT_LOOKING = r"""
import sys, time
import duckdb
conn = duckdb.connect(sys.argv[1], read_only=True)
print("holding", flush=True)
time.sleep(30)
"""

WRITE_ONE_ROW = r"""
import sys
import sqlalchemy as sa
from crumby.store import handoff
from crumby.store.engine import create_engine
engine = create_engine(f"duckdb:///{sys.argv[1]}")
with engine.begin() as conn:
    conn.execute(sa.text("INSERT INTO t VALUES (2)"))
print(handoff.writer_stats(sys.argv[1]).connects)
"""


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "store.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.close()
    yield path
    close_readers()


def test_the_signal_is_up_while_any_writer_connection_is_open(store):
    engine = create_engine(f"duckdb:///{store}")
    assert not handoff.writer_waiting(store)
    with engine.connect():
        assert handoff.writer_waiting(store)
        with engine.connect():
            assert handoff.writer_waiting(store)
        assert handoff.writer_waiting(store)
    assert not handoff.signal_path(store).exists()
    with pytest.raises(sa.exc.DBAPIError), engine.connect() as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table"))
    assert not handoff.signal_path(store).exists()  # a failed statement takes it down too


def test_a_signal_left_by_a_dead_or_long_gone_writer_holds_nobody_back(store):
    signal = handoff.signal_path(store)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    signal.write_text(f"{socket.gethostname()} {int(finished.stdout)}\n")
    assert not handoff.writer_waiting(store)
    signal.write_text(f"{socket.gethostname()} {os.getpid()}\n")
    assert handoff.writer_waiting(store)
    old = time.time() - handoff.STALE_AFTER - 1
    os.utime(signal, (old, old))
    assert not handoff.writer_waiting(store)
    signal.write_text("other-host 1\n")  # another machine's writer: only its age can tell
    assert handoff.writer_waiting(store)


def test_a_kept_reader_lets_the_writer_in_and_sees_its_rows(store):
    url = f"duckdb:///{store}"
    with read_only_connection(url, timeout=10) as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM t")).scalar() == 1
    # The reader keeps the file open between queries, yet a writer in another process gets it.
    writer = subprocess.run(
        [sys.executable, "-c", WRITE_ONE_ROW, str(store)], capture_output=True, text=True, timeout=60
    )
    assert writer.returncode == 0, writer.stderr
    assert writer.stdout.strip() == "1"
    with read_only_connection(url, timeout=10) as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM t")).scalar() == 2


def test_a_writer_gives_up_on_a_reader_that_never_lets_go(store, monkeypatch):
    monkeypatch.setattr(handoff, "WRITER_PATIENCE", 0.5)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WITHOUT_LOOKING, str(store)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        engine = create_engine(f"duckdb:///{store}")
        with pytest.raises(StoreError, match="kept the DuckDB store"):
            engine.connect()
        assert not handoff.signal_path(store).exists()
        assert handoff.writer_stats(store).connects == 0
    finally:
        holder.kill()
        holder.wait(timeout=10)

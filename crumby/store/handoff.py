"""Taking turns on a DuckDB file: one writing process or many reading ones, never both.

The report server keeps its read-only DuckDB instance open between requests
(opening the file per request costs tens of milliseconds and a cold cache),
so the ETL must be able to ask for the file. Before it opens the store to
write, it creates a signal file beside it, ``<store>.etl-waiting``; readers
notice it (a ``stat`` per request, and every few hundredths of a second while
they hold the file), let go, and wait for the signal to go before opening the
file again. The writer retries its connection on a lock conflict for a bounded
time, and removes the signal when its last connection closes.

A signal left by a writer that died is ignored once its process is gone (same
host) or once it is older than ``STALE_AFTER`` seconds (a writer still waiting
refreshes it on every retry).
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

SUFFIX = ".etl-waiting"
STALE_AFTER = 120.0  # seconds without a refresh after which a signal no longer holds readers back
WRITER_PATIENCE = 60.0  # seconds a writer waits for readers before giving up (reports stop at REPORT_TIMEOUT)

T = TypeVar("T")


class StoreHeld(Exception):
    """Another process kept the DuckDB file for longer than the writer's patience."""


@dataclass
class WriterStats:
    """How long this process's writer connections waited for readers to let go of the file."""

    connects: int = 0
    retries: int = 0  # lock conflicts met, over all connects
    most_retries: int = 0  # the most any single connect needed
    longest_wait: float = 0.0  # seconds


_reader_holds: weakref.WeakSet[ReaderHold] = weakref.WeakSet()
_holders: dict[Path, int] = {}  # signal file -> writer connections of this process that keep it up
_stats: dict[Path, WriterStats] = {}
_lock = threading.Lock()


def signal_path(database: str | os.PathLike) -> Path:
    """Where the writer's signal for the DuckDB file ``database`` lives."""
    path = Path(database).absolute()
    return path.with_name(path.name + SUFFIX)


def is_lock_conflict(exc: BaseException) -> bool:
    """True when DuckDB refused to open a file because another connection holds it.

    Another process holds a lock on it; or this process holds it opened the
    other way (read-only against read-write), which DuckDB reports as a
    different configuration.
    """
    text = str(getattr(exc, "orig", exc)).lower()
    return ("lock" in text and ("conflicting" in text or "could not set" in text)) or (
        "different configuration" in text
    )


def writer_waiting(database: str | os.PathLike) -> bool:
    """Whether a writer wants the file: readers should let go and not open it again yet. One stat."""
    signal = signal_path(database)
    try:
        age = time.time() - signal.stat().st_mtime
    except OSError:
        return False
    if age > STALE_AFTER:
        return False
    return not _writer_gone(signal)


def _writer_gone(signal: Path) -> bool:
    try:
        host, pid = signal.read_text().split()
    except (OSError, ValueError):
        return False  # being written right now, or not ours to judge: honour it
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


def _raise_signal(signal: Path) -> None:
    with _lock:
        if _holders.get(signal, 0) == 0:
            _refresh(signal)
        _holders[signal] = _holders.get(signal, 0) + 1
        holds = [hold for hold in _reader_holds if hold.signal == signal]
    for hold in holds:  # this process's own readers need not wait for their watcher
        hold.release()


def _refresh(signal: Path) -> None:
    """Still waiting: keep the signal fresh (and back, should someone have removed it)."""
    signal.write_text(f"{socket.gethostname()} {os.getpid()}\n")


def lower_signal(database: str | os.PathLike) -> None:
    """One writer connection of this process is closed; the last one removes the signal."""
    signal = signal_path(database)
    with _lock:
        left = _holders.get(signal, 0) - 1
        if left > 0:
            _holders[signal] = left
            return
        _holders.pop(signal, None)
        try:
            signal.unlink()
        except FileNotFoundError:
            pass


def connect_writer(database: str | os.PathLike, connect: Callable[[], T]) -> T:
    """``connect()`` to write ``database``: signal the readers, retry while they still hold the file.

    The signal stays up until :func:`lower_signal` is called for the
    connection (when it closes). Raises StoreHeld after ``WRITER_PATIENCE``.
    """
    signal = signal_path(database)
    _raise_signal(signal)
    started = time.monotonic()
    retries = 0
    pause = 0.005
    try:
        while True:
            try:
                connection = connect()
                break
            except Exception as exc:
                if not is_lock_conflict(exc):
                    raise
                waited = time.monotonic() - started
                if waited > WRITER_PATIENCE:
                    raise StoreHeld(
                        f"another process kept the DuckDB store {database} for {waited:.0f} s: {exc}; "
                        "stop it (or let it finish) and run again"
                    ) from None
                retries += 1
                _refresh(signal)
                time.sleep(pause * (0.5 + random.random()))
                pause = min(pause * 2, 0.1)
    except BaseException:
        lower_signal(database)
        raise
    with _lock:
        stats = _stats.setdefault(signal, WriterStats())
        stats.connects += 1
        stats.retries += retries
        stats.most_retries = max(stats.most_retries, retries)
        stats.longest_wait = max(stats.longest_wait, time.monotonic() - started)
    return connection


def writer_stats(database: str | os.PathLike) -> WriterStats:
    """What this process's writer connections to ``database`` met so far (for tests and benchmarks)."""
    with _lock:
        return _stats.get(signal_path(database), WriterStats())


WATCH_EVERY = 0.05  # seconds between two looks at the signal while a reader holds the file


class ReaderHold:
    """Keeps a reading process's DuckDB instance open between queries, and lets go when a writer asks.

    ``open_connection`` opens one read-only connection; while it stays open,
    DuckDB hands every other connection of this process to the same file the
    same instance (its cache warm, no file to open). A watcher thread closes it
    as soon as a writer's signal appears and ends; the next query opens it again.
    """

    def __init__(self, database: str | os.PathLike, open_connection: Callable[[], object]) -> None:
        self.database = database
        self.signal = signal_path(database)
        self._open = open_connection
        self._held = None
        self._pid = 0
        self._watcher: threading.Thread | None = None
        self._lock = threading.Lock()
        with _lock:
            _reader_holds.add(self)

    def wait_for_turn(self, deadline: float) -> bool:
        """Let go and wait while a writer waits; False when ``deadline`` (monotonic) comes first."""
        pause = 0.005
        while writer_waiting(self.database):
            self.release()
            if time.monotonic() + pause > deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        return True

    def hold(self) -> None:
        """Open the kept connection unless it is open (call after :meth:`wait_for_turn`)."""
        with self._lock:
            if self._pid != os.getpid():  # made before a fork: the parent's, never to be touched here
                self._held, self._watcher = None, None
            if self._held is not None:
                return
            self._held = self._open()
            self._pid = os.getpid()
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, name="duckdb-reader-hold", daemon=True)
                self._watcher.start()

    def release(self) -> None:
        """Close the kept connection; queries running on their own connections finish first."""
        with self._lock:
            held, self._held = self._held, None
            if self._pid != os.getpid():
                return
        if held is not None:
            # Best effort: the instance goes with its last connection anyway.
            with contextlib.suppress(Exception):
                held.close()

    def _watch(self) -> None:
        while True:
            time.sleep(WATCH_EVERY)
            with self._lock:
                if self._held is None or self._pid != os.getpid():
                    self._watcher = None
                    return
            if writer_waiting(self.database):
                self.release()

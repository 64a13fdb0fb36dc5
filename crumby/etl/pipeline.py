"""``run(settings, store) -> LoadReport``: extract, enrich and load what is new, exactly once.

The stages meet only here. A batch is about 32 MB of whole lines from one
or more files; its rows, the visits they make up, the files' checkpoints and
the calendar are written in the same transaction, which spans a few batches
(:data:`BATCHES_PER_TRANSACTION`), so a run killed at any moment leaves the
store as it was after its last whole transaction, and the next run picks up
from there. Bad lines are set aside and counted; a store that fails stops the
run (:class:`StoreError`) with the checkpoints where they were. A batch the
store refuses for a value in its rows (:func:`is_data_error`) is not a store
failure: the transaction is rolled back, the refused hits are found by
writing halves of the batch in transactions that are never committed, and
the run goes again from its last commit with those hits set aside, each
with the store's error.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from ..config import ensure_folder
from ..hits import HIT_TYPES
from ..store.bookkeeping import loads
from ..store.days import as_day, utcnow
from ..store.engine import StoreError, backend_name, create_engine, driver_errors, is_data_error
from ..store.migrations import ensure_schema
from ..store.schema import events, visits
from ..store.stale_days import mark_stale
from .abandoned import close_abandoned_loads
from .compressed import PlainLengths
from .daily import refresh as refresh_daily_figures
from .enrich import Enricher, anonymise_ips
from .extract import Chunk, LogFile, iter_chunks, iter_log_files
from .load import (
    extend_calendar,
    insert_hits,
    load_checkpoints,
    next_id,
    record_load,
    save_checkpoints,
    time_spans,
)
from .lock import EtlLocked, RunLock
from .memory import use_returning_pool
from .parse import Parsed, Reject, parse_chunks
from .rejects import rejects_path, write_rejects
from .retention import RetentionReport, apply_retention
from .rollup import ensure_built, update_rollup
from .rows import batch_rows, split_by_type
from .sessions import assign_sessions, recent_sessions
from .stored_keys import fill_stored_keys
from .visitors import days_of, load_salts, needs_hash, visitor_ids

DEFAULT_BATCH_BYTES = 32 << 20  # about 60k hits; two batches are in memory at once (one read, one written)
MAX_PASSES = 3  # rescans for files that grew or appeared during the run
# Four default batches hold over one DuckDB row group (122,880 rows) of visits: DuckDB then writes
# them straight into the store file as they come, instead of into its log at the commit and again
# at the checkpoint after it (that doubled the time DuckDB spent writing).
BATCHES_PER_TRANSACTION = 4
# An hour written by several writers is read whole into one batch up to this size (sessions stay whole
# across its files); past it, it is cut like any other, and a visit may be cut with it.
MAX_WHOLE_HOUR_BYTES = 8 * DEFAULT_BATCH_BYTES

__all__ = ["BATCHES_PER_TRANSACTION", "DEFAULT_BATCH_BYTES", "EtlLocked", "LoadReport", "StoreError", "run"]


@dataclass
class LoadReport:
    """What a run did; the CLI prints :meth:`summary`."""

    files: int = 0
    hits: int = 0
    visits: int = 0
    events: int = 0
    bots: int = 0
    rejected: int = 0
    duplicates: int = 0
    bytes: int = 0
    seconds: float = 0.0
    load_id: int | None = None
    dry_run: bool = False
    rejects_file: str | None = None
    retention: RetentionReport | None = None
    kind: str = "etl"
    file_names: set[str] = field(default_factory=set, repr=False)
    # for a person at a terminal, not for cron's mail: e.g. a dated GeoIP database
    notices: list[str] = field(default_factory=list, repr=False)

    @property
    def hits_per_second(self) -> float:
        return self.hits / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        verb = "would load" if self.dry_run else ("reprocessed" if self.kind == "reprocess" else "loaded")
        text = (
            f"{self.files} files, {self.hits} hits {verb} ({self.visits} visits, {self.events} events, "
            f"{self.bots} bots), {self.rejected} rejected, {self.seconds:.1f} s, "
            f"{self.hits_per_second:,.0f} hits/s"
        )
        if self.duplicates:
            text += f", {self.duplicates} already loaded"
        if self.retention and self.retention.summary():
            text += f"; retention: {self.retention.summary()}"
        return text


def run(
    settings: Mapping[str, Any],
    store: sa.Engine | None = None,
    *,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    enricher: Enricher | None = None,
) -> LoadReport:
    """Load every raw log line not yet loaded; see the module's docstring. Raises EtlLocked.

    A dry run writes nothing at all: no folder, lock, store file or rejects file.
    """
    lock = contextlib.nullcontext() if dry_run else RunLock(ensure_folder(settings, "DATA_DIR") / "etl.lock")
    with lock:
        engine = store or create_engine(settings["SQLALCHEMY_DATABASE_URI"], echo=settings["SQLALCHEMY_ECHO"])
        try:
            run_class = _Run
            if backend_name(engine) == "clickhouse":
                from .clickhouse import ClickHouseRun as run_class
            report = run_class(settings, engine, dry_run, progress, batch_bytes, enricher).load()
            if not dry_run:
                try:
                    report.retention = apply_retention(settings, engine)
                except (sa.exc.SQLAlchemyError, *driver_errors(engine)) as exc:
                    raise store_failure(engine, exc) from None
            return report
        finally:
            if store is None:
                engine.dispose()


def pending_bytes(settings: Mapping[str, Any], store: sa.Engine | None = None) -> int:
    """About how many raw log bytes wait to be loaded (for a progress bar)."""
    engine = store or create_engine(settings["SQLALCHEMY_DATABASE_URI"])
    try:
        marks = _checkpoints(engine)
    finally:
        if store is None:
            engine.dispose()
    return sum(_pending(f, marks) for f in iter_log_files(settings["LOG_DIR"]))


def _not_made(engine: sa.Engine) -> bool:
    """Whether the store is a file not made yet (connecting would make it)."""
    database = engine.url.database
    file_backend = engine.url.get_backend_name() in ("duckdb", "sqlite")
    return file_backend and bool(database) and database != ":memory:" and not Path(database).is_file()


def _checkpoints(engine: sa.Engine) -> dict[str, dict]:
    if _not_made(engine):
        return {}
    try:
        with engine.connect() as conn:
            return load_checkpoints(conn)
    except sa.exc.SQLAlchemyError:
        return {}  # a store not made yet has loaded nothing


def _pending(log_file: LogFile, marks: Mapping[str, dict]) -> int:
    mark = marks.get(log_file.name)
    if mark and mark.get("expired"):
        return 0
    done = mark["loaded_bytes"] if mark else 0
    if log_file.compressed:
        return 0 if mark else _size_on_disk(log_file)
    size = log_file.size() or 0
    return max(size - done, 0)


def _pending_size(planned: list[tuple[LogFile, int, int | None]]) -> int:
    """About how many bytes ``planned`` reads, as read (a compressed file's content, not its size on disk)."""
    total = 0
    for log_file, start, until in planned:
        end = until if until is not None else log_file.size()
        if end is None:
            end = _plain_size(log_file)
        total += max(end - start, 0)
    return total


def _plain_size(log_file: LogFile) -> int:
    """About how many bytes a compressed file holds: the length its gzip trailer gives (modulo 4 GiB, of
    its last member), at least its size on disk."""
    on_disk = _size_on_disk(log_file)
    try:
        with open(log_file.path, "rb") as handle:
            handle.seek(max(on_disk - 4, 0))
            trailer = handle.read(4)
    except OSError:
        return on_disk
    return max(int.from_bytes(trailer, "little"), on_disk) if len(trailer) == 4 else on_disk


def _size_on_disk(log_file: LogFile) -> int:
    try:
        return log_file.path.stat().st_size
    except FileNotFoundError:
        return 0


def _repeated(ids: pa.ChunkedArray, same_ids: pd.Series) -> np.ndarray:
    """A mask of the hits whose id came earlier in the batch (a replayed line).

    Counted distinct in Arrow first: a batch seldom has any, and pandas would
    hash every id to find none.
    """
    if pc.count_distinct(ids).as_py() == len(ids):
        return np.zeros(len(ids), bool)
    return same_ids.duplicated().to_numpy()


def _reason(exc: Exception) -> str:
    """The store's error about a value, on one line, for the rejects file."""
    reason = getattr(exc, "orig", None) or exc
    text = " ".join(str(reason).split())
    return f"refused by the store: {reason.__class__.__name__}: {text[:300]}"


def store_failure(engine: sa.Engine, exc: Exception) -> StoreError:
    url = engine.url.render_as_string(hide_password=True)
    reason = getattr(exc, "orig", None) or exc
    return StoreError(
        f"the store at {url} failed: {reason.__class__.__name__}: {str(reason).strip().splitlines()[0]}; "
        "nothing of the failed transaction was kept and the checkpoints are where they were: "
        "fix the store (is it up, with space left and write permission?) and run crumby etl again"
    )


@dataclass
class _Prepared:
    """A batch read, checked and enriched, waiting to be written."""

    chunks: list[Chunk]
    lines: list[int]  # lines per chunk, for the checkpoints
    parsed: Parsed
    hits: pd.DataFrame
    repeated: int  # hits left out as a second copy within the batch
    stored_ips: pd.Series | None  # the IPs as the store keeps them (IP_PRIVACY), made off the writer thread


class _Refused(Exception):
    """The store refused a batch for values in some of its rows, now known (``_Run.refused``):
    the run goes back to its last commit and reads on from there without them."""


class _Transaction:
    """The store transaction that the batches written lately share, opened at the first of them.

    It is used by one thread at a time (the writer's), and committed when the
    run says it is full (:meth:`_Run._transaction_full`: after
    :data:`BATCHES_PER_TRANSACTION` batches) or by :meth:`commit`. The run's
    ``_before_commit`` writes what it held back for the commit (ClickHouse's
    rows), ``_committed`` follows each commit, and ``_closed`` each end,
    committed or not.
    """

    def __init__(self, engine: sa.Engine, run: _Run) -> None:
        self.engine = engine
        self.conn: sa.Connection | None = None
        self.batches = 0
        self.run = run

    def connection(self) -> sa.Connection:
        if self.conn is None:
            self.conn = self.engine.connect()
            self.conn.begin()
        return self.conn

    def written(self) -> None:
        """One more batch is in: commit when the transaction holds enough of them."""
        self.batches += 1
        if self.run._transaction_full(self.batches):
            self.commit()

    def commit(self) -> None:
        if self.conn is not None:
            try:
                self.run._before_commit(self.conn)
                self.conn.commit()
            finally:
                self.close()
            self.run._committed()

    def close(self) -> None:
        """Let go of the connection; what is not committed is rolled back."""
        conn, self.conn, self.batches = self.conn, None, 0
        self.run._closed()
        if conn is not None:
            conn.close()


class _Run:
    def __init__(self, settings, engine, dry_run, progress, batch_bytes, enricher) -> None:
        use_returning_pool()
        self.settings = settings
        self.engine = engine
        self.dry_run = dry_run
        self.progress = progress or (lambda _n: None)
        self.batch_bytes = batch_bytes
        self.enricher = enricher
        self.report = LoadReport(dry_run=dry_run, kind=self.kind)
        self.marks: dict[str, dict] = {}
        self.transaction = _Transaction(engine, self)
        self.saved = replace(self.report)  # the report as of the last commit
        self.refused: dict[str, str] = {}  # hit id -> the store's reason, for the lines to set aside
        self.rejects_written: set[tuple[str, int]] = set()
        self.failures: list[Reject] = []  # lines whose conversion failed unexpectedly: the first is logged
        self.plain_lengths = PlainLengths(settings.get("DATA_DIR"))

    kind = "etl"
    overlap_writes = True  # see _load_batches
    load_extra: Mapping[str, Any] = {}

    def load(self) -> LoadReport:
        started = time.monotonic()
        abandoned = 0
        try:
            if not self.dry_run:
                abandoned = self._ready_store()
            self.marks = _checkpoints(self.engine)
            own_enricher = self.enricher is None
            try:
                passes = 0
                while passes < MAX_PASSES:
                    batches = self._iter_batches()
                    first = next(batches, None)
                    if first is None:
                        break
                    if self.enricher is None:  # made only when there is something to enrich: seconds
                        making = time.monotonic()
                        self.enricher = Enricher(self.settings, remember=True)
                        started += time.monotonic() - making  # the summary times loading, not set-up
                    self.report.notices = list(self.enricher.notices)
                    if self.report.load_id is None and not self.dry_run:
                        self.report.load_id = self._start_load()
                        self._committed()
                    try:
                        self._load_batches(itertools.chain([first], batches))
                    except _Refused:  # each time, at least one more hit is set aside: this ends
                        self._rewind()
                        continue
                    passes += 1
                if own_enricher and self.enricher is not None and not self.dry_run:
                    self.enricher.keep_answers()  # the next run need not parse these user agents again
                if not self.dry_run:
                    self.plain_lengths.save()  # nor decompress these gzipped logs again
            finally:
                if own_enricher and self.enricher is not None:
                    self.enricher.close()
            if not self.dry_run:
                # Summed before the load is marked done: a finished load moves the reports' ETag, so an
                # answer cached under it must already see this load's daily figures.
                summed = self._sum_days()
                if (summed or abandoned) and self.report.load_id is None:
                    # A stopped run's committed batches, or days it left to sum: the store changed since
                    # the last finished load, so the ETag must move too.
                    self.report.load_id = self._start_load()
                self._finish()
        except (sa.exc.SQLAlchemyError, *driver_errors(self.engine)) as exc:
            raise store_failure(self.engine, exc) from None
        self.report.files = len(self.report.file_names)
        self.report.seconds = time.monotonic() - started
        return self.report

    def _ready_store(self) -> int:
        """Tables made or upgraded, the aggregated store built; returns how many dead runs' loads closed."""
        ensure_schema(self.engine)
        fill_stored_keys(self.engine)
        ensure_built(self.engine)
        return close_abandoned_loads(self.engine)

    def _sum_days(self) -> int:
        """Sum the daily figures of the days this run changed; returns how many."""
        return refresh_daily_figures(self.engine)

    def _plan(self) -> Iterator[tuple[LogFile, int, int | None]]:
        """(file, first byte, last byte or None) of what is new."""
        for log_file in list(iter_log_files(self.settings["LOG_DIR"])):
            mark = self.marks.get(log_file.name)
            if mark and mark.get("expired"):
                continue
            start = mark["loaded_bytes"] if mark else 0
            if log_file.compressed:
                # loaded before: learnt without decompressing it again when the run before measured it
                plain_size = self.plain_lengths.of(log_file) if mark else None
            else:
                plain_size = log_file.size()
            if plain_size is not None and plain_size <= start:
                continue
            yield log_file, start, None

    def _iter_batches(self) -> Iterator[list[Chunk]]:
        """Batches of about ``batch_bytes``, in hour order; an hour that several writers wrote is not cut.

        A later batch must not hold earlier hits of a visitor than a batch
        before it: sessions are carried from batch to batch by each visitor's
        last one, so hits of one hour from two writers' files in two batches
        would cut a visit in two. One writer's file is in time order and may
        be cut anywhere. An hour of several writers larger than
        :data:`MAX_WHOLE_HOUR_BYTES` is cut all the same, to bound memory.
        """
        batch: list[Chunk] = []
        size = 0
        for _, planned in itertools.groupby(self._plan(), key=lambda plan: plan[0].hour):
            planned = list(planned)
            whole = len(planned) > 1 and _pending_size(planned) <= MAX_WHOLE_HOUR_BYTES
            for log_file, start, until in planned:
                learn = self.plain_lengths.learner(log_file) if log_file.compressed else None
                for chunk in iter_chunks(log_file, start, self.batch_bytes, until=until, on_end=learn):
                    batch.append(chunk)
                    size += chunk.end - chunk.start
                    if size >= self.batch_bytes and not whole:
                        yield batch
                        batch, size = [], 0
            if size >= self.batch_bytes:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    def _start_load(self) -> int:
        provenance = json.dumps(self.enricher.provenance if self.enricher else {}, sort_keys=True)
        with self.engine.begin() as conn:
            return record_load(conn, self.kind, "running", provenance=provenance, **self.load_extra)

    def _load_batches(self, batches: Iterator[list[Chunk]]) -> None:
        """Each batch in turn, and the last transaction committed; on a failure it is rolled back."""
        try:
            if self.dry_run or not self.overlap_writes:
                for chunks in batches:
                    self._load_batch(chunks)
                self.transaction.commit()
            else:
                self._load_overlapped(batches)
        finally:
            self.transaction.close()

    def _load_overlapped(self, batches: Iterator[list[Chunk]]) -> None:
        """The next batch is read, checked and enriched while this one is written.

        The store's share of a batch (DuckDB's work, or the database server's)
        then runs beside ours, on another core. Writes stay one at a time and
        in order, so checkpoints, sessions and row ids are as in a plain loop.
        """
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="crumby-etl-write") as writer:
            writing = None
            for chunks in batches:
                prepared = self._prepare(chunks)
                if writing is not None:
                    writing.result()  # the previous batch is in (or its failure is raised here)
                writing = writer.submit(self._store, prepared)
                del prepared
            if writing is not None:
                writing.result()
            writer.submit(self.transaction.commit).result()

    def _load_batch(self, chunks: list[Chunk]) -> None:
        self._store(self._prepare(chunks))

    def _transaction_full(self, batches: int) -> bool:
        """Whether the open transaction, with ``batches`` batches written, is to be committed now."""
        return batches >= BATCHES_PER_TRANSACTION

    def _before_commit(self, conn: sa.Connection) -> None:
        """Write what the transaction's batches held back for its commit (nothing here)."""

    def _closed(self) -> None:
        """The transaction ended, committed or not: what it held back and did not write is dropped."""

    def _committed(self) -> None:
        """Remember the report as the store now has it (see :meth:`_rewind`)."""
        self.saved = replace(self.report, file_names=set(self.report.file_names))

    def _rewind(self) -> None:
        """Back to the last commit: its checkpoints, and its report."""
        self.marks = _checkpoints(self.engine)
        self.report = replace(self.saved, file_names=set(self.saved.file_names))

    def _prepare(self, chunks: list[Chunk]) -> _Prepared:
        """Parse, check and enrich a batch (nothing is written yet)."""
        parsed = parse_chunks(chunks, self.refused, self.failures)
        lines = parsed.chunk_lines
        for chunk in chunks:
            chunk.data = b""  # parsed: the raw bytes are not needed again, and they are a batch's size
        hits = parsed.hits.to_pandas()
        repeated = _repeated(parsed.hits.column("id"), hits["id"])
        if repeated.any():  # the same hit twice in one batch (a replayed line): keep the first
            hits = hits[~repeated].reset_index(drop=True)
        enriched = self.enricher.enrich(hits) if len(hits) else hits
        stored_ips = anonymise_ips(enriched["ip"], self.settings["IP_PRIVACY"]) if len(enriched) else None
        return _Prepared(chunks, lines, parsed, enriched, int(repeated.sum()), stored_ips)

    def _store(self, batch: _Prepared) -> None:
        """Write a prepared batch, its checkpoints and the calendar in the open transaction."""
        report = self.report
        enriched = batch.hits
        # Counted here, on the writer's thread: a rewind goes back to the counts of the last commit.
        report.rejected += len(batch.parsed.rejects)
        report.bytes += sum(c.end - c.start for c in batch.chunks)
        report.file_names.update(c.file.name for c in batch.chunks)
        report.duplicates += batch.repeated
        if self.dry_run:
            self._count(enriched, len(enriched))
            self._advance(batch.chunks, batch.lines, batch.parsed)
        else:
            self._set_aside(batch.parsed.rejects)
            conn = self.transaction.connection()
            try:
                inserted = self._write(conn, enriched, batch.stored_ips) if len(enriched) else (0, 0)
                self._save_checkpoints(conn, self._advance(batch.chunks, batch.lines, batch.parsed))
                if len(enriched):
                    self._extend_calendar(conn, enriched)
            except Exception as exc:
                if not is_data_error(self.engine, exc):
                    raise
                self.transaction.close()  # rolled back, with the batches before it since the last commit
                self._find_refused(batch, exc)
                raise _Refused from None
            self.transaction.written()
            report.visits += inserted[0]
            report.events += inserted[1]
            report.hits += sum(inserted)
            report.duplicates += len(enriched) - sum(inserted)
            report.bots += int(enriched["is_bot"].fillna(False).astype(bool).sum()) if len(enriched) else 0
        self.progress(sum(c.end - c.start for c in batch.chunks))

    def _set_aside(self, rejects: list) -> None:
        """Append rejects to the rejects file; those written before a rewind are not written again."""
        fresh = [r for r in rejects if (r.file, r.offset) not in self.rejects_written]
        write_rejects(self.settings["REJECTS_DIR"], fresh)
        self.rejects_written.update((r.file, r.offset) for r in fresh)
        if rejects:
            self.report.rejects_file = str(rejects_path(self.settings["REJECTS_DIR"]))

    @staticmethod
    def _save_checkpoints(conn: sa.Connection, rows: list[dict]) -> None:
        save_checkpoints(conn, rows)

    @staticmethod
    def _extend_calendar(conn: sa.Connection, enriched: pd.DataFrame) -> None:
        first_day = pd.Timestamp(enriched["datetime"].min()).date()
        last_day = pd.Timestamp(enriched["datetime"].max()).date()
        extend_calendar(conn, first_day, last_day)

    def _find_refused(self, batch: _Prepared, error: Exception) -> None:
        """Find the hits the store refuses by writing halves of the batch in transactions that are
        rolled back, down to single hits; record each with the store's reason in ``self.refused``."""
        hits, ips = batch.hits, batch.stored_ips
        if not len(hits):
            raise store_failure(self.engine, error)

        def attempt(rows: np.ndarray) -> Exception | None:
            part = hits.iloc[rows].reset_index(drop=True)
            with self.engine.connect() as conn:
                conn.begin()
                try:
                    self._write(conn, part, None if ips is None else ips.iloc[rows].reset_index(drop=True))
                    self._extend_calendar(conn, part)
                except Exception as exc:
                    if not is_data_error(self.engine, exc):
                        raise
                    return exc
                finally:
                    conn.rollback()
            return None

        found: dict[str, str] = {}

        def search(rows: np.ndarray, failure: Exception) -> None:
            if len(rows) == 1:
                found[str(hits["id"].iloc[rows[0]])] = _reason(failure)
                return
            for half in np.array_split(rows, 2):
                failure_of_half = attempt(half)
                if failure_of_half is not None:
                    search(half, failure_of_half)

        search(np.arange(len(hits)), error)
        if not found or len(found) == len(hits) > 1 or found.keys() <= self.refused.keys():
            # no hit to blame, every one, or none not blamed before: the store, not the data
            raise store_failure(self.engine, error)
        self.refused = {
            **self.refused,
            **found,
        }  # a new dict: the reading thread may be iterating the old one

    def _count(self, enriched: pd.DataFrame, count: int) -> None:
        if not count:
            return
        visit_rows, event_rows = split_by_type(enriched)
        self.report.visits += len(visit_rows)
        self.report.events += len(event_rows)
        self.report.hits += count
        self.report.bots += int(enriched["is_bot"].fillna(False).astype(bool).sum())

    def _advance(self, chunks: list[Chunk], lines: list[int], parsed: Parsed) -> list[dict]:
        """The new checkpoint rows of the batch's files (kept in memory for the run's next batches)."""
        rejected: dict[str, int] = {}
        for reject in parsed.rejects:
            rejected[reject.file] = rejected.get(reject.file, 0) + 1
        rows: dict[str, dict] = {}
        for chunk, count in zip(chunks, lines, strict=True):
            name = chunk.file.name
            mark = rows.get(name) or dict(
                self.marks.get(name) or {"name": name, "loaded_bytes": 0, "lines": 0, "rejected": 0}
            )
            mark["loaded_bytes"] = chunk.end
            mark["lines"] += count
            mark.update(load_id=self.report.load_id or 0, updated_at=utcnow(), expired=None)
            rows[name] = mark
        for name, mark in rows.items():
            mark["rejected"] += rejected.get(name, 0)
            self.marks[name] = mark
        return list(rows.values())

    # How the visits around a batch and the daily salts are read (ClickHouse reads its own way).
    find_visits = staticmethod(recent_sessions)
    load_salts = staticmethod(load_salts)

    def _assign(self, conn: sa.Connection, hits: pd.DataFrame) -> pd.DataFrame:
        """The batch's hits with their visitor and session ids."""
        settings = self.settings
        hashed = needs_hash(hits, settings["COOKIELESS"])
        day_salts = self.load_salts(conn, days_of(hits.loc[hashed, "datetime"]) if hashed.any() else [])
        hits = hits.assign(visitor_id=visitor_ids(hits, day_salts, settings["COOKIELESS"]))
        timeout = int(settings["SESSION_TIMEOUT"])
        reach = timedelta(minutes=timeout)
        found = self.find_visits(conn, time_spans(pa.array(hits["datetime"]), reach, gap=2 * reach))
        return hits.assign(session_id=assign_sessions(hits, found, timeout))

    def _write(self, conn: sa.Connection, hits: pd.DataFrame, stored_ips: pd.Series) -> tuple[int, int]:
        """Visitors, sessions, then the rows; returns (visits, events) inserted."""
        hits = self._assign(conn, hits)
        ids = np.zeros(len(hits), np.int64)  # row ids count on from each table's last
        tables = list(zip((visits, events), HIT_TYPES, split_by_type(hits), strict=True))
        for table, _, rows in tables:
            ids[rows] = np.arange(len(rows), dtype=np.int64) + next_id(conn, table)
        batch = batch_rows(hits, ids=ids, load_id=self.report.load_id, stored_ips=stored_ips)
        counts = [insert_hits(conn, table, batch, kind) if len(rows) else 0 for table, kind, rows in tables]
        visit_rows = tables[0][2]
        if counts[0]:
            first_id = int(ids[visit_rows[0]])
            update_rollup(conn, batch, first_id=first_id, load_id=self.report.load_id, inserted=counts[0])
        if any(counts):
            mark_stale(conn, hits["datetime"].dt.date.unique())
        return counts[0], counts[1]

    def _finish(self) -> None:
        report = self.report
        with self.engine.begin() as conn:
            last = conn.execute(
                sa.select(sa.func.max(sa.column("datetime"))).select_from(sa.table("calendar"))
            )
            last_day = last.scalar()
            if last_day is not None:
                extend_calendar(conn, as_day(last_day))
            if report.load_id is not None:
                self._close_load(
                    conn,
                    status="done",
                    finished_at=utcnow(),
                    files=len(report.file_names),
                    hits=report.hits,
                    rejected=report.rejected,
                )

    def _close_load(self, conn: sa.Connection, **values) -> None:
        conn.execute(loads.update().where(loads.c.id == self.report.load_id).values(**values))

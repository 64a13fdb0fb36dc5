"""``crumby etl --reprocess FROM TO``: enrich a date range again from the raw logs still kept.

For example after a GeoIP update. Only bytes already loaded are read (up to
each file's checkpoint, or the whole of a file compressed by retention). Each
row is replaced in place, once: same row id, visitor and session (a daily salt
may be gone by now, so visitors are not hashed again), new enrichment and a
new load id; the delete and the insert share a transaction per batch, and so
does the rebuild of those visits' rows in the aggregated store (``sessions``). Rows no
longer in the store (past ROW_RETENTION_DAYS) are not brought back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow.compute as pc
import sqlalchemy as sa

from ..config import ensure_folder
from ..store.engine import backend_name, create_engine
from ..store.schema import events, visits
from ..store.stale_days import mark_stale
from .enrich import Enricher, anonymise_ips
from .extract import Chunk, LogFile, iter_log_files
from .load import insert_hits, replace_hits
from .lock import RunLock
from .parse import parse_chunks
from .pipeline import DEFAULT_BATCH_BYTES, LoadReport, _checkpoints, _repeated, _Run
from .rollup import rebuild
from .rows import split_by_type, table_rows

KEPT = ("id", "hit_id", "visitor_id", "session_id")


def reprocess(
    settings: Mapping[str, Any],
    first: date,
    last: date,
    store: sa.Engine | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    enricher: Enricher | None = None,
) -> LoadReport:
    """Replace the rows of hits from ``first`` through ``last`` (UTC days) with fresh enrichment."""
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    data_dir = ensure_folder(settings, "DATA_DIR")
    with RunLock(data_dir / "etl.lock"):
        engine = store or create_engine(settings["SQLALCHEMY_DATABASE_URI"], echo=settings["SQLALCHEMY_ECHO"])
        try:
            run_class = _Reprocess
            if backend_name(engine) == "clickhouse":
                from .clickhouse import ClickHouseReprocess as run_class
            return run_class(settings, engine, first, last, progress, batch_bytes, enricher).load()
        finally:
            if store is None:
                engine.dispose()


def reprocess_bytes(settings: Mapping[str, Any], first: date, last: date) -> int:
    """About how many raw log bytes a reprocess of these days reads (for a progress bar)."""
    engine = create_engine(settings["SQLALCHEMY_DATABASE_URI"])
    try:
        run = _Reprocess(settings, engine, first, last, None, DEFAULT_BATCH_BYTES, None)
        run.marks = _checkpoints(engine)
        return sum(
            (until if until is not None else log_file.size() or 0) - start
            for log_file, start, until in run._plan()
        )
    finally:
        engine.dispose()


class _Reprocess(_Run):
    kind = "reprocess"
    overlap_writes = False  # each batch is written by its own _load_batch below

    def __init__(self, settings, engine, first, last, progress, batch_bytes, enricher) -> None:
        super().__init__(settings, engine, False, progress, batch_bytes, enricher)
        self.low = datetime.combine(first, datetime.min.time())
        self.high = datetime.combine(last + timedelta(days=1), datetime.min.time())
        self.load_extra = {"reprocess_from": first, "reprocess_to": last}
        self.done = False

    def _plan(self) -> Iterator[tuple[LogFile, int, int | None]]:
        if self.done:  # one pass: nothing new appears in the past
            return
        self.done = True
        for log_file in list(iter_log_files(self.settings["LOG_DIR"])):
            mark = self.marks.get(log_file.name)
            if not mark or mark.get("expired") == "deleted":
                continue
            hour = log_file.hour.replace(tzinfo=None)
            if hour + timedelta(hours=1) <= self.low - timedelta(hours=1) or hour >= self.high:
                continue
            until = None if mark.get("expired") else mark["loaded_bytes"]
            yield log_file, 0, until

    def _load_batch(self, chunks: list[Chunk]) -> None:
        parsed = parse_chunks(chunks, failures=self.failures)
        hits = parsed.hits.to_pandas()
        repeated = _repeated(parsed.hits.column("id"), hits["id"])
        if repeated.any():  # a replayed line: stored once, so written back once (as the ETL keeps the first)
            hits = hits[~repeated].reset_index(drop=True)
        if len(hits):
            hits = hits[(hits["datetime"] >= self.low) & (hits["datetime"] < self.high)].reset_index(
                drop=True
            )
        self.report.file_names.update(c.file.name for c in chunks)
        self.report.bytes += sum(c.end - c.start for c in chunks)
        if len(hits):
            enriched = self.enricher.enrich(hits)
            with self.engine.begin() as conn:
                self._replace(conn, enriched)
        self.progress(sum(c.end - c.start for c in chunks))

    def _replace(self, conn: sa.Connection, hits: pd.DataFrame) -> None:
        stored_ips = anonymise_ips(hits["ip"], self.settings["IP_PRIVACY"])
        # A second's slack: MySQL/MariaDB DATETIME keeps whole seconds, rounded.
        low = pd.Timestamp(hits["datetime"].min()).to_pydatetime() - timedelta(seconds=1)
        high = pd.Timestamp(hits["datetime"].max()).to_pydatetime() + timedelta(seconds=1)
        for table, rows in zip((visits, events), split_by_type(hits), strict=True):
            if not len(rows):
                continue
            present = pd.DataFrame(
                conn.execute(
                    sa.select(*[table.c[name] for name in KEPT]).where(table.c.datetime.between(low, high))
                ).all(),
                columns=list(KEPT),
            ).drop_duplicates("hit_id")
            picked = hits.iloc[rows]
            kept = picked[["id"]].merge(
                present, how="left", left_on="id", right_on="hit_id", suffixes=("", "_row")
            )
            found = kept["hit_id"].notna().to_numpy()
            if not found.any():
                continue
            rows = rows[found]
            kept = kept[found]
            hits.loc[hits.index[rows], "visitor_id"] = kept["visitor_id"].to_numpy(object)
            hits.loc[hits.index[rows], "session_id"] = kept["session_id"].to_numpy(object)
            arrow = table_rows(
                table,
                hits,
                rows,
                ids=kept["id_row"].to_numpy("int64"),
                load_id=self.report.load_id,
                stored_ips=stored_ips,
            )
            inserted = self._swap(conn, table, arrow)
            self.report.hits += inserted
            mark_stale(conn, picked["datetime"].iloc[found].dt.date.unique())
            if table is visits:
                self._rebuild(conn, kept["session_id"].dropna().tolist())
                self.report.visits += inserted
            else:
                self.report.events += inserted
            self.report.bots += int(picked["is_bot"].iloc[found].fillna(False).astype(bool).sum())

    def _swap(self, conn: sa.Connection, table: sa.Table, rows) -> int:
        """The stored rows of these hits replaced by ``rows``; returns how many went in."""
        times = rows.column("datetime")
        slack = timedelta(seconds=1)  # as in _replace
        within = (pc.min(times).as_py() - slack, pc.max(times).as_py() + slack)
        replace_hits(conn, table, rows.column("hit_id").to_pylist(), within)
        return insert_hits(conn, table, rows)

    def _rebuild(self, conn: sa.Connection, session_ids: list[str]) -> None:
        """The ``sessions`` rows of these visits made anew from their page views."""
        rebuild(conn, session_ids, self.report.load_id)

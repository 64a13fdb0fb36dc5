"""Retention: what a run does, after loading, with old raw logs, old rejects and old rows.

- A raw log file past ``RAW_LOG_RETENTION_DAYS`` is compressed (gzip, with
  each hit's ``ip`` cut as ``IP_PRIVACY`` says) or deleted, per
  ``RAW_LOG_EXPIRY``; only once it is wholly loaded (its checkpoint is its
  size and its hour is closed). Its checkpoint row, keyed by the name without
  ``.gz``, records ``expired``, so later runs skip it and ``--reprocess`` can
  still read a compressed one.
- A rejects file past the same retention is scrubbed and compressed, or deleted.
- Rows older than ``ROW_RETENTION_DAYS`` leave ``visits`` and ``events``, and
  the calendar's days before the first day kept go with them.

Every step can be interrupted and done again: a compressed file replaces its
plain twin only after it is complete on disk and its checkpoint says so.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from ..config import ConfigError
from ..store.bookkeeping import files as checkpoints
from ..store.bookkeeping import stale_days
from ..store.days import as_day, midnight, utcnow
from ..store.engine import backend_name
from ..store.schema import HIT_TABLES, calendar, document_days, origin_days, sessions, visits
from . import page_visitors, visitor_days
from .compressed import plain_length
from .daily import sum_day
from .enrich import anonymise_ips
from .extract import LogFile, iter_log_files
from .load import record_load

COMPRESSED = "compressed"
DELETED = "deleted"
REJECTS_NAME = re.compile(r"^rejects-(\d{8})\.txt(\.gz)?$")
# The ip field of a raw hit line (the collector writes compact JSON; nginx may add spaces).
IP_FIELD = re.compile(rb'"ip"\s*:\s*"((?:[^"\\]|\\.)*)"')
COPY_BLOCK = 1 << 20


@dataclass
class RetentionReport:
    """What retention did in a run."""

    compressed: int = 0
    deleted: int = 0
    rejects: int = 0
    rows: int = 0
    skipped: list[str] = field(default_factory=list)  # old files kept because they are not wholly loaded

    def summary(self) -> str:
        """A clause for the run's summary line, empty when nothing expired."""
        parts = []
        if self.compressed:
            parts.append(f"{self.compressed} raw logs compressed")
        if self.deleted:
            parts.append(f"{self.deleted} raw logs deleted")
        if self.rejects:
            parts.append(f"{self.rejects} rejects files expired")
        if self.rows:
            parts.append(f"{self.rows} rows past retention deleted")
        return ", ".join(parts)


def apply_retention(
    settings: Mapping[str, Any], engine: sa.Engine, *, now: datetime | None = None
) -> RetentionReport:
    """Expire old raw logs, rejects and rows as the settings say; call while holding the ETL lock."""
    now = now or datetime.now(timezone.utc)
    report = RetentionReport()
    log_days = int(settings["RAW_LOG_RETENTION_DAYS"])
    if log_days:
        cutoff = now - timedelta(days=log_days)
        expire_raw_logs(settings, engine, cutoff, report, now=now)
        expire_rejects(settings, cutoff.date(), report)
    row_days = int(settings["ROW_RETENTION_DAYS"])
    if row_days:
        report.rows = delete_old_rows(engine, (now - timedelta(days=row_days)).date())
    return report


def expire_raw_logs(
    settings: Mapping[str, Any],
    engine: sa.Engine,
    cutoff: datetime,
    report: RetentionReport,
    *,
    now: datetime,
) -> None:
    """Compress or delete the wholly loaded raw logs whose hour ended before ``cutoff``."""
    how = settings["RAW_LOG_EXPIRY"]
    folder = Path(settings["LOG_DIR"])
    old = [f for f in iter_log_files(folder) if f.hour + timedelta(hours=1) <= cutoff]
    if not old:
        return
    with engine.connect() as conn:
        marks = {row.name: row._asdict() for row in conn.execute(sa.select(checkpoints))}
    for log_file in old:
        mark = marks.get(log_file.name)
        expired = mark.get("expired") if mark else None
        if expired:  # done before, perhaps cut short: finish the job
            _finish(log_file, folder, expired, how, engine, report, settings["IP_PRIVACY"])
            continue
        if not _wholly_loaded(log_file, mark, now):
            report.skipped.append(log_file.name)
            continue
        if how == "delete":
            _mark(engine, log_file.name, DELETED)
            _remove(log_file.path)
            report.deleted += 1
        else:
            target = folder / (log_file.name + ".gz")
            _write_scrubbed(log_file, target, settings["IP_PRIVACY"])
            _mark(engine, log_file.name, COMPRESSED)
            if not log_file.compressed:
                _remove(log_file.path)
            report.compressed += 1


def _wholly_loaded(log_file: LogFile, mark: dict | None, now: datetime) -> bool:
    """Whether every byte of the file is loaded and no writer can add more."""
    if not mark or not log_file.settled(now.timestamp()):
        return False
    size = plain_length(log_file.path) if log_file.compressed else log_file.size()
    return size is not None and mark["loaded_bytes"] >= size


def _finish(
    log_file: LogFile,
    folder: Path,
    expired: str,
    how: str,
    engine: sa.Engine,
    report: RetentionReport,
    mode: str,
) -> None:
    """A file whose checkpoint already says expired: remove what a cut-short step left behind."""
    twin = folder / (log_file.name + ".gz")
    if expired == DELETED:
        _remove(log_file.path)
        _remove(twin)
    elif how == "delete":  # compressed earlier, the setting says delete now
        _mark(engine, log_file.name, DELETED)
        _remove(log_file.path)
        _remove(twin)
        report.deleted += 1
    elif not log_file.compressed:  # cut short between the checkpoint and removing the plain file
        if not twin.is_file():
            _write_scrubbed(log_file, twin, mode)
        _remove(log_file.path)


def _mark(engine: sa.Engine, name: str, expired: str) -> None:
    with engine.begin() as conn:
        if backend_name(engine) == "clickhouse":  # where the checkpoint's new row replaces it
            from .clickhouse import mark_expired

            mark_expired(conn, name, expired)
            return
        conn.execute(checkpoints.update().where(checkpoints.c.name == name).values(expired=expired))


def scrub_line_ips(data: bytes, mode: str) -> bytes:
    """``data`` (raw log lines) with every hit's ``ip`` cut as IP_PRIVACY ``mode`` says."""
    if mode == "full":
        return data
    found = {match.group(1) for match in IP_FIELD.finditer(data)}
    if not found:
        return data
    originals = sorted(found)
    texts = pd.Series([raw.decode("utf-8", "replace") for raw in originals], dtype=object)
    kept = anonymise_ips(texts, mode)
    replacement = {
        raw: (b'"ip":null' if value is None or value != value else b'"ip":"' + value.encode() + b'"')
        for raw, value in zip(originals, kept.tolist(), strict=True)
    }
    return IP_FIELD.sub(lambda match: replacement[match.group(1)], data)


def _write_scrubbed(log_file: LogFile, target: Path, mode: str) -> None:
    """Write the file, IPs scrubbed, gzipped, to ``target`` (complete on disk before it is there)."""
    partial = target.with_name(target.name + ".part")
    try:
        with log_file.open() as source, open(partial, "wb") as raw:
            with gzip.GzipFile(filename=log_file.name, mode="wb", fileobj=raw, mtime=0) as out:
                pending = b""
                while True:
                    block = source.read(COPY_BLOCK)
                    if not block:
                        break
                    block = pending + block
                    cut = block.rfind(b"\n") + 1
                    pending = block[cut:]
                    out.write(scrub_line_ips(block[:cut], mode))
                out.write(scrub_line_ips(pending, mode))
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, target)
    except OSError as exc:
        _remove(partial)
        raise ConfigError(
            f"cannot compress {log_file.path} ({exc.strerror or exc}); the hits are loaded, the raw log is "
            "kept as it was: give crumby etl write permission and free space in LOG_DIR"
        ) from None


def expire_rejects(settings: Mapping[str, Any], cutoff: date, report: RetentionReport) -> None:
    """Rejects files of days before ``cutoff``: scrubbed and gzipped, or deleted."""
    folder = Path(settings["REJECTS_DIR"])
    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        match = REJECTS_NAME.match(path.name)
        if not match or datetime.strptime(match.group(1), "%Y%m%d").date() >= cutoff:
            continue
        if match.group(2):  # compressed before: kept under compress, removed under delete
            if settings["RAW_LOG_EXPIRY"] == "delete":
                _remove(path)
                report.rejects += 1
            continue
        if settings["RAW_LOG_EXPIRY"] == "compress":
            as_log = LogFile(path.name, path, compressed=False)
            _write_scrubbed(as_log, path.with_name(path.name + ".gz"), settings["IP_PRIVACY"])
        _remove(path)
        report.rejects += 1


def delete_old_rows(engine: sa.Engine, before: date) -> int:
    """Delete visits, events and their aggregated rows before ``before`` (UTC), and calendar days before.

    A visit goes whole: one begun before the cutoff loses its page views after
    midnight too (it counted on the day it began, which is gone), and the days
    those were on are summed again, so no page view is left without its visit.
    """
    start = midnight(before)
    deleted = 0
    if backend_name(engine) == "clickhouse":
        from .clickhouse import delete_old_rows as delete_on_clickhouse

        with engine.connect() as conn:
            deleted = delete_on_clickhouse(conn, start)
            if deleted:
                record_load(conn, "retention", "done", finished_at=utcnow())
        return deleted
    with engine.begin() as conn:
        for table in HIT_TABLES:
            result = conn.execute(table.delete().where(table.c.datetime < start))
            deleted += max(result.rowcount or 0, 0)
        rest, changed = _delete_rest_of_begun_visits(conn, start)
        deleted += rest
        conn.execute(sessions.delete().where(sessions.c.started < start))
        for daily in (document_days, origin_days, stale_days):
            conn.execute(daily.delete().where(daily.c.day < start))
        visitor_days.forget_before(conn, start)
        page_visitors.forget_before(conn, start, changed)
        conn.execute(calendar.delete().where(calendar.c.datetime < start))
        if deleted:  # the answers over those days changed
            record_load(conn, "retention", "done", finished_at=utcnow())
    return deleted


def _delete_rest_of_begun_visits(conn: sa.Connection, start: datetime) -> tuple[int, set[date]]:
    """The page views from ``start`` on of visits that began before it; their days are summed again.

    Returns how many went, and their days.
    """
    begun = sa.select(sessions.c.session_id).where(sessions.c.started < start, sessions.c.ended >= start)
    rest = sa.and_(visits.c.datetime >= start, visits.c.session_id.in_(begun))
    days = {as_day(when) for (when,) in conn.execute(sa.select(visits.c.datetime).where(rest)).all()}
    if not days:
        return 0, days
    result = conn.execute(visits.delete().where(rest))
    for day in sorted(days):
        sum_day(conn, day)
    return max(result.rowcount or 0, 0), days


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(
            f"cannot remove {path} ({exc.strerror}); give crumby etl write permission on its folder"
        ) from None

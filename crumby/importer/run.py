"""``import_logs(settings, files, fmt) -> ImportReport``: access-log page views into raw hit files.

Page views are written as contract-2 lines (``"src":"import"``, no ``cid``: the
ETL counts their visitors by the daily-salted hash, as in cookieless mode) to
``LOG_DIR/hits-<hour>-import_<writer>.jsonl``, in large whole-line writes on a
file only this run appends to. Each hit id derives from the log's key and the
line number (:mod:`.sources`), so the ETL loads a line once however often it is
imported. Lines that are not in the format are set aside in
``REJECTS_DIR/import-rejects-<day>.txt`` as ``<log>:<line number>``, the reason
and the line; so is a line whose reading raised anything else (a bug of ours:
one line must not stop the import), the run's first logged with its traceback.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import hits
from ..config import ensure_folder
from ..serve.hitlog import log_file_name, writer_name
from .formats import HitTime, LineError, Request, line_parser
from .pages import LEFT_OUT_REASONS, left_out
from .sources import FIRST_LINE_BYTES, FollowState, Mark, Piece, key_of, open_log

BLOCK_BYTES = 4 << 20
WITH_HOST = ("nginx-json", "apache")
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode

log = logging.getLogger(__name__)


@dataclass
class ImportReport:
    """What an import did; the CLI prints :meth:`summary`."""

    files: int = 0
    lines: int = 0
    hits: int = 0
    left_out: Counter = field(default_factory=Counter)
    unparseable: int = 0
    seconds: float = 0.0
    output: list[str] = field(default_factory=list)
    rejects_file: str | None = None

    def summary(self) -> str:
        reasons = ", ".join(f"{self.left_out[r]:,} {r}" for r in LEFT_OUT_REASONS if self.left_out[r])
        rate = self.lines / self.seconds if self.seconds > 0 else 0
        return (
            f"{self.files} files, {self.lines:,} lines: {self.hits:,} page views written, "
            f"{sum(self.left_out.values()):,} left out" + (f" ({reasons})" if reasons else "") + ", "
            f"{self.unparseable:,} unparseable, {self.seconds:.1f} s, {rate:,.0f} lines/s"
        )


class _Output:
    """This run's raw hit file, opened on the first hit; whole lines, many per write."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.fd: int | None = None
        self.paths: list[str] = []
        self.hour = -1

    def write(self, lines: list[str]) -> None:
        if not lines:
            return
        hour = int(time.time() // 3600)
        if self.fd is not None and hour != self.hour:
            self.close()  # a closed hour is never written again, as with the collector's files
        if self.fd is None:
            name = log_file_name(hour * 3600, "import_" + writer_name().replace("-", "_"))
            path = self.log_dir / name
            if str(path) not in self.paths:
                self.paths.append(str(path))
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            self.hour = hour
        data = memoryview("".join(lines).encode("utf-8", "replace"))
        while data:
            data = data[os.write(self.fd, data) :]

    def close(self) -> None:
        if self.fd is not None:
            os.fsync(self.fd)  # on disk before the follow state says these lines are done
            os.close(self.fd)
            self.fd = None


class _Rejects:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lines: list[bytes] = []
        self.path: Path | None = None

    def add(self, source: str, number: int, reason: str, line: bytes) -> None:
        self.lines.append(f"{source}:{number}\t{reason}\t".encode() + line + b"\n")
        if len(self.lines) >= 10000:
            self.flush()

    def flush(self) -> None:
        if not self.lines:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"import-rejects-{datetime.now(timezone.utc):%Y%m%d}.txt"
        with open(self.path, "ab") as handle:
            handle.writelines(self.lines)
        self.lines = []


class _Importer:
    def __init__(
        self, settings: Mapping[str, Any], fmt: str, site: str | None, scheme: str, progress: Callable | None
    ) -> None:
        self.parse = line_parser(fmt)
        self.hit_time = HitTime()
        if not site and fmt not in WITH_HOST:
            raise ValueError(f"the {fmt} format has no Host field: say which site the log is of with --site")
        self.site = site
        self.scheme = scheme
        self.progress = progress
        self.report = ImportReport()
        self.output = _Output(ensure_folder(settings, "LOG_DIR"))
        self.rejects = _Rejects(Path(settings["REJECTS_DIR"]))
        self.failed = 0  # lines whose reading raised an unexpected error

    def read(self, piece: Piece, follow: bool) -> Mark | None:
        """Import what is left of one log; returns how far it was read (None when it is empty)."""
        with open_log(piece.path) as handle:
            mark = piece.mark
            if mark is None:
                first = handle.readline(FIRST_LINE_BYTES)
                if not first:
                    return None
                mark = Mark(key_of(first))
                pending = first
            else:
                _skip(handle, mark.offset)
                pending = b""
            mark = Mark(mark.key, mark.offset, mark.line)
            while True:
                block = handle.read(BLOCK_BYTES)
                data = pending + block
                end = data.rfind(b"\n") + 1
                if not block:
                    # A last line without its newline: still being written in a live log.
                    end = end if follow else len(data)
                    self._lines(data[:end], piece.path, mark)
                    return mark
                self._lines(data[:end], piece.path, mark)
                pending = data[end:]
                if self.progress:
                    self.progress(len(block))

    def _lines(self, data: bytes, source: str, mark: Mark) -> None:
        if not data:
            return
        out = []
        parse, report, number = self.parse, self.report, mark.line
        id_prefix = mark.key.encode() + b":"
        lines = data.split(b"\n")
        if not lines[-1]:
            lines.pop()
        for raw in lines:
            number += 1
            raw = raw.rstrip(b"\r")
            try:
                request = parse(raw.decode("utf-8", "replace"))
                reason = left_out(request)
                if reason:
                    report.left_out[reason] += 1
                    continue
                host = self.site or request.host
                if not host:
                    raise LineError("no Host field: give the site with --site")
                ts = self.hit_time(request)
                # The line's own bytes too: two logs that begin with the same line (two servers' first
                # health check from a balancer) must not share the ids of their later, different lines.
                key = id_prefix + str(number).encode() + b":" + raw
                hit_id = hashlib.blake2b(key, digest_size=16).hexdigest()
                out.append(_encode(self._hit(request, host, hit_id, ts)) + "\n")
            except LineError as exc:
                report.unparseable += 1
                self.rejects.add(source, number, str(exc), raw)
            except MemoryError:
                raise
            except Exception as exc:  # a bug of ours: it must not stop every import at this line
                report.unparseable += 1
                self.rejects.add(source, number, self._failed(source, number, exc), raw)
        report.lines += number - mark.line
        report.hits += len(out)
        mark.line = number
        mark.offset += len(data)
        self.output.write(out)

    def _failed(self, source: str, number: int, exc: Exception) -> str:
        """The reason of a line whose reading raised ``exc``; the run's first is logged with its traceback."""
        self.failed += 1
        if self.failed == 1:
            log.warning(
                "%s:%d: crumby could not import this line, a bug: please report it with this traceback; "
                "the line is set aside in the rejects file, and the import goes on",
                source,
                number,
                exc_info=exc,
            )
        return hits.failure_reason(exc, "import")

    def _hit(self, request: Request, host: str, hit_id: str, ts: str) -> dict[str, Any]:
        fields = {"t": "visit", "dl": hits.cap(f"{self.scheme}://{host}{request.target}", 2048), "pv": "1"}
        if request.referer:
            fields["dr"] = hits.cap(request.referer, hits.CLIENT_FIELD_CAPS["dr"])
        hit = hits.make_hit(fields, ip=request.ip, ua=request.ua, referer="", lang="", hit_id=hit_id, ts=ts)
        hit["src"] = "import"
        return hit


def import_logs(
    settings: Mapping[str, Any],
    files: list[str],
    fmt: str = "combined",
    *,
    site: str | None = None,
    scheme: str = "https",
    follow: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Write the page views of ``files`` (``-``: stdin) as raw hits; see the module's docstring.

    With ``follow``, each log is read on from where the last import left it (see
    :mod:`.sources`), and a last line without its newline waits for the next run.
    """
    started = time.monotonic()
    importer = _Importer(settings, fmt, site, scheme, progress)
    state = FollowState(ensure_folder(settings, "DATA_DIR")) if follow else None
    if follow and "-" in files:
        raise ValueError("--follow-state reads log files, not stdin")
    try:
        for path in files:
            if path != "-" and not os.path.isfile(path) and not (state and state.knows(path)):
                raise ValueError(f"{path}: no such log file")
            pieces = state.pieces(path) if state else [Piece(path, None)]
            for piece in pieces:
                mark = importer.read(piece, follow)
                importer.report.files += 1
                if state and mark is not None:
                    importer.output.close()
                    state.update(path, mark, piece.path)
                    state.save()
    finally:
        importer.output.close()
        importer.rejects.flush()
    report = importer.report
    report.seconds = time.monotonic() - started
    report.output = importer.output.paths
    report.rejects_file = str(importer.rejects.path) if importer.rejects.path else None
    return report


def _skip(handle, offset: int) -> None:
    """Go to byte ``offset`` of the plain text (a gzip file is read up to there)."""
    if handle.seekable():
        handle.seek(offset)
        return
    while offset > 0:
        piece = handle.read(min(offset, BLOCK_BYTES))
        if not piece:
            return
        offset -= len(piece)

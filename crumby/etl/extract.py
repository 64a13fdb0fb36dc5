"""Read the raw log bytes not yet loaded: whole lines only, from each file's checkpoint.

Files are ``LOG_DIR/hits-YYYYMMDDHH-<writer>.jsonl`` (or ``.jsonl.gz`` once
compressed). A file is known by its name without ``.gz``, so compressing it
keeps its checkpoint. Offsets count bytes of the uncompressed stream. Bytes
after a file's last newline are a line still being written: they wait for the
next run, unless the file's hour is long over (then nobody will finish the
line, and it is rejected as torn).
"""

from __future__ import annotations

import gzip
import os
import re
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from ..hits import MAX_LINE_BYTES

LOG_NAME = re.compile(r"^hits-(\d{10})-[^/]+\.jsonl$")
# A file whose hour ended this long ago, untouched for as long, is finished.
SETTLED_SECONDS = 600


@dataclass(frozen=True)
class LogFile:
    name: str  # hits-YYYYMMDDHH-writer.jsonl, without .gz
    path: Path
    compressed: bool

    @property
    def hour(self) -> datetime:
        """The UTC hour the file's hits were written in."""
        return datetime.strptime(LOG_NAME.match(self.name).group(1), "%Y%m%d%H").replace(tzinfo=timezone.utc)

    def settled(self, now: float | None = None) -> bool:
        """Whether nobody writes this file any more (its hour is over, and it has been still)."""
        now = time.time() if now is None else now
        if self.compressed:
            return True
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return True
        hour_end = self.hour.timestamp() + 3600
        return now - hour_end > SETTLED_SECONDS and now - mtime > SETTLED_SECONDS

    def open(self) -> BinaryIO:
        return gzip.open(self.path, "rb") if self.compressed else open(self.path, "rb")

    def size(self) -> int | None:
        """Bytes of the plain file; None for a compressed one (its length is known only by reading)."""
        if self.compressed:
            return None
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return None


def iter_log_files(log_dir: str | os.PathLike) -> Iterator[LogFile]:
    """The raw log files in ``log_dir``, oldest hour first; a plain file wins over its .gz twin."""
    folder = Path(log_dir)
    if not folder.is_dir():
        return
    found: dict[str, LogFile] = {}
    for path in folder.iterdir():
        name = path.name
        compressed = name.endswith(".gz")
        if compressed:
            name = name[:-3]
        if not LOG_NAME.match(name) or not path.is_file():
            continue
        if compressed and name in found:
            continue
        found[name] = LogFile(name, path, compressed)
    yield from (found[name] for name in sorted(found))


@dataclass
class Chunk:
    """Whole lines of one file: ``data`` starts at byte ``start``; ``end`` is the next checkpoint."""

    file: LogFile
    start: int
    data: bytes
    # Lines cut out before parsing (too long, or torn at the end of a finished file): (offset, reason, bytes)
    rejected: list[tuple[int, str, bytes]] = field(default_factory=list)
    end: int = 0

    def __post_init__(self) -> None:
        if not self.end:
            self.end = self.start + len(self.data)


def iter_chunks(
    log_file: LogFile,
    start: int,
    max_bytes: int,
    *,
    until: int | None = None,
    now: float | None = None,
    on_end: Callable[[int], None] | None = None,
) -> Iterator[Chunk]:
    """Chunks of whole lines from ``start`` on, each about ``max_bytes`` (never less than one line).

    ``until`` stops at that offset (a reprocess reads only what was loaded).
    Without it, ``on_end`` is called with the file's length once it is read
    to its end and that is all passed on (a .gz does not say its length).
    """
    max_bytes = max(max_bytes, 2 * MAX_LINE_BYTES)
    if until is not None:
        on_end = None
    try:
        handle = log_file.open()
    except FileNotFoundError:
        return
    with handle:
        try:
            _skip(handle, start)
            offset = start
            pending = b""
            while True:
                want = max_bytes - len(pending)
                if until is not None:
                    want = min(want, until - offset - len(pending))
                piece = handle.read(want) if want > 0 else b""
                data = pending + piece
                if not data:
                    if on_end is not None:
                        on_end(offset)
                    return
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    at_end = len(piece) < want  # a short read: the end of the file so far
                    chunk = _no_newline(log_file, offset, data, handle, eof=at_end, now=now)
                    if chunk is None:
                        return
                    offset = chunk.end
                    pending = b""
                    yield chunk
                    continue
                yield Chunk(log_file, offset, data[:cut])
                offset += cut
                pending = data[cut:]
                if not piece and pending:
                    chunk = _no_newline(log_file, offset, pending, handle, eof=True, now=now)
                    if chunk is not None:
                        yield chunk
                    return
        except (EOFError, OSError, zlib.error):
            # A .gz still being written, or cut short: what could be read is loaded; the rest waits.
            return


def _skip(handle: BinaryIO, count: int) -> None:
    if isinstance(handle, gzip.GzipFile):
        handle.seek(count)
    else:
        handle.seek(count, os.SEEK_SET)


def _no_newline(
    log_file: LogFile, offset: int, data: bytes, handle: BinaryIO, *, eof: bool, now: float | None
) -> Chunk | None:
    """Bytes with no newline: an over-long line (rejected), a torn tail (rejected), or a line in progress."""
    if not eof:
        # No newline in a whole window: the line is longer than any the collector writes.
        skipped = len(data)
        while True:
            piece = handle.read(1 << 20)
            if not piece:
                break
            newline = piece.find(b"\n")
            if newline >= 0:
                skipped += newline + 1
                _skip_back(handle, offset + skipped)
                break
            skipped += len(piece)
        reason = f"line longer than {MAX_LINE_BYTES} bytes"
        return Chunk(log_file, offset, b"", [(offset, reason, data[:MAX_LINE_BYTES])], end=offset + skipped)
    if log_file.settled(now):
        # Past the torn line: it is set aside once, and a later run finds nothing new in the file.
        reason = "torn line: no newline at the end of the file"
        return Chunk(log_file, offset, b"", [(offset, reason, data)], end=offset + len(data))
    return None  # a line still being written: it waits for the next run


def _skip_back(handle: BinaryIO, position: int) -> None:
    handle.seek(position)

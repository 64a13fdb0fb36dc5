"""Opening access logs (plain, gzip, stdin), and how far a live one was read across rotations.

A log is known by its *key*: a hash of its first line, which stays with the
content when logrotate renames the file, copies it (``copytruncate``) or
compresses it. Each hit's id comes from the key and the line number, so an
import of the same lines, from any copy, makes the same ids and the ETL loads
them once.

The follow state (``DATA_DIR/import-state.json``) keeps, per log path, its
inode, key, byte offset and line number after the last whole line read. On the
next run: the same file with the same first line is read on from the offset;
a file that was rotated away is looked for among its siblings (``access.log.1``,
``access.log.2.gz``...) by its key and finished first, then the new file is read
from its start.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

STATE_FILE = "import-state.json"
FIRST_LINE_BYTES = 65536
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Mark:
    """How far one log was read: after ``line`` whole lines, at byte ``offset`` of its plain text."""

    key: str
    offset: int = 0
    line: int = 0
    dev: int = 0
    inode: int = 0


@dataclass
class Piece:
    """A part of a log to read: ``path`` (``-`` for stdin) from ``mark`` on."""

    path: str
    mark: Mark | None  # None: from the start, key not known yet


def open_log(path: str) -> BinaryIO:
    """The log's plain bytes, gunzipped when it is gzip (by its first bytes, not its name)."""
    raw = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115 (closed by the caller)
    head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    return gzip.open(raw, "rb") if head == GZIP_MAGIC else raw


def key_of(first_line: bytes) -> str:
    return hashlib.blake2b(first_line.rstrip(b"\r\n"), digest_size=8).hexdigest()


def file_key(path: str | os.PathLike) -> str | None:
    """The key of a log file on disk (None when it is empty or unreadable)."""
    try:
        with open_log(str(path)) as handle:
            first = handle.readline(FIRST_LINE_BYTES)
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    return key_of(first) if first else None


class FollowState:
    """The follow state file: what was read of each live log, saved after each log is done."""

    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.path = Path(data_dir) / STATE_FILE
        try:
            saved = json.loads(self.path.read_text())
        except FileNotFoundError:
            saved = {}
        except ValueError:
            raise ValueError(
                f"{self.path} is not valid JSON: move it away to start the follow state anew"
            ) from None
        self.marks = {path: Mark(**mark) for path, mark in saved.get("files", {}).items()}

    def knows(self, path: str) -> bool:
        return str(Path(path).resolve()) in self.marks

    def pieces(self, path: str) -> list[Piece]:
        """What is left to read of ``path``: the rest of a rotated-away predecessor, then the file itself."""
        absolute = str(Path(path).resolve())
        mark = self.marks.get(absolute)
        if mark is None:
            return [Piece(path, None)]
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            stat = None
        same = stat is not None and (stat.st_dev, stat.st_ino) == (mark.dev, mark.inode)
        if same and stat.st_size >= mark.offset and file_key(path) == mark.key:
            return [Piece(path, mark)]
        pieces = [Piece(str(old), mark) for old in _predecessor(Path(path), mark)]
        return pieces + ([Piece(path, None)] if stat is not None else [])

    def update(self, path: str, mark: Mark, read_from: str) -> None:
        """Remember ``mark`` for the log ``path``; ``read_from`` is the file read (a rotated copy, maybe)."""
        stat = os.stat(read_from)
        mark.dev, mark.inode = stat.st_dev, stat.st_ino
        self.marks[str(Path(path).resolve())] = mark

    def save(self) -> None:
        temporary = self.path.with_name(f".{STATE_FILE}.tmp")
        temporary.write_text(
            json.dumps({"files": {p: asdict(m) for p, m in sorted(self.marks.items())}}, indent=1)
        )
        os.replace(temporary, self.path)


def _predecessor(path: Path, mark: Mark) -> Iterator[Path]:
    """The rotated copy of the log ``mark`` was taken of, if one is still beside it (at most one)."""
    try:
        siblings = sorted(p for p in path.parent.iterdir() if p.name.startswith(path.name) and p != path)
    except FileNotFoundError:
        return
    by_inode = [p for p in siblings if _inode(p) == (mark.dev, mark.inode)]
    for candidate in by_inode + [p for p in siblings if p not in by_inode]:
        if file_key(candidate) == mark.key:
            yield candidate
            return


def _inode(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (-1, -1)
    return (stat.st_dev, stat.st_ino)

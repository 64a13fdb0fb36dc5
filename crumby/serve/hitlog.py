"""Appending raw hits to per-hour, per-writer JSONL files (contract 2).

Each line goes out in a single ``os.write`` on a file descriptor opened with
``O_APPEND``: the kernel then places the whole line at the end of the file,
so a line is never interleaved with another, and once ``os.write`` returns
the line is in the kernel's hands and survives the death of this process.  A
buffered file object would split long lines across writes and keep
acknowledged hits in user-space memory, where a crash loses them.

A write that stops short (the disk filled up) is cut off again and reported,
so the hit is answered 503 and the file still ends in a whole line.  Only a
``kill -9`` that lands in the middle of a write can leave a dead writer's
file ending in part of a line, without its newline: that hit was never
acknowledged, and readers skip a last line that has no newline.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from pathlib import Path

FILE_PREFIX = "hits-"
FILE_SUFFIX = ".jsonl"


class LogWriteError(OSError):
    """A line could not be put on disk whole (disk full, read-only folder, I/O error)."""


def log_file_name(hour_start: float, writer: str) -> str:
    """``hits-YYYYMMDDHH-<writer>.jsonl``: sortable by hour, one writer per file."""
    stamp = time.strftime("%Y%m%d%H", time.gmtime(hour_start))
    return f"{FILE_PREFIX}{stamp}-{writer}{FILE_SUFFIX}"


_process_token: tuple[int, str] = (-1, "")


def writer_name() -> str:
    """This process's writer id: host name, pid and a token made once per process.

    The token keeps a restarted worker that happens to get a dead worker's
    pid from appending to that worker's file, whose last line may be torn
    (a ``kill -9`` can stop a write part-way); a torn line then only ever
    ends a file, where the ETL can tell it from a line still being written.
    """
    global _process_token
    pid = os.getpid()
    if _process_token[0] != pid:
        _process_token = (pid, secrets.token_hex(3))
    host = socket.gethostname().split(".")[0].replace("-", "_") or "host"
    return f"{host}-{pid}.{_process_token[1]}"


class HitLog:
    """An append-only raw hit log in ``folder``; safe to share between threads and forks."""

    def __init__(self, folder: str | os.PathLike, fsync: bool = False) -> None:
        self.folder = Path(folder)
        self.fsync = fsync
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._hour = -1
        self._pid = -1

    def _open(self, hour: int) -> int:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._pid = os.getpid()
        path = self.folder / log_file_name(hour * 3600, writer_name())
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._hour = hour
        return self._fd

    def append(self, line: bytes, now: float | None = None) -> None:
        """Put one whole line at the end of the current hour's file, or raise :class:`LogWriteError`."""
        hour = int((time.time() if now is None else now) // 3600)
        with self._lock:
            try:
                fd = self._fd
                # A new hour, or a forked child still holding its parent's file.  A hit
                # stamped just before the hour turned, but written after, goes to the new
                # file: a closed hour is never reopened.
                if fd is None or hour > self._hour or os.getpid() != self._pid:
                    fd = self._open(max(hour, self._hour))
                written = os.write(fd, line)
                if written != len(line):
                    self._undo_write(fd, written)
                    raise LogWriteError(f"short write: {written} of {len(line)} bytes")
                if self.fsync:
                    try:
                        os.fsync(fd)
                    except OSError:
                        self._undo_write(fd, written)  # not known to be on disk: not acknowledged
                        raise
            except LogWriteError:
                raise
            except OSError as exc:
                self._forget()
                raise LogWriteError(exc.errno, exc.strerror) from exc

    def _undo_write(self, fd: int, written: int) -> None:
        """Cut off the bytes just written (part of a line); only this process writes this file."""
        try:
            end = os.lseek(fd, 0, os.SEEK_END)
            os.ftruncate(fd, end - written)
        except OSError:
            pass
        self._forget()

    def _forget(self) -> None:
        """Drop the descriptor so the next hit reopens the file (the folder may have come back)."""
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = None

    def writable(self) -> bool:
        """Whether the folder exists and this process may create and append files in it."""
        return self.folder.is_dir() and os.access(self.folder, os.W_OK | os.X_OK)

    def close(self) -> None:
        with self._lock:
            self._forget()

"""The rejects file: raw lines the ETL cannot load, each with ``file:offset`` and the reason.

One line per reject: ``<file>:<offset><TAB><reason><TAB><the raw line, bytes as they were>``.
Lines are appended before the batch commits, so a crash can repeat a reject
but never lose one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from ..config import ConfigError
from .parse import Reject


def rejects_path(folder: str | os.PathLike, now: datetime | None = None) -> Path:
    day = (now or datetime.now(timezone.utc)).strftime("%Y%m%d")
    return Path(folder) / f"rejects-{day}.txt"


def write_rejects(folder: str | os.PathLike, rejects: Iterable[Reject]) -> Path | None:
    """Append ``rejects`` to today's rejects file; returns its path (None when there were none)."""
    lines = [
        f"{r.file}:{r.offset}\t{r.reason}\t".encode() + r.line.replace(b"\n", b"\\n") + b"\n" for r in rejects
    ]
    if not lines:
        return None
    path = rejects_path(folder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the rejects file {path} ({exc.strerror}); let crumby write to REJECTS_DIR, "
            "or set CRUMBY_REJECTS_DIR to a folder it may write to; nothing of this batch was loaded"
        ) from None
    try:
        data = memoryview(b"".join(lines))
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    return path

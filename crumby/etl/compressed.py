"""How long each gzipped raw log is once decompressed, kept in DATA_DIR between runs.

A gzip file does not say its plain length (its trailer holds it modulo 4 GiB,
and only its last member's), so a run learnt that a loaded ``.gz`` in
``LOG_DIR`` held nothing new by decompressing it up to its checkpoint: every
run decompressed every gzipped log until retention expired it: 2.4 s a run
for the 240 files (1M hits) of ``bench/etl.py``'s corpus, over a minute for a
month of a million hits a day. The length is now measured once per file and kept
with the file's size and modification time; a file that changes is measured
again. A missing or unreadable record only costs the decompression again.
A run that reads a new file to its end learns its length then, so that its
next pass does not decompress the file a second time to measure it.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

from .extract import LogFile

FILE_NAME = "compressed-lengths.json"
READ_BLOCK = 1 << 20


def plain_length(path: Path) -> int | None:
    """Bytes of a .gz file's content (None if it cannot be read to its end)."""
    total = 0
    try:
        with gzip.open(path, "rb") as handle:
            while block := handle.read(READ_BLOCK):
                total += len(block)
    except (OSError, EOFError, zlib.error):  # cut short or damaged: read on from the checkpoint, as before
        return None
    return total


class PlainLengths:
    """The plain length of each gzipped raw log a run asks about; :meth:`save` keeps them."""

    def __init__(self, folder: str | os.PathLike | None) -> None:
        self.path = Path(folder) / FILE_NAME if folder else None
        self.on_disk = self._read()
        self.known = dict(self.on_disk)  # and those learnt by this run
        self.asked: dict[str, list[int]] = {}

    def _read(self) -> dict[str, list[int]]:
        if self.path is None:
            return {}
        try:
            known = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(known, dict):
            return {}
        return {
            name: entry
            for name, entry in known.items()
            if isinstance(entry, list) and len(entry) == 3 and all(type(n) is int for n in entry)
        }

    def of(self, log_file: LogFile) -> int | None:
        """``log_file``'s plain length (it must be compressed), measured unless known for the file as
        it is now; None if it cannot be read to its end (cut short, or still being written)."""
        seen = _seen(log_file.path)
        if seen is None:
            return None
        entry = self.known.get(log_file.name)
        if entry is None or entry[:2] != seen:
            length = plain_length(log_file.path)
            if length is None:
                return None
            entry = [*seen, length]
        self.asked[log_file.name] = entry
        return entry[2]

    def learner(self, log_file: LogFile) -> Callable[[int], None]:
        """What the reader of ``log_file`` (compressed) calls with its length once it has read it to
        its end: kept unless the file changed meanwhile (then the next ask measures it)."""
        before = _seen(log_file.path)

        def learn(length: int) -> None:
            if before is not None and _seen(log_file.path) == before:
                self.known[log_file.name] = self.asked[log_file.name] = [*before, length]

        return learn

    def save(self) -> None:
        """Keep the lengths asked about in this run (the files no longer asked about are dropped)."""
        if self.path is None or self.asked == self.on_disk:
            return
        _write_whole(self.path, self.asked)


def _seen(path: Path) -> list[int] | None:
    """A file's size and modification time (None when it is gone): what a kept length is valid for."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


def _write_whole(path: Path, entries: Mapping[str, list[int]]) -> None:
    """Replace the file at ``path`` whole: a reader sees the old one or the new one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(entries, sort_keys=True), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)  # next run measures again: slower, never wrong

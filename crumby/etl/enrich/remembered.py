"""User agents' answers kept between runs: one parsed yesterday is not parsed again today.

A run parses each distinct user agent it meets once (:class:`~.distinct.AnswerTable`),
and nearly all of them were met by the runs before it: browsers change
version every few weeks, not every hour. On bench/etl.py's corpus a day's
cron run meets 24,519 user agents, every one of them met on the days before,
and parsing them is about 2 s of the run. The answers are kept in one Arrow
file in DATA_DIR, written at the end of a run and read at the start of the
next.

An answer depends on the parser's lists and code and on the site's
``BOT_PATTERNS``, so the file is tagged with a digest of all of them (the
installed parsers' versions, this package's code and data files, the
patterns); a file of another tag is not read, nor one that cannot be read,
and the run's end writes it anew. The file never fails a run: at worst the
run parses as if it were not there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import pyarrow as pa

from .distinct import AnswerTable

log = logging.getLogger(__name__)

FILE_NAME = "user-agents.arrow"
TAG_KEY = b"crumby-answers"


def answers_path(settings: Mapping[str, object]) -> Path | None:
    """Where a run's user agents' answers are kept: in DATA_DIR, when there is one."""
    folder = settings.get("DATA_DIR")
    return Path(str(folder)) / FILE_NAME if folder else None


def answers_tag(what: Mapping[str, object]) -> str:
    """A digest of ``what`` the answers depend on, with this package's code and data files."""
    text = json.dumps({"made_by": _package_digest(), **what}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@cache
def _package_digest() -> str:
    """The enrichment package's own files: a changed rule, list or version makes new answers."""
    digest = hashlib.sha256()
    folder = Path(__file__).parent
    for path in sorted([*folder.glob("*.py"), *(folder / "data").glob("*")]):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def read_answers(path: Path | None, table: AnswerTable, tag: str) -> int:
    """Fill ``table`` from the file at ``path`` when it holds answers of ``tag``; returns how many."""
    if path is None:
        return 0
    try:
        with pa.OSFile(str(path)) as source:
            kept = pa.ipc.open_file(source).read_all()
    except FileNotFoundError:
        return 0
    except (OSError, pa.ArrowException, ValueError) as exc:
        log.info("%s not read (%s): user agents are parsed anew", path, exc)
        return 0
    if (kept.schema.metadata or {}).get(TAG_KEY) != tag.encode() or not table.take(kept):
        return 0
    return len(kept)


def write_answers(path: Path | None, table: AnswerTable, tag: str) -> bool:
    """Keep ``table``'s answers in the file at ``path`` (replaced whole); returns whether it was."""
    kept = table.kept()
    if path is None or kept is None:
        return False
    kept = kept.replace_schema_metadata({TAG_KEY: tag.encode()})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{FILE_NAME}.", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as sink, pa.ipc.new_file(sink, kept.schema) as writer:
                writer.write_table(kept)
            os.replace(temporary, path)  # a reader sees the old file or the new one, whole
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.info("%s not written (%s): the next run parses its user agents anew", path, exc)
        return False
    return True

"""Turn chunks of raw log lines into an Arrow table of checked hits, and a list of rejects.

Fast path: each chunk's lines (new bytes of one file, not copied) go to
pyarrow's multi-threaded JSON reader in one piece, against an explicit
schema, and the format's checks run as vectorised compute. When the reader
refuses a piece (a torn line, invalid UTF-8, a wrong type, a blank line) it
is halved until the bad lines are isolated, and those few are read one by
one with :func:`crumby.hits.parse_line`, which also gives each reject its
reason. ``props`` (a nested object the reader cannot give as
text) is read with :mod:`json`, only for the lines the reader found one in.

Lines with a ``\\u`` escape (found by a byte scan) take the exact way too: a
NUL (``\\u0000``) is dropped from their text, since the collector took the
hit and no database stores it; a lone surrogate (``\\ud800``) is not text,
and its line is rejected. So are times no store column takes, or no site has
(before :data:`EARLIEST_HIT` or after tomorrow), and JSON nested deeper than
Python reads.

A line whose conversion raises anything but HitError (a bug of crumby's) is
rejected too, with what was raised: one line must never stop every run. The
first of a run is logged with its traceback, for the operator to report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from ..hits import (
    FIELD_CAPS,
    FORMAT_VERSION,
    HIT_TYPES,
    MAX_LINE_BYTES,
    NESTED_TOO_DEEP,
    PROPS_MAX_KEYS,
    HitError,
    clean_props,
    failure_reason,
    parse_line,
)
from ..nginx_hits import MARK as NGINX_MARK
from ..nginx_hits import parse_any_line
from .extract import Chunk
from .parse_nginx import convert

STRING_FIELDS = tuple(dict.fromkeys(("id", "ts", *FIELD_CAPS)))
# props as an empty struct: the reader says which lines carry an object there, without reading it
READ_SCHEMA = pa.schema(
    [("v", pa.int64()), ("props", pa.struct([]))] + [(name, pa.string()) for name in STRING_FIELDS]
)
# Columns of a parsed batch: the raw fields, props as JSON text, and the hit time (naive UTC).
HIT_SCHEMA = pa.schema(
    [(name, pa.string()) for name in STRING_FIELDS]
    + [("props", pa.string()), ("datetime", pa.timestamp("us"))]
)
_WORK_SCHEMA = HIT_SCHEMA.append(pa.field("_line", pa.int64()))
PARSE_OPTIONS = pj.ParseOptions(explicit_schema=READ_SCHEMA, unexpected_field_behavior="ignore")
READ_OPTIONS = pj.ReadOptions(block_size=1 << 20, use_threads=True)
# Hits before this, or more than a day after the run, are no site's traffic (a clock gone wrong, or
# made up): no calendar is spread over them. Every store's time column takes the years between.
EARLIEST_HIT = datetime(2000, 1, 1)
LATEST_HIT_AHEAD = timedelta(days=1)
SURROGATE_REASON = "contains a lone surrogate (\\ud800 to \\udfff), which is not text"
SMALLEST_HALF = 64  # below this many lines, read line by line

log = logging.getLogger(__name__)


@dataclass
class Reject:
    file: str
    offset: int
    reason: str
    line: bytes


@dataclass
class Parsed:
    hits: pa.Table
    rejects: list[Reject] = field(default_factory=list)
    lines: int = 0
    chunk_lines: list[int] = field(default_factory=list)  # lines of each chunk, its set-aside ones too


class _Lines:
    """The lines of one chunk: line i is ``data[starts[i]:starts[i + 1]]`` (the chunk's bytes, not copied)."""

    def __init__(self, chunk: Chunk) -> None:
        self.chunk = chunk
        self.data = chunk.data
        newlines = _newlines(self.data)
        self.starts = np.empty(len(newlines) + 1, np.int64)
        self.starts[0] = 0
        self.starts[1:] = newlines + 1
        self.lengths = np.diff(self.starts)
        self.latest = datetime.now(timezone.utc).replace(tzinfo=None) + LATEST_HIT_AHEAD

    def __len__(self) -> int:
        return len(self.lengths)

    def line(self, i: int) -> bytes:
        return self.data[self.starts[i] : self.starts[i + 1]].rstrip(b"\n")

    def place(self, i: int) -> tuple[str, int]:
        """File name and byte offset of line ``i``."""
        return self.chunk.file.name, self.chunk.start + int(self.starts[i])

    def gather(self, index: np.ndarray) -> pa.Buffer:
        """The bytes of the lines in ``index`` (ascending), back to back."""
        if index[-1] - index[0] + 1 == len(index):  # a run of lines: a view, no copy
            return pa.py_buffer(memoryview(self.data)[self.starts[index[0]] : self.starts[index[-1] + 1]])
        wanted = np.zeros(len(self), bool)
        wanted[index] = True
        return pa.py_buffer(np.frombuffer(self.data, np.uint8)[np.repeat(wanted, self.lengths)])

    def mentioning(self, word: bytes) -> np.ndarray:
        """A mask of the lines whose bytes contain ``word``."""
        mask = np.zeros(len(self), bool)
        if self.data.find(word[:1]) < 0:  # one byte is looked for by memchr, ten times as fast
            return mask
        position = self.data.find(word)
        while position >= 0:
            i = int(np.searchsorted(self.starts, position, side="right")) - 1
            mask[i] = True
            position = self.data.find(word, int(self.starts[i + 1]))
        return mask


def _newlines(data: bytes, window: int = 8 << 20) -> np.ndarray:
    """Positions of the newlines in ``data``, scanned a window at a time to keep the scratch small."""
    found = [
        np.flatnonzero(np.frombuffer(data, np.uint8, count=min(window, len(data) - at), offset=at) == 10) + at
        for at in range(0, len(data), window)
    ]
    return np.concatenate(found) if found else np.empty(0, np.int64)


class _Collector:
    """Accumulates parsed pieces and rejects for one batch."""

    def __init__(self, lines: _Lines, failures: list[Reject] | None = None) -> None:
        self.lines = lines
        self.tables: list[pa.Table] = []
        self.slow_rows: list[dict] = []
        self.rejects: list[Reject] = []
        # lines of this parse whose conversion raised an unexpected error (shared by its chunks)
        self.failures = [] if failures is None else failures

    def reject(self, i: int, reason: str) -> None:
        name, offset = self.lines.place(i)
        self.rejects.append(Reject(name, offset, reason, self.lines.line(i)))

    def parse_one(self, i: int, parse: Callable[[bytes], dict] = parse_line) -> None:
        """One line the exact way; a bad one becomes a reject with its offset and reason."""
        try:
            row = _hit_row(parse(self.lines.line(i)), self.lines.latest)
        except HitError as exc:
            self.reject(i, str(exc))
            return
        except MemoryError:
            raise
        except Exception as exc:  # a bug of ours: it must not stop every run at this line
            self._failed(i, exc)
            return
        row["_line"] = i
        self.slow_rows.append(row)

    def _failed(self, i: int, exc: Exception) -> None:
        """Set line ``i`` aside for an unexpected error; the run's first is logged with its traceback."""
        self.reject(i, failure_reason(exc))
        self.failures.append(self.rejects[-1])
        if len(self.failures) == 1:
            name, offset = self.lines.place(i)
            log.warning(
                "%s:%d: crumby could not convert this line, a bug: please report it with this traceback; "
                "the line is set aside in the rejects file, and the run goes on",
                name,
                offset,
                exc_info=exc,
            )

    def parse_fast(self, index: np.ndarray) -> None:
        """Lines ``index`` through pyarrow if it takes them; else in halves, down to one by one."""
        table = _read_fast(self.lines.gather(index), index)
        if table is not None:
            good = _vector_checks(table, self.lines.latest)
            if good.all():
                self.tables.append(self._with_props(table))
                return
            if good.sum() * 2 > len(index):
                self.tables.append(self._with_props(table.filter(pa.array(good))))
                for i in index[~good]:
                    self.parse_one(int(i))
                return
        if len(index) <= SMALLEST_HALF:
            for i in index:
                self.parse_one(int(i))
            return
        middle = len(index) // 2
        self.parse_fast(index[:middle])
        self.parse_fast(index[middle:])

    def parse_nginx(self, index: np.ndarray) -> None:
        """nginx's lines ``index``: the usual beacons column by column (:mod:`.parse_nginx`), the rest
        the exact way; where pyarrow refuses the lines, in halves, down to one by one."""
        found = convert(self.lines.gather(index), len(index))
        if found is None:
            if len(index) <= SMALLEST_HALF:
                for i in index:
                    self.parse_one(int(i), parse_any_line)
                return
            middle = len(index) // 2
            self.parse_nginx(index[:middle])
            self.parse_nginx(index[middle:])
            return
        columns, converted = found
        columns["props"] = self._nginx_props(columns.pop("body"), converted)
        table = _work_table(columns, index, pa.array(np.full(len(index), FORMAT_VERSION)))
        table = table.append_column("_props", pa.array(np.zeros(len(index), bool)))
        good = converted & _vector_checks(table, self.lines.latest)
        if good.any():
            self.tables.append(table.filter(pa.array(good)).drop_columns(["_v", "_props"]))
        for i in index[~good]:
            self.parse_one(int(i), parse_any_line)

    @staticmethod
    def _nginx_props(bodies: pa.Array, converted: np.ndarray) -> pa.Array:
        """The props of the bodies given, as the exact way stores them; a line whose props it would
        refuse is no longer ``converted`` (it goes the exact way, for its reason)."""
        texts: list[str | None] = [None] * len(bodies)
        for i in np.flatnonzero(bodies.is_valid().to_numpy(zero_copy_only=False)):
            try:
                texts[i] = stored_props(clean_props(json.loads(bodies[int(i)].as_py()).get("props")))
            except MemoryError:
                raise
            except Exception:  # refused (HitError, ValueError, RecursionError) or a bug: the exact way says
                converted[i] = False
        return pa.array(texts, pa.string())

    def _with_props(self, table: pa.Table) -> pa.Table:
        """``props`` as JSON text for the rows whose line has one; a bad one rejects its line."""
        has_props = table.column("_props").to_numpy(zero_copy_only=False)
        table = table.drop_columns(["_v", "_props"])
        rows = np.flatnonzero(has_props)
        if not len(rows):
            return table
        numbers = table.column("_line").to_numpy()[rows]
        texts: list[str | None] = [None] * table.num_rows
        keep = np.ones(table.num_rows, bool)
        for row, i, props in zip(rows, numbers, self._props_of(numbers), strict=True):
            try:
                if isinstance(props, HitError):
                    raise props
                texts[row] = props_text(props)
            except HitError as exc:
                self.reject(int(i), str(exc))
                keep[row] = False
            except MemoryError:
                raise
            except Exception:  # a bug of ours: the line goes the exact way, set aside there if it fails
                self.parse_one(int(i))
                keep[row] = False
        table = table.set_column(table.schema.get_field_index("props"), "props", pa.array(texts, pa.string()))
        return table if keep.all() else table.filter(pa.array(keep))

    def _props_of(self, numbers: np.ndarray) -> list[object]:
        """The ``props`` value of each of these lines, read in one go (the reader took the lines).

        A line nested too deep for :mod:`json` gives a HitError in its place.
        """
        try:
            objects = json.loads(b"[" + b",".join(self.lines.line(int(i)) for i in numbers) + b"]")
        except RecursionError:
            return [_props_alone(self.lines.line(int(i))) for i in numbers]
        return [o.get("props") for o in objects]

    def table(self) -> pa.Table:
        tables = list(self.tables)
        if self.slow_rows:
            tables.append(pa.Table.from_pylist(self.slow_rows, schema=_WORK_SCHEMA))
        if not tables:
            return _WORK_SCHEMA.empty_table()
        if len(tables) == 1 and not self.slow_rows:
            return tables[0]  # one read of the whole chunk: already in line order
        return pa.concat_tables(tables).sort_by("_line")


def parse_chunks(
    chunks: Sequence[Chunk],
    refused: Mapping[str, str] | None = None,
    failures: list[Reject] | None = None,
) -> Parsed:
    """All good hits of ``chunks`` in file order, and every bad line with its place and reason.

    ``refused`` maps hit ids the store refused to its reason: their lines are set aside with it.
    ``failures`` gathers the lines whose conversion failed unexpectedly; only the first of it is
    logged with its traceback, so a run passes one list for all its batches (one traceback a run).
    """
    rejects = [Reject(c.file.name, o, r, b) for c in chunks for o, r, b in c.rejected]
    tables = []
    lines = 0
    chunk_lines = []
    failures = [] if failures is None else failures
    for chunk in chunks:
        count = 0
        if chunk.data:
            table, chunk_rejects, count = _parse_chunk(chunk, refused or {}, failures)
            tables.append(table)
            rejects.extend(chunk_rejects)
            lines += count
        chunk_lines.append(count + len(chunk.rejected))
    if not tables:
        return Parsed(HIT_SCHEMA.empty_table(), rejects, lines, chunk_lines)
    rejects.sort(key=lambda r: (r.file, r.offset))
    return Parsed(pa.concat_tables(tables), rejects, lines, chunk_lines)


def _parse_chunk(
    chunk: Chunk, refused: Mapping[str, str], failures: list[Reject]
) -> tuple[pa.Table, list[Reject], int]:
    """The good hits of one chunk's lines, the bad lines, and how many lines there were."""
    lines = _Lines(chunk)
    collector = _Collector(lines, failures)
    too_long = lines.lengths > MAX_LINE_BYTES + 1
    for i in np.flatnonzero(too_long):
        collector.parse_one(int(i))
    # nginx's lines (crumby.nginx_hits): the usual beacons column by column, the others one by one.
    nginx = lines.mentioning(NGINX_MARK) & ~too_long
    escaped = lines.mentioning(b"\\u") & ~too_long  # maybe a NUL or a lone surrogate: read exactly
    for i in np.flatnonzero(nginx & escaped):
        collector.parse_one(int(i), parse_any_line)
    for i in np.flatnonzero(escaped & ~nginx):
        collector.parse_one(int(i))
    beacons = np.flatnonzero(nginx & ~escaped)
    if len(beacons):
        collector.parse_nginx(beacons)
    fast = np.flatnonzero(~(too_long | nginx | escaped))
    if len(fast):
        collector.parse_fast(fast)
    table = collector.table()
    if refused:
        table = _set_aside_refused(table, collector, refused)
    return table.drop_columns(["_line"]), collector.rejects, len(lines)


def _set_aside_refused(table: pa.Table, collector: _Collector, refused: Mapping[str, str]) -> pa.Table:
    """``table`` without the hits whose id is in ``refused``; their lines become rejects."""
    hit = pc.is_in(table.column("id"), pa.array(list(refused), pa.string()))
    if not pc.any(hit).as_py():
        return table
    for row in np.flatnonzero(hit.to_numpy(zero_copy_only=False)):
        collector.reject(
            int(table.column("_line")[int(row)].as_py()), refused[table.column("id")[int(row)].as_py()]
        )
    return table.filter(pc.invert(hit))


def _read_fast(block: pa.Buffer, index: np.ndarray) -> pa.Table | None:
    try:
        table = pj.read_json(pa.BufferReader(block), read_options=READ_OPTIONS, parse_options=PARSE_OPTIONS)
    except (pa.ArrowInvalid, UnicodeDecodeError, ValueError):
        return None
    if table.num_rows != len(index):  # the reader skips blank lines: rows would slip off their lines
        return None
    try:
        table.validate(full=True)  # the reader does not always refuse invalid UTF-8
    except pa.ArrowInvalid:
        return None
    times = hit_times(table.column("ts"))
    if times is None:
        return None
    columns = {name: table.column(name) for name in STRING_FIELDS}
    columns["datetime"] = times
    checked = _work_table(columns, index, table.column("v"))
    return checked.append_column("_props", table.column("props").is_valid())


def _work_table(columns: Mapping[str, pa.Array], index: np.ndarray, version) -> pa.Table:
    """A batch's columns (STRING_FIELDS, datetime, maybe props) as _WORK_SCHEMA, and the format's
    version as ``_v`` (for :func:`_vector_checks`); a field not given is null."""
    count = len(index)
    whole = {name: columns.get(name, pa.nulls(count, pa.string())) for name in STRING_FIELDS}
    whole["props"] = columns.get("props", pa.nulls(count, pa.string()))
    whole["datetime"] = columns["datetime"]
    whole["_line"] = pa.array(index, pa.int64())
    return pa.table(whole, schema=_WORK_SCHEMA).append_column("_v", version)


def hit_times(ts: pa.ChunkedArray | pa.Array) -> pa.Array | None:
    """``ts`` as naive UTC timestamps; None when some value is not in a zoned ISO 8601 form."""
    try:
        aware = pc.cast(ts, pa.timestamp("us", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return pc.cast(aware, pa.timestamp("us"))


def _vector_checks(table: pa.Table, latest: datetime) -> np.ndarray:
    """A mask of the rows that pass :func:`crumby.hits.check_hit` and :func:`check_time`, column by column."""
    good = pc.equal(table.column("_v"), FORMAT_VERSION)
    times = table.column("datetime")
    good = pc.and_kleene(good, pc.greater_equal(times, pa.scalar(EARLIEST_HIT, times.type)))
    good = pc.and_kleene(good, pc.less_equal(times, pa.scalar(latest, times.type)))
    for name in ("id", "ts"):
        good = pc.and_kleene(good, pc.greater(pc.binary_length(table.column(name)), 0))
    good = pc.and_kleene(good, _fits(table.column("id"), 64))
    good = pc.and_kleene(good, pc.is_in(table.column("t"), pa.array(HIT_TYPES)))
    for name, limit in FIELD_CAPS.items():
        column = table.column(name)
        if column.null_count == len(column):
            continue
        good = pc.and_kleene(good, pc.or_kleene(pc.is_null(column), _fits(column, limit)))
    return pc.fill_null(good, False).to_numpy(zero_copy_only=False)


def _fits(column: pa.ChunkedArray, limit: int) -> pa.ChunkedArray | bool:
    """Whether each value has at most ``limit`` characters.

    Bytes are read off the offsets; characters (never more than the bytes)
    are only counted, over every byte, when some value has more bytes than
    the limit: seldom, as the collector cuts fields to their caps.
    """
    lengths = pc.binary_length(column)
    if (pc.max(lengths).as_py() or 0) <= limit:
        return True
    return pc.less_equal(pc.utf8_length(column), limit)


def props_text(props: object) -> str | None:
    """``props`` as compact JSON text, after the format's check (a flat object of strings)."""
    if props is None:
        return None
    if (
        not isinstance(props, dict)
        or len(props) > PROPS_MAX_KEYS
        or not all(isinstance(v, str) for v in props.values())
    ):
        raise HitError("props is not a flat object of strings")
    return json.dumps(props, ensure_ascii=False, separators=(",", ":")) if props else None


def _props_alone(line: bytes) -> object:
    try:
        return json.loads(line).get("props")
    except RecursionError:
        return HitError(NESTED_TOO_DEEP)


def check_time(when: datetime, latest: datetime) -> None:
    """Refuse a hit time (naive UTC) before :data:`EARLIEST_HIT` or after ``latest``."""
    if not EARLIEST_HIT <= when <= latest:
        raise HitError(f"ts {when:%Y-%m-%d} is before {EARLIEST_HIT:%Y} or after tomorrow")


def store_text(value: str) -> str:
    """``value`` without NUL characters; a lone surrogate raises HitError (no store takes either)."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise HitError(SURROGATE_REASON) from None
    return value


def stored_props(props: object) -> str | None:
    """A hit's ``props`` as JSON text the stores take (see :func:`props_text`, :func:`store_text`)."""
    if props:
        props_text(props)  # the format's check first: then keys and values are strings
        props = {store_text(key): store_text(value) for key, value in props.items()}
    return props_text(props)


def _hit_row(hit: dict, latest: datetime) -> dict:
    row = {name: None if hit.get(name) is None else store_text(hit[name]) for name in STRING_FIELDS}
    row["props"] = stored_props(hit.get("props"))
    try:
        when = datetime.fromisoformat(hit["ts"].replace("Z", "+00:00"))
        if when.tzinfo is not None:
            when = when.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:  # year 1 less an offset, year 9999 plus one
        raise HitError("ts is not a time any store takes") from None
    check_time(when, latest)
    row["datetime"] = when
    return row

"""Loading into ClickHouse: large native blocks, exactly once without transactions.

ClickHouse commits each INSERT block on its own, so a run killed between two
statements leaves the first. The promise of the other stores (each hit once,
sessions whole, checkpoints never ahead of their rows) is kept by order and
idempotence instead.

The rows of a "transaction" (batches, until it holds :data:`BLOCK_ROWS` page
views) are held in memory as Arrow tables and written at its commit, in
large blocks: ClickHouse sorts, compresses and writes each INSERT as parts
of its own, which per row costs the server much more for 60,000 rows (one
batch) than for 240,000 (docs/scaling.md). At the commit, in this order:

1. the transaction's hits whose id is already stored in its time window
   are left out (a replay of a transaction that a killed run wrote in
   part), and the rest go in as one block per table, hour by hour; the
   tables are also ``ReplacingMergeTree`` keyed by hit id, should a row
   ever come twice;
2. each visit of the transaction is written as a new version of its
   ``sessions`` row: visits that begin in it from its page views, visits
   that continue one stored before from all their stored page views, so a
   replay writes the same rows again; the versions it replaces are then
   listed as superseded, and reports no longer see them;
3. the calendar and then the file checkpoints follow: a run that dies
   before the checkpoints only makes the next run do the transaction's
   batches again, to the same end.

A batch's hits continue the visits found around its times, as on the other
stores (crumby/etl/sessions.py): among the stored page views and events
(:func:`recent_visits`) and among the rows held back for the commit
(:func:`held_visits`). A replay finds there the rows a killed run wrote of
the same batches: a visitor's first hit lies inside the visit it was given
then, and continues it, so the ids come out as they were. Rows are numbered
at the commit, once the hits stored before are left out. The held rows are
Arrow tables of the two tables' columns (some 700 bytes a hit, 200 MB a
block); a larger batch would have cost more, as pandas holds a batch at
several times that.

The daily figures (``visit_days``, ``page_days``...) are not kept: reports on
ClickHouse read visits, events and sessions (crumby/queries/render.py).
"""

from __future__ import annotations

import functools
import secrets
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from ..store import clickhouse as ch
from ..store.bookkeeping import files, loads, salts
from ..store.schema import events, visits
from .abandoned import ABANDONED
from .load import extend_calendar, save_checkpoints, time_spans
from .pipeline import _Run, store_failure
from .reprocess import _Reprocess
from .rollup import PAGE_VIEW_COLUMNS, summarise
from .rows import batch_rows, split_by_type
from .sessions import SPANS_PER_QUERY, VISIT_COLUMNS, merge_visits
from .visitors import SALT_KEEP_DAYS

# Page views a transaction holds before its commit writes them: the smallest INSERT into ``visits``
# but the run's last (about five ETL batches of 60,000 hits, with their events).
BLOCK_ROWS = 250_000


def recent_visits(conn: sa.Connection, spans: list[tuple[datetime, datetime]]) -> pd.DataFrame:
    """The stored visits' first and last hit within ``spans`` (VISIT_COLUMNS), from page views and events.

    As on the other stores (crumby/etl/sessions.py): the hits around a batch's times say which
    visits its hits may continue, a late file's hits included. Grouped by the ids themselves, which
    ClickHouse compares byte for byte; duplicate rows (a replayed block not merged yet) change nothing.
    """
    found = []
    for part in _in_parts(spans):
        within, params = _within(part)
        where = f"{within} AND isNotNull(session_id)"
        hits = " UNION ALL ".join(
            f"SELECT site, visitor_id, session_id, datetime FROM {table.name} WHERE {where}"
            for table in (visits, events)
        )
        found.extend(
            ch.query(
                conn,
                "SELECT ifNull(site, '') AS s, ifNull(visitor_id, '') AS v, assumeNotNull(session_id) AS id, "
                f"min(datetime), max(datetime) FROM ({hits}) GROUP BY s, v, id",
                params,
            )
        )
    return merge_visits([pd.DataFrame(found, columns=VISIT_COLUMNS)])


def held_visits(held: list[pa.Table], spans: list[tuple[datetime, datetime]]) -> pd.DataFrame:
    """:func:`recent_visits` of the rows the open transaction holds back for its commit."""
    if not spans:
        return pd.DataFrame(columns=VISIT_COLUMNS)
    parts = []
    for rows in held:
        times = rows.column("datetime")
        inside = pc.is_valid(rows.column("session_id"))
        within = [
            pc.and_(
                pc.greater_equal(times, pa.scalar(_utc(low), times.type)),
                pc.less_equal(times, pa.scalar(_utc(high), times.type)),
            )
            for low, high in spans
        ]
        inside = pc.and_(inside, functools.reduce(pc.or_, within))
        parts.append(rows.select(["site", "visitor_id", "session_id", "datetime"]).filter(inside))
    found = pa.concat_tables(parts) if parts else None
    if found is None or not found.num_rows:
        return pd.DataFrame(columns=VISIT_COLUMNS)
    found = found.group_by(["site", "visitor_id", "session_id"]).aggregate(
        [("datetime", "min"), ("datetime", "max")]
    )
    return merge_visits(
        [
            pd.DataFrame(
                {
                    "site": found.column("site").to_pylist(),
                    "visitor_id": found.column("visitor_id").to_pylist(),
                    "session_id": found.column("session_id").to_pylist(),
                    "first_seen": found.column("datetime_min").to_pandas(),
                    "last_seen": found.column("datetime_max").to_pandas(),
                }
            )
        ]
    )


def _in_parts(spans: list[tuple[datetime, datetime]]) -> list[list[tuple[datetime, datetime]]]:
    return [spans[start : start + SPANS_PER_QUERY] for start in range(0, len(spans), SPANS_PER_QUERY)]


def _within(spans: list[tuple[datetime, datetime]]) -> tuple[str, dict[str, datetime]]:
    """A condition on ``datetime`` for rows within any of ``spans``, widened to whole seconds (18.16
    keeps no less), and its parameters."""
    params, ranges = {}, []
    for n, (low, high) in enumerate(spans):
        params[f"low{n}"] = _utc(low).replace(microsecond=0)
        params[f"high{n}"] = _utc(high).replace(microsecond=0) + timedelta(seconds=1)
        ranges.append(f"(datetime >= %(low{n})s AND datetime <= %(high{n})s)")
    return f"({' OR '.join(ranges)})", params


def _utc(moment: datetime) -> datetime:
    """A naive UTC time (the ETL's) as an aware one, as the driver and the held rows take it."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def day_salts(conn: sa.Connection, days: list[date], today: date | None = None) -> dict[date, str]:
    """The salt of each of ``days`` (made and stored when new); salts past their two days are deleted."""
    today = today or datetime.now(timezone.utc).date()
    expired = today - timedelta(days=SALT_KEEP_DAYS)
    if ch.query(conn, f"SELECT count() FROM {salts.name} WHERE day < %(day)s", {"day": expired})[0][0]:
        ch.query(conn, f"ALTER TABLE {salts.name} DELETE WHERE day < %(day)s", {"day": expired})
    if not days:
        return {}
    found = dict(
        ch.query(
            conn, f"SELECT day, salt FROM {salts.name} FINAL WHERE day IN %(days)s", {"days": tuple(days)}
        )
    )
    fresh = [(day, secrets.token_hex(32)) for day in days if day not in found]
    ch.insert_rows(conn, salts.name, ["day", "salt"], fresh)
    found.update(fresh)
    return found


def close_abandoned(conn: sa.Connection) -> int:
    """Loads left "running" by a run that died get a new row version: abandoned."""
    names = [c.name for c in loads.columns]
    rows = ch.query(conn, f"SELECT {', '.join(names)} FROM {loads.name} FINAL WHERE status = 'running'")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    closed = [{**dict(zip(names, row, strict=True)), "status": ABANDONED, "finished_at": now} for row in rows]
    ch.insert_rows(conn, loads.name, names, [tuple(r[n] for n in names) for r in closed])
    return len(closed)


def close_load(conn: sa.Connection, load_id: int, **values) -> None:
    """Write the load's row again with ``values`` (its newest version is the one read)."""
    names = [c.name for c in loads.columns]
    found = ch.query(
        conn, f"SELECT {', '.join(names)} FROM {loads.name} FINAL WHERE id = %(id)s", {"id": load_id}
    )
    if found:
        row = {**dict(zip(names, found[0], strict=True)), **values}
        ch.insert_rows(conn, loads.name, names, [tuple(row[n] for n in names)])


def stored_hit_ids(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> set[str]:
    """Hit ids of ``rows`` that ``table`` holds already (looked for in the spans of their times)."""
    found = []
    for part in _in_parts(time_spans(rows.column("datetime"))):
        within, params = _within(part)
        found.extend(
            ch.query(
                conn,
                f"SELECT hit_id FROM {table.name} WHERE {within} "
                "AND hit_id GLOBAL IN (SELECT hit_id FROM _crumby_batch)",
                params,
                external=(
                    "_crumby_batch",
                    [("hit_id", "String")],
                    [(h,) for h in rows.column("hit_id").to_pylist()],
                ),
            )
        )
    return {row[0] for row in found}


def held_rows(batch: pa.Table, table: sa.Table, positions: np.ndarray) -> pa.Table:
    """``table``'s columns of the batch's rows at ``positions``, copied: nothing of the batch is kept."""
    return batch.select([c.name for c in table.columns]).take(pa.array(positions, pa.int64()))


def insert_new_hits(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> int:
    """Insert the rows (of ``table``) whose hits are not stored yet, in one block; returns how many.

    They are numbered here, on from the table's last row id: a replay numbers only what is new,
    as a run that was not killed would have.
    """
    if not rows.num_rows:
        return 0
    stored = stored_hit_ids(conn, table, rows)
    if stored:
        rows = rows.filter(pc.invert(pc.is_in(rows.column("hit_id"), pa.array(list(stored), pa.string()))))
    first = (ch.query(conn, f"SELECT max(id) FROM {table.name}")[0][0] or 0) + 1
    ids = pa.array(np.arange(first, first + rows.num_rows, dtype=np.int64))
    rows = rows.set_column(rows.column_names.index("id"), "id", ids)
    write_arrow(conn, table.name, rows)
    return rows.num_rows


def write_arrow(conn: sa.Connection, table: str, rows: pa.Table) -> None:
    """``rows`` into ``table`` as one native block."""
    ch.insert_arrow(conn, table, rows)


def write_sessions(conn: sa.Connection, page_views: pa.Table, hit_ids: pa.Array, load_id: int | None) -> int:
    """Write the visits of these page views (rows of ``visits``) as new versions of their ``sessions``
    rows; ``hit_ids`` are all the hits written with them (a visit may begin with an event). Returns how
    many."""
    page_views = page_views.select(list(PAGE_VIEW_COLUMNS))
    if page_views.column("session_id").null_count:  # else not copied: a block's page views are many
        page_views = page_views.filter(pc.invert(pc.is_null(page_views.column("session_id"))))
    if not page_views.num_rows:
        return 0
    rows = summarise(page_views, load_id)
    begun_here = pc.is_in(rows.column("session_id"), hit_ids)
    continued = rows.filter(pc.invert(begun_here)).column("session_id").to_pylist()
    rows = rows.filter(begun_here)
    if continued:
        whole = stored_page_views(conn, continued, pc.min(page_views.column("datetime")).as_py())
        rows = pa.concat_tables([rows, summarise(whole, load_id)], promote_options="permissive")
    return replace_sessions(conn, rows)


def replace_sessions(conn: sa.Connection, rows: pa.Table) -> int:
    """``rows`` (of ``sessions``) written as the visits' newest versions; the versions stored before
    are listed as superseded after. Between the two a visit shows twice, until the batch is done
    again: its checkpoint comes later still."""
    if not rows.num_rows:
        return 0
    stored = ch.query(
        conn,
        f"SELECT session_id, version FROM {ch.SESSION_ROWS} "
        f"WHERE session_id GLOBAL IN (SELECT session_id FROM _crumby_batch) AND {ch.CURRENT_VERSIONS}",
        external=(
            "_crumby_batch",
            [("session_id", "String")],
            [(s,) for s in rows.column("session_id").to_pylist()],
        ),
    )
    version = pa.array([time.time_ns()] * rows.num_rows, pa.int64())
    write_arrow(conn, ch.SESSION_ROWS, rows.append_column("version", version))
    ch.insert_rows(conn, ch.SUPERSEDED, ["session_id", "version"], [tuple(row) for row in stored])
    return rows.num_rows


def stored_page_views(conn: sa.Connection, session_ids: list[str], batch_start: datetime) -> pa.Table:
    """Every stored page view of these visits (the batch's own are stored by now)."""
    external = ("_crumby_batch", [("session_id", "String")], [(s,) for s in session_ids])
    begun = ch.query(
        conn,
        "SELECT min(started) FROM sessions WHERE session_id GLOBAL IN (SELECT session_id FROM _crumby_batch)",
        external=external,
    )[0][0]
    begun = begun.replace(tzinfo=None) if begun else None
    low = min(begun, batch_start) if begun and begun.year > 1970 else batch_start
    names = ", ".join(PAGE_VIEW_COLUMNS)
    found = ch.query(
        conn,
        f"SELECT {names} FROM {visits.name} WHERE datetime >= %(low)s "
        "AND session_id GLOBAL IN (SELECT session_id FROM _crumby_batch)",
        {"low": low.replace(microsecond=0) - timedelta(seconds=1)},
        external=external,
        columnar=True,
    )
    columns = found or [[] for _ in PAGE_VIEW_COLUMNS]
    table = {
        name: pa.array(values, _arrow_type(name))
        for name, values in zip(PAGE_VIEW_COLUMNS, columns, strict=True)
    }
    table["datetime"] = table["datetime"].cast(pa.timestamp("us"))  # naive UTC, as the batch's
    table["is_bot"] = table["is_bot"].cast(pa.bool_())
    return pa.table(table)


def _arrow_type(name: str) -> pa.DataType:
    if name == "datetime":
        return pa.timestamp("us", tz="UTC")
    if name == "is_bot":
        return pa.uint8()
    return pa.string()


@dataclass
class _Held:
    """What the open transaction's batches hold back for its commit (see the module's docstring)."""

    page_views: list[pa.Table] = field(default_factory=list)  # each batch's rows of ``visits``
    events: list[pa.Table] = field(default_factory=list)  # and of ``events``
    counts: list[int] = field(default_factory=lambda: [0, 0])  # page views and events held
    checkpoints: dict[str, dict] = field(default_factory=dict)  # each file's newest checkpoint row
    days: tuple[date, date] | None = None  # the calendar's days to add


class ClickHouseRun(_Run):
    """The ETL's run with ClickHouse's way of keeping its promise (see the module's docstring)."""

    load_salts = staticmethod(day_salts)

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.held = _Held()

    def find_visits(self, conn: sa.Connection, spans: list[tuple[datetime, datetime]]) -> pd.DataFrame:
        """The visits around a batch's times (``spans``): those stored, and those the open transaction
        holds back for its commit."""
        held = held_visits([*self.held.page_views, *self.held.events], spans)
        return merge_visits([recent_visits(conn, spans), held])

    def _transaction_full(self, batches: int) -> bool:
        return self.held.counts[0] >= BLOCK_ROWS

    def _closed(self) -> None:
        self.held = _Held()

    def _save_checkpoints(self, conn: sa.Connection, rows: list[dict]) -> None:
        self.held.checkpoints.update((row["name"], row) for row in rows)

    def _extend_calendar(self, conn: sa.Connection, enriched: pd.DataFrame) -> None:
        first = pd.Timestamp(enriched["datetime"].min()).date()
        last = pd.Timestamp(enriched["datetime"].max()).date()
        held = self.held.days
        self.held.days = (min(first, held[0]), max(last, held[1])) if held else (first, last)

    def _find_refused(self, batch, error: Exception) -> None:
        # Trial writes cannot be rolled back on ClickHouse: a refused batch stops the run.
        raise store_failure(self.engine, error)

    def _before_commit(self, conn: sa.Connection) -> None:
        """The held rows in one block per table, then their visits, the calendar and checkpoints."""
        held, self.held = self.held, _Held()
        if held.page_views or held.events:
            page_views, hits = (
                pa.concat_tables(parts, promote_options="permissive") if parts else None
                for parts in (held.page_views, held.events)
            )
            held.page_views, held.events = [], []
            counts = [
                insert_new_hits(conn, table, rows) if rows is not None else 0
                for table, rows in ((visits, page_views), (events, hits))
            ]
            if page_views is not None:
                hit_ids = [rows.column("hit_id") for rows in (page_views, hits) if rows is not None]
                write_sessions(conn, page_views, pa.chunked_array(hit_ids), self.report.load_id)
            del page_views, hits
            # Counted as written when held: hits found stored (a replay) are duplicates after all.
            stored = (held.counts[0] - counts[0], held.counts[1] - counts[1])
            self.report.visits -= stored[0]
            self.report.events -= stored[1]
            self.report.hits -= sum(stored)
            self.report.duplicates += sum(stored)
        if held.days:
            extend_calendar(conn, *held.days)
        save_checkpoints(conn, list(held.checkpoints.values()))
        pa.default_memory_pool().release_unused()  # the block's memory back to the system, not kept

    def _ready_store(self) -> int:
        ch.ensure_schema(self.engine, str(self.settings.get("CLICKHOUSE_CLUSTER") or ""))
        with self.engine.connect() as conn:
            return close_abandoned(conn)

    def _sum_days(self) -> int:
        return 0  # no daily figures on ClickHouse

    def _close_load(self, conn: sa.Connection, **values) -> None:
        close_load(conn, self.report.load_id, **values)

    def _write(self, conn: sa.Connection, hits: pd.DataFrame, stored_ips: pd.Series) -> tuple[int, int]:
        """The batch's rows held back for the commit; returns (visits, events) as if all were new."""
        hits = self._assign(conn, hits)
        ids = np.zeros(len(hits), np.int64)  # numbered at the commit (insert_new_hits)
        held = (self.held.page_views, self.held.events)
        tables = list(zip((visits, events), held, split_by_type(hits), strict=True))
        batch = batch_rows(hits, ids=ids, load_id=self.report.load_id, stored_ips=stored_ips)
        for position, (table, parts, rows) in enumerate(tables):
            if len(rows):
                parts.append(held_rows(batch, table, rows))
                self.held.counts[position] += len(rows)
        return len(tables[0][2]), len(tables[1][2])


def mark_expired(conn: sa.Connection, name: str, expired: str) -> None:
    """A file's checkpoint written again, marked expired by retention."""
    names = [c.name for c in files.columns]
    found = ch.query(
        conn, f"SELECT {', '.join(names)} FROM {files.name} FINAL WHERE name = %(n)s", {"n": name}
    )
    if found:
        row = {**dict(zip(names, found[0], strict=True)), "expired": expired}
        ch.insert_rows(conn, files.name, names, [tuple(row[n] for n in names)])


def delete_old_rows(conn: sa.Connection, start: datetime) -> int:
    """Rows before ``start`` go, and each visit that began before it goes whole (see retention.py).

    Months wholly before ``start`` are dropped by partition (no rows rewritten);
    the rest by ``ALTER TABLE ... DELETE``, waited for. TTL is not used: it would
    cut a visit at midnight and leave page views without their visit.

    The superseded versions of the visits that go leave ``_crumby_superseded``
    with them (:func:`forget_superseded`), else it would grow for ever.
    """
    begun = [
        row[0]
        for row in ch.query(
            conn,
            "SELECT session_id FROM sessions WHERE started < %(start)s AND ended >= %(start)s",
            {"start": start},
        )
    ]
    counted, visits_left = ch.query(
        conn,
        "SELECT (SELECT count() FROM visits WHERE datetime < %(start)s OR (datetime >= %(start)s "
        "AND session_id IN %(begun)s)) + (SELECT count() FROM events WHERE datetime < %(start)s), "
        f"(SELECT count() FROM {ch.SESSION_ROWS} WHERE started < %(start)s)",
        {"start": start, "begun": tuple(begun) or ("",)},
    )[0]
    if not counted and not visits_left:  # the visits' rows too: those a stopped retention left
        return 0
    forget_superseded(conn, start)
    month = start.year * 100 + start.month
    deletes = {
        visits.name: ("datetime < %(start)s OR session_id IN %(begun)s", "datetime"),
        events.name: ("datetime < %(start)s", "datetime"),
        ch.SESSION_ROWS: ("started < %(start)s", "started"),
        "calendar": ("datetime < %(start)s", None),
    }
    params = {"start": start, "begun": tuple(begun) or ("",)}
    for host, suffix in ch.writers(conn):
        for table, (where, partitioned) in deletes.items():
            local = ch.quote(table + suffix)
            if partitioned:
                for (partition,) in host.execute(
                    "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() "
                    "AND table = %(t)s AND active",
                    {"t": table + suffix},
                ):
                    if partition.isdigit() and int(partition) < month:  # not 'tuple()': unpartitioned
                        host.execute(f"ALTER TABLE {local} DROP PARTITION {int(partition)}")
            host.execute(f"ALTER TABLE {local} DELETE WHERE {where}", params)
        ch.wait_for_mutations(host)
    return int(counted)


def forget_superseded(conn: sa.Connection, start: datetime) -> None:
    """The superseded versions of the visits begun before ``start`` leave ``_crumby_superseded``.

    By visit, not by version: a merge may have dropped the superseded rows
    themselves. Done before the visits' rows go, as the look-up reads them; a
    retention stopped in between shows those visits' older versions too, on
    days that are going, until the next run deletes their rows. The table is
    small and not partitioned, so the DELETE rewrites it whole; no TTL (18.16
    has none, and retention is a setting, not the schema). On a cluster the
    visits' rows are read from every shard.
    """
    begun = f"SELECT session_id FROM {ch.SESSION_ROWS} WHERE started < %(start)s"
    found = ch.query(
        conn,
        f"SELECT count() FROM {ch.SUPERSEDED} WHERE session_id GLOBAL IN ({begun})",
        {"start": start},
    )[0][0]
    if not found:
        return
    for host, suffix in ch.writers(conn):
        host.execute(
            f"ALTER TABLE {ch.quote(ch.SUPERSEDED + suffix)} DELETE WHERE session_id IN ({begun})",
            {"start": start},
        )
        ch.wait_for_mutations(host)


class ClickHouseReprocess(_Reprocess, ClickHouseRun):
    """``--reprocess`` on ClickHouse: each hit's row written again under its key, then merged away.

    The new row has the old one's key (site, time, hit id), so merging the
    partition (``OPTIMIZE ... FINAL``) keeps only the newer. A run stopped
    before the merge leaves both until reprocessing the range again.
    """

    def _swap(self, conn: sa.Connection, table: sa.Table, rows: pa.Table) -> int:
        write_arrow(conn, table.name, rows)
        months = {when.year * 100 + when.month for when in rows.column("datetime").to_pylist()}
        for host, suffix in ch.writers(conn):
            for month in sorted(months):
                host.execute(f"OPTIMIZE TABLE {ch.quote(table.name + suffix)} PARTITION {month} FINAL")
        return rows.num_rows

    def _rebuild(self, conn: sa.Connection, session_ids: list[str]) -> None:
        if session_ids:
            start = self.low - timedelta(days=1)
            replace_sessions(
                conn, summarise(stored_page_views(conn, session_ids, start), self.report.load_id)
            )

"""Loading into ClickHouse: large native blocks, exactly once without transactions.

ClickHouse commits each INSERT block on its own, so a run killed between two
statements leaves the first. The promise of the other stores (each hit once,
sessions whole, checkpoints never ahead of their rows) is kept by order and
idempotence instead:

1. the batch's hits whose id is already stored in the batch's time window
   are left out (a replay of a batch that a killed run wrote in part), and
   the rest go in as one block per table; the tables are also
   ``ReplacingMergeTree`` keyed by hit id, should a row ever come twice;
2. each visit of the batch is written as a new version of its ``sessions``
   row: visits that begin in the batch from the batch's page views, visits
   that continue one stored before from all their stored page views, so a
   replay writes the same rows again; the versions it replaces are then
   listed as superseded, and reports no longer see them;
3. the session state, the calendar and then the file checkpoints follow: a
   run that dies before the checkpoint only makes the next run do the batch
   again, to the same end.

The daily figures (``visit_days``, ``page_days``...) are not kept: reports on
ClickHouse read visits, events and sessions (crumby/queries/render.py).
"""

from __future__ import annotations

import secrets
import time
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from ..hits import HIT_TYPES
from ..store import clickhouse as ch
from ..store.bookkeeping import files, loads, salts
from ..store.bookkeeping import sessions as session_state
from ..store.schema import events, visits
from .abandoned import ABANDONED
from .pipeline import _Run
from .reprocess import _Reprocess
from .rollup import PAGE_VIEW_COLUMNS, summarise
from .rows import batch_rows, split_by_type
from .sessions import STATE_COLUMNS
from .visitors import SALT_KEEP_DAYS


def kept_state(conn: sa.Connection, since: datetime) -> pd.DataFrame:
    """The newest kept session of each visitor last seen at or after ``since``."""
    rows = ch.query(
        conn,
        f"SELECT {', '.join(STATE_COLUMNS)} FROM {session_state.name} FINAL WHERE last_seen >= %(since)s",
        {"since": since},
    )
    state = pd.DataFrame(rows, columns=STATE_COLUMNS)
    state["last_seen"] = pd.to_datetime(state["last_seen"], utc=True).dt.tz_localize(None)
    return state


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
    """Hit ids of ``rows`` that ``table`` holds already (looked for in their time window)."""
    times = rows.column("datetime")
    found = ch.query(
        conn,
        f"SELECT hit_id FROM {table.name} WHERE datetime >= %(low)s AND datetime <= %(high)s "
        "AND hit_id GLOBAL IN (SELECT hit_id FROM _crumby_batch)",
        {
            "low": pc.min(times).as_py().replace(microsecond=0),
            "high": pc.max(times).as_py().replace(microsecond=0) + timedelta(seconds=1),
        },
        external=("_crumby_batch", [("hit_id", "String")], [(h,) for h in rows.column("hit_id").to_pylist()]),
    )
    return {row[0] for row in found}


def insert_new_hits(conn: sa.Connection, table: sa.Table, batch: pa.Table, kind: str) -> int:
    """Insert the hits of type ``kind`` not stored yet, in one block; returns how many."""
    rows = batch.filter(pc.equal(batch.column("t"), kind)).select([c.name for c in table.columns])
    if not rows.num_rows:
        return 0
    stored = stored_hit_ids(conn, table, rows)
    if stored:
        rows = rows.filter(pc.invert(pc.is_in(rows.column("hit_id"), pa.array(list(stored), pa.string()))))
    write_arrow(conn, table.name, rows)
    return rows.num_rows


def write_arrow(conn: sa.Connection, table: str, rows: pa.Table) -> None:
    """``rows`` into ``table`` as one native block."""
    ch.insert_arrow(conn, table, rows)


def write_sessions(conn: sa.Connection, batch: pa.Table, load_id: int | None) -> int:
    """Write the batch's visits as new versions of their ``sessions`` rows; returns how many."""
    page_views = batch.filter(pc.equal(batch.column("t"), HIT_TYPES[0])).select(list(PAGE_VIEW_COLUMNS))
    page_views = page_views.filter(pc.invert(pc.is_null(page_views.column("session_id"))))
    if not page_views.num_rows:
        return 0
    rows = summarise(page_views, load_id)
    begun_here = pc.is_in(rows.column("session_id"), batch.column("hit_id"))
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


class ClickHouseRun(_Run):
    """The ETL's run with ClickHouse's way of keeping its promise (see the module's docstring)."""

    load_state = staticmethod(kept_state)
    load_salts = staticmethod(day_salts)

    def _ready_store(self) -> int:
        ch.ensure_schema(self.engine, str(self.settings.get("CLICKHOUSE_CLUSTER") or ""))
        with self.engine.connect() as conn:
            return close_abandoned(conn)

    def _sum_days(self) -> int:
        return 0  # no daily figures on ClickHouse

    def _close_load(self, conn: sa.Connection, **values) -> None:
        close_load(conn, self.report.load_id, **values)

    def _write(self, conn: sa.Connection, hits: pd.DataFrame, stored_ips: pd.Series) -> tuple[int, int]:
        hits, new_state, _ = self._assign(conn, hits)
        ids = np.zeros(len(hits), np.int64)  # row ids count on from each table's last
        tables = list(zip((visits, events), HIT_TYPES, split_by_type(hits), strict=True))
        for table, _, rows in tables:
            first = (ch.query(conn, f"SELECT max(id) FROM {table.name}")[0][0] or 0) + 1
            ids[rows] = np.arange(len(rows), dtype=np.int64) + first
        batch = batch_rows(hits, ids=ids, load_id=self.report.load_id, stored_ips=stored_ips)
        counts = [
            insert_new_hits(conn, table, batch, kind) if len(rows) else 0 for table, kind, rows in tables
        ]
        write_sessions(conn, batch, self.report.load_id)
        if not new_state.empty:
            state = pa.table({name: pa.array(new_state[name].tolist()) for name in STATE_COLUMNS})
            write_arrow(conn, session_state.name, state)
        return counts[0], counts[1]


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

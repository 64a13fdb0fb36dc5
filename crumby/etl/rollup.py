"""The aggregated store: ``sessions``, one row per visit, kept exactly once beside the page views.

Reports over whole visits (summary, sources, countries, devices, ...) would
otherwise group every page view of their range by session and count distinct
visitors over millions of text ids; one row per visit, with an integer key
per visitor, is a third of the rows and a cheaper distinct count.

It is written in the transaction that writes the page views it sums up, so it
is as exactly-once as they are:

- a batch's new visits are inserted; a visit that an earlier batch began
  (its first hit is not in this batch) is merged with its stored row;
- a reprocess rebuilds the rows of the visits it touched from the stored page
  views; retention deletes the visits that started before the cutoff; a
  store made before the table existed gets it built from its rows at the
  next run (:func:`ensure_built`).

A visit takes the attributes of its first page view (site, visitor, source,
campaign, place, browser, screen, language, stored IP, bot flag) and counts on the day it
started; its exit page is its last page view's.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from ..store.engine import backend_name, raw_duckdb
from ..store.schema import sessions, visits
from ..store.stale_days import mark_stale
from .keys import KEY_OF, id_keys
from .load import execute_over, row_tuples, to_arrow
from .pg_copy import copy_into
from .sessions import VISIT_COLUMNS, assign_sessions

ENTRY_COLUMNS = (
    "site",
    "visitor_id",
    "is_bot",
    "referrer_domain",
    "referrer_source",
    "channel",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "country",
    "subdivision_1",
    "city",
    "browser",
    "platform",
    "os",
    "device",
    "screen_res",
    "lang",
    "ip",
)
# What a visit is made of: these columns of its page views.
PAGE_VIEW_COLUMNS = ("hit_id", "session_id", "datetime", "page_path", *ENTRY_COLUMNS)
ROWS_PER_STATEMENT = 2000
DEFAULT_TIMEOUT_MINUTES = 30  # SESSION_TIMEOUT's default: an upgrade runs before settings reach the store
BACKFILL_ROWS = 500_000
_IN_ORDER = pc.ScalarAggregateOptions(skip_nulls=False)


def summarise(page_views: pa.Table, load_id: int | None = None, rows: pa.Array | None = None) -> pa.Table:
    """One ``sessions`` row per session of ``page_views`` (PAGE_VIEW_COLUMNS, any order).

    The rows are ordered by session, time and hit id; each session's first
    row gives its entry, its last row its exit, and no per-group work is done.
    ``rows``: the positions of the page views, when ``page_views`` holds other
    rows too (a batch's events): only the columns that order them and each
    session's first and last row are taken, where filtering the batch first
    copied every column of every page view (about 0.1 s a batch).
    """
    count = page_views.num_rows if rows is None else len(rows)

    def of_views(name: str) -> pa.ChunkedArray | pa.Array:
        column = page_views.column(name)
        return column if rows is None else column.take(rows)

    session_ids = of_views("session_id")
    codes = pc.dictionary_encode(session_ids)
    codes = (codes.combine_chunks() if isinstance(codes, pa.ChunkedArray) else codes).indices
    order = pc.sort_indices(
        pa.table({"s": codes, "t": of_views("datetime"), "h": of_views("hit_id")}),
        sort_keys=[("s", "ascending"), ("t", "ascending"), ("h", "ascending")],
    ).to_numpy()
    sorted_codes = codes.to_numpy(zero_copy_only=False)[order]
    starts = np.flatnonzero(np.diff(sorted_codes, prepend=-1)) if count else np.empty(0, np.int64)
    ends = np.append(starts[1:], count) - 1
    positions = order if rows is None else rows.to_numpy(zero_copy_only=False)[order]
    first, last = pa.array(positions[starts]), pa.array(positions[ends])
    pieces = {
        "session_id": page_views.column("session_id").take(first),
        "started": page_views.column("datetime").take(first),
        "ended": page_views.column("datetime").take(last),
        "pageviews": np.diff(np.append(starts, count)),
        "entry_page": page_views.column("page_path").take(first),
        "exit_page": page_views.column("page_path").take(last),
        **{name: page_views.column(name).take(first) for name in ENTRY_COLUMNS},
        # the keys, where the page views have them (else _finish makes them from the ids)
        **{key: page_views.column(key).take(first) for key in KEY_OF if key in page_views.column_names},
    }
    return _finish(pieces, len(starts), load_id)


def _finish(pieces: dict[str, object], count: int, load_id: int | None) -> pa.Table:
    """The rollup's columns in order: the keys (those the page views did not give), the duration
    and the load added."""
    for key, made_from in (*KEY_OF.items(), ("ip_key", "ip")):
        if key not in pieces:
            pieces[key] = id_keys(pieces[made_from])
    pieces["duration"] = _whole_seconds(pieces["ended"]) - _whole_seconds(pieces["started"])
    pieces["load_id"] = pa.nulls(count, pa.int64()) if load_id is None else np.full(count, load_id, np.int64)
    pieces["is_bot"] = pc.fill_null(pieces["is_bot"], False)
    return to_arrow(sessions, pieces, count)


def _whole_seconds(times) -> np.ndarray:
    """Seconds since 1970, floored: durations agree to the second with the reports' epoch()."""
    micros = pc.cast(times, pa.timestamp("us")).cast(pa.int64()).to_numpy(zero_copy_only=False)
    return np.floor_divide(micros, 1_000_000)


def merge(pieces: pa.Table) -> pa.Table:
    """Rows of the same session (a stored one and a batch's continuation) as one row.

    Pieces may overlap in time (two files of one hour read in different
    batches): the entry is the earliest-starting piece's, the exit the
    latest-ending one's.
    """
    by_start = pieces.sort_by([("started", "ascending"), ("ended", "ascending")])
    grouped = by_start.group_by("session_id", use_threads=False).aggregate(
        [
            ("started", "min"),
            ("ended", "max"),
            ("pageviews", "sum"),
            ("entry_page", "first", _IN_ORDER),
            ("load_id", "max"),
            *[(name, "first", _IN_ORDER) for name in (*ENTRY_COLUMNS, *KEY_OF)],
        ]
    )
    by_end = pieces.sort_by([("ended", "ascending"), ("started", "ascending")])
    exits = by_end.group_by("session_id", use_threads=False).aggregate([("exit_page", "last", _IN_ORDER)])
    grouped = grouped.join(exits, "session_id")
    rows = {
        "session_id": grouped.column("session_id"),
        "started": grouped.column("started_min"),
        "ended": grouped.column("ended_max"),
        "pageviews": grouped.column("pageviews_sum"),
        "entry_page": grouped.column("entry_page_first"),
        "exit_page": grouped.column("exit_page_last"),
        **{name: grouped.column(f"{name}_first") for name in (*ENTRY_COLUMNS, *KEY_OF)},
    }
    merged = _finish(rows, grouped.num_rows, None)
    load_ids = grouped.column("load_id_max")
    return merged.set_column(merged.schema.get_field_index("load_id"), "load_id", load_ids)


def add_page_views(
    conn: sa.Connection,
    page_views: pa.Table,
    load_id: int | None,
    known_new: pa.Array | None = None,
    rows: pa.Array | None = None,
) -> int:
    """Fold a batch's newly stored page views into ``sessions``; returns the rows written.

    ``known_new`` lists ids that cannot belong to a stored session (the batch's
    own hit ids: a session's id is its first hit's); the other sessions are
    looked up and merged with what is stored. ``rows``: as for :func:`summarise`.
    """
    if not (page_views.num_rows if rows is None else len(rows)):
        return 0
    batch = summarise(page_views, load_id, rows)
    maybe_stored = batch.column("session_id")
    if known_new is not None:
        maybe_stored = maybe_stored.filter(pc.invert(pc.is_in(maybe_stored, known_new)))
    stored = read_sessions(conn, maybe_stored.to_pylist())
    if stored.num_rows:
        continued = pc.is_in(batch.column("session_id"), stored.column("session_id"))
        new = batch.filter(pc.invert(continued))
        joined = merge(pa.concat_tables([stored, batch.filter(continued)], promote_options="permissive"))
        batch = pa.concat_tables([new, joined], promote_options="permissive")
        delete_sessions(conn, stored.column("session_id").to_pylist())
        mark_changed_days(conn, stored, joined)
    else:
        new = batch
    append(conn, batch)
    mark_visit_days(conn, new)
    return batch.num_rows


def _days_of(rows: pa.Table, *columns: str) -> set:
    """The UTC days of ``columns`` (timestamps) of ``rows``."""
    return {day for column in columns for day in pc.unique(_day(rows, column)).to_pylist()}


def mark_visit_days(conn: sa.Connection, *rows: pa.Table) -> None:
    """Mark stale the days these ``sessions`` rows began and ended on: ``visitor_days`` puts a visit's
    visitor on both."""
    mark_stale(conn, set().union(*(_days_of(table, "started", "ended") for table in rows)))


def mark_changed_days(conn: sa.Connection, before: pa.Table, after: pa.Table) -> None:
    """Mark stale the days whose figures change when the visits ``before`` become ``after`` (merged).

    A visit goes on: its end day changes (``visitor_days`` moves its visitor
    from the old one to the new), its start day does not. Marking the start
    day too made every cron run sum every day again from the first day of a
    visit that never paused for the session timeout (a monitor, a kiosk, a
    crawler, one shared address in cookieless mode): weeks of days on each
    run. The old end day is marked only where the visit did not begin on it:
    where it did, its visitor stays on it, and a day's own page views are
    marked by the load that brings them. So a daily cron run after midnight
    does not sum the day before again for each visit that went on past it
    (the whole day before, every row of ``visitor_days`` since, made anew).
    A start moves only when a file read late holds earlier page views;
    then both start days are marked. What a visit began with (its bot flag)
    changes only with its start (or with a page view at the very same time,
    whose day the load marks): its site and visitor are its id's.
    """
    times = pa.schema(
        [("session_id", pa.large_string()), ("started", pa.timestamp("us")), ("ended", pa.timestamp("us"))]
    )
    old, new = (
        pa.table({f.name: pc.cast(rows.column(f.name), f.type) for f in times}) for rows in (before, after)
    )
    pairs = old.join(new, "session_id", right_suffix="_new", join_type="inner")
    moved = pc.not_equal(pairs.column("started"), pairs.column("started_new"))
    left = pairs.filter(pc.or_(moved, pc.not_equal(_day(pairs, "ended"), _day(pairs, "started"))))
    moved = pairs.filter(moved)
    mark_stale(
        conn,
        _days_of(pairs, "ended_new") | _days_of(left, "ended") | _days_of(moved, "started", "started_new"),
    )


def _day(rows: pa.Table, column: str) -> pa.Array:
    """The UTC day of each timestamp of ``column``."""
    return pc.cast(rows.column(column), pa.date32())


def update_rollup(
    conn: sa.Connection,
    batch: pa.Table,
    *,
    first_id: int,
    load_id: int | None,
    inserted: int | None = None,
) -> int:
    """Fold the page views a batch has just inserted (row ids from ``first_id``) into ``sessions``.

    When some of the batch's page views were in the store already (and so
    skipped), only the rows the batch did insert count, and every session is
    looked up (a skipped hit may have begun a stored one). ``inserted``: how
    many page views the batch inserted, when the caller knows (else counted).
    """
    page_views = batch.select([*PAGE_VIEW_COLUMNS, *KEY_OF])
    rows = pc.indices_nonzero(pc.equal(batch.column("t"), "visit"))
    if inserted is None:
        inserted = _value(conn, sa.select(sa.func.count()).where(visits.c.id >= first_id))
    if inserted == len(rows):
        return add_page_views(conn, page_views, load_id, known_new=batch.column("hit_id"), rows=rows)
    new_ids = conn.execute(sa.select(visits.c.hit_id).where(visits.c.id >= first_id)).scalars().all()
    rows = rows.filter(pc.is_in(page_views.column("hit_id").take(rows), pa.array(new_ids, pa.string())))
    return add_page_views(conn, page_views, load_id, rows=rows)


def rebuild(conn: sa.Connection, session_ids: Iterable[str], load_id: int | None = None) -> int:
    """Write the rows of ``session_ids`` anew from their stored page views (after a reprocess)."""
    wanted = sorted(set(session_ids))
    if not wanted:
        return 0
    stored = read_sessions(conn, wanted)
    mark_visit_days(conn, stored)
    delete_sessions(conn, wanted)
    # A reprocess keeps its hits' times and sessions: their page views lie within the stored visits'
    # times, which an index on time finds (PostgreSQL has none on visits.session_id).
    within = None
    if stored.num_rows == len(wanted):
        within = visits.c.datetime.between(pc.min(stored["started"]).as_py(), pc.max(stored["ended"]).as_py())
    page_views = _select_in(
        conn, visits, [visits.c[name] for name in PAGE_VIEW_COLUMNS], visits.c.session_id, wanted, within
    )
    page_views = page_views.filter(pc.invert(pc.is_null(page_views.column("session_id"))))
    if not page_views.num_rows:
        return 0
    rows = summarise(page_views, load_id)
    append(conn, rows)
    mark_visit_days(conn, rows)
    return rows.num_rows


def backfill(conn: sa.Connection, chunk_rows: int = BACKFILL_ROWS) -> int:
    """Build ``sessions`` from every stored page view, a slice of row ids at a time (an upgrade)."""
    conn.execute(sessions.delete())
    give_sessions(conn)
    low, high = conn.execute(sa.select(sa.func.min(visits.c.id), sa.func.max(visits.c.id))).all()[0]
    if low is None:
        return 0
    columns = [visits.c[name] for name in PAGE_VIEW_COLUMNS]
    for start in range(int(low), int(high) + 1, chunk_rows):
        query = sa.select(*columns).where(
            visits.c.id >= start, visits.c.id < start + chunk_rows, visits.c.session_id.is_not(None)
        )
        page_views = _fetch(conn, query, _shape_of(columns))
        # a visit's id is the hit id of its first row in load order: one in this slice is new here
        add_page_views(conn, page_views, None, known_new=page_views.column("hit_id").drop_null())
    return _value(conn, sa.select(sa.func.count()).select_from(sessions))


def ensure_built(engine: sa.Engine) -> int:
    """Build ``sessions`` when the store has page views but no visit summed yet (made before it existed)."""
    with engine.begin() as conn:
        if conn.execute(sa.select(sessions.c.session_id).limit(1)).all():
            return 0
        if not conn.execute(sa.select(visits.c.id).limit(1)).all():
            return 0
        return backfill(conn)


def give_sessions(conn: sa.Connection, timeout_minutes: int = DEFAULT_TIMEOUT_MINUTES) -> int:
    """Page views stored without a session (the original Crumby kept none) get one, by the usual rule.

    A session is a visitor's page views with no gap over the timeout; its id
    is ``row-`` and the row id of its first page view.
    """
    found = conn.execute(
        sa.select(visits.c.id, visits.c.site, visits.c.visitor_id, visits.c.datetime).where(
            visits.c.session_id.is_(None)
        )
    ).all()
    if not found:
        return 0
    views = pd.DataFrame(found, columns=["row", "site", "visitor_id", "datetime"])
    views["id"] = "row-" + views["row"].astype(str)
    views["datetime"] = pd.to_datetime(views["datetime"])
    session_ids = assign_sessions(views, pd.DataFrame(columns=VISIT_COLUMNS), timeout_minutes)
    if backend_name(conn.engine) == "duckdb":  # no key on id there: one join, not an update per row
        given = pa.table({"s": pa.array(session_ids.tolist(), pa.string()), "r": views["row"].to_numpy()})
        sql = "UPDATE visits SET session_id = g.s FROM _crumby_rows g WHERE visits.id = g.r"
        execute_over(raw_duckdb(conn), given, sql)
        return len(views)
    pairs = [{"s": s, "r": int(r)} for s, r in zip(session_ids.tolist(), views["row"], strict=True)]
    conn.execute(
        sa.update(visits).where(visits.c.id == sa.bindparam("r")).values(session_id=sa.bindparam("s")),
        pairs,
    )
    return len(pairs)


def _value(conn: sa.Connection, query: sa.Select):
    """The one value of ``query``, its result read to the end (DuckDB refuses new work before)."""
    return conn.execute(query).all()[0][0]


def _shape_of(columns: list[sa.Column]) -> sa.Table:
    """A table of just these columns, to type what is read back as Arrow."""
    return sa.Table("_crumby_read", sa.MetaData(), *[sa.Column(c.name, c.type) for c in columns])


def read_sessions(conn: sa.Connection, session_ids: list[str]) -> pa.Table:
    """The stored ``sessions`` rows of these ids."""
    if not session_ids:
        return sessions_schema().empty_table()
    return _select_in(conn, sessions, list(sessions.columns), sessions.c.session_id, session_ids)


def sessions_schema() -> pa.Schema:
    return to_arrow(sessions, {}, 0).schema


def delete_sessions(conn: sa.Connection, session_ids: list[str]) -> None:
    if backend_name(conn.engine) == "duckdb":
        gone = pa.table({"session_id": pa.array(session_ids, pa.string())})
        sql = "DELETE FROM sessions WHERE session_id IN (SELECT session_id FROM _crumby_rows)"
        execute_over(raw_duckdb(conn), gone, sql)
        return
    for start in range(0, len(session_ids), ROWS_PER_STATEMENT):
        conn.execute(
            sessions.delete().where(
                sessions.c.session_id.in_(session_ids[start : start + ROWS_PER_STATEMENT])
            )
        )


def append(conn: sa.Connection, rows: pa.Table) -> None:
    """Insert ``rows`` (the ``sessions`` columns) in bulk."""
    backend = backend_name(conn.engine)
    names = [c.name for c in sessions.columns]
    quoted = ", ".join(conn.dialect.identifier_preparer.quote(n) for n in names)
    if backend == "duckdb":
        execute_over(
            raw_duckdb(conn), rows, f"INSERT INTO sessions ({quoted}) SELECT {quoted} FROM _crumby_rows"
        )
        return
    if backend == "postgresql":
        copy_into(conn, "sessions", quoted, rows)
        return
    mark = "?" if backend == "sqlite" else "%s"
    sql = f"INSERT INTO sessions ({quoted}) VALUES ({', '.join(mark for _ in names)})"
    cursor = conn.connection.driver_connection.cursor()
    for start in range(0, rows.num_rows, ROWS_PER_STATEMENT):
        cursor.executemany(sql, row_tuples(rows.slice(start, ROWS_PER_STATEMENT)))
    cursor.close()


def _select_in(
    conn: sa.Connection,
    table: sa.Table,
    columns: list[sa.Column],
    key: sa.Column,
    values: list[str],
    within: sa.ColumnElement[bool] | None = None,
) -> pa.Table:
    """``columns`` of the rows of ``table`` whose ``key`` is one of ``values`` (and ``within``), as Arrow."""
    shape = _shape_of(columns)
    condition = sa.true() if within is None else within
    if backend_name(conn.engine) == "duckdb":
        names = ", ".join(f'"{c.name}"' for c in columns)
        sql = f'SELECT {names} FROM {table.name} WHERE "{key.name}" IN (SELECT k FROM _crumby_rows)'
        _crumby_rows = pa.table({"k": pa.array(values, pa.string())})  # read by DuckDB, by name
        return _as_columns(_arrow_of(raw_duckdb(conn).sql(sql)), shape)
    parts = [
        _fetch(
            conn,
            sa.select(*columns).where(condition, key.in_(values[start : start + ROWS_PER_STATEMENT])),
            shape,
        )
        for start in range(0, len(values), ROWS_PER_STATEMENT)
    ]
    return pa.concat_tables(parts)


def _fetch(conn: sa.Connection, query: sa.Select, shape: sa.Table) -> pa.Table:
    if backend_name(conn.engine) == "duckdb":
        compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
        return _as_columns(_arrow_of(raw_duckdb(conn).sql(str(compiled))), shape)
    rows = conn.execute(query).all()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in shape.columns]
    return to_arrow(
        shape, dict(zip([c.name for c in shape.columns], (list(c) for c in columns), strict=True)), len(rows)
    )


def _as_columns(table: pa.Table, shape: sa.Table) -> pa.Table:
    return to_arrow(shape, {name: table.column(name) for name in table.column_names}, table.num_rows)


def _arrow_of(relation) -> pa.Table:
    """A DuckDB relation's rows as Arrow (the method's name changed in DuckDB 2)."""
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch()

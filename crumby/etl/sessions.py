"""Sessions: a visitor's hits with no gap longer than SESSION_TIMEOUT minutes.

A batch's hits may continue a visit that earlier hits began, in an earlier
batch or run. Each visitor's last session before a batch (its id and last
hit time) is read from the stored hits around the batch's time
(:func:`recent_sessions`): page views and events carry their session ids, and
the batches before it in the open transaction are visible there too, so a
session that spans two batches or two runs stays one, and a late file's hits
join the visit they fall in. (ClickHouse keeps that state in
``_crumby_sessions`` instead: see crumby/etl/clickhouse.py.) A session's id
is the hit id of its first hit: loading the same logs again gives the same ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from ..store.engine import exact_text
from ..store.schema import events, visits
from .enrich.distinct import STRING, string_array

STATE_COLUMNS = ["site", "visitor_id", "session_id", "last_seen"]


def assign_sessions(
    hits: pd.DataFrame, state: pd.DataFrame, timeout_minutes: int
) -> tuple[pd.Series, pd.DataFrame]:
    """Session id of every hit, and the new state rows of the batch's visitors.

    ``hits`` needs ``site``, ``visitor_id``, ``datetime`` and ``id`` (hit id);
    ``state`` has STATE_COLUMNS for visitors seen before. Vectorised: the hits
    are sorted by visitor and time, and a session starts at each visitor's
    first hit and after each gap longer than the timeout.
    """
    timeout = np.timedelta64(timeout_minutes * 60, "s")
    site = text_column(hits["site"]).fill_null("")
    visitor = text_column(hits["visitor_id"]).fill_null("")
    times = hits["datetime"].to_numpy("datetime64[us]")
    hit_ids = text_column(hits["id"])
    count = len(times)
    keys = _visitor_codes(site, visitor)
    order = pc.sort_indices(
        pa.table({"visitor": keys, "time": times, "id": hit_ids}),
        sort_keys=[("visitor", "ascending"), ("time", "ascending"), ("id", "ascending")],
    ).to_numpy()
    codes = keys[order]
    when = times[order]

    first = np.ones(count, bool)  # a visitor's first hit of the batch
    first[1:] = codes[1:] != codes[:-1]
    last = np.append(first[1:], True)  # a visitor's last hit of the batch
    starts = first.copy()
    starts[1:] |= (when[1:] - when[:-1]) > timeout
    first_rows = np.flatnonzero(first)
    last_rows = np.flatnonzero(last)

    # A visitor's first hit in this batch may continue the session kept in the store.
    kept_id, kept_seen = _kept_sessions(state, site.take(order[first_rows]), visitor.take(order[first_rows]))
    continued = ~np.isnat(kept_seen)
    continued[continued] = np.abs(when[first_rows][continued] - kept_seen[continued]) <= timeout

    # Each session's id: the hit id of its first hit, or the kept id it continues
    # (kept ids are numbered after the hit ids in ``candidates``).
    session_of_row = np.cumsum(starts) - 1
    source = order[np.flatnonzero(starts)]
    continuing = np.flatnonzero(continued)
    source[session_of_row[first_rows[continuing]]] = count + continuing
    candidates = pa.concat_arrays([hit_ids, kept_id])
    picked = np.empty(count, np.int64)
    picked[order] = source[session_of_row]
    sessions = candidates.take(picked)

    last_seen = when[last_rows]
    same_session = continued & (session_of_row[last_rows] == session_of_row[first_rows])
    later = same_session & (kept_seen > last_seen)
    last_seen[later] = kept_seen[later]
    new_state = pd.DataFrame(
        {
            "site": _series(site.take(order[last_rows])),
            "visitor_id": _series(visitor.take(order[last_rows])),
            "session_id": _series(candidates.take(source[session_of_row[last_rows]])),
            "last_seen": last_seen,
        }
    )
    return pd.Series(_series(sessions).array, index=hits.index), new_state


def text_column(values: pd.Series) -> pa.Array:
    """A text column as one Arrow large_string array (not copied when it is Arrow-backed already)."""
    array = string_array(values)
    return array if pa.types.is_large_string(array.type) else array.cast(pa.large_string())


def _series(array: pa.Array) -> pd.Series:
    return pd.Series(array, dtype=STRING, copy=False)


def _visitor_codes(site: pa.Array, visitor: pa.Array) -> np.ndarray:
    """One integer per distinct (site, visitor) pair."""
    site_codes = _codes(site)
    visitor_codes = _codes(visitor)
    return site_codes * (int(visitor_codes.max(initial=0)) + 1) + visitor_codes


def _codes(values: pa.Array) -> np.ndarray:
    return pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False).astype(np.int64)


def _kept_sessions(state: pd.DataFrame, site: pa.Array, visitor: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Kept session id (null where none) and last-seen time (NaT) of each (site, visitor) pair."""
    kept_id = pa.nulls(len(site), pa.large_string())
    kept_seen = np.full(len(site), np.datetime64("NaT"), "datetime64[us]")
    if state is None or state.empty:
        return kept_id, kept_seen
    batch = pa.table({"site": site, "visitor_id": visitor, "_position": np.arange(len(site))})
    kept = pa.table(
        {
            "site": text_column(state["site"]).fill_null(""),
            "visitor_id": text_column(state["visitor_id"]),
            "session_id": text_column(state["session_id"]),
            "last_seen": pd.to_datetime(state["last_seen"]).to_numpy("datetime64[us]"),
        }
    )
    found = batch.join(kept, keys=["site", "visitor_id"], join_type="inner")
    if not found.num_rows:
        return kept_id, kept_seen
    position = found.column("_position").to_numpy()
    row_of = np.full(len(site), -1, np.int64)
    row_of[position] = np.arange(found.num_rows)
    kept_id = found.column("session_id").combine_chunks().take(pa.array(row_of, mask=row_of < 0))
    kept_seen[position] = found.column("last_seen").to_numpy()
    return kept_id, kept_seen


SPANS_PER_QUERY = 100  # time ranges ORed in one look-up; a batch of scattered times takes several


def recent_sessions(conn: sa.Connection, spans: Sequence[tuple[datetime, datetime]]) -> pd.DataFrame:
    """Each visitor's last session among the stored hits within ``spans`` (STATE_COLUMNS).

    ``spans`` are a batch's times widened by the timeout (:func:`crumby.etl.load.time_spans`): no
    hit outside them can continue a session with the batch's hits. Both hit tables have an index (or
    zone maps) on time, so this reads about the hits of the timeout before the batch, one row per
    visit sent back. It replaces a table of each visitor's last session, upserted after every
    batch: on PostgreSQL that upsert was about 3 s of the server's 10 s for a million hits.
    """
    text = exact_text(conn)
    found = []
    for start in range(0, len(spans), SPANS_PER_QUERY):
        part = spans[start : start + SPANS_PER_QUERY]
        queries = []
        for table in (visits, events):
            site = text(sa.func.coalesce(table.c.site, ""))
            within = sa.or_(*(table.c.datetime.between(low, high) for low, high in part))
            queries.append(
                sa.select(
                    site.label("site"),
                    # one id per key (a key is its id's hash), read back exactly as stored: grouped by
                    # the ids themselves, MySQL would take two that differ in case or trailing blanks as one
                    sa.func.min(sa.func.coalesce(table.c.visitor_id, "")).label("visitor_id"),
                    sa.func.min(table.c.session_id).label("session_id"),
                    sa.func.max(table.c.datetime).label("last_seen"),
                )
                .where(within, table.c.session_id.is_not(None))
                .group_by(site, table.c.visitor_key, table.c.visit_key)
            )
        found.extend(conn.execute(sa.union_all(*queries)).all())
    state = pd.DataFrame(found, columns=STATE_COLUMNS)
    state["last_seen"] = pd.to_datetime(state["last_seen"])
    return state


def nearest_sessions(candidates: pd.DataFrame, hits: pd.DataFrame) -> pd.DataFrame:
    """Of ``candidates`` (STATE_COLUMNS, any number per visitor), each visitor's session nearest in
    time to their first hit in ``hits``: the one :func:`assign_sessions` checks that hit against.
    A visitor may have visits in two of a batch's time spans (a late hour read with the current
    one); the latest of them could lie hours from the hit that would continue the other."""
    if candidates.empty:
        return candidates
    site = text_column(hits["site"]).fill_null("")
    visitor = text_column(hits["visitor_id"]).fill_null("")
    first = (
        pd.DataFrame(
            {"site": _series(site), "visitor_id": _series(visitor), "first": hits["datetime"].to_numpy()}
        )
        .groupby(["site", "visitor_id"], sort=False)["first"]
        .min()
    )
    keyed = candidates.fillna({"site": "", "visitor_id": ""}).astype({"site": STRING, "visitor_id": STRING})
    joined = keyed.join(first, on=["site", "visitor_id"], how="inner")
    distance = (joined["last_seen"] - pd.to_datetime(joined["first"])).abs()
    nearest = joined.assign(_distance=distance).sort_values(["_distance", "session_id"], kind="stable")
    return nearest.drop_duplicates(["site", "visitor_id"])[STATE_COLUMNS].reset_index(drop=True)

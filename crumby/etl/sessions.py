"""Sessions: a visitor's hits with no gap longer than SESSION_TIMEOUT minutes.

A batch's hits may continue a visit that earlier hits began, in an earlier
batch or run. The visits around a batch's time (each one's id, and its first
and last hit there) are read from the stored hits (:func:`recent_sessions`):
page views and events carry their session ids, and
the batches before it in the open transaction are visible there too, so a
session that spans two batches or two runs stays one, and a late file's hits
join the visit they fall in. (ClickHouse reads its stored hits the same way,
and the rows it holds back for a commit beside them: crumby/etl/clickhouse.py.)
A session's id is the hit id of its first hit: loading the same logs again
gives the same ids.
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

# A visit found around a batch: its first and last hit there. A visitor's first hit of a batch
# continues it when it lies within the timeout of those, or between them (a file read late).
VISIT_COLUMNS = ["site", "visitor_id", "session_id", "first_seen", "last_seen"]


def assign_sessions(hits: pd.DataFrame, kept: pd.DataFrame, timeout_minutes: int) -> pd.Series:
    """Session id of every hit.

    ``hits`` needs ``site``, ``visitor_id``, ``datetime`` and ``id`` (hit id);
    ``kept`` has VISIT_COLUMNS, a visit for each visitor seen before at most
    (:func:`nearest_sessions`). Vectorised: the hits are sorted by visitor and
    time, and a session starts at each visitor's first hit and after each gap
    longer than the timeout.
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
    starts = first.copy()
    starts[1:] |= (when[1:] - when[:-1]) > timeout
    first_rows = np.flatnonzero(first)

    # A visitor's first hit in this batch may continue the visit found in the store.
    kept_id, kept_first, kept_last = _kept_sessions(
        kept, site.take(order[first_rows]), visitor.take(order[first_rows])
    )
    continued = ~np.isnat(kept_last)
    at = when[first_rows][continued]
    continued[continued] = (at >= kept_first[continued] - timeout) & (at <= kept_last[continued] + timeout)

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

    return pd.Series(_series(sessions).array, index=hits.index)


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


def _kept_sessions(
    kept: pd.DataFrame, site: pa.Array, visitor: pa.Array
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Kept session id (null where none), first and last time (NaT) of each (site, visitor) pair."""
    kept_id = pa.nulls(len(site), pa.large_string())
    kept_first = np.full(len(site), np.datetime64("NaT"), "datetime64[us]")
    kept_last = kept_first.copy()
    if kept is None or kept.empty:
        return kept_id, kept_first, kept_last
    batch = pa.table({"site": site, "visitor_id": visitor, "_position": np.arange(len(site))})
    found = pa.table(
        {
            "site": text_column(kept["site"]).fill_null(""),
            "visitor_id": text_column(kept["visitor_id"]),
            "session_id": text_column(kept["session_id"]),
            "first_seen": pd.to_datetime(kept["first_seen"]).to_numpy("datetime64[us]"),
            "last_seen": pd.to_datetime(kept["last_seen"]).to_numpy("datetime64[us]"),
        }
    )
    found = batch.join(found, keys=["site", "visitor_id"], join_type="inner")
    if not found.num_rows:
        return kept_id, kept_first, kept_last
    position = found.column("_position").to_numpy()
    row_of = np.full(len(site), -1, np.int64)
    row_of[position] = np.arange(found.num_rows)
    kept_id = found.column("session_id").combine_chunks().take(pa.array(row_of, mask=row_of < 0))
    kept_first[position] = found.column("first_seen").to_numpy()
    kept_last[position] = found.column("last_seen").to_numpy()
    return kept_id, kept_first, kept_last


SPANS_PER_QUERY = 100  # time ranges ORed in one look-up; a batch of scattered times takes several


def recent_sessions(conn: sa.Connection, spans: Sequence[tuple[datetime, datetime]]) -> pd.DataFrame:
    """The visits of the stored hits within ``spans`` (VISIT_COLUMNS): each one's first and last hit there.

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
                    sa.func.min(table.c.datetime).label("first_seen"),
                    sa.func.max(table.c.datetime).label("last_seen"),
                )
                .where(within, table.c.session_id.is_not(None))
                .group_by(site, table.c.visitor_key, table.c.visit_key)
            )
        found.extend(conn.execute(sa.union_all(*queries)).all())
    return merge_visits([pd.DataFrame(found, columns=VISIT_COLUMNS)])


def merge_visits(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One row per visit of ``parts`` (VISIT_COLUMNS): a visit found among the page views and among
    the events, or stored and held for a commit, spans both."""
    visits = pd.concat([part for part in parts if len(part)] or [parts[0]], ignore_index=True)
    for name in ("first_seen", "last_seen"):
        visits[name] = pd.to_datetime(visits[name], utc=True).dt.tz_localize(None)
    if not len(visits):
        return visits[VISIT_COLUMNS]
    texts = {"site": object, "visitor_id": object, "session_id": object}
    visits = visits.astype(texts).fillna({"site": "", "visitor_id": ""})
    grouped = visits.groupby(["site", "visitor_id", "session_id"], sort=False, as_index=False)
    return grouped.agg(first_seen=("first_seen", "min"), last_seen=("last_seen", "max"))[VISIT_COLUMNS]


def nearest_sessions(candidates: pd.DataFrame, hits: pd.DataFrame) -> pd.DataFrame:
    """Of ``candidates`` (VISIT_COLUMNS, any number per visitor), each visitor's visit nearest in
    time to their first hit in ``hits``: the one :func:`assign_sessions` checks that hit against.
    A visitor may have visits in two of a batch's time spans (a late hour read with the current
    one); the nearer is the one that hit may belong to. A visit holding the hit is nearest of all."""
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
    at = pd.to_datetime(joined["first"])
    zero = pd.Timedelta(0)
    distance = (joined["first_seen"] - at).clip(lower=zero) + (at - joined["last_seen"]).clip(lower=zero)
    nearest = joined.assign(_distance=distance).sort_values(["_distance", "session_id"], kind="stable")
    return nearest.drop_duplicates(["site", "visitor_id"])[VISIT_COLUMNS].reset_index(drop=True)

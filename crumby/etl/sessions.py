"""Sessions: a visitor's hits with no gap longer than SESSION_TIMEOUT minutes.

A batch's hits may continue a visit that earlier hits began, in an earlier
batch or run. The visits around a batch's time (each one's id, and its first
and last hit there) are read from the stored hits (:func:`recent_sessions`):
page views and events carry their session ids, and the batches before it in
the open transaction are visible there too. Laid on one timeline with the
batch's hits (:func:`assign_sessions`), they make a session that spans two
batches or two runs stay one, and a late file's hits join the visit they
fall in. (ClickHouse reads its stored hits the same way, and the rows it
holds back for a commit beside them: crumby/etl/clickhouse.py.) A session's
id is the hit id of its first hit: loading the same logs again gives the
same ids.
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

# A visit found around a batch: its first and last hit there. With the batch's hits it makes one
# timeline per visitor, on which a session runs until a gap longer than the timeout.
VISIT_COLUMNS = ["site", "visitor_id", "session_id", "first_seen", "last_seen"]


def assign_sessions(hits: pd.DataFrame, found: pd.DataFrame, timeout_minutes: int) -> pd.Series:
    """Session id of every hit.

    ``hits`` needs ``site``, ``visitor_id``, ``datetime`` and ``id`` (hit id);
    ``found`` has VISIT_COLUMNS: visits stored before, around the batch's time
    (:func:`recent_sessions`). Each visitor's hits and visits are laid on one
    timeline, a visit as the span from its first hit to its last (it has no
    longer gap inside); a session runs until a gap longer than the timeout.
    A session holding a stored visit goes on under that visit's id (the
    earliest one's, should it hold two); any other takes its first hit's id.
    So a batch goes on with the visit that its visitor's last stored hits
    began, and a hit from a file read late joins the visit it falls in, its
    later hits with it. Vectorised: the hits and visits are sorted by visitor
    and time, and each one's reach is the latest end so far.
    """
    count = len(hits)
    if not count:
        return pd.Series([], index=hits.index, dtype=STRING)
    timeout = timeout_minutes * 60_000_000  # microseconds
    found = found if found is not None else pd.DataFrame(columns=VISIT_COLUMNS)
    site, visitor = (
        pa.concat_arrays([text_column(hits[name]), text_column(found[name])]).fill_null("")
        for name in ("site", "visitor_id")
    )
    keys = _visitor_codes(site, visitor)
    visits = np.flatnonzero(np.isin(keys[count:], keys[:count])) + count  # the batch's visitors' alone
    rows = np.concatenate([np.arange(count), visits])
    ids = pa.concat_arrays([text_column(hits["id"]), text_column(found["session_id"])]).take(rows)
    times = _micros(hits["datetime"])
    start = np.concatenate([times, _micros(found["first_seen"])[visits - count]])
    end = np.concatenate([times, _micros(found["last_seen"])[visits - count]])
    key = keys[rows]
    order = pc.sort_indices(
        pa.table({"visitor": key, "start": start, "id": ids}),
        sort_keys=[("visitor", "ascending"), ("start", "ascending"), ("id", "ascending")],
    ).to_numpy()
    key, start, end = key[order], start[order], end[order]

    first = np.ones(len(order), bool)  # a visitor's first hit or visit
    first[1:] = key[1:] != key[:-1]
    reach = pd.Series(end).groupby(key, sort=False).cummax().to_numpy()  # the latest end so far
    begins = first.copy()
    begins[1:] |= start[1:] - reach[:-1] > timeout
    session = np.cumsum(begins) - 1

    # Each session's id: its earliest stored visit's, else its first hit's.
    stored = order >= count
    source = np.flatnonzero(begins)
    earliest = np.full(len(source), len(order))
    np.minimum.at(earliest, session[stored], np.flatnonzero(stored))
    source = np.where(earliest < len(order), earliest, source)
    picked = np.empty(count, np.int64)
    is_hit = ~stored
    picked[order[is_hit]] = order[source[session[is_hit]]]
    return pd.Series(_series(ids.take(picked)).array, index=hits.index)


def _micros(values: pd.Series) -> np.ndarray:
    return pd.to_datetime(values).to_numpy("datetime64[us]").astype(np.int64)


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


SPANS_PER_QUERY = 100  # time ranges ORed in one look-up; a batch of scattered times takes several


def recent_sessions(conn: sa.Connection, spans: Sequence[tuple[datetime, datetime]]) -> pd.DataFrame:
    """The visits of the stored hits within ``spans`` (VISIT_COLUMNS): each one's first and last hit there.

    ``spans`` are a batch's times widened by the timeout (:func:`crumby.etl.load.time_spans`): no
    hit outside them can continue a session with the batch's hits. Both hit tables have an index (or
    zone maps) on time, so this reads about the hits of the timeout before the batch, one row per
    visit sent back. It replaced a table of each visitor's last session, upserted after every
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

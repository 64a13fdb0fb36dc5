"""Sessions: a visitor's hits with no gap longer than SESSION_TIMEOUT minutes.

Each visitor's last session (id and last hit time) is kept in the store
(``_crumby_sessions``) and updated in the same transaction as the batch, so a
session that spans two runs stays one. A session's id is the hit id of its
first hit: loading the same logs again gives the same ids.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ..store.bookkeeping import sessions as session_state

# Visitors idle this long past the timeout are dropped from the kept state.
STATE_KEEP = timedelta(days=1)
STATE_COLUMNS = ["site", "visitor_id", "session_id", "last_seen"]


def assign_sessions(
    hits: pd.DataFrame, state: pd.DataFrame, timeout_minutes: int
) -> tuple[pd.Series, pd.DataFrame]:
    """Session id of every hit, and the new state rows of the batch's visitors.

    ``hits`` needs ``site``, ``visitor_id``, ``datetime`` and ``id`` (hit id);
    ``state`` has STATE_COLUMNS for visitors seen before.
    """
    timeout = np.timedelta64(timeout_minutes * 60, "s")
    site = hits["site"].astype(object).fillna("").to_numpy(object)
    visitor = hits["visitor_id"].astype(object).fillna("").to_numpy(object)
    times = hits["datetime"].to_numpy("datetime64[us]")
    hit_ids = hits["id"].astype(object).to_numpy(object)
    key = pd.Series(site).str.cat(pd.Series(visitor), sep="\x1f")
    key_codes, keys = pd.factorize(key)
    order = np.lexsort((hit_ids.astype(str), times, key_codes))
    codes, when, ids = key_codes[order], times[order], hit_ids[order]

    first_of_visitor = np.ones(len(order), bool)
    first_of_visitor[1:] = codes[1:] != codes[:-1]
    gap = np.zeros(len(order), "timedelta64[us]")
    gap[1:] = when[1:] - when[:-1]
    starts = first_of_visitor | (gap > timeout)
    session = ids.copy()

    # A visitor's first hit in this batch may continue the session kept in the store.
    known = _state_lookup(state, keys)
    first_rows = np.flatnonzero(first_of_visitor)
    continued = np.zeros(len(order), bool)
    if len(known):
        kept_id, kept_seen = known
        code = codes[first_rows]
        seen = kept_seen[code]
        has = ~np.isnat(seen)
        close = np.zeros(len(first_rows), bool)
        close[has] = np.abs(when[first_rows][has] - seen[has]) <= timeout
        continued[first_rows[close]] = True
        session[first_rows[close]] = kept_id[code[close]]
        starts[first_rows[close]] = True  # starts a run of rows that share the kept id

    group = np.cumsum(starts) - 1
    session = session[np.flatnonzero(starts)][group]

    result = np.empty(len(order), object)
    result[order] = session
    last = np.flatnonzero(np.append(codes[1:] != codes[:-1], True))
    last_seen = when[last]
    if len(known):
        previous = known[1][codes[last]]
        same = (~np.isnat(previous)) & (known[0][codes[last]] == session[last])
        last_seen = np.where(same & (previous > last_seen), previous, last_seen)
    last_rows = order[last]
    new_state = pd.DataFrame(
        {
            "site": site[last_rows],
            "visitor_id": visitor[last_rows],
            "session_id": session[last],
            "last_seen": last_seen,
        }
    )
    return pd.Series(result, index=hits.index, dtype=object), new_state


def _state_lookup(state: pd.DataFrame, keys: pd.Index) -> tuple[np.ndarray, np.ndarray] | tuple:
    """Kept session id and last-seen time per batch visitor code (NaT where none)."""
    if state is None or state.empty:
        return ()
    state_key = state["site"].fillna("").astype(str) + "\x1f" + state["visitor_id"].astype(str)
    position = pd.Index(state_key).get_indexer(keys)
    found = position >= 0
    kept_id = np.full(len(keys), None, object)
    kept_seen = np.full(len(keys), np.datetime64("NaT"), "datetime64[us]")
    kept_id[found] = state["session_id"].to_numpy(object)[position[found]]
    kept_seen[found] = pd.to_datetime(state["last_seen"]).to_numpy("datetime64[us]")[position[found]]
    return kept_id, kept_seen


def load_state(conn: sa.Connection, since: datetime) -> pd.DataFrame:
    """Kept sessions last seen at or after ``since`` (older ones cannot continue)."""
    rows = conn.execute(
        sa.select(*[session_state.c[name] for name in STATE_COLUMNS]).where(
            session_state.c.last_seen >= since
        )
    ).all()
    return pd.DataFrame(rows, columns=STATE_COLUMNS)

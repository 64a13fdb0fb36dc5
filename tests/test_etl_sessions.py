"""Sessions: the vectorised assignment gives what the rule says, hit by hit, with and without kept state."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pandas as pd
import pytest

from crumby.etl.sessions import STATE_COLUMNS, assign_sessions

T0 = datetime(2026, 3, 2, 10, 0)
TIMEOUT = 30


def by_the_rule(hits: pd.DataFrame, state: pd.DataFrame) -> tuple[list[str], dict[tuple, tuple]]:
    """Session ids and new state, one hit at a time: the rule written out plainly."""
    kept = {(r.site, r.visitor_id): (r.session_id, r.last_seen) for r in state.itertuples()}
    rows = sorted(
        range(len(hits)),
        key=lambda i: (hits["datetime"].iloc[i], hits["id"].iloc[i]),
    )
    current: dict[tuple, tuple[str, datetime, bool]] = {}  # visitor -> (session, last hit, continues kept)
    sessions = [None] * len(hits)
    for i in rows:
        site = hits["site"].iloc[i] if isinstance(hits["site"].iloc[i], str) else ""
        visitor = (site, hits["visitor_id"].iloc[i])
        when = hits["datetime"].iloc[i]
        hit_id = hits["id"].iloc[i]
        if visitor not in current:
            previous = kept.get(visitor)
            if previous and abs(when - previous[1]) <= timedelta(minutes=TIMEOUT):
                current[visitor] = (previous[0], when, True)
            else:
                current[visitor] = (hit_id, when, False)
        else:
            session, last, continues = current[visitor]
            if when - last > timedelta(minutes=TIMEOUT):
                current[visitor] = (hit_id, when, False)
            else:
                current[visitor] = (session, when, continues)
        sessions[i] = current[visitor][0]
    new_state = {}
    for visitor, (session, last, continues) in current.items():
        if continues and kept[visitor][1] > last:
            last = kept[visitor][1]
        new_state[visitor] = (session, last)
    return sessions, new_state


def random_hits(rng: random.Random, count: int, prefix: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site": [rng.choice(["a.example", "b.example", None]) for _ in range(count)],
            "visitor_id": [f"v{rng.randrange(12)}" for _ in range(count)],
            "datetime": [T0 + timedelta(seconds=rng.randrange(6 * 3600)) for _ in range(count)],
            "id": [f"{prefix}{n:05d}" for n in rng.sample(range(99_999), count)],
        }
    )


@pytest.mark.parametrize("seed", range(8))
def test_sessions_follow_the_rule(seed):
    rng = random.Random(seed)
    earlier = random_hits(rng, rng.randrange(1, 80), "a")
    state = assign_sessions(earlier, pd.DataFrame(columns=STATE_COLUMNS), TIMEOUT)[1]
    if seed % 4 == 0:
        state = state.iloc[:0]  # nothing kept: every visitor is new
    hits = random_hits(rng, rng.randrange(1, 300), "b")
    if seed % 2:
        hits = hits.astype({"site": "str", "visitor_id": "str", "id": "str"})
    sessions, new_state = assign_sessions(hits, state, TIMEOUT)
    expected_sessions, expected_state = by_the_rule(hits, state)
    assert list(sessions.index) == list(hits.index)
    assert sessions.tolist() == expected_sessions
    got_state = {
        (r.site, r.visitor_id): (r.session_id, pd.Timestamp(r.last_seen).to_pydatetime())
        for r in new_state.itertuples()
    }
    assert got_state == expected_state

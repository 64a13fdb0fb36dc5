"""Sessions: the vectorised assignment gives what the rule says, hit by hit, with or without a visit found."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pandas as pd
import pytest

from crumby.etl.sessions import VISIT_COLUMNS, assign_sessions, nearest_sessions

T0 = datetime(2026, 3, 2, 10, 0)
TIMEOUT = 30


def by_the_rule(hits: pd.DataFrame, kept: pd.DataFrame) -> list[str]:
    """Session ids, one hit at a time: the rule written out plainly."""
    found = {(r.site, r.visitor_id): (r.session_id, r.first_seen, r.last_seen) for r in kept.itertuples()}
    rows = sorted(
        range(len(hits)),
        key=lambda i: (hits["datetime"].iloc[i], hits["id"].iloc[i]),
    )
    timeout = timedelta(minutes=TIMEOUT)
    current: dict[tuple, tuple[str, datetime]] = {}  # visitor -> (session, last hit)
    sessions = [None] * len(hits)
    for i in rows:
        site = hits["site"].iloc[i] if isinstance(hits["site"].iloc[i], str) else ""
        visitor = (site, hits["visitor_id"].iloc[i])
        when = hits["datetime"].iloc[i]
        hit_id = hits["id"].iloc[i]
        if visitor not in current:
            visit = found.get(visitor)
            if visit and visit[1] - timeout <= when <= visit[2] + timeout:
                current[visitor] = (visit[0], when)  # within the visit's reach, or inside it
            else:
                current[visitor] = (hit_id, when)
        else:
            session, last = current[visitor]
            current[visitor] = (hit_id if when - last > timeout else session, when)
        sessions[i] = current[visitor][0]
    return sessions


def visits_of(hits: pd.DataFrame, sessions: pd.Series) -> pd.DataFrame:
    """Each visit's first and last hit (VISIT_COLUMNS), as the stores give them back."""
    frame = hits.assign(session_id=sessions, site=hits["site"].fillna(""))
    grouped = frame.groupby(["site", "visitor_id", "session_id"], as_index=False)["datetime"]
    return grouped.agg(first_seen="min", last_seen="max")[VISIT_COLUMNS]


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
    visits = visits_of(earlier, assign_sessions(earlier, pd.DataFrame(columns=VISIT_COLUMNS), TIMEOUT))
    # one visit a visitor, picked at random: hits of the same hours may fall before, in or after it
    kept = visits.sample(frac=1, random_state=seed).drop_duplicates(["site", "visitor_id"])
    if seed % 4 == 0:
        kept = kept.iloc[:0]  # nothing kept: every visitor is new
    hits = random_hits(rng, rng.randrange(1, 300), "b")
    if seed % 2:
        hits = hits.astype({"site": "str", "visitor_id": "str", "id": "str"})
    sessions = assign_sessions(hits, kept, TIMEOUT)
    assert list(sessions.index) == list(hits.index)
    assert sessions.tolist() == by_the_rule(hits, kept)


def test_the_visit_a_hit_falls_in_is_nearest_though_another_ended_nearer():
    # a file read late: its hit at 10:05 lies inside the visit of 10:00 to 11:30; the visit before
    # it ended 25 minutes before the hit, nearer than the end of the one it falls in
    hits = pd.DataFrame(
        {"site": ["s"], "visitor_id": ["v"], "datetime": [T0 + timedelta(minutes=5)], "id": ["h"]}
    )
    candidates = pd.DataFrame(
        {
            "site": ["s", "s"],
            "visitor_id": ["v", "v"],
            "session_id": ["early", "around"],
            "first_seen": [T0 - timedelta(hours=1), T0],
            "last_seen": [T0 - timedelta(minutes=20), T0 + timedelta(minutes=90)],
        }
    )
    nearest = nearest_sessions(candidates, hits)
    assert nearest["session_id"].tolist() == ["around"]
    assert assign_sessions(hits, nearest, TIMEOUT).tolist() == ["around"]

"""Sessions: the vectorised assignment gives what the rule says, hit by hit, with or without a visit found."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest

from crumby.etl.sessions import VISIT_COLUMNS, assign_sessions

T0 = datetime(2026, 3, 2, 10, 0)
TIMEOUT = 30


def by_the_rule(hits: pd.DataFrame, found: pd.DataFrame) -> list[str]:
    """Session ids, the rule written out plainly: each visitor's hits and stored visits on one
    timeline, in order; a session runs until a gap longer than the timeout, and goes on under the id
    of its earliest stored visit, else of its first hit."""
    timeout = timedelta(minutes=TIMEOUT)
    timelines: dict[tuple, list[tuple]] = {}  # visitor -> (start, end, id, stored, hit's row)
    for i in range(len(hits)):
        site = hits["site"].iloc[i] if isinstance(hits["site"].iloc[i], str) else ""
        when = hits["datetime"].iloc[i]
        timelines.setdefault((site, hits["visitor_id"].iloc[i]), []).append(
            (when, when, hits["id"].iloc[i], False, i)
        )
    for visit in found.itertuples():
        timeline = timelines.get((visit.site, visit.visitor_id))
        if timeline is not None:  # visits of visitors not in the batch play no part
            timeline.append((visit.first_seen, visit.last_seen, visit.session_id, True, None))
    sessions = [None] * len(hits)
    for timeline in timelines.values():
        timeline.sort(key=lambda item: (item[0], item[2]))
        groups: list[list[tuple]] = []
        reach = None
        for item in timeline:
            if reach is None or item[0] - reach > timeout:
                groups.append([])
                reach = item[1]
            groups[-1].append(item)
            reach = max(reach, item[1])
        for group in groups:
            stored = [item for item in group if item[3]]
            session = (stored or group)[0][2]
            for item in group:
                if not item[3]:
                    sessions[item[4]] = session
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


@pytest.mark.parametrize("seed", range(12))
def test_sessions_follow_the_rule(seed):
    rng = random.Random(seed)
    earlier = random_hits(rng, rng.randrange(1, 80), "a")
    found = visits_of(earlier, assign_sessions(earlier, pd.DataFrame(columns=VISIT_COLUMNS), TIMEOUT))
    if seed % 4 == 0:
        found = found.iloc[:0]  # nothing stored: every visitor is new
    elif seed % 4 == 1:  # some visits only, as a look-up around other times would find
        found = found.sample(frac=0.5, random_state=seed)
    # the batch's hits fall before, between, inside and after the stored visits
    hits = random_hits(rng, rng.randrange(1, 300), "b")
    if seed % 2:
        hits = hits.astype({"site": "str", "visitor_id": "str", "id": "str"})
    sessions = assign_sessions(hits, found, TIMEOUT)
    assert list(sessions.index) == list(hits.index)
    assert sessions.tolist() == by_the_rule(hits, found)


def one_visitor(*minutes: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site": ["s"] * len(minutes),
            "visitor_id": ["v"] * len(minutes),
            "datetime": [T0 + timedelta(minutes=m) for m in minutes],
            "id": [f"h{m}" for m in minutes],
        }
    )


def stored(*visits: tuple[str, int, int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site": ["s"] * len(visits),
            "visitor_id": ["v"] * len(visits),
            "session_id": [name for name, _, _ in visits],
            "first_seen": [T0 + timedelta(minutes=first) for _, first, _ in visits],
            "last_seen": [T0 + timedelta(minutes=last) for _, _, last in visits],
        }
    )


def test_a_batch_goes_on_with_the_visit_its_last_stored_hits_began():
    got = assign_sessions(one_visitor(20, 45, 80), stored(("before", -40, 0)), TIMEOUT)
    assert got.tolist() == ["before", "before", "h80"]


def test_a_late_hit_joins_the_visit_it_falls_in_though_another_ended_nearer():
    # a file read late: its hit at 10:05 lies inside the visit of 10:00 to 11:30; the visit before
    # it ended 40 minutes before the hit, nearer than the end of the one it falls in
    got = assign_sessions(one_visitor(5), stored(("early", -60, -35), ("around", 0, 90)), TIMEOUT)
    assert got.tolist() == ["around"]


def test_late_hits_apart_in_their_batch_stay_in_the_visit_between_them():
    # 10:05 and 10:50 are 45 minutes apart, but the stored visit of 10:00 to 11:00 runs between them
    got = assign_sessions(one_visitor(5, 50, 140), stored(("visit", 0, 60)), TIMEOUT)
    assert got.tolist() == ["visit", "visit", "h140"]


def test_rows_held_for_a_commit_give_each_visits_span_within_the_times_looked_at():
    from crumby.etl.clickhouse import held_visits

    utc = pa.timestamp("us", tz="UTC")

    def rows(*hits: tuple[str | None, str, str | None, int]) -> pa.Table:
        return pa.table(
            {
                "site": pa.array([h[0] for h in hits], pa.string()),
                "visitor_id": [h[1] for h in hits],
                "session_id": pa.array([h[2] for h in hits], pa.string()),
                "datetime": pa.array([T0 + timedelta(minutes=h[3]) for h in hits], utc),
            }
        )

    page_views = rows(("s", "v", "a", 0), ("s", "v", "a", 20), (None, "w", "b", 10), ("s", "v", None, 15))
    events = rows(("s", "v", "a", 40), ("s", "v", "c", 300))  # the last lies outside the times looked at
    spans = [(T0 - timedelta(minutes=30), T0 + timedelta(minutes=90))]
    found = held_visits([page_views, events], spans).sort_values("session_id")
    assert found.to_dict("records") == [
        {
            "site": "s",
            "visitor_id": "v",
            "session_id": "a",
            "first_seen": T0,
            "last_seen": T0 + timedelta(minutes=40),
        },
        {
            "site": "",
            "visitor_id": "w",
            "session_id": "b",
            "first_seen": T0 + timedelta(minutes=10),
            "last_seen": T0 + timedelta(minutes=10),
        },
    ]
    assert held_visits([page_views], []).empty

"""Top pages' visitor rows made again for changed days only equal those of a whole rebuild.

Each Hypothesis example is a week of page views of a few visitors on a few
pages, some of them at 23:50 and 00:10 (a visit across midnight), written
straight into ``visits`` and ``sessions``. Page views then come late or go
(a late log file, a reprocessed day), the visits are written again, and
:func:`page_visitors.rebuild_days` is given the days that changed, as the
ETL's stale marks name them. What must hold: ``page_visitor_days`` and
``page_day_figures`` are those that :func:`page_visitors.rebuild_from` makes
from the first day. Twice ``CRUMBY_HYPOTHESIS_EXAMPLES`` examples run per backend.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crumby.etl import page_visitors
from crumby.store.days import as_day
from crumby.store.engine import create_engine
from crumby.store.migrations import ensure_schema
from crumby.store.schema import page_day_figures, page_visitor_days, sessions, visits

EXAMPLES = int(os.environ.get("CRUMBY_HYPOTHESIS_EXAMPLES", "10")) * 2
FIRST = date(2026, 3, 1)
DAYS = 7
# when in its day a page view is; 23:50 and the next day's 00:10 are one visit
SLOTS = {"night": timedelta(hours=23, minutes=50), "noon": timedelta(hours=12), "dawn": timedelta(minutes=10)}

page_view = st.tuples(
    st.integers(0, 2),  # visitor
    st.integers(0, DAYS - 1),  # day
    st.sampled_from(sorted(SLOTS)),
    st.sampled_from(["/a", "/A"]),  # two pages, told apart byte for byte on every backend
    st.booleans(),  # is_bot
)


def _when(view) -> datetime:
    _, day, slot, *_ = view
    return datetime.combine(FIRST + timedelta(days=day), datetime.min.time()) + SLOTS[slot]


def _session(view) -> str:
    visitor, day, slot, _, is_bot = view
    if slot == "dawn":  # the visit begun at 23:50 the day before
        day, slot = day - 1, "night"
    return f"v{visitor}-{day}-{slot}-{int(is_bot)}"


def _write(conn: sa.Connection, views: list[tuple]) -> None:
    """``views`` as the store's page views and visits (all of them again: a visit's row is rewritten)."""
    conn.execute(visits.delete())
    conn.execute(sessions.delete())
    if not views:
        return
    conn.execute(
        visits.insert(),
        [
            {
                "id": n,
                "hit_id": f"h{n}",
                "datetime": _when(view) + timedelta(seconds=n),
                "site": "example.com",
                "page_path": view[3],
                "is_bot": view[4],
                "session_id": _session(view),
            }
            for n, view in enumerate(views)
        ],
    )
    spans: dict[str, list[datetime]] = {}
    for n, view in enumerate(views):
        spans.setdefault(_session(view), []).append(_when(view) + timedelta(seconds=n))
    conn.execute(
        sessions.insert(),
        [
            {
                "session_id": session_id,
                "site": "example.com",
                "visitor_key": int(session_id[1:].split("-")[0]) + 1000,
                "started": min(times),
                "ended": max(times),
                "duration": int((max(times) - min(times)).total_seconds()),
                "pageviews": len(times),
                "is_bot": session_id.endswith("-1"),
            }
            for session_id, times in spans.items()
        ],
    )


def _rows(conn: sa.Connection) -> dict[str, list[tuple]]:
    found = {}
    for table in (page_visitor_days, page_day_figures):
        rows = [row._asdict() for row in conn.execute(sa.select(table))]
        for row in rows:
            row.update(day=as_day(row["day"]), prev_day=row["prev_day"] and as_day(row["prev_day"]))
        found[table.name] = sorted((tuple(row.values()) for row in rows), key=repr)
    return found


def _changed_days(before: list[tuple], after: list[tuple]) -> set[date]:
    """The days the ETL marks: of the page views that came or went, and where their visits begin(an)."""
    changed = set(before) ^ set(after)
    days = {as_day(_when(view)) for view in changed}
    for views in (before, after):
        for session in {_session(view) for view in changed}:
            times = [_when(view) for view in views if _session(view) == session]
            days |= {as_day(min(times))} if times else set()
    return days


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    views=st.lists(page_view, min_size=5, max_size=40, unique=True),
    late=st.lists(page_view, min_size=1, max_size=6, unique=True),
    gone=st.lists(st.integers(0, 39), max_size=4),
)
# a late page view at 23:50 of a visit that views the page again at 00:10: the next day's revisit
@example(
    views=[(0, 1, "night", "/A", False), (0, 2, "dawn", "/a", False), (1, 6, "noon", "/a", False)],
    late=[(0, 1, "night", "/a", False)],
    gone=[],
)
# a visitor's page on a day between two others: the later one's earlier day, days after
@example(
    views=[(0, 0, "noon", "/a", False), (0, 6, "noon", "/a", False)],
    late=[(0, 1, "noon", "/a", False)],
    gone=[],
)
@example(
    views=[(0, 0, "noon", "/a", False), (0, 1, "noon", "/a", False), (0, 6, "noon", "/a", False)],
    late=[],
    gone=[1],
)
def test_changed_days_made_again_equal_a_whole_rebuild(store_url, views, late, gone):
    gone = [views[n % len(views)] for n in gone] if views else []
    after = [view for view in views if view not in gone] + [view for view in late if view not in views]
    engine = create_engine(store_url)
    try:
        ensure_schema(engine)
        with engine.begin() as conn:
            _write(conn, views)
            page_visitors.rebuild_from(conn, FIRST)
            _write(conn, after)
            page_visitors.rebuild_days(conn, _changed_days(views, after))
            kept = _rows(conn)
            page_visitors.rebuild_from(conn, FIRST)
            assert _rows(conn) == kept
    finally:
        engine.dispose()

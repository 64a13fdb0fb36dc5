"""One meaning of "visitors": no report shows more visitors over a range than the summary does.

Every report counts visitors distinct over its whole range, so a visitor who
comes back on several days counts once in every card, and a visit begun just
before the range that goes on into it counts its visitor in the summary as in
top pages. Checked on every backend, over whole days and a range cut inside
its days, on the report fixture and on a small store made for the edge cases.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from report_fixture import DAYS, FIRST_DAY, LATE_RANGE, RANGE, build_rows, load_fixture

from crumby.queries import find_templates
from crumby.queries.run import run_report
from crumby.store.readonly import close_readers

# The column that holds a report's distinct visitors (the original's reports call them users or clients).
VISITOR_COLUMNS = ("visitors", "users", "clients")
# Users in the private locations report are distinct stored IPs, not visitors.
NOT_VISITORS = {("private", "locations", "users")}
START = datetime(2024, 3, 1)
SMALL_RANGES = (
    {"from": "2024-03-02", "to": "2024-03-04"},
    {"t0": "2024-03-02T00:00:00", "t1": "2024-03-04T12:00:00"},
    {"from": "2024-03-01", "to": "2024-03-06"},
)


def _visit(rows: list[dict], visitor: int, session: str, at: datetime, path: str, **extra) -> None:
    rows.append(
        {
            "id": len(rows) + 1,
            "hit_id": f"v{len(rows) + 1:05d}",
            "cid": f"c{visitor}",
            "visitor_id": f"c{visitor}",
            "session_id": session,
            "datetime": at,
            "site": "example.com",
            "page_path": path,
            "doc_title": path,
            "is_bot": False,
            "browser": ("Chrome", "Firefox")[visitor % 2],
            "country": "DE",
            "channel": "direct",
            **extra,
        }
    )


def returning_visitors() -> tuple[list[dict], list[dict], list[dict]]:
    """Six visitors who come back on several days, all of them to ``/``.

    Visitor 0 is on the site on 2 March only in a visit begun at 23:50 the day
    before: top pages counts them there, and so must the summary.
    """
    visits: list[dict] = []
    _visit(visits, 0, "s0", START + timedelta(hours=23, minutes=50), "/")
    _visit(visits, 0, "s0", START + timedelta(days=1, minutes=10), "/")
    for visitor in range(1, 6):
        for day in range(1, 5):
            if (visitor + day) % 3:
                at = START + timedelta(days=day, hours=visitor + 2 * day)
                _visit(visits, visitor, f"s{visitor}-{day}", at, "/")
                _visit(visits, visitor, f"s{visitor}-{day}", at + timedelta(minutes=3), f"/p{day}")
    events = [
        {
            "id": n + 1,
            "hit_id": f"e{n + 1:05d}",
            "cid": row["cid"],
            "visitor_id": row["visitor_id"],
            "session_id": row["session_id"],
            "datetime": row["datetime"] + timedelta(seconds=5),
            "site": row["site"],
            "page_path": row["page_path"],
            "doc_title": row["doc_title"],
            "name": "play",
            "value": "1",
            "is_bot": False,
        }
        for n, row in enumerate(visits)
    ]
    return visits, events, [{"datetime": START + timedelta(days=n)} for n in range(7)]


def _check(url: str, ranges) -> int:
    """Assert the rule for every built-in report and range; returns how many rows were compared."""
    settings = {"SQLALCHEMY_DATABASE_URI": url}
    templates = find_templates()
    summary = next(t for t in templates if t.name == "summary")
    compared = 0
    try:
        for params in ranges:
            total = run_report(summary, params, settings)
            visitors = total.rows[0][total.columns.index("visitors")]
            assert visitors > 0
            for template in templates:
                if template.name == "summary":
                    continue
                extra = {"prop": "x"} if template.name == "event_props" else {}
                result = run_report(template, {**params, **extra}, settings)
                for column in VISITOR_COLUMNS:
                    if (
                        column not in result.columns
                        or (template.visibility, template.name, column) in NOT_VISITORS
                    ):
                        continue
                    at = result.columns.index(column)
                    for row in result.rows:
                        assert row[at] <= visitors, f"{template.name} {params}: {row} > {visitors} visitors"
                        compared += 1
    finally:
        close_readers()
    return compared


def test_no_row_counts_more_visitors_than_the_summary(store_url):
    url = load_fixture(store_url, returning_visitors())
    assert _check(url, SMALL_RANGES) > 50
    # the summary counts each returning visitor once, and the one of the visit begun the day before
    result = run_report(
        next(t for t in find_templates() if t.name == "summary"),
        dict(SMALL_RANGES[0]),
        {"SQLALCHEMY_DATABASE_URI": url},
    )
    close_readers()
    visits, _, _ = returning_visitors()
    present = {
        r["visitor_id"] for r in visits if datetime(2024, 3, 2) <= r["datetime"] < datetime(2024, 3, 5)
    }
    assert result.rows[0][1] == len(present) == 6


@pytest.mark.parametrize("backend", ["duckdb", "sqlite"])
def test_the_report_fixture_keeps_the_rule_over_several_ranges(backend, tmp_path):
    url = load_fixture(f"{backend}:///{tmp_path / 'store.db'}")
    last = FIRST_DAY + timedelta(days=DAYS - 1)
    ranges = (
        dict(RANGE),
        dict(LATE_RANGE),
        {"from": "2024-03-10", "to": "2024-03-12"},
        {"t0": "2024-03-20T06:00:00", "t1": f"{last:%Y-%m-%d}T12:00:00"},
    )
    assert _check(url, ranges) > 500
    assert len({r["visitor_id"] for r in build_rows()[0]}) > 100

"""Top pages' visitor rows after a late hit N days back: the changed days only, or every day after.

A store of DAYS days of page views (about VIEWS a day, in visits of a few
page views by returning visitors) is written straight into ``visits`` and
``sessions``; then one page view comes late, ``--back`` days ago. Timed, each
in a transaction rolled back after: ``rebuild_from`` from that day (every
later day made again, as runs did) and ``rebuild_days`` (that day, the day
after, and the later rows it reaches). Medians of wall time, this process's
CPU seconds and, on PostgreSQL, the server backend's.

    python bench/page_visitors.py duckdb:////tmp/pv.duckdb --back 30
    python bench/page_visitors.py postgresql+psycopg://postgres@127.0.0.1:5432/NAME --back 30
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import date, datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from crumby.etl import page_visitors
from crumby.store.engine import backend_name, create_engine
from crumby.store.migrations import ensure_schema
from crumby.store.schema import page_day_figures, page_visitor_days, sessions, visits


def make_rows(days: int, views: int, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(visits, sessions) of ``days`` days ending yesterday."""
    rng = random.Random(seed)
    first = date.today() - timedelta(days=days)
    pages = [f"/p{n}" for n in range(300)]
    weights = [1 / (n + 1) for n in range(len(pages))]
    visit_rows, session_rows = [], []
    for day in range(days):
        midnight = datetime.combine(first + timedelta(days=day), datetime.min.time())
        for n in range(views // 3):
            visitor = int(rng.paretovariate(1.2) * 1000) % 60000
            start = midnight + timedelta(seconds=rng.randrange(86000))
            session_id = f"s{day}-{n}"
            viewed = rng.choices(pages, weights, k=rng.randint(1, 5))
            times = [start + timedelta(seconds=60 * k) for k in range(len(viewed))]
            for path, when in zip(viewed, times, strict=True):
                visit_rows.append(
                    (len(visit_rows), f"h{len(visit_rows)}", when, "example.com", path, False, session_id)
                )
            session_rows.append((session_id, "example.com", visitor, times[0], times[-1], len(viewed)))
    columns = ["id", "hit_id", "datetime", "site", "page_path", "is_bot", "session_id"]
    session_columns = ["session_id", "site", "visitor_key", "started", "ended", "pageviews"]
    made = pd.DataFrame(session_rows, columns=session_columns)
    made["duration"] = (made["ended"] - made["started"]).dt.total_seconds().astype("int64")
    made["is_bot"] = False
    return pd.DataFrame(visit_rows, columns=columns), made


def load(engine: sa.Engine, page_views: pd.DataFrame, visits_made: pd.DataFrame) -> None:
    ensure_schema(engine)
    with engine.begin() as conn:
        for table in (visits, sessions, page_visitor_days, page_day_figures):
            conn.execute(table.delete())
    if backend_name(engine) == "duckdb":
        with engine.begin() as conn:
            raw = conn.connection.driver_connection
            for name, frame in (("visits", page_views), ("sessions", visits_made)):
                raw.register("frame", frame)
                raw.execute(f"INSERT INTO {name} ({', '.join(frame.columns)}) SELECT * FROM frame")
                raw.unregister("frame")
    else:
        for name, frame in (("visits", page_views), ("sessions", visits_made)):
            frame.to_sql(name, engine, if_exists="append", index=False, chunksize=5000, method="multi")
    with engine.begin() as conn:
        page_visitors.rebuild_from(conn, page_views["datetime"].min().date())


def server_cpu(conn: sa.Connection, pid: int | None) -> float:
    """CPU seconds of the PostgreSQL backend ``pid`` (0 elsewhere)."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(engine: sa.Engine, day: date, runs: int) -> dict[str, list[tuple[float, float, float]]]:
    """Each way ``runs`` times, alternately, on one connection: (wall, own CPU, server CPU)."""
    late = {
        "id": 10**9,
        "hit_id": "late",
        "datetime": datetime.combine(day, datetime.min.time()) + timedelta(hours=12),
        "site": "example.com",
        "page_path": "/p1",
        "is_bot": False,
        "session_id": "late",
    }
    ways = {
        "every later day (before)": lambda conn: page_visitors.rebuild_from(conn, day),
        "changed days (after)": lambda conn: page_visitors.rebuild_days(conn, [day]),
    }
    found: dict[str, list[tuple[float, float, float]]] = {name: [] for name in ways}
    with engine.connect() as conn:
        pid = (
            conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            if backend_name(engine) == "postgresql"
            else None
        )
        conn.commit()
        # a returning visitor's visit, on a page they view again later
        visit = dict(
            conn.execute(
                sa.select(sessions.c.site, sessions.c.visitor_key, sessions.c.is_bot).where(
                    sessions.c.session_id == "s0-0"
                )
            )
            .one()
            ._mapping
        )
        conn.commit()
        for _ in range(runs):
            for name, way in ways.items():
                transaction = conn.begin()
                conn.execute(visits.insert(), [late])
                conn.execute(
                    sessions.insert(),
                    [
                        {
                            **visit,
                            "session_id": "late",
                            "started": late["datetime"],
                            "ended": late["datetime"],
                            "duration": 0,
                            "pageviews": 1,
                        }
                    ],
                )
                wall, cpu, server = time.perf_counter(), time.process_time(), server_cpu(conn, pid)
                way(conn)
                found[name].append(
                    (time.perf_counter() - wall, time.process_time() - cpu, server_cpu(conn, pid) - server)
                )
                transaction.rollback()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--views", type=int, default=20000, help="page views a day")
    parser.add_argument("--back", type=int, nargs="+", default=[30])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    engine = create_engine(args.url)
    started = time.perf_counter()
    load(engine, *make_rows(args.days, args.views))
    print(
        f"{backend_name(engine)}: {args.days} days of ~{args.views} page views loaded in "
        f"{time.perf_counter() - started:.0f} s; load average {os.getloadavg()}"
    )
    for back in args.back:
        found = measure(engine, date.today() - timedelta(days=back), args.runs)
        medians = {
            name: [statistics.median(v[i] for v in values) for i in range(3)]
            for name, values in found.items()
        }
        for name, (wall, cpu, server) in medians.items():
            print(
                f"  late hit {back} days back, {name}: wall {wall:.3f} s, "
                f"CPU {cpu:.3f} s, server CPU {server:.3f} s"
            )
        (before, after) = medians.values()
        print(
            f"  ratio wall {before[0] / after[0]:.1f}x, "
            f"CPU+server {(before[1] + before[2]) / (after[1] + after[2]):.1f}x "
            f"(medians of {args.runs}); load average {os.getloadavg()}"
        )
    engine.dispose()


if __name__ == "__main__":
    main()

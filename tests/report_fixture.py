"""A deterministic store for the report tests: 60 days, three sites, bots, bounces, events with props.

The same rows load into every backend, so every built-in report must
return the same answer on each. The data carries the awkward cases the
reports must get right everywhere: NULL dimensions, paths that differ only
in case, non-ASCII text, sessions crossing midnight, fractional seconds,
events with and without properties.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from crumby.etl.daily import rebuild_all as sum_every_day
from crumby.etl.parse import props_text
from crumby.etl.rollup import backfill
from crumby.etl.stored_keys import fill_stored_keys
from crumby.store.engine import create_engine
from crumby.store.migrations import ensure_schema
from crumby.store.schema import calendar, events, visits
from tests.conftest import reader_url

FIRST_DAY = date(2024, 3, 1)
DAYS = 60
RANGE = {"from": "2024-03-01", "to": "2024-04-29"}
LATE_RANGE = {"from": "2024-04-01", "to": "2024-04-29"}

SITES = ("example.com", "blog.example.com", "shop.example.org")
PATHS = ("/", "/about", "/About", "/pricing", "/blog/ünïcode", "/docs/start", "/docs/api", "/contact")
TITLES = {"/": "Home", "/blog/ünïcode": "Ünïcode — «notes»", "/pricing": "Pricing"}
# A property value whose JSON text needs unescaping: a quote, a backslash, a slash, control
# characters, non-ASCII text and a character beyond the BMP (the props are stored as the ETL stores
# them: compact JSON, where the control characters are escapes and the rest is the text itself).
ESCAPED = 'ünï "q" \\ / \t\n\x01 😀'
AGENTS = (  # platform, browser, version, os, device
    ("Windows", "Chrome", "122.0", "Windows", "desktop"),
    ("Mac OS X", "Safari", "17.3", "Mac OS X", "desktop"),
    ("Android", "Chrome Mobile", "121.0", "Android", "mobile"),
    ("iOS", "Mobile Safari", "17.2", "iOS", "mobile"),
    ("Linux", "Firefox", "123.0", "Linux", "desktop"),
    ("iOS", "Mobile Safari", "16.6", "iOS", "tablet"),
    (None, None, None, None, "other"),
)
PLACES = (  # continent, country, subdivision_1, city
    ("EU", "DE", "Berlin", "Berlin"),
    ("EU", "DE", "Bavaria", "München"),
    ("EU", "FR", "Île-de-France", "Paris"),
    ("NA", "US", "California", "San Francisco"),
    ("NA", "US", "New York", "New York"),
    ("AS", "JP", "Tokyo", "Tokyo"),
    (None, None, None, None),
)
REFERRERS = (  # referrer, domain, source, channel, utm (source, medium, campaign)
    (None, None, None, "direct", None),
    ("https://www.google.com/", "www.google.com", "Google", "search", None),
    ("https://duckduckgo.com/", "duckduckgo.com", "DuckDuckGo", "search", None),
    ("https://news.ycombinator.com/item?id=1", "news.ycombinator.com", "Hacker News", "social", None),
    ("http://friend.example.net/links", "friend.example.net", "friend.example.net", "referral", None),
    (None, None, "Newsletter", "email", ("newsletter", "email", "spring-sale")),
    ("https://www.google.com/", "www.google.com", "Google", "paid", ("google", "cpc", "brand")),
)
SCREENS = ("1920x1080", "1440x900", "390x844", "768x1024", None)
LANGS = ("en-US", "de-DE", "fr-FR", "ja", "en-GB", None)
EVENT_NAMES = ("signup", "download", "play", "Ünïcode event")


def build_rows(seed: int = 4) -> tuple[list[dict], list[dict], list[dict]]:
    """(visits, events, calendar) rows; the same every time for a seed."""
    rng = random.Random(seed)
    visit_rows: list[dict] = []
    event_rows: list[dict] = []
    start = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day)
    for visitor in range(260):
        bot = visitor % 13 == 0
        agent = ("Linux", "HeadlessChrome", "120.0", "Linux", "bot") if bot else rng.choice(AGENTS)
        place = rng.choice(PLACES)
        screen, lang = rng.choice(SCREENS), rng.choice(LANGS)
        site = SITES[visitor % len(SITES)] if visitor % 7 else SITES[0]
        cid = f"cid-{visitor:04d}"
        for session in range(rng.randint(1, 5)):
            moment = start + timedelta(seconds=rng.randrange(DAYS * 86400), microseconds=rng.randrange(10**6))
            referrer = rng.choice(REFERRERS)
            session_id = f"s-{visitor:04d}-{session}"
            for view in range(rng.choice((1, 1, 1, 2, 3, 4, 6))):
                path = rng.choice(PATHS)
                channel = referrer[3] if view == 0 else "internal"
                utm = referrer[4] if view == 0 and referrer[4] else (None, None, None)
                visit_rows.append(
                    {
                        "id": len(visit_rows) + 1,
                        "hit_id": f"v{len(visit_rows) + 1:06d}",
                        "ip": f"192.0.{visitor % 200}.0",
                        "cid": cid,
                        "datetime": moment,
                        "doc_title": TITLES.get(path, path.strip("/").title() or None),
                        "doc_uri": f"https://{site}{path}",
                        "referrer": referrer[0] if view == 0 else f"https://{site}/",
                        "platform": agent[0],
                        "browser": agent[1],
                        "version": agent[2],
                        "os": agent[3],
                        "device": agent[4],
                        "screen_res": screen,
                        "continent": place[0],
                        "country": place[1],
                        "subdivision_1": place[2],
                        "city": place[3],
                        "lang": lang,
                        "site": site,
                        "page_path": path,
                        "visitor_id": cid,
                        "session_id": session_id,
                        "is_bot": bot,
                        "referrer_domain": referrer[1] if view == 0 else site,
                        "referrer_source": referrer[2] if view == 0 else None,
                        "channel": channel,
                        "utm_source": utm[0],
                        "utm_medium": utm[1],
                        "utm_campaign": utm[2],
                    }
                )
                if rng.random() < 0.25:
                    name = rng.choice(EVENT_NAMES)
                    props = rng.choice(
                        (
                            None,
                            {"plan": "pro"},
                            {"plan": "free", "from": "nav"},
                            {"plan": ESCAPED},
                            {"x": "1"},
                        ),
                    )
                    event_rows.append(
                        {
                            "id": len(event_rows) + 1,
                            "hit_id": f"e{len(event_rows) + 1:06d}",
                            "ip": f"192.0.{visitor % 200}.0",
                            "cid": cid,
                            "datetime": moment + timedelta(seconds=5),
                            "doc_title": TITLES.get(path, path),
                            "doc_uri": f"https://{site}{path}",
                            "name": name,
                            "value": rng.choice((None, "", "1", "42", "ünï", "3.5")),
                            "site": site,
                            "page_path": path,
                            "visitor_id": cid,
                            "session_id": session_id,
                            "is_bot": bot,
                            "props": props_text(props),
                        }
                    )
                moment += timedelta(seconds=rng.randint(5, 900), microseconds=rng.randrange(10**6))
    calendar_rows = [{"datetime": start + timedelta(days=n)} for n in range(DAYS + 1)]
    return visit_rows, event_rows, calendar_rows


def load_fixture(url: str, rows: tuple[list[dict], list[dict], list[dict]] | None = None) -> str:
    """Create the store at ``url`` and load the fixture (or ``rows``) into it; returns the URL reports
    read it with (on a server, a user that may only read: see :func:`tests.conftest.reader_url`)."""
    engine = create_engine(url)
    try:
        ensure_schema(engine)
        visit_rows, event_rows, calendar_rows = rows or build_rows()
        with engine.begin() as conn:
            conn.execute(sa.insert(visits), visit_rows)
            conn.execute(sa.insert(events), event_rows)
            conn.execute(sa.insert(calendar), calendar_rows)
        fill_stored_keys(engine)  # the visitor and visit keys, as the ETL gives every row
        with engine.begin() as conn:
            backfill(conn)  # the aggregated store, as the ETL would have kept it
            sum_every_day(conn)
    finally:
        engine.dispose()
    return reader_url(url)


def store_counts(url: str) -> dict[str, int]:
    """Rows per table: to show a report run changed nothing."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar()
                for table in ("visits", "events", "calendar", "users")
            }
    finally:
        engine.dispose()


def clickhouse_fixture_rows() -> dict:
    """The fixture's rows per ClickHouse table (Arrow), its visits summed into versioned ``sessions`` rows."""
    import pyarrow as pa

    from crumby.etl.load import to_arrow
    from crumby.etl.rollup import PAGE_VIEW_COLUMNS, summarise
    from crumby.store.clickhouse import SESSION_ROWS

    visit_rows, event_rows, calendar_rows = build_rows()
    tables = {}
    for table, rows in ((visits, visit_rows), (events, event_rows), (calendar, calendar_rows)):
        columns = {c.name: [row.get(c.name) for row in rows] for c in table.columns}
        tables[table.name] = to_arrow(table, columns, len(rows))
    page_views = tables["visits"].select(list(PAGE_VIEW_COLUMNS))
    summed = summarise(page_views)
    tables[SESSION_ROWS] = summed.append_column("version", pa.array([1] * summed.num_rows, pa.int64()))
    return tables


def load_clickhouse_fixture(url: str) -> str:
    """The same rows in a ClickHouse store, as the ETL writes them there; returns the URL."""
    from crumby.etl.clickhouse import write_arrow

    engine = create_engine(url)
    try:
        ensure_schema(engine)
        with engine.connect() as conn:
            for name, rows in clickhouse_fixture_rows().items():
                write_arrow(conn, name, rows)
    finally:
        engine.dispose()
    return url

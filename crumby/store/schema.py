"""Contract 3: the tables the ETL loads and the reports read.

The original Crumby's tables (visits, events, users, calendar) keep their
names and columns, so its queries still run; crumby's own columns follow
them. Internal bookkeeping tables are prefixed ``_crumby_``. Types are
portable SQLAlchemy types: the same definitions create the tables on
DuckDB, SQLite, PostgreSQL, MySQL/MariaDB.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql

metadata = MetaData()

# A hit's time to the millisecond: MySQL/MariaDB's DATETIME keeps whole seconds unless asked,
# which would blur the order of a session's hits and move a 23:59:59.7 hit into the next day.
HitTime = DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")


# Columns both hit tables share, after the original's own.
def _common_columns() -> list[Column]:
    return [
        Column(
            "hit_id", String(64), nullable=False, unique=True
        ),  # the raw hit's id: loads are idempotent on it
        Column("site", String(255)),  # host of the page, e.g. example.com
        Column("page_path", String(1024)),  # path of the page, no query
        Column("visitor_id", String(64)),  # cid, or in cookieless mode a daily-salted hash
        Column("session_id", String(64)),  # 30 minutes of inactivity ends a session
        Column("is_bot", Boolean, nullable=False, default=False),
        Column("load_id", BigInteger),  # which ETL load wrote the row (_crumby_loads.id)
    ]


visits = Table(
    "visits",
    metadata,
    # -- the original Crumby's columns --
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("ip", String(64)),  # anonymised by default (IP_PRIVACY)
    Column("cid", String(64)),
    Column("datetime", HitTime, nullable=False),  # UTC
    Column("doc_title", Text),
    Column("doc_uri", Text),
    Column("doc_enc", String(32)),
    Column("referrer", Text),  # document.referrer as the tracker sent it
    Column("_referrer", Text),  # the Referer header of the hit request
    Column("platform", String(64)),  # operating system family (the original's meaning)
    Column("browser", String(64)),
    Column("version", String(32)),  # browser version
    Column("screen_res", String(32)),
    Column("screen_depth", String(16)),
    Column("continent", String(3)),  # continent code, e.g. EU
    Column("country", String(3)),  # ISO 3166-1 alpha-2, e.g. DE
    Column("subdivision_1", String(128)),
    Column("subdivision_2", String(128)),
    Column("city", String(128)),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("accuracy_radius", Integer),
    Column("time_zone", String(64)),
    Column("lang", String(64)),  # navigator.language as sent
    Column("_lang", String(256)),  # the Accept-Language header
    # -- crumby's columns --
    *_common_columns(),
    Column("os", String(64)),
    Column("os_version", String(32)),
    Column("device", String(16)),  # desktop, mobile, tablet, tv, console, car, wearable, bot, other
    Column("referrer_domain", String(255)),
    Column("referrer_source", String(128)),  # e.g. Google, Facebook, Newsletter
    Column("channel", String(16)),  # search, social, email, referral, internal, direct, paid
    Column("utm_source", String(255)),
    Column("utm_medium", String(255)),
    Column("utm_campaign", String(255)),
    Column("utm_term", String(255)),
    Column("utm_content", String(255)),
    Column("click_id_type", String(16)),  # gclid, fbclid, msclkid, ...
    Column("page_query", Text),  # query string without tracking parameters
)
Index("ix_visits_datetime", visits.c.datetime)
Index("ix_visits_site_datetime", visits.c.site, visits.c.datetime)
Index("ix_visits_session", visits.c.session_id)

events = Table(
    "events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("ip", String(64)),
    Column("cid", String(64)),
    Column("datetime", HitTime, nullable=False),  # UTC
    Column("doc_title", Text),
    Column("doc_uri", Text),
    Column("name", String(128)),
    Column("value", Text),
    *_common_columns(),
    Column("props", Text),  # JSON object of string values, or NULL
)
Index("ix_events_datetime", events.c.datetime)
Index("ix_events_site_datetime", events.c.site, events.c.datetime)

# The aggregated store: one row per visit (session), kept by the ETL in the same
# transaction as the page views it sums up (crumby/etl/rollup.py). Reports over
# whole visits read it instead of grouping millions of page views. A visit
# carries the attributes of its first page view (its entry).
sessions = Table(
    "sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),  # as in visits.session_id
    Column("site", String(255)),
    Column("visitor_id", String(64)),
    Column("visitor_key", BigInteger),  # a 64-bit hash of visitor_id: distinct counts on an integer
    Column("started", HitTime, nullable=False),  # the first page view (UTC): a visit counts on this day
    Column("ended", HitTime, nullable=False),  # the last page view
    Column("duration", BigInteger, nullable=False),  # whole seconds from the first to the last page view
    Column("pageviews", Integer, nullable=False),
    Column("is_bot", Boolean, nullable=False, default=False),
    Column("entry_page", String(1024)),
    Column("exit_page", String(1024)),
    Column("referrer_domain", String(255)),
    Column("referrer_source", String(128)),
    Column("channel", String(16)),
    Column("utm_source", String(255)),
    Column("utm_medium", String(255)),
    Column("utm_campaign", String(255)),
    Column("country", String(3)),
    Column("subdivision_1", String(128)),
    Column("city", String(128)),
    Column("browser", String(64)),
    Column("platform", String(64)),
    Column("os", String(64)),
    Column("device", String(16)),
    Column("screen_res", String(32)),
    Column("lang", String(64)),
    Column("ip", String(64)),  # as stored in visits.ip (anonymised by default)
    Column("ip_key", BigInteger),  # a 64-bit hash of ip, as visitor_key is of visitor_id
    Column("load_id", BigInteger),  # the load that last wrote the row
)
Index("ix_sessions_started", sessions.c.started)
Index("ix_sessions_site_started", sessions.c.site, sessions.c.started)

# Daily page figures, per site, page and day (UTC), kept by the ETL from the stored page views
# (crumby/etl/daily.py). Top pages and documents read them: exact distinct visitors of every page
# over a month would mean grouping millions of page-visitor pairs per request. A page's visitors
# and visits are distinct within its day; a report over several days adds the days up.
page_days = Table(
    "page_days",
    metadata,
    Column("day", DateTime, nullable=False),  # midnight UTC
    Column("site", String(255), nullable=False),  # '' when the page view had none
    Column("page_path", String(1024), nullable=False),  # '' when the page view had none
    Column("is_bot", Boolean, nullable=False),
    Column("pageviews", BigInteger, nullable=False),
    Column("visits", BigInteger, nullable=False),  # distinct sessions that viewed the page that day
    Column("visitors", BigInteger, nullable=False),  # distinct visitors who viewed it that day
)
Index("ix_page_days_day", page_days.c.day)

# Page views per site, page, title and day: the original Crumby's documents report.
document_days = Table(
    "document_days",
    metadata,
    Column("day", DateTime, nullable=False),  # midnight UTC
    Column("site", String(255), nullable=False),
    Column("page_path", String(1024), nullable=False),
    Column("doc_title", Text, nullable=False),  # '' when the page view had none
    Column("is_bot", Boolean, nullable=False),
    Column("views", BigInteger, nullable=False),
)
Index("ix_document_days_day", document_days.c.day)

# Daily visit figures, per site and day (UTC) and per grouping of a visit's attributes, kept by the
# ETL from ``sessions`` (crumby/etl/daily.py). The top-N reports over visits (browsers, countries,
# sources, entry pages, ...) and the daily series read them: exact distinct visitors per value over
# a month would mean grouping a month of visits per request. Each row holds one grouping's values
# (``dimension`` names its columns, the others are NULL); text is '' where the visit had none. A
# value's visitors are distinct within its day and site, and a report over several days adds the
# days up, as Matomo's sum of daily unique visitors does.
VISIT_DAY_GROUPINGS: tuple[tuple[str, ...], ...] = (
    (),
    ("browser",),
    ("platform",),
    ("os",),
    ("device",),
    ("screen_res",),
    ("lang",),
    ("country",),
    ("country", "subdivision_1"),
    ("country", "city"),
    ("country", "subdivision_1", "city"),
    ("channel",),
    ("referrer_source",),
    ("utm_campaign", "utm_source", "utm_medium"),
    ("entry_page",),
    ("exit_page",),
)
# The one grouping that counts distinct IPs too (the original Crumby's private locations report).
IP_GROUPING = ("country", "subdivision_1", "city")
VISIT_DAY_COLUMNS = tuple(dict.fromkeys(name for grouping in VISIT_DAY_GROUPINGS for name in grouping))


def dimension_name(columns: tuple[str, ...]) -> str:
    """The ``visit_days.dimension`` value of a grouping: its columns, comma-separated; ``total`` for none."""
    return ",".join(columns) or "total"


visit_days = Table(
    "visit_days",
    metadata,
    Column("day", DateTime, nullable=False),  # midnight UTC: the visits that started that day
    Column("site", String(255), nullable=False),  # '' when the visit had none
    Column("is_bot", Boolean, nullable=False),
    Column("dimension", String(64), nullable=False),  # see dimension_name
    *[Column(name, sessions.c[name].type) for name in VISIT_DAY_COLUMNS],
    Column("visitors", BigInteger, nullable=False),  # distinct visitors that day
    Column("ips", BigInteger, nullable=False),  # distinct stored IPs that day for IP_GROUPING; 0 for others
    Column("visits", BigInteger, nullable=False),
    Column("pageviews", BigInteger, nullable=False),
    Column("bounces", BigInteger),  # visits of one page view (NULL until a store's days are summed anew)
    Column("duration", BigInteger),  # the visits' durations added up, in seconds (as bounces)
)
Index("ix_visit_days_day", visit_days.c.day)
# a report reads one grouping: a month of it without the pages' many rows
Index("ix_visit_days_dimension_day", visit_days.c.dimension, visit_days.c.day)

# Daily event figures, per site and day (UTC) and per grouping of an event's name, value and page
# title, kept by the ETL from ``events`` like the visit figures: the event reports read them for
# whole days. Text is '' where the event had none; visitors are distinct within the day and site.
EVENT_DAY_GROUPINGS: tuple[tuple[str, ...], ...] = (
    ("name",),
    ("name", "value"),
    ("doc_title", "name", "value"),
)

event_days = Table(
    "event_days",
    metadata,
    Column("day", DateTime, nullable=False),  # midnight UTC
    Column("site", String(255), nullable=False),
    Column("is_bot", Boolean, nullable=False),
    Column("dimension", String(64), nullable=False),  # see dimension_name
    Column("doc_title", Text),
    Column("name", events.c.name.type),
    Column("value", events.c.value.type),
    Column("events", BigInteger, nullable=False),
    Column("visitors", BigInteger, nullable=False),  # distinct visitors that day
    Column("with_value", BigInteger, nullable=False),  # events whose value is not empty
)
Index("ix_event_days_day", event_days.c.day)
Index("ix_event_days_dimension_day", event_days.c.dimension, event_days.c.day)

# Page views per referring address (without its scheme) and day, links from the site itself left
# out: the original Crumby's origins report, kept by the ETL from ``visits`` like the other daily
# figures and read for whole days without a page filter.
origin_days = Table(
    "origin_days",
    metadata,
    Column("day", DateTime, nullable=False),  # midnight UTC
    Column("site", String(255), nullable=False),  # '' when the page view had none
    Column("is_bot", Boolean, nullable=False),
    Column("origin", Text, nullable=False),
    Column("views", BigInteger, nullable=False),
)
Index("ix_origin_days_day", origin_days.c.day)

# Each visitor's days (UTC) with a visit, and the day before it they last came: the summary's
# distinct visitors over whole days without a distinct count over a month of visits. Over the
# days [d0, d1) the range's visitors are its rows whose prev_day is NULL or before d0, each
# visitor's first day in the range. Kept by the ETL from ``sessions`` (crumby/etl/visitor_days.py);
# bots left out. Rows are per site and, with ``site`` NULL, once more for every site together.
visitor_days = Table(
    "visitor_days",
    metadata,
    Column("day", DateTime, nullable=False),  # midnight UTC: the day a visit started
    Column("site", String(255)),  # '' when the visit had none; NULL on the rows for every site
    Column("visitor_key", BigInteger, nullable=False),  # as in sessions.visitor_key
    Column("prev_day", DateTime),  # the visitor's last day before this one (same site, or any); NULL: first
)
Index("ix_visitor_days_visitor", visitor_days.c.visitor_key, visitor_days.c.site, visitor_days.c.day)
Index("ix_visitor_days_site_day", visitor_days.c.site, visitor_days.c.day, visitor_days.c.prev_day)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password", String(255), nullable=False),  # a password hash, never the password
)

calendar = Table(
    "calendar",
    metadata,
    Column("datetime", DateTime, primary_key=True),  # midnight UTC, one row per day
)

HIT_TABLES = (visits, events)

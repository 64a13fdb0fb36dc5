"""Contract 3: the tables the ETL loads and the reports read.

The original Crumby's tables (visits, events, users, calendar) keep their
names and columns, so its queries still run; crumby's own columns follow
them here, though a new store's hit tables begin with what reports read
(``READ_FIRST``). Internal bookkeeping tables are prefixed ``_crumby_``. Types are
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


# Integer keys of the visitor and visit ids (crumby/etl/keys.py), last as a store upgraded in place
# has them: reports count distinct visitors and visits, and join page views to their visit, on 64-bit
# integers instead of text ids.
def _key_columns() -> list[Column]:
    return [
        Column("visitor_key", BigInteger),  # as in sessions.visitor_key
        Column("visit_key", BigInteger),  # a 64-bit hash of session_id
    ]


# What the reports read, first in a new store's hit tables. PostgreSQL keeps a row's columns in table
# order and reaches one by walking every column before it, so reading the keys at the end of visits'
# 48 columns cost a seventh of a filtered top pages report's time (bench/queries.py). Columnar stores
# do not care. A store made before keeps its order: columns are always named.
READ_FIRST = (
    "id",
    "datetime",
    "is_bot",
    "visit_key",
    "visitor_key",
    "site",
    "page_path",
    "name",
    "doc_title",
)


def _read_first(*columns: Column) -> list[Column]:
    """``columns`` with those of READ_FIRST moved to the front, in its order."""
    rank = {name: n for n, name in enumerate(READ_FIRST)}
    return sorted(columns, key=lambda c: rank.get(c.name, len(rank)))


visits = Table(
    "visits",
    metadata,
    *_read_first(
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
        *_key_columns(),
    ),
)
Index("ix_visits_datetime", visits.c.datetime)
Index("ix_visits_site_datetime", visits.c.site, visits.c.datetime)
Index("ix_visits_session", visits.c.session_id)

events = Table(
    "events",
    metadata,
    *_read_first(
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
        *_key_columns(),
    ),
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
    Column("visit_key", BigInteger),  # as in visits.visit_key
)
Index("ix_sessions_started", sessions.c.started)
Index("ix_sessions_site_started", sessions.c.site, sessions.c.started)

# Page views per site, page, title and day: the original Crumby's documents report, kept by the ETL
# from ``visits`` (crumby/etl/daily.py). Counts of page views only: a sum over days means the same
# as a count over the range.
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

# Page views per referring address (without its scheme) and day, links from the site itself left
# out: the original Crumby's origins report, kept by the ETL from ``visits`` (crumby/etl/daily.py)
# and read for whole days without a page filter.
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

# Each visitor's days (UTC) on the site, and the day before it they last came: the summary's
# distinct visitors over whole days without a distinct count over a month of visits. A visit puts
# its visitor on the day it began and on the day it ended (a visit across midnight is on both), so
# that every visitor the other reports count over a range is among the summary's. Over the days
# [d0, d1) the range's visitors are its rows whose prev_day is NULL or before d0, each visitor's
# first day in the range. Kept by the ETL from ``sessions`` (crumby/etl/visitor_days.py); bots
# left out. Rows are per site and, with ``site`` NULL, once more for every site together.
visitor_days = Table(
    "visitor_days",
    metadata,
    Column("day", DateTime, nullable=False),  # midnight UTC: a day a visit began or ended on
    Column("site", String(255)),  # '' when the visit had none; NULL on the rows for every site
    Column("visitor_key", BigInteger, nullable=False),  # as in sessions.visitor_key
    Column("prev_day", DateTime),  # the visitor's last day before this one (same site, or any); NULL: first
)
Index("ix_visitor_days_visitor", visitor_days.c.visitor_key, visitor_days.c.site, visitor_days.c.day)
Index("ix_visitor_days_site_day", visitor_days.c.site, visitor_days.c.day, visitor_days.c.prev_day)

# Each visitor's days on each page: top pages' distinct visitors and visits over whole days without a
# distinct count over a month of page views. One row per day (UTC), site, page, bot flag and visitor
# who viewed it, with the page views, the visits (distinct sessions) that viewed it that day, those of
# them that had viewed it the day before too (a visit across midnight), and the visitor's last day
# on the page before this one. Over the days [d0, d1) a page's visitors are its rows whose prev_day
# is NULL or before d0; its visits are the sum of ``visits`` less the ``revisits`` of the days after
# d0. Kept by the ETL from ``visits`` and ``sessions`` (crumby/etl/page_visitors.py); the reports read
# its sums in ``page_day_figures``.
page_visitor_days = Table(
    "page_visitor_days",
    metadata,
    Column("day", DateTime, nullable=False),  # midnight UTC
    Column("site", String(255), nullable=False),  # '' when the page view had none
    Column("page_path", String(1024), nullable=False),  # '' when the page view had none
    Column("is_bot", Boolean, nullable=False),
    Column("visitor_key", BigInteger),  # as in sessions.visitor_key; NULL for page views of no visitor
    Column("prev_day", DateTime),  # the visitor's last earlier day on this page; NULL: first
    Column("views", BigInteger, nullable=False),
    Column("visits", BigInteger, nullable=False),
    Column("revisits", BigInteger, nullable=False),  # of ``visits``: those that viewed it the day before
)
Index("ix_page_visitor_days_day", page_visitor_days.c.day)
Index(
    "ix_page_visitor_days_visitor",
    page_visitor_days.c.visitor_key,
    page_visitor_days.c.site,
    page_visitor_days.c.page_path,
    page_visitor_days.c.day,
    mysql_length={"site": 64, "page_path": 191},
)

# ``page_visitor_days`` summed per day, page and earlier day: what top pages reads, a few rows per page
# and day instead of one per visitor. ``visitors`` counts the visitors whose last earlier day on the page
# was ``prev_day``; over [d0, d1) a page's visitors are the sum over the rows whose prev_day is NULL or
# before d0. Kept by the ETL with ``page_visitor_days`` (crumby/etl/page_visitors.py).
page_day_figures = Table(
    "page_day_figures",
    metadata,
    Column("day", DateTime, nullable=False),  # midnight UTC
    Column("site", String(255), nullable=False),
    Column("page_path", String(1024), nullable=False),
    Column("is_bot", Boolean, nullable=False),
    Column("prev_day", DateTime),
    Column("visitors", BigInteger, nullable=False),
    Column("views", BigInteger, nullable=False),
    Column("visits", BigInteger, nullable=False),
    Column("revisits", BigInteger, nullable=False),
)
Index("ix_page_day_figures_day", page_day_figures.c.day)

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

"""The ETL's own tables (``_crumby_*``): schema version, loads, file checkpoints, salts (and an old state).

They live in the store beside the rows they describe, so a batch's rows and
its checkpoint commit in one transaction: after a crash the store is as it
was before or after a whole batch, never in between.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, DateTime, Integer, MetaData, String, Table, Text

bookkeeping_metadata = MetaData()

schema_versions = Table(
    "_crumby_schema",
    bookkeeping_metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(255), nullable=False),
    Column("applied_at", DateTime, nullable=False),  # UTC
)

loads = Table(
    "_crumby_loads",
    bookkeeping_metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),  # the load_id on every row
    Column("kind", String(16), nullable=False),  # etl, reprocess, or retention (old rows deleted)
    Column("status", String(16), nullable=False),  # running, done, abandoned (a run that died)
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("crumby_version", String(32), nullable=False),
    Column("provenance", Text),  # JSON: GeoIP build, parser versions
    Column("files", Integer),
    Column("hits", BigInteger),
    Column("rejected", BigInteger),
    Column("reprocess_from", Date),
    Column("reprocess_to", Date),
)

# One row per raw log file: how many bytes of it (uncompressed) are loaded.
# ``name`` is the file name without a ``.gz`` suffix, so compressing a loaded
# file keeps its checkpoint.
files = Table(
    "_crumby_files",
    bookkeeping_metadata,
    Column("name", String(255), primary_key=True),
    Column("loaded_bytes", BigInteger, nullable=False),
    Column("lines", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    Column("load_id", BigInteger, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("expired", String(16)),  # NULL, compressed or deleted (retention)
)

# Each visitor's last session, as an earlier crumby kept it. No store reads or writes it now: each
# batch finds its visits among the stored hits (crumby/etl/sessions.py); the upgrades emptied it.
sessions = Table(
    "_crumby_sessions",
    bookkeeping_metadata,
    Column("site", String(255), primary_key=True),
    Column("visitor_id", String(64), primary_key=True),
    Column("session_id", String(64), nullable=False),
    Column("last_seen", DateTime, nullable=False),
)

# Daily salts of cookieless visitor hashes; deleted two days after their day.
salts = Table(
    "_crumby_salts",
    bookkeeping_metadata,
    Column("day", Date, primary_key=True),
    Column("salt", String(64), nullable=False),
)

# Days whose page views or visits changed since their daily figures (``document_days``,
# ``origin_days``, ``visitor_days``) were made:
# marked in the transaction that changes the rows, cleared when the day is summed again.
stale_days = Table(
    "_crumby_stale_days",
    bookkeeping_metadata,
    Column("day", DateTime, primary_key=True),  # midnight UTC
)

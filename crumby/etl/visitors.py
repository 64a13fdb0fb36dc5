"""Who a hit belongs to: the ``cid`` cookie, or in cookieless mode a daily-salted hash.

The hash covers site, full IP and user agent with a random salt for the
hit's UTC day. Salts live in the store (``_crumby_salts``) and are deleted
two days after their day, so yesterday's visitors can no longer be linked to
today's, nor to anyone, once the salt is gone (a day loaded later, from an
imported access log, keeps its salt only while its hits are being loaded).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from ..store.bookkeeping import salts
from ..store.days import as_day
from .enrich.distinct import STRING, string_array, to_series

SALT_KEEP_DAYS = 2


def needs_hash(hits: pd.DataFrame, cookieless: bool) -> np.ndarray:
    """Rows whose visitor is the salted hash: all in cookieless mode, else those without a cid."""
    if cookieless:
        return np.ones(len(hits), bool)
    return hits["cid"].isna().to_numpy() | (hits["cid"] == "").fillna(False).to_numpy(bool)


def days_of(times: pd.Series) -> list[date]:
    return sorted({d.date() for d in pd.to_datetime(times.dt.floor("D").unique())})


def visitor_ids(hits: pd.DataFrame, day_salts: Mapping[date, str], cookieless: bool) -> pd.Series:
    """The visitor id of every hit (needs ``site``, ``cid``, ``ip``, ``ua``, ``datetime``)."""
    cids = string_array(hits["cid"])
    hashed = needs_hash(hits, cookieless)
    if not hashed.any():
        return to_series(cids, hits.index)
    subset = hits.loc[hashed]
    day = subset["datetime"].dt.strftime("%Y-%m-%d")
    key = day.astype(STRING)
    for name in ("site", "ip", "ua"):
        key = key + "\x1f" + subset[name].astype(STRING).fillna("")
    codes, uniques = pd.factorize(key)
    digests = pa.array([_digest(text, day_salts) for text in uniques], pa.string())
    ids = pc.replace_with_mask(cids.cast(pa.string()), pa.array(hashed), digests.take(codes))
    return to_series(ids, hits.index)


def _digest(key: str, day_salts: Mapping[date, str]) -> str:
    day = date.fromisoformat(key[:10])
    salt = bytes.fromhex(day_salts[day])
    return hashlib.blake2b(key[11:].encode("utf-8"), key=salt, digest_size=16).hexdigest()


def load_salts(conn: sa.Connection, days: list[date], today: date | None = None) -> dict[date, str]:
    """The salt of each of ``days`` (made and stored when new); salts past their two days are deleted."""
    today = today or datetime.now(timezone.utc).date()
    # An older day's salt lives on only while its hits are being loaded (an imported access log
    # spans many batches): deleted by the first batch that has none of that day.
    expired = salts.c.day < today - timedelta(days=SALT_KEEP_DAYS)
    conn.execute(salts.delete().where(expired & salts.c.day.not_in(days) if days else expired))
    if not days:
        return {}
    found = {
        as_day(row.day): row.salt
        for row in conn.execute(sa.select(salts.c.day, salts.c.salt).where(salts.c.day.in_(days)))
    }
    fresh = [{"day": d, "salt": secrets.token_hex(32)} for d in days if d not in found]
    if fresh:
        conn.execute(salts.insert(), fresh)
        found.update({row["day"]: row["salt"] for row in fresh})
    return found

"""Loads left "running" by a run that died (SIGKILL, power cut, a store that failed mid-run).

A run holds the ETL lock from before its load row is written until after it
is closed, so a row still "running" when the next run holds the lock belongs
to a run that is gone. Its committed batches stay (each is whole); only the
row's status is set right, so nobody takes it for a load in progress.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..store.bookkeeping import loads
from ..store.days import utcnow

ABANDONED = "abandoned"


def close_abandoned_loads(engine: sa.Engine) -> int:
    """Mark every load still "running" as abandoned; returns how many. Call while holding the lock."""
    with engine.begin() as conn:
        result = conn.execute(
            loads.update().where(loads.c.status == "running").values(status=ABANDONED, finished_at=utcnow())
        )
    return max(result.rowcount or 0, 0)

"""From enriched hits to the rows of ``visits`` and ``events`` (contract 3's column names)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from ..store.schema import events, visits
from .load import to_arrow

# Store column <- hit column, where the names differ (the original Crumby's names).
RENAMED = {
    "hit_id": "id",
    "doc_title": "dt",
    "doc_uri": "dl",
    "doc_enc": "de",
    "referrer": "dr",
    "_referrer": "referer",
    "screen_res": "sr",
    "screen_depth": "sd",
    "lang": "ul",
    "_lang": "lang",
    "name": "en",
    "value": "ev",
}
SET_BY_LOAD = ("id", "ip", "load_id")


def table_rows(
    table: sa.Table,
    hits: pd.DataFrame,
    rows: np.ndarray,
    *,
    ids: np.ndarray,
    load_id: int,
    stored_ips: pd.Series,
) -> pa.Table:
    """The rows of ``table`` (visits or events) for the hits at positions ``rows``."""
    count = len(rows)
    columns: dict[str, object] = {
        "id": ids,
        "ip": pick(stored_ips, rows),
        "load_id": np.full(count, load_id, dtype=np.int64),
    }
    for column in table.columns:
        if column.name in SET_BY_LOAD:
            continue
        source = RENAMED.get(column.name, column.name)
        if source in hits.columns:
            columns[column.name] = pick(hits[source], rows)
    if "is_bot" in columns:
        columns["is_bot"] = hits["is_bot"].to_numpy(bool, na_value=False)[rows]
    return to_arrow(table, columns, count)


def pick(values: pd.Series, rows: np.ndarray) -> object:
    """The values at positions ``rows``: an Arrow take for Arrow-backed columns, numpy indexing else."""
    if hasattr(values.array, "__arrow_array__"):
        return pa.array(values.array).take(rows)
    return values.to_numpy()[rows]


def split_by_type(hits: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions of visit hits and of event hits."""
    kind = hits["t"]
    return np.flatnonzero((kind == "visit").to_numpy(bool, na_value=False)), np.flatnonzero(
        (kind == "event").to_numpy(bool, na_value=False)
    )


HIT_TABLES = {"visit": visits, "event": events}

"""From enriched hits to the rows of ``visits`` and ``events`` (contract 3's column names)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from ..store.schema import events, visits
from .keys import KEY_OF, id_keys
from .load import column_array, to_arrow

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
# Every store column of either hit table (a name means the same in both), and the hit type.
BATCH_COLUMNS = sa.Table(
    "_crumby_batch",
    sa.MetaData(),
    *[sa.Column(c.name, c.type) for c in {c.name: c for t in (visits, events) for c in t.columns}.values()],
    sa.Column("t", sa.String(8)),
)


def batch_rows(
    hits: pd.DataFrame,
    *,
    ids: np.ndarray,
    load_id: int,
    stored_ips: pd.Series,
    rows: np.ndarray | None = None,
) -> pa.Table:
    """The rows of both hit tables for the hits (those at positions ``rows`` if given), with ``t``.

    Arrow-backed columns are not copied when ``rows`` is None; each table's
    insert picks its hit type and columns (see :func:`crumby.etl.load.insert_hits`).
    """
    count = len(hits) if rows is None else len(rows)
    columns: dict[str, object] = {
        "id": ids,
        "ip": pick(stored_ips, rows),
        "load_id": np.full(count, load_id, dtype=np.int64),
    }
    for column in BATCH_COLUMNS.columns:
        if column.name in SET_BY_LOAD or column.name in KEY_OF:
            continue
        source = RENAMED.get(column.name, column.name)
        if source in hits.columns:
            columns[column.name] = pick(hits[source], rows)
    for key, made_from in KEY_OF.items():
        if made_from in columns:
            columns[key] = id_keys(column_array(columns[made_from], pa.large_string(), count))
    if "is_bot" in hits.columns:
        is_bot = hits["is_bot"].to_numpy(bool, na_value=False)
        columns["is_bot"] = is_bot if rows is None else is_bot[rows]
    return to_arrow(BATCH_COLUMNS, columns, count)


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
    batch = batch_rows(hits, ids=ids, load_id=load_id, stored_ips=stored_ips, rows=rows)
    return batch.select([column.name for column in table.columns])


def pick(values: pd.Series, rows: np.ndarray | None) -> object:
    """The values at positions ``rows`` (all when None): Arrow for Arrow-backed columns, numpy else."""
    if hasattr(values.array, "__arrow_array__"):
        array = pa.array(values.array)
        return array if rows is None else array.take(rows)
    return values.to_numpy() if rows is None else values.to_numpy()[rows]


def split_by_type(hits: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions of visit hits and of event hits."""
    kind = hits["t"]
    return np.flatnonzero((kind == "visit").to_numpy(bool, na_value=False)), np.flatnonzero(
        (kind == "event").to_numpy(bool, na_value=False)
    )


HIT_TABLES = {"visit": visits, "event": events}

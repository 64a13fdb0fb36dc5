"""Batches of raw hits as the ETL pipeline hands them to the enricher, and an enricher to share."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from conftest import make_settings

from crumby.etl.enrich import Enricher

RAW_COLUMNS = ("id", "t", "cid", "pv", "ul", "sd", "sr", "vp", "de", "dl", "dt", "dr", "en", "ev", "props")
RAW_COLUMNS += ("ip", "ua", "referer", "lang")


def raw_hits(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Object columns with None where absent, and a naive UTC ``datetime``."""
    frame = pd.DataFrame(
        {name: pd.Series([row.get(name) for row in rows], dtype=object) for name in RAW_COLUMNS}
    )
    frame["datetime"] = pd.Series([datetime(2024, 5, 1, 12, 0, n % 60) for n in range(len(rows))])
    return frame


def enriched_rows(enricher: Enricher, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Enrich ``rows`` and give them back as dicts, missing values as None."""
    out = enricher.enrich(raw_hits(rows)).astype(object)
    return [{k: (None if _missing(v) else v) for k, v in record.items()} for record in out.to_dict("records")]


def as_list(column: pd.Series) -> list[Any]:
    """A column's values, missing ones (None or NaN, whatever the dtype) as None."""
    return [None if _missing(v) else v for v in column.tolist()]


def new_enricher(folder: Path, **settings: Any) -> Enricher:
    return Enricher(make_settings(folder, **settings))


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False

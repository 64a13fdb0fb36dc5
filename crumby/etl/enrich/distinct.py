"""Work once per distinct value, then spread the answers back over every row.

A million hits carry a few thousand user agents and pages and some hundred
thousand addresses; parsing each distinct value once and mapping the answers
back with numpy indexing is what keeps enrichment within a second or two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd


def factorize(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes per row (-1 where missing) and the distinct non-empty strings."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, [str(u) for u in uniques]


def spread(
    codes: np.ndarray, rows: Sequence[tuple[Any, ...]], names: Sequence[str], index: pd.Index
) -> dict[str, pd.Series]:
    """Columns per row from one answer tuple per distinct value; code -1 gets all-None.

    The all-None row is appended last, so numpy's index -1 picks it without a mask.
    """
    table = np.empty((len(rows) + 1, len(names)), dtype=object)
    if rows:
        table[:-1] = rows
    table[-1] = None
    return {name: pd.Series(table[:, j][codes], index=index, dtype=object) for j, name in enumerate(names)}


def map_distinct(
    values: pd.Series, describe: Callable[[str], tuple[Any, ...]], names: Sequence[str]
) -> dict[str, pd.Series]:
    """Call ``describe`` once per distinct value of ``values`` and return its fields per row."""
    codes, uniques = factorize(values)
    return spread(codes, [describe(u) for u in uniques], names, values.index)


def as_float(column: pd.Series) -> pd.Series:
    """An object column of floats and None as float64 (NaN where missing)."""
    return pd.to_numeric(column, errors="coerce").astype("float64")


def as_int(column: pd.Series) -> pd.Series:
    """An object column of ints and None as a nullable integer column."""
    return pd.to_numeric(column, errors="coerce").astype("Int64")

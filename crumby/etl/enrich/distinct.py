"""Work once per distinct value, then spread the answers back over every row.

A million hits carry a few thousand user agents and referrers and some
hundred thousand addresses and page URLs. Each column is dictionary-encoded
with Arrow (its distinct values and, per row, a code into them); answers are
worked out per distinct value, into small columns, and a take per column
spreads them back over the rows, without a Python step per row. Answers that
cost Python work are also kept across the batches of one run
(:class:`AnswerCache`), so a user agent seen in every batch is parsed once.

Text columns go out as pandas' Arrow-backed "str" dtype (missing: NaN), which
costs nothing to make from Arrow and nothing to hand back to Arrow for a load.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Row = tuple[Any, ...]
Column = pa.Array | np.ndarray | pd.api.extensions.ExtensionArray


def _string_dtype() -> pd.StringDtype:
    try:
        return pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' "str" (the default from pandas 3)
    except TypeError:  # pandas before 2.3 has no na_value: its Arrow-backed "string" then
        return pd.StringDtype("pyarrow")


STRING = _string_dtype()


def string_array(values: pd.Series) -> pa.Array:
    """A text column as one Arrow string array, null where missing; Arrow-backed ones are not copied."""
    if hasattr(values.array, "__arrow_array__"):
        array = pa.array(values.array)
    else:
        try:
            array = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        except (pa.ArrowTypeError, pa.ArrowInvalid):  # not text throughout: the text of each value
            array = pa.array([None if pd.isna(v) else str(v) for v in values], type=pa.string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.string())
    return array


def to_series(array: pa.Array | pa.ChunkedArray, index: pd.Index) -> pd.Series:
    """An Arrow string array as a "str" column on ``index``."""
    return pd.Series(array, index=index, dtype=STRING, copy=False)


def nulls_where(array: pa.Array, mask: np.ndarray) -> pa.Array:
    """``array`` with the rows where ``mask`` holds set to null."""
    return pc.if_else(pa.array(mask, type=pa.bool_()), pa.scalar(None, array.type), array)


def arrow_column(values: Sequence[Any], dtype: str = "str") -> Column:
    """A small per-distinct-value column from Python values: Arrow text, or numpy/pandas numbers."""
    if dtype == "str":
        return pa.array(values, type=pa.string())
    if dtype == "Int64":
        return pd.array(values, dtype="Int64")
    if dtype == "float64":
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.array(values, dtype=dtype)


@dataclass
class Encoded:
    """A column's distinct non-missing values and, per row, the position of its value (-1: missing)."""

    codes: np.ndarray
    values: pa.Array

    @classmethod
    def of(cls, column: pd.Series | pa.Array) -> Encoded:
        array = column if isinstance(column, pa.Array) else string_array(column)
        encoded = pc.dictionary_encode(array)
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        return cls(codes, encoded.dictionary)


class Answers:
    """Answer columns per distinct value, each one longer than the distinct values: its last slot
    holds the answer for missing rows. ``spread`` turns them into full-length columns."""

    def __init__(self, codes: np.ndarray, columns: Mapping[str, Column]) -> None:
        self.columns = dict(columns)
        size = len(next(iter(self.columns.values())))
        self.rows = np.where(codes < 0, size - 1, codes)  # each row's slot

    @classmethod
    def from_rows(
        cls,
        codes: np.ndarray,
        rows: Sequence[Row],
        missing: Row,
        names: Sequence[str],
        dtypes: Mapping[str, str] | None = None,
    ) -> Answers:
        """Answers from one tuple of fields per distinct value (and the tuple for missing rows)."""
        dtypes = dtypes or {}
        fields = list(zip(*rows, missing, strict=True))
        return cls(
            codes, {name: arrow_column(fields[n], dtypes.get(name, "str")) for n, name in enumerate(names)}
        )

    @classmethod
    def null_when_missing(cls, encoded: Encoded, columns: Mapping[str, pa.Array]) -> Answers:
        """Answers from Arrow columns per distinct value; missing rows get null in each."""
        return cls(
            encoded.codes,
            {name: pa.concat_arrays([column, pa.nulls(1, column.type)]) for name, column in columns.items()},
        )

    def per_row(self, name: str) -> Column:
        """Column ``name`` spread over the rows, as Arrow or numpy as it is kept."""
        column = self.columns[name]
        if isinstance(column, pa.Array):
            return column.take(pa.array(self.rows))
        return column.take(self.rows) if not isinstance(column, np.ndarray) else column[self.rows]

    def spread(self, names: Sequence[str], index: pd.Index) -> dict[str, pd.Series]:
        """Full-length columns on ``index``: "str" for text, else the answers' own dtype."""
        result = {}
        for name in names:
            values = self.per_row(name)
            if isinstance(values, pa.Array):
                result[name] = to_series(values, index)
            else:
                result[name] = pd.Series(values, index=index, copy=False)
        return result


class AnswerCache:
    """Answers of ``describe`` per distinct value, kept for a run; forgotten wholesale past ``limit``
    entries so that memory stays bounded however long the run."""

    def __init__(self, describe: Callable[[Any], Row], limit: int = 200_000) -> None:
        self.describe = describe
        self.limit = limit
        self._answers: dict[Hashable, Row] = {}

    def answers(self, values: Iterable[Hashable]) -> list[Row]:
        values = list(values)
        known = self._answers
        if len(known) + len(values) > self.limit:
            known.clear()
        for value in values:
            if value not in known:
                known[value] = self.describe(value)
        return [known[value] for value in values]


def map_distinct(
    values: pd.Series,
    describe: Callable[[str], Row] | AnswerCache,
    names: Sequence[str],
    *,
    missing: Row | None = None,
    dtypes: Mapping[str, str] | None = None,
) -> dict[str, pd.Series]:
    """Fields per row of ``values``, from ``describe`` called once per distinct value (or a cache's
    answers, which also remembers them for the run's next batches). Text fields come out as "str";
    ``dtypes`` may name bool, float64 or Int64 ones."""
    encoded = Encoded.of(values)
    distinct = encoded.values.to_pylist()
    rows = (
        describe.answers(distinct) if isinstance(describe, AnswerCache) else [describe(v) for v in distinct]
    )
    missing = missing if missing is not None else (None,) * len(names)
    return Answers.from_rows(encoded.codes, rows, missing, names, dtypes).spread(names, values.index)

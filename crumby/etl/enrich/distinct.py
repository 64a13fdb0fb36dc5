"""Work once per distinct value, then spread the answers back over every row.

A million hits carry a few thousand user agents and pages and some hundred
thousand addresses; parsing each distinct value once and mapping the answers
back with numpy indexing is what keeps enrichment within a second or two.
Answers are also kept across the batches of one run (:class:`AnswerCache`),
so a user agent seen in every batch is still parsed only once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

Row = tuple[Any, ...]


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


def factorize(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes per row (-1 where missing) and the distinct non-empty strings."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    # to_numpy first: iterating an Arrow-backed index value by value is slow
    return codes, [u if type(u) is str else str(u) for u in uniques.to_numpy(dtype=object)]


class Distinct:
    """A column's distinct values, one answer row each, and each row's code into them.

    ``field(j)`` is the j-th answer per distinct value (the ``missing`` row's last, so that code
    -1 picks it); ``spread`` turns the first fields into full-length columns.
    """

    def __init__(self, codes: np.ndarray, rows: Sequence[Row], missing: Row) -> None:
        self.codes = codes
        self._fields = list(zip(*rows, missing, strict=True)) if rows else [(value,) for value in missing]

    @classmethod
    def of(cls, values: pd.Series, describe: Callable[[str], Row] | AnswerCache, missing: Row) -> Distinct:
        """Answer each distinct value of ``values`` with ``describe`` (or a cache of its answers)."""
        codes, uniques = factorize(values)
        rows = (
            describe.answers(uniques) if isinstance(describe, AnswerCache) else [describe(u) for u in uniques]
        )
        return cls(codes, rows, missing)

    def field(self, position: int, dtype: Any = object) -> np.ndarray:
        return np.array(self._fields[position], dtype=dtype)

    def spread(
        self, names: Sequence[str], index: pd.Index, dtypes: Mapping[str, str] | None = None
    ) -> dict[str, pd.Series]:
        """The first ``len(names)`` fields per row; object dtype unless ``dtypes`` names float64,
        Int64 or bool."""
        dtypes = dtypes or {}
        result = {}
        for position, name in enumerate(names):
            kind = dtypes.get(name, "object")
            if kind == "Int64":
                values = pd.array(self._fields[position], dtype="Int64").take(self.codes)
                result[name] = pd.Series(values, index=index)
                continue
            if kind == "float64":
                small = np.array(
                    [np.nan if v is None else v for v in self._fields[position]], dtype=np.float64
                )
            else:
                small = self.field(position, bool if kind == "bool" else object)
            result[name] = pd.Series(small[self.codes], index=index, dtype=small.dtype, copy=False)
        return result


def map_distinct(
    values: pd.Series,
    describe: Callable[[str], Row] | AnswerCache,
    names: Sequence[str],
    *,
    missing: Row | None = None,
    dtypes: Mapping[str, str] | None = None,
) -> dict[str, pd.Series]:
    """Fields per row of ``values``, from ``describe`` called once per distinct value (or a cache's
    answers, which also remembers them for the run's next batches)."""
    distinct = Distinct.of(values, describe, missing if missing is not None else (None,) * len(names))
    return distinct.spread(names, values.index, dtypes)

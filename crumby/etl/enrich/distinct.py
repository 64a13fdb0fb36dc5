"""Work once per distinct value, then spread the answers back over every row.

A million hits carry a few thousand user agents and referrers and some
hundred thousand addresses and page URLs. Each column is dictionary-encoded
with Arrow (its distinct values and, per row, a code into them); answers are
worked out per distinct value, into small Arrow columns, and a take per
column spreads them back over the rows, without a Python step per row.
Answers that cost Python work are also kept for the run's later batches
(:class:`AnswerTable`), so a user agent seen in every batch is parsed once.

Text columns go out as pandas' Arrow-backed "str" dtype (missing: NaN), which
costs nothing to make from Arrow and nothing to hand back to Arrow for a load.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Row = tuple


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


def per_distinct(values: pa.Array, answer: Callable[[str], str | None]) -> pa.Array:
    """``answer(value)`` for each non-null value of ``values``, called once per distinct value."""
    encoded = pc.dictionary_encode(values)
    answers = pa.array([answer(value) for value in encoded.dictionary.to_pylist()], type=pa.string())
    return answers.take(encoded.indices)


def the_careful_way(
    columns: dict[str, pa.Array], values: pa.Array, careful: np.ndarray, describe: Callable[[str], Row]
) -> None:
    """Replace, in ``columns``, the rows where ``careful`` holds with what ``describe`` answers
    for those of ``values``, one by one (its fields in the order of ``columns``)."""
    if not careful.any():
        return
    mask = pa.array(careful)
    answers = [describe(value) for value in values.filter(mask).to_pylist()]
    fields = list(zip(*answers, strict=True))
    for n, (name, column) in enumerate(list(columns.items())):
        columns[name] = pc.replace_with_mask(column, mask, pa.array(fields[n], type=column.type))


KEY_COLUMN = "key"  # of a table kept between runs
ARROW_TYPES = {"str": pa.large_string(), "bool": pa.bool_(), "float64": pa.float64(), "Int64": pa.int64()}


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
    """Answer columns (Arrow, one slot per answer) and each row's slot; ``spread`` turns them into
    full-length pandas columns."""

    def __init__(self, rows: np.ndarray, columns: Mapping[str, pa.Array]) -> None:
        self.rows = rows
        self.columns = dict(columns)

    @classmethod
    def null_when_missing(cls, encoded: Encoded, columns: Mapping[str, pa.Array]) -> Answers:
        """Answers in the order of ``encoded.values``; missing rows get null in every column."""
        size = len(encoded.values)
        return cls(
            np.where(encoded.codes < 0, size, encoded.codes),
            {name: _with_null(column) for name, column in columns.items()},
        )

    def per_row(self, name: str) -> pa.Array:
        return self.columns[name].take(pa.array(self.rows))

    def spread(self, names: Sequence[str], index: pd.Index) -> dict[str, pd.Series]:
        """Full-length columns on ``index``: "str" for text, bool, float64 (NaN) or Int64."""
        return {name: _series(self.per_row(name), index) for name in names}


def _with_null(column: pa.Array) -> pa.Array:
    """``column`` and a null after it; text as large_string, which pandas' "str" keeps as it is."""
    if pa.types.is_string(column.type):
        column = column.cast(pa.large_string())
    return pa.concat_arrays([column, pa.nulls(1, column.type)])


def _series(values: pa.Array, index: pd.Index) -> pd.Series:
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return to_series(values, index)
    if pa.types.is_integer(kind):
        numbers = pc.fill_null(values, 0).to_numpy(zero_copy_only=False)
        mask = values.is_null().to_numpy(zero_copy_only=False)
        return pd.Series(pd.arrays.IntegerArray(numbers.astype(np.int64), mask), index=index, copy=False)
    return pd.Series(values.to_numpy(zero_copy_only=False), index=index, copy=False)  # bool, float64 (NaN)


class AnswerTable:
    """Answers kept for a run as Arrow columns, one slot per key seen (slot 0: the answer for a
    missing value). A batch finds the slots of its distinct keys with one hash lookup and works out
    only the new keys. When new keys would take it past ``limit``, it keeps the batch's keys and
    those used most recently, to half the limit, and forgets the others: memory stays bounded, and
    a key that recurs is not worked out again. A batch of more than ``limit`` keys is kept alone,
    until the next batch with new keys."""

    def __init__(
        self,
        names: Sequence[str],
        missing: Row,
        dtypes: Mapping[str, str] | None = None,
        limit: int = 200_000,
    ) -> None:
        dtypes = dtypes or {}
        self.types = {name: ARROW_TYPES[dtypes.get(name, "str")] for name in names}
        self.missing = dict(zip(names, missing, strict=True))
        self.limit = limit
        self.added = 0  # keys answered by this table's own ``describe_new`` calls
        self.generation = 0  # of ``slots`` calls
        self.clear()

    def clear(self) -> None:
        self.keys: pa.Array | None = None
        self.columns = {name: pa.array([self.missing[name]], type=kind) for name, kind in self.types.items()}
        self.used = np.zeros(1, dtype=np.int64)  # per slot, the generation that last used it

    def __len__(self) -> int:
        return 0 if self.keys is None else len(self.keys)

    def slots(self, keys: pa.Array, describe_new: Callable[[pa.Array], Sequence[Row]]) -> np.ndarray:
        """The slot of each of ``keys`` (distinct, none null); ``describe_new`` answers those not
        seen before, one tuple of fields each. Slots returned by earlier calls may have moved."""
        self.generation += 1
        if not len(keys):
            return np.zeros(0, dtype=np.int64)
        if self.keys is not None and keys.type != self.keys.type:
            keys = keys.cast(self.keys.type)
        found = (
            pc.index_in(keys, value_set=self.keys)
            if self.keys is not None
            else pa.nulls(len(keys), pa.int32())
        )
        new = found.is_null()
        count = pc.sum(new).as_py() or 0
        slots = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64) + 1
        self.used[slots] = self.generation  # a new key's 0 marks slot 0, which is always kept
        if count and len(self) and len(self) + count > self.limit:
            slots = self._compact(slots, count)
        if count:
            added = keys.filter(new)
            self.added += count
            fields = list(zip(*describe_new(added), strict=True))
            slots[new.to_numpy(zero_copy_only=False)] = np.arange(len(self) + 1, len(self) + 1 + count)
            self.keys = added if self.keys is None else pa.concat_arrays([self.keys, added])
            self.columns = {
                name: pa.concat_arrays([column, pa.array(fields[n], type=column.type)])
                for n, (name, column) in enumerate(self.columns.items())
            }
            self.used = np.concatenate([self.used, np.full(count, self.generation, dtype=np.int64)])
        return slots

    def _compact(self, slots: np.ndarray, count: int) -> np.ndarray:
        """Keep the slots of this call and the most recently used others: half the limit, fewer
        where ``count`` new keys would not fit beside them; returns ``slots`` where they are now."""
        mine = int(np.count_nonzero(slots))
        size = max(mine, min(self.limit // 2, self.limit - count))
        # Least recently used first; of equal generations (the keys taken from a file), the later
        # slot counts as the more recent, as :meth:`kept` writes them in the order of their use.
        order = np.argsort(self.used[1:], kind="stable") + 1
        keep = order[len(order) - size :]
        where = np.zeros(len(self.used), dtype=np.int64)
        where[keep] = np.arange(1, size + 1)
        taken = pa.array(np.concatenate([[0], keep]))
        self.keys = self.keys.take(pa.array(keep - 1)) if self.keys is not None else None
        self.columns = {name: column.take(taken) for name, column in self.columns.items()}
        self.used = self.used[taken.to_numpy()]
        return where[slots]

    def kept(self) -> pa.Table | None:
        """The keys and their answers (slot 0 aside), at most ``limit`` of them, least recently used
        first, or None before any key: to keep between runs."""
        if self.keys is None:
            return None
        order = pa.array(np.argsort(self.used[1:], kind="stable")[-self.limit :])
        answers = {name: column.slice(1).take(order) for name, column in self.columns.items()}
        return pa.table({KEY_COLUMN: self.keys.take(order), **answers})

    def take(self, kept: pa.Table) -> bool:
        """Start from answers :meth:`kept` earlier, as used before any call of this table's; False,
        with nothing taken, where they do not fit this table (other columns or types, a null key,
        more than its limit)."""
        expected = [KEY_COLUMN, *self.types]
        if kept.column_names != expected or len(kept) > self.limit or not len(kept):
            return False
        keys = kept.column(KEY_COLUMN).combine_chunks()
        if not (pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type)) or keys.null_count:
            return False
        if any(kept.schema.field(name).type != kind for name, kind in self.types.items()):
            return False
        self.keys = keys
        self.columns = {
            name: pa.concat_arrays([column.slice(0, 1), kept.column(name).combine_chunks()])
            for name, column in self.columns.items()
        }
        self.used = np.zeros(len(keys) + 1, dtype=np.int64)
        return True

    def answers(self, encoded: Encoded, describe_new: Callable[[pa.Array], Sequence[Row]]) -> Answers:
        """Answers for every row of an encoded column."""
        slots = np.concatenate([self.slots(encoded.values, describe_new), [0]])  # code -1: slot 0
        return Answers(slots[encoded.codes], self.columns)

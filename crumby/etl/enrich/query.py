"""The ``key=value`` pairs of many query strings at once, and what each distinct key means.

Queries are split with Arrow; the keys, a few dozen distinct ones in a batch
of any size, are decoded and judged in Python once each (tracking or not,
which ``utm_*`` field or click id), exactly as :func:`page.clean_query` and
:func:`campaign.describe_campaign` judge them one query at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote_plus

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .campaign import CLICK_IDS, UTM_KEYS, is_tracking_param

UTM_POSITION = {key: n for n, key in enumerate(UTM_KEYS)}
CLICK_ID_POSITION = {key: n for n, key in enumerate(CLICK_IDS)}
NOT_ONE = -1


@lru_cache(maxsize=16384)  # keys are few; a flood of odd ones must not hold much memory
def key_facts(raw_key: str) -> tuple[str, bool, int, int]:
    """(decoded key, tracks?, position in UTM_KEYS, position in CLICK_IDS) of one raw key.

    page_query judges the decoded key as it is; campaigns strip it first (as parse_qsl's callers do).
    """
    decoded = unquote_plus(raw_key)
    campaign_key = decoded.strip().lower()
    return (
        decoded,
        is_tracking_param(decoded),
        UTM_POSITION.get(campaign_key, NOT_ONE),
        CLICK_ID_POSITION.get(campaign_key, NOT_ONE),
    )


@dataclass
class QueryPairs:
    """Every non-empty pair of a set of queries, in order, with its query's position (``rows``);
    per pair, its raw text and what its key means (``key_codes`` index the per-key facts)."""

    rows: np.ndarray
    pairs: pa.Array  # as written: "q=caf%C3%A9"
    key_codes: np.ndarray
    key_lengths: np.ndarray  # one per distinct key, as written
    decoded_keys: pa.Array  # one per distinct key
    tracking: np.ndarray
    utm_position: np.ndarray
    click_id_position: np.ndarray

    @classmethod
    def of(cls, queries: pa.Array) -> QueryPairs:
        """The pairs of ``queries`` (raw query strings without "?"; null: none)."""
        split = pc.split_pattern(queries, "&")
        rows = pc.list_parent_indices(split).to_numpy()
        pairs = pc.list_flatten(split)
        kept = pc.not_equal(pairs, "")
        pairs, rows = pairs.filter(kept), rows[kept.to_numpy(zero_copy_only=False)]
        raw_keys = pc.dictionary_encode(pc.list_element(pc.split_pattern(pairs, "=", max_splits=1), 0))
        written = raw_keys.dictionary.to_pylist()
        facts = [key_facts(key) for key in written]
        decoded, tracking, utm, click = zip(*facts, strict=True) if facts else ((), (), (), ())
        codes = raw_keys.indices.to_numpy(zero_copy_only=False)
        return cls(
            rows=rows,
            pairs=pairs,
            key_codes=codes,
            key_lengths=np.array([len(key) for key in written], dtype=np.int64),
            decoded_keys=pa.array(decoded, type=pa.string()),
            tracking=np.array(tracking, dtype=bool)[codes],
            utm_position=np.array(utm, dtype=np.int8)[codes],
            click_id_position=np.array(click, dtype=np.int8)[codes],
        )

    def keys(self, picked: np.ndarray) -> pa.Array:
        """The decoded keys of the pairs at positions ``picked``."""
        return self.decoded_keys.take(pa.array(self.key_codes[picked]))

    def values(self, picked: np.ndarray) -> pa.Array:
        """The raw values of the pairs at positions ``picked`` ("" for a pair without "="): each
        pair cut after its key, the pairs of one key length together."""
        if not len(picked):
            return pa.array([], type=self.pairs.type)
        starts = self.key_lengths[self.key_codes[picked]] + 1
        order = np.argsort(starts, kind="stable")
        bounds = np.flatnonzero(np.diff(starts[order])) + 1
        pieces = [
            pc.utf8_slice_codeunits(self.pairs.take(pa.array(picked[group])), int(starts[group[0]]))
            for group in np.split(order, bounds)
        ]
        if len(pieces) == 1:
            return pieces[0]
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        return pa.concat_arrays(pieces).take(pa.array(back))

    def __len__(self) -> int:
        return len(self.rows)

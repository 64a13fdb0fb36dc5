"""Page, campaign and the facts the channel needs, for all distinct page URLs (``dl``) of a batch.

:func:`describe_location` answers for one URL; :func:`describe_locations`
gives the same answers for many at once, with Arrow, and falls back to the
former only for the URLs that are not plain (see urls.py). Derived facts
(registrable domain, campaign kind and source) are worked out per distinct
site, medium and source, which are few.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .campaign import CAMPAIGN_COLUMNS, campaign_columns, campaign_kinds, describe_campaign
from .distinct import per_distinct, the_careful_way
from .page import PAGE_COLUMNS, clean_queries, describe_page, split_url
from .query import QueryPairs
from .referrer import campaign_source_name, registrable_domain
from .urls import split_urls

DERIVED_FIELDS = ("site_registrable", "campaign_kind", "campaign_source")
LOCATION_FIELDS = PAGE_COLUMNS + CAMPAIGN_COLUMNS + DERIVED_FIELDS


def describe_location(url: str) -> tuple[Any, ...]:
    """LOCATION_FIELDS of one page URL."""
    parts = split_url(url)
    site, path, query = describe_page(parts)
    campaign, kind = describe_campaign(parts.query if parts else "")
    return (
        site,
        path,
        query,
        *campaign,
        registrable_domain(site) if site else None,
        kind,
        campaign_source_name(campaign[0], kind, campaign[5]),
    )


def describe_locations(urls: pa.Array) -> dict[str, pa.Array]:
    """LOCATION_FIELDS of each of ``urls`` (distinct, none null), as Arrow arrays in their order."""
    count = len(urls)
    split = split_urls(urls)
    pairs = QueryPairs.of(split.query)
    columns = {
        "site": split.site,
        "page_path": split.path,
        "page_query": clean_queries(pairs, count),
        **campaign_columns(pairs, count),
    }
    the_careful_way(columns, urls, ~split.plain, lambda url: describe_location(url)[: len(columns)])
    columns["site_registrable"] = per_distinct(columns["site"], registrable_domain)
    kinds = campaign_kinds(columns["utm_medium"], columns["click_id_type"])
    columns["campaign_kind"] = kinds
    columns["campaign_source"] = _campaign_sources(columns["utm_source"], kinds, columns["click_id_type"])
    return columns


def _campaign_sources(sources: pa.Array, kinds: pa.Array, click_ids: pa.Array) -> pa.Array:
    """campaign_source_name per URL, once per distinct (source, kind, click id)."""
    triples = (sources, kinds, click_ids)
    key = np.zeros(len(sources), dtype=np.int64)
    for column in triples:
        encoded = pc.dictionary_encode(column)
        key = key * (len(encoded.dictionary) + 1) + pc.fill_null(encoded.indices, -1).to_numpy() + 1
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    picked = pa.array(first)
    names = [
        campaign_source_name(*triple)
        for triple in zip(*(column.take(picked).to_pylist() for column in triples), strict=True)
    ]
    return pa.array(names, type=pa.string()).take(pa.array(inverse.reshape(-1)))

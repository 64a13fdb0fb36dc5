"""Site, path and query of the tracked page (``dl``, the page's URL).

``site`` is the host in lowercase, without port, trailing dot or a leading
``www.``: www.example.com and example.com are one site in every report (a
site served on both would otherwise be split in two). ``page_path`` is the
path as the browser sent it (``/`` when empty). ``page_query`` is the query
without tracking parameters (``utm_*``, click ids and the like, which live in
their own columns), its ``key=value`` pairs sorted by key, encoded as they
came; None when nothing is left. The fragment (``#...``) is dropped.

The functions for one URL are the reference; :func:`clean_queries` (and
urls.py's splitting) give their answers for a whole batch's URLs with Arrow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import SplitResult, unquote_plus, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .campaign import is_tracking_param

if TYPE_CHECKING:
    from .query import QueryPairs

PAGE_COLUMNS = ("site", "page_path", "page_query")
MAX_SITE = 255
MAX_PATH = 1024


def split_url(url: str) -> SplitResult | None:
    """urlsplit, with a quick path for plain http(s) URLs; None for text that is not a URL at all."""
    scheme, separator, rest = url.partition("://")
    if separator and scheme in ("https", "http") and url.isprintable():
        rest, _, fragment = rest.partition("#")
        rest, _, query = rest.partition("?")
        netloc, slash, path = rest.partition("/")
        if "[" not in netloc:  # IPv6 hosts go the careful way
            return SplitResult(scheme, netloc, slash + path, query, fragment)
    try:
        return urlsplit(url.strip())
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None


def host_of(parts: SplitResult) -> str | None:
    """Lowercase host without port, trailing dot or leading ``www.``; None if there is none."""
    try:
        host = parts.hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    return host[:MAX_SITE] or None


def clean_query(query: str) -> str | None:
    """The query without tracking parameters, pairs sorted by (decoded) key, or None if empty."""
    if not query:
        return None
    kept = []
    for pair in query.split("&"):
        if not pair:
            continue
        key = unquote_plus(pair.split("=", 1)[0])
        if not is_tracking_param(key):
            kept.append((key, pair))
    if not kept:
        return None
    kept.sort(key=lambda item: item[0])
    return "&".join(pair for _, pair in kept)


def describe_page(parts: SplitResult | None) -> tuple[str | None, str | None, str | None]:
    """The PAGE_COLUMNS of one split page URL."""
    if parts is None:
        return (None, None, None)
    path = parts.path or "/"
    return (host_of(parts), path[:MAX_PATH], clean_query(parts.query))


def clean_queries(pairs: QueryPairs, count: int) -> pa.Array:
    """clean_query of ``count`` queries at once, from their pairs (null where nothing is left)."""
    kept = np.flatnonzero(~pairs.tracking)
    rows = pairs.rows[kept]
    # a stable sort by (query, decoded key): Arrow compares UTF-8 bytes, which orders as code points do
    order = pc.sort_indices(
        pa.table({"row": rows, "key": pairs.keys(kept)}),
        sort_keys=[("row", "ascending"), ("key", "ascending")],
    )
    counts = np.bincount(rows, minlength=count)
    offsets = np.zeros(count + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    per_query = pa.ListArray.from_arrays(pa.array(offsets), pairs.pairs.take(kept).take(order))
    joined = pc.binary_join(per_query, pa.scalar("&", pairs.pairs.type))
    return pc.if_else(pa.array(counts > 0), joined, pa.scalar(None, joined.type))

"""Split many URLs at once into site, path and query, with one regular expression run by Arrow.

Click ids make nearly every landing URL unique (some 374k distinct page URLs
in a million hits), so a Python step per URL would cost seconds. The common
shape, a plain ``http(s)://host[:port]/path?query#fragment`` in printable
ASCII, is split here for all of them in C++; anything else (user info, IPv6
hosts, other schemes, control or non-ASCII characters, a ``%`` in the host)
is left for :func:`page.split_url`, the reference these results agree with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .page import MAX_PATH, MAX_SITE


def _printable_ascii_but(excluded: str) -> str:
    """A regex character class: printable ASCII but the ``excluded`` characters (escaped)."""
    return r"[^\x00-\x1f\x7f-\x{10FFFF}" + excluded + "]"


PLAIN_URL = "".join(
    (
        r"^https?://",
        "(?P<host>" + _printable_ascii_but(r"/?#@\[\]%:") + "*)",
        "(?::" + _printable_ascii_but(r"/?#@\[\]") + "*)?",  # a port: the host ends before it
        "(?P<path>/" + _printable_ascii_but("?#") + "*)?",
        r"(?:\?(?P<query>" + _printable_ascii_but("#") + "*))?",
        "(?:#" + _printable_ascii_but("") + "*)?$",
    )
)


@dataclass
class SplitUrls:
    """Parts of each URL; ``plain`` says which were split here (the others' parts are null)."""

    plain: np.ndarray
    site: pa.Array
    path: pa.Array
    query: pa.Array


def split_urls(urls: pa.Array) -> SplitUrls:
    """Site (as :func:`site_of` makes it), path (``/`` when empty) and raw query of plain URLs."""
    parts = pc.extract_regex(urls, PLAIN_URL)
    plain = pc.fill_null(parts.is_valid(), False).to_numpy(zero_copy_only=False)
    path = pc.struct_field(parts, "path")
    path = pc.if_else(pc.equal(path, ""), "/", pc.utf8_slice_codeunits(path, 0, MAX_PATH))
    return SplitUrls(plain, site_of(pc.struct_field(parts, "host")), path, pc.struct_field(parts, "query"))


def site_of(hosts: pa.Array) -> pa.Array:
    """Hosts as sites: lowercase, no trailing dot, no leading ``www.``, null when empty
    (:func:`page.host_of` for ASCII hosts)."""
    sites = pc.utf8_rtrim(pc.ascii_lower(hosts), characters=".")
    sites = pc.utf8_slice_codeunits(
        pc.replace_substring_regex(sites, r"^www\.", "", max_replacements=1), 0, MAX_SITE
    )
    return pc.if_else(pc.equal(sites, ""), pa.scalar(None, sites.type), sites)

"""The batch paths (Arrow over all distinct values at once) answer exactly as the one-value functions do.

Pages, referrers and IP privacy each have a reference that handles one value
in Python and a batch path that handles a whole column in Arrow; these tests
run both over awkward and random values and compare every field.
"""

from __future__ import annotations

import ipaddress
import random

import pandas as pd
import pyarrow as pa
import pytest
from enrich_frames import as_list

from crumby.etl.enrich import (
    LOCATION_FIELDS,
    REFERRER_FIELDS,
    anonymise_ips,
    describe_location,
    describe_referrer,
)
from crumby.etl.enrich.location import describe_locations
from crumby.etl.enrich.privacy import _anonymise_carefully, anonymise_ip
from crumby.etl.enrich.referrer import describe_referrers

# Parts of URLs: the first of each pair is common and plain, the second awkward.
SCHEMES = (("https://", "http://"), ("HTTPS://", "ftp://", "android-app://", "//", "", " https://"))
HOSTS = (
    (
        "example.com",
        "WWW.Example.COM",
        "www.shop.example.co.uk.",
        "example.com:8443",
        "www.google.de",
        "t.co",
    ),
    (
        "www.",
        ".",
        "",
        "example.com:",
        "user:pw@example.com",
        "[2001:db8::1]:8080",
        "[broken",
        "exa%41mple.com",
        "caf\u00e9.example",
        "host]name",
        "x" * 300 + ".com",
    ),
)
PATHS = (
    ("", "/", "/a/b", "/caf%C3%A9", "/with space"),
    ("/caf\u00e9", "/tab\there", "/" + "p" * 1100),
)
QUERIES = (
    (
        "",
        "?",
        "?a=1",
        "?b=2&a=1&b=0&flag",
        "?&&",
        "?=x",
        "?utm_source=Newsletter&utm_medium=email&utm_campaign=May+2024",
        "?UTM_Source=Big&utm_source=second",
        "?utm_source=+&utm_medium=&utm_campaign=%20x%20",
        "?utm_source+=spaced&keep=1",
        "?%75tm_source=encoded&q=caf%C3%A9",
        "?caf%C3%A9=1&z=2&%E2%82%AC=3",
        "?utm_medium=cpc&gclid=Cj0K&fbclid=IwAR",
        "?fbclid=x&msclkid=y&mc_eid=z&mc_cid=w&_ga=1.2&_gl=3",
        "?utm_medium=paid_social&utm_source=fb",
        "?utm_medium=Newsletter&utm_source=Weekly+Digest",
        "?utm_source=google.com&utm_medium=organic",
        "?utm_term=" + "t" * 300,
        "?utm_content=%E2%82%AC%ZZ&x=%",
        "?q=a?b&c=d=e",
        "?Gclid=1&UTM_MEDIUM=CPC",
    ),
    ("?utm_source=\u00e9t\u00e9&b=\u00e9", "?a=1\x7f"),
)
FRAGMENTS = (("", "#", "#top", "#x?utm_source=fragment&a=1"), ("#\u00e9",))


def _urls(count: int, seed: int) -> list[str]:
    """Random URLs, most of them plain (each part plain with odds of 9 in 10), and a few odd ones."""
    rng = random.Random(seed)
    urls = [
        "".join(rng.choice(part[rng.random() < 0.1]) for part in (SCHEMES, HOSTS, PATHS, QUERIES, FRAGMENTS))
        for _ in range(count)
    ]
    urls += ["not a url", "/relative/path?utm_source=x&b=1", "https://example.com/a\nb?c=1", "\x00", "?a=1"]
    urls += ["https://example.com/" + "?utm_source=s&gclid=1&k=v" * 3]
    return list(dict.fromkeys(urls))


def _rows(columns: dict[str, pa.Array], names: tuple[str, ...]) -> list[tuple]:
    return list(zip(*(columns[name].to_pylist() for name in names), strict=True))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_page_urls_get_the_answers_of_the_one_url_path(seed):
    urls = _urls(2500, seed)
    batch = _rows(describe_locations(pa.array(urls)), LOCATION_FIELDS)
    for url, answer in zip(urls, batch, strict=True):
        assert answer == describe_location(url), url


def test_referrers_get_the_answers_of_the_one_url_path():
    urls = _urls(2500, 4) + ["android-app://com.google.android.gm/", "https://192.168.1.1:8080/admin"]
    urls += [
        "https://deref-gmx.net/x",
        "https://fr.mail.yahoo.com/",
        "https://maps.google.de/",
        "https://vk.com/",
    ]
    urls += [
        "https://t.umblr.com/r",
        "https://googleads.g.doubleclick.net/p",
        "https://www.google.com/imgres?x",
    ]
    batch = _rows(describe_referrers(pa.array(urls)), REFERRER_FIELDS)
    for url, answer in zip(urls, batch, strict=True):
        assert answer == describe_referrer(url), url


def test_large_string_columns_split_alike():
    """pandas' "str" columns hold large_string arrays."""
    urls = _urls(300, 5)
    assert _rows(describe_locations(pa.array(urls, pa.large_string())), LOCATION_FIELDS) == [
        describe_location(url) for url in urls
    ]


def test_anonymised_addresses_agree_with_the_one_address_path():
    rng = random.Random(6)
    ips = [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(2000)]
    ips += [str(ipaddress.IPv6Address(rng.getrandbits(128))) for _ in range(300)]
    ips += [
        "0.0.0.0",
        "255.255.255.255",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3.04",
        "1.2.3",
        "1.2.3.4.5",
        " 8.8.8.8",
    ]
    ips += [
        "1.2.3.4 ",
        "::ffff:1.2.3.4",
        "fe80::1%eth0",
        "",
        "junk",
        "\u0661.2.3.4",
        "1.2.3.\u0664",
        "+1.2.3.4",
    ]
    expected = [anonymise_ip(ip) for ip in ips] + [None]
    as_objects = anonymise_ips(pd.Series([*ips, None], dtype=object), "anonymised")
    assert as_objects.tolist() == expected
    as_arrow = anonymise_ips(pd.Series([*ips, None], dtype="str"), "anonymised")
    assert str(as_arrow.dtype) == "str"
    assert as_list(as_arrow) == expected


def test_ipv6_networks_are_written_as_ipaddress_writes_them():
    """The quick IPv6 path parses and formats the /48 itself; ipaddress is the reference (RFC 5952)."""
    rng = random.Random(7)
    groups = [0, 0, 0, 1, 0xFFFF, 0xDB8, 0x2A02]
    for _ in range(3000):
        packed = b"".join(rng.choice(groups).to_bytes(2, "big") for _ in range(8))
        address = ipaddress.IPv6Address(packed)
        for text in (str(address), address.exploded, address.exploded.upper()):
            assert anonymise_ip(text) == _anonymise_carefully(text), text

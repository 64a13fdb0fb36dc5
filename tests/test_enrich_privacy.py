"""What the store keeps of an IP address under each IP_PRIVACY mode."""

from __future__ import annotations

import pandas as pd
import pytest

from crumby.etl.enrich import anonymise_ips
from crumby.etl.enrich.privacy import anonymise_ip

IPS = pd.Series(
    ["81.2.69.142", "2a02:c7f:7000:1234:5678::1", None, "10.0.0.255", "::ffff:81.2.69.142", "junk"],
    index=[10, 11, 12, 13, 14, 15],
    dtype=object,
)


def test_anonymised_keeps_the_ipv4_slash_24_and_the_ipv6_slash_48():
    result = anonymise_ips(IPS, "anonymised")
    assert list(result.index) == list(IPS.index)
    assert result.tolist() == ["81.2.69.0", "2a02:c7f:7000::", None, "10.0.0.0", "81.2.69.0", None]


def test_full_keeps_the_address_and_none_keeps_nothing():
    assert anonymise_ips(IPS, "full").tolist() == IPS.tolist()
    nothing = anonymise_ips(IPS, "none")
    assert list(nothing.index) == list(IPS.index)
    assert nothing.tolist() == [None] * len(IPS)


@pytest.mark.parametrize(
    ("ip", "kept"),
    [
        ("1.2.3.4", "1.2.3.0"),
        ("255.255.255.255", "255.255.255.0"),
        ("0.0.0.0", "0.0.0.0"),
        (" 8.8.8.8 ", "8.8.8.0"),
        ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::"),
        ("2001:DB8::1", "2001:db8::"),
        ("::1", "::"),
        ("::ffff:10.1.2.3", "10.1.2.0"),
        ("256.1.1.1", None),
        ("1.2.3", None),
        ("01.2.3.4", None),  # a leading zero is not an address (it once meant octal)
        ("fe80::1%eth0", "fe80::"),  # the zone says which interface, nothing about who
        ("", None),
    ],
)
def test_single_addresses(ip, kept):
    assert anonymise_ip(ip) == kept


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="anonymised, full, none"):
        anonymise_ips(IPS, "hashed")

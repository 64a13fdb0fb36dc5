"""What the store keeps of an IP address (the ``IP_PRIVACY`` setting).

``anonymised`` keeps the network, not the host: IPv4 /24 (``81.2.69.0``), IPv6
/48 (``2a02:c7f:7000::``), enough for a rough location and abuse handling, not
enough to single out a household. An IPv4 address written in IPv6 form
(``::ffff:81.2.69.142``) is treated as the IPv4 address it is. ``full`` keeps
it as it came; ``none`` keeps nothing. A value that is not an IP address is
dropped rather than stored as it is.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .distinct import Encoded, to_series

IP_PRIVACY_MODES = ("anonymised", "full", "none")
IPV4_PREFIX = 24
IPV6_PREFIX = 48
_OCTET = r"(0|[1-9][0-9]?|1[0-9][0-9]|2[0-4][0-9]|25[0-5])"
_IPV4_MAPPED = bytes(10) + b"\xff\xff"
DOTTED_QUAD = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"


def anonymise_ip(ip: str) -> str | None:
    """One address cut to its network (IPv4 /24, IPv6 /48); None if it is not an address."""
    octets = ip.split(".")
    if len(octets) == 4 and all(map(_is_octet, octets)):  # a plain dotted quad: cut it as text
        return f"{octets[0]}.{octets[1]}.{octets[2]}.0"
    text = ip.strip()
    try:  # the C parser: five times quicker than ipaddress, and agrees with it but on zone ids
        packed = socket.inet_pton(socket.AF_INET6, text)
    except OSError:
        return _anonymise_carefully(text)
    if packed[:12] == _IPV4_MAPPED:
        return f"{packed[12]}.{packed[13]}.{packed[14]}.0"
    groups = list(struct.unpack("!3H", packed[:6]))  # the /48; every later group is zero
    while groups and groups[-1] == 0:
        groups.pop()
    return ":".join(f"{group:x}" for group in groups) + "::"


def _anonymise_carefully(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.version == 4:
        return str(ipaddress.IPv4Address(int(address) >> (32 - IPV4_PREFIX) << (32 - IPV4_PREFIX)))
    return str(ipaddress.IPv6Address(int(address) >> (128 - IPV6_PREFIX) << (128 - IPV6_PREFIX)))


def _is_octet(text: str) -> bool:
    """0-255 written plainly (no sign, space or leading zero)."""
    return text.isascii() and text.isdigit() and (text == "0" or (text[0] != "0" and int(text) <= 255))


def anonymise_ips(ips: pd.Series, mode: str) -> pd.Series:
    """The column to store for ``ips`` under ``mode`` (anonymised, full or none); same index.

    Anonymised text comes out as it came: object in, object out; Arrow-backed in, "str" out.
    Plain dotted quads are cut with Arrow; anything else, once per distinct value, in Python.
    """
    if mode == "full":
        return ips
    if mode == "none":
        return pd.Series([None] * len(ips), index=ips.index, dtype=object)
    if mode != "anonymised":
        raise ValueError(f"IP privacy mode must be one of {', '.join(IP_PRIVACY_MODES)}, got {mode!r}")
    addresses = Encoded.of(ips)
    distinct = addresses.values  # a visitor's address repeats over their hits: cut each one once
    quad = pc.fill_null(pc.match_substring_regex(distinct, DOTTED_QUAD), False)
    cut = pc.if_else(
        quad, pc.replace_substring_regex(distinct, r"[0-9]+$", "0"), pa.scalar(None, distinct.type)
    )
    other = pc.invert(quad)
    if pc.any(other).as_py():
        answers = [anonymise_ip(ip) for ip in distinct.filter(other).to_pylist()]
        cut = pc.replace_with_mask(cut, other, pa.array(answers, type=distinct.type))
    kept = cut.take(pa.array(addresses.codes, mask=addresses.codes < 0))
    if ips.dtype == object:
        return pd.Series(kept.to_numpy(zero_copy_only=False), index=ips.index, dtype=object)
    return to_series(kept, ips.index)

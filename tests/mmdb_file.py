"""Write a small MaxMind DB (City layout) for tests: a GeoIP database that places addresses our way.

The format (MaxMind DB 2.0): a binary search tree over the address bits
(IPv6 tree, IPv4 under ::/96, 24-bit records), 16 zero bytes, the data
section, then the metadata marker and map. Typed integers matter: the C
reader checks the metadata's types.
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path
from typing import Any

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"


class Unsigned(int):
    """An integer with the MaxMind type to write it as (5: uint16, 6: uint32, 9: uint64)."""

    kind = 6


class U16(Unsigned):
    kind = 5


class U32(Unsigned):
    kind = 6


class U64(Unsigned):
    kind = 9


def _control(kind: int, size: int) -> bytes:
    extended = b""
    if kind > 7:
        extended, kind = bytes([kind - 7]), 0
    if size < 29:
        return bytes([kind << 5 | size]) + extended
    if size < 29 + 256:
        return bytes([kind << 5 | 29]) + extended + bytes([size - 29])
    if size < 285 + 65536:
        return bytes([kind << 5 | 30]) + extended + struct.pack(">H", size - 285)
    return bytes([kind << 5 | 31]) + extended + (size - 65821).to_bytes(3, "big")


def encode(value: Any) -> bytes:
    """One value in the MaxMind DB data format."""
    if isinstance(value, bool):
        return _control(14, int(value))
    if isinstance(value, str):
        data = value.encode("utf-8")
        return _control(2, len(data)) + data
    if isinstance(value, float):
        return _control(3, 8) + struct.pack(">d", value)
    if isinstance(value, int):
        kind = value.kind if isinstance(value, Unsigned) else (5 if value < 1 << 16 else 6)
        data = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
        return _control(kind, len(data)) + data
    if isinstance(value, dict):
        return _control(7, len(value)) + b"".join(encode(k) + encode(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return _control(11, len(value)) + b"".join(encode(v) for v in value)
    raise TypeError(f"cannot encode {value!r}")


def city_record(continent: str, country: str, city: str, lat: float, lon: float, zone: str) -> dict:
    return {
        "continent": {"code": continent, "names": {"en": continent}},
        "country": {"iso_code": country, "names": {"en": country}},
        "city": {"names": {"en": city}},
        "location": {"latitude": lat, "longitude": lon, "accuracy_radius": U16(5), "time_zone": zone},
    }


def write_city_database(path: Path, networks: dict[str, dict], *, build_epoch: int = 1_700_000_000) -> Path:
    """A City database where each network (``"81.2.69.0/24"``, IPv6 too) has the given record."""
    nodes: list[list] = [[None, None]]
    data = b""
    for network, record in networks.items():
        net = ipaddress.ip_network(network)
        # As a 128-bit number; an IPv4 network sits under ::/96, so only its length moves.
        value = int(net.network_address)
        length = net.prefixlen + (96 if net.version == 4 else 0)
        offset = len(data)
        data += encode(record)
        node = 0
        for depth in range(length):
            bit = (value >> (127 - depth)) & 1
            if depth == length - 1:
                nodes[node][bit] = ("data", offset)
                break
            child = nodes[node][bit]
            if child is None:
                nodes.append([None, None])
                child = nodes[node][bit] = ("node", len(nodes) - 1)
            node = child[1]
    count = len(nodes)

    def record_value(item) -> int:
        if item is None:
            return count
        kind, number = item
        return number if kind == "node" else count + 16 + number

    tree = b"".join(
        record_value(left).to_bytes(3, "big") + record_value(right).to_bytes(3, "big")
        for left, right in nodes
    )
    metadata = {
        "node_count": U32(count),
        "record_size": U16(24),
        "ip_version": U16(6),
        "database_type": "GeoIP2-City-Test",
        "languages": ["en"],
        "binary_format_major_version": U16(2),
        "binary_format_minor_version": U16(0),
        "build_epoch": U64(build_epoch),
        "description": {"en": "crumby test database"},
    }
    path.write_bytes(tree + bytes(16) + data + METADATA_MARKER + encode(metadata))
    return path

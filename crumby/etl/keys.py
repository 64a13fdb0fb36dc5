"""Integer keys of text ids (visitor, visit, IP): distinct counts and joins on 64 bits, not on text.

A key is the first 8 bytes of the id's BLAKE2b hash, as a signed integer:
the same on every run, machine and Python, so that a visit loaded in two
runs has one key, and the same in ``visits``, ``events`` and ``sessions``.
Two ids share a key with a chance of 1 in 2^64 (about 5 in 10^20) per pair:
among 10 million ids, about 3 in a million stores hold such a pair; among a
billion, about one store in 40 (two visitors or visits then count as one).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# The keys of a hit table's rows, and the id each is made from.
KEY_OF = {"visitor_key": "visitor_id", "visit_key": "session_id"}


def id_keys(ids) -> pa.Array:
    """The key of each id (null stays null); each distinct id is hashed once."""
    encoded = pc.dictionary_encode(pa.chunked_array([ids]) if isinstance(ids, pa.Array) else ids)
    encoded = encoded.combine_chunks() if isinstance(encoded, pa.ChunkedArray) else encoded
    hash_of = hashlib.blake2b
    distinct = encoded.dictionary.cast(pa.large_binary()).to_pylist()  # UTF-8 bytes, as id_key hashes
    digests = b"".join([hash_of(value, digest_size=8).digest() for value in distinct])
    keys = pa.array(np.frombuffer(digests, ">i8").astype(np.int64))
    return keys.take(encoded.indices)


def id_key(value: str) -> int:
    """The key of one id."""
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big", signed=True)

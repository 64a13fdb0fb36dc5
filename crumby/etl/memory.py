"""Which allocator Arrow's buffers come from during a load.

pyarrow's wheels allocate with mimalloc by default, which keeps the pages of
a batch's freed buffers for later: a load of a million hits peaked at 1,045
to 1,085 MiB of RSS. jemalloc, in the same wheels, hands unused pages back
after a short delay: 925 to 955 MiB for the same load, in the same CPU time
(bench/etl.py). ``ARROW_DEFAULT_MEMORY_POOL``, when it is set, still decides.
"""

from __future__ import annotations

import os
from functools import cache

import pyarrow as pa


@cache
def use_returning_pool() -> str:
    """Arrow's allocations from jemalloc, where the wheel has it and the environment names no other
    pool; returns the name of the pool in use."""
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        except NotImplementedError:  # a build without jemalloc: its default stays
            pass
    return pa.default_memory_pool().backend_name

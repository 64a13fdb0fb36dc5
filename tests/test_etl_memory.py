"""A load's Arrow buffers come from jemalloc, which gives freed pages back (crumby/etl/memory.py)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from crumby.etl import memory
from crumby.etl.pipeline import run
from tests.conftest import make_settings


@pytest.fixture
def system_pool(monkeypatch):
    """Arrow's default pool set to the system allocator, as no load has set it; put back after."""
    before = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    memory.use_returning_pool.cache_clear()
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    yield
    pa.set_memory_pool(before)
    memory.use_returning_pool.cache_clear()


def test_a_load_takes_arrows_memory_from_jemalloc(tmp_path, system_pool):
    (tmp_path / "logs").mkdir()
    settings = make_settings(tmp_path, LOG_DIR=str(tmp_path / "logs"))
    run(settings, dry_run=True)
    assert pa.default_memory_pool().backend_name == "jemalloc"


def test_a_pool_named_in_the_environment_is_kept(monkeypatch, system_pool):
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
    assert memory.use_returning_pool() == "system"

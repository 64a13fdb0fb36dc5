"""A gzipped raw log in LOG_DIR is decompressed to be loaded and measured, not on every later run:
real files, the real ETL into DuckDB, gzip's opens counted."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from crumby.etl.compressed import FILE_NAME, PlainLengths
from crumby.etl.extract import iter_log_files
from crumby.etl.pipeline import run
from crumby.store.engine import create_engine
from tests.conftest import make_settings
from tests.test_etl_parse_unexpected import T0, hit_line


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, RAW_LOG_RETENTION_DAYS=0)  # logs of March kept as written


def lines(first: int, count: int) -> bytes:
    return b"".join(hit_line(n) for n in range(first, first + count))


def write_gzipped(settings, data: bytes, name: str = f"hits-{T0:%Y%m%d%H}-w1.jsonl.gz") -> Path:
    folder = Path(settings["LOG_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with gzip.open(path, "wb") as handle:
        handle.write(data)
    return path


def stored(settings) -> int:
    engine = create_engine(settings["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT COUNT(*) FROM visits")).scalar()
    finally:
        engine.dispose()


@pytest.fixture
def opens(monkeypatch):
    """Every gzip.open from here on, by path."""
    opened: list[str] = []
    original = gzip.open

    def counting(path, *args, **kwargs):
        opened.append(str(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(gzip, "open", counting)
    return opened


def test_a_loaded_gzipped_log_is_not_decompressed_by_the_runs_after(settings, enricher, opens):
    path = write_gzipped(settings, lines(0, 50))

    assert run(settings, enricher=enricher).hits == 50
    assert str(path) in opens
    record = json.loads((Path(settings["DATA_DIR"]) / FILE_NAME).read_text())
    assert record == {
        path.name.removesuffix(".gz"): [path.stat().st_size, path.stat().st_mtime_ns, len(lines(0, 50))]
    }

    opens.clear()
    report = run(settings, enricher=enricher)
    assert (report.hits, report.files) == (0, 0)
    assert opens == [], "nothing new, known without decompressing the file"
    assert stored(settings) == 50


def test_a_gzipped_log_that_changed_is_read_again_from_its_checkpoint(settings, enricher, opens):
    path = write_gzipped(settings, lines(0, 50))
    assert run(settings, enricher=enricher).hits == 50

    write_gzipped(settings, lines(0, 70))  # the file written again, longer: another size and time
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert run(settings, enricher=enricher).hits == 20
    assert stored(settings) == 70

    opens.clear()
    assert run(settings, enricher=enricher).hits == 0
    assert opens == []


@pytest.mark.parametrize("record", [b"not json", b"[1, 2]", b'{"hits-x.jsonl": [1, "2", 3]}', b"\xff\xfe"])
def test_an_unreadable_record_only_costs_a_decompression(settings, enricher, opens, record):
    path = write_gzipped(settings, lines(0, 30))
    assert run(settings, enricher=enricher).hits == 30
    kept = Path(settings["DATA_DIR"]) / FILE_NAME
    kept.write_bytes(record)

    opens.clear()
    assert run(settings, enricher=enricher).hits == 0
    assert opens == [str(path)], "measured once again"
    assert stored(settings) == 30
    assert json.loads(kept.read_text())[path.name.removesuffix(".gz")][2] == len(lines(0, 30))


def test_a_dry_run_keeps_no_record(settings, enricher):
    write_gzipped(settings, lines(0, 10))
    assert run(settings, enricher=enricher).hits == 10
    kept = Path(settings["DATA_DIR"]) / FILE_NAME
    kept.unlink()

    assert run(settings, enricher=enricher, dry_run=True).hits == 0
    assert not kept.exists()


def test_a_damaged_gzipped_log_does_not_stop_the_run(settings, enricher):
    """A .gz whose deflate data is damaged after it was loaded: measuring it fails, the run goes on."""
    path = write_gzipped(settings, lines(0, 400))
    assert run(settings, enricher=enricher).hits == 400
    (Path(settings["DATA_DIR"]) / FILE_NAME).unlink()
    data = bytearray(path.read_bytes())
    start = data.index(b"\0", 10) + 1  # past the header and the file name gzip.open writes in it
    data[start : start + 4] = b"\xff\xff\xff\xff"  # the first deflate block's header: "invalid block type"
    path.write_bytes(bytes(data))

    report = run(settings, enricher=enricher)
    assert report.hits == 0
    assert stored(settings) == 400


@pytest.mark.parametrize("tail", [b"", b'{"v":1,"t":"visit","torn'], ids=["whole", "torn last line"])
def test_a_new_gzipped_log_is_decompressed_once_by_the_run_that_loads_it(settings, enricher, opens, tail):
    """Its reading learns its length: the run's next pass does not decompress it again to measure it.
    A torn last line (set aside) counts in the length, as in its checkpoint."""
    path = write_gzipped(settings, lines(0, 40) + tail)
    opens.clear()

    report = run(settings, enricher=enricher)
    assert (report.hits, report.rejected) == (40, 1 if tail else 0)
    assert opens == [str(path)]
    record = json.loads((Path(settings["DATA_DIR"]) / FILE_NAME).read_text())
    assert record[path.name.removesuffix(".gz")] == [
        path.stat().st_size,
        path.stat().st_mtime_ns,
        len(lines(0, 40) + tail),
    ]

    opens.clear()
    assert run(settings, enricher=enricher).hits == 0
    assert opens == []


def test_a_length_read_while_the_file_changed_is_not_kept(settings):
    """Its reader may have read the file before it changed: the next ask measures it instead."""
    path = write_gzipped(settings, lines(0, 20))
    log_file = next(iter_log_files(settings["LOG_DIR"]))
    lengths = PlainLengths(settings["DATA_DIR"])
    learn = lengths.learner(log_file)
    write_gzipped(settings, lines(0, 30))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))

    learn(len(lines(0, 20)))
    assert lengths.asked == {}
    assert lengths.of(log_file) == len(lines(0, 30))

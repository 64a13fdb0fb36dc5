"""One visitor's hits in one run make one session, however the run's batches fall.

Two writers' files of the same hour hold a visitor's hits in turn, twenty
minutes apart: each file alone has gaps of forty minutes (past the thirty
minute timeout), and only both files together make one session. With small
batches each file is a batch of its own; the sessions must still be those of
one batch holding everything.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from crumby.etl.pipeline import run
from crumby.hits import make_hit, serialise
from tests.conftest import make_settings
from tests.etl_corpus import SMALL_BATCH, log_path, query, recent_start

VISITORS = 30
WRITERS = ("w1", "w2")
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
ONE_BATCH = 1 << 30
EVERY_FILE = 1  # a batch ends after each file's first chunk: every file (of under 128 KiB) is a batch


def write_interleaved(folder: Path) -> int:
    """Each visitor's hits at 0, 20, 40 and 55 minutes, one file of the hour then the other; the count."""
    folder.mkdir(parents=True, exist_ok=True)
    hour = recent_start() + timedelta(hours=10)
    files: dict[Path, list[tuple]] = {}
    for visitor in range(VISITORS):
        for turn, minutes in enumerate((0, 20, 40, 55)):
            when = hour + timedelta(minutes=minutes, seconds=visitor)
            writer = WRITERS[(turn + visitor) % 2]
            fields = {
                "t": "visit",
                "cid": f"v{visitor:03d}",
                "dl": f"https://example.com/p{turn}",
                "dt": "Page",
            }
            ts = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            hit = make_hit(
                fields,
                ip="81.2.69.142",
                ua=BROWSER,
                referer="",
                lang="en",
                ts=ts,
                hit_id=f"h{visitor:03d}{turn}",
            )
            files.setdefault(log_path(folder, when, writer), []).append((when, serialise(hit)))
    for path, lines in files.items():
        with open(path, "ab") as handle:
            handle.write(b"".join(line for _, line in sorted(lines)))
    return VISITORS * 4


def load(tmp_path: Path, url: str, batch_bytes: int) -> None:
    logs = tmp_path / "logs"
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=url, LOG_DIR=str(logs), SESSION_TIMEOUT=30)
    report = run(settings, batch_bytes=batch_bytes)
    assert report.hits == VISITORS * 4, report.summary()


@pytest.mark.parametrize("batch_bytes", [EVERY_FILE, SMALL_BATCH, ONE_BATCH])
def test_two_writers_interleaved_hits_make_one_session_per_visitor(tmp_path, store_url, batch_bytes):
    assert_one_session_per_visitor(tmp_path, store_url, batch_bytes)


def test_on_clickhouse_too(tmp_path, clickhouse_url):
    assert_one_session_per_visitor(tmp_path, clickhouse_url, EVERY_FILE, sessions="sessions FINAL")


def assert_one_session_per_visitor(tmp_path: Path, url: str, batch_bytes: int, sessions: str = "sessions"):
    write_interleaved(tmp_path / "logs")
    assert len(list((tmp_path / "logs").iterdir())) == 2, "two files of one hour"
    load(tmp_path, url, batch_bytes)
    per_visitor = query(
        url, "SELECT visitor_id, COUNT(DISTINCT session_id), MIN(session_id) FROM visits GROUP BY visitor_id"
    )
    assert len(per_visitor) == VISITORS
    assert {row[1] for row in per_visitor} == {1}, [row for row in per_visitor if row[1] != 1][:5]
    # a session's id is the hit id of its first hit, whichever file that came from
    assert sorted(row[2] for row in per_visitor) == [f"h{visitor:03d}0" for visitor in range(VISITORS)]
    (rows, pageviews) = query(url, f"SELECT COUNT(*), SUM(pageviews) FROM {sessions}")[0]
    assert (rows, int(pageviews)) == (VISITORS, VISITORS * 4)


def test_small_batches_give_the_rows_of_one_batch(tmp_path, store_url):
    write_interleaved(tmp_path / "logs")
    load(tmp_path, store_url, EVERY_FILE)
    one = tmp_path / "one"
    one.mkdir()
    (one / "logs").symlink_to(tmp_path / "logs")
    url = f"duckdb:///{one / 'store.duckdb'}"
    load(one, url, ONE_BATCH)
    assert _visits_and_sessions(store_url) == _visits_and_sessions(url)


def _visits_and_sessions(url: str) -> tuple[list[tuple], list[tuple]]:
    """Each page view's session, and each visit's figures (in values every backend gives back alike)."""
    return (
        query(url, "SELECT hit_id, session_id FROM visits ORDER BY hit_id"),
        query(
            url,
            "SELECT session_id, visitor_id, pageviews, duration, entry_page, exit_page FROM sessions "
            "ORDER BY session_id",
        ),
    )


def test_an_hour_of_compressed_files_is_read_whole_only_within_the_bound(tmp_path, monkeypatch):
    """The bound on an hour read whole counts a compressed file's bytes as read, not as stored: JSON
    lines shrink tenfold and more, and a batch holds them read."""
    import gzip

    from crumby.etl import pipeline

    write_interleaved(tmp_path / "logs")
    plain = 0
    for path in list((tmp_path / "logs").iterdir()):
        data = path.read_bytes() * 20  # each visitor's lines again (ids repeat: only sizes matter here)
        plain += len(data)
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as handle:
            handle.write(data)
        path.unlink()
    stored = sum(path.stat().st_size for path in (tmp_path / "logs").iterdir())
    assert stored * 5 < plain
    monkeypatch.setattr(pipeline, "MAX_WHOLE_HOUR_BYTES", plain // 2)  # above the files' stored size
    settings = make_settings(tmp_path, LOG_DIR=str(tmp_path / "logs"))
    run = pipeline._Run(settings, None, True, None, 1 << 12, None)
    batches = [sum(chunk.end - chunk.start for chunk in batch) for batch in run._iter_batches()]
    assert sum(batches) == plain
    assert max(batches) <= plain // 2 + (1 << 16), batches

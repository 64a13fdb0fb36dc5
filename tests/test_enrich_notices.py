"""`crumby etl` tells a person that the bundled GeoIP database is dated, and keeps cron's mail empty."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from crumby.hits import make_hit, serialise, utc_timestamp

NOTICE = "GeoIP: using the GeoLite2-City 2018-07-03 database bundled with crumby"


@pytest.fixture
def etl_env(tmp_path: Path) -> dict[str, str]:
    """A log with two hits from yesterday and the settings to load it into a DuckDB file."""
    logs = tmp_path / "logs"
    logs.mkdir()
    when = datetime.now(timezone.utc) - timedelta(days=1)
    lines = [
        serialise(
            make_hit(
                {"t": "visit", "cid": f"c{n}", "dl": "https://example.com/?utm_source=x"},
                ip="81.2.69.142",
                ua="Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
                referer="https://example.com/",
                lang="en",
                ts=utc_timestamp(when),
            )
        )
        for n in range(2)
    ]
    (logs / f"hits-{when:%Y%m%d%H}-w1.jsonl").write_bytes(b"".join(lines))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(tmp_path)}
    env.update(
        CRUMBY_DATA_DIR=str(tmp_path / "data"),
        CRUMBY_LOG_DIR=str(logs),
        CRUMBY_SQLALCHEMY_DATABASE_URI=f"duckdb:///{tmp_path / 'store.duckdb'}",
        CRUMBY_SECRET_KEY="test-secret",
    )
    return env


def _etl(env: dict[str, str], *options: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "crumby", "etl", *options]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def _etl_on_a_terminal(env: dict[str, str], *options: str) -> tuple[int, str]:
    """Run with stdout and stderr on a pseudo-terminal, as someone typing the command would."""
    leader, follower = pty.openpty()
    command = [sys.executable, "-m", "crumby", "etl", *options]
    process = subprocess.Popen(command, env=env, stdout=follower, stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    return process.wait(timeout=120), output.decode("utf-8", "replace")


def test_from_cron_a_run_prints_nothing(etl_env):
    done = _etl(etl_env)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


def test_verbose_shows_the_notice_beside_the_summary(etl_env):
    done = _etl(etl_env, "-v")
    assert done.returncode == 0, done.stderr
    assert NOTICE in done.stderr and "crumby geoip" in done.stderr
    assert "2 hits loaded" in done.stdout


def test_on_a_terminal_the_notice_shows_and_quiet_hides_it(etl_env):
    status, output = _etl_on_a_terminal(etl_env)
    assert status == 0, output
    assert NOTICE in output
    status, output = _etl_on_a_terminal(etl_env, "-q")
    assert status == 0, output
    assert NOTICE not in output


def test_a_run_with_nothing_new_makes_no_enricher(etl_env):
    """Cron's frequent runs that find nothing new skip the seconds of compiling the user-agent lists
    and mapping the GeoIP file: the notice, which making them gives, is absent then."""
    first = _etl(etl_env, "-v")
    assert first.returncode == 0 and NOTICE in first.stderr
    again = _etl(etl_env, "-v")
    assert again.returncode == 0, again.stderr
    assert "0 hits loaded" in again.stdout
    assert NOTICE not in again.stderr

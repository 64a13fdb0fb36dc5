"""An operator's mistake ends `crumby` in one line that says what to do, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.etl_corpus import append_hits, corpus, etl_env, recent_start, run_etl

# The tests run as root, whom file modes do not stop: these commands run without that power.
AS_PLAIN_USER = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner")


def assert_one_line(process: subprocess.CompletedProcess, *words: str) -> str:
    assert process.returncode == 1, (process.stdout, process.stderr)
    message = process.stderr.strip()
    assert "Traceback" not in message and len(message.splitlines()) == 1, message
    assert message.startswith("Error: "), message
    for word in words:
        assert word in message, message
    return message


def _logs(tmp_path: Path, count: int = 20) -> Path:
    logs = tmp_path / "logs"
    append_hits(logs, corpus(count, recent_start(1)))
    return logs


def test_a_duckdb_store_in_a_missing_folder(tmp_path):
    url = f"duckdb:///{tmp_path / 'missing' / 'store.duckdb'}"
    process = run_etl(etl_env(tmp_path, url, _logs(tmp_path)))
    assert_one_line(process, f"mkdir -p {tmp_path / 'missing'}")
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("url", ["not a url", "postgresql://user:secret@host:port/db", "://"])
def test_an_unreadable_store_url(tmp_path, url):
    process = run_etl(etl_env(tmp_path, url, _logs(tmp_path)))
    message = assert_one_line(process, "SQLALCHEMY_DATABASE_URI")
    assert "secret" not in message


@pytest.mark.parametrize("url", ["oracle://scott:tiger@db/orcl", "mssql://h/d", "firebird://h/d"])
def test_a_backend_crumby_does_not_support(tmp_path, url):
    process = run_etl(etl_env(tmp_path, url, _logs(tmp_path)))
    message = assert_one_line(process, "crumby does not support the", "duckdb:///", "postgresql://")
    assert "tiger" not in message


def test_init_into_a_missing_folder(tmp_path):
    target = tmp_path / "etc" / "crumby" / "crumby.cfg"
    process = subprocess.run(
        [sys.executable, "-m", "crumby", "init", str(target)], capture_output=True, text=True, timeout=60
    )
    assert_one_line(process, f"mkdir -p {target.parent}")
    assert not target.parent.exists()


def test_a_duckdb_store_folder_turned_read_only(tmp_path):
    folder = tmp_path / "store"
    folder.mkdir()
    url = f"duckdb:///{folder / 'store.duckdb'}"
    logs = _logs(tmp_path)
    env = etl_env(tmp_path, url, logs)
    assert run_etl(env).returncode == 0
    append_hits(logs, corpus(20, recent_start(1) + timedelta(hours=3), seed=8))
    os.chmod(folder, 0o555)
    try:
        process = run_etl(env, wrapper=AS_PLAIN_USER)
    finally:
        os.chmod(folder, 0o755)
    assert_one_line(process, str(folder))
    assert run_etl(env).returncode == 0  # write permission back: the run loads what waited


def test_reprocess_on_a_terminal_shows_its_progress(tmp_path):
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    env = etl_env(tmp_path, url, _logs(tmp_path, 200))
    assert run_etl(env).returncode == 0
    day = recent_start(1).date()
    command = f"{sys.executable} -m crumby etl --reprocess {day} {day + timedelta(days=1)}"
    # `script` gives the command a terminal, as an operator's shell would
    process = subprocess.run(
        ["script", "-qec", command, "/dev/null"], env=env, capture_output=True, text=True, timeout=120
    )
    assert process.returncode == 0, process.stdout
    assert "Traceback" not in process.stdout
    assert "crumby etl" in process.stdout and "100%" in process.stdout  # the progress bar, to its end
    assert "200 hits reprocessed" in process.stdout


def test_etl_on_a_terminal_shows_its_progress(tmp_path):
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    env = etl_env(tmp_path, url, _logs(tmp_path, 50))
    process = subprocess.run(
        ["script", "-qec", f"{sys.executable} -m crumby etl", "/dev/null"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0 and "Traceback" not in process.stdout, process.stdout
    assert "50 hits loaded" in process.stdout

"""`crumby demo`: made-up traffic through the real collector and ETL, safe to run again."""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb

from crumby.auth.db import open_auth_store
from crumby.auth.users import authenticate
from crumby.demo.run import run_demo


def table_counts(folder) -> dict:
    with duckdb.connect(str(folder / "crumby.duckdb"), read_only=True) as conn:
        return {
            "visits": conn.execute("select count(*) from visits").fetchone()[0],
            "events": conn.execute("select count(*) from events").fetchone()[0],
            "bots": conn.execute("select count(*) from visits where is_bot").fetchone()[0],
            "countries": conn.execute("select count(distinct country) from visits").fetchone()[0],
            "devices": conn.execute("select count(distinct device) from visits").fetchone()[0],
            "channels": conn.execute("select count(distinct channel) from visits").fetchone()[0],
            "campaigns": conn.execute("select count(distinct utm_campaign) from visits").fetchone()[0],
        }


def test_demo_loads_varied_traffic_once_and_makes_a_working_login(tmp_path):
    folder = tmp_path / "demo"
    first = run_demo(folder, days=14)
    counts = table_counts(folder)
    assert first.hits_sent == counts["visits"] + counts["events"] > 500
    assert first.etl_report.rejected == 0
    assert counts["bots"] > 0 and counts["events"] > 0
    assert counts["countries"] >= 10 and counts["devices"] >= 3
    assert counts["channels"] >= 5 and counts["campaigns"] >= 3
    assert list((folder / "logs").glob("hits-*.jsonl")), "the hits went through the raw log"

    second = run_demo(folder, days=14)
    assert second.hits_sent == 0 and second.etl_report.hits == 0
    assert table_counts(folder) == counts
    assert second.password != first.password
    store = open_auth_store(second.settings)
    try:
        assert authenticate(store, second.username, second.password) is not None
        assert authenticate(store, second.username, first.password) is None
    finally:
        store.close()


def test_demo_command_without_serving_prints_the_folder_and_login(tmp_path):
    folder = tmp_path / "demo"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "crumby", "demo", "--folder", str(folder), "--days", "3", "--no-serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert str(folder) in done.stdout
    assert "password" in done.stdout and "hits loaded" in done.stdout
    query = subprocess.run(
        [sys.executable, "-m", "crumby", "query", "summary", "--days", "3", "--format", "json"],
        env=dict(env, CRUMBY_SQLALCHEMY_DATABASE_URI=f"duckdb:///{folder / 'crumby.duckdb'}"),
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(query.stdout)
    row = dict(zip(answer["columns"], answer["data"][0], strict=True))
    assert row["visitors"] > 0

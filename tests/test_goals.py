"""Goals: `crumby goal add|list|remove` in the auth database, and the Goals report through the API."""

from __future__ import annotations

import math
import os
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_settings
from report_fixture import RANGE, build_rows, load_fixture

from crumby.auth import add_user, open_auth_store
from crumby.auth.tokens import create_token
from crumby.cli import cli
from crumby.serve.app import create_app
from crumby.serve.auth import close_auth_store
from crumby.store.readonly import close_readers


@pytest.fixture
def setup(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith("CRUMBY_"):
            monkeypatch.delenv(key)
    store = load_fixture(f"duckdb:///{tmp_path / 'store.duckdb'}")
    monkeypatch.setenv("CRUMBY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRUMBY_SQLALCHEMY_DATABASE_URI", store)
    yield tmp_path, store
    close_readers()


def half_up(percent: float) -> float:
    return math.floor(percent * 10 + 0.5) / 10


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_goals_from_the_cli_to_the_report(setup):
    tmp_path, store = setup
    assert "No goals yet" in run("goal", "list").output
    assert run("goal", "add", "signup", "--event", "signup").exit_code == 0
    assert run("goal", "add", "docs", "--page", "/docs/*").exit_code == 0
    assert run("goal", "add", "odd", "--page", "/a_b%[?]*").exit_code == 0
    taken = run("goal", "add", "docs", "--page", "/x")
    assert taken.exit_code == 1 and "there is a goal named 'docs'" in taken.output
    both = run("goal", "add", "x", "--page", "/x", "--event", "y")
    assert both.exit_code == 2 and "either --event" in both.output
    assert run("goal", "add", "bad", "--page", "pricing").exit_code == 1
    assert run("goal", "list").output.splitlines() == [
        "docs\tpage\t/docs/*",
        "odd\tpage\t/a_b%[?]*",
        "signup\tevent\tsignup",
    ]

    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store)
    auth = open_auth_store(settings)
    token = create_token(auth, "goals")
    add_user(auth, "alice", "alice-password")
    auth.close()
    app = create_app(settings)
    try:
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/private/goals").status_code == 401
        answer = client.get("/api/private/goals", query_string=RANGE, headers=headers).get_json()
        assert answer["columns"] == ["goal", "visitors", "conversions", "conversion_rate"]
        rows = {row[0]: row[1:] for row in answer["data"]}

        visits, events, _ = build_rows()
        human = [r for r in visits if not r["is_bot"]]
        everyone = len({r["visitor_id"] for r in human})
        docs = [r for r in human if r["page_path"].startswith("/docs/")]
        docs_visitors = len({r["visitor_id"] for r in docs})
        assert rows["docs"] == [docs_visitors, len(docs), half_up(docs_visitors * 100 / everyone)]
        signups = [e for e in events if not e["is_bot"] and e["name"] == "signup"]
        assert rows["signup"][:2] == [len({e["visitor_id"] for e in signups}), len(signups)]
        assert rows["odd"] == [0, 0, 0.0]  # % _ [ ? are plain characters in a page pattern

        # a segment: the conversion rate among the German visitors
        german = client.get(
            "/api/private/goals", query_string={**RANGE, "f": "country:is:DE"}, headers=headers
        ).get_json()
        de = [r for r in human if r["country"] == "DE"]
        de_docs = {r["visitor_id"] for r in de if r["page_path"].startswith("/docs/")}
        rate = half_up(len(de_docs) * 100 / len({r["visitor_id"] for r in de}))
        assert {row[0]: row[1:] for row in german["data"]}["docs"] == [
            len(de_docs),
            sum(1 for r in de if r["page_path"].startswith("/docs/")),
            rate,
        ]

        assert run("goal", "remove", "docs").exit_code == 0
        assert "no goal named 'docs'" in run("goal", "remove", "docs").output
        again = client.get("/api/private/goals", query_string=RANGE, headers=headers).get_json()
        assert sorted(row[0] for row in again["data"]) == ["odd", "signup"]
    finally:
        close_auth_store(app)


def test_the_readme_goal_commands_run_as_written(setup):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("**Goals**", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line.strip()]
    assert len(lines) == 4 and all(line.startswith("crumby goal ") for line in lines)
    for line in lines:
        answer = run(*shlex.split(line)[1:])
        assert answer.exit_code == 0, (line, answer.output)
    assert run("goal", "list").output.splitlines() == ["signup\tevent\tsignup"]

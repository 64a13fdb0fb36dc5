"""`crumby adduser / deluser / users / token create|list|revoke` against a real auth database."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_settings

from crumby.auth import authenticate, open_auth_store, token_is_valid
from crumby.cli import cli


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Invoke crumby with settings rooted in tmp_path (a DuckDB store, so auth lives in auth.sqlite)."""
    for key in list(os.environ):
        if key.startswith("CRUMBY_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CRUMBY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRUMBY_LOG_DIR", str(tmp_path / "logs"))
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


def _store(tmp_path):
    return open_auth_store(make_settings(tmp_path))


def test_adduser_users_deluser(run, tmp_path):
    assert "No users yet" in run("users").output
    result = run("adduser", "alice", "alice-password")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "auth.sqlite").exists()
    prompted = run("adduser", "bob", input="bob-password\nbob-password\n")
    assert prompted.exit_code == 0, prompted.output
    assert "bob-password" not in prompted.output  # hidden while typed
    listed = run("users").output
    assert "alice" in listed and "bob" in listed
    store = _store(tmp_path)
    try:
        assert authenticate(store, "bob", "bob-password") is not None
    finally:
        store.close()
    taken = run("adduser", "alice", "another-password")
    assert taken.exit_code == 1 and "exists" in taken.output
    assert run("deluser", "alice").exit_code == 0
    assert "alice" not in run("users").output
    missing = run("deluser", "alice")
    assert missing.exit_code == 1 and "no user 'alice'" in missing.output


def test_adduser_refuses_bad_input(run):
    mismatch = run("adduser", "carol", input="one-password\ntwo-password\none-password\none-password\n")
    assert mismatch.exit_code == 0 and "do not match" in mismatch.output
    short = run("adduser", "dave", "short")
    assert short.exit_code == 1 and "at least 8" in short.output
    bad_name = run("adduser", "bad name!", "long-enough")
    assert bad_name.exit_code == 1 and "not allowed" in bad_name.output


def test_token_create_list_revoke(run, tmp_path):
    created = run("token", "create", "grafana")
    assert created.exit_code == 0
    token = created.stdout.strip()
    assert token.startswith("crumby_") and len(token) > 40
    listed = run("token", "list").output
    assert "grafana" in listed and "active" in listed and "never used" in listed
    assert token not in listed  # shown once, never again
    key_id = token.split("_")[1]
    store = _store(tmp_path)
    try:
        assert token_is_valid(store, token)
        assert "never used" not in run("token", "list").output
        assert run("token", "revoke", key_id).exit_code == 0
        assert not token_is_valid(store, token)
        assert "revoked" in run("token", "list").output
        again = run("token", "revoke", key_id)
        assert again.exit_code == 1 and "no active token" in again.output
    finally:
        store.close()


def test_the_readme_commands_run_as_written(run):
    """The command block of the README's "Users and API tokens" section, line by line."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Users and API tokens", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
    assert len(lines) == 7 and all(line.startswith("crumby ") for line in lines)
    for line in lines:
        args = shlex.split(line)[1:]
        answer = run(*args, input="alice-password\nalice-password\n")
        assert answer.exit_code == 0, f"{line}: {answer.output}"
    assert "No users yet" in run("users").output
    assert "revoked" in run("token", "list").output


def test_passwd_changes_the_password_and_ends_the_users_sessions(run, tmp_path):
    from datetime import timedelta

    from crumby.auth import session_is_live, start_session

    assert run("adduser", "carol", "carol-password").exit_code == 0
    store = _store(tmp_path)
    try:
        carol = authenticate(store, "carol", "carol-password")
        sid = start_session(store, carol, timedelta(hours=1))
        assert session_is_live(store, sid, "carol", timedelta(hours=1))
        changed = run("passwd", "carol", input="carol-new-password\ncarol-new-password\n")
        assert changed.exit_code == 0, changed.output
        assert "carol-new-password" not in changed.output
        assert authenticate(store, "carol", "carol-password") is None
        assert authenticate(store, "carol", "carol-new-password") == carol
        assert not session_is_live(store, sid, "carol", timedelta(hours=1))
    finally:
        store.close()
    assert "too short" in run("passwd", "carol", "short").output
    missing = run("passwd", "nobody", "long-enough-password")
    assert missing.exit_code == 1 and "no user 'nobody'" in missing.output

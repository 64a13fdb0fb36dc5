"""Settings: order of precedence, typing, one-line errors, and the docs made from the table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from crumby.config import (
    SETTINGS,
    ConfigError,
    ensure_folder,
    load_settings,
    settings_markdown,
    settings_template,
)

ROOT = Path(__file__).resolve().parent.parent
ORIGINAL_KEYS = (
    "DOMAIN",
    "SQLALCHEMY_DATABASE_URI",
    "GEOIP2_DATABASE_NAME",
    "SECRET_KEY",
    "SESSION_COOKIE_SECURE",
    "PROXY_COUNT",
    "CROSSDOMAIN_ORIGIN",
    "SQLALCHEMY_TRACK_MODIFICATIONS",
    "DEBUG",
    "SQLALCHEMY_ECHO",
)


def test_defaults_put_the_store_and_logs_in_the_data_folder(tmp_path):
    settings = load_settings(environ={}, overrides={"DATA_DIR": tmp_path})
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"duckdb:///{tmp_path}/crumby.duckdb"
    assert settings["LOG_DIR"] == tmp_path / "logs"
    assert settings["PROXY_COUNT"] == 0


def test_file_then_environment_then_overrides(tmp_path):
    cfg = tmp_path / "crumby.cfg"
    cfg.write_text("PROXY_COUNT = 2\nDOMAIN = 'stats.example.com'\nDEBUG = True\nMY_OWN = 5\n")
    env = {"CRUMBY_SETTINGS": str(cfg), "CRUMBY_PROXY_COUNT": "3"}
    settings = load_settings(environ=env)
    assert settings["PROXY_COUNT"] == 3  # environment beats the file
    assert settings["DOMAIN"] == "stats.example.com"
    assert settings["DEBUG"] is True
    assert settings["MY_OWN"] == 5  # a user's own key survives
    assert load_settings(environ=env, overrides={"PROXY_COUNT": 1})["PROXY_COUNT"] == 1


def test_every_original_key_is_honoured():
    names = {s.name for s in SETTINGS}
    assert set(ORIGINAL_KEYS) <= names
    env = {
        "CRUMBY_SESSION_COOKIE_SECURE": "yes",
        "CRUMBY_SQLALCHEMY_ECHO": "1",
        "CRUMBY_CROSSDOMAIN_ORIGIN": "https://example.com",
        "CRUMBY_SITES": "Example.com, blog.example.com",
    }
    settings = load_settings(environ=env)
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SQLALCHEMY_ECHO"] is True
    assert settings["CROSSDOMAIN_ORIGIN"] == "https://example.com"
    assert settings["SITES"] == ("Example.com", "blog.example.com")


@pytest.mark.parametrize(
    "env, key",
    [
        ({"CRUMBY_PROXY_COUNT": "two"}, "PROXY_COUNT"),
        ({"CRUMBY_PROXY_COUNT": "-1"}, "PROXY_COUNT"),
        ({"CRUMBY_DEBUG": "perhaps"}, "DEBUG"),
    ],
)
def test_bad_values_name_the_key(env, key):
    with pytest.raises(ConfigError, match=key):
        load_settings(environ=env)


def test_unreadable_settings_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.cfg"
    bad.write_text("PROXY_COUNT = = 1\n")
    with pytest.raises(ConfigError, match="bad.cfg"):
        load_settings(environ={"CRUMBY_SETTINGS": str(bad)})
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(environ={"CRUMBY_SETTINGS": str(tmp_path / "missing.cfg")})


def test_log_dir_that_cannot_be_created_names_the_key(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings = load_settings(environ={"CRUMBY_LOG_DIR": str(blocker / "logs")})
    with pytest.raises(ConfigError, match="LOG_DIR"):
        ensure_folder(settings, "LOG_DIR")


def test_cli_reports_a_bad_value_in_one_line_without_traceback(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CRUMBY_PROXY_COUNT": "x"}
    proc = subprocess.run([sys.executable, "-m", "crumby", "env"], env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "PROXY_COUNT" in proc.stderr


def test_every_setting_is_documented_in_readme_template_and_env(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    template = settings_template()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    shown = subprocess.run(
        [sys.executable, "-m", "crumby", "env"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert settings_markdown() in readme, "README's settings table is stale: run scripts/update_readme.py"
    for setting in SETTINGS:
        assert f"# {setting.name} = " in template
        assert re.search(rf"^{setting.name}\s+=", shown, re.M)


def test_env_masks_secrets(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CRUMBY_SECRET_KEY": "hunter2",
        "CRUMBY_SQLALCHEMY_DATABASE_URI": "postgresql://crumby:s3cret@db/analytics",
    }
    shown = subprocess.run(
        [sys.executable, "-m", "crumby", "env"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "hunter2" not in shown and "s3cret" not in shown
    assert "postgresql://crumby:********@db/analytics" in shown


def test_init_writes_a_template_that_loads(tmp_path):
    target = tmp_path / "crumby.cfg"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run(
        [sys.executable, "-m", "crumby", "init", str(target)], env=env, check=True, capture_output=True
    )
    assert load_settings(environ={"CRUMBY_SETTINGS": str(target)})["PROXY_COUNT"] == 0
    again = subprocess.run(
        [sys.executable, "-m", "crumby", "init", str(target)], env=env, capture_output=True, text=True
    )
    assert again.returncode != 0 and "--force" in again.stderr

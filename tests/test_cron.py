"""cron/: the systemd service and timer and the crontab line run a `crumby etl` the CLI accepts."""

from __future__ import annotations

import configparser
import shlex
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from crumby.cli import cli
from tests.etl_corpus import append_hits, corpus, query, recent_start

ROOT = Path(__file__).resolve().parent.parent
CRON = ROOT / "cron"
ENV_FILE = "/etc/crumby/crumby.env"
INSTALLED_CRUMBY = "/opt/crumby/venv/bin/crumby"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((CRON / name).read_text().replace("\\\n", " "))
    return parser


def assert_cli_accepts(argv: list[str]) -> None:
    """``argv`` (after the program) is `etl` with options crumby accepts, and its --help works."""
    assert argv[0] == "etl", argv
    command = cli.get_command(click.Context(cli), "etl")
    try:
        command.make_context("etl", list(argv[1:]))
    except click.UsageError as exc:
        raise AssertionError(f"crumby rejects {shlex.join(argv)}: {exc}") from None
    result = CliRunner().invoke(cli, [*argv, "--help"], prog_name="crumby")
    assert result.exit_code == 0 and "Usage: crumby etl [OPTIONS]" in result.output, result.output


def crontab_line() -> tuple[list[str], str, str]:
    """(the five time fields, the user, the command) of the one job in cron/crumby-etl.cron."""
    jobs = [
        line
        for line in (CRON / "crumby-etl.cron").read_text().splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(jobs) == 1, jobs
    fields = jobs[0].split(None, 6)
    return fields[:5], fields[5], fields[6]


def test_the_service_is_a_oneshot_crumby_etl_as_the_crumby_user():
    service = unit("crumby-etl.service")["Service"]
    assert service["Type"] == "oneshot"
    assert (service["User"], service["Group"]) == ("crumby", "crumby")
    assert service["EnvironmentFile"] == ENV_FILE
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == INSTALLED_CRUMBY
    assert_cli_accepts(argv[1:])
    # The same paths as the deployment's own units.
    collector = (ROOT / "deployment" / "systemd" / "crumby-collector.service").read_text()
    assert f"EnvironmentFile={ENV_FILE}" in collector and "/opt/crumby/venv/bin/" in collector


def test_the_timer_runs_the_service_often_catches_up_and_spreads_its_start():
    timer = unit("crumby-etl.timer")
    section = timer["Timer"]
    assert section["Persistent"] == "true"
    assert int(section["RandomizedDelaySec"]) > 0
    assert section.get("Unit", "crumby-etl.service") == "crumby-etl.service"
    assert timer["Install"]["WantedBy"] == "timers.target"
    calendar = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=3", section["OnCalendar"]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Next elapse" in calendar and "5:00" in calendar.split("Normalized form:")[1].splitlines()[0]


def test_systemd_finds_nothing_wrong_with_the_units_but_the_uninstalled_crumby(tmp_path):
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "crumby-etl.timer", "crumby-etl.service"],
        cwd=CRON,
        capture_output=True,
        text=True,
    )
    complaints = [
        line for line in (result.stdout + result.stderr).splitlines() if INSTALLED_CRUMBY not in line
    ]
    assert complaints == []


def test_the_crontab_line_runs_crumby_etl_quietly_every_five_minutes(tmp_path):
    times, user, command = crontab_line()
    assert times == ["*/5", "*", "*", "*", "*"] and user == "crumby"
    assert ENV_FILE in command
    last = shlex.split(command.split("&&")[-1])
    assert last[:2] == ["exec", INSTALLED_CRUMBY] and "--quiet" in last
    assert_cli_accepts(last[2:])

    # Run the line's command as cron would, with this machine's paths in place of the installed ones.
    logs, data = tmp_path / "logs", tmp_path / "data"
    append_hits(logs, corpus(50, recent_start(), seed=41))
    store = f"duckdb:///{tmp_path / 'store.duckdb'}"
    env_file = tmp_path / "crumby.env"
    env_file.write_text(
        f"CRUMBY_DATA_DIR={data}\nCRUMBY_LOG_DIR={logs}\nCRUMBY_SQLALCHEMY_DATABASE_URI={store}\n"
    )
    crumby = str(Path(sys.executable).parent / "crumby")  # the console script beside this Python
    local = command.replace(ENV_FILE, str(env_file)).replace(INSTALLED_CRUMBY, crumby)
    done = subprocess.run(
        ["/bin/sh", "-c", local], env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == (b"", b"")  # quiet: cron mails nothing when all is well
    assert (
        query(store, "SELECT COUNT(*) FROM visits")[0][0] + query(store, "SELECT COUNT(*) FROM events")[0][0]
        == 50
    )

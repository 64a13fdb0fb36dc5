"""`crumby query` and `crumby.queries.dataframe`: the API's reports for analysts, and user templates."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_settings
from report_fixture import load_fixture

from crumby.cli import cli
from crumby.queries import UnknownReport, dataframe
from crumby.store.readonly import close_readers

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    url = load_fixture(f"duckdb:///{tmp_path_factory.mktemp('cli') / 'store.duckdb'}")
    yield url
    close_readers()


@pytest.fixture
def run(store, tmp_path, monkeypatch):
    monkeypatch.setenv("CRUMBY_SQLALCHEMY_DATABASE_URI", store)
    monkeypatch.setenv("CRUMBY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CRUMBY_SETTINGS", raising=False)

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_query_prints_a_table(run):
    result = run("query", "pages", "--from", "2024-03-01", "--to", "2024-04-29", "-p", "limit=3")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["site", "page_path", "visitors", "visits", "pageviews"]
    assert len(lines) == 2 + 3 + 1 and "3 rows, 2024-03-01 00:00 to 2024-04-30 00:00 UTC" in lines[-1]


def test_query_csv_and_json_agree(run):
    args = ("query", "private/event_props", "--from", "2024-03-01", "--to", "2024-04-29", "-p", "prop=plan")
    as_json = json.loads(run(*args, "--format", "json").output)
    as_csv = list(csv.reader(io.StringIO(run(*args, "--format", "csv").output)))  # a value may hold a newline
    assert as_json["columns"] == as_csv[0] == ["name", "value", "events", "visitors"]
    assert len(as_json["data"]) == len(as_csv) - 1 > 0
    assert [row[:2] for row in as_json["data"]] == [row[:2] for row in as_csv[1:]]


def test_query_errors_say_what_to_do(run):
    missing = run("query", "private/event_props")
    assert missing.exit_code == 1 and "'prop': is required" in missing.output
    unknown = run("query", "nope")
    assert unknown.exit_code == 1 and "`crumby query` lists them" in unknown.output
    bad = run("query", "pages", "-p", "limit")
    assert bad.exit_code == 1 and "KEY=VALUE" in bad.output
    listing = run("query")
    assert "public/summary" in listing.output and "private/events" in listing.output


def test_dataframe_matches_the_report(store, tmp_path):
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store)
    frame = dataframe("timeseries", settings, from_="2024-04-01", to="2024-04-29")
    assert list(frame.columns) == ["period", "visitors", "visits", "pageviews"]
    assert len(frame) == 29 and frame["pageviews"].sum() > 0
    assert frame.attrs["report"] == "timeseries" and frame.attrs["truncated"] is False
    with pytest.raises(UnknownReport):
        dataframe("nope", settings)


def test_the_readme_template_example_runs(run, tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    section = text.split("## Reports: the API and your own templates", 1)[1]
    example = re.search(r"```sql\n(.*?)```", section, re.S).group(1)
    folder = tmp_path / "mine"
    (folder / "public").mkdir(parents=True)
    (folder / "public" / "section_pages.sql").write_text(example, encoding="utf-8")
    monkeypatch.setenv("CRUMBY_QUERIES_PATH", str(folder))
    args = ("query", "section_pages", "--from", "2024-03-01", "--to", "2024-04-29", "--format", "json")
    body = json.loads(run(*args, "-p", "section=/docs").output)
    assert body["columns"] == ["page_path", "views"]
    assert {row[0] for row in body["data"]} == {"/docs/start", "/docs/api"}


def test_query_help_lists_the_reports_parameters_and_filters(run):
    result = run("query", "pages", "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and "public/pages: Top pages" in result.output
    assert re.search(r"^  limit\s+int, default 100\.", result.output, re.M)
    assert re.search(r"^  country\s+Country", result.output, re.M) and "is_not" in result.output
    plain = run("query", "--help")
    assert plain.exit_code == 0 and "--filter" in plain.output and "public/pages" not in plain.output
    assert "no report named" in run("query", "nope", "--help").output


def test_query_filters(run):
    args = ("query", "pages", "--from", "2024-03-01", "--to", "2024-04-29", "--format", "json")
    whole = json.loads(run(*args).output)
    german = json.loads(run(*args, "--filter", "country:is:DE").output)
    docs = json.loads(run(*args, "-f", "country:is:DE", "-f", "page:contains:/docs").output)
    assert (
        sum(r[4] for r in docs["data"]) < sum(r[4] for r in german["data"]) < sum(r[4] for r in whole["data"])
    )
    assert {r[1] for r in docs["data"]} == {"/docs/start", "/docs/api"}
    bad = run(*args, "--filter", "planet:is:Mars")
    assert bad.exit_code == 1 and "cannot be filtered by that" in bad.output

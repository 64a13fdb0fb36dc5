"""The dashboard's filters, first day and first run, in a real headless Chromium.

A click on a source row filters every card (their figures match the API's
with the same filter), the filter shows as a chip, stays in the address
through a reload, and removing it brings the whole figures back. A store
with one day of hits draws the whole chosen range, zeros included; an empty
store shows how to begin.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from conftest import LiveServer, make_settings
from report_fixture import load_fixture
from selenium.webdriver.common.by import By
from test_dashboard_browser import card_cells, load_store, metric, wait_loaded

from crumby.auth import add_goal, add_user, open_auth_store
from crumby.serve.app import create_app
from crumby.serve.auth import close_auth_store
from crumby.store.engine import create_engine
from crumby.store.schema import calendar

pytest_plugins = ["browser"]


def serve(tmp_path, store_url: str):
    app = create_app(make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store_url))
    return app, LiveServer(app)


@pytest.fixture
def server_for(tmp_path):
    """Start the app over a DuckDB store that ``fill`` (given the URL) prepares; stop it afterwards."""
    started = []

    def start(fill):
        url = f"duckdb:///{tmp_path / 'store.duckdb'}"
        fill(url)
        app, server = serve(tmp_path, url)
        started.append((app, server))
        return server

    yield start
    for app, server in started:
        server.stop()
        close_auth_store(app)


def api(server, report: str, query: list[tuple[str, str]]) -> dict:
    address = f"{server.url}/api/public/{report}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(address, timeout=20) as answer:
        return json.load(answer)


def shown_counts(browser, report: str) -> dict[str, list[str]]:
    """The card's rows as name -> its shown counts."""
    rows = browser.find_elements(By.CSS_SELECTOR, f'[data-report="{report}"] tbody tr')
    return {
        row.find_element(By.CSS_SELECTOR, ".name").text: [
            cell.text for cell in row.find_elements(By.CSS_SELECTOR, "td.num")
        ]
        for row in rows
    }


def assert_card_matches(browser, report: str, answer: dict, name: str, figures: tuple[str, ...]) -> None:
    shown = shown_counts(browser, report)
    expected = {
        (row[answer["columns"].index(name)] or "(none)"): [
            f"{row[answer['columns'].index(f)]:,}" for f in figures
        ]
        for row in answer["data"][:10]
    }
    assert shown == expected, report


def only_local_requests(browser, base: str) -> list[str]:
    urls = browser.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })"
        ".concat([location.href])"
    )
    return [u for u in urls if not u.startswith(base)]


def test_a_click_on_a_source_filters_every_card(browser, server_for):
    server = server_for(lambda url: load_store(url, days=30))
    base = server.url
    browser.get(base + "/?days=30")
    wait_loaded(browser, "the dashboard did not load")
    whole = api(server, "summary", [("days", "30")])
    whole_visitors = dict(zip(whole["columns"], whole["data"][0], strict=True))["visitors"]
    assert metric(browser, "visitors") == f"{whole_visitors:,}"

    row = browser.find_element(By.CSS_SELECTOR, '[data-report="sources"] tbody tr[data-value="Google"]')
    row.click()
    browser.wait_for(
        "location.search.indexOf('f=source%3Ais%3AGoogle') >= 0", "the click did not add the filter"
    )
    wait_loaded(browser, "the filtered dashboard did not load")
    chips = browser.find_elements(By.CSS_SELECTOR, "#filters .chip")
    assert [c.get_attribute("data-filter") for c in chips] == ["source:is:Google"]
    assert "Source is Google" in chips[0].text

    segment = [("days", "30"), ("f", "source:is:Google")]
    summary = api(server, "summary", segment)
    filtered_visitors = dict(zip(summary["columns"], summary["data"][0], strict=True))["visitors"]
    assert 0 < filtered_visitors < whole_visitors
    assert metric(browser, "visitors") == f"{filtered_visitors:,}"
    assert_card_matches(
        browser, "browsers", api(server, "browsers", segment), "browser", ("visitors", "pageviews")
    )
    assert_card_matches(
        browser, "countries", api(server, "countries", segment), "country", ("visitors", "pageviews")
    )
    assert list(shown_counts(browser, "sources")) == ["Google"]

    # A reload keeps the filter: it lives in the address.
    browser.refresh()
    wait_loaded(browser, "the reloaded dashboard did not load")
    assert metric(browser, "visitors") == f"{filtered_visitors:,}"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#filters .chip")) == 1

    # A second filter from another card narrows further; removing the first keeps the second.
    browser.find_element(By.CSS_SELECTOR, '[data-report="browsers"] tbody tr[data-value="Chrome"]').click()
    browser.wait_for(
        "location.search.indexOf('browser%3Ais%3AChrome') >= 0", "the second filter was not added"
    )
    wait_loaded(browser, "the twice-filtered dashboard did not load")
    both = api(server, "summary", [*segment, ("f", "browser:is:Chrome")])
    assert metric(browser, "visitors") == f"{both['data'][0][1]:,}"
    browser.find_element(
        By.CSS_SELECTOR, '#filters .chip[data-filter="source:is:Google"] .chip-remove'
    ).click()
    browser.wait_for("location.search.indexOf('source%3A') < 0", "the chip did not remove its filter")
    wait_loaded(browser, "the dashboard did not load after a chip was removed")
    chrome = api(server, "summary", [("days", "30"), ("f", "browser:is:Chrome")])
    assert metric(browser, "visitors") == f"{chrome['data'][0][1]:,}"

    # Removing the last chip restores the whole figures.
    browser.find_element(By.CSS_SELECTOR, "#filters .chip .chip-remove").click()
    browser.wait_for("document.querySelectorAll('#filters .chip').length === 0", "the last chip stayed")
    wait_loaded(browser, "the unfiltered dashboard did not load")
    assert metric(browser, "visitors") == f"{whole_visitors:,}"
    assert "Newsletter" in card_cells(browser, "sources")

    assert only_local_requests(browser, base) == []
    assert browser.console_errors(base) == []


def first_day_store(url: str) -> None:
    """Today's hits only, with the calendar the ETL keeps: from the first day with data."""
    load_store(url, days=1)
    today = datetime.combine(datetime.now(timezone.utc).date(), datetime.min.time())
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(calendar.delete().where(calendar.c.datetime < today))
    finally:
        engine.dispose()


def test_one_day_of_hits_draws_the_whole_range(browser, server_for):
    server = server_for(first_day_store)
    browser.get(server.url + "/?days=30")
    wait_loaded(browser, "the dashboard did not load")
    browser.wait_for("!!document.querySelector('#chart canvas')", "the chart was not drawn")
    answer = api(server, "timeseries", [("days", "30")])
    today = datetime.now(timezone.utc).date()
    days = [(today - timedelta(days=n)).isoformat() for n in range(29, -1, -1)]
    assert [row[0] for row in answer["data"]] == days
    assert sum(1 for row in answer["data"] if row[1] == 0) == 29
    chart = browser.find_element(By.ID, "chart")
    assert chart.get_attribute("data-points") == "30"
    first = datetime.fromtimestamp(float(chart.get_attribute("data-first")), timezone.utc).date()
    last = datetime.fromtimestamp(float(chart.get_attribute("data-last")), timezone.utc).date()
    assert (first.isoformat(), last.isoformat()) == (days[0], days[-1])

    # Today alone: one point per hour.
    browser.find_element(By.CSS_SELECTOR, '.preset[data-days="1"]').click()
    browser.wait_for("location.search.indexOf('days=1') >= 0", "the Today preset did not apply")
    wait_loaded(browser, "today's dashboard did not load")
    browser.wait_for(
        "document.getElementById('chart').dataset.points === '24'", "today's chart did not show 24 hours"
    )
    assert browser.find_element(By.ID, "first-run").get_attribute("hidden") is not None


def test_an_empty_store_shows_how_to_begin(browser, server_for):
    server = server_for(lambda url: None)  # no store file at all: crumby etl never ran
    answer = api(server, "pages", [("days", "30")])
    assert answer["status"] == "no data loaded yet" and answer["data"] == []
    browser.get(server.url + "/")
    wait_loaded(browser, "the dashboard did not load over an empty store")
    help_box = browser.find_element(By.ID, "first-run")
    assert help_box.is_displayed()
    assert f'<script async src="{server.url}/cmb.js"></script>' in help_box.text
    assert "crumby etl" in help_box.text
    assert not browser.find_element(By.ID, "summary").is_displayed()
    assert "Could not load" not in browser.find_element(By.TAG_NAME, "body").text
    assert browser.console_errors(server.url) == []


def test_more_opens_the_whole_list_and_goals_show_for_a_segment(browser, tmp_path):
    url = load_fixture(f"duckdb:///{tmp_path / 'store.duckdb'}")
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=url)
    auth = open_auth_store(settings)
    add_user(auth, "alice", "alice-password")
    add_goal(auth, "Docs", "page", "/docs/*")
    add_goal(auth, "Signed up", "event", "signup")
    auth.close()
    app = create_app(settings)
    server = LiveServer(app)
    try:
        browser.get(server.url + "/login")
        browser.find_element(By.ID, "username").send_keys("alice")
        browser.find_element(By.ID, "password").send_keys("alice-password")
        browser.find_element(By.ID, "sign-in").click()
        browser.wait_for("location.pathname === '/'", "sign-in did not work")
        query = "from=2024-03-01&to=2024-04-29"
        browser.get(f"{server.url}/?{query}&f=country%3Ais%3ADE")
        wait_loaded(browser, "the dashboard did not load")

        # The goals card: each goal's visitors, conversions and rate, for the German visitors only.
        request = urllib.request.Request(
            f"{server.url}/api/private/goals?{query}&f=country%3Ais%3ADE",
            headers={"Cookie": "; ".join(f"{c['name']}={c['value']}" for c in browser.get_cookies())},
        )
        with urllib.request.urlopen(request, timeout=20) as answer:
            goals = json.load(answer)
        assert {row[0] for row in goals["data"]} == {"Docs", "Signed up"}
        shown = shown_counts(browser, "goals")
        assert set(shown) == {"Docs", "Signed up"}
        headings = [
            th.text for th in browser.find_elements(By.CSS_SELECTOR, '[data-report="goals"] thead th')
        ]
        assert headings[0] == "Goal" and "Visitors" in headings

        # "More" on the pages card: all 24 pages of the segment, a page at a time, and their CSV.
        more = browser.find_element(By.CSS_SELECTOR, '[data-report="pages"] .more')
        assert more.is_displayed()
        more.click()
        browser.wait_for("document.getElementById('full-list').open", "More did not open the whole list")
        rows = browser.find_elements(By.CSS_SELECTOR, "#full-list tbody tr")
        answer = api(server, "pages", [("from", "2024-03-01"), ("to", "2024-04-29"), ("f", "country:is:DE")])
        assert len(rows) == len(answer["data"]) > 10
        assert browser.find_element(By.ID, "full-page").text == f"Rows 1 to {len(rows)} of {len(rows)}"
        csv_address = browser.find_element(By.ID, "full-csv").get_attribute("href")
        assert "format=csv" in csv_address and "f=country%3Ais%3ADE" in csv_address
        with urllib.request.urlopen(csv_address, timeout=20) as csv_answer:
            lines = csv_answer.read().decode().splitlines()
        assert len(lines) == len(rows) + 1 and lines[0] == "site,page_path,visitors,visits,pageviews"
        # a row of the whole list filters too, and closes it
        rows[0].click()
        browser.wait_for("location.search.indexOf('f=page%3Ais%3A') >= 0", "a row of the list did not filter")
        wait_loaded(browser, "the page-filtered dashboard did not load")
        assert not browser.execute_script("return document.getElementById('full-list').open")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#filters .chip")) == 2
        assert browser.console_errors(server.url) == []
    finally:
        server.stop()
        close_auth_store(app)

"""The dashboard in a real headless Chromium, over a DuckDB store loaded by the fixture below.

Sign in, see the summary, the chart and the tables filled, change the range
(a preset and a custom one), check that a page title of ``<script>`` stays
text, and keep a screenshot.
"""

from __future__ import annotations

import json
import random
import urllib.request
from datetime import datetime, time, timedelta, timezone

import pytest
from conftest import LiveServer, make_settings
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

from crumby.auth import add_user, open_auth_store
from crumby.etl.daily import rebuild_all as sum_every_day
from crumby.etl.rollup import backfill
from crumby.etl.stored_keys import fill_stored_keys
from crumby.serve.app import create_app
from crumby.serve.auth import close_auth_store
from crumby.store.engine import create_engine
from crumby.store.migrations import ensure_schema
from crumby.store.schema import calendar, events, visits

# Fixtures: browser (a browser.Browser), chromium.
pytest_plugins = ["browser"]

HOSTILE_TITLE = "<script>alert(1)</script>"
PAGES = (
    ("/", "Home"),
    ("/pricing", "Pricing"),
    ("/docs/start", "Getting started"),
    ("/blog/launch", HOSTILE_TITLE),
)
PLACES = (("DE", "Berlin", "Berlin"), ("FR", "Île-de-France", "Paris"), ("US", "California", "San Francisco"))
AGENTS = (("Chrome", "Windows", "desktop"), ("Firefox", "Linux", "desktop"), ("Safari", "iOS", "mobile"))
SOURCES = ((None, "direct", None), ("Google", "search", None), ("Newsletter", "email", "spring-sale"))


def load_store(url: str, days: int = 60, seed: int = 4) -> None:
    """Visits and events for the last ``days`` days, more of them recently, with one hostile title."""
    rng = random.Random(seed)
    today = datetime.now(timezone.utc).replace(tzinfo=None).date()
    visit_rows, event_rows = [], []
    for offset in range(days):
        day = datetime.combine(today - timedelta(days=offset), time(0))
        for session in range(3 + (12 if offset < 7 else 0) + rng.randrange(4)):
            visitor = f"v{rng.randrange(400)}"
            session_id = f"s{offset}-{session}"
            start = day + timedelta(minutes=rng.randrange(0, 20 * 60))
            country, region, city = rng.choice(PLACES)
            browser, os_name, device = rng.choice(AGENTS)
            source, channel, campaign = rng.choice(SOURCES)
            for view in range(1 + rng.randrange(3)):
                path, title = PAGES[0] if view == 0 and rng.random() < 0.5 else rng.choice(PAGES)
                n = len(visit_rows) + 1
                visit_rows.append(
                    {
                        "id": n,
                        "hit_id": f"h{n}",
                        "cid": visitor,
                        "visitor_id": visitor,
                        "session_id": session_id,
                        "datetime": start + timedelta(minutes=2 * view),
                        "site": "example.com",
                        "page_path": path,
                        "doc_uri": f"https://example.com{path}",
                        "doc_title": title,
                        "is_bot": False,
                        "country": country,
                        "subdivision_1": region,
                        "city": city,
                        "browser": browser,
                        "platform": os_name,
                        "os": os_name,
                        "device": device,
                        "screen_res": "1920x1080" if device == "desktop" else "390x844",
                        "lang": rng.choice(("en-US", "de-DE", "fr-FR")),
                        "referrer_source": source,
                        "channel": channel,
                        "utm_campaign": campaign,
                    }
                )
            if rng.random() < 0.3:
                n = len(event_rows) + 1
                event_rows.append(
                    {
                        "id": n,
                        "hit_id": f"e{n}",
                        "cid": visitor,
                        "visitor_id": visitor,
                        "session_id": session_id,
                        "datetime": start + timedelta(minutes=1),
                        "site": "example.com",
                        "page_path": "/pricing",
                        "doc_title": "Pricing",
                        "name": rng.choice(("signup", "download")),
                        "value": rng.choice(("free", "team", HOSTILE_TITLE)),
                        "is_bot": False,
                    }
                )
    engine = create_engine(url)
    try:
        ensure_schema(engine)
        with engine.begin() as conn:
            conn.execute(visits.insert(), visit_rows)
            conn.execute(events.insert(), event_rows)
            conn.execute(
                calendar.insert(),
                [
                    {"datetime": datetime.combine(today - timedelta(days=d), time(0))}
                    for d in range(days + 100)
                ],
            )
        fill_stored_keys(engine)  # the visitor and visit keys, as the ETL gives every row
        with engine.begin() as conn:
            backfill(conn)  # the aggregated store, as the ETL would have kept it
            sum_every_day(conn)
    finally:
        engine.dispose()


@pytest.fixture
def dashboard_server(tmp_path):
    store_url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    load_store(store_url)
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store_url)
    users = open_auth_store(settings)
    add_user(users, "alice", "alice-password")
    users.close()
    app = create_app(settings)
    server = LiveServer(app)
    yield server
    server.stop()
    close_auth_store(app)


def summary_now(server, query: str) -> dict:
    """The summary's current-period row, straight from the API, to compare with what the page shows."""
    with urllib.request.urlopen(f"{server.url}/api/public/summary?{query}", timeout=20) as answer:
        body = json.load(answer)
    return dict(zip(body["columns"], body["data"][0], strict=True))


def wait_loaded(browser, what: str) -> None:
    browser.wait_for("document.getElementById('dashboard').dataset.loaded === 'true'", what, timeout=30)


def metric(browser, name: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, f'[data-metric="{name}"] .metric-value').text


def card_cells(browser, report: str) -> list[str]:
    """Each row's name, the line under it, and its counts, as separate texts."""
    return [
        cell.get_attribute("textContent")
        for cell in browser.find_elements(
            By.CSS_SELECTOR,
            f'[data-report="{report}"] tbody td .name, [data-report="{report}"] tbody td .second, '
            f'[data-report="{report}"] tbody td.num',
        )
    ]


def test_dashboard_in_a_real_browser(browser, dashboard_server, tmp_path):
    base = dashboard_server.url
    browser.get(base + "/")
    wait_loaded(browser, "the signed-out dashboard did not load")
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-visibility="private"]')
    assert browser.find_element(By.LINK_TEXT, "Sign in")

    browser.get(base + "/login?next=/%3Fdays%3D30")
    browser.find_element(By.ID, "username").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys("alice-password")
    browser.find_element(By.ID, "sign-in").click()
    browser.wait_for(
        "location.pathname === '/' && !!document.getElementById('dashboard')", "sign-in did not work"
    )
    wait_loaded(browser, "the dashboard did not load after sign-in")
    assert browser.find_element(By.CSS_SELECTOR, ".who").text == "alice"

    # The summary shows what the API says, with the change against the period before.
    current = summary_now(dashboard_server, "days=30")
    assert metric(browser, "visitors") == f"{current['visitors']:,}"
    assert metric(browser, "pageviews") == f"{current['pageviews']:,}"
    assert browser.find_element(By.CSS_SELECTOR, '[data-metric="visits"] .metric-change').text

    # The chart is drawn, with a point per day of the range.
    browser.wait_for("!!document.querySelector('#chart canvas')", "the chart was not drawn")
    assert browser.find_element(By.CSS_SELECTOR, "#chart .u-legend").text.count("Visitors") == 1

    # Tables are filled; a tracked title that is HTML stays text and runs nothing.
    assert "/pricing" in card_cells(browser, "pages")
    titles = card_cells(browser, "documents")
    assert HOSTILE_TITLE in titles and "Pricing" in titles
    assert "Chrome" in card_cells(browser, "browsers")
    assert "Berlin" in card_cells(browser, "cities")
    assert browser.execute_script("return document.querySelectorAll('#dashboard script').length") == 0
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - reading it is the check

    # Private reports appear once signed in.
    assert "signup" in card_cells(browser, "event_names")
    assert HOSTILE_TITLE in card_cells(browser, "event_values")

    # A preset range: the address, the buttons and the numbers follow.
    browser.find_element(By.CSS_SELECTOR, '.preset[data-days="7"]').click()
    browser.wait_for("location.search.indexOf('days=7') >= 0", "the 7-day preset did not apply")
    wait_loaded(browser, "the 7-day range did not load")
    week_visitors = summary_now(dashboard_server, "days=7")["visitors"]
    assert week_visitors < current["visitors"]
    assert metric(browser, "visitors") == f"{week_visitors:,}"
    pressed = browser.find_element(By.CSS_SELECTOR, '.preset[aria-pressed="true"]')
    assert pressed.get_attribute("data-days") == "7"

    # A custom range.
    today = datetime.now(timezone.utc).date()
    first, last = (today - timedelta(days=20)).isoformat(), (today - timedelta(days=10)).isoformat()
    browser.execute_script(
        "document.getElementById('range-from').value = arguments[0];"
        "document.getElementById('range-to').value = arguments[1];",
        first,
        last,
    )
    browser.find_element(By.ID, "range-apply").click()
    browser.wait_for(f"location.search.indexOf('from={first}') >= 0", "the custom range did not apply")
    wait_loaded(browser, "the custom range did not load")
    custom = summary_now(dashboard_server, f"from={first}&to={last}")
    assert metric(browser, "visitors") == f"{custom['visitors']:,}"
    assert browser.find_elements(By.CSS_SELECTOR, '.preset[aria-pressed="true"]') == []
    assert first in browser.find_element(By.ID, "range-label").text

    # The site filter: a site with no hits shows zeros and empty tables, and stays in the address.
    site = browser.find_element(By.ID, "site")
    site.send_keys("nothing-here.example")
    browser.find_element(By.ID, "range-apply").click()
    browser.wait_for(
        "location.search.indexOf('site=nothing-here.example') >= 0", "the site filter did not apply"
    )
    wait_loaded(browser, "the site-filtered dashboard did not load")
    assert metric(browser, "visitors") == "0"
    assert card_cells(browser, "pages") == []
    site.clear()
    browser.find_element(By.ID, "range-apply").click()
    browser.wait_for("location.search.indexOf('site=') < 0", "the site filter was not cleared")
    wait_loaded(browser, "the unfiltered dashboard did not load")
    assert metric(browser, "visitors") == f"{custom['visitors']:,}"

    shot = tmp_path / "dashboard.png"
    browser.set_window_size(1280, 2200)
    browser.save_screenshot(str(shot))
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000
    assert browser.console_errors(base) == []

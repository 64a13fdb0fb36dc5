"""cmb.js in real Chromium, collected by a real nginx: the store holds what the Python collector gives.

The same tracked pages are browsed twice, once with cmb.js (and the hits) served by nginx running
`crumby nginx-config`'s configuration, once by the Python collector; `crumby etl` loads each log
into its own DuckDB store, and the page views, events and props must be the same.
"""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa
from conftest import LiveServer, make_settings
from test_tracker import LOADED, STUB, tracked_page

from crumby.etl.pipeline import run
from crumby.serve.app import create_app
from crumby.store.engine import create_engine

pytest_plugins = ["browser", "nginx_collector"]

VISITS = "SELECT doc_uri, doc_title, referrer, screen_res, lang, browser FROM visits ORDER BY datetime"
EVENTS = "SELECT doc_uri, name, value, props FROM events ORDER BY name"


def browse(browser, site_server, tracker_url: str, log_dir: Path, label: str) -> None:
    """Open a page that sends a page view and an event with props, then a second page."""
    first = site_server.add(
        f"/{label}/start.html",
        tracked_page(
            "Start é",
            tracker_url,
            head=STUB + '<script>cmb.event("signup", "plan-a", {plan: "pro", step: 2});</script>',
            body=f'<a id="next" href="/{label}/next.html?x=1">next</a>',
        ),
    )
    site_server.add(f"/{label}/next.html", tracked_page("Next", tracker_url))
    browser.get(first)
    browser.wait_for(LOADED, "cmb.js did not load")
    browser.find_element("id", "next").click()
    browser.wait_for("document.title == 'Next' && " + LOADED, "the second page did not load")
    deadline = time.monotonic() + 10
    while sum(len(p.read_bytes().splitlines()) for p in log_dir.glob("hits-*.jsonl")) < 3:
        assert time.monotonic() < deadline, "the three hits were not all logged within 10 s"
        time.sleep(0.05)


def stored(settings: dict) -> tuple[list, list]:
    report = run(settings)
    assert (report.rejected, report.visits, report.events) == (0, 2, 1)
    engine = create_engine(settings["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(VISITS))], [
                tuple(r) for r in conn.execute(sa.text(EVENTS))
            ]
    finally:
        engine.dispose()


def test_nginx_collects_what_the_python_collector_does(browser, site_server, nginx_collector, tmp_path):
    nginx_settings = make_settings(tmp_path / "nginx")
    nginx = nginx_collector(nginx_settings)
    browse(browser, site_server, nginx.url, nginx_settings["LOG_DIR"], "page")
    assert browser.console_errors("cmb.js") == []

    python_settings = make_settings(tmp_path / "python")
    server = LiveServer(create_app(python_settings))
    try:
        browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
        browse(browser, site_server, server.url, python_settings["LOG_DIR"], "page")
    finally:
        server.stop()

    nginx_rows = stored(nginx_settings)
    assert nginx_rows == stored(python_settings)
    visits, events = nginx_rows
    site = site_server.url
    assert [v[:2] for v in visits] == [
        (f"{site}/page/start.html", "Start é"),
        (f"{site}/page/next.html?x=1", "Next"),
    ]
    assert events == [(f"{site}/page/start.html", "signup", "plan-a", '{"plan":"pro","step":"2"}')]

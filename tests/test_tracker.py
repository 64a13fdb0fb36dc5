"""cmb.js in a real browser: what a visitor does on a tracked page ends up in the raw hit log.

A live crumby serves cmb.js and collects; a second server on another port plays the tracked
site; headless Chromium browses it. Every check reads the log files the collector wrote.
"""

from __future__ import annotations

import gzip
import json
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import LiveServer, make_settings

from crumby.serve.app import create_app
from crumby.serve.collect import strip_js_comment_lines

# Fixtures: browser (a browser.Browser), chromium, site_server.
pytest_plugins = ["browser"]

GZIP_LIMIT = 1536
LOADED = "typeof window.cmb.optOut == 'function'"
# What a site puts before the tag to call cmb.event before the script has arrived.
STUB = "<script>window.cmb = window.cmb || {q: [], event: function () { cmb.q.push(arguments); }};</script>"


def tracked_page(
    title: str, tracker: str, loading: str = "async", attrs: str = "", head: str = "", body: str = ""
) -> str:
    """A page that loads cmb.js from ``tracker`` (a crumby base URL)."""
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>{head}'
        f'<script {loading} src="{tracker}/cmb.js" {attrs}></script></head><body>{body}</body></html>'
    )


def read_hits(log_dir: Path) -> list[dict]:
    """Every hit in the raw log files, in file order."""
    return [
        json.loads(line)
        for path in sorted(Path(log_dir).glob("hits-*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


def matching(log_dir: Path, **fields) -> list[dict]:
    return [hit for hit in read_hits(log_dir) if all(hit.get(k) == v for k, v in fields.items())]


def wait_for_hit(log_dir: Path, timeout: float = 10, **fields) -> dict:
    """The first logged hit with these field values, polling the log files up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = matching(log_dir, **fields)
        if found:
            return found[0]
        if time.monotonic() > deadline:
            seen = [{k: h.get(k) for k in ("t", "dl", "en")} for h in read_hits(log_dir)]
            pytest.fail(f"no hit with {fields} logged within {timeout}s; the log holds {seen}")
        time.sleep(0.05)


def served_tracker(url: str) -> bytes:
    request = urllib.request.Request(url + "/cmb.js", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        return response.read()


@pytest.mark.parametrize("domain", ["", "analytics.a-rather-long-subdomain.example.com:8443"])
def test_served_tracker_fits_in_1_5_kb_gzipped(tmp_path, domain):
    server = LiveServer(create_app(make_settings(tmp_path, DOMAIN=domain, COOKIELESS=True)))
    try:
        body = served_tracker(server.url)
    finally:
        server.stop()
    assert len(body) <= GZIP_LIMIT, f"cmb.js is {len(body)} bytes gzipped, over {GZIP_LIMIT}"
    source = gzip.decompress(body).decode()
    assert "CRUMBY_OPTIONS" not in source
    assert f'"endpoint":"{"//" + domain if domain else ""}"' in source
    assert '"cookieless":true' in source


def test_comment_lines_are_dropped_and_code_kept():
    source = '  // why\n  var a = "//not a comment";\n\n  /* kept */ f(a);\n'
    assert strip_js_comment_lines(source) == 'var a = "//not a comment";\n/* kept */ f(a);\n'


@pytest.mark.parametrize("loading", ["async", "defer"])
def test_pageview_event_spa_download_and_outbound_are_logged(
    browser, site_server, live_server, settings, loading
):
    log_dir = settings["LOG_DIR"]
    crumby = live_server.url
    start = site_server.add(
        "/start.html", '<title>Start</title><a id="go" href="/shop/item.html?id=7">go</a>'
    )
    page = site_server.url + "/shop/item.html?id=7"
    site_server.add(
        "/shop/item.html",
        tracked_page(
            f"Blue teapot ({loading})",
            crumby,
            loading,
            attrs="data-outbound data-downloads",
            head=STUB + '<script>cmb.event("signup", "plan-a", {plan: "pro", step: 2});</script>',
            # The tag twice, as a page may have it: still one page view.
            body=f'<a id="file" href="/files/manual.pdf">manual</a> <a id="out" href="{crumby}/">away</a>'
            f'<script {loading} src="{crumby}/cmb.js" data-outbound data-downloads></script>',
        ),
    )
    site_server.add("/files/manual.pdf", status=204)  # 204: the browser stays on the page

    browser.get(start)
    browser.find_element("id", "go").click()
    browser.wait_for(LOADED, "cmb.js did not load")
    facts = browser.execute_script(
        "return {ul: navigator.language, sr: screen.width + 'x' + screen.height,"
        " sd: screen.colorDepth + '-bit', vp: innerWidth + 'x' + innerHeight}"
    )

    visit = wait_for_hit(log_dir, t="visit", dl=page)
    assert visit["dt"] == f"Blue teapot ({loading})"
    assert visit["dr"] == start
    assert visit["de"] == "UTF-8"
    assert visit["pv"] == "1"
    assert {key: visit.get(key) for key in facts} == facts
    assert facts["ul"] and facts["sr"] != "0x0"
    cookie = browser.get_cookie("cid")
    assert cookie and visit["cid"] == cookie["value"]
    assert cookie["path"] == "/" and cookie["sameSite"] == "Lax"
    # cmb.js asks for two years; Chromium keeps no cookie longer than 400 days.
    assert cookie["expiry"] > time.time() + 399 * 86400

    event = wait_for_hit(log_dir, t="event", en="signup")
    assert (event["ev"], event["props"], event["cid"]) == (
        "plan-a",
        {"plan": "pro", "step": "2"},
        visit["cid"],
    )
    assert event["dl"] == page

    # A single-page app moves on: one page view, with the title set just after the URL.
    browser.execute_script("history.pushState({}, '', '/shop/cart?step=2'); document.title = 'Cart';")
    cart = wait_for_hit(log_dir, t="visit", dl=site_server.url + "/shop/cart?step=2")
    assert (cart["dt"], cart["dr"], cart["cid"]) == ("Cart", page, visit["cid"])
    # The same URL again: no page view. Back: a page view referred by the cart. A #fragment: none.
    browser.execute_script(
        "addEventListener('popstate', () => { document.title = 'Blue teapot again'; });"
        "history.replaceState({}, '', location.href); history.back();"
    )
    browser.wait_for("location.search == '?id=7'", "history.back() did not return to the item")
    back = wait_for_hit(log_dir, t="visit", dl=page, dr=site_server.url + "/shop/cart?step=2")
    assert back["dt"] == "Blue teapot again"
    browser.execute_script("location.hash = 'reviews';")

    browser.find_element("id", "file").click()
    download = wait_for_hit(log_dir, t="event", en="download")
    assert download["ev"] == site_server.url + "/files/manual.pdf"

    browser.find_element("id", "out").click()
    outbound = wait_for_hit(log_dir, t="event", en="outbound")
    assert (outbound["ev"], outbound["dl"]) == (crumby + "/", page + "#reviews")

    hits = read_hits(log_dir)
    assert [(h["t"], h.get("en"), h["dl"]) for h in hits if h["t"] == "visit"] == [
        ("visit", None, page),
        ("visit", None, site_server.url + "/shop/cart?step=2"),
        ("visit", None, page),
    ]
    assert sorted(h["en"] for h in hits if h["t"] == "event") == ["download", "outbound", "signup"]
    assert browser.console_errors("cmb.js") == []


def test_falls_back_to_fetch_keepalive_then_to_the_pixel(browser, site_server, live_server, settings):
    log_dir = settings["LOG_DIR"]
    send_event = "<script>cmb.event('checkout', 12, {coupon: 'spring'});</script>"
    no_beacon = "<script>delete Navigator.prototype.sendBeacon;</script>"
    count_fetch = (
        "<script>var realFetch = fetch; window.keepalives = [];"
        " window.fetch = function (url, init) { keepalives.push(init.keepalive);"
        " return realFetch.apply(this, arguments); };</script>"
    )
    no_fetch = "<script>window.fetch = undefined;</script>"
    fetch_page = site_server.add(
        "/fetch.html",
        tracked_page("Fetch", live_server.url, head=STUB + no_beacon + count_fetch + send_event),
    )
    pixel_page = site_server.add(
        "/pixel.html", tracked_page("Pixel", live_server.url, head=STUB + no_beacon + no_fetch + send_event)
    )

    browser.get(fetch_page)
    wait_for_hit(log_dir, t="visit", dl=fetch_page, dt="Fetch")
    event = wait_for_hit(log_dir, t="event", dl=fetch_page)
    assert (event["en"], event["ev"], event["props"]) == ("checkout", "12", {"coupon": "spring"})
    assert browser.execute_script("return keepalives") == [True, True]  # survives leaving the page

    browser.get(pixel_page)
    visit = wait_for_hit(log_dir, t="visit", dl=pixel_page, dt="Pixel")
    assert visit["sr"] and visit["cid"]
    event = wait_for_hit(log_dir, t="event", dl=pixel_page)
    assert (event["en"], event["ev"]) == ("checkout", "12")
    assert "props" not in event  # a query string cannot carry them
    gifs = "performance.getEntriesByType('resource').filter(e => /\\/\\d+\\.gif\\?/.test(e.name)).length"
    browser.wait_for(f"{gifs} == 2", "the two hits were not sent as GIF pixels")


DNT = "<script>Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'});</script>"
GPC = (
    "<script>Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});</script>"
)
OPTED_OUT = "<script>localStorage.setItem('cmb_ignore', '1');</script>"
# Counts what the tracker hands to the browser to send, to show that nothing left the page.
SPY = (
    "<script>window.sent = 0; var realBeacon = navigator.sendBeacon;"
    " navigator.sendBeacon = function () { sent++; return realBeacon.apply(navigator, arguments); };</script>"
)


def visit_quietly(browser, site_server, crumby: str, name: str, head: str) -> str:
    """Open a page that must send nothing, call cmb.event on it, and check nothing was sent."""
    url = site_server.add(f"/{name}.html", tracked_page(name, crumby, head=SPY + head))
    browser.get(url)
    browser.wait_for(LOADED, f"cmb.js did not load on {name}")
    browser.execute_script(f"cmb.event('{name}-probe', 'x');")
    assert browser.execute_script("return sent") == 0, f"the {name} page sent a hit"
    assert browser.get_cookie("cid") is None, f"the {name} page set a cid cookie"
    return url


def test_do_not_track_gpc_and_opt_out_send_nothing(browser, site_server, live_server, settings, tmp_path):
    log_dir = settings["LOG_DIR"]
    quiet = [
        visit_quietly(browser, site_server, live_server.url, name, head)
        for name, head in (("dnt", DNT), ("gpc", GPC), ("opted-out", OPTED_OUT))
    ]
    # Opting out from a tracked page stops hits and drops the cookie; opting in resumes them.
    toggle = site_server.add("/toggle.html", tracked_page("Toggle", live_server.url))
    browser.execute_script("cmb.optIn();")  # this origin's flag, set by the opted-out page above
    browser.get(toggle)
    wait_for_hit(log_dir, t="visit", dl=toggle)
    assert browser.get_cookie("cid")
    browser.execute_script("cmb.optOut(); cmb.event('while-out');")
    assert browser.get_cookie("cid") is None
    assert browser.execute_script("return localStorage.getItem('cmb_ignore')") == "1"
    browser.execute_script("cmb.optIn(); cmb.event('back-in');")
    wait_for_hit(log_dir, t="event", en="back-in")
    assert [h.get("en") for h in read_hits(log_dir)] == [None, "back-in"]
    assert not any(h["dl"] in quiet for h in read_hits(log_dir))

    # With RESPECT_DNT off, the same Do Not Track page is counted.
    careless = LiveServer(create_app(make_settings(tmp_path / "careless", RESPECT_DNT=False)))
    try:
        url = site_server.add("/dnt-ignored.html", tracked_page("DNT ignored", careless.url, head=DNT))
        browser.get(url)
        wait_for_hit(tmp_path / "careless" / "logs", t="visit", dl=url)
    finally:
        careless.stop()


def test_cookieless_mode_sends_no_cid_to_the_configured_domain(browser, site_server, tmp_path):
    """cmb.js from one server with DOMAIN set sends its hits to that domain, with no cookie."""
    collector = LiveServer(create_app(make_settings(tmp_path / "collector", COOKIELESS=True)))
    domain = f"127.0.0.1:{collector.port}"
    loader = LiveServer(create_app(make_settings(tmp_path / "loader", COOKIELESS=True, DOMAIN=domain)))
    log_dir = tmp_path / "collector" / "logs"
    links = '<a id="pdf" href="/files/a.pdf">pdf</a> <a id="epub" href="/files/b.EPUB">epub</a>'
    try:
        site_server.add("/files/a.pdf", status=204)
        site_server.add("/files/b.EPUB", status=204)
        url = site_server.add(
            "/plain.html",
            tracked_page(
                "Plain",
                loader.url,
                "defer",
                attrs='data-hash data-downloads="epub, mobi"',
                head=STUB + "<script>cmb.event('ping');</script>",
                body=links,
            ),
        )
        browser.get(url)
        visit = wait_for_hit(log_dir, t="visit", dl=url)
        event = wait_for_hit(log_dir, t="event", en="ping")
        assert "cid" not in visit and "cid" not in event
        assert browser.get_cookie("cid") is None
        assert read_hits(tmp_path / "loader" / "logs") == []

        # data-hash: a new #fragment is a page view. data-downloads="epub, mobi": only those count.
        browser.execute_script("location.hash = 'chapter-2';")
        wait_for_hit(log_dir, t="visit", dl=url + "#chapter-2", dr=url)
        browser.find_element("id", "pdf").click()
        browser.find_element("id", "epub").click()
        wait_for_hit(log_dir, t="event", en="download", ev=site_server.url + "/files/b.EPUB")
        assert sorted((h["t"], h.get("en", "")) for h in read_hits(log_dir)) == [
            ("event", "download"),
            ("event", "ping"),
            ("visit", ""),
            ("visit", ""),
        ]
    finally:
        loader.stop()
        collector.stop()

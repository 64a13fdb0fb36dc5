"""A real headless Chromium for browser tests, and a small web server for the pages it opens.

A test module loads the fixtures (browser, chromium, site_server) with ``pytest_plugins = ["browser"]``.
Chromium is required, never skipped: without Debian's ``chromium`` and ``chromium-driver`` the
tests fail with a message saying how to install them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.wait import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--window-size=1280,800",
)
INSTALL_HINT = "install Debian's Chromium: apt-get install chromium chromium-driver"
WAIT_SECONDS = 10


class Browser(webdriver.Chrome):
    """Chromium under chromedriver, with the waits and checks browser tests share."""

    def wait_for(self, script: str, what: str, timeout: float = WAIT_SECONDS) -> Any:
        """Poll ``return <script>`` in the page until it is truthy; fail saying ``what`` did not happen."""
        try:
            return WebDriverWait(self, timeout, poll_frequency=0.05).until(
                lambda driver: driver.execute_script(f"return {script}")
            )
        except TimeoutException:
            pytest.fail(f"{what} within {timeout}s (page {self.current_url})")

    def console_errors(self, source: str) -> list[str]:
        """Errors logged to the console since the last call whose message names ``source``."""
        return [
            entry["message"]
            for entry in self.get_log("browser")
            if entry["level"] == "SEVERE" and source in entry["message"]
        ]


def start_chromium(profile_dir: Path) -> Browser:
    """A headless Chromium under chromedriver, with its own fresh profile in ``profile_dir``."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: {INSTALL_HINT}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        return Browser(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as exc:
        pytest.fail(f"Chromium did not start ({exc.msg}); {INSTALL_HINT} (versions must match)")


@pytest.fixture(scope="module")
def chromium(tmp_path_factory) -> Iterator[Browser]:
    """One browser for the whole test module (starting one takes a second or two)."""
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium: Browser) -> Browser:
    """The module's browser with no cookies left from an earlier test."""
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    return chromium


class SiteServer:
    """Serves pages held in memory on 127.0.0.1: the site a test tracks or browses."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, str, bytes]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, body: str = "", status: int = 200, content_type: str = "text/html") -> str:
        """Serve ``body`` at ``path`` (without its query string); returns the page's full URL."""
        self.pages[path.split("?", 1)[0]] = (status, content_type, body.encode("utf-8"))
        return self.url + path

    def _handler(self) -> Callable[..., BaseHTTPRequestHandler]:
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, content_type, body = pages.get(
                    self.path.split("?", 1)[0], (404, "text/plain", b"not found")
                )
                self.send_response(status)
                if status != 204:
                    self.send_header("Content-Type", f"{content_type}; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                if status != 204:
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site_server() -> Iterator[SiteServer]:
    """A fresh site (a new port, so a new origin with empty localStorage) for each test."""
    server = SiteServer()
    yield server
    server.stop()

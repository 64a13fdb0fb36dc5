"""The dashboard page itself: its cards, private ones only after login, and its headers."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import make_settings

from crumby.auth import add_user, open_auth_store
from crumby.serve.app import create_app
from crumby.serve.auth import close_auth_store

STATIC = Path(__file__).resolve().parents[1] / "crumby" / "serve" / "static"


def test_dashboard_cards_and_headers(tmp_path):
    settings = make_settings(tmp_path)
    store = open_auth_store(settings)
    add_user(store, "alice", "alice-password")
    store.close()
    app = create_app(settings)
    try:
        client = app.test_client()
        page = client.get("/")
        assert page.status_code == 200
        assert 'data-report="pages"' in page.text and 'data-report="summary"' in page.text
        assert 'data-visibility="private"' not in page.text and "Sign in" in page.text
        policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert "vendor/uplot/uPlot.iife.min.js" in page.text and "//cdn" not in page.text
        assert client.get("/static/vendor/uplot/uPlot.iife.min.js").status_code == 200
        assert client.get("/static/vendor/uplot/LICENSE").status_code == 200

        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
        client.post("/login", data={"csrf": csrf, "username": "alice", "password": "alice-password"})
        signed_in = client.get("/").text
        assert 'data-visibility="private"' in signed_in and 'data-report="event_names"' in signed_in
        assert "Sign out" in signed_in
    finally:
        close_auth_store(app)


def test_dashboard_script_never_writes_html():
    script = (STATIC / "dashboard.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script
    assert "textContent" in script

"""Before the first `crumby etl`: every report answers 200 with no rows and says why, on every store.

Also: the API's index and OpenAPI file list each report's filters.
"""

from __future__ import annotations

from conftest import make_settings, reader_url

from crumby.queries import find_templates
from crumby.serve.app import create_app
from crumby.serve.auth import close_auth_store
from crumby.store.readonly import close_readers


def test_an_unloaded_store_answers_no_data_loaded_yet(store_url, tmp_path):
    app = create_app(make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=reader_url(store_url)))
    try:
        client = app.test_client()
        for template in find_templates(visibility="public"):
            answer = client.get(f"/api/public/{template.name}?days=7&f=country:is:DE")
            assert answer.status_code == 200, (template.name, answer.get_data(as_text=True))
            body = answer.get_json()
            assert body["status"] == "no data loaded yet" and body["data"] == [], template.name
            assert "crumby etl" in body["hint"]
        as_csv = client.get("/api/public/pages?format=csv")
        assert as_csv.status_code == 200 and as_csv.headers["X-Status"] == "no data loaded yet"
        bad = client.get("/api/public/pages?f=planet:is:Mars")  # a bad filter is still a 400
        assert bad.status_code == 400 and bad.get_json()["parameter"] == "f"
    finally:
        close_readers()
        close_auth_store(app)


def test_the_index_and_openapi_list_the_filters(tmp_path):
    app = create_app(make_settings(tmp_path))
    try:
        client = app.test_client()
        index = client.get("/api", headers={"Accept": "application/json"}).get_json()
        pages = next(r for r in index["reports"] if r["name"] == "pages")
        names = [f["name"] for f in pages["filters"]]
        assert {"source", "country", "browser", "page", "event", "utm_campaign", "entry_page"} <= set(names)
        assert pages["labels"]["page_path"] == "Page"
        assert index["filters"]["operators"] == ["is", "is_not", "contains", "not_contains"]
        html = client.get("/api", headers={"Accept": "text/html"}).get_data(as_text=True)
        assert "f=DIMENSION:OPERATOR:VALUE" in html and "<code title=" in html
        spec = client.get("/api/openapi.json").get_json()
        parameters = spec["paths"]["/api/public/pages"]["get"]["parameters"]
        f = next(p for p in parameters if p["name"] == "f")
        assert f["schema"]["type"] == "array" and f["explode"] is True
        assert "country" in f["schema"]["items"]["pattern"]
    finally:
        close_auth_store(app)

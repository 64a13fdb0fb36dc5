"""The report API (contract 5): answer shapes, errors, caching, CORS, private access, OpenAPI."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from conftest import make_settings
from report_fixture import LATE_RANGE, RANGE, load_fixture

from crumby.auth import open_auth_store
from crumby.auth.tokens import create_token, revoke_token
from crumby.queries import find_templates
from crumby.serve.app import create_app
from crumby.store.bookkeeping import loads
from crumby.store.engine import create_engine
from crumby.store.readonly import close_readers


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    url = load_fixture(f"duckdb:///{tmp_path_factory.mktemp('api') / 'store.duckdb'}")
    yield url
    close_readers()


@pytest.fixture
def app(store, tmp_path):
    return create_app(make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store, CROSSDOMAIN_ORIGIN="*"))


@pytest.fixture
def client(app):
    return app.test_client()


def test_report_answers_columns_data_range_and_timing(client):
    answer = client.get("/api/public/summary", query_string=LATE_RANGE)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["columns"] == [
        "period",
        "visitors",
        "visits",
        "pageviews",
        "views_per_visit",
        "bounce_rate",
        "visit_duration",
    ]
    assert [row[0] for row in body["data"]] == ["current", "previous"]
    assert body["range"] == {"t0": "2024-04-01T00:00:00", "t1": "2024-04-30T00:00:00"}
    assert body["timing"]["ms"] > 0 and body["truncated"] is False and body["rows"] == 2
    assert body["report"] == "summary" and body["visibility"] == "public"


def test_every_public_report_answers_with_defaults(client):
    for template in find_templates(visibility="public"):
        answer = client.get(f"/api/public/{template.name}")
        assert answer.status_code == 200, (template.name, answer.get_json())
        assert answer.get_json()["columns"], template.name


def test_range_forms_agree(client):
    by_dates = client.get("/api/public/visits", query_string=RANGE).get_json()
    by_times = client.get("/api/public/visits?t0=2024-03-01T00:00:00Z&t1=2024-04-30T00:00:00").get_json()
    assert by_dates["data"] == by_times["data"] and len(by_dates["data"]) == 60
    recent = client.get("/api/public/visits?days=7").get_json()
    t0, t1 = (datetime.fromisoformat(recent["range"][k]) for k in ("t0", "t1"))
    assert (t1 - t0).days == 7 and t1 > datetime.utcnow()


def test_csv_format(client):
    answer = client.get("/api/public/pages", query_string={**RANGE, "format": "csv", "limit": "3"})
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    json_rows = client.get("/api/public/pages", query_string={**RANGE, "limit": "3"}).get_json()["data"]
    assert rows[0] == ["site", "page_path", "visitors", "visits", "pageviews"]
    assert rows[1:] == [[str(v) for v in row] for row in json_rows]


def test_row_cap_marks_the_answer_truncated(store, tmp_path):
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store, REPORT_MAX_ROWS=5)
    body = create_app(settings).test_client().get("/api/public/visits", query_string=RANGE).get_json()
    assert body["truncated"] is True and len(body["data"]) == 5


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("days=abc", "days"),
        ("days=0", "days"),
        ("days=3&from=2024-01-01", "days"),
        ("from=2024-02-30", "from"),
        ("to=2024-02-01", "from"),
        ("from=2024-03-02&to=2024-03-01", "to"),
        ("t0=yesterday", "t0"),
        ("limit=10001", "limit"),
        ("limit=1&limit=2", "limit"),
        ("colour=blue", "colour"),
        ("format=xml", "format"),
        ("site=" + "x" * 1001, "site"),
    ],
)
def test_bad_parameters_get_400_naming_them(client, query, parameter):
    answer = client.get(f"/api/public/pages?{query}")
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["parameter"] == parameter and parameter in body["error"]


def test_choice_and_required_parameters(client):
    assert client.get("/api/public/timeseries?granularity=week").status_code == 400
    hourly = client.get("/api/public/timeseries", query_string={**LATE_RANGE, "granularity": "hour"})
    assert len(hourly.get_json()["data"]) == 29 * 24


def test_unknown_reports_are_404(client):
    for path in ("/api/public/nope", "/api/secret/pages", "/api/public/..%2Fprivate%2Fevents"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "error" in answer.get_json()
    # Without access, a private name is refused before it is looked up: no telling what exists.
    assert client.get("/api/private/nope").status_code == 401


def test_private_reports_need_a_login_or_a_token(app, client):
    settings = app.config["CRUMBY"]
    auth = open_auth_store(settings)
    try:
        token = create_token(auth, "api-test")
        revoked = create_token(auth, "revoked")
        revoke_token(auth, revoked.split("_")[1])
    finally:
        auth.close()
    for headers in ({}, {"Authorization": "Bearer crumby_nope_nope"}, {"Authorization": f"Bearer {revoked}"}):
        answer = client.get("/api/private/events", query_string=RANGE, headers=headers)
        assert answer.status_code == 401 and "error" in answer.get_json()
    client.set_cookie("crumby_session", "forged.cookie.value")
    assert client.get("/api/private/origins").status_code == 401
    answer = client.get(
        "/api/private/events", query_string=RANGE, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200 and answer.get_json()["data"]
    assert "private" in answer.headers["Cache-Control"]
    listed = client.get("/api", headers={"Authorization": f"Bearer {token}"}).get_json()["reports"]
    assert {r["visibility"] for r in listed} == {"public", "private"}
    assert {r["visibility"] for r in client.get("/api").get_json()["reports"]} == {"public"}


def test_etag_follows_the_last_etl_load(store, client):
    first = client.get("/api/public/pages", query_string=RANGE)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, no-cache"
    again = client.get("/api/public/pages", query_string=RANGE, headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.data
    other = client.get(
        "/api/public/pages", query_string={**RANGE, "limit": "2"}, headers={"If-None-Match": etag}
    )
    assert other.status_code == 200

    engine = create_engine(store)
    with engine.begin() as conn:
        conn.execute(
            loads.insert().values(
                id=7,
                kind="etl",
                status="done",
                started_at=datetime(2024, 5, 1, 12),
                finished_at=datetime(2024, 5, 1, 12, 5),
                crumby_version="test",
            )
        )
    engine.dispose()
    after = client.get("/api/public/pages", query_string=RANGE, headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["ETag"] != etag
    assert after.headers["Last-Modified"] == "Wed, 01 May 2024 12:05:00 GMT"

    # A run still going, or one that failed, leaves the store where the last finished one put it.
    engine = create_engine(store)
    with engine.begin() as conn:
        for load_id, status in ((8, "failed"), (9, "running")):
            started = datetime(2024, 5, 2, load_id)
            conn.execute(
                loads.insert().values(
                    id=load_id, kind="etl", status=status, started_at=started, crumby_version="test"
                )
            )
    engine.dispose()
    later = client.get("/api/public/pages", query_string=RANGE)
    assert later.headers["ETag"] == after.headers["ETag"]
    assert later.headers["Last-Modified"] == "Wed, 01 May 2024 12:05:00 GMT"


def test_cors_per_setting(store, tmp_path, client):
    answer = client.get("/api/public/devices")
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    preflight = client.options("/api/private/events")
    assert (
        preflight.status_code == 204 and "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    )
    settings = make_settings(
        tmp_path, SQLALCHEMY_DATABASE_URI=store, CROSSDOMAIN_ORIGIN="https://site.example"
    )
    answer = create_app(settings).test_client().get("/api/public/devices")
    assert answer.headers["Access-Control-Allow-Origin"] == "https://site.example"
    assert "Origin" in answer.headers["Vary"]


def test_index_lists_reports_as_json_and_html(client):
    body = client.get("/api").get_json()
    names = {r["name"] for r in body["reports"]}
    assert {"summary", "timeseries", "pages", "visits", "documents", "locations", "platforms"} <= names
    pages = next(r for r in body["reports"] if r["name"] == "pages")
    assert pages["url"] == "/api/public/pages" and pages["title"] and pages["chart"] == "table"
    assert {p["name"] for p in pages["params"]} == {"site", "path", "limit"}
    html = client.get("/api", headers={"Accept": "text/html"})
    assert html.mimetype == "text/html" and b"/api/public/pages" in html.data


def test_openapi_describes_every_report_and_its_parameters(client):
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    for template in find_templates():
        operation = paths[f"/api/{template.visibility}/{template.name}"]["get"]
        names = {p["name"] for p in operation["parameters"]}
        assert {"days", "from", "to", "t0", "t1", "format"} <= names
        assert {p.name for p in template.params} <= names
        assert "400" in operation["responses"]
        assert ("401" in operation["responses"]) == (template.visibility == "private")
    limit = next(p for p in paths["/api/public/pages"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}
    prop = next(p for p in paths["/api/private/event_props"]["get"]["parameters"] if p["name"] == "prop")
    assert prop["required"] is True
    for ref in ("#/components/schemas/Report", "#/components/responses/BadParameter"):
        section, kind, name = ref[2:].split("/")
        assert name in document[section][kind]


FORMULAS = """-- title: cells a spreadsheet would run
SELECT '=HYPERLINK("http://evil.example")' AS title, '+1' AS plus, '-x' AS minus, '@SUM(A1)' AS at,
       chr(9) || 'tab' AS tab, chr(13) || 'cr' AS cr, -5 AS n, -2.5 AS x, 'plain' AS p, '-' AS "=h"
"""


def test_csv_neutralises_formulas_and_json_stays_exact(store, tmp_path):
    public = tmp_path / "mine" / "public"
    public.mkdir(parents=True)
    (public / "formulas.sql").write_text(FORMULAS)
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store, QUERIES_PATH=str(tmp_path / "mine"))
    client = create_app(settings).test_client()
    as_csv = client.get("/api/public/formulas", query_string={**RANGE, "format": "csv"}).get_data(
        as_text=True
    )
    assert as_csv == (
        "title,plus,minus,at,tab,cr,n,x,p,'=h\n"
        "\"'=HYPERLINK(\"\"http://evil.example\"\")\",'+1,'-x,'@SUM(A1),'\ttab,'\rcr,-5,-2.5,plain,'-\n"
    )
    as_json = client.get("/api/public/formulas", query_string=RANGE).get_json()
    assert as_json["columns"][-1] == "=h"
    assert as_json["data"] == [
        ['=HYPERLINK("http://evil.example")', "+1", "-x", "@SUM(A1)", "\ttab", "\rcr", -5, -2.5, "plain", "-"]
    ]

"""Logins over HTTP: a private report refused (401) without a live session or token, cookie flags,
cross-site posts, and the failed-login limit shared by two app instances."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

import pytest
from conftest import make_settings

from crumby.auth import add_user, create_token, open_auth_store, revoke_token
from crumby.serve.app import create_app
from crumby.serve.auth import close_auth_store
from crumby.store.engine import create_engine
from crumby.store.migrations import ensure_schema

PRIVATE = "/api/private/event_names?days=7"
COOKIE = "crumby_session"


@pytest.fixture
def make_app(tmp_path):
    """Apps on one (empty) DuckDB store and one auth database, as workers of one server would be."""
    (tmp_path / "data").mkdir(exist_ok=True)
    engine = create_engine(make_settings(tmp_path)["SQLALCHEMY_DATABASE_URI"])
    ensure_schema(engine)
    engine.dispose()
    apps = []

    def build(**overrides):
        app = create_app(make_settings(tmp_path, **overrides))
        apps.append(app)
        return app

    yield build
    for app in apps:
        close_auth_store(app)


@pytest.fixture
def users(tmp_path):
    store = open_auth_store(make_settings(tmp_path))
    add_user(store, "alice", "alice-password")
    yield store
    store.close()


def client_at(app, address: str):
    """A test client whose requests come from ``address``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def csrf_of(client) -> str:
    page = client.get("/login")
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def login(client, username="alice", password="alice-password", **headers):
    return client.post(
        "/login",
        data={"csrf": csrf_of(client), "username": username, "password": password},
        headers=headers,
    )


def test_login_grants_private_access_and_logout_ends_it(make_app, users):
    client = make_app().test_client()
    assert client.get(PRIVATE).status_code == 401
    answer = login(client)
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    assert client.get(PRIVATE).status_code == 200
    copy = client.get_cookie(COOKIE).value
    form = client.get("/login").text  # any page carries the logout form's token
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    assert client.post("/logout", data={"csrf": token}).status_code == 303
    assert client.get(PRIVATE).status_code == 401
    client.set_cookie(COOKIE, copy)  # a copy of the old cookie is worthless after logout
    assert client.get(PRIVATE).status_code == 401


def test_private_refused_for_expired_tampered_and_foreign_cookies(make_app, users, monkeypatch):
    app = make_app()
    client = app.test_client()
    login(client)
    signer = app.session_interface.get_signing_serializer(app)
    data = signer.loads(client.get_cookie(COOKIE).value)

    def answer_with(cookie: str) -> int:
        fresh = app.test_client()
        fresh.set_cookie(COOKIE, cookie)
        return fresh.get(PRIVATE).status_code

    assert answer_with(signer.dumps(data)) == 200  # the control: the same data, signed now, works

    real_time = time.time
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: real_time() - 13 * 3600)
        expired = signer.dumps(data)  # signed 13 hours ago; the lifetime is 12
    assert answer_with(expired) == 401

    old_login = dict(data, login_at=data["login_at"] - 13 * 3600)
    assert answer_with(signer.dumps(old_login)) == 401  # re-signed, but the login itself is too old

    value = signer.dumps(data)
    middle = len(value) // 3
    tampered = value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1 :]
    assert answer_with(tampered) == 401
    assert answer_with(signer.dumps(dict(data, username="mallory"))[:-3] + "xyz") == 401

    other = make_app(SECRET_KEY="another-secret")
    foreign = other.session_interface.get_signing_serializer(other).dumps(data)
    assert answer_with(foreign) == 401
    assert answer_with("not-a-cookie") == 401


def test_session_ends_when_user_is_deleted(make_app, users):
    from crumby.auth import delete_user

    client = make_app().test_client()
    login(client)
    assert client.get(PRIVATE).status_code == 200
    delete_user(users, "alice")
    add_user(users, "alice", "new-alice-password")  # same name again: still not the old session
    assert client.get(PRIVATE).status_code == 401


def test_bearer_tokens(make_app, users):
    client = make_app().test_client()
    token = create_token(users, "ci")
    assert client.get(PRIVATE, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    for bad in (
        token[:-1] + ("a" if token[-1] != "a" else "b"),
        "crumby_nothere_secret",
        "",
        "crumby_",
        token.replace("crumby_", ""),
    ):
        assert client.get(PRIVATE, headers={"Authorization": f"Bearer {bad}"}).status_code == 401, bad
    assert client.get(PRIVATE, headers={"Authorization": f"Basic {token}"}).status_code == 401
    revoke_token(users, "ci")
    assert client.get(PRIVATE, headers={"Authorization": f"Bearer {token}"}).status_code == 401


@pytest.mark.parametrize("secure", [False, True])
def test_cookie_flags_and_a_new_session_on_login(make_app, users, secure):
    client = make_app(SESSION_COOKIE_SECURE=secure).test_client()
    with client.session_transaction() as planted:
        planted["planted"] = "by someone else"
        planted["csrf"] = "known-to-an-attacker"
    answer = login(client)
    assert answer.status_code == 303
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert ("Secure" in cookie) is secure
    expires = datetime.strptime(re.search(r"Expires=([^;]+)", cookie).group(1), "%a, %d %b %Y %H:%M:%S GMT")
    lifetime = expires - datetime.utcnow()
    assert timedelta(hours=11) < lifetime <= timedelta(hours=12, minutes=1)
    with client.session_transaction() as now:
        assert "planted" not in now
        assert now["csrf"] != "known-to-an-attacker"
        assert set(now) == {"_permanent", "sid", "username", "login_at", "csrf"}


def test_lifetime_setting(make_app, users):
    client = make_app(SESSION_LIFETIME_HOURS=2).test_client()
    expires = re.search(r"Expires=([^;]+)", login(client).headers["Set-Cookie"]).group(1)
    left = datetime.strptime(expires, "%a, %d %b %Y %H:%M:%S GMT") - datetime.utcnow()
    assert timedelta(hours=1, minutes=59) < left <= timedelta(hours=2, minutes=1)


def test_cross_site_posts_are_refused(make_app, users):
    client = make_app().test_client()
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},
    ):
        answer = login(client, **headers)
        assert answer.status_code == 403, headers
        assert client.get(PRIVATE).status_code == 401
    missing_token = client.post("/login", data={"username": "alice", "password": "alice-password"})
    assert missing_token.status_code == 400 and "expired" in missing_token.text
    wrong_token = client.post(
        "/login", data={"csrf": "guess", "username": "alice", "password": "alice-password"}
    )
    assert wrong_token.status_code == 400
    assert client.get(PRIVATE).status_code == 401
    same_origin = login(client, Origin="http://localhost", **{"Sec-Fetch-Site": "same-origin"})
    assert same_origin.status_code == 303 and client.get(PRIVATE).status_code == 200
    token = csrf_of(client)
    refused = client.post("/logout", data={"csrf": token}, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403 and client.get(PRIVATE).status_code == 200


def test_next_never_leaves_the_server(make_app, users):
    client = make_app().test_client()
    for target, expected in (
        ("/?days=7", "/?days=7"),
        ("//evil.example/", "/"),
        ("https://evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/\n/evil.example", "/"),
    ):
        data = {"csrf": csrf_of(client), "username": "alice", "password": "alice-password", "next": target}
        assert client.post("/login", data=data).headers["Location"] == expected


def test_failed_logins_are_limited_across_app_instances(make_app, users):
    """Two app instances (as two workers would) share one auth database, so they share the count."""
    first = client_at(make_app(), "198.51.100.7")
    second = client_at(make_app(), "198.51.100.8")
    for attempt in range(5):
        client = first if attempt % 2 else second
        assert login(client, password=f"wrong-{attempt}").status_code == 401
    for client in (first, second):
        refused = login(client)  # even the right password, until the window passes
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 15 * 60
        assert "Too many failed logins" in refused.text
        assert client.get(PRIVATE).status_code == 401
    add_user(users, "bob", "bob-password")
    assert login(first, "bob", "bob-password").status_code == 303  # another account is not locked


def test_failed_logins_are_limited_per_address(make_app, users):
    first = client_at(make_app(), "203.0.113.9")
    second = client_at(make_app(), "203.0.113.9")
    for attempt in range(20):
        client = first if attempt % 2 else second
        assert login(client, username=f"guess{attempt}", password="nope-nope").status_code == 401
    refused = login(second)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    elsewhere = client_at(make_app(), "203.0.113.10")
    assert login(elsewhere).status_code == 303

"""Auth state on every backend: where it lives, idempotent tables, users, tokens, sessions, limits."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import sqlalchemy as sa
from conftest import make_settings

from crumby.auth import (
    LoginLimiter,
    add_user,
    auth_database_url,
    authenticate,
    create_token,
    end_session,
    list_tokens,
    list_users,
    open_auth_store,
    revoke_token,
    session_is_live,
    start_session,
    token_is_valid,
)
from crumby.auth.db import login_attempts
from crumby.store.migrations import ensure_schema


def test_auth_lives_beside_a_duckdb_store_and_in_any_other_store(tmp_path):
    duck = make_settings(tmp_path)
    assert auth_database_url(duck) == f"sqlite:///{tmp_path / 'data' / 'auth.sqlite'}"
    pg = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI="postgresql://postgres@127.0.0.1/x")
    assert auth_database_url(pg) == "postgresql://postgres@127.0.0.1/x"
    own = make_settings(tmp_path, AUTH_DATABASE_URI="sqlite:////srv/auth.db")
    assert auth_database_url(own) == "sqlite:////srv/auth.db"


def test_sqlite_auth_file_uses_wal(tmp_path):
    store = open_auth_store(make_settings(tmp_path))
    try:
        with store.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        store.close()


def test_auth_state_on_each_backend(store_url, tmp_path):
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store_url)
    if not store_url.startswith("duckdb"):
        ensure_schema_on(store_url)  # the ETL made the store first: its users table is reused
    first, second = open_auth_store(settings), open_auth_store(settings)  # tables made once, twice is fine
    try:
        user_id = add_user(first, "alice", "alice-password")
        assert authenticate(second, "alice", "alice-password") == user_id
        assert authenticate(second, "alice", "wrong-password") is None
        assert list_users(second) == [(user_id, "alice")]

        token = create_token(first, "reporting")
        assert token_is_valid(second, token)
        assert list_tokens(second)[0].last_used is not None
        revoke_token(second, "reporting")
        assert not token_is_valid(first, token)

        lifetime = timedelta(hours=12)
        sid = start_session(first, user_id, lifetime)
        assert session_is_live(second, sid, "alice", lifetime)
        assert not session_is_live(second, sid, "bob", lifetime)
        end_session(second, sid)
        assert not session_is_live(first, sid, "alice", lifetime)

        limit_a, limit_b = LoginLimiter(first, per_account=3), LoginLimiter(second, per_account=3)
        limit_a.admit("192.0.2.1", "Alice").failed()
        limit_b.admit("192.0.2.1", "alice").succeeded()  # clears the account, takes its own try back
        assert attempt_rows(first, "account", "alice") == 0
        assert attempt_rows(first, "ip", "192.0.2.1") == 1  # the address keeps its failure
        for limiter in (limit_a, limit_b, limit_a):
            attempt = limiter.admit("192.0.2.1", "Alice")
            assert attempt.retry_after == 0
            attempt.failed()
        refused = limit_b.admit("192.0.2.9", "alice")  # names match in any case
        assert 0 < refused.retry_after <= 15 * 60 + 1
        assert attempt_rows(second, "account", "alice") == 3  # a refusal is not counted as a failure
        assert 0 < limit_a.retry_after("192.0.2.1", "alice") <= 15 * 60 + 1
    finally:
        first.close()
        second.close()


def attempt_rows(store, kind: str, subject: str) -> int:
    with store.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count())
            .select_from(login_attempts)
            .where(login_attempts.c.kind == kind, login_attempts.c.subject == subject)
        ).scalar_one()


def test_simultaneous_logins_get_no_more_tries_than_the_limit(store_url, tmp_path):
    """Tries that all start at once, from many workers, are held to the limit as one after another are."""
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store_url)
    if not store_url.startswith("duckdb"):
        ensure_schema_on(store_url)
    store = open_auth_store(settings)
    limiter = LoginLimiter(store, per_account=3, per_ip=100)
    tries = 12
    start = threading.Barrier(tries)

    def one(n: int) -> bool:
        start.wait()
        attempt = limiter.admit(f"198.51.100.{n}", "Mallory")
        if attempt.retry_after:
            return False
        attempt.failed()
        return True

    try:
        with ThreadPoolExecutor(max_workers=tries) as pool:
            at_once = sum(pool.map(one, range(tries)))
        assert at_once <= 3
        after = 0
        while (attempt := limiter.admit("198.51.100.200", "mallory")).retry_after == 0:
            attempt.failed()
            after += 1
            assert after <= 3
        assert at_once + after == 3
        assert attempt_rows(store, "account", "mallory") == 3
    finally:
        store.close()


def ensure_schema_on(url: str) -> None:
    from crumby.store.engine import create_engine

    engine = create_engine(url)
    try:
        ensure_schema(engine)
        assert sa.inspect(engine).has_table("users")
    finally:
        engine.dispose()

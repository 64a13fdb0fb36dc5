"""Auth state on every backend: where it lives, idempotent tables, users, tokens, sessions, limits."""

from __future__ import annotations

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
        for limiter in (limit_a, limit_b, limit_a):
            assert limiter.retry_after("192.0.2.1", "Alice") == 0
            limiter.record_failure("192.0.2.1", "Alice")
        assert 0 < limit_b.retry_after("192.0.2.9", "alice") <= 15 * 60 + 1  # names match in any case
        limit_b.record_success("alice")
        assert limit_a.retry_after("192.0.2.1", "alice") == 0
    finally:
        first.close()
        second.close()


def ensure_schema_on(url: str) -> None:
    from crumby.store.engine import create_engine

    engine = create_engine(url)
    try:
        ensure_schema(engine)
        assert sa.inspect(engine).has_table("users")
    finally:
        engine.dispose()

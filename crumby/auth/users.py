"""Users who may read private reports: the ``users`` table of contract 3."""

from __future__ import annotations

import re

import sqlalchemy as sa

from ..store.schema import users
from .db import AuthStore, sessions
from .passwords import hash_password, needs_upgrade, verify_password

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@+-]{1,64}$")
MIN_PASSWORD_LENGTH = 8

# Verified when the user name is unknown, so that answer takes as long as a wrong password.
_DUMMY_HASH = hash_password("crumby-no-such-user")


class AuthError(Exception):
    """A user or token request crumby cannot carry out; the message says what to do."""


def check_username(username: str) -> str:
    if not USERNAME_PATTERN.match(username or ""):
        raise AuthError(f"user name {username!r} is not allowed: use 1 to 64 letters, digits or . _ @ + -")
    return username


def check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AuthError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters")
    return password


def add_user(store: AuthStore, username: str, password: str) -> int:
    """Add a user; returns the new id. A taken name is an error (delete the user first)."""
    check_username(username)
    hashed = hash_password(check_password(password))
    with store.begin() as conn:
        if _find(conn, username) is not None:
            raise AuthError(f"user {username!r} exists; run `crumby deluser {username}` first to replace it")
        next_id = conn.execute(sa.select(sa.func.coalesce(sa.func.max(users.c.id), 0) + 1)).scalar_one()
        conn.execute(users.insert().values(id=next_id, username=username, password=hashed))
    return int(next_id)


def delete_user(store: AuthStore, username: str) -> None:
    """Delete a user and end their sessions."""
    with store.begin() as conn:
        row = _find(conn, username)
        if row is None:
            raise AuthError(f"no user {username!r}; `crumby users` lists them")
        conn.execute(sessions.delete().where(sessions.c.user_id == row.id))
        conn.execute(users.delete().where(users.c.id == row.id))


def change_password(store: AuthStore, username: str, password: str) -> None:
    """Give a user a new password and end every session they have open (a stolen login stops working)."""
    hashed = hash_password(check_password(password))
    with store.begin() as conn:
        row = _find(conn, username)
        if row is None:
            raise AuthError(f"no user {username!r}; `crumby users` lists them")
        conn.execute(users.update().where(users.c.id == row.id).values(password=hashed))
        conn.execute(sessions.delete().where(sessions.c.user_id == row.id))


def list_users(store: AuthStore) -> list[tuple[int, str]]:
    """(id, username) of every user, by name."""
    with store.connect() as conn:
        rows = conn.execute(sa.select(users.c.id, users.c.username).order_by(users.c.username))
        return [(int(r.id), r.username) for r in rows]


def authenticate(store: AuthStore, username: str, password: str) -> int | None:
    """The user's id when the password matches, else None; an old hash is replaced by argon2id."""
    with store.connect() as conn:
        row = _find(conn, username)
    if row is None:
        verify_password(_DUMMY_HASH, password or "")
        return None
    if not verify_password(row.password, password or ""):
        return None
    if needs_upgrade(row.password):
        with store.begin() as conn:
            conn.execute(
                users.update()
                .where(users.c.id == row.id, users.c.password == row.password)
                .values(password=hash_password(password))
            )
    return int(row.id)


def _find(conn: sa.Connection, username: str):
    return conn.execute(sa.select(users.c.id, users.c.password).where(users.c.username == username)).first()

"""Login sessions, recorded so that logout and deleting a user end them at once.

The browser keeps a signed cookie naming a random session id; the auth
database keeps a hash of that id. A session counts only while its row is
there, not ended, younger than the lifetime, and its user still exists.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa

from ..store.days import utcnow
from ..store.schema import users
from .db import AuthStore, sessions


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def start_session(store: AuthStore, user_id: int, lifetime: timedelta) -> str:
    """Record a new session for ``user_id``; returns its id (for the signed cookie)."""
    sid, now = secrets.token_urlsafe(32), utcnow()
    with store.begin() as conn:
        conn.execute(sessions.delete().where(sessions.c.created < now - lifetime))
        conn.execute(sessions.insert().values(sid_hash=_hash(sid), user_id=user_id, created=now))
    return sid


def session_is_live(store: AuthStore, sid: str, username: str, lifetime: timedelta) -> bool:
    """Whether ``sid`` is a session of ``username`` that has not ended or expired."""
    with store.connect() as conn:
        found = conn.execute(
            sa.select(sessions.c.sid_hash)
            .join(users, users.c.id == sessions.c.user_id)
            .where(
                sessions.c.sid_hash == _hash(sid),
                sessions.c.ended.is_(None),
                sessions.c.created > utcnow() - lifetime,
                users.c.username == username,
            )
        ).first()
    return found is not None


def end_session(store: AuthStore, sid: str) -> None:
    with store.begin() as conn:
        conn.execute(sessions.update().where(sessions.c.sid_hash == _hash(sid)).values(ended=utcnow()))

"""API tokens for private reports, sent as ``Authorization: Bearer <token>``.

A token reads ``crumby_<key id>_<secret>``. Only a SHA-256 of the secret is
kept (the secret is 256 random bits, so a slow hash would add nothing); the
key id finds the row, and the digests are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..store.days import utcnow
from .db import AuthStore, tokens
from .users import AuthError

PREFIX = "crumby_"
# `last_used` is written at most this often, so a busy client does not turn every read into a write.
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenInfo:
    key_id: str
    name: str
    created: datetime
    last_used: datetime | None
    revoked: datetime | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(store: AuthStore, name: str) -> str:
    """Make a token named ``name`` and return it: the only time the full token is known."""
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise AuthError("give the token a name of 1 to 128 characters, e.g. `crumby token create grafana`")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with store.begin() as conn:
        conn.execute(
            tokens.insert().values(key_id=key_id, name=name, token_hash=_digest(secret), created=utcnow())
        )
    return f"{PREFIX}{key_id}_{secret}"


def list_tokens(store: AuthStore) -> list[TokenInfo]:
    """Every token, oldest first (revoked ones included, so their use can be audited)."""
    with store.connect() as conn:
        rows = conn.execute(
            sa.select(
                tokens.c.key_id, tokens.c.name, tokens.c.created, tokens.c.last_used, tokens.c.revoked
            ).order_by(tokens.c.created, tokens.c.key_id)
        )
        return [TokenInfo(*row) for row in rows]


def revoke_token(store: AuthStore, which: str) -> int:
    """Revoke the tokens whose key id or name is ``which``; returns how many."""
    with store.begin() as conn:
        count = conn.execute(
            tokens.update()
            .where(sa.or_(tokens.c.key_id == which, tokens.c.name == which), tokens.c.revoked.is_(None))
            .values(revoked=utcnow())
        ).rowcount
    if not count:
        raise AuthError(f"no active token with id or name {which!r}; `crumby token list` shows them")
    return count


def token_is_valid(store: AuthStore, token: str) -> bool:
    """Whether ``token`` is a live (made here, not revoked) token; records its use."""
    if not token.startswith(PREFIX):
        return False
    key_id, _, secret = token[len(PREFIX) :].partition("_")
    if not key_id or not secret:
        return False
    with store.connect() as conn:
        row = conn.execute(
            sa.select(tokens.c.token_hash, tokens.c.revoked, tokens.c.last_used).where(
                tokens.c.key_id == key_id
            )
        ).first()
    if row is None or not hmac.compare_digest(row.token_hash, _digest(secret)) or row.revoked is not None:
        return False
    now = utcnow()
    if row.last_used is None or now - row.last_used > LAST_USED_PRECISION:
        with store.begin() as conn:
            conn.execute(tokens.update().where(tokens.c.key_id == key_id).values(last_used=now))
    return True

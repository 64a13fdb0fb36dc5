"""Failed-login limits per account and per client address, shared by every worker process.

Failures are rows in ``_crumby_login_attempts`` in the auth database, so a
limit holds across gunicorn workers and machines, not just inside one process.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from .db import AuthStore, login_attempts
from .tokens import utcnow


class LoginLimiter:
    """At most ``per_account`` failures per user name and ``per_ip`` per address in ``window``."""

    def __init__(
        self,
        store: AuthStore,
        per_account: int = 5,
        per_ip: int = 20,
        window: timedelta = timedelta(minutes=15),
    ) -> None:
        self.store, self.per_account, self.per_ip, self.window = store, per_account, per_ip, window

    def retry_after(self, ip: str, username: str) -> int:
        """Seconds until a login may be tried again; 0 when it may be tried now."""
        now = utcnow()
        since = now - self.window
        waits = [0]
        with self.store.connect() as conn:
            for kind, subject, limit in (
                ("account", _account(username), self.per_account),
                ("ip", ip, self.per_ip),
            ):
                times = (
                    conn.execute(
                        sa.select(login_attempts.c.at)
                        .where(
                            login_attempts.c.kind == kind,
                            login_attempts.c.subject == subject,
                            login_attempts.c.at > since,
                        )
                        .order_by(login_attempts.c.at.desc())
                        .limit(limit)
                    )
                    .scalars()
                    .all()
                )
                if len(times) >= limit:
                    # Free again when the oldest of the last `limit` failures leaves the window.
                    waits.append(int((times[-1] + self.window - now).total_seconds()) + 1)
        return max(waits)

    def record_failure(self, ip: str, username: str) -> None:
        now = utcnow()
        with self.store.begin() as conn:
            conn.execute(
                login_attempts.insert(),
                [
                    {"kind": "account", "subject": _account(username), "at": now},
                    {"kind": "ip", "subject": ip[:255], "at": now},
                ],
            )
            conn.execute(login_attempts.delete().where(login_attempts.c.at < now - self.window))

    def record_success(self, username: str) -> None:
        """A right password clears the account's failures (the address keeps its count)."""
        with self.store.begin() as conn:
            conn.execute(
                login_attempts.delete().where(
                    login_attempts.c.kind == "account", login_attempts.c.subject == _account(username)
                )
            )


def _account(username: str) -> str:
    return (username or "").strip().lower()[:255]

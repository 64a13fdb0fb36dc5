"""Failed-login limits per account and per client address, shared by every worker process.

Tries are rows in ``_crumby_login_attempts`` in the auth database, so a
limit holds across gunicorn workers and machines, not just inside one process.
A try is written (and committed) before its password is checked and counted
after, so of any number of simultaneous tries at most the limit get through:
the last of them to be written sees all the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..store.days import utcnow
from .db import AuthStore, login_attempts


@dataclass
class LoginAttempt:
    """A login whose password may be checked only when :attr:`retry_after` is 0.

    Until it ends, its rows count against both limits; :meth:`failed` keeps
    them as failures, :meth:`succeeded` takes them back and clears the account.
    """

    limiter: LoginLimiter
    ip: str
    account: str
    at: datetime
    retry_after: int = 0  # seconds to wait when refused (its rows are then taken back already)

    def rows(self) -> list[dict]:
        return [
            {"kind": "account", "subject": self.account, "at": self.at},
            {"kind": "ip", "subject": self.ip, "at": self.at},
        ]

    def failed(self) -> None:
        """A wrong password: the rows stay, and failures older than the window go."""
        with self.limiter.store.begin() as conn:
            conn.execute(login_attempts.delete().where(login_attempts.c.at < self.at - self.limiter.window))

    def succeeded(self) -> None:
        """A right password clears the account's failures; the address keeps its earlier ones."""
        with self.limiter.store.begin() as conn:
            self.limiter.withdraw(conn, "ip", self.ip, self.at)
            conn.execute(
                login_attempts.delete().where(
                    login_attempts.c.kind == "account", login_attempts.c.subject == self.account
                )
            )


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

    def admit(self, ip: str, username: str) -> LoginAttempt:
        """Write this try, then count: refused (``retry_after`` > 0) when it is over a limit."""
        now = utcnow()
        if self.store.backend == "mysql":  # DATETIME keeps whole seconds: the rows must be found again
            now = now.replace(microsecond=0)
        attempt = LoginAttempt(self, ip[:255], _account(username), now)
        with self.store.begin() as conn:
            conn.execute(login_attempts.insert(), attempt.rows())
        # With this try the newest, its wait is the others' own: until the oldest of their last
        # ``limit`` leaves the window.
        wait = self._wait(attempt.ip, attempt.account, allowance=1)
        if wait:
            with self.store.begin() as conn:  # a refusal checks no password: it is not a failure
                for row in attempt.rows():
                    self.withdraw(conn, row["kind"], row["subject"], row["at"])
            attempt.retry_after = wait
        return attempt

    def retry_after(self, ip: str, username: str) -> int:
        """Seconds until a login may be tried again; 0 when it may be tried now."""
        return self._wait(ip[:255], _account(username), allowance=0)

    def _wait(self, ip: str, account: str, allowance: int) -> int:
        """Seconds until fewer than limit + ``allowance`` tries are in the window, per kind."""
        now = utcnow()
        since = now - self.window
        waits = [0]
        with self.store.connect() as conn:
            for kind, subject, limit in (("account", account, self.per_account), ("ip", ip, self.per_ip)):
                times = (
                    conn.execute(
                        sa.select(login_attempts.c.at)
                        .where(
                            login_attempts.c.kind == kind,
                            login_attempts.c.subject == subject,
                            login_attempts.c.at > since,
                        )
                        .order_by(login_attempts.c.at.desc())
                        .limit(limit + allowance)
                    )
                    .scalars()
                    .all()
                )
                if len(times) >= limit + allowance:
                    # Free again when the oldest of these tries leaves the window.
                    waits.append(int((times[-1] + self.window - now).total_seconds()) + 1)
        return max(waits)

    def withdraw(self, conn: sa.Connection, kind: str, subject: str, at: datetime) -> None:
        """Delete one try's row (on MySQL one of the same second: they are alike)."""
        statement = login_attempts.delete().where(
            login_attempts.c.kind == kind, login_attempts.c.subject == subject, login_attempts.c.at == at
        )
        conn.execute(statement.with_dialect_options(mysql_limit=1))


def _account(username: str) -> str:
    return (username or "").strip().lower()[:255]

"""Goals: what counts as a conversion, a page path pattern or an event name.

Kept in the auth database, beside users and tokens, because the CLI may
write there and the report server only reads it (it never writes to the
store). ``crumby goal add signup --event signup`` or ``--page '/pricing*'``
(``*`` stands for any text); the goals report counts each goal's visitors
and conversions, and its conversion rate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

from ..store.days import utcnow
from .db import AuthStore, goals
from .users import AuthError

GOAL_KINDS = ("page", "event")
GOAL_NAME = re.compile(r"^[^\x00-\x1f]{1,64}$")
MAX_PATTERN = 1000


@dataclass(frozen=True)
class Goal:
    name: str
    kind: str  # page or event
    pattern: str  # a page path, * for any text; or an event name


def _check(name: str, kind: str, pattern: str) -> None:
    if not GOAL_NAME.match(name or "") or name.strip() != name:
        raise AuthError("a goal's name is 1 to 64 characters, no control characters or edge spaces")
    if kind not in GOAL_KINDS:
        raise AuthError(f"a goal is a page or an event, not {kind!r}")
    if not pattern or len(pattern) > MAX_PATTERN or "\x00" in pattern:
        raise AuthError(f"give the goal's {kind} (1 to {MAX_PATTERN} characters)")
    if kind == "page" and not pattern.startswith(("/", "*")):
        raise AuthError("a page goal is a path starting with / (or *), e.g. /pricing or /blog/*")


def add_goal(store: AuthStore, name: str, kind: str, pattern: str) -> Goal:
    """Add a goal; a name already taken is an error (remove that goal first)."""
    _check(name, kind, pattern)
    with store.begin() as conn:
        if conn.execute(sa.select(goals.c.name).where(goals.c.name == name)).first() is not None:
            raise AuthError(f"there is a goal named {name!r}; remove it first to replace it")
        conn.execute(goals.insert().values(name=name, kind=kind, pattern=pattern, created=utcnow()))
    return Goal(name, kind, pattern)


def list_goals(store: AuthStore) -> list[Goal]:
    """Every goal, by name."""
    with store.connect() as conn:
        rows = conn.execute(sa.select(goals.c.name, goals.c.kind, goals.c.pattern).order_by(goals.c.name))
        return [Goal(r.name, r.kind, r.pattern) for r in rows]


def remove_goal(store: AuthStore, name: str) -> None:
    with store.begin() as conn:
        if conn.execute(goals.delete().where(goals.c.name == name)).rowcount == 0:
            raise AuthError(f"no goal named {name!r}; `crumby goal list` lists them")

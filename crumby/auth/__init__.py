"""Who may read private reports: users, password hashes, API tokens, failed-login limits.

Library code: no click, no flask. Auth state (and the goals: what counts as a
conversion) lives in the database that
:func:`crumby.auth.db.auth_database_url` names (the store itself, or a small
SQLite file beside a DuckDB store, which a read-only report server cannot write).
"""

from .db import AuthStore, auth_database_url, open_auth_store
from .goals import Goal, add_goal, list_goals, remove_goal
from .limits import LoginLimiter
from .passwords import hash_password, needs_upgrade, verify_password
from .sessions import end_session, session_is_live, start_session
from .tokens import create_token, list_tokens, revoke_token, token_is_valid
from .users import AuthError, add_user, authenticate, change_password, delete_user, list_users

__all__ = [
    "AuthError",
    "AuthStore",
    "Goal",
    "LoginLimiter",
    "add_goal",
    "add_user",
    "auth_database_url",
    "authenticate",
    "change_password",
    "create_token",
    "delete_user",
    "end_session",
    "hash_password",
    "list_goals",
    "list_tokens",
    "list_users",
    "needs_upgrade",
    "open_auth_store",
    "remove_goal",
    "revoke_token",
    "session_is_live",
    "start_session",
    "token_is_valid",
    "verify_password",
]

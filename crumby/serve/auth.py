"""Logins for private reports: the /login and /logout pages and :func:`private_access_allowed`.

The session is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure per
SESSION_COOKIE_SECURE) and lasts SESSION_LIFETIME_HOURS. Users, tokens and
failed-login counts live in the auth database (see :mod:`crumby.auth.db`).
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
)

from ..auth import (
    AuthStore,
    LoginLimiter,
    authenticate,
    end_session,
    open_auth_store,
    session_is_live,
    start_session,
    token_is_valid,
)
from .collect import client_ip

auth_blueprint = Blueprint("auth", __name__)

MAX_PASSWORD_LENGTH = 4096
UNSAFE_IN_NEXT = re.compile(r"[\x00-\x20\x7f\\]")
_store_lock = threading.Lock()


@auth_blueprint.record_once
def _configure_session(state) -> None:
    app: Flask = state.app
    hours = max(1, int(app.config.get("SESSION_LIFETIME_HOURS") or 12))
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=hours)
    app.config["SESSION_COOKIE_NAME"] = "crumby_session"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config.get("SESSION_COOKIE_SECURE"))
    app.context_processor(lambda: {"csrf_token": csrf_token, "logged_in_user": logged_in_user})


def auth_store(app: Flask | None = None) -> AuthStore:
    """The app's auth store, opened on first use (tables created if missing)."""
    app = app or current_app
    store = app.extensions.get("crumby_auth")
    if store is None:
        with _store_lock:
            store = app.extensions.get("crumby_auth")
            if store is None:
                store = open_auth_store(app.config["CRUMBY"])
                app.extensions["crumby_auth"] = store
    return store


def close_auth_store(app: Flask) -> None:
    """Release the auth store's connections (for tests and embedding)."""
    store = app.extensions.pop("crumby_auth", None)
    if store is not None:
        store.close()


def private_access_allowed() -> bool:
    """True when the request carries a live login session or a valid ``Authorization: Bearer`` token."""
    if "crumby_private" not in g:
        g.crumby_private = _bearer_allowed() if "Authorization" in request.headers else bool(logged_in_user())
    return g.crumby_private


def logged_in_user() -> str | None:
    """The signed-in user's name, or None."""
    if "crumby_session_ok" not in g:
        g.crumby_session_ok = _session_allowed()
    return session.get("username") if g.crumby_session_ok else None


def _bearer_allowed() -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    return token_is_valid(auth_store(), token.strip())


def _session_allowed() -> bool:
    sid, username, login_at = session.get("sid"), session.get("username"), session.get("login_at")
    if not isinstance(sid, str) or not isinstance(username, str) or not isinstance(login_at, int):
        return False
    lifetime = current_app.config["PERMANENT_SESSION_LIFETIME"]
    if not 0 <= time.time() - login_at <= lifetime.total_seconds():
        return False
    return session_is_live(auth_store(), sid, username, lifetime)


def csrf_token() -> str:
    """The form token tied to this browser's session (made on first use)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _csrf_ok() -> bool:
    sent, expected = request.form.get("csrf", ""), session.get("csrf")
    return isinstance(expected, str) and hmac.compare_digest(sent.encode(), expected.encode())


def is_cross_site() -> bool:
    """Whether the browser says the request comes from another site (Sec-Fetch-Site, else Origin)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site and fetch_site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    return origin == "null" or urlsplit(origin).netloc.lower() != request.host.lower()


# Pages only load crumby's own scripts and styles and may not be framed by another site.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def page_security_headers(response):
    """Headers for crumby's HTML pages: no foreign scripts, no framing, no sniffing."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


auth_blueprint.after_request(page_security_headers)


@auth_blueprint.before_request
def _refuse_cross_site_posts():
    if request.method == "POST" and is_cross_site():
        abort(403, "Cross-site form posts are refused.")


@auth_blueprint.get("/login")
def login_form():
    return render_template("login.html", next_url=_safe_next(request.args.get("next")))


@auth_blueprint.post("/login")
def login():
    next_url = _safe_next(request.form.get("next"))
    if not _csrf_ok():
        return _form_error("The login form had expired. Please sign in again.", 400, next_url)
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    store = auth_store()
    limiter = LoginLimiter(store)
    ip = client_ip(request.environ, int(current_app.config.get("PROXY_COUNT") or 0))
    attempt = limiter.admit(ip, username)
    if attempt.retry_after:
        minutes = max(1, round(attempt.retry_after / 60))
        response = _form_error(f"Too many failed logins. Try again in {minutes} minutes.", 429, next_url)
        response.headers["Retry-After"] = str(attempt.retry_after)
        return response
    user_id = None
    if username and len(password) <= MAX_PASSWORD_LENGTH:
        user_id = authenticate(store, username, password)
    if user_id is None:
        attempt.failed()
        return _form_error("Wrong user name or password.", 401, next_url)
    attempt.succeeded()
    session.clear()  # a new session on every login: nothing from before survives
    session.permanent = True
    sid = start_session(store, user_id, current_app.config["PERMANENT_SESSION_LIFETIME"])
    session.update(sid=sid, username=username, login_at=int(time.time()), csrf=secrets.token_urlsafe(32))
    return redirect(next_url, 303)


@auth_blueprint.post("/logout")
def logout():
    if not _csrf_ok():
        abort(400, "The logout form had expired; reload the page and try again.")
    if isinstance(session.get("sid"), str):
        end_session(auth_store(), session["sid"])
    session.clear()
    return redirect("/", 303)


def _form_error(message: str, status: int, next_url: str):
    return current_app.make_response(
        (render_template("login.html", error=message, next_url=next_url), status)
    )


def _safe_next(target: str | None) -> str:
    """Only a path on this server: never another host (an open redirect).

    Browsers drop tabs and newlines from addresses and read ``\\`` as ``/``,
    so ``/\t/evil.example`` and ``/\\evil.example`` lead elsewhere too.
    """
    if not target or not target.startswith("/") or UNSAFE_IN_NEXT.search(target) or target.startswith("//"):
        return "/"
    return target

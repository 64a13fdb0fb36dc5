"""The Flask application factory: the report server, with the collector in front of it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from ..config import ConfigError, ensure_folder, load_settings
from .auth import auth_blueprint
from .collect import Collector
from .dashboard import dashboard_blueprint
from .reports import reports_blueprint


def secret_key(settings: Mapping[str, Any]) -> str:
    """SECRET_KEY, or a random key made once and kept (mode 600) in DATA_DIR/secret_key."""
    if settings.get("SECRET_KEY"):
        return settings["SECRET_KEY"]
    path = Path(ensure_folder(settings, "DATA_DIR")) / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot keep a secret key in {path} ({exc.strerror}); set SECRET_KEY") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def create_app(settings: Mapping[str, Any] | None = None) -> Flask:
    """Build the web app: defaults, then the settings file, then ``CRUMBY_*`` (see :mod:`crumby.config`).

    ``settings`` (a mapping of overrides) is for tests and embedding.
    """
    if settings is None:
        settings = load_settings()
    elif "DATA_DIR" not in settings or "LOG_DIR" not in settings:
        settings = load_settings(overrides=settings)
    app = Flask(__name__)
    app.config.from_mapping(settings)
    app.config["SECRET_KEY"] = secret_key(settings)
    app.config["CRUMBY"] = settings
    app.register_blueprint(auth_blueprint)
    app.register_blueprint(dashboard_blueprint)
    app.register_blueprint(reports_blueprint)

    app.wsgi_app = Collector(settings, fallback=app.wsgi_app)
    return app

"""Settings: defaults, then the ``CRUMBY_SETTINGS`` file, then ``CRUMBY_*`` variables.

One table (:data:`SETTINGS`) names every key with its default and help text;
``crumby init``, ``crumby env`` and the README's settings table are all made
from it, so a key cannot exist without being documented.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SETTINGS_ENV = "CRUMBY_SETTINGS"
ENV_PREFIX = "CRUMBY_"


class ConfigError(Exception):
    """A setting has a value crumby cannot use; the message names the key."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    kind: str  # "str", "int", "bool", "list", "path", "choice"
    help: str
    secret: bool = False
    choices: tuple[str, ...] = ()
    legacy: bool = False  # a key of the original Crumby, kept with its meaning


def default_data_dir() -> Path:
    """The per-user data folder (XDG), where the default store and logs live."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "crumby"


# Defaults that depend on DATA_DIR are written "{DATA_DIR}/..." and filled in
# after DATA_DIR itself is known.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATA_DIR",
        None,
        "path",
        "Folder for crumby's own files (default store, logs, keys). "
        "Default: $XDG_DATA_HOME/crumby or ~/.local/share/crumby.",
    ),
    Setting(
        "DOMAIN",
        "",
        "str",
        "Host (and port) that serves cmb.js and receives hits, e.g. stats.example.com. "
        "Empty: the tracker sends hits to the server it was loaded from.",
        legacy=True,
    ),
    Setting(
        "SQLALCHEMY_DATABASE_URI",
        "duckdb:///{DATA_DIR}/crumby.duckdb",
        "str",
        "Where the ETL loads and the reports read: a DuckDB file (default) or any "
        "SQLAlchemy URL (postgresql://, mysql+pymysql://, sqlite:///, clickhouse://user:pw@host:9000/db).",
        secret=True,
        legacy=True,
    ),
    Setting(
        "CLICKHOUSE_CLUSTER",
        "",
        "str",
        "For a ClickHouse store spread over shards: the cluster's name in the servers' remote_servers "
        "(or ?cluster= in the store URL). The ETL makes the tables on each of its hosts, with "
        "Distributed tables over them sharded by visitor. Empty: one ClickHouse node.",
    ),
    Setting(
        "GEOIP2_DATABASE_NAME",
        "",
        "str",
        "Path to a GeoIP2/GeoLite2 City .mmdb file. Empty: DATA_DIR/GeoLite2-City.mmdb once "
        "`crumby geoip` has installed it there, else the GeoLite2 City file bundled with crumby "
        "(from 2018, so newer address blocks are placed wrongly or not at all).",
        legacy=True,
    ),
    Setting(
        "SECRET_KEY",
        "",
        "str",
        "Signs login sessions. Empty: a random key is made once and kept in DATA_DIR/secret_key.",
        secret=True,
        legacy=True,
    ),
    Setting(
        "SESSION_COOKIE_SECURE",
        False,
        "bool",
        "Send the login cookie over HTTPS only. Set to true in production.",
        legacy=True,
    ),
    Setting(
        "PROXY_COUNT",
        0,
        "int",
        "How many trusted reverse proxies (nginx, a load balancer) stand in front of crumby; "
        "the client address is taken that many hops back in X-Forwarded-For.",
        legacy=True,
    ),
    Setting(
        "CROSSDOMAIN_ORIGIN",
        "*",
        "str",
        "Value of Access-Control-Allow-Origin on the collection endpoint and the report API.",
        legacy=True,
    ),
    Setting(
        "SQLALCHEMY_TRACK_MODIFICATIONS",
        False,
        "bool",
        "Accepted for compatibility with the original Crumby; has no effect.",
        legacy=True,
    ),
    Setting("DEBUG", False, "bool", "Run the development server in debug mode.", legacy=True),
    Setting(
        "SQLALCHEMY_ECHO", False, "bool", "Log every SQL statement crumby sends to the store.", legacy=True
    ),
    Setting(
        "LOG_DIR",
        "{DATA_DIR}/logs",
        "path",
        "Folder where the collector appends raw hits (one JSON line per hit) and the ETL reads them.",
    ),
    Setting(
        "LOG_FSYNC",
        False,
        "bool",
        "fsync the raw log after every hit: survives a power cut, at a large cost in hits/s. "
        "Without it a hit survives a crash of crumby but not of the machine.",
    ),
    Setting(
        "SITES",
        (),
        "list",
        "Comma-separated host names whose hits are accepted (e.g. example.com,www.example.com). "
        "Empty: accept every site.",
    ),
    Setting(
        "RESPECT_DNT",
        True,
        "bool",
        "The tracker sends nothing from browsers with Do Not Track or Global Privacy Control on.",
    ),
    Setting(
        "COOKIELESS",
        False,
        "bool",
        "The tracker sets no cid cookie; visitors are counted by a daily-salted hash instead.",
    ),
    Setting(
        "IP_PRIVACY",
        "anonymised",
        "choice",
        "What the store keeps of a visitor's IP address once the ETL has used it for location and "
        "the cookieless visitor hash: anonymised (IPv4 /24, IPv6 /48), full, or none.",
        choices=("anonymised", "full", "none"),
    ),
    Setting(
        "BOT_PATTERNS",
        (),
        "list",
        "Comma-separated regular expressions (matched without regard to case) for user agents of "
        "your own robots, on top of the maintained bot lists crumby reads; such hits are flagged as "
        "bots. A change applies to later loads, or to all with `crumby etl --reprocess`.",
    ),
    Setting(
        "SESSION_TIMEOUT",
        30,
        "int",
        "Minutes of inactivity after which a visitor's next hit starts a new session.",
    ),
    Setting(
        "RAW_LOG_RETENTION_DAYS",
        30,
        "int",
        "Days a raw log file is kept after it has been fully loaded; 0 keeps them forever. "
        "Files not yet loaded are never removed.",
    ),
    Setting(
        "RAW_LOG_EXPIRY",
        "compress",
        "choice",
        "What happens to a loaded raw log past RAW_LOG_RETENTION_DAYS: compress (gzip it and "
        "scrub full IP addresses; it can still be reprocessed) or delete.",
        choices=("compress", "delete"),
    ),
    Setting(
        "ROW_RETENTION_DAYS",
        0,
        "int",
        "Days loaded visits and events are kept in the store; 0 keeps them forever.",
    ),
    Setting(
        "REJECTS_DIR",
        "{DATA_DIR}/rejects",
        "path",
        "Folder where the ETL sets aside raw log lines it cannot load, each with its file:offset "
        "and the reason.",
    ),
    Setting(
        "QUERIES_PATH",
        (),
        "list",
        "Comma-separated folders of your own report templates, each with public/ and private/ "
        "subfolders; a file there overrides a built-in report of the same name.",
    ),
    Setting(
        "AUTH_DATABASE_URI",
        "",
        "str",
        "Where users, API tokens and failed logins are kept (any SQLAlchemy URL). Empty: the store "
        "itself, or DATA_DIR/auth.sqlite when the store is DuckDB (the report server opens it read-only) "
        "or ClickHouse.",
        secret=True,
    ),
    Setting(
        "SESSION_LIFETIME_HOURS",
        12,
        "int",
        "Hours a login lasts; after that the user signs in again.",
    ),
    Setting(
        "REPORT_TIMEOUT",
        10,
        "int",
        "Seconds a report query may run before it is stopped (the API then answers 503).",
    ),
    Setting(
        "REPORT_MAX_ROWS",
        10000,
        "int",
        "Most rows a report returns; beyond that the answer is cut and marked truncated.",
    ),
)

SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}

TRUE_WORDS = {"1", "true", "yes", "on", "y", "t"}
FALSE_WORDS = {"0", "false", "no", "off", "n", "f", ""}


def _convert(setting: Setting, value: Any, source: str) -> Any:
    """Turn a raw value (a string from the environment, or a Python value) into the key's type."""
    where = f" (from {source})" if source else ""
    kind = setting.kind
    if kind == "bool":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ConfigError(f"{setting.name} must be true or false, got {value!r}{where}")
    if kind == "int":
        if isinstance(value, bool):
            raise ConfigError(f"{setting.name} must be a whole number, got {value!r}{where}")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ConfigError(f"{setting.name} must be a whole number, got {value!r}{where}") from None
        if number < 0:
            raise ConfigError(f"{setting.name} must not be negative, got {number}{where}")
        return number
    if kind == "list":
        if isinstance(value, str):
            items = value.split(",")
        elif isinstance(value, (list, tuple, set, frozenset)):
            items = [str(v) for v in value]
        else:
            raise ConfigError(f"{setting.name} must be a comma-separated list, got {value!r}{where}")
        return tuple(item.strip() for item in items if item.strip())
    if kind == "choice":
        word = str(value).strip().lower()
        if word not in setting.choices:
            raise ConfigError(
                f"{setting.name} must be one of {', '.join(setting.choices)}, got {value!r}{where}"
            )
        return word
    if kind == "path":
        if value is None or str(value).strip() == "":
            raise ConfigError(f"{setting.name} must name a folder{where}")
        return Path(os.path.expanduser(str(value)))
    if value is None:
        return ""
    return str(value)


def read_settings_file(path: str | os.PathLike) -> dict[str, Any]:
    """Run a Python-syntax settings file (as the original Crumby did) and keep its UPPERCASE names."""
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{SETTINGS_ENV} names {path}, which cannot be read: {exc.strerror}") from None
    namespace: dict[str, Any] = {"__file__": str(path)}
    try:
        exec(compile(source, str(path), "exec"), namespace)  # noqa: S102 - the owner's own file
    except Exception as exc:  # a typo in the file should say where, not print a traceback
        raise ConfigError(f"{path} could not be read as Python: {exc}") from None
    return {k: v for k, v in namespace.items() if k.isupper()}


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return every setting with its effective, typed value.

    Order: defaults, the file named by ``CRUMBY_SETTINGS``, ``CRUMBY_<KEY>``
    variables, then ``overrides`` (used by tests and the Python API).
    Unknown keys in the file are kept as they are, so a user's own
    additions remain reachable.
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, tuple[Any, str]] = {}
    settings_file = environ.get(SETTINGS_ENV)
    if settings_file:
        for key, value in read_settings_file(settings_file).items():
            raw[key] = (value, settings_file)
    for setting in SETTINGS:
        env_key = ENV_PREFIX + setting.name
        if env_key in environ:
            raw[setting.name] = (environ[env_key], env_key)
    for key, value in (overrides or {}).items():
        raw[key] = (value, "")

    result: dict[str, Any] = {}
    extra = {k: v for k, (v, _) in raw.items() if k not in SETTINGS_BY_NAME}
    for setting in SETTINGS:
        if setting.name in raw:
            value, source = raw[setting.name]
            result[setting.name] = _convert(setting, value, source)
        elif setting.name == "DATA_DIR":
            result["DATA_DIR"] = default_data_dir()
        elif isinstance(setting.default, str) and "{DATA_DIR}" in setting.default:
            text = setting.default.replace("{DATA_DIR}", str(result["DATA_DIR"]))
            result[setting.name] = _convert(setting, text, "")
        else:
            result[setting.name] = setting.default
    result.update(extra)
    return result


def ensure_folder(settings: Mapping[str, Any], key: str) -> Path:
    """Create the folder a setting names, or stop with a message naming the key."""
    path = Path(settings[key])
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{key} is {path}, which cannot be created ({exc.strerror}); "
            f"set {ENV_PREFIX}{key} to a folder crumby may write to"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{key} is {path}, which crumby may not write to; fix its permissions or set {ENV_PREFIX}{key}"
        )
    return path


def display_value(setting: Setting, value: Any) -> str:
    """A value as `crumby env` shows it: secrets masked, lists comma-joined."""
    if setting.secret and value:
        text = str(value)
        if "://" in text:  # a database URL: hide only the password
            return _mask_url_password(text)
        return "********"
    if isinstance(value, (tuple, list)):
        return ",".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _mask_url_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    auth, at, host = rest.rpartition("@")
    if not at or ":" not in auth:
        return url
    user = auth.split(":", 1)[0]
    return f"{scheme}://{user}:********@{host}"


def settings_template() -> str:
    """The commented settings file that `crumby init` writes."""
    lines = [
        "# crumby settings (Python syntax). Point CRUMBY_SETTINGS at this file.",
        "# Every key can also be set as an environment variable CRUMBY_<KEY>, which wins over this file.",
        "# Uncomment and edit what you need; commented keys keep their defaults.",
        "",
    ]
    for setting in SETTINGS:
        for chunk in _wrap(setting.help, 86):
            lines.append(f"# {chunk}")
        default = setting.default
        if setting.name == "DATA_DIR":
            default = str(default_data_dir())
        lines.append(f"# {setting.name} = {default!r}")
        lines.append("")
    return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines


def settings_markdown() -> str:
    """The README's settings table (kept in step by ``scripts/update_readme.py``; a test checks it)."""
    rows = ["| setting | default | what it does |", "| --- | --- | --- |"]
    for setting in SETTINGS:
        default = setting.default
        if setting.name == "DATA_DIR":
            default = "~/.local/share/crumby"
        elif isinstance(default, bool):
            default = "true" if default else "false"
        elif default in ("", (), None):
            default = "(empty)"
        origin = " (original Crumby)" if setting.legacy else ""
        rows.append(f"| `{setting.name}`{origin} | `{default}` | {setting.help} |")
    return "\n".join(rows)

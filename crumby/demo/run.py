"""Set up the demo: made-up traffic through the real collector, the real ETL, and a login."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import load_settings
from .traffic import iter_demo_requests

DEMO_USER = "demo"
TRAFFIC_DONE = "demo-traffic.done"


@dataclass
class DemoResult:
    settings: dict[str, Any]
    hits_sent: int
    etl_report: Any
    username: str
    password: str


def demo_settings(folder: Path, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Embedded defaults rooted in ``folder``: a DuckDB file, the bundled GeoLite2 database, logs."""
    folder = Path(folder).resolve()
    return load_settings(
        environ=environ,
        overrides={
            "DATA_DIR": folder,
            "LOG_DIR": folder / "logs",
            "REJECTS_DIR": folder / "rejects",
            "SQLALCHEMY_DATABASE_URI": f"duckdb:///{folder / 'crumby.duckdb'}",
            "GEOIP2_DATABASE_NAME": "",
        },
    )


def send_demo_traffic(
    settings: Mapping[str, Any], days: int, daily_visitors: int, progress: Callable[[int], None] | None = None
) -> int:
    """Replay the made-up requests through the collector, each at its own moment; returns hits written.

    Runs once per demo folder: a marker file makes a rerun send nothing more.
    """
    from ..serve.collect import Collector

    marker = Path(settings["DATA_DIR"]) / TRAFFIC_DONE
    if marker.exists():
        return 0
    requests = sorted(iter_demo_requests(days=days, daily_visitors=daily_visitors), key=lambda r: r.at)
    moment = {"now": 0.0}
    collector = Collector(settings, clock=lambda: moment["now"])
    statuses: list[str] = []

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        statuses.append(status)

    sent = 0
    for number, request in enumerate(requests, 1):
        moment["now"] = request.at
        b"".join(collector(request.environ, start_response))
        if not statuses[-1].startswith("2"):
            raise RuntimeError(f"the collector refused a demo hit: {statuses[-1]}")
        sent += 1
        if progress and number % 500 == 0:
            progress(500)
    collector.log.close()
    marker.write_text(f"{sent}\n")
    return sent


def ensure_demo_login(settings: Mapping[str, Any]) -> tuple[str, str]:
    """A fresh password for the demo user (made on the first run, reset on each later one)."""
    from ..auth.db import open_auth_store
    from ..auth.users import add_user, delete_user, list_users

    password = secrets.token_urlsafe(9)
    store = open_auth_store(settings)
    try:
        if any(name == DEMO_USER for _, name in list_users(store)):
            delete_user(store, DEMO_USER)
        add_user(store, DEMO_USER, password)
    finally:
        store.close()
    return DEMO_USER, password


def run_demo(
    folder: Path, days: int = 60, daily_visitors: int = 60, progress: Callable[[int], None] | None = None
) -> DemoResult:
    """Send the demo traffic (once), load it with the real ETL (idempotent), and make a login."""
    from ..etl.pipeline import run as run_etl

    settings = demo_settings(folder)
    sent = send_demo_traffic(settings, days, daily_visitors, progress)
    report = run_etl(settings)
    username, password = ensure_demo_login(settings)
    return DemoResult(settings, sent, report, username, password)

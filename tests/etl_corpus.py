"""A small raw-log corpus with variety, `crumby etl` as a subprocess, and the store's rows to compare.

Hits are one second apart or more, in time order, one writer per hour, with
cid visitors: the rows a load gives do not depend on where batches start.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

from crumby.hits import make_hit, serialise
from crumby.store.bookkeeping import files
from crumby.store.engine import backend_name, create_engine
from tests.conftest import MYSQL_ADMIN_URL, PG_ADMIN_URL, _server_database

UAS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
)
IPS = ("81.2.69.142", "2.125.160.216", "89.160.20.112", "216.160.83.56", "2001:218:85a3::1", "67.43.156.7")
REFERRERS = (
    "",
    "",
    "https://www.google.com/",
    "https://news.ycombinator.com/item?id=1",
    "https://example.com/",
)
QUERIES = ("", "", "?utm_source=newsletter&utm_medium=email&utm_campaign=nov", "?gclid=abc123", "?q=1")
HOUR = timedelta(hours=1)


def recent_start(days_ago: int = 2) -> datetime:
    """Midnight UTC ``days_ago`` days back: inside every retention, and the calendar stays short."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def corpus(
    count: int, start: datetime, *, seed: int = 7, step_seconds: int = 4, visitors: int = 150
) -> list[tuple[datetime, bytes]]:
    """``count`` hits from ``start`` on, ``step_seconds`` apart: visits and events of ``visitors`` cids."""
    rng = random.Random(seed)
    lines = []
    for n in range(count):
        when = start + timedelta(seconds=n * step_seconds, milliseconds=rng.randrange(1000))
        event = rng.random() < 0.15
        fields = {
            "t": "event" if event else "visit",
            "cid": f"cid{rng.randrange(visitors):04d}",
            "dl": f"https://example.com/p{rng.randrange(40)}{rng.choice(QUERIES)}",
            "dt": f"Page {n % 40}",
            "ul": "en-GB",
            "sr": "1920x1080",
            "sd": "24",
            "de": "UTF-8",
        }
        referrer = rng.choice(REFERRERS)
        if referrer:
            fields["dr"] = referrer
        if event:
            fields.update(en=rng.choice(("click", "signup")), ev=str(rng.randrange(10)))
            fields["props"] = {"plan": rng.choice(("free", "pro"))}
        ts = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
        hit = make_hit(
            fields,
            ip=rng.choice(IPS),
            ua=rng.choice(UAS),
            referer=fields["dl"],
            lang="en-GB,en;q=0.9",
            hit_id=f"k{seed:02d}{n:07d}",
            ts=ts,
        )
        lines.append((when, serialise(hit)))
    return lines


def log_path(folder: Path, when: datetime, writer: str = "w1") -> Path:
    return Path(folder) / f"hits-{when:%Y%m%d%H}-{writer}.jsonl"


def append_hits(folder: Path, lines: list[tuple[datetime, bytes]]) -> None:
    """Append whole lines to each hit's hour file, as the collector would."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    by_file: dict[Path, list[bytes]] = {}
    for when, line in lines:
        by_file.setdefault(log_path(folder, when), []).append(line)
    for path, chunk in by_file.items():
        with open(path, "ab") as handle:
            handle.write(b"".join(chunk))


def over_three_runs(old: datetime, new: datetime) -> list[list[tuple[datetime, bytes]]]:
    """Two days' hits (400 each, visitors' page views minutes apart) as three runs would find them:
    the old day's first half; its second half with the new day's first; the new day's second half.

    A visit goes on from one run into the next (ClickHouse then lists its older version as
    superseded): the ETL keeps a visitor's session state for a day past the newest hits it
    loaded, so the old day's visits are continued before the new day's are loaded.
    """
    days = [
        corpus(400, start, seed=seed, step_seconds=10, visitors=40) for start, seed in ((old, 1), (new, 2))
    ]
    return [days[0][:200], days[0][200:] + days[1][:200], days[1][200:]]


SMALL_BATCH = 1 << 14  # a few dozen lines: visits span many batches


def split_between_writers(lines, folder, parts=3):
    """Every other line to a second writer's file of the same hour, in ``parts`` appends (runs)."""
    share = len(lines) // parts
    for part in range(parts):
        chunk = lines[part * share : (part + 1) * share if part < parts - 1 else len(lines)]
        first = [line for n, line in enumerate(chunk) if n % 2 == 0]
        second = [line for n, line in enumerate(chunk) if n % 2 == 1]
        append_hits(folder, first)
        for when, line in second:
            with open(log_path(folder, when, writer="w2"), "ab") as handle:
                handle.write(line)
        yield part


def load_between_writers(tmp_path: Path, store_url: str) -> dict:
    """900 hits of one morning, two writers' files per hour, loaded over three runs in small batches
    (visits then span batches and runs); returns the settings the runs used."""
    from crumby.etl.pipeline import run
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store_url)
    lines = corpus(900, recent_start() + timedelta(hours=9), step_seconds=20)
    for _ in split_between_writers(lines, tmp_path / "logs"):
        run(settings, batch_bytes=SMALL_BATCH)
    return settings


def etl_env(tmp: Path, store_url: str, logs: Path, **settings: str) -> dict[str, str]:
    """Environment for `python -m crumby etl`: only CRUMBY_* settings of its own, none of the caller's."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(tmp)}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    env.update(
        CRUMBY_DATA_DIR=str(tmp / "data"),
        CRUMBY_LOG_DIR=str(logs),
        CRUMBY_SQLALCHEMY_DATABASE_URI=store_url,
        CRUMBY_SECRET_KEY="test-secret",
    )
    env.update({f"CRUMBY_{key}": value for key, value in settings.items()})
    return env


def etl_command(*options: str) -> list[str]:
    return [sys.executable, "-m", "crumby", "etl", *options]


def run_etl(env: dict[str, str], *options: str, wrapper: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """`crumby etl` to its end (under ``wrapper``, a command that runs it); returns the finished process."""
    command = [*wrapper, *etl_command(*options)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def query(url: str, sql: str, **params) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params).all()]
    finally:
        engine.dispose()


def in_transaction(url: str, action) -> None:
    """``action(conn)`` in one transaction on the store at ``url`` (the ETL's own code, called by hand)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            action(conn)
    finally:
        engine.dispose()


def table_rows(url: str, table: str, leave_out: tuple[str, ...] = ("load_id",)) -> list[tuple]:
    """Every row of ``table`` without the ``leave_out`` columns, sorted (None sorts first)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            result = conn.execute(sa.text(f"SELECT * FROM {table}"))
            keep = [i for i, name in enumerate(result.keys()) if name not in leave_out]
            rows = [tuple(_plain(row[i]) for i in keep) for row in result.all()]
    finally:
        engine.dispose()
    return sorted(rows, key=lambda row: [(v is not None, str(v)) for v in row])


def _plain(value):
    if isinstance(value, bool):
        return int(value)  # MariaDB gives booleans back as 0/1
    return value


def checkpoints(url: str) -> dict[str, tuple]:
    """name -> (loaded_bytes, lines, rejected, expired) from _crumby_files."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.select(
                files.c.name, files.c.loaded_bytes, files.c.lines, files.c.rejected, files.c.expired
            )
            if backend_name(url) == "clickhouse":  # each file's newest row
                query = sa.text(
                    f"SELECT name, loaded_bytes, lines, rejected, expired FROM {files.name} FINAL"
                )
            rows = conn.execute(query).all()
    finally:
        engine.dispose()
    return {row[0]: tuple(row[1:]) for row in rows}


@contextlib.contextmanager
def another_store(like_url: str, folder: Path) -> Iterator[str]:
    """A fresh, empty store on the same backend as ``like_url``."""
    backend = backend_name(like_url)
    if backend == "duckdb":
        yield f"duckdb:///{folder / 'other.duckdb'}"
    elif backend == "sqlite":
        yield f"sqlite:///{folder / 'other.sqlite'}"
    elif backend == "postgresql":
        yield from _server_database(PG_ADMIN_URL, "PostgreSQL", "see tests/conftest.py")
    elif backend == "clickhouse":
        yield _clickhouse_sibling(like_url)
    else:
        yield from _server_database(MYSQL_ADMIN_URL, "MariaDB", "see tests/conftest.py")


def _clickhouse_sibling(like_url: str) -> str:
    """A new database on the same ClickHouse server."""
    from clickhouse_driver import Client

    url = sa.engine.make_url(like_url)
    name = f"crumby_test_{os.urandom(5).hex()}"
    Client(url.host, port=url.port).execute(f"CREATE DATABASE {name}")
    return url.set(database=name).render_as_string(hide_password=False)


def summary_numbers(line: str) -> dict:
    """The numbers of `crumby etl -v`'s summary line, e.g. {'files': 3, 'hits': 120, ...}."""
    words = line.replace(",", "").replace("(", "").replace(")", "").split()
    numbers = {}
    for i, word in enumerate(words[:-1]):
        if word.replace(".", "", 1).isdigit():
            numbers.setdefault(words[i + 1], float(word) if "." in word else int(word))
    return numbers


def dump(rows: list[tuple]) -> str:
    return json.dumps(rows[:3], default=str)

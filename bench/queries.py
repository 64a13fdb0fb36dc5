"""Benchmark: each built-in report over a 30-day window, through the HTTP API and run directly.

    python bench/queries.py --backend duckdb --hits 10000000
    python bench/queries.py --backend postgresql --hits 10000000 --url postgresql://postgres@127.0.0.1/crumby_bench

Builds a synthetic store of HITS page views over 90 days (made with DuckDB SQL
straight into the store's tables, time-ordered as the ETL loads them, 10% of
them with an event), starts the report server under gunicorn in its own
process, and for every built-in report measures, in the same run:

- api:    GET /api/<visibility>/<name> (a fresh request each time, no ETag sent);
- direct: the very SQL the template renders, with the same bound values, on a
          fresh read-only connection of the plain driver (what the server must do
          on DuckDB, which admits no reader while the ETL writes);
- warm:   the same on one long-lived connection, kept by a child process so
          that it does not share an instance with the fresh ones (DuckDB only:
          what the report server does between two ETL batches);
- http:   GET of an address that matches no route (a short JSON 404): the
          least any request costs through the same client, server and Flask.

A report answered through the API costs at least http + direct, so the
"best" column, (http + direct) / direct, is the lowest ratio any report
server could reach for it on this machine.

They are interleaved, run after run, so that a busy machine slows them alike.

With ``--filter country:is:DE`` (repeatable) every report is run filtered so:
run once without and once with it to see what a filter costs.

It prints the p50 of each and the ratio api/direct. The store is kept in
--workdir and reused once it is built whole (pass --rebuild to redo it); the
PostgreSQL copy is made again when its row count differs from the DuckDB store's.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import requests
import sqlalchemy as sa

from crumby.etl.daily import rebuild_all as sum_every_day
from crumby.etl.daily import refresh as refresh_daily_figures
from crumby.etl.keys import id_keys
from crumby.etl.rollup import backfill, ensure_built
from crumby.etl.stored_keys import fill_stored_keys
from crumby.queries import find_templates
from crumby.queries.run import prepare
from crumby.store.engine import create_engine
from crumby.store.handoff import is_lock_conflict
from crumby.store.migrations import ensure_schema

START = datetime(2024, 1, 1)
DAYS = 90
ALL_COLUMNS = ", ".join(f"c{n}" for n in range(1, 33))  # the page view columns, by position
KEPT_COLUMNS = ALL_COLUMNS.removeprefix("c1, ")  # all but the id, given anew in time order
# the store's tables the PostgreSQL copy takes from the DuckDB one
COPIED_TABLES = (
    "events",
    "visits",
    "calendar",
    "sessions",
    "document_days",
    "origin_days",
    "visitor_days",
    "page_visitor_days",
    "page_day_figures",
)
SESSION_SIZE = 3.125  # mean page views per visit of the size mix below


def _pick(values: list[str], key: str) -> str:
    """SQL choosing one of ``values`` (repeat a value to weight it) by a hash expression."""
    items = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"([{items}])[1 + CAST(({key}) % {len(values)} AS INTEGER)]"


COUNTRIES = (
    ["US"] * 8 + ["DE"] * 4 + ["GB"] * 3 + ["FR"] * 2 + ["IN", "BR", "JP", "CA", "NL", "ES", "IT", "PL"]
)
BROWSERS = [
    "Chrome|Windows|desktop",
    "Chrome|Windows|desktop",
    "Chrome|Mac OS X|desktop",
    "Safari|Mac OS X|desktop",
    "Firefox|Linux|desktop",
    "Edge|Windows|desktop",
    "Chrome Mobile|Android|mobile",
    "Chrome Mobile|Android|mobile",
    "Mobile Safari|iOS|mobile",
    "Mobile Safari|iOS|mobile",
    "Mobile Safari|iOS|tablet",
    "Samsung Internet|Android|mobile",
]
SCREENS = ["1920x1080", "1920x1080", "1440x900", "1366x768", "390x844", "414x896", "768x1024", "2560x1440"]
LANGS = ["en-US", "en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "ja", "pt-BR", "nl"]
# Referrer, its domain, source and channel of a visit's first page view. Search engines send only
# their home page; links from posts, threads and other sites have the long tail real sites see:
# <n> is a number from 0 to REFERRER_TAIL - 1, drawn per visit.
SOURCES = [
    "|||direct",
    "|||direct",
    "https://www.google.com/|www.google.com|Google|search",
    "https://www.google.com/|www.google.com|Google|search",
    "https://www.bing.com/|www.bing.com|Bing|search",
    "https://duckduckgo.com/|duckduckgo.com|DuckDuckGo|search",
    "https://news.ycombinator.com/item?id=<n>|news.ycombinator.com|Hacker News|social",
    "https://t.co/<n>|t.co|Twitter|social",
    "https://blog.example.net/post-<n>|blog.example.net|blog.example.net|referral",
    "https://forum.example.org/thread/<n>|forum.example.org|forum.example.org|referral",
    "||Newsletter|email",
]
REFERRER_TAIL = 2000


def build_duckdb(path: Path, hits: int) -> None:
    """HITS page views (and ~HITS/10 events) over 90 days, written with DuckDB SQL, sorted by time.

    Row ids follow time, as the ETL's do (it numbers rows in load order).
    """
    engine = create_engine(f"duckdb:///{path}")
    ensure_schema(engine)
    engine.dispose()
    sessions = int(hits / SESSION_SIZE)
    visitors = max(sessions // 3, 1)
    conn = duckdb.connect(str(path))
    # the visitor and visit keys, as the ETL makes them
    conn.create_function("id_key", id_keys, ["VARCHAR"], "BIGINT", type="arrow")
    conn.execute("SELECT setseed(0.42)")
    conn.execute(
        f"""
        CREATE TEMP TABLE s AS
        SELECT i AS sid,
               CAST(floor(pow(random(), 1.7) * {visitors}) AS BIGINT) AS vid,
               TIMESTAMP '{START:%Y-%m-%d}'
                 + to_seconds(CAST(floor(random() * {DAYS * 86400 - 3600}) AS BIGINT)) AS t0,
               CASE WHEN r < 0.45 THEN 1 WHEN r < 0.65 THEN 2
                    ELSE 3 + CAST(floor(random() * 8) AS INTEGER) END AS size,
               hash(i) AS sh
        FROM (SELECT range AS i, random() AS r FROM range({sessions}))
        """
    )
    source = f"replace({_pick(SOURCES, 's.sh')}, '<n>', CAST((s.sh >> 12) % {REFERRER_TAIL} AS VARCHAR))"
    agent = _pick(BROWSERS, "hash(s.vid) >> 8")
    conn.execute(
        f"""
        INSERT INTO visits (id, hit_id, ip, cid, datetime, doc_title, doc_uri, referrer, platform,
            browser, version, screen_res, continent, country, subdivision_1, city, lang, site, page_path,
            visitor_id, session_id, is_bot, os, device, referrer_domain, referrer_source, channel,
            utm_source, utm_medium, utm_campaign, visitor_key, visit_key)
        SELECT row_number() OVER (ORDER BY c5, c2), {KEPT_COLUMNS}
        FROM (
        SELECT s.sid * 16 + k, 'h' || (s.sid * 16 + k), '10.' || (s.vid % 250) || '.0.0', 'c' || s.vid,
               s.t0 + to_seconds(k * (20 + CAST(hash(s.sid + k) % 280 AS BIGINT))),
               'Page ' || p, 'https://' || site || '/p/' || p,
               CASE WHEN k = 0 THEN nullif(split_part({source}, '|', 1), '') END,
               CASE WHEN bot THEN 'Linux' ELSE split_part({agent}, '|', 2) END,
               CASE WHEN bot THEN 'HeadlessChrome' ELSE split_part({agent}, '|', 1) END, '120.0',
               {_pick(SCREENS, "hash(s.vid) >> 16")}, 'NA', country,
               country || '-R' || CAST(hash(s.vid) % 5 AS INTEGER),
               country || '-C' || CAST(hash(s.vid) % 40 AS INTEGER), {_pick(LANGS, "hash(s.vid) >> 24")},
               site, '/p/' || p, 'c' || s.vid, 'ses' || s.sid, bot,
               CASE WHEN bot THEN 'Linux' ELSE split_part({agent}, '|', 2) END,
               CASE WHEN bot THEN 'bot' ELSE split_part({agent}, '|', 3) END,
               CASE WHEN k = 0 THEN nullif(split_part({source}, '|', 2), '') ELSE site END,
               CASE WHEN k = 0 THEN nullif(split_part({source}, '|', 3), '') END,
               CASE WHEN k = 0 THEN split_part({source}, '|', 4) ELSE 'internal' END,
               CASE WHEN k = 0 AND s.sh % 20 = 0 THEN 'newsletter' END,
               CASE WHEN k = 0 AND s.sh % 20 = 0 THEN 'email' END,
               CASE WHEN k = 0 AND s.sh % 20 = 0 THEN 'spring-' || CAST(s.sh % 7 AS INTEGER) END,
               id_key('c' || s.vid), id_key('ses' || s.sid)
        FROM (
            SELECT s.*, unnest(range(s.size)) AS k,
                   CAST(floor(pow((hash(s.sid * 31 + unnest(range(s.size))) % 1000003) / 1000003.0, 3) * 500)
                     AS INTEGER) AS p,
                   CASE WHEN s.sh % 10 < 7 THEN 'example.com' WHEN s.sh % 10 < 9 THEN 'blog.example.com'
                        ELSE 'shop.example.org' END AS site,
                   hash(s.vid) % 100 < 3 AS bot,
                   {_pick(COUNTRIES, "hash(s.vid) >> 4")} AS country
            FROM s
        ) s
        ) t({ALL_COLUMNS})
        ORDER BY c5
        """
    )
    conn.execute(
        """
        INSERT INTO events (id, hit_id, ip, cid, datetime, doc_title, doc_uri, name, value, site, page_path,
            visitor_id, session_id, is_bot, props, visitor_key, visit_key)
        SELECT id, 'e' || id, ip, cid, datetime + INTERVAL 5 SECOND, doc_title, doc_uri,
               (['signup', 'download', 'play', 'play', 'purchase'])[1 + CAST(hash(id) % 5 AS INTEGER)],
               CAST(hash(id) % 50 AS VARCHAR), site, page_path, visitor_id, session_id, is_bot,
               CASE WHEN hash(id) % 3 = 0 THEN '{"plan": "pro"}'
                    WHEN hash(id) % 3 = 1 THEN '{"plan": "free"}' END, visitor_key, visit_key
        FROM visits WHERE hash(id * 7) % 10 = 0 ORDER BY datetime
        """
    )
    conn.execute(
        f"INSERT INTO calendar SELECT TIMESTAMP '{START:%Y-%m-%d}' + INTERVAL (d) DAY FROM range({DAYS}) t(d)"
    )
    conn.execute("CHECKPOINT")
    conn.close()
    engine = create_engine(f"duckdb:///{path}")
    try:
        with engine.begin() as store:
            backfill(store)  # the aggregated store, built by the ETL's own code
            sum_every_day(store)
    finally:
        engine.dispose()


def build_postgresql(url: str, duckdb_path: Path, workdir: Path) -> None:
    """Copy the DuckDB-made store into PostgreSQL through CSV files and COPY, then VACUUM ANALYZE."""
    target = sa.engine.make_url(create_engine(url).url)
    admin = create_engine(target.set(database="postgres"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if not conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
        ).first():
            conn.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
    admin.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in COPIED_TABLES:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
        conn.exec_driver_sql("DROP TABLE IF EXISTS _crumby_schema")
    ensure_schema(engine)
    source = duckdb.connect(str(duckdb_path), read_only=True)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table in COPIED_TABLES:
            csv_path = workdir / f"{table}.csv"
            source.execute(f"COPY {table} TO '{csv_path}' (HEADER, FORMAT csv)")
            columns = [row[0] for row in source.execute(f"DESCRIBE {table}").fetchall()]
            with (
                cursor.copy(
                    f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, HEADER)"
                ) as copy,
                open(csv_path, "rb") as handle,
            ):
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)
            csv_path.unlink()
        raw.commit()
        # what autovacuum does to a store that has run a while: statistics, hint bits, visibility map
        raw.driver_connection.autocommit = True
        cursor.execute("VACUUM ANALYZE")
    finally:
        raw.close()
        source.close()
        engine.dispose()


def upgrade(url: str) -> None:
    """A store built by an older crumby gets the newer tables, filled as the ETL's next run would."""
    engine = create_engine(url)
    try:
        ensure_schema(engine)
        fill_stored_keys(engine)
        ensure_built(engine)
        if refresh_daily_figures(engine) and engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")  # as autovacuum does to tables that changed
    finally:
        engine.dispose()


def row_count(url: str) -> int:
    """Page views in the store; 0 when it has none. A file another process holds stops the bench."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT COUNT(*) FROM visits")).scalar()
    except sa.exc.SQLAlchemyError as exc:
        if is_lock_conflict(exc):  # not "no store": rebuilding it would throw a good store away
            raise SystemExit(
                f"{url} is open in another process; close it (or pass --reuse) and run again"
            ) from None
        return 0
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(url: str, workdir: Path, port: int) -> subprocess.Popen:
    env = dict(
        os.environ,
        CRUMBY_SQLALCHEMY_DATABASE_URI=url,
        CRUMBY_DATA_DIR=str(workdir / "data"),
        CRUMBY_SECRET_KEY="bench",
        CRUMBY_REPORT_TIMEOUT="60",
    )
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    process = subprocess.Popen(
        [gunicorn, "-w", "1", "-b", f"127.0.0.1:{port}", "--timeout", "120", "crumby.serve:create_app()"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            requests.get(f"http://127.0.0.1:{port}/api", timeout=5)
            return process
        except requests.RequestException:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit("the report server did not start")


def _warm_loop(path: str, pipe) -> None:
    conn = duckdb.connect(path, read_only=True)
    conn.execute("SET enable_progress_bar = false")
    while (job := pipe.recv()) is not None:
        pipe.send(len(conn.execute(*job).fetchall()))


class _WarmChild:
    """One DuckDB connection kept open in a child process: the rendered SQL goes in, a row count comes out."""

    def __init__(self, url: str) -> None:
        self.pipe, child = multiprocessing.Pipe()
        path = sa.engine.make_url(url).database
        self.process = multiprocessing.get_context("spawn").Process(
            target=_warm_loop, args=(path, child), daemon=True
        )
        self.process.start()

    def run(self, sql: str, params) -> int:
        self.pipe.send((sql, params))
        return self.pipe.recv()

    def close(self) -> None:
        self.pipe.send(None)
        self.process.join(timeout=30)


class Direct:
    """The rendered SQL on the plain driver: a fresh read-only connection per run, or one kept open."""

    def __init__(self, url: str, backend: str) -> None:
        self.url, self.backend = url, backend
        self.engine = create_engine(url)  # only to compile the SQL into the driver's parameter style
        self.warm = _WarmChild(url) if backend == "duckdb" else None
        self.pg = self._connect() if backend == "postgresql" else None

    def _connect(self):
        if self.backend == "duckdb":
            path = sa.engine.make_url(self.url).database
            return duckdb.connect(path, read_only=True)
        import psycopg

        return psycopg.connect(
            sa.engine.make_url(self.url).set(drivername="postgresql").render_as_string(False)
        )

    def _compiled(self, query):
        compiled = query.clause().compile(dialect=self.engine.dialect)
        values = query.bound_values()
        if compiled.positiontup is not None:
            return str(compiled), [values[name] for name in compiled.positiontup]
        return str(compiled), values

    def run(self, query, fresh: bool) -> int:
        sql, params = self._compiled(query)
        if self.backend == "duckdb":
            if not fresh:
                return self.warm.run(sql, params)
            conn = self._connect()
            try:
                return len(conn.execute(sql, params).fetchall())
            finally:
                conn.close()
        with self.pg.cursor() as cursor:
            cursor.execute(sql, params)
            rows = len(cursor.fetchall())
        self.pg.rollback()
        return rows


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("duckdb", "postgresql"), default="duckdb")
    parser.add_argument("--hits", type=int, default=10_000_000, help="page views in the store (default 10M)")
    parser.add_argument(
        "--url",
        default="postgresql://postgres@127.0.0.1:5432/crumby_bench",
        help="PostgreSQL store (created if missing)",
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/crumby-bench-queries"))
    parser.add_argument("--repeat", type=int, default=7, help="runs per report and way (p50 of them)")
    parser.add_argument("--rebuild", action="store_true", help="make the store again even if it exists")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="use the store in --workdir as it is (no row count, no build; an error if missing)",
    )
    parser.add_argument("--only", default="", help="comma-separated report names to run")
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="DIMENSION:OPERATOR:VALUE",
        help="run every report filtered so (repeat for several), e.g. country:is:DE",
    )
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    duck_path = args.workdir / f"store-{args.hits}.duckdb"
    duck_url = f"duckdb:///{duck_path}"
    if args.reuse and not duck_path.exists():
        raise SystemExit(f"--reuse: there is no store at {duck_path}; run once without --reuse to build it")
    built = duck_path.with_name(duck_path.name + ".built")  # written once the whole build is in
    if not args.reuse and (args.rebuild or not built.exists() or not row_count(duck_url)):
        built.unlink(missing_ok=True)
        duck_path.unlink(missing_ok=True)
        started = time.perf_counter()
        build_duckdb(duck_path, args.hits)
        built.touch()
        print(f"built {args.hits:,} hits in DuckDB in {time.perf_counter() - started:.0f} s", flush=True)
    url = duck_url
    if args.backend == "postgresql":
        url = args.url
        if not args.reuse and (args.rebuild or row_count(url) != row_count(duck_url)):
            started = time.perf_counter()
            build_postgresql(url, duck_path, args.workdir)
            print(
                f"copied {args.hits:,} hits to PostgreSQL in {time.perf_counter() - started:.0f} s",
                flush=True,
            )

    upgrade(url)
    last_day = START + timedelta(days=DAYS - 1)
    window = {"from": f"{last_day - timedelta(days=29):%Y-%m-%d}", "to": f"{last_day:%Y-%m-%d}"}
    extra = {"event_props": {"prop": "plan"}}
    port = free_port()
    server = start_server(url, args.workdir, port)
    direct = Direct(url, args.backend)
    session = requests.Session()
    token = None
    try:
        from crumby.auth import open_auth_store
        from crumby.auth.tokens import create_token
        from crumby.config import load_settings

        settings = load_settings(
            environ={}, overrides={"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": args.workdir / "data"}
        )
        auth = open_auth_store(settings)
        token = create_token(auth, f"bench-{time.time():.0f}")
        auth.close()
        session.headers["Authorization"] = f"Bearer {token}"

        only = {n for n in args.only.split(",") if n}
        header = f"{'report':28} {'rows':>6} {'api p50':>9} {'direct p50':>11} {'ratio':>6}"
        header += f" {'http p50':>9} {'best':>5}"
        if args.backend == "duckdb":
            header += f" {'warm p50':>9} {'api/warm':>8}"
        print(
            f"\n{args.backend}, {args.hits:,} hits over {DAYS} days; window {window['from']}..{window['to']}"
            + (f"; filtered by {' and '.join(args.filter)}" if args.filter else "")
        )
        print(header + "   (ms)")
        worst = []
        runs = []
        for template in find_templates():
            if only and template.name not in only:
                continue
            params = {**window, **extra.get(template.name, {})}
            if args.filter:
                params["f"] = list(args.filter)
            runs.append((template, params, prepare(template, params, args.backend)))
        for template, params, query in runs:
            endpoint = f"http://127.0.0.1:{port}/api/{template.visibility}/{template.name}"
            api, fresh, warm, floor = [], [], [], []
            for _ in range(args.repeat):
                t = time.perf_counter()
                session.get(f"http://127.0.0.1:{port}/api/no/such/address", timeout=120)
                floor.append(time.perf_counter() - t)
                t = time.perf_counter()
                answer = session.get(endpoint, params=params, timeout=120)
                api.append(time.perf_counter() - t)
                if answer.status_code != 200:
                    raise SystemExit(f"{template.name}: {answer.status_code} {answer.text[:200]}")
                t = time.perf_counter()
                direct.run(query, fresh=True)
                fresh.append(time.perf_counter() - t)
                if direct.warm is not None:
                    t = time.perf_counter()
                    direct.run(query, fresh=False)
                    warm.append(time.perf_counter() - t)
            rows = len(answer.json()["data"])
            line = (
                f"{template.visibility[:3]}/{template.name:24} {rows:>6} {p50(api):>9.1f} {p50(fresh):>11.1f}"
            )
            line += f" {p50(api) / p50(fresh):>6.2f}"
            line += f" {p50(floor):>9.1f} {(p50(floor) + p50(fresh)) / p50(fresh):>5.2f}"
            if warm:
                line += f" {p50(warm):>9.1f} {p50(api) / p50(warm):>8.2f}"
            print(line, flush=True)
            worst.append((p50(api), template.name))
        print(f"\nslowest through the API: {', '.join(f'{n} {ms:.0f} ms' for ms, n in sorted(worst)[-3:])}")
    finally:
        if direct.warm is not None:
            direct.warm.close()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

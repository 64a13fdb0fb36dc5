"""Time `crumby import` + `crumby etl` over a combined access log, beside GoAccess over the same file.

A synthetic combined log (1M lines by default: pages, assets, redirects, errors,
POSTs, crawlers, 50k client addresses, 2k user agents, a day of traffic) is
written once into a cache folder and reused. Each measured step runs as a child
process, in alternating order over the rounds so that noise from other work on
the machine falls on both alike: crumby's import into a fresh LOG_DIR and then
its ETL into a fresh DuckDB store, and ``goaccess FILE --log-format=COMBINED -o
report.json``. The figures are medians of wall time, lines/s and the children's
CPU seconds.

    python bench/import.py [--lines 1000000] [--rounds 1] [--cache /tmp/crumby-bench-import]

Needs GoAccess (Debian: ``apt-get install goaccess``). Target: crumby's import + etl take at most
1.5x GoAccess's time.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 1.5
PAGES = [f"/blog/{year}/post-{n}" for year in (2023, 2024, 2025) for n in range(200)] + [
    "/",
    "/about",
    "/shop?id=7",
]
ASSETS = [
    "/static/app.css",
    "/static/app.js",
    "/img/logo.png",
    "/favicon.ico",
    "/fonts/a.woff2",
    "/robots.txt",
]
REFERRERS = ["-", "-", "https://www.google.com/", "https://duckduckgo.com/", "https://news.ycombinator.com/"]
BOTS = ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "curl/8.5.0"]


def user_agents(rng: random.Random, count: int) -> list[str]:
    agents = []
    for n in range(count):
        major = 100 + n % 30
        agents.append(
            rng.choice(
                [
                    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                    f"Chrome/{major}.0.{n}.0 Safari/537.36",
                    f"Mozilla/5.0 (X11; Linux x86_64; rv:{major}.0) Gecko/20100101 Firefox/{major}.{n % 10}",
                    f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_{n % 6} like Mac OS X) AppleWebKit/605.1.15 "
                    f"(KHTML, like Gecko) Version/17.{n % 6} Mobile/15E148 Safari/604.1",
                ]
            )
        )
    return agents + BOTS


def write_log(path: Path, lines: int, seed: int = 22) -> None:
    """A day of combined-format traffic, ``lines`` long, in time order."""
    rng = random.Random(seed)
    agents = user_agents(rng, 2000)
    addresses = [f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"]
    addresses += [
        f"198.{rng.randrange(18, 20)}.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(50000)
    ]
    with path.open("w") as out:
        for n in range(lines):
            second = n * 86400 // lines
            stamp = f"04/Dec/2026:{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d} +0000"
            kind = rng.random()
            method, status = "GET", 200
            if kind < 0.45:
                target = rng.choice(PAGES)
                status = rng.choice((200, 200, 200, 200, 304))
            elif kind < 0.85:
                target = rng.choice(ASSETS)
            elif kind < 0.92:
                target, status = rng.choice(PAGES), rng.choice((301, 302, 404, 500))
            else:
                method, target = "POST", "/api/comments"
            size = rng.randrange(100, 90000)
            out.write(
                f'{rng.choice(addresses)} - - [{stamp}] "{method} {target} HTTP/1.1" {status} {size} '
                f'"{rng.choice(REFERRERS)}" "{rng.choice(agents)}"\n'
            )


def timed(argv: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_crumby(log: Path, workdir: Path) -> dict:
    data = workdir / "crumby"
    shutil.rmtree(data, ignore_errors=True)
    env = {**os.environ, "CRUMBY_DATA_DIR": str(data), "CRUMBY_LOG_DIR": str(data / "logs")}
    env.pop("CRUMBY_SETTINGS", None)
    crumby = [sys.executable, "-m", "crumby"]
    import_wall, import_cpu = timed([*crumby, "import", str(log), "--site", "example.com"], env)
    etl_wall, etl_cpu = timed([*crumby, "etl"], env)
    return {
        "wall": import_wall + etl_wall,
        "cpu": import_cpu + etl_cpu,
        "import_wall": import_wall,
        "etl_wall": etl_wall,
    }


def run_goaccess(log: Path, workdir: Path) -> dict:
    report = workdir / "report.json"
    report.unlink(missing_ok=True)
    wall, cpu = timed(["goaccess", str(log), "--log-format=COMBINED", "-o", str(report)])
    return {"wall": wall, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="log lines (default 1,000,000)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds, alternating (default 1)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "crumby-bench-import")
    args = parser.parse_args()
    if not shutil.which("goaccess"):
        raise SystemExit("GoAccess is not installed: apt-get install goaccess")
    args.cache.mkdir(parents=True, exist_ok=True)
    log = args.cache / f"access-{args.lines}.log"
    if not log.exists():
        print(f"writing {args.lines:,} lines to {log}")
        write_log(log.with_suffix(".tmp"), args.lines)
        log.with_suffix(".tmp").rename(log)
    workdir = Path(tempfile.mkdtemp(prefix="crumby-bench-import-"))
    print(f"load average before the rounds: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    results: dict[str, list[dict]] = {"crumby": [], "goaccess": []}
    runners = {"crumby": run_crumby, "goaccess": run_goaccess}
    try:
        for number in range(1, args.rounds + 1):
            for name in ("crumby", "goaccess") if number % 2 else ("goaccess", "crumby"):
                result = runners[name](log, workdir)
                results[name].append(result)
                detail = (
                    f" (import {result['import_wall']:.1f} s + etl {result['etl_wall']:.1f} s)"
                    if name == "crumby"
                    else ""
                )
                print(
                    f"round {number} {name:8}  {result['wall']:6.1f} s{detail}  "
                    f"{args.lines / result['wall']:9,.0f} lines/s  CPU {result['cpu']:.1f} s"
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    medians = {
        name: {key: statistics.median(r[key] for r in rounds) for key in ("wall", "cpu")}
        for name, rounds in results.items()
    }
    print(f"\nmedians over {args.rounds} rounds, {args.lines:,} lines:")
    for name, median in medians.items():
        print(
            f"  {name:8}  {median['wall']:6.1f} s  {args.lines / median['wall']:9,.0f} lines/s  "
            f"CPU {median['cpu']:.1f} s"
        )
    ratio = medians["crumby"]["wall"] / medians["goaccess"]["wall"]
    print(f"  ratio crumby import + etl / goaccess: {ratio:.2f}")
    print(f"  target (<= {TARGET_RATIO}x GoAccess's time): {'met' if ratio <= TARGET_RATIO else 'NOT met'}")


if __name__ == "__main__":
    main()

"""Benchmark the collector against a bare WSGI baseline, both under gunicorn, and nginx collecting, with wrk.

The three servers run at once, the gunicorn ones with the production settings
(crumby/serve/gunicorn_conf.py), nginx with the configuration `crumby nginx-config`
prints (one worker per core); they are driven in rotating rounds, so that noise from
other work on the machine falls on all alike; the figures are medians over the rounds.

    python bench/collector.py [--rounds 5] [--duration 5] [--connections 20]

Needs ``wrk`` (Debian: ``apt-get install wrk``) and nginx (``nginx-light``).  Targets:
the collector makes at least 0.9x the baseline's hits/s, and nginx at least 10x the
collector's, each with a p99 latency of at most 10 ms at 20 connections; every hit
either answered is in its log.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "python:crumby.serve.gunicorn_conf"]
APPS = {
    "baseline": "baseline:create_baseline()",
    "collector": "crumby.serve.collect:create_collector()",
}
SERVERS = (*APPS, "nginx")
TARGET_RATIO = 0.9
TARGET_NGINX_RATIO = 10.0
TARGET_P99_MS = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(name: str, port: int, workdir: Path, extra_args: list[str]) -> subprocess.Popen:
    """One gunicorn (same settings for both apps), its logs under ``workdir/name``."""
    log_dir = workdir / name
    log_dir.mkdir()
    env = {
        **os.environ,
        "CRUMBY_LOG_DIR": str(log_dir),
        "CRUMBY_DATA_DIR": str(workdir / "data"),
        "BENCH_LOG_DIR": str(log_dir),
    }
    command = [*GUNICORN, "-b", f"127.0.0.1:{port}", *extra_args, APPS[name]]
    errors = (workdir / f"{name}.err").open("wb")
    return subprocess.Popen(command, cwd=BENCH_DIR, env=env, stdout=errors, stderr=errors)


def start_nginx_collector(port: int, workdir: Path) -> subprocess.Popen:
    """nginx with `crumby nginx-config`'s configuration for this port, its hits under ``workdir/nginx``."""
    from crumby.config import load_settings
    from crumby.serve.nginx_config import render_collector_conf, write_tracker

    sys.path.insert(0, str(BENCH_DIR.parent / "tests"))
    from nginx_collector import NGINX, nginx_main_conf

    folder = workdir / "nginx-server"
    folder.mkdir()
    settings = load_settings(
        environ={}, overrides={"DATA_DIR": workdir / "data", "LOG_DIR": workdir / "nginx"}
    )
    Path(settings["LOG_DIR"]).mkdir()
    write_tracker(settings, folder / "js")
    conf = render_collector_conf(settings, js_dir=folder / "js", listen=f"127.0.0.1:{port}")
    (folder / "collector.conf").write_text(conf)
    (folder / "nginx.conf").write_text(
        nginx_main_conf(folder, folder / "collector.conf", os.cpu_count() or 1)
    )
    errors = (workdir / "nginx.err").open("wb")
    argv = [NGINX, "-c", str(folder / "nginx.conf"), "-p", str(folder)]
    return subprocess.Popen(argv, stdout=errors, stderr=errors)


def wait_ready(port: int, process: subprocess.Popen, timeout: float = 20) -> None:
    url = f"http://127.0.0.1:{port}/1.gif?t=visit&cid=warmup&dl=https%3A%2F%2Fexample.com%2F"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}; see its output in the work folder")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the server on port {port} did not answer within {timeout} s")


def run_wrk(port: int, duration: int, connections: int, threads: int) -> dict:
    """One wrk round; returns requests, hits/s, p50/p99 in ms and error counts."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "-s",
        str(BENCH_DIR / "gif.lua"),
        f"http://127.0.0.1:{port}",
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return {
        "requests": result["requests"],
        "hits_s": result["requests"] / (result["duration_us"] / 1e6),
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "bad": result["non2xx"] + result["errors"],
    }


def worker_cpu_seconds(master: int) -> float:
    """CPU time (user + system) used so far by the master's worker processes."""
    total = 0
    for child in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def count_lines(folder: Path) -> int:
    total = 0
    for path in folder.glob("*.jsonl"):
        with path.open("rb") as handle:
            total += sum(1 for _ in handle)
    return total


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per app, alternating (default 5)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per round (default 5)")
    parser.add_argument("--connections", type=int, default=20, help="wrk connections (default 20)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument(
        "--gunicorn-arg",
        action="append",
        default=[],
        help="extra gunicorn option for both servers, e.g. --gunicorn-arg=--workers=4",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")

    workdir = Path(tempfile.mkdtemp(prefix="crumby-bench-"))
    ports = {name: free_port() for name in SERVERS}
    servers = {}
    try:
        for name in APPS:
            servers[name] = start_server(name, ports[name], workdir, args.gunicorn_arg)
        servers["nginx"] = start_nginx_collector(ports["nginx"], workdir)
        for name in SERVERS:
            wait_ready(ports[name], servers[name])
        answered = {
            name: run_wrk(ports[name], 2, args.connections, args.threads)["requests"] for name in SERVERS
        }
        print(f"load average before the rounds: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
        results: dict[str, list[dict]] = {name: [] for name in SERVERS}
        for number in range(1, args.rounds + 1):
            shift = number % len(SERVERS)
            for name in SERVERS[shift:] + SERVERS[:shift]:
                cpu_before = worker_cpu_seconds(servers[name].pid)
                result = run_wrk(ports[name], args.duration, args.connections, args.threads)
                cpu = worker_cpu_seconds(servers[name].pid) - cpu_before
                result["cpu_us"] = cpu / max(result["requests"], 1) * 1e6
                results[name].append(result)
                answered[name] += result["requests"]
                print(
                    f"round {number} {name:9}  {result['hits_s']:8.0f} hits/s  "
                    f"p50 {result['p50_ms']:5.2f} ms  p99 {result['p99_ms']:6.2f} ms  "
                    f"server CPU {result['cpu_us']:4.0f} us/hit"
                    + (f"  {result['bad']} errors" if result["bad"] else "")
                )
    finally:
        for process in servers.values():
            stop(process)

    medians = {
        name: {
            key: statistics.median(r[key] for r in rounds) for key in ("hits_s", "p50_ms", "p99_ms", "cpu_us")
        }
        for name, rounds in results.items()
    }
    pairs = zip(results["baseline"], results["collector"], strict=True)
    round_ratios = [collector["hits_s"] / baseline["hits_s"] for baseline, collector in pairs]
    print(f"\nmedians over {args.rounds} rounds of {args.duration:g} s, {args.connections} connections:")
    for name, median in medians.items():
        print(
            f"  {name:9}  {median['hits_s']:8.0f} hits/s  p50 {median['p50_ms']:5.2f} ms  "
            f"p99 {median['p99_ms']:6.2f} ms  server CPU {median['cpu_us']:4.0f} us/hit"
        )
    ratio = medians["collector"]["hits_s"] / medians["baseline"]["hits_s"]
    print(
        f"  ratio collector/baseline: {ratio:.3f} "
        f"(median of per-round ratios {statistics.median(round_ratios):.3f})"
    )
    written = count_lines(workdir / "collector") - 1  # less the readiness probe
    bad = sum(r["bad"] for r in results["collector"])
    print(
        f"  collector: {written} lines written for {answered['collector']} answered requests "
        f"(more lines than answers: requests cut off when a round ended); errors: {bad}"
    )
    met = ratio >= TARGET_RATIO and medians["collector"]["p99_ms"] <= TARGET_P99_MS
    print(f"  target (>= {TARGET_RATIO}x, p99 <= {TARGET_P99_MS:g} ms): {'met' if met else 'NOT met'}")
    nginx_ratio = medians["nginx"]["hits_s"] / medians["collector"]["hits_s"]
    nginx_written = count_lines(workdir / "nginx") - 1  # less the readiness probe
    nginx_bad = sum(r["bad"] for r in results["nginx"])
    print(f"  ratio nginx/collector: {nginx_ratio:.1f}")
    print(
        f"  nginx: {nginx_written} lines written for {answered['nginx']} answered requests, "
        f"{max(0, answered['nginx'] - nginx_written)} answered hits missing from the log; errors: {nginx_bad}"
    )
    nginx_met = (
        nginx_ratio >= TARGET_NGINX_RATIO
        and medians["nginx"]["p99_ms"] <= TARGET_P99_MS
        and nginx_written >= answered["nginx"]
    )
    print(
        f"  nginx target (>= {TARGET_NGINX_RATIO:g}x the collector, p99 <= {TARGET_P99_MS:g} ms, "
        f"every answered hit logged): {'met' if nginx_met else 'NOT met'}"
    )
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Benchmark the collector against a bare WSGI baseline, both under gunicorn, with wrk.

Both servers run at once with the production settings (crumby/serve/gunicorn_conf.py)
and are driven in alternating rounds, so that noise from other work on the machine
falls on both alike; the figures are medians over the rounds.

    /work/venv/bin/python bench/collector.py [--rounds 5] [--duration 5] [--connections 20]

Needs ``wrk`` (Debian: ``apt-get install wrk``).  Target: the collector makes at least
0.9x the baseline's hits/s, with a p99 latency of at most 10 ms at 20 connections.
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
TARGET_RATIO = 0.9
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


def wait_ready(port: int, process: subprocess.Popen, timeout: float = 20) -> None:
    url = f"http://127.0.0.1:{port}/1.gif?t=visit&cid=warmup&dl=https%3A%2F%2Fexample.com%2F"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}; see its output in the work folder")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"gunicorn on port {port} did not answer within {timeout} s")


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
    ports = {name: free_port() for name in APPS}
    servers = {}
    try:
        for name in APPS:
            servers[name] = start_server(name, ports[name], workdir, args.gunicorn_arg)
        for name in APPS:
            wait_ready(ports[name], servers[name])
        answered = {
            name: run_wrk(ports[name], 2, args.connections, args.threads)["requests"] for name in APPS
        }
        print(f"load average before the rounds: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
        results: dict[str, list[dict]] = {name: [] for name in APPS}
        for number in range(1, args.rounds + 1):
            for name in APPS if number % 2 else reversed(APPS):
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
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The shipped deployment recipes, run for real: nginx in front of gunicorn, and the systemd units."""

from __future__ import annotations

import configparser
import http.client
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENT = ROOT / "deployment"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"process exited early with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listened on port {port} within {seconds} s")


def request_from(source: str, port: int, path: str, headers: dict) -> http.client.HTTPResponse:
    """An HTTP GET whose client address is ``source`` (any 127.x address is this machine)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


@pytest.fixture
def crumby_behind_nginx(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        pytest.fail("nginx is not installed: apt-get install nginx-light")
    env_file = (DEPLOYMENT / "crumby.env").read_text()
    assert "CRUMBY_PROXY_COUNT=1" in env_file
    env = dict(
        os.environ,
        CRUMBY_DATA_DIR=str(tmp_path / "data"),
        CRUMBY_LOG_DIR=str(tmp_path / "logs"),
        CRUMBY_PROXY_COUNT="1",
        CRUMBY_SECRET_KEY="test",
    )
    env.pop("CRUMBY_SETTINGS", None)
    collector_port, reports_port, nginx_port = free_port(), free_port(), free_port()
    processes = []
    for unit, port in (
        ("crumby-collector.service", collector_port),
        ("crumby-reports.service", reports_port),
    ):
        argv = gunicorn_argv(DEPLOYMENT / "systemd" / unit)
        argv = [sys.executable, "-m", "gunicorn", *argv[1:]]
        argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
        processes.append(
            subprocess.Popen(
                argv, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )
    site = (DEPLOYMENT / "nginx" / "crumby.conf").read_text()
    site = site.replace("listen 80;", f"listen 127.0.0.1:{nginx_port};")
    site = site.replace("127.0.0.1:8001", f"127.0.0.1:{collector_port}")
    site = site.replace("127.0.0.1:8002", f"127.0.0.1:{reports_port}")
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(f"""
user root;
daemon off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/site.conf;
}}
""")
    checked = subprocess.run(
        [nginx, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    processes.append(
        subprocess.Popen(
            [nginx, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    try:
        for port, process in zip((collector_port, reports_port, nginx_port), processes, strict=True):
            wait_for_port(port, process)
        yield nginx_port, tmp_path / "logs"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def gunicorn_argv(unit: Path) -> list[str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(unit.read_text().replace("\\\n", " "))
    return shlex.split(parser["Service"]["ExecStart"])


def test_a_hit_through_nginx_carries_the_clients_address(crumby_behind_nginx):
    port, logs = crumby_behind_nginx
    query = "v=1&t=visit&cid=77&dl=https%3A%2F%2Fexample.com%2F&dt=Home"
    # The client claims another address; nginx replaces the header, so the claim is ignored.
    answer = request_from(
        "127.0.0.5", port, f"/123.gif?{query}", {"X-Forwarded-For": "6.6.6.6", "User-Agent": "nginx-test"}
    )
    assert answer.status == 200
    lines = [json.loads(line) for path in logs.glob("hits-*.jsonl") for line in path.read_text().splitlines()]
    assert [(hit["ip"], hit["ua"]) for hit in lines] == [("127.0.0.5", "nginx-test")]


def test_reports_and_health_are_reachable_through_nginx(crumby_behind_nginx):
    port, _ = crumby_behind_nginx
    assert request_from("127.0.0.6", port, "/health", {}).status == 200
    assert request_from("127.0.0.6", port, "/", {}).status == 200


def test_systemd_units_name_real_wsgi_entry_points():
    for unit in sorted((DEPLOYMENT / "systemd").glob("*.service")):
        argv = gunicorn_argv(unit)
        assert argv[0].endswith("gunicorn"), unit
        target = argv[-1]
        module, _, call = target.partition(":")
        assert call.endswith("()"), f"{unit.name}: gunicorn should call the app factory"
        code = f"import {module} as m; assert callable(getattr(m, {call[:-2]!r}))"
        subprocess.run([sys.executable, "-c", code], check=True)

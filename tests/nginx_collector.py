"""A real nginx running the configuration `crumby nginx-config` prints, for tests and benches.

Loaded with ``pytest_plugins = ["nginx_collector"]``: the ``nginx_collector`` fixture is a
function ``start(settings) -> NginxCollector``. nginx is required, never skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from crumby.serve.nginx_config import render_collector_conf, write_tracker

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@dataclass
class NginxCollector:
    port: int
    url: str
    log_dir: Path
    process: subprocess.Popen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nginx_main_conf(folder: Path, include: Path, workers: int = 1) -> str:
    """A whole nginx.conf around ``include`` (the collector's http-level file), all paths in ``folder``."""
    user = "user root;\n" if os.getuid() == 0 else ""
    return f"""{user}daemon off;
worker_processes {workers};
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {include};
}}
"""


def start_nginx(settings: dict, folder: Path, workers: int = 1, proxy_count: int = 0) -> NginxCollector:
    """nginx with the rendered collector configuration on a free port; cmb.js written for it."""
    if not os.path.exists(NGINX):
        pytest.fail("nginx is not installed: apt-get install nginx-light")
    folder.mkdir(parents=True, exist_ok=True)
    Path(settings["LOG_DIR"]).mkdir(parents=True, exist_ok=True)
    port = free_port()
    js_dir = folder / "js"
    write_tracker(settings, js_dir)
    conf = render_collector_conf(settings, js_dir=js_dir, listen=f"127.0.0.1:{port}", proxy_count=proxy_count)
    (folder / "collector.conf").write_text(conf)
    (folder / "nginx.conf").write_text(nginx_main_conf(folder, folder / "collector.conf", workers))
    argv = [NGINX, "-c", str(folder / "nginx.conf"), "-p", str(folder)]
    checked = subprocess.run([*argv[:1], "-t", *argv[1:]], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        if process.poll() is not None:
            pytest.fail(f"nginx exited with {process.returncode}: {(folder / 'nginx-error.log').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail("nginx did not listen within 20 s")
            time.sleep(0.05)
    return NginxCollector(port, f"http://127.0.0.1:{port}", Path(settings["LOG_DIR"]), process)


def stop_nginx(collector: NginxCollector) -> None:
    collector.process.terminate()
    try:
        collector.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        collector.process.kill()
        collector.process.wait()


@pytest.fixture
def nginx_collector(tmp_path):
    started: list[NginxCollector] = []

    def start(settings: dict, **options) -> NginxCollector:
        collector = start_nginx(settings, tmp_path / f"nginx{len(started)}", **options)
        started.append(collector)
        return collector

    yield start
    for collector in started:
        stop_nginx(collector)

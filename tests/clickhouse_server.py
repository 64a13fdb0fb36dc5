"""Real ClickHouse servers for the tests: one node, or two shards of a cluster, in a temporary folder.

Each server is the machine's ``clickhouse-server`` started as our own process
with its own data folder, free ports on 127.0.0.1 and a config written here,
so nothing of the system's instance is used or touched.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CLUSTER = "crumby_test"

CONFIG = """<yandex>
  <logger><level>warning</level><log>{dir}/server.log</log><errorlog>{dir}/server.err.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{tcp}</tcp_port>
  <http_port>{http}</http_port>
  <interserver_http_port>{interserver}</interserver_http_port>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/tmp/</tmp_path>
  <user_files_path>{dir}/user_files/</user_files_path>
  <format_schema_path>{dir}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <remote_servers><{cluster}>{shards}</{cluster}></remote_servers>
</yandex>
"""
USERS = """<yandex>
  <profiles>
    <default><max_memory_usage>2000000000</max_memory_usage><max_threads>2</max_threads></default>
  </profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></default>
  </users>
  <quotas><default></default></quotas>
</yandex>
"""
SHARD = "<shard><replica><host>127.0.0.1</host><port>{port}</port></replica></shard>"


@dataclass
class Server:
    folder: Path
    tcp_port: int
    process: subprocess.Popen

    def url(self, database: str = "default") -> str:
        return f"clickhouse://default@127.0.0.1:{self.tcp_port}/{database}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def binary() -> str:
    """The path of clickhouse-server; an AssertionError saying how to install it when missing."""
    found = shutil.which("clickhouse-server") or (
        "/usr/sbin/clickhouse-server" if Path("/usr/sbin/clickhouse-server").exists() else None
    )
    assert found, "clickhouse-server is missing: apt-get install clickhouse-server clickhouse-client"
    return found


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start(folders: list[Path]) -> list[Server]:
    """One server per folder; together they are the shards of the cluster CLUSTER."""
    path = binary()
    ports = [free_ports(3) for _ in folders]
    shards = "".join(SHARD.format(port=tcp) for tcp, _, _ in ports)
    servers = []
    for folder, (tcp, http, interserver) in zip(folders, ports, strict=True):
        folder.mkdir(parents=True, exist_ok=True)
        config = CONFIG.format(
            dir=folder, tcp=tcp, http=http, interserver=interserver, cluster=CLUSTER, shards=shards
        )
        (folder / "config.xml").write_text(config)
        (folder / "users.xml").write_text(USERS)
        log = (folder / "stdout.log").open("wb")
        process = subprocess.Popen(
            [path, f"--config-file={folder / 'config.xml'}"], stdout=log, stderr=subprocess.STDOUT, cwd=folder
        )
        servers.append(Server(folder, tcp, process))
    for server in servers:
        _wait_until_up(server)
    return servers


def _wait_until_up(server: Server, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.process.poll() is None, (server.folder / "stdout.log").read_text()[-2000:]
        try:
            with socket.create_connection(("127.0.0.1", server.tcp_port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"clickhouse-server did not start in {seconds} s; see {server.folder}")

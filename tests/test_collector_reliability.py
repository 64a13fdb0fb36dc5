"""The collector loses no acknowledged hit: concurrent writers, killed workers, full and read-only disks.

These tests use real processes, a real gunicorn and real filesystems (tmpfs mounts: the
suite runs as root, as CI does); each mount is undone when its test ends.
"""

from __future__ import annotations

import errno
import http.client
import json
import multiprocessing
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest
from conftest import make_settings
from werkzeug.test import Client

from crumby import hits
from crumby.serve import hitlog
from crumby.serve.collect import Collector
from crumby.serve.hitlog import HitLog

PAGE = "https://www.example.com/shop/item?id=7"
WRITERS = 8
HITS_PER_WRITER = 150


def complete_lines(log_dir: Path) -> tuple[list[dict], list[bytes]]:
    """Every newline-terminated line, parsed; and each file's unterminated tail, if any."""
    parsed, tails = [], []
    for path in sorted(Path(log_dir).glob("*.jsonl")):
        data = path.read_bytes()
        body, _, tail = data.rpartition(b"\n")
        parsed += [hits.parse_line(line) for line in body.split(b"\n")] if body else []
        if tail:
            tails.append(tail)
    return parsed, tails


def hit_at_the_caps(marker: str) -> dict:
    """A hit whose every field is at (or, to be cut, past) its cap, with multi-byte text."""
    fields = {name: ("é" + "x" * limit)[: limit + 5] for name, limit in hits.CLIENT_FIELD_CAPS.items()}
    fields.update(t="event", dl="https://example.com/" + "p" * 2100, ev=marker)
    # Keep the JSON body under its own cap: props take what room is left.
    fields["props"] = {f"k{n}": "ü" * 300 for n in range(8)}
    return fields


# -- (a) concurrent writers ---------------------------------------------------------------


def post_at_the_caps(client: Client, marker: str) -> int:
    body = json.dumps(hit_at_the_caps(marker), ensure_ascii=False).encode()
    headers = {"User-Agent": "u" * 2000, "Accept-Language": "l" * 300, "Referer": "r" * 3000}
    return client.post("/collect", data=body, content_type="application/json", headers=headers).status_code


def _collector_writer(collector: Collector, number: int, ready, go) -> None:
    client = Client(collector)
    ready.wait()
    go.wait()
    for count in range(HITS_PER_WRITER):
        if post_at_the_caps(client, f"{number}-{count}") != 204:
            os._exit(3)
    os._exit(0)


def test_eight_processes_writing_lines_at_the_caps_leave_only_whole_lines(tmp_path):
    settings = make_settings(tmp_path)
    collector = Collector(settings)
    # The parent writes first, so each child inherits an open log file it must not share.
    assert post_at_the_caps(Client(collector), "parent") == 204
    context = multiprocessing.get_context("fork")
    ready, go = context.Barrier(WRITERS + 1), context.Event()
    writers = [
        context.Process(target=_collector_writer, args=(collector, n, ready, go)) for n in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    ready.wait()
    go.set()
    for writer in writers:
        writer.join(60)
    assert [w.exitcode for w in writers] == [0] * WRITERS

    lines, tails = complete_lines(settings["LOG_DIR"])
    assert tails == []
    markers = Counter(hit["ev"] for hit in lines)
    expected = {f"{n}-{c}" for n in range(WRITERS) for c in range(HITS_PER_WRITER)} | {"parent"}
    assert set(markers) == expected
    assert set(markers.values()) == {1}
    assert len({hit["id"] for hit in lines}) == len(lines)
    longest = max(len(hits.serialise(hit)) for hit in lines)
    assert longest > 10_000, "the lines should be long enough to span several pages"
    assert all(len(hit["dl"]) == hits.CLIENT_FIELD_CAPS["dl"] for hit in lines)
    files = list(Path(settings["LOG_DIR"]).glob("hits-*.jsonl"))
    assert len(files) == WRITERS + 1, "each process writes its own file"


def _shared_file_writer(folder: Path, number: int, go) -> None:
    log = HitLog(folder)
    go.wait()
    for count in range(HITS_PER_WRITER):
        hit = hits.make_hit(
            hits.client_fields({**hit_at_the_caps(f"{number}-{count}"), "cid": "c"}),
            ip="203.0.113.1",
            ua="u" * 2000,
            referer="r" * 3000,
            lang="",
        )
        log.append(hits.serialise(hit))
    os._exit(0)


def test_eight_processes_appending_to_one_file_never_interleave(tmp_path, monkeypatch):
    """One write per line on O_APPEND holds even when writers share a file (as nginx's would)."""
    monkeypatch.setattr(hitlog, "writer_name", lambda: "shared")
    context = multiprocessing.get_context("fork")
    go = context.Event()
    writers = [context.Process(target=_shared_file_writer, args=(tmp_path, n, go)) for n in range(WRITERS)]
    for writer in writers:
        writer.start()
    go.set()
    for writer in writers:
        writer.join(60)
    assert [w.exitcode for w in writers] == [0] * WRITERS
    lines, tails = complete_lines(tmp_path)
    assert tails == []
    assert len(lines) == WRITERS * HITS_PER_WRITER
    assert len({hit["ev"] for hit in lines}) == WRITERS * HITS_PER_WRITER
    assert all(path.name.endswith("-shared.jsonl") for path in tmp_path.iterdir())


# -- (b) gunicorn workers killed under load -------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def request_status(port: int, path: str) -> int | None:
    """One GET on a fresh connection, never retried; None when it failed without an answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"User-Agent": "reliability-test"})
        answer = connection.getresponse()
        answer.read()
        return answer.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


GUNICORN = [sys.executable, "-m", "gunicorn"]
PRODUCTION = ["-c", "python:crumby.serve.gunicorn_conf"]


@contextmanager
def gunicorn(tmp_path: Path, arguments: list[str]):
    """gunicorn with ``arguments`` (any ``-b`` replaced by a free port), logging under tmp_path."""
    port = free_port()
    env = {
        **os.environ,
        "CRUMBY_LOG_DIR": str(tmp_path / "logs"),
        "CRUMBY_DATA_DIR": str(tmp_path / "data"),
    }
    if "-b" in arguments:
        at = arguments.index("-b")
        arguments = arguments[:at] + arguments[at + 2 :]
    command = [*GUNICORN, *arguments[:-1], "-b", f"127.0.0.1:{port}", arguments[-1]]
    output = (tmp_path / "gunicorn.out").open("wb")
    server = subprocess.Popen(command, env=env, stdout=output, stderr=output, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while request_status(port, "/health") != 200:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start: {(tmp_path / 'gunicorn.out').read_text()[-2000:]}")
            time.sleep(0.1)
        yield server, port
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        output.close()


def test_killing_a_gunicorn_worker_every_100_ms_loses_no_acknowledged_hit(tmp_path):
    senders, per_sender, seconds = 4, 4000, 6.0
    acknowledged: list[str] = []
    refused: list[tuple[str, int | None]] = []
    kills = 0
    arguments = [*PRODUCTION, "-w", "3", "crumby.serve.collect:create_collector()"]
    with gunicorn(tmp_path, arguments) as (server, port):
        stop = threading.Event()

        def killer() -> None:
            nonlocal kills
            rng = random.Random(1)
            start, tick = time.monotonic(), 0
            while not stop.wait(max(0.0, start + tick * 0.1 - time.monotonic())):
                tick += 1
                workers = children_of(server.pid)
                if workers:
                    try:
                        os.kill(rng.choice(workers), signal.SIGKILL)
                        kills += 1
                    except ProcessLookupError:
                        pass

        def sender(number: int) -> None:
            deadline = time.monotonic() + seconds
            for count in range(per_sender):
                if time.monotonic() > deadline:
                    break
                marker = f"{number}-{count}"
                query = urlencode({"t": "event", "cid": "c", "dl": PAGE, "en": "buy", "ev": marker})
                status = request_status(port, "/1.gif?" + query)
                if status is not None and 200 <= status < 300:
                    acknowledged.append(marker)
                else:
                    refused.append((marker, status))

        threads = [threading.Thread(target=killer)]
        threads += [threading.Thread(target=sender, args=(n,)) for n in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads[1:]:
            thread.join(60)
        stop.set()
        threads[0].join()
        assert server.poll() is None, "the gunicorn master must survive its workers' deaths"

    lines, tails = complete_lines(tmp_path / "logs")
    logged = Counter(hit["ev"] for hit in lines if hit.get("en") == "buy")
    missing = [marker for marker in acknowledged if logged[marker] != 1]
    assert missing == [], f"acknowledged hits not logged exactly once: {missing[:10]}"
    assert [m for m, n in logged.items() if n > 1] == [], "a hit was logged twice"
    # A worker killed inside a write may leave part of an unacknowledged line at its file's end.
    # A marker is looked for whole, in its quotes: the torn "ev":"2-345 holds the text 2-34 too.
    assert all(not any(f'"{m}"'.encode() in tail for m in acknowledged) for tail in tails)
    assert kills >= 30, f"only {kills} workers were killed"
    assert len(acknowledged) >= 200, f"only {len(acknowledged)} hits were acknowledged"
    assert len(refused) > 0, "killing workers mid-request should have cost some requests"
    print(f"{kills} kills, {len(acknowledged)} acknowledged, {len(refused)} not, {len(tails)} torn tails")


# -- (c) full and read-only filesystems ----------------------------------------------------


@contextmanager
def tmpfs(path: Path, size: str = "64k"):
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode:
        pytest.fail(f"could not mount a tmpfs at {path} (these tests run as root): {mounted.stderr}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(folder: Path) -> None:
    """Write a filler file until the filesystem has no room left."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 1024)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def event(marker: str, size: int = 0) -> dict:
    return {"t": "event", "cid": "c", "dl": PAGE, "en": "buy", "ev": marker, "dt": "t" * size}


def test_a_full_disk_gets_503_and_leaves_only_whole_lines(tmp_path):
    with tmpfs(tmp_path / "logs") as log_dir:
        client = Client(Collector(make_settings(tmp_path, LOG_DIR=log_dir)))
        assert client.post("/collect", json=event("before")).status_code == 204
        fill(log_dir)
        answers = {}
        for count in range(40):
            marker = f"full-{count}"
            # Long lines no longer fit in the room left in the file's last page: the kernel
            # writes part of one and stops; the collector must cut that part off again.
            answers[marker] = client.post("/collect", json=event(marker, size=500)).status_code
        lines, tails = complete_lines(log_dir)
        assert tails == [], "a partly written line was left in the log"
        logged = Counter(hit["ev"] for hit in lines)
        assert set(answers.values()) == {204, 503}, "the last page's room is used up, then refused"
        assert [m for m, status in answers.items() if status == 503][-10:] == [
            f"full-{n}" for n in range(30, 40)
        ]
        for marker, status in answers.items():
            assert logged[marker] == (1 if status == 204 else 0), marker
        assert logged["before"] == 1
        answer = client.get("/1.gif?" + urlencode(event("gif", size=500)))
        assert answer.status_code == 503
        assert answer.headers["Retry-After"]
        assert client.get("/health").status_code == 503

        (log_dir / "filler").unlink()  # room again: hits are taken again
        assert client.post("/collect", json=event("after")).status_code == 204
        lines, tails = complete_lines(log_dir)
        assert tails == []
        assert Counter(hit["ev"] for hit in lines)["after"] == 1


def test_a_read_only_log_folder_gets_503_for_every_hit(tmp_path):
    with tmpfs(tmp_path / "logs", size="4m") as log_dir:
        settings = make_settings(tmp_path, LOG_DIR=log_dir)
        earlier = Collector(settings)
        earlier_client = Client(earlier)
        assert earlier_client.post("/collect", json=event("earlier")).status_code == 204
        earlier.log.close()  # the hour is over: its file is closed
        before = {path.name: path.read_bytes() for path in log_dir.iterdir()}

        client = Client(Collector(settings))
        assert client.get("/health").status_code == 200
        subprocess.run(["mount", "-o", "remount,ro", str(log_dir)], check=True)
        statuses = [client.post("/collect", json=event(f"ro-{n}")).status_code for n in range(10)]
        statuses += [client.get("/1.gif?" + urlencode(event(f"ro-gif-{n}"))).status_code for n in range(10)]
        assert statuses == [503] * 20
        assert client.get("/health").status_code == 503
        assert {path.name: path.read_bytes() for path in log_dir.iterdir()} == before

        subprocess.run(["mount", "-o", "remount,rw", str(log_dir)], check=True)
        assert client.post("/collect", json=event("writable again")).status_code == 204


# -- injected write errors --------------------------------------------------------------------


def test_a_short_write_is_cut_off_and_answered_503(tmp_path, monkeypatch):
    settings = make_settings(tmp_path)
    collector = Collector(settings)
    client = Client(collector)
    assert client.post("/collect", json=event("first")).status_code == 204
    (path,) = Path(settings["LOG_DIR"]).iterdir()
    before = path.read_bytes()
    real_write = os.write
    log_fd = collector.log._fd

    def half_write(fd: int, data: bytes) -> int:
        if fd != log_fd:
            return real_write(fd, data)
        return real_write(fd, data[: len(data) // 2])  # what a filling disk does

    monkeypatch.setattr(hitlog.os, "write", half_write)
    answer = client.post("/collect", json=event("torn"))
    monkeypatch.undo()
    assert answer.status_code == 503
    assert "try again" in answer.get_json()["error"]
    assert path.read_bytes() == before
    assert client.post("/collect", json=event("next")).status_code == 204
    lines, tails = complete_lines(settings["LOG_DIR"])
    assert tails == []
    assert [hit["ev"] for hit in lines] == ["first", "next"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO, errno.EROFS, errno.EDQUOT])
def test_a_failing_write_is_answered_503_and_writes_nothing(tmp_path, monkeypatch, code):
    settings = make_settings(tmp_path)
    client = Client(Collector(settings))
    real_write = os.write

    def failing_write(fd: int, data: bytes) -> int:
        if data.startswith(b'{"v":'):
            raise OSError(code, os.strerror(code))
        return real_write(fd, data)

    monkeypatch.setattr(hitlog.os, "write", failing_write)
    assert client.post("/collect", json=event("lost")).status_code == 503
    assert client.get("/1.gif?" + urlencode(event("lost too"))).status_code == 503
    monkeypatch.undo()
    assert client.post("/collect", json=event("kept")).status_code == 204
    lines, _ = complete_lines(settings["LOG_DIR"])
    assert [hit["ev"] for hit in lines] == ["kept"]


def test_a_failing_fsync_takes_the_line_back(tmp_path, monkeypatch):
    settings = make_settings(tmp_path, LOG_FSYNC=True)
    client = Client(Collector(settings))
    assert client.post("/collect", json=event("synced")).status_code == 204

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(hitlog.os, "fsync", failing_fsync)
    assert client.post("/collect", json=event("unsynced")).status_code == 503
    monkeypatch.undo()
    lines, tails = complete_lines(settings["LOG_DIR"])
    assert (tails, [hit["ev"] for hit in lines]) == ([], ["synced"])


# -- the README's production commands ---------------------------------------------------------


def readme_gunicorn_commands() -> list[list[str]]:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Running in production", 1)[1].split("\n## ", 1)[0]
    blocks = [block.split("```", 1)[0].strip() for block in section.split("```sh\n")[1:]]
    return [shlex.split(block) for block in blocks if block.startswith("gunicorn ")]


def test_the_readmes_production_commands_serve_and_collect(tmp_path):
    commands = readme_gunicorn_commands()
    apps = [command[-1] for command in commands]
    assert apps == ["crumby.serve.collect:create_collector()", "crumby.serve:create_app()"]
    for number, command in enumerate(commands):
        run_dir = tmp_path / str(number)
        run_dir.mkdir()
        with gunicorn(run_dir, command[1:]) as (_, port):
            marker = f"readme-{number}"
            query = urlencode({"t": "event", "cid": "c", "dl": PAGE, "en": "buy", "ev": marker})
            assert request_status(port, "/1.gif?" + query) == 200
            assert request_status(port, "/cmb.js") == 200
            assert request_status(port, "/") == (404 if number == 0 else 200)
        lines, _ = complete_lines(run_dir / "logs")
        assert [hit["ev"] for hit in lines] == [marker]

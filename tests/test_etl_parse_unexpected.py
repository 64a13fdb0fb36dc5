"""A line whose conversion raises an error crumby did not expect (a bug of ours) is set aside like a
bad line, and the run goes on: real log files, the real ETL into DuckDB, the conversion made to fail
for chosen lines only. Then the README's way of loading such lines again once crumby is fixed.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from crumby import hits as hits_module
from crumby.etl import parse as parse_module
from crumby.etl import parse_nginx
from crumby.etl.pipeline import run
from crumby.hits import failure_reason, make_hit, serialise
from crumby.store.engine import create_engine

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
MSEC = 1772323200.344  # 2026-03-01
MARK = "boom"  # in the lines made to fail
INDEX_ERROR = (
    "crumby could not convert this line (IndexError: list index out of range): "
    "please report it; the line is kept here"
)


def hit_line(n: int, hit_id: str | None = None, **fields) -> bytes:
    when = T0 + timedelta(seconds=n)
    fields = {"t": "visit", "cid": f"c{n}", "dl": f"https://example.com/p{n}", "dt": "Page", **fields}
    ts = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return serialise(
        make_hit(
            fields,
            ip="81.2.69.1",
            ua="Mozilla/5.0",
            referer="",
            lang="en",
            hit_id=hit_id or f"h{n:04d}",
            ts=ts,
        )
    )


def nginx_line(
    n: int, kind: str = "post", sites: str = "", proxies: int = 0, xff: str = "", **fields
) -> bytes:
    """An nginx line: a beacon (read column by column) or a GIF (read one by one)."""
    body = {"v": 1, "t": "visit", "cid": f"c{n}", "dl": f"https://example.com/{n}", **fields}
    entry = {"v": 1, "src": "nginx", "kind": kind, "id": f"{n:032x}", "msec": f"{MSEC + n:.3f}"}
    if kind == "post":
        entry.update(ct="text/plain;charset=UTF-8", body=json.dumps(body, separators=(",", ":")))
    else:
        entry["q"] = "&".join(f"{key}={value}" for key, value in body.items())
    entry.update(
        ip="203.0.113.9", xff=xff, ua="Mozilla/5.0", referer="", lang="fr", cookieless=False, proxies=proxies
    )
    entry["sites"] = sites
    return json.dumps(entry, separators=(",", ":")).encode() + b"\n"


def write_log(folder: Path, lines: list[bytes], name: str = f"hits-{T0:%Y%m%d%H}-w1.jsonl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"".join(lines))
    return path


def stored_ids(settings) -> list[str]:
    engine = create_engine(settings["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as conn:
            return sorted(
                row[0]
                for row in conn.execute(
                    sa.text("SELECT hit_id FROM visits UNION ALL SELECT hit_id FROM events")
                )
            )
    finally:
        engine.dispose()


def rejects(settings) -> list[list[bytes]]:
    """Each line of the rejects files as (file:offset, reason, raw line)."""
    data = b"".join(p.read_bytes() for p in sorted(Path(settings["REJECTS_DIR"]).glob("rejects-*.txt")))
    return [line.split(b"\t", 2) for line in data.split(b"\n")[:-1]]


def offset_of(path: Path, line: bytes) -> int:
    data = path.read_bytes()
    assert data.count(line) == 1
    return data.index(line)


def raise_for_marked(function, exc: BaseException):
    """``function``, but raising ``exc`` when an argument holds MARK."""

    def marked(*args, **kwargs):
        if any(MARK in (str(a) if not isinstance(a, bytes) else a.decode("utf-8", "replace")) for a in args):
            raise exc
        return function(*args, **kwargs)

    return marked


def test_a_line_whose_conversion_raises_is_set_aside_and_the_run_goes_on(
    settings, enricher, monkeypatch, caplog
):
    lines = [hit_line(n) for n in range(300)]
    # a \u escape takes a line the exact way, one at a time
    marked = [hit_line(300, "boom-1", dt="\\u00e9t\\u00e9"), hit_line(301, "boom-2", dt="\\u00e8")]
    lines[40:40] = [marked[0]]
    lines[200:200] = [marked[1]]
    path = write_log(Path(settings["LOG_DIR"]), lines)
    error = IndexError("list index out of range")
    monkeypatch.setattr(parse_module, "_hit_row", raise_for_marked(parse_module._hit_row, error))

    with caplog.at_level(logging.WARNING, logger="crumby.etl.parse"):
        report = run(settings, enricher=enricher)

    assert (report.hits, report.rejected) == (300, 2)
    assert "300 hits loaded" in report.summary() and "2 rejected" in report.summary()
    assert stored_ids(settings) == [f"h{n:04d}" for n in range(300)]
    assert rejects(settings) == [
        [f"{path.name}:{offset_of(path, line)}".encode(), INDEX_ERROR.encode(), line.rstrip(b"\n")]
        for line in marked
    ]
    warnings = [r for r in caplog.records if r.name == "crumby.etl.parse"]
    assert len(warnings) == 1, "the first such line of a parse is logged, not every one"
    assert warnings[0].levelno == logging.WARNING and warnings[0].exc_info[0] is IndexError
    assert f"{path.name}:{offset_of(path, marked[0])}" in warnings[0].getMessage()
    assert run(settings, enricher=enricher).rejected == 0, "set aside once: the checkpoint went past it"


def test_one_traceback_a_run_however_many_batches_hold_such_lines(settings, enricher, monkeypatch, caplog):
    """Cron mails what a run logs: one traceback, not one per batch; every such line is set aside."""
    lines = [hit_line(n) for n in range(2400)]  # 166 bytes each: some 790 lines a batch of 128 KiB
    marked = [hit_line(2400 + n, f"boom-{n}", dt="\\u00e9") for n in range(3)]
    for at, line in zip((2300, 1200, 10), reversed(marked), strict=True):
        lines.insert(at, line)
    path = write_log(Path(settings["LOG_DIR"]), lines)
    monkeypatch.setattr(parse_module, "_hit_row", raise_for_marked(parse_module._hit_row, KeyError("x")))
    batches = []
    monkeypatch.setattr(parse_module, "_parse_chunk", counted(parse_module._parse_chunk, batches))

    with caplog.at_level(logging.WARNING, logger="crumby.etl.parse"):
        report = run(settings, enricher=enricher, batch_bytes=1)  # as small as batches are made

    assert len(batches) == 4, "the marked lines fall in three batches"
    assert (report.hits, report.rejected) == (2400, 3)
    assert [r[0] for r in rejects(settings)] == [
        f"{path.name}:{offset_of(path, line)}".encode() for line in marked
    ]
    warnings = [r for r in caplog.records if r.name == "crumby.etl.parse"]
    assert len(warnings) == 1, "the first such line of a run is logged, not the first of each batch"
    assert f"{path.name}:{offset_of(path, marked[0])}" in warnings[0].getMessage()


def counted(function, calls: list):
    def counting(*args, **kwargs):
        calls.append(1)
        return function(*args, **kwargs)

    return counting


def test_a_reason_stays_one_line_of_text_whatever_the_error_says():
    reason = failure_reason(ValueError("two\tparts\non\r\ntwo lines \ud800" + "x" * 500))
    assert "\t" not in reason and "\n" not in reason and "\r" not in reason
    assert reason.startswith(
        "crumby could not convert this line (ValueError: two parts on two lines \\ud800xxx"
    )
    assert reason.endswith("…): please report it; the line is kept here") and len(reason) < 300
    reason.encode("utf-8")  # the rejects file writes it as UTF-8
    assert failure_reason(KeyError()) == (
        "crumby could not convert this line (KeyError): please report it; the line is kept here"
    )


def test_an_nginx_line_whose_conversion_raises_is_set_aside_and_the_run_goes_on(
    settings, enricher, monkeypatch, caplog
):
    lines = [nginx_line(n) for n in range(100)] + [nginx_line(n, kind="gif") for n in range(100, 110)]
    marked = nginx_line(110, kind="gif", dt=MARK)
    lines.insert(50, marked)
    path = write_log(Path(settings["LOG_DIR"]), lines)
    monkeypatch.setattr(
        parse_module,
        "parse_any_line",
        raise_for_marked(parse_module.parse_any_line, IndexError("list index out of range")),
    )

    with caplog.at_level(logging.WARNING, logger="crumby.etl.parse"):
        report = run(settings, enricher=enricher)

    assert (report.hits, report.rejected) == (110, 1) and "1 rejected" in report.summary()
    assert stored_ids(settings) == sorted(f"{n:032x}" for n in range(110))
    assert rejects(settings) == [
        [f"{path.name}:{offset_of(path, marked)}".encode(), INDEX_ERROR.encode(), marked.rstrip(b"\n")]
    ]
    assert [r.exc_info[0] for r in caplog.records if r.name == "crumby.etl.parse"] == [IndexError]


@pytest.mark.parametrize(
    ("module", "name", "line"),
    [
        (parse_nginx, "site_allowed", nginx_line(7, sites="example.com", dl=f"https://example.com/{MARK}")),
        (parse_nginx, "forwarded_client", nginx_line(7, proxies=1, xff=f"198.51.100.7, {MARK}")),
        (parse_module, "clean_props", nginx_line(7, t="event", en="buy", props={"plan": MARK})),
    ],
)
def test_a_value_raising_on_nginxs_column_path_sends_its_line_the_exact_way(
    settings, enricher, monkeypatch, module, name, line
):
    """The column path asks the exact way's functions once per distinct value: one that raises there
    leaves its lines to the exact way, where the same function sets the line aside, instead of
    stopping the whole batch (as urlsplit's ValueError and an IndexError once did)."""
    lines = [nginx_line(n, sites="example.com", proxies=1, xff="198.51.100.1") for n in range(100)]
    lines[7] = line
    path = write_log(Path(settings["LOG_DIR"]), lines)
    error = TypeError(f"{name} failed")  # not a ValueError, which the props' check expects
    for where in (module, hits_module):  # the column path's name for it, and the exact way's
        monkeypatch.setattr(where, name, raise_for_marked(getattr(hits_module, name), error))

    report = run(settings, enricher=enricher)

    assert (report.hits, report.rejected) == (99, 1)
    assert stored_ids(settings) == sorted(f"{n:032x}" for n in range(100) if n != 7)
    reason = INDEX_ERROR.replace("IndexError: list index out of range", f"TypeError: {name} failed")
    assert rejects(settings) == [
        [f"{path.name}:{offset_of(path, line)}".encode(), reason.encode(), line.rstrip(b"\n")]
    ]


def test_a_props_check_raising_on_the_column_path_sends_its_line_the_exact_way(
    settings, enricher, monkeypatch
):
    lines = [hit_line(n, t="event", en="buy", props={"plan": "pro"}) for n in range(100)]
    lines[30] = hit_line(30, t="event", en="buy", props={"plan": MARK})
    path = write_log(Path(settings["LOG_DIR"]), lines)
    monkeypatch.setattr(
        parse_module, "props_text", raise_for_marked(parse_module.props_text, TypeError("no"))
    )

    report = run(settings, enricher=enricher)

    assert (report.hits, report.rejected) == (99, 1)
    reason = b"crumby could not convert this line (TypeError: no): please report it; the line is kept here"
    assert rejects(settings) == [
        [f"{path.name}:{offset_of(path, lines[30])}".encode(), reason, lines[30].rstrip(b"\n")]
    ]


def test_a_memory_error_still_stops_the_run(settings, enricher, monkeypatch):
    lines = [hit_line(n) for n in range(50)] + [hit_line(50, "boom", dt="\\u00e9")]
    write_log(Path(settings["LOG_DIR"]), lines)
    monkeypatch.setattr(parse_module, "_hit_row", raise_for_marked(parse_module._hit_row, MemoryError()))
    with pytest.raises(MemoryError):
        run(settings, enricher=enricher)
    assert not list(Path(settings["REJECTS_DIR"]).glob("rejects-*.txt"))


def test_a_memory_error_on_nginxs_column_path_still_stops_the_run(settings, enricher, monkeypatch):
    lines = [nginx_line(n, sites="example.com") for n in range(50)]
    lines.append(nginx_line(50, sites="example.com", dl=f"https://example.com/{MARK}"))
    write_log(Path(settings["LOG_DIR"]), lines)
    # only the column path: the exact way would take the line, were the MemoryError caught
    monkeypatch.setattr(
        parse_nginx, "site_allowed", raise_for_marked(hits_module.site_allowed, MemoryError())
    )
    with pytest.raises(MemoryError):
        run(settings, enricher=enricher)


def readme_reload_commands() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("**A line crumby fails on.**", 1)[1].split("\n\n**", 1)[0]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def test_the_readmes_way_loads_the_set_aside_lines_again_after_an_upgrade(settings, enricher, monkeypatch):
    lines = [hit_line(n) for n in range(200)]
    marked = [hit_line(200 + n, f"boom-{n}", dt=f"\\u00e{n}") for n in range(3)]
    lines[10:10] = marked[:1]
    lines[100:100] = marked[1:]
    lines.append(b'{"v":1,"id":"cut short"}\n')  # a line no upgrade makes good: it is not read again
    write_log(Path(settings["LOG_DIR"]), lines)
    with monkeypatch.context() as bug:
        error = IndexError("list index out of range")
        bug.setattr(parse_module, "_hit_row", raise_for_marked(parse_module._hit_row, error))
        first = run(settings, enricher=enricher)
    assert (first.hits, first.rejected) == (200, 4)

    # crumby is fixed (the patch is gone); the README's commands as written, twice: a hit stored
    # already is not stored again
    env = {name: value for name, value in os.environ.items() if not name.startswith("CRUMBY_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        LOG_DIR=str(settings["LOG_DIR"]),
        REJECTS_DIR=str(settings["REJECTS_DIR"]),
        CRUMBY_DATA_DIR=str(settings["DATA_DIR"]),
        CRUMBY_LOG_DIR=str(settings["LOG_DIR"]),
    )
    for _ in range(2):
        done = subprocess.run(
            ["sh", "-ec", readme_reload_commands()], env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr

    assert stored_ids(settings) == sorted([*(f"h{n:04d}" for n in range(200)), "boom-0", "boom-1", "boom-2"])
    reloaded = sorted(Path(settings["LOG_DIR"]).glob("hits-*-reloaded.jsonl"))
    assert b"".join(p.read_bytes() for p in reloaded) == b"".join(marked) * 2
    assert len(rejects(settings)) == 4, "the reloads set nothing aside"


def test_the_first_such_line_is_on_standard_error_under_quiet(settings):
    """What cron mails: `crumby etl --quiet` prints nothing but errors, and this traceback."""
    lines = [hit_line(n) for n in range(20)] + [hit_line(20, "boom", dt="\\u00e9")]
    path = write_log(Path(settings["LOG_DIR"]), lines)
    program = (
        "import sys\n"
        "from crumby.etl import parse\n"
        "from tests.test_etl_parse_unexpected import raise_for_marked\n"
        "parse._hit_row = raise_for_marked(parse._hit_row, IndexError('list index out of range'))\n"
        "sys.argv = ['crumby', 'etl', '--quiet']\n"
        "from crumby.cli import main\n"
        "main()\n"
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("CRUMBY_")}
    env.update(CRUMBY_DATA_DIR=str(settings["DATA_DIR"]), CRUMBY_LOG_DIR=str(settings["LOG_DIR"]))
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0 and done.stdout == ""
    first, *_, last = done.stderr.splitlines()
    assert first.startswith(f"{path.name}:{offset_of(path, lines[-1])}: crumby could not convert this line")
    assert last == "IndexError: list index out of range"
    assert stored_ids(settings) == [f"h{n:04d}" for n in range(20)]

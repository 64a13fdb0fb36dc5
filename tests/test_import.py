"""crumby import: access-log lines become raw hits that crumby etl loads once, with the same enrichment.

Real log files in tmp_path (plain, gzip, stdin), the real CLI, the real ETL into DuckDB.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from conftest import make_settings

from crumby.cli import cli
from crumby.etl.pipeline import run
from crumby.hits import failure_reason
from crumby.importer.formats import HitTime, LineError, Request, line_parser
from crumby.importer.pages import left_out
from crumby.importer.run import import_logs
from crumby.store.engine import create_engine

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
LOG = [
    f'203.0.113.7 - - [04/Dec/2026:10:00:01 +0100] "GET /blog/post?id=7 HTTP/1.1" 200 5120 '
    f'"https://www.google.com/" "{FIREFOX}"',
    f'203.0.113.7 - - [04/Dec/2026:10:00:01 +0100] "GET /static/app.css HTTP/1.1" 200 512 "-" "{FIREFOX}"',
    f'203.0.113.7 - - [04/Dec/2026:10:00:09 +0100] "GET /about/ HTTP/1.1" 304 0 '
    f'"https://example.com/blog/post?id=7" "{FIREFOX}"',
    f'66.249.66.1 - - [04/Dec/2026:10:00:02 +0100] "GET / HTTP/1.1" 200 5120 "-" "{GOOGLEBOT}"',
    '198.51.100.3 - - [04/Dec/2026:10:00:03 +0100] "POST /login HTTP/1.1" 302 0 "-" "curl/8"',
    "this is not a log line",
    '198.51.100.3 - - [04/Dec/2026:10:00:04 +0100] "GET /missing HTTP/1.1" 404 0 "-" "curl/8"',
    '198.51.100.4 - - [04/Dec/2026:10:00:05 +0100] "GET /old HTTP/1.1" 301 0 "-" "curl/8"',
]


def write(path: Path, lines: list[str], compress: bool = False) -> Path:
    data = "".join(line + "\n" for line in lines).encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def query(settings: dict, sql: str) -> list[tuple]:
    engine = create_engine(settings["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def visits(settings: dict) -> list[tuple]:
    columns = "doc_uri, referrer, ip, browser, is_bot, visitor_id, cid"
    return query(settings, f"SELECT {columns} FROM visits ORDER BY doc_uri")


def crumby(settings: dict, *args: str, input: bytes | None = None):
    env = {"CRUMBY_DATA_DIR": str(settings["DATA_DIR"]), "CRUMBY_LOG_DIR": str(settings["LOG_DIR"])}
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


def test_page_views_load_once_with_bots_flagged_and_cookieless_visitors(tmp_path):
    settings = make_settings(tmp_path)
    log = write(tmp_path / "access.log", LOG)
    result = crumby(settings, "import", str(log), "--site", "example.com", "-v")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(
        "1 files, 8 lines: 3 page views written, "
        "4 left out (1 method, 1 redirect, 1 error, 1 asset), 1 unparseable"
    )
    rejects = Path(result.output.splitlines()[1].rsplit(": ", 1)[1]).read_text()
    assert rejects == f"{log}:6\tnot a combined log line\tthis is not a log line\n"

    first = run(settings)
    assert (first.visits, first.bots, first.rejected) == (3, 1, 0)
    rows = visits(settings)
    assert [(r[0], r[1], r[4]) for r in rows] == [
        ("https://example.com/", None, True),
        ("https://example.com/about/", "https://example.com/blog/post?id=7", False),
        ("https://example.com/blog/post?id=7", "https://www.google.com/", False),
    ]
    assert rows[2][3] == "Firefox" and rows[2][6] is None
    # No cookie: the visitor is the daily-salted hash of site, address and agent, the same for one person.
    assert rows[1][5] == rows[2][5] != rows[0][5] and len(rows[1][5]) == 32
    assert "203.0.113.7" not in rows[2][5]

    # The same lines again, from a gzip copy and from stdin: nothing new is loaded.
    again = crumby(
        settings, "import", str(write(tmp_path / "access.log.1.gz", LOG, True)), "--site", "example.com"
    )
    assert again.exit_code == 0 and again.output == ""  # quiet when not on a terminal
    piped = crumby(settings, "import", "-", "--site", "example.com", input=log.read_bytes())
    assert piped.exit_code == 0
    second = run(settings)
    assert (second.visits, second.duplicates) == (0, 6)
    assert visits(settings) == rows


def test_two_logs_that_begin_alike_keep_each_others_hits(tmp_path):
    settings = make_settings(tmp_path)
    check = '192.0.2.1 - - [04/Dec/2026:10:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "balancer-health/1"'
    one = write(tmp_path / "web1.log", [check, LOG[0]])
    two = write(tmp_path / "web2.log", [check, LOG[2]])
    for log in (one, two):
        assert crumby(settings, "import", str(log), "--site", "example.com").exit_code == 0
    run(settings)
    pages = [row[0] for row in visits(settings)]
    assert "https://example.com/blog/post?id=7" in pages and "https://example.com/about/" in pages


def test_the_site_comes_from_the_host_field_of_nginx_json_and_apache_logs(tmp_path):
    settings = make_settings(tmp_path)
    nginx = {
        "time_iso8601": "2026-12-04T10:00:01+01:00",
        "remote_addr": "203.0.113.9",
        "request": "GET /shop?x=1 HTTP/2.0",
        "status": "200",
        "http_referer": "",
        "http_user_agent": FIREFOX,
        "host": "shop.example.org",
    }
    write(tmp_path / "nginx.json", [json.dumps(nginx), json.dumps({**nginx, "status": 500}), "{oops"])
    apache = 'www.example.net:443 203.0.113.9 - - [04/Dec/2026:10:00:01 +0100] "GET /a HTTP/1.1" 200 1 '
    apache += f'"-" "{FIREFOX}"'
    write(tmp_path / "apache.log", [apache])
    report = import_logs(settings, [str(tmp_path / "nginx.json")], "nginx-json")
    assert (report.hits, report.unparseable, dict(report.left_out)) == (1, 1, {"error": 1})
    assert import_logs(settings, [str(tmp_path / "apache.log")], "apache").hits == 1
    run(settings)
    assert [r[0] for r in visits(settings)] == [
        "https://shop.example.org/shop?x=1",
        "https://www.example.net/a",
    ]


def test_a_format_without_a_host_needs_site(tmp_path):
    result = crumby(make_settings(tmp_path), "import", str(write(tmp_path / "a.log", LOG)))
    assert result.exit_code == 1
    assert "the combined format has no Host field: say which site the log is of with --site" in result.output


@pytest.mark.parametrize(
    ("method", "target", "status", "reason"),
    [
        ("GET", "/", 200, None),
        ("GET", "/blog/post.html?x=1", 200, None),
        ("GET", "/index.php", 304, None),
        ("GET", "/v1.2/notes", 200, None),
        ("HEAD", "/", 200, "method"),
        ("POST", "/form", 200, "method"),
        ("GET", "/", 301, "redirect"),
        ("GET", "/x", 404, "error"),
        ("GET", "/x", 503, "error"),
        ("GET", "/img/logo.PNG", 200, "asset"),
        ("GET", "/robots.txt", 200, "asset"),
        ("GET", "/app.js?v=3", 200, "asset"),
        ("GET", "/1.gif", 200, "tracker"),
        ("GET", "/collect", 200, "tracker"),
        ("GET", "*", 200, "not a path"),
    ],
)
def test_which_requests_are_page_views(method, target, status, reason):
    assert left_out(Request("2026-01-01T00:00:00.000Z", "1.2.3.4", method, target, status)) == reason


def test_common_log_format_and_escapes():
    common = line_parser("common")('::1 - bob [31/Dec/2026:23:59:59 -0130] "GET /a%20b HTTP/1.0" 200 -')
    assert (HitTime()(common), common.ip, common.target, common.ua) == (
        "2027-01-01T01:29:59.000Z",
        "::1",
        "/a%20b",
        "",
    )
    combined = line_parser("combined")(
        r'1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "say \x22hi\x22 \xC3\xA9 \"x\""'
    )
    assert combined.ua == 'say "hi" é "x"'
    with pytest.raises(LineError, match="not a combined log line"):
        line_parser("combined")('1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1')
    for bad in ("01/Foo/2026:00:00:00 +0000", "31/Feb/2026:00:00:00 +0100", "01/Jan/2026:00:00:00"):
        with pytest.raises(LineError):
            HitTime()(Request(bad, "1.2.3.4", "GET", "/", 200, clf=True))


def random_text(rng: random.Random, size: int) -> str:
    """Printable text without a double quote or backslash (what a log quotes without escaping)."""
    alphabet = [chr(c) for c in range(32, 0x2FFF) if chr(c) not in '"\\' and chr(c).isprintable()]
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(size)))


def test_combined_lines_read_back_what_was_written():
    rng = random.Random(22)
    parse = line_parser("combined")
    for _ in range(400):
        ip = rng.choice([f"203.0.113.{rng.randrange(256)}", f"2001:db8::{rng.randrange(65536):x}"])
        path = "/" + "".join(rng.choice("abcxyz0189/-_.%?=&") for _ in range(rng.randrange(60)))
        status, second = rng.randrange(100, 600), rng.randrange(60)
        referer, ua = random_text(rng, 40), random_text(rng, 40)
        offset = rng.choice(["+0000", "-0700", "+0530", "+1400"])
        line = (
            f'{ip} - - [09/Mar/2026:12:34:{second:02d} {offset}] "GET {path} HTTP/1.1" {status} 99 '
            f'"{referer or "-"}" "{ua or "-"}"'
        )
        request = parse(line)
        assert (request.ip, request.method, request.target, request.status) == (ip, "GET", path, status), line
        assert (request.referer, request.ua) == (
            referer if referer != "-" else "",
            ua if ua != "-" else "",
        ), line
        assert HitTime()(request).endswith(f":{second:02d}.000Z")


def test_follow_state_reads_on_across_rename_and_copytruncate_rotations(tmp_path):
    settings = make_settings(tmp_path)
    folder = tmp_path / "nginx"
    folder.mkdir()
    log = folder / "access.log"
    pages = [
        f'203.0.113.{n} - - [04/Dec/2026:10:00:{n:02d} +0000] "GET /p{n} HTTP/1.1" 200 1 "-" "{FIREFOX}"'
        for n in range(12)
    ]

    def follow() -> int:
        result = crumby(settings, "import", str(log), "--site", "example.com", "--follow-state", "-v")
        assert result.exit_code == 0, result.output
        return run(settings).visits

    write(log, pages[:2])
    with log.open("a") as handle:
        handle.write(pages[2][:30])  # a line still being written
    assert follow() == 2
    with log.open("a") as handle:
        handle.write(pages[2][30:] + "\n" + pages[3] + "\n")
    assert follow() == 2
    # logrotate without copytruncate: renamed (lines added after our last read), a new file begun.
    with log.open("a") as handle:
        handle.write(pages[4] + "\n")
    log.rename(folder / "access.log.1")
    write(log, pages[5:7])
    assert follow() == 3
    assert follow() == 0
    # copytruncate: copied away (and compressed), then emptied in place, and written on.
    with log.open("a") as handle:
        handle.write(pages[7] + "\n")
    write(folder / "access.log.1.gz", pages[5:8], compress=True)
    (folder / "access.log.1").unlink()
    log.write_bytes(b"")
    with log.open("a") as handle:
        handle.write(pages[8] + "\n" + pages[9] + "\n")
    assert follow() == 3
    assert sorted(r[0] for r in visits(settings)) == sorted(f"https://example.com/p{n}" for n in range(10))
    state = json.loads((Path(settings["DATA_DIR"]) / "import-state.json").read_text())
    assert list(state["files"]) == [str(log.resolve())]
    assert state["files"][str(log.resolve())]["line"] == 2


def test_one_visitor_of_an_old_day_stays_one_across_the_etls_batches(tmp_path):
    settings = make_settings(tmp_path)
    lines = [
        f'203.0.113.7 - - [04/Mar/2024:10:{n // 60 % 60:02d}:{n % 60:02d} +0000] "GET /p{n} HTTP/1.1" 200 1 '
        f'"-" "{FIREFOX}"'
        for n in range(1500)
    ]
    import_logs(settings, [str(write(tmp_path / "old.log", lines))], site="example.com")
    report = run(settings, batch_bytes=1)  # the smallest batches: a few hundred hits each
    assert report.visits == 1500
    counted = query(settings, "SELECT count(DISTINCT visitor_id), count(DISTINCT session_id) FROM visits")
    assert counted == [(1, 1)]
    # The old day's salt is gone with the next batch that has none of its hits.
    today = datetime.now(timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
    later = f'203.0.113.7 - - [{today}] "GET / HTTP/1.1" 200 1 "-" "{FIREFOX}"'
    import_logs(settings, [str(write(tmp_path / "new.log", [later]))], site="example.com")
    run(settings)
    days = [str(day)[:10] for (day,) in query(settings, "SELECT day FROM _crumby_salts")]
    assert days == [datetime.now(timezone.utc).strftime("%Y-%m-%d")]


def test_nginx_json_times_and_requests_in_their_several_spellings():
    parse, hit_time = line_parser("nginx-json"), HitTime()
    base = {"remote_addr": "203.0.113.9", "status": 200, "host": "example.com"}
    for entry, ts in (
        ({"msec": "1700000000.250"}, "2023-11-14T22:13:20.250Z"),
        ({"time_local": "14/Nov/2023:23:13:20 +0100"}, "2023-11-14T22:13:20.000Z"),
        ({"time_iso8601": "2023-11-14T23:13:20+01:00"}, "2023-11-14T22:13:20.000Z"),
    ):
        request = parse(json.dumps({**base, **entry, "request_method": "GET", "request_uri": "/a?b=1"}))
        assert (hit_time(request), request.method, request.target) == (ts, "GET", "/a?b=1")
    for entry, reason in (
        ({"request": "GET / HTTP/1.1"}, "no time"),
        ({"time_iso8601": "2023-11-14T23:13:20", "request": "GET / HTTP/1.1"}, "has no time zone"),
        ({"msec": "1700000000", "request": "GET / HTTP/1.1", "status": "-"}, "no status"),
    ):
        with pytest.raises(LineError, match=reason):
            parse(json.dumps({**base, **entry}))
    with pytest.raises(LineError, match="not a JSON object"):
        parse("[1]")


def test_the_importer_imports_nothing_heavy():
    """It runs from cron beside the ETL; it needs neither the store nor the enrichment."""
    program = (
        "import sys, crumby.importer.run, crumby.nginx_hits, crumby.serve.nginx_config\n"
        "heavy = ('sqlalchemy', 'duckdb', 'pandas', 'pyarrow', 'flask')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_times_and_statuses_out_of_range_are_unparseable_lines():
    """Each raised OverflowError, which stopped the import at that line."""
    parse, hit_time = line_parser("nginx-json"), HitTime()
    base = {"remote_addr": "203.0.113.9", "host": "example.com", "request": "GET / HTTP/1.1"}
    with pytest.raises(LineError, match="no status"):
        parse(json.dumps(base)[:-1] + ',"status":1e400,"msec":"1700000000"}')  # read as infinity
    for when in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"):
        with pytest.raises(LineError, match="out of range"):
            parse(json.dumps({**base, "status": 200, "time_iso8601": when}))
    with pytest.raises(LineError, match="out of range"):
        hit_time(Request("01/Jan/0001:00:00:00 +0100", "1.2.3.4", "GET", "/", 200, clf=True))


MARKED = f'203.0.113.8 - - [04/Dec/2026:10:00:07 +0100] "GET /boom HTTP/1.1" 200 9 "-" "{FIREFOX}"'


def test_a_line_whose_reading_raises_is_set_aside_and_the_import_goes_on(tmp_path, monkeypatch, caplog):
    """An error crumby does not expect (a bug of ours) sets the line aside, as a line not in the format."""
    import crumby.importer.run as importer_run

    def failing(request):
        if "boom" in request.target:
            raise IndexError("list index out of range")
        return left_out(request)

    monkeypatch.setattr(importer_run, "left_out", failing)
    settings = make_settings(tmp_path)
    log = write(tmp_path / "access.log", [LOG[0], MARKED, *LOG[1:], MARKED.replace("/boom", "/boom2")])
    with caplog.at_level(logging.WARNING, logger="crumby.importer.run"):
        report = import_logs(settings, [str(log)], site="example.com")
    assert (report.lines, report.hits, report.unparseable) == (10, 3, 3)
    assert "3 page views written" in report.summary() and "3 unparseable" in report.summary()
    reason = (
        "crumby could not import this line (IndexError: list index out of range): "
        "please report it; the line is kept here"
    )
    assert Path(report.rejects_file).read_text().splitlines() == [
        f"{log}:2\t{reason}\t{MARKED}",
        f"{log}:7\tnot a combined log line\tthis is not a log line",
        f"{log}:10\t{reason}\t{MARKED.replace('/boom', '/boom2')}",
    ]
    warnings = [r for r in caplog.records if r.name == "crumby.importer.run"]
    assert len(warnings) == 1 and warnings[0].exc_info[0] is IndexError, "the run's first, not every one"
    assert f"{log}:2" in warnings[0].getMessage()
    assert run(settings).visits == 3
    one_line = failure_reason(ValueError("a\tb\nc \ud800"), "import")
    assert "(ValueError: a b c \\ud800)" in one_line and one_line.encode()


def test_a_memory_error_still_stops_the_import(tmp_path, monkeypatch):
    import crumby.importer.run as importer_run

    def failing(request):
        if "boom" in request.target:
            raise MemoryError
        return left_out(request)

    monkeypatch.setattr(importer_run, "left_out", failing)
    settings = make_settings(tmp_path)
    log = write(tmp_path / "access.log", [LOG[0], MARKED])
    with pytest.raises(MemoryError):
        import_logs(settings, [str(log)], site="example.com")

"""User agents' answers kept between runs (crumby/etl/enrich/remembered.py): a later run does not parse
again what an earlier one did, gives the rows it would have given without them, and never fails for them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from crumby.etl.enrich.agent import AGENT_COLUMNS, AgentParser
from crumby.etl.enrich.distinct import AnswerTable
from crumby.etl.enrich.remembered import FILE_NAME
from crumby.etl.pipeline import run
from crumby.hits import make_hit, serialise
from crumby.store.engine import create_engine
from tests.conftest import make_settings

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
UAS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "curl/8.4.0",
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 7.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/5.0 Chrome/85.0.4183.93 TV Safari/537.36",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
    "Safari/537.36",
    "ExampleMonitor/1.0 (uptime checks)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
]


def write_hits(settings: dict, uas: list[str], hour: datetime, first: int) -> None:
    """Three page views for each of ``uas``, in one hour's raw log file."""
    folder = Path(settings["LOG_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for n in range(3 * len(uas)):
        when = hour + timedelta(seconds=10 * n)
        ts = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        fields = {"t": "visit", "cid": f"c{n % len(uas)}", "dl": f"https://example.com/p{n % 4}", "pv": "1"}
        hit = make_hit(fields, ip="81.2.69.142", ua=uas[n % len(uas)], referer="", lang="en",
                       hit_id=f"h{first + n:06d}", ts=ts)  # fmt: skip
        lines.append(serialise(hit))
    with open(folder / f"hits-{hour:%Y%m%d%H}-w1.jsonl", "ab") as handle:
        handle.write(b"".join(lines))


@pytest.fixture
def described(monkeypatch) -> list[str]:
    """Every user agent the runs parse, in turn."""
    seen: list[str] = []
    describe = AgentParser.describe

    def counting(self, ua, hints=None):
        seen.append(ua)
        return describe(self, ua, hints)

    monkeypatch.setattr(AgentParser, "describe", counting)
    return seen


def agent_rows(settings: dict) -> dict[str, tuple]:
    engine = create_engine(settings["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as conn:
            found = conn.execute(sa.text(f"SELECT hit_id, {', '.join(AGENT_COLUMNS)} FROM visits")).all()
    finally:
        engine.dispose()
    return {hit_id: tuple(rest) for hit_id, *rest in found}


def test_a_later_run_parses_only_the_user_agents_no_earlier_run_met(tmp_path, described):
    settings = make_settings(tmp_path / "kept")
    write_hits(settings, UAS[:8], T0, first=0)
    run(settings)
    assert sorted(set(described)) == sorted(UAS[:8])
    assert (Path(settings["DATA_DIR"]) / FILE_NAME).is_file()

    described.clear()
    write_hits(settings, UAS[4:], T0 + timedelta(hours=1), first=1000)
    report = run(settings)
    assert report.hits == 3 * 8
    assert sorted(described) == sorted(UAS[8:])  # each new one once, none met before

    # The same rows as one run of both hours that kept nothing gives.
    alone = make_settings(tmp_path / "alone")
    write_hits(alone, UAS[:8], T0, first=0)
    write_hits(alone, UAS[4:], T0 + timedelta(hours=1), first=1000)
    run(alone)
    assert agent_rows(settings) == agent_rows(alone)
    assert len(agent_rows(alone)) == 3 * 16


def test_answers_made_under_other_bot_patterns_are_not_used(tmp_path, described):
    write_hits(make_settings(tmp_path), UAS[:6], T0, first=0)
    run(make_settings(tmp_path))
    described.clear()
    mine = make_settings(tmp_path, BOT_PATTERNS="Firefox/120")
    write_hits(mine, UAS[:6], T0 + timedelta(hours=1), first=1000)
    run(mine)
    assert sorted(set(described)) == sorted(UAS[:6])  # parsed again: the patterns changed the answers
    rows = agent_rows(mine)
    firefox = {rows[f"h{1000 + n:06d}"][-1] for n in range(0, 18, 6)}
    assert firefox == {True}  # the later hour's Firefox 120 page views are a robot's now
    assert rows["h000000"][-1] is False  # loaded before the pattern: as it was


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"not an Arrow file"),
        lambda path: path.write_bytes(path.read_bytes()[:-200]),  # cut short
        lambda path: path.write_bytes(b""),
        lambda path: _rewrite(path, lambda table: table.drop_columns(["device"])),  # another shape
        lambda path: _rewrite(path, lambda table: table.slice(0, 0)),
    ],
    ids=["garbage", "truncated", "empty", "other-columns", "no-rows"],
)
def test_a_damaged_answers_file_is_parsed_past_and_written_anew(tmp_path, described, damage):
    settings = make_settings(tmp_path)
    write_hits(settings, UAS[:5], T0, first=0)
    run(settings)
    path = Path(settings["DATA_DIR"]) / FILE_NAME
    damage(path)
    described.clear()
    write_hits(settings, UAS[:5], T0 + timedelta(hours=1), first=1000)
    report = run(settings)
    assert report.hits == 15 and report.rejected == 0
    assert sorted(set(described)) == sorted(UAS[:5])
    with pa.OSFile(str(path)) as source:
        assert len(pa.ipc.open_file(source).read_all()) == 5  # whole again


def _rewrite(path: Path, change) -> None:
    with pa.OSFile(str(path)) as source:
        table = pa.ipc.open_file(source).read_all()
    table = change(table)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def test_a_dry_run_keeps_no_answers(tmp_path):
    settings = make_settings(tmp_path)
    write_hits(settings, UAS[:3], T0, first=0)
    run(settings, dry_run=True)
    assert not (Path(settings["DATA_DIR"]) / FILE_NAME).exists()


def test_an_answer_table_takes_back_what_it_kept_and_nothing_that_does_not_fit():
    def table(limit: int = 10) -> AnswerTable:
        return AnswerTable(("name", "flag"), (None, False), {"flag": "bool"}, limit=limit)

    first = table()
    first.slots(pa.array(["a", "b"]), lambda keys: [(k.as_py().upper(), k.as_py() == "b") for k in keys])
    kept = first.kept()
    again = table()
    assert again.take(kept)
    assert again.added == 0
    slots = again.slots(pa.array(["b", "c", "a"]), lambda keys: [("new", True) for _ in keys])
    assert again.added == 1  # only "c" was worked out
    assert [again.columns["name"][int(slot)].as_py() for slot in slots] == ["B", "new", "A"]
    assert again.columns["flag"][int(slots[0])].as_py() is True
    assert not table(limit=1).take(kept)  # more than its limit
    assert not AnswerTable(("name",), (None,)).take(kept)  # other columns
    assert not table().take(kept.set_column(2, "flag", pa.array(["x", "y"])))  # another type
    assert not table().take(kept.set_column(0, "key", pa.array(["a", None])))  # a missing key


def test_a_run_whose_user_agents_were_all_met_before_compiles_no_parser_lists(tmp_path, monkeypatch):
    """ua-parser's, Device Detector's and the bot lists take a second or more to compile: only a user
    agent not met before needs them (each run is a process of its own: nothing compiled is left)."""
    from crumby.etl.enrich import agent, bots

    settings = make_settings(tmp_path)
    write_hits(settings, UAS[:6], T0, first=0)
    run(settings)

    def not_now(*args, **kwargs):
        raise AssertionError("compiled for user agents met before")

    monkeypatch.setattr(agent, "Parser", not_now)
    monkeypatch.setattr(agent, "_model_types", not_now)
    monkeypatch.setattr(bots, "FirstMatch", not_now)
    agent._bot_matcher.cache_clear()  # as in a new process
    write_hits(settings, UAS[:6], T0 + timedelta(hours=1), first=1000)
    assert run(settings).hits == 18
    write_hits(settings, UAS[6:7], T0 + timedelta(hours=2), first=2000)
    with pytest.raises(AssertionError, match="compiled for user agents met before"):
        run(settings)  # a new one: the lists are needed after all

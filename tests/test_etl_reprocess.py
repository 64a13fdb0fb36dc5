"""`--reprocess FROM TO`: after a GeoIP swap or a new IP_PRIVACY, the range's rows are replaced once."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crumby.etl.pipeline import run
from crumby.etl.reprocess import reprocess
from crumby.store.engine import create_engine
from tests.conftest import make_settings
from tests.etl_corpus import IPS, append_hits, corpus, query, recent_start, table_rows
from tests.mmdb_file import city_record, write_city_database

DAYS = [recent_start(days_ago=n) for n in (4, 3, 2)]
TESTVILLE = city_record("EU", "IS", "Testville", 64.1, -21.9, "Atlantic/Reykjavik")
KEPT = ("id", "hit_id", "visitor_id", "session_id")


def _dicts(url: str, table: str) -> list[dict]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(sa.text(f"SELECT * FROM {table}"))]
    finally:
        engine.dispose()


@pytest.fixture
def loaded(tmp_path, store_url):
    """Three days of hits loaded with the bundled GeoIP database and anonymised IPs."""
    for n, day in enumerate(DAYS):
        append_hits(tmp_path / "logs", corpus(250, day + timedelta(hours=9), seed=20 + n))
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store_url)
    assert run(settings, batch_bytes=1 << 17).hits == 750
    return settings


def test_a_new_geoip_database_and_full_ips_replace_the_range_once(tmp_path, store_url, loaded):
    database = write_city_database(
        tmp_path / "newer.mmdb",
        {f"{ip}/{32 if '.' in ip else 128}": TESTVILLE for ip in IPS},
    )
    settings = {**loaded, "GEOIP2_DATABASE_NAME": str(database), "IP_PRIVACY": "full"}
    before = {table: {r["hit_id"]: r for r in _dicts(store_url, table)} for table in ("visits", "events")}
    day = DAYS[1].date()

    for attempt in range(2):  # twice: a second reprocess of the same range changes nothing more
        report = reprocess(settings, day, day, batch_bytes=1 << 17)
        assert report.hits == 250, attempt
        for table in ("visits", "events"):
            after = {r["hit_id"]: r for r in _dicts(store_url, table)}
            assert after.keys() == before[table].keys()
            for hit_id, row in after.items():
                old = before[table][hit_id]
                if str(row["datetime"])[:10] != str(day):
                    assert row == old  # outside the range: untouched, load id included
                    continue
                assert {k: row[k] for k in KEPT} == {k: old[k] for k in KEPT}
                assert row["load_id"] == report.load_id != old["load_id"]
                assert row["ip"] in IPS and old["ip"] not in IPS  # full now, anonymised before
                if table == "visits":
                    assert (row["city"], row["country"]) == ("Testville", "IS")
                    assert old["city"] != "Testville"
    load = query(
        store_url,
        "SELECT kind, status, reprocess_from, reprocess_to, provenance FROM _crumby_loads "
        f"WHERE id = {report.load_id}",
    )[0]
    assert load[:2] == ("reprocess", "done") and str(load[2])[:10] == str(load[3])[:10] == str(day)
    assert json.loads(load[4])["geoip"].startswith("GeoIP2-City-Test")
    # A normal run afterwards loads nothing again.
    assert run(loaded).hits == 0
    assert len(table_rows(store_url, "visits")) + len(table_rows(store_url, "events")) == 750


def test_reprocess_applies_new_bot_patterns_and_records_the_lists(store_url, loaded):
    """New lists (an upgrade, or the site's own BOT_PATTERNS) reach past days through --reprocess."""
    day = DAYS[0].date()

    def bots_by_day() -> dict[str, set]:
        """Per day, the is_bot flags of Firefox's visits (the corpus's only Firefox is a person's)."""
        found: dict[str, set] = {}
        for row in _dicts(store_url, "visits"):
            if row["browser"] == "Firefox":
                found.setdefault(str(row["datetime"])[:10], set()).add(bool(row["is_bot"]))
        return found

    assert all(flags == {False} for flags in bots_by_day().values())
    report = reprocess({**loaded, "BOT_PATTERNS": ("firefox/120",)}, day, day, batch_bytes=1 << 17)
    after = bots_by_day()
    assert after[str(day)] == {True}
    assert all(flags == {False} for when, flags in after.items() if when != str(day))
    provenance = json.loads(
        query(store_url, f"SELECT provenance FROM _crumby_loads WHERE id = {report.load_id}")[0][0]
    )
    assert provenance["crawler_user_agents"][0].isdigit()
    assert "device-detector" in provenance["device_detector_bots"]
    assert "referer-parser" in provenance["referer_parser_referers"]


def test_a_replayed_line_is_stored_once_after_a_reprocess(tmp_path, store_url):
    """A line written twice (a replayed line) loads once; a reprocess of its day must not store it twice."""
    day = DAYS[0]
    lines = corpus(40, day + timedelta(hours=9), seed=5)
    lines.insert(10, lines[9])  # the same line again, right after itself
    append_hits(tmp_path / "logs", lines)
    settings = make_settings(tmp_path, SQLALCHEMY_DATABASE_URI=store_url)
    assert run(settings, batch_bytes=1 << 17).hits == 40
    reprocess(settings, day.date(), day.date(), batch_bytes=1 << 17)
    for table in ("visits", "events"):
        counted = query(store_url, f"SELECT COUNT(*), COUNT(DISTINCT hit_id) FROM {table}")[0]
        assert counted[0] == counted[1], table
    stored = query(store_url, "SELECT (SELECT COUNT(*) FROM visits) + (SELECT COUNT(*) FROM events)")[0][0]
    assert stored == 40

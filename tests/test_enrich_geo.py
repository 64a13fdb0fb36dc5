"""Location from the bundled 2018 GeoLite2 City file: known addresses, private ones, the batch path."""

from __future__ import annotations

import ipaddress
import logging
import random
import shutil

import geoip2.database
import geoip2.errors
import pandas as pd
import pytest
from conftest import make_settings
from enrich_frames import enriched_rows, new_enricher

from crumby.config import ConfigError
from crumby.etl.enrich.geo import GEO_COLUMNS, GeoLocator, bundled_database

# What the bundled GeoLite2-City 2018-07-03 says about a few public addresses
# (8.8.8.8: a country but no city, so only the country's centre, a wide radius and no time zone).
# fmt: off
KNOWN = {
    "81.2.69.142": ("EU", "GB", "England", "Brent", "Willesden", 51.5333, -0.2333, 200, "Europe/London"),
    "128.101.101.101": ("NA", "US", "Minnesota", None, "Minneapolis", 44.9759, -93.2166, 20,
                        "America/Chicago"),
    "89.160.20.112": ("EU", "SE", "Stockholm", None, "Stockholm", 59.3333, 18.05, 200, "Europe/Stockholm"),
    "175.16.199.0": ("AS", "CN", "Jilin", None, "Changchun", 43.88, 125.3228, 50, "Asia/Shanghai"),
    "8.8.8.8": ("NA", "US", None, None, None, 37.751, -97.822, 1000, None),
    "2001:4860:4860::8888": ("NA", "US", "California", None, "Mountain View", 37.4192, -122.0574, 1,
                             "America/Los_Angeles"),
    "2a02:c7f:7000::1": ("EU", "GB", "England", "West Sussex", "Littlehampton", 50.8, -0.5333, 20,
                         "Europe/London"),
}
# fmt: on
NOWHERE = (
    "10.0.0.1",
    "192.168.1.20",
    "172.16.5.4",
    "127.0.0.1",
    "::1",
    "fe80::1",
    "169.254.1.1",
    "100.64.0.1",
)
MALFORMED = ("not an ip", "", "999.1.1.1", "1.2.3", "fe80::1%eth0", "::ffff:zz")


@pytest.fixture(scope="module")
def locator(tmp_path_factory):
    locator = GeoLocator(make_settings(tmp_path_factory.mktemp("geo")))
    yield locator
    locator.close()


def _as_tuple(columns: dict[str, pd.Series], row: int) -> tuple:
    values = [columns[name].iloc[row] for name in GEO_COLUMNS]
    return tuple(None if pd.isna(v) else v for v in values)


def test_known_public_addresses_are_placed_as_the_database_says(locator):
    ips = list(KNOWN)
    columns = locator.locate_series(pd.Series(ips, dtype=object))
    for row, ip in enumerate(ips):
        got = _as_tuple(columns, row)
        expected = KNOWN[ip]
        assert got[:5] == expected[:5], ip
        assert got[5] == pytest.approx(expected[5]) and got[6] == pytest.approx(expected[6]), ip
        assert got[7:] == expected[7:], ip


def test_private_unknown_and_malformed_addresses_get_nulls(locator):
    ips = [*NOWHERE, *MALFORMED, None]
    columns = locator.locate_series(pd.Series(ips, dtype=object))
    for row, ip in enumerate(ips):
        assert _as_tuple(columns, row) == (None,) * len(GEO_COLUMNS), ip


def test_column_types_suit_the_store(locator):
    columns = locator.locate_series(pd.Series(["81.2.69.142", "10.0.0.1"], dtype=object))
    assert columns["latitude"].dtype == "float64"
    assert columns["longitude"].dtype == "float64"
    assert str(columns["accuracy_radius"].dtype) == "Int64"
    assert columns["accuracy_radius"].tolist()[0] == 200


def test_an_ipv4_address_written_as_ipv6_is_placed_like_the_ipv4_one(locator):
    columns = locator.locate_series(pd.Series(["::ffff:81.2.69.142", "81.2.69.142"], dtype=object))
    assert _as_tuple(columns, 0) == _as_tuple(columns, 1)
    assert _as_tuple(columns, 0)[4] == "Willesden"


def test_the_batch_walk_agrees_with_geoip2_on_random_addresses(locator):
    """The numpy tree walk must find exactly the record geoip2 finds, address by address."""
    rng = random.Random(2024)
    ips = [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(3000)]
    for network in ("2a02:c7f::/32", "2600:1700::/28", "2001:4860::/32", "2a01:c50f::/32", "::/0"):
        net = ipaddress.ip_network(network)
        ips += [
            str(ipaddress.IPv6Address(int(net.network_address) + rng.getrandbits(128 - net.prefixlen)))
            for _ in range(300)
        ]
    columns = locator.locate_series(pd.Series(ips, dtype=object))
    reference = geoip2.database.Reader(str(bundled_database()))
    placed = 0
    try:
        for row, ip in enumerate(ips):
            try:
                city = reference.city(ip)
            except geoip2.errors.AddressNotFoundError:
                assert _as_tuple(columns, row) == (None,) * len(GEO_COLUMNS), ip
                continue
            placed += 1
            subdivisions = [s.name for s in city.subdivisions] + [None, None]
            expected = (
                city.continent.code,
                city.country.iso_code,
                subdivisions[0],
                subdivisions[1],
                city.city.name,
                city.location.latitude,
                city.location.longitude,
                city.location.accuracy_radius,
                city.location.time_zone,
            )
            assert _as_tuple(columns, row) == expected, ip
    finally:
        reference.close()
    assert placed > 2000  # the sample really exercised the lookups


def test_the_bundled_database_is_dated_says_a_notice_not_a_log_record(tmp_path, caplog):
    """The CLI shows notices on a terminal only: a warning logged here would reach cron's mail."""
    with caplog.at_level(logging.DEBUG):
        locator = GeoLocator(make_settings(tmp_path))
    assert [r for r in caplog.records if "bundled" in r.getMessage()] == []
    (notice,) = locator.notices
    assert "2018-07-03" in notice and "crumby geoip" in notice
    assert locator.provenance == "GeoLite2-City 2018-07-03 (bundled)"
    locator.close()


def test_a_database_installed_in_data_dir_is_preferred_to_the_bundled_one(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(bundled_database(), data / "GeoLite2-City.mmdb")
    locator = GeoLocator(make_settings(tmp_path))
    try:
        assert locator.path == data / "GeoLite2-City.mmdb"
        assert not locator.bundled
        assert locator.notices == []
        assert locator.provenance.startswith("GeoLite2-City 2018-07-03 (")
    finally:
        locator.close()


def test_geoip2_database_name_wins_and_a_missing_file_is_a_clear_error(tmp_path):
    own = tmp_path / "own.mmdb"
    shutil.copyfile(bundled_database(), own)
    locator = GeoLocator(make_settings(tmp_path, GEOIP2_DATABASE_NAME=str(own)))
    assert locator.path == own
    locator.close()
    with pytest.raises(ConfigError, match=r"GEOIP2_DATABASE_NAME is .*missing\.mmdb, which is not a file"):
        GeoLocator(make_settings(tmp_path, GEOIP2_DATABASE_NAME=str(tmp_path / "missing.mmdb")))


def test_a_file_that_is_no_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"this is not a MaxMind database\n" * 100)
    with pytest.raises(ConfigError, match="is not a readable MaxMind database.*crumby geoip"):
        GeoLocator(make_settings(tmp_path, GEOIP2_DATABASE_NAME=str(bad)))


def test_enrich_places_hits_by_their_full_ip(tmp_path):
    enricher = new_enricher(tmp_path)
    try:
        rows = enriched_rows(enricher, [{"id": "1", "ip": "81.2.69.142"}, {"id": "2", "ip": "192.168.0.9"}])
    finally:
        enricher.close()
    assert (rows[0]["country"], rows[0]["city"], rows[0]["ip"]) == ("GB", "Willesden", "81.2.69.142")
    assert (rows[1]["country"], rows[1]["city"], rows[1]["latitude"]) == (None, None, None)

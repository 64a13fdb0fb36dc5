"""`crumby geoip`: install from a .mmdb or MaxMind's .tar.gz, refuse bad files, explain a failed download."""

from __future__ import annotations

import shutil
import socket
import tarfile

import pytest
from click.testing import CliRunner
from conftest import make_settings

from crumby.cli import cli
from crumby.etl.enrich.geo import GeoLocator, bundled_database
from crumby.etl.enrich.geo_install import GeoInstallError, download_database, update_database


@pytest.fixture
def run(tmp_path):
    """Run `crumby geoip ...` with DATA_DIR in tmp_path and nothing from the developer's environment."""
    env = {
        "CRUMBY_SETTINGS": "",
        "CRUMBY_DATA_DIR": str(tmp_path / "data"),
        "CRUMBY_GEOIP2_DATABASE_NAME": "",
        "MAXMIND_LICENSE_KEY": None,
    }

    def run(*args: str, **extra_env: str):
        return CliRunner().invoke(cli, ["geoip", *args], env={**env, **extra_env})

    return run


@pytest.fixture
def database_copy(tmp_path):
    copy = tmp_path / "downloads" / "GeoLite2-City.mmdb"
    copy.parent.mkdir()
    shutil.copyfile(bundled_database(), copy)
    return copy


def unused_port() -> int:
    """A loopback port nothing listens on: bound, then closed, so a connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_install_from_a_local_mmdb_into_data_dir(run, tmp_path, database_copy):
    result = run(str(database_copy))
    installed = tmp_path / "data" / "GeoLite2-City.mmdb"
    assert result.exit_code == 0, result.output
    assert f"Installed GeoLite2-City 2018-07-03 at {installed}" in result.output
    assert "GEOIP2_DATABASE_NAME" not in result.output  # the default place needs no setting
    assert installed.read_bytes() == database_copy.read_bytes()
    assert [p.name for p in installed.parent.iterdir()] == ["GeoLite2-City.mmdb"]  # no scratch left
    locator = GeoLocator(make_settings(tmp_path))  # and the ETL now reads it
    try:
        assert locator.path == installed and not locator.bundled
    finally:
        locator.close()

    again = run(str(database_copy))
    assert again.exit_code == 0
    assert "(replacing GeoLite2-City 2018-07-03)" in again.output


def test_install_from_a_maxmind_tarball(run, tmp_path, database_copy):
    tarball = tmp_path / "GeoLite2-City_20180703.tar.gz"
    with tarfile.open(tarball, "w:gz", compresslevel=1) as archive:  # level 1: seconds, not tens
        archive.add(database_copy, arcname="GeoLite2-City_20180703/GeoLite2-City.mmdb")
        (tmp_path / "COPYRIGHT.txt").write_text("Database and Contents Copyright (c) MaxMind, Inc.\n")
        archive.add(tmp_path / "COPYRIGHT.txt", arcname="GeoLite2-City_20180703/COPYRIGHT.txt")
    result = run(str(tarball))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "GeoLite2-City.mmdb").read_bytes() == database_copy.read_bytes()


def test_installing_elsewhere_says_which_setting_to_change(run, tmp_path, database_copy):
    target = tmp_path / "geo" / "City.mmdb"
    result = run(str(database_copy), "--to", str(target))
    assert result.exit_code == 0, result.output
    assert target.is_file()
    assert f"export CRUMBY_GEOIP2_DATABASE_NAME={target}" in result.output
    assert f"GEOIP2_DATABASE_NAME = '{target}'" in result.output


def test_geoip2_database_name_is_updated_in_place(run, tmp_path, database_copy):
    named = tmp_path / "named.mmdb"
    result = run(str(database_copy), CRUMBY_GEOIP2_DATABASE_NAME=str(named))
    assert result.exit_code == 0, result.output
    assert named.is_file()
    assert "New loads use it" in result.output


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"this is not a database\n" * 50, "is not a readable MaxMind database"),
        (None, "is not a readable MaxMind database"),  # a truncated copy of the real file
    ],
)
def test_a_bad_file_is_refused_and_the_installed_one_kept(run, tmp_path, database_copy, content, reason):
    assert run(str(database_copy)).exit_code == 0
    installed = tmp_path / "data" / "GeoLite2-City.mmdb"
    before = installed.read_bytes()
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(content if content is not None else before[: len(before) // 3])
    result = run(str(bad))
    assert result.exit_code == 1
    assert reason in result.output and "nothing was installed" in result.output
    assert installed.read_bytes() == before
    assert sorted(p.name for p in installed.parent.iterdir()) == ["GeoLite2-City.mmdb"]


def test_a_tarball_without_a_database_is_refused(run, tmp_path):
    tarball = tmp_path / "empty.tar.gz"
    (tmp_path / "README.txt").write_text("nothing here\n")
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(tmp_path / "README.txt", arcname="README.txt")
    result = run(str(tarball))
    assert result.exit_code == 1
    assert "holds no .mmdb file" in result.output


def test_without_source_or_key_it_says_what_to_give(run):
    result = run()
    assert result.exit_code == 1
    assert "--license-key or MAXMIND_LICENSE_KEY" in result.output


def test_a_download_that_cannot_connect_says_so_and_how_to_install_offline(run, tmp_path):
    url = f"http://127.0.0.1:{unused_port()}/download?edition_id={{edition}}&license_key={{key}}"
    result = run("--download-url", url, MAXMIND_LICENSE_KEY="SECRET-KEY-123")
    assert result.exit_code == 1
    assert "Could not download GeoLite2-City from MaxMind" in result.output
    assert "crumby geoip FILE.tar.gz" in result.output
    assert "SECRET-KEY-123" not in result.output  # the key never shows up in a message
    assert not (tmp_path / "data" / "GeoLite2-City.mmdb").exists()
    assert list((tmp_path / "data").iterdir()) == []  # no half-downloaded scratch file


def test_the_download_function_raises_a_clear_error(tmp_path):
    url = f"http://127.0.0.1:{unused_port()}/{{edition}}?key={{key}}"
    with pytest.raises(GeoInstallError, match=r"Could not download GeoLite2-City from MaxMind \(.*refused"):
        download_database("k", tmp_path / "City.mmdb", url_template=url, timeout=5)


def test_a_place_that_cannot_be_written_is_a_clear_error(tmp_path, database_copy):
    occupied = tmp_path / "occupied.mmdb"
    occupied.mkdir()  # a folder where the file should go
    with pytest.raises(GeoInstallError, match=r"Could not write the database to .*occupied\.mmdb.*--to"):
        update_database(make_settings(tmp_path), database_copy, target=occupied)
    assert list(tmp_path.glob(".geoip-*")) == []

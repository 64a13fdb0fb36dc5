"""Location of an IP address from a MaxMind GeoIP2/GeoLite2 City database.

Which database: ``GEOIP2_DATABASE_NAME`` when set; else the one ``crumby geoip``
installed at ``DATA_DIR/GeoLite2-City.mmdb``; else the GeoLite2 City file that
the ``maxminddb-geolite2`` package ships, so location works offline on the
first run (that file dates from 2018, hence a warning).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import geoip2.database
import geoip2.errors
import maxminddb
import pandas as pd

from ...config import ConfigError
from .distinct import as_float, as_int, map_distinct

log = logging.getLogger(__name__)

GEO_COLUMNS = (
    "continent",
    "country",
    "subdivision_1",
    "subdivision_2",
    "city",
    "latitude",
    "longitude",
    "accuracy_radius",
    "time_zone",
)
INSTALLED_NAME = "GeoLite2-City.mmdb"
_NOTHING = (None,) * len(GEO_COLUMNS)
_warned_dated = False


def bundled_database() -> Path:
    """The GeoLite2 City file inside the maxminddb-geolite2 package."""
    from _maxminddb_geolite2 import geolite2_database

    return Path(geolite2_database())


def installed_database(settings: Mapping[str, Any]) -> Path:
    """Where ``crumby geoip`` puts the database unless told otherwise."""
    return Path(settings["DATA_DIR"]) / INSTALLED_NAME


def database_path(settings: Mapping[str, Any]) -> Path:
    """The City database the ETL will read (see the module docstring for the order)."""
    named = str(settings.get("GEOIP2_DATABASE_NAME") or "").strip()
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"GEOIP2_DATABASE_NAME is {path}, which is not a file; install one with "
                f"`crumby geoip --to {path} FILE_OR_TARBALL` or unset GEOIP2_DATABASE_NAME"
            )
        return path
    installed = installed_database(settings)
    return installed if installed.is_file() else bundled_database()


def describe(metadata: maxminddb.reader.Metadata) -> str:
    """A database's type and build date, e.g. ``GeoLite2-City 2018-07-03``: the load's provenance."""
    built = datetime.fromtimestamp(metadata.build_epoch, tz=timezone.utc)
    return f"{metadata.database_type} {built:%Y-%m-%d}"


def open_city_reader(path: str | Path) -> geoip2.database.Reader:
    """Open a City database with geoip2, or raise ConfigError saying what is wrong with the file."""
    try:
        reader = geoip2.database.Reader(str(path))
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise ConfigError(
            f"{path} is not a readable MaxMind database ({exc}); install a City database with `crumby geoip`"
        ) from None
    kind = reader.metadata().database_type
    if "City" not in kind and "Enterprise" not in kind:
        reader.close()
        raise ConfigError(
            f"{path} is a {kind} database; crumby needs a City database (GeoLite2-City or GeoIP2-City)"
        )
    return reader


class GeoLocator:
    """Looks up addresses in one City database, opened once per run."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.path = database_path(settings)
        self.reader = open_city_reader(self.path)
        self.bundled = self.path == bundled_database()
        built = describe(self.reader.metadata())
        self.provenance = f"{built} (bundled)" if self.bundled else f"{built} ({self.path})"
        if self.bundled:
            _warn_dated_once(built)

    def close(self) -> None:
        self.reader.close()

    def locate(self, ip: str) -> tuple[Any, ...]:
        """The GEO_COLUMNS of one address; all None for private, unknown or malformed ones."""
        try:
            found = self.reader.city(ip)
        except (geoip2.errors.AddressNotFoundError, ValueError):
            return _NOTHING
        subdivisions = found.subdivisions
        location = found.location
        return (
            found.continent.code,
            found.country.iso_code,
            subdivisions[0].name if len(subdivisions) > 0 else None,
            subdivisions[1].name if len(subdivisions) > 1 else None,
            found.city.name,
            location.latitude,
            location.longitude,
            location.accuracy_radius,
            location.time_zone,
        )

    def locate_series(self, ips: pd.Series) -> dict[str, pd.Series]:
        """GEO_COLUMNS for every row of ``ips``, looking each distinct address up once."""
        columns = map_distinct(ips, self.locate, GEO_COLUMNS)
        columns["latitude"] = as_float(columns["latitude"])
        columns["longitude"] = as_float(columns["longitude"])
        columns["accuracy_radius"] = as_int(columns["accuracy_radius"])
        return columns


def _warn_dated_once(provenance: str) -> None:
    global _warned_dated
    if _warned_dated:
        return
    _warned_dated = True
    log.warning(
        "GeoIP: using the %s database bundled with crumby; addresses assigned since then are placed "
        "wrongly or not at all. Install a current one with `crumby geoip` (a free MaxMind licence key, "
        "or a GeoLite2-City .mmdb/.tar.gz you downloaded).",
        provenance,
    )

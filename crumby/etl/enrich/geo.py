"""Location of an IP address from a MaxMind GeoIP2/GeoLite2 City database.

Which database: ``GEOIP2_DATABASE_NAME`` when set; else the one ``crumby geoip``
installed at ``DATA_DIR/GeoLite2-City.mmdb``; else the GeoLite2 City file that
the ``maxminddb-geolite2`` package ships, so location works offline on the
first run. That file dates from 2018: :attr:`GeoLocator.notices` says so, for
the caller to show where someone reads it (the CLI: on a terminal or with -v;
never in cron's mail).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import geoip2.database
import maxminddb
import numpy as np
import pandas as pd
import pyarrow as pa

from ...config import ConfigError
from .distinct import Answers, AnswerTable, Encoded
from .geo_tree import NOT_FOUND, SearchTree

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
GEO_DTYPES = {"latitude": "float64", "longitude": "float64", "accuracy_radius": "Int64"}
INSTALLED_NAME = "GeoLite2-City.mmdb"
RECORD_CACHE_LIMIT = 200_000
IP_CACHE_LIMIT = 300_000  # about 40 MB of address strings
_NOTHING = (None,) * len(GEO_COLUMNS)
DATED_NOTICE = (
    "GeoIP: using the {} database bundled with crumby; addresses assigned since then are placed "
    "wrongly or not at all. Install a current one with `crumby geoip` (a free MaxMind licence key, "
    "or a GeoLite2-City .mmdb/.tar.gz you downloaded)."
)


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
        raise ConfigError(f"{path} is not a readable MaxMind database ({exc})") from None
    kind = reader.metadata().database_type
    if "City" not in kind and "Enterprise" not in kind:
        reader.close()
        raise ConfigError(
            f"{path} is a {kind} database; crumby needs a City database (GeoLite2-City or GeoIP2-City)"
        )
    return reader


class GeoLocator:
    """Looks up addresses in one City database, opened once per run.

    geoip2 checks the file and names its build; lookups then go through the
    maxminddb reader geoip2 itself is built on, batch-wise (see geo_tree).
    """

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.path = database_path(settings)
        try:
            checked = open_city_reader(self.path)
        except ConfigError as exc:
            raise ConfigError(f"GeoIP: {exc}; install a City database with `crumby geoip`") from None
        metadata = checked.metadata()
        checked.close()
        self.reader = maxminddb.open_database(str(self.path))
        self.tree = SearchTree(self.path, metadata.node_count, metadata.record_size, metadata.ip_version)
        self._record_of_ip = AnswerTable(("record",), (NOT_FOUND,), {"record": "Int64"}, limit=IP_CACHE_LIMIT)
        self._records = AnswerTable(GEO_COLUMNS, _NOTHING, GEO_DTYPES, limit=RECORD_CACHE_LIMIT)
        self.bundled = self.path == bundled_database()
        built = describe(metadata)
        self.provenance = f"{built} (bundled)" if self.bundled else f"{built} ({self.path})"
        self.notices = [DATED_NOTICE.format(built)] if self.bundled else []

    def close(self) -> None:
        self.tree.close()
        self.reader.close()

    def locate(self, ip: str) -> tuple[Any, ...]:
        """The GEO_COLUMNS of one address; all None for private, unknown or malformed ones."""
        try:
            return fields_of(self.reader.get(ip))
        except ValueError:
            return _NOTHING

    def locate_series(self, ips: pd.Series) -> dict[str, pd.Series]:
        """GEO_COLUMNS for every row of ``ips``; each address is walked in the tree and each database
        record decoded once a run."""
        encoded = Encoded.of(ips)
        by_ip = self._record_of_ip
        ip_slots = by_ip.slots(encoded.values, self._walk)
        record_ids = by_ip.columns["record"].take(pa.array(ip_slots)).to_numpy(zero_copy_only=False)
        found = np.flatnonzero(record_ids != NOT_FOUND)
        distinct_ids, first, inverse = np.unique(record_ids[found], return_index=True, return_inverse=True)
        some_address = encoded.values.take(pa.array(found[first]))  # any address of a record will do
        address_of = dict(zip(distinct_ids.tolist(), some_address.to_pylist(), strict=True))
        record_slots = self._records.slots(
            pa.array(distinct_ids, type=pa.int64()),
            lambda new: [self.locate(address_of[record]) for record in new.to_pylist()],
        )
        per_address = np.zeros(len(encoded.values) + 1, dtype=np.int64)  # slot 0: nowhere; the last: code -1
        per_address[found] = record_slots[inverse.reshape(-1)]
        answers = Answers(per_address[encoded.codes], self._records.columns)
        return answers.spread(GEO_COLUMNS, ips.index)

    def _walk(self, ips: pa.Array) -> list[tuple[int]]:
        return [(record,) for record in self.tree.records(ips.to_pylist()).tolist()]


def fields_of(record: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """GEO_COLUMNS from a raw City record (English names, as geoip2's models give by default)."""
    if not record:
        return _NOTHING
    subdivisions = record.get("subdivisions") or ()
    location = record.get("location") or {}
    return (
        record.get("continent", {}).get("code"),
        record.get("country", {}).get("iso_code"),
        _english(subdivisions[0]) if len(subdivisions) > 0 else None,
        _english(subdivisions[1]) if len(subdivisions) > 1 else None,
        _english(record.get("city")),
        location.get("latitude"),
        location.get("longitude"),
        location.get("accuracy_radius"),
        location.get("time_zone"),
    )


def _english(place: Mapping[str, Any] | None) -> str | None:
    return (place or {}).get("names", {}).get("en")

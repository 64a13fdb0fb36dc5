"""Install or update the GeoIP City database (what ``crumby geoip`` does).

From a local ``.mmdb``, from a MaxMind ``.tar.gz`` (as MaxMind's downloads
come), or straight from MaxMind with a licence key. The new file is written
beside the target, checked with geoip2, and only then moved over the old one
in one rename, so a bad or half-downloaded file never replaces a good one and
an ETL run that has the old file open keeps reading it undisturbed.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import geoip2.errors

from ...config import ConfigError
from .geo import database_path, describe, installed_database, open_city_reader

MAXMIND_DOWNLOAD_URL = (
    "https://download.maxmind.com/app/geoip_download?edition_id={edition}&license_key={key}&suffix=tar.gz"
)
DEFAULT_EDITION = "GeoLite2-City"
MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024
CHUNK = 1024 * 1024


_NOTHING_TO_INSTALL = (
    "Give a GeoLite2/GeoIP2 City .mmdb or .tar.gz to install, or a MaxMind licence key "
    "(--license-key or MAXMIND_LICENSE_KEY) to download one; a free key comes with a GeoLite2 "
    "account at maxmind.com."
)


class GeoInstallError(Exception):
    """The database could not be installed; the message says why and what to do. Nothing was replaced."""


@dataclass(frozen=True)
class Installed:
    path: Path
    build: str  # e.g. "GeoLite2-City 2024-05-03"
    previous: str | None  # the build it replaced, if any
    in_use: bool  # whether the ETL will read it with the current settings


def install_target(settings: Mapping[str, Any], target: str | os.PathLike | None = None) -> Path:
    """Where to install: ``target``, else GEOIP2_DATABASE_NAME, else DATA_DIR/GeoLite2-City.mmdb."""
    if target:
        return Path(target).expanduser()
    named = str(settings.get("GEOIP2_DATABASE_NAME") or "").strip()
    return Path(named).expanduser() if named else installed_database(settings)


def update_database(
    settings: Mapping[str, Any],
    source: str | os.PathLike | None = None,
    *,
    target: str | os.PathLike | None = None,
    license_key: str | None = None,
    edition: str = DEFAULT_EDITION,
    download_url: str = MAXMIND_DOWNLOAD_URL,
    timeout: float = 60,
) -> Installed:
    """Install ``source`` (.mmdb or .tar.gz), or download ``edition`` from MaxMind with ``license_key``."""
    if not source and not license_key:
        raise GeoInstallError(_NOTHING_TO_INSTALL)
    destination = install_target(settings, target)
    _make_folder(destination.parent)
    try:
        if source:
            installed = install_file(Path(source), destination)
        else:
            installed = download_database(
                license_key, destination, edition=edition, url_template=download_url, timeout=timeout
            )
    except OSError as exc:  # no space, no permission: nothing was replaced
        raise GeoInstallError(
            f"Could not write the database to {destination} ({exc.strerror or exc}); nothing was "
            f"replaced. Free some space or choose another place with --to."
        ) from None
    try:
        in_use = database_path(settings).resolve() == installed.path.resolve()
    except ConfigError:
        in_use = False
    return Installed(installed.path, installed.build, installed.previous, in_use)


def install_file(source: Path, target: Path) -> Installed:
    """Check ``source`` (an .mmdb, or a .tar.gz holding one) and move a copy into place at ``target``."""
    if not source.is_file():
        raise GeoInstallError(f"{source} is not a file")
    fd, scratch = tempfile.mkstemp(prefix=".geoip-", suffix=".mmdb", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            if tarfile.is_tarfile(source):
                _copy_from_tarball(source, out)
            else:
                with source.open("rb") as src:
                    shutil.copyfileobj(src, out, CHUNK)
            out.flush()
            os.fsync(out.fileno())
        build = check_database(Path(scratch), shown_as=source)
        previous = _build_of(target)
        os.chmod(scratch, 0o644)
        os.replace(scratch, target)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return Installed(target, build, previous, in_use=True)


def check_database(path: Path, shown_as: Path | None = None) -> str:
    """The build of a usable City database at ``path``, or GeoInstallError saying what is wrong."""
    try:
        reader = open_city_reader(path)
    except ConfigError as exc:
        message = str(exc).replace(str(path), str(shown_as or path))
        raise GeoInstallError(f"{message}; nothing was installed") from None
    try:
        reader.city("8.8.8.8")  # reads one record: the data section decodes as a City record
        return describe(reader.metadata())
    except geoip2.errors.AddressNotFoundError:
        return describe(reader.metadata())
    except Exception as exc:  # a corrupt data section fails here with the reader's own error type
        raise GeoInstallError(f"{shown_as or path} is damaged ({exc}); nothing was installed") from None
    finally:
        reader.close()


def download_database(
    license_key: str,
    target: Path,
    *,
    edition: str = DEFAULT_EDITION,
    url_template: str = MAXMIND_DOWNLOAD_URL,
    timeout: float = 60,
) -> Installed:
    """Download ``edition`` from MaxMind as .tar.gz and install it at ``target``."""
    url = url_template.format(edition=edition, key=license_key)
    fd, scratch = tempfile.mkstemp(prefix=".geoip-", suffix=".tar.gz", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            _download(url, out, edition, timeout)
        return install_file(Path(scratch), target)
    finally:
        Path(scratch).unlink(missing_ok=True)


def _download(url: str, out: IO[bytes], edition: str, timeout: float) -> None:
    # The URL holds the licence key: it must not appear in any message.
    offline_hint = (
        f"If this machine has no internet access, download {edition} (the GZIP file) from your MaxMind "
        f"account elsewhere, copy it here and run `crumby geoip FILE.tar.gz`."
    )
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - https or a test URL
            written = 0
            while chunk := response.read(CHUNK):
                written += len(chunk)
                if written > MAX_DOWNLOAD_BYTES:
                    raise GeoInstallError(
                        f"MaxMind sent more than {MAX_DOWNLOAD_BYTES} bytes; nothing installed"
                    )
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise GeoInstallError(
                f"MaxMind refused the licence key (HTTP {exc.code}): check it, and that it may download "
                f"{edition}, under Account > Manage License Keys at maxmind.com."
            ) from None
        raise GeoInstallError(f"MaxMind answered HTTP {exc.code} for {edition}. {offline_hint}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise GeoInstallError(
            f"Could not download {edition} from MaxMind ({reason}). {offline_hint}"
        ) from None


def _copy_from_tarball(source: Path, out: IO[bytes]) -> None:
    """Copy the City .mmdb out of a MaxMind tarball (GeoLite2-City_YYYYMMDD/GeoLite2-City.mmdb)."""
    try:
        with tarfile.open(source, "r:*") as tarball:
            members = [m for m in tarball.getmembers() if m.isfile() and m.name.endswith(".mmdb")]
            if not members:
                raise GeoInstallError(
                    f"{source} holds no .mmdb file; is it MaxMind's City database download?"
                )
            chosen = next((m for m in members if "City" in Path(m.name).name), members[0])
            extracted = tarball.extractfile(chosen)
            assert extracted is not None  # a regular file member always has contents
            shutil.copyfileobj(extracted, out, CHUNK)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise GeoInstallError(f"{source} could not be unpacked ({exc}); download it again") from None


def _build_of(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        return check_database(path)
    except GeoInstallError:
        return "an unreadable file"


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GeoInstallError(
            f"{folder} cannot be created ({exc.strerror}); choose another place with --to"
        ) from None

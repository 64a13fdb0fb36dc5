"""The lists that others maintain (bots, referrers), read once a process, and crumby's additions on top.

- crawler-user-agents: the installed PyPI package's pattern list (MIT).
- Matomo Device Detector's ``regexes/bots.yml`` and ``regexes/device/mobiles.yml`` (LGPL-3.0),
  vendored in data/.
- Snowplow referer-parser's ``resources/referers.yml`` (GPL-3.0), vendored in data/.
- data/crumby.yml: crumby's own additions and exceptions, in one readable file.

data/SOURCES.md says where each vendored file came from and how to refresh it;
:func:`provenance` names the versions, for each load's record.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).parent / "data"
DEVICE_DETECTOR_BOTS = "device-detector-bots.yml"
DEVICE_DETECTOR_MOBILES = "device-detector-mobiles.yml"
REFERER_PARSER_REFERERS = "referer-parser-referers.yml"
ADDITIONS = "crumby.yml"
# The upstream revisions the vendored files were taken from (see data/SOURCES.md).
VENDORED = {
    DEVICE_DETECTOR_BOTS: "matomo-org/device-detector 6.5.1-68 (3856a28692d4, 2026-08-19)",
    DEVICE_DETECTOR_MOBILES: "matomo-org/device-detector 6.5.1-68 (3856a28692d4, 2026-08-19)",
    REFERER_PARSER_REFERERS: "snowplow-referer-parser/referer-parser b70173e763f8 (2025-11-25)",
}


def version_of(package: str) -> str:
    """An installed distribution's version, for provenance."""
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


TOP_LEVEL_KEY = re.compile(r"^[^\s#]", re.MULTILINE)


@cache
def read_yaml(name: str) -> Any:
    """A data file, parsed (libyaml's loader when PyYAML has it: the bot list takes 0.1 s, the
    device list 0.5 s and 44 MB)."""
    return parse_yaml((DATA / name).read_text(encoding="utf-8"))


def parse_yaml(text: str) -> Any:
    if hasattr(yaml, "CSafeLoader"):
        return yaml.load(text, Loader=yaml.CSafeLoader)
    return yaml.safe_load(text)


def top_level_sections(name: str) -> list[str]:
    """A data file's text cut before each top-level key, in order: each piece parses alone, so that
    a long mapping is read a part at a time, when a part is needed."""
    text = (DATA / name).read_text(encoding="utf-8")
    starts = [found.start() for found in TOP_LEVEL_KEY.finditer(text)]
    return [text[start:end] for start, end in zip(starts, starts[1:] + [len(text)], strict=True)]


def additions() -> dict[str, Any]:
    """crumby's own additions and exceptions (data/crumby.yml)."""
    return read_yaml(ADDITIONS)


@cache
def crawler_user_agents() -> list[dict[str, Any]]:
    """The crawler-user-agents package's entries (pattern, url, instances, ...)."""
    from crawleruseragents import CRAWLER_USER_AGENTS_DATA

    return CRAWLER_USER_AGENTS_DATA


def provenance() -> dict[str, str]:
    """The version of every list, as each load records it."""
    digest = hashlib.sha256((DATA / ADDITIONS).read_bytes()).hexdigest()[:12]
    return {
        "crawler_user_agents": version_of("crawler-user-agents"),
        "device_detector_bots": VENDORED[DEVICE_DETECTOR_BOTS],
        "device_detector_devices": VENDORED[DEVICE_DETECTOR_MOBILES],
        "referer_parser_referers": VENDORED[REFERER_PARSER_REFERERS],
        "crumby_lists": f"crumby.yml sha256 {digest}",
    }

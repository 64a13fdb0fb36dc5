"""Browser, operating system and device type from the User-Agent header.

Parsing is ua-parser's (uap-core's regexes, matched by its Rust accelerator
``ua-parser-rs``, about 36x faster than its pure-Python matcher); the device
type is device.py's (desktop, mobile, tablet, tv, console, car, wearable or
other), from that same parse and Device Detector's device list (models.py),
with user-agents' lists of tablet, mobile and PC families deciding what
device.py's rules leave as other; bots.py says bot or
not, and ``bot`` wins.

``platform`` keeps the original Crumby's meaning: the operating system family
as a short lowercase word (windows, macos, linux, iphone, ipad, android,
chromeos, ...), so its reports group as they did. ``os`` and ``browser`` are
ua-parser's names (``Mac OS X``, ``Mobile Safari``); unknown ones are None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache, cached_property, lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from ua_parser import BestAvailableResolver, Parser, load_lazy_builtins

from .bots import SPIDER_FAMILY, BotMatcher
from .device import device_type, names_a_device
from .distinct import AnswerTable, Encoded, string_array
from .lists import version_of
from .models import ModelTypes
from .remembered import answers_tag, read_answers, write_answers

AGENT_COLUMNS = ("platform", "browser", "version", "os", "os_version", "device", "is_bot")
MISSING_AGENT = (None, None, None, None, None, "bot", True)  # no User-Agent header: a robot
UNKNOWN = "Other"  # ua-parser's family when nothing matched
MAX_NAME, MAX_VERSION = 64, 32

# ua-parser OS family -> the original's platform word; families not listed fall back to their own
# name in lowercase without spaces (e.g. "Tizen" -> "tizen").
PLATFORMS = {
    "Windows": "windows",
    "Windows Phone": "windows",
    "Windows Mobile": "windows",
    "Windows RT": "windows",
    "Mac OS X": "macos",
    "macOS": "macos",
    "Mac OS": "macos",
    "Android": "android",
    "Chrome OS": "chromeos",
    "Linux": "linux",
    "Ubuntu": "linux",
    "Kubuntu": "linux",
    "Debian": "linux",
    "Fedora": "linux",
    "Red Hat": "linux",
    "CentOS": "linux",
    "Mint": "linux",
    "Linux Mint": "linux",
    "Arch Linux": "linux",
    "Gentoo": "linux",
    "Slackware": "linux",
    "SUSE": "linux",
    "openSUSE": "linux",
    "Mandriva": "linux",
    "Mageia": "linux",
    "FreeBSD": "freebsd",
    "OpenBSD": "openbsd",
    "NetBSD": "netbsd",
    "DragonFly BSD": "dragonflybsd",
    "Solaris": "solaris",
    "BlackBerry OS": "blackberry",
    "BlackBerry Tablet OS": "blackberry",
    "Symbian OS": "symbian",
    "Symbian^3": "symbian",
}


def join_version(*parts: str | None) -> str | None:
    """ "17.4.1" from ("17", "4", "1", None); None when there is no version at all."""
    kept = [p for p in parts if p]
    return ".".join(kept) if kept else None


def _cut(text: str | None, limit: int) -> str | None:
    return text[:limit] if text else text


def platform_of(os_family: str | None, device_family: str | None) -> str | None:
    """The original Crumby's platform word for an OS family (iOS splits into iphone and ipad)."""
    if not os_family or os_family == UNKNOWN:
        return None
    if os_family in ("iOS", "iPadOS"):
        return "ipad" if device_family == "iPad" else "iphone"
    return PLATFORMS.get(os_family) or os_family.lower().replace(" ", "")


def unrecognised(result: Any) -> bool:
    """True when ua-parser found no browser, operating system nor device in a user agent."""
    return all(
        part is None or part.family == UNKNOWN for part in (result.user_agent, result.os, result.device)
    )


def listed_device_type(browser: str | None, os_family: str | None, device_family: str | None) -> str:
    """tablet, mobile, desktop or other by user-agents' maintained family lists alone."""
    lists = _family_lists()
    if device_family in lists.TABLET_DEVICE_FAMILIES:
        return "tablet"
    if (
        device_family in lists.MOBILE_DEVICE_FAMILIES
        or browser in lists.MOBILE_BROWSER_FAMILIES
        or os_family in lists.MOBILE_OS_FAMILIES
    ):
        return "mobile"
    return "desktop" if os_family in lists.PC_OS_FAMILIES else "other"


@cache
def _family_lists() -> Any:
    """user-agents' family lists, imported at the first user agent not met before: the module loads
    ua-parser's pure-Python regexes too (0.2 s), which a run whose user agents were all met before
    (the answers kept between runs) never needs."""
    from user_agents import parsers

    return parsers


@cache
def _model_types() -> ModelTypes:
    """Device Detector's device list, compiled once a process: that takes seconds, and it answers the
    same for every run (a new crumby, with a new list, is a new process)."""
    return ModelTypes()


@lru_cache(maxsize=8)
def _bot_matcher(bot_patterns: tuple[str, ...]) -> BotMatcher:
    """The bot lists with a site's own patterns, compiled once a process for each set of patterns."""
    return BotMatcher(bot_patterns)


class AgentParser:
    """Parses user agents; one per run (its lists are compiled once a process and shared)."""

    def __init__(self, bot_patterns: Sequence[str] = (), device_list: bool = True) -> None:
        """``device_list=False`` leaves Device Detector's device list out (to measure the rules).

        The bot lists are compiled now (a site's own pattern that is no regular
        expression is an error before the first batch); ua-parser and the
        device list when a user agent first needs them: a run whose user agents
        were all met by the runs before (:meth:`remember`) spends no second on them.
        """
        self.bots = _bot_matcher(tuple(bot_patterns))
        self._device_list = device_list
        self.provenance = {
            "ua_parser": version_of("ua-parser"),
            "ua_parser_regexes": version_of("ua-parser-builtins"),
            "ua_parser_rs": version_of("ua-parser-rs"),
            "user_agents": version_of("user-agents"),
        }
        self._answers = AnswerTable(AGENT_COLUMNS, MISSING_AGENT, {"is_bot": "bool"})
        self._tag = answers_tag(
            {**self.provenance, "bot_patterns": list(bot_patterns), "device_list": device_list}
        )
        self._kept_in: Path | None = None

    @cached_property
    def parser(self) -> Parser:
        return Parser(BestAvailableResolver(load_lazy_builtins()))

    @property
    def model_types(self) -> ModelTypes | None:
        return _model_types() if self._device_list else None

    def remember(self, path: Path | None) -> int:
        """Start from the answers kept at ``path`` by earlier runs, and keep them there at :meth:`keep`;
        returns how many were read (none when they were made by other lists, code or patterns)."""
        self._kept_in = path
        return read_answers(path, self._answers, self._tag)

    def keep(self) -> bool:
        """Write the answers where :meth:`remember` read them, when this run parsed new ones."""
        return bool(self._answers.added) and write_answers(self._kept_in, self._answers, self._tag)

    def describe(self, ua: str, hints: Mapping[str, str | None] | None = None) -> tuple[Any, ...]:
        """The AGENT_COLUMNS of one user agent string, with the request's client hints if any."""
        result = self.parser.parse(ua)
        agent, system, device = result.user_agent, result.os, result.device
        device_family = device.family if device else None
        stranger = unrecognised(result) and not names_a_device(ua)
        is_bot = self.bots.is_bot(ua, device_family, stranger)
        browser = agent.family if agent and agent.family != UNKNOWN else None
        os_family = system.family if system and system.family != UNKNOWN else None
        # Cut to the store's column sizes: a forged header must not make a load fail.
        return (
            _cut(platform_of(os_family, device_family), MAX_NAME),
            _cut(browser, MAX_NAME),
            _cut(join_version(agent.major, agent.minor, agent.patch) if browser else None, MAX_VERSION),
            _cut(os_family, MAX_NAME),
            _cut(
                join_version(system.major, system.minor, system.patch, system.patch_minor)
                if os_family
                else None,
                MAX_VERSION,
            ),
            "bot" if is_bot else self._device(ua, browser, os_family, device, hints),
            is_bot,
        )

    def _device(self, ua: str, browser: str | None, os_family: str | None, device: Any, hints: Any) -> str:
        kind = device_type(ua, os_family, device.model if device else None, hints, self.model_types)
        if kind != "other":
            return kind
        family = device.family if device else None
        kind = listed_device_type(browser, os_family, family)
        if kind == "other" and family not in (None, UNKNOWN, SPIDER_FAMILY):
            return "mobile"  # a device ua-parser knows by name, of no system nor kind known: a phone's
        return kind

    def describe_series(
        self, uas: pd.Series, mobile: pd.Series | None = None, platform: pd.Series | None = None
    ) -> dict[str, pd.Series]:
        """AGENT_COLUMNS for every row of ``uas``, parsing each distinct string once a run; with the
        client hints Sec-CH-UA-Mobile and Sec-CH-UA-Platform of each row, where the hits have them.

        A missing user agent is a bot with nothing else known.
        """
        keys = string_array(uas)
        if mobile is not None and platform is not None:
            keys = pc.replace_substring(keys, SEP, " ")  # a forged UA holding SEP: the rest stays whole
            keys = _with_hints(keys, string_array(mobile), string_array(platform))
        answers = self._answers.answers(Encoded.of(keys), self._describe_all)
        return answers.spread(AGENT_COLUMNS, uas.index)

    def _describe_all(self, keys: pa.Array) -> list[tuple[Any, ...]]:
        return [
            self.describe(*_split_hints(key)) if SEP in key else self.describe(key)
            for key in keys.to_pylist()
        ]


# A user agent and its client hints travel as one key: "ua<SEP>mobile<SEP>platform" (a row without
# hints keeps the bare UA, so both share what was parsed).
SEP = "\x1f"


def _with_hints(uas: pa.Array, mobile: pa.Array, platform: pa.Array) -> pa.Array:
    mobile, platform = mobile.cast(uas.type), platform.cast(uas.type)
    hinted = pc.or_(mobile.is_valid(), platform.is_valid())
    joined = pc.binary_join_element_wise(
        uas, pc.fill_null(mobile, ""), pc.fill_null(platform, ""), pa.scalar(SEP, uas.type)
    )
    return pc.if_else(hinted, joined, uas)


def _split_hints(key: str) -> tuple[str, dict[str, str]]:
    ua, mobile, platform = key.rsplit(SEP, 2)
    return ua, {"Sec-CH-UA-Mobile": mobile, "Sec-CH-UA-Platform": platform}

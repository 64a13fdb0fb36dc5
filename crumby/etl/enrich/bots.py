"""Is a user agent a robot? Bots are flagged (``is_bot``) and kept out of reports, never dropped.

A user agent is a bot when it is absent or empty (every browser sends one),
when ua-parser calls its device a ``Spider`` or finds nothing it knows in a
UA that is not Mozilla-compatible and names no TV, console, car or watch
(see :meth:`BotMatcher.is_bot`; a Roku's or a Vizio TV's app), or when
it matches one of the maintained lists (lists.py): crawler-user-agents'
patterns (as their authors write them, case and all), Device Detector's bot
regexes (without regard to case, from the start of a word), crumby's own
additions (data/crumby.yml) and the site's ``BOT_PATTERNS`` setting. What
matches one of crumby's app patterns (WhatsApp's app, a phone with "bot" in
its name such as CUBOT's, a browser inside Facebook's app, ...) is not a
bot, whatever else it matches.

All patterns, the apps' first, are compiled once into one regex set
(regexset.py), which one call a user agent answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cached_property

from ...config import ConfigError
from .lists import DEVICE_DETECTOR_BOTS, additions, crawler_user_agents, read_yaml
from .regexset import FirstMatch

SPIDER_FAMILY = "Spider"
SOURCES = ("crawler-user-agents", "device-detector", "crumby")
# Device Detector's patterns are matched where a word starts: at the start, or after anything but a
# letter, digit, "_" or "-"
WORD_START = r"(?:^|[^a-z0-9_-])"


def _without_case(pattern: str) -> str:
    return rf"(?i){WORD_START}(?:{pattern})"


def patterns_of(sources: Iterable[str] = SOURCES, extra: Sequence[str] = ()) -> list[str]:
    """The bot patterns of ``sources``, and ``extra`` (the site's own, without regard to case)."""
    sources = set(sources)
    unknown = sources - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown bot list {sorted(unknown)}; known: {', '.join(SOURCES)}")
    dropped = set(additions()["dropped"])
    found: list[str] = []
    if "crawler-user-agents" in sources:
        found += [entry["pattern"] for entry in crawler_user_agents() if entry["pattern"] not in dropped]
    if "device-detector" in sources:
        found += [
            _without_case(entry["regex"])
            for entry in read_yaml(DEVICE_DETECTOR_BOTS)
            if entry["regex"] not in dropped
        ]
    if "crumby" in sources:
        found += [f"(?i){pattern}" for pattern in additions()["bots"]]
    return found + [f"(?i){pattern}" for pattern in extra]


class BotMatcher:
    """Decides bot or not for one user agent; make one per run (compiling takes half a second, at the
    first user agent: a run whose user agents were all met before needs none)."""

    def __init__(self, extra: Sequence[str] = (), sources: Iterable[str] = SOURCES) -> None:
        for pattern in extra:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"BOT_PATTERNS: {pattern!r} is not a regular expression ({exc}); fix or remove it"
                ) from None
        self._patterns = patterns_of(sources, extra)  # an unknown list is an error now, too

    @cached_property
    def first(self) -> FirstMatch:
        apps = [(f"(?i){pattern}", "app") for pattern in additions()["not_bots"]]
        return FirstMatch(apps + [(pattern, "bot") for pattern in self._patterns])

    def is_bot(self, ua: str | None, device_family: str | None = None, unrecognised: bool = False) -> bool:
        """True when ``ua`` is absent or empty, or is no known app and ua-parser calls it a
        spider, or it matches a bot pattern, or it is a stranger: ``unrecognised`` (ua-parser
        found no browser, system nor device in it), not Mozilla-compatible and not calling itself a
        browser (people's browsers and apps name at least one of those; scripts and services not)."""
        if ua is None or not ua.strip():
            return True
        found = self.first(ua)
        if found == "app":
            return False
        if device_family == SPIDER_FAMILY or found == "bot":
            return True
        return unrecognised and not ua.startswith("Mozilla/") and "browser" not in ua.lower()

"""Is a user agent a robot? Bots are flagged (``is_bot``) and kept out of reports, never dropped.

A user agent is a bot when it is absent or empty (every browser sends one),
when ua-parser calls its device a ``Spider`` or finds nothing it knows in a
UA that is not Mozilla-compatible (see :meth:`BotMatcher.is_bot`), or when
it matches one of the maintained lists (lists.py): crawler-user-agents'
patterns (as their authors write them, case and all), Device Detector's bot
regexes (without regard to case, from the start of a word), crumby's own
additions (data/crumby.yml) and the site's ``BOT_PATTERNS`` setting. What
matches one of crumby's app patterns (WhatsApp's app, a phone with "bot" in
its name such as CUBOT's, a browser inside Facebook's app, ...) is not a
bot, whatever else it matches.

All patterns are compiled once, into one regex set (ua-parser's Rust
matcher: some 5 us a user agent for 2,500 patterns, where Python's re takes
over 1 ms); the few it cannot compile (look-arounds) go to Python's re.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from ...config import ConfigError
from .lists import DEVICE_DETECTOR_BOTS, additions, crawler_user_agents, read_yaml

SPIDER_FAMILY = "Spider"
SOURCES = ("crawler-user-agents", "device-detector", "crumby")
# Device Detector's patterns are matched where a word starts: at the start, or after anything but a
# letter, digit, "_" or "-"
WORD_START = r"(?:^|[^a-z0-9_-])"
RUST_CANNOT = re.compile(r"\(\?<?[!=]|\\[1-9]")
LOOKAROUND = re.compile(r"\(\?<?[!=](?:[^()]|\([^()]*\))*\)")


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


def _python_pattern(pattern: str) -> re.Pattern:
    """``pattern`` for Python's re, which wants each look-behind of one width: (?<!a|bc) is
    written (?<!a)(?<!bc)."""

    def split(match: re.Match) -> str:
        kind, body = match.group(1), match.group(2)
        return "".join(f"(?{kind}{part})" for part in body.split("|"))

    try:
        return re.compile(pattern)
    except re.error:
        return re.compile(re.sub(r"\(\?(<[!=])([^()]*)\)", split, pattern))


def rust_set(patterns: Sequence[str], names: Sequence[str] | None = None) -> Callable[[str], object] | None:
    """ua-parser's Rust regex set of ``patterns``: its ``extract`` answers None for no match, else
    the first match's name (in ``family``)."""
    import ua_parser_rs

    names = names or [""] * len(patterns)
    rules = [(p, name, None, None, None, None) for p, name in zip(patterns, names, strict=True)]
    return ua_parser_rs.UserAgentExtractor(rules).extract


def _compiles_in_rust(pattern: str) -> bool:
    """Rust's regex has no look-arounds nor back-references; the rest of these lists it reads."""
    if not RUST_CANNOT.search(pattern):
        return True
    try:
        rust_set([pattern])
    except ValueError:
        return False
    return True


class RegexSet:
    """Does a string match any of many patterns? One Rust regex set, and Python's re for the few
    patterns it cannot compile, each tried only when a Rust pattern without its look-arounds (which
    matches all it matches, and more) has matched."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self._fast = self._rust = None
        self._python: list[tuple[Callable[[str], object] | None, Callable[[str], object]]] = []
        try:
            import ua_parser_rs  # noqa: F401
        except ImportError:  # pure Python: slower, same answers
            self._python = [(None, _python_pattern(p).search) for p in patterns]
            return
        fast = [p for p in patterns if _compiles_in_rust(p)]
        self._fast = rust_set(fast) if fast else None
        for pattern in patterns:
            if pattern not in fast:
                wider = LOOKAROUND.sub("", pattern)
                sieve = rust_set([wider]) if _compiles_in_rust(wider) else None
                self._python.append((sieve, _python_pattern(pattern).search))

    def matches(self, text: str) -> bool:
        if self._fast is not None and self._fast(text) is not None:
            return True
        return any(
            (sieve is None or sieve(text) is not None) and search(text) for sieve, search in self._python
        )


class BotMatcher:
    """Decides bot or not for one user agent; make one per run (compiling takes a second)."""

    def __init__(self, extra: Sequence[str] = (), sources: Iterable[str] = SOURCES) -> None:
        for pattern in extra:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"BOT_PATTERNS: {pattern!r} is not a regular expression ({exc}); fix or remove it"
                ) from None
        self.bots = RegexSet(patterns_of(sources, extra))
        self.apps = RegexSet([f"(?i){pattern}" for pattern in additions()["not_bots"]])

    def is_bot(self, ua: str | None, device_family: str | None = None, unrecognised: bool = False) -> bool:
        """True when ``ua`` is absent or empty, or is no known app and ua-parser calls it a
        spider, or it matches a bot pattern, or it is a stranger: ``unrecognised`` (ua-parser
        found no browser, system nor device in it), not Mozilla-compatible and not calling itself a
        browser (people's browsers and apps name at least one of those; scripts and services not)."""
        if ua is None or not ua.strip():
            return True
        if self.apps.matches(ua):
            return False
        if device_family == SPIDER_FAMILY or self.bots.matches(ua):
            return True
        return unrecognised and not ua.startswith("Mozilla/") and "browser" not in ua.lower()

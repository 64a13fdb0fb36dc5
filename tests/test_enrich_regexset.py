"""One Rust regex set answers as Python's re would, pattern by pattern in order (regexset.py)."""

from __future__ import annotations

import random

import pytest

from crumby.etl.enrich.bots import patterns_of
from crumby.etl.enrich.lists import additions
from crumby.etl.enrich.regexset import FirstMatch, python_pattern

PIECES = [
    "Mozilla/5.0 ",
    "(Linux; Android 13; SM-T295) ",
    "(Windows NT 10.0; Win64; x64) ",
    "AppleWebKit/537.36 (KHTML, like Gecko) ",
    "Chrome/124.0.0.0 ",
    "Mobile Safari/537.36",
    "Googlebot/2.1",
    "(compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "CUBOT X30",
    "HTC Butterfly/",
    "WhatsApp/2.23 A",
    "FBAV/450.0",
    "Daum",
    "DaumApps",
    "python-requests/2.31",
    "cubot",
    " ",
    ";",
    "monitor",
    "power bot",
    "research",
]
APPS = [(f"(?i){pattern}", "app") for pattern in additions()["not_bots"]]
RULES = APPS + [(pattern, "bot") for pattern in patterns_of()]
FIRST = FirstMatch(RULES)
REFERENCE = [(name, python_pattern(pattern).search) for pattern, name in RULES]


def _reference(text: str) -> str | None:
    """What Python's re says: an app pattern first, else whether any bot pattern matches."""
    names = {name for name, search in REFERENCE if search(text)}
    return "app" if "app" in names else ("bot" if names else None)


@pytest.mark.parametrize("seed", range(3))
def test_the_rust_set_answers_as_pythons_re(seed):
    """Random user agents of pieces that some pattern matches, or that an exception is about."""
    rng = random.Random(seed)
    texts = ["".join(rng.choices(PIECES, k=rng.randint(0, 8))) for _ in range(150)]
    for text in texts:
        assert FIRST(text) == _reference(text), text


def test_first_match_keeps_the_order_of_its_rules():
    first = FirstMatch([("TV", "tv"), ("(?<!HTC )Butterfly", "late"), ("SM-T", "tablet")])
    assert first("SM-T295 TV") == "tv"  # listed first wins, wherever it is in the text
    assert first("SM-T295") == "tablet"
    assert first("Butterfly") == "late"  # a look-behind: Python's re, after the others
    assert first("HTC Butterfly") is None


def test_a_look_around_may_hold_an_escaped_parenthesis():
    """Device Detector writes such patterns: "(?!Tahiti-LS\\))" ends at the second ")"."""
    first = FirstMatch([(r"Orange[ _-](?!Tahiti-LS\))([^/;]+)( Build|\))", "orange"), ("Nura", "other")])
    assert first("(Linux; Android 4.1; Orange Daytona Build/JRO)") == "orange"
    assert first("(Linux; Android 4.1; Orange Tahiti-LS)") is None
    assert first("Nura 2") == "other"


def test_only_the_look_around_patterns_from_the_one_rust_found_are_tried():
    """The stand-in Rust finds names the first look-around pattern that may match: the ones
    before it cannot, so Python's re starts there and still keeps the list's order."""
    first = FirstMatch([("(?<!x)alpha", "a"), ("(?<!y)beta", "b"), ("(?<!z)(?:beta|gamma)", "c")])
    assert first("beta") == "b"
    assert first("ybeta") == "c"
    assert first("gamma alpha") == "a"
    assert first("xalpha zgamma") is None

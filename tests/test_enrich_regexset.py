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

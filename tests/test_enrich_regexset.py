"""One Rust regex set answers as Python's re would, pattern by pattern in order (regexset.py)."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crumby.etl.enrich.bots import patterns_of
from crumby.etl.enrich.lists import additions
from crumby.etl.enrich.models import ModelTypes
from crumby.etl.enrich.regexset import CaselessFirstMatch, FirstMatch, lowered_pattern, python_pattern

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


# Pieces of case-insensitive patterns (letters in either case) and of the texts they meet
PATTERN_PIECES = [
    "SM-T",
    "sm-t",
    "Galaxy",
    "gALAXY",
    "kindle",
    "KINDLE",
    r"\d+",
    r"\s",
    r"\w",
    r"\bTab",
    r"\D",
    r"\S",
    r"\W",
    "[A-H]",
    "[a-h]",
    "[a-z0-9_-]",
    "[^A-Z]",
    "[^x]",
    "[0-9]",
    "(?:X|y)",
    "(?<!HTC )",
    "(?<!htc )",
    "(?!Build)",
    ".",
    "-",
    r"\.",
    r"\(",
]
TEXT_PIECES = [
    "sm-t",
    "SM-T",
    "galaxy",
    "GALAXY",
    "Kindle",
    "tab",
    "TAB",
    "x",
    "Y",
    "Build",
    "HTC ",
    "htc ",
    "7",
    " ",
    "_",
    "(",
    ".",
    ";",
    "c",
    "É",
    "ß",
]


@pytest.mark.parametrize(
    "pattern, lowered",
    [
        (r"(?i)SM-T\d+", r"sm-t\d+"),
        (r"(?i)\bTab\D\S\W\B", r"\btab\D\S\W\B"),  # escapes of a class or an anchor keep their case
        (r"(?i)[A-H]x[^A-Z_-]", r"[a-h]x[^a-z_-]"),
        (r"(?i)[]A-C][^]a]", r"[]a-c][^]a]"),  # a "]" first in a class is a member
        (r"(?i)(?:Mi|MIX)(?<!HTC )(?!Build)(?P<Name>Pad)", r"(?:mi|mix)(?<!htc )(?!build)(?P<name>pad)"),
        (r"(?i)[0-9!-@]", r"[0-9!-@]"),
    ],
)
def test_a_case_insensitive_pattern_is_lowered_where_its_meaning_allows(pattern, lowered):
    assert lowered_pattern(pattern) == lowered


@pytest.mark.parametrize(
    "pattern",
    [
        "SM-T",  # case-sensitive: no lowering gives it
        "(?i)X-music Ⅲ",  # not ASCII
        "(?i)a(?-i)B",
        "(?i)a(?x: b )",
        r"(?i)\p{Lu}",
        r"(?i)\x41",
        r"(?i)(a)\1",
        "(?i)[[:alpha:]]",
        "(?i)[0-Z]",  # a range from a digit into the capitals
        "(?i)[A-z]",
        r"(?i)[a-\]]",
        r"(?i)[\--a]",  # from "-" to "a": the capitals too
    ],
)
def test_a_pattern_whose_meaning_lowering_could_change_is_not_lowered(pattern):
    assert lowered_pattern(pattern) is None


@settings(max_examples=300, deadline=None)
@given(
    pattern=st.lists(st.sampled_from(PATTERN_PIECES), min_size=1, max_size=4).map("".join),
    text=st.lists(st.sampled_from(TEXT_PIECES), max_size=8).map("".join),
)
def test_a_lowered_pattern_matches_a_lowered_ascii_text_as_the_pattern_matches_it(pattern, text):
    """Python's re, the reference of the regex set's answers (test above): the same texts match."""
    lowered = lowered_pattern(f"(?i){pattern}")
    assert lowered is not None
    if text.isascii():
        assert (re.search(lowered, text.lower()) is None) == (re.search(f"(?i){pattern}", text) is None)


def test_the_device_lists_brands_answer_alike_lowered_or_not():
    """Every brand pattern of Device Detector's list (about 2,000), lowered, against the system
    parts of user agents in either case: the brand found is the one the patterns as given find."""
    model_types = ModelTypes()
    rules = model_types.brand_of._rules
    assert sum(lowered_pattern(pattern) is None for pattern, _ in rules) < 10
    as_given = FirstMatch(rules)
    rng = random.Random(3)
    systems = [
        "(Linux; Android 14; SM-X710)",
        "(Linux; Android 9; KFTRWI)",
        "(Linux; Android 12; Redmi Note 11)",
        "(Linux; U; Android 4.0.4; xx-xx; GT-P7500 Build/IMM76D)",
        "(Linux; Android 10; CUBOT X30)",
        "(Linux; Android 11; BRAVIA 4K VH2)",
        "(Linux; Android 13; moto g(7) power)",
        "(Linux; Android 7.0; Lenovo TB-7304F)",
        "(Linux; Android 8.1.0; X-music III)",
        "(iPad; CPU OS 17_4 like Mac OS X)",
        "(Windows NT 10.0; Win64; x64)",
        "SAMSUNG-GT-E2152/E2152XXKC1",
    ]
    for system in systems:
        for _ in range(4):
            text = "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in system)
            assert model_types.brand_of(text) == as_given(text), text
    found = {as_given(system) for system in systems}
    assert len(found) > 6, "the user agents name brands the list knows"


def test_a_text_not_ascii_is_matched_against_the_patterns_as_given():
    first = CaselessFirstMatch([("(?i)X-music Ⅲ", "one"), ("(?i)Tab", "tab")])
    assert first("x-MUSIC TAB") == "tab"
    assert first._as_given is None, "compiled only for a text not ASCII"
    assert first("X-MUSIC ⅲ") == "one"
    assert first("TAB É") == "tab"
    with pytest.raises(ValueError, match="without"):
        CaselessFirstMatch([("(?i)Tab", "tab"), ("SM-T", "tablet")])

"""Browser, OS, platform, device type and bot flag from real user-agent strings."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from enrich_frames import as_list, enriched_rows, new_enricher

from crumby.etl.enrich.agent import AGENT_COLUMNS, AgentParser, platform_of
from crumby.etl.enrich.bots import BotMatcher
from crumby.etl.enrich.distinct import STRING

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.91 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1"
)
FIREFOX_ANDROID = "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0"
CHROME_ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15"
)
FIREFOX_UBUNTU = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
CHROMEBOOK = (
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
CUBOT_PHONE = (
    "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GOOGLEBOT_SMARTPHONE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.201 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)
HEADLESS_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/124.0.0.0 Safari/537.36"
)
LIGHTHOUSE = (
    "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse"
)

# ua -> (platform, browser, version, os, os_version, device, is_bot)
# fmt: off
EXPECTED = {
    CHROME_WINDOWS: ("windows", "Chrome", "124.0.6367", "Windows", "10", "desktop", False),
    SAFARI_IPHONE: ("iphone", "Mobile Safari", "17.4", "iOS", "17.4.1", "mobile", False),
    SAFARI_IPAD: ("ipad", "Mobile Safari", "16.6", "iOS", "16.6", "tablet", False),
    FIREFOX_ANDROID: ("android", "Firefox Mobile", "125.0", "Android", "14", "mobile", False),
    CHROME_ANDROID_TABLET: ("android", "Chrome", "124.0.0", "Android", "13", "tablet", False),
    SAFARI_MAC: ("macos", "Safari", "17.4", "Mac OS X", "10.15.7", "desktop", False),
    FIREFOX_UBUNTU: ("linux", "Firefox", "125.0", "Ubuntu", None, "desktop", False),
    CHROMEBOOK: ("chromeos", "Chrome", "124.0.0", "Chrome OS", "14541.0.0", "desktop", False),
    CUBOT_PHONE: ("android", "Chrome Mobile", "120.0.0", "Android", "10", "mobile", False),
    GOOGLEBOT: (None, "Googlebot", "2.1", None, None, "bot", True),
    GOOGLEBOT_SMARTPHONE: ("android", "Googlebot", "2.1", "Android", "6.0.1", "bot", True),
    HEADLESS_CHROME: ("linux", "HeadlessChrome", "124.0.0", "Linux", None, "bot", True),
    LIGHTHOUSE: ("android", "Chrome Mobile", "119.0.0", "Android", "11", "bot", True),
    "curl/8.5.0": (None, "curl", "8.5.0", None, None, "bot", True),
    "": (None, None, None, None, None, "bot", True),
}
# fmt: on


@pytest.fixture(scope="module")
def parser():
    return AgentParser()


@pytest.fixture(scope="module")
def bots():
    return BotMatcher()


@pytest.mark.parametrize("ua", list(EXPECTED), ids=lambda ua: ua[:40] or "empty")
def test_known_user_agents(parser, ua):
    assert parser.describe(ua) == EXPECTED[ua]


@pytest.mark.parametrize(
    "ua",
    [
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
        "python-requests/2.31.0",
        "Go-http-client/1.1",
        "Wget/1.21.4",
        "okhttp/4.12.0",
        "Mozilla/5.0",
        "-",
        "   ",
    ],
)
def test_crawlers_monitors_and_tools_are_bots(parser, bots, ua):
    assert bots.is_bot(ua)
    described = dict(zip(AGENT_COLUMNS, parser.describe(ua), strict=True))
    assert (described["device"], described["is_bot"]) == ("bot", True)


def test_forged_versions_are_cut_to_fit_the_store(parser):
    forged = f"Mozilla/5.0 (Windows NT 10.0) Chrome/{'9' * 200}.1.2 Safari/537.36"
    described = dict(zip(AGENT_COLUMNS, parser.describe(forged), strict=True))
    assert described["browser"] == "Chrome"
    assert described["version"] == "9" * 32


def test_an_absent_user_agent_is_a_bot(bots):
    assert bots.is_bot(None)


def test_platform_keeps_the_original_words():
    assert platform_of("Windows", None) == "windows"
    assert platform_of("Mac OS X", "Mac") == "macos"
    assert platform_of("iOS", "iPad") == "ipad"
    assert platform_of("iOS", "iPhone") == "iphone"
    assert platform_of("Fedora", None) == "linux"
    assert platform_of("Tizen", None) == "tizen"
    assert platform_of("Other", None) is None
    assert platform_of(None, None) is None


def test_each_distinct_string_is_parsed_once_a_run_and_spread_back(monkeypatch):
    calls = []
    original = AgentParser.describe
    monkeypatch.setattr(AgentParser, "describe", lambda self, ua: calls.append(ua) or original(self, ua))
    parser = AgentParser()
    uas = pd.Series([CHROME_WINDOWS, None, SAFARI_IPHONE, CHROME_WINDOWS, "", CHROME_WINDOWS], dtype=object)
    columns = parser.describe_series(uas)
    assert sorted(calls) == sorted([CHROME_WINDOWS, SAFARI_IPHONE, ""])
    assert set(columns) == set(AGENT_COLUMNS)
    assert columns["device"].tolist() == ["desktop", "bot", "mobile", "desktop", "bot", "desktop"]
    assert columns["is_bot"].tolist() == [False, True, False, False, True, False]
    assert columns["is_bot"].dtype == bool
    assert as_list(columns["browser"]) == ["Chrome", None, "Mobile Safari", "Chrome", None, "Chrome"]
    assert columns["browser"].dtype == STRING  # Arrow-backed text

    next_batch = parser.describe_series(pd.Series([SAFARI_IPAD, CHROME_WINDOWS], dtype=object, index=[7, 8]))
    assert calls[3:] == [SAFARI_IPAD]  # the next batch of the run reuses what the first one parsed
    assert next_batch["device"].to_dict() == {7: "tablet", 8: "desktop"}


def test_bots_are_flagged_in_the_batch_never_dropped(tmp_path):
    enricher = new_enricher(tmp_path)
    try:
        rows = enriched_rows(
            enricher,
            [
                {"id": str(n), "ua": ua}
                for n, ua in enumerate([GOOGLEBOT, SAFARI_IPAD, None, HEADLESS_CHROME])
            ],
        )
    finally:
        enricher.close()
    assert [r["id"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["is_bot"] for r in rows] == [True, False, True, True]
    assert [r["platform"] for r in rows] == [None, "ipad", None, "linux"]


def test_user_agents_lists_are_imported_at_the_first_user_agent_parsed_not_with_the_etl():
    """Importing user-agents loads ua-parser's pure-Python regexes too (0.2 s): a run whose user agents
    were all met before (their answers kept between runs) must not pay it."""
    script = (
        "import sys\n"
        "import crumby.etl.pipeline\n"
        "from crumby.etl.enrich.agent import listed_device_type\n"
        "print('user_agents' in sys.modules, 'ua_parser_builtins.regexes' in sys.modules)\n"
        "print(listed_device_type('Mobile Safari', 'iOS', 'iPad'),"
        " listed_device_type('Firefox', 'Solaris', None))\n"
        "print('user_agents' in sys.modules)\n"
    )
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert shown.stdout.split("\n")[:3] == ["False False", "tablet desktop", "True"]

"""Bots of every family, apps that are not bots, and device types, on the one-UA and batch paths alike."""

from __future__ import annotations

import pandas as pd
import pytest
from enrich_frames import enriched_rows, new_enricher, raw_hits

from crumby.config import ConfigError
from crumby.etl.enrich.agent import AGENT_COLUMNS, AgentParser
from crumby.etl.enrich.bots import BotMatcher
from crumby.etl.enrich.device import device_type
from crumby.etl.enrich.lists import DEVICE_DETECTOR_MOBILES, parse_yaml, read_yaml
from crumby.etl.enrich.models import ModelTypes

CHROME = "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0"

# family -> user agents the lists know as robots
BOTS = {
    "search": [
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    ],
    "seo": [
        "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
        "Screaming Frog SEO Spider/19.0",
        "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",
        "Sitebulb/8.0",
        "Mozilla/5.0 (compatible; Siteimprove Accessibility Checker)",
    ],
    "monitoring": [
        "Mozilla/5.0 (compatible; StatusCake)",
        "Site24x7",
        "Better Uptime Bot Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
        "Datadog/Synthetics",
        "Checkly/1.0 (https://www.checklyhq.com)",
        "Mozilla/5.0 (compatible; OhDear/1.0)",
    ],
    "scanner": [
        "Mozilla/5.0 zgrab/0.x",
        "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
        "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
        "Expanse, a Palo Alto Networks company, searches across the global IPv4 space",
        "Mozilla/5.0 (compatible; InternetMeasurement/1.0; +https://internet-measurement.com/)",
        "Mozilla/5.0 (compatible; Qualys/1.0)",
    ],
    "feeds": [
        "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 12 subscribers; like FeedFetcher-Google)",
        "Mozilla/5.0 (compatible; inoreader.com; 3 subscribers)",
        "NewsBlur Feed Fetcher - 5 subscribers - https://www.newsblur.com/site/1",
        "FreshRSS/1.21.0 (Linux; https://freshrss.org)",
        "Miniflux/2.0.50 (https://miniflux.app)",
    ],
    "ai": [
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; "
        "+claudebot@anthropic.com)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot",
        "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 "
        "(compatible; Bytespider; spider-feedback@bytedance.com)",
        "CCBot/2.0 (https://commoncrawl.org/faq/)",
        "Mozilla/5.0 (compatible; Google-Extended)",
    ],
    "headless": [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0 Safari",
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 "
        "Safari/538.1",
        f"Mozilla/5.0 (X11; Linux x86_64) {CHROME} Safari/537.36 Cypress/13.6.0",
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {CHROME} Safari/537.36 PTST/231201.151125",
        "python-requests/2.31.0",
        "Go-http-client/2.0",
    ],
    # no browser, system nor device ua-parser knows, and not Mozilla-compatible: a script's
    "stranger": ["InternalSyncService 3.2", "acme-link-checker-v2"],
}
# people's apps and phones that a bot pattern would catch
NOT_BOTS = [
    "WhatsApp/2.23.20.0 A",
    f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {CHROME} Mobile Safari/537.36 MetaIAB Facebook",
    f"Mozilla/5.0 (Linux; Android 13; SM-S911B Build/TP1A; wv) {CHROME} Mobile Safari/537.36 "
    "[FB_IAB/FB4A;FBAV/450.0.0.42.110;]",
    "Mozilla/5.0 (Linux; Android 15; CPH2557 Build/AP3A.240617.008; wv) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Version/4.0 Chrome/142.0 Mobile Safari/537.36 Instagram 406.0.0.58.159 Android",
    f"Mozilla/5.0 (Linux; Android 10; CUBOT X30) {CHROME} Mobile Safari/537.36",
    f"Mozilla/5.0 (Linux; Android 8.1.0; XBot_Senior Build/O11019) {CHROME} Mobile Safari/537.36",
    f"Mozilla/5.0 (Linux; Android 11; KingBot) {CHROME} Mobile Safari/537.36",
    f"Mozilla/5.0 (Linux; Android 4.4.2; ViewSonic V500 Build/KVT49L) {CHROME} Mobile Safari/537.36",
]
# user agent -> device type
DEVICES = {
    f"Mozilla/5.0 (Linux; Android 9; SM-T295) {CHROME} Mobile Safari/537.36": "tablet",  # says Mobile
    f"Mozilla/5.0 (Linux; Android 11; Lenovo TB-J606F) {CHROME} Safari/537.36": "tablet",
    "Mozilla/5.0 (Linux; Android 9; KFMAWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/120.3.1 "
    "like Chrome/120.0 Safari/537.36": "tablet",
    "Mozilla/5.0 (Android 14; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0": "tablet",
    "Dalvik/2.1.0 (Linux; U; Android 13; SM-X200 Build/TP1A.220624.014)": "tablet",
    "Dalvik/2.1.0 (Linux; U; Android 12; SM-A125F Build/SP1A.210812.016)": "mobile",
    "UCWEB/2.0 (MIDP-2.0; U; Adr 9.0.0; en-US; SM-A105F) U2/1.0.0 UCBrowser/13.4.0.1306 U2/1.0.0 "
    "Mobile": "mobile",
    f"Mozilla/5.0 (Linux; Android 9; SHIELD Android TV Build/PPR1) {CHROME} Safari/537.36": "tv",
    f"Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7233) {CHROME} Mobile Safari/537.36": "tv",
    "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0 TV "
    "Safari/537.36": "tv",
    "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0 Safari/537.36 "
    "WebAppManager": "tv",
    "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko)": "console",
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox Series X) {CHROME} Safari/537.36 "
    "Edge/20.0": "console",
    "Mozilla/5.0 (X11; GNU/Linux) AppleWebKit/537.36 (KHTML, like Gecko) Chromium/79.0 Chrome/79.0 "
    "Safari/537.36 Tesla/2020.48.26": "car",
    f"Mozilla/5.0 (Linux; Android 11; SM-R875F) {CHROME} Mobile Safari/537.36": "wearable",
    f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {CHROME} Mobile Safari/537.36": "mobile",
    f"Mozilla/5.0 (Linux; Android 13; SM-S918B) {CHROME} Mobile Safari/537.36": "mobile",
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {CHROME} Safari/537.36": "desktop",
    # Android tablets whose browser says "Mobile": only the device list knows the model
    f"Mozilla/5.0 (Linux; Android 12; PMT4511_4G) {CHROME} Mobile Safari/537.36": "tablet",  # Prestigio
    f"Mozilla/5.0 (Linux; Android 11; TZ863) {CHROME} Mobile Safari/537.36": "tablet",  # Irbis
    # Android TVs and TV boxes that say nothing of it, or even "Mobile"
    f"Mozilla/5.0 (Linux; Android 9; TIVO STREAM 4K) {CHROME} Safari/537.36": "tv",
    f"Mozilla/5.0 (Linux; Android 10; EVPAD-PRO-MAX) {CHROME} Safari/537.36": "tv",
    f"Mozilla/5.0 (Linux; Android 11; Blaupunkt 55UW5000T) {CHROME} Mobile Safari/537.36": "tv",
    # apps on such tablets: Android's own HTTP client, UC Browser's "Adr"
    "Dalvik/2.1.0 (Linux; U; Android 11; TZ863 Build/RP1A.200720.011)": "tablet",
    "UCWEB/2.0 (MIDP-2.0; U; Adr 9.0.0; en-US; PMT4511_4G) U2/1.0.0 UCBrowser/13.4.0.1306 U2/1.0.0 "
    "Mobile": "tablet",
    "Nokia6300/2.0 (05.00) Profile/MIDP-2.0 Configuration/CLDC-1.1": "mobile",  # a stranger, yet known
    "Opera/9.80 (X11; Linux x86_64) Presto/2.12.388 Version/12.16": "desktop",
    "Dalvik/2.1.0 (Linux; U; Android 9; HP Chromebook x360 11 G1 EE Build/R80)": "desktop",
}
# kinds of case the device type got wrong on independent test data (bench/accuracy.py), type by kind
NAMED_DEVICES = {
    # a tablet line's name wins over the device list, which gives some the brand's phones' type
    "tablet line": {
        f"Mozilla/5.0 (Linux; Android 12; HUAWEI MatePad 11) {CHROME} Mobile Safari/537.36": "tablet",
        f"Mozilla/5.0 (Linux; Android 7.0; SHIELD Tablet K1) {CHROME} Safari/537.36": "tablet",
        # "iPad" only as Apple writes it: a phone whose model holds "IPAD" stays a phone
        f"Mozilla/5.0 (Linux; Android 7.0; KLIPAD_V355) {CHROME} Mobile Safari/537.36": "mobile",
        f"Mozilla/5.0 (X11; U; Linux x86_64; en-US) {CHROME} Safari/537.36 Puffin/9.7.2IT": "tablet",
        f"Mozilla/5.0 (Linux; Android 11; SHIELD Android TV Build/RQ1A) {CHROME} Safari/537.36": "tv",
    },
    "e-reader": {
        "Mozilla/5.0 (Unknown; Linux) AppleWebKit/538.1 (KHTML, like Gecko) Kobo eReader "
        "Safari/538.1": "tablet",
        "Mozilla/5.0 (Linux; U; Android 2.0; en-us;) AppleWebKit/538.1 (KHTML, like Gecko) Version/4.0 "
        "Mobile Safari/538.1 (Kobo Libra 2/4.38.21908)": "tablet",
    },
    # Samsung's Galaxy Watch 7 and Ultra are SM-L..., as the older ones are SM-R...
    "watch": {"Dalvik/2.1.0 (Linux; U; Android 14; SM-L310 Build/AW2E.240318.016)": "wearable"},
    # a desktop system by name, other than Windows, macOS and the Linux of X11
    "desktop system": {
        "Mozilla/5.0 (compatible; Konqueror/4.14; Linux) KHTML/4.14.2 (like Gecko) (Debian)": "desktop",
        "Mozilla/5.0 (OS/2; Warp 4.5; rv:91.0) Gecko/20100101 Firefox/91.0": "desktop",
        "Mozilla/5.0 (compatible; IBrowse 3.0; AmigaOS4.1)": "desktop",
        "Mozilla/5.0 (Haiku; x86_64) AppleWebKit/609.1 (KHTML, like Gecko) WebPositive/1.3": "desktop",
    },
    # phone and tablet systems by name: webOS/2 is no OS/2, Maemo's and Fennec's Linux a phone's
    "handheld system": {
        "Mozilla/5.0 (webOS/2.2.4; U; en-US) AppleWebKit/534.6 (KHTML, like Gecko) webOSBrowser/221.56 "
        "Safari/534.6 Pre/3.0": "mobile",
        "Mozilla/5.0 (Maemo; Linux armv7l; rv:10.0.1) Gecko/20100101 Firefox/10.0.1 Fennec/10.0.1": "mobile",
        "Mozilla/5.0 (hp-tablet; Linux; hpwOS/3.0.5; U; en-US) AppleWebKit/534.6 (KHTML, like Gecko) "
        "wOSBrowser/234.83 Safari/534.6 TouchPad/1.0": "tablet",
    },
    # TV browsers and middleware by name (Japanese and European TV standards, set-top boxes)
    "tv browser": {
        "Mozilla/5.0 (Standard; NF34SW/1.1; like Gecko) NetFront/3.4 InettvBrowser/2.2C "
        "(000087;IP03-01;0100;0000)": "tv",
        "Mozilla/5.0 (Linux; U; Linux; en-US) AppleWebKit/531.2+ (KHTML, like Gecko) Safari/531.2+ "
        "NETTV/3.2.1": "tv",
    },
    # feature phones that name only their model, which the device list knows
    "feature phone model": {"LG-A130/V100": "mobile", "LG B2150": "mobile"},
    # feature phones' browsers and carriers, phones' browsers asking for desktop pages
    "phone browser": {
        "SAMSUNG-GT-S5230/S523MXEIL2 SHP/VPP/R5 Jasmine/1.0 Nextreaming SMM-MMS/1.2.0": "mobile",
        "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.1; Trident/3.1; XBLWP7; ZuneWP7)": "mobile",
        f"Mozilla/5.0 (X11; U; Linux x86_64; en-US) {CHROME} Safari/537.36 Puffin/9.7.2AP": "mobile",
        "Vodafone/1.0/V705SH/SHJ001 Browser/VF-NetFront/3.3": "mobile",
        "SoftBank/1.0/910T/TJ001 Browser/NetFront/3.3": "mobile",
    },
    # Android 1 and 2 ran on phones, whose browsers left out "Mobile"; Android 4's tablets do so
    "android phone era": {
        "Mozilla/5.0 (Linux; U; Android 2.3.4; en-us; QX1234 Build/GRJ22) AppleWebKit/533.1 (KHTML, "
        "like Gecko) Version/4.0 Safari/533.1": "mobile",
        "Mozilla/5.0 (Linux; U; Android 4.0.4; en-us; QX1234 Build/IMM76D) AppleWebKit/534.30 (KHTML, "
        "like Gecko) Version/4.0 Safari/534.30": "tablet",
    },
    # text browsers name no system: a desktop's, not a stranger bot; a PC's Linux stays a desktop
    "desktop browser": {
        "w3m/0.5.3": "desktop",
        "Mozilla/5.0 (Wayland; Linux x86_64; Huawei) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/110.0.0.0 Safari/537.36 Ubuntu/23.04 Edg/110.0.1587.41": "desktop",
    },
    # a TV's own app names no browser, system nor device ua-parser knows: a TV, not a stranger bot
    "tv app": {
        "Roku4640X/DVP-7.70 (297.70E04154A)": "tv",
        "VIZIO M55Q7-J01 ViziOS/1.5.100.12 ExamplePlayer/2.0": "tv",
    },
}
DEVICES.update({ua: kind for cases in NAMED_DEVICES.values() for ua, kind in cases.items()})
ALL_BOTS = [(family, ua) for family, uas in BOTS.items() for ua in uas]


@pytest.fixture(scope="module")
def parser():
    return AgentParser()


def _device_and_bot(parser: AgentParser, ua: str) -> tuple[str, bool]:
    described = dict(zip(AGENT_COLUMNS, parser.describe(ua), strict=True))
    return described["device"], described["is_bot"]


@pytest.mark.parametrize(("family", "ua"), ALL_BOTS, ids=[f"{f}-{n}" for n, (f, _) in enumerate(ALL_BOTS)])
def test_bots_of_every_family(parser, family, ua):
    assert _device_and_bot(parser, ua) == ("bot", True)


@pytest.mark.parametrize("ua", NOT_BOTS, ids=lambda ua: ua[:50])
def test_apps_and_phones_named_bot_are_people(parser, ua):
    device, is_bot = _device_and_bot(parser, ua)
    assert not is_bot
    assert device == ("other" if ua.startswith("WhatsApp/") else "mobile")


@pytest.mark.parametrize("ua", list(DEVICES), ids=lambda ua: ua[:50])
def test_device_types(parser, ua):
    assert _device_and_bot(parser, ua) == (DEVICES[ua], False)


def test_the_batch_path_answers_as_the_one_ua_path(tmp_path):
    uas = [ua for _, ua in ALL_BOTS] + NOT_BOTS + list(DEVICES) + [None, ""]
    enricher = new_enricher(tmp_path)
    try:
        rows = enriched_rows(enricher, [{"id": str(n), "ua": ua} for n, ua in enumerate(uas)])
    finally:
        enricher.close()
    one_by_one = AgentParser()
    for ua, row in zip(uas, rows, strict=True):
        if ua:
            expected = dict(zip(AGENT_COLUMNS, one_by_one.describe(ua), strict=True))
            assert (row["device"], row["is_bot"]) == (expected["device"], expected["is_bot"]), ua
        else:
            assert (row["device"], row["is_bot"]) == ("bot", True)
    assert sum(row["is_bot"] for row in rows) == len(ALL_BOTS) + 2


@pytest.mark.parametrize("kind", list(NAMED_DEVICES))
def test_each_kind_of_named_device_on_both_paths(tmp_path, parser, kind):
    cases = NAMED_DEVICES[kind]
    enricher = new_enricher(tmp_path)
    try:
        rows = enriched_rows(enricher, [{"id": str(n), "ua": ua} for n, ua in enumerate(cases)])
    finally:
        enricher.close()
    assert [(row["device"], row["is_bot"]) for row in rows] == [(kind, False) for kind in cases.values()]
    assert [_device_and_bot(parser, ua) for ua in cases] == [(kind, False) for kind in cases.values()]


def test_bot_patterns_setting_adds_the_sites_own(tmp_path):
    ua = f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {CHROME} Safari/537.36 AcmeWidget/2"
    hits = [{"id": "1", "ua": ua}]
    plain = new_enricher(tmp_path)
    own = new_enricher(tmp_path, BOT_PATTERNS="acmewidget/\\d,other-tool")
    try:
        assert [r["is_bot"] for r in enriched_rows(plain, hits)] == [False]
        assert [r["is_bot"] for r in enriched_rows(own, hits)] == [True]
    finally:
        plain.close()
        own.close()


def test_a_bad_bot_pattern_says_which():
    with pytest.raises(ConfigError, match=r"BOT_PATTERNS: '\(unclosed'"):
        BotMatcher(["(unclosed"])


def test_client_hints_decide_between_phone_and_tablet():
    reduced = f"Mozilla/5.0 (Linux; Android 10; K) {CHROME} Safari/537.36"
    assert device_type(reduced, "Android", "K") == "tablet"
    assert device_type(reduced, "Android", "K", {"Sec-CH-UA-Mobile": "?1"}) == "mobile"
    assert device_type(reduced, "Android", "K", {"sec-ch-ua-mobile": "?0"}) == "tablet"
    windows = {"Sec-CH-UA-Platform": '"Windows"'}
    assert device_type("Mozilla/5.0 (compatible)", None, None, windows) == "desktop"
    assert device_type("Mozilla/5.0 (compatible)", None, None) == "other"


def test_the_device_list_names_the_model_whatever_the_browser_says():
    """Chrome's reduced UA names no model, so the list is not asked; a model it knows wins over
    "Mobile" and over the rules' guess; a model it does not know leaves the rules to decide."""
    parser = AgentParser()
    reduced = f"Mozilla/5.0 (Linux; Android 10; K) {CHROME} Safari/537.36"
    assert device_type(reduced, "Android", "K", model_type=parser.model_types) == "tablet"
    assert parser.model_types(reduced.replace("; K)", "; PMT4511_4G)")) == "tablet"
    assert parser.model_types(f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {CHROME}") == "mobile"
    assert parser.model_types(f"Mozilla/5.0 (Linux; Android 14; Acme Zzx-99) {CHROME}") is None
    unknown = f"Mozilla/5.0 (Linux; Android 14; Acme Zzx-99) {CHROME} Mobile Safari/537.36"
    assert device_type(unknown, "Android", None, model_type=parser.model_types) == "mobile"
    assert device_type(unknown.replace(" Mobile", ""), "Android", None, model_type=parser.model_types) == (
        "tablet"
    )


def test_each_load_records_the_lists_versions(tmp_path):
    enricher = new_enricher(tmp_path)
    enricher.close()
    provenance = enricher.provenance
    assert provenance["crawler_user_agents"][0].isdigit()
    assert "3856a28692d4" in provenance["device_detector_bots"]
    assert "3856a28692d4" in provenance["device_detector_devices"]
    assert "b70173e763f8" in provenance["referer_parser_referers"]
    assert provenance["crumby_lists"].startswith("crumby.yml sha256 ")


def test_bots_are_found_as_fast_per_distinct_ua_whatever_the_batch(parser):
    """The same UA in two batches is described once; a Series of repeats costs one describe."""
    uas = pd.Series([ALL_BOTS[0][1]] * 5 + [NOT_BOTS[0]] * 5, dtype=object)
    columns = parser.describe_series(uas)
    assert columns["is_bot"].tolist() == [True] * 5 + [False] * 5


def test_client_hints_from_the_hit_reach_the_device_type(tmp_path):
    """A reduced Chrome UA says neither phone nor tablet; the hints the collector kept do."""
    reduced = f"Mozilla/5.0 (Linux; Android 10; K) {CHROME} Safari/537.36"
    hits = [
        {"id": "1", "ua": reduced, "ch_mobile": "?1", "ch_platform": '"Android"'},
        {"id": "2", "ua": reduced, "ch_mobile": "?0", "ch_platform": '"Android"'},
        {"id": "3", "ua": reduced},
        {"id": "4", "ua": None, "ch_mobile": "?1"},
        {"id": "5", "ua": "forged\x1f?1\x1f", "ch_mobile": "?0"},
        {"id": "6", "ua": "forged\x1f?1\x1f"},
    ]
    enricher = new_enricher(tmp_path)
    try:
        rows = enricher.enrich(raw_hits(hits).assign(**_hint_columns(hits)))
    finally:
        enricher.close()
    assert rows["device"].tolist() == ["mobile", "tablet", "tablet", "bot", "bot", "bot"]
    assert rows["platform"].tolist()[:3] == ["android"] * 3


def _hint_columns(hits: list[dict]) -> dict[str, pd.Series]:
    return {
        name: pd.Series([h.get(name) for h in hits], dtype=object) for name in ("ch_mobile", "ch_platform")
    }


def test_the_device_list_read_a_brand_at_a_time_is_the_whole_list():
    """ModelTypes reads each brand's own keys up front and its models when first needed: together
    they are what parsing the whole file gives, brand for brand, in order."""
    whole = read_yaml(DEVICE_DETECTOR_MOBILES)
    types = ModelTypes()
    assert list(types.brands) == [str(name) for name in whole]
    for name, entry in whole.items():
        assert types.brands[str(name)] == {key: value for key, value in entry.items() if key != "models"}
        if "models" in entry:
            assert parse_yaml(types._sections[str(name)]) == {name: entry}
        else:
            assert str(name) not in types._sections


def test_long_forged_user_agents_are_not_remembered():
    """The device list's answers are remembered once a process: a flood of distinct 8 KB user agents
    must not grow that memory, and each still gets the answer a short one would."""
    types = ModelTypes()
    phone = "SAMSUNG-GT-E2152/1.0 "
    for n in range(50):
        assert types(phone + "x" * 8000 + str(n), True) == types(phone, True)
    assert all(len(key) <= 512 for key in types._seen) and len(types._seen) == 1

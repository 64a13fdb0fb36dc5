"""How often the enricher is right about bots, referrer channels and device types, on public test data.

Not a test: a measurement against data that others wrote down, read from a
folder given on the command line (nothing is downloaded). Lay it out from
the public repositories as follows (the commits measured are the ones named):

    DATA/device-detector/   matomo-org/device-detector 3856a28692d45317d3f15f6f81ca31a06067182a
                            (6.5.1-68): Tests/fixtures/*.yml
    DATA/uap-core/          ua-parser/uap-core e3c5e634bee0b14f1a129c991483910739ad9f6c:
                            tests/test_device.yaml, test_resources/firefox_user_agent_strings.yaml
    DATA/crawler-user-agents/  monperrus/crawler-user-agents 7c7f9f254f16fcbc7d0fcb60d0a188897c00b050:
                            crawler-user-agents.json (its ``instances``: real crawler UAs)
    DATA/referer-parser/    snowplow-referer-parser/referer-parser b70173e763f803ce03d5b484949cc625ade21184:
                            resources/referers.yml, resources/referer-tests.json
    DATA/searchengine-and-social-list/  matomo-org/searchengine-and-social-list
                            3b3a82dc83cd146abe17aafe31254de1c25f7844: SearchEngines.yml, Socials.yml
    DATA/ua-parser-js/      faisalman/ua-parser-js 18d39b53dd803710cb8e76856d18c1dcf7533d11:
                            test/data/ua/device/*.json, test/data/ua/extension/extra-devices.json,
                            test/data/ua/os/*.json
    DATA/browser-detector/  mimmi20/browser-detector: tests/data/**/*.json. The repository (0.9 GB)
                            is too big to copy whole: measured so far is a sample, the first cases
                            of these files (each at the commit named; only the fields read here,
                            request headers, device type, client type and isbot, were kept):
                            3q/tablet/google/browser/0000000.json 106920a6 (15 cases),
                            samsung/feature-phone/0000000.json 0d3ef432 (18),
                            lg/feature-phone/unknown/unknown/0000000.json 5021cfab (17),
                            unknown/tv/unknown/browser/0000000.json 54ee1abb (13),
                            unknown/smartphone/unknown/browser/0000000.json 0fa39940 (15),
                            unknown/smartphone/unknown/mobile-application/0000000.json 0aa267d6 (3),
                            unknown/desktop/0000050.json 0339b9b8 (17).
                            A whole checkout's tests/data reads the same way.
    DATA/whichbrowser/      WhichBrowser/Parser-PHP 581d614d686bfbec3529ad60562a5213ac5d8d72:
                            tests/data/**/*.yaml (every folder: desktop, mobile, tablet, television, ...)

(``git --git-dir=REPO show COMMIT:PATH > DATA/NAME/PATH`` for each file.)

What each figure measures, and what the detection was built from:

- bots: crumby flags bots with crawler-user-agents (PyPI), Device Detector's
  regexes/bots.yml (vendored) and uap-core's Spider family, plus its own
  additions. Each recall test set belongs to one of those sources, so it is
  also measured *leaving that source out* (the honest figure): Device
  Detector's bot fixtures without its bots.yml; crawler-user-agents'
  instances without that list; uap-core's Spider devices without ua-parser's
  Spider family. False positives: every browser UA of Device Detector's
  non-bot fixtures (crumby's exceptions in data/crumby.yml were written
  looking at these), and, held out, uap-core's device cases of browsers
  (neither Spider nor Other) and its Firefox UA list.
- channel: built from Snowplow's referers.yml and crumby's own additions.
  Measured on that list (each domain, the issue's bar), on Snowplow's
  referer-tests.json, and on Matomo's search-engine and social lists (built
  from neither). crumby has no "chatbot" channel: an AI assistant is a named
  referral, so that is what counts as right for one.
- device type: desktop, mobile (smartphone, phablet, feature phone) or tablet
  of the browser UAs among Device Detector's fixtures (with the fixture's
  Sec-CH-UA-* headers where crumby reads client hints). crumby's rules were
  written looking at the unnumbered fixture files (smartphone.yml,
  tablet.yml, ...): "held out" is the numbered ones (smartphone-1.yml ...).
  The other kinds (tv, console, car, wearable) are shown apart. crumby also
  reads Device Detector's own device list (regexes/device/mobiles.yml,
  vendored), which is what its fixtures' device types were written from:
  so the held-out figure is also measured *without that list* (crumby's
  rules and ua-parser alone), the honest figure for what the list does not
  cover.
- device type, independent of Device Detector: three device detectors' own
  test data, measured with the full detector (Device Detector's list
  included: neither was made from it). A source missing from DATA is
  skipped. ua-parser-js's tests are the *development* set: crumby's rules
  were corrected looking at their misses, and so are browser-detector's
  (a second *development* set). WhichBrowser's tests are *held out*:
  nothing was written looking at them, they only measure.
  Labels, as crumby's types (UAJS_TYPES, WHICHBROWSER_TYPES): ua-parser-js
  mobile, tablet, console, wearable -> the same, smarttv -> tv; left out as
  ambiguous: xr (headsets: crumby has no such type), embedded (cars, smart
  speakers and displays alike), undefined and none (no type known). Its
  device tests have no desktop cases. Its OS tests carry no device type:
  the type their system implies is taken for systems of one kind only
  (SYSTEM_TYPES: phone systems mobile, desktop systems desktop; Android,
  iOS, Tizen, webOS, Chromecast, ... left out).
  browser-detector (BROWSER_DETECTOR_TYPES): desktop, tablet -> the same,
  smartphone, feature-phone, mobile-phone, phablet -> mobile, tv,
  tv-set-top-box, tv-stick, tv-media-player -> tv, tv-console,
  mobile-console, non-mobile-console -> console, car-entertainment-system
  -> car, wearable, watch, smart-watch -> wearable; left out as ambiguous:
  fone-pad (tablets with a phone's radio, which it counts apart from both),
  mobile-device, unknown and every other label, and the cases of bots (its
  client's ``isbot`` or type bot, crawler). Its cases carry all the request
  headers: the Sec-CH-UA-* ones are given to crumby as Device Detector's.
  WhichBrowser desktop, tablet -> the same, mobile (smart and feature
  phones) -> mobile, television -> tv, gaming (console and portable) ->
  console, watch -> wearable, car -> car; left out as ambiguous: mobile of
  subtype "desktop", pda, ereader, media (players), headset, emulator,
  printer, signage, camera, appliance, gps, devboard, bot, no type; and
  every case sent with request headers other than User-Agent
  (X-OperaMini-Phone-UA, Device-Stock-UA, X-UCBrowser-*, ...: its label may
  come from a header crumby does not read). How many were left out, and
  why, is printed. The per-type figures (``expected TYPE``) count each case
  by its label, and ``said`` what crumby said of the ones it got wrong.

    python bench/accuracy.py DATA [--baseline REF] [--misses FILE]

``--misses FILE`` writes every device-type miss of the independent sources
(source, expected, what crumby said, user agent; tab-separated).

``--baseline REF`` also measures the code of git revision REF (exported to a
temporary folder and run in a subprocess) and prints both side by side.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from functools import partial
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PAGE = "https://example.com/pricing"
MOBILE_TYPES = {"smartphone": "mobile", "phablet": "mobile", "feature phone": "mobile"}
OTHER_TYPES = {"tv": "tv", "console": "console", "car browser": "car", "wearable": "wearable"}
# ua-parser-js's and WhichBrowser's device labels -> crumby's types; a label not listed is left out
UAJS_TYPES = {
    "mobile": "mobile",
    "tablet": "tablet",
    "smarttv": "tv",
    "console": "console",
    "wearable": "wearable",
}
# ua-parser-js's OS test files whose system runs on one kind of device only -> that kind
SYSTEM_TYPES = {
    **dict.fromkeys(
        [
            "bada",
            "blackberry",
            "firefox-os",
            "kaios",
            "maemo",
            "meego",
            "palm",
            "sailfish",
            "series40",
            "symbian",
            "ubuntu-touch",
            "windows-mobile",
            "windows-phone",
        ],
        "mobile",
    ),
    **dict.fromkeys(
        [
            "aix",
            "amigaos",
            "arcaos",
            "arch",
            "beos",
            "centos",
            "chrome-os",
            "debian",
            "deepin",
            "dragonfly",
            "elementary-os",
            "fedora",
            "freebsd",
            "gentoo",
            "ghostbsd",
            "haiku",
            "hp-ux",
            "hurd",
            "joli",
            "knoppix",
            "kubuntu",
            "linpus",
            "linspire",
            "macos",
            "mandriva",
            "manjaro",
            "minix",
            "mint",
            "morphos",
            "netbsd",
            "openbsd",
            "os2",
            "pclinuxos",
            "plan9",
            "raspbian",
            "redhat",
            "risc-os",
            "sabayon",
            "serenityos",
            "slackware",
            "solaris",
            "suse",
            "ubuntu",
            "unix",
            "windows",
            "xubuntu",
            "zenwalk",
        ],
        "desktop",
    ),
}
# browser-detector's device types -> crumby's; a type not listed is left out
BROWSER_DETECTOR_TYPES = {
    "desktop": "desktop",
    "tablet": "tablet",
    **dict.fromkeys(["smartphone", "feature-phone", "mobile-phone", "phablet"], "mobile"),
    **dict.fromkeys(["tv", "tv-set-top-box", "tv-stick", "tv-media-player"], "tv"),
    **dict.fromkeys(["tv-console", "mobile-console", "non-mobile-console"], "console"),
    "car-entertainment-system": "car",
    **dict.fromkeys(["wearable", "watch", "smart-watch"], "wearable"),
}
BOT_CLIENTS = {"bot", "crawler", "search-bot"}
WHICHBROWSER_TYPES = {
    ("desktop", None): "desktop",
    ("mobile", "smart"): "mobile",
    ("mobile", "feature"): "mobile",
    ("tablet", None): "tablet",
    ("television", None): "tv",
    ("gaming", "console"): "console",
    ("gaming", "portable"): "console",
    ("watch", None): "wearable",
    ("car", None): "car",
}
MEDIUMS = {"search": "search", "social": "social", "email": "email", "paid": "paid"}


def load_yaml(path: Path):
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)


def ratio(good: int, total: int) -> str:
    return f"{100 * good / total:6.2f}% of {total}" if total else "   n/a"


class Data:
    """The public test sets, from the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        fixtures = sorted((folder / "device-detector/Tests/fixtures").glob("*.yml"))
        if not fixtures:
            sys.exit(f"no Device Detector fixtures under {folder}; see this script's docstring")
        self.fixtures = {path.stem: load_yaml(path) for path in fixtures}

    def matomo_bots(self) -> list[str]:
        return [str(case["user_agent"]) for case in self.fixtures["bots"]]

    def matomo_browsers(self) -> Iterable[tuple[str, dict]]:
        """(file stem, case) of every browser client in the non-bot fixtures."""
        for stem, cases in self.fixtures.items():
            if stem == "bots":
                continue
            for case in cases:
                if (case.get("client") or {}).get("type") == "browser" and "bot" not in case:
                    yield stem, case

    def crawler_instances(self) -> list[str]:
        entries = json.loads((self.folder / "crawler-user-agents/crawler-user-agents.json").read_text())
        return [ua for entry in entries for ua in entry.get("instances", [])]

    def uap_spiders(self) -> list[str]:
        cases = load_yaml(self.folder / "uap-core/tests/test_device.yaml")["test_cases"]
        return [case["user_agent_string"] for case in cases if case["family"] == "Spider"]

    def uap_browsers(self) -> list[str]:
        """uap-core's device cases that are neither spiders nor unknown, of browsers (Mozilla/...)."""
        cases = load_yaml(self.folder / "uap-core/tests/test_device.yaml")["test_cases"]
        return [
            case["user_agent_string"]
            for case in cases
            if case["family"] not in ("Spider", "Other") and "Mozilla/" in case["user_agent_string"]
        ]

    def uap_firefox(self) -> list[str]:
        path = self.folder / "uap-core/test_resources/firefox_user_agent_strings.yaml"
        return [case["user_agent_string"] for case in load_yaml(path)["test_cases"]]

    def uajs_devices(self) -> tuple[list[tuple[str, str]], Counter]:
        """(user agent, crumby's type) of ua-parser-js's device tests, and the labels left out."""
        folder = self.folder / "ua-parser-js/test/data/ua"
        paths = sorted((folder / "device").glob("*.json")) + [folder / "extension/extra-devices.json"]
        cases, left_out = [], Counter()
        for path in paths:
            if not path.exists():
                continue
            for case in json.loads(path.read_text(encoding="utf-8")):
                label = (case.get("expect") or {}).get("type")
                if label in UAJS_TYPES:
                    cases.append((case["ua"].strip(), UAJS_TYPES[label]))
                else:
                    left_out[str(label or "no type")] += 1
        return cases, left_out

    def uajs_systems(self) -> list[tuple[str, str]]:
        """(user agent, the type its system implies) of ua-parser-js's OS tests (SYSTEM_TYPES)."""
        cases = []
        for path in sorted((self.folder / "ua-parser-js/test/data/ua/os").glob("*.json")):
            if path.stem in SYSTEM_TYPES:
                cases += [(c["ua"].strip(), SYSTEM_TYPES[path.stem]) for c in json.loads(path.read_text())]
        return cases

    def browser_detector_devices(self) -> tuple[list[tuple[str, str, dict]], Counter]:
        """(user agent, crumby's type, client hints) of browser-detector's tests, and the labels
        left out."""
        cases, left_out = [], Counter()
        for path in sorted((self.folder / "browser-detector/tests/data").rglob("*.json")):
            for case in json.loads(path.read_text(encoding="utf-8")) or []:
                headers = {str(k).lower(): v for k, v in (case.get("headers") or {}).items()}
                client = case.get("client") or case.get("browser") or {}
                label = str((case.get("device") or {}).get("type") or "no type")
                if client.get("isbot") or client.get("type") in BOT_CLIENTS:
                    left_out["bot"] += 1
                elif "user-agent" not in headers:
                    left_out["no user agent"] += 1
                elif label in BROWSER_DETECTOR_TYPES:
                    hints = {k: v for k, v in headers.items() if k.startswith("sec-ch-ua")}
                    cases.append((str(headers["user-agent"]), BROWSER_DETECTOR_TYPES[label], hints))
                else:
                    left_out[label] += 1
        return cases, left_out

    def whichbrowser_devices(self) -> tuple[list[tuple[str, str]], Counter]:
        """(user agent, crumby's type) of WhichBrowser's tests, and the labels left out."""
        cases, left_out = [], Counter()
        for path in sorted((self.folder / "whichbrowser/tests/data").rglob("*.yaml")):
            for case in load_yaml(path) or []:
                headers = case["headers"]
                device = (case.get("result") or {}).get("device") or {}
                label = (device.get("type"), device.get("subtype"))
                if isinstance(headers, str) and headers.startswith("User-Agent: "):
                    ua = headers.removeprefix("User-Agent: ")
                elif isinstance(headers, dict) and set(headers) == {"User-Agent"}:
                    ua = headers["User-Agent"]
                else:
                    left_out["other request headers"] += 1
                    continue
                if label in WHICHBROWSER_TYPES:
                    cases.append((str(ua), WHICHBROWSER_TYPES[label]))
                else:
                    left_out["/".join(str(part) for part in label if part) or "no type"] += 1
        return cases, left_out

    def snowplow_list(self) -> list[tuple[str, str]]:
        """(referrer URL, expected channel) for each domain of referers.yml."""
        listed = load_yaml(self.folder / "referer-parser/resources/referers.yml")
        pairs = []
        for medium, sources in listed.items():
            for source in sources.values():
                for domain in source.get("domains", []):
                    pairs.append((f"https://{domain}", MEDIUMS.get(medium, "referral")))
        return pairs

    def snowplow_tests(self) -> list[tuple[str, str]]:
        cases = json.loads((self.folder / "referer-parser/resources/referer-tests.json").read_text())
        return [(case["uri"], MEDIUMS.get(case["medium"], "referral")) for case in cases]

    def matomo_lists(self) -> list[tuple[str, str]]:
        folder = self.folder / "searchengine-and-social-list"
        pairs = []
        for entries in load_yaml(folder / "SearchEngines.yml").values():
            for entry in entries:
                pairs += [(f"https://{url.replace('{}', 'com')}", "search") for url in entry["urls"]]
        for urls in load_yaml(folder / "Socials.yml").values():
            pairs += [(f"https://{url}", "social") for url in urls]
        return pairs


def measure(data: Data, misses: list[tuple[str, ...]] | None = None) -> dict[str, str]:
    """Every figure, measured with the crumby importable here; each device-type miss of the
    independent sources added to ``misses``."""
    from crumby.config import load_settings
    from crumby.etl.enrich import Enricher, agent, bots

    figures: dict[str, str] = {}
    parser = agent.AgentParser()
    takes_hints = "hints" in inspect.signature(parser.describe).parameters

    def describe(ua: str, headers: dict | None = None, hints: dict | None = None) -> tuple:
        """``ua``'s columns, with its request ``headers`` (or ``hints``' for ``ua``) where crumby
        reads client hints."""
        headers = headers or (hints or {}).get(ua)
        if takes_hints and headers:
            return parser.describe(ua, hints=headers)
        return parser.describe(ua)

    def recall(name: str, uas: list[str], without: str | None) -> None:
        flagged = sum(describe(ua)[-1] for ua in uas)
        figures[f"bots: recall, {name}"] = ratio(flagged, len(uas))
        if hasattr(bots, "BotMatcher") and without:
            kept = [s for s in bots.SOURCES if s != without]
            matcher = bots.BotMatcher(sources=kept)
            left = sum(matcher.is_bot(ua, *parsed(ua, without != "ua-parser")) for ua in uas)
            figures[f"bots: recall, {name}, without {without}"] = ratio(left, len(uas))

    def parsed(ua: str, spider_family: bool) -> tuple[str | None, bool]:
        """ua-parser's device family (unless left out) and whether it knows nothing in ``ua``."""
        result = parser.parser.parse(ua)
        family = result.device.family if result.device and spider_family else None
        return family, agent.unrecognised(result)

    recall("Device Detector bot fixtures", data.matomo_bots(), "device-detector")
    recall("crawler-user-agents instances", data.crawler_instances(), "crawler-user-agents")
    recall("uap-core Spider devices", data.uap_spiders(), "ua-parser")

    browsers = list(data.matomo_browsers())
    wrong = [case["user_agent"] for _, case in browsers if describe(str(case["user_agent"]))[-1]]
    figures["bots: browsers called bots, Device Detector fixtures"] = ratio(len(wrong), len(browsers))
    held_out = (("uap-core devices", data.uap_browsers()), ("uap-core Firefox list", data.uap_firefox()))
    for name, uas in held_out:
        figures[f"bots: browsers called bots, {name}"] = ratio(sum(describe(ua)[-1] for ua in uas), len(uas))

    settings = load_settings(environ={}, overrides={"DATA_DIR": tempfile.mkdtemp(prefix="accuracy-")})
    with Enricher(settings) as enricher:
        for name, pairs in (
            ("referers.yml domains", data.snowplow_list()),
            ("referer-tests.json", data.snowplow_tests()),
            ("Matomo search-engine and social lists", data.matomo_lists()),
        ):
            got = channels(enricher, [url for url, _ in pairs])
            right = sum(g == expected for g, (_, expected) in zip(got, pairs, strict=True))
            figures[f"channel: {name}"] = ratio(right, len(pairs))

    figures.update(device_figures(browsers, describe))
    if "device_list" in inspect.signature(agent.AgentParser).parameters:
        rules_only = agent.AgentParser(device_list=False)
        held_out = device_figures(browsers, lambda ua, headers=None: rules_only.describe(ua, hints=headers))
        label = "device: desktop/mobile/tablet, held out"
        figures[f"{label}, without device-detector"] = held_out[label]
    systems = data.uajs_systems()
    if systems:
        right = sum(describe(ua)[5] == expected for ua, expected in systems)
        figures["device: ua-parser-js OS tests (development), type the system implies"] = ratio(
            right, len(systems)
        )
    detector_cases, detector_left_out = data.browser_detector_devices()
    for name, (cases, left_out) in (
        ("ua-parser-js (development)", data.uajs_devices()),
        ("browser-detector (development)", ([c[:2] for c in detector_cases], detector_left_out)),
        ("WhichBrowser (held out)", data.whichbrowser_devices()),
    ):
        if cases:
            hints = {ua: h for ua, _, h in detector_cases if h} if name.startswith("browser-") else {}
            figures.update(independent_figures(name, cases, left_out, partial(describe, hints=hints), misses))
    return figures


def independent_figures(
    name: str,
    cases: list[tuple[str, str]],
    left_out: Counter,
    describe,
    misses: list[tuple[str, ...]] | None,
) -> dict[str, str]:
    """Right device types of one independent source: desktop/mobile/tablet, the other kinds, and
    each expected type apart."""
    by_type: dict[str, Counter] = {}
    confused: Counter = Counter()
    for ua, expected in cases:
        device = describe(ua)[5]
        by_type.setdefault(expected, Counter())["right" if device == expected else "wrong"] += 1
        if device != expected:
            confused[expected, device] += 1
            if misses is not None:
                misses.append((name, expected, str(device), ua))
    figures = {}
    for label, kinds in (
        ("desktop/mobile/tablet", ("desktop", "mobile", "tablet")),
        ("tv/console/car/wearable", ("tv", "console", "car", "wearable")),
    ):
        right = sum(by_type.get(kind, Counter())["right"] for kind in kinds)
        total = sum(sum(by_type.get(kind, Counter()).values()) for kind in kinds)
        figures[f"device: {name}, {label}"] = ratio(right, total)
    for kind, counts in sorted(by_type.items()):
        figures[f"device: {name}, expected {kind}"] = ratio(counts["right"], sum(counts.values()))
        wrong = [(got, count) for (expected, got), count in confused.most_common() if expected == kind]
        if wrong:
            figures[f"device: {name}, expected {kind}, said"] = ", ".join(f"{g} {c}" for g, c in wrong)
    shown = ", ".join(f"{label} {count}" for label, count in left_out.most_common())
    figures[f"device: {name}, left out"] = f"{sum(left_out.values())} ({shown})"
    return figures


def device_figures(browsers: list[tuple[str, dict]], describe) -> dict[str, str]:
    """Right device types among ``browsers``, as ``describe(ua, headers)`` says them."""
    figures = {}
    tally: dict[str, Counter] = {"dev": Counter(), "held out": Counter(), "other": Counter()}
    for stem, case in browsers:
        kind = (case.get("device") or {}).get("type")
        expected = MOBILE_TYPES.get(kind, kind)
        if expected in ("desktop", "mobile", "tablet"):
            part = "held out" if stem[-1].isdigit() else "dev"
        elif kind in OTHER_TYPES:
            expected, part = OTHER_TYPES[kind], "other"
        else:
            continue
        device = describe(str(case["user_agent"]), case.get("headers"))[5]
        tally[part]["right" if device == expected else "wrong"] += 1
    for part, counts in tally.items():
        label = "tv/console/car/wearable" if part == "other" else f"desktop/mobile/tablet, {part}"
        figures[f"device: {label}"] = ratio(counts["right"], counts["right"] + counts["wrong"])
    return figures


def channels(enricher, referrers: list[str]) -> list[str]:
    import pandas as pd

    columns = ("id", "t", "cid", "dl", "dr", "ip", "ua", "referer", "lang", "props")
    rows = [{"id": str(n), "t": "visit", "dl": PAGE, "dr": url} for n, url in enumerate(referrers)]
    frame = pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype=object) for c in columns})
    frame["datetime"] = pd.Timestamp("2024-05-01")
    return [str(c) for c in enricher.enrich(frame)["channel"]]


def measure_revision(ref: str, folder: Path) -> dict[str, str]:
    """The figures of git revision ``ref``'s code, run in a subprocess."""
    with tempfile.TemporaryDirectory(prefix="accuracy-baseline-") as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "crumby"], capture_output=True)
        if archive.returncode:
            sys.exit(archive.stderr.decode())
        with tempfile.TemporaryFile() as raw:
            raw.write(archive.stdout)
            raw.seek(0)
            with tarfile.open(fileobj=raw) as tar:
                tar.extractall(tmp, filter="data")
        env = {**os.environ, "PYTHONPATH": tmp}
        run = [sys.executable, __file__, str(folder), "--json"]
        done = subprocess.run(run, env=env, capture_output=True, text=True, check=True)
        return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> None:
    cli = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    cli.add_argument("data", type=Path, help="folder laid out as this script's docstring says")
    cli.add_argument("--baseline", help="also measure this git revision's code, e.g. main")
    cli.add_argument("--json", action="store_true", help="print the figures as JSON")
    cli.add_argument("--misses", type=Path, help="write the independent sources' device misses here")
    args = cli.parse_args(argv)
    started = time.perf_counter()
    misses: list[tuple[str, ...]] = []
    figures = measure(Data(args.data), misses)
    if args.misses:
        lines = ["\t".join(miss) for miss in sorted(misses)]
        args.misses.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    if args.json:
        print(json.dumps(figures))
        return
    before = measure_revision(args.baseline, args.data) if args.baseline else {}
    width = max(len(name) for name in figures)
    if before:
        print(f"{'':{width}}  {'before (' + args.baseline + ')':>20}  {'after':>20}")
    for name, figure in figures.items():
        print(f"{name:{width}}  {before.get(name, '') if before else '':>20}  {figure:>20}".rstrip())
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()

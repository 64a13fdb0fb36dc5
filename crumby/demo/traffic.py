"""Made-up but plausible traffic for one small site, as the requests cmb.js would send.

Every hit is a WSGI environ for the real collector, stamped with the moment
it "happened", so the demo exercises the same code path as a live site:
visitors from several countries and devices arrive from search, social,
newsletters, paid campaigns or nowhere, read a few pages, trigger events,
and a handful of crawlers wander about.
"""

from __future__ import annotations

import io
import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

SITE = "www.example.com"

# Addresses the bundled GeoLite2 City file places in distinct countries and cities.
VISITOR_NETWORKS = (
    ("81.2.69", 9),
    ("80.0.0", 4),
    ("94.0.0", 3),
    ("92.0.0", 3),  # United Kingdom
    ("91.0.0", 8),
    ("89.0.0", 4),  # Germany
    ("90.0.0", 5),
    ("109.0.0", 3),
    ("2.0.0", 2),  # France
    ("151.101.1", 10),
    ("24.0.0", 5),
    ("99.0.0", 5),
    ("103.21.244", 3),  # United States
    ("174.0.0", 4),  # Canada
    ("193.0.0", 4),
    ("95.142.107", 2),  # Netherlands
    ("88.0.0", 3),
    ("79.0.0", 3),
    ("85.0.0", 2),
    ("37.0.0", 2),  # Spain, Italy, Switzerland, Ireland
    ("222.0.0", 3),
    ("59.0.0", 2),
    ("117.192.0", 3),  # Japan, Korea, India
    ("203.2.218", 3),
    ("187.0.0", 2),
    ("190.0.0", 2),
    ("196.25.1", 2),  # Australia, Brazil, Colombia, S. Africa
)

BROWSERS = (  # (user agent, screen, weight)
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "1920x1080",
        30,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        "1920x1080",
        8,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "2560x1440", 7),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15",
        "1440x900",
        10,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "1728x1117",
        8,
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "1920x1200", 4),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Mobile/15E148 Safari/604.1",
        "390x844",
        16,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36",
        "412x915",
        10,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        "360x780",
        5,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.6 Mobile/15E148 Safari/604.1",
        "820x1180",
        4,
    ),
)

CRAWLERS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 "
    "Safari/537.36",
)

LANGUAGES = (
    ("en-US", 40),
    ("en-GB", 14),
    ("de-DE", 12),
    ("fr-FR", 10),
    ("es-ES", 6),
    ("ja-JP", 5),
    ("nl-NL", 4),
    ("it-IT", 4),
    ("pt-BR", 3),
    ("ko-KR", 2),
)

PAGES = (  # (path, title, weight as a landing page)
    ("/", "Example: tools for small teams", 30),
    ("/pricing", "Pricing | Example", 10),
    ("/features", "Features | Example", 8),
    ("/docs/", "Documentation | Example", 8),
    ("/docs/install", "Install | Example docs", 6),
    ("/docs/api", "API reference | Example docs", 4),
    ("/blog/", "Blog | Example", 4),
    ("/blog/self-hosting-analytics", "Why we self-host our analytics | Example blog", 12),
    ("/blog/launch-week", "Launch week recap | Example blog", 6),
    ("/about", "About us | Example", 3),
    ("/signup", "Sign up | Example", 2),
)

SOURCES = (  # (referrer or "", extra query, weight)
    ("", {}, 30),
    ("https://www.google.com/", {}, 26),
    ("https://www.bing.com/", {}, 4),
    ("https://duckduckgo.com/", {}, 4),
    ("https://news.ycombinator.com/", {}, 6),
    ("https://www.reddit.com/r/selfhosted/", {}, 5),
    ("https://t.co/x1y2z3", {}, 3),
    ("https://www.facebook.com/", {}, 3),
    ("https://www.linkedin.com/", {}, 2),
    ("https://github.com/example/example", {}, 3),
    ("https://blog.someone-else.net/posts/tools", {}, 3),
    ("", {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "november"}, 5),
    (
        "https://www.google.com/",
        {
            "utm_source": "google",
            "utm_medium": "cpc",
            "utm_campaign": "brand",
            "utm_term": "team tools",
            "gclid": "Cj0KCQiA",
        },
        4,
    ),
    (
        "https://www.facebook.com/",
        {
            "utm_source": "facebook",
            "utm_medium": "paid_social",
            "utm_campaign": "launch-week",
            "fbclid": "IwAR0x",
        },
        2,
    ),
)

NEXT_PAGES = {
    "/": ("/features", "/pricing", "/docs/", "/blog/", "/signup"),
    "/features": ("/pricing", "/signup", "/docs/"),
    "/pricing": ("/signup", "/features", "/about"),
    "/docs/": ("/docs/install", "/docs/api"),
    "/docs/install": ("/docs/api", "/signup"),
    "/blog/": ("/blog/self-hosting-analytics", "/blog/launch-week"),
    "/blog/self-hosting-analytics": ("/", "/blog/", "/pricing"),
    "/blog/launch-week": ("/", "/features"),
}
TITLES = {path: title for path, title, _ in PAGES}


@dataclass(frozen=True)
class DemoRequest:
    """One request to the collector and the moment (Unix time) it is sent."""

    at: float
    environ: dict


def _pick(rng: random.Random, items, weight_index: int = -1):
    return rng.choices(items, weights=[item[weight_index] for item in items])[0]


def _activity(at: float) -> float:
    """How busy the site is at a given moment: quieter at night (UTC-ish) and at weekends."""
    hour = time.gmtime(at).tm_hour
    weekday = time.gmtime(at).tm_wday
    daily = 0.35 + 0.65 * math.sin(math.pi * max(0, hour - 6) / 16) ** 2 if 6 <= hour <= 22 else 0.2
    return daily * (0.6 if weekday >= 5 else 1.0)


def _environ(params: dict, *, ip: str, ua: str, lang: str, page_url: str, post: bool) -> dict:
    environ = {
        "REMOTE_ADDR": ip,
        "HTTP_USER_AGENT": ua,
        "HTTP_ACCEPT_LANGUAGE": f"{lang},{lang.split('-')[0]};q=0.9",
        "HTTP_REFERER": page_url,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
    }
    if post:
        body = json.dumps(params).encode()
        environ.update(
            {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": "/collect",
                "QUERY_STRING": "",
                "CONTENT_TYPE": "text/plain;charset=UTF-8",
                "CONTENT_LENGTH": str(len(body)),
                "wsgi.input": io.BytesIO(body),
            }
        )
    else:
        environ.update(
            {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": f"/{abs(hash(ip)) % 2147483647}.gif",
                "QUERY_STRING": urlencode({k: v for k, v in params.items() if k != "props"}),
                "wsgi.input": io.BytesIO(b""),
            }
        )
    return environ


def iter_demo_requests(
    days: int = 60, daily_visitors: int = 60, seed: int = 2017, now: float | None = None
) -> Iterator[DemoRequest]:
    """Requests for ``days`` days up to ``now``, in no particular order."""
    rng = random.Random(seed)
    end = now if now is not None else time.time()
    start = end - days * 86400
    visitors = int(days * daily_visitors * 0.8)
    for number in range(visitors):
        network = _pick(rng, VISITOR_NETWORKS)[0]
        ip = f"{network}.{rng.randrange(2, 250)}"
        ua, screen, _ = _pick(rng, BROWSERS)
        lang = _pick(rng, LANGUAGES)[0]
        cid = str(rng.randrange(1, 2147483647))
        visits = 1 + int(rng.expovariate(1.4))
        for _ in range(visits):
            at = rng.uniform(start, end - 600)
            while rng.random() > _activity(at):
                at = rng.uniform(start, end - 600)
            yield from _session(
                rng, at, ip=ip, ua=ua, screen=screen, lang=lang, cid=cid, post=number % 3 != 0
            )
    for ua in CRAWLERS:
        for _ in range(days * 6):
            at = rng.uniform(start, end)
            path = _pick(rng, PAGES)[0]
            params = {
                "v": "1",
                "t": "visit",
                "cid": str(rng.randrange(1, 2147483647)),
                "dl": f"https://{SITE}{path}",
                "dt": TITLES[path],
                "dr": "",
                "ul": "en-US",
                "sr": "1024x768",
                "sd": "24-bit",
                "de": "UTF-8",
            }
            yield DemoRequest(
                at,
                _environ(
                    params,
                    ip=f"66.249.66.{rng.randrange(1, 250)}",
                    ua=ua,
                    lang="en-US",
                    page_url=params["dl"],
                    post=False,
                ),
            )


def _session(
    rng: random.Random, at: float, *, ip: str, ua: str, screen: str, lang: str, cid: str, post: bool
) -> Iterator[DemoRequest]:
    referrer, campaign, _ = _pick(rng, SOURCES)
    path = _pick(rng, PAGES)[0]
    query = ("?" + urlencode(campaign)) if campaign else ""
    depth = 1 if rng.random() < 0.45 else 2 + int(rng.expovariate(0.6))
    base = {"v": "1", "cid": cid, "ul": lang, "sr": screen, "sd": "24-bit", "de": "UTF-8"}
    previous = referrer
    for step in range(depth):
        url = f"https://{SITE}{path}{query if step == 0 else ''}"
        params = dict(base, t="visit", dl=url, dt=TITLES[path], dr=previous)
        yield DemoRequest(at, _environ(params, ip=ip, ua=ua, lang=lang, page_url=url, post=post))
        yield from _events(rng, at, path, url, params, ip=ip, ua=ua, lang=lang, post=post)
        at += rng.uniform(8, 240)
        previous = url
        choices = NEXT_PAGES.get(path)
        if not choices:
            break
        path = rng.choice(choices)


def _events(
    rng: random.Random, at: float, path: str, url: str, page: dict, *, ip: str, ua: str, lang: str, post: bool
) -> Iterator[DemoRequest]:
    events = []
    if path == "/signup" and rng.random() < 0.5:
        events.append(("signup", rng.choice(("free", "team", "business")), {"plan_page": "pricing"}))
    if path == "/docs/install" and rng.random() < 0.4:
        events.append(("download", "example-1.4.2.tar.gz", {"format": "tar.gz"}))
    if path.startswith("/blog/") and rng.random() < 0.2:
        events.append(("outbound", "https://github.com/example/example", {}))
    if path == "/" and rng.random() < 0.15:
        events.append(("play_video", str(rng.randrange(5, 120)), {"video": "tour"}))
    for name, value, props in events:
        params = dict(page, t="event", en=name, ev=value)
        params.pop("dr", None)
        if props and post:
            params["props"] = props
        yield DemoRequest(
            at + rng.uniform(2, 30), _environ(params, ip=ip, ua=ua, lang=lang, page_url=url, post=post)
        )

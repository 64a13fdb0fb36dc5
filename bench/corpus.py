"""A synthetic raw hit log with realistic variety, for the ETL benchmark.

Lines are made with crumby.hits (the collector's own format): user agents
from templates with varied versions (browsers, phones, tablets and crawlers),
IPv4 and IPv6 addresses from many networks, referrers from search, social,
email and other sites, UTM-tagged landing pages, and events with props.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from crumby.hits import make_hit, serialise

VERSION = 2  # part of the cache folder's name: a change to the lines makes a new corpus

SITES = ("example.com", "www.example.org", "shop.example.net", "blog.example.io")
PATHS = ("/", "/about", "/pricing", "/blog/", "/docs/start", "/contact", "/cart", "/search")
TITLES = ("Home", "About us", "Pricing", "Blog", "Getting started", "Contact", "Cart", "Search")
REFERRERS = (
    "",
    "",
    "",
    "https://www.google.com/",
    "https://www.bing.com/search?q=crumby",
    "https://duckduckgo.com/",
    "https://t.co/abc",
    "https://www.facebook.com/",
    "https://news.ycombinator.com/item?id=1",
    "https://www.reddit.com/r/analytics/",
    "https://mail.google.com/",
    "https://partner-{n}.example.net/links",
)
UTM = (
    "",
    "",
    "",
    "",
    "utm_source=newsletter&utm_medium=email&utm_campaign=spring",
    "utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=crumby&gclid=Cj0KCQ{n}",
    "utm_source=twitter&utm_medium=social&utm_campaign=launch&utm_content=v{n}",
    "fbclid=IwAR{n}",
)
LANGS = ("en-US", "de-DE", "fr-FR", "es-ES", "ja-JP", "pt-BR", "en-GB", "nl-NL")
SCREENS = ("1920x1080", "1366x768", "390x844", "414x896", "2560x1440", "810x1080", "1440x900")

UA_TEMPLATES = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{a}.0.{b}.{c} Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_{a2}_{c2}) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/{v}.{c2} Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{a}.0) Gecko/20100101 Firefox/{a}.{c2}",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{a}.0) Gecko/20100101 Firefox/{a}.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS {v}_{c2} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/{v}.{c2} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android {v}; SM-G{b} Build/{a}) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{a}.0.{b}.{c} Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS {v}_{c2} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/{v}.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{a}.0.{b}.{c} Safari/537.36 Edg/{a}.0.{b}.{c2}",
    "Mozilla/5.0 (Linux; Android {v}; Pixel {c2}) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{a}.0.{b}.{c} Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.{c2}; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.{c2}; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.{c2}; +http://ahrefs.com/robot/)",
    "python-requests/2.{a2}.{c2}",
    "curl/7.{a}.{c2}",
)


def make_user_agents(count: int, rng: random.Random) -> list[str]:
    """``count`` distinct user agents from the templates, one in ~15 a crawler or script."""
    seen: set[str] = set()
    while len(seen) < count:
        template = rng.choice(UA_TEMPLATES)
        seen.add(
            template.format(
                a=rng.randint(60, 130),
                a2=rng.randint(10, 31),
                b=rng.randint(1000, 6999),
                c=rng.randint(0, 250),
                c2=rng.randint(0, 9),
                v=rng.randint(9, 18),
            )
        )
    return sorted(seen)


def make_ips(count: int, rng: random.Random) -> list[str]:
    """``count`` addresses: mostly IPv4 from many /16 networks, one in ten IPv6."""
    ips: set[str] = set()
    while len(ips) < count:
        if rng.random() < 0.1:
            ips.add(
                "2a0{}:{:x}:{:x}::{:x}".format(rng.randint(0, 9), *(rng.getrandbits(16) for _ in range(3)))
            )
        else:
            ips.add(
                f"{rng.randint(2, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            )
    return sorted(ips)


def iter_lines(hits: int, *, seed: int = 7, start: datetime | None = None, visitors: int | None = None):
    """Yield ``(hour_start, line_bytes)`` for ``hits`` hits over about one hit per 0.1 s per 100k."""
    rng = random.Random(seed)
    visitors = visitors or max(10, hits // 6)
    agents = make_user_agents(max(10, min(25_000, hits // 40)), rng)
    ips = make_ips(max(10, min(150_000, hits // 6)), rng)
    start = start or datetime(2026, 3, 1, tzinfo=timezone.utc)
    span = timedelta(days=max(1, hits // 200_000)).total_seconds()
    # Every address and agent belongs to someone; half the hits come from anyone, half from a few
    # heavy visitors, so that the hits carry the variety (>= 100k IPs, >= 20k agents per 1M hits).
    people = [
        (f"{rng.getrandbits(64):016x}", ips[n % len(ips)], agents[n % len(agents)]) for n in range(visitors)
    ]
    rng.shuffle(people)
    times = sorted(rng.random() * span for _ in range(hits))
    for n, offset in enumerate(times):
        who = rng.randrange(visitors) if n % 2 else int(rng.paretovariate(1.2) * 7) % visitors
        cid, ip, ua = people[who]
        when = start + timedelta(seconds=offset)
        site = SITES[n % 7 % len(SITES)]
        page = rng.randrange(len(PATHS))
        query = rng.choice(UTM).format(n=n)
        url = f"https://{site}{PATHS[page]}" + (f"?{query}" if query else "")
        fields = {
            "t": "visit",
            "cid": cid,
            "ul": rng.choice(LANGS),
            "sd": "24-bit",
            "sr": rng.choice(SCREENS),
            "de": "UTF-8",
            "dl": url,
            "dt": TITLES[page],
            "pv": "1",
        }
        referrer = rng.choice(REFERRERS).format(n=n % 500)
        if referrer:
            fields["dr"] = referrer
        if rng.random() < 0.15:
            fields.update(t="event", en=rng.choice(("click", "signup", "download")), ev=str(n % 100))
            if rng.random() < 0.3:
                fields["props"] = {"plan": rng.choice(("free", "pro")), "button": f"b{n % 9}"}
        hit = make_hit(
            fields,
            ip=ip,
            ua=ua,
            referer=url,
            lang=fields["ul"] + ",en;q=0.8",
            hit_id=f"{rng.getrandbits(128):032x}",
            ts=when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
        )
        yield int(when.timestamp()) // 3600 * 3600, serialise(hit)


def write_corpus(folder: Path, hits: int, *, seed: int = 7, writers: int = 2) -> list[Path]:
    """Write the corpus as per-hour, per-writer files in ``folder``; returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    handles: dict[str, object] = {}
    try:
        for n, (hour, line) in enumerate(iter_lines(hits, seed=seed)):
            stamp = datetime.fromtimestamp(hour, timezone.utc).strftime("%Y%m%d%H")
            name = f"hits-{stamp}-bench_{n % writers}.jsonl"
            handle = handles.get(name)
            if handle is None:
                handle = handles[name] = open(folder / name, "ab")  # noqa: SIM115 - closed below
            handle.write(line)
    finally:
        for handle in handles.values():
            handle.close()
    return sorted(folder.glob("hits-*.jsonl"))

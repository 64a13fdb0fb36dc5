"""Time each enricher on a million hits, in batches of 200k as the ETL hands them over.

Two kinds of traffic. The default is synthetic, with realistic variety: over
20k distinct user agents (browsers on desktops, phones and tablets, and ~5%
crawlers, monitors and HTTP tools), over 100k distinct IP addresses that the
bundled 2018 GeoLite2 City file places in a city (IPv4 sampled from its
networks, some IPv6), referrers from search, social, webmail, other sites and
the site itself, and UTM-tagged landing pages with click ids. ``--corpus``
takes the ETL benchmark's raw log lines instead (bench/corpus.py, read with
pyarrow's JSON reader as the ETL reads them), where click ids make some 374k
of a million page URLs distinct.

    python bench/enrich.py [--rows 1000000] [--batch-rows 200000] [--corpus] [--seed 7]

Prints wall and CPU seconds per enricher (summed over the batches of one run,
cold caches), for the whole run (``Enricher.enrich`` and ``anonymise_ips`` per
batch) and hits/s, and two comparisons behind choices made: ua-parser's Rust
matcher against its pure-Python one, and one GeoIP lookup per address against
the batch walk.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import maxminddb
import numpy as np
import pandas as pd
import pyarrow.json as pj
from corpus import iter_lines  # bench/corpus.py: the ETL benchmark's raw log lines

from crumby.config import load_settings
from crumby.etl.enrich import Enricher, anonymise_ips
from crumby.etl.enrich.agent import AgentParser
from crumby.etl.enrich.channel import channels_and_sources
from crumby.etl.enrich.distinct import Answers, Encoded
from crumby.etl.enrich.geo import bundled_database
from crumby.etl.enrich.location import describe_locations
from crumby.etl.enrich.referrer import describe_referrers
from crumby.etl.parse import READ_SCHEMA

SITES = ("example.com", "www.example.org", "shop.example.net", "blog.example.co.uk")
SECTIONS = ("", "blog", "docs", "products", "help", "news", "pricing", "about")
IPV6_NETWORKS = ("2a02:c7f::/32", "2a01:c50f::/32", "2600:1700::/28")
ANDROID_MODELS = tuple(
    [f"SM-G{n}" for n in range(900, 1000, 3)]
    + [f"SM-A{n}5F" for n in range(10, 60)]
    + [f"Pixel {n}" for n in range(3, 10)]
    + [f"M{n}J{k}G" for n in range(2001, 2012) for k in range(1, 4)]
    + [f"SM-X{n}0" for n in range(20, 90, 5)]  # Galaxy Tab: tablets
)
BOTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.{n}; +https://openai.com/gptbot)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "curl/8.{n}.0",
    "python-requests/2.{n}.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/{n}.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "",
)
REFERRERS = (
    ("", 40),
    ("https://www.google.com/", 15),
    ("https://www.google.{tld}/", 5),
    ("https://www.bing.com/search?q=term{n}", 3),
    ("https://duckduckgo.com/", 2),
    ("https://t.co/{n}", 2),
    ("https://www.facebook.com/", 2),
    ("https://l.instagram.com/?u=x{n}", 1),
    ("https://news.ycombinator.com/item?id={n}", 1),
    ("https://www.reddit.com/r/sub{n}/", 2),
    ("https://mail.google.com/", 1),
    ("https://github.com/user{n}/repo", 1),
    ("https://partner{n}.example.net/links", 5),
    ("https://{site}/page{n}", 20),
)
CAMPAIGNS = (
    ("", 85),
    ("?utm_source=newsletter&utm_medium=email&utm_campaign=issue{n}", 4),
    ("?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=kw{n}&gclid=Cj0KCQ{n}", 4),
    ("?utm_source=twitter&utm_medium=social&utm_campaign=launch&utm_content=v{n}", 3),
    ("?fbclid=IwAR{n}", 2),
    ("?msclkid={n}&utm_source=bing&utm_medium=cpc", 1),
    ("?q=shoes&page={n}&utm_source=partner", 1),
)


def weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def make_user_agents(rng: random.Random, count: int) -> list[str]:
    """Distinct browser user agents (about 95%) and bot user agents (about 5%)."""
    seen: set[str] = set()
    while len(seen) < count:
        if rng.random() < 0.05:
            seen.add(rng.choice(BOTS).format(n=rng.randint(0, 400)))
            continue
        major, build, patch = rng.randint(90, 131), rng.randint(4000, 6800), rng.randint(0, 250)
        ios, ios_minor = rng.randint(12, 18), rng.randint(0, 7)
        template = rng.choice(
            (
                f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{major}.0.{build}.{patch} Safari/537.36",
                f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{major}.0.{build}.{patch} Safari/537.36 Edg/{major}.0.{build}.{patch}",
                f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_{ios_minor}) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{ios}.{ios_minor} Safari/605.1.15",
                f"Mozilla/5.0 (X11; Linux x86_64; rv:{major}.0) Gecko/20100101 Firefox/{major}.{ios_minor}",
                f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios}_{ios_minor} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{ios}.{ios_minor} Mobile/15E{patch} Safari/604.1",
                f"Mozilla/5.0 (iPad; CPU OS {ios}_{ios_minor} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{ios}.0 Mobile/15E{patch} Safari/604.1",
                f"Mozilla/5.0 (Linux; Android {rng.randint(9, 15)}; {rng.choice(ANDROID_MODELS)}) "
                f"AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.{build}.{patch} "
                "Mobile Safari/537.36",
                f"Mozilla/5.0 (Linux; Android {rng.randint(9, 15)}; {rng.choice(ANDROID_MODELS)}) "
                f"AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/{ios}.0 Chrome/{major}.0.0.0 "
                f"Mobile Safari/537.36",
                f"Mozilla/5.0 (Android {rng.randint(9, 15)}; Mobile; rv:{major}.0) Gecko/{major}.0 "
                f"Firefox/{major}.0",
            )
        )
        seen.add(template)
    return sorted(seen)


def make_ips(rng: random.Random, count: int) -> list[str]:
    """Distinct addresses the bundled database places in a city: ~88% IPv4, the rest IPv6."""
    reader = maxminddb.open_database(str(bundled_database()))
    found: set[str] = set()
    v6_networks = [ipaddress.ip_network(n) for n in IPV6_NETWORKS]
    while len(found) < count:
        if rng.random() < 0.12:
            net = rng.choice(v6_networks)
            address = str(
                ipaddress.IPv6Address(int(net.network_address) + rng.getrandbits(128 - net.prefixlen))
            )
        else:
            address = str(ipaddress.IPv4Address(rng.getrandbits(32)))
        record = reader.get(address)
        if record and "city" in record:
            found.add(address)
    reader.close()
    return sorted(found)


def uneven(rng_np: np.random.Generator, distinct: int, rows: int) -> np.ndarray:
    """Row codes covering every distinct value at least once, the rest drawn Zipf-like."""
    weights = 1.0 / np.arange(1, distinct + 1) ** 0.8
    rest = rng_np.choice(distinct, size=rows - distinct, p=weights / weights.sum())
    codes = np.concatenate([np.arange(distinct), rest])
    rng_np.shuffle(codes)
    return codes


def one_object_per_row(values: np.ndarray) -> pd.Series:
    """A column whose every row is its own str object, as a JSON reader makes them (repeated
    objects would let hashing reuse cached hashes and flatter the per-distinct-value work)."""
    return pd.Series([None if v is None else v.encode().decode() for v in values], dtype=object)


def make_hits(rows: int, seed: int) -> pd.DataFrame:
    rng, rng_np = random.Random(seed), np.random.default_rng(seed)
    started = time.perf_counter()
    uas = np.array(make_user_agents(rng, min(22_000, rows // 4)), dtype=object)
    ips = np.array(make_ips(rng, min(110_000, rows // 2)), dtype=object)
    pages = []
    for _ in range(min(60_000, rows // 4)):
        site = rng.choice(SITES)
        section = rng.choice(SECTIONS)
        path = f"/{section}/item-{rng.randint(1, 3000)}" if section else "/"
        pages.append(f"https://{site}{path}" + weighted(rng, CAMPAIGNS).format(n=rng.randint(1, 10**9)))
    referrers = [
        weighted(rng, REFERRERS).format(
            n=rng.randint(1, 5000), tld=rng.choice(("de", "co.uk", "fr", "com.br")), site=rng.choice(SITES)
        )
        or None
        for _ in range(min(30_000, rows // 8))
    ]
    frame = pd.DataFrame(
        {
            "id": pd.Series([f"h{n}" for n in range(rows)], dtype=object),
            "t": "visit",
            "dl": pd.Series(np.array(pages, dtype=object)[uneven(rng_np, len(pages), rows)], dtype=object),
            "dr": pd.Series(
                np.array(referrers, dtype=object)[uneven(rng_np, len(referrers), rows)], dtype=object
            ),
            "ip": pd.Series(ips[uneven(rng_np, len(ips), rows)], dtype=object),
            "ua": pd.Series(uas[uneven(rng_np, len(uas), rows)], dtype=object),
        }
    )
    frame["datetime"] = pd.Timestamp("2024-05-01") + pd.to_timedelta(np.arange(rows), unit="s")
    print(
        f"batch: {rows:,} hits; distinct: {frame['ua'].nunique():,} user agents, "
        f"{frame['ip'].nunique():,} IPs, {frame['dl'].nunique():,} page URLs, "
        f"{frame['dr'].nunique():,} referrers (made in {time.perf_counter() - started:.1f} s)"
    )
    return frame


def corpus_hits(rows: int, seed: int) -> pd.DataFrame:
    """The ETL benchmark's raw lines, read as the ETL reads them (Arrow-backed "str" columns)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as file:
        for _, line in iter_lines(rows, seed=seed):
            file.write(line)
        file.seek(0)
        options = pj.ParseOptions(explicit_schema=READ_SCHEMA, unexpected_field_behavior="ignore")
        table = pj.read_json(file, parse_options=options)
    frame = table.select(["id", "t", "dl", "dr", "ip", "ua"]).to_pandas()
    print(
        f"corpus: {rows:,} hits; distinct: {frame['ua'].nunique():,} user agents, "
        f"{frame['ip'].nunique():,} IPs, {frame['dl'].nunique():,} page URLs, "
        f"{frame['dr'].nunique():,} referrers (made in {time.perf_counter() - started:.1f} s)"
    )
    return frame


def in_batches(hits: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    """Batches as the pipeline hands them to the enricher: Arrow-backed "str" columns."""
    text = {name: "str" for name in ("id", "t", "dl", "dr", "ip", "ua")}
    return [hits.iloc[start : start + size].astype(text) for start in range(0, len(hits), size)]


def timed(label: str, work: Callable[[], object]) -> float:
    """Run ``work`` once; print wall and CPU seconds (CPU is steadier on a shared machine)."""
    started, started_cpu = time.perf_counter(), time.process_time()
    work()
    seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    print(f"  {label:<40} {seconds:7.3f} s wall {cpu:7.3f} s CPU")
    return seconds


def time_each_enricher(settings, batches: list[pd.DataFrame]) -> None:
    """Each enricher over every batch of a run, with a fresh Enricher (cold caches)."""
    enricher = Enricher(settings)
    pages, referrers = [], []

    def page_and_campaign():
        for batch in batches:
            encoded = Encoded.of(batch["dl"])
            pages.append(Answers.null_when_missing(encoded, describe_locations(encoded.values)))
            pages[-1].spread(["site", "page_path", "page_query", "utm_source", "click_id_type"], batch.index)

    def referrer():
        for batch in batches:
            encoded = Encoded.of(batch["dr"])
            referrers.append(Answers.null_when_missing(encoded, describe_referrers(encoded.values)))
            referrers[-1].spread(["referrer_domain"], batch.index)

    print(f"per enricher ({len(batches)} batches, cold caches):")
    timed("page + campaign (dl)", page_and_campaign)
    timed("referrer (dr)", referrer)
    timed("geo (ip)", lambda: [enricher.geo.locate_series(b["ip"]) for b in batches])
    timed("agent + bots (ua)", lambda: [enricher.agents.describe_series(b["ua"]) for b in batches])
    timed(
        "channel and source",
        lambda: [
            channels_and_sources(p, r, b.index) for p, r, b in zip(pages, referrers, batches, strict=True)
        ],
    )
    timed("privacy: anonymise_ips", lambda: [anonymise_ips(b["ip"], "anonymised") for b in batches])
    enricher.close()


def run_of(enricher: Enricher, batches: list[pd.DataFrame]) -> None:
    for batch in batches:
        enriched = enricher.enrich(batch)
        anonymise_ips(enriched["ip"], "anonymised")


def compare_ua_matchers(uas: list[str]) -> None:
    """ua-parser's Rust matcher against its pure-Python one, on the same strings, no cache."""
    from ua_parser import Parser, load_builtins, load_lazy_builtins
    from ua_parser.basic import Resolver as PurePython
    from ua_parser.regex import Resolver as Rust

    print(f"ua-parser matchers on {len(uas):,} distinct user agents (all domains, no cache):")
    rust = Parser(Rust(load_lazy_builtins()))
    pure = Parser(PurePython(load_builtins()))
    fast = timed("ua-parser-rs (Rust regex)", lambda: [rust.parse(u) for u in uas])
    slow = timed("pure Python (re)", lambda: [pure.parse(u) for u in uas])
    print(f"  Rust is {slow / fast:.0f}x faster")
    agents = AgentParser()
    timed("crumby's describe: parse + bot set + device", lambda: [agents.describe(u) for u in uas])


def compare_geo_lookups(geo, ips: list[str]) -> None:
    """One maxminddb lookup per address against the batch walk that decodes each record once."""
    print(f"GeoIP on {len(ips):,} distinct IPs:")
    timed("one lookup per address", lambda: [geo.locate(ip) for ip in ips])
    geo._record_of_ip.clear()
    geo._records.clear()
    timed("batch tree walk, one decode per record", lambda: geo.locate_series(pd.Series(ips, dtype=object)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=200_000)
    parser.add_argument("--corpus", action="store_true", help="the ETL benchmark's corpus (bench/corpus.py)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    hits = corpus_hits(args.rows, args.seed) if args.corpus else make_hits(args.rows, args.seed)
    batches = in_batches(hits, args.batch_rows)
    settings = load_settings(environ={}, overrides={"DATA_DIR": Path(tempfile.mkdtemp())})
    started = time.perf_counter()
    enricher = Enricher(settings)
    print(f"Enricher opened in {time.perf_counter() - started:.3f} s: {enricher.provenance}")
    enricher.close()

    time_each_enricher(settings, batches)

    print(f"whole run: Enricher.enrich and anonymise_ips per batch of {args.batch_rows:,}:")
    enricher = Enricher(settings)
    total = timed("a run (cold caches)", lambda: run_of(enricher, batches))
    timed("the same batches again (warm caches)", lambda: run_of(enricher, batches))
    enricher.close()
    print(f"  {'hits/s, cold run':<40} {len(hits) / total:,.0f}")
    enricher = Enricher(settings)
    as_objects = batches[0].astype({name: object for name in ("dl", "dr", "ip", "ua")})
    timed("one batch of object columns (cold)", lambda: run_of(enricher, [as_objects]))

    compare_ua_matchers(sorted(hits["ua"].dropna().unique())[:3000])
    compare_geo_lookups(enricher.geo, sorted(hits["ip"].dropna().unique())[:30000])
    enricher.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (all hits, batches, copies and caches included): {peak:,.0f} MiB")


if __name__ == "__main__":
    sys.exit(main())

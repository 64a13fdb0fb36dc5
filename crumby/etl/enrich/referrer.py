"""Where a visit came from: the referrer's domain and, for well-known ones, a source name and kind.

The referrer is ``dr`` (document.referrer as the tracker sent it). Its domain
is normalised as the page's site is (lowercase, no port, no leading www.).
A source is named when the referrer is a known search engine, social network,
webmail, ad server or site (or, for Android apps, the app's package id), from
Snowplow's referers.yml with crumby's additions on top (lists.py);
campaign links without one are named by their ``utm_source`` or click id.
How these become a channel is channel.py's job.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc
from publicsuffixlist import PublicSuffixList

from .distinct import the_careful_way
from .lists import REFERER_PARSER_REFERERS, additions, read_yaml
from .page import host_of, split_url
from .urls import split_urls

MAX_SOURCE = 128

SEARCH, SOCIAL, EMAIL, REFERRAL, PAID = "search", "social", "email", "referral", "paid"
# referers.yml's mediums as crumby's kinds: an AI assistant ("chatbot") or a source of unknown
# medium is a named referral
MEDIUM_KINDS = {SEARCH: SEARCH, SOCIAL: SOCIAL, EMAIL: EMAIL, PAID: PAID}


def _host_key(domain: str) -> str:
    """A listed domain as describe_host sees hosts: lowercase, without path or leading www."""
    host = domain.strip().lower().split("/", 1)[0]
    return host[4:] if host.startswith("www.") else host


def known_hosts() -> dict[str, tuple[str, str]]:
    """host -> (source name, kind), from referers.yml, then crumby's additions over it. A domain
    listed with a path there (google.com/imgres) counts for its host when the host has no entry."""
    found: dict[str, tuple[str, str]] = {}
    with_path: dict[str, tuple[str, str]] = {}
    for medium, sources in read_yaml(REFERER_PARSER_REFERERS).items():
        for name, source in sources.items():
            for domain in source.get("domains", []):
                place = with_path if "/" in domain else found
                place.setdefault(_host_key(domain), (name, MEDIUM_KINDS.get(medium, REFERRAL)))
    for host, answer in with_path.items():
        found.setdefault(host, answer)
    for kind, sources in additions()["referrers"].items():
        for name, hosts in sources.items():
            found.update({_host_key(host): (name, kind) for host in hosts})
    return found


KNOWN_HOSTS = known_hosts()
NOT_SEARCH_SUBDOMAINS = frozenset(additions()["not_search_subdomains"])
# Search engines on many country domains (google.de, yandex.ru, ...): matched by the registrable
# domain's first label, after KNOWN_HOSTS had its say, and only for that domain itself: maps.google.de
# is Google, but not search.
SEARCH_BRANDS = {
    "google": "Google",
    "bing": "Bing",
    "yahoo": "Yahoo",
    "yandex": "Yandex",
    "baidu": "Baidu",
    "pinterest": "Pinterest",
}
BRAND_KINDS = {"pinterest": SOCIAL}
# utm_source values (lowercase) -> source name, for campaign links without a known referrer.
UTM_SOURCE_NAMES = {
    "google": "Google",
    "bing": "Bing",
    "duckduckgo": "DuckDuckGo",
    "facebook": "Facebook",
    "fb": "Facebook",
    "instagram": "Instagram",
    "ig": "Instagram",
    "twitter": "X/Twitter",
    "x": "X/Twitter",
    "linkedin": "LinkedIn",
    "reddit": "Reddit",
    "youtube": "YouTube",
    "yt": "YouTube",
    "hn": "Hacker News",
    "hackernews": "Hacker News",
    "github": "GitHub",
    "newsletter": "Newsletter",
    "email": "Newsletter",
    "mailchimp": "Newsletter",
}

# The platform each click id comes from.
CLICK_ID_SOURCES = {
    "gclid": "Google",
    "gbraid": "Google",
    "wbraid": "Google",
    "dclid": "Google",
    "msclkid": "Bing",
    "fbclid": "Facebook",
    "igshid": "Instagram",
    "ttclid": "TikTok",
    "twclid": "X/Twitter",
    "li_fat_id": "LinkedIn",
    "yclid": "Yandex",
    "epik": "Pinterest",
    "sccid": "Snapchat",
    "rdt_cid": "Reddit",
    "mc_eid": "Newsletter",
}

_psl: PublicSuffixList | None = None


def _public_suffixes() -> PublicSuffixList:
    global _psl
    if _psl is None:
        _psl = PublicSuffixList()
    return _psl


@lru_cache(maxsize=65536)
def registrable_domain(host: str) -> str:
    """example.co.uk for shop.example.co.uk (Public Suffix List); an IP or bare name stays itself."""
    if host[-1].isdigit() or ":" in host:
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
    return _public_suffixes().privatesuffix(host) or host


def known_source(host: str, registrable: str) -> tuple[str, str] | None:
    """(name, kind) of a well-known referrer host, or None."""
    labels = host.split(".")
    for start in range(len(labels) - 1):
        found = KNOWN_HOSTS.get(".".join(labels[start:]))
        if found:
            if start and found[1] == SEARCH and labels[0] in NOT_SEARCH_SUBDOMAINS:
                return found[0], REFERRAL
            return found
    brand = registrable.split(".", 1)[0]
    if brand in SEARCH_BRANDS:
        searches = host == registrable or labels[0] not in NOT_SEARCH_SUBDOMAINS
        kind = BRAND_KINDS.get(brand, SEARCH) if searches else REFERRAL
        return SEARCH_BRANDS[brand], kind
    if labels[0] == "webmail":
        return "Webmail", EMAIL
    return None


REFERRER_FIELDS = ("referrer_domain", "registrable", "name", "kind")


def describe_referrer(url: str) -> tuple[str | None, str | None, str | None, str | None]:
    """REFERRER_FIELDS of one referrer URL."""
    parts = split_url(url)
    if parts is None:
        return (None, None, None, None)
    host = host_of(parts)
    if host is None:
        return (None, None, None, None)
    return (host, *describe_host(host))


@lru_cache(maxsize=65536)
def describe_host(host: str) -> tuple[str, str | None, str | None]:
    """(registrable domain, source name, kind) of a referrer's host."""
    registrable = registrable_domain(host)
    name, kind = known_source(host, registrable) or (None, None)
    return registrable, name, kind


def describe_referrers(urls: pa.Array) -> dict[str, pa.Array]:
    """REFERRER_FIELDS of each of ``urls`` (distinct, none null), as Arrow arrays in their order:
    split with Arrow, then one Python step per distinct host; URLs that are not plain go the
    careful way, one by one."""
    split = split_urls(urls)
    hosts = pc.dictionary_encode(split.site)
    facts = [describe_host(host) for host in hosts.dictionary.to_pylist()]
    columns = {"referrer_domain": split.site}
    for n, name in enumerate(REFERRER_FIELDS[1:]):
        columns[name] = pa.array([fact[n] for fact in facts], type=pa.string()).take(hosts.indices)
    the_careful_way(columns, urls, ~split.plain, describe_referrer)
    return columns


@lru_cache(maxsize=4096)
def campaign_source_name(source: str | None, medium_kind: str | None, click_id: str | None) -> str | None:
    """A source name from the campaign: a known alias or the utm_source as written; else the
    platform of the click id (in-app browsers often send no referrer), or Newsletter for email."""
    if source:
        lowered = source.lower()
        if lowered in UTM_SOURCE_NAMES:
            return UTM_SOURCE_NAMES[lowered]
        parts = split_url("//" + lowered)
        host = host_of(parts) if parts else None
        if host and "." in host:
            found = known_source(host, registrable_domain(host))
            if found:
                return found[0]
        return source[:MAX_SOURCE]
    if click_id in CLICK_ID_SOURCES:
        return CLICK_ID_SOURCES[click_id]
    return "Newsletter" if medium_kind == EMAIL else None

"""Where a visit came from: the referrer's domain and, for well-known ones, a source name and kind.

The referrer is ``dr`` (document.referrer as the tracker sent it). Its domain
is normalised as the page's site is (lowercase, no port, no leading www.).
A source is named when the referrer is a well-known search engine, social
network, webmail or site (or, for Android apps, the app's package id);
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
from .page import host_of, split_url
from .urls import split_urls

MAX_SOURCE = 128

SEARCH, SOCIAL, EMAIL, REFERRAL = "search", "social", "email", "referral"

# host (or a parent domain of it) -> (source name, kind); the most specific host wins.
KNOWN_HOSTS: dict[str, tuple[str, str]] = {
    # search engines (country domains of the big ones are matched by brand below)
    "duckduckgo.com": ("DuckDuckGo", SEARCH),
    "search.brave.com": ("Brave Search", SEARCH),
    "ecosia.org": ("Ecosia", SEARCH),
    "qwant.com": ("Qwant", SEARCH),
    "startpage.com": ("Startpage", SEARCH),
    "search.aol.com": ("AOL", SEARCH),
    "ask.com": ("Ask", SEARCH),
    "kagi.com": ("Kagi", SEARCH),
    "mojeek.com": ("Mojeek", SEARCH),
    "naver.com": ("Naver", SEARCH),
    "seznam.cz": ("Seznam", SEARCH),
    "sogou.com": ("Sogou", SEARCH),
    "so.com": ("Qihoo 360", SEARCH),
    "com.google.android.googlequicksearchbox": ("Google", SEARCH),
    # social networks and forums
    "facebook.com": ("Facebook", SOCIAL),
    "fb.com": ("Facebook", SOCIAL),
    "fb.me": ("Facebook", SOCIAL),
    "messenger.com": ("Facebook", SOCIAL),
    "com.facebook.katana": ("Facebook", SOCIAL),
    "instagram.com": ("Instagram", SOCIAL),
    "com.instagram.android": ("Instagram", SOCIAL),
    "twitter.com": ("X/Twitter", SOCIAL),
    "x.com": ("X/Twitter", SOCIAL),
    "t.co": ("X/Twitter", SOCIAL),
    "com.twitter.android": ("X/Twitter", SOCIAL),
    "linkedin.com": ("LinkedIn", SOCIAL),
    "lnkd.in": ("LinkedIn", SOCIAL),
    "com.linkedin.android": ("LinkedIn", SOCIAL),
    "reddit.com": ("Reddit", SOCIAL),
    "redd.it": ("Reddit", SOCIAL),
    "com.reddit.frontpage": ("Reddit", SOCIAL),
    "youtube.com": ("YouTube", SOCIAL),
    "youtu.be": ("YouTube", SOCIAL),
    "com.google.android.youtube": ("YouTube", SOCIAL),
    "news.ycombinator.com": ("Hacker News", SOCIAL),
    "lobste.rs": ("Lobsters", SOCIAL),
    "tiktok.com": ("TikTok", SOCIAL),
    "threads.net": ("Threads", SOCIAL),
    "bsky.app": ("Bluesky", SOCIAL),
    "mastodon.social": ("Mastodon", SOCIAL),
    "mstdn.social": ("Mastodon", SOCIAL),
    "fosstodon.org": ("Mastodon", SOCIAL),
    "vk.com": ("VK", SOCIAL),
    "ok.ru": ("Odnoklassniki", SOCIAL),
    "weibo.com": ("Weibo", SOCIAL),
    "quora.com": ("Quora", SOCIAL),
    "tumblr.com": ("Tumblr", SOCIAL),
    "snapchat.com": ("Snapchat", SOCIAL),
    "xing.com": ("XING", SOCIAL),
    "producthunt.com": ("Product Hunt", SOCIAL),
    "discord.com": ("Discord", SOCIAL),
    "discordapp.com": ("Discord", SOCIAL),
    "t.me": ("Telegram", SOCIAL),
    "web.telegram.org": ("Telegram", SOCIAL),
    "org.telegram.messenger": ("Telegram", SOCIAL),
    "whatsapp.com": ("WhatsApp", SOCIAL),
    "wa.me": ("WhatsApp", SOCIAL),
    "slack.com": ("Slack", SOCIAL),
    "com.slack": ("Slack", SOCIAL),
    # webmail and mail apps
    "mail.google.com": ("Gmail", EMAIL),
    "inbox.google.com": ("Gmail", EMAIL),
    "com.google.android.gm": ("Gmail", EMAIL),
    "outlook.live.com": ("Outlook", EMAIL),
    "outlook.office.com": ("Outlook", EMAIL),
    "outlook.office365.com": ("Outlook", EMAIL),
    "com.microsoft.office.outlook": ("Outlook", EMAIL),
    "mail.yahoo.com": ("Yahoo Mail", EMAIL),
    "mail.proton.me": ("Proton Mail", EMAIL),
    "mail.protonmail.com": ("Proton Mail", EMAIL),
    "mail.aol.com": ("AOL Mail", EMAIL),
    "mail.zoho.com": ("Zoho Mail", EMAIL),
    "app.fastmail.com": ("Fastmail", EMAIL),
    "mail.yandex.ru": ("Yandex Mail", EMAIL),
    "mail.yandex.com": ("Yandex Mail", EMAIL),
    "mail.gmx.net": ("GMX", EMAIL),
    "mail.gmx.com": ("GMX", EMAIL),
    # well-known sites: referral, but worth a name
    "github.com": ("GitHub", REFERRAL),
    "gitlab.com": ("GitLab", REFERRAL),
    "stackoverflow.com": ("Stack Overflow", REFERRAL),
    "wikipedia.org": ("Wikipedia", REFERRAL),
    "medium.com": ("Medium", REFERRAL),
    "substack.com": ("Substack", REFERRAL),
    "news.google.com": ("Google News", REFERRAL),
    "chatgpt.com": ("ChatGPT", REFERRAL),
    "chat.openai.com": ("ChatGPT", REFERRAL),
    "perplexity.ai": ("Perplexity", REFERRAL),
    "claude.ai": ("Claude", REFERRAL),
    "gemini.google.com": ("Gemini", REFERRAL),
    "copilot.microsoft.com": ("Copilot", REFERRAL),
}
# Search engines on many country domains (google.de, yandex.ru, ...): matched by the registrable
# domain's first label, after KNOWN_HOSTS had its say (so mail.google.com stays Gmail).
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
            return found
    brand = registrable.split(".", 1)[0]
    if brand in SEARCH_BRANDS:
        return SEARCH_BRANDS[brand], BRAND_KINDS.get(brand, SEARCH)
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

"""Referrer domain, source name and channel, from document.referrer and the page's campaign."""

from __future__ import annotations

import pytest
from enrich_frames import enriched_rows, new_enricher

from crumby.etl.enrich.referrer import describe_referrer, registrable_domain

PAGE = "https://example.com/pricing"

# (page URL, document.referrer) -> (referrer_domain, referrer_source, channel)
# fmt: off
CASES = [
    ((PAGE, None), (None, None, "direct")),
    ((PAGE, ""), (None, None, "direct")),
    ((PAGE, "https://www.google.com/"), ("google.com", "Google", "search")),
    ((PAGE, "https://www.google.co.uk/search?q=crumby"), ("google.co.uk", "Google", "search")),
    ((PAGE, "https://www.bing.com/search?q=crumby"), ("bing.com", "Bing", "search")),
    ((PAGE, "https://duckduckgo.com/"), ("duckduckgo.com", "DuckDuckGo", "search")),
    ((PAGE, "https://l.facebook.com/l.php?u=x"), ("l.facebook.com", "Facebook", "social")),
    ((PAGE, "https://t.co/AbC123"), ("t.co", "X/Twitter", "social")),
    ((PAGE, "https://x.com/someone/status/1"), ("x.com", "X/Twitter", "social")),
    ((PAGE, "https://www.linkedin.com/feed/"), ("linkedin.com", "LinkedIn", "social")),
    ((PAGE, "https://old.reddit.com/r/python/"), ("old.reddit.com", "Reddit", "social")),
    ((PAGE, "https://m.youtube.com/watch?v=1"), ("m.youtube.com", "YouTube", "social")),
    ((PAGE, "https://l.instagram.com/"), ("l.instagram.com", "Instagram", "social")),
    ((PAGE, "https://news.ycombinator.com/item?id=1"), ("news.ycombinator.com", "Hacker News", "social")),
    ((PAGE, "https://github.com/someone/repo"), ("github.com", "GitHub", "referral")),
    ((PAGE, "https://mail.google.com/mail/u/0/"), ("mail.google.com", "Gmail", "email")),
    ((PAGE, "https://outlook.live.com/mail/0/"), ("outlook.live.com", "Outlook", "email")),
    ((PAGE, "android-app://com.google.android.gm/"), ("com.google.android.gm", "Gmail", "email")),
    ((PAGE, "https://blog.someone.net/post"), ("blog.someone.net", None, "referral")),
    ((PAGE, "https://192.168.1.1:8080/admin"), ("192.168.1.1", None, "referral")),
    ((PAGE, "not a url"), (None, None, "direct")),
    # the site itself, www or not, and subdomains of the same registrable domain
    (("https://example.com/a", "https://www.example.com/b"), ("example.com", None, "internal")),
    (("https://shop.example.co.uk/a", "https://blog.example.co.uk/b"),
     ("blog.example.co.uk", None, "internal")),
    (("https://shop.example.co.uk/a", "https://other.co.uk/b"), ("other.co.uk", None, "referral")),
    (("http://localhost:5000/", "http://localhost:5000/x"), ("localhost", None, "internal")),
    # campaigns: paid by medium or ad click id, email, social; the source from utm_source or click id
    ((f"{PAGE}?utm_source=google&utm_medium=cpc&gclid=x", "https://www.google.com/"),
     ("google.com", "Google", "paid")),
    ((f"{PAGE}?gclid=x", "https://www.google.com/"), ("google.com", "Google", "paid")),
    ((f"{PAGE}?msclkid=x", None), (None, "Bing", "paid")),
    ((f"{PAGE}?utm_medium=paid_social&utm_source=fb", "https://m.facebook.com/"),
     ("m.facebook.com", "Facebook", "paid")),
    ((f"{PAGE}?fbclid=IwAR1", "https://l.facebook.com/"), ("l.facebook.com", "Facebook", "social")),
    ((f"{PAGE}?fbclid=IwAR1", None), (None, "Facebook", "social")),
    ((f"{PAGE}?utm_source=newsletter&utm_medium=email&utm_campaign=may", None),
     (None, "Newsletter", "email")),
    ((f"{PAGE}?utm_source=Weekly+Digest&utm_medium=newsletter", None), (None, "Weekly Digest", "email")),
    ((f"{PAGE}?mc_eid=abc&mc_cid=def", None), (None, "Newsletter", "email")),
    ((f"{PAGE}?utm_source=twitter&utm_medium=social", None), (None, "X/Twitter", "social")),
    ((f"{PAGE}?utm_source=some-partner", None), (None, "some-partner", "referral")),
    # webmail, from the maintained list and crumby's additions
    ((PAGE, "https://deref-gmx.net/mail/client/x"), ("deref-gmx.net", "GMX", "email")),
    ((PAGE, "https://navigator.web.de/"), ("navigator.web.de", "Web.de", "email")),
    ((PAGE, "https://e.mail.ru/inbox/"), ("e.mail.ru", "Mail.ru", "email")),
    ((PAGE, "https://fr.mail.yahoo.com/d/folders/1"), ("fr.mail.yahoo.com", "Yahoo Mail", "email")),
    # social sites
    ((PAGE, "https://www.threads.net/@someone"), ("threads.net", "Threads", "social")),
    ((PAGE, "https://vk.com/wall1"), ("vk.com", "VK", "social")),
    ((PAGE, "https://ok.ru/group/1"), ("ok.ru", "Odnoklassniki", "social")),
    ((PAGE, "https://vimeo.com/1234"), ("vimeo.com", "Vimeo", "social")),
    ((PAGE, "https://t.umblr.com/redirect?z=x"), ("t.umblr.com", "Tumblr", "social")),
    # Google hosts that are not its search
    ((PAGE, "https://maps.google.com/"), ("maps.google.com", "Google", "referral")),
    ((PAGE, "https://support.google.com/a"), ("support.google.com", "Google", "referral")),
    ((PAGE, "https://maps.google.de/"), ("maps.google.de", "Google", "referral")),
    ((PAGE, "https://www.google.de/"), ("google.de", "Google", "search")),
    # an ad server is paid; a paid click is paid whatever the referrer
    ((PAGE, "https://googleads.g.doubleclick.net/pagead/ads"),
     ("googleads.g.doubleclick.net", "Google", "paid")),
    ((f"{PAGE}?msclkid=x", "https://www.facebook.com/"), ("facebook.com", "Facebook", "paid")),
    ((f"{PAGE}?utm_medium=ppc", "https://mail.google.com/"), ("mail.google.com", "Gmail", "paid")),
    # an AI assistant is a named referral
    ((PAGE, "https://chatgpt.com/"), ("chatgpt.com", "ChatGPT", "referral")),
    # an internal link with campaign tags stays internal
    (("https://example.com/?utm_source=x&utm_medium=cpc", "https://example.com/b"),
     ("example.com", None, "internal")),
]
# fmt: on


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    enricher = new_enricher(tmp_path_factory.mktemp("referrer"))
    try:
        return enriched_rows(enricher, [{"dl": dl, "dr": dr} for (dl, dr), _ in CASES])
    finally:
        enricher.close()


@pytest.mark.parametrize("case", range(len(CASES)), ids=lambda n: f"{CASES[n][0][1]} -> {CASES[n][0][0]}")
def test_referrer_source_and_channel(rows, case):
    expected = CASES[case][1]
    row = rows[case]
    assert (row["referrer_domain"], row["referrer_source"], row["channel"]) == expected


def test_referrer_comes_from_dr_not_the_referer_header(tmp_path):
    enricher = new_enricher(tmp_path)
    try:
        (row,) = enriched_rows(enricher, [{"dl": PAGE, "dr": None, "referer": "https://www.google.com/"}])
    finally:
        enricher.close()
    assert (row["referrer_domain"], row["channel"]) == (None, "direct")


def test_registrable_domain_follows_the_public_suffix_list():
    assert registrable_domain("blog.example.co.uk") == "example.co.uk"
    assert registrable_domain("news.ycombinator.com") == "ycombinator.com"
    assert registrable_domain("someone.github.io") == "someone.github.io"
    assert registrable_domain("10.1.2.3") == "10.1.2.3"
    assert registrable_domain("localhost") == "localhost"


def test_referrer_domain_drops_www_port_and_case():
    assert describe_referrer("HTTPS://WWW.Example.ORG:8443/x?y=1")[0] == "example.org"

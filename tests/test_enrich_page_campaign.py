"""Site, path and clean query of the page; UTM values and click ids from its URL."""

from __future__ import annotations

import pytest
from enrich_frames import enriched_rows, new_enricher

from crumby.etl.enrich.campaign import CAMPAIGN_COLUMNS, describe_campaign, medium_kind
from crumby.etl.enrich.page import clean_query, describe_page, split_url


def page(url: str) -> tuple:
    return describe_page(split_url(url))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/", ("example.com", "/", None)),
        ("https://example.com", ("example.com", "/", None)),
        ("https://WWW.Example.COM:8443/Docs/Start?b=2&a=1#intro", ("example.com", "/Docs/Start", "a=1&b=2")),
        ("http://blog.example.co.uk./post/1", ("blog.example.co.uk", "/post/1", None)),
        ("https://www2.example.com/x", ("www2.example.com", "/x", None)),
        ("https://user:pw@example.com/private", ("example.com", "/private", None)),
        ("http://[2001:db8::1]:8080/v6", ("2001:db8::1", "/v6", None)),
        (
            "https://example.com/s?q=caf%C3%A9&utm_source=x&page=2",
            ("example.com", "/s", "page=2&q=caf%C3%A9"),
        ),
        ("https://example.com/?utm_source=news&gclid=abc&fbclid=def&_ga=1.2", ("example.com", "/", None)),
        ("https://example.com/?UTM_Source=news&keep=1", ("example.com", "/", "keep=1")),
        ("https://example.com/?b=1&a=2&b=0&flag", ("example.com", "/", "a=2&b=1&b=0&flag")),
        ("/relative/path?x=1", (None, "/relative/path", "x=1")),
        ("http://[broken/x", (None, None, None)),
    ],
)
def test_page_site_path_and_query(url, expected):
    assert page(url) == expected


def test_clean_query_keeps_the_encoding_it_came_with():
    assert clean_query("z=a+b&y=%2F&utm_medium=cpc") == "y=%2F&z=a+b"
    assert clean_query("") is None
    assert clean_query("&&utm_campaign=x&") is None


# query -> (utm_source, utm_medium, utm_campaign, utm_term, utm_content, click_id_type), campaign kind
@pytest.mark.parametrize(
    ("query", "fields", "kind"),
    [
        ("", (None, None, None, None, None, None), None),
        ("a=1", (None, None, None, None, None, None), None),
        (
            "utm_source=newsletter&utm_medium=email&utm_campaign=May+2024&utm_term=t&utm_content=top+link",
            ("newsletter", "email", "May 2024", "t", "top link", None),
            "email",
        ),
        ("utm_source=google&utm_medium=cpc&gclid=Cj0K", ("google", "cpc", None, None, None, "gclid"), "paid"),
        ("gbraid=x", (None, None, None, None, None, "gbraid"), "paid"),
        ("wbraid=x", (None, None, None, None, None, "wbraid"), "paid"),
        ("dclid=x", (None, None, None, None, None, "dclid"), "paid"),
        ("msclkid=x", (None, None, None, None, None, "msclkid"), "paid"),
        ("ttclid=x", (None, None, None, None, None, "ttclid"), "paid"),
        ("twclid=x", (None, None, None, None, None, "twclid"), "paid"),
        ("li_fat_id=x", (None, None, None, None, None, "li_fat_id"), "paid"),
        ("yclid=x", (None, None, None, None, None, "yclid"), "paid"),
        ("fbclid=x", (None, None, None, None, None, "fbclid"), "social"),
        ("mc_eid=x&mc_cid=y", (None, None, None, None, None, "mc_eid"), "email"),
        ("fbclid=x&gclid=y", (None, None, None, None, None, "gclid"), "paid"),  # the ad platform's id wins
        ("utm_medium=social&fbclid=x", (None, "social", None, None, None, "fbclid"), "social"),
        ("UTM_SOURCE=Big&utm_source=second", ("Big", None, None, None, None, None), None),  # first one counts
        ("utm_source=+&utm_medium=", (None, None, None, None, None, None), None),  # blank is absent
    ],
)
def test_campaign_fields_and_kind(query, fields, kind):
    assert describe_campaign(query) == (fields, kind)


@pytest.mark.parametrize(
    ("medium", "kind"),
    [
        ("cpc", "paid"),
        ("PPC", "paid"),
        ("paid", "paid"),
        ("paidsearch", "paid"),
        ("paid_social", "paid"),
        ("social-paid", "paid"),
        ("display", "paid"),
        ("cpm", "paid"),
        ("email", "email"),
        ("e-mail", "email"),
        ("Newsletter", "email"),
        ("social", "social"),
        ("social-media", "social"),
        ("organic", "search"),
        ("referral", None),
        ("", None),
        (None, None),
    ],
)
def test_medium_kinds(medium, kind):
    assert medium_kind(medium) == kind


def test_long_campaign_values_are_cut_to_fit_the_store():
    (source, *_), _ = describe_campaign("utm_source=" + "x" * 1000)
    assert source == "x" * 255


def test_enrich_fills_page_and_campaign_columns(tmp_path):
    url = "https://www.shop.example/p/42?color=red&utm_source=ig&utm_medium=social&utm_campaign=drop&igshid=z"
    enricher = new_enricher(tmp_path)
    try:
        (row, empty) = enriched_rows(enricher, [{"dl": url}, {"dl": None}])
    finally:
        enricher.close()
    assert (row["site"], row["page_path"], row["page_query"]) == ("shop.example", "/p/42", "color=red")
    assert [row[name] for name in CAMPAIGN_COLUMNS] == ["ig", "social", "drop", None, None, "igshid"]
    assert (row["referrer_source"], row["channel"]) == ("Instagram", "social")
    assert all(empty[name] is None for name in ("site", "page_path", "page_query", *CAMPAIGN_COLUMNS))

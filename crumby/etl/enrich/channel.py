"""The channel and source of every hit, from the distinct pages' and referrers' facts.

The channel is, first match:

- internal: the referrer is the page's own site or a subdomain of the same
  registrable domain (blog.example.co.uk -> shop.example.co.uk);
- paid: ``utm_medium`` says cpc/ppc/paid/display..., or an ad platform's click id, or the
  referrer is an ad server (googleadservices.com, doubleclick.net, ...);
- search, social, email: by the referrer's kind, else by ``utm_medium``
  (email/newsletter, social, organic);
- referral: any other referrer, or a ``utm_source`` without a referrer;
- direct: nothing at all.

The source is the referrer's name when it is a known one, else the
campaign's; internal hits have none. Everything here works on small
per-distinct-value arrays and integer codes, so a million rows cost a few
numpy takes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .distinct import Answers, to_series

CHANNEL_COLUMNS = ("referrer_source", "channel")
CHANNELS = pa.array(
    ["direct", "internal", "paid", "search", "social", "email", "referral"], type=pa.large_string()
)
KINDS = pa.array(["paid", "search", "social", "email", "referral"], type=pa.string())
NONE, PAID, SEARCH, SOCIAL, EMAIL, REFERRAL = range(6)


def _kinds(kinds: pa.Array) -> np.ndarray:
    """Kind names as small integers (NONE for null)."""
    return pc.fill_null(pc.index_in(kinds, value_set=KINDS), -1).to_numpy().astype(np.int8) + 1


def _present(values: pa.Array) -> np.ndarray:
    return values.is_valid().to_numpy(zero_copy_only=False)


def channels_and_sources(pages: Answers, referrers: Answers, index: pd.Index) -> dict[str, pd.Series]:
    """referrer_source and channel per row.

    ``pages`` answers site_registrable, campaign_kind, campaign_source and utm_source per page URL;
    ``referrers`` registrable, kind and name per referrer.
    """
    site_registrable = pages.columns["site_registrable"]
    referrer_registrable = referrers.columns["registrable"]
    # one id per registrable domain across both sides, so rows compare integers, not strings
    both = pc.dictionary_encode(
        pa.concat_arrays([site_registrable, referrer_registrable.cast(site_registrable.type)])
    )
    ids = pc.fill_null(both.indices, -1).to_numpy()
    page_rows, referrer_rows = pages.rows, referrers.rows
    site_id = ids[: len(site_registrable)][page_rows]
    referrer_id = ids[len(site_registrable) :][referrer_rows]

    has_referrer = referrer_id >= 0
    internal = has_referrer & (referrer_id == site_id)
    referrer_kind = _kinds(referrers.columns["kind"])[referrer_rows]
    campaign_kind = _kinds(pages.columns["campaign_kind"])[page_rows]
    has_campaign_source = _present(pages.columns["utm_source"])[page_rows]
    chosen = np.select(
        [
            internal,
            (campaign_kind == PAID) | (referrer_kind == PAID),
            referrer_kind == SEARCH,
            referrer_kind == SOCIAL,
            (referrer_kind == EMAIL) | (campaign_kind == EMAIL),
            campaign_kind == SOCIAL,
            campaign_kind == SEARCH,
            has_referrer | has_campaign_source,
        ],
        [1, 2, 3, 4, 5, 4, 3, 6],
        default=0,
    )

    referrer_names = referrers.columns["name"]
    campaign_sources = pages.columns["campaign_source"]
    names = pa.concat_arrays([referrer_names, campaign_sources.cast(referrer_names.type)])
    named = _present(referrer_names)[referrer_rows]
    nobody = len(referrer_names) - 1  # the missing referrer's slot: None
    source = np.where(internal, nobody, np.where(named, referrer_rows, len(referrer_names) + page_rows))
    return {
        "referrer_source": to_series(names.take(pa.array(source)), index),
        "channel": to_series(CHANNELS.take(pa.array(chosen.astype(np.int8))), index),
    }

"""The channel and source of every hit, from the distinct pages' and referrers' facts.

The channel is, first match:

- internal: the referrer is the page's own site or a subdomain of the same
  registrable domain (blog.example.co.uk -> shop.example.co.uk);
- paid: ``utm_medium`` says cpc/ppc/paid/display..., or an ad platform's click id;
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

from .distinct import Distinct

CHANNEL_COLUMNS = ("referrer_source", "channel")
CHANNELS = np.array(["direct", "internal", "paid", "search", "social", "email", "referral"], dtype=object)
KIND_CODES = {None: 0, "paid": 1, "search": 2, "social": 3, "email": 4, "referral": 5}
NONE, PAID, SEARCH, SOCIAL, EMAIL, REFERRAL = range(6)


def _kinds(kinds: np.ndarray) -> np.ndarray:
    return np.array([KIND_CODES[kind] for kind in kinds], dtype=np.int8)


def _present(values: np.ndarray) -> np.ndarray:
    return np.array([value is not None for value in values], dtype=bool)


def _positions(codes: np.ndarray, size: int) -> np.ndarray:
    """Codes as plain positions: -1 (missing) becomes the last slot, where the missing answer is."""
    return np.where(codes < 0, size - 1, codes)


def channels_and_sources(
    pages: Distinct,
    page_fields: dict[str, int],
    referrers: Distinct,
    referrer_fields: dict[str, int],
    index: pd.Index,
) -> dict[str, pd.Series]:
    """referrer_source and channel per row.

    ``page_fields`` gives the positions of site_registrable, campaign_kind, campaign_source and
    utm_source in the pages' answers; ``referrer_fields`` those of registrable, kind and name.
    """
    site_registrable = pages.field(page_fields["site_registrable"])
    referrer_registrable = referrers.field(referrer_fields["registrable"])
    # one id per registrable domain across both sides, so rows compare integers, not strings
    ids, _ = pd.factorize(np.concatenate([site_registrable, referrer_registrable]), use_na_sentinel=True)
    page_rows = _positions(pages.codes, len(site_registrable))
    referrer_rows = _positions(referrers.codes, len(referrer_registrable))
    site_id = ids[: len(site_registrable)][page_rows]
    referrer_id = ids[len(site_registrable) :][referrer_rows]

    has_referrer = referrer_id >= 0
    internal = has_referrer & (referrer_id == site_id)
    referrer_kind = _kinds(referrers.field(referrer_fields["kind"]))[referrer_rows]
    campaign_kind = _kinds(pages.field(page_fields["campaign_kind"]))[page_rows]
    has_campaign_source = _present(pages.field(page_fields["utm_source"]))[page_rows]
    chosen = np.select(
        [
            internal,
            campaign_kind == PAID,
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

    referrer_names = referrers.field(referrer_fields["name"])
    campaign_sources = pages.field(page_fields["campaign_source"])
    names = np.concatenate([referrer_names, campaign_sources])
    named = _present(referrer_names)[referrer_rows]
    nobody = len(referrer_names) - 1  # the missing referrer's slot: None
    source = np.where(internal, nobody, np.where(named, referrer_rows, len(referrer_names) + page_rows))
    return {
        "referrer_source": pd.Series(names[source], index=index, dtype=object, copy=False),
        "channel": pd.Series(CHANNELS[chosen], index=index, dtype=object, copy=False),
    }

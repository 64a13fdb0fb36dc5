"""Campaign facts from the page URL's query: the five ``utm_*`` values and the ad click id.

``click_id_type`` names the click id a link carried (gclid, fbclid, ...), not
its value, which identifies one click of one person and is never stored.
``campaign_kind`` sums up what the campaign says about the channel: paid (a
paid ``utm_medium`` or an ad platform's click id), email, social or search.
fbclid is not paid on its own (Facebook adds it to ordinary shared links), nor
is mc_eid (Mailchimp's subscriber id on newsletter links: email).

:func:`describe_campaign` answers for one query and is the reference;
:func:`campaign_columns` and :func:`campaign_kinds` answer for a batch's
queries at once, with Arrow and numpy.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote_plus

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from .query import QueryPairs

CAMPAIGN_COLUMNS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "click_id_type")
UTM_KEYS = CAMPAIGN_COLUMNS[:5]
MAX_VALUE = 255

# click id -> the kind of traffic it marks, in the order they are looked for
CLICK_IDS = {
    "gclid": "paid",  # Google Ads
    "gbraid": "paid",  # Google Ads, iOS app to web
    "wbraid": "paid",  # Google Ads, web to app
    "dclid": "paid",  # Google Display & Video 360 / Campaign Manager
    "msclkid": "paid",  # Microsoft Advertising
    "ttclid": "paid",  # TikTok Ads
    "twclid": "paid",  # X (Twitter) Ads
    "li_fat_id": "paid",  # LinkedIn Ads
    "yclid": "paid",  # Yandex Direct
    "epik": "paid",  # Pinterest Ads
    "sccid": "paid",  # Snapchat Ads
    "rdt_cid": "paid",  # Reddit Ads
    "irclickid": "paid",  # impact.com affiliate ads
    "fbclid": "social",  # Facebook and Instagram, on ads and ordinary shares alike
    "igshid": "social",  # Instagram shares
    "mc_eid": "email",  # Mailchimp subscriber id
}
# Other parameters that only track and say nothing about the page: dropped from page_query.
OTHER_TRACKING = frozenset(
    {"mc_cid", "_ga", "_gl", "_hsenc", "_hsmi", "_kx", "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id"}
)

PAID_MEDIUM = re.compile(r"^(cpc|ppc|cpm|cpv|cpa|paid.*|.*[-_ ]paid|display|banner|ads?|retargeting)$")
EMAIL_MEDIUM = re.compile(r"^(e[-_]?mail|newsletter|mail|mailing)$")
SOCIAL_MEDIUM = re.compile(r"^(social|social[-_ ]?(network|media)|sm|sns)$")
SEARCH_MEDIUM = re.compile(r"^(organic|search)$")


def is_tracking_param(key: str) -> bool:
    """True for a query parameter that tracks a visit rather than selects content."""
    key = key.lower()
    return key.startswith("utm_") or key in CLICK_IDS or key in OTHER_TRACKING


def medium_kind(medium: str | None) -> str | None:
    """paid, email, social or search, as a ``utm_medium`` value says; None when it says nothing."""
    if not medium:
        return None
    medium = medium.strip().lower()
    for kind, pattern in (
        ("paid", PAID_MEDIUM),
        ("email", EMAIL_MEDIUM),
        ("social", SOCIAL_MEDIUM),
        ("search", SEARCH_MEDIUM),
    ):
        if pattern.match(medium):
            return kind
    return None


def describe_campaign(query: str) -> tuple[tuple[str | None, ...], str | None]:
    """(CAMPAIGN_COLUMNS, campaign_kind) of one query string."""
    if not query:
        return (None,) * len(CAMPAIGN_COLUMNS), None
    found: dict[str, str] = {}
    click_id = None
    for key, value in parse_qsl(query, keep_blank_values=True):
        key = key.strip().lower()
        if key in UTM_KEYS:
            value = value.replace("\x00", "").strip()
            if value and key not in found:
                found[key] = value[:MAX_VALUE]
        elif key in CLICK_IDS and (click_id is None or _earlier(key, click_id)):
            click_id = key
    utm = tuple(found.get(key) for key in UTM_KEYS)
    kinds = (medium_kind(found.get("utm_medium")), CLICK_IDS.get(click_id) if click_id else None)
    kind = "paid" if "paid" in kinds else next((k for k in kinds if k), None)
    return utm + (click_id,), kind


_ORDER = {key: n for n, key in enumerate(CLICK_IDS)}
CLICK_ID_NAMES = pa.array(list(CLICK_IDS), type=pa.string())
_NO_CLICK_ID = len(CLICK_IDS)


def _earlier(key: str, than: str) -> bool:
    return _ORDER[key] < _ORDER[than]


def campaign_columns(pairs: QueryPairs, count: int) -> dict[str, pa.Array]:
    """CAMPAIGN_COLUMNS of ``count`` queries at once, from their pairs: describe_campaign's answers."""
    columns = {}
    for n, name in enumerate(UTM_KEYS):
        picked = np.flatnonzero(pairs.utm_position == n)
        values = utm_values(pairs.values(picked))
        filled = np.flatnonzero(pc.not_equal(values, "").to_numpy(zero_copy_only=False))
        rows = pairs.rows[picked[filled]]  # in order, so a query's first filled value starts a run
        first = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1]])) if len(rows) else rows
        columns[name] = values.take(_slots(count, rows[first], filled[first]))
    is_click_id = pairs.click_id_position >= 0
    best = np.full(count, _NO_CLICK_ID, dtype=np.int8)  # the earliest click id in CLICK_IDS' order
    np.minimum.at(best, pairs.rows[is_click_id], pairs.click_id_position[is_click_id])
    columns["click_id_type"] = CLICK_ID_NAMES.take(pa.array(best, mask=best == _NO_CLICK_ID))
    return columns


def utm_values(raw: pa.Array) -> pa.Array:
    """Raw values decoded (``+`` and ``%XX``), stripped and cut to MAX_VALUE; only those with
    something to decode go through Python, once per distinct value."""
    values = pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(raw), 0, MAX_VALUE)
    encoded = pc.or_(pc.match_substring(raw, "%"), pc.match_substring(raw, "+"))
    if not pc.any(encoded).as_py():
        return values
    distinct = pc.dictionary_encode(raw.filter(encoded))
    decoded = pa.array(
        # A NUL decoded from %00 is dropped: no store takes one in text.
        [
            unquote_plus(value).replace("\x00", "").strip()[:MAX_VALUE]
            for value in distinct.dictionary.to_pylist()
        ],
        type=values.type,
    )
    return pc.replace_with_mask(values, encoded, decoded.take(distinct.indices))


def _slots(count: int, rows: np.ndarray, picked: np.ndarray) -> pa.Array:
    """Indices for a take: ``picked[i]`` at ``rows[i]``, null elsewhere."""
    slots = np.full(count, -1, dtype=np.int64)
    slots[rows] = picked
    return pa.array(slots, mask=slots < 0)


def campaign_kinds(medium: pa.Array, click_id_type: pa.Array) -> pa.Array:
    """The campaign_kind of each (utm_medium, click_id_type): describe_campaign's second answer."""
    media = pc.dictionary_encode(medium)
    medium_kinds = pa.array([medium_kind(m) for m in media.dictionary.to_pylist()], type=pa.string())
    by_medium = medium_kinds.take(media.indices)
    click_kinds = pa.array(list(CLICK_IDS.values()), type=pa.string())
    by_click_id = click_kinds.take(pc.index_in(click_id_type, value_set=CLICK_ID_NAMES))
    paid = pc.or_kleene(pc.equal(by_medium, "paid"), pc.equal(by_click_id, "paid"))
    return pc.if_else(pc.fill_null(paid, False), "paid", pc.coalesce(by_medium, by_click_id))

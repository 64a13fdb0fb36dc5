"""Stateless enrichment of raw hits: location, agent and bots, referrer and channel, campaign, page.

One :class:`Enricher` per ETL run opens the GeoIP database and the
user-agent parser once; :meth:`Enricher.enrich` adds the derived columns to a
batch of hits, working once per distinct IP, user agent, page URL and
referrer and spreading the answers back over the rows. It keeps every row,
in order, and leaves ``ip`` whole: the pipeline needs it for the cookieless
visitor hash before it calls :func:`anonymise_ips`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .agent import AGENT_COLUMNS, AgentParser, version_of
from .campaign import CAMPAIGN_COLUMNS, describe_campaign
from .distinct import map_distinct
from .geo import GEO_COLUMNS, GeoLocator
from .page import PAGE_COLUMNS, describe_page, split_url
from .privacy import IP_PRIVACY_MODES, anonymise_ips
from .referrer import (
    REFERRER_COLUMNS,
    campaign_source_name,
    channels,
    describe_referrer,
    is_internal,
    registrable_domain,
    sources,
)

__all__ = ["ENRICHED_COLUMNS", "IP_PRIVACY_MODES", "Enricher", "anonymise_ips"]

ENRICHED_COLUMNS = PAGE_COLUMNS + GEO_COLUMNS + AGENT_COLUMNS + REFERRER_COLUMNS + CAMPAIGN_COLUMNS
LOCATION_FIELDS = PAGE_COLUMNS + CAMPAIGN_COLUMNS + ("site_registrable", "campaign_kind", "campaign_source")
REFERRER_FIELDS = ("referrer_domain", "registrable", "name", "kind")


def describe_location(url: str) -> tuple[Any, ...]:
    """Page, campaign and the facts the channel needs, from one page URL (``dl``)."""
    parts = split_url(url)
    site, path, query = describe_page(parts)
    campaign, kind = describe_campaign(parts.query if parts else "")
    return (
        site,
        path,
        query,
        *campaign,
        registrable_domain(site) if site else None,
        kind,
        campaign_source_name(campaign[0], kind, campaign[5]),
    )


class Enricher:
    """Adds ENRICHED_COLUMNS to batches of raw hits; make one per run and reuse it."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.geo = GeoLocator(settings)
        self.agents = AgentParser()
        self.provenance: dict[str, str] = {
            "geoip": self.geo.provenance,
            **self.agents.provenance,
            "publicsuffixlist": version_of("publicsuffixlist"),
        }

    def close(self) -> None:
        self.geo.close()

    def enrich(self, hits: pd.DataFrame) -> pd.DataFrame:
        """``hits`` with ENRICHED_COLUMNS added: same rows, same order, ``ip`` untouched."""
        location = map_distinct(hits["dl"], describe_location, LOCATION_FIELDS)
        referrer = map_distinct(hits["dr"], describe_referrer, REFERRER_FIELDS)
        internal = is_internal(referrer, location["site_registrable"])
        added = {
            **{name: location[name] for name in PAGE_COLUMNS},
            **self.geo.locate_series(hits["ip"]),
            **self.agents.describe_series(hits["ua"]),
            "referrer_domain": referrer["referrer_domain"],
            "referrer_source": sources(referrer, internal, location["campaign_source"]),
            "channel": channels(referrer, internal, location["campaign_kind"], location["utm_source"]),
            **{name: location[name] for name in CAMPAIGN_COLUMNS},
        }
        # assign adds the columns as they are; building a frame of them first would copy them all
        return hits.assign(**{name: added[name] for name in ENRICHED_COLUMNS})

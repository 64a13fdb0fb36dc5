"""Enrichment of raw hits: location, agent and bots, referrer and channel, campaign, page.

Stateless: a hit's enrichment depends on that hit alone, and nothing is kept
between runs. One :class:`Enricher` per ETL run opens the GeoIP database and
the user-agent parser once; :meth:`Enricher.enrich` adds the derived columns
to a batch of hits, working once per distinct IP, user agent, page URL and
referrer (remembered for the run's later batches) and spreading the answers
back over the rows. It keeps every row, in order, and leaves ``ip`` whole:
the pipeline needs it for the cookieless visitor hash before it calls
:func:`anonymise_ips`. String columns come in as object or as pandas' "str"
dtype (faster: Arrow-backed); added text columns are object with None.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .agent import AGENT_COLUMNS, AgentParser, version_of
from .campaign import CAMPAIGN_COLUMNS, describe_campaign
from .channel import channels_and_sources
from .distinct import AnswerCache, Distinct
from .geo import GEO_COLUMNS, GeoLocator
from .page import PAGE_COLUMNS, describe_page, split_url
from .privacy import IP_PRIVACY_MODES, anonymise_ips
from .referrer import campaign_source_name, describe_referrer, registrable_domain

__all__ = ["ENRICHED_COLUMNS", "IP_PRIVACY_MODES", "Enricher", "anonymise_ips"]

REFERRER_COLUMNS = ("referrer_domain", "referrer_source", "channel")
ENRICHED_COLUMNS = PAGE_COLUMNS + GEO_COLUMNS + AGENT_COLUMNS + REFERRER_COLUMNS + CAMPAIGN_COLUMNS
LOCATION_FIELDS = PAGE_COLUMNS + CAMPAIGN_COLUMNS + ("site_registrable", "campaign_kind", "campaign_source")
REFERRER_FIELDS = ("referrer_domain", "registrable", "name", "kind")
_POSITIONS_IN_PAGE = {name: n for n, name in enumerate(LOCATION_FIELDS)}
_POSITIONS_IN_REFERRER = {name: n for n, name in enumerate(REFERRER_FIELDS)}


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
        self._locations = AnswerCache(describe_location)
        self._referrers = AnswerCache(describe_referrer)
        self.provenance: dict[str, str] = {
            "geoip": self.geo.provenance,
            **self.agents.provenance,
            "publicsuffixlist": version_of("publicsuffixlist"),
        }

    def close(self) -> None:
        self.geo.close()

    def __enter__(self) -> Enricher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def enrich(self, hits: pd.DataFrame) -> pd.DataFrame:
        """``hits`` with ENRICHED_COLUMNS added: same rows, same order, ``ip`` untouched."""
        index = hits.index
        pages = Distinct.of(hits["dl"], self._locations, (None,) * len(LOCATION_FIELDS))
        referrers = Distinct.of(hits["dr"], self._referrers, (None,) * len(REFERRER_FIELDS))
        added = {
            **pages.spread(PAGE_COLUMNS + CAMPAIGN_COLUMNS, index),
            **self.geo.locate_series(hits["ip"]),
            **self.agents.describe_series(hits["ua"]),
            **referrers.spread(REFERRER_FIELDS[:1], index),
            **channels_and_sources(pages, _POSITIONS_IN_PAGE, referrers, _POSITIONS_IN_REFERRER, index),
        }
        # assign adds the columns as they are; building a frame of them first would copy them all
        return hits.assign(**{name: added[name] for name in ENRICHED_COLUMNS})

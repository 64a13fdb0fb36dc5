"""Enrichment of raw hits: location, agent and bots, referrer and channel, campaign, page.

Stateless: a hit's enrichment depends on that hit alone; only the user
agents' answers may be kept between runs, to save parsing them again
(:mod:`.remembered`). One :class:`Enricher` per ETL run opens the GeoIP database and
the user-agent parser once; :meth:`Enricher.enrich` adds the derived columns
to a batch of hits, working once per distinct IP, user agent, page URL and
referrer (what costs Python work is remembered for the run's later batches)
and spreading the answers back over the rows. It keeps every row, in order,
and leaves ``ip`` whole: the pipeline needs it for the cookieless visitor hash
before it calls :func:`anonymise_ips`. String columns come in as object or as
Arrow-backed strings (pandas' "str", faster); added text columns are "str"
(missing: NaN), made from Arrow without copying.

What the operator should know about the run's enrichment (such as a dated
GeoIP database) is in :attr:`Enricher.notices`, for the caller to show or not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .agent import AGENT_COLUMNS, AgentParser
from .campaign import CAMPAIGN_COLUMNS
from .channel import channels_and_sources
from .distinct import Answers, Encoded
from .geo import GEO_COLUMNS, GeoLocator
from .lists import provenance as lists_provenance
from .lists import version_of
from .location import LOCATION_FIELDS, describe_location, describe_locations
from .page import PAGE_COLUMNS
from .privacy import IP_PRIVACY_MODES, anonymise_ips
from .referrer import REFERRER_FIELDS, describe_referrer, describe_referrers
from .remembered import answers_path

__all__ = [
    "ENRICHED_COLUMNS",
    "IP_PRIVACY_MODES",
    "LOCATION_FIELDS",
    "REFERRER_FIELDS",
    "Enricher",
    "anonymise_ips",
    "describe_location",
    "describe_referrer",
]

REFERRER_COLUMNS = ("referrer_domain", "referrer_source", "channel")
ENRICHED_COLUMNS = PAGE_COLUMNS + GEO_COLUMNS + AGENT_COLUMNS + REFERRER_COLUMNS + CAMPAIGN_COLUMNS


class Enricher:
    """Adds ENRICHED_COLUMNS to batches of raw hits; make one per run and reuse it."""

    def __init__(self, settings: Mapping[str, Any], *, remember: bool = False) -> None:
        """``remember``: start from the user agents' answers that runs before kept in DATA_DIR, and
        keep this run's there at :meth:`keep_answers` (:mod:`.remembered`)."""
        # The user-agent parser first (its bot lists compile now, its other lists at the first user
        # agent not met before), and the GeoIP file, mapped last, is then the sign that the first
        # batch is about to start (the kill tests wait for it).
        self.agents = AgentParser(settings.get("BOT_PATTERNS", ()))
        if remember:
            self.agents.remember(answers_path(settings))
        self.geo = GeoLocator(settings)
        self.provenance: dict[str, str] = {
            "geoip": self.geo.provenance,
            **self.agents.provenance,
            "publicsuffixlist": version_of("publicsuffixlist"),
            **lists_provenance(),
        }
        self.notices: list[str] = list(self.geo.notices)

    def close(self) -> None:
        self.geo.close()

    def keep_answers(self) -> bool:
        """Keep the user agents' answers for the next run (made with ``remember``; else nothing)."""
        return self.agents.keep()

    def __enter__(self) -> Enricher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def enrich(self, hits: pd.DataFrame) -> pd.DataFrame:
        """``hits`` with ENRICHED_COLUMNS added: same rows, same order, ``ip`` untouched."""
        index = hits.index
        pages = Encoded.of(hits["dl"])
        pages = Answers.null_when_missing(pages, describe_locations(pages.values))
        referrers = Encoded.of(hits["dr"])
        referrers = Answers.null_when_missing(referrers, describe_referrers(referrers.values))
        added = {
            **pages.spread(PAGE_COLUMNS + CAMPAIGN_COLUMNS, index),
            **self.geo.locate_series(hits["ip"]),
            **self.agents.describe_series(hits["ua"], hits.get("ch_mobile"), hits.get("ch_platform")),
            **referrers.spread(REFERRER_FIELDS[:1], index),
            **channels_and_sources(pages, referrers, index),
        }
        # assign adds the columns as they are; building a frame of them first would copy them all
        return hits.assign(**{name: added[name] for name in ENRICHED_COLUMNS})

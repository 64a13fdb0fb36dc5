"""The enrichment API the pipeline calls: every column added, rows kept in order, ip left whole."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from enrich_frames import as_list, new_enricher, raw_hits

from crumby.etl.enrich import ENRICHED_COLUMNS

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


@pytest.fixture(scope="module")
def enricher(tmp_path_factory):
    enricher = new_enricher(tmp_path_factory.mktemp("enrich"))
    yield enricher
    enricher.close()


def test_enrich_adds_every_column_and_keeps_rows_in_order(enricher):
    hits = raw_hits(
        [
            {"id": "1", "t": "visit", "dl": "https://example.com/a", "ip": "81.2.69.142", "ua": CHROME},
            {"id": "2", "t": "event", "dl": None, "ip": None, "ua": None, "en": "click"},
            {"id": "3", "t": "visit", "dl": "https://example.com/b", "ip": "10.1.2.3", "ua": ""},
        ]
    )
    hits.index = [7, 3, 5]  # a batch need not have a fresh index
    out = enricher.enrich(hits)
    assert list(out.columns) == list(hits.columns) + list(ENRICHED_COLUMNS)
    assert list(out.index) == [7, 3, 5]
    assert out["id"].tolist() == ["1", "2", "3"]
    assert out["ip"].tolist() == ["81.2.69.142", None, "10.1.2.3"]
    assert as_list(out["page_path"]) == ["/a", None, "/b"]
    assert out["is_bot"].dtype == bool
    assert out["is_bot"].tolist() == [False, True, True]


@pytest.mark.parametrize(
    "dtype", [object, "str", "string[pyarrow]", pd.ArrowDtype(pa.large_string())], ids=str
)
def test_added_text_columns_are_arrow_backed_whatever_came_in(enricher, dtype):
    """The pipeline hands the columns on to Arrow for the load: "str" columns go without a copy."""
    hits = raw_hits(
        [
            {"id": "1", "dl": "https://example.com/?utm_source=x", "ip": "81.2.69.142", "ua": CHROME},
            {"id": "2", "dl": None, "dr": "https://t.co/", "ip": None, "ua": None},
        ]
    )
    out = enricher.enrich(hits.astype({name: dtype for name in ("dl", "dr", "ip", "ua")}))
    numbers = ("latitude", "longitude", "accuracy_radius", "is_bot")
    text = [name for name in ENRICHED_COLUMNS if name not in numbers]
    assert {name: str(out[name].dtype) for name in text} == dict.fromkeys(text, "str")
    assert as_list(out["utm_source"]) == ["x", None]
    assert as_list(out["channel"]) == ["referral", "social"]
    assert as_list(out["country"]) == ["GB", None]
    assert out["is_bot"].tolist() == [False, True]


def test_enrich_of_an_empty_batch(enricher):
    out = enricher.enrich(raw_hits([]))
    assert len(out) == 0
    assert set(ENRICHED_COLUMNS) <= set(out.columns)


def test_provenance_names_the_geoip_build_and_parser_versions(enricher):
    assert enricher.provenance["geoip"] == "GeoLite2-City 2018-07-03 (bundled)"
    assert enricher.provenance["ua_parser"].startswith("1.")
    assert enricher.provenance["ua_parser_rs"] != "not installed"


def test_arrow_backed_string_columns_enrich_the_same(enricher):
    """pandas' Arrow-backed "str" columns (faster to factorize) give the same answers as object ones."""
    page = "https://example.com/a?utm_source=x"
    hits = raw_hits(
        [
            {"id": "1", "dl": page, "dr": "https://t.co/", "ip": "81.2.69.142", "ua": CHROME},
            {"id": "2", "dl": None, "dr": None, "ip": None, "ua": None},
        ]
    )
    as_objects = enricher.enrich(hits)
    as_arrow = enricher.enrich(hits.astype({name: "str" for name in ("dl", "dr", "ip", "ua")}))
    for name in ENRICHED_COLUMNS:
        assert _values(as_arrow[name]) == _values(as_objects[name]), name
    assert _values(as_arrow["channel"]) == ["social", "direct"]


def _values(column) -> list:
    return [None if pd.isna(value) else value for value in column]


def test_an_enricher_closes_as_a_context_manager(tmp_path):
    with new_enricher(tmp_path) as enricher:
        assert enricher.enrich(raw_hits([{"id": "1", "ip": "8.8.8.8"}]))["country"].tolist() == ["US"]
    assert enricher.geo.reader.closed

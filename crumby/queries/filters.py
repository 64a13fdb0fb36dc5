"""Filters on a report's dimensions: ``f=country:is:DE``, ``f=browser:is_not:Chrome``, ``f=page:contains:/b``.

A request may give ``f`` several times; every filter must hold (AND). A
template takes them when its header says so (``-- filters: *``, or a list of
dimension names) and reads its rows through the helpers (``hit_filter``,
``event_filter``, ``session_filter``, ``visit_figures``...), which add the
conditions. The value is always a bound parameter (``:filter_0``); only the
dimension and the operator, both checked against fixed lists, shape the SQL.

Each dimension is a column of one of three tables, and means the same on all:

- a visit's own attribute (``source``, ``channel``, ``utm_*``, ``entry_page``,
  ``exit_page``): read from ``sessions``; page views and events are kept when
  their visit has it;
- an attribute of the browser or the place (``country``, ``browser``...): a
  column of ``sessions`` and ``visits``; events are kept when their visit has it;
- ``page``: the page views of matching pages (as the ``path`` parameter);
  visits and events are kept when the visit viewed such a page in the range;
- ``event``: events of that name; visits and page views are kept when the visit
  sent such an event in the range.

A negated filter on ``page`` or ``event`` keeps the visits that have no such
page view (event) at all. ``contains`` is a case-sensitive substring test,
the same on every backend.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from .params import MAX_TEXT, ParameterError

FILTER_PARAM = "f"
BOUND_PREFIX = "filter_"
MAX_FILTERS = 20
OPERATORS = ("is", "is_not", "contains", "not_contains")
NEGATED = {"is_not": "is", "not_contains": "contains"}
ALL = "*"


@dataclass(frozen=True)
class Dimension:
    """Where a dimension lives: its column on sessions, on visits (page views) and on events."""

    name: str
    description: str
    session_column: str | None  # None: reached through the visits or events of the visit
    visit_column: str | None  # None: reached through the visit (sessions)
    event_column: str | None
    # the table read when a visit or page view must be matched through another table
    via: str = "sessions"


def _visit(name: str, column: str, description: str) -> Dimension:
    return Dimension(name, description, column, None, None)


def _client(name: str, column: str, description: str) -> Dimension:
    return Dimension(name, description, column, column, None)


DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        _visit("source", "referrer_source", "The visit's referrer source (Google...; empty: direct)."),
        _visit("channel", "channel", "The visit's channel: search, social, email, referral, paid, direct."),
        _visit("referrer", "referrer_domain", "The host name of the visit's referrer."),
        _visit("utm_source", "utm_source", "The visit's utm_source tag."),
        _visit("utm_medium", "utm_medium", "The visit's utm_medium tag."),
        _visit("utm_campaign", "utm_campaign", "The visit's utm_campaign tag."),
        _visit("entry_page", "entry_page", "The path of the visit's first page."),
        _visit("exit_page", "exit_page", "The path of the visit's last page."),
        _client("country", "country", "Country, an ISO 3166 code such as DE."),
        _client("region", "subdivision_1", "Region (state, province), as the GeoIP database names it."),
        _client("city", "city", "City."),
        _client("browser", "browser", "Browser family."),
        _client("os", "os", "Operating system family."),
        _client("platform", "platform", "Platform, as the original Crumby named the operating system."),
        _client("device", "device", "Device type: desktop, mobile, tablet, other."),
        _client("screen", "screen_res", "Screen size, e.g. 1920x1080."),
        _client("language", "lang", "Browser language, e.g. en-US."),
        Dimension("page", "A page path, e.g. /pricing.", None, "page_path", "page_path", via="visits"),
        Dimension("event", "An event name.", None, None, "name", via="events"),
    )
}
_SPEC = re.compile(r"^([a-z_]{1,32}):([a-z_]{1,16}):(.*)$", re.S)


@dataclass(frozen=True)
class Filter:
    """One parsed filter; its value is bound under ``bound`` (``filter_0``...)."""

    dimension: str
    operator: str
    value: str
    bound: str

    @property
    def negated(self) -> bool:
        return self.operator in NEGATED


def parse_filter_header(text: str) -> tuple[str, ...]:
    """The part after ``-- filters:``: ``*`` for every dimension, or names separated by spaces or commas."""
    names = tuple(n for n in re.split(r"[\s,]+", text.strip()) if n)
    if names == (ALL,):
        return tuple(DIMENSIONS)
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown filter dimension {unknown[0]!r}; crumby knows {', '.join(DIMENSIONS)}")
    return names


def parse_filters(given: Sequence[str] | str | None, allowed: Collection[str]) -> tuple[Filter, ...]:
    """The filters of a request (``f`` values); ParameterError for a bad one, naming what is wrong."""
    if given is None:
        return ()
    items = [given] if isinstance(given, str) else list(given)
    if len(items) > MAX_FILTERS:
        raise ParameterError(FILTER_PARAM, f"at most {MAX_FILTERS} filters may be given")
    if items and not allowed:
        raise ParameterError(FILTER_PARAM, "this report takes no filters")
    filters = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise ParameterError(FILTER_PARAM, "must be text: DIMENSION:OPERATOR:VALUE")
        match = _SPEC.match(item)
        if not match:
            raise ParameterError(
                FILTER_PARAM, "write a filter as DIMENSION:OPERATOR:VALUE, e.g. country:is:DE"
            )
        dimension, operator, value = match.groups()
        if dimension not in allowed:
            raise ParameterError(
                FILTER_PARAM, f"this report cannot be filtered by that; it takes {', '.join(allowed)}"
            )
        if operator not in OPERATORS:
            raise ParameterError(FILTER_PARAM, f"the operator must be one of {', '.join(OPERATORS)}")
        if len(value) > MAX_TEXT:
            raise ParameterError(FILTER_PARAM, f"a value is longer than {MAX_TEXT} characters")
        if "\x00" in value:
            raise ParameterError(FILTER_PARAM, "a value contains a NUL character")
        if operator in ("contains", "not_contains") and value == "":
            raise ParameterError(FILTER_PARAM, "contains needs a value")
        filters.append(Filter(dimension, operator, value, f"{BOUND_PREFIX}{index}"))
    return tuple(filters)


def filter_query_values(filters: Sequence[Filter]) -> dict[str, str]:
    """The values to bind: ``filter_0`` and so on."""
    return {f.bound: f.value for f in filters}


class FilterSQL:
    """The SQL conditions for a request's filters on one table, in one dialect.

    ``equals`` and ``contains`` are the dialect's text comparisons (by code point).
    """

    def __init__(self, filters: Sequence[Filter], equals: Callable, contains: Callable) -> None:
        self.filters = tuple(filters)
        self.equals = equals
        self.contains = contains

    def test(self, column: str, f: Filter, positive: bool = False) -> str:
        """``column`` against ``f``'s value (its positive form when ``positive``)."""
        operator = NEGATED.get(f.operator, f.operator) if positive else f.operator
        value = f":{f.bound}"
        if operator == "is":
            if f.value == "":
                return f"({column} IS NULL OR {column} = '')"
            return self.equals(column, value)
        if operator == "is_not":
            if f.value == "":
                return f"{column} <> ''"
            return f"({column} IS NULL OR NOT ({self.equals(column, value)}))"
        if operator == "contains":
            return self.contains(column, value)
        return f"({column} IS NULL OR NOT ({self.contains(column, value)}))"

    def on(self, table: str, alias: str, since: str, until: str) -> list[str]:
        """One condition per filter for rows of ``table`` (sessions, visits, events) under ``alias``."""
        return [self._one(table, alias, since, until, f) for f in self.filters]

    def needs_page_views(self) -> bool:
        """A filter on pages: visit reports then count the matching page views, as for ``path``."""
        return any(f.dimension == "page" for f in self.filters)

    def _one(self, table: str, alias: str, since: str, until: str, f: Filter) -> str:
        dimension = DIMENSIONS[f.dimension]
        column = {
            "sessions": dimension.session_column,
            "visits": dimension.visit_column,
            "events": dimension.event_column,
        }[table]
        if column is not None:
            return self.test(f"{alias}.{column}", f)
        # Matched through the visit: its key among those of the visits that qualify (an integer
        # join, where the session ids are text).
        if dimension.session_column is not None:
            inner = (
                f"SELECT x.visit_key FROM sessions x WHERE x.started < :{until} AND x.ended >= :{since}"
                f" AND {self.test('x.' + dimension.session_column, f)}"
            )
            return f"{alias}.visit_key IN ({inner})"
        inner_column = dimension.visit_column if dimension.via == "visits" else dimension.event_column
        inner = (
            f"SELECT x.visit_key FROM {dimension.via} x WHERE x.datetime >= :{since}"
            f" AND x.datetime < :{until} AND x.visit_key IS NOT NULL"
            f" AND {self.test('x.' + inner_column, f, positive=True)}"
        )
        return f"{alias}.visit_key {'NOT IN' if f.negated else 'IN'} ({inner})"


def describe_dimensions(names: Collection[str]) -> list[dict[str, str]]:
    """What ``/api`` says about the filters a report takes."""
    return [{"name": n, "description": DIMENSIONS[n].description} for n in DIMENSIONS if n in names]

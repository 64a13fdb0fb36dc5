"""Rendering a report template into SQL text plus bound values.

Templates are Jinja, rendered in a sandbox. A parameter appears in the
template as a :class:`BoundParam`: printing it (``{{ site }}``) writes the
placeholder ``:site``, never the value, while ``{% if site %}`` and
``{% if granularity == 'hour' %}`` may still switch the query's structure.
The values travel beside the SQL text and are bound by the driver.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from ..store.schema import EVENT_DAY_GROUPINGS, VISIT_DAY_GROUPINGS, dimension_name
from .dialects import sql_functions
from .guard import check_statement
from .params import TemplateError
from .templates import Template

_environment = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


class BoundParam:
    """A request value as a template sees it: renders as its placeholder, tests by its value."""

    __slots__ = ("_name", "_value")

    def __init__(self, name: str, value: Any) -> None:
        self._name = name
        self._value = value

    def __str__(self) -> str:
        return f":{self._name}"

    __html__ = __str__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return self._value == (other._value if isinstance(other, BoundParam) else other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self._name)


@dataclass(frozen=True)
class RenderedQuery:
    """SQL text with ``:name`` placeholders and the values to bind to them."""

    sql: str
    values: dict[str, Any]
    template: Template

    def clause(self) -> sa.TextClause:
        """A SQLAlchemy text clause whose bind parameters carry their types."""
        return self._clause

    def bound_values(self) -> dict[str, Any]:
        """Only the values the SQL uses (drivers refuse extra ones)."""
        return {name: self.values[name] for name in self._clause._bindparams}

    @cached_property
    def _clause(self) -> sa.TextClause:
        clause = sa.text(self.sql)
        return clause.bindparams(
            *(sa.bindparam(name, type_=_sql_type(self.values[name])) for name in clause._bindparams)
        )


def _sql_type(value: Any) -> sa.types.TypeEngine:
    if isinstance(value, bool):
        return sa.Boolean()
    if isinstance(value, int):
        return sa.BigInteger()
    if isinstance(value, datetime):
        return sa.DateTime()
    if isinstance(value, date):
        return sa.Date()
    return sa.String()


def _range_filter(values: Mapping[str, Any], equals, *, time: str, name: str, by_page: bool):
    def range_filter(alias: str = "v", since: str = "t0", until: str = "t1") -> str:
        """The conditions every built-in report shares: the range, no bots, the site (and page) filters."""
        if not alias.isidentifier() or since not in ("t0", "p0") or until not in ("t0", "t1"):
            raise ValueError(f"{name} takes a table alias, since='t0' or 'p0' and until='t1' or 't0'")
        parts = [f"{alias}.{time} >= :{since}", f"{alias}.{time} < :{until}", f"NOT {alias}.is_bot"]
        if values.get("site"):
            parts.append(equals(f"{alias}.site", ":site"))
        if by_page and values.get("path"):
            parts.append(equals(f"{alias}.page_path", ":path"))
        return " AND ".join(parts)

    return range_filter


def _hit_filter(values: Mapping[str, Any], equals):
    """On page views (``visits``): by the hit's time, with the page path filter."""
    return _range_filter(values, equals, time="datetime", name="hit_filter", by_page=True)


def session_filter(values: Mapping[str, Any], equals):
    """On the aggregated store (``sessions``): by the visit's start; it has no page filter."""
    return _range_filter(values, equals, time="started", name="session_filter", by_page=False)


def day_filter(values: Mapping[str, Any], equals):
    """On the daily page figures (``page_days``, ``document_days``): by day, with the page path filter."""
    return _range_filter(values, equals, time="day", name="day_filter", by_page=True)


def first_day_filter(values: Mapping[str, Any], equals):
    """On ``visitor_days``: each visitor's first day in the range, once (whole days only).

    Filtered to a site, that site's rows; otherwise the rows for every site
    together, so that a visitor of two sites counts once.
    """

    def first_days(alias: str = "d", since: str = "t0", until: str = "t1") -> str:
        if not alias.isidentifier() or since not in ("t0", "p0") or until not in ("t0", "t1"):
            raise ValueError("first_day_filter takes an alias, since='t0' or 'p0' and until='t1' or 't0'")
        site = equals(f"{alias}.site", ":site") if values.get("site") else f"{alias}.site IS NULL"
        return (
            f"{alias}.day >= :{since} AND {alias}.day < :{until} AND {site}"
            f" AND ({alias}.prev_day IS NULL OR {alias}.prev_day < :{since})"
        )

    return first_days


def _whole_days(values: Mapping[str, Any]) -> bool:
    """Whether the range starts and ends at midnight, so that daily figures answer it exactly."""
    return all(
        isinstance(values.get(name), datetime) and values[name].time() == datetime.min.time()
        for name in ("t0", "t1")
    )


def _visit_rollup(values: Mapping[str, Any], equals, hit_filter, as_int, exact) -> dict[str, Any]:
    """Where a report over visits reads from, and how it counts: ``{{ visit_rollup.visitors }}`` etc.

    Unfiltered by page, whole visits come from the aggregated store
    (``sessions``, one row per visit with its entry's attributes, counted on
    the day it started); filtered to one page path, from that page's views.
    """
    if values.get("path"):
        return {
            "a": "v",
            "source": "visits v",
            "where": hit_filter("v"),
            "visitors": f"COUNT(DISTINCT {exact('v.visitor_id')})",
            "ips": f"COUNT(DISTINCT {exact('v.ip')})",
            "visits": f"COUNT(DISTINCT {exact('v.session_id')})",
            "pageviews": "COUNT(*)",
            "time": "v.datetime",
            "whole": False,
        }
    return {
        "a": "s",
        "source": "sessions s",
        "where": session_filter(values, equals)("s"),
        "visitors": "COUNT(DISTINCT s.visitor_key)",
        "ips": "COUNT(DISTINCT s.ip_key)",
        "visits": "COUNT(*)",
        "pageviews": as_int("SUM(s.pageviews)"),
        "time": "s.started",
        "whole": True,
    }


# The groupings the daily visit figures hold, whatever order a template names their columns in.
_DAILY_GROUPINGS = {frozenset(grouping): grouping for grouping in VISIT_DAY_GROUPINGS}


def _visit_figures(values: Mapping[str, Any], equals, rollup: dict[str, Any], as_int, dialect: str = ""):
    def visit_figures(*columns: str) -> dict[str, Any]:
        """Where a report over visits grouped by ``columns`` reads from: ``{{ r.visitors }}`` etc.

        The daily visit figures (``visit_days``) when they answer it: whole
        days, no page filter, and a grouping they hold (every row is per
        site). Otherwise what ``visit_rollup`` reads, counted exactly.
        """
        grouping = _DAILY_GROUPINGS.get(frozenset(columns) - {"site"})
        if grouping is None or not rollup["whole"] or not _whole_days(values):
            return rollup
        where = f"{day_filter(values, equals)('d')} AND d.dimension = '{dimension_name(grouping)}'"
        source = "visit_days d"
        if dialect in DAYS_MADE_ON_THE_FLY:
            source, where = _visit_days_on_the_fly(values, equals, grouping), "1 = 1"
        return {
            "a": "d",
            "source": source,
            "where": where,
            "visitors": as_int("SUM(d.visitors)"),
            "ips": as_int("SUM(d.ips)"),
            "visits": as_int("SUM(d.visits)"),
            "pageviews": as_int("SUM(d.pageviews)"),
            "time": "d.day",
            "whole": True,
        }

    return visit_figures


_EVENT_GROUPINGS = {frozenset(grouping): grouping for grouping in EVENT_DAY_GROUPINGS}


def _event_figures(values: Mapping[str, Any], equals, hit_filter, as_int, exact, dialect: str = ""):
    def event_figures(*columns: str) -> dict[str, Any]:
        """Where a report over events grouped by ``columns`` reads from: ``{{ r.events }}`` etc.

        The daily event figures (``event_days``) for whole days, no page
        filter and a grouping they hold; otherwise the events themselves.
        """
        grouping = _EVENT_GROUPINGS.get(frozenset(columns))
        if grouping is None or values.get("path") or not _whole_days(values):
            return {
                "a": "e",
                "source": "events e",
                "where": hit_filter("e"),
                "events": "COUNT(*)",
                "visitors": f"COUNT(DISTINCT {exact('e.visitor_id')})",
                "with_value": as_int("SUM(CASE WHEN COALESCE(e.value, '') <> '' THEN 1 ELSE 0 END)"),
            }
        source = "event_days d"
        where = f"{day_filter(values, equals)('d')} AND d.dimension = '{dimension_name(grouping)}'"
        if dialect in DAYS_MADE_ON_THE_FLY:
            source, where = _event_days_on_the_fly(hit_filter, grouping), "1 = 1"
        return {
            "a": "d",
            "source": source,
            "where": where,
            "events": as_int("SUM(d.events)"),
            "visitors": as_int("SUM(d.visitors)"),
            "with_value": as_int("SUM(d.with_value)"),
        }

    return event_figures


# Stores without the daily figures (ClickHouse): a report sums the same days, made from visits,
# events and sessions in the query itself (a columnar scan is fast enough there).
DAYS_MADE_ON_THE_FLY = frozenset({"clickhouse"})


def _visit_days_on_the_fly(values: Mapping[str, Any], equals, grouping: tuple[str, ...]) -> str:
    """The rows ``visit_days`` would hold for ``grouping`` over the range, as a subquery aliased ``d``."""
    texts = "".join(f", ifNull(s.{name}, '') AS {name}" for name in grouping)
    keys = "".join(f", {name}" for name in grouping)
    return (
        f"(SELECT toStartOfDay(s.started) AS day, ifNull(s.site, '') AS site{texts},"
        " uniqExact(s.visitor_key) AS visitors, uniqExact(s.ip_key) AS ips, count() AS visits,"
        " sum(s.pageviews) AS pageviews"
        f" FROM sessions s WHERE {session_filter(values, equals)('s')}"
        f" GROUP BY day, site{keys}) d"
    )


def _event_days_on_the_fly(hit_filter, grouping: tuple[str, ...]) -> str:
    """The rows ``event_days`` would hold for ``grouping`` over the range, as a subquery aliased ``d``."""
    texts = "".join(f", ifNull(e.{name}, '') AS {name}" for name in grouping)
    keys = "".join(f", {name}" for name in grouping)
    return (
        f"(SELECT toStartOfDay(e.datetime) AS day, ifNull(e.site, '') AS site{texts},"
        " count() AS events, uniqExact(e.visitor_id) AS visitors,"
        " countIf(ifNull(e.value, '') <> '') AS with_value"
        f" FROM events e WHERE {hit_filter('e')} GROUP BY day, site{keys}) d"
    )


_compiled: dict[str, Any] = {}


def _compile(template: Template):
    """The compiled Jinja template, made once per distinct source text."""
    compiled = _compiled.get(template.source)
    if compiled is None:
        try:
            compiled = _environment.from_string(template.source)
        except TemplateSyntaxError as exc:
            raise TemplateError(f"{template.path} line {exc.lineno}: {exc.message}") from None
        _compiled[template.source] = compiled
    return compiled


_rendered: dict[tuple, RenderedQuery] = {}
RENDERED_KEPT = 1024  # distinct questions kept: a dashboard asks the same few, again and again


def render(template: Template, values: Mapping[str, Any], dialect: str) -> RenderedQuery:
    """The SQL for ``dialect`` and the values to bind; TemplateError when the template is broken or unsafe.

    The SQL depends only on the template's text, the values and the dialect,
    so a question asked before is answered from memory (its checks passed then).
    """
    key = (str(template.path), template.visibility, template.source, dialect, *sorted(values.items()))
    try:
        known = _rendered.get(key)
    except TypeError:  # a value that cannot be a key: render it each time
        return _render(template, values, dialect)
    if known is None:
        known = _render(template, values, dialect)
        if len(_rendered) >= RENDERED_KEPT:
            _rendered.clear()
        _rendered[key] = known
    return known


def _render(template: Template, values: Mapping[str, Any], dialect: str) -> RenderedQuery:
    context: dict[str, Any] = {name: BoundParam(name, value) for name, value in values.items()}
    context.update(sql_functions(dialect))
    context["dialect"] = dialect
    context["hit_filter"] = _hit_filter(values, context["equals"])
    context["session_filter"] = session_filter(values, context["equals"])
    context["day_filter"] = day_filter(values, context["equals"])
    # Where the daily figures are made on the fly, a report reads the rows they would be made from.
    context["whole_days"] = _whole_days(values) and dialect not in DAYS_MADE_ON_THE_FLY
    context["first_day_filter"] = first_day_filter(values, context["equals"])
    context["visit_rollup"] = _visit_rollup(
        values, context["equals"], context["hit_filter"], context["as_int"], context["exact"]
    )
    context["visit_figures"] = _visit_figures(
        values, context["equals"], context["visit_rollup"], context["as_int"], dialect
    )
    context["event_figures"] = _event_figures(
        values, context["equals"], context["hit_filter"], context["as_int"], context["exact"], dialect
    )
    try:
        sql = _compile(template).render(context)
    except (UndefinedError, TypeError, ValueError) as exc:
        raise TemplateError(f"{template.path} cannot be rendered: {exc}") from None
    except Exception as exc:  # sandbox refusals and template bugs: the author's problem, not the caller's
        raise TemplateError(f"{template.path} cannot be rendered: {exc.__class__.__name__}: {exc}") from None
    sql = _unquote_placeholders(sql, values)
    check_statement(sql, str(template.path), dialect)
    unknown = sorted(set(sa.text(sql)._bindparams) - set(values))
    if unknown:
        raise TemplateError(
            f"{template.path} uses :{unknown[0]}, which it does not declare; add a `-- param:` line for it"
        )
    return RenderedQuery(sql=sql, values=dict(values), template=template)


def _unquote_placeholders(sql: str, values: Mapping[str, Any]) -> str:
    """``"{{t0}}"`` becomes ``:t0``: the original Crumby's templates quoted the values they pasted in.

    Only the placeholder crumby itself printed is unquoted; request values are
    never in the text, so nothing a client sends can be affected.
    """
    if not values:
        return sql
    names = "|".join(re.escape(name) for name in sorted(values, key=len, reverse=True))
    return re.sub(rf"""(["'])(:(?:{names}))\1""", r"\2", sql)

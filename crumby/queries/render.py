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

from .clickhouse_shape import group_by_aliases, grouped_distinct_counts
from .dialects import sql_functions
from .filters import FilterSQL
from .guard import check_statement
from .params import TemplateError
from .periods import periods_function
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


class _Uses:
    """Whether the request's filters reached the SQL: a template that declares them must apply them."""

    __slots__ = ("applied", "filters")

    def __init__(self, filters: FilterSQL) -> None:
        self.filters = filters
        self.applied = False

    def on(self, table: str, alias: str, since: str, until: str) -> list[str]:
        self.applied = True
        return self.filters.on(table, alias, since, until)


class _Later:
    """A condition written only when the template prints it (so that merely offering it applies nothing)."""

    __slots__ = ("_make",)

    def __init__(self, make) -> None:
        self._make = make

    def __str__(self) -> str:
        return self._make()

    __html__ = __str__


def _range_filter(
    values: Mapping[str, Any],
    equals,
    *,
    time: str,
    name: str,
    by_page: bool,
    table: str = "",
    uses=None,
    end: str = "",
):
    def range_filter(alias: str = "v", since: str = "t0", until: str = "t1") -> str:
        """The conditions every built-in report shares: the range, no bots, the site (and page) filters.

        With ``end``, rows whose time span (``time`` to ``end``) overlaps the range.
        """
        if not alias.isidentifier() or since not in ("t0", "p0") or until not in ("t0", "t1"):
            raise ValueError(f"{name} takes a table alias, since='t0' or 'p0' and until='t1' or 't0'")
        first = f"{alias}.{end or time} >= :{since}"
        parts = [first, f"{alias}.{time} < :{until}", f"NOT {alias}.is_bot"]
        if values.get("site"):
            parts.append(equals(f"{alias}.site", ":site"))
        if by_page and values.get("path"):
            parts.append(equals(f"{alias}.page_path", ":path"))
        if uses is not None and uses.filters.filters:
            parts.extend(uses.on(table, alias, since, until))
        elif values.get("filters"):
            raise ValueError(f"{name} reads daily figures, which cannot be filtered; test `filters` first")
        return " AND ".join(parts)

    return range_filter


def _hit_filter(values: Mapping[str, Any], equals, uses=None):
    """On page views (``visits``): by the hit's time, with the page path filter."""
    return _range_filter(
        values, equals, time="datetime", name="hit_filter", by_page=True, table="visits", uses=uses
    )


def _event_filter(values: Mapping[str, Any], equals, uses=None):
    """On ``events``: as ``hit_filter``, with the filters read from the events' own columns."""
    return _range_filter(
        values, equals, time="datetime", name="event_filter", by_page=True, table="events", uses=uses
    )


def session_filter(values: Mapping[str, Any], equals, uses=None):
    """On the aggregated store (``sessions``): by the visit's start; it has no page filter."""
    return _range_filter(
        values, equals, time="started", name="session_filter", by_page=False, table="sessions", uses=uses
    )


def overlap_filter(values: Mapping[str, Any], equals, uses=None):
    """On ``sessions``: the visits under way at some time of the range (begun before it, ended in it too).

    Their visitors are everyone another report counts over the range: those
    of the visits begun in it, and of every page view in it.
    """
    return _range_filter(
        values,
        equals,
        time="started",
        name="overlap_filter",
        by_page=False,
        table="sessions",
        uses=uses,
        end="ended",
    )


def day_filter(values: Mapping[str, Any], equals):
    """On the daily page view counts (``document_days``, ``origin_days``): by day, and by page path."""
    return _range_filter(values, equals, time="day", name="day_filter", by_page=True)


def first_day_filter(values: Mapping[str, Any], equals):
    """On ``visitor_days``: each visitor's first day in the range, once (whole days only).

    A visitor is on the days their visits began and ended, so every visitor
    another report counts over the range is counted here. Filtered to a
    site, that site's rows; otherwise the rows for every site together, so
    that a visitor of two sites counts once.
    """

    def first_days(alias: str = "d", since: str = "t0", until: str = "t1") -> str:
        if values.get("filters"):
            raise ValueError("first_day_filter reads daily figures, which cannot be filtered")
        if not alias.isidentifier() or since not in ("t0", "p0") or until not in ("t0", "t1"):
            raise ValueError("first_day_filter takes an alias, since='t0' or 'p0' and until='t1' or 't0'")
        site = equals(f"{alias}.site", ":site") if values.get("site") else f"{alias}.site IS NULL"
        return (
            f"{alias}.day >= :{since} AND {alias}.day < :{until} AND {site}"
            f" AND ({alias}.prev_day IS NULL OR {alias}.prev_day < :{since})"
        )

    return first_days


def _whole_days(values: Mapping[str, Any]) -> bool:
    """Whether the range is whole days and nothing is filtered, so that daily figures answer it."""
    return not values.get("filters") and all(
        isinstance(values.get(name), datetime) and values[name].time() == datetime.min.time()
        for name in ("t0", "t1")
    )


def _visit_rollup(
    values: Mapping[str, Any], equals, hit_filter, as_int, exact, uses: _Uses
) -> dict[str, Any]:
    """Where a report over visits reads from, and how it counts: ``{{ visit_rollup.visitors }}`` etc.

    Unfiltered by page, whole visits come from the aggregated store
    (``sessions``, one row per visit with its entry's attributes, counted on
    the day it started); filtered to one page path (or by ``page``), from that page's views.
    """
    if values.get("path") or uses.filters.needs_page_views():
        return {
            "a": "v",
            "source": "visits v",
            "where": _Later(lambda: hit_filter("v")),
            "visitors": "COUNT(DISTINCT v.visitor_key)",
            "ips": f"COUNT(DISTINCT {exact('v.ip')})",
            "visits": "COUNT(DISTINCT v.visit_key)",
            "pageviews": "COUNT(*)",
            "time": "v.datetime",
            "whole": False,
        }
    return {
        "a": "s",
        "source": "sessions s",
        "where": _Later(lambda: session_filter(values, equals, uses)("s")),
        "visitors": "COUNT(DISTINCT s.visitor_key)",
        "ips": "COUNT(DISTINCT s.ip_key)",
        "visits": "COUNT(*)",
        "pageviews": as_int("SUM(s.pageviews)"),
        "time": "s.started",
        "whole": True,
    }


def _visit_figures(rollup: dict[str, Any]):
    def visit_figures(*columns: str) -> dict[str, Any]:
        """Where a report over visits grouped by ``columns`` reads from: ``{{ r.visitors }}`` etc.

        What ``visit_rollup`` reads, whatever the grouping: its visitors are
        distinct over the whole range, as the summary's are.
        """
        return rollup

    return visit_figures


def _event_figures(event_filter, as_int):
    def event_figures(*columns: str) -> dict[str, Any]:
        """Where a report over events grouped by ``columns`` reads from: ``{{ r.events }}`` etc.

        The events themselves: visitors distinct over the whole range.
        """
        return {
            "a": "e",
            "source": "events e",
            "where": event_filter("e"),
            "events": "COUNT(*)",
            "visitors": "COUNT(DISTINCT e.visitor_key)",
            "with_value": as_int("SUM(CASE WHEN COALESCE(e.value, '') <> '' THEN 1 ELSE 0 END)"),
        }

    return event_figures


def _visit_ends(dialect: str, hit_filter):
    def ends(*columns: str, last: bool = False) -> str:
        """A SELECT of one row per visit, among the page views ``hit_filter('v')`` keeps: the
        ``columns`` of its first view (``last=True``: of its last), by time then id.

        ClickHouse picks the view with argMin/argMax over the visit's views (18.16 has no window
        functions); the picked columns travel in one tuple, which is never NULL, so that a NULL
        column is picked as it is and not skipped as aggregate functions skip NULLs.
        """
        if not columns or not all(c.isidentifier() for c in columns):
            raise ValueError("first_views and last_views take column names of visits")
        where = hit_filter("v")
        if dialect == "clickhouse":
            pick = "argMax" if last else "argMin"
            picked = ", ".join(f"v.{c}" for c in columns)
            named = ", ".join(f"tupleElement(e.picked, {n}) AS {c}" for n, c in enumerate(columns, 1))
            return (
                f"SELECT {named} FROM (SELECT {pick}(tuple({picked}), tuple(v.datetime, v.id)) AS picked"
                f" FROM visits v WHERE {where} GROUP BY v.visit_key) e"
            )
        order = "v.datetime DESC, v.id DESC" if last else "v.datetime, v.id"
        picked = ", ".join(f"v.{c}" for c in columns)
        return (
            f"SELECT {', '.join(f'e.{c}' for c in columns)} FROM (SELECT {picked},"
            f" ROW_NUMBER() OVER (PARTITION BY v.visit_key ORDER BY {order}) AS n"
            f" FROM visits v WHERE {where}) e WHERE e.n = 1"
        )

    return ends


# Stores without the daily figures (ClickHouse): a report reads the visits, events and sessions the
# figures would be summed from (a columnar scan is fast enough there).
DAYS_MADE_ON_THE_FLY = frozenset({"clickhouse"})


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
    context: dict[str, Any] = {
        name: BoundParam(name, value) for name, value in values.items() if name not in ("filters", "goals")
    }
    context["goals"] = [
        {
            "name": BoundParam(f"goal_{n}_name", None),
            "kind": kind,
            "match": BoundParam(f"goal_{n}_match", None),
        }
        for n, kind in enumerate(values.get("goals", ()))
    ]
    context.update(sql_functions(dialect))
    context["dialect"] = dialect
    uses = _Uses(FilterSQL(values.get("filters", ()), context["equals"], context["contains"]))
    context["filters"] = [f.dimension for f in uses.filters.filters]
    context["hit_filter"] = _hit_filter(values, context["equals"], uses)
    context["event_filter"] = _event_filter(values, context["equals"], uses)
    context["session_filter"] = session_filter(values, context["equals"], uses)
    context["overlap_filter"] = overlap_filter(values, context["equals"], uses)
    context["day_filter"] = day_filter(values, context["equals"])
    # Where the daily figures are made on the fly, a report reads the rows they would be made from.
    context["whole_days"] = _whole_days(values) and dialect not in DAYS_MADE_ON_THE_FLY
    context["periods"] = periods_function(values, dialect, context)
    context["first_day_filter"] = first_day_filter(values, context["equals"])
    context["visit_rollup"] = _visit_rollup(
        values, context["equals"], context["hit_filter"], context["as_int"], context["exact"], uses
    )
    context["visit_figures"] = _visit_figures(context["visit_rollup"])
    ends = _visit_ends(dialect, context["hit_filter"])
    context["first_views"] = ends
    context["last_views"] = lambda *columns: ends(*columns, last=True)
    context["event_figures"] = _event_figures(context["event_filter"], context["as_int"])
    try:
        sql = _compile(template).render(context)
    except (UndefinedError, TypeError, ValueError) as exc:
        raise TemplateError(f"{template.path} cannot be rendered: {exc}") from None
    except Exception as exc:  # sandbox refusals and template bugs: the author's problem, not the caller's
        raise TemplateError(f"{template.path} cannot be rendered: {exc.__class__.__name__}: {exc}") from None
    if uses.filters.filters and not uses.applied:
        raise TemplateError(
            f"{template.path} declares filters but reads no rows through hit_filter, event_filter, "
            "session_filter, visit_rollup or visit_figures, so they would be ignored"
        )
    sql = _unquote_placeholders(sql, values)
    if dialect == "clickhouse":
        sql = grouped_distinct_counts(group_by_aliases(sql))
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

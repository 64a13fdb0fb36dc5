"""Report templates (contract 4): discovery, parameters, rendering and running, read-only.

For notebooks::

    from crumby.queries import dataframe
    dataframe("pages", days=7, limit=20)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from .params import ParameterError, TemplateError
from .run import QueryFailed, ReportResult, run_report
from .templates import Template, find_template, find_templates, lookup

__all__ = [
    "ParameterError",
    "QueryFailed",
    "ReportResult",
    "Template",
    "TemplateError",
    "UnknownReport",
    "dataframe",
    "find_template",
    "find_templates",
    "lookup",
    "run",
    "run_report",
]


class UnknownReport(LookupError):
    """No report template has that name."""


def run(name: str, settings: Mapping[str, Any] | None = None, **params: Any) -> ReportResult:
    """Run the report ``name`` (``pages``, or ``private/events``) with keyword parameters.

    ``f=["country:is:DE", "page:contains:/blog"]`` filters it (see :mod:`crumby.queries.filters`).
    """
    if settings is None:
        from ..config import load_settings

        settings = load_settings()
    template = lookup(name, settings)
    if template is None:
        names = ", ".join(f"{t.visibility}/{t.name}" for t in find_templates(settings))
        raise UnknownReport(f"no report named {name!r}; there are: {names}")
    raw: dict[str, Any] = {
        ("from" if key == "from_" else key): value.isoformat()
        if isinstance(value, (date, datetime))
        else str(value)
        for key, value in params.items()
        if value is not None and key != "f"
    }
    if params.get("f"):  # filters: "country:is:DE", or a list of them
        raw["f"] = [params["f"]] if isinstance(params["f"], str) else [str(f) for f in params["f"]]
    return run_report(template, raw, settings)


def dataframe(name: str, settings: Mapping[str, Any] | None = None, **params: Any):
    """The report ``name`` as a pandas DataFrame (``from_=`` stands for the ``from`` parameter)."""
    import pandas as pd

    result = run(name, settings, **params)
    frame = pd.DataFrame(result.rows, columns=result.columns)
    frame.attrs.update({"report": name, "t0": result.t0, "t1": result.t1, "truncated": result.truncated})
    return frame

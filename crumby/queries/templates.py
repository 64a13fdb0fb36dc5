"""Finding report templates and reading their header comments.

A report is one ``.sql`` file under ``public/`` or ``private/``: the built-in
folders in this package, then each folder named in ``QUERIES_PATH`` (a file
there overrides a built-in report of the same name). The file starts with a
comment block that names its title, description, chart hint and parameters::

    -- title: Top pages
    -- description: Pages by visitors and pageviews.
    -- chart: table
    -- param: limit int(1..10000) = 100  How many rows to return.
    -- filters: *
    -- column: page_path "Page"

``filters`` names the dimensions the report may be filtered by (``*``: all
of them; see :mod:`crumby.queries.filters`); ``column`` gives a column the
label a dashboard shows; ``goals: yes`` hands the template the goals
(``{% for goal in goals %}``, each with ``name``, ``kind`` and ``match``).

Files are read again when they change, so a dropped-in template needs no restart.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .filters import describe_dimensions, parse_filter_header
from .params import ParamSpec, TemplateError, parse_param_line

BUILTIN_DIR = Path(__file__).resolve().parent
VISIBILITIES = ("public", "private")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
CHART_HINTS = ("table", "line", "bar", "pie", "number", "map")
HEADER_LINE = re.compile(r"^--\s*([a-z_]+)\s*:\s*(.*?)\s*$")
COLUMN_LINE = re.compile(r'^([A-Za-z_][A-Za-z0-9_]*)\s+"([^"]{1,80})"$')


@dataclass(frozen=True)
class Template:
    """One report: where its file is and what its header says."""

    name: str
    visibility: str
    path: Path
    source: str
    title: str
    description: str
    chart: str
    params: tuple[ParamSpec, ...] = field(default=())
    builtin: bool = True
    filters: tuple[str, ...] = field(default=())
    labels: tuple[tuple[str, str], ...] = field(default=())
    goals: bool = False  # ``-- goals: yes``: it is given the goals (``{% for goal in goals %}``)

    @property
    def params_by_name(self) -> dict[str, ParamSpec]:
        return {p.name: p for p in self.params}

    def describe(self) -> dict[str, Any]:
        """What the API index and the OpenAPI description say about this report."""
        return {
            "name": self.name,
            "visibility": self.visibility,
            "title": self.title,
            "description": self.description,
            "chart": self.chart,
            "params": [p.describe() for p in self.params],
            "filters": describe_dimensions(self.filters),
            "labels": dict(self.labels),
            "builtin": self.builtin,
        }


def parse_template(path: Path, visibility: str, builtin: bool) -> Template:
    """Read ``path`` and its header comment; a malformed header raises TemplateError naming the file."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"report template {path} cannot be read: {exc}") from None
    header: dict[str, str] = {}
    params: list[ParamSpec] = []
    labels: list[tuple[str, str]] = []
    filters: tuple[str, ...] = ()
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            break
        match = HEADER_LINE.match(stripped)
        if not match:
            continue
        key, value = match.groups()
        if key == "param":
            try:
                params.append(parse_param_line(value))
            except TemplateError as exc:
                raise TemplateError(f"{path}: {exc}") from None
        elif key == "filters":
            try:
                filters = parse_filter_header(value)
            except ValueError as exc:
                raise TemplateError(f"{path}: {exc}") from None
        elif key == "goals":
            header["goals"] = value
        elif key == "column":
            column = COLUMN_LINE.match(value)
            if not column:
                raise TemplateError(f'{path}: write a column label as -- column: NAME "Label", got {value!r}')
            labels.append((column[1], column[2]))
        else:
            header[key] = value
    chart = header.get("chart", "table")
    if chart not in CHART_HINTS:
        raise TemplateError(f"{path}: chart must be one of {', '.join(CHART_HINTS)}, got {chart!r}")
    seen = set()
    for spec in params:
        if spec.name in seen:
            raise TemplateError(f"{path}: parameter {spec.name!r} is declared twice")
        seen.add(spec.name)
    return Template(
        name=path.stem,
        visibility=visibility,
        path=path,
        source=source,
        title=header.get("title", path.stem.replace("_", " ").capitalize()),
        description=header.get("description", ""),
        chart=chart,
        params=tuple(params),
        builtin=builtin,
        filters=filters,
        labels=tuple(labels),
        goals=header.get("goals", "no").lower() in ("yes", "true", "all"),
    )


_cache: dict[Path, tuple[tuple[int, int], Template]] = {}


def _load(path: Path, visibility: str, builtin: bool) -> Template:
    """``parse_template`` with a cache keyed on the file's mtime and size."""
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _cache.get(path)
    if cached and cached[0] == stamp:
        return cached[1]
    template = parse_template(path, visibility, builtin)
    _cache[path] = (stamp, template)
    return template


def template_folders(settings: Mapping[str, Any] | None) -> list[tuple[Path, bool]]:
    """Folders searched, lowest priority first: the built-ins, then QUERIES_PATH last-to-first."""
    user = [Path(os.path.expanduser(str(p))) for p in (settings or {}).get("QUERIES_PATH", ()) or ()]
    return [(BUILTIN_DIR, True)] + [(folder, False) for folder in reversed(user)]


def _report_files(folder: Path, visibility: str) -> Iterator[Path]:
    directory = folder / visibility
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        path = directory / name
        if name.endswith(".sql") and NAME_PATTERN.match(path.stem) and path.is_file():
            yield path


def find_templates(
    settings: Mapping[str, Any] | None = None, visibility: str | None = None
) -> list[Template]:
    """Every report (of one visibility, or both), user files overriding built-ins, sorted by name."""
    found: dict[tuple[str, str], Template] = {}
    for folder, builtin in template_folders(settings):
        for vis in VISIBILITIES if visibility is None else (visibility,):
            for path in _report_files(folder, vis):
                found[(vis, path.stem)] = _load(path, vis, builtin)
    return sorted(found.values(), key=lambda t: (VISIBILITIES.index(t.visibility), t.name))


def find_template(name: str, visibility: str, settings: Mapping[str, Any] | None = None) -> Template | None:
    """The report ``name`` of ``visibility``, or None when there is none."""
    if visibility not in VISIBILITIES or not NAME_PATTERN.match(name or ""):
        return None
    chosen: Template | None = None
    for folder, builtin in template_folders(settings):
        path = folder / visibility / f"{name}.sql"
        if path.is_file():
            chosen = _load(path, visibility, builtin)
    return chosen


def lookup(name: str, settings: Mapping[str, Any] | None = None) -> Template | None:
    """A report by bare name (public first), or ``private/name`` / ``public/name``."""
    if "/" in name:
        visibility, _, bare = name.partition("/")
        return find_template(bare, visibility, settings)
    return find_template(name, "public", settings) or find_template(name, "private", settings)

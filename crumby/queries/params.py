"""Report parameters: the time range every report gets, and the typed ones a template declares.

Every request value is checked against its type here and comes out as a
Python value (int, str, date, datetime, bool) that is later *bound*, never
written into SQL. A bad value raises :class:`ParameterError` naming the
parameter, which the API answers with 400.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ..store.days import utcnow

DEFAULT_DAYS = 30
MAX_DAYS = 3660
MAX_TEXT = 1000
RANGE_PARAMS = ("days", "from", "to", "t0", "t1")
RESERVED = frozenset(RANGE_PARAMS + ("p0", "format", "dialect", "f", "filters", "goals"))
RESERVED_PREFIXES = ("filter_", "goal_")
SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,64}$")
PARAM_LINE = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*)\s+"
    r"(?P<type>int(?:\(-?\d+\.\.-?\d+\))?|text|date|bool|key|choice\([A-Za-z0-9_|-]+\))"
    r"(?:\s*=\s*(?P<default>\"[^\"]*\"|\S+))?"
    r"\s*(?P<description>.*)$"
)
TRUE_WORDS = {"1", "true", "yes", "on"}
REQUIRED = None  # the default of a parameter declared without one: the request must give it
FALSE_WORDS = {"0", "false", "no", "off"}


class TemplateError(Exception):
    """A report template is malformed (bad header, undeclared parameter); the message names the file."""


class ParameterError(ValueError):
    """A request parameter is unknown or has a bad value; ``name`` is the parameter."""

    def __init__(self, name: str, message: str) -> None:
        # Neither a value nor an odd name is echoed: an error must not hand hostile input back.
        name = name if SAFE_NAME.match(name) else "(a parameter with an unusable name)"
        super().__init__(f"parameter {name!r}: {message}")
        self.name = name


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter: ``-- param: NAME TYPE [= DEFAULT] [description]``."""

    name: str
    kind: str  # int, text, date, bool, key, choice
    default: Any
    description: str = ""
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None

    def convert(self, raw: str) -> Any:
        """The typed value of ``raw``, or ParameterError."""
        return convert_value(self, raw)

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"name": self.name, "type": self.kind, "required": self.default is REQUIRED}
        if self.default is not REQUIRED:
            info["default"] = _jsonable(self.default)
        if self.choices:
            info["choices"] = list(self.choices)
        if self.minimum is not None:
            info["minimum"], info["maximum"] = self.minimum, self.maximum
        if self.description:
            info["description"] = self.description
        return info


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def parse_param_line(text: str) -> ParamSpec:
    """Parse the part after ``-- param:``; raises TemplateError saying what is wrong."""
    match = PARAM_LINE.match(text.strip())
    if not match:
        raise TemplateError(
            f"cannot read the parameter declaration {text!r}; write it as "
            "NAME TYPE [= DEFAULT] [description], TYPE one of int, int(MIN..MAX), text, date, bool, key, "
            "choice(a|b)"
        )
    name, kind = match["name"], match["type"]
    if name in RESERVED or name.startswith(RESERVED_PREFIXES):
        raise TemplateError(
            f"parameter name {name!r} is reserved ({', '.join(sorted(RESERVED))}, and names starting "
            f"with {' or '.join(RESERVED_PREFIXES)})"
        )
    spec = ParamSpec(name=name, kind=kind, default=None, description=match["description"].strip())
    if kind.startswith("int("):
        low, high = kind[4:-1].split("..")
        spec = ParamSpec(name, "int", None, spec.description, minimum=int(low), maximum=int(high))
    elif kind.startswith("choice("):
        spec = ParamSpec(name, "choice", None, spec.description, choices=tuple(kind[7:-1].split("|")))
    default = match["default"]
    if default is None:
        value = REQUIRED
    else:
        if default.startswith('"'):
            default = default[1:-1]
        try:
            value = convert_value(spec, default) if default != "" or spec.kind != "text" else ""
        except ParameterError as exc:
            raise TemplateError(f"the default of {exc}") from None
    return ParamSpec(spec.name, spec.kind, value, spec.description, spec.choices, spec.minimum, spec.maximum)


def _check_text(name: str, raw: str) -> str:
    if len(raw) > MAX_TEXT:
        raise ParameterError(name, f"is longer than {MAX_TEXT} characters")
    if "\x00" in raw:
        raise ParameterError(name, "contains a NUL character")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise ParameterError(name, "is not valid UTF-8") from None
    return raw


def convert_value(spec: ParamSpec, raw: str) -> Any:
    """Check ``raw`` against the spec's type and return the typed value."""
    name = spec.name
    if not isinstance(raw, str):
        raise ParameterError(name, "must be a single value")
    if spec.kind == "text":
        return _check_text(name, raw)
    text = raw.strip()
    if spec.kind == "int":
        if not re.fullmatch(r"-?\d{1,12}", text):
            raise ParameterError(name, "must be a whole number")
        number = int(text)
        if spec.minimum is not None and not spec.minimum <= number <= spec.maximum:
            raise ParameterError(name, f"must be between {spec.minimum} and {spec.maximum}, got {number}")
        return number
    if spec.kind == "bool":
        word = text.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ParameterError(name, "must be true or false")
    if spec.kind == "date":
        return parse_date(name, text)
    if spec.kind == "key":
        if not KEY_PATTERN.match(text):
            raise ParameterError(name, "must be 1 to 64 letters, digits or underscores")
        return text
    if spec.kind == "choice":
        if text not in spec.choices:
            raise ParameterError(name, f"must be one of {', '.join(spec.choices)}")
        return text
    raise TemplateError(f"unknown parameter type {spec.kind!r}")


def parse_date(name: str, text: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ParameterError(name, "must be a date written YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ParameterError(name, "is not a real date") from None


def parse_datetime(name: str, text: str) -> datetime:
    """A UTC time as YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (a trailing Z or +00:00 is accepted)."""
    text = text.strip()
    if len(text) == 10:
        day = parse_date(name, text)
        return datetime(day.year, day.month, day.day)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?", text):
        raise ParameterError(name, "must be a UTC time written YYYY-MM-DDTHH:MM:SS")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ParameterError(name, "is not a real time") from None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def single_values(raw: Mapping[str, Any]) -> dict[str, str]:
    """A query string as name -> one string; a name given twice (an array) is refused."""
    values: dict[str, str] = {}
    for name, value in raw.items():
        if isinstance(value, (list, tuple)):
            if len(value) != 1:
                raise ParameterError(str(name), "is given more than once; give it once")
            value = value[0]
        if not isinstance(value, str):
            value = str(value)
        values[str(name)] = value
    return values


def time_range(values: Mapping[str, str], now: datetime | None = None) -> tuple[datetime, datetime]:
    """``[t0, t1)`` in naive UTC from days, from/to or t0/t1; default: the last 30 days, today included."""
    now = now or utcnow()
    tomorrow = datetime(now.year, now.month, now.day) + timedelta(days=1)
    given = [k for k in RANGE_PARAMS if values.get(k, "") != ""]
    if "days" in given and len(given) > 1:
        raise ParameterError("days", "cannot be combined with from/to or t0/t1; give one of them")
    if {"from", "to"} & set(given) and {"t0", "t1"} & set(given):
        raise ParameterError("t0", "cannot be combined with from/to; give one of them")
    if "days" in given:
        days = convert_value(ParamSpec("days", "int", None, minimum=1, maximum=MAX_DAYS), values["days"])
        t0, t1 = tomorrow - timedelta(days=days), tomorrow
    elif "from" in given or "to" in given:
        if "from" not in given:
            raise ParameterError("from", "is missing: `to` needs a `from` date")
        start = parse_date("from", values["from"].strip())
        end = parse_date("to", values["to"].strip()) if "to" in given else tomorrow.date() - timedelta(1)
        t0 = datetime(start.year, start.month, start.day)
        t1 = datetime(end.year, end.month, end.day) + timedelta(days=1)
        if t1 <= t0:
            raise ParameterError("to", "is before `from`")
    elif "t0" in given or "t1" in given:
        if "t0" not in given:
            raise ParameterError("t0", "is missing: `t1` needs a `t0` time")
        t0 = parse_datetime("t0", values["t0"])
        t1 = parse_datetime("t1", values["t1"]) if "t1" in given else tomorrow
        if t1 <= t0:
            raise ParameterError("t1", "must be later than t0")
    else:
        t0, t1 = tomorrow - timedelta(days=DEFAULT_DAYS), tomorrow
    if t1 - t0 > timedelta(days=MAX_DAYS):
        raise ParameterError(
            "days" if "days" in given else "from", f"the range is longer than {MAX_DAYS} days"
        )
    if t0.year < 1970 or t1.year > 9000:
        raise ParameterError("from", "the range must lie between 1970 and 9000")
    return t0, t1


def resolve_params(
    specs: tuple[ParamSpec, ...], raw: Mapping[str, Any], *, now: datetime | None = None
) -> dict[str, Any]:
    """Every value a report is run with: t0, t1, p0 (start of the previous period) and its own params."""
    values = single_values(raw)
    by_name = {spec.name: spec for spec in specs}
    for name in values:
        if name not in by_name and name not in RANGE_PARAMS:
            known = ", ".join(list(RANGE_PARAMS) + sorted(by_name))
            raise ParameterError(name, f"is not a parameter of this report (known: {known})")
    t0, t1 = time_range(values, now)
    resolved: dict[str, Any] = {"t0": t0, "t1": t1, "p0": t0 - (t1 - t0)}
    for spec in specs:
        if spec.name in values:
            resolved[spec.name] = spec.convert(values[spec.name])
        elif spec.default is REQUIRED:
            raise ParameterError(spec.name, f"is required ({spec.description or spec.kind})")
        else:
            resolved[spec.name] = spec.default
    return resolved

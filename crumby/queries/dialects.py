"""The few SQL fragments that differ between DuckDB, SQLite, PostgreSQL, MySQL/MariaDB and ClickHouse.

Templates call these as Jinja functions (``{{ day('v.datetime') }}``) so the
same file returns the same rows everywhere. Their arguments are column
expressions written in the template, or bound parameters (which render as
``:name``); a request value never passes through them as text.

What they settle: day and hour labels as text; whole seconds since 1970
(floored, so durations agree to the second); integer division; ratios
rounded half-up in integer arithmetic and returned as floating point;
grouping and sorting text by code point (MySQL's default collation would
merge ``Chrome`` and ``chrome`` and PostgreSQL's may sort by locale);
string concatenation; one property of a JSON object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..store.engine import EXACT_COLLATIONS

DIALECTS = ("duckdb", "sqlite", "postgresql", "mysql", "clickhouse")

_DAY = {
    "duckdb": "strftime({0}, '%Y-%m-%d')",
    "sqlite": "strftime('%Y-%m-%d', {0})",
    "postgresql": "to_char({0}, 'YYYY-MM-DD')",
    "mysql": "DATE_FORMAT({0}, '%Y-%m-%d')",
    "clickhouse": "formatDateTime({0}, '%Y-%m-%d')",
}
_HOUR = {
    "duckdb": "strftime({0}, '%Y-%m-%d %H:00')",
    "sqlite": "strftime('%Y-%m-%d %H:00', {0})",
    "postgresql": "to_char({0}, 'YYYY-MM-DD HH24:00')",
    "mysql": "DATE_FORMAT({0}, '%Y-%m-%d %H:00')",
    "clickhouse": "formatDateTime({0}, '%Y-%m-%d %H:00')",
}
# Cheap values to group by before the labels above are made, once per group: a date, an hour.
_DAY_KEY = {
    "duckdb": "CAST({0} AS DATE)",
    "sqlite": "date({0})",
    "postgresql": "CAST({0} AS DATE)",
    "mysql": "DATE({0})",
    "clickhouse": "toDate({0})",
}
_HOUR_KEY = {
    "duckdb": "date_trunc('hour', {0})",
    "sqlite": "strftime('%Y-%m-%d %H:00:00', {0})",
    "postgresql": "date_trunc('hour', {0})",
    "mysql": "DATE_FORMAT({0}, '%Y-%m-%d %H:00:00')",
    "clickhouse": "toStartOfHour({0})",
}
_EPOCH = {
    "duckdb": "CAST(epoch(date_trunc('second', {0})) AS BIGINT)",
    "sqlite": "CAST(strftime('%s', {0}) AS INTEGER)",
    "postgresql": "CAST(EXTRACT(EPOCH FROM date_trunc('second', {0})) AS BIGINT)",
    "mysql": "(TO_SECONDS({0}) - 62167219200)",
    "clickhouse": "toInt64(toUnixTimestamp({0}))",
}
_IDIV = {
    "duckdb": "(({0}) // ({1}))",
    "sqlite": "(({0}) / ({1}))",
    "postgresql": "(({0}) / ({1}))",
    "mysql": "(({0}) DIV ({1}))",
    "clickhouse": "intDivOrZero({0}, {1})",  # only ever by NULLIF(x, 0): NULL, not an error, for none
}
_FLOAT = {
    "duckdb": "DOUBLE",
    "sqlite": "REAL",
    "postgresql": "DOUBLE PRECISION",
    "mysql": "DOUBLE",
    "clickhouse": "Nullable(Float64)",
}
_BIGINT = {
    "duckdb": "BIGINT",
    "sqlite": "INTEGER",
    "postgresql": "BIGINT",
    "mysql": "SIGNED",
    "clickhouse": "Nullable(Int64)",
}
# Text compared by code point, with the store's byte-for-byte collations (PostgreSQL's "C" quoted).
_TEXT_ORDER = {
    "duckdb": "{0}",
    "sqlite": "{0}",
    "postgresql": '{{0}} COLLATE "{}"'.format(EXACT_COLLATIONS["postgresql"]),
    "mysql": "{{0}} COLLATE {}".format(EXACT_COLLATIONS["mysql"]),
    "clickhouse": "{0}",
}
# Whether the text {1} occurs in the column {0}, case and all (MySQL's default collation would ignore case).
_CONTAINS = {
    "duckdb": "strpos({0}, {1}) > 0",
    "sqlite": "instr({0}, {1}) > 0",
    "postgresql": "strpos({0}, {1}) > 0",
    "mysql": "LOCATE(CAST({1} AS BINARY), CAST({0} AS BINARY)) > 0",
    "clickhouse": "position({0}, {1}) > 0",
}
# A text against a goal's page pattern, as goal_pattern() writes it for the dialect: case and all.
_MATCHES = {
    "duckdb": "{0} LIKE {1} ESCAPE '\\'",
    "sqlite": "{0} GLOB {1}",
    "postgresql": "{0} LIKE {1}",
    "mysql": "{0} COLLATE utf8mb4_bin LIKE {1}",
    "clickhouse": "{0} LIKE {1}",
}
_JSON_TEXT = {
    "duckdb": "json_extract_string({0}, '$.' || {1})",
    "sqlite": "json_extract({0}, '$.' || {1})",
    "postgresql": "(CAST({0} AS json) ->> CAST({1} AS TEXT))",
    "mysql": "JSON_UNQUOTE(JSON_EXTRACT({0}, CONCAT('$.', {1})))",
    "clickhouse": "JSONExtractString({0}, {1})",
}


def goal_pattern(pattern: str, dialect: str) -> str:
    """A page pattern (``*``: any text; all else literal) as ``matches`` takes it for ``dialect``."""
    if dialect == "sqlite":  # GLOB: * stays, ? and [ are made literal
        return "".join({"?": "[?]", "[": "[[]"}.get(ch, ch) for ch in pattern)
    escaped = "".join("\\" + ch if ch in "\\%_" else ch for ch in pattern)
    return escaped.replace("*", "%")


def sql_functions(dialect: str) -> dict[str, Callable[..., str]]:
    """The Jinja functions for ``dialect`` (one of DIALECTS)."""
    if dialect not in DIALECTS:
        raise ValueError(f"no SQL functions for the dialect {dialect!r}; crumby knows {', '.join(DIALECTS)}")

    def idiv(a: Any, b: Any) -> str:
        """a / b rounded down, both whole numbers."""
        return _IDIV[dialect].format(a, b)

    def ratio(a: Any, b: Any, digits: int = 2) -> str:
        """a / b rounded half-up to ``digits`` decimals, a float; NULL when b is 0."""
        scale = 10 ** int(digits)
        rounded = idiv(f"2 * {scale} * ({a}) + ({b})", f"2 * NULLIF({b}, 0)")
        return f"(CAST({rounded} AS {_FLOAT[dialect]}) / {scale})"

    def percent(a: Any, b: Any, digits: int = 1) -> str:
        """100 * a / b rounded half-up, a float; NULL when b is 0."""
        return ratio(f"100 * ({a})", b, digits)

    def label(expr: Any) -> str:
        """A text column for grouping and sorting: NULL as '', compared by code point."""
        return _TEXT_ORDER[dialect].format(f"COALESCE({expr}, '')")

    def equals(a: Any, b: Any) -> str:
        """a = b for text, by code point on every backend (MySQL's default would ignore case)."""
        return f"{a} = {b} COLLATE {EXACT_COLLATIONS['mysql']}" if dialect == "mysql" else f"{a} = {b}"

    def exact(expr: Any) -> str:
        """Text compared byte for byte, to count distinct ids: cheaper than a locale's order on
        PostgreSQL, and MySQL's default would take ``Ab`` and ``ab`` for one."""
        return _TEXT_ORDER[dialect].format(expr)

    def concat(*parts: Any) -> str:
        if dialect == "mysql":
            return "CONCAT(" + ", ".join(str(p) for p in parts) + ")"
        return "(" + " || ".join(str(p) for p in parts) + ")"

    return {
        "day": lambda expr: _DAY[dialect].format(expr),
        "hour": lambda expr: _HOUR[dialect].format(expr),
        "day_key": lambda expr: _DAY_KEY[dialect].format(expr),
        "hour_key": lambda expr: _HOUR_KEY[dialect].format(expr),
        "epoch": lambda expr: _EPOCH[dialect].format(expr),
        "as_float": lambda expr: f"CAST({expr} AS {_FLOAT[dialect]})",
        "as_int": lambda expr: f"CAST({expr} AS {_BIGINT[dialect]})",
        "json_text": lambda column, key: _JSON_TEXT[dialect].format(column, key),
        "idiv": idiv,
        "ratio": ratio,
        "percent": percent,
        "label": label,
        "equals": equals,
        "contains": lambda column, value: _CONTAINS[dialect].format(column, value),
        "matches": lambda column, pattern: _MATCHES[dialect].format(column, pattern),
        "exact": exact,
        "concat": concat,
    }

"""The OpenAPI 3.1 description of the report API, made from the templates themselves.

Each report is its own path with its own parameters, so a client generator
or a curious user sees exactly what ``/api/public/pages`` accepts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import __version__
from ..queries.filters import FILTER_PARAM, MAX_FILTERS, OPERATORS
from ..queries.templates import Template

_TYPES = {
    "int": {"type": "integer"},
    "text": {"type": "string", "maxLength": 1000},
    "date": {"type": "string", "format": "date"},
    "bool": {"type": "boolean"},
    "key": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,64}$"},
}
RANGE_PARAMETERS = (
    (
        "days",
        {"type": "integer", "minimum": 1, "maximum": 3660},
        "The last N days, today included (default 30).",
    ),
    ("from", {"type": "string", "format": "date"}, "First day of the range (YYYY-MM-DD), with `to`."),
    ("to", {"type": "string", "format": "date"}, "Last day of the range (YYYY-MM-DD), included."),
    ("t0", {"type": "string", "format": "date-time"}, "Start of the range, a UTC time, included."),
    ("t1", {"type": "string", "format": "date-time"}, "End of the range, a UTC time, excluded."),
    ("format", {"type": "string", "enum": ["json", "csv"], "default": "json"}, "Answer as JSON or CSV."),
)


def _schema(spec) -> dict[str, Any]:
    if spec.kind == "choice":
        schema: dict[str, Any] = {"type": "string", "enum": list(spec.choices)}
    else:
        schema = dict(_TYPES[spec.kind])
    if spec.minimum is not None:
        schema.update(minimum=spec.minimum, maximum=spec.maximum)
    described = spec.describe()
    if "default" in described:
        schema["default"] = described["default"]
    return schema


def _operation(template: Template) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "query", "required": False, "schema": schema, "description": text}
        for name, schema, text in RANGE_PARAMETERS
    ]
    if template.filters:
        names = "|".join(template.filters)
        parameters.append(
            {
                "name": FILTER_PARAM,
                "in": "query",
                "required": False,
                "style": "form",
                "explode": True,
                "schema": {
                    "type": "array",
                    "maxItems": MAX_FILTERS,
                    "items": {
                        "type": "string",
                        "pattern": f"^({names}):({'|'.join(OPERATORS)}):",
                        "maxLength": 1100,
                    },
                },
                "description": "Filters, DIMENSION:OPERATOR:VALUE (e.g. country:is:DE), repeated; all must "
                f"hold. Dimensions: {', '.join(template.filters)}.",
            }
        )
    for spec in template.params:
        parameters.append(
            {
                "name": spec.name,
                "in": "query",
                "required": spec.describe()["required"],
                "schema": _schema(spec),
                "description": spec.description,
            }
        )
    responses: dict[str, Any] = {
        "200": {
            "description": "The report's rows.",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Report"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        "304": {"description": "Unchanged since the ETag the client sent (no ETL load since)."},
        "400": {"$ref": "#/components/responses/BadParameter"},
        "503": {"$ref": "#/components/responses/Unavailable"},
    }
    operation: dict[str, Any] = {
        "operationId": f"{template.visibility}_{template.name}",
        "summary": template.title,
        "description": template.description,
        "tags": [template.visibility],
        "parameters": parameters,
        "responses": responses,
        "x-chart": template.chart,
    }
    if template.visibility == "private":
        operation["security"] = [{"bearerToken": []}, {"loginCookie": []}]
        responses["401"] = {"$ref": "#/components/responses/Unauthorised"}
    return {"get": operation}


def _error_response(text: str) -> dict[str, Any]:
    return {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def openapi_document(templates: Iterable[Template], server_url: str = "") -> dict[str, Any]:
    """The whole description: every report path, the index and the shared schemas."""
    paths: dict[str, Any] = {
        "/api": {
            "get": {
                "operationId": "list_reports",
                "summary": "The reports this caller may run, with their parameters.",
                "responses": {"200": {"description": "The list (HTML for a browser)."}},
            }
        }
    }
    for template in templates:
        paths[f"/api/{template.visibility}/{template.name}"] = _operation(template)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "crumby report API",
            "version": __version__,
            "description": "Web analytics reports from SQL templates; read-only.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Report": {
                    "type": "object",
                    "required": ["columns", "data"],
                    "properties": {
                        "report": {"type": "string"},
                        "visibility": {"type": "string", "enum": ["public", "private"]},
                        "columns": {"type": "array", "items": {"type": "string"}},
                        "data": {"type": "array", "items": {"type": "array"}},
                        "range": {
                            "type": "object",
                            "properties": {"t0": {"type": "string"}, "t1": {"type": "string"}},
                        },
                        "timing": {"type": "object", "properties": {"ms": {"type": "number"}}},
                        "truncated": {"type": "boolean"},
                        "rows": {"type": "integer"},
                        "status": {
                            "type": "string",
                            "description": "`no data loaded yet` before the first `crumby etl` (no rows).",
                        },
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}, "parameter": {"type": "string"}},
                },
            },
            "responses": {
                "BadParameter": _error_response("A parameter is unknown or malformed; `parameter` names it."),
                "Unauthorised": _error_response("A private report needs a login or an API token."),
                "Unavailable": _error_response("The query hit its time limit, or the store is busy."),
            },
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer", "description": "crumby token create"},
                "loginCookie": {"type": "apiKey", "in": "cookie", "name": "crumby_session"},
            },
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document

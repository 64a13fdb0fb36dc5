"""The report API (contract 5): every template becomes ``/api/public/<name>`` or ``/api/private/<name>``.

Answers are ``{"columns": [...], "data": [[...]]}`` with the range, timing and
a truncated flag beside them, or CSV with ``format=csv``. Errors are JSON
``{"error": ...}``: 400 for a bad parameter (named), 401 for a private report
without a login or token, 404 for an unknown report, 503 when the query hit
its time limit or the store is busy. No answer carries SQL text or a
traceback: details go to the server log. The ETag follows the last ETL load,
so a dashboard's repeated requests are answered 304 without running a query.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from ..queries.filters import DIMENSIONS, OPERATORS, describe_dimensions
from ..queries.output import to_csv
from ..queries.params import ParameterError, TemplateError
from ..queries.run import NotModified, QueryFailed, prepare, run_prepared, store_url
from ..queries.templates import NAME_PATTERN, find_template, find_templates
from ..store.engine import StoreEmpty, StoreError, backend_name
from ..store.readonly import PowerfulUser, QueryTimeout, StoreBusy
from .auth import auth_store, private_access_allowed
from .openapi import openapi_document

log = logging.getLogger(__name__)

reports_blueprint = Blueprint("reports", __name__)
FORMATS = ("json", "csv")


def _settings() -> dict[str, Any]:
    return current_app.config["CRUMBY"]


def error(status: int, message: str, **extra: Any) -> Response:
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


@reports_blueprint.after_request
def cors(response: Response) -> Response:
    """Access-Control-Allow-Origin per CROSSDOMAIN_ORIGIN, as the original Crumby sent it."""
    origin = _settings().get("CROSSDOMAIN_ORIGIN") or ""
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Headers"] = "Authorization"
        response.headers["Access-Control-Expose-Headers"] = "ETag, Last-Modified"
        if origin != "*":
            response.vary.add("Origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


@reports_blueprint.errorhandler(Exception)
def unexpected(exc: Exception) -> Response:
    """Whatever went wrong, the client gets a short JSON message; the log gets the traceback."""
    if getattr(exc, "code", None) and getattr(exc, "description", None):  # an HTTPException
        return error(exc.code, exc.description)
    log.exception("report API failure")
    return error(500, "the report server failed; the server log has the details")


@reports_blueprint.app_errorhandler(404)
@reports_blueprint.app_errorhandler(405)
def api_http_error(exc):
    """Under /api even a path that matches no route gets a JSON answer; elsewhere Flask's own page."""
    if request.path == "/api" or request.path.startswith("/api/"):
        return error(exc.code, "there is no such API address; GET /api lists the reports")
    return exc


def _wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.args.get("format") != "json"


@reports_blueprint.get("/api")
@reports_blueprint.get("/api/")
def index() -> Response | str:
    """The reports this caller may run, with their parameters (an HTML page for a browser)."""
    visibility = None if private_access_allowed() else "public"
    try:
        templates = find_templates(_settings(), visibility)
    except TemplateError as exc:
        log.error("%s", exc)
        return error(500, "a report template is broken; the server log says which")
    reports = [{**t.describe(), "url": f"/api/{t.visibility}/{t.name}"} for t in templates]
    if _wants_html():
        return render_template("api.html", reports=reports)
    return jsonify(
        {
            "reports": reports,
            "range_parameters": {
                "days": "the last N days, today included (default 30)",
                "from, to": "dates YYYY-MM-DD, both included",
                "t0, t1": "UTC times, t0 included, t1 excluded",
            },
            "filters": {
                "syntax": "f=DIMENSION:OPERATOR:VALUE, repeated; every filter must hold",
                "operators": list(OPERATORS),
                "example": "/api/public/pages?f=country:is:DE&f=source:is_not:Google",
                "dimensions": describe_dimensions(DIMENSIONS),
            },
            "formats": list(FORMATS),
            "openapi": "/api/openapi.json",
        }
    )


@reports_blueprint.get("/api/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document(find_templates(_settings()), request.host_url.rstrip("/")))


@reports_blueprint.route("/api/<visibility>/<name>", methods=["OPTIONS"])
def preflight(visibility: str, name: str) -> Response:
    response = Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "GET, OPTIONS"
    response.headers["Access-Control-Max-Age"] = "600"
    return response


@reports_blueprint.get("/api/<visibility>/<name>")
def report(visibility: str, name: str) -> Response:
    if visibility not in ("public", "private"):
        return error(404, "there is no such report; GET /api lists them")
    if visibility == "private" and not private_access_allowed():
        response = error(
            401, "this report is private: sign in at /login or send Authorization: Bearer <token>"
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="crumby"'
        return response
    settings = _settings()
    try:
        template = find_template(name, visibility, settings)
    except TemplateError as exc:
        log.error("%s", exc)
        return error(500, f"the report {name!r} has a broken template; the server log says why")
    if template is None:
        shown = f" named {name!r}" if NAME_PATTERN.match(name) else ""
        return error(404, f"there is no {visibility} report{shown}; GET /api lists them")

    raw = request.args.to_dict(flat=False)
    output = raw.pop("format", ["json"])
    try:
        if len(output) != 1 or output[0] not in FORMATS:
            raise ParameterError("format", f"must be one of {', '.join(FORMATS)}, given once")
        url = store_url(settings)
        query = prepare(template, raw, backend_name(url), goals=_goals() if template.goals else ())
    except ParameterError as exc:
        return error(400, str(exc), parameter=exc.name)
    except TemplateError as exc:
        log.error("%s", exc)
        return error(500, f"the report {name!r} has a broken template; the server log says why")
    except StoreError as exc:
        log.error("%s", exc)
        return error(503, "the store cannot be reached; the server log says why")

    salt = f"{template.path}|{template.source}|{sorted(query.values.items())}|{output[0]}"
    try:
        result = run_prepared(query, settings, etag_salt=salt, if_none_match=_client_etags())
    except NotModified as stamp:
        return _cached(Response(status=304), stamp.etag, stamp.last_modified, visibility)
    except QueryTimeout:
        timeout = settings.get("REPORT_TIMEOUT")
        return error(503, f"the report took longer than {timeout} s and was stopped; try a shorter range")
    except StoreBusy as exc:
        response = error(503, str(exc))
        response.headers["Retry-After"] = "1"
        return response
    except StoreEmpty:
        return _empty_store_answer(name, visibility, query, output[0])
    except PowerfulUser as exc:
        log.error("%s", exc)
        return error(
            503, "reports are not run as a database user that may read the server's files; see the log"
        )
    except (QueryFailed, StoreError) as exc:
        log.error("report %s/%s: %s", visibility, name, exc)
        return error(500, f"the report {name!r} failed; the server log has the details")
    if output[0] == "csv":
        response = Response(to_csv(result.columns, result.rows), mimetype="text/csv")
        response.headers["Content-Disposition"] = f'inline; filename="{name}.csv"'
        response.headers["X-Truncated"] = "true" if result.truncated else "false"
    else:
        response = jsonify({"report": name, "visibility": visibility, **result.as_dict()})
    return _cached(response, result.etag, result.last_modified, visibility)


NO_DATA = "no data loaded yet"


def _empty_store_answer(name: str, visibility: str, query, output: str) -> Response:
    """Before the first ``crumby etl``: no rows, and a status that says why (not an error)."""
    if output == "csv":
        response = Response("", mimetype="text/csv")
        response.headers["X-Status"] = NO_DATA
    else:
        response = jsonify(
            {
                "report": name,
                "visibility": visibility,
                "columns": [],
                "data": [],
                "rows": 0,
                "truncated": False,
                "range": {"t0": query.values["t0"].isoformat(), "t1": query.values["t1"].isoformat()},
                "status": NO_DATA,
                "hint": "send a first hit from a page with the tracker, then run `crumby etl`",
            }
        )
    response.headers["Cache-Control"] = "no-store"
    return response


def _goals() -> list:
    """The goals (``crumby goal add``), read from the auth database, which the CLI writes."""
    from ..auth import list_goals

    return list_goals(auth_store())


def _client_etags() -> set[str]:
    return {tag for tag in request.if_none_match.as_set()} if request.if_none_match else set()


def _cached(response: Response, etag: str | None, last_modified, visibility: str) -> Response:
    """Revalidate every time (the ETL may load at any moment) but let an unchanged answer be a 304."""
    response.headers["Cache-Control"] = ("public" if visibility == "public" else "private") + ", no-cache"
    if visibility == "private":
        response.vary.add("Authorization")
        response.vary.add("Cookie")
    if etag:
        response.set_etag(etag)
    if last_modified:
        response.last_modified = last_modified
    return response

"""The dashboard at ``/``: a page of empty cards that ``static/dashboard.js`` fills from the report API.

Which reports appear, and under what title, is listed here; a report the
API does not have (404) simply leaves its card hidden, so a site with fewer
or more templates still gets a tidy page. Private cards are rendered only
for a signed-in user. A click on a row filters every card by that row's
value (``f=DIMENSION:is:VALUE`` in the page's address and in every request).
"""

from __future__ import annotations

import json

from flask import Blueprint, current_app, render_template, request

from ..queries.params import TemplateError
from ..queries.templates import find_template
from .auth import logged_in_user, page_security_headers

dashboard_blueprint = Blueprint("dashboard", __name__)
dashboard_blueprint.after_request(page_security_headers)

SUMMARY_REPORT = "summary"
TIMESERIES_REPORT = "timeseries"

# (report name, card title, the filter a click on a row adds, the column that holds its value),
# in the order they appear.
PUBLIC_CARDS = (
    ("pages", "Pages", "page", "page_path"),
    ("documents", "Page titles", "", ""),
    ("entry_pages", "Entry pages", "entry_page", "page_path"),
    ("exit_pages", "Exit pages", "exit_page", "page_path"),
    ("sources", "Sources", "source", "source"),
    ("channels", "Channels", "channel", "channel"),
    ("campaigns", "Campaigns", "utm_campaign", "campaign"),
    ("countries", "Countries", "country", "country"),
    ("regions", "Regions", "region", "region"),
    ("cities", "Cities", "city", "city"),
    ("browsers", "Browsers", "browser", "browser"),
    ("operating_systems", "Operating systems", "os", "os"),
    ("devices", "Devices", "device", "device"),
    ("screen_sizes", "Screen sizes", "screen", "screen_size"),
    ("languages", "Languages", "language", "language"),
)
PRIVATE_CARDS = (
    ("goals", "Goals", "", ""),
    ("event_names", "Events", "event", "name"),
    ("event_values", "Event values", "event", "name"),
    ("events", "Events by page", "event", "name"),
    ("origins", "Origins", "", ""),
    ("locations", "Visitor locations", "city", "city"),
)
PRESET_DAYS = (1, 7, 30, 90)


def _labels(name: str, visibility: str) -> str:
    """The column labels the report's header gives (``-- column:``), as JSON for the page's script."""
    try:
        template = find_template(name, visibility, current_app.config["CRUMBY"])
    except TemplateError:
        return "{}"
    return json.dumps(dict(template.labels) if template else {}, ensure_ascii=False)


@dashboard_blueprint.get("/")
def dashboard():
    user = logged_in_user()
    return render_template(
        "dashboard.html",
        user=user,
        public_cards=PUBLIC_CARDS,
        private_cards=PRIVATE_CARDS if user else (),
        preset_days=PRESET_DAYS,
        tracker_url=request.host_url + "cmb.js",
        labels=_labels,
    )

"""The dashboard at ``/``: a page of empty cards that ``static/dashboard.js`` fills from the report API.

Which reports appear, and under what title, is listed here; a report the
API does not have (404) simply leaves its card hidden, so a site with fewer
or more templates still gets a tidy page. Private cards are rendered only
for a signed-in user.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from .auth import logged_in_user, page_security_headers

dashboard_blueprint = Blueprint("dashboard", __name__)
dashboard_blueprint.after_request(page_security_headers)

SUMMARY_REPORT = "summary"
TIMESERIES_REPORT = "timeseries"

# (report name, card title) in the order they appear.
PUBLIC_CARDS = (
    ("pages", "Pages"),
    ("documents", "Page titles"),
    ("entry_pages", "Entry pages"),
    ("exit_pages", "Exit pages"),
    ("sources", "Sources"),
    ("channels", "Channels"),
    ("campaigns", "Campaigns"),
    ("countries", "Countries"),
    ("regions", "Regions"),
    ("cities", "Cities"),
    ("browsers", "Browsers"),
    ("operating_systems", "Operating systems"),
    ("devices", "Devices"),
    ("screen_sizes", "Screen sizes"),
    ("languages", "Languages"),
)
PRIVATE_CARDS = (
    ("event_names", "Events"),
    ("event_values", "Event values"),
    ("events", "Events by page"),
    ("origins", "Origins"),
    ("locations", "Visitor locations"),
)
PRESET_DAYS = (7, 30, 90)


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
    )

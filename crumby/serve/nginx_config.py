"""nginx as the collector: its configuration for this install, and the tracker file it serves.

nginx answers ``/<n>.gif``, ``POST /collect`` and ``/cmb.js`` itself and appends
each hit to ``LOG_DIR`` as one line of the nginx variant of the raw hit log
(:mod:`crumby.nginx_hits`); the ETL checks and converts those lines. No
Python runs on the tracking path.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import hits
from .collect import load_tracker

TRACKER_NAME = "cmb.js"
HOST_NAME = re.compile(r"^[a-z0-9.-]+$")

# nginx's own syntax is full of braces and dollars: the install's values go in at @NAME@.
TEMPLATE = r"""# crumby: nginx as the collector (printed by `crumby nginx-config`; see the README).
# nginx answers /<n>.gif, POST /collect and /cmb.js itself and appends each hit to
# @LOG_DIR@ as one JSON line (the nginx variant of the raw hit log); `crumby etl`
# checks and converts those lines, and sets aside what the Python collector would have refused.
# Install: copy to /etc/nginx/conf.d/crumby-collector.conf (an http-level include), write the
# tracker with `crumby nginx-config --write-js`, let nginx's user create files in the log
# folder, then `nginx -t && systemctl reload nginx`.
# The file name's hour is nginx's local hour: run nginx with TZ=UTC (the default on Debian
# servers) so that it is UTC, as the Python collector's is. Each hit's time is $msec, in UTC.

# The hour of the request, for the log file's name: hits-YYYYMMDDHH-nginx_<host>.jsonl.
map $time_iso8601 $crumby_hour {
    "~^(?<cy>\d{4})-(?<cmo>\d\d)-(?<cd>\d\d)T(?<ch>\d\d)" "$cy$cmo$cd$ch";
    default "0000000000";
}

# Only answered hits are logged (not a 405 for a wrong method, say).
map $status $crumby_answered {
    ~^2 1;
    default 0;
}

# The install's settings travel on each line, so the ETL judges a hit by the rules it was collected under.
log_format crumby_gif escape=json
    '{"v":1,"src":"nginx","kind":"gif","id":"$request_id","msec":"$msec","q":"$args",'
    '"ip":"$remote_addr","xff":"$http_x_forwarded_for","ua":"$http_user_agent",'
    '"referer":"$http_referer","lang":"$http_accept_language",'
    '"cookieless":@COOKIELESS@,"proxies":@PROXIES@,"sites":"@SITES@"}';
log_format crumby_post escape=json
    '{"v":1,"src":"nginx","kind":"post","id":"$request_id","msec":"$msec",'
    '"ct":"$content_type","body":"$request_body",'
    '"ip":"$remote_addr","xff":"$http_x_forwarded_for","ua":"$http_user_agent",'
    '"referer":"$http_referer","lang":"$http_accept_language",'
    '"cookieless":@COOKIELESS@,"proxies":@PROXIES@,"sites":"@SITES@"}';

server {
    listen @LISTEN@;
    server_name @SERVER_NAME@;
    root @JS_DIR@;
    access_log off;

    # The Python collector's limits: 16 KB of body, kept in memory so that $request_body holds it.
    client_max_body_size @MAX_BODY@;
    client_body_buffer_size @MAX_BODY@;
    large_client_header_buffers 4 @MAX_HEADER@;
    # Each line is one write(2) on a file opened O_APPEND (no `buffer=`): whole lines, from any worker.
    open_log_file_cache max=16 inactive=2m valid=1m;

    location ~ "^/[0-9]{1,12}\.gif$" {
        empty_gif;
        add_header Cache-Control "no-cache, no-store, must-revalidate, max-age=0";
        add_header Pragma no-cache;
        add_header Expires 0;
        @CORS@
        access_log @LOG_DIR@/hits-$crumby_hour-nginx_$hostname.jsonl crumby_gif if=$crumby_answered;
    }

    # POST /collect: the mirror reads the body (so that it can be logged); the static handler
    # then finds no file named "collect" in the tracker's folder, and that 404 becomes the 204 of a hit.
    location = /collect {
        if ($request_method = OPTIONS) {
            @CORS@
            add_header Access-Control-Allow-Methods "POST, GET, OPTIONS";
            add_header Access-Control-Allow-Headers Content-Type;
            add_header Access-Control-Max-Age 86400;
            return 204;
        }
        if ($request_method != POST) {
            return 405;
        }
        log_not_found off;
        mirror /_crumby_read_body;
        mirror_request_body on;
        error_page 404 =204 /_crumby_stored;
    }
    location = /_crumby_read_body {
        internal;
        return 204;
    }
    location = /_crumby_stored {
        internal;
        add_header Cache-Control "no-cache, no-store, must-revalidate, max-age=0";
        @CORS@
        access_log @LOG_DIR@/hits-$crumby_hour-nginx_$hostname.jsonl crumby_post if=$crumby_answered;
        return 204;
    }

    # The tracker, written by `crumby nginx-config --write-js` (cmb.js and cmb.js.gz).
    location = /cmb.js {
        gzip_static on;
        gzip_vary on;
        types { }
        default_type "text/javascript; charset=utf-8";
        add_header Cache-Control "public, max-age=900";
        add_header Access-Control-Allow-Origin *;
    }

    location = /health {
        default_type application/json;
        return 200 '{"status":"ok"}';
    }

    # The report server can be proxied from here too: see deployment/nginx/crumby.conf.
    location / {
        return 404;
    }
}
"""


def render_collector_conf(
    settings: Mapping[str, Any],
    *,
    js_dir: str | os.PathLike,
    server_name: str = "_",
    listen: str = "80",
    proxy_count: int = 0,
) -> str:
    """The nginx configuration for this install's settings (LOG_DIR, SITES, COOKIELESS, CROSSDOMAIN_ORIGIN).

    ``proxy_count`` is how many trusted proxies stand in front of nginx itself.
    """
    sites = [site.lower() for site in settings.get("SITES", ())]
    bad = [site for site in sites if not HOST_NAME.match(site)]
    if bad:
        raise ValueError(f"SITES holds {bad[0]!r}, which is not a host name")
    origin = settings.get("CROSSDOMAIN_ORIGIN") or ""
    if any(char in origin for char in "\"'\\;{}\n"):
        raise ValueError(f"CROSSDOMAIN_ORIGIN {origin!r} cannot be written into an nginx header")
    cors = rf'\1add_header Access-Control-Allow-Origin "{origin}";\n' if origin else ""
    values = {
        "LOG_DIR": str(Path(settings["LOG_DIR"]).resolve()),
        "JS_DIR": str(Path(js_dir).resolve()),
        "SERVER_NAME": server_name,
        "LISTEN": listen,
        "COOKIELESS": "true" if settings.get("COOKIELESS") else "false",
        "PROXIES": str(int(proxy_count)),
        "SITES": " ".join(sites),
        "MAX_BODY": f"{hits.MAX_BODY_BYTES // 1024}k",
        "MAX_HEADER": f"{hits.MAX_HEADER_BYTES // 1024}k",
    }
    text = re.sub(r"^( *)@CORS@\n", cors, TEMPLATE, flags=re.M)
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    return text


def write_tracker(settings: Mapping[str, Any], folder: str | os.PathLike) -> list[Path]:
    """Write cmb.js (with this install's DOMAIN and options) and its gzip twin for nginx to serve."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tracker = load_tracker(settings)
    written = []
    for name, data in ((TRACKER_NAME, tracker), (TRACKER_NAME + ".gz", gzip.compress(tracker, 9, mtime=0))):
        path = folder / name
        temporary = path.with_name(f".{name}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)  # nginx never serves half a file
        written.append(path)
    return written

"""Gunicorn settings for running crumby in production.

Use with ``gunicorn -c python:crumby.serve.gunicorn_conf 'crumby.serve.collect:create_collector()'``
(the collector alone) or ``... 'crumby.serve:create_app()'`` (collector and reports); any
command-line option, ``-b`` for the address above all, wins over what is set here.
The benchmark (bench/collector.py) runs with these same settings.
"""

import os

bind = "127.0.0.1:8000"

# Sync workers: a hit costs a fraction of a millisecond of CPU and never waits on
# anything but one write, so one process per core, plus one to cover the moments a
# worker is restarting, keeps every core busy without switching between threads.
# Run crumby behind nginx (PROXY_COUNT=1), which shields sync workers from slow clients.
worker_class = "sync"
workers = (os.cpu_count() or 1) + 1

# Load the app once in the master: settings are read and checked before any worker
# starts (a bad value stops gunicorn with its message), and a worker that dies is
# replaced by a cheap fork instead of a fresh import.  This is safe because crumby
# opens nothing at load time that a fork could share: log files and database
# connections are opened by each worker on its first request.
preload_app = True

# The collector's own limits (crumby.hits) answer 414/431 with a clear message; the
# server's must not be tighter.  8190 is the most gunicorn allows for either.
limit_request_line = 8190
limit_request_field_size = 8190

# The raw hit log is the access log: do not write a second one per hit.
accesslog = None
errorlog = "-"

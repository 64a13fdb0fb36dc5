"""Access logs (nginx, Apache) turned into raw hits, so sites without a tracker get reports too.

``formats`` reads a line, ``pages`` decides whether it was a page view, ``sources``
opens the logs and remembers how far a live one was read, and ``run`` writes the
page views as contract-2 files in ``LOG_DIR`` for ``crumby etl`` to load like any
other. Imports only the standard library, :mod:`crumby.hits`, :mod:`crumby.config` and the
raw log's file naming (:mod:`crumby.serve.hitlog`).
"""

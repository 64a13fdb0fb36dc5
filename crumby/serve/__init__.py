"""The web side of crumby: the collector, and the report server built on Flask.

Nothing is imported here, so that ``crumby.serve.collect`` stays light: the
collection path must not pull in Flask's report side, the store or pandas.
"""


def create_app(settings=None):
    """The full web app (collector in front of the Flask app); see :mod:`crumby.serve.app`."""
    from .app import create_app as _create_app

    return _create_app(settings)

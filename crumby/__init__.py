"""crumby: self-hosted, log-based batch web analytics."""

__version__ = "0.1.0"

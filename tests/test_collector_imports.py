"""The collection path stays light: a fresh interpreter that loads it holds no heavy module."""

import subprocess
import sys

HEAVY = ("sqlalchemy", "duckdb", "pandas", "geoip2", "user_agents", "ua_parser", "pyarrow", "flask")

PROGRAM = f"""
import sys
from crumby.serve.collect import Collector, create_collector
import crumby.hits
heavy = [m for m in {HEAVY!r} if m in sys.modules]
print(",".join(heavy))
"""


def test_collector_module_imports_nothing_heavy():
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the collector pulled in: {out.stdout.strip()}"

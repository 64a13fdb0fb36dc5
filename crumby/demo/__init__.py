"""``crumby demo``: a few weeks of made-up traffic, through the real collector and ETL."""

"""Rewrite the settings table in README.md from crumby.config.SETTINGS."""

import re
from pathlib import Path

from crumby.config import settings_markdown

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"

text = README.read_text(encoding="utf-8")
block = f"{START}\n{settings_markdown()}\n{END}"
new = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
README.write_text(new, encoding="utf-8")
print("README settings table:", "updated" if new != text else "already current")

#!/usr/bin/env python3
"""A newcomer's first run, for real: clone the repository into a temporary folder, run the README's
first quick-start command exactly as written there, and check that the dashboard answers and shows the
demo's visitors. (The README's second command, the test suite, is what .ci/run itself runs.)"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = 5000
WAIT_SECONDS = 900


def quick_start_commands(readme: str) -> list[str]:
    """The shell blocks of the README's "Quick start" section, in order."""
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def fetch_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def main() -> int:
    first, _second = quick_start_commands((ROOT / "README.md").read_text(encoding="utf-8"))[:2]
    with tempfile.TemporaryDirectory(prefix="crumby-newcomer-") as tmp:
        clone = Path(tmp) / "crumby"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        home = Path(tmp) / "home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRUMBY_")}
        env.update(HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"))
        print(f"newcomer: running the README's first command in {clone}:\n  {first}", flush=True)
        process = subprocess.Popen(["bash", "-c", first], cwd=clone, env=env, start_new_session=True)
        try:
            deadline = time.monotonic() + WAIT_SECONDS
            summary = None
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    summary = fetch_json(f"http://127.0.0.1:{PORT}/api/public/summary?days=30")
                    break
                except OSError:
                    time.sleep(2)
            if summary is None:
                print("newcomer: FAILED: the dashboard never answered", file=sys.stderr)
                return 1
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/", timeout=10) as response:
                page = response.read().decode()
            row = dict(zip(summary["columns"], summary["data"][0], strict=True))
            visitors = row.get("visitors") or 0
            print(f"newcomer: dashboard answered ({len(page)} bytes); summary: {row}")
            if response.status != 200 or visitors <= 0:
                print("newcomer: FAILED: the dashboard shows no demo visitors", file=sys.stderr)
                return 1
            print(f"newcomer: 1 passed, 0 failed ({visitors} demo visitors on the dashboard)")
            return 0
        finally:
            stop(process)


def stop(process: subprocess.Popen) -> None:
    """End the demo server and anything it started."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=20)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


if __name__ == "__main__":
    sys.exit(main())

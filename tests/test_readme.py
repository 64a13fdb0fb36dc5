"""The README's quick start is what CI runs: the same two commands, word for word."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_newcomer():
    spec = importlib.util.spec_from_file_location("newcomer", ROOT / ".ci" / "newcomer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_start_has_two_commands_and_ci_runs_them_as_written():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first, second = load_newcomer().quick_start_commands(readme)
    assert "crumby demo" in first and "pip install ." in first
    assert "pytest" in second
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert second in ci.splitlines(), ".ci/run must run the README's test command exactly"
    assert ".ci/newcomer.py" in ci, ".ci/run must run the README's first command (through newcomer.py)"

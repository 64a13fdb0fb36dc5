"""Kept for tools that expect it; the project's metadata lives in pyproject.toml."""

from setuptools import setup

setup()

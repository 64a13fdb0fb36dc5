"""``python -m crumby``: the same as the ``crumby`` command."""

from .cli import main

main()

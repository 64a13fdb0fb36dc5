"""Many regular expressions over one string at once: which comes first that matches?

ua-parser's Rust accelerator (``ua-parser-rs``) compiles a list of patterns
into one regex set and answers, in one call of about a microsecond, the name
of the first pattern in list order that matches: some 5 us a user agent for
2,500 patterns, where Python's re walking them takes over 1 ms. Rust's regex
has no look-arounds nor back-references; :class:`FirstMatch` leaves such
patterns to Python's re and asks Rust first whether the pattern without its
look-arounds (which matches all it matches, and more) matches at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

RUST_CANNOT = re.compile(r"\(\?<?[!=]|\\[1-9]")
LOOKAROUND = re.compile(r"\(\?<?[!=](?:\\.|[^()\\]|\((?:\\.|[^()\\])*\))*\)")  # "\)" inside is no end
MAYBE = "\x00maybe"  # the name of a look-around pattern's wider stand-in


def python_pattern(pattern: str) -> re.Pattern:
    """``pattern`` for Python's re, which wants each look-behind of one width: (?<!a|bc) is
    written (?<!a)(?<!bc)."""

    def split(match: re.Match) -> str:
        kind, body = match.group(1), match.group(2)
        return "".join(f"(?{kind}{part})" for part in body.split("|"))

    try:
        return re.compile(pattern)
    except re.error:
        return re.compile(re.sub(r"\(\?(<[!=])([^()]*)\)", split, pattern))


def _rust(rules: Sequence[tuple[str, str]]) -> Callable[[str], object]:
    import ua_parser_rs

    return ua_parser_rs.UserAgentExtractor([(p, name, None, None, None, None) for p, name in rules]).extract


def compiles_in_rust(pattern: str) -> bool:
    if not RUST_CANNOT.search(pattern):
        return True
    try:
        _rust([(pattern, "")])
    except ValueError:
        return False
    return True


class FirstMatch:
    """The name of the first of ``rules`` (pattern, name) that a string matches, or None.

    A pattern Rust cannot compile is tried after all the others, with Python's re, compiled when
    first needed (most never are: Rust's stand-in rules them out).
    """

    def __init__(self, rules: Sequence[tuple[str, str]]) -> None:
        self._searches: dict[int, Callable[[str], object]] = {}  # late patterns compiled so far
        try:
            import ua_parser_rs  # noqa: F401
        except ImportError:  # pure Python: slower, same answers
            self._rust = None
            self._late_rules = list(rules)
            return
        fast = [(p, name) for p, name in rules if compiles_in_rust(p)]
        late = [(p, name) for p, name in rules if not compiles_in_rust(p)]
        wider = [LOOKAROUND.sub("", p) for p, _ in late]
        self._always = not all(compiles_in_rust(p) for p in wider)
        # each stand-in named by its place: the look-around patterns before it cannot match either
        maybes = [(p, f"{MAYBE}{n}") for n, p in enumerate(wider) if compiles_in_rust(p)]
        self._rust = _rust(fast + maybes)
        self._late_rules = late

    def _search(self, index: int, text: str) -> bool:
        """Does the ``index``-th late rule match ``text``? (its pattern compiled at first call)"""
        search = self._searches.get(index)
        if search is None:
            search = self._searches[index] = python_pattern(self._late_rules[index][0]).search
        return search(text) is not None

    def __call__(self, text: str) -> str | None:
        start = 0
        if self._rust is not None:
            found = self._rust(text)
            name = found.family if found is not None else None
            if name is None and not self._always:
                return None
            if name is not None and not name.startswith(MAYBE):
                return name
            if name is not None and not self._always:
                start = int(name[len(MAYBE) :])
        late = range(start, len(self._late_rules))
        return next((self._late_rules[n][1] for n in late if self._search(n, text)), None)


def any_of(patterns: Sequence[str]) -> Callable[[str], bool]:
    """A test: does a string match any of ``patterns``?"""
    first = FirstMatch([(p, "yes") for p in patterns])
    return lambda text: first(text) is not None

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


# Escapes whose meaning does not depend on case, copied as they are: a class (\d, \S...), an anchor
# (\b, \B, \A, \z) or a control character; any other escaped letter (\p{..}, \x41...) is not lowered.
KEPT_ESCAPES = frozenset("dDsSwWbBAzntrfv")
FLAG_GROUP = re.compile(r"\(\?(?!P?[<=!])[a-zA-Z-]")  # (?i), (?-i), (?x:...); not (?P<name>, (?=, (?<!
ASCII_LETTERS = set(range(ord("A"), ord("Z") + 1)) | set(range(ord("a"), ord("z") + 1))


def lowered_pattern(pattern: str) -> str | None:
    """``pattern`` (which starts with ``(?i)``) without that flag and with its letters in lower case:
    on an ASCII text in lower case it matches where ``pattern`` matches the text; None where that
    cannot be said of it (no leading flag, a character not ASCII, another flag, an escape such as
    \\p{..}, a nested class, a class range from a letter to another kind of character)."""
    body = pattern.removeprefix("(?i)")
    if body == pattern or not body.isascii() or FLAG_GROUP.search(body):
        return None
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            escaped = body[i + 1 : i + 2]
            if escaped.isalnum() and escaped not in KEPT_ESCAPES:
                return None
            if in_class and body[i + 2 : i + 3] == "-" and body[i + 3 : i + 4] not in ("", "]"):
                return None  # a range from an escaped character: [\--a] spans the capitals
            out.append(body[i : i + 2])
            i += 2
            continue
        if body.startswith("(?P", i):  # a named group's "P" stays upper case
            out.append("(?P")
            i += 3
            continue
        if in_class:
            if char == "[":
                return None
            if char == "]" and not _class_opens(body, i):
                in_class = False
            elif body[i + 1 : i + 2] == "-" and body[i + 2 : i + 3] not in ("", "]"):
                last = body[i + 2]
                if last == "\\" or not _same_kind(char, last):
                    return None
                out.append(body[i : i + 3].lower())
                i += 3
                continue
        elif char == "[":
            in_class = True
        out.append(char.lower())
        i += 1
    return "".join(out)


def _class_opens(body: str, at: int) -> bool:
    """Is the "]" at ``at`` a class's first member (``[]...]`` or ``[^]...]``), not its end?"""
    return body[at - 1] == "[" or (body[at - 1] == "^" and body[at - 2] == "[")


def _same_kind(first: str, last: str) -> bool:
    """Does a class range keep its meaning once lowered: letters of one case, or no letter in it?"""
    if first.isalpha() and last.isalpha():
        return first.islower() == last.islower()
    return not (set(range(ord(first), ord(last) + 1)) & ASCII_LETTERS)


class CaselessFirstMatch:
    """:class:`FirstMatch` of case-insensitive ``rules`` (each pattern starts with ``(?i)``), compiled
    in half the time: an ASCII text (nearly every user agent) is lowered and matched against the
    patterns lowered and without the flag, which doubles what Rust's regex set costs to build; a
    pattern that cannot be lowered keeps its flag there. Any other text is matched against the
    patterns as given, compiled when such a text first comes."""

    def __init__(self, rules: Sequence[tuple[str, str]]) -> None:
        self._rules = list(rules)
        if not all(pattern.startswith("(?i)") for pattern, _ in self._rules):
            raise ValueError("a pattern without (?i) at its start cannot match lowered text")
        self._lowered = FirstMatch([(lowered_pattern(p) or p, name) for p, name in self._rules])
        self._as_given: FirstMatch | None = None

    def __call__(self, text: str) -> str | None:
        if text.isascii():
            return self._lowered(text.lower())
        if self._as_given is None:
            self._as_given = FirstMatch(self._rules)
        return self._as_given(text)

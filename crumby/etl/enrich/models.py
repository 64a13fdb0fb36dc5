"""The type of a device model (phone, tablet, TV, ...) by Matomo Device Detector's device list.

Most Android tablets' browsers and apps say "Mobile" as phones do, and TVs
and set-top boxes often say nothing of what they are: only the model's name
tells. Device Detector's ``regexes/device/mobiles.yml`` (vendored, see
data/SOURCES.md) names some 15,000 models of 2,000 brands with their type.
Its patterns are matched as Device Detector matches them (without regard to
case, where a word starts): every brand's pattern at once in one regex set,
then that brand's models in order; a model without a type has its brand's.
Only the type matters here, so a brand's models are compiled (when the brand
is first met) as one pattern for each run of neighbours of the same type:
Samsung's 733 become 15 (all brands' 15,116 become 1,122), which compile in
a third of the time. Both sets are matched without the case-insensitive
flag, against the text in lower case (regexset.CaselessFirstMatch), which
halves the brands' compiling again (0.5 s of each run that meets a user
agent not met before). One difference from Device Detector's order: a
pattern with a look-around is tried after the others (regexset.py), so where
it and a later one both match, the later one wins.

The list is read a brand at a time: each brand's name, pattern and type when
the list is opened (0.04 s and 4 MB, where the whole list takes 0.5 s and
44 MB), its models when a user agent first names the brand.

Only the system part of a user agent, its first parenthesis ("(Linux;
Android 14; SM-X710)"), is matched, once a process for each distinct one:
that is where the model is, and a browser's new version does not change it.
"""

from __future__ import annotations

import re
from itertools import groupby
from typing import Any

from .lists import DEVICE_DETECTOR_MOBILES, parse_yaml, top_level_sections
from .regexset import RUST_CANNOT, CaselessFirstMatch

# Device Detector's types -> crumby's; the rest (camera, peripheral, smart display, smart speaker,
# portable media player) are left to device.py's rules
TYPES = {
    "smartphone": "mobile",
    "phablet": "mobile",
    "feature phone": "mobile",
    "tablet": "tablet",
    "tv": "tv",
    "console": "console",
    "car browser": "car",
    "wearable": "wearable",
    "desktop": "desktop",
}
# Where Device Detector lets a pattern start: at the start, after no letter, digit, "_" nor "-", or
# after a few prefixes that makers put before a model's name
MODEL_START = r"(?i)(?:^|[^a-z0-9_-]|[^a-z0-9-]_|sprd-|MZ-)"
SYSTEM_PART = re.compile(r"\([^)]*\)?")
MODELS_KEY = "\n  models:"  # where a brand's list of models starts, after its own keys
MAX_REMEMBERED = 100_000
# Longer texts are matched but not remembered: the cache is shared by the process, and forged user
# agents of 8 KB each must not fill it with hundreds of megabytes
MAX_REMEMBERED_LENGTH = 512


def _pattern(*regexes: str) -> str:
    """Device Detector's wrapping of its patterns, for one or several alternatives (some of its
    patterns close its "(?:" early and open their own group: each keeps a wrapping of its own)."""
    return MODEL_START + "(?:" + "|".join(f"(?:{regex})" for regex in regexes) + ")"


def models_by_type(brand: dict[str, Any]) -> list[tuple[str, str]]:
    """(pattern, crumby's type) for each run of a brand's models of one type, in order, up to the
    last of a type other than the brand's (those after it would answer as the brand does); a
    look-around pattern alone, so that the others stay in Rust's regex set."""
    default = TYPES.get(brand.get("device"))
    typed = [
        (model["regex"], TYPES.get(model.get("device") or brand.get("device"))) for model in brand["models"]
    ]
    runs: list[tuple[str, str | None]] = []
    for (kind, late), run in groupby(typed, key=lambda model: (model[1], bool(RUST_CANNOT.search(model[0])))):
        regexes = [regex for regex, _ in run]
        runs += [(_pattern(regex), kind) for regex in regexes] if late else [(_pattern(*regexes), kind)]
    while runs and runs[-1][1] == default:
        runs.pop()
    return [(pattern, str(kind)) for pattern, kind in runs]


class ModelTypes:
    """device type or None for a user agent's model; make one a process (its brands compile in about
    half a second)."""

    def __init__(self) -> None:
        self.brands: dict[str, dict[str, Any]] = {}  # each brand's own keys (regex, device, model)
        self._sections: dict[str, str] = {}  # the text of each brand that has models
        for section in top_level_sections(DEVICE_DETECTOR_MOBILES):
            at = section.find(MODELS_KEY)
            ((name, entry),) = parse_yaml(section if at < 0 else section[:at]).items()
            self.brands[str(name)] = entry
            if at >= 0:
                self._sections[str(name)] = section
        self.brand_of = CaselessFirstMatch(
            [(_pattern(entry["regex"]), name) for name, entry in self.brands.items()]
        )
        # a brand's model patterns, compiled when first needed
        self._models: dict[str, CaselessFirstMatch] = {}
        self._seen: dict[str, str | None] = {}

    def __call__(self, ua: str, whole: bool = False) -> str | None:
        """The type Device Detector gives the model named in ``ua``'s system part (or anywhere in
        it, ``whole``: a feature phone's UA names its model first, "SAMSUNG-GT-E2152/..."), if it
        knows one."""
        found = None if whole else SYSTEM_PART.search(ua)
        part = found.group(0) if found else ua
        if len(part) > MAX_REMEMBERED_LENGTH:
            return self._type_of(part)
        if part not in self._seen:
            if len(self._seen) >= MAX_REMEMBERED:
                self._seen.clear()
            self._seen[part] = self._type_of(part)
        return self._seen[part]

    def _type_of(self, text: str) -> str | None:
        brand = self.brand_of(text)
        if brand is None:
            return None
        kind = TYPES.get(self.brands[brand].get("device"))
        if brand in self._sections:
            match = self._models.get(brand)
            if match is None:
                ((_, entry),) = parse_yaml(self._sections[brand]).items()
                match = self._models[brand] = CaselessFirstMatch(models_by_type(entry))
            found = match(text)
            if found is not None:
                kind = None if found == "None" else found  # "None": a type left to the rules
        return kind

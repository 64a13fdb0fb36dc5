"""The type of a device model (phone, tablet, TV, ...) by Matomo Device Detector's device list.

Most Android tablets' browsers and apps say "Mobile" as phones do, and TVs
and set-top boxes often say nothing of what they are: only the model's name
tells. Device Detector's ``regexes/device/mobiles.yml`` (vendored, see
data/SOURCES.md) names some 15,000 models of 2,000 brands with their type.
Its patterns are matched as Device Detector matches them (without regard to
case, where a word starts): every brand's pattern at once in one regex set,
then that brand's models in order; a model without a type has its brand's.

Only the system part of a user agent, its first parenthesis ("(Linux;
Android 14; SM-X710)"), is matched, once a process for each distinct one:
that is where the model is, and a browser's new version does not change it.
"""

from __future__ import annotations

import re

from .lists import DEVICE_DETECTOR_MOBILES, read_yaml
from .regexset import FirstMatch

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
MAX_REMEMBERED = 100_000


def _pattern(regex: str) -> str:
    return f"{MODEL_START}(?:{regex})"


class ModelTypes:
    """device type or None for a user agent's model; make one per run (compiling takes a second)."""

    def __init__(self) -> None:
        self.brands = {str(name): entry for name, entry in read_yaml(DEVICE_DETECTOR_MOBILES).items()}
        self.brand_of = FirstMatch([(_pattern(entry["regex"]), name) for name, entry in self.brands.items()])
        self._models: dict[str, FirstMatch] = {}  # a brand's model patterns, compiled when first needed
        self._seen: dict[str, str | None] = {}

    def __call__(self, ua: str) -> str | None:
        """The type Device Detector gives the model named in ``ua``'s system part, if it knows one."""
        found = SYSTEM_PART.search(ua)
        part = found.group(0) if found else ua
        if part not in self._seen:
            if len(self._seen) >= MAX_REMEMBERED:
                self._seen.clear()
            self._seen[part] = self._type_of(part)
        return self._seen[part]

    def _type_of(self, text: str) -> str | None:
        brand = self.brand_of(text)
        if brand is None:
            return None
        entry = self.brands[brand]
        kind = entry.get("device")
        models = entry.get("models")
        if models:
            match = self._models.get(brand)
            if match is None:
                rules = [(_pattern(model["regex"]), str(n)) for n, model in enumerate(models)]
                match = self._models[brand] = FirstMatch(rules)
            number = match(text)
            if number is not None:
                kind = models[int(number)].get("device") or kind
        return TYPES.get(kind)

"""No log line can stop or poison a load: arbitrary JSON in every field of a hit, arbitrary bytes
around the lines, on every backend the ETL writes.

Each Hypothesis example is one finished raw log file of some dozens of lines (so a few examples
try hundreds of hostile lines), loaded twice by the real ETL into a real store. What must hold:
the run ends without an error; every well-formed hit is in the store exactly once; every other
line is in the rejects file once, at its offset, with a reason; the second run adds nothing.
``CRUMBY_HYPOTHESIS_EXAMPLES`` sets the examples per backend; ``-m slow`` runs a longer test.

Well-formed is decided here, from the format's written limits (contract 2), not by crumby's parser.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from crumby.etl.enrich import Enricher
from crumby.etl.pipeline import run
from crumby.hits import FIELD_CAPS, HIT_TYPES, PROPS_MAX_KEYS
from crumby.store.bookkeeping import loads
from crumby.store.engine import create_engine
from crumby.store.migrations import ensure_schema
from tests.conftest import make_settings

EXAMPLES = int(os.environ.get("CRUMBY_HYPOTHESIS_EXAMPLES", "10"))
SLOW_EXAMPLES = int(os.environ.get("CRUMBY_HYPOTHESIS_SLOW_EXAMPLES", "150"))
DEEP = "\x01deep\x01"  # stands for JSON nested 5,000 deep (json.dumps cannot write it)
NESTED = "[" * 5000 + "]" * 5000
HOUR = (datetime.now(timezone.utc) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
GOOD_TIMES = [HOUR + timedelta(minutes=m, seconds=s) for m in (1, 17, 42) for s in (0, 9)]
BAD_TIMES = [
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+01:00",
    "1999-12-31T23:59:59Z",
    "2026-13-45T00:00:00Z",
    "yesterday",
    "",
    (datetime.now(timezone.utc) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
]
# Text a store could choke on: NUL, percent-encoded NUL in campaign values and click ids,
# formula starts, line and paragraph separators, the last code point, broken URLs.
SPECIAL_TEXT = [
    "\x00",
    "a\x00b",
    "https://example.com/?utm_source=%00&utm_medium=a%00b&gclid=%00",
    "https://example.com/%00?q=%FF%FE&utm_campaign=%ED%A0%80",
    '=HYPERLINK("http://x")',
    "-1",
    "\u2028\u2029",
    "\U0010ffff",
    "http://[::1",
    "http://%zz",
    "//",
    " ",
    "\\u0000",
]
LONE_SURROGATES = ["\ud800", "a\udfffb", "\udc00\ud800"]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def good_text(cap: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=min(cap, 40)),
        st.sampled_from([t for t in SPECIAL_TEXT if len(t) <= cap]),
        st.just("x" * cap),
    )


def bad_text_value(cap: int) -> st.SearchStrategy[object]:
    """A value no string field may hold: not a string, too long, not text, or nested too deep."""
    return st.one_of(
        json_values.filter(lambda v: v is not None and not isinstance(v, str)),
        st.just("y" * (cap + 1)),
        st.sampled_from(LONE_SURROGATES),
        st.just(DEEP),
    )


@dataclass
class Hit:
    fields: dict
    good: bool
    ascii_only: bool

    def line(self) -> bytes:
        text = json.dumps(self.fields, ensure_ascii=self.ascii_only or not self.good)
        return text.replace(json.dumps(DEEP), NESTED).encode("utf-8", "surrogatepass")


@st.composite
def hits(draw, hit_id: str) -> Hit:
    """A hit line's fields: each right or, now and then, wrong in one of many ways."""
    wrong: set[str] = set()
    names = ["t", *(n for n in FIELD_CAPS if n != "t")]

    def pick(name: str, good: st.SearchStrategy, bad: st.SearchStrategy) -> object:
        if draw(st.integers(0, 9)) == 0:
            wrong.add(name)
            return draw(bad)
        return draw(good)

    fields: dict = {
        "v": pick("v", st.just(1), st.sampled_from([2, "1", None, 0, [1]])),
        "id": pick(
            "id", st.just(hit_id), st.one_of(st.just(""), st.just("i" * 65), st.integers(), st.none())
        ),
        "ts": pick(
            "ts",
            st.sampled_from(GOOD_TIMES).map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"),
            st.one_of(st.sampled_from(BAD_TIMES), st.integers(), st.just(DEEP)),
        ),
    }
    for name in names:
        if name == "t":
            value = pick("t", st.sampled_from(HIT_TYPES), st.one_of(st.text(max_size=6), json_values))
            if value in HIT_TYPES and isinstance(value, str):
                wrong.discard("t")
        elif draw(st.booleans()):
            value = pick(
                name, st.one_of(st.none(), good_text(FIELD_CAPS[name])), bad_text_value(FIELD_CAPS[name])
            )
        else:
            continue
        fields[name] = value
    if draw(st.booleans()):
        fields["props"] = pick(
            "props",
            st.dictionaries(good_text(30), good_text(30), max_size=PROPS_MAX_KEYS),
            st.one_of(
                st.dictionaries(st.text(max_size=3), json_values, min_size=1, max_size=3).filter(
                    lambda d: not all(isinstance(v, str) for v in d.values())
                ),
                st.dictionaries(
                    st.sampled_from(LONE_SURROGATES), st.text(max_size=3), min_size=1, max_size=1
                ),
                st.just({str(n): "v" for n in range(PROPS_MAX_KEYS + 1)}),
                st.just(DEEP),
                st.text(max_size=4),
            ),
        )
    for extra in range(draw(st.integers(0, 2))):  # fields the format does not know: ignored
        fields[f"x{extra}"] = draw(json_values)
    return Hit(fields, good=not wrong, ascii_only=draw(st.booleans()))


JSON_WHITESPACE = b" \t\r"


@dataclass(repr=False)
class LogFile:
    """One finished hour's raw log, and what a load must make of it."""

    data: bytes
    good_ids: list[str] = field(default_factory=list)
    bad_offsets: list[int] = field(default_factory=list)

    def __repr__(self) -> str:  # the lines themselves, a few at a time, say more than a 100 kB repr
        lines = self.data.split(b"\n")
        return f"LogFile({len(lines)} lines, {len(self.good_ids)} good, first: {lines[:3]!r})"


@st.composite
def log_files(draw) -> LogFile:
    prefix = uuid.uuid4().hex[:12]
    good_lines: dict[bytes, str] = {}
    parts: list[bytes] = []
    for n in range(draw(st.integers(20, 60))):
        if draw(st.integers(0, 7)) == 0:
            parts.append(draw(st.binary(max_size=60)))  # arbitrary bytes: newlines, half lines, nothing
        hit = draw(hits(f"{prefix}-{n}"))
        line = hit.line()
        if hit.good:
            good_lines[line] = hit.fields["id"]
        parts.append(line + b"\n")
    if draw(st.booleans()):
        parts.append(draw(st.binary(min_size=1, max_size=40)).replace(b"\n", b" "))  # a torn last line
    data = b"".join(parts)
    result = LogFile(data)
    offset = 0
    for line in data.split(b"\n"):
        if line.strip(JSON_WHITESPACE) in good_lines:  # JSON allows blanks around a value (a CRLF's \r)
            result.good_ids.append(good_lines[line.strip(JSON_WHITESPACE)])
        elif offset < len(data):  # the empty piece after the last newline is no line
            result.bad_offsets.append(offset)
        offset += len(line) + 1
    return result


def _rejects(folder: Path) -> list[tuple[int, str]]:
    lines = b"".join(p.read_bytes() for p in folder.glob("rejects-*.txt")).split(b"\n")[:-1]
    found = []
    for line in lines:
        place, reason, _raw = line.split(b"\t", 2)
        found.append((int(place.rsplit(b":", 1)[1]), reason.decode()))
    return found


def _stored_ids(url: str) -> Counter:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT hit_id FROM visits UNION ALL SELECT hit_id FROM events")
            ).all()
            load_count = conn.execute(sa.select(sa.func.count()).select_from(loads)).scalar()
    finally:
        engine.dispose()
    return Counter(row[0] for row in rows), load_count


class Tally:
    """What the hostile lines got, for the run's summary: loaded, or rejected for which reason."""

    def __init__(self) -> None:
        self.outcomes: Counter = Counter()

    def add(self, loaded: int, reasons: list[str]) -> None:
        self.outcomes["loaded"] += loaded
        for reason in reasons:
            self.outcomes[f"rejected: {_reason_kind(reason)}"] += 1

    def print(self, backend: str) -> None:
        total = sum(self.outcomes.values())
        print(f"\n{backend}: {total} lines tried")
        for outcome, count in self.outcomes.most_common():
            print(f"  {count:6d}  {outcome}")


def _reason_kind(reason: str) -> str:
    for word in (
        "torn line",
        "not valid UTF-8",
        "not valid JSON",
        "nested too deep",
        "lone surrogate",
        "ts ",
    ):
        if word in reason:
            return word.strip()
    return reason.split(" is ")[0].split(":")[0][:40]


def check_loads(tmp_path: Path, url: str, enricher: Enricher, log: LogFile, tally: Tally) -> None:
    folder = tmp_path / uuid.uuid4().hex
    logs, rejects = folder / "logs", folder / "rejects"
    logs.mkdir(parents=True)
    path = logs / f"hits-{HOUR:%Y%m%d%H}-{folder.name[:8]}.jsonl"
    path.write_bytes(log.data)
    finished = HOUR.timestamp()  # written long ago: a torn last line will never be finished
    os.utime(path, (finished, finished))
    options = {"LOG_DIR": logs, "REJECTS_DIR": rejects, "SQLALCHEMY_DATABASE_URI": url}
    site = make_settings(tmp_path, **options)
    before, _ = _stored_ids(url)

    first = run(site, enricher=enricher)  # raises on any failure: the run must end well

    stored, load_count = _stored_ids(url)
    added = stored - before
    assert added == Counter(log.good_ids), (added, log.good_ids)
    assert first.hits == len(log.good_ids)
    rejected = _rejects(rejects)
    assert sorted(offset for offset, _ in rejected) == log.bad_offsets
    assert all(reason.strip() for _, reason in rejected)
    assert first.rejected == len(log.bad_offsets)

    second = run(site, enricher=enricher)
    assert (second.hits, second.rejected, second.load_id) == (0, 0, None)
    assert _stored_ids(url) == (stored, load_count)
    assert len(_rejects(rejects)) == len(rejected)
    tally.add(len(log.good_ids), [reason for _, reason in rejected])


def load_property(examples: int, files, check_one):
    """A property test: ``check_one(tmp_path, url, enricher, drawn, tally)`` for each file ``files`` draws."""

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
        phases=[Phase.explicit, Phase.reuse, Phase.generate],  # each example loads twice: no shrinking
        report_multiple_bugs=False,
    )
    @given(drawn=files)
    def check(tmp_path, url, enricher, tally, drawn):
        check_one(tmp_path, url, enricher, drawn, tally)

    return check


def _property(examples: int):
    return load_property(examples, log_files(), check_loads)


def _made(url: str) -> str:
    engine = create_engine(url)
    try:
        ensure_schema(engine)
    finally:
        engine.dispose()
    return url


def test_hostile_lines_never_stop_or_poison_a_load(tmp_path, store_url, enricher, request):
    _made(store_url)
    tally = Tally()
    _property(EXAMPLES)(tmp_path, store_url, enricher, tally)
    tally.print(request.node.callspec.id)
    assert tally.outcomes["loaded"] and len(tally.outcomes) > 3  # both kinds of line were tried


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["duckdb"])
def test_many_more_hostile_lines_never_stop_or_poison_a_load(tmp_path, enricher, backend, request):
    tally = Tally()
    _property(SLOW_EXAMPLES)(tmp_path, _made(f"duckdb:///{tmp_path / 'store.duckdb'}"), enricher, tally)
    tally.print(backend)

"""Reading raw log lines: the fast vectorised checks agree with the line-by-line ones."""

from __future__ import annotations

from crumby.etl.extract import iter_chunks, iter_log_files
from crumby.etl.parse import parse_chunks
from crumby.hits import FIELD_CAPS, serialise


def _hit(n: int, **fields) -> dict:
    return {
        "v": 1,
        "id": f"h{n}",
        "ts": "2026-03-02T10:00:00Z",
        "t": "visit",
        "dl": "https://a.example/",
        **fields,
    }


def test_field_caps_count_characters_not_bytes(tmp_path):
    cap = FIELD_CAPS["ua"]
    hits = [_hit(n, ua="Mozilla/5.0") for n in range(100)]
    hits[10]["ua"] = "é" * cap  # twice as many bytes as the cap: fits
    hits[20]["ua"] = "😀" * cap  # four times: fits
    hits[30]["ua"] = "é" * (cap + 1)  # one character over
    hits[40]["dt"] = "ü" * FIELD_CAPS["dt"]
    (tmp_path / "hits-2026030210-w1.jsonl").write_bytes(b"".join(serialise(hit) for hit in hits))
    [log_file] = iter_log_files(tmp_path)
    chunks = list(iter_chunks(log_file, 0, 1 << 20))
    parsed = parse_chunks(chunks)
    ids = parsed.hits.column("id").to_pylist()
    assert ids == [f"h{n}" for n in range(100) if n != 30]
    assert [reject.reason for reject in parsed.rejects] == [f"ua is not a string of at most {cap} characters"]
    assert parsed.hits.column("ua")[ids.index("h20")].as_py() == "😀" * cap
    assert parsed.chunk_lines == [100] and parsed.lines == 100

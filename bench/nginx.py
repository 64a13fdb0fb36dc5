"""The ETL over hits that nginx collected, against the same hits written by the Python collector.

Where nginx collects (``crumby nginx-config``), each hit is a line of
crumby.nginx_hits's form: the tracker's beacon (a POST whose body is the JSON
cmb.js sends) with the request's facts around it. This writes bench/etl.py's
corpus once more in that form, into the same cache: the same hits, ids and
times, an event's value that is a whole number sent as the number cmb.event
sends. Then, in alternating rounds, each as a child process into a fresh
DuckDB store: ``crumby etl`` over the collector's form, over nginx's form,
and GoAccess over the same hits as a combined log (with GeoIP). Printed: the
medians, nginx's form / the collector's (what the conversion costs), and each
/ GoAccess (bench/etl.py's bar: 0.7).

``--before DIR`` (a ``git archive COMMIT crumby`` unpacked in DIR) loads
nginx's form with that code too, in the same rounds: the change's own figure.

    python bench/nginx.py [--hits 1000000] [--rounds 3] [--before DIR] [--cache /tmp/crumby-bench]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from combined_log import combined_log  # noqa: E402
from etl import (  # noqa: E402
    TARGET_GOACCESS_RATIO,
    Measure,
    corpus,
    etl,
    fresh_store,
    goaccess,
    median,
    show,
    warm,
    warm_file,
)

CLIENT_FIELDS = ("t", "cid", "ul", "sd", "sr", "vp", "de", "dl", "dt", "dr", "en", "ev")
FACTS = ("ip", "ua", "referer", "lang")


def beacon_line(hit: dict) -> dict:
    """The nginx line of one collected hit, as if its beacon had reached nginx."""
    version = hit.get("pv", "1")
    body = {"v": int(version) if version.isdigit() else version}  # cmb.js sends v:1
    body.update((name, hit[name]) for name in CLIENT_FIELDS if name in hit)
    value = body.get("ev")
    if isinstance(value, str) and value.isdigit() and str(int(value)) == value:
        body["ev"] = int(value)  # cmb.event("signup", 6)
    if hit.get("props"):
        body["props"] = hit["props"]
    when = datetime.fromisoformat(hit["ts"].replace("Z", "+00:00"))
    return {
        "v": 1,
        "src": "nginx",
        "kind": "post",
        "id": hit["id"],
        "msec": f"{when.timestamp():.3f}",
        "ct": "text/plain;charset=UTF-8",
        "body": json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        **{name: hit.get(name, "") for name in FACTS},
        "xff": "",
        "cookieless": False,
        "proxies": 0,
        "sites": "",
    }


def nginx_corpus(folder: Path) -> Path:
    """``folder``'s hits in nginx's form, in a folder beside it (written on first use)."""
    target = folder.with_name(f"{folder.name}-nginx")
    if target.is_dir():
        return target
    print(f"writing the corpus in nginx's form into {target} (once) ...", flush=True)
    partial = target.with_name(f"{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    for path in sorted(folder.glob("hits-*.jsonl")):
        with open(path, encoding="utf-8") as source, open(partial / path.name, "w", encoding="utf-8") as out:
            for line in source:
                entry = beacon_line(json.loads(line))
                out.write(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")
    partial.rename(target)
    return target


def etl_duckdb(folder: Path, workdir: Path, code: Path | None = None) -> Measure:
    with fresh_store(workdir) as url:
        return etl(folder, workdir, url, code=code)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hits", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="a folder holding an older crumby package")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "crumby-bench")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    collector = corpus(args.cache, args.hits, args.seed)
    nginx = nginx_corpus(collector)
    log = combined_log(collector, args.cache / f"{collector.name}.access.log")
    print(
        f"corpus: {args.hits:,} hits; {warm(collector) / 1e6:,.0f} MB as the collector writes them, ", end=""
    )
    print(f"{warm(nginx) / 1e6:,.0f} MB as nginx does")
    warm_file(log)
    contenders = {"collector's form": (collector, None), "nginx's form": (nginx, None)}
    if args.before:
        contenders["nginx's form, --before"] = (nginx, args.before.resolve())
    results: dict[str, list[Measure]] = {name: [] for name in contenders}
    peers: list[Measure] = []
    with tempfile.TemporaryDirectory(prefix="crumby-bench-nginx-") as work:
        workdir = Path(work)
        for n in range(args.rounds):
            names = list(contenders) if n % 2 == 0 else list(reversed(contenders))
            for name in names:
                folder, code = contenders[name]
                results[name].append(etl_duckdb(folder, workdir, code))
            peers.append(goaccess(log, workdir, results["collector's form"][-1].hits))
            print(
                f"  round {n + 1}: "
                + ", ".join(f"{name} {results[name][-1].seconds:.1f} s" for name in contenders)
                + f", goaccess {peers[-1].seconds:.1f} s",
                flush=True,
            )
    for name, measures in results.items():
        show(f"etl, {name}", measures)
    show("goaccess (with GeoIP)", peers)
    base = median(results["collector's form"], "seconds")
    peer = median(peers, "seconds")
    for name, measures in results.items():
        seconds = median(measures, "seconds")
        cpu = median(measures, "cpu_seconds") / median(results["collector's form"], "cpu_seconds")
        print(
            f"{name}: {seconds / base:.2f}x the collector's form (CPU {cpu:.2f}x); "
            f"{seconds / peer:.2f}x GoAccess (target <= {TARGET_GOACCESS_RATIO})"
        )
    hits = {name: measures[0].hits for name, measures in results.items()}
    if len(set(hits.values())) > 1:
        print(f"the forms loaded different numbers of hits: {hits}")


if __name__ == "__main__":
    main()

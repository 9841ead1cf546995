"""Offline throughput: `journey process` on generated events vs a parse-only loop.

Generates N events (default 1M; many customers, the persona mix), then in one
run measures (a) a loop that only parses each line with orjson and (b) the
`journey process` command, reporting events/s, the ratio and peak RSS.

    python bench/process_bench.py [--events N] [--customers N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from pipeline.tools.generate import generate

RESULTS = Path(__file__).parent / "results"


def parse_only(path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb") as handle:
        for line in handle:
            orjson.loads(line)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "events.jsonl"
        started = time.perf_counter()
        with source.open("wb") as handle:
            for record in generate(args.events, args.customers, seed=1):
                handle.write(record.value + b"\n")
        print(
            f"generated {args.events:,} events ({source.stat().st_size / args.events:.0f} B each)"
            f" in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        parse_s = parse_only(source)
        journey = Path(sys.executable).parent / "journey"
        started = time.perf_counter()
        result = subprocess.run(
            [
                str(journey),
                "process",
                "--input",
                str(source),
                "--output-dir",
                f"{tmp}/out",
                "--json",
            ],
            check=True,
            capture_output=True,
        )
        process_s = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        summary = json.loads(result.stdout)
    figures = {
        "events": args.events,
        "customers": args.customers,
        "events_per_s": {
            "parse_only": round(args.events / parse_s),
            "offline": round(args.events / process_s),
        },
        "ratios": {"offline_vs_parse": round(parse_s / process_s, 3)},
        "offline_peak_rss_mb": round(peak_mb),
        "records_by_output": summary["records_by_output"],
    }
    print(f"parse only     {figures['events_per_s']['parse_only']:>10,} events/s")
    print(
        f"journey process{figures['events_per_s']['offline']:>10,} events/s"
        f"  (wall {process_s:.1f} s, peak RSS {peak_mb:.0f} MB)"
    )
    print(f"offline / parse-only = {figures['ratios']['offline_vs_parse']:.3f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "process.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

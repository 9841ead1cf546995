"""Offline throughput: `journey process` on generated events vs a parse-only loop.

Generates N events (default 1M; many customers, the persona mix), then in one
run measures (a) a loop that only parses each line with orjson, (b) the
`journey process` command on the compiled core (where built) and (c) on the
pure-Python one (`JOURNEY_PURE=1`), reporting events/s, the ratios and peak RSS.

    python bench/process_bench.py [--events N] [--customers N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from pipeline import CORE_MODE
from pipeline.tools.generate import generate

RESULTS = Path(__file__).parent / "results"


def parse_only(path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb") as handle:
        for line in handle:
            orjson.loads(line)
    return time.perf_counter() - started


def process(source: Path, out_dir: Path, pure: bool) -> tuple[float, dict[str, Any]]:
    """`journey process` on `source`, with the compiled core (where built) or the pure one:
    seconds and its summary."""
    journey = Path(sys.executable).parent / "journey"
    env = {**os.environ, "JOURNEY_PURE": "1" if pure else "0"}
    started = time.perf_counter()
    result = subprocess.run(
        [str(journey), "process", "--input", str(source), "--output-dir", str(out_dir), "--json"],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    return time.perf_counter() - started, json.loads(result.stdout)


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
        process_s, summary = process(source, Path(tmp) / "out", pure=False)
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        pure_s, _summary = process(source, Path(tmp) / "pure", pure=True)
    figures = {
        "events": args.events,
        "customers": args.customers,
        "core": CORE_MODE,
        "events_per_s": {
            "parse_only": round(args.events / parse_s),
            "offline": round(args.events / process_s),
            "offline_pure": round(args.events / pure_s),
        },
        "ratios": {
            "offline_vs_parse": round(parse_s / process_s, 3),
            "offline_vs_pure": round(pure_s / process_s, 3),
        },
        "offline_peak_rss_mb": round(peak_mb),
        "records_by_output": summary["records_by_output"],
    }
    rates = figures["events_per_s"]
    print(f"parse only       {rates['parse_only']:>10,} events/s")
    print(
        f"journey process  {rates['offline']:>10,} events/s  (core: {CORE_MODE};"
        f" wall {process_s:.1f} s, peak RSS {peak_mb:.0f} MB)"
    )
    print(f"  JOURNEY_PURE=1 {rates['offline_pure']:>10,} events/s  (wall {pure_s:.1f} s)")
    print(f"offline / parse-only = {figures['ratios']['offline_vs_parse']:.3f}")
    print(f"compiled / pure = {figures['ratios']['offline_vs_pure']:.3f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "process.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""The worker's processing without a broker: `Processor` over in-memory topics.

The same records, batches and flushes as `journey worker`, with the topics held
as lists (`tests/component/cluster.py`), so the figure is the pipeline's own CPU
time, free of the broker and the network, and steady from run to run (the
broker benchmarks here vary by 20 % and more between runs). Runs the analytics
on and off, alternating, and counts the analytics records written.

    python bench/processor_bench.py [--events N] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import CORE_MODE  # noqa: E402
from pipeline.config import Settings  # noqa: E402
from pipeline.domain import Output  # noqa: E402
from pipeline.gc_policy import tune_collector  # noqa: E402
from pipeline.tools.generate import generate  # noqa: E402
from pipeline.topics import OUTPUT_TOPICS  # noqa: E402
from tests.component.cluster import Cluster  # noqa: E402

RESULTS = Path(__file__).parent / "results"
PARTITIONS = 8
READ = 500
"""Records a worker reads of one partition at a time (a batch)."""


def run(records: list[tuple[str, bytes]], analytics: str) -> tuple[float, Counter[str]]:
    """Seconds to process `records` (one worker, every partition) and records per output."""
    settings = Settings(partitions=PARTITIONS, idle_after_ms=2000, analytics=analytics)
    cluster = Cluster(settings, policy=settings.policy())
    cluster.produce(records, "murmur2", timestamp=int(time.time() * 1000) + 86_400_000)
    cluster.start_worker(set(range(PARTITIONS)))
    started = time.perf_counter()
    while cluster.backlog(0):
        for topic, partition in cluster.backlog(0):
            cluster.read(0, topic, partition, READ)
    seconds = time.perf_counter() - started
    written = Counter({
        output: sum(len(cluster.topics[topic, p]) for p in range(PARTITIONS))
        for output, topic in OUTPUT_TOPICS.items()
    })  # fmt: skip
    return seconds, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    tune_collector()  # as the runners do
    records = [(r.key, r.value) for r in generate(args.events, args.customers, seed=1)]
    times: dict[str, list[float]] = {"on": [], "off": []}
    written: Counter[str] = Counter()
    for _round in range(args.rounds):
        for analytics in ("on", "off"):
            seconds, counts = run(records, analytics)
            times[analytics].append(seconds)
            if analytics == "on":
                written = counts
            print(f"analytics {analytics:<3} {args.events / seconds:>8,.0f} events/s"
                  f" ({seconds:.2f} s)", flush=True)  # fmt: skip
    best = {name: min(values) for name, values in times.items()}
    figures = {
        "events": args.events,
        "partitions": PARTITIONS,
        "core": CORE_MODE,
        "events_per_s": {name: round(args.events / s) for name, s in best.items()},
        "analytics_cost": round(1 - best["off"] / best["on"], 3),
        "records_per_event": {o: round(written[o] / args.events, 3) for o in Output.ALL},
    }
    print(f"core {CORE_MODE}; analytics cost {figures['analytics_cost']:.1%};"
          f" paths records per event {figures['records_per_event'][Output.PATHS]}")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "processor.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

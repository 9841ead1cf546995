"""The worker's processing without a broker: `Processor` over in-memory topics.

The same records, batches and flushes as `journey worker`, with the topics held
as lists (`tests/component/cluster.py`), so the figure is the pipeline's own CPU
time, free of the broker and the network, and steady from run to run (the
broker benchmarks here vary by 20 % and more between runs). Runs the analytics
off and on, alternating, and counts the analytics records written.

The analytics' cost is a cost per event (counting) plus a cost per record written,
and a part writes a window's groups whatever the events in it: records per event
fall as windows fill. The generated history is sparse (a few hundred events an
hour over weeks, tens per window and partition), so the analytics run twice: with
1-hour windows, and with 1-day windows, as full as 1-hour windows of a site with
about one event a second (most sites have more).

    python bench/processor_bench.py [--events N] [--rounds N]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import CORE_MODE  # noqa: E402
from pipeline.config import Settings  # noqa: E402
from pipeline.domain import Output  # noqa: E402
from pipeline.gc_policy import freeze_startup, tune_collector  # noqa: E402
from pipeline.policy import journey_policy  # noqa: E402
from pipeline.tools.generate import generate  # noqa: E402
from pipeline.topics import OUTPUT_TOPICS  # noqa: E402
from tests.component.cluster import Cluster  # noqa: E402

RESULTS = Path(__file__).parent / "results"
PARTITIONS = 8
READ = 500
"""Records a worker reads of one partition at a time (a batch)."""


WINDOWS = {"off": 0, "1h": 3_600_000, "1d": 86_400_000}
"""The runs: analytics off, and on with windows of this length (the propensity model off)."""
PUBLISHING_FROM = 10
"""The propensity model's `min_labels` where it is on."""


def run(
    records: list[tuple[str, bytes]], window_ms: int, propensity: bool = False
) -> tuple[float, Counter[str]]:
    """Seconds to process `records` (one worker, every partition) and records per output;
    with `propensity`, the session purchase model publishing from its tenth label of each
    outcome (its steady cost, not its first weeks')."""
    analytics = "on" if window_ms else "off"
    settings = Settings(
        partitions=PARTITIONS,
        idle_after=2000,
        analytics=analytics,
        analytics_window=window_ms or Settings().analytics_window,
        propensity="on" if propensity else "off",
        propensity_min_labels=PUBLISHING_FROM,
    )
    cluster = Cluster(settings, policy=journey_policy(settings))
    cluster.produce(records, "murmur2", timestamp=int(time.time() * 1000) + 86_400_000)
    cluster.start_worker(set(range(PARTITIONS)))
    freeze_startup()  # as the worker does: the input held in memory here is not its heap
    started = time.perf_counter()
    while cluster.backlog(0):
        for topic, partition in cluster.backlog(0):
            cluster.read(0, topic, partition, READ)
    seconds = time.perf_counter() - started
    gc.unfreeze()
    written = Counter({
        topic: sum(len(cluster.topics[topic, p]) for p in range(PARTITIONS))
        for topic in OUTPUT_TOPICS.values()
    })  # fmt: skip
    return seconds, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    tune_collector()  # as the runners do
    records, times_ms = [], []
    for r in generate(args.events, args.customers, seed=1):
        records.append((r.key, r.value))
        times_ms.append(r.occurred_at)
    times: dict[str, list[float]] = {name: [] for name in WINDOWS}
    written: dict[str, Counter[str]] = {}
    for _round in range(args.rounds):
        for name, window_ms in WINDOWS.items():
            seconds, written[name] = run(records, window_ms)
            times[name].append(seconds)
            print(f"analytics {name:<3} {args.events / seconds:>8,.0f} events/s"
                  f" ({seconds:.2f} s)", flush=True)  # fmt: skip
    best = {name: min(values) for name, values in times.items()}
    figures: dict[str, object] = {
        "events": args.events,
        "partitions": PARTITIONS,
        "core": CORE_MODE,
        "events_per_s": {name: round(args.events / s) for name, s in best.items()},
    }
    for name, window_ms in WINDOWS.items():
        if not window_ms:
            continue
        windows = len({t // window_ms for t in times_ms})
        per_part = args.events / windows / PARTITIONS
        cost = 1 - best["off"] / best[name]
        paths = written[name][OUTPUT_TOPICS[Output.PATHS]] / args.events
        figures[f"window_{name}"] = {
            "events_per_window_part": round(per_part),
            "analytics_cost": round(cost, 3),
            "records_per_event": {
                o: round(written[name][OUTPUT_TOPICS[o]] / args.events, 3) for o in Output.ALL
            },
        }
        print(f"{name} windows: {per_part:,.0f} events per window and partition;"
              f" paths records per event {paths:.3f}; analytics cost {cost:.1%}")  # fmt: skip
    print(f"core {CORE_MODE}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "processor.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

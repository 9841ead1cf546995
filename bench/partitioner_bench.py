"""The producers' partitioner and the worker's speed: the route hop measured.

One input (generated, fixed seed), three runs, each on a fresh embedded broker,
alternating so that machine noise hits all of them, best of `--tries`:

- murmur2: produced by aiokafka (the Java clients' murmur2), worker default;
- crc32_set: produced by librdkafka (confluent-kafka, `consistent_random`: CRC32),
  worker with JOURNEY_INPUT_PARTITIONER=crc32: no event takes the route hop;
- crc32_unset: the same librdkafka input, worker default: nearly every event takes it.

A run ends once every event is decided where its journey lives (after the hop), its
input offset is committed, and every decision the oracle takes on the input is
published (the input ends with an event per partition two days later: `workload.py`).

Prints events/s from the first committed record to the last and writes
`bench/results/partitioner.json`.

    python bench/partitioner_bench.py [--events N] [--tries N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path

from confluent_kafka import Producer
from stream_bench import (
    PARTITIONS,
    RESULTS,
    consumed,
    decided,
    load,
    metric,
    start_workers,
    stop,
    wait_count,
)
from workload import expected_decisions, with_end_marks

from pipeline.config import Settings
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.broker import embedded_broker
from pipeline.tools.generate import generate
from pipeline.topics import EVENTS

RUNS = {
    "murmur2": ("murmur2", "murmur2"),
    "crc32_set": ("crc32", "crc32"),
    "crc32_unset": ("crc32", "murmur2"),
}
"""Run name: (the producer's partitioner, JOURNEY_INPUT_PARTITIONER)."""


def librdkafka_load(bootstrap: str, records: list[tuple[str, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for key, value in records:
        while True:
            try:
                producer.produce(EVENTS, value=value, key=key.encode())
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(120):
        raise SystemExit("librdkafka did not deliver the input")


def run(name: str, records: list[tuple[str, bytes]], decisions: int, tmp: Path) -> float:
    produced_by, setting = RUNS[name]
    os.environ["JOURNEY_INPUT_PARTITIONER"] = setting
    with embedded_broker() as broker:
        settings = Settings(kafka_bootstrap=broker.bootstrap, app_id="bench", partitions=PARTITIONS)
        ensure_topics(settings, broker.bootstrap)
        if produced_by == "crc32":
            librdkafka_load(broker.bootstrap, records)
        else:
            asyncio.run(load(broker.bootstrap, records, 0))
        workers = start_workers(broker.bootstrap, "bench", (PORT,), tmp)
        try:
            first, _read = wait_count(lambda: finished(PORT), len(records), 1800, name)
            _first, done = wait_count(lambda: decided(PORT), decisions, 1800, name)
        finally:
            stop(*workers)
    return len(records) / (done - first)


PORT = 6180
FINAL = ("ok", "duplicate", "late", "invalid")
"""Outcomes that end an event's way (a rerouted, forwarded or parked one ends later)."""


def finished(port: int) -> float:
    """Input events decided where their journey lives, with the input committed."""
    decided = sum(metric(port, "journey_events_consumed_total", outcome=o) for o in FINAL)
    return min(decided, consumed(port))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--tries", type=int, default=2)
    args = parser.parse_args()
    generated = [(r.key, r.value) for r in generate(args.events, args.customers, seed=1)]
    inputs = {}  # the end marks land on every partition by the producer's partitioner
    for produced_by in sorted({produced_by for produced_by, _setting in RUNS.values()}):
        records, _end = with_end_marks(generated, PARTITIONS, produced_by)
        inputs[produced_by] = (records, expected_decisions([value for _k, value in records]))
    tries: dict[str, list[float]] = {name: [] for name in RUNS}
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(args.tries):
            for name in RUNS:
                tries[name].append(run(name, *inputs[RUNS[name][0]], Path(tmp)))
                print(
                    f"try {attempt + 1} {name:<12} {tries[name][-1]:>10,.0f} events/s", flush=True
                )
    best = {name: round(max(values)) for name, values in tries.items()}
    figures = {
        "events": len(generated),
        "events_per_s": best,
        "tries": {name: [round(v) for v in values] for name, values in tries.items()},
        "crc32_set_vs_murmur2": round(best["crc32_set"] / best["murmur2"], 3),
        "crc32_unset_vs_murmur2": round(best["crc32_unset"] / best["murmur2"], 3),
    }
    print(f"\n{len(generated):,} events, {PARTITIONS} partitions, embedded broker\n")
    print("| input, setting | events/s |\n| --- | ---: |")
    for name, (produced_by, setting) in RUNS.items():
        print(f"| {produced_by} producer, JOURNEY_INPUT_PARTITIONER={setting} | {best[name]:,} |")
    print(f"\ncrc32 with the setting / murmur2: {figures['crc32_set_vs_murmur2']}"
          f"; without the setting (route hop): {figures['crc32_unset_vs_murmur2']}")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "partitioner.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Streaming throughput and latency, side by side on one broker and one input.

One run: start the embedded broker and one `journey worker` (every output on);
once it owns its partitions, load N generated events (fixed seed) into
`clickstream.events` (8 partitions); then measure on that same input

- worker: from its first record to its last;
- raw: an aiokafka consume -> orjson decode -> orjson encode -> produce loop
  (batched `getmany`, no journey logic): the client's practical limit here;
- faust_naive: the per-key logic (30-minute sessions, cart counts) as a user
  would first write it in faust: `async for`, a Table write per event;

each counted from its first record to its last (group join excluded). Then,
with the worker running, latency: events at half the worker's measured rate,
from each event's produce time to the publish time of the stage transition it
caused (both Kafka record timestamps). Prints a table and writes
`bench/results/stream.json`.

    python bench/stream_bench.py [--events N] [--customers N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from pipeline.broker import embedded_broker
from pipeline.config import Settings
from pipeline.generate import generate
from pipeline.kafka_admin import TopicSpec, ensure_topics
from pipeline.topics import EVENTS, OUTPUT_TOPICS

RESULTS = Path(__file__).parent / "results"
PARTITIONS = 8
JOURNEY = Path(sys.executable).parent / "journey"
FINAL = ("ok", "duplicate", "late", "invalid")


async def load(bootstrap: str, records: list[tuple[str, bytes]], rate: float) -> float:
    """Produce the input (at `rate`/s, 0: at once); returns events/s of this producer."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=262144)
    await producer.start()
    started = time.perf_counter()
    try:
        for n, (key, value) in enumerate(records):
            if rate and n % 100 == 0 and (ahead := started + n / rate - time.perf_counter()) > 0:
                await asyncio.sleep(ahead)
            await producer.send(EVENTS, value, key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return len(records) / (time.perf_counter() - started)


async def raw_passthrough(bootstrap: str, events: int, out_topic: str) -> float:
    """Consume every input record, decode, encode, produce; events/s from the first record."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=262144)
    await consumer.start()
    await producer.start()
    try:
        consumer.assign([TopicPartition(EVENTS, p) for p in range(PARTITIONS)])
        await consumer.seek_to_beginning()
        seen, started = 0, 0.0
        while seen < events:
            batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
            for messages in batches.values():
                if not started:
                    started = time.perf_counter()
                for message in messages:
                    record = orjson.loads(message.value)
                    await producer.send(out_topic, orjson.dumps(record), key=message.key)
                seen += len(messages)
        await producer.flush()
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()


def samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def consumed(port: int) -> float:
    return sum(
        v
        for (name, labels), v in samples(port).items()
        if name == "journey_events_consumed_total" and dict(labels).get("outcome") in FINAL
    )


def wait_count(count: Any, target: int, timeout: float, what: str) -> tuple[float, float]:
    """Poll `count()` until it reaches `target`; returns (first nonzero time, done time)."""
    deadline = time.monotonic() + timeout
    first = 0.0
    while True:
        n = count()
        now = time.perf_counter()
        if n and not first:
            first = now
        if n >= target:
            return first, now
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: {n} of {target} after {timeout:.0f} s")
        time.sleep(0.05)


def worker_env(bootstrap: str, app_id: str, port: int, data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "JOURNEY_KAFKA_BOOTSTRAP": bootstrap,
        "JOURNEY_APP_ID": app_id,
        "JOURNEY_WEB_PORT": str(port),
        "JOURNEY_WEB_HOST": "127.0.0.1",
        "JOURNEY_PARTITIONS": str(PARTITIONS),
        "JOURNEY_KAFKA_SESSION_TIMEOUT": "6s",
        "JOURNEY_LOG_LEVEL": "warning",
        "JOURNEY_DATA_DIR": str(data),
    }


def wait_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until the worker owns its partitions (so the input arrives at a running consumer)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"worker exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("worker not ready within 120 s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def faust_naive(bootstrap: str, events: int, tmp: Path) -> float:
    """The naive faust agent (bench/faust_naive.py) over the same input; events/s."""
    progress = tmp / "naive-progress"
    env = {
        **os.environ,
        "BENCH_BOOTSTRAP": bootstrap,
        "BENCH_PROGRESS": str(progress),
        "BENCH_DATADIR": str(tmp / "naive-data"),
        "BENCH_PARTITIONS": str(PARTITIONS),
    }
    script = Path(__file__).parent / "faust_naive.py"
    with (tmp / "naive.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(script), "worker", "-l", "warn"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def count() -> int:
        if process.poll() is not None:
            raise SystemExit(f"faust_naive exited: {(tmp / 'naive.log').read_text()[-2000:]}")
        try:
            return int(progress.read_text() or 0)
        except (OSError, ValueError):
            return 0

    try:
        first, done = wait_count(count, events, 1800, "faust_naive")
    finally:
        process.kill()
        process.wait()
    return events / (done - first)


async def latency(
    bootstrap: str, rate: float, seconds: float, start_ms: int, customers: int
) -> list[float]:
    """Produce fresh journeys at `rate`/s; ms from each event's produce to its transition."""
    total = int(rate * seconds)
    records = list(generate(total, customers, seed=99, start_ms=start_ms))
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    topic = OUTPUT_TOPICS["stage_transitions"]
    consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
    await consumer.seek_to_end()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1)
    await producer.start()
    produced: dict[str, int] = {}
    published: dict[str, int] = {}

    async def read() -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            for messages in batches.values():
                for m in messages:
                    trigger = orjson.loads(m.value)["trigger_event_id"]
                    if trigger:
                        published.setdefault(trigger, m.timestamp)

    reader = asyncio.create_task(read())
    try:
        started = time.perf_counter()
        sends = []
        for n, record in enumerate(records):
            wait = started + n / rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            sent = await producer.send(EVENTS, record.value, key=record.key.encode())
            sends.append((orjson.loads(record.value)["event_id"], sent))
        for event_id, sent in sends:
            produced[event_id] = (await sent).timestamp
        deadline = time.monotonic() + 30
        expected_at_least = len(published)
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            if len(published) == expected_at_least:
                break
            expected_at_least = len(published)
    finally:
        reader.cancel()
        await producer.stop()
        await consumer.stop()
    return [published[e] - produced[e] for e in published if e in produced]


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--skip-naive", action="store_true", help="Leave out the slow peer.")
    parser.add_argument(
        "--load-rate", type=float, default=0.0,
        help="Feed the worker at this many events/s (0: all at once); its figure is then a floor.",
    )  # fmt: skip
    args = parser.parse_args()
    stream = list(generate(args.events, args.customers, seed=1))
    records = [(r.key, r.value) for r in stream]
    size = sum(len(v) for _k, v in records) / len(records)
    print(f"{len(records):,} events of {size:.0f} B, {args.customers:,} customers, "
          f"{PARTITIONS} partitions", flush=True)  # fmt: skip
    figures: dict[str, Any] = {
        "events": len(records),
        "event_bytes": round(size),
        "load_rate": args.load_rate,
    }
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp_name, embedded_broker() as broker:
        tmp = Path(tmp_name)
        bootstrap = broker.bootstrap
        settings = Settings(kafka_bootstrap=bootstrap, app_id="bench", partitions=PARTITIONS)
        ensure_topics(settings, bootstrap, extra=[TopicSpec("bench.raw-out", PARTITIONS)])
        port = 6170
        worker = subprocess.Popen(
            [str(JOURNEY), "worker"], env=worker_env(bootstrap, "bench", port, tmp / "w"),
            stdout=subprocess.DEVNULL, stderr=(tmp / "worker.log").open("wb"),
        )  # fmt: skip
        try:
            wait_ready(port, worker, tmp / "worker.log")
            rates["produce"] = asyncio.run(load(bootstrap, records, args.load_rate))
            print(f"loaded the input at {rates['produce']:,.0f} events/s", flush=True)
            first, done = wait_count(lambda: consumed(port), len(records), 1800, "worker")
            rates["worker"] = len(records) / (done - first)
            figures["worker_rss_mb"] = round(rss_mb(worker.pid))
            print(f"worker     {rates['worker']:>10,.0f} events/s  "
                  f"(RSS {figures['worker_rss_mb']} MB)", flush=True)  # fmt: skip
            rates["raw"] = asyncio.run(raw_passthrough(bootstrap, len(records), "bench.raw-out"))
            print(f"raw        {rates['raw']:>10,.0f} events/s", flush=True)
            end = max(r.occurred_at for r in stream) + 3_600_000
            lags = asyncio.run(latency(bootstrap, rates["worker"] / 2, 20, end, 2000))
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        figures["latency_ms"] = {
            "at_events_per_s": round(rates["worker"] / 2),
            "transitions": len(lags),
            "p50": percentile(lags, 50),
            "p95": percentile(lags, 95),
            "p99": percentile(lags, 99),
        }
        lat = figures["latency_ms"]
        print(
            f"latency at {lat['at_events_per_s']:,}/s, {lat['transitions']} transitions: "
            + "  ".join(f"{q} {lat[q]:.0f} ms" for q in ("p50", "p95", "p99"))
        )
        if not args.skip_naive:
            rates["faust_naive"] = faust_naive(bootstrap, len(records), tmp)
            print(f"faust_naive{rates['faust_naive']:>10,.0f} events/s", flush=True)
    figures["events_per_s"] = {name: round(rate) for name, rate in rates.items()}
    figures["ratios"] = {"worker_vs_raw": round(rates["worker"] / rates["raw"], 3)}
    if "faust_naive" in rates:
        figures["ratios"]["worker_vs_faust_naive"] = round(
            rates["worker"] / rates["faust_naive"], 2
        )
    for name, ratio in figures["ratios"].items():
        print(f"{name:<24} {ratio}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "stream.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

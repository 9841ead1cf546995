"""The second peer: the same per-key logic as `faust_naive.py`, in Quix Streams.

A stateful `apply` (sessions with a 30-minute gap, cart adds counted, state in
Quix's RocksDB store), every fiftieth state sent to an output topic. Progress
(events done) goes to the file `BENCH_PROGRESS` every 1,000 events and at the
last one (`BENCH_EVENTS`), so the benchmark can time it from outside.

Quix Streams 3 reads `retention.ms` from each topic's DescribeConfigs to size
its changelog topics; the embedded broker answers DescribeConfigs with an empty
config, so this wrapper defaults a missing `retention.ms` to -1 (infinite),
which is Kafka's answer for a topic created without one.

    BENCH_BOOTSTRAP=... BENCH_PROGRESS=... BENCH_EVENTS=... python bench/quix_peer.py
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from quixstreams import Application, State
from quixstreams.models.topics.manager import TopicManager

GAP_MS = 30 * 60 * 1000
PROGRESS = Path(os.environ["BENCH_PROGRESS"])
EVENTS = int(os.environ["BENCH_EVENTS"])
_derive = TopicManager.derive_topic_config.__func__  # type: ignore[attr-defined]


def _derive_with_default_retention(cls: type[TopicManager], topics: Any) -> Any:
    topics = list(topics)
    for topic in topics:
        topic.broker_config.extra_config.setdefault("retention.ms", "-1")
    return _derive(cls, topics)


TopicManager.derive_topic_config = classmethod(_derive_with_default_retention)  # type: ignore[method-assign,assignment]
done = 0


def step(value: bytes, state: State) -> bytes | None:
    global done
    current = state.get("s") or [0, 0, 0]
    try:
        event = orjson.loads(value)
        at: float | None = datetime.fromisoformat(event["occurred_at"]).timestamp() * 1000
    except (orjson.JSONDecodeError, TypeError, KeyError, ValueError):
        event, at = {}, None
    if at is not None:
        if at - current[0] > GAP_MS:
            current[1] += 1
        current[0] = at
    if event.get("event_type") == "cart_item_added":
        current[2] += 1
    state.set("s", current)
    done += 1
    if done % 1000 == 0 or done == EVENTS:
        PROGRESS.write_text(str(done))
    return orjson.dumps(current) if done % 50 == 0 else None


def main() -> None:
    app = Application(
        broker_address=os.environ["BENCH_BOOTSTRAP"],
        consumer_group="bench-quix",
        auto_offset_reset="earliest",
        state_dir=os.environ.get("BENCH_DATADIR", "/tmp/bench-quix"),
        loglevel="WARNING",
    )
    source = app.topic("clickstream.events", key_deserializer="bytes", value_deserializer="bytes")
    sink = app.topic("bench.quix-out", key_serializer="bytes", value_serializer="bytes")
    frame = app.dataframe(source).apply(step, stateful=True)
    frame.filter(lambda value: value is not None).to_topic(sink)
    app.run()


if __name__ == "__main__":
    main()

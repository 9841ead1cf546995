"""The benchmarks' input, and when a worker has done all its work on it.

A backlog ends with one `page_viewed` per input partition two days of event time
after the last event (`with_end_marks`), so every partition's watermark passes
every session gap and cart timeout of the input. The oracle (`expected_decisions`)
runs the journey core over the same records in event-time order, without the
end-of-file flush: the decisions a worker must have published once its watermarks
reach those end marks. A contender's rate counts until it has published them, not
only until it has read its input (closing sessions and judging carts is work too).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from pipeline.config import Settings
from pipeline.contract.records import published
from pipeline.domain import JourneyEngine, Output, Outputs, parse_time
from pipeline.policy import event_decoder, journey_policy
from pipeline.worker.routing import PARTITIONERS

END_MARK_AFTER_MS = 2 * 86_400_000
"""How far past the input's last event the end marks are."""

DECISION_METRICS = (
    "journey_stage_transitions_total",
    "journey_sessions_closed_total",
    "journey_alerts_published_total",
)
"""The worker's counters of the decisions `expected_decisions` counts."""


def _decision(output: str, record: dict[str, Any]) -> bool:
    return output in Output.DECISIONS and record.get("type") != "session_merged"


def with_end_marks(
    records: list[tuple[str, bytes]], partitions: int, partitioner: str = "murmur2"
) -> tuple[list[tuple[str, bytes]], int]:
    """`records` and one end-mark event for each partition (as `partitioner` places keys);
    returns them and the end marks' event time."""
    at = max(parse_time(orjson.loads(value)["occurred_at"]) for _key, value in records)
    at += END_MARK_AFTER_MS
    pick: Callable[[bytes, int], int] = PARTITIONERS[partitioner]
    keys: dict[int, str] = {}
    n = 0
    while len(keys) < partitions:
        key = f"bench-end-{n}"
        keys.setdefault(pick(key.encode(), partitions), key)
        n += 1
    marks = [
        (key, orjson.dumps({"event_id": f"{key}-e", "event_type": "page_viewed",
                            "occurred_at": at, "customer_id": key, "channel": "web"}))
        for _p, key in sorted(keys.items())
    ]  # fmt: skip
    return records + marks, at


def expected_decisions(values: list[bytes], settings: Settings | None = None) -> int:
    """Stage transitions, closed sessions and cart alerts that the journey core decides on
    `values` in event-time order by the time of its last event (no end-of-file flush)."""
    settings = settings or Settings()
    decoder, engine, out = (
        event_decoder(settings),
        JourneyEngine(journey_policy(settings)),
        Outputs(),
    )
    received = int(time.time() * 1000)
    events = sorted(
        (decoder.decode(value, received).event for value in values),
        key=lambda event: event.occurred_at,
    )
    count = 0
    for event in events:
        engine.on_event(event, out, event.occurred_at)
        count += sum(1 for output, _key, record in published(out) if _decision(output, record))
        out.decisions.clear()
        out.analytics.clear()
        out.counts.clear()
    return count

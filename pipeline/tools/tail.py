"""`journey tail`: the pipeline's output records as one readable line each."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition

from ..config import KafkaSettings
from ..domain import RecordType
from ..kafka.connection import client_options

__all__ = ["describe", "describe_bytes", "follow"]


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return "".join(shown) or "0s"


def describe(record: dict[str, Any]) -> str:
    """One line for any output record (alert, transition, session, dead letter)."""
    kind = record.get("type")
    key = record.get("journey_key")
    if kind == RecordType.CART_ABANDONED:
        reach = "contactable" if record["contactable"] else "not contactable"
        return (
            f"{record['abandoned_at']}  cart_abandoned  {key}  {record['value']:.2f} "
            f"{record.get('currency') or ''}  {len(record['items'])} item(s)  {reach}  "
            f"stage={record.get('stage')}  {record['alert_id']}"
        )
    if kind == RecordType.CART_RECOVERED:
        return (
            f"{record['recovered_at']}  cart_recovered  {key}  {record['recovered_value']:.2f} "
            f"{record.get('currency') or ''}  after {_duration(record['time_to_recovery_seconds'])}"
            f"  order {record['order_id']}  {record['alert_id']}"
        )
    if kind == RecordType.SESSION_CLOSED:
        converted = "  converted" if record["converted"] else ""
        return (
            f"{record['ended_at']}  session_closed  {key}  {record['event_count']} events  "
            f"{_duration(record['duration_seconds'])}  {record['stage_at_start']} -> "
            f"{record['stage_at_end']}{converted}  {record['session_id']}"
        )
    if kind == RecordType.SESSION_MERGED:
        merged = ", ".join(record["merged_session_ids"])
        return f"{record['ended_at']}  session_merged  {key}  {merged} -> {record['session_id']}"
    if "to_stage" in record:
        return (
            f"{record['occurred_at']}  stage  {key}  {record['from_stage'] or '(new)'} -> "
            f"{record['to_stage']}  ({record['reason']})"
        )
    if "reason" in record and "original" in record:
        return (
            f"{record['received_at']}  dead_letter  {record['reason']}  {record['error']}  "
            f"({record['topic']}[{record['partition']}]@{record['offset']})"
        )
    return orjson.dumps(record).decode()


def describe_bytes(value: bytes) -> str:
    """`describe` for a record's bytes; a record that is not JSON is shown as it is."""
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value.decode(errors="replace")
    return describe(record) if isinstance(record, dict) else value.decode()


def follow(
    settings: KafkaSettings,
    bootstrap: str,
    topic: str,
    from_beginning: bool,
    done: Callable[[float], bool],
) -> Iterator[bytes]:
    """Record values of `topic` as they arrive (all partitions, no consumer group).

    Stops when `done(seconds since the last record)` is true.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **client_options(settings)
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise ValueError(f"topic {topic!r} does not exist on {bootstrap}")
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        if from_beginning:
            consumer.seek_to_beginning()
        else:
            consumer.seek_to_end()
        last = time.monotonic()
        while not done(time.monotonic() - last):
            batch = consumer.poll(timeout_ms=200)
            if batch:
                last = time.monotonic()
            for messages in batch.values():
                for message in messages:
                    if message.value is not None:
                        yield message.value
    finally:
        consumer.close()

"""Sending event records to the input topic, for `journey generate --kafka` and `journey replay`.

Records are keyed by their journey key (a record that does not decode is sent
without a key, for the worker to dead-letter). Pacing is either a fixed rate
(records per second) or the records' own event times scaled by `speed`; with
neither, records go as fast as the producer takes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from ..config import KafkaSettings
from ..contract.codec import EventDecoder
from ..domain import InvalidEvent
from ..kafka.connection import client_options
from ..offline.formats import InputRecord
from ..topics import EVENTS

__all__ = ["Pacing", "SendRecord", "keyed", "send_records"]


@dataclass(frozen=True, slots=True)
class SendRecord:
    key: str | None
    value: bytes
    occurred_at: int | None
    """Event time in epoch ms, when known (used to keep the original timing)."""


def keyed(records: Iterable[InputRecord], decoder: EventDecoder) -> Iterator[SendRecord]:
    """Raw records with their journey key and event time (both None when invalid: the
    worker dead-letters them, a malformed CSV row as the line it is in the file)."""
    for _line, raw, _problem in records:
        try:
            event = decoder.decode(raw, int(time.time() * 1000)).event
        except InvalidEvent:
            yield SendRecord(None, raw, None)
        else:
            yield SendRecord(event.key, raw, event.occurred_at)


@dataclass(frozen=True, slots=True)
class Pacing:
    """`rate` records/s, else event time divided by `speed`; 0 for both: no pacing."""

    rate: float = 0.0
    speed: float = 0.0

    def delays(self) -> Callable[[int, int | None], float]:
        """A function (records sent, event time) -> seconds to wait before the next send."""
        started = time.monotonic()
        first_event_time: list[int] = []

        def delay(sent: int, occurred_at: int | None) -> float:
            if self.rate > 0:
                return started + sent / self.rate - time.monotonic()
            if self.speed > 0 and occurred_at is not None:
                if not first_event_time:
                    first_event_time.append(occurred_at)
                offset = (occurred_at - first_event_time[0]) / 1000 / self.speed
                return started + offset - time.monotonic()
            return 0.0

        return delay


def producer(settings: KafkaSettings, bootstrap: str, **options: Any) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=5,
        batch_size=256 * 1024,
        **client_options(settings),
        **options,
    )


def send_records(
    records: Iterable[SendRecord],
    settings: KafkaSettings,
    bootstrap: str,
    pacing: Pacing = Pacing(),
    on_sent: Callable[[int], None] = lambda n: None,
    topic: str = EVENTS,
    stamp_event_time: bool = False,
) -> int:
    """Send `records` to `topic` keyed by journey key; returns how many were sent.

    With `stamp_event_time` each record's Kafka timestamp is its event time (a
    generator simulating past traffic), else the time of sending. Every send is
    acknowledged before this returns; a failed one raises `KafkaError`.
    """
    client = producer(settings, bootstrap)
    delay = pacing.delays()
    sent = 0
    failures: list[BaseException] = []
    try:
        for record in records:
            wait = delay(sent, record.occurred_at)
            if wait > 0:
                time.sleep(wait)
            key = record.key.encode() if record.key is not None else None
            stamp = record.occurred_at if stamp_event_time else None
            client.send(topic, key=key, value=record.value, timestamp_ms=stamp).add_errback(
                failures.append
            )
            sent += 1
            if sent % 1000 == 0:
                on_sent(sent)
        client.flush()
        if failures:
            raise KafkaError(f"{len(failures)} of {sent} records were not delivered: {failures[0]}")
        on_sent(sent)
    finally:
        client.close()
    return sent

"""The whole pipeline's analytics, as every worker sees them: the aggregate topics tailed.

Each worker reads `journey.paths`, `journey.funnels` and `journey.voc` (every
partition, outside the consumer group) into a `Rollup`, so any worker answers
the analytics API and draws the journey map for the whole pipeline, and sets
the friction gauges (the same on every worker). The paths records, most of
what the topics carry, are parsed only when a view asks for their window.
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
from aiokafka import AIOKafkaConsumer

from ..domain import Output
from ..domain.analytics.rollup import Rollup
from ..domain.analytics.views import friction_view
from ..topics import OUTPUT_TOPICS
from .background import TopicTail
from .metrics import Metrics

__all__ = ["AnalyticsView"]

log = logging.getLogger("journey.analytics")

READ_CHUNK = 2_000
"""Records parsed between two turns of the loop when a view needs many (about 20 ms)."""
GAUGES_EVERY_S = 5.0
"""Shortest time between two updates of the friction gauges (on a new window)."""
GAUGES_ANYWAY_S = 60.0
"""Longest time between two updates (late records change closed windows too)."""


class AnalyticsView(TopicTail):
    def __init__(self, keep_ms: int, metrics: Metrics) -> None:
        self.rollup = Rollup(keep_ms, self._read)
        self.metrics = metrics
        self.keep_ms = keep_ms
        self._outputs = {OUTPUT_TOPICS[o]: o for o in Output.ANALYTICS}
        self._gauges_at = 0.0
        self._gauged_end = 0
        self._flagged: set[tuple[str, str, str]] = set()

    async def read_for(self, span_ms: int | None) -> None:
        """Parse the records a view of the last `span_ms` (None: all) has not read yet, a
        chunk at a time, so that the worker's loop keeps turning through a first long view."""
        rollup = self.rollup
        since = None if span_ms is None else rollup.last_end - span_ms
        while rollup.read_unread(since, READ_CHUNK):
            await asyncio.sleep(0)

    async def _tail(self, consumer: AIOKafkaConsumer) -> None:
        try:
            consumer.subscribe(list(self._outputs))
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                for tp, records in batch.items():
                    output = self._outputs[tp.topic]
                    for record in records:
                        self.add(output, record.key, record.value)
                since = time.monotonic() - self._gauges_at
                new_window = self.rollup.last_end != self._gauged_end
                if since >= GAUGES_ANYWAY_S or (new_window and since >= GAUGES_EVERY_S):
                    self.update_gauges()
        finally:
            await consumer.stop()

    def add(self, output: str, key: bytes | None, value: bytes | None) -> None:
        """A record as read; a paths record is kept unparsed until a view needs it."""
        if output == Output.PATHS and key and value and self.rollup.add_unread(key, value):
            return
        self._add_now(output, value)

    def _add_now(self, output: str, value: bytes | None) -> None:
        try:
            self.rollup.add(output, orjson.loads(value or b""))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            log.warning("skipped an unreadable %s record: %s", output, error)

    def _read(self, value: bytes) -> None:
        self._add_now(Output.PATHS, value)

    def update_gauges(self) -> None:
        """The friction gauges from the latest closed window against its baseline (the
        windows of the last day before it)."""
        self._gauges_at = time.monotonic()
        self._gauged_end = self.rollup.last_end
        metrics, window = self.metrics, self.rollup.window_ms
        flagged = friction_view(self.rollup, 25 * window if window else None, every=True)
        now = set()
        for item in flagged:
            labels = (item["dimension"], item["node"], item["measure"])
            metrics.touchpoint_rate.labels(*labels).set(item["rate"])
            metrics.touchpoint_baseline.labels(*labels).set(item["baseline"])
            metrics.touchpoint_friction.labels(*labels).set(1 if item["flagged"] else 0)
            now.add(labels)
        for gone in self._flagged - now:
            for gauge in (metrics.touchpoint_rate, metrics.touchpoint_baseline,
                          metrics.touchpoint_friction):  # fmt: skip
                gauge.remove(*gone)
        self._flagged = now

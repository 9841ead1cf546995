"""The worker: faust agents as a thin shell around the journey engine.

Per input partition one `JourneyEngine` holds that partition's journeys, timers
and watermark. Each batch of records is decoded and handed to the engine; then,
in this order, every output, dead letter and routed message is sent and its
delivery awaited, and only then is each changed journey written once to the
changelog-backed table, into its own partition. A worker killed at any point
therefore either re-processes the batch from its old state (re-publishing the
same records with the same ids) or finds the new state with every record of it
already delivered: no alert is lost. The changelog writes are flushed too
before the batch is acknowledged, so a committed offset never runs ahead of
the state it produced.

Routing: a journey lives on the partition murmur2(journey key) selects (the
Java client's default). A record that arrived elsewhere (another key, no key,
another partitioner), an event of a stitched anonymous id, and the two steps
of an identity stitch travel through the internal route topic to the owning
partition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson
from faust.types import TP
from kafka.partitioner.default import murmur2

from .app import JourneyApp, build_app
from .codec import EventDecoder, dead_letter
from .config import Settings
from .domain import (
    Event,
    InvalidEvent,
    JourneyPolicy,
    JourneyState,
    Outcome,
    Outputs,
    Reason,
)
from .domain.engine import JourneyEngine
from .metrics import Metrics
from .positions import PROCESS, Positions
from .web import add_routes

__all__ = ["JourneyWorker"]

log = logging.getLogger("journey.worker")

_POSITION = b"\x00position/"
"""Table keys of input positions (`\x00position/{topic}/{partition}`); no journey key starts so."""


def partitioner(partitions: int) -> Callable[[str], int]:
    """The Java client's default partitioner (murmur2), cached per key."""

    @lru_cache(maxsize=1 << 18)
    def partition_of(key: str) -> int:
        return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions

    return partition_of


@dataclass
class Pending:
    """What a batch will send: (topic, key, value, partition) with partition None = by key."""

    messages: list[tuple[Any, bytes, bytes, int | None]] = field(default_factory=list)
    outputs: Outputs = field(default_factory=Outputs)


class JourneyWorker:
    def __init__(self, settings: Settings, bootstrap: str, policy: JourneyPolicy) -> None:
        self.settings = settings
        self.policy = policy
        self.faust: JourneyApp = build_app(settings, bootstrap)
        self.app = self.faust.app
        self.metrics = Metrics()
        self.decoder = EventDecoder(settings.max_event_bytes)
        self.partition_of = partitioner(settings.partitions)
        self.engines: dict[int, JourneyEngine] = {}
        self.positions = Positions()
        self.last_activity: dict[int, float] = {}
        self.lock = asyncio.Lock()
        self.ready = False
        self._register()

    def _register(self) -> None:
        app, batch = self.app, self.settings.batch_size

        async def ingest(stream: Any) -> None:
            async for events in stream.take_events(batch, within=0.02):
                await self._batch(events, self._ingest_one)

        async def route(stream: Any) -> None:
            async for events in stream.take_events(batch, within=0.02):
                await self._batch(events, self._route_one)

        app.agent(self.faust.events, name="journey.ingest")(ingest)
        app.agent(self.faust.route, name="journey.route")(route)
        app.timer(1.0, name="journey.idle_clock")(self._idle_clock)
        app.on_rebalance_complete.connect(self._on_rebalance_complete)
        app.on_partitions_revoked.connect(self._on_partitions_revoked)
        add_routes(self)

    # -- partitions and state -------------------------------------------------

    def _assigned(self) -> set[int]:
        topic = self.faust.events.get_topic_name()
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic}

    async def _on_rebalance_complete(self, sender: Any = None, **_: Any) -> None:
        assigned = self._assigned()
        gone = set(self.engines) - assigned
        for partition in gone:
            del self.engines[partition]
        self.positions.forget(gone)
        missing = assigned - set(self.engines)
        if missing:
            self._load(missing)
        self.metrics.partitions.set(len(assigned))
        self.ready = True

    async def _on_partitions_revoked(self, sender: Any = None, revoked: Any = (), **_: Any) -> None:
        topic = self.faust.events.get_topic_name()
        gone = {tp.partition for tp in revoked if tp.topic == topic}
        for partition in gone:
            self.engines.pop(partition, None)
        self.positions.forget(gone)

    def _load(self, partitions: set[int]) -> None:
        """Rebuild the engines of `partitions` from the recovered table (states and timers)."""
        restored: dict[int, list[JourneyState]] = {p: [] for p in partitions}
        for key, value in self.faust.table.data.items():
            partition, data = orjson.loads(value)
            if partition not in restored:
                continue
            if key.startswith(_POSITION):
                topic = key[len(_POSITION) :].decode().rpartition("/")[0]
                self.positions.restore((topic, partition), data)
            else:
                restored[partition].append(JourneyState.from_data(data))
        now = time.monotonic()
        for partition, states in restored.items():
            engine = JourneyEngine(self.policy)
            engine.restore(states)
            self.engines[partition] = engine
            self.last_activity[partition] = now
        log.info("restored %d journeys on partitions %s",
                 sum(map(len, restored.values())), sorted(partitions))  # fmt: skip

    def engine(self, partition: int) -> JourneyEngine:
        engine = self.engines.get(partition)
        if engine is None:
            self._load({partition})
            engine = self.engines[partition]
        return engine

    # -- batches ------------------------------------------------------------

    async def _batch(self, events: list[Any], handle: Callable[[Any, Pending], None]) -> None:
        started = time.perf_counter()
        async with self.lock:
            pending = Pending()
            now = time.monotonic()
            for event in events:
                message = event.message
                tp = (message.topic, message.partition)
                verdict = self.positions.admit(tp, message.offset, now)
                if verdict == PROCESS:
                    handle(message, pending)
                else:
                    self.metrics.events.labels(verdict).inc()
            await self._deliver_then_persist(pending)
            await self._seek_back()
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_size.observe(len(events))

    async def _seek_back(self) -> None:
        """Perform the seeks `positions` asked for (records skipped or a partition stalled)."""
        for (topic, partition), offset in self.positions.take_seeks().items():
            log.warning("%s[%d] is missing records from offset %d on: reading them again",
                        topic, partition, offset)  # fmt: skip
            self.metrics.seeks.inc()
            await self.app.consumer.seek(TP(topic, partition), offset)

    def _ingest_one(self, message: Any, pending: Pending) -> None:
        partition = message.partition
        raw: bytes = message.value or b""
        try:
            event = self.decoder.decode(raw)
        except InvalidEvent as error:
            self.metrics.events.labels("invalid").inc()
            self._dead(pending, error.reason, str(error), raw, message, None)
            return
        owner = self.partition_of(event.key)
        if owner != partition:
            self.metrics.events.labels("rerouted").inc()
            self._route(
                pending, event.key, {"kind": "event", "key": event.key, "event": event.data}
            )
            return
        self._process(partition, event, raw, message, pending)

    def _route_one(self, message: Any, pending: Pending) -> None:
        partition = message.partition
        routed = orjson.loads(message.value)
        kind = routed["kind"]
        engine = self.engine(partition)
        if kind == "event":
            event = Event.from_dict(routed["event"])
            self._process(partition, event, message.value, message, pending, key=routed["key"])
        elif kind == "detach":
            engine.request_detach(
                message.key.decode(), routed["customer"], routed["at"], pending.outputs
            )
        elif kind == "absorb":
            customer_key = message.key.decode()
            replayed = engine.absorb(customer_key, routed["moved"], routed["at"], pending.outputs)
            for event, outcome in replayed:
                raw = orjson.dumps(event.data)
                self._settle(engine, event, outcome, raw, message, pending, customer_key)
        self.last_activity[partition] = time.monotonic()

    def _process(
        self,
        partition: int,
        event: Event,
        raw: bytes,
        message: Any,
        pending: Pending,
        key: str | None = None,
    ) -> None:
        engine = self.engine(partition)
        engine.observe(event.occurred_at, pending.outputs)
        outcome = engine.handle(event, pending.outputs, key=key)
        self._settle(engine, event, outcome, raw, message, pending, key)
        self.last_activity[partition] = time.monotonic()

    def _settle(
        self,
        engine: JourneyEngine,
        event: Event,
        outcome: str,
        raw: bytes,
        message: Any,
        pending: Pending,
        key: str | None = None,
    ) -> None:
        """Count an outcome and send what it calls for (forward, dead letter)."""
        self.metrics.events.labels(outcome).inc()
        if outcome == Outcome.FORWARDED:
            target = engine.forward_target(key or event.key)
            assert target is not None
            self._route(pending, target, {"kind": "event", "key": target, "event": event.data})
        elif outcome == Outcome.LATE:
            lag = engine.watermark - event.occurred_at
            self._dead(pending, Reason.LATE, f"event is {lag} ms behind the watermark",
                       raw, message, event)  # fmt: skip

    def _route(self, pending: Pending, key: str, message: dict[str, Any]) -> None:
        pending.messages.append(
            (self.faust.route, key.encode(), orjson.dumps(message), self.partition_of(key))
        )

    def _dead(
        self,
        pending: Pending,
        reason: str,
        error: str,
        raw: bytes,
        message: Any,
        event: Event | None,
    ) -> None:
        self.metrics.dead_letters.labels(reason).inc()
        record = dead_letter(
            reason,
            error,
            raw,
            received_at=int(time.time() * 1000),
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            event=event,
        )
        key = message.key if isinstance(message.key, bytes) else b""
        pending.messages.append((self.faust.dead_letter, key, orjson.dumps(record), None))

    async def _deliver_then_persist(self, pending: Pending) -> None:
        """Send everything, await delivery, then write each changed journey once."""
        out = pending.outputs
        for anonymous_id, customer_key, at in out.aliases:
            self._route(
                pending, anonymous_id, {"kind": "detach", "customer": customer_key, "at": at}
            )
        for customer_key, moved, at in out.moves:
            self._route(pending, customer_key, {"kind": "absorb", "moved": moved, "at": at})
        messages = pending.messages
        for output, key, record in out.records:
            messages.append((self.faust.outputs[output], key.encode(), orjson.dumps(record), None))
        self.metrics.count_records(out.records)
        self.metrics.count_core(out.counts)
        for topic, key, value, partition in messages:
            topic.send_soon(key=key, value=value, partition=partition)
        if messages:
            await self.app.producer.flush()
        table = self.faust.table
        written = 0
        for partition, engine in self.engines.items():
            for key in engine.take_dirty():
                value = orjson.dumps([partition, engine.states[key].to_data()])
                key_bytes = key.encode()
                table.data[key_bytes] = value
                table.send_changelog(partition, key_bytes, value)
                written += 1
        for (topic, partition), expected in self.positions.take_changed():
            key_bytes = _POSITION + f"{topic}/{partition}".encode()
            value = orjson.dumps([partition, expected])
            table.data[key_bytes] = value
            table.send_changelog(partition, key_bytes, value)
            written += 1
        if written:
            # faust commits the batch's offsets without waiting for changelog sends
            await self.app.producer.flush()
        self.metrics.last_processed.set(time.time())

    # -- time -----------------------------------------------------------------

    async def _idle_clock(self) -> None:
        """On a partition gone quiet, let time pass by the wall clock so timers still fire."""
        idle_after = self.settings.idle_after_ms / 1000
        async with self.lock:
            pending = Pending()
            now = time.monotonic()
            for partition, engine in self.engines.items():
                idle = now - self.last_activity.get(partition, now)
                if idle >= idle_after:
                    engine.release_stitches(pending.outputs)
                    if engine.watermark:
                        engine.fire(engine.watermark + int(idle * 1000), pending.outputs)
            await self._deliver_then_persist(pending)
            consumer = self.app.consumer
            self.positions.check_stalls(lambda tp: consumer.highwater(TP(*tp)), now)
            await self._seek_back()
            self.metrics.stuck.set(len(self.positions.stuck()))
            self._update_gauges()

    def _update_gauges(self) -> None:
        states = [s for e in self.engines.values() for s in e.states.values()]
        self.metrics.journeys.set(len(states))
        self.metrics.open_sessions.set(sum(len(s.sessions) for s in states))
        self.metrics.open_carts.set(sum(1 for s in states if s.cart.items))
        marks = [e.watermark for e in self.engines.values() if e.watermark]
        if marks:
            self.metrics.watermark.set(min(marks) / 1000)

"""The worker: a consumer-group loop around the journey engines.

Per input partition one `JourneyEngine` holds that partition's journeys, timers
and watermark. Each batch of records (from the input topic and the internal
route topic) is handed to the engines, and what it changed is taken as a
`Flush`: the outputs, dead letters and routed messages, each changed journey
serialised once (with the partition's input positions), and the offsets to
commit. The `Publisher` publishes flushes in order (every message sent and
its delivery awaited, then the state writes, and only then the offsets
committed), merging those that queue up meanwhile, while the next batch is
processed. A worker killed at any point restarts from a state that matches
what it published: no alert is lost, and a replayed record is recognised by
its position and skipped.

State recovery is the worker's own: on assignment it appends a one-record
fence to each assigned changelog partition and reads the partition up to it,
so no record is missed whatever high watermark the broker reports.

Input and route partitions with one number go to one worker (the range
assignor over two topics of equal partition count), so a partition's engine
sees both.

Routing: a journey lives on the partition murmur2(journey key) selects (the
Java client's default). A record that arrived elsewhere, an event of a
stitched anonymous id, and the two steps of an identity stitch travel through
the route topic to the owning partition.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, cast

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition
from kafka.partitioner.default import murmur2

from ..config import Settings
from ..contract.codec import EventDecoder, dead_letter, encode
from ..domain import (
    STAGES,
    Event,
    InvalidEvent,
    JourneyPolicy,
    JourneyState,
    Outcome,
    Outputs,
    Reason,
)
from ..domain.engine import JourneyEngine
from ..kafka.admin import FENCE_KEY, aiokafka_options
from ..topics import DEAD_LETTER, EVENTS, OUTPUT_TOPICS, changelog_topic, owners_topic, route_topic
from .compact_states import CompactStates
from .metrics import Metrics
from .owners import OwnerDirectory
from .positions import PROCESS, Positions
from .publisher import Flush, Message, Publisher

__all__ = ["JourneyWorker", "partitioner"]

log = logging.getLogger("journey.worker")

_BROKER_CHECK_EVERY_S = 5.0
_POSITION = b"\x00position/"
"""Changelog keys of input positions (`\\x00position/{topic}/{partition}`)."""


def _by_key(key: bytes, partitions: int) -> int:
    """The Java client's default partitioner (murmur2)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def partitioner(partitions: int) -> Callable[[str], int]:
    """`_by_key` for journey keys, cached per key."""

    @lru_cache(maxsize=1 << 18)
    def partition_of(key: str) -> int:
        return _by_key(key.encode(), partitions)

    return partition_of


_FLUSHES_QUEUED = 4
"""Processed batches that may wait to be published before processing pauses."""
_YIELD_EVERY = 25
"""Records processed between two turns of the event loop (sends and acks progress)."""


@dataclass
class Pending:
    """What a batch will send: (topic, key, value, partition) with partition None = by key."""

    messages: list[Message] = field(default_factory=list)
    outputs: Outputs = field(default_factory=Outputs)
    outcomes: Counter[str] = field(default_factory=Counter)
    """Inbound records by outcome, added to the metrics once per batch."""
    timestamps: list[int] = field(default_factory=list)
    """Kafka timestamps of the input events processed (not skipped as redelivered)."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: JourneyWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.worker.on_revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.worker.on_assigned({tp.partition for tp in assigned})


class JourneyWorker:
    def __init__(self, settings: Settings, bootstrap: str, policy: JourneyPolicy) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.policy = policy
        self.metrics = Metrics()
        self.decoder = EventDecoder(settings.max_event_bytes)
        self.partition_of = partitioner(settings.partitions)
        self.route_topic = route_topic(settings.app_id)
        self.changelog = changelog_topic(settings.app_id)
        self.engines: dict[int, JourneyEngine] = {}
        self.partition_counts: dict[str, int] = {}
        """Partitions of each topic the worker publishes to by key (read at start)."""
        self.positions = Positions()
        self.last_activity: dict[int, float] = {}
        self.lock = asyncio.Lock()
        self.ready = False
        self.stopping = asyncio.Event()
        self.url = settings.advertised_url or f"http://{socket.gethostname()}:{settings.web_port}"
        self.owners = OwnerDirectory(owners_topic(settings.app_id), self.url)
        self._broker_checked = (-_BROKER_CHECK_EVERY_S, "")
        self.publisher = Publisher(
            self._send_all, self._commit, self._published, max_queued=_FLUSHES_QUEUED
        )
        self._batch_wall = 0.0
        options = aiokafka_options(settings)
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, linger_ms=0, max_batch_size=512 * 1024, acks="all",
            **options,
        )  # fmt: skip
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=settings.app_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=max(1000, settings.session_timeout_ms // 10),
            max_poll_records=settings.batch_size,
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            partition_assignment_strategy=(RangePartitionAssignor,),
            **options,
        )

    # -- life cycle -------------------------------------------------------------

    async def run(self) -> None:
        """Consume until `stopping` is set; then finish the batch in hand and leave the group."""
        await self.producer.start()
        for topic in (DEAD_LETTER, *OUTPUT_TOPICS.values()):
            self.partition_counts[topic] = len(await self.producer.partitions_for(topic))
        self.publisher.start()
        await self.consumer.start()
        directory_reader = self._reader()
        await directory_reader.start()
        self.owners.start(directory_reader)
        self.consumer.subscribe([EVENTS, self.route_topic], listener=_Rebalance(self))
        clock = asyncio.create_task(self._idle_clock())
        try:
            while not self.stopping.is_set():
                if clock.done():
                    clock.result()  # the idle clock failed (could not publish): stop with it
                self.publisher.raise_failure()
                batch = await self.consumer.getmany(timeout_ms=100)
                records = [r for rs in batch.values() for r in rs]
                if records:
                    await self._batch(records)
            await self.publisher.drain()
        finally:
            clock.cancel()
            await self.publisher.stop()
            await self.owners.stop()
            await self.consumer.stop()
            await self.producer.stop()

    def _reader(self) -> AIOKafkaConsumer:
        """A consumer outside the group, for topics read from their start (state, directory)."""
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False,
            **aiokafka_options(self.settings),
        )  # fmt: skip

    async def broker_problem(self) -> str:
        """Why the broker cannot be reached ('' when it can); asked at most every 5 s."""
        checked_at, problem = self._broker_checked
        if time.monotonic() - checked_at < _BROKER_CHECK_EVERY_S:
            return problem
        try:
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), timeout=3)
            problem = ""
        except (TimeoutError, KafkaError, OSError) as error:
            problem = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        self._broker_checked = (time.monotonic(), problem)
        return problem

    # -- partitions and state -------------------------------------------------

    async def on_revoked(self, partitions: set[int]) -> None:
        async with self.lock:
            await self.publisher.drain()  # the next owner reads every state write of these
            for partition in partitions & set(self.engines):
                del self.engines[partition]
                for topic in (EVENTS, self.route_topic):
                    self.metrics.consumer_lag.remove(topic, str(partition))
            self.positions.forget(partitions)
            self.metrics.partitions.set(len(self.engines))

    async def on_assigned(self, partitions: set[int]) -> None:
        async with self.lock:
            await self._recover(partitions - set(self.engines))
            await self.owners.claim(self.producer, partitions)
            self.metrics.partitions.set(len(self.engines))
            for partition in partitions:
                for topic in (EVENTS, self.route_topic):
                    self.metrics.consumer_lag.labels(topic, str(partition))
            self.ready = True

    async def _recover(self, partitions: set[int]) -> None:
        """Rebuild `partitions`' engines and positions from the changelog, read up to a fence."""
        if not partitions:
            return
        started = time.perf_counter()
        fences = {
            TopicPartition(self.changelog, p): (
                await self.producer.send_and_wait(self.changelog, None, FENCE_KEY, partition=p)
            ).offset
            for p in sorted(partitions)
        }
        reader = self._reader()
        latest: dict[bytes, bytes] = {}
        await reader.start()
        try:
            reader.assign(list(fences))
            await reader.seek_to_beginning(*fences)
            remaining = dict(fences)
            while remaining:
                batch = await reader.getmany(timeout_ms=1000, max_records=10_000)
                for tp, records in batch.items():
                    for record in records:
                        if record.value is None:
                            latest.pop(record.key, None)
                        else:
                            latest[record.key] = record.value
                    if tp in remaining and records[-1].offset >= remaining[tp]:
                        del remaining[tp]
        finally:
            await reader.stop()
        restored: dict[int, list[JourneyState]] = {p: [] for p in partitions}
        for key, value in latest.items():
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
            engine = JourneyEngine(self.policy, CompactStates(self.settings.decoded_journeys))
            engine.restore(states)
            self.engines[partition] = engine
            self.last_activity[partition] = now
        log.info("recovered %d journeys of partitions %s in %.2f s",
                 sum(map(len, restored.values())), sorted(partitions),
                 time.perf_counter() - started)  # fmt: skip

    # -- batches ------------------------------------------------------------

    async def _batch(self, records: list[ConsumerRecord]) -> None:
        started = time.perf_counter()
        await self.publisher.room()
        async with self.lock:
            pending = Pending()
            now = time.monotonic()
            self._batch_wall = time.time()
            for n, record in enumerate(records):
                if n % _YIELD_EVERY == _YIELD_EVERY - 1:
                    await asyncio.sleep(0)  # let earlier flushes' network I/O progress
                if record.partition not in self.engines:
                    continue  # revoked meanwhile: its new owner reads it again
                verdict = self.positions.admit((record.topic, record.partition), record.offset, now)
                if verdict != PROCESS:
                    pending.outcomes[verdict] += 1
                elif record.topic == EVENTS:
                    pending.timestamps.append(record.timestamp)
                    self._ingest_one(record, pending)
                else:
                    self._route_one(record, pending)
            for partition in {record.partition for record in records}:
                self.last_activity[partition] = now
            offsets = {
                TopicPartition(topic, partition): expected
                for (topic, partition), expected in self.positions.expected.items()
                if partition in self.engines
            }
            self.publisher.submit(self._take_flush(pending, offsets))
            await self._seek_back()
        await asyncio.sleep(0)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_size.observe(len(records))

    def _published(self, timestamps: list[int], done: float) -> None:
        observe = self.metrics.processing_latency.observe
        for timestamp in timestamps:
            observe(done - timestamp / 1000)
        self.metrics.last_processed.set(done)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as error:
            # state and positions are in the changelog: a redelivery is skipped there
            log.warning("offset commit failed (a rebalance is under way?): %s", error)

    async def _seek_back(self) -> None:
        """Perform the seeks `positions` asked for (records were skipped on the way in)."""
        for (topic, partition), offset in self.positions.take_seeks().items():
            log.warning("%s[%d] is missing records from offset %d on: reading them again",
                        topic, partition, offset)  # fmt: skip
            self.metrics.seeks.inc()
            self.consumer.seek(TopicPartition(topic, partition), offset)

    def _ingest_one(self, record: ConsumerRecord, pending: Pending) -> None:
        partition = record.partition
        raw: bytes = record.value or b""
        try:
            event = self.decoder.decode(raw)
        except InvalidEvent as error:
            pending.outcomes["invalid"] += 1
            self._dead(pending, error.reason, str(error), raw, record, None)
            return
        if self.partition_of(event.key) != partition:
            pending.outcomes["rerouted"] += 1
            self._route(
                pending, event.key, {"kind": "event", "key": event.key, "event": event.data}
            )
            return
        self._process(partition, event, raw, record, pending)

    def _route_one(self, record: ConsumerRecord, pending: Pending) -> None:
        partition = record.partition
        routed = orjson.loads(record.value)
        kind = routed["kind"]
        engine = self.engines[partition]
        if kind == "event":
            event = Event.from_dict(routed["event"])
            self._process(partition, event, record.value, record, pending, key=routed["key"])
        elif kind == "detach":
            engine.request_detach(
                record.key.decode(), routed["customer"], routed["at"], pending.outputs
            )
        elif kind == "absorb":
            customer_key = record.key.decode()
            replayed = engine.absorb(customer_key, routed["moved"], routed["at"], pending.outputs)
            for event, outcome in replayed:
                raw = encode(event.data)
                self._settle(engine, event, outcome, raw, record, pending, customer_key)

    def _process(
        self,
        partition: int,
        event: Event,
        raw: bytes,
        record: ConsumerRecord,
        pending: Pending,
        key: str | None = None,
    ) -> None:
        engine = self.engines[partition]
        self.metrics.event_time_lag.observe(self._batch_wall - event.occurred_at / 1000)
        engine.observe(event.occurred_at, pending.outputs)
        outcome = engine.handle(event, pending.outputs, key=key)
        self._settle(engine, event, outcome, raw, record, pending, key)

    def _settle(
        self,
        engine: JourneyEngine,
        event: Event,
        outcome: str,
        raw: bytes,
        record: ConsumerRecord,
        pending: Pending,
        key: str | None = None,
    ) -> None:
        """Count an outcome and send what it calls for (forward, dead letter)."""
        pending.outcomes[outcome] += 1
        if outcome == Outcome.FORWARDED:
            target = engine.forward_target(key or event.key)
            assert target is not None
            self._route(pending, target, {"kind": "event", "key": target, "event": event.data})
        elif outcome == Outcome.LATE:
            lag = engine.watermark - event.occurred_at
            self._dead(pending, Reason.LATE, f"event is {lag} ms behind the watermark",
                       raw, record, event)  # fmt: skip

    def _route(self, pending: Pending, key: str, message: dict[str, Any]) -> None:
        pending.messages.append(
            (self.route_topic, key.encode(), encode(message), self.partition_of(key))
        )

    def _dead(
        self,
        pending: Pending,
        reason: str,
        error: str,
        raw: bytes,
        record: ConsumerRecord,
        event: Event | None,
    ) -> None:
        self.metrics.dead_letters.labels(reason).inc()
        letter = dead_letter(
            reason,
            error,
            raw,
            received_at=int(time.time() * 1000),
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            event=event,
        )
        pending.messages.append((DEAD_LETTER, record.key, encode(letter), None))

    async def _send_all(self, messages: list[Message]) -> None:
        """Send the messages in one record batch per topic partition and await each batch
        (a failed delivery raises: the batch is not committed)."""
        builders: dict[tuple[str, int], Any] = {}
        sends = []
        for topic, key, value, partition in messages:
            if partition is None:
                partition = self._partition(topic, key, value)
            builder = builders.get((topic, partition))
            if builder is None:
                builder = builders[topic, partition] = self.producer.create_batch()
            if builder.append(key=key, value=value, timestamp=None) is None:
                sends.append(await self.producer.send_batch(builder, topic, partition=partition))
                builder = builders[topic, partition] = self.producer.create_batch()
                if builder.append(key=key, value=value, timestamp=None) is None:
                    raise ValueError(f"a {len(value)}-byte record does not fit a record batch")
        for (topic, partition), builder in builders.items():
            sends.append(await self.producer.send_batch(builder, topic, partition=partition))
        if sends:
            await asyncio.gather(*sends)

    def _partition(self, topic: str, key: bytes | None, value: bytes) -> int:
        """The partition the default partitioner picks (a keyless record: by its value)."""
        count = self.partition_counts[topic]
        if key is None:
            return zlib.crc32(value) % count
        return _by_key(key, count)

    def _take_flush(self, pending: Pending, offsets: dict[TopicPartition, int] | None) -> Flush:
        """What `pending` publishes, with every changed journey serialised as it is now."""
        out = pending.outputs
        for anonymous_id, customer_key, at in out.aliases:
            self._route(
                pending, anonymous_id, {"kind": "detach", "customer": customer_key, "at": at}
            )
        for customer_key, moved, at in out.moves:
            self._route(pending, customer_key, {"kind": "absorb", "moved": moved, "at": at})
        messages = pending.messages
        for output, key, record in out.records:
            messages.append((OUTPUT_TOPICS[output], key.encode(), encode(record), None))
        self.metrics.count_outcomes(pending.outcomes)
        self.metrics.count_records(out.records)
        self.metrics.count_core(out.counts)
        writes: list[Message] = []
        for partition, engine in self.engines.items():
            for key in engine.take_dirty():
                value = encode([partition, engine.states[key].to_data()])
                writes.append((self.changelog, key.encode(), value, partition))
        if writes:
            self.metrics.state_writes.inc(len(writes))
            self.metrics.state_write_bytes.inc(sum(len(w[2]) for w in writes))
        for (topic, partition), expected in self.positions.take_changed():
            key_bytes = _POSITION + f"{topic}/{partition}".encode()
            writes.append((self.changelog, key_bytes, encode([partition, expected]), partition))
        return Flush(messages, writes, offsets, pending.timestamps)

    # -- time -----------------------------------------------------------------

    async def _idle_clock(self) -> None:
        """Every second: on a partition gone quiet, let time pass by the wall clock."""
        idle_after = self.settings.idle_after_ms / 1000
        while True:
            await asyncio.sleep(1.0)
            async with self.lock:
                pending = Pending()
                now = time.monotonic()
                for partition, engine in self.engines.items():
                    idle = now - self.last_activity.get(partition, now)
                    if idle >= idle_after:
                        engine.release_stitches(pending.outputs)
                        if engine.watermark:
                            engine.fire(engine.watermark + int(idle * 1000), pending.outputs)
                flush = self._take_flush(pending, None)
                if flush.messages or flush.writes:
                    self.publisher.submit(flush)
                self._update_gauges()

    def _update_gauges(self) -> None:
        summaries = [cast(CompactStates, e.states).summary() for e in self.engines.values()]
        self.metrics.table_keys.labels("journeys").set(
            sum(len(e.states) for e in self.engines.values())
        )
        for stage in ("none", *STAGES):
            self.metrics.stages.labels(stage).set(
                sum(s.stages[None if stage == "none" else stage] for s in summaries)
            )
        self.metrics.table_keys.labels("timers").set(
            sum(len(e.timers) for e in self.engines.values())
        )
        self.metrics.open_sessions.set(sum(s.sessions for s in summaries))
        self.metrics.open_carts.set(sum(s.carts for s in summaries))
        self.metrics.stuck.set(len(self.positions.stuck()))
        marks = [e.watermark for e in self.engines.values() if e.watermark]
        if marks:
            self.metrics.watermark.set(min(marks) / 1000)
        for partition in self.engines:
            for topic in (EVENTS, self.route_topic):
                tp = TopicPartition(topic, partition)
                high = self.consumer.highwater(tp)
                expected = self.positions.expected.get((topic, partition))
                if high is not None and expected is not None:
                    self.metrics.consumer_lag.labels(topic, str(partition)).set(
                        max(0, high - expected)
                    )

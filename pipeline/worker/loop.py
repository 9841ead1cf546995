"""The worker: a consumer-group loop around the `Processor`, with its Kafka clients passed in.

It consumes the input and route topics (partition N of both go to one worker:
the range assignor over two topics of equal partition count), hands each batch
to the processor, and submits the resulting flush to the `Publisher`, which
publishes flushes in order (every message sent and its delivery awaited, then
the state writes, and only then the offsets committed) while the next batch is
processed. A worker killed at any point restarts from a state that matches what
it published: no alert is lost, and a replayed record is recognised by its
position and skipped.

On assignment it recovers the partitions' state from the changelog (read up
to a fence); on revocation it publishes what it has and lets them go. A clock
turns every `_TICK_S`: idle sources, event-time announcements, wall-clock
time on quiet partitions; every second, the gauges.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition

from ..config import Settings
from ..domain import JourneyEngine, JourneyPolicy
from ..gc_policy import freeze_startup
from ..topics import DEAD_LETTER, EVENTS, OUTPUT_TOPICS, changelog_topic, owners_topic, route_topic
from .analytics_view import AnalyticsView
from .changelog import FENCE_KEY, commit_write, read_to_fences, recover
from .gauges import update_gauges, update_model_gauges
from .metrics import Metrics
from .owners import OwnerDirectory
from .processing import Processor
from .publisher import Publisher
from .sink import RecordSink

__all__ = ["JourneyWorker"]

log = logging.getLogger("journey.worker")

_BROKER_CHECK_EVERY_S = 5.0
_FLUSHES_QUEUED = 4
"""Processed batches that may wait to be published before processing pauses."""
_TICK_S = 0.25
_GAUGES_EVERY = 4
_MODEL_EVERY = 60
"""Ticks between two refreshes of the state gauges (they walk every partition's table)."""
_POLLING_S = 1.0
"""A source counts as caught up only while the broker has answered a fetch within this time."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands a rebalance to the worker. A failure stops the worker: aiokafka would log it
    and consume on without the partitions' state."""

    def __init__(self, worker: JourneyWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: Any) -> None:
        try:
            await self.worker.on_revoked({tp.partition for tp in revoked})
        except Exception as error:
            self.worker.fail(error)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        try:
            await self.worker.on_assigned({tp.partition for tp in assigned})
        except Exception as error:
            self.worker.fail(error)


class JourneyWorker:
    def __init__(
        self,
        settings: Settings,
        policy: JourneyPolicy,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        state_producer: AIOKafkaProducer,
        reader: Callable[[], AIOKafkaConsumer],
    ) -> None:
        """`consumer`: in the app's group; `producer`: outputs and route records;
        `state_producer`: the changelog; `reader()`: a new consumer outside any group."""
        self.settings = settings
        self.consumer, self.producer, self.reader = consumer, producer, reader
        self.state_producer = state_producer
        self.metrics = Metrics()
        self.route_topic = route_topic(settings.app_id)
        self.changelog = changelog_topic(settings.app_id)
        self.processor = Processor(settings, policy, self.metrics, self.route_topic, self.changelog)
        self.positions = self.processor.positions
        self.partition_of = self.processor.partition_of
        self.sink = RecordSink(producer, {})
        self.state_sink = RecordSink(state_producer, {})
        self.lock = asyncio.Lock()
        self.ready = False
        self.stopping = asyncio.Event()
        self.failure: Exception | None = None
        """What stopped the worker, raised by `run` once its clients are stopped."""
        self.url = settings.advertised_url or f"http://{socket.gethostname()}:{settings.web_port}"
        self.owners = OwnerDirectory(owners_topic(settings.app_id), self.url)
        self.analytics = (
            AnalyticsView(settings.analytics_keep, self.metrics)
            if settings.analytics == "on"
            else None
        )
        self._broker_checked = (-_BROKER_CHECK_EVERY_S, "")
        self._offsets: AIOKafkaConsumer | None = None
        """Asks the input partitions' end offsets (idle sources are checked against them)."""
        self.publisher = Publisher(
            self.sink.send,
            self.state_sink.send,
            self._commit,
            self._published,
            max_queued=_FLUSHES_QUEUED,
            close=lambda partition, moves: commit_write(self.changelog, partition, moves),
        )

    @property
    def engines(self) -> dict[int, JourneyEngine]:
        return {p: a.engine for p, a in self.processor.assigned.items()}

    # -- life cycle -------------------------------------------------------------

    async def run(self) -> None:
        """Consume until `stopping` is set; then finish the batch in hand and leave the group."""
        await self.producer.start()
        await self.state_producer.start()
        await self._count_partitions()
        self.publisher.start()
        await self.consumer.start()
        directory_reader = self.reader()
        await directory_reader.start()
        self.owners.start(directory_reader)
        if self.analytics is not None:
            analytics_reader = self.reader()
            await analytics_reader.start()
            self.analytics.start(analytics_reader)
        self._offsets = self.reader()
        await self._offsets.start()
        self.consumer.subscribe([EVENTS, self.route_topic], listener=_Rebalance(self))
        clock = asyncio.create_task(self._clock())
        try:
            while not self.stopping.is_set():
                if clock.done():
                    clock.result()  # the clock failed (could not publish): stop with it
                self.publisher.raise_failure()
                batch = await self.consumer.getmany(timeout_ms=100)
                records = [r for rs in batch.values() for r in rs]
                if records and not self.stopping.is_set():
                    await self._batch(records)
            await self.publisher.drain()
        finally:
            clock.cancel()
            await self.publisher.stop()
            await self.owners.stop()
            if self._offsets is not None:
                await self._offsets.stop()
            if self.analytics is not None:
                await self.analytics.stop()
            await self.consumer.stop()
            await self.producer.stop()
            await self.state_producer.stop()
        if self.failure is not None:
            raise self.failure

    def fail(self, error: Exception) -> None:
        """Stop the worker; `run` raises `error` once the clients are stopped."""
        log.error("stopping: %s", error)
        self.failure = error
        self.stopping.set()

    async def _count_partitions(self) -> None:
        """The partition counts of the topics sent to by key (checked against
        JOURNEY_PARTITIONS before the worker starts: `pipeline.kafka.admin`)."""
        counts = self.sink.partition_counts
        for topic in (EVENTS, self.route_topic, DEAD_LETTER, *OUTPUT_TOPICS.values()):
            counts[topic] = len(await self.producer.partitions_for(topic))

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
            for partition in partitions & set(self.processor.assigned):
                for topic in (EVENTS, self.route_topic):
                    self.metrics.consumer_lag.remove(topic, str(partition))
            self.processor.revoke(partitions)
            self.metrics.partitions.set(len(self.processor.assigned))

    async def on_assigned(self, partitions: set[int]) -> None:
        async with self.lock:
            await self._recover(partitions - set(self.processor.assigned))
            await self.owners.claim(self.producer, partitions)
            self.metrics.partitions.set(len(self.processor.assigned))
            for partition in partitions:
                for topic in (EVENTS, self.route_topic):
                    self.metrics.consumer_lag.labels(topic, str(partition))
            self.ready = True

    async def _recover(self, partitions: set[int]) -> None:
        """Rebuild `partitions`' state from the changelog, read up to a fence, as of each
        partition's last whole round of writes (the rest is undone first)."""
        if not partitions:
            return
        started = time.perf_counter()

        async def fence(partition: int) -> int:
            sent = await self.state_producer.send_and_wait(
                self.changelog, None, FENCE_KEY, partition=partition
            )
            return int(sent.offset)

        reader = self.reader()
        await reader.start()
        try:
            replays = await read_to_fences(
                reader, fence, lambda p: TopicPartition(self.changelog, p), partitions
            )
        finally:
            await reader.stop()
        recovery = recover(replays, self.changelog)
        if recovery.closing:
            await (await self.state_sink.send(recovery.closing))
        if recovery.moves:
            await (await self.sink.send(recovery.moves))
        if recovery.set_aside:
            log.warning("partitions %s: set aside %d changelog records of a round of writes"
                        " their last owner left half written", sorted(partitions),
                        recovery.set_aside)  # fmt: skip
        restored = recovery.partitions
        await self._refresh_ends()
        self.processor.assign(restored, time.monotonic())
        freeze_startup()  # the recovered journeys are long-lived: out of the collector's way
        log.info("recovered %d journeys of partitions %s in %.2f s",
                 sum(len(r.states) for r in restored.values()), sorted(partitions),
                 time.perf_counter() - started)  # fmt: skip

    # -- batches ------------------------------------------------------------

    async def _batch(self, records: list[ConsumerRecord]) -> None:
        started = time.perf_counter()
        await self.publisher.room()
        if self.processor.trusts_idle():  # records may have arrived where it counts on none
            await self._refresh_ends()
        async with self.lock:
            now, wall_ms = time.monotonic(), int(time.time() * 1000)
            self.publisher.submit(await self.processor.process(records, now, wall_ms))
            await self._seek_back()
        await asyncio.sleep(0)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_size.observe(len(records))

    def _published(self, timestamps: list[int], done: float) -> None:
        observe = self.metrics.processing_latency.observe
        for timestamp in timestamps:
            observe(done - timestamp / 1000)
        self.metrics.last_processed.set(done)

    async def _commit(self, offsets: dict[tuple[str, int], int]) -> None:
        try:
            await self.consumer.commit({TopicPartition(*tp): n for tp, n in offsets.items()})
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

    # -- time -----------------------------------------------------------------

    def _caught_up(self, partition: int) -> bool:
        """The broker answered a fetch of input `partition` within `_POLLING_S` and the worker
        has read up to the high watermark it reported. While the broker cannot be reached no
        fetch is answered, so an outage never makes a partition with records left look idle."""
        tp = TopicPartition(EVENTS, partition)
        fetched = self.consumer.last_poll_timestamp(tp)
        if fetched is None or time.time() - fetched / 1000 > _POLLING_S:
            return False
        high = self.consumer.highwater(tp)
        expected = self.positions.expected.get((EVENTS, partition))
        return high is not None and (expected or 0) >= high

    async def _refresh_ends(self) -> None:
        """Ask the input partitions' end offsets; unanswered, the last answer stands (an
        unreachable broker answers no fetch either, so no source turns idle meanwhile)."""
        if self._offsets is None:
            return
        tps = [TopicPartition(EVENTS, p) for p in range(self.settings.partitions)]
        try:
            ends = await asyncio.wait_for(self._offsets.end_offsets(tps), timeout=_TICK_S * 8)
        except (KafkaError, TimeoutError, OSError) as error:
            log.debug("end offsets not answered: %s", error)
            return
        self.processor.set_ends({tp.partition: offset for tp, offset in ends.items()})

    async def _clock(self) -> None:
        """Every tick: idle sources, announcements, wall-clock time on quiet partitions."""
        ticks = 0
        while True:
            await asyncio.sleep(_TICK_S)
            await self._refresh_ends()
            async with self.lock:
                now, wall_ms = time.monotonic(), int(time.time() * 1000)
                flush = self.processor.tick(now, self._caught_up, wall_ms)
                if flush.messages or flush.writes or flush.moves or flush.marks:
                    self.publisher.submit(flush)
                ticks += 1
                if ticks % _GAUGES_EVERY == 0:
                    processor = self.processor
                    update_gauges(self.metrics, processor.assigned.values(), processor.positions)
                    self._update_lag()
                if ticks % _MODEL_EVERY == 1:
                    update_model_gauges(self.metrics, self.processor.assigned.values())

    def _update_lag(self) -> None:
        for partition in self.processor.assigned:
            for topic in (EVENTS, self.route_topic):
                high = self.consumer.highwater(TopicPartition(topic, partition))
                expected = self.positions.expected.get((topic, partition))
                if high is not None and expected is not None:
                    self.metrics.consumer_lag.labels(topic, str(partition)).set(
                        max(0, high - expected)
                    )

"""An in-memory cluster for component tests: topics as lists, workers as `Processor`s.

Records are produced by any of the producers' partitioners, read by the
workers that own their partitions in an order the test chooses (uneven
speeds, one partition far behind), and whatever a flush sends is appended to
the topics as a broker would. A worker can crash (its unpublished work lost)
and be replaced by one that recovers from the changelog as written so far. With
`in_flight`, flushes wait to be published as the worker's publisher lets them wait,
and a crash delivers a random part of them as a killed publisher would.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.config import Settings
from pipeline.domain import JourneyPolicy
from pipeline.topics import (
    DEAD_LETTER,
    DECISION_TOPICS,
    EVENTS,
    OUTPUT_TOPICS,
    changelog_topic,
    route_topic,
)
from pipeline.worker.changelog import Replay, commit_write, recover
from pipeline.worker.metrics import Metrics
from pipeline.worker.processing import Processor
from pipeline.worker.publisher import Flush, round_writes
from pipeline.worker.routing import PARTITIONERS
from pipeline.worker.sink import RecordSink

from ..support import canonical, complete

APP = "mem"
PARTITIONS = 4


def cluster_settings(by: str = "murmur2") -> Settings:
    """Four partitions, the input partitioner `by`, sources idle after 2 s."""
    return Settings(partitions=PARTITIONS, input_partitioner=by, idle_after=2000)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: int


@dataclass
class Cluster:
    settings: Settings
    policy: JourneyPolicy = field(default_factory=JourneyPolicy)
    topics: dict[tuple[str, int], list[Record]] = field(default_factory=lambda: defaultdict(list))
    changelog: dict[int, list[tuple[bytes, bytes | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    """Each changelog partition's records, in order."""
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    workers: list[tuple[Processor, set[int]]] = field(default_factory=list)
    cursors: dict[tuple[str, int], int] = field(default_factory=dict)
    now: float = 0.0
    in_flight: random.Random | None = None
    """Publish lazily, and deliver part of what waits when a worker crashes, at random."""
    waiting: dict[int, list[Flush]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        self.route = route_topic(APP)
        partitions = self.settings.partitions
        counts = {t: partitions for t in (EVENTS, DEAD_LETTER, self.route, *OUTPUT_TOPICS.values())}
        self.sink = RecordSink(None, counts)

    def produce(self, records: list[tuple[str | None, bytes]], by: str, timestamp: int) -> None:
        """Append input records where the partitioner `by` puts their keys."""
        pick = PARTITIONERS[by]
        for key, value in records:
            encoded = key.encode() if key is not None else None
            partition = pick(encoded, self.settings.partitions) if encoded else 0
            self._append(EVENTS, partition, encoded, value, timestamp)

    def _append(self, topic: str, partition: int, key: bytes | None, value: bytes, ts: int) -> None:
        log = self.topics[topic, partition]
        log.append(Record(topic, partition, len(log), key, value, ts))

    def start_worker(self, partitions: set[int]) -> int:
        processor = Processor(
            self.settings, self.policy, Metrics(), self.route, changelog_topic(APP)
        )
        processor.set_ends(self.ends())
        replays = {p: Replay() for p in partitions}
        for p in partitions:
            for key, value in self.changelog[p]:
                replays[p].read(key, value)
        recovery = recover(replays, changelog_topic(APP))
        for message in [*recovery.closing, *recovery.moves]:
            self._send(message)
        processor.assign(recovery.partitions, self.now)
        for p in partitions:
            for topic in (EVENTS, self.route):
                self.cursors[topic, p] = self.committed.get((topic, p), 0)
        self.workers.append((processor, partitions))
        return len(self.workers) - 1

    def crash(self, index: int) -> set[int]:
        """The worker dies: what it has not published is gone, but for what its publisher
        had sent of it (`in_flight`); returns its partitions."""
        processor, partitions = self.workers[index]
        self._deliver_some(self.waiting.pop(index, []))
        processor.assigned.clear()
        self.workers[index] = (processor, set())
        return partitions

    def _deliver_some(self, flushes: list[Flush]) -> None:
        """What a killed publisher had delivered of `flushes`: the messages of the first
        ones, the first messages of each topic partition of the next; of the state writes
        of those whose messages were delivered (one round), the first ones of each
        changelog partition; no offsets, nothing sent after them (moves, marks)."""
        rng = self.in_flight
        if rng is None or not flushes:
            return
        sent = rng.randrange(len(flushes) + 1)
        messages = [m for flush in flushes[:sent] for m in flush.messages]
        if sent < len(flushes):
            cuts: dict[tuple[str, int | None], int] = defaultdict(int)
            for message in flushes[sent].messages:
                cuts[message[0], message[3]] += 1
            kept = {tp: rng.randrange(n + 1) for tp, n in cuts.items()}
            for message in flushes[sent].messages:
                tp = (message[0], message[3])
                if kept[tp] > 0:
                    kept[tp] -= 1
                    messages.append(message)
        for message in messages:
            self._send(message)
        by_partition: dict[int | None, list[Any]] = defaultdict(list)
        for write in round_writes(flushes[: rng.randrange(sent + 1)], self._close):
            by_partition[write[3]].append(write)
        for writes in by_partition.values():
            for write in writes[: rng.randrange(len(writes) + 1)]:
                self._send(write)

    def _submit(self, index: int, flush: Flush) -> None:
        if self.in_flight is None:
            self.publish(flush)
            return
        self.waiting[index].append(flush)
        if self.in_flight.random() < 0.3:
            self.settle(index)

    def settle(self, index: int) -> None:
        """Publish what the worker's publisher holds."""
        for flush in self.waiting.pop(index, []):
            self.publish(flush)

    def publish(self, flush: Flush) -> None:
        for message in [*flush.messages, *round_writes([flush], self._close)]:
            self._send(message)
        for tp, offset in (flush.offsets or {}).items():
            self.committed[tp] = offset
        for message in [*(m for moves in flush.moves.values() for m in moves), *flush.marks]:
            self._send(message)

    def _close(self, partition: int, moves: list[Any]) -> Any:
        return commit_write(changelog_topic(APP), partition, moves)

    def _send(self, message: Any) -> None:
        topic, key, value, partition = message
        if partition is None:
            partition = self.sink.partition(topic, key, value)
        if topic == changelog_topic(APP):
            self.changelog[partition].append((key, value))
        else:
            self._append(topic, partition, key, value, int(self.now * 1000))

    def state(self) -> dict[bytes, bytes]:
        """The changelog's committed value of every key."""
        latest: dict[bytes, bytes] = {}
        for records in self.changelog.values():
            replay = Replay()
            for key, value in records:
                replay.read(key, value)
            latest.update(replay.committed)
        return latest

    def read(self, index: int, topic: str, partition: int, count: int) -> int:
        """The worker reads up to `count` records of one of its partitions; returns how many."""
        processor, owned = self.workers[index]
        if partition not in owned:
            return 0
        start = self.cursors[topic, partition]
        records = self.topics[topic, partition][start : start + count]
        self.cursors[topic, partition] = start + len(records)
        self.now += 0.05
        if processor.trusts_idle():  # as the worker's loop does before a batch
            processor.set_ends(self.ends())
        self._submit(index, complete(processor.process(records, self.now, 0)))
        return len(records)

    def backlog(self, index: int) -> list[tuple[str, int]]:
        _processor, owned = self.workers[index]
        return [
            (topic, p)
            for p in sorted(owned)
            for topic in (EVENTS, self.route)
            if self.cursors[topic, p] < len(self.topics[topic, p])
        ]

    def ends(self) -> dict[int, int]:
        """The input partitions' end offsets, as a worker asks them."""
        return {p: len(self.topics[EVENTS, p]) for p in range(self.settings.partitions)}

    def tick(self) -> None:
        self.now += 0.3
        for index, (processor, owned) in enumerate(self.workers):
            if not owned:
                continue  # crashed
            processor.set_ends(self.ends())
            waiting = {p for _topic, p in self.backlog(index)}
            self._submit(index, processor.tick(self.now, lambda p, w=waiting: p not in w, 0))
            self.settle(index)

    def drain(self, rng: random.Random, slow: int | None = None, ticks: int = 80) -> None:
        """Read everything, in random chunks; `slow`'s input partition only once every other
        input is read. Then let the clock turn until nothing more is published."""
        while True:
            choices = [
                (i, tp)
                for i in range(len(self.workers))
                for tp in self.backlog(i)
                if not (tp == (EVENTS, slow) and self._inputs_left(exclude=slow))
            ]
            if not choices:
                if not any(self.backlog(i) for i in range(len(self.workers))):
                    break
                choices = [(i, tp) for i in range(len(self.workers)) for tp in self.backlog(i)]
            index, (topic, partition) = rng.choice(choices)
            self.read(index, topic, partition, rng.randrange(1, 120))
            if rng.random() < 0.05:
                self.tick()
        for _ in range(ticks):
            self.tick()
            for index in range(len(self.workers)):
                for topic, partition in self.backlog(index):
                    self.read(index, topic, partition, 10_000)
                self.settle(index)

    def _inputs_left(self, exclude: int) -> bool:
        return any(
            self.cursors.get((EVENTS, p), 0) < len(self.topics[EVENTS, p])
            for p in range(self.settings.partitions)
            if p != exclude
        )

    def output(self, topic: str) -> list[dict[str, Any]]:
        return [
            orjson.loads(r.value)
            for p in range(self.settings.partitions)
            for r in self.topics[topic, p]
        ]

    def decisions(self) -> dict[str, list[bytes]]:
        """The records of the decision topics, canonical."""
        return {topic: canonical(self.output(topic)) for topic in DECISION_TOPICS.values()}

"""An in-memory cluster for component tests: topics as lists, workers as `Processor`s.

Records are produced by any of the producers' partitioners, read by the
workers that own their partitions in an order the test chooses (uneven
speeds, one partition far behind), and whatever a flush sends is appended to
the topics as a broker would. A worker can crash (its unpublished work lost)
and be replaced by one that recovers from the changelog as written so far.
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
from pipeline.worker.changelog import recovered
from pipeline.worker.metrics import Metrics
from pipeline.worker.processing import Processor
from pipeline.worker.publisher import Flush
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
    changelog: dict[bytes, bytes] = field(default_factory=dict)
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    workers: list[tuple[Processor, set[int]]] = field(default_factory=list)
    cursors: dict[tuple[str, int], int] = field(default_factory=dict)
    now: float = 0.0

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
        processor.assign(recovered(self.changelog, partitions), self.now)
        for p in partitions:
            for topic in (EVENTS, self.route):
                self.cursors[topic, p] = self.committed.get((topic, p), 0)
        self.workers.append((processor, partitions))
        return len(self.workers) - 1

    def crash(self, index: int) -> set[int]:
        """The worker dies: what it has not published is gone; returns its partitions."""
        processor, partitions = self.workers[index]
        processor.assigned.clear()
        self.workers[index] = (processor, set())
        return partitions

    def publish(self, flush: Flush) -> None:
        for topic, key, value, partition in [*flush.messages, *flush.writes]:
            if partition is None:
                partition = self.sink.partition(topic, key, value)
            if topic == changelog_topic(APP):
                if value is None:
                    self.changelog.pop(key, None)
                else:
                    self.changelog[key] = value
            else:
                self._append(topic, partition, key, value, int(self.now * 1000))
        for tp, offset in (flush.offsets or {}).items():
            self.committed[tp] = offset

    def read(self, index: int, topic: str, partition: int, count: int) -> int:
        """The worker reads up to `count` records of one of its partitions; returns how many."""
        processor, owned = self.workers[index]
        if partition not in owned:
            return 0
        start = self.cursors[topic, partition]
        records = self.topics[topic, partition][start : start + count]
        self.cursors[topic, partition] = start + len(records)
        self.now += 0.05
        self.publish(complete(processor.process(records, self.now, 0)))
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
        for index, (processor, _owned) in enumerate(self.workers):
            processor.set_ends(self.ends())
            waiting = {p for _topic, p in self.backlog(index)}
            self.publish(processor.tick(self.now, lambda p, w=waiting: p not in w, 0))

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

"""What a batch publishes: outputs, dead letters and route messages, then every changed
journey, input position and clock once, then the offsets to commit, then what that
state backs: journeys moving to their customers, event-time marks (`Flush`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..contract.codec import dead_letter, encode
from ..contract.records import encoded, score_record
from ..domain import Event, Output, Outputs
from ..topics import DEAD_LETTER, OUTPUT_TOPICS
from .changelog import clock_write, model_write, position_write, state_write, window_write
from .publisher import Flush, Message
from .routing import MARK, Origin, RouteTopic, seal

if TYPE_CHECKING:
    from .processing import Processor

__all__ = ["Batch", "flush"]


@dataclass
class Batch:
    """What the records (or clock ticks) since the last flush will publish."""

    messages: list[Message] = field(default_factory=list)
    """Dead letters and route messages, in the order they were made."""
    moves: dict[int, list[Message]] = field(default_factory=dict)
    """By partition, route messages sent once its state is written (`RouteTopic`)."""
    outputs: Outputs = field(default_factory=Outputs)
    outcomes: Counter[str] = field(default_factory=Counter)
    """Inbound records by outcome, added to the metrics once per batch."""
    timestamps: list[int] = field(default_factory=list)
    """Kafka timestamps of the input events processed (not skipped as redelivered)."""
    dead_letters: Counter[str] = field(default_factory=Counter)
    """Dead letters by reason, added to the metrics once per batch."""

    def router(self, topic: str, partition: int, partition_of: Callable[[str], int]) -> RouteTopic:
        """A partition's `Router`, sending into this batch's lists (kept across flushes)."""
        moves = self.moves.setdefault(partition, [])
        return RouteTopic(topic, partition, partition_of, self.messages, moves)

    def dead(
        self,
        reason: str,
        error: str,
        origin: Origin,
        event: Event | None,
        key: bytes | None,
        wall_ms: int,
    ) -> None:
        """A dead letter of the record `origin` (keyed by its journey when it has one)."""
        letter = dead_letter(
            reason, error, origin.raw, received_at=wall_ms, topic=origin.topic,
            partition=origin.partition, offset=origin.offset, event=event,
        )  # fmt: skip
        if key is None and event is not None:
            key = event.key.encode()
        self.messages.append((DEAD_LETTER, key, encode(letter), None))
        self.dead_letters[reason] += 1


def flush(processor: Processor, now: float, offsets: dict[tuple[str, int], int] | None) -> Flush:
    """Take what the processor's batch publishes, with every changed journey serialised as
    it is now; the moves to customers and the marks go once that is written (after the
    route records the marks cover)."""
    batch = processor.batch
    out = batch.outputs
    batch.outcomes.update(out.released)
    messages = [*batch.messages]
    for decision in out.decisions:
        output, key, record = encoded(decision)
        messages.append((OUTPUT_TOPICS[output], key.encode(), encode(record), None))
    for output, key, record in out.analytics:  # to its part's partition
        messages.append((OUTPUT_TOPICS[output], key.encode(), encode(record), record["part"]))
    scores = OUTPUT_TOPICS[Output.PROPENSITY]
    for score in out.scores:
        messages.append((scores, score.key.encode(), encode(score_record(score)), None))
    metrics = processor.metrics
    metrics.count_decisions(out.decisions, out.analytics, out.scores)
    metrics.count_outcomes(batch.outcomes)
    for reason, n in batch.dead_letters.items():
        metrics.dead_letters.labels(reason).inc(n)
    metrics.count_core(out.counts)
    metrics.count_rule_matches(out.rule_matches)
    topic, clocks = processor.changelog_topic, processor.clocks_changed
    snapshots = {p: part.engine.snapshot() for p, part in processor.assigned.items()}
    writes = [
        state_write(topic, partition, key, state)
        for partition, snapshot in snapshots.items()
        for key, state in snapshot.states
    ]
    if writes:
        metrics.state_writes.inc(len(writes))
        metrics.state_write_bytes.inc(sum(len(w[2] or b"") for w in writes))
    for (input_topic, partition), expected in processor.positions.take_changed():
        writes.append(position_write(topic, partition, input_topic, expected))
    for partition, snapshot in snapshots.items():
        writes += [window_write(topic, partition, s, w) for s, w in snapshot.windows]
        if snapshot.windows:  # the clock holds the analytics' horizon
            clocks.add(partition)
        if snapshot.models is not None:
            writes.append(model_write(topic, partition, snapshot.models))
        if snapshot.evaluations is not None:
            writes.append(model_write(topic, partition, snapshot.evaluations, evaluation=True))
    writes += [clock_write(topic, p, processor.assigned[p].clock()) for p in sorted(clocks)]
    clocks.clear()
    moves = {p: [*sent] for p, sent in batch.moves.items() if sent}
    batch.messages.clear()  # the partitions' routers append to these lists: they are kept
    for sent in batch.moves.values():
        sent.clear()
    processor.batch = Batch(batch.messages, batch.moves)
    marks = _announcements(processor, now)
    return Flush(messages, writes, offsets, batch.timestamps, moves, marks)


def _announcements(processor: Processor, now: float) -> list[Message]:
    """The held sources' marks that are due, in one record per route partition for all."""
    marks = []
    for partition, part in processor.assigned.items():
        mark = part.announcement()
        if processor.announcer.due(partition, mark, now):
            marks.append([partition, *mark.to_data()])
    if not marks:
        return []
    value = seal({"kind": MARK, "marks": marks})
    return [(processor.route_topic, None, value, p) for p in range(processor.settings.partitions)]

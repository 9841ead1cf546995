"""From consumed records to what a batch publishes: decode → engine → flush, no Kafka client.

Per assigned partition N the worker holds an `Assigned` (`pipeline.worker.partition`).
Records of input partition N and of route partition N come here:

- an input record is decoded and validated (else dead-lettered, with its bytes
  and coordinates); its event time advances source N; N's engine takes it, or it
  goes through the route topic to the partition that owns its journey;
- a route record is a source's event-time mark (N's watermark may rise) or a
  message for N's engine (a forwarded event, a step of an identity stitch, an
  erasure).

The engine decides everything else; what it sends elsewhere goes through its
`RouteTopic`. What a batch changed comes out as a `Flush` (`pipeline.worker.flush`).
Records are duck-typed (`topic`, `partition`, `offset`, `key`, `value`,
`timestamp`), so component tests drive this without a broker, through the same
`process` the consume loop awaits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from ..config import Settings
from ..contract.codec import late_error
from ..contract.drift import describe
from ..domain import Event, Forward, InvalidEvent, JourneyPolicy, Outcome, Reason, Step
from ..policy import event_decoder
from ..topics import EVENTS
from .changelog import Recovered
from .event_time import Announcer
from .flush import Batch, flush
from .metrics import Metrics
from .partition import Assigned
from .positions import PROCESS, Positions
from .publisher import Flush
from .routing import MARK, Origin, PartitionerGuess, message_of, open_envelope
from .routing import partitioner as make_partitioner

__all__ = ["Processor"]

log = logging.getLogger("journey.worker")

YIELD_EVERY = 25
"""Records processed between two turns of the event loop (sends and acks progress)."""


class Processor:
    def __init__(
        self, settings: Settings, policy: JourneyPolicy, metrics: Metrics, route: str, log: str
    ) -> None:
        """`route`, `log`: the app's route and changelog topics."""
        self.settings, self.policy, self.metrics = settings, policy, metrics
        metrics.know_rules(rule.id for rule in policy.rules.rules)
        self.route_topic, self.changelog_topic = route, log
        self.decoder = event_decoder(settings)
        self.partition_of = make_partitioner(settings.partitions, settings.input_partitioner)
        self.assigned: dict[int, Assigned] = {}
        self.positions = Positions()
        self.announcer = Announcer(settings.mark_interval / 1000)
        self.guess = PartitionerGuess(settings.partitions)
        self.clocks_changed: set[int] = set()
        self.ends: dict[int, int] = {}
        """The input partitions' end offsets as last asked (`set_ends`)."""
        self.batch = Batch()
        self.wall_ms = 0

    def assign(self, restored: dict[int, Recovered], now: float) -> None:
        """Take over partitions with the state recovered from the changelog."""
        for partition, part in restored.items():
            for topic, expected in part.positions.items():
                self.positions.restore((topic, partition), expected)
            router = self.batch.router(self.route_topic, partition, self.partition_of)
            self.assigned[partition] = Assigned.recover(
                partition, part, self.settings, self.policy, router, self.ends, now
            )
            self.announcer.forget(partition)
            self.clocks_changed.add(partition)

    def revoke(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.assigned.pop(partition, None)
            self.announcer.forget(partition)
            self.clocks_changed.discard(partition)
        self.positions.forget(partitions)

    def set_ends(self, ends: dict[int, int]) -> None:
        """The input partitions' end offsets, asked just now: an idle source whose input has
        grown since it said it was idle holds the watermarks back again."""
        self.ends.update(ends)

    def trusts_idle(self) -> bool:
        """Some held partition counts a source as idle: ask the end offsets (`set_ends`)
        before processing the next batch."""
        return any(part.alignment.trusts_idle() for part in self.assigned.values())

    async def process(self, records: list[Any], now: float, wall_ms: int) -> Flush:
        """Process consumed records (`now`: a monotonic clock, `wall_ms`: epoch ms), letting
        the event loop turn every `YIELD_EVERY` records; what they publish."""
        self.wall_ms = wall_ms
        for n, record in enumerate(records):
            if n % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)  # let earlier flushes' network I/O progress
            self._admit(record, now)
        offsets = {tp: n for tp, n in self.positions.expected.items() if tp[1] in self.assigned}
        return flush(self, now, offsets)

    def _admit(self, record: Any, now: float) -> None:
        """One consumed record (skipped when its partition is not held or its position is)."""
        part = self.assigned.get(record.partition)
        if part is None:
            return  # revoked meanwhile: its new owner reads it again
        verdict = self.positions.admit((record.topic, record.partition), record.offset, now)
        part.last_record = now
        if verdict != PROCESS:
            self.batch.outcomes[verdict] += 1
        elif record.topic == EVENTS:
            self._input(part, record, now)
        else:
            self._routed(part, record)

    def _input(self, part: Assigned, record: Any, now: float) -> None:
        raw: bytes = record.value or b""
        received = record.timestamp if record.timestamp and record.timestamp > 0 else self.wall_ms
        origin = Origin(raw, record.topic, record.partition, record.offset, received)
        batch = self.batch
        batch.timestamps.append(received)
        try:
            decoded = self.decoder.decode(raw, received)
        except InvalidEvent as error:
            batch.outcomes[Outcome.INVALID] += 1
            batch.dead(error.reason, str(error), origin, None, record.key, self.wall_ms)
            return
        event = decoded.event
        if decoded.drops:
            origin = origin._replace(drops=decoded.parts)
            for drop in decoded.drops:
                self.metrics.fields_dropped.labels(drop.field).inc()
            batch.dead(Reason.PARTIAL, describe(decoded.drops), origin, event, None, self.wall_ms)
        watermark = self._own_mark(part) if part.source.saw(event.occurred_at, now) else None
        key, engine = event.key, part.engine
        if engine.router.owns(key):
            step = engine.on_event(event, batch.outputs, watermark, source=origin)
            self._stepped(event, origin, step)
            return
        batch.outcomes[Outcome.REROUTED] += 1
        if not part.source.routes:  # from now on the watermarks wait for engine marks
            part.source.routes = True
            watermark = self._own_mark(part) or watermark
        if said := self.guess.observe(record.key, record.partition):
            log.warning("%s", said)
        engine.router.send(key, Forward(event, origin))
        engine.on_watermark(batch.outputs, watermark)

    def _own_mark(self, part: Assigned) -> int | None:
        """The partition's own source moved: the watermark, if it rose."""
        self.clocks_changed.add(part.partition)
        return part.own_mark()

    def _routed(self, part: Assigned, record: Any) -> None:
        routed = open_envelope(record.value)
        engine, out = part.engine, self.batch.outputs
        if routed.kind == MARK:
            engine.on_watermark(out, part.others_marks(routed.header["marks"]))
            self.clocks_changed.add(part.partition)
            return
        key, message = message_of(routed, record.key)
        step = engine.on_message(key, message, out)
        if step is not None and isinstance(message, Forward):
            self._stepped(message.event, message.source, step)

    def _stepped(self, event: Event, origin: Origin, step: Step) -> None:
        """Count what became of an event, and dead-letter it if late."""
        self.metrics.event_time_lag.observe(self.wall_ms / 1000 - event.occurred_at / 1000)
        outcomes = self.batch.outcomes
        if step.via_alias:
            outcomes[Outcome.FORWARDED] += 1
        outcomes[step.outcome] += 1
        if step.late_by is not None:
            error = late_error(step.late_by)
            self.batch.dead(Reason.LATE, error, origin, event, None, self.wall_ms)

    def tick(self, now: float, caught_up: Callable[[int], bool], wall_ms: int) -> Flush:
        """The clock's turn: sources caught up and quiet turn idle; a partition whose every
        source is idle and which got no record for the idle time lets time pass by the
        wall clock (abandonments go out without a further event)."""
        self.wall_ms = wall_ms
        for partition, part in self.assigned.items():
            idle_after = self.settings.idle_after
            moved = part.turn(now, idle_after, caught_up(partition))
            watermark = self._own_mark(part) if moved else None  # before: all_idle reads it
            part.engine.on_watermark(self.batch.outputs, watermark, part.quiet_for(now, idle_after))
        return flush(self, now, None)

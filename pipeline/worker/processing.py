"""From consumed records to what a batch publishes: the worker's logic, no Kafka client.

Per assigned partition N the worker holds an `Assigned`: the journey engine
of N, the progress of input partition N as a source of event time, and N's
aligned watermark. Records of input partition N and of route partition N
come here; for each:

- an input record is decoded and validated (else dead-lettered, with its
  bytes and coordinates); its event time advances source N; it is stepped
  by N's engine, or sent through the route topic to the partition that owns
  its journey;
- a route record is an event (stepped like an input event), a source's
  event-time mark (N's watermark may rise: timers fire), or a step of an
  identity stitch.

What a batch changed comes out as a `Flush`: outputs, dead letters and route
messages (each source's mark behind the records it routed), then every
changed journey, input position and clock once, then the offsets to commit.
Records are duck-typed (`topic`, `partition`, `offset`, `key`, `value`,
`timestamp`), so component tests drive this without a broker.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from ..contract.codec import dead_letter, encode, late_error
from ..contract.drift import describe
from ..domain import (
    Event,
    InvalidEvent,
    JourneyEngine,
    JourneyPolicy,
    Outcome,
    Output,
    Outputs,
    Reason,
)
from ..policy import event_decoder
from ..topics import DEAD_LETTER, EVENTS, OUTPUT_TOPICS
from .changelog import Recovered, clock_write, position_write, state_write, window_write
from .compact_states import CompactStates
from .event_time import Alignment, Announcer, Mark, Source
from .metrics import Metrics
from .positions import PROCESS, Positions
from .publisher import Flush, Message
from .routing import (
    ABSORB,
    DETACH,
    EVENT,
    FORGET,
    MARK,
    Origin,
    PartitionerGuess,
    open_envelope,
    partitioner,
    seal,
)

__all__ = ["Assigned", "Batch", "Processor"]

log = logging.getLogger("journey.worker")


@dataclass
class Batch:
    """What one batch of records (or one tick of the clock) will publish."""

    messages: list[Message] = field(default_factory=list)
    outputs: Outputs = field(default_factory=Outputs)
    outcomes: Counter[str] = field(default_factory=Counter)
    """Inbound records by outcome, added to the metrics once per batch."""
    timestamps: list[int] = field(default_factory=list)
    """Kafka timestamps of the input events processed (not skipped as redelivered)."""


@dataclass
class Assigned:
    """One assigned partition: its journeys, its input as a source, its watermark."""

    engine: JourneyEngine
    source: Source
    alignment: Alignment
    last_record: float
    """Monotonic time of the partition's last input or route record."""

    def clock(self) -> dict[str, Any]:
        """The partition's event time as the changelog keeps it (`Recovered.clock`)."""
        analytics = self.engine.analytics
        return {
            "source": self.source.wm,
            "alignment": self.alignment.to_data(),
            "horizon": analytics.horizon if analytics else 0,
        }


class Processor:
    def __init__(
        self,
        settings: Settings,
        policy: JourneyPolicy,
        metrics: Metrics,
        route_topic: str,
        changelog_topic: str,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.metrics = metrics
        metrics.know_rules(rule.id for rule in policy.rules.rules)
        self.route_topic = route_topic
        self.changelog_topic = changelog_topic
        self.sources = settings.partitions
        self.decoder = event_decoder(settings)
        self.partition_of = partitioner(settings.partitions, settings.input_partitioner)
        self.assigned: dict[int, Assigned] = {}
        self.positions = Positions()
        self.announcer = Announcer(settings.mark_interval / 1000)
        self.guess = PartitionerGuess(settings.partitions)
        self.clocks_changed: set[int] = set()
        self.ends: dict[int, int] = {}
        """The input partitions' end offsets as last asked (`set_ends`)."""
        self._wall_ms = 0

    # -- partitions -----------------------------------------------------------

    def assign(self, restored: dict[int, Recovered], now: float) -> None:
        """Take over partitions with the state recovered from the changelog."""
        for partition, part in restored.items():
            for topic, expected in part.positions.items():
                self.positions.restore((topic, partition), expected)
            disorder = self.settings.max_disorder
            engine = JourneyEngine(
                self.policy,
                CompactStates(self.settings.decoded_journeys),
                hold=disorder > 0,
                join=True,
                here=self._owned_by(partition),
                part=partition,
            )
            if part.clock is None:
                source = Source(0, now)
                alignment = Alignment(partition, self.sources, disorder, self.ends)
            else:
                alignment = Alignment.from_data(
                    partition, self.sources, part.clock["alignment"], disorder, self.ends
                )
                own = alignment.marks.get(partition)
                source = Source(part.clock["source"], now, own is not None and own.routes)
            engine.restore(part.states, alignment.value)
            if engine.analytics is not None:
                horizon = part.clock["horizon"] if part.clock else 0
                engine.analytics.restore(part.windows, horizon)
            self.assigned[partition] = Assigned(engine, source, alignment, now)
            self.announcer.forget(partition)
            self.clocks_changed.add(partition)

    def _owned_by(self, partition: int) -> Callable[[str], bool]:
        """Whether a journey key lives on `partition`."""
        return lambda key: self.partition_of(key) == partition

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

    @property
    def engines(self) -> dict[int, JourneyEngine]:
        return {p: a.engine for p, a in self.assigned.items()}

    # -- records --------------------------------------------------------------

    def begin(self, wall_ms: int) -> None:
        """The wall clock (epoch ms) for what follows: dead letters' `received_at`, lag."""
        self._wall_ms = wall_ms

    def process(self, records: list[Any], now: float, wall_ms: int) -> Flush:
        """Process consumed records (`now`: a monotonic clock, `wall_ms`: epoch ms)."""
        self.begin(wall_ms)
        batch = Batch()
        for record in records:
            self.admit(record, batch, now)
        return self.take_flush(batch, now, self.commit_offsets())

    def admit(self, record: Any, batch: Batch, now: float) -> None:
        """One consumed record (skipped when its partition is not held or its position is)."""
        part = self.assigned.get(record.partition)
        if part is None:
            return  # revoked meanwhile: its new owner reads it again
        verdict = self.positions.admit((record.topic, record.partition), record.offset, now)
        part.last_record = now
        if verdict != PROCESS:
            batch.outcomes[verdict] += 1
        elif record.topic == EVENTS:
            self._input(part, record, batch, now)
        else:
            self._routed(part, record, batch)
        self._settle(part, batch)

    def _settle(self, part: Assigned, batch: Batch) -> None:
        """After the partition's engine moved: count its facts into its analytics, and
        send on the stitch steps it asked for (it took those between its own journeys in
        place, as offline: through the route topic they would arrive behind source marks
        that moved this very watermark on)."""
        out = batch.outputs
        if out.aliases or out.moves:
            self._stitch(part, batch)
        part.engine.tally(out)

    def _stitch(self, part: Assigned, batch: Batch) -> None:
        out = batch.outputs
        part.engine.stitch_locally(out)
        for anonymous_id, customer_key, at in out.aliases:
            self._route(batch, anonymous_id, {"kind": DETACH, "customer": customer_key, "at": at})
        for customer_key, moved, at in out.moves:
            self._route(batch, customer_key, {"kind": ABSORB, "moved": moved, "at": at})
        out.aliases.clear()
        out.moves.clear()

    def commit_offsets(self) -> dict[tuple[str, int], int]:
        return {tp: n for tp, n in self.positions.expected.items() if tp[1] in self.assigned}

    def _input(self, part: Assigned, record: Any, batch: Batch, now: float) -> None:
        raw: bytes = record.value or b""
        received = record.timestamp if record.timestamp and record.timestamp > 0 else self._wall_ms
        origin = Origin(raw, record.topic, record.partition, record.offset, received)
        batch.timestamps.append(received)
        try:
            decoded = self.decoder.decode(raw, received)
        except InvalidEvent as error:
            batch.outcomes[Outcome.INVALID] += 1
            self._dead(batch, error.reason, str(error), origin, None, record.key)
            return
        event = decoded.event
        if decoded.drops:
            origin = origin._replace(drops=decoded.parts)
            for drop in decoded.drops:
                self.metrics.fields_dropped.labels(drop.field).inc()
            self._dead(batch, Reason.PARTIAL, describe(decoded.drops), origin, event, None)
        if part.source.saw(event.occurred_at, now):
            self._own_mark(record.partition, part, batch)
        key = event.key
        if self.partition_of(key) != record.partition:
            batch.outcomes[Outcome.REROUTED] += 1
            if not part.source.routes:  # from now on the watermarks wait for engine marks
                part.source.routes = True
                self._own_mark(record.partition, part, batch)
            said = self.guess.observe(record.key, record.partition)
            if said:
                log.warning("%s", said)
            self._route(batch, key, {"kind": EVENT, "key": key}, origin)
            return
        self._step(part, event, origin, batch, None, record.partition)

    def _own_mark(self, partition: int, part: Assigned, batch: Batch) -> None:
        """The partition's own source moved: its watermark may rise (timers fire)."""
        source, alignment = part.source, part.alignment
        end = self._end(partition)
        if alignment.mark(partition, source.wm, alignment.raw, source.idle, end, source.routes):
            part.engine.observe(alignment.value, batch.outputs)
        self.clocks_changed.add(partition)

    def _routed(self, part: Assigned, record: Any, batch: Batch) -> None:
        routed = open_envelope(record.value)
        header, engine, out = routed.header, part.engine, batch.outputs
        if routed.kind == EVENT:
            origin = routed.origin
            assert origin is not None
            event = origin.event()
            self._step(part, event, origin, batch, header["key"], record.partition)
        elif routed.kind == MARK:
            alignment = part.alignment
            rose = [alignment.mark(*m) for m in header["marks"] if m[0] != record.partition]
            if any(rose):  # (its own source is marked directly)
                engine.observe(alignment.value, out)
            self.clocks_changed.add(record.partition)
        elif routed.kind == DETACH:
            engine.request_detach(record.key.decode(), header["customer"], header["at"], out)
        elif routed.kind == ABSORB:
            replayed = engine.absorb(record.key.decode(), header["moved"], header["at"], out)
            out.released += [outcome for _event, outcome in replayed]
        elif routed.kind == FORGET:
            self._forget(part, record.key.decode(), batch)
        else:
            raise ValueError(f"unknown route record kind {routed.kind!r} at offset {record.offset}")

    def _forget(self, part: Assigned, key: str, batch: Batch) -> None:
        """Erase `key`'s journey here, and the aliases of the anonymous ids stitched to it
        wherever they live."""
        self.metrics.erasures.inc()
        for linked in part.engine.forget(key):
            if part.engine.here(linked):
                part.engine.forget(linked)
                self.metrics.erasures.inc()
            else:
                self._route(batch, linked, {"kind": FORGET})

    def _step(
        self,
        part: Assigned,
        event: Event,
        origin: Origin,
        batch: Batch,
        key: str | None,
        partition: int,
    ) -> None:
        engine = part.engine
        self.metrics.event_time_lag.observe(self._wall_ms / 1000 - event.occurred_at / 1000)
        step = engine.step(event, batch.outputs, key)
        if step.outcome == Outcome.FORWARDED:
            batch.outcomes[step.outcome] += 1
            target = engine.forward_target(key or event.key)
            assert target is not None
            if self.partition_of(target) != partition:
                self._route(batch, target, {"kind": EVENT, "key": target}, origin)
                return
            step = engine.forward(event, batch.outputs, key or event.key)
        batch.outcomes[step.outcome] += 1
        if step.late_by is not None:
            self._dead(batch, Reason.LATE, late_error(step.late_by), origin, event, None)

    def _route(
        self, batch: Batch, key: str, header: dict[str, Any], origin: Origin | None = None
    ) -> None:
        value = seal(header, origin)
        batch.messages.append((self.route_topic, key.encode(), value, self.partition_of(key)))

    def _dead(
        self,
        batch: Batch,
        reason: str,
        error: str,
        origin: Origin,
        event: Event | None,
        key: bytes | None,
    ) -> None:
        self.metrics.dead_letters.labels(reason).inc()
        letter = dead_letter(
            reason, error, origin.raw, received_at=self._wall_ms, topic=origin.topic,
            partition=origin.partition, offset=origin.offset, event=event,
        )  # fmt: skip
        if key is None and event is not None:
            key = event.key.encode()
        batch.messages.append((DEAD_LETTER, key, encode(letter), None))

    # -- event time -----------------------------------------------------------

    def _announce(self, batch: Batch, now: float) -> None:
        """Broadcast the held sources' marks that are due, behind the batch's route records:
        one record per route partition for all of them."""
        marks = []
        for partition, part in self.assigned.items():
            source, end = part.source, self._end(partition)
            mark = Mark(source.wm, part.alignment.raw, source.idle, end, source.routes)
            if self.announcer.due(partition, mark, now):
                marks.append([partition, *mark.to_data()])
        if marks:
            value = seal({"kind": MARK, "marks": marks})
            batch.messages += [(self.route_topic, None, value, p) for p in range(self.sources)]

    def _end(self, partition: int) -> int:
        """The end offset an idle mark of `partition` vouches for (-1: none, not idle)."""
        return self.ends.get(partition, -1) if self.assigned[partition].source.idle else -1

    def tick(self, now: float, caught_up: Callable[[int], bool]) -> Flush:
        """The clock's turn: sources caught up and quiet turn idle; a partition whose every
        source is idle and which got no record for the idle time lets time pass by the
        wall clock (abandonments go out without a further event)."""
        batch = Batch()
        idle_after = self.settings.idle_after / 1000
        for partition, part in self.assigned.items():
            was_idle = part.source.idle
            part.source.check_idle(now, idle_after, caught_up(partition))
            own = part.alignment.marks.get(partition)
            if part.source.idle != was_idle or (own and own.end != self._end(partition)):
                self._own_mark(partition, part, batch)
            quiet = now - part.last_record
            if part.alignment.all_idle() and quiet >= idle_after:
                engine = part.engine
                engine.release_stitches(batch.outputs)
                if engine.watermark:
                    engine.fire(engine.watermark + int(quiet * 1000), batch.outputs)
            self._settle(part, batch)
        return self.take_flush(batch, now, None)

    # -- flushes --------------------------------------------------------------

    def take_flush(
        self, batch: Batch, now: float, offsets: dict[tuple[str, int], int] | None
    ) -> Flush:
        """What `batch` publishes, with every changed journey serialised as it is now.

        Route records (events, stitch steps) go before the marks that cover them."""
        out = batch.outputs
        batch.outcomes.update(out.released)
        out.released.clear()
        self._announce(batch, now)
        messages = batch.messages
        for output, key, record in out.records:
            to = record["part"] if output in Output.ANALYTICS else None  # its part's partition
            messages.append((OUTPUT_TOPICS[output], key.encode(), encode(record), to))
        metrics = self.metrics
        metrics.count_outcomes(batch.outcomes)
        metrics.count_records(out.records)
        metrics.count_core(out.counts)
        metrics.count_rule_matches(out.rule_matches)
        topic = self.changelog_topic
        writes = [
            state_write(topic, partition, key, part.engine.states.get(key))
            for partition, part in self.assigned.items()
            for key in part.engine.take_dirty()
        ]
        if writes:
            metrics.state_writes.inc(len(writes))
            metrics.state_write_bytes.inc(sum(len(w[2] or b"") for w in writes))
        for (input_topic, partition), expected in self.positions.take_changed():
            writes.append(position_write(topic, partition, input_topic, expected))
        for partition, part in self.assigned.items():
            if part.engine.analytics is not None:
                windows = part.engine.analytics.take_dirty()
                writes += [window_write(topic, partition, s, w) for s, w in windows]
                if windows:  # the clock holds the analytics' horizon
                    self.clocks_changed.add(partition)
        for partition in sorted(self.clocks_changed):
            writes.append(clock_write(topic, partition, self.assigned[partition].clock()))
        self.clocks_changed.clear()
        return Flush(messages, writes, offsets, batch.timestamps)

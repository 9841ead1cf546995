"""Event time across partitions: the watermark a partition judges lateness and fires timers on.

Every input partition is a *source*. The worker that reads it keeps its
progress (`Source`: the highest event time read, and whether it has gone
idle) and announces it, behind the records it routed, to every route
partition. A partition's watermark (`Alignment`) is the minimum over all
sources, as in Flink's watermark alignment: it never passes what any source
has reached, so an event routed from a partition that is read more slowly is
judged as if every partition were read at one speed. An idle source (caught
up and quiet for `JOURNEY_IDLE_AFTER`) stops holding the others back; when
every source is idle the watermark is the highest of them. An idle mark
carries the input partition's end offset when it was made; once the end
offset has grown (records arrived, which the source's reader may not have
announced yet: it is busy, or dead and its partition not reassigned yet), the
source holds the others back again at its last mark; so while any source counts
as idle, a worker asks the end offsets afresh before each batch it processes
(records fetched before that answer cannot pass records produced before them). A source not heard
from yet holds the watermark where it is. Where producers' records may arrive
out of event-time order by up to `disorder` ms (`JOURNEY_MAX_DISORDER`), a
source only vouches for its highest event time less that much (Flink's
bounded out-of-orderness).

What a partition sends on while it processes its own input (identity
stitches, a stitched device's events forwarded to its customer) goes out
ahead of its source's mark. A record a source re-routes (its key belongs to
another partition) is processed there, later, and what that sends on may
leave after the source's announcement has arrived. So once any source says
it re-routes, the watermark also waits for every other partition's own
progress (its `engine` mark, computed from source marks only, so no cycle
forms): one more hop of the route topic, paid only where the producers'
partitioner differs from `JOURNEY_INPUT_PARTITIONER`. The watermark never
goes back.

Pure logic with time passed in; the worker carries the marks through Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Alignment", "Announcer", "Mark", "Source"]


@dataclass(slots=True)
class Mark:
    """What one partition's worker last announced about it."""

    wm: int = 0
    """Highest event time read from its input partition (the source)."""
    engine: int = 0
    """Its own partition's watermark over source marks."""
    idle: bool = False
    """Its input partition is caught up and has been quiet for the idle time."""
    end: int = -1
    """The input partition's end offset when the mark was made (-1: not known)."""
    routes: bool = True
    """Its reader has re-routed records of it to other partitions (unknown: assumed)."""

    def to_data(self) -> list[Any]:
        return [self.wm, self.engine, self.idle, self.end, self.routes]


class Source:
    """One input partition's progress, kept by the worker that reads it."""

    def __init__(self, wm: int = 0, now: float = 0.0, routes: bool = False) -> None:
        self.wm = wm
        self.routes = routes
        """A record of it was re-routed (its key owned by another partition): sticky."""
        self.idle = False
        self.quiet_since = now
        """Since when nothing was read while the partition was caught up."""

    def saw(self, event_time: int, now: float) -> bool:
        """A valid event was read from the partition at wall time `now`; returns whether
        its mark moved (a higher event time, or no longer idle)."""
        self.quiet_since = now
        moved = event_time > self.wm or self.idle
        if event_time > self.wm:
            self.wm = event_time
        self.idle = False
        return moved

    def check_idle(self, now: float, idle_after: float, caught_up: bool) -> None:
        """Idle once caught up and quiet for `idle_after` seconds. Quiet time counts only
        while caught up (the broker answering): a backlog is never idle, and after an
        outage producers get `idle_after` to deliver what they held back."""
        if not caught_up:
            self.quiet_since = now
        self.idle = caught_up and now - self.quiet_since >= idle_after


class Alignment:
    """The watermark of one partition over the marks of every source partition."""

    def __init__(
        self, partition: int, sources: int, disorder: int = 0, ends: dict[int, int] | None = None
    ) -> None:
        """`ends`: the input partitions' end offsets as last asked (shared, kept up to date by
        the worker); an idle source whose end has grown since its mark is idle no more."""
        self.partition = partition
        self.sources = sources
        self.disorder = disorder
        self.ends: dict[int, int] = {} if ends is None else ends
        self.marks: dict[int, Mark] = {}
        self.raw = 0
        """Minimum over the source marks (what this partition announces as `engine`)."""
        self._floor = 0
        """The lowest active source mark at the last computation."""
        self.value = 0
        """The watermark: `raw`, held back by every other partition's `engine` mark."""

    def mark(
        self, source: int, wm: int, engine: int, idle: bool, end: int = -1, routes: bool = True
    ) -> bool:
        """Take an announcement (regressions of a source's marks are ignored, and a source
        that re-routed stays so); returns whether the watermark rose."""
        if not 0 <= source < self.sources:
            raise ValueError(f"source partition {source} is not in 0..{self.sources - 1}")
        mark = self.marks.get(source)
        if mark is None:
            mark = self.marks[source] = Mark(wm, engine, idle, end, routes)
            return self._recompute()
        if (
            idle == mark.idle
            and engine <= mark.engine
            and (mark.routes or not routes)
            and not idle
            and mark.wm > self._floor
        ):
            mark.wm = max(mark.wm, wm)  # not the lowest source: the minimum cannot move
            return False
        mark.wm = max(mark.wm, wm)
        mark.engine = max(mark.engine, engine)
        mark.idle = idle
        mark.end = end
        mark.routes = mark.routes or routes
        return self._recompute()

    def _idle(self, source: int, mark: Mark) -> bool:
        """Idle, and no record has arrived on its input partition since it said so."""
        if not mark.idle:
            return False
        end = self.ends.get(source)
        return mark.end < 0 or end is None or end <= mark.end

    def _recompute(self) -> bool:
        marks = self.marks
        if len(marks) < self.sources:
            return False
        active = [m.wm for s, m in marks.items() if not self._idle(s, m)]
        self._floor = min(active) if active else 0
        raw = self._floor - self.disorder if active else max(m.wm for m in marks.values())
        self.raw = max(self.raw, raw)
        others = (
            [m.engine for s, m in marks.items() if s != self.partition]
            if any(m.routes for m in marks.values())
            else []
        )
        value = min(self.raw, *others) if others else self.raw
        if value > self.value:
            self.value = value
            return True
        return False

    def trusts_idle(self) -> bool:
        """Some source counts as idle: the end offsets must be asked afresh before records
        move the watermark, or a burst on that input (its reader busy, or dead) would be
        passed by the others' records read meanwhile."""
        return any(self._idle(s, m) for s, m in self.marks.items())

    def all_idle(self) -> bool:
        """Every source has been heard from and is idle: time may pass by the wall clock."""
        marks = self.marks
        return len(marks) == self.sources and all(self._idle(s, m) for s, m in marks.items())

    def to_data(self) -> list[Any]:
        return [self.raw, self.value, {str(s): m.to_data() for s, m in self.marks.items()}]

    @classmethod
    def from_data(
        cls,
        partition: int,
        sources: int,
        data: list[Any],
        disorder: int = 0,
        ends: dict[int, int] | None = None,
    ) -> Alignment:
        alignment = cls(partition, sources, disorder, ends)
        alignment.raw, alignment.value = data[0], data[1]
        for source, mark in data[2].items():
            if int(source) < sources:
                alignment.marks[int(source)] = Mark(*mark)
        return alignment


class Announcer:
    """When a partition's mark is worth announcing: on change, at most every `interval`
    seconds, and at once when the source turns idle or active."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.sent: dict[int, tuple[Mark, float]] = {}

    def due(self, partition: int, mark: Mark, now: float) -> bool:
        last = self.sent.get(partition)
        if last is not None:
            previous, at = last
            if previous == mark:
                return False
            if previous.idle == mark.idle and now - at < self.interval:
                return False
        self.sent[partition] = (Mark(mark.wm, mark.engine, mark.idle, mark.end, mark.routes), now)
        return True

    def forget(self, partition: int) -> None:
        self.sent.pop(partition, None)

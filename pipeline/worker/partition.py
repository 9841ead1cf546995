"""One assigned partition: its journeys' engine, its input as a source of event time, and
its aligned watermark (`pipeline.worker.event_time`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..domain import JourneyEngine, JourneyPolicy, Router
from .changelog import Recovered
from .compact_states import CompactStates
from .event_time import Alignment, Mark, Source

__all__ = ["Assigned"]


@dataclass
class Assigned:
    partition: int
    engine: JourneyEngine
    source: Source
    alignment: Alignment
    ends: dict[int, int]
    """The input partitions' end offsets as last asked (shared by every partition)."""
    last_record: float
    """Monotonic time of the partition's last input or route record."""

    @classmethod
    def recover(
        cls,
        partition: int,
        part: Recovered,
        settings: Settings,
        policy: JourneyPolicy,
        router: Router,
        ends: dict[int, int],
        now: float,
    ) -> Assigned:
        """The partition as the changelog left it (`part`), its engine sending through `router`."""
        disorder, sources = settings.max_disorder, settings.partitions
        engine = JourneyEngine(
            policy,
            CompactStates(settings.decoded_journeys),
            hold=disorder > 0,
            join=True,
            router=router,
            part=partition,
        )
        clock = part.clock
        if clock is None:
            source = Source(0, now)
            alignment = Alignment(partition, sources, disorder, ends)
        else:
            alignment = Alignment.from_data(partition, sources, clock["alignment"], disorder, ends)
            own = alignment.marks.get(partition)
            source = Source(clock["source"], now, own is not None and own.routes)
        horizon = clock["horizon"] if clock else 0
        engine.restore(
            part.states, alignment.value, part.windows, horizon, part.models, part.evaluations
        )
        return cls(partition, engine, source, alignment, ends, now)

    def clock(self) -> dict[str, Any]:
        """The partition's event time as the changelog keeps it (`Recovered.clock`)."""
        analytics = self.engine.analytics
        return {
            "source": self.source.wm,
            "alignment": self.alignment.to_data(),
            "horizon": analytics.horizon if analytics else 0,
        }

    def end(self) -> int:
        """The end offset an idle mark of the partition vouches for (-1: none, not idle)."""
        return self.ends.get(self.partition, -1) if self.source.idle else -1

    def own_mark(self) -> int | None:
        """Mark the partition's own source as it is now; the new watermark if it rose."""
        source, alignment = self.source, self.alignment
        rose = alignment.mark(
            self.partition, source.wm, alignment.raw, source.idle, self.end(), source.routes
        )
        return alignment.value if rose else None

    def others_marks(self, marks: list[list[Any]]) -> int | None:
        """Take other sources' announcements (its own is marked directly); the new watermark
        if it rose."""
        alignment = self.alignment
        rose = [alignment.mark(*mark) for mark in marks if mark[0] != self.partition]
        return alignment.value if any(rose) else None

    def turn(self, now: float, idle_after_ms: int, caught_up: bool) -> bool:
        """The clock's turn for the source (`now`: monotonic seconds): whether its own mark
        moved (it turned idle or busy, or its end offset grew)."""
        was_idle = self.source.idle
        self.source.check_idle(now, idle_after_ms / 1000, caught_up)
        own = self.alignment.marks.get(self.partition)
        return self.source.idle != was_idle or (own is not None and own.end != self.end())

    def quiet_for(self, now: float, idle_after_ms: int) -> int | None:
        """How long (ms) the partition has been quiet, once every source is idle (its own as
        marked) and no record came for the idle time; None before."""
        quiet = now - self.last_record
        idle = self.alignment.all_idle() and quiet >= idle_after_ms / 1000
        return int(quiet * 1000) if idle else None

    def announcement(self) -> Mark:
        """What the partition's worker announces about its source."""
        source = self.source
        return Mark(source.wm, self.alignment.raw, source.idle, self.end(), source.routes)

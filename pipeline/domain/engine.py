"""The journeys of one partition (or of a whole file): states, timers, watermark.

Both runners take the same per-event step (`step`) at the engine's watermark;
they differ in where the watermark comes from (offline: each event's own time,
in event-time order; the worker: the partition's aligned watermark) and in how
routing between journeys (a forwarded event, an identity stitch) travels: in
place (`ingest`, offline) or through a Kafka topic (the worker). `dirty`
collects the keys changed since the shell last persisted state, so it writes
each changed key once per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, NamedTuple

from .events import Event
from .identity import absorb, detach
from .journey import (
    Count,
    JourneyPolicy,
    JourneyState,
    Outputs,
    advance,
    next_deadline,
    process,
)
from .timers import TimerQueue
from .vocabulary import Outcome

__all__ = ["JourneyEngine", "Step"]


class Step(NamedTuple):
    """What the per-event step did with an event."""

    outcome: str
    late_by: int | None
    """For an event to dead-letter as late: how many ms it is behind the watermark."""


class JourneyEngine:
    def __init__(
        self, policy: JourneyPolicy, states: MutableMapping[str, JourneyState] | None = None
    ) -> None:
        """`states`: where the journeys live (default a dict; the worker passes a compact
        table that keeps idle journeys encoded)."""
        self.policy = policy
        self.states: MutableMapping[str, JourneyState] = {} if states is None else states
        self.timers = TimerQueue()
        self.watermark = 0
        self.dirty: set[str] = set()
        self.stitching: set[str] = set()
        """Anonymous journeys whose move to a customer waits for this partition's time."""

    def state(self, key: str) -> JourneyState:
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = JourneyState(key=key)
        return state

    def restore(self, states: Iterable[JourneyState], watermark: int) -> None:
        """Take over recovered states (e.g. from a changelog) and the watermark they were
        written under, and re-arm their timers."""
        self.watermark = watermark
        for state in states:
            self.states[state.key] = state
            self.timers.schedule(state.key, next_deadline(state, self.policy))
            if state.stitch_to is not None:
                self.stitching.add(state.key)

    def _touched(self, state: JourneyState) -> None:
        self.dirty.add(state.key)
        self.timers.schedule(state.key, next_deadline(state, self.policy))

    def observe(self, event_time: int, out: Outputs) -> None:
        """Raise the watermark to `event_time` and fire what that made due."""
        if event_time > self.watermark:
            self.watermark = event_time
            self.fire(self.watermark, out)

    def fire(self, now: int, out: Outputs) -> None:
        """Advance every journey whose next deadline is at or before `now`."""
        while keys := self.timers.pop_due(now):
            for key in keys:
                state = self.states[key]
                if state.stitch_to is not None and state.stitch_to[1] <= now:
                    out.moves.append(self._detach(state))
                    continue
                advance(state, now, self.policy, out)
                self._touched(state)

    def handle(self, event: Event, out: Outputs, key: str | None = None) -> str:
        """Process `event` under `key` (default: its journey key); returns the `Outcome`."""
        state = self.state(key or event.key)
        outcome = process(state, event, self.watermark, self.policy, out)
        if outcome != Outcome.FORWARDED:
            self._touched(state)
        return outcome

    def step(self, event: Event, out: Outputs, key: str | None = None) -> Step:
        """The per-event step of both runners: process `event` under `key` (default: its
        journey key) at the current watermark.

        An event held for a pending stitch is judged late on arrival, so its dead letter
        goes out then (with the record's own bytes); processed later, it is late again.
        """
        outcome = self.handle(event, out, key)
        behind = self.watermark - event.occurred_at
        late = outcome == Outcome.LATE or (
            outcome == Outcome.PARKED and behind > self.policy.sessions.lateness_ms
        )
        return Step(outcome, behind if late else None)

    def forward_target(self, key: str) -> str | None:
        state = self.states.get(key)
        return state.alias_of if state else None

    def request_detach(self, anonymous_id: str, customer_key: str, at: int, out: Outputs) -> None:
        """Stitch step 1, on the anonymous journey's partition.

        The journey moves once this partition's time has reached the stitch time
        `at`, so its own earlier events are in it; until then the request waits in
        its state (and survives a restart). The move is put in `out.moves`.
        """
        state = self.state(anonymous_id)
        if state.alias_of is not None:
            out.moves.append((customer_key, state.to_data(), at))
            return
        state.stitch_to = [customer_key, at]
        if self.watermark >= at:
            out.moves.append(self._detach(state))
        else:
            self.stitching.add(state.key)
            self._touched(state)

    def release_stitches(self, out: Outputs) -> None:
        """Move every waiting anonymous journey now: this partition is quiet, nothing is in flight.

        Without it a customer whose anonymous journey lives on a partition that is
        behind in event time would wait until that partition catches up.
        """
        for key in sorted(self.stitching):
            out.moves.append(self._detach(self.states[key]))

    def _detach(self, state: JourneyState) -> tuple[str, list[Any], int]:
        """Replace an anonymous journey by its tombstone; return the move to its customer."""
        assert state.stitch_to is not None
        customer_key, at = state.stitch_to
        state.stitch_to = None
        self.stitching.discard(state.key)
        tombstone, moved = detach(state, customer_key)
        self.states[state.key] = tombstone
        self._touched(tombstone)
        return customer_key, moved, at

    def absorb(
        self, customer_key: str, moved: list[Any], at: int, out: Outputs
    ) -> list[tuple[Event, str]]:
        """Stitch step 2, on the customer's partition; returns the held events it replayed."""
        state = self.state(customer_key)
        replayed = absorb(state, moved, at, self.policy, out)
        self._touched(state)
        return replayed

    def ingest(self, event: Event, out: Outputs) -> Step:
        """Observe, step and route in place, for one process holding every journey."""
        self.observe(event.occurred_at, out)
        step = self.step(event, out)
        if step.outcome == Outcome.FORWARDED:
            step = self.forward(event, out, event.key)
        self.stitch_locally(out, lambda _key: True)
        return step

    def forward(self, event: Event, out: Outputs, key: str) -> Step:
        """Step an event of the stitched anonymous journey `key` under its customer, here."""
        target = self.forward_target(key)
        assert target is not None
        out.counts[Count.FORWARDED] += 1
        return self.step(event, out, key=target)

    def stitch_locally(self, out: Outputs, here: Callable[[str], bool]) -> list[str]:
        """Take the stitch steps in `out` whose journey is `here` in place (offline: all);
        the others stay in `out` for the shell to send on. Returns the outcomes of the held
        events that absorbing replayed."""
        aliases: list[tuple[str, str, int]] = []
        moves: list[tuple[str, list[Any], int]] = []
        replayed: list[str] = []
        while out.aliases or out.moves:
            while out.aliases:
                alias = out.aliases.pop(0)
                if here(alias[0]):
                    self.request_detach(*alias, out)
                else:
                    aliases.append(alias)
            while out.moves:
                move = out.moves.pop(0)
                if here(move[0]):
                    replayed += [outcome for _event, outcome in self.absorb(*move, out)]
                else:
                    moves.append(move)
        out.aliases, out.moves = aliases, moves
        return replayed

    def finish(self, out: Outputs) -> None:
        """End of input: move time past every gap and timeout so all is closed and judged."""
        self.fire(self.watermark + self.horizon(), out)

    def horizon(self) -> int:
        """How far past the last event time every session closes and every cart is judged."""
        policy = self.policy
        lateness = policy.sessions.lateness_ms
        return max(policy.sessions.gap_ms, policy.carts.abandon_after_ms) + lateness + 1

    def take_dirty(self) -> set[str]:
        dirty, self.dirty = self.dirty, set()
        return dirty

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

from .analytics.table import AnalyticsTable
from .deadlines import advance, empty, expire_due, expires_at, next_deadline
from .events import Event
from .identity import absorb, detach
from .journey import hold, joins, pending_since, process, stitch_wanted
from .journey_state import Count, JourneyPolicy, JourneyState, Outputs
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
        self,
        policy: JourneyPolicy,
        states: MutableMapping[str, JourneyState] | None = None,
        hold: bool = False,
        here: Callable[[str], bool] = lambda _key: True,
        part: int = 0,
        join: bool = False,
    ) -> None:
        """`states`: where the journeys live (default a dict; the worker passes a compact
        table that keeps idle journeys encoded). `hold`: an event not behind the watermark
        waits until the watermark passes it, so events are processed in event-time order
        (a worker whose input may be out of order; offline input is sorted). `join`: the
        same for the events of journeys reached from several partitions only (a worker:
        `joins`). `here`: whether
        a journey key lives in this engine (offline: all), so a stitch step between two
        journeys here is taken in place. `part`: the part number of this engine's analytics
        records (its partition)."""
        self.policy = policy
        self.hold = hold
        self.join = join
        self.here = here
        self.states: MutableMapping[str, JourneyState] = {} if states is None else states
        self.timers = TimerQueue()
        self.watermark = 0
        self.now = 0
        """The latest time decisions were taken at (the watermark, or an idle clock past it)."""
        self.analytics = AnalyticsTable(policy.analytics, part) if policy.analytics else None
        """The windowed tables this engine's facts are counted in (`tally`)."""
        self.dirty: set[str] = set()
        self.stitching: set[str] = set()
        """Anonymous journeys whose move to a customer waits for this partition's time."""
        self.waiting: set[str] = set()
        """Customers' journeys waiting for an anonymous journey to arrive (`awaiting`)."""

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
            if state.awaiting:
                self.waiting.add(state.key)

    def _touched(self, state: JourneyState) -> None:
        self.dirty.add(state.key)
        self.timers.schedule(state.key, next_deadline(state, self.policy))
        if state.awaiting:
            self.waiting.add(state.key)
        else:
            self.waiting.discard(state.key)

    def observe(self, event_time: int, out: Outputs) -> None:
        """Raise the watermark to `event_time` and fire what that made due."""
        if event_time > self.watermark:
            self.watermark = event_time
            self.fire(self.watermark, out)

    def fire(self, now: int, out: Outputs) -> None:
        """Take every decision due at or before `now`, deadline by deadline, with the stitch
        steps they cause between journeys here taken in place before time moves on."""
        timers = self.timers
        self.now = max(self.now, now)
        while (due := timers.next_deadline()) is not None and due <= now:
            asked = len(out.aliases) + len(out.moves)
            for key in timers.pop_due(due):
                self._due(self.states[key], due, out)
            if len(out.aliases) + len(out.moves) > asked:
                self.stitch_locally(out)

    def _due(self, state: JourneyState, due: int, out: Outputs) -> None:
        if state.held or state.early:
            self._release(state, due, out)
        if state.stitch_to is not None and state.stitch_to[1] <= due:
            self._detach(state, out)
            return
        if state.awaiting:  # a held event asked for a stitch: time waits for it
            self._touched(state)
            return
        advance(state, due, self.policy, out)
        expiry = expires_at(state, self.policy)
        if expiry is not None and expiry <= due:
            self._remove(state, out)
            return
        self._touched(state)

    def _remove(self, state: JourneyState, out: Outputs) -> None:
        """The journey is back to empty (or an anonymous one ran out its time): it goes, but
        for the events it holds, which a fresh journey applies."""
        out.counts[Count.EXPIRED] += 1
        if state.held:
            empty(state)
            self._touched(state)
        else:
            self._drop(state.key)

    def _drop(self, key: str) -> None:
        """Take `key` out of the table; `take_dirty` names it so the shell writes a tombstone."""
        del self.states[key]
        self.timers.schedule(key, None)
        self.stitching.discard(key)
        self.waiting.discard(key)
        self.dirty.add(key)

    def forget(self, key: str) -> list[str]:
        """Erase a journey (a request to be forgotten); returns the anonymous ids stitched to
        it, whose aliases must be erased as well (None of it is a decision: no output)."""
        state = self.states.get(key)
        if state is None:
            return []
        self._drop(key)
        return sorted({i for i in (*state.anonymous_ids, state.anonymous_id) if i and i != key})

    def handle(self, event: Event, out: Outputs, key: str | None = None) -> str:
        """Process `event` under `key` (default: its journey key); returns the `Outcome`."""
        state = self.state(key or event.key)
        outcome = process(state, event, self.watermark, self.policy, out)
        self._touched(state)
        return outcome

    def step(self, event: Event, out: Outputs, key: str | None = None) -> Step:
        """The per-event step of both runners: process `event` under `key` (default: its
        journey key) at the current watermark.

        An event held for a pending stitch is judged late on arrival, so its dead letter
        goes out then (with the record's own bytes); processed later, it is late again.
        An event waits in its journey (`Outcome.HELD`) when `_waits`; what it does once
        released is counted in `out.released`.
        """
        state = self.state(key or event.key)
        if self._waits(state, event):
            hold(state, event)
            self._ask(state, event, out)
            self._touched(state)
            return Step(Outcome.HELD, None)
        outcome = self.handle(event, out, key)
        if outcome == Outcome.PARKED:  # its stitch is asked for now, not once it is replayed
            self._ask(state, event, out)
        behind = self.watermark - event.occurred_at
        late = outcome == Outcome.LATE or (
            outcome == Outcome.PARKED and behind > self.policy.sessions.lateness_ms
        )
        return Step(outcome, behind if late else None)

    def _waits(self, state: JourneyState, event: Event) -> bool:
        """Whether `event` waits in its journey, to be applied in event-time order once the
        watermark has passed it: with `hold`, every event; with `join`, those of a journey
        reached from several partitions (`joins`), and those of one waiting for a stitch that
        are not late (the journey it waits for may bring earlier ones). An event behind ones
        held waits too."""
        if state.alias_of is not None and not event.customer_id:
            return False  # a stitched device's event: forwarded to its customer
        if state.held:
            return True
        at, watermark = event.occurred_at, self.watermark
        if self.join and state.awaiting:
            return at >= watermark - self.policy.sessions.lateness_ms
        return at >= watermark and (self.hold or (self.join and joins(state, event)))

    def _ask(self, state: JourneyState, event: Event, out: Outputs) -> None:
        """A held event wants a stitch: ask for it now, at the earliest such event's time."""
        wanted = stitch_wanted(state, event)
        if wanted is None:
            return
        at = event.occurred_at
        for asked in state.asked:
            if asked[0] == wanted:
                if at >= asked[1]:
                    return
                asked[1] = at
                break
        else:
            state.asked.append([wanted, at])
        out.aliases.append((wanted, state.key, at))

    def forward_target(self, key: str) -> str | None:
        state = self.states.get(key)
        return state.alias_of if state else None

    def request_detach(self, anonymous_id: str, customer_key: str, at: int, out: Outputs) -> None:
        """Stitch step 1, on the anonymous journey's partition.

        The journey moves once this partition's time has reached the stitch time
        `at`, so its own earlier events are in it; until then the request waits in
        its state (and survives a restart). The move is put in `out.moves`. A second
        request for an earlier time (events asking for it arrived out of order) moves
        the stitch time back.
        """
        state = self.state(anonymous_id)
        expire_due(state, at, self.policy, out)  # gone by the stitch time, as offline
        if state.alias_of is not None:
            out.moves.append((customer_key, state.to_data(), at))
            return
        if state.stitch_to is not None and state.stitch_to[0] == customer_key:
            at = min(at, state.stitch_to[1])
        state.stitch_to = [customer_key, at]
        if self.watermark >= at:
            self._detach(state, out)
        else:
            self.stitching.add(state.key)
            self._touched(state)

    def release_stitches(self, out: Outputs) -> None:
        """Move every waiting anonymous journey now: this partition is quiet, nothing is in flight.

        Without it a customer whose anonymous journey lives on a partition that is
        behind in event time would wait until that partition catches up.
        """
        for key in sorted(self.stitching):
            self._detach(self.states[key], out)

    def _detach(self, state: JourneyState, out: Outputs) -> None:
        """Replace an anonymous journey by its tombstone; put its move to the customer in
        `out.moves`."""
        assert state.stitch_to is not None
        customer_key, at = state.stitch_to
        state.stitch_to = None
        self.stitching.discard(state.key)
        if state.held:  # the device's own events before the stitch belong to it, as offline
            self._release(state, at, out)
            expire_due(state, at, self.policy, out)  # and may leave it empty by then
        tombstone, moved = detach(state, customer_key)
        self.states[state.key] = tombstone
        self._touched(tombstone)
        out.moves.append((customer_key, moved, at))

    def absorb(
        self, customer_key: str, moved: list[Any], at: int, out: Outputs
    ) -> list[tuple[Event, str]]:
        """Stitch step 2, on the customer's partition; returns the held events it replayed."""
        state = self.state(customer_key)
        if any(asked[0] == moved[0] for asked in state.asked):  # its event is still held
            state.early.append([moved[0], moved, at])
            self._touched(state)
            return []
        replayed = absorb(state, moved, at, self.policy, out)
        if state.held or state.early:
            self._release(state, self.watermark, out)
        self._touched(state)
        return replayed

    def _release(self, state: JourneyState, until: int, out: Outputs) -> None:
        """Process held events before event time `until`, each at its own time after the
        decisions due before it, as `journey process` would (outcomes to `out.released`).
        While the journey waits for a stitch, it waits; an anonymous journey that arrived
        early is absorbed once the event asking for it has been processed."""
        policy = self.policy
        while True:
            if state.awaiting:
                early = [move for move in state.early if move[0] in state.awaiting]
                if not early:
                    return
                for move in early:
                    state.early.remove(move)
                    out.released += [o for _e, o in absorb(state, move[1], move[2], policy, out)]
                continue
            if not state.held or state.held[0][1] >= until:
                return
            data, at = state.held.pop(0)
            advance(state, at, policy, out)
            out.released.append(process(state, Event.from_dict(data), at, policy, out))

    def ingest(self, event: Event, out: Outputs) -> Step:
        """Observe, step and route in place, for one process holding every journey."""
        self.observe(event.occurred_at, out)
        step = self.step(event, out)
        if step.outcome == Outcome.FORWARDED:
            step = self.forward(event, out, event.key)
        self.stitch_locally(out)
        self.tally(out)
        return step

    def tally(self, out: Outputs, until: int | None = None) -> None:
        """Count `out.facts` (all from this engine) into the analytics, and put the records
        of windows closed by now (or by `until`) in `out.records`."""
        table = self.analytics
        if table is None:
            out.facts.clear()
            return
        if out.facts:
            refused = table.too_late
            table.add(out.facts)
            out.facts.clear()
            if table.too_late > refused:
                out.counts[Count.ANALYTICS_TOO_LATE] += table.too_late - refused
        now = self.now if until is None else until
        if now >= table.next_pass:
            out.records += table.close(now, self._settled(now))
        elif table.urgent:
            out.records += table.write_urgent(now)

    def _settled(self, now: int) -> int:
        """The earliest event time a fact may still come for: a journey waiting for a stitch
        (its held work is counted once it arrives), a decision due and not taken yet."""
        pending = [pending_since(self.states[key]) for key in self.waiting]
        due = self.timers.next_deadline()
        if due is not None:
            pending.append(due)
        return min(pending, default=now)

    def forward(self, event: Event, out: Outputs, key: str) -> Step:
        """Step an event of the stitched anonymous journey `key` under its customer, here."""
        target = self.forward_target(key)
        assert target is not None
        out.counts[Count.FORWARDED] += 1
        return self.step(event, out, key=target)

    def stitch_locally(self, out: Outputs) -> None:
        """Take the stitch steps in `out` whose journey is `here` in place; the others stay
        in `out` for the shell to send on. Outcomes of held events that absorbing replays
        go to `out.released`."""
        aliases: list[tuple[str, str, int]] = []
        moves: list[tuple[str, list[Any], int]] = []
        while out.aliases or out.moves:
            while out.aliases:
                alias = out.aliases.pop(0)
                if self.here(alias[0]):
                    self.request_detach(*alias, out)
                else:
                    aliases.append(alias)
            while out.moves:
                move = out.moves.pop(0)
                if self.here(move[0]):
                    out.released += [outcome for _event, outcome in self.absorb(*move, out)]
                else:
                    moves.append(move)
        out.aliases, out.moves = aliases, moves

    def finish(self, out: Outputs) -> None:
        """End of input: move time past every gap and timeout so all is closed and judged,
        and every analytics window with it."""
        self.fire(self.watermark + self.horizon(), out)
        if self.analytics is not None:
            self.tally(out, until=self.analytics.closing_all())

    def horizon(self) -> int:
        """How far past the last event time every session closes and every cart is judged."""
        policy = self.policy
        lateness = policy.sessions.lateness_ms
        return max(policy.sessions.gap_ms, policy.carts.abandon_after_ms) + lateness + 1

    def take_dirty(self) -> set[str]:
        """Keys changed since the last call (a key no longer in `states` was removed)."""
        dirty, self.dirty = self.dirty, set()
        return dirty

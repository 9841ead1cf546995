"""Identity stitching: an anonymous journey moves under the customer it turned out to be.

When an event carries both ids (login, signup, checkout), the customer's journey
asks for the anonymous one (`Outputs.aliases`). `detach` empties the anonymous
journey into a tombstone that forwards later anonymous-only events to the
customer, and returns its content; `absorb` folds that content into the
customer's journey. Meanwhile the customer's events wait (parked), and so may
events ahead of the watermark (held), which are applied in event-time order once
it passes them.

`Identity` keeps the identity part of a partition's journeys: which anonymous
journeys wait to move, which customers wait for one, and the per-journey fields
(`alias_of`, `anonymous_ids`, `awaiting`, `parked`, `stitch_to`, `held`, `asked`,
`early`). The engine calls it; it never reaches another partition itself.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from .deadlines import advance, expire_due, record_transition
from .events import Event, parse_time
from .journey import process, replay_parked, report_merge, stitch_wanted
from .journey_state import (
    Asked,
    Count,
    Early,
    Held,
    JourneyPolicy,
    JourneyState,
    Outputs,
    StitchTo,
)
from .sessions import absorb_sessions
from .stages import current_stage

__all__ = ["STITCHED", "Identity", "absorb", "detach", "hold", "joins", "pending_since"]

STITCHED = "identity_stitched"
"""The `reason` of a transition caused by absorbing an anonymous journey."""


class Identity:
    """The stitches of one partition's journeys, with the held and parked events they keep."""

    def __init__(
        self,
        states: MutableMapping[str, JourneyState],
        policy: JourneyPolicy,
        touched: Callable[[JourneyState], None],
    ) -> None:
        """`touched`: the engine's note that a journey changed (timers, persistence)."""
        self.states = states
        self.policy = policy
        self.touched = touched
        self.moving: set[str] = set()
        """Anonymous journeys whose move to a customer waits for this partition's time."""
        self.waiting: set[str] = set()
        """Customers' journeys waiting for an anonymous journey to arrive (`awaiting`)."""

    def restored(self, state: JourneyState) -> None:
        """A journey recovered with its stitch state."""
        if state.stitch_to is not None:
            self.moving.add(state.key)
        self.track(state)

    def track(self, state: JourneyState) -> None:
        """Keep the waiting customers in step with a changed journey."""
        if state.awaiting:
            self.waiting.add(state.key)
        else:
            self.waiting.discard(state.key)

    def drop(self, key: str) -> None:
        self.moving.discard(key)
        self.waiting.discard(key)

    def waits(
        self, state: JourneyState, event: Event, watermark: int, hold: bool, join: bool
    ) -> bool:
        """Whether `event` waits in its journey, to be applied in event-time order once the
        watermark has passed it: with `hold`, every event; with `join`, those of a journey
        reached from several partitions (`joins`), and those of one waiting for a stitch that
        are not late (the journey it waits for may bring earlier ones). An event behind ones
        held waits too."""
        if state.alias_of is not None and not event.customer_id:
            return False  # a stitched device's event: forwarded to its customer
        if state.held:
            return True
        at = event.occurred_at
        if join and state.awaiting:
            return at >= watermark - self.policy.sessions.lateness_ms
        return at >= watermark and (hold or (join and joins(state, event)))

    def ask(self, state: JourneyState, event: Event, out: Outputs) -> None:
        """A held event wants a stitch: ask for it now, at the earliest such event's time."""
        wanted = stitch_wanted(state, event)
        if wanted is None:
            return
        at = event.occurred_at
        for n, asked in enumerate(state.asked):
            if asked.anonymous_id == wanted:
                if at >= asked.at:
                    return
                state.asked[n] = Asked(wanted, at)
                break
        else:
            state.asked.append(Asked(wanted, at))
        out.aliases.append((wanted, state.key, at))

    def request_detach(
        self, state: JourneyState, customer_key: str, at: int, watermark: int, out: Outputs
    ) -> None:
        """Stitch step 1, on the anonymous journey's partition.

        The journey moves once this partition's time has reached the stitch time
        `at`, so its own earlier events are in it; until then the request waits in
        its state (and survives a restart). The move is put in `out.moves`. A second
        request for an earlier time (events asking for it arrived out of order) moves
        the stitch time back.
        """
        expire_due(state, at, self.policy, out)  # gone by the stitch time, as offline
        if state.alias_of is not None:
            out.moves.append((customer_key, state.to_data(), at))
            return
        if state.stitch_to is not None and state.stitch_to.customer == customer_key:
            at = min(at, state.stitch_to.at)
        state.stitch_to = StitchTo(customer_key, at)
        if watermark >= at:
            self.detach(state, out)
        else:
            self.moving.add(state.key)
            self.touched(state)

    def release_all(self, out: Outputs) -> None:
        """Move every waiting anonymous journey now: this partition is quiet, nothing is in flight.

        Without it a customer whose anonymous journey lives on a partition that is
        behind in event time would wait until that partition catches up.
        """
        for key in sorted(self.moving):
            self.detach(self.states[key], out)

    def detach(self, state: JourneyState, out: Outputs) -> None:
        """Replace an anonymous journey by its tombstone; put its move to the customer in
        `out.moves`."""
        assert state.stitch_to is not None
        customer_key, at = state.stitch_to.customer, state.stitch_to.at
        state.stitch_to = None
        self.moving.discard(state.key)
        if state.held:  # the device's own events before the stitch belong to it, as offline
            self.release(state, at, out)
            expire_due(state, at, self.policy, out)  # and may leave it empty by then
        tombstone, moved = detach(state, customer_key)
        self.states[state.key] = tombstone
        self.touched(tombstone)
        out.moves.append((customer_key, moved, at))

    def absorb(
        self, state: JourneyState, moved: list[Any], at: int, watermark: int, out: Outputs
    ) -> None:
        """Stitch step 2, on the customer's partition; the outcomes of the held events it
        replays go to `out.released`.

        A journey that arrives before the event asking for it has been applied waits in
        `early`: that event is still held, or the customer's partition went back to a
        state from before it (a crash) and will apply it again."""
        if _early(state, moved):
            state.early.append(Early(moved[0], moved, at))
            self.touched(state)
            return
        out.released += [outcome for _e, outcome in absorb(state, moved, at, self.policy, out)]
        if state.held or state.early:
            self.release(state, watermark, out)
        self.touched(state)

    def due(self, state: JourneyState, now: int, out: Outputs) -> bool:
        """The identity part of a journey's timer at `now`: its held events up to `now`, its
        move; True when that is all the timer does (it moved, or it waits for a stitch)."""
        if state.held or state.early:
            self.release(state, now, out)
        if state.stitch_to is not None and state.stitch_to.at <= now:
            self.detach(state, out)
            return True
        if state.awaiting:  # a held event asked for a stitch: time waits for it
            self.touched(state)
            return True
        return False

    def release(self, state: JourneyState, until: int, out: Outputs) -> None:
        """Process held events before event time `until`, each at its own time after the
        decisions due before it, as `journey process` would (outcomes to `out.released`).
        While the journey waits for a stitch, it waits; an anonymous journey that arrived
        early is absorbed once the event asking for it has been processed."""
        policy = self.policy
        while True:
            if state.awaiting:
                early = [move for move in state.early if move.anonymous_id in state.awaiting]
                if not early:
                    return
                for move in early:
                    state.early.remove(move)
                    replayed = absorb(state, move.moved, move.at, policy, out)
                    out.released += [outcome for _event, outcome in replayed]
                continue
            if not state.held or state.held[0].at >= until:
                return
            held = state.held.pop(0)
            advance(state, held.at, policy, out)
            event = Event.from_dict(held.data)
            out.released.append(process(state, event, held.at, policy, out))

    def pending_since(self) -> int | None:
        """The earliest event time a waiting customer may still report facts at."""
        return min((pending_since(self.states[key]) for key in self.waiting), default=None)


def _early(state: JourneyState, moved: list[Any]) -> bool:
    """Whether the customer's journey has not asked for the journey `moved` yet."""
    anonymous_id = moved[0]
    if any(asked.anonymous_id == anonymous_id for asked in state.asked):  # its event is held
        return True
    if anonymous_id in state.awaiting or anonymous_id in state.anonymous_ids:
        return False
    return not _already_absorbed(state, JourneyState.from_data(moved))


def detach(state: JourneyState, customer_key: str) -> tuple[JourneyState, list[Any]]:
    """The tombstone that replaces `state` (pointing at `customer_key`) and what moves there."""
    tombstone = JourneyState(
        key=state.key, anonymous_id=state.key, clock=state.clock, alias_of=customer_key
    )
    tombstone.recent_ids = dict(state.recent_ids)
    return tombstone, state.to_data()


def absorb(
    state: JourneyState, moved: list[Any], at: int, policy: JourneyPolicy, out: Outputs
) -> list[tuple[Event, str]]:
    """Fold a detached anonymous journey into the customer's `state` at event time `at`.

    Ends the wait for that journey and replays the events held meanwhile; returns
    them with their outcomes. Absorbing the same journey twice (a redelivered
    message) changes nothing.
    """
    other = JourneyState.from_data(moved)
    if other.key in state.awaiting:
        state.awaiting.remove(other.key)
        out.counts[Count.ABSORBED] += 1
    if not _already_absorbed(state, other):
        _merge(state, other, at, policy, out)
    return replay_parked(state, policy, out)


def _already_absorbed(state: JourneyState, other: JourneyState) -> bool:
    if other.alias_of is not None or (other.event_count == 0 and not other.held):
        return True
    newest = next(reversed(other.recent_ids), None)
    return newest is not None and newest in state.recent_ids


def _merge(
    state: JourneyState, other: JourneyState, at: int, policy: JourneyPolicy, out: Outputs
) -> None:
    state.anonymous_id = state.anonymous_id or other.anonymous_id or other.key
    sessions, merges = absorb_sessions(state.sessions, other.sessions, policy.sessions)
    state.sessions = sessions
    for survivor, merged_ids in merges:
        report_merge(state, survivor, merged_ids, out)
    for stage, signal_at in other.signals.items():
        state.signals[stage] = max(state.signals.get(stage, signal_at), signal_at)
    state.has_purchased = state.has_purchased or other.has_purchased
    state.event_count += other.event_count
    state.clock = max(state.clock, other.clock)
    for digest in other.recent_ids:
        state.recent_ids[digest] = None
    while len(state.recent_ids) > policy.dedupe_ids:
        del state.recent_ids[next(iter(state.recent_ids))]
    state.cart.absorb(other.cart, policy.carts)
    state.held = sorted([*state.held, *other.held], key=lambda entry: entry.at)
    known = state.stage is not None or other.stage is not None
    to_stage = current_stage(state.signals, state.clock, policy.rules.windows_ms, known)
    if to_stage is not None and to_stage != state.stage:
        record_transition(state, to_stage, STITCHED, at, None, None, policy, out)


def pending_since(state: JourneyState) -> int:
    """The earliest event time a journey waiting for a stitch may still report facts at
    once it arrives: its open sessions' starts, its parked events, its latest event."""
    times = [s.started_at for s in state.sessions]
    times += [parse_time(parked.data["occurred_at"]) for parked in state.parked]
    return min(times, default=state.clock)


def joins(state: JourneyState, event: Event) -> bool:
    """Whether `event` must wait for the watermark before it applies, its journey being one
    that events and stitches reach from more than one partition: still anonymous (a
    stitch read anywhere may move it to a customer as of an earlier time), or a customer's
    with stitched devices (their anonymous events are forwarded to it). The watermark is
    the time up to which every partition has sent those on: they travel ahead of its
    marks. A customer's journey with one id applies its events at once."""
    if state.alias_of is not None:
        return False
    if state.customer_id is None and not event.customer_id:
        return True
    return bool(state.anonymous_ids)


def hold(state: JourneyState, event: Event) -> None:
    """Keep an event until the watermark has passed it."""
    at = event.occurred_at
    held = state.held
    position = len(held)
    while position and held[position - 1].at > at:
        position -= 1
    held.insert(position, Held(event.data, at))

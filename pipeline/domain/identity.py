"""Identity stitching: an anonymous journey moves under the customer it turned out to be.

When an event carries both ids (login, signup, checkout), the customer's journey
asks for the anonymous one (`Outputs.aliases`). `detach` empties the anonymous
journey into a tombstone that forwards later anonymous-only events to the
customer, and returns its content; `absorb` folds that content into the
customer's journey. Both are plain functions of plain data, so a shell may carry
the content between partitions through a Kafka topic.
"""

from __future__ import annotations

from typing import Any

from .deadlines import record_transition
from .events import Event
from .journey import replay_parked, report_merge
from .journey_state import Count, JourneyPolicy, JourneyState, Outputs
from .sessions import absorb_sessions
from .stages import current_stage

__all__ = ["STITCHED", "absorb", "detach"]

STITCHED = "identity_stitched"
"""The `reason` of a transition caused by absorbing an anonymous journey."""


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
    state.held = sorted([*state.held, *other.held], key=lambda entry: int(entry[1]))
    known = state.stage is not None or other.stage is not None
    to_stage = current_stage(state.signals, state.clock, policy.rules.windows_ms, known)
    if to_stage is not None and to_stage != state.stage:
        record_transition(state, to_stage, STITCHED, at, None, None, policy, out)

"""The decisions time makes for a journey, and when the next one is due.

Sessions close after their gap, carts are judged at their abandonment instant, stages
lapse when their window ends, and a journey is removed once back to empty (an anonymous
one after its TTL). `advance(state, now)` takes every decision `now` minus the lateness
has passed, each at its own instant; `next_deadline` says when to ask again. A worker's
event may find its journey's timers not fired yet (the watermark behind the event), so
removal is judged by firing them on a copy (`removal_due`) and applied in place
(`expire_due`, `empty`).
"""

from __future__ import annotations

import copy
from dataclasses import fields
from typing import Final

from .analytics.facts import SESSION, STAGE
from .decisions import CartAbandoned, SessionClosed, StageChanged
from .journey_state import Count, JourneyPolicy, JourneyState, Outputs
from .propensity.daily import retire
from .sessions import Session, close_due, next_close
from .stages import LAPSE, current_stage, next_expiry

__all__ = [
    "advance",
    "close_sessions",
    "empty",
    "expire_due",
    "expires_at",
    "next_deadline",
    "record_transition",
    "removal_due",
    "settle",
]


def record_transition(
    state: JourneyState,
    to_stage: str,
    reason: str,
    at: int,
    trigger: str | None,
    session_id: str | None,
    policy: JourneyPolicy,
    out: Outputs,
) -> None:
    out.decisions.append(
        StageChanged(
            state.key,
            state.customer_id,
            state.anonymous_id,
            state.stage,
            to_stage,
            reason,
            at,
            trigger,
            session_id,
        )
    )
    out.counts[Count.TRANSITIONS] += 1
    if reason != LAPSE and policy.analytics:
        out.facts.append((STAGE, at, to_stage))
    state.history = [*state.history, [state.stage, to_stage, reason, at]][-policy.history :]
    state.stage = to_stage


def _lapse(state: JourneyState, until: int, policy: JourneyPolicy, out: Outputs) -> None:
    """Publish every lapse whose instant is at or before `until`, each at its own instant."""
    windows = policy.rules.windows_ms
    while True:
        expiry = next_expiry(state.signals, state.stage, windows)
        if expiry is None or expiry > until:
            return
        state.signals = {s: at for s, at in state.signals.items() if at + windows[s] > expiry}
        to_stage = current_stage(state.signals, expiry, windows, known=True)
        if to_stage is not None and to_stage != state.stage:
            record_transition(state, to_stage, LAPSE, expiry, None, None, policy, out)


def _judge_cart(state: JourneyState, until: int, policy: JourneyPolicy, out: Outputs) -> None:
    deadline = state.cart.abandon_deadline(policy.carts)
    if deadline is None or deadline > until:
        return
    _lapse(state, deadline, policy, out)
    judgement = state.cart.judge(deadline, state.key, policy.carts)
    if judgement is None:
        return
    if judgement.suppressed:
        out.counts[Count.SUPPRESSED + judgement.suppressed] += 1
        return
    out.counts[Count.ABANDONED] += 1
    out.decisions.append(
        CartAbandoned(
            state.key,
            state.customer_id,
            state.anonymous_id,
            state.contactable,
            state.stage,
            judgement,
        )
    )


def settle(state: JourneyState, until: int, policy: JourneyPolicy, out: Outputs) -> None:
    """Take every time-driven decision due at or before event time `until`."""
    _judge_cart(state, until, policy, out)
    _lapse(state, until, policy, out)
    expired = state.cart.trim_pending(until, policy.carts)
    if expired:
        out.counts[Count.RECOVERY_EXPIRED] += expired


def close_sessions(
    state: JourneyState, sessions: list[Session], out: Outputs, over_cap: bool
) -> None:
    for session in sessions:
        out.counts[Count.SESSIONS_OVER_CAP if over_cap else Count.SESSIONS_CLOSED] += 1
        if session.trail:
            out.facts.append((SESSION, session.trail))
        if session.example is not None:
            out.labels.append((session.example, session.converted))
        out.decisions.append(
            SessionClosed(state.key, state.customer_id, state.anonymous_id, session)
        )


def expires_at(state: JourneyState, policy: JourneyPolicy) -> int | None:
    """Event time at which the journey is removed (None: it keeps something).

    A customer's journey goes once it is back to empty: every stage signal out of its
    window, no open session, no cart to judge, no recovery or alert cooldown running.
    One never stitched to a customer (an anonymous journey, or the alias a stitched one
    leaves) goes `anonymous_ttl_ms` after its last event. A journey waiting for a
    stitch or whose customer withdrew marketing consent is kept. Events it holds are
    not applied yet: they outlive its removal (`empty`).
    """
    if (
        not state.clock  # nothing ever happened to it
        or (state.sessions and state.customer_id is not None)  # the common case: open
        or state.awaiting
        or state.parked
        or state.asked
        or state.early
        or state.stitch_to is not None
        or state.cart.consent is False
    ):
        return None
    lateness = policy.sessions.lateness_ms
    if state.customer_id is None:
        return state.clock + policy.anonymous_ttl_ms + lateness
    cart, carts = state.cart, policy.carts
    if cart.abandon_deadline(carts) is not None:
        return None
    windows = policy.rules.windows_ms
    ends = [state.clock, *(at + windows[stage] for stage, at in state.signals.items())]
    ends += [p.abandoned_at + carts.attribution_ms for p in cart.pending]
    if cart.last_alert_at is not None:
        ends.append(cart.last_alert_at + carts.cooldown_ms)
    return max(ends) + lateness


def _removal_bound(state: JourneyState, policy: JourneyPolicy) -> int:
    """A time before which the journey's timers cannot remove it: they keep its ids and its
    clock, and every stage signal still inside its window (`expires_at` waits for them)."""
    lateness = policy.sessions.lateness_ms
    if state.customer_id is None:
        return state.clock + policy.anonymous_ttl_ms + lateness
    windows = policy.rules.windows_ms
    ends = [at + windows[stage] for stage, at in state.signals.items()]
    return max([state.clock, *ends]) + lateness


def removal_due(state: JourneyState, until: int, policy: JourneyPolicy) -> int | None:
    """The event time at or before `until` at which the journey's timers, fired one by one,
    remove it (None: they do not). Tried on a copy: an event may find the timers of its
    journey not fired yet (the watermark behind it) and must find what they would do."""
    if _removal_bound(state, policy) > until:
        return None  # no removal comes sooner
    if state.stitch_to is not None:
        return None  # kept until moved (`expires_at`): time alone cannot do that
    if state.held and state.held[0].at < until:
        return None  # its held events come first; asked again once they are applied
    due = next_deadline(state, policy)
    if due is None or due > until:
        return None
    shared = {id(s.trail): s.trail for s in state.sessions}  # read only: not copied
    probe = copy.deepcopy(state, shared)
    scratch = Outputs()
    while due is not None and due <= until:
        advance(probe, due, policy, scratch)
        removal = expires_at(probe, policy)
        if removal is not None and removal <= due:
            return due
        due = next_deadline(probe, policy)
    return None


_STATE_FIELDS: Final = tuple(f.name for f in fields(JourneyState))


def expire_due(state: JourneyState, until: int, policy: JourneyPolicy, out: Outputs) -> None:
    """If the journey's timers, not fired yet, would have removed it by `until`: take the
    decisions due up to its removal, then empty it in place."""
    at = removal_due(state, until, policy)
    if at is None:
        return
    advance(state, at, policy, out)
    retire(state, at, out)
    empty(state)
    out.counts[Count.EXPIRED] += 1


def empty(state: JourneyState) -> None:
    """Remove the journey's content in place, but for the events it holds (not applied yet)."""
    fresh = JourneyState(key=state.key)
    fresh.held = state.held
    for name in _STATE_FIELDS:
        setattr(state, name, getattr(fresh, name))


def advance(state: JourneyState, now: int, policy: JourneyPolicy, out: Outputs) -> None:
    """Take the decisions that time has made due: `now` minus lateness has passed them."""
    close_sessions(state, close_due(state.sessions, now, policy.sessions), out, over_cap=False)
    settle(state, now - policy.sessions.lateness_ms, policy, out)


def next_deadline(state: JourneyState, policy: JourneyPolicy) -> int | None:
    """The earliest `now` at which `advance` has something to do (None: nothing pending).

    A journey waiting for a stitch takes no time-driven decision until it arrives.
    """
    if state.awaiting:
        return None
    lateness = policy.sessions.lateness_ms
    candidates = [next_close(state.sessions, policy.sessions)]
    if state.held:
        candidates.append(state.held[0].at + 1)  # released once the watermark passed it
    if state.stitch_to is not None:
        candidates.append(state.stitch_to.at)
    cart_due = state.cart.abandon_deadline(policy.carts)
    if cart_due is not None:
        candidates.append(cart_due + lateness)
    expiry = next_expiry(state.signals, state.stage, policy.rules.windows_ms)
    if expiry is not None:
        candidates.append(expiry + lateness)
    candidates.append(expires_at(state, policy))
    due = [c for c in candidates if c is not None]
    return min(due) if due else None

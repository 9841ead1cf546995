"""An event arriving at a journey: `process(state, event, watermark)`.

With `deadlines.advance(state, now)` (time passing), the whole decision surface of
the pipeline; the engine feeds both and the runners publish what they put into
`Outputs`. Time is always an argument: `watermark` is the partition's highest event
time, `now` is the watermark or, on an idle partition, the idle clock.

Every decision is taken at an exact event time (a session closes after its last
event + gap, a cart is abandoned at last activity + `abandon_after`, a stage
lapses when its window ends), and the shells only decide *when* to ask, always
at least `lateness` after that instant. So the same events give the same
records whatever the batch sizes or timer cadence.
"""

from __future__ import annotations

import hashlib

from .analytics.facts import trail_entry, voice
from .carts import ACTIVITY, ADD, ORDER, REMOVE
from .deadlines import close_sessions, expire_due, record_transition, settle
from .decisions import CartRecovered, SessionMerged
from .events import STAGES, Event
from .journey_state import Count, JourneyPolicy, JourneyState, Outputs, Parked
from .propensity.daily import DAY_MS, mark_active, settle_days, today
from .propensity.features import session_features
from .sessions import Session, place
from .stages import Rule, current_stage, stage_rank
from .vocabulary import Outcome

__all__ = [
    "process",
    "replay_parked",
    "report_merge",
    "stitch_wanted",
]

_CART_EVENTS = frozenset({ADD, REMOVE, *ACTIVITY})
_RECENT = 32
"""Recent orders and session starts a journey keeps for the propensity features."""
_KEPT_MS = 36 * DAY_MS
"""How far back they go: the daily snapshots' 28 days before a day and 7 after."""


def _id_hash(event_id: str) -> int:
    """A stable 64-bit digest of an event id: compact dedupe state that survives restarts."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big")


def report_merge(state: JourneyState, survivor: Session, merged: list[str], out: Outputs) -> None:
    out.counts[Count.SESSIONS_MERGED] += len(merged)
    out.decisions.append(
        SessionMerged(
            state.key,
            state.customer_id,
            state.anonymous_id,
            survivor.session_id,
            list(merged),
            survivor.started_at,
            survivor.ended_at,
            survivor.event_count,
        )
    )


def _apply_rule(
    state: JourneyState,
    rule: Rule,
    event: Event,
    session_id: str | None,
    policy: JourneyPolicy,
    out: Outputs,
) -> None:
    t = event.occurred_at
    if rule.demote:
        if stage_rank(state.stage) <= stage_rank(rule.stage):
            out.counts[Count.DEMOTE_NO_EFFECT] += 1
            return
        above = STAGES[stage_rank(rule.stage) + 1 :]
        state.signals = {s: at for s, at in state.signals.items() if s not in above}
    state.signals[rule.stage] = max(state.signals.get(rule.stage, t), t)
    to_stage = current_stage(state.signals, state.clock, policy.rules.windows_ms, known=True)
    if to_stage is not None and to_stage != state.stage:
        record_transition(state, to_stage, rule.id, t, event.event_id, session_id, policy, out)


def stitch_wanted(state: JourneyState, event: Event) -> str | None:
    """The anonymous id whose journey `event` asks to stitch to `state`, if any."""
    anonymous_id = event.anonymous_id
    if (
        anonymous_id
        and event.customer_id
        and anonymous_id != state.key
        and anonymous_id not in state.anonymous_ids
    ):
        return anonymous_id
    return None


def _learn(state: JourneyState, event: Event, policy: JourneyPolicy, out: Outputs) -> None:
    """Pick up ids and consent; ask for an anonymous journey to be stitched on first sight."""
    if event.customer_id and state.customer_id is None:
        state.customer_id = event.customer_id
    anonymous_id = event.anonymous_id
    if anonymous_id and state.anonymous_id is None:
        state.anonymous_id = anonymous_id
    wanted = stitch_wanted(state, event)
    if wanted is not None:
        state.anonymous_ids = [*state.anonymous_ids, wanted][-policy.max_aliases :]
        state.awaiting.append(wanted)
        out.counts[Count.ALIASES] += 1
        asked = [entry for entry in state.asked if entry.anonymous_id == wanted]
        if asked:  # asked for when a held event arrived
            state.asked.remove(asked[0])
        else:
            out.aliases.append((wanted, state.key, event.occurred_at))
    properties = event.data.get("properties")
    if isinstance(properties, dict):
        consent = properties.get("marketing_consent")
        if isinstance(consent, bool):
            state.cart.consent = consent


def _is_duplicate(state: JourneyState, digest: int, policy: JourneyPolicy) -> bool:
    if digest in state.recent_ids:
        return True
    state.recent_ids[digest] = None
    if len(state.recent_ids) > policy.dedupe_ids:
        del state.recent_ids[next(iter(state.recent_ids))]
    return False


def process(
    state: JourneyState, event: Event, watermark: int, policy: JourneyPolicy, out: Outputs
) -> str:
    """Apply one event (its key's state) and return its `Outcome`.

    An event older than `watermark - lateness` is late: it feeds stages and the
    cart but no session, since the session it would belong to may have closed. A
    journey whose removal falls before the event (its timer not fired yet) is
    removed first, as it would have been.
    """
    t = event.occurred_at
    expire_due(state, t, policy, out)
    if state.alias_of is not None and not event.customer_id:
        state.clock = max(state.clock, t)  # the alias lives on while used
        return Outcome.FORWARDED
    if state.awaiting:
        if len(state.parked) < policy.max_parked:
            state.parked.append(Parked(event.data, watermark))
            return Outcome.PARKED
        out.counts[Count.STITCH_WAIT_OVER_CAP] += 1
        state.awaiting = []
        replay_parked(state, policy, out)
    digest = _id_hash(event.event_id)
    if _is_duplicate(state, digest, policy):
        return Outcome.DUPLICATE
    since = t - state.clock if state.clock else 0
    state.clock = max(state.clock, t)
    settle(state, t, policy, out)
    _learn(state, event, policy, out)
    tracked = policy.propensity is not None  # the propensity models' history and features
    if tracked:
        _daily(state, event, out)
    late = t < watermark - policy.sessions.lateness_ms
    session: Session | None = None
    if not late:
        placement = place(state.sessions, state.key, event, state.stage, policy.sessions)
        session = placement.session
        if session.event_count == 1:
            out.counts[Count.SESSIONS_OPENED] += 1
            if tracked:
                state.session_starts = _recent(state.session_starts, t)
        if placement.merged_ids:
            report_merge(state, session, placement.merged_ids, out)
        close_sessions(state, placement.overflow, out, over_cap=True)
    session_id = session.session_id if session else None
    if policy.analytics and (answer := voice(event, state.stage)) is not None:
        out.facts.append(answer)
    rule = policy.rules.match(event, state.facts())
    if rule is None:
        out.counts[Count.NO_SIGNAL] += 1
    else:
        out.rule_matches[rule.id] += 1
        _apply_rule(state, rule, event, session_id, policy, out)
    kind = event.event_type
    scored = session if tracked else None
    if scored is not None and kind == ORDER and scored.example is None:
        scored.example = session_features(state, scored, t, since)  # as it came to order
        scored.sample = digest
    if kind in _CART_EVENTS:
        for note in state.cart.apply(event, state.key, session_id, policy.carts):
            out.counts[note] += 1
    elif kind == ORDER:
        state.has_purchased = True
        if tracked:
            state.orders = _recent(state.orders, t)
        for recovery in state.cart.complete_order(event, policy.carts):
            out.counts[Count.RECOVERED] += 1
            out.decisions.append(
                CartRecovered(
                    state.key,
                    state.customer_id,
                    state.anonymous_id,
                    state.contactable,
                    state.stage,
                    session_id,
                    recovery,
                )
            )
    elif tracked and kind in _PROFILE:
        _profile(state, event)
    if scored is not None and not scored.converted:
        sampled = scored.example is None or digest < scored.sample
        if sampled or out.scoring_on:
            features = session_features(state, scored, t, since)
            if sampled:
                scored.example, scored.sample = features, digest
            if out.scoring_on:
                out.scoring.append((state, scored, event, features, kind in _CART_EVENTS))
    state.event_count += 1
    if session is not None:
        session.stage_at_end = state.stage
        session.cart_value = state.cart.value
        if policy.analytics:
            session.remember(trail_entry(event, state.stage), policy.sessions.trail_max)
    return Outcome.LATE if late else Outcome.OK


def _daily(state: JourneyState, event: Event, out: Outputs) -> None:
    """At a journey's first event of a day: label the days whose 7 days have passed and
    score today's snapshot (`propensity.daily`); then mark the day active."""
    day = event.occurred_at // DAY_MS
    if state.last_day and day > state.last_day:
        settle_days(state, day, out)
        features = today(state, day)
        if features is not None:
            out.daily_scoring.append((state, event, features))
    mark_active(state, day)


def _recent(times: list[int], t: int) -> list[int]:
    """`times` with `t`, but those over 36 days before it and past the latest 32."""
    return [*(at for at in times if at > t - _KEPT_MS), t][-_RECENT:]


_NPS = "nps_submitted"
_SUPPORT = "support_contacted"
_PROFILE = frozenset({_NPS, _SUPPORT})


def _profile(state: JourneyState, event: Event) -> None:
    """Remember a customer's last NPS answer and count their support contacts."""
    if event.event_type == _SUPPORT:
        state.support_contacts += 1
        return
    score = event.data.get("nps_score")
    if isinstance(score, int) and not isinstance(score, bool):
        state.nps = score


def replay_parked(
    state: JourneyState, policy: JourneyPolicy, out: Outputs
) -> list[tuple[Event, str]]:
    """Process held events in arrival order, each with the watermark it arrived under."""
    replayed = []
    while state.parked and not state.awaiting:
        parked = state.parked.pop(0)
        event = Event.from_dict(parked.data)
        replayed.append((event, process(state, event, parked.watermark, policy, out)))
    return replayed

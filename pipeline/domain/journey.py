"""One journey's state and the two ways it moves: an event arrives, or time passes.

`process(state, event, watermark)` and `advance(state, now)` are the whole
decision surface of the pipeline; the offline runner and the stream worker are
shells that feed them and publish what they put into `Outputs`. Time is always
an argument: `watermark` is the partition's highest event time, `now` is the
watermark or, on an idle partition, the idle clock.

Every decision is taken at an exact event time (a session closes after its last
event + gap, a cart is abandoned at last activity + `abandon_after`, a stage
lapses when its window ends), and the shells only decide *when* to ask, always
at least `lateness` after that instant. So the same events give the same
records whatever the batch sizes or timer cadence.
"""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any, Final

from . import records
from .analytics.facts import SESSION, STAGE, trail_entry, voice
from .analytics.policy import AnalyticsPolicy
from .carts import ACTIVITY, ADD, NO_PRODUCT, ORDER, OVER_CAP, REMOVE, CartPolicy, CartState
from .events import STAGES, Event, parse_time
from .sessions import Session, SessionPolicy, close_due, next_close, place
from .stages import LAPSE, Rule, StageRules, current_stage, default_rules, next_expiry, stage_rank
from .vocabulary import Outcome, Output

__all__ = [
    "Count",
    "JourneyPolicy",
    "JourneyState",
    "Outputs",
    "advance",
    "next_deadline",
    "process",
    "hold",
    "joins",
    "record_transition",
    "stitch_wanted",
    "expire_due",
    "empty",
    "expires_at",
    "pending_since",
    "replay_parked",
    "report_merge",
]

_CART_EVENTS = frozenset({ADD, REMOVE, *ACTIVITY})


class Count:
    """Names of the counters the core reports through `Outputs.counts`."""

    NO_SIGNAL: Final = "events_without_stage_signal"
    SESSIONS_OPENED: Final = "sessions_opened"
    SESSIONS_CLOSED: Final = "sessions_closed"
    SESSIONS_MERGED: Final = "sessions_merged"
    SESSIONS_OVER_CAP: Final = "sessions_closed_over_cap"
    TRANSITIONS: Final = "stage_transitions"
    ABANDONED: Final = "cart_abandoned"
    RECOVERED: Final = "cart_recovered"
    SUPPRESSED: Final = "cart_alerts_suppressed_"  # + a `Suppression` reason
    RECOVERY_EXPIRED: Final = "cart_recovery_window_expired"
    DEMOTE_NO_EFFECT: Final = "demote_without_effect"
    ALIASES: Final = "identities_stitched"
    ABSORBED: Final = "identities_absorbed"
    """A stitch asked for (`ALIASES`) has arrived and ended the customer's wait."""
    FORWARDED: Final = "events_forwarded_to_customer"
    STITCH_WAIT_OVER_CAP: Final = "stitch_wait_over_cap"
    EXPIRED: Final = "journeys_expired"
    """Journeys removed: back to empty, or anonymous and inactive for the TTL."""
    ANALYTICS_TOO_LATE: Final = "analytics_facts_too_late"
    """Analytics facts for a window already gone from memory: not counted."""
    CART_ITEMS_OVER_CAP: Final = OVER_CAP
    CART_EVENT_WITHOUT_PRODUCT: Final = NO_PRODUCT


@dataclass(frozen=True, slots=True)
class JourneyPolicy:
    sessions: SessionPolicy = field(default_factory=SessionPolicy)
    carts: CartPolicy = field(default_factory=CartPolicy)
    rules: StageRules = field(default_factory=default_rules)
    dedupe_ids: int = 64
    """Recent event ids remembered per journey for duplicate detection."""
    max_aliases: int = 16
    """Anonymous ids remembered per customer (older ones may be stitched again: harmless)."""
    history: int = 5
    """Recent transitions kept per journey for the query API."""
    max_parked: int = 1000
    """Events held per journey while a stitch is pending; past it the wait ends (counted)."""
    anonymous_ttl_ms: int = 30 * 86_400_000
    """Event-time inactivity after which a journey never stitched to a customer (and the
    alias an anonymous id leaves behind when stitched) is removed."""
    analytics: AnalyticsPolicy | None = None
    """The journey analytics to report `Outputs.facts` for (sessions keep a trail); None: off."""


@dataclass(slots=True)
class Outputs:
    """What a call produced: records per output, counters, and identity stitches to route."""

    records: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    aliases: list[tuple[str, str, int]] = field(default_factory=list)
    """(anonymous_id, customer_id, event time): the anonymous journey must move to the customer."""
    moves: list[tuple[str, list[Any], int]] = field(default_factory=list)
    """(customer key, detached journey, event time): a detached journey on its way to absorb."""
    released: list[str] = field(default_factory=list)
    """Outcomes of held events processed once the watermark reached them."""
    facts: list[tuple[Any, ...]] = field(default_factory=list)
    """What the journey analytics count (`analytics.facts`): closed sessions' trails,
    stage entries, answers to surveys."""

    def add(self, output: str, key: str, record: dict[str, Any]) -> None:
        self.records.append((output, key, record))


def _id_hash(event_id: str) -> int:
    """A stable 64-bit digest of an event id: compact dedupe state that survives restarts."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big")


@dataclass(slots=True, init=False)
class JourneyState:
    """All state of one journey key; `to_data`/`from_data` give its plain-data form. Built
    for every new journey and every restored one: its `__init__` is written out (see
    `Event`)."""

    key: str
    customer_id: str | None
    anonymous_id: str | None
    stage: str | None
    signals: dict[str, int]
    has_purchased: bool
    event_count: int
    clock: int
    """The highest event time this journey has seen."""
    sessions: list[Session]
    cart: CartState
    recent_ids: dict[int, None]
    alias_of: str | None
    """Set on an anonymous journey stitched to a customer: its events go there."""
    anonymous_ids: list[str]
    history: list[list[Any]]
    """Recent transitions as [from, to, reason, at]."""
    awaiting: list[str]
    """Anonymous ids whose journeys were asked for and have not arrived yet."""
    parked: list[list[Any]]
    """Events held meanwhile, as [event data, watermark at arrival]."""
    stitch_to: list[Any] | None
    """On an anonymous journey: [customer key, event time] to detach to once time gets there."""
    held: list[list[Any]]
    """Events ahead of the watermark, as [event data, event time] in event-time order, held
    until the watermark reaches them (a worker allowing input disorder)."""
    asked: list[list[Any]]
    """[anonymous id, event time] of stitches held events asked for on arrival (so the
    anonymous journey stops at the stitch time, not later); not processed yet."""
    early: list[list[Any]]
    """Anonymous journeys that arrived before the event asking for them was processed, as
    [anonymous id, detached journey, event time]."""

    def __init__(
        self,
        key: str = "",
        customer_id: str | None = None,
        anonymous_id: str | None = None,
        stage: str | None = None,
        signals: dict[str, int] | None = None,
        has_purchased: bool = False,
        event_count: int = 0,
        clock: int = 0,
        alias_of: str | None = None,
    ) -> None:
        """The first eight in `to_data`'s order (`from_data` passes them so). Every one has a
        default: `copy.deepcopy` of a compiled object builds it empty first."""
        self.key = key
        self.customer_id = customer_id
        self.anonymous_id = anonymous_id
        self.stage = stage
        self.signals = {} if signals is None else signals
        self.has_purchased = has_purchased
        self.event_count = event_count
        self.clock = clock
        self.sessions = []
        self.cart = CartState()
        self.recent_ids = {}
        self.alias_of = alias_of
        self.anonymous_ids = []
        self.history = []
        self.awaiting = []
        self.parked = []
        self.stitch_to = None
        self.held = []
        self.asked = []
        self.early = []

    def to_data(self) -> list[Any]:
        return [
            self.key,
            self.customer_id,
            self.anonymous_id,
            self.stage,
            self.signals,
            self.has_purchased,
            self.event_count,
            self.clock,
            [s.to_data() for s in self.sessions],
            self.cart.to_data(),
            list(self.recent_ids),
            self.alias_of,
            self.anonymous_ids,
            self.history,
            self.awaiting,
            self.parked,
            self.stitch_to,
            self.held,
            self.asked,
            self.early,
        ]

    @classmethod
    def from_data(cls, data: list[Any]) -> JourneyState:
        state = cls(*data[:8])
        state.sessions = [Session.from_data(s) for s in data[8]]
        state.cart = CartState.from_data(data[9])
        state.recent_ids = dict.fromkeys(data[10])
        state.alias_of, state.anonymous_ids, state.history = data[11], data[12], data[13]
        state.awaiting, state.parked, state.stitch_to = data[14], data[15], data[16]
        state.held, state.asked, state.early = (data[17:20] + [[], [], []])[:3]
        return state

    @property
    def contactable(self) -> bool:
        return self.customer_id is not None and self.cart.consent is not False

    def facts(self) -> dict[str, Any]:
        """What stage rules may test about the customer (`customer.*`)."""
        return {
            "has_purchased": self.has_purchased,
            "first_event": self.event_count == 0,
            "stage": self.stage,
        }


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
    out.add(
        Output.TRANSITIONS,
        state.key,
        records.stage_transition(
            state.key,
            state.customer_id,
            state.anonymous_id,
            state.stage,
            to_stage,
            reason,
            at,
            trigger,
            session_id,
        ),
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
    out.add(
        Output.CART_ALERTS,
        state.key,
        records.cart_abandoned(
            state.key,
            state.customer_id,
            state.anonymous_id,
            state.contactable,
            state.stage,
            judgement,
        ),
    )


def _settle(state: JourneyState, until: int, policy: JourneyPolicy, out: Outputs) -> None:
    """Take every time-driven decision due at or before event time `until`."""
    _judge_cart(state, until, policy, out)
    _lapse(state, until, policy, out)
    expired = state.cart.trim_pending(until, policy.carts)
    if expired:
        out.counts[Count.RECOVERY_EXPIRED] += expired


def _close(state: JourneyState, sessions: list[Session], out: Outputs, over_cap: bool) -> None:
    for session in sessions:
        out.counts[Count.SESSIONS_OVER_CAP if over_cap else Count.SESSIONS_CLOSED] += 1
        if session.trail:
            out.facts.append((SESSION, session.trail))
        out.add(
            Output.SESSIONS,
            state.key,
            records.session_closed(state.key, state.customer_id, state.anonymous_id, session),
        )


def report_merge(state: JourneyState, survivor: Session, merged: list[str], out: Outputs) -> None:
    out.counts[Count.SESSIONS_MERGED] += len(merged)
    out.add(
        Output.SESSIONS,
        state.key,
        records.session_merged(state.key, state.customer_id, state.anonymous_id, survivor, merged),
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
        asked = [entry for entry in state.asked if entry[0] == wanted]
        if asked:  # asked for when a held event arrived
            state.asked.remove(asked[0])
        else:
            out.aliases.append((wanted, state.key, event.occurred_at))
    properties = event.data.get("properties")
    if isinstance(properties, dict):
        consent = properties.get("marketing_consent")
        if isinstance(consent, bool):
            state.cart.consent = consent


def _is_duplicate(state: JourneyState, event_id: str, policy: JourneyPolicy) -> bool:
    digest = _id_hash(event_id)
    if digest in state.recent_ids:
        return True
    state.recent_ids[digest] = None
    if len(state.recent_ids) > policy.dedupe_ids:
        del state.recent_ids[next(iter(state.recent_ids))]
    return False


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
    if state.held and state.held[0][1] < until:
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
    empty(state)
    out.counts[Count.EXPIRED] += 1


def empty(state: JourneyState) -> None:
    """Remove the journey's content in place, but for the events it holds (not applied yet)."""
    fresh = JourneyState(key=state.key)
    fresh.held = state.held
    for name in _STATE_FIELDS:
        setattr(state, name, getattr(fresh, name))


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
            state.parked.append([event.data, watermark])
            return Outcome.PARKED
        out.counts[Count.STITCH_WAIT_OVER_CAP] += 1
        state.awaiting = []
        replay_parked(state, policy, out)
    if _is_duplicate(state, event.event_id, policy):
        return Outcome.DUPLICATE
    state.clock = max(state.clock, t)
    _settle(state, t, policy, out)
    _learn(state, event, policy, out)
    late = t < watermark - policy.sessions.lateness_ms
    session: Session | None = None
    if not late:
        placement = place(state.sessions, state.key, event, state.stage, policy.sessions)
        session = placement.session
        if session.event_count == 1:
            out.counts[Count.SESSIONS_OPENED] += 1
        if placement.merged_ids:
            report_merge(state, session, placement.merged_ids, out)
        _close(state, placement.overflow, out, over_cap=True)
    session_id = session.session_id if session else None
    if policy.analytics and (answer := voice(event, state.stage)) is not None:
        out.facts.append(answer)
    rule = policy.rules.match(event, state.facts())
    if rule is None:
        out.counts[Count.NO_SIGNAL] += 1
    else:
        _apply_rule(state, rule, event, session_id, policy, out)
    kind = event.event_type
    if kind in _CART_EVENTS:
        for note in state.cart.apply(event, state.key, session_id, policy.carts):
            out.counts[note] += 1
    elif kind == ORDER:
        state.has_purchased = True
        for recovery in state.cart.complete_order(event, policy.carts):
            out.counts[Count.RECOVERED] += 1
            out.add(
                Output.CART_ALERTS,
                state.key,
                records.cart_recovered(
                    state.key,
                    state.customer_id,
                    state.anonymous_id,
                    state.contactable,
                    state.stage,
                    session_id,
                    recovery,
                ),
            )
    state.event_count += 1
    if session is not None:
        session.stage_at_end = state.stage
        session.cart_value = state.cart.value
        if policy.analytics:
            session.remember(trail_entry(event, state.stage), policy.sessions.trail_max)
    return Outcome.LATE if late else Outcome.OK


def replay_parked(
    state: JourneyState, policy: JourneyPolicy, out: Outputs
) -> list[tuple[Event, str]]:
    """Process held events in arrival order, each with the watermark it arrived under."""
    replayed = []
    while state.parked and not state.awaiting:
        data, watermark = state.parked.pop(0)
        event = Event.from_dict(data)
        replayed.append((event, process(state, event, watermark, policy, out)))
    return replayed


def pending_since(state: JourneyState) -> int:
    """The earliest event time a journey waiting for a stitch may still report facts at
    once it arrives: its open sessions' starts, its parked events, its latest event."""
    times = [s.started_at for s in state.sessions]
    times += [parse_time(data["occurred_at"]) for data, _watermark in state.parked]
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
    while position and held[position - 1][1] > at:
        position -= 1
    held.insert(position, [event.data, at])


def advance(state: JourneyState, now: int, policy: JourneyPolicy, out: Outputs) -> None:
    """Take the decisions that time has made due: `now` minus lateness has passed them."""
    _close(state, close_due(state.sessions, now, policy.sessions), out, over_cap=False)
    _settle(state, now - policy.sessions.lateness_ms, policy, out)


def next_deadline(state: JourneyState, policy: JourneyPolicy) -> int | None:
    """The earliest `now` at which `advance` has something to do (None: nothing pending).

    A journey waiting for a stitch takes no time-driven decision until it arrives.
    """
    if state.awaiting:
        return None
    lateness = policy.sessions.lateness_ms
    candidates = [next_close(state.sessions, policy.sessions)]
    if state.held:
        candidates.append(state.held[0][1] + 1)  # released once the watermark passed it
    if state.stitch_to is not None:
        candidates.append(state.stitch_to[1])
    cart_due = state.cart.abandon_deadline(policy.carts)
    if cart_due is not None:
        candidates.append(cart_due + lateness)
    expiry = next_expiry(state.signals, state.stage, policy.rules.windows_ms)
    if expiry is not None:
        candidates.append(expiry + lateness)
    candidates.append(expires_at(state, policy))
    due = [c for c in candidates if c is not None]
    return min(due) if due else None

"""A journey's state, what a step reports, and the policy the steps follow.

`JourneyState` holds everything one journey key keeps; `to_data`/`from_data` are its
plain-data form (the changelog's and a moved journey's). `Outputs` collects what a step
decided; `Count` names its counters.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from .analytics.policy import AnalyticsPolicy
from .carts import NO_PRODUCT, OVER_CAP, CartPolicy, CartState
from .decisions import Decision, Score
from .events import Event
from .propensity.policy import Features, PropensityPolicy
from .sessions import Session, SessionPolicy
from .stages import StageRules, default_rules
from .vocabulary import RecordType

__all__ = [
    "Asked",
    "Count",
    "Early",
    "Held",
    "JourneyPolicy",
    "JourneyState",
    "Outputs",
    "Parked",
    "StitchTo",
]


class Count:
    """Names of the counters the core reports through `Outputs.counts`."""

    NO_SIGNAL: Final = "events_without_stage_signal"
    SESSIONS_OPENED: Final = "sessions_opened"
    SESSIONS_CLOSED: Final = "sessions_closed"
    SESSIONS_MERGED: Final = "sessions_merged"
    SESSIONS_OVER_CAP: Final = "sessions_closed_over_cap"
    DAILY_LABELS_LOST: Final = "propensity_daily_labels_lost"
    """Days a customer would have been snapshotted on for the 7-day models whose 7 days their
    journey did not outlive (removed once back to empty)."""
    TRANSITIONS: Final = "stage_transitions"
    ABANDONED: Final = RecordType.CART_ABANDONED
    RECOVERED: Final = RecordType.CART_RECOVERED
    SUPPRESSED: Final = "cart_alerts_suppressed_"  # + a `Suppression` reason
    RECOVERY_EXPIRED: Final = "cart_recovery_window_expired"
    DEMOTE_NO_EFFECT: Final = "demote_without_effect"
    ALIASES: Final = "identities_stitched"
    ABSORBED: Final = "identities_absorbed"
    """A stitch asked for (`ALIASES`) has arrived and ended the customer's wait."""
    FORWARDED: Final = "events_forwarded_to_customer"
    STITCH_WAIT_OVER_CAP: Final = "stitch_wait_over_cap"
    ERASED: Final = "journeys_erased"
    """Journeys removed on request (`journey forget`)."""
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
    propensity: PropensityPolicy | None = None
    """The session purchase model (`Outputs.scoring`, `Outputs.labels`); None: off."""


@dataclass(slots=True)
class Parked:
    """An event that waits for a pending stitch, with the watermark it arrived under."""

    data: dict[str, Any]
    watermark: int

    def to_data(self) -> list[Any]:
        return [self.data, self.watermark]


@dataclass(slots=True)
class Held:
    """An event ahead of the watermark, held until the watermark has passed it."""

    data: dict[str, Any]
    at: int

    def to_data(self) -> list[Any]:
        return [self.data, self.at]


@dataclass(slots=True)
class StitchTo:
    """An anonymous journey's pending move to `customer` as of event time `at`."""

    customer: str
    at: int

    def to_data(self) -> list[Any]:
        return [self.customer, self.at]


@dataclass(slots=True)
class Asked:
    """A stitch a held event asked for on arrival, at the earliest such event's time."""

    anonymous_id: str
    at: int

    def to_data(self) -> list[Any]:
        return [self.anonymous_id, self.at]


@dataclass(slots=True)
class Early:
    """A detached anonymous journey that arrived before the event asking for it was applied."""

    anonymous_id: str
    moved: list[Any]
    at: int

    def to_data(self) -> list[Any]:
        return [self.anonymous_id, self.moved, self.at]


@dataclass(slots=True)
class Outputs:
    """What a call produced: decisions, analytics records, counters, stitches to route."""

    decisions: list[Decision] = field(default_factory=list)
    """Stage changes, closed and merged sessions, cart alerts (`pipeline.contract.records`
    encodes them)."""
    analytics: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """(output, key, record) of the analytics tables' windows."""
    counts: Counter[str] = field(default_factory=Counter)
    rule_matches: Counter[str] = field(default_factory=Counter)
    """Events matched, by stage rule id: a rule that never matches over a backtest is dead."""
    aliases: list[tuple[str, str, int]] = field(default_factory=list)
    """(anonymous_id, customer_id, event time): the anonymous journey must move to the customer."""
    moves: list[tuple[str, list[Any], int]] = field(default_factory=list)
    """(customer key, detached journey, event time): a detached journey on its way to absorb."""
    released: list[str] = field(default_factory=list)
    """Outcomes of held events processed once the watermark reached them."""
    facts: list[tuple[Any, ...]] = field(default_factory=list)
    """What the journey analytics count (`analytics.facts`): closed sessions' trails,
    stage entries, answers to surveys."""
    scoring: list[tuple[JourneyState, Session, Event, Features, bool]] = field(default_factory=list)
    """(journey, session, event, features, whether a cart or checkout event): events of open
    sessions before their first order, for the propensity model to score."""
    scoring_on: bool = False
    """Whether the session model publishes, so events are scored (set by the engine)."""
    labels: list[tuple[Features, bool]] = field(default_factory=list)
    """(features, converted) of closed sessions: what the propensity model learns."""
    daily: list[tuple[Features, bool, bool | None]] = field(default_factory=list)
    """(features, bought in 7 days, not seen in 7 days or None outside churn's population)
    of customers' daily snapshots: what the 7-day models learn."""
    daily_scoring: list[tuple[JourneyState, Event, Features]] = field(default_factory=list)
    """(journey, event, today's snapshot) at a customer's first event of a day."""
    scores: list[Score] = field(default_factory=list)
    """Propensity scores published."""


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
    parked: list[Parked]
    """Events held meanwhile, in arrival order."""
    stitch_to: StitchTo | None
    """On an anonymous journey: [customer key, event time] to detach to once time gets there."""
    held: list[Held]
    """Events ahead of the watermark, as [event data, event time] in event-time order, held
    until the watermark reaches them (a worker allowing input disorder)."""
    asked: list[Asked]
    """[anonymous id, event time] of stitches held events asked for on arrival (so the
    anonymous journey stops at the stitch time, not later); not processed yet."""
    early: list[Early]
    """Anonymous journeys that arrived before the event asking for them was processed, as
    [anonymous id, detached journey, event time]."""
    orders: list[int]
    """Times of its recent orders (the propensity features' 28 days, at most 16)."""
    session_starts: list[int]
    """Start times of its recent sessions (28 days, at most 16)."""
    nps: int | None
    """Its last NPS answer."""
    support_contacts: int
    active_days: int
    """Bit k: active on day `last_day - k` (UTC days of event time, `propensity.daily`)."""
    last_day: int
    labelled_day: int
    """The latest day its daily snapshot was labelled (or skipped) for the 7-day models."""
    daily_scores: list[float] | None
    """Its last published purchase_7d and churn_7d scores."""

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
        self.orders = []
        self.session_starts = []
        self.nps = None
        self.support_contacts = 0
        self.active_days = 0
        self.last_day = 0
        self.labelled_day = 0
        self.daily_scores = None

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
            [entry.to_data() for entry in self.parked],
            None if self.stitch_to is None else self.stitch_to.to_data(),
            [entry.to_data() for entry in self.held],
            [entry.to_data() for entry in self.asked],
            [entry.to_data() for entry in self.early],
            self.orders,
            self.session_starts,
            self.nps,
            self.support_contacts,
            self.active_days,
            self.last_day,
            self.labelled_day,
            self.daily_scores,
        ]

    @classmethod
    def from_data(cls, data: list[Any]) -> JourneyState:
        state = cls(*data[:8])
        state.sessions = [Session.from_data(s) for s in data[8]]
        state.cart = CartState.from_data(data[9])
        state.recent_ids = dict.fromkeys(data[10])
        state.alias_of, state.anonymous_ids, state.history = data[11], data[12], data[13]
        state.awaiting = data[14]
        state.parked = [Parked(entry[0], entry[1]) for entry in data[15]]
        state.stitch_to = None if data[16] is None else StitchTo(data[16][0], data[16][1])
        state.held = [Held(entry[0], entry[1]) for entry in data[17]]
        state.asked = [Asked(entry[0], entry[1]) for entry in data[18]]
        state.early = [Early(entry[0], entry[1], entry[2]) for entry in data[19]]
        state.orders, state.session_starts, state.nps = data[20], data[21], data[22]
        state.support_contacts = data[23]
        state.active_days, state.last_day, state.labelled_day = data[24], data[25], data[26]
        state.daily_scores = data[27]
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

"""Sessionizer: event-time sessions with an inactivity gap, a maximum length and lateness.

A session is a run of one journey's events whose consecutive event-time gap is
at most `gap_ms` (30 min, as GA4 and Snowplow). An out-of-order event joins the
session it belongs to; if it bridges two sessions they merge (as Kafka Streams
session windows do) and the survivor is the one with the earliest first event.
A session's id is derived from the journey key and its first event, so every
arrival order within the allowed lateness gives the same ids. When a late event
becomes a session's new first event the id changes, which is reported like a merge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .analytics.facts import trail_order
from .events import Event, stable_id
from .propensity.policy import Features

__all__ = [
    "Placement",
    "Session",
    "SessionPolicy",
    "absorb_sessions",
    "close_due",
    "next_close",
    "place",
]

PAGE_EVENT = "page_viewed"
ORDER_EVENT = "order_completed"
PRODUCT_EVENT = "product_viewed"
RESEARCH_EVENTS = frozenset({"product_compared", "reviews_viewed"})
CHECKOUT_EVENT = "checkout_started"
PAYMENT_EVENT = "payment_info_entered"


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """Session timing; all durations in milliseconds."""

    gap_ms: int = 30 * 60_000
    max_length_ms: int = 24 * 3_600_000
    lateness_ms: int = 5 * 60_000
    max_open: int = 16
    """Open sessions kept per journey; past it the oldest closes early (counted)."""
    trail_max: int = 200
    """Events a session keeps for the journey analytics; a longer session keeps its first
    `trail_max - 1` events and its latest."""


@dataclass(slots=True)
class Session:
    """An open session; plain data so it can live in a changelog-backed table."""

    session_id: str
    first_event_id: str
    started_at: int
    ended_at: int
    event_count: int = 0
    page_count: int = 0
    first_channel: str | None = None
    first_campaign: dict[str, Any] | None = None
    stage_at_start: str | None = None
    stage_at_end: str | None = None
    cart_value: float = 0.0
    converted: bool = False
    trail: list[tuple[Any, ...]] = field(default_factory=list)
    """(time, event type, page path, channel, stage after) per event, for the analytics:
    tuples of plain values, which the cyclic collector stops scanning after one look."""
    products: int = 0
    """Products viewed."""
    research: int = 0
    """Products compared and reviews read."""
    checkout: bool = False
    payment: bool = False
    example: Features | None = None
    """The propensity features at one of its events before its first order, drawn evenly
    (the least `sample`): what the model learns once the session closes and its label
    (`converted`) is known, as the scores are computed at any such event."""
    sample: int = 0
    """The 64-bit digest of the event id `example` was taken at."""
    published: float | None = None
    """The last purchase propensity published for it."""

    def to_data(self) -> list[Any]:
        return [
            self.session_id,
            self.first_event_id,
            self.started_at,
            self.ended_at,
            self.event_count,
            self.page_count,
            self.first_channel,
            self.first_campaign,
            self.stage_at_start,
            self.stage_at_end,
            self.cart_value,
            self.converted,
            self.trail,
            self.products,
            self.research,
            self.checkout,
            self.payment,
            self.example,
            self.sample,
            self.published,
        ]

    @classmethod
    def from_data(cls, data: list[Any]) -> Session:
        session = cls(*data[:12])
        session.trail = [tuple(entry) for entry in data[12]]
        session.products, session.research, session.checkout = data[13], data[14], data[15]
        session.payment, session.sample = data[16], data[18]
        session.example = None if data[17] is None else tuple(data[17])
        session.published = data[19]
        return session

    def remember(self, entry: tuple[Any, ...], limit: int) -> None:
        """Add an event's trail entry, keeping at most `limit` (the latest always kept)."""
        if len(self.trail) >= limit:
            self.trail.sort(key=trail_order)
            del self.trail[limit - 1 :]
        self.trail.append(entry)

    def _order(self) -> tuple[int, str]:
        return (self.started_at, self.first_event_id)

    def _count(self, event: Event) -> None:
        self.event_count += 1
        kind = event.event_type
        if kind == PAGE_EVENT:
            self.page_count += 1
        elif kind == ORDER_EVENT:
            self.converted = True
        elif kind == PRODUCT_EVENT:
            self.products += 1
        elif kind in RESEARCH_EVENTS:
            self.research += 1
        elif kind == CHECKOUT_EVENT:
            self.checkout = True
        elif kind == PAYMENT_EVENT:
            self.payment = True
        t = event.occurred_at
        if t < self.started_at:
            self.started_at = t
        if t > self.ended_at:
            self.ended_at = t

    def _absorb(self, other: Session) -> None:
        """Fold a later-starting session into this one."""
        self.event_count += other.event_count
        self.page_count += other.page_count
        self.converted = self.converted or other.converted
        self.products += other.products
        self.research += other.research
        self.checkout = self.checkout or other.checkout
        self.payment = self.payment or other.payment
        self.trail += other.trail
        if other.example is not None and (self.example is None or other.sample < self.sample):
            self.example, self.sample = other.example, other.sample
        if self.published is None:
            self.published = other.published
        if other.ended_at >= self.ended_at:
            self.ended_at = other.ended_at
            self.stage_at_end = other.stage_at_end
            self.cart_value = other.cart_value


@dataclass(slots=True, init=False)
class Placement:
    """Where an event went: its session, and the ids that ceased to exist (merged). Built
    per event: its `__init__` is written out (see `Event`)."""

    session: Session
    merged_ids: list[str]
    overflow: list[Session]
    """Sessions closed early because the journey had too many open."""

    def __init__(self, session: Session, overflow: list[Session] | None = None) -> None:
        self.session = session
        self.merged_ids = []
        self.overflow = [] if overflow is None else overflow


def _new_session(key: str, event: Event, stage_before: str | None) -> Session:
    t = event.occurred_at
    return Session(
        session_id=stable_id("ses", key, t, event.event_id),
        first_event_id=event.event_id,
        started_at=t,
        ended_at=t,
        first_channel=event.channel,
        first_campaign=event.campaign,
        stage_at_start=stage_before,
    )


def _candidates(sessions: list[Session], t: int, policy: SessionPolicy) -> list[Session]:
    """The sessions an event at `t` joins: those within the gap, if the result fits max length."""
    near = [s for s in sessions if s.started_at - policy.gap_ms <= t <= s.ended_at + policy.gap_ms]
    if len(near) <= 1 and all(
        max(s.ended_at, t) - min(s.started_at, t) <= policy.max_length_ms for s in near
    ):
        return near
    start = min([t, *(s.started_at for s in near)])
    end = max([t, *(s.ended_at for s in near)])
    if end - start <= policy.max_length_ms:
        return near
    fitting = [s for s in near if max(s.ended_at, t) - min(s.started_at, t) <= policy.max_length_ms]
    return fitting[-1:]


def place(
    sessions: list[Session],
    key: str,
    event: Event,
    stage_before: str | None,
    policy: SessionPolicy,
) -> Placement:
    """Put `event` into its session (new, extended or merged), updating `sessions` in place."""
    t = event.occurred_at
    if len(sessions) == 1:  # the common case: the one open session goes on in order
        only = sessions[0]
        if (
            only.started_at < t
            and only.ended_at <= t <= only.ended_at + policy.gap_ms
            and t - only.started_at <= policy.max_length_ms
        ):
            only._count(event)
            return Placement(only)
    near = _candidates(sessions, t, policy)
    if not near:
        session = _new_session(key, event, stage_before)
        session._count(event)
        sessions.append(session)
        sessions.sort(key=Session._order)
        overflow = []
        while len(sessions) > policy.max_open:
            overflow.append(sessions.pop(0))
        return Placement(session, overflow=overflow)
    survivor = min(near, key=Session._order)
    placement = Placement(survivor)
    for other in sorted(near, key=Session._order):
        if other is not survivor:
            survivor._absorb(other)
            sessions.remove(other)
            placement.merged_ids.append(other.session_id)
    if (event.occurred_at, event.event_id) < survivor._order():
        placement.merged_ids.append(survivor.session_id)
        fresh = _new_session(key, event, survivor.stage_at_start)
        survivor.session_id = fresh.session_id
        survivor.first_event_id = fresh.first_event_id
        survivor.first_channel = fresh.first_channel
        survivor.first_campaign = fresh.first_campaign
    survivor._count(event)
    sessions.sort(key=Session._order)
    return placement


def absorb_sessions(
    sessions: list[Session], moved: list[Session], policy: SessionPolicy
) -> tuple[list[Session], list[tuple[Session, list[str]]]]:
    """Move another journey's open sessions in, merging those within the gap of each other.

    Returns the new open list and, for each merge, the survivor and the ids it absorbed.
    """
    merged: list[tuple[Session, list[str]]] = []
    result: list[Session] = []
    for session in sorted([*sessions, *moved], key=Session._order):
        last = result[-1] if result else None
        if (
            last is not None
            and session.started_at <= last.ended_at + policy.gap_ms
            and max(session.ended_at, last.ended_at) - last.started_at <= policy.max_length_ms
        ):
            last._absorb(session)
            if merged and merged[-1][0] is last:
                merged[-1][1].append(session.session_id)
            else:
                merged.append((last, [session.session_id]))
        else:
            result.append(session)
    return result, merged


def close_due(sessions: list[Session], now: int, policy: SessionPolicy) -> list[Session]:
    """Remove and return the sessions that `now` (watermark or idle clock) has passed."""
    horizon = policy.gap_ms + policy.lateness_ms
    due = [s for s in sessions if s.ended_at + horizon < now]
    if due:
        sessions[:] = [s for s in sessions if s.ended_at + horizon >= now]
    return due


def next_close(sessions: list[Session], policy: SessionPolicy) -> int | None:
    """The earliest time at which `close_due` would close a session."""
    if not sessions:
        return None
    return min(s.ended_at for s in sessions) + policy.gap_ms + policy.lateness_ms + 1

"""What the journey core decides, as typed values.

Each carries its journey's key and ids and whatever the published record needs,
times as epoch milliseconds: `pipeline.contract.records` encodes them to the records
the schemas in `schemas/` describe, and metrics count them by type. The analytics
tables' records (`Outputs.analytics`) are written whole by the tables. Plain (not
frozen) classes, so that mypyc compiles them to native ones: a frozen dataclass
is built field by field through `object.__setattr__`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .carts import Judgement, Recovery
from .sessions import Session

__all__ = [
    "CartAbandoned",
    "CartRecovered",
    "Decision",
    "Score",
    "SessionClosed",
    "SessionMerged",
    "StageChanged",
]


@dataclass(slots=True)
class StageChanged:
    key: str
    customer_id: str | None
    anonymous_id: str | None
    from_stage: str | None
    to_stage: str
    reason: str
    """The id of the stage rule that matched, or a reason of time or identity (`lapse`,
    `identity_stitched`)."""
    at: int
    trigger_event_id: str | None
    session_id: str | None


@dataclass(slots=True)
class SessionClosed:
    key: str
    customer_id: str | None
    anonymous_id: str | None
    session: Session
    """The closed session (out of its journey: it no longer changes)."""


@dataclass(slots=True)
class SessionMerged:
    key: str
    customer_id: str | None
    anonymous_id: str | None
    session_id: str
    merged_session_ids: list[str]
    started_at: int
    ended_at: int
    event_count: int


@dataclass(slots=True)
class CartAbandoned:
    key: str
    customer_id: str | None
    anonymous_id: str | None
    contactable: bool
    stage: str | None
    judgement: Judgement


@dataclass(slots=True)
class CartRecovered:
    key: str
    customer_id: str | None
    anonymous_id: str | None
    contactable: bool
    stage: str | None
    session_id: str | None
    recovery: Recovery


@dataclass(slots=True)
class Score:
    """A propensity published for a journey at one of its events."""

    key: str
    customer_id: str | None
    anonymous_id: str | None
    model: str
    score: float
    session_id: str | None
    event_id: str
    at: int
    labels_seen: int
    checkout_step: str | None
    """How far the session went towards an order (`propensity.features.CHECKOUT_STEPS`);
    None for a customer's 7-day scores."""
    drivers: list[tuple[str, float]]
    """The features that moved the score most, with their share of its log-odds."""


Decision = StageChanged | SessionClosed | SessionMerged | CartAbandoned | CartRecovered

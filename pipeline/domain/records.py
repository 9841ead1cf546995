"""Builders for the outbound records; field names here are the public contract (`schemas/`)."""

from __future__ import annotations

from typing import Any

from .carts import Judgement, Recovery
from .events import format_time, stable_id
from .sessions import Session
from .vocabulary import SCHEMA_VERSION, RecordType

__all__ = [
    "SCHEMA_VERSION",
    "cart_abandoned",
    "cart_recovered",
    "items_view",
    "session_closed",
    "session_merged",
    "stage_transition",
]


def items_view(items: list[list[Any]]) -> list[dict[str, Any]]:
    return [
        {"product_id": i[0], "name": i[1], "category": i[2], "price": i[3], "quantity": i[4]}
        for i in items
    ]


def _identity(key: str, customer_id: str | None, anonymous_id: str | None) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "journey_key": key,
        "customer_id": customer_id,
        "anonymous_id": anonymous_id,
    }


def stage_transition(
    key: str,
    customer_id: str | None,
    anonymous_id: str | None,
    from_stage: str | None,
    to_stage: str,
    reason: str,
    at: int,
    trigger_event_id: str | None,
    session_id: str | None,
) -> dict[str, Any]:
    record = _identity(key, customer_id, anonymous_id)
    record.update(
        transition_id=stable_id("trn", key, trigger_event_id, from_stage, to_stage, at),
        from_stage=from_stage,
        to_stage=to_stage,
        reason=reason,
        trigger_event_id=trigger_event_id,
        occurred_at=format_time(at),
        session_id=session_id,
    )
    return record


def session_closed(
    key: str, customer_id: str | None, anonymous_id: str | None, session: Session
) -> dict[str, Any]:
    record = _identity(key, customer_id, anonymous_id)
    record.update(
        type=RecordType.SESSION_CLOSED,
        session_id=session.session_id,
        started_at=format_time(session.started_at),
        ended_at=format_time(session.ended_at),
        duration_seconds=(session.ended_at - session.started_at) / 1000,
        event_count=session.event_count,
        page_count=session.page_count,
        first_channel=session.first_channel,
        first_campaign=session.first_campaign,
        stage_at_start=session.stage_at_start,
        stage_at_end=session.stage_at_end,
        cart_value=session.cart_value,
        converted=session.converted,
    )
    return record


def session_merged(
    key: str,
    customer_id: str | None,
    anonymous_id: str | None,
    session: Session,
    merged_ids: list[str],
) -> dict[str, Any]:
    record = _identity(key, customer_id, anonymous_id)
    record.update(
        type=RecordType.SESSION_MERGED,
        session_id=session.session_id,
        merged_session_ids=list(merged_ids),
        started_at=format_time(session.started_at),
        ended_at=format_time(session.ended_at),
        event_count=session.event_count,
    )
    return record


def _cart_base(
    kind: str,
    alert_id: str,
    key: str,
    customer_id: str | None,
    anonymous_id: str | None,
    contactable: bool,
    stage: str | None,
) -> dict[str, Any]:
    record = _identity(key, customer_id, anonymous_id)
    record.update(type=kind, alert_id=alert_id, contactable=contactable, stage=stage)
    return record


def cart_abandoned(
    key: str,
    customer_id: str | None,
    anonymous_id: str | None,
    contactable: bool,
    stage: str | None,
    judgement: Judgement,
) -> dict[str, Any]:
    assert judgement.alert_id is not None
    record = _cart_base(
        RecordType.CART_ABANDONED,
        judgement.alert_id,
        key,
        customer_id,
        anonymous_id,
        contactable,
        stage,
    )
    record.update(
        cart_id=judgement.cart_id,
        items=items_view(judgement.items),
        value=judgement.value,
        currency=judgement.currency,
        last_activity_at=format_time(judgement.last_activity_at),
        abandoned_at=format_time(judgement.abandoned_at),
        session_id=judgement.session_id,
        channel=judgement.channel,
        campaign=judgement.campaign,
    )
    return record


def cart_recovered(
    key: str,
    customer_id: str | None,
    anonymous_id: str | None,
    contactable: bool,
    stage: str | None,
    session_id: str | None,
    recovery: Recovery,
) -> dict[str, Any]:
    pending = recovery.pending
    record = _cart_base(
        RecordType.CART_RECOVERED,
        pending.alert_id,
        key,
        customer_id,
        anonymous_id,
        contactable,
        stage,
    )
    record.update(
        items=items_view(recovery.recovered_items),
        value=pending.value,
        currency=pending.currency,
        last_activity_at=format_time(pending.last_activity_at),
        abandoned_at=format_time(pending.abandoned_at),
        session_id=session_id,
        channel=pending.channel,
        campaign=pending.campaign,
        order_id=recovery.order_id,
        recovered_value=recovery.recovered_value,
        recovered_at=format_time(recovery.recovered_at),
        time_to_recovery_seconds=(recovery.recovered_at - pending.abandoned_at) / 1000,
    )
    return record

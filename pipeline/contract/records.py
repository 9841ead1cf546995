"""The outbound records: the core's typed decisions encoded to the published JSON.

Field names and their order here are the public contract (`schemas/`); times are
formatted here, from the decisions' epoch milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..domain import (
    CartAbandoned,
    CartRecovered,
    Decision,
    Output,
    Outputs,
    RecordType,
    Score,
    SessionClosed,
    SessionMerged,
    StageChanged,
    format_time,
    stable_id,
)
from ..domain.view import identity_fields, items_view

__all__ = ["encoded", "published", "score_record"]


def published(out: Outputs) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(output, key, record) of every decision in `out`, its analytics records, its scores."""
    for decision in out.decisions:
        yield encoded(decision)
    yield from out.analytics
    for score in out.scores:
        yield Output.PROPENSITY, score.key, score_record(score)


def score_record(s: Score) -> dict[str, Any]:
    """A propensity score's record (`schemas/propensity.v1.json`)."""
    return {
        **identity_fields(s.key, s.customer_id, s.anonymous_id),
        "model": s.model,
        "score": s.score,
        "session_id": s.session_id,
        "event_id": s.event_id,
        "occurred_at": format_time(s.at),
        "labels_seen": s.labels_seen,
        "checkout_step": s.checkout_step,
        "drivers": [{"feature": f, "contribution": c} for f, c in s.drivers],
    }


def encoded(decision: Decision) -> tuple[str, str, dict[str, Any]]:
    """The output a decision goes to, its key, and its record."""
    output, encoder = _ENCODERS[type(decision)]
    return output, decision.key, encoder(decision)


def _stage_changed(d: StageChanged) -> dict[str, Any]:
    key, trigger = d.key, d.trigger_event_id
    return {
        **identity_fields(key, d.customer_id, d.anonymous_id),
        "transition_id": stable_id("trn", key, trigger, d.from_stage, d.to_stage, d.at),
        "from_stage": d.from_stage,
        "to_stage": d.to_stage,
        "reason": d.reason,
        "trigger_event_id": trigger,
        "occurred_at": format_time(d.at),
        "session_id": d.session_id,
    }


def _session_closed(d: SessionClosed) -> dict[str, Any]:
    session = d.session
    return {
        **identity_fields(d.key, d.customer_id, d.anonymous_id),
        "type": RecordType.SESSION_CLOSED,
        "session_id": session.session_id,
        "started_at": format_time(session.started_at),
        "ended_at": format_time(session.ended_at),
        "duration_seconds": (session.ended_at - session.started_at) / 1000,
        "event_count": session.event_count,
        "page_count": session.page_count,
        "first_channel": session.first_channel,
        "first_campaign": session.first_campaign,
        "stage_at_start": session.stage_at_start,
        "stage_at_end": session.stage_at_end,
        "cart_value": session.cart_value,
        "converted": session.converted,
    }


def _session_merged(d: SessionMerged) -> dict[str, Any]:
    return {
        **identity_fields(d.key, d.customer_id, d.anonymous_id),
        "type": RecordType.SESSION_MERGED,
        "session_id": d.session_id,
        "merged_session_ids": d.merged_session_ids,
        "started_at": format_time(d.started_at),
        "ended_at": format_time(d.ended_at),
        "event_count": d.event_count,
    }


def _cart_abandoned(d: CartAbandoned) -> dict[str, Any]:
    judgement = d.judgement
    return {
        **identity_fields(d.key, d.customer_id, d.anonymous_id),
        "type": RecordType.CART_ABANDONED,
        "alert_id": judgement.alert_id,
        "contactable": d.contactable,
        "stage": d.stage,
        "cart_id": judgement.cart_id,
        "items": items_view(judgement.items),
        "value": judgement.value,
        "currency": judgement.currency,
        "last_activity_at": format_time(judgement.last_activity_at),
        "abandoned_at": format_time(judgement.abandoned_at),
        "session_id": judgement.session_id,
        "channel": judgement.channel,
        "campaign": judgement.campaign,
        "purchase_propensity": judgement.propensity,
    }


def _cart_recovered(d: CartRecovered) -> dict[str, Any]:
    recovery = d.recovery
    pending = recovery.pending
    return {
        **identity_fields(d.key, d.customer_id, d.anonymous_id),
        "type": RecordType.CART_RECOVERED,
        "alert_id": pending.alert_id,
        "contactable": d.contactable,
        "stage": d.stage,
        "items": items_view(recovery.recovered_items),
        "value": pending.value,
        "currency": pending.currency,
        "last_activity_at": format_time(pending.last_activity_at),
        "abandoned_at": format_time(pending.abandoned_at),
        "session_id": d.session_id,
        "channel": pending.channel,
        "campaign": pending.campaign,
        "order_id": recovery.order_id,
        "recovered_value": recovery.recovered_value,
        "recovered_at": format_time(recovery.recovered_at),
        "time_to_recovery_seconds": (recovery.recovered_at - pending.abandoned_at) / 1000,
    }


_ENCODERS: dict[type, tuple[str, Callable[[Any], dict[str, Any]]]] = {
    StageChanged: (Output.TRANSITIONS, _stage_changed),
    SessionClosed: (Output.SESSIONS, _session_closed),
    SessionMerged: (Output.SESSIONS, _session_merged),
    CartAbandoned: (Output.CART_ALERTS, _cart_abandoned),
    CartRecovered: (Output.CART_ALERTS, _cart_recovered),
}

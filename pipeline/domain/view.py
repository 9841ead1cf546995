"""What the query API shows of one journey (`schemas/customer-view.v1.json`)."""

from __future__ import annotations

from typing import Any

from .carts import CartItem
from .events import format_time
from .journey_state import JourneyState
from .vocabulary import SCHEMA_VERSION

__all__ = ["MAX_KEY_LENGTH", "identity_fields", "items_view", "journey_view", "key_problem"]

MAX_KEY_LENGTH = 200
"""As `customer_id` and `anonymous_id` in the event schema."""


def key_problem(key: str) -> str | None:
    """Why `key` cannot be a journey key, or None when it can."""
    if not key:
        return "the key is empty"
    if len(key) > MAX_KEY_LENGTH:
        return f"the key is {len(key)} characters long; at most {MAX_KEY_LENGTH} are allowed"
    return None


def items_view(items: list[CartItem]) -> list[dict[str, Any]]:
    """A cart's items as the records and the API show them."""
    return [
        {"product_id": i.product_id, "name": i.name, "category": i.category, "price": i.price,
         "quantity": i.quantity}
        for i in items
    ]  # fmt: skip


def identity_fields(key: str, customer_id: str | None, anonymous_id: str | None) -> dict[str, Any]:
    """The head every journey record and view starts with."""
    return {
        "schema_version": SCHEMA_VERSION,
        "journey_key": key,
        "customer_id": customer_id,
        "anonymous_id": anonymous_id,
    }


def _time(ms: int | None) -> str | None:
    return format_time(ms) if ms else None


def _latest_score(state: JourneyState) -> float | None:
    scored = [s for s in state.sessions if s.published is not None]
    return max(scored, key=lambda s: s.ended_at).published if scored else None


def journey_view(state: JourneyState) -> dict[str, Any]:
    """The journey's stage, open sessions, cart and last transitions as plain JSON data."""
    cart = state.cart
    return {
        **identity_fields(state.key, state.customer_id, state.anonymous_id),
        "alias_of": state.alias_of,
        "anonymous_ids": list(state.anonymous_ids),
        "stage": state.stage,
        "has_purchased": state.has_purchased,
        "event_count": state.event_count,
        "last_event_at": _time(state.clock),
        "open_sessions": [
            {
                "session_id": s.session_id,
                "started_at": format_time(s.started_at),
                "last_event_at": format_time(s.ended_at),
                "event_count": s.event_count,
                "page_count": s.page_count,
                "first_channel": s.first_channel,
                "purchase_propensity": s.published,
            }
            for s in state.sessions
        ],
        "scores": {
            "session_purchase": _latest_score(state),
            "purchase_7d": state.daily_scores[0] if state.daily_scores else None,
            "churn_7d": state.daily_scores[1] if state.daily_scores else None,
        },
        "cart": {
            "cart_id": cart.cart_id,
            "items": items_view(cart.items),
            "value": cart.value,
            "currency": cart.currency,
            "last_activity_at": _time(cart.last_activity_at),
            "abandoned": cart.judged,
        }
        if cart.items
        else None,
        "last_transitions": [
            {
                "from_stage": from_stage,
                "to_stage": to_stage,
                "reason": reason,
                "at": format_time(at),
            }
            for from_stage, to_stage, reason, at in state.history
        ],
    }

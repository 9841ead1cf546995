"""What the session purchase model sees of a journey at one of its events.

Numbers only, in `FEATURES` order; counts and amounts on a log scale (a tenth cart item
or a fifth order say less than the first). Computed once the event is applied (its
session, cart and stage as they stand after it); the model standardizes them.
"""

from __future__ import annotations

from math import log
from typing import Final

from ..events import STAGES
from ..journey_state import JourneyState
from ..sessions import Session
from .policy import Features

__all__ = ["CHECKOUT_STEPS", "FEATURES", "RECENT_MS", "cart_rule", "ln1p", "session_features"]

RECENT_MS: Final = 28 * 86_400_000
"""The look-back of the journey's recent orders and sessions (GA4's 28 days)."""
_DAY: Final = 86_400_000.0
_MINUTE: Final = 60_000.0
_STAGE_RANK: Final = {stage: float(n + 1) for n, stage in enumerate(STAGES)}

FEATURES: Final = (
    "session_events",
    "session_pages",
    "products_viewed",
    "products_researched",
    "cart_value",
    "cart_items",
    "checkout_started",
    "payment_entered",
    "minutes_in_session",
    "minutes_since_last_event",
    "entry_ads",
    "entry_email",
    "entry_social",
    "entry_app",
    "entry_campaign",
    "stage",
    "orders_28d",
    "sessions_28d",
    "days_since_order",
    "never_ordered",
    "last_nps",
    "nps_known",
    "support_contacts",
    "returning",
)
"""The features' names, in the order `session_features` gives them."""


def ln1p(x: float) -> float:
    """log(1 + x), compiled to native arithmetic (mypyc has no `math.log1p` of its own)."""
    return log(1.0 + x)


def session_features(state: JourneyState, session: Session, at: int, since: int) -> Features:
    """The features at event time `at` of `session` in `state`; `since`: ms since the
    journey's previous event (0 on its first)."""
    cart = state.cart
    channel = session.first_channel
    orders = state.orders
    if orders:
        days_since_order = (at - orders[-1]) / _DAY
    else:
        days_since_order = RECENT_MS / _DAY if state.has_purchased else 0.0
    nps = state.nps
    return (
        ln1p(session.event_count),
        ln1p(session.page_count),
        ln1p(session.products),
        ln1p(session.research),
        ln1p(cart.value),
        float(len(cart.items)),
        1.0 if session.checkout else 0.0,
        1.0 if session.payment else 0.0,
        ln1p(max(0, at - session.started_at) / _MINUTE),
        ln1p(max(0, since) / _MINUTE),
        1.0 if channel == "ads" else 0.0,
        1.0 if channel == "email" else 0.0,
        1.0 if channel == "social" else 0.0,
        1.0 if channel == "app" else 0.0,
        0.0 if session.first_campaign is None else 1.0,
        _STAGE_RANK.get(state.stage or "", 0.0),
        ln1p(sum(1 for t in orders if t > at - RECENT_MS)),
        ln1p(sum(1 for t in state.session_starts if t > at - RECENT_MS)),
        ln1p(days_since_order),
        0.0 if state.has_purchased else 1.0,
        0.0 if nps is None else nps / 10,
        0.0 if nps is None else 1.0,
        ln1p(state.support_contacts),
        1.0 if state.event_count >= session.event_count else 0.0,
    )


CHECKOUT_STEPS: Final = ("none", "cart", "checkout", "payment")
"""How far a session went towards an order, as `cart_rule` ranks it."""
_CART_ITEMS: Final = FEATURES.index("cart_items")
_CHECKOUT: Final = FEATURES.index("checkout_started")
_PAYMENT: Final = FEATURES.index("payment_entered")


def cart_rule(features: Features) -> int:
    """The baseline the model is measured against, from cart and checkout alone: the index
    in `CHECKOUT_STEPS` (payment entered, checkout started, items in the cart, none)."""
    if features[_PAYMENT]:
        return 3
    if features[_CHECKOUT]:
        return 2
    return 1 if features[_CART_ITEMS] else 0
